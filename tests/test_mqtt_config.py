"""``[mqtt]``: off by default, and every problem named with its key, its value and what is
allowed, as for every other section."""

from __future__ import annotations

import pytest

from pievse.app.config import parse_config
from tests.test_config import MINIMAL, problems_of


def mqtt(lines: str) -> str:
    return MINIMAL + "[mqtt]\n" + lines + "\n"


def test_mqtt_is_off_unless_a_host_is_set():
    assert not parse_config(MINIMAL).mqtt.enabled
    config = parse_config(mqtt('host = "broker.lan"\nusername = "ev"\npassword = "secret"'))
    assert config.mqtt.enabled and config.mqtt.port == 1883
    assert config.mqtt.discovery_prefix == "homeassistant" and config.mqtt.base_topic == ""
    assert config.mqtt.publish_interval == 60.0


@pytest.mark.parametrize(("lines", "problem"), [
    ('host = "mqtt://broker.lan"',
     '[mqtt] host = "mqtt://broker.lan": must be a host name or address, without a scheme or a '
     'path (e.g. "192.168.1.10")'),
    ("port = 0", "[mqtt] port = 0: must be between 1 and 65535"),
    ('base_topic = "home/#"',
     '[mqtt] base_topic = "home/#": must not contain the wildcards "+" or "#" (it begins topics '
     "that are published)"),
    ('base_topic = "/home/ev"',
     '[mqtt] base_topic = "/home/ev": must not begin or end with "/" or hold an empty level '
     '("//")'),
    ('discovery_prefix = "$SYS"',
     '[mqtt] discovery_prefix = "$SYS": must not begin with "$" (brokers keep those topics for '
     "themselves)"),
    ("publish_interval = 0.5", "[mqtt] publish_interval = 0.5: must be between 1 and 3600 (s)"),
    ('ca_file = "/etc/ssl/certs/ca.pem"',
     '[mqtt] ca_file = "/etc/ssl/certs/ca.pem": needs tls = true (without TLS it would be '
     "ignored)"),
    ('tls = true\ncert_file = "/no/such/cert.pem"',
     '[mqtt] cert_file = "/no/such/cert.pem": needs key_file, the private key of the client '
     "certificate"),
    ('tls = true\nca_file = "/no/such/ca.pem"', '[mqtt] ca_file = "/no/such/ca.pem": no such file'),
    ('password = "secret"', "[mqtt] password = (hidden): needs a username"),
    ('start_id_tag = "my card"',
     '[mqtt] start_id_tag = "my card": must not contain whitespace or control characters'),
    ('start_id_tag = "HOME-0123456789012345"',
     '[mqtt] start_id_tag = "HOME-0123456789012345": must be at most 20 characters long'),
    ('base_topic = "ev"\ndiscovery_prefix = "ev"',
     '[mqtt] base_topic = "ev": must differ from discovery_prefix'),
])
def test_a_problem_names_the_key_the_value_and_what_is_allowed(lines, problem):
    host = "" if lines.startswith("host") else 'host = "broker.lan"\n'
    assert problem in problems_of(mqtt(host + lines))


def test_the_password_is_never_shown():
    problems = problems_of(mqtt('password = "hunter2\x01"'))
    assert problems and all("hunter2" not in p for p in problems)


def test_check_config_says_where_mqtt_goes(tmp_path, capsys):
    from pievse.app.config import check_config_main

    path = tmp_path / "config.toml"
    path.write_text(mqtt('host = "broker.lan"\nport = 8883\ntls = true'))
    assert check_config_main(str(path)) == 0
    assert "  MQTT to broker.lan:8883 over TLS" in capsys.readouterr().out.splitlines()
