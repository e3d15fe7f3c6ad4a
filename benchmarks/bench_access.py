"""Figures for local authorisation and reservations inside the station. Run on demand; prints,
asserts nothing.

    .venv/bin/python benchmarks/bench_access.py [--quick]

With a 10,000-entry Local Authorization List (LocalAuthListMaxLength) and a 1,000-entry cache:
- a card tap that LocalPreAuthorize starts at once, through the whole station core (tap ->
  TransactionStarted), and an Authorize answer fed back (answer -> TransactionStarted);
- what persisting costs: the cache as written after a verdict changed (its entries in the
  store's JSON form + one fsync'd SQLite commit), against rewriting the whole list, which the
  split avoids;
- what reservations add to every station input (the Reserved statuses are settled after each):
  a meter reading on a 4-connector station without reservations, with one connector reserved,
  and with a connector-0 reservation.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pievse.drivers.contracts import MeterReading, PilotState  # noqa: E402
from pievse.core.authorization import (  # noqa: E402
    AuthorizationResult,
    AuthorizationStatus,
    IdToken,
    IdTokenType,
)
from pievse.core.clock import ManualClock  # noqa: E402
from pievse.core.reservations import ReservationStatus  # noqa: E402
from pievse.core.settings import StationSettings  # noqa: E402
from pievse.core.station import Station  # noqa: E402
from pievse.persistence.access_codec import encode_entries, encode_local_list  # noqa: E402
from pievse.persistence.store import Store  # noqa: E402
from pievse.protocol.v16.codec.authorization import (  # noqa: E402
    decode_reserve_now,
    decode_send_local_list,
)

NOW = 1_767_225_600.0
LIST_LENGTH = 10_000
CACHE_LENGTH = 1_000


def card(n: int, prefix: str = "04") -> IdToken:
    return IdToken(f"{prefix}{n:08X}", IdTokenType.ISO14443)


def listed_station(connectors: int = 1, **settings: object) -> Station:
    station = Station(connectors, settings=StationSettings(**settings), clock=ManualClock(NOW))
    for first in range(0, LIST_LENGTH, 1000):  # SendLocalListMaxLength is 1,000 per message
        entries = [{"idTag": card(n).value, "idTagInfo": {"status": "Accepted",
                                                           "parentIdTag": f"FLEET{n % 50}"}}
                   for n in range(first, first + 1000)]
        update = "Full" if first == 0 else "Differential"
        station.send_local_list(decode_send_local_list({
            "listVersion": first // 1000 + 1, "updateType": update,
            "localAuthorizationList": entries}))
    for n in range(CACHE_LENGTH):
        station.authorization_result(card(n, "08"),
                                     AuthorizationResult(AuthorizationStatus.ACCEPTED))
    for n in range(1, connectors + 1):
        station.meter_reading(n, MeterReading(1000.0, NOW))
    station.start()
    return station


def timed_ms(fn, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return samples


def show(name: str, samples: list[float], unit: str = "ms") -> None:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    print(f"  {name:<58} median {statistics.median(ordered):8.3f} {unit}   "
          f"p95 {p95:8.3f} {unit}")


def session_starts(rounds: int) -> None:
    print(f"card tap -> TransactionStarted ({LIST_LENGTH:,} cards listed, "
          f"{CACHE_LENGTH:,} cached):")
    station = listed_station(local_pre_authorize=True)
    station.csms_connection_changed(True)
    station.pilot_changed(1, PilotState.B)
    tags = iter(range(rounds * 2))

    def pre_authorized() -> None:
        tag = card(next(tags) * 37 % LIST_LENGTH)
        station.token_presented(tag)
        station.token_presented(tag)  # the same card ends the session again

    def answered() -> None:
        tag = card(next(tags), "0C")
        station.token_presented(tag)
        station.authorization_result(tag, AuthorizationResult(AuthorizationStatus.ACCEPTED))
        station.token_presented(tag)

    show("LocalPreAuthorize: tap (start and stop)", timed_ms(pre_authorized, rounds))
    show("Authorize answered (tap, answer, stop; the answer cached)", timed_ms(answered, rounds))


def persistence(rounds: int) -> None:
    print("persisting (SQLite file, synchronous=FULL, one commit each):")
    station = listed_station()
    access = station.access
    with tempfile.TemporaryDirectory() as folder:
        store = Store(str(Path(folder) / "bench.sqlite3")).open()
        cache = encode_entries(access.cache_entries())
        snapshot = access.authorization.snapshot()
        listed = encode_local_list(snapshot.list_version, snapshot.local_list)
        show("the cache in the store's form", timed_ms(
            lambda: encode_entries(access.cache_entries()), rounds))
        show(f"write the cache ({len(json.dumps(cache)) / 1024:.0f} KiB of JSON)", timed_ms(
            lambda: store.set_state("authorization_cache", encode_entries(access.cache_entries())),
            rounds))
        show(f"write the list, what a cache change no longer does "
             f"({len(json.dumps(listed)) / 1024:.0f} KiB)",
             timed_ms(lambda: store.set_state("local_auth_list", listed), max(3, rounds // 5)))
        store.close()


def settle_overhead(rounds: int) -> None:
    print("a meter reading on 4 connectors (every input settles the Reserved statuses):")
    expiry = "2026-01-01T06:00:00Z"
    for label, reservation in (
            ("no reservation", None),
            ("connector 2 reserved", {"reservationId": 1, "connectorId": 2, "idTag": "AA",
                                      "expiryDate": expiry}),
            ("a connector-0 reservation", {"reservationId": 2, "connectorId": 0, "idTag": "BB",
                                           "expiryDate": expiry})):
        station = Station(4, clock=ManualClock(NOW))
        station.start()
        if reservation is not None:
            answer = station.reserve_now(decode_reserve_now(reservation))
            assert answer.status is ReservationStatus.ACCEPTED
        energy = iter(range(10**9))
        samples = [s * 1e3 for s in timed_ms(
            lambda: station.meter_reading(1, MeterReading(1000.0 + next(energy), NOW)),
            rounds * 20)]
        show(label, samples, "µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    rounds = 40 if parser.parse_args().quick else 200
    session_starts(rounds)
    persistence(max(5, rounds // 10))
    settle_overhead(rounds)


if __name__ == "__main__":
    main()
