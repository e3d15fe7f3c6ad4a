"""The `pievse` command.

    pievse run --config FILE      the charge point daemon
    pievse demo [--ocpp V]        a whole charging session against an embedded CSMS, simulated
    pievse csms                   the embedded OCPP 1.6J and 2.0.1 central system for bench tests
    pievse fleet --scenario FILE  many simulated charge points against a CSMS (load tests)
    pievse check-config FILE      validate a config file (exit 2 on any problem)
    pievse status | sim ...       talk to a running daemon through its local API
    pievse sessions | cards ...   the session history and the standalone cards, in the store

Start-up cost matters on a Pi Zero 2 W, so each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

DEFAULT_CONFIG = "/etc/pievse/config.toml"

def cmd_run(args: argparse.Namespace) -> int:
    from pievse.app.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as error:
        return _refuse_to_start(args.config, error.problems)
    from pievse.app.systemd import setup_logging

    setup_logging(config.logging.level, config.charge_point.id)

    import asyncio
    import signal

    from pievse.app.daemon import Daemon, ExitReason
    from pievse.app.state_folders import unusable_folder
    from pievse.persistence.store import Store, StoreError

    try:
        store = Store(config.storage.path).open()
    except StoreError as error:
        print(f"pievse: refusing to start: {error}", file=sys.stderr)
        return 2

    async def main() -> ExitReason:
        try:
            daemon = Daemon(config, store=store)
        except OSError as error:
            problem = unusable_folder(error, store.path)
            if problem is None:
                raise
            raise _Unusable(problem) from None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, daemon.stop)
        return await daemon.run()

    try:
        reason = asyncio.run(main())
    except _Unusable as error:
        # Exit 2, which the unit does not restart: a restart cannot give the folder back.
        print(f"pievse: refusing to start: {error}", file=sys.stderr)
        return 2
    except ConfigError as error:
        # What only the files the config names can tell (a ca_file that holds no root
        # certificate): as much the config's problem as a key out of range.
        return _refuse_to_start(args.config, error.problems)
    if reason in (ExitReason.SOFT_RESET, ExitReason.HARD_RESET):
        # A Reset from the CSMS: start afresh in a new process with the same arguments (under
        # systemd this is the same process id, so the unit stays active).
        logging.getLogger("pievse").warning("%s: restarting", reason.value)
        from pievse.services.firmware_rollback import restart_argv

        # Through the kept rollback check while a new firmware version has not proven itself.
        state = os.path.dirname(os.path.abspath(config.storage.path))
        argv = restart_argv(state, [sys.executable, "-m", "pievse", *sys.argv[1:]])
        os.execv(argv[0], argv)
    return 1 if reason is ExitReason.FAILED else 0


class _Unusable(Exception):
    """A state folder the daemon may not use (owned by another user)."""


def _refuse_to_start(path: str, problems: list[str]) -> int:
    print(f"pievse: refusing to start, {path} has problems:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 2


#: ``--ocpp auto``: one session that offers both versions.
AUTO = "auto"


def _or_auto(versions: Callable[[str], Any]) -> Callable[[str], Any]:
    return lambda text: AUTO if text == AUTO else versions(text)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.ocpp == AUTO:
        if args.stations is not None:
            print("pievse demo: --ocpp auto plays one session; a fleet's stations speak the "
                  "versions given", file=sys.stderr)
            return 2
        args.ocpp = ((AUTO, 1.0),)
    if args.stations is not None:
        from pievse.app.fleet_demo import run_fleet_demo

        return run_fleet_demo(args.stations, seconds=args.seconds, ocpp=args.ocpp)
    from pievse.app.demo import run_demo

    versions = [version for version, _ in args.ocpp or (("1.6", 1.0),)]
    if len(versions) > 1:
        print("pievse demo: --ocpp: a mix of versions needs a fleet (--stations N)",
              file=sys.stderr)
        return 2
    return run_demo(verbose=args.verbose, version=versions[0])


def cmd_check_config(args: argparse.Namespace) -> int:
    from pievse.app.config import check_config_main

    return check_config_main(args.file)


def _whole_number(highest: int, what: str) -> Any:
    def parse(text: str) -> int:
        if not text.isdigit() or not 1 <= int(text) <= highest:
            raise argparse.ArgumentTypeError(f"{text!r}: must be {what}, 1 to {highest}")
        return int(text)
    return parse


def build_parser() -> argparse.ArgumentParser:
    from pievse import __version__
    from pievse.app.api_commands import add_api_commands
    from pievse.app.store_commands import add_store_commands
    from pievse.csms.cli import add_csms_command
    from pievse.fleet.cli import OCPP_HELP, add_fleet_command, ocpp_mix

    parser = argparse.ArgumentParser(
        prog="pievse", description="OCPP charge point controller for the Raspberry Pi"
    )
    parser.add_argument("--version", action="version", version=f"pievse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the charge point daemon")
    run.add_argument("--config", default=DEFAULT_CONFIG,
                     help=f"config file (default {DEFAULT_CONFIG})")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="play a whole charging session with simulated hardware")
    demo.add_argument("-v", "--verbose", action="store_true", help="also show the daemon's log")
    demo.add_argument("--stations", type=_whole_number(100_000, "a number of stations"),
                      default=None, metavar="N",
                      help="a fleet of N simulated charge points instead of one session")
    demo.add_argument("--seconds", type=_whole_number(3600, "a number of seconds"), default=20,
                      metavar="S", help="how long the fleet runs (with --stations; default 20)")
    demo.add_argument("--ocpp", type=_or_auto(ocpp_mix), default=None, metavar="VERSIONS",
                      help=OCPP_HELP + "; a mix only with --stations (default 1.6); auto: one "
                      "session offering both, as [ocpp] version = \"auto\" does")
    demo.set_defaults(func=cmd_demo)

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)

    add_csms_command(sub)
    add_fleet_command(sub)
    add_api_commands(sub)
    add_store_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
