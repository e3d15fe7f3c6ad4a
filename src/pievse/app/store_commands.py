"""`pievse sessions` and `pievse cards`: the session history and the standalone card list, read
from and written to the store the configuration names.

    pievse sessions [--csv] [--since DATE] [--limit N]   every session, newest first
    pievse cards add ID [--name NAME]                    a card that may charge without CSMS
    pievse cards remove ID
    pievse cards list

They work on the SQLite file itself (``[storage] path`` of ``--config FILE``), so they work
whether the daemon runs or not; run them as the user the daemon runs as (the file is that
user's alone): ``sudo -u pievse pievse sessions``. A running daemon reads the cards again
before it decides the next card presented. Exit status: 0 done, 1 no such card to remove,
2 a problem with the command line, the config or the store.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pievse.app.config import Config, ConfigError, load_config
from pievse.app.config.standalone_keys import card_id_problem
from pievse.persistence.history import SessionRecord, parse_since, sessions_csv
from pievse.persistence.store import Store, StoreError

__all__ = ["add_store_commands"]

DEFAULT_CONFIG = "/etc/pievse/config.toml"
LONGEST_NAME = 64


class _Failed(Exception):
    """What the user reads, and the exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def _command(func: Callable[[argparse.Namespace, Config, Store], int]
             ) -> Callable[[argparse.Namespace], int]:
    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            config = load_config(args.config)
            with _opened(config) as store:
                return func(args, config, store)
        except ConfigError as error:
            print(f"pievse: {error}", file=sys.stderr)
            return 2
        except _Failed as error:
            print(f"pievse: {error}", file=sys.stderr)
            return error.status

    return run


@contextmanager
def _opened(config: Config) -> Iterator[Store]:
    try:
        store = Store(config.storage.path).open()
    except StoreError as error:
        raise _Failed(f"{error} (run this as the user the daemon runs as)") from None
    try:
        yield store
    finally:
        store.close()


# --- pievse sessions ----------------------------------------------------------------------------


@_command
def cmd_sessions(args: argparse.Namespace, config: Config, store: Store) -> int:
    records = store.sessions(args.since, args.limit)
    if args.csv:
        sys.stdout.write(sessions_csv(records))
    else:
        print(format_sessions(records))
    return 0


def format_sessions(records: list[SessionRecord]) -> str:
    """A table for people: times in UTC, energy in kWh, peak power in kW."""
    if not records:
        return "no sessions"
    header = ("started (UTC)", "ended", "conn", "id tag", "kWh", "peak kW", "stop reason", "cost")
    rows = [header]
    for r in records:
        cost = "" if r.cost is None else f"{r.cost:.2f} {r.currency}"
        rows.append((
            _when(r.started_at), _when(r.ended_at) if r.ended_at is not None else "charging",
            str(r.connector_id), r.id_token, f"{r.energy_wh / 1000:.2f}",
            f"{r.peak_power_w / 1000:.1f}" if r.peak_power_w else "", r.stop_reason or "", cost))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    total_wh = sum(r.energy_wh for r in records)
    costs = {r.currency: 0.0 for r in records if r.cost is not None}
    for r in records:
        if r.cost is not None:
            costs[r.currency] += r.cost
    total = f"{len(records)} session{'s' if len(records) != 1 else ''}, {total_wh / 1000:.2f} kWh"
    total += "".join(f", {amount:.2f} {currency}" for currency, amount in costs.items())
    return "\n".join([*lines, total])


def _when(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M")


# --- pievse cards -------------------------------------------------------------------------------


@_command
def cmd_cards_add(args: argparse.Namespace, config: Config, store: Store) -> int:
    store.card_added(args.id_token, args.name, time.time())
    print(f"card {args.id_token} added" + (f" ({args.name})" if args.name else ""))
    _tell_when_unused(config)
    return 0


@_command
def cmd_cards_remove(args: argparse.Namespace, config: Config, store: Store) -> int:
    if not store.card_removed(args.id_token):
        in_config = any(c.casefold() == args.id_token.casefold() for c in config.standalone.cards)
        where = " (it is in the config's [standalone] cards: remove it there)" if in_config else ""
        raise _Failed(f"no card {args.id_token} in the store{where}", 1)
    print(f"card {args.id_token} removed")
    return 0


@_command
def cmd_cards_list(args: argparse.Namespace, config: Config, store: Store) -> int:
    listed = [(card, "", "config") for card in config.standalone.cards]
    listed += [(card, name, "store") for card, name in store.cards()]
    if not listed:
        print("no cards")
    for card, name, source in listed:
        print(f"{card:<20}  {source:<6}  {name}".rstrip())
    _tell_when_unused(config)
    return 0


def _tell_when_unused(config: Config) -> None:
    if config.ocpp.url:
        print("note: the cards are used only without a CSMS ([ocpp] url = \"\"); this station has "
              "one, whose lists decide", file=sys.stderr)
    elif config.standalone.authorization == "free":
        print('note: [standalone] authorization = "free": every card may charge', file=sys.stderr)


# --- the command line ---------------------------------------------------------------------------


def _card_id(text: str) -> str:
    problem = card_id_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _name(text: str) -> str:
    if len(text) > LONGEST_NAME or not text.isprintable():
        raise argparse.ArgumentTypeError(f"a name of at most {LONGEST_NAME} printable characters")
    return text


def _since(text: str) -> float:
    try:
        return parse_since(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _limit(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f'"{text}" must be a whole number, 1 or more')
    return int(text)


def add_store_commands(subparsers: Any) -> None:
    """Register ``sessions`` and ``cards``; each command sets ``func`` to ``(args) -> int``."""
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", metavar="FILE", default=DEFAULT_CONFIG,
                        help=f"the config whose [storage] path holds the store "
                             f"(default {DEFAULT_CONFIG})")

    sessions = subparsers.add_parser("sessions", parents=[config],
                                     help="print the session history (newest first)")
    sessions.add_argument("--csv", action="store_true", help="as CSV, for a spreadsheet")
    sessions.add_argument("--since", type=_since, metavar="DATE",
                          help="only sessions that started at or after DATE (2026-12-01, UTC; "
                               "or 2026-12-01T08:00:00+01:00)")
    sessions.add_argument("--limit", type=_limit, metavar="N", help="only the newest N")
    sessions.set_defaults(func=cmd_sessions)

    cards = subparsers.add_parser("cards", help="the cards that may charge without a CSMS")
    what = cards.add_subparsers(dest="cards_command", required=True, metavar="WHAT")
    add = what.add_parser("add", parents=[config], help="let a card charge")
    add.add_argument("id_token", type=_card_id, metavar="ID", help="the card's id, as the "
                     "reader reports it (04A1B2C3)")
    add.add_argument("--name", type=_name, default="", help="whose card it is")
    add.set_defaults(func=cmd_cards_add)
    remove = what.add_parser("remove", parents=[config], help="no longer let a card charge")
    remove.add_argument("id_token", type=_card_id, metavar="ID")
    remove.set_defaults(func=cmd_cards_remove)
    listing = what.add_parser("list", parents=[config], help="the cards that may charge")
    listing.set_defaults(func=cmd_cards_list)
