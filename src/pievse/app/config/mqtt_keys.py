"""The keys of ``[mqtt]``: the broker that Home Assistant (or any MQTT client) reads the station
from and commands it through. An empty ``host`` leaves MQTT off, and nothing of it is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from pievse.app.config.key import Key, _show

__all__ = ["MQTT_CROSS_CHECKS", "MQTT_KEYS", "topic_problem"]


def topic_problem(value: str) -> str | None:
    """What makes ``value`` unfit to begin the topics pievse publishes, or None."""
    if "+" in value or "#" in value:
        return 'must not contain the wildcards "+" or "#" (it begins topics that are published)'
    if value.startswith("/") or value.endswith("/") or "//" in value:
        return 'must not begin or end with "/" or hold an empty level ("//")'
    if value.startswith("$"):
        return 'must not begin with "$" (brokers keep those topics for themselves)'
    if any(c.isspace() for c in value):
        return "must not contain whitespace"
    return None


def _check_topic_or_empty(value: str) -> str | None:
    return None if value == "" else topic_problem(value)


def _check_id_tag(value: str) -> str | None:
    if any(c.isspace() or not c.isprintable() for c in value):
        return "must not contain whitespace or control characters"
    return None


def _check_host(value: str) -> str | None:
    if any(c.isspace() for c in value) or "/" in value:
        return 'must be a host name or address, without a scheme or a path (e.g. "192.168.1.10")'
    return None


MQTT_KEYS: tuple[Key, ...] = (
    Key("mqtt", "host", str, "", 'the MQTT broker\'s host name or address ("" = no MQTT)',
        maximum=253, check=_check_host),
    Key("mqtt", "port", int, 1883, "the broker's port (usually 1883, 8883 with TLS)",
        minimum=1, maximum=65535),
    Key("mqtt", "username", str, "", 'the user pievse logs in to the broker as ("" = none)',
        maximum=256),
    Key("mqtt", "password", str, "", "the password of username", secret=True, maximum=256),
    Key("mqtt", "tls", bool, False, "connect over TLS, checking the broker's certificate"),
    Key("mqtt", "ca_file", str, "",
        'PEM file of the CA(s) that signed the broker\'s certificate ("" = the system\'s)'),
    Key("mqtt", "cert_file", str, "",
        'a client certificate (PEM) for brokers that ask for one ("" = none)'),
    Key("mqtt", "key_file", str, "", "the private key of cert_file (PEM)"),
    Key("mqtt", "tls_insecure", bool, False,
        "accept any broker certificate (testing only: anyone in between can read and command)"),
    Key("mqtt", "base_topic", str, "",
        'where the station\'s topics begin ("" = "pievse/" and the charge point id)',
        maximum=200, check=_check_topic_or_empty),
    Key("mqtt", "discovery_prefix", str, "homeassistant",
        'Home Assistant\'s discovery prefix ("" = publish no discovery)', maximum=200,
        check=_check_topic_or_empty),
    Key("mqtt", "start_id_tag", str, "",
        'the id tag a session started from MQTT is charged to, authorised like a card ("" = no '
        "start command)", maximum=20, check=_check_id_tag),
    Key("mqtt", "publish_interval", float, 60.0,
        "every state is published again this often, changed or not (changes go out at once)",
        unit="s", minimum=1, maximum=3600),
)


def _file_problem(mqtt: dict[str, Any], name: str) -> str | None:
    path = mqtt[name]
    if path and not os.path.isfile(path):
        return f"[mqtt] {name} = {_show(path)}: no such file"
    if path and not os.access(path, os.R_OK):
        return f"[mqtt] {name} = {_show(path)}: pievse cannot read it"
    return None


def _mqtt_rules(sections: dict[str, dict[str, Any]]) -> list[str]:
    mqtt = sections["mqtt"]
    problems = []
    if not mqtt["tls"]:
        for name in ("ca_file", "cert_file", "key_file", "tls_insecure"):
            if mqtt[name]:
                problems.append(f"[mqtt] {name} = {_show(mqtt[name])}: needs tls = true "
                                "(without TLS it would be ignored)")
    if mqtt["cert_file"] and not mqtt["key_file"]:
        problems.append(f"[mqtt] cert_file = {_show(mqtt['cert_file'])}: needs key_file, the "
                        "private key of the client certificate")
    if mqtt["key_file"] and not mqtt["cert_file"]:
        problems.append(f"[mqtt] key_file = {_show(mqtt['key_file'])}: needs cert_file, the "
                        "client certificate it is the key of")
    if mqtt["password"] and not mqtt["username"]:
        problems.append("[mqtt] password = (hidden): needs a username")
    problems += [p for name in ("ca_file", "cert_file", "key_file")
                 if (p := _file_problem(mqtt, name))]
    if mqtt["base_topic"] and mqtt["base_topic"] == mqtt["discovery_prefix"]:
        problems.append(f"[mqtt] base_topic = {_show(mqtt['base_topic'])}: must differ from "
                        "discovery_prefix")
    return problems


MQTT_CROSS_CHECKS: list[Callable[[dict[str, dict[str, Any]]], list[str]]] = [_mqtt_rules]
