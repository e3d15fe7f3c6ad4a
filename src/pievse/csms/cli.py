"""`pievse csms`: run the bench CSMS, or steer a running one through its HTTP control endpoint.

    pievse csms [--host 127.0.0.1] [--port 9000] [--http-port 9001 | --no-http]
                [--id-tag TAG ...] [--boot-status Accepted] [--heartbeat 300]
        serve until Ctrl-C, logging every OCPP message to stderr, one line each:
            12:00:01 CP1 → Authorize {"idTag": "04A1B2C3"}
            12:00:01 CP1 ← Authorize {"idTagInfo": {"status": "Accepted"}}

    pievse csms send [--http URL] CP_ID COMMAND [JSON]      any command, JSON = its OCPP payload
    pievse csms remote-start [--http URL] CP_ID ID_TAG [--connector N]
    pievse csms remote-stop [--http URL] CP_ID TRANSACTION_ID
    pievse csms reset [--http URL] CP_ID [Soft|Hard]
    pievse csms trigger [--http URL] CP_ID MESSAGE [--connector N]
    pievse csms status [--http URL]                         charge points and transactions

The client commands print the charge point's answer as JSON and exit 0, or print why not and
exit 1. This module is imported for every ``pievse`` command, so it imports the server, the
``ocpp`` package and websockets only when the CSMS really runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

DEFAULT_PORT = 9000
DEFAULT_HTTP_PORT = 9001
DEFAULT_HTTP = f"http://127.0.0.1:{DEFAULT_HTTP_PORT}"
CLIENT_TIMEOUT_S = 60.0


def add_csms_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``csms`` (and its client subcommands) on an argparse subparsers object."""
    csms = subparsers.add_parser(
        "csms",
        help="run the embedded OCPP 1.6J and 2.0.1 central system for bench tests",
        description="A small OCPP 1.6J and 2.0.1 central system for bench tests. Without a "
        "subcommand it serves until Ctrl-C; the subcommands talk to a running one over HTTP.",
    )
    csms.add_argument("--host", default="127.0.0.1", help="address to listen on")
    csms.add_argument("--port", type=int, default=DEFAULT_PORT,
                      help=f"OCPP websocket port (default {DEFAULT_PORT})")
    csms.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT,
                      help=f"HTTP control port (default {DEFAULT_HTTP_PORT})")
    csms.add_argument("--no-http", action="store_true", help="no HTTP control endpoint")
    csms.add_argument("--id-tag", dest="id_tags", action="extend", nargs="+", metavar="TAG",
                      help="accept only these id tags (default: accept every tag)")
    csms.add_argument("--boot-status", default="Accepted",
                      choices=("Accepted", "Pending", "Rejected"),
                      help="answer to BootNotification")
    csms.add_argument("--heartbeat", type=int, default=300, metavar="SECONDS",
                      help="heartbeat interval given at boot (default 300)")
    csms.add_argument("--ocpp", choices=("1.6", "2.0.1"), default=None,
                      help="speak only this version (default: 2.0.1 or 1.6, whichever the "
                      "charge point offers, 2.0.1 when it offers both)")
    csms.set_defaults(func=run_csms, csms_command=None)

    commands = csms.add_subparsers(dest="csms_command", metavar="[COMMAND]")

    def client(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text)
        parser.add_argument("--http", default=DEFAULT_HTTP,
                            help=f"the CSMS control endpoint (default {DEFAULT_HTTP})")
        return parser

    send = client("send", "send any command to a charge point")
    send.add_argument("cp_id", metavar="CP_ID")
    send.add_argument("send_command", metavar="COMMAND",
                      help="remote-start, reset, change-configuration, ... or an OCPP action")
    send.add_argument("payload", metavar="JSON", nargs="?", default="{}",
                      help="the OCPP request payload, e.g. '{\"type\": \"Hard\"}'")

    start = client("remote-start", "RemoteStartTransaction")
    start.add_argument("cp_id", metavar="CP_ID")
    start.add_argument("id_tag", metavar="ID_TAG")
    start.add_argument("--connector", type=int, help="connector id")

    stop = client("remote-stop", "RemoteStopTransaction")
    stop.add_argument("cp_id", metavar="CP_ID")
    stop.add_argument("transaction_id", type=int, metavar="TRANSACTION_ID")

    reset = client("reset", "Reset")
    reset.add_argument("cp_id", metavar="CP_ID")
    reset.add_argument("kind", nargs="?", default="Soft", choices=("Soft", "Hard"))

    trigger = client("trigger", "TriggerMessage")
    trigger.add_argument("cp_id", metavar="CP_ID")
    trigger.add_argument("message", metavar="MESSAGE",
                         help="BootNotification, Heartbeat, MeterValues, StatusNotification, ...")
    trigger.add_argument("--connector", type=int, help="connector id")

    client("status", "charge points, their statuses, and transactions")
    return csms


