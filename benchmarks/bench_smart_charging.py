"""Figures for the smart-charging core. Run on demand; prints, asserts nothing.

    .venv/bin/python benchmarks/bench_smart_charging.py [--quick]

The charge point is filled to its limits: MaxChargingProfilesInstalled (20) profiles, each with
ChargingScheduleMaxPeriods (48) half-hour periods, spread over every purpose and stack level that
bears on connector 1 (ChargePointMaxProfile, TxDefaultProfile on connector 0 and on connector 1,
TxProfile), in amps and in watts, absolute and daily recurring. Printed:

- SetChargingProfile: read the JSON object with the OCPP 1.6 codec and install it (ms per
  profile);
- GetCompositeSchedule for connector 1 and for connector 0 over 24 h, and over 7 days;
- limit_at at random instants (what the daemon calls at each wake-up), including its search for
  the next instant the limit changes.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pievse.core.charging_profiles import ChargingRateUnit, CompositeSchedule  # noqa: E402
from pievse.protocol.common.datetimes import format_datetime, parse_datetime  # noqa: E402
from pievse.core.smart_charging import ChargingProfiles, SmartChargingLimits  # noqa: E402
from pievse.protocol.v16.codec.charging_profiles import decode_charging_profile  # noqa: E402

MONDAY = parse_datetime("2026-01-05T00:00:00Z")
DAY = 86_400
PROFILES = 20
PERIODS = 48


def profile_objects(rng: random.Random) -> list[tuple[int, dict]]:
    """(connector id, csChargingProfiles) for a full charge point."""
    slots = (
        [(0, "ChargePointMaxProfile", level) for level in range(5)]
        + [(0, "TxDefaultProfile", level) for level in range(5)]
        + [(1, "TxDefaultProfile", level) for level in range(5)]
        + [(1, "TxProfile", level) for level in range(5)]
    )
    objects = []
    for profile_id, (connector_id, purpose, level) in enumerate(slots[:PROFILES], start=1):
        watts = profile_id % 2 == 0
        periods = [
            {
                "startPeriod": i * 1800,
                "limit": (float(rng.randrange(14, 110) * 100) if watts
                          else rng.randrange(60, 320) / 10),
            }
            for i in range(PERIODS)
        ]
        schedule = {
            "chargingRateUnit": "W" if watts else "A",
            "chargingSchedulePeriod": periods,
            "startSchedule": format_datetime(MONDAY - rng.randrange(0, 6) * 900),
            # Higher levels end sooner, so that the lower ones show through part of the day.
            "duration": DAY - level * 3 * 3600,
        }
        obj = {
            "chargingProfileId": profile_id,
            "stackLevel": level,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Recurring" if profile_id % 3 else "Absolute",
            "chargingSchedule": schedule,
        }
        if obj["chargingProfileKind"] == "Recurring":
            obj["recurrencyKind"] = "Daily"
        objects.append((connector_id, obj))
    return objects


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and worst wall time of ``fn`` in milliseconds."""
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    repeat = 5 if args.quick else 30
    rng = random.Random(61851)
    objects = profile_objects(rng)
    limits = SmartChargingLimits(max_profiles_installed=PROFILES, max_schedule_periods=PERIODS)

    def fill() -> ChargingProfiles:
        store = ChargingProfiles(connector_count=2, limits=limits)
        for connector_id, obj in objects:
            result = store.install(connector_id, decode_charging_profile(obj), MONDAY,
                                   7 if connector_id == 1 else None)
            if not result.accepted:
                raise SystemExit(f"benchmark profile rejected: {result.reason}")
        return store

    print(f"smart charging: {PROFILES} profiles x {PERIODS} periods "
          f"(Python {sys.version.split()[0]})")
    median, worst = timed(fill, repeat)
    print(f"  SetChargingProfile (parse + install), per profile: {median / PROFILES:8.3f} ms "
          f"(worst {worst / PROFILES:.3f})")

    store = fill()
    tx_start = MONDAY - 1800
    amps, watts = ChargingRateUnit.AMPS, ChargingRateUnit.WATTS
    for label, connector_id, duration, unit in (
        ("GetCompositeSchedule connector 1, 24 h, A", 1, DAY, amps),
        ("GetCompositeSchedule connector 1, 24 h, W", 1, DAY, watts),
        ("GetCompositeSchedule connector 0, 24 h, A", 0, DAY, amps),
        ("GetCompositeSchedule connector 1, 7 days, A", 1, 7 * DAY, amps),
    ):
        def composite(connector_id: int = connector_id, duration: int = duration,
                      unit: ChargingRateUnit = unit) -> CompositeSchedule:
            return store.composite_schedule(connector_id, MONDAY + 600, duration, unit,
                                            no_limit_a=32.0, transaction_start=tx_start)

        periods = len(composite().schedule.periods)
        median, worst = timed(composite, repeat)
        print(f"  {label}: {median:8.2f} ms (worst {worst:.2f}), {periods} periods")

    instants = [MONDAY + rng.uniform(0, 2 * DAY) for _ in range(200 if args.quick else 2000)]

    def limits_at() -> None:
        for t in instants:
            store.limit_at(1, t, transaction_start=tx_start)

    median, worst = timed(limits_at, max(3, repeat // 5))
    print(f"  limit_at (with next_change_at), per call:  {median * 1000 / len(instants):8.1f} µs "
          f"(worst batch {worst * 1000 / len(instants):.1f})")


if __name__ == "__main__":
    main()
