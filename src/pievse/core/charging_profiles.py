"""Charging profiles: the station core's model of them, and what makes a schedule malformed.

A *charging profile* is how a CSMS limits what a charge point may draw over time (OCPP 1.6
edition 2, section 3.13 "Smart Charging"; OCPP 2.0.1 part K keeps the same ideas). It has

* a **purpose**: a charge point maximum caps the whole charge point (connector 0 only), a
  transaction default is the limit for any transaction on a connector (or on every connector when
  installed on connector 0), a transaction profile limits one running transaction and dies with it;
* a **stack level**: within one purpose, the highest level that has a limit at an instant wins;
* a **kind** that says where its schedule starts: absolute at the schedule's start, recurring at
  that start and again every day or week, relative at the start of the transaction;
* a validity window (``valid_from`` inclusive, ``valid_to`` exclusive);
* a **charging schedule**: a rate unit (A per phase, or W in total), an optional ``duration`` after
  which the schedule says nothing, and periods ``(start_period, limit, number_phases)`` where each
  ``start_period`` (seconds from the schedule's start) also ends the period before it.

Times are epoch seconds (float, UTC), as everywhere in the station core. The classes here are the
core's own, frozen and in no protocol's spelling: each OCPP adapter has a codec that reads them
from its wire and writes its answers from them, and the store keeps them in this form, so a
profile installed under one OCPP version survives a restart under another. Whether a profile
makes sense is ``schedule_problem``'s question, asked when it is installed. ``InstalledProfile``
is a profile placed on a connector, and knows where its schedule stands at any instant: which
period is in force, and when that can next change.

A recurring schedule longer than its day or week is cut off where the next recurrence starts; one
without a duration keeps its last period until then. Before its first start a recurring profile
has no limit (it does not recur backwards).
"""

from __future__ import annotations

import enum
import math
from bisect import bisect_right
from dataclasses import dataclass, field

DAY_S = 86_400
WEEK_S = 7 * DAY_S


class ChargingProfilePurpose(enum.Enum):
    CHARGE_POINT_MAX_PROFILE = "charge_point_max_profile"
    TX_DEFAULT_PROFILE = "tx_default_profile"
    TX_PROFILE = "tx_profile"

    @property
    def title(self) -> str:
        """How the log and the status page name it, in the words of OCPP 1.6's chapter."""
        return _PURPOSE_TITLES[self]


_PURPOSE_TITLES = {
    ChargingProfilePurpose.CHARGE_POINT_MAX_PROFILE: "ChargePointMaxProfile",
    ChargingProfilePurpose.TX_DEFAULT_PROFILE: "TxDefaultProfile",
    ChargingProfilePurpose.TX_PROFILE: "TxProfile",
}


class ChargingProfileKind(enum.Enum):
    ABSOLUTE = "absolute"
    RECURRING = "recurring"
    RELATIVE = "relative"


class RecurrencyKind(enum.Enum):
    DAILY = "daily"
    WEEKLY = "weekly"

    @property
    def seconds(self) -> int:
        """How often the schedule restarts. UTC days: OCPP times carry no time zone, so a
        "daily at 18:00 local" profile moves by an hour across a daylight-saving change."""
        return DAY_S if self is RecurrencyKind.DAILY else WEEK_S


class ChargingRateUnit(enum.Enum):
    AMPS = "A"  # current per phase
    WATTS = "W"  # power over all phases together


class ChargingProfileStatus(enum.Enum):
    """The answer to installing a profile."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    NOT_SUPPORTED = "not_supported"


class ClearChargingProfileStatus(enum.Enum):
    """The answer to clearing profiles: unknown when nothing matched."""

    ACCEPTED = "accepted"
    UNKNOWN = "unknown"


class CompositeScheduleStatus(enum.Enum):
    """The answer to asking for a composite schedule."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class SmartChargingLimits:
    """What this charge point can hold, reported to the CSMS (in OCPP 1.6 as read-only
    configuration keys)."""

    #: ChargeProfileMaxStackLevel: the highest stack level accepted.
    max_stack_level: int = 10
    #: ChargingScheduleMaxPeriods: periods per schedule (48 = a day in half hours).
    max_schedule_periods: int = 48
    #: MaxChargingProfilesInstalled: profiles held at once, over all connectors.
    max_profiles_installed: int = 20
    #: ChargingScheduleAllowedChargingRateUnit.
    allowed_rate_units: frozenset[ChargingRateUnit] = frozenset(ChargingRateUnit)


@dataclass(frozen=True, slots=True)
class ChargingSchedulePeriod:
    #: Seconds from the start of the schedule; it also ends the period before this one.
    start_period: int
    #: In the schedule's rate unit: amps per phase, or watts over all phases.
    limit: float
    #: Phases the car may use; OCPP assumes 3 when absent (here: the station's phase count).
    number_phases: int | None = None


