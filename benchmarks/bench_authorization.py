"""Figures for local authorization. Run on demand; prints, asserts nothing.

    .venv/bin/python benchmarks/bench_authorization.py [--quick]

With a 10,000-entry Local Authorization List (LocalAuthListMaxLength) and a full 1,000-entry
Authorization Cache:
- lookup time of a card on the list, in the cache, and unknown to both (the decision a card tap
  waits for when the CSMS is not asked);
- the offline decision, and a cache insert that has to evict;
- SendLocalList Full of 10,000 entries, a 100-entry Differential (each read by the 1.6 codec
  first, as the adapter does), and the snapshot/restore the daemon persists, through the store's
  JSON form (with its size).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pievse.core.authorization import (  # noqa: E402
    AuthorizationResult,
    AuthorizationSnapshot,
    AuthorizationStatus,
    IdToken,
    IdTokenType,
    LocalAuthorization,
)
from pievse.persistence.access_codec import (  # noqa: E402
    decode_entries,
    decode_local_list,
    encode_entries,
    encode_local_list,
)
from pievse.protocol.v16.codec.authorization import decode_send_local_list  # noqa: E402

NOW = 1_767_225_600.0
LIST_LENGTH = 10_000
CACHE_LENGTH = 1_000


@dataclass(frozen=True)
class Rules:
    local_authorize_offline: bool = True
    local_pre_authorize: bool = False
    allow_offline_tx_for_unknown_id: bool = False


def card(n: int, prefix: str = "04") -> IdToken:
    # A 4-byte MIFARE UID with a prefix, as the reader reports it.
    return IdToken(f"{prefix}{n:08X}", IdTokenType.ISO14443)


def list_entries(count: int, prefix: str = "04") -> list[dict]:
    return [{"idTag": card(n, prefix).value,
             "idTagInfo": {"status": "Accepted", "expiryDate": "2027-01-01T00:00:00Z",
                           "parentIdTag": f"FLEET{n % 50}"}}
            for n in range(count)]


def send_local_list(auth: LocalAuthorization, version: int, update: str,
                    entries: list[dict]) -> None:
    auth.send_local_list(decode_send_local_list(
        {"listVersion": version, "updateType": update, "localAuthorizationList": entries}))


def to_json(auth: LocalAuthorization) -> str:
    snapshot = auth.snapshot()
    return json.dumps([encode_local_list(snapshot.list_version, snapshot.local_list),
                       encode_entries(snapshot.cache)])


def from_json(auth: LocalAuthorization, text: str) -> None:
    listed, cached = json.loads(text)
    version, entries = decode_local_list(listed)
    auth.restore(AuthorizationSnapshot(version, tuple(entries), tuple(decode_entries(cached))))


def per_call_us(fn, tags: list[IdToken], rounds: int) -> list[float]:
    """Microseconds per call, each sample the mean over one pass through ``tags``."""
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for tag in tags:
            fn(tag)
        samples.append((time.perf_counter() - t0) / len(tags) * 1e6)
    return samples


def show(name: str, samples: list[float], unit: str = "µs") -> None:
    ordered = sorted(samples)
    print(f"{name:<44} median {statistics.median(ordered):9.2f} {unit}   "
          f"max {ordered[-1]:.2f} {unit}  ({len(ordered)} runs)")


def timed_ms(fn, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds = 5 if args.quick else 30
    print(f"pievse local authorization on {os.uname().machine}, Python {sys.version.split()[0]}")

    entries = list_entries(LIST_LENGTH)
    auth = LocalAuthorization(list_max_length=LIST_LENGTH, send_list_max_length=LIST_LENGTH,
                              cache_max_entries=CACHE_LENGTH)
    full_ms = timed_ms(lambda: send_local_list(auth, 1, "Full", entries), rounds)
    for n in range(CACHE_LENGTH):
        auth.remember(card(n, "05"), AuthorizationResult(AuthorizationStatus.ACCEPTED), NOW)
    version = [1]

    def differential() -> None:
        version[0] += 1
        send_local_list(auth, version[0], "Differential", list_entries(100, "06"))

    diff_ms = timed_ms(differential, rounds)
    print(f"list {auth.list_size} id tags, cache {auth.cache_size} entries")

    listed = [card(n) for n in range(0, LIST_LENGTH, 7)]
    cached = [card(n, "05") for n in range(0, CACHE_LENGTH, 3)]
    unknown = [card(n, "07") for n in range(1_000)]
    show("lookup, card on the local list", per_call_us(lambda t: auth.lookup(t, NOW), listed,
                                                       rounds))
    show("lookup, card in the cache", per_call_us(lambda t: auth.lookup(t, NOW), cached, rounds))
    show("lookup, unknown card", per_call_us(lambda t: auth.lookup(t, NOW), unknown, rounds))
    rules = Rules()
    show("decide_offline, card on the local list",
         per_call_us(lambda t: auth.decide_offline(t, NOW, rules), listed, rounds))

    # Every remember of a new card into the full cache evicts the least recently used one.
    fresh = iter(range(10**9))
    accepted = AuthorizationResult(AuthorizationStatus.ACCEPTED)
    show("remember a new card into a full cache",
         per_call_us(lambda _: auth.remember(card(next(fresh), "08"), accepted, NOW),
                     unknown, rounds))

    show(f"SendLocalList Full, {LIST_LENGTH} entries", full_ms, "ms")
    show("SendLocalList Differential, 100 entries", diff_ms, "ms")
    text = to_json(auth)
    show("snapshot + json.dumps", timed_ms(lambda: to_json(auth), rounds), "ms")
    again = LocalAuthorization(list_max_length=LIST_LENGTH, cache_max_entries=CACHE_LENGTH)
    show("json.loads + restore", timed_ms(lambda: from_json(again, text), rounds), "ms")
    print(f"snapshot size: {len(text) / 1024:.0f} KiB of JSON")


if __name__ == "__main__":
    main()
