"""`pievse status` and `pievse sim ...`: the shell's face of a running daemon's local API.

    pievse status [--json]                         what each connector is doing
    pievse sim ev STATE [--connector N] [--max-current A]
                                                   plug in (B), ask for power (C), unplug (A)
    pievse sim tap ID_TOKEN                        present a card to the simulated reader
    pievse sim fault KIND on|off [--connector N]   trip or clear a fault input

Each command finds the API at ``--api HOST:PORT``, else at the ``[api] listen`` of
``--config FILE``, else at 127.0.0.1:8180, and sends the ``[api] token`` of ``--config FILE`` if
it has one (a station listening beyond loopback needs it for changes, and shows id tags only to
those who send it). Exit status: 0 done, 1 the daemon could not be reached or refused, 2 a
problem with the command line or the config file.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from typing import Any

from pievse.app.config import ConfigError, load_config
from pievse.core.hardware import FaultKind
from pievse.local_api.client import (
    DEFAULT_API,
    ApiCallFailed,
    call_api,
    format_status,
    split_host_port,
)

__all__ = ["add_api_commands", "api_address", "api_token", "cmd_sim_ev", "cmd_sim_fault",
           "cmd_sim_tap", "cmd_status"]

FAULT_KINDS = tuple(kind.value for kind in FaultKind)


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


def api_token(args: argparse.Namespace) -> str | None:
    """``--config``'s ``[api] token``, if it sets one; ConfigError if the file has problems."""
    path = getattr(args, "config", None)
    return (load_config(path).api.token or None) if path else None


def _call(args: argparse.Namespace, method: str, path: str, body: dict | None = None) -> Any:
    return call_api(api_address(args), method, path, body, token=api_token(args))


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
    where.add_argument("--config", metavar="FILE",
                       help="read the API address and token from this config")

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
    tap.add_argument("id_token", metavar="ID_TOKEN",
                     help="the id tag: a card's UID (04A1B2C3) or any id your CSMS knows "
                          "(USER-42), up to 20 characters")
    tap.set_defaults(func=cmd_sim_tap)

    fault = what.add_parser("fault", parents=[where], help="trip or clear a fault input")
    fault.add_argument("kind", choices=FAULT_KINDS, metavar="KIND",
                       help="one of " + ", ".join(FAULT_KINDS))
    fault.add_argument("switch", choices=("on", "off"), metavar="on|off")
    fault.add_argument("--connector", type=_connector, default=1, metavar="N")
    fault.set_defaults(func=cmd_sim_fault)
