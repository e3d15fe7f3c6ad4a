"""The keys of the link's security: the OCPP 1.6 security profiles 0-3 (security whitepaper,
edition 3) and the certificates they use.

The profile, the password and the certificates given here are where the charge point starts:
once the CSMS has raised the SecurityProfile, set a new AuthorizationKey or changed the
certificates, its values win (they are kept in the certificate directory) until the person
edits that key here; then the edited value wins, and the CSMS is told
(ReconfigurationOfSecurityParameters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pievse.app.config.injected import injected
from pievse.app.config.key import Key, _show

__all__ = ["SECURITY_CROSS_CHECKS", "SECURITY_KEYS"]

SECURITY_KEYS: tuple[Key, ...] = (
    Key("ocpp", "security_profile", int, 0,
        "0 = ws:// (development only), 1 = Basic auth over ws://, 2 = Basic auth over wss://, "
        "3 = wss:// with a client certificate", minimum=0, maximum=3),
    Key("ocpp", "password", str, "",
        "the first AuthorizationKey, for security profiles 1 and 2 (16 to 40 characters)",
        secret=True),
    Key("ocpp", "ca_file", str, "",
        'PEM file of the CSMS root certificate(s) to trust over wss:// ("" = the system\'s)'),
    Key("ocpp", "cert_file", str, "",
        "security profile 3: the charge point's certificate (PEM, with its chain)"),
    Key("ocpp", "key_file", str, "",
        "security profile 3: the private key of cert_file (PEM, readable by its owner only)"),
    Key("ocpp", "certificate_dir", str, "",
        'where certificates and the security state are kept ("" = beside [storage] path)'),
    Key("ocpp", "cpo_name", str, "", "CpoName: the O of the certificates the station asks for",
        maximum=64),
    Key("ocpp", "csr_key_type", str, "ec-p256",
        "the key made for each certificate signing request",
        choices=("ec-p256", "ec-p384", "rsa-2048", "rsa-3072")),
)


def _security_rules(sections: dict[str, dict[str, Any]]) -> list[str]:
    ocpp = sections["ocpp"]
    if ocpp["url"] == "":
        return []  # no CSMS, no link to secure
    profile = ocpp["security_profile"]
    label = f"[ocpp] security_profile = {profile}"
    problems = []
    for problem in injected("transport_problems")(ocpp, sections["charge_point"]["id"]):
        if problem.startswith("[ocpp] password"):
            problems.append(problem.replace("[ocpp] password", "[ocpp] password = (hidden):", 1))
        elif problem.startswith("[ocpp] "):
            name, _, rest = problem[len("[ocpp] "):].partition(" ")
            value, _, why = rest.partition(": ")
            problems.append(f"[ocpp] {name} = {_show(value)}: {why}")
        else:
            problems.append(f"{label} with url = {_show(ocpp['url'])}: {problem}")
    return problems


SECURITY_CROSS_CHECKS: list[Callable[[dict[str, dict[str, Any]]], list[str]]] = [
    _security_rules]