@dataclass(frozen=True, slots=True)
class ChargingSchedule:
    charging_rate_unit: ChargingRateUnit
    periods: tuple[ChargingSchedulePeriod, ...]
    #: Seconds after the start when the schedule stops limiting; None = the last period lasts.
    duration: int | None = None
    #: Epoch seconds; required for Recurring, forbidden for Relative.
    start_schedule: float | None = None
    #: The lowest rate the car charges efficiently at: advice to the CSMS, never a limit here.
    min_charging_rate: float | None = None
    #: The CSMS's own number for the schedule (OCPP 2.0.1), given back when profiles are
    #: reported.
    schedule_id: int | None = None

    @property
    def period_starts(self) -> tuple[int, ...]:
        return tuple(p.start_period for p in self.periods)


@dataclass(frozen=True, slots=True)
class ChargingProfile:
    charging_profile_id: int
    stack_level: int
    purpose: ChargingProfilePurpose
    kind: ChargingProfileKind
    schedule: ChargingSchedule
    #: TxProfile only: the transaction it belongs to (an integer in 1.6, a string in 2.0.1).
    transaction_id: int | str | None = None
    recurrency_kind: RecurrencyKind | None = None
    valid_from: float | None = None
    valid_to: float | None = None
    #: OCPP 2.0.1 carries up to three schedules for an ISO 15118 car to choose from. The core
    #: limits by ``schedule`` (the first, or the one chosen); these others are kept as they came,
    #: so that the profile can be reported as it was set.
    other_schedules: tuple[ChargingSchedule, ...] = ()

    @property
    def schedules(self) -> tuple[ChargingSchedule, ...]:
        """Every schedule of the profile, the one in force first."""
        return (self.schedule, *self.other_schedules)

    def is_valid_at(self, t: float) -> bool:
        """Inside the validity window: ``valid_from`` counts, ``valid_to`` does not."""
        if self.valid_from is not None and t < self.valid_from:
            return False
        return self.valid_to is None or t < self.valid_to

    @property
    def label(self) -> str:
        """How a log line or a reason names it: "TxProfile #12 (stack level 1)"."""
        return f"{self.purpose.title} #{self.charging_profile_id} (stack level {self.stack_level})"


@dataclass(frozen=True, slots=True)
class CompositeSchedule:
    """What the profiles, under the station's own maximum, allow a connector over a window: the
    answer to GetCompositeSchedule. The schedule starts (``start_schedule``) on a whole second
    and lasts the window asked for (``duration``), or less when the window holds more schedule
    boundaries than the station computes in one answer; it is None when the request was
    refused."""

    status: CompositeScheduleStatus
    connector_id: int
    schedule: ChargingSchedule | None = None

    @property
    def accepted(self) -> bool:
        return self.status is CompositeScheduleStatus.ACCEPTED


