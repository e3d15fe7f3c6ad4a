"""`pievse status` and `pievse sim ...`: the shell's face of a running daemon's local API.

    pievse status [--json]                         what each connector is doing
    pievse sim ev STATE [--connector N] [--max-current A]
                                                   plug in (B), ask for power (C), unplug (A)
    pievse sim tap ID_TOKEN                        present a card to the simulated reader
    pievse sim fault KIND on|off [--connector N]   trip or clear a fault input

Each command finds the API at ``--api HOST:PORT``, else at the ``[api] listen`` of
``--config FILE``, else at 127.0.0.1:8180. Exit status: 0 done, 1 the daemon could not be reached
or refused, 2 a problem with the command line or the config file.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from typing import Any

from pievse.config import ConfigError, load_config, split_host_port
from pievse.drivers.base import FaultKind

__all__ = [
    "DEFAULT_API",
    "ApiCallFailed",
    "add_api_commands",
    "call_api",
    "cmd_sim_ev",
    "cmd_sim_fault",
    "cmd_sim_tap",
    "cmd_status",
    "format_status",
]

DEFAULT_API = "127.0.0.1:8180"
TIMEOUT_S = 10.0
FAULT_KINDS = tuple(kind.value for kind in FaultKind)


class ApiCallFailed(Exception):
    """The API could not be reached or answered with an error; the message is for the user."""


# --- talking to the API -------------------------------------------------------------------------


def call_api(address: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Send one request to the API at ``address`` ("host:port") and return its JSON answer."""
    import http.client
    import urllib.error
    import urllib.request

    host, port = split_host_port(address)
    # A daemon listening on every address is reached on loopback.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    # The local API is never behind a proxy, whatever http_proxy says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=TIMEOUT_S) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        with error:
            text = _error_text(error.read()) or f"{error.code} {error.reason}"
        raise ApiCallFailed(text) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, ConnectionRefusedError):
            why = "is the daemon running?"
        else:
            why = str(reason)
        raise ApiCallFailed(f"cannot reach the local API at {address} ({why})") from None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiCallFailed(
            f"the local API at {address} did not answer JSON (is it a pievse daemon?)"
        ) from None


def _error_text(raw: bytes) -> str | None:
    try:
        answer = json.loads(raw)
    except ValueError:
        return None
    return answer.get("error") if isinstance(answer, dict) else None


def api_address(args: argparse.Namespace) -> str:
    """``--api``, else ``--config``'s ``[api] listen``, else the default; ConfigError if the config
    file has problems or turns the API off."""
    if getattr(args, "api", None):
        return args.api
    path = getattr(args, "config", None)
    if path:
        config = load_config(path)
        if not config.api.enabled:
            raise ConfigError(['[api] listen = "": the local API is turned off'], path)
        return config.api.listen
    return DEFAULT_API


def _call(args: argparse.Namespace, method: str, path: str, body: dict | None = None) -> Any:
    return call_api(api_address(args), method, path, body)


