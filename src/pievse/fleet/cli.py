"""`pievse fleet --scenario FILE --csms URL [--stations N]`: a fleet against a CSMS, with one line
of live progress and, at the end, a summary and the reports asked for."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

__all__ = ["add_fleet_command", "ocpp_mix", "run_fleet"]

OCPP_HELP = ("the OCPP version the stations speak, or a mix by share, e.g. 2.0.1 or "
             "1.6=0.7,2.0.1=0.3")


def ocpp_mix(text: str) -> Any:
    """``--ocpp``: a version or a mix (see :func:`pievse.fleet.versions.parse_mix`)."""
    from pievse.fleet.versions import parse_mix

    try:
        return parse_mix(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None


def add_fleet_command(subparsers: Any) -> argparse.ArgumentParser:
    fleet = subparsers.add_parser(
        "fleet", help="run many simulated charge points against a CSMS (load tests)")
    fleet.add_argument("--scenario", required=True, help="scenario file (TOML)")
    fleet.add_argument("--csms", required=True,
                       help="CSMS URL, e.g. ws://host:9000/ocpp (the id is appended)")
    fleet.add_argument("--stations", type=int, default=None,
                       help="number of stations (default: the scenario's [stations] count)")
    fleet.add_argument("--ocpp", type=ocpp_mix, default=None, metavar="VERSIONS",
                       help=OCPP_HELP + " (default: the scenario's [stations] ocpp)")
    fleet.add_argument("--ca-file", default=None,
                       help="for wss://: the CA certificate(s) the CSMS's certificate is "
                            "checked against (default: the system's)")
    fleet.add_argument("--json", default=None, help="write the report as JSON to this file")
    fleet.add_argument("--csv", default=None, help="write one CSV row per OCPP action here")
    fleet.add_argument("-v", "--verbose", action="store_true",
                       help="log the stations' warnings too")
    fleet.set_defaults(func=run_fleet)
    return fleet


def run_fleet(args: argparse.Namespace) -> int:
    from pievse.fleet.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as error:
        print(f"pievse fleet: {args.scenario} has problems:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    if args.ocpp is not None:
        scenario = scenario.with_versions(args.ocpp)
    if args.stations is not None and not 1 <= args.stations <= 100_000:
        print(f"pievse fleet: --stations {args.stations}: must be from 1 to 100000",
              file=sys.stderr)
        return 2
    from pievse.protocol.common.link import charge_point_url

    try:
        charge_point_url(args.csms, scenario.station_id(0))
    except ValueError as error:
        print(f"pievse fleet: --csms {args.csms!r}: {error}", file=sys.stderr)
        return 2
    ssl_context = None
    if args.ca_file:
        import ssl

        try:
            ssl_context = ssl.create_default_context(cafile=args.ca_file)
        except (OSError, ssl.SSLError) as error:
            print(f"pievse fleet: --ca-file {args.ca_file}: {error}", file=sys.stderr)
            return 2
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.ERROR,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # A station that loses its link says so; in a fleet that is a count, not a log line.
        logging.getLogger("pievse.ocpp").setLevel(logging.CRITICAL)
        logging.getLogger("pievse.fleet.link").setLevel(logging.CRITICAL)
    return play(scenario, args.csms, stations=args.stations, json_path=args.json,
                csv_path=args.csv, ssl_context=ssl_context)


def play(scenario: Any, csms_url: str, *, stations: int | None = None,
         json_path: str | None = None, csv_path: str | None = None,
         ssl_context: Any = None) -> int:
    """Run the fleet in this process; 0 if every transaction message reached the CSMS."""
    import asyncio
    import signal

    from pievse.fleet.engine import Fleet
    from pievse.fleet.report import progress_line, report, summary, write_report

    fleet = Fleet(scenario, csms_url, count=stations, ssl_context=ssl_context)
    tty = sys.stderr.isatty()

    def show(progress: Any) -> None:
        line = progress_line(fleet, progress)
        print(f"\r{line}\033[K" if tty else line, end="" if tty else "\n", file=sys.stderr,
              flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await fleet.run(on_progress=show, progress_every_s=1.0 if tty else 5.0, stop=stop)

    asyncio.run(main())
    if tty:
        print(file=sys.stderr)
    data = report(fleet)
    print(summary(data))
    write_report(data, json_path, csv_path)
    return 0 if fleet.undelivered == 0 else 1