@dataclass(frozen=True, slots=True)
class InstalledProfile:
    """A profile as installed on a connector (0 = the charge point), with the arithmetic of its
    schedule: ``period_at`` and ``next_boundary_after`` work on absolute instants
    (origin + startPeriod) computed the same way in both, so a boundary found by one is exactly
    where the other changes its answer."""

    connector_id: int
    profile: ChargingProfile
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_starts", self.profile.schedule.period_starts)

    def amps(self, period: ChargingSchedulePeriod, voltage: float, phases: int) -> float:
        """A period's limit in amps per phase: watts over ``voltage`` times the period's
        numberPhases, else ``phases`` (the station's)."""
        if self.profile.schedule.charging_rate_unit is ChargingRateUnit.AMPS:
            return period.limit
        return period.limit / (voltage * (period.number_phases or phases))

    def _cycle(
        self, t: float, transaction_start: float | None
    ) -> tuple[float, float | None, float | None]:
        """For the schedule that matters at ``t``: its start, the instant it stops limiting
        (None: never) and the start of its next recurrence (None: it does not recur). For a
        Recurring profile that is the latest recurrence at or before ``t``, or the first one
        when ``t`` comes before it. Raises LookupError when no schedule can run: a Relative
        profile without a transaction."""
        p = self.profile
        s = p.schedule
        if p.kind is ChargingProfileKind.RELATIVE:
            if transaction_start is None:
                raise LookupError("no transaction to be relative to")
            first = transaction_start
        else:
            if s.start_schedule is None:
                # Only a profile built by hand gets here: install() gives every Absolute one a
                # start.
                raise LookupError("no startSchedule")
            first = s.start_schedule
        if p.kind is not ChargingProfileKind.RECURRING or p.recurrency_kind is None:
            return first, None if s.duration is None else first + s.duration, None
        cycle = p.recurrency_kind.seconds
        k = 0
        if t >= first:
            k = math.floor((t - first) / cycle)
            # Float division can land one recurrence off: settle k against the instants
            # themselves, always computed as first + k * cycle.
            while k > 0 and first + k * cycle > t:
                k -= 1
            while first + (k + 1) * cycle <= t:
                k += 1
        origin, next_origin = first + k * cycle, first + (k + 1) * cycle
        # A schedule as long as its recurrence (or longer, or open-ended) runs until the next
        # one starts: the same instant, not origin + cycle rounded differently.
        if s.duration is None or s.duration >= cycle:
            return origin, next_origin, next_origin
        return origin, origin + s.duration, next_origin

    def period_at(self, t: float, transaction_start: float | None) -> ChargingSchedulePeriod | None:
        """The schedule period in force at ``t``, or None when this profile has no limit then."""
        if not self.profile.is_valid_at(t):
            return None
        try:
            origin, end, _ = self._cycle(t, transaction_start)
        except LookupError:
            return None
        if t < origin or (end is not None and t >= end):
            return None
        # Compare absolute instants (origin + startPeriod), exactly as next_boundary_after
        # computes them, so that a boundary is never on different sides of t in the two.
        i = bisect_right(self._starts, t, key=lambda start: origin + start) - 1
        return self.profile.schedule.periods[i]

    def next_boundary_after(self, t: float, transaction_start: float | None) -> float | None:
        """The first instant after ``t`` at which this profile's period (or its having none)
        can change: validFrom, validTo, the schedule's start, a period's start, the end of the
        duration, the next recurrence. None when it never changes again."""
        p = self.profile
        if p.valid_to is not None and t >= p.valid_to:
            return None
        if p.valid_from is not None and t < p.valid_from:
            return p.valid_from
        try:
            origin, end, next_origin = self._cycle(t, transaction_start)
        except LookupError:
            return p.valid_to
        nxt: float | None
        if t < origin:
            nxt = origin
        elif end is not None and t >= end:
            # Past the duration: only the next recurrence (when it recurs) brings a limit back.
            nxt = next_origin
        else:
            # The next period's start, else the end of the duration (for a recurring schedule
            # that fills its whole day or week, that end is the wrap to its first period).
            nxt = end
            i = bisect_right(self._starts, t, key=lambda start: origin + start)
            if i < len(self._starts):
                period_start = origin + self._starts[i]
                if end is None or period_start < end:
                    nxt = period_start
        if p.valid_to is not None and (nxt is None or p.valid_to < nxt):
            nxt = p.valid_to
        return nxt


def schedule_problem(profile: ChargingProfile) -> str | None:
    """Why this profile cannot be obeyed as written, or None when it can.

    These are the rules of the profile on its own; the limits of the charge point (stack levels,
    periods, rate units) and where it may be installed are checked by the store."""
    for s in profile.schedules:
        if (problem := _periods_problem(s)) is not None:
            return problem
    if profile.stack_level < 0:
        return f"stackLevel {profile.stack_level} is negative"
    if profile.kind is ChargingProfileKind.RECURRING and profile.recurrency_kind is None:
        return "a Recurring profile needs a recurrencyKind (Daily or Weekly)"
    for s in profile.schedules:
        if (problem := _start_problem(profile, s)) is not None:
            return problem
    if (
        profile.transaction_id is not None
        and profile.purpose is not ChargingProfilePurpose.TX_PROFILE
    ):
        return "transactionId is only allowed in a TxProfile"
    if (
        profile.valid_from is not None
        and profile.valid_to is not None
        and profile.valid_to <= profile.valid_from
    ):
        return "validTo is not after validFrom"
    return None


def _periods_problem(s: ChargingSchedule) -> str | None:
    if not s.periods:
        return "chargingSchedulePeriod is empty"
    if s.periods[0].start_period != 0:
        return "the first chargingSchedulePeriod must start at startPeriod 0"
    for before, after in zip(s.periods, s.periods[1:], strict=False):
        if after.start_period <= before.start_period:
            return (
                f"startPeriod {after.start_period} does not come after {before.start_period}: "
                "periods must be in ascending order"
            )
    for p in s.periods:
        if not math.isfinite(p.limit) or p.limit < 0:
            return f"limit {p.limit} at startPeriod {p.start_period} is negative"
        if p.number_phases is not None and p.number_phases not in (1, 2, 3):
            return f"numberPhases {p.number_phases} is not 1, 2 or 3"
    if s.duration is not None and s.duration <= 0:
        return f"duration {s.duration} is not positive"
    if s.min_charging_rate is not None and s.min_charging_rate < 0:
        return "minChargingRate is negative"
    return None


def _start_problem(profile: ChargingProfile, s: ChargingSchedule) -> str | None:
    """Whether the schedule's start fits the profile's kind."""
    if profile.kind is ChargingProfileKind.RECURRING and s.start_schedule is None:
        return "a Recurring profile needs a startSchedule to recur from"
    if profile.kind is ChargingProfileKind.RELATIVE and s.start_schedule is not None:
        return "a Relative profile starts with the transaction and cannot have a startSchedule"
    return None
