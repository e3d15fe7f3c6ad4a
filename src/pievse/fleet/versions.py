"""The OCPP versions a fleet station speaks: the fleet's mix, which station speaks which, and the
adapter each version builds.

A mix is a share per version (``{"1.6": 0.7, "2.0.1": 0.3}``; the shares add up to 1). It is
dealt in blocks of the fleet's station count: each block holds exactly its shares (rounded by
largest remainders), at places a shuffle seeded by the scenario's seed chooses. So the 1,000
stations of a run hold exactly 300 of 2.0.1, the same ones in every run of that seed, and the
stations a Locust worker numbers beyond the count are dealt the same mix.

The version decides three things of a station only: the adapter it is built with, the name of
its meter value interval (1.6's MeterValueSampleInterval, kept by 2.0.1's device model as
SampledDataCtrlr.TxUpdatedInterval under that name), and how a meter register travels (1.6's
meterStart and meterStop are whole Wh; 2.0.1's are sampled values to the milliwatt-hour).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pievse.core.station import Station
    from pievse.protocol.common.charge_point_parts import ChargePointParts

__all__ = ["VERSIONS", "Mix", "build_adapter", "mix_problem", "parse_mix", "register_as_sent",
           "version_of"]

#: The versions a fleet station speaks, oldest first (ties in the rounding go to the first).
VERSIONS = ("1.6", "2.0.1")
#: A checked mix: (version, share) pairs in the order of VERSIONS, shares above 0.
Mix = tuple[tuple[str, float], ...]
ONLY_16: Mix = (("1.6", 1.0),)
#: How far from 1 the shares may add up to (what decimal fractions in a file lose).
_SUM_TOLERANCE = 1e-6
#: The meter value interval's name under every version (2.0.1 keeps TxUpdatedInterval by it).
METER_INTERVAL_KEY = "MeterValueSampleInterval"


def mix_problem(value: Any) -> str | None:
    """Why ``value`` (a version, or a table of version -> share) is not a mix; None if it is."""
    if isinstance(value, str):
        return None if value in VERSIONS else f"must be one of {', '.join(VERSIONS)}"
    if not isinstance(value, Mapping) or not value:
        return (f"must be a version ({' or '.join(VERSIONS)}) or a table of shares, e.g. "
                '{ "1.6" = 0.7, "2.0.1" = 0.3 }')
    unknown = [repr(name)[:20] for name in value if name not in VERSIONS]
    if unknown:
        return f"{', '.join(unknown[:3])}: not a version (known: {', '.join(VERSIONS)})"
    for name, share in value.items():
        if isinstance(share, bool) or not isinstance(share, int | float) or not (
                math.isfinite(share) and 0 <= share <= 1):
            return f"the share of {name} must be a number from 0 to 1"
    total = math.fsum(value.values())
    if abs(total - 1) > _SUM_TOLERANCE:
        return f"the shares must add up to 1 (they add up to {total:g})"
    return None


def as_mix(value: str | Mapping[str, float]) -> Mix:
    """A checked value (see :func:`mix_problem`) as a Mix."""
    shares = {value: 1.0} if isinstance(value, str) else value
    return tuple((name, float(shares[name])) for name in VERSIONS if shares.get(name, 0) > 0)


def parse_mix(text: str) -> Mix:
    """A mix from the command line: a version (``2.0.1``) or shares (``1.6=0.7,2.0.1=0.3``).
    ValueError says what is wrong."""
    value: str | dict[str, Any]
    if "=" in text:
        value = {}
        for part in text.split(","):
            name, _, share = part.partition("=")
            try:
                value[name.strip()] = float(share)
            except ValueError:
                raise ValueError(f"{part.strip()!r}: a share must be a number from 0 to 1, "
                                 "e.g. 1.6=0.7,2.0.1=0.3") from None
    else:
        value = text.strip()
    problem = mix_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return as_mix(value)


def show_mix(mix: Mix) -> str:
    return ",".join(name if share == 1 else f"{name}={share:g}" for name, share in mix)


def version_of(index: int, mix: Mix, count: int, seed: int) -> str:
    """The version of station number ``index`` (0-based) of a fleet of ``count``."""
    if len(mix) == 1:
        return mix[0][0]
    block, place = divmod(index, count)
    return _dealt(mix, count, seed, block)[place]


@functools.lru_cache(maxsize=4)
def _dealt(mix: Mix, count: int, seed: int, block: int) -> tuple[str, ...]:
    """One block of ``count`` stations: each version's share of places, shuffled."""
    quotas = {name: math.floor(share * count) for name, share in mix}
    left = count - sum(quotas.values())
    by_remainder = sorted(mix, key=lambda pair: -(pair[1] * count - quotas[pair[0]]))
    for name, _ in by_remainder[:left]:
        quotas[name] += 1
    places = [name for name, _ in mix for _ in range(quotas[name])]
    random.Random(f"ocpp versions {seed} {block}").shuffle(places)
    return tuple(places)


# --- what a version decides of a station -------------------------------------------------------

def register_as_sent(version: str) -> Callable[[float], float]:
    """How a meter register (Wh) travels in ``version``'s transaction messages."""
    return round if version == "1.6" else _to_the_milliwatt_hour


def _to_the_milliwatt_hour(wh: float) -> float:
    return round(wh, 3)


def build_adapter(version: str, station: Station, dispatch: Callable[[list[Any]], None],
                  parts: ChargePointParts, *, phases: int, max_current_a: float,
                  voltage_v: float, meter_interval: int) -> Any:
    """The adapter of ``version`` for a fleet station, its meter value interval set."""
    if version == "1.6":
        from pievse.protocol.v16.adapter import ChargePoint16

        adapter: Any = ChargePoint16(station, dispatch, parts)
    elif version == "2.0.1":
        from pievse.protocol.v201.adapter import ChargePoint201

        adapter = ChargePoint201(station, dispatch, parts, phases=phases,
                                 max_power_w=max_current_a * voltage_v * phases)
    else:
        raise ValueError(f"a fleet station speaks no OCPP {version}")
    adapter.configuration.set_initial(METER_INTERVAL_KEY, meter_interval)
    return adapter
