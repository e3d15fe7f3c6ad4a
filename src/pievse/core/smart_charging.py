"""Smart charging: the installed charging profiles and the current limit they impose over time.

``ChargingProfiles`` is the charge point's store of charging profiles (see
``charging_profiles.py`` for what a profile is). It answers the three Smart Charging messages in
the core's own terms, SetChargingProfile (``install``), ClearChargingProfile (``clear``) and
GetCompositeSchedule (``composite_schedule``), and tells the station how much current a connector
may be offered now (``limit_at``) and when that can next change, so the daemon sleeps until then
instead of polling.

How the limit at an instant is found (OCPP 1.6 section 3.13):

1. A profile *has a limit* at ``t`` when ``t`` is inside its validity window and its schedule has
   a period at ``t``: after the schedule's start (``start_schedule``; the last daily or weekly
   recurrence of it; or the start of the transaction for a Relative profile) and before its
   ``duration`` runs out. A Relative profile has no limit while no transaction runs.
2. Within one purpose, the profile with the highest stack level that has a limit wins. A higher
   level whose schedule has ended (or not begun) lets the next lower level through, and when none
   has a limit the purpose imposes none. A TxDefaultProfile applies from the moment it is
   installed, to a transaction already running as well.
3. For a connector the transaction limit comes from its TxProfile if that has a limit, else from a
   TxDefaultProfile installed on the connector itself, else from one installed on connector 0
   (which applies to every connector).
4. The connector's limit is the lower of the ChargePointMaxProfile limit and the transaction limit.
   Connector 0 stands for the charge point as a whole: its ChargePointMaxProfile together with the
   TxDefaultProfiles installed on connector 0.

Limits in watts become amps per phase with the nominal voltage and the period's ``number_phases``
(else the station's phase count): ``A = W / (V × phases)``. A ChargePointMaxProfile caps each
connector at its full value; sharing it between connectors that charge at once is a load-balancing
question this module leaves to its caller. The ``min_charging_rate`` of a schedule is advice to the
CSMS and never raises a limit here.

Everything is computed from the time passed in; nothing here reads a clock or sleeps.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from pievse.core.charging_profiles import (
    ChargingProfile,
    ChargingProfileKind,
    ChargingProfilePurpose,
    ChargingProfileStatus,
    ChargingRateUnit,
    ChargingSchedule,
    ChargingSchedulePeriod,
    ClearChargingProfileStatus,
    CompositeSchedule,
    CompositeScheduleStatus,
    InstalledProfile,
    SmartChargingLimits,
    schedule_problem,
)

CPMAX = ChargingProfilePurpose.CHARGE_POINT_MAX_PROFILE
TX_DEFAULT = ChargingProfilePurpose.TX_DEFAULT_PROFILE
TX = ChargingProfilePurpose.TX_PROFILE

#: How many schedule boundaries ``limit_at`` looks past when none of them changes the limit (a
#: masked lower stack level can have many). Past that it returns the last one: the daemon wakes
#: there, finds the same limit and asks again, which costs nothing but a wake-up.
_BOUNDARY_SCAN_LIMIT = 256

#: How many schedule boundaries a composite schedule is computed through. The work (and the
#: answer) grows with the boundaries inside the window, and recurring profiles repeat theirs for
#: as long as the CSMS asks: ten years of a daily profile in half hours is 175,200 of them, which
#: held the event loop (and with it every other task) for seconds. A window with more boundaries
#: is answered for the span before the first one left out: a shorter ``duration`` tells the CSMS
#: where the answer ends, and it can ask again from there. A week of the largest schedules the
#: station accepts fits.
COMPOSITE_BOUNDARY_LIMIT = 2048

@dataclass(frozen=True, slots=True)
class InstallResult:
    """The answer to SetChargingProfile and, when Rejected, why (for the log and the operator)."""

    status: ChargingProfileStatus
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status is ChargingProfileStatus.ACCEPTED


class ProfileLimit(NamedTuple):
    """What the profiles allow a connector at one instant."""

    #: Amps per phase, or None when no profile limits the connector.
    amps: float | None
    #: Which profile caps it, in words for the log and the status API.
    reason: str
    #: The next instant at which the limit can change, or None if it never will by itself.
    next_change_at: float | None


@dataclass(frozen=True, slots=True)
class _Binding:
    """A profile limit in force at an instant: the profile, its period, the period in amps."""

    entry: InstalledProfile
    period: ChargingSchedulePeriod
    amps: float


#: The profiles of one purpose on one connector, highest stack level first.
_Layer = tuple[InstalledProfile, ...]


@dataclass(frozen=True, slots=True)
class _Plan:
    """The profiles that bear on one connector, in the order in which they take precedence."""

    connector_id: int
    cp_max: _Layer
    tx_layers: tuple[_Layer, ...]  # TxProfile, own TxDefault, connector 0's TxDefault

    @property
    def entries(self) -> Iterable[InstalledProfile]:
        yield from self.cp_max
        for layer in self.tx_layers:
            yield from layer


class ChargingProfiles:
    """The charging profiles installed on a charge point with ``connector_count`` connectors."""

    def __init__(self, connector_count: int = 1, limits: SmartChargingLimits | None = None) -> None:
        if connector_count < 1:
            raise ValueError("a charge point has at least one connector")
        self.connector_count = connector_count
        self.limits = limits or SmartChargingLimits()
        self._entries: dict[int, InstalledProfile] = {}  # by chargingProfileId
        self._plans: dict[int, _Plan] = {}

    @property
    def installed(self) -> tuple[InstalledProfile, ...]:
        """Every profile held, in the order installed (what persistence saves)."""
        return tuple(self._entries.values())

    # --- SetChargingProfile, ClearChargingProfile, the end of a transaction, expiry -------------

    def install(
        self,
        connector_id: int,
        profile: ChargingProfile,
        now: float,
        active_transaction_id: int | None = None,
        *,
        transaction_active: bool | None = None,
    ) -> InstallResult:
        """SetChargingProfile on ``connector_id`` (0 = the charge point).

        ``active_transaction_id`` is the transactionId of the transaction running on that
        connector. A transaction whose StartTransaction has not been answered yet has no id:
        pass ``transaction_active=True`` with it None (the case of the TxProfile that came with
        RemoteStartTransaction, installed as the transaction starts)."""
        self.purge_expired(now)
        if transaction_active is None:
            transaction_active = active_transaction_id is not None
        problem = (
            schedule_problem(profile)
            or self._placement_problem(connector_id, profile, transaction_active,
                                       active_transaction_id)
            or self._capability_problem(profile, now)
        )
        if problem is not None:
            return InstallResult(ChargingProfileStatus.REJECTED, problem)

        if profile.purpose is CPMAX and profile.kind is ChargingProfileKind.RELATIVE:
            # The charge point as a whole has no transaction to count from; CSMSs that send one
            # (Home Assistant's station-wide limit) mean "from now", as other chargers read it.
            # Kept as the Absolute profile it amounts to, so that a restart does not move its
            # start.
            profile = dataclasses.replace(
                profile, kind=ChargingProfileKind.ABSOLUTE,
                schedule=dataclasses.replace(profile.schedule, start_schedule=now),
            )
        if profile.kind is ChargingProfileKind.ABSOLUTE and profile.schedule.start_schedule is None:
            # OCPP 1.6 leaves an Absolute schedule without startSchedule undefined; it starts
            # when it becomes valid, i.e. at validFrom or now. Kept in the profile so that
            # persistence and GetCompositeSchedule see the same start.
            start = profile.valid_from if profile.valid_from is not None else now
            profile = dataclasses.replace(
                profile, schedule=dataclasses.replace(profile.schedule, start_schedule=start)
            )
        if (
            profile.purpose is TX
            and profile.transaction_id is None
            and active_transaction_id is not None
        ):
            profile = dataclasses.replace(profile, transaction_id=active_transaction_id)

        # The same id, or the same purpose and stack level on the same connector, is replaced.
        replaced = [
            pid
            for pid, e in self._entries.items()
            if pid == profile.charging_profile_id
            or (
                e.connector_id == connector_id
                and e.profile.purpose is profile.purpose
                and e.profile.stack_level == profile.stack_level
            )
        ]
        if len(self._entries) - len(replaced) >= self.limits.max_profiles_installed:
            return InstallResult(
                ChargingProfileStatus.REJECTED,
                f"MaxChargingProfilesInstalled ({self.limits.max_profiles_installed}) reached",
            )
        for pid in replaced:
            del self._entries[pid]
        self._entries[profile.charging_profile_id] = InstalledProfile(connector_id, profile)
        self._plans.clear()
        return InstallResult(ChargingProfileStatus.ACCEPTED)

    def _placement_problem(
        self,
        connector_id: int,
        profile: ChargingProfile,
        transaction_active: bool,
        active_transaction_id: int | None,
    ) -> str | None:
        if not 0 <= connector_id <= self.connector_count:
            return f"connector {connector_id} does not exist"
        if profile.purpose is CPMAX:
            if connector_id != 0:
                return "a ChargePointMaxProfile can only be set on connector 0"
        if profile.purpose is TX:
            if connector_id == 0:
                return "a TxProfile belongs to a transaction on a connector, not connector 0"
            if not transaction_active:
                return f"no transaction is running on connector {connector_id}"
            if profile.transaction_id is not None:
                if active_transaction_id is None:
                    return "the running transaction has no transactionId yet"
                if profile.transaction_id != active_transaction_id:
                    return (
                        f"transactionId {profile.transaction_id} is not the transaction running "
                        f"on connector {connector_id} ({active_transaction_id})"
                    )
        return None

    def _capability_problem(self, profile: ChargingProfile, now: float) -> str | None:
        limits = self.limits
        if profile.stack_level > limits.max_stack_level:
            return (
                f"stackLevel {profile.stack_level} is above ChargeProfileMaxStackLevel "
                f"({limits.max_stack_level})"
            )
        for schedule in profile.schedules:
            if (problem := _schedule_capability_problem(schedule, limits)) is not None:
                return problem
        if profile.valid_to is not None and profile.valid_to <= now:
            passed = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(profile.valid_to))
            return f"validTo {passed} has already passed"
        return None

    def clear(
        self,
        id: int | None = None,  # ClearChargingProfile's own field name
        connector_id: int | None = None,
        purpose: ChargingProfilePurpose | None = None,
        stack_level: int | None = None,
    ) -> ClearChargingProfileStatus:
        """ClearChargingProfile: one profile by ``id`` (the other criteria are then ignored, as
        OCPP 1.6 says), or every profile matching all the criteria given; no criteria clears
        all. Unknown when nothing matched."""
        if id is not None:
            doomed = [id] if id in self._entries else []
        else:
            doomed = [
                pid
                for pid, e in self._entries.items()
                if (connector_id is None or e.connector_id == connector_id)
                and (purpose is None or e.profile.purpose is purpose)
                and (stack_level is None or e.profile.stack_level == stack_level)
            ]
        self._remove(doomed)
        return ClearChargingProfileStatus.ACCEPTED if doomed else ClearChargingProfileStatus.UNKNOWN

    def transaction_ended(self, connector_id: int) -> tuple[InstalledProfile, ...]:
        """The transaction on ``connector_id`` ended: its TxProfiles go with it."""
        return self._remove([pid for pid, e in self._entries.items()
                             if e.connector_id == connector_id and e.profile.purpose is TX])

    def purge_expired(self, now: float) -> tuple[InstalledProfile, ...]:
        """Drop the profiles whose validTo has passed (they impose nothing any more; ``limit_at``
        already ignores them and names their validTo as a change, so the daemon wakes then)."""
        return self._remove([pid for pid, e in self._entries.items()
                             if e.profile.valid_to is not None and e.profile.valid_to <= now])

    def _remove(self, ids: list[int]) -> tuple[InstalledProfile, ...]:
        removed = tuple(self._entries.pop(pid) for pid in ids)
        if removed:
            self._plans.clear()
        return removed

    # --- the limit -----------------------------------------------------------------------------

    def limit_at(
        self,
        connector_id: int,
        now: float,
        *,
        transaction_start: float | None = None,
        voltage: float = 230.0,
        phases: int = 3,
    ) -> ProfileLimit:
        """The current the profiles allow on ``connector_id`` at ``now``, why, and when that can
        next change. ``transaction_start`` is when the connector's transaction started (the
        origin of Relative profiles), None when none runs."""
        plan = self._plan(connector_id)
        tx_start = None if connector_id == 0 else transaction_start
        amps, reason = self._outcome(plan, now, tx_start, voltage, phases)
        t = now
        for _ in range(_BOUNDARY_SCAN_LIMIT):
            boundary = self._next_boundary(plan, t, tx_start)
            if boundary is None:
                return ProfileLimit(amps, reason, None)
            if self._outcome(plan, boundary, tx_start, voltage, phases) != (amps, reason):
                return ProfileLimit(amps, reason, boundary)
            t = boundary
        return ProfileLimit(amps, reason, t)

    def _plan(self, connector_id: int) -> _Plan:
        plan = self._plans.get(connector_id)
        if plan is None:
            if not 0 <= connector_id <= self.connector_count:
                raise ValueError(f"connector {connector_id} does not exist")

            def layer(connector: int, purpose: ChargingProfilePurpose) -> _Layer:
                found = [e for e in self._entries.values()
                         if e.connector_id == connector and e.profile.purpose is purpose]
                return tuple(sorted(found, key=lambda e: e.profile.stack_level, reverse=True))

            if connector_id == 0:
                tx_layers = (layer(0, TX_DEFAULT),)
            else:
                tx_layers = (layer(connector_id, TX), layer(connector_id, TX_DEFAULT),
                             layer(0, TX_DEFAULT))
            plan = _Plan(connector_id, layer(0, CPMAX), tx_layers)
            self._plans[connector_id] = plan
        return plan

    @staticmethod
    def _bindings(
        plan: _Plan, t: float, tx_start: float | None, voltage: float, phases: int
    ) -> list[_Binding]:
        """The ChargePointMaxProfile limit and the transaction limit in force at ``t``."""

        def first_with_limit(layer: _Layer) -> _Binding | None:
            for entry in layer:
                period = entry.period_at(t, tx_start)
                if period is not None:
                    return _Binding(entry, period, entry.amps(period, voltage, phases))
            return None

        found = []
        cp = first_with_limit(plan.cp_max)
        if cp is not None:
            found.append(cp)
        for layer in plan.tx_layers:
            tx = first_with_limit(layer)
            if tx is not None:
                found.append(tx)
                break
        return found

    def _outcome(
        self, plan: _Plan, t: float, tx_start: float | None, voltage: float, phases: int
    ) -> tuple[float | None, str]:
        bindings = self._bindings(plan, t, tx_start, voltage, phases)
        if not bindings:
            return None, "no charging profile in effect"
        # min() keeps the first of equals: the ChargePointMaxProfile is named when it ties.
        binding = min(bindings, key=lambda b: b.amps)
        return binding.amps, _describe(binding, plan.connector_id, voltage, phases)

    @staticmethod
    def _next_boundary(plan: _Plan, t: float, tx_start: float | None) -> float | None:
        nearest = None
        for entry in plan.entries:
            b = entry.next_boundary_after(t, tx_start)
            if b is not None and (nearest is None or b < nearest):
                nearest = b
        return nearest

    # --- GetCompositeSchedule ------------------------------------------------------------------

    def composite_schedule(
        self,
        connector_id: int,
        start: float,
        duration: int,
        unit: ChargingRateUnit | None = None,
        *,
        no_limit_a: float,
        transaction_start: float | None = None,
        voltage: float = 230.0,
        phases: int = 3,
    ) -> CompositeSchedule:
        """What the profiles allow ``connector_id`` for ``duration`` seconds from ``start``.

        Connector 0 gives the charge point's own schedule (ChargePointMaxProfile and the
        TxDefaultProfiles of connector 0), connector N what ``limit_at`` gives it at each
        instant. A stretch no profile limits is reported at ``no_limit_a`` (the installation
        maximum: a schedule cannot say "no limit"). ``unit`` None reports in watts when every
        profile concerned is in watts, else in amps. The schedule starts on a whole second
        (OCPP's resolution) and each limit is rounded down to the 0.1 OCPP allows; adjacent
        periods with the same limit are merged. Past ``COMPOSITE_BOUNDARY_LIMIT`` boundaries the
        answer stops at the first one left out, with its ``duration`` shortened to match."""
        if not 0 <= connector_id <= self.connector_count or duration <= 0:
            return CompositeSchedule(CompositeScheduleStatus.REJECTED, connector_id)
        plan = self._plan(connector_id)
        tx_start = None if connector_id == 0 else transaction_start
        rate_unit = self._report_unit(plan, unit)
        start = math.floor(start)
        end = start + duration

        raw: list[ChargingSchedulePeriod] = []
        t: float = start
        for _ in range(COMPOSITE_BOUNDARY_LIMIT):
            if t >= end:
                break
            bindings = self._bindings(plan, t, tx_start, voltage, phases)
            if bindings:
                b = min(bindings, key=lambda b: b.amps)
                limit = _express(b, rate_unit, voltage, phases)
                number_phases = b.period.number_phases
            else:
                limit = no_limit_a if rate_unit is ChargingRateUnit.AMPS else (
                    no_limit_a * voltage * phases)
                number_phases = None
            period = ChargingSchedulePeriod(math.floor(t - start), _floor_tenth(limit),
                                            number_phases)
            if raw and raw[-1].start_period == period.start_period:
                raw[-1] = period  # later in the same second
            else:
                raw.append(period)
            nxt = self._next_boundary(plan, t, tx_start)
            if nxt is None:
                break
            t = nxt
        else:
            if t < end:
                duration = max(math.floor(t - start), raw[-1].start_period + 1)

        schedule = ChargingSchedule(rate_unit, merge_equal_neighbours(raw), duration=duration,
                                    start_schedule=start)
        return CompositeSchedule(CompositeScheduleStatus.ACCEPTED, connector_id, schedule)

    @staticmethod
    def _report_unit(plan: _Plan, unit: ChargingRateUnit | None) -> ChargingRateUnit:
        if unit is not None:
            return unit
        units = {e.profile.schedule.charging_rate_unit for e in plan.entries}
        watts_only = units == {ChargingRateUnit.WATTS}
        return ChargingRateUnit.WATTS if watts_only else ChargingRateUnit.AMPS


# --- arithmetic ----------------------------------------------------------------------------------


def _express(binding: _Binding, unit: ChargingRateUnit, voltage: float, phases: int) -> float:
    """The binding limit in ``unit``: as written when the units agree, else converted."""
    if binding.entry.profile.schedule.charging_rate_unit is unit:
        return binding.period.limit
    if unit is ChargingRateUnit.AMPS:
        return binding.amps
    return binding.period.limit * voltage * (binding.period.number_phases or phases)


def merge_equal_neighbours(
    periods: Iterable[ChargingSchedulePeriod],
) -> tuple[ChargingSchedulePeriod, ...]:
    """The periods without those that only repeat the limit and phases before them."""
    merged: list[ChargingSchedulePeriod] = []
    for period in periods:
        if merged and (merged[-1].limit, merged[-1].number_phases) == (
                period.limit, period.number_phases):
            continue
        merged.append(period)
    return tuple(merged)


def _floor_tenth(value: float) -> float:
    # The epsilon keeps 16.3 (stored as 16.299999...) at 16.3 instead of flooring it to 16.2.
    return math.floor(value * 10 + 1e-6) / 10


def _describe(binding: _Binding, connector_id: int, voltage: float, phases: int) -> str:
    entry, period = binding.entry, binding.period
    shared_default = entry.profile.purpose is TX_DEFAULT and entry.connector_id == 0
    where = " on connector 0" if shared_default and connector_id != 0 else ""
    if entry.profile.schedule.charging_rate_unit is ChargingRateUnit.AMPS:
        return f"{entry.profile.label}{where} limits to {period.limit:g} A"
    n = period.number_phases or phases
    return (
        f"{entry.profile.label}{where} limits to {period.limit:g} W "
        f"= {binding.amps:.1f} A at {voltage:g} V on {n} phase{'s' if n != 1 else ''}"
    )


def _schedule_capability_problem(schedule: ChargingSchedule,
                                 limits: SmartChargingLimits) -> str | None:
    """Whether the station can hold this schedule: its periods and its rate unit."""
    if len(schedule.periods) > limits.max_schedule_periods:
        return (
            f"{len(schedule.periods)} periods are more than "
            f"ChargingScheduleMaxPeriods ({limits.max_schedule_periods})"
        )
    unit = schedule.charging_rate_unit
    if unit not in limits.allowed_rate_units:
        allowed = ", ".join(u.value for u in ChargingRateUnit if u in limits.allowed_rate_units)
        return (
            f"chargingRateUnit {unit.value} is not allowed "
            f"(ChargingScheduleAllowedChargingRateUnit allows {allowed or 'none'})"
        )
    return None