def _command(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn the failures of a command into what the user reads and the exit status."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except ConfigError as error:
            print(f"pievse: {error}", file=sys.stderr)
            return 2
        except ApiCallFailed as error:
            print(f"pievse: {error}", file=sys.stderr)
            return 1

    return run


# --- the commands -------------------------------------------------------------------------------


@_command
def cmd_status(args: argparse.Namespace) -> int:
    status = _call(args, "GET", "/api/status")
    print(json.dumps(status, indent=2) if args.json else format_status(status))
    return 0


@_command
def cmd_sim_ev(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"connector": args.connector, "state": args.state}
    if args.max_current is not None:
        body["max_current"] = args.max_current
    _call(args, "POST", "/api/sim/ev", body)
    limit = f", drawing at most {args.max_current:g} A" if args.max_current is not None else ""
    print(f"connector {args.connector}: the simulated car is in state {args.state}{limit}")
    return 0


@_command
def cmd_sim_tap(args: argparse.Namespace) -> int:
    _call(args, "POST", "/api/sim/token", {"id_token": args.id_token})
    print(f"card {args.id_token} presented")
    return 0


@_command
def cmd_sim_fault(args: argparse.Namespace) -> int:
    body = {"connector": args.connector, "fault": args.kind, "active": args.switch == "on"}
    _call(args, "POST", "/api/sim/fault", body)
    print(f"connector {args.connector}: fault {args.kind} {args.switch}")
    return 0


# --- the status, for people ---------------------------------------------------------------------


def format_status(status: dict[str, Any]) -> str:
    """A few lines per connector from the JSON of GET /api/status; missing values show as "?"."""
    ocpp = status.get("ocpp") or {}
    link = "connected" if ocpp.get("connected") else "not connected"
    if ocpp.get("connected") and ocpp.get("registered") is False:
        link += ", not yet accepted"
    queued = ocpp.get("queued_transaction_messages")
    if queued:
        link += f", {queued} transaction message{'s' if queued != 1 else ''} queued"
    lines = [f"charge point {status.get('charge_point_id', '?')}: "
             f"OCPP {ocpp.get('version', '?')} {link}"]
    for c in status.get("connectors") or []:
        state = c.get("status") or "unknown"
        if c.get("error_code") not in (None, "NoError"):
            state += f" ({c['error_code']})"
        lines.append(f"connector {c.get('id', '?')}: {state}")
        contactor = {True: "closed", False: "open"}.get(c.get("contactor_closed"), "?")
        offered = c.get("offered_current")
        offer = f"offering {offered:g} A" if offered else "offering nothing"
        lines.append(f"  pilot {c.get('pilot_state', '?')}, contactor {contactor}, {offer}")
        meter = c.get("meter") or {}
        if meter.get("online") is False:
            lines.append("  meter offline")
        else:
            lines.append(f"  meter {_kw(meter.get('power_w'))}, {_kwh(meter.get('energy_wh'))}")
        tx = c.get("transaction")
        if tx:
            delivered = tx.get("energy_wh")
            if delivered is None and None not in (meter.get("energy_wh"), tx.get("meter_start_wh")):
                delivered = meter["energy_wh"] - tx["meter_start_wh"]
            lines.append(f"  transaction {tx.get('id', '?')} for id tag {tx.get('id_tag', '?')}, "
                         f"{_kwh(delivered)} delivered")
        else:
            lines.append("  no transaction")
    return "\n".join(lines)


def _kw(watts: float | None) -> str:
    return "? kW" if watts is None else f"{watts / 1000:.2f} kW"


def _kwh(watt_hours: float | None) -> str:
    return "? kWh" if watt_hours is None else f"{watt_hours / 1000:.3f} kWh"


# --- the command line ---------------------------------------------------------------------------


def _address(text: str) -> str:
    try:
        split_host_port(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f'"{text}" {error}') from None
    return text


def _connector(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f'"{text}" must be a connector number (1, 2, ...)')
    return int(text)


def _current(text: str) -> float:
    try:
        amps = float(text)
    except ValueError:
        amps = float("nan")
    if not 6 <= amps <= 80:
        raise argparse.ArgumentTypeError(f'"{text}" must be a current from 6 to 80 (A)')
    return amps


def add_api_commands(subparsers: Any) -> None:
    """Register ``status`` and ``sim`` on an argparse subparsers object; each command sets
    ``func`` to a function ``(args) -> int``."""
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--api", metavar="HOST:PORT", type=_address,
                       help=f"the daemon's local API (default: --config's [api] listen, "
                            f"else {DEFAULT_API})")
    where.add_argument("--config", metavar="FILE", help="read the API address from this config")

    status = subparsers.add_parser("status", parents=[where],
                                   help="show what each connector is doing")
    status.add_argument("--json", action="store_true", help="print the API's JSON as it is")
    status.set_defaults(func=cmd_status)

    sim = subparsers.add_parser("sim", help="drive the simulated car, card reader and faults")
    what = sim.add_subparsers(dest="sim_command", required=True, metavar="WHAT")

    ev = what.add_parser("ev", parents=[where], help="set the simulated car's pilot state",
                         description="A: unplugged, B: plugged in, C: asking for power.")
    ev.add_argument("state", type=str.upper, choices=("A", "B", "C"))
    ev.add_argument("--connector", type=_connector, default=1, metavar="N")
    ev.add_argument("--max-current", type=_current, metavar="A",
                    help="the most the car draws from now on (6-80 A)")
    ev.set_defaults(func=cmd_sim_ev)

    tap = what.add_parser("tap", parents=[where], help="present a card to the simulated reader")
    tap.add_argument("id_token", metavar="ID_TOKEN", help="the card's UID, e.g. 04A1B2C3")
    tap.set_defaults(func=cmd_sim_tap)

    fault = what.add_parser("fault", parents=[where], help="trip or clear a fault input")
    fault.add_argument("kind", choices=FAULT_KINDS, metavar="KIND",
                       help="one of " + ", ".join(FAULT_KINDS))
    fault.add_argument("switch", choices=("on", "off"), metavar="on|off")
    fault.add_argument("--connector", type=_connector, default=1, metavar="N")
    fault.set_defaults(func=cmd_sim_fault)