def run_csms(args: argparse.Namespace) -> int:
    """Run what the parsed ``pievse csms ...`` command line asks for; the exit status."""
    command = getattr(args, "csms_command", None)
    if command is None:
        return _serve(args)
    try:
        if command == "status":
            answer: Any = {
                "chargePoints": _http(args.http, "GET", "/charge-points"),
                "transactions": _http(args.http, "GET", "/transactions"),
            }
        else:
            cp_id, name, payload = _command(args)
            answer = _http(args.http, "POST", f"/charge-points/{_quote(cp_id)}/{name}", payload)
    except ClientError as error:
        print(f"pievse csms {command}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    return 0


def _command(args: argparse.Namespace) -> tuple[str, str, dict]:
    if args.csms_command == "send":
        try:
            payload = json.loads(args.payload)
        except ValueError as error:
            raise ClientError(f"the payload is not JSON: {error}") from None
        if not isinstance(payload, dict):
            raise ClientError("the payload must be a JSON object")
        return args.cp_id, args.send_command, payload
    if args.csms_command == "remote-start":
        payload = {"idTag": args.id_tag}
        if args.connector is not None:
            payload["connectorId"] = args.connector
        return args.cp_id, "remote-start", payload
    if args.csms_command == "remote-stop":
        return args.cp_id, "remote-stop", {"transactionId": args.transaction_id}
    if args.csms_command == "reset":
        return args.cp_id, "reset", {"type": args.kind}
    if args.csms_command == "trigger":
        payload = {"requestedMessage": args.message}
        if args.connector is not None:
            payload["connectorId"] = args.connector
        return args.cp_id, "trigger-message", payload
    raise ClientError(f"unknown command {args.csms_command!r}")


# --- the server ---------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
    log = logging.getLogger("pievse.csms")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.propagate = False
    # websockets' own connection chatter repeats what our lines already say.
    logging.getLogger("pievse.csms.websockets").setLevel(logging.WARNING)

    from pievse.csms.server import CentralSystem

    async def serve() -> int:
        csms = CentralSystem(
            args.host,
            args.port,
            accept_id_tags=set(args.id_tags) if args.id_tags else None,
            boot_status=args.boot_status,
            heartbeat_interval=args.heartbeat,
            http_port=None if args.no_http else args.http_port,
            logger=log,
            **({"subprotocols": (f"ocpp{args.ocpp}",)} if args.ocpp else {}),
        )
        try:
            await csms.start()
        except OSError as error:
            print(f"pievse csms: cannot listen: {error}", file=sys.stderr)
            await csms.stop()
            return 1
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        log.info("Ctrl-C to stop")
        try:
            await stopping.wait()
        finally:
            log.info("stopping")
            await csms.stop()
        return 0

    try:
        return asyncio.run(serve())
    except KeyboardInterrupt:
        return 0
    finally:
        log.removeHandler(handler)


# --- the client ---------------------------------------------------------------------------------


class ClientError(Exception):
    """The control endpoint could not be reached or refused; the message is for the user."""


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _http(base: str, method: str, path: str, body: dict | None = None) -> Any:
    import urllib.error
    import urllib.request

    if "://" not in base:
        base = "http://" + base
    url = base.rstrip("/") + path
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT_S) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            detail = json.loads(error.read()).get("error")
        except (ValueError, AttributeError):
            detail = None
        raise ClientError(f"{error.code} {error.reason}: {detail or 'no detail'}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ClientError(f"cannot reach the CSMS control endpoint at {base}: {reason}") from None


def main(argv: list[str] | None = None) -> int:
    """``python -m pievse.csms``: the same command without the rest of pievse."""
    parser = argparse.ArgumentParser(prog="python -m pievse.csms")
    commands = parser.add_subparsers(dest="command", required=True)
    add_csms_command(commands)
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_csms(parser.parse_args(["csms", *argv]))


if __name__ == "__main__":
    sys.exit(main())
