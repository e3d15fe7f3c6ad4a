"""From charging profiles to the current each connector offers: the station's side of smart
charging.

``ChargingLimits`` owns the installed profiles (:class:`ChargingProfiles`) and, whenever they or
the transactions change, or time reaches the next instant a schedule moves, computes each
connector's profile limit and hands it to the connector as one of its limits (``"profile"``),
with the words that explain it. The connector takes the lowest of all its limits (installation
maximum, board, cable, profile) and, below 6 A, pauses the car without ending the transaction.

Phases for a limit in watts: the period's numberPhases, else the phases the car is measured to
draw on (currents above ``DRAWING_A``), else the station's configured phases.

It sees the connectors only as ``LimitedConnector``: what runs there, what the meter reads, and
the limits it may set.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from pievse.core.charging_profiles import (
    ChargingProfile,
    ChargingProfilePurpose,
    ChargingRateUnit,
    ChargingSchedule,
    ClearChargingProfileStatus,
    CompositeSchedule,
    InstalledProfile,
    SmartChargingLimits,
)
from pievse.core.authorization import IdToken
from pievse.core.clock import Clock
from pievse.core.effects import ChargingProfilesChanged, Effect
from pievse.core.hardware import MeterReading
from pievse.core.settings import StationSettings
from pievse.core.smart_charging import ChargingProfiles, InstallResult, merge_equal_neighbours
from pievse.core.transactions import Transaction

__all__ = ["ChargingLimits", "LimitedConnector"]

#: A phase drawing more than this counts as in use.
DRAWING_A = 1.0
SOURCE = "charging_profile"


class LimitedConnector(Protocol):
    """What the profiles need of a connector: the transaction and the reading they depend on,
    and the limits the profile limit is one of."""

    @property
    def id(self) -> int: ...

    @property
    def transaction(self) -> Transaction | None: ...

    @property
    def last_reading(self) -> MeterReading | None: ...

    @property
    def contactor_closed(self) -> bool: ...

    @property
    def limits(self) -> dict[str, float]: ...

    def reconcile(self) -> None:
        """Offer the current the limits now allow."""
        ...


class ChargingLimits:
    def __init__(
        self,
        connectors: Mapping[int, LimitedConnector],
        *,
        settings: Callable[[], StationSettings],
        clock: Clock,
        emit: Callable[[Effect], None],
        capabilities: SmartChargingLimits | None = None,
    ) -> None:
        self._connectors = connectors
        self._settings = settings
        self._clock = clock
        self._emit = emit
        self.capabilities = capabilities or SmartChargingLimits()
        self.profiles = ChargingProfiles(len(connectors), self.capabilities)
        #: When the limit of some connector can next change; the station wakes then.
        self.next_change_at: float | None = None
        #: Why each connector's profile limit is what it is, for the status API.
        self.reasons: dict[int, str] = {}
        # TxProfiles that came with RemoteStartTransaction, by id token value, until the start.
        self._remote_start_profiles: dict[str, ChargingProfile] = {}

    # --- the CSMS's messages --------------------------------------------------------------------

    def set_profile(self, connector_id: int, profile: ChargingProfile) -> InstallResult:
        """SetChargingProfile: the status, and why when Rejected."""
        transaction_id, active = None, False
        if connector_id in self._connectors:
            tx = self._connectors[connector_id].transaction
            if tx is not None and tx.stop is None:
                transaction_id, active = tx.transaction_id, True
        result = self.profiles.install(connector_id, profile, self._now(), transaction_id,
                                       transaction_active=active)
        if result.accepted:
            self._changed()
        return result

    def clear(self, profile_id: int | None = None, connector_id: int | None = None,
              purpose: ChargingProfilePurpose | None = None,
              stack_level: int | None = None) -> ClearChargingProfileStatus:
        status = self.profiles.clear(profile_id, connector_id, purpose, stack_level)
        if status is ClearChargingProfileStatus.ACCEPTED:
            self._changed()
        return status

    def composite_schedule(self, connector_id: int, duration: int,
                           unit: ChargingRateUnit | None,
                           cap_a: float | None = None) -> CompositeSchedule:
        """``cap_a``: a limit beside the profiles over the whole window (a local limit)."""
        settings = self._settings()
        tx_start, phases = None, settings.phases
        if connector_id in self._connectors:
            connector = self._connectors[connector_id]
            if connector.transaction is not None:
                tx_start = connector.transaction.started_at
            phases = self._phases(connector)
        result = self.profiles.composite_schedule(
            connector_id, self._now(), duration, unit,
            no_limit_a=settings.max_current_a, transaction_start=tx_start,
            voltage=settings.nominal_voltage_v, phases=phases)
        if result.schedule is None:
            return result
        cap = settings.max_current_a if cap_a is None else min(cap_a, settings.max_current_a)
        return dataclasses.replace(result, schedule=_cap(
            result.schedule, cap, settings.nominal_voltage_v, phases))

    def remote_start_profile(self, id_token: IdToken, profile: ChargingProfile) -> bool:
        """The charging profile of RemoteStartTransaction: kept until the transaction starts.
        False (reject the remote start) when it is not a TxProfile."""
        if profile.purpose is not ChargingProfilePurpose.TX_PROFILE:
            return False
        self._remote_start_profiles[id_token.value] = profile
        return True

    # --- transactions and time ------------------------------------------------------------------

    # The two hooks below run inside the connector's own reconcile(), which goes on to offer
    # the current with the limits set here: they must not reconcile again.

    def transaction_started(self, connector: LimitedConnector) -> None:
        tx = connector.transaction
        assert tx is not None
        profile = (self._remote_start_profiles.pop(tx.id_token.value, None)
                   if tx.id_token is not None else None)
        if profile is not None:
            self.profiles.install(connector.id, profile, self._now(), None,
                                  transaction_active=True)
        self.apply(reconcile=False)

    def transaction_ended(self, connector: LimitedConnector) -> None:
        if self.profiles.transaction_ended(connector.id):
            self._emit(self._saved())
        self.apply(reconcile=False)

    def restore(self, installed: Iterable[InstalledProfile]) -> None:
        """Install again the profiles saved before a restart (TxProfiles died with their
        transactions and are not saved); those no longer accepted (expired, say) are left out."""
        now = self._now()
        for entry in installed:
            self.profiles.install(entry.connector_id, entry.profile, now)
        self.apply()

    def due(self, now: float) -> bool:
        return self.next_change_at is not None and now >= self.next_change_at

    def apply(self, reconcile: bool = True) -> None:
        """Give each connector its profile limit now, and find the next instant one moves."""
        now = self._now()
        if self.profiles.purge_expired(now):
            self._emit(self._saved())
        voltage = self._settings().nominal_voltage_v
        next_change: float | None = None
        for connector in self._connectors.values():
            tx = connector.transaction
            limit = self.profiles.limit_at(
                connector.id, now,
                transaction_start=tx.started_at if tx is not None else None,
                voltage=voltage, phases=self._phases(connector))
            if limit.amps is None:
                connector.limits.pop(SOURCE, None)
            else:
                connector.limits[SOURCE] = limit.amps
            self.reasons[connector.id] = limit.reason
            if limit.next_change_at is not None:
                next_change = limit.next_change_at if next_change is None else min(
                    next_change, limit.next_change_at)
            if reconcile:
                connector.reconcile()
        self.next_change_at = next_change

    # --- inside -----------------------------------------------------------------------------------

    def _changed(self) -> None:
        self._emit(self._saved())
        self.apply()

    def _saved(self) -> ChargingProfilesChanged:
        kept = tuple(entry for entry in self.profiles.installed
                     if entry.profile.purpose is not ChargingProfilePurpose.TX_PROFILE)
        return ChargingProfilesChanged(kept)

    def _phases(self, connector: LimitedConnector) -> int:
        reading = connector.last_reading
        if connector.contactor_closed and reading is not None and reading.current_a:
            drawing = sum(1 for amps in reading.current_a if amps > DRAWING_A)
            if drawing:
                return drawing
        return self._settings().phases

    def _now(self) -> float:
        return self._clock.now()


def _cap(schedule: ChargingSchedule, max_current_a: float, voltage: float,
         phases: int) -> ChargingSchedule:
    """The station's own maximum applies on top of every profile: the CSMS can lower what is
    offered, never raise it, and the composite schedule says what the car will really be
    offered. Periods that become equal are merged."""
    in_watts = schedule.charging_rate_unit is ChargingRateUnit.WATTS

    def capped(limit: float, number_phases: int | None) -> float:
        cap = max_current_a * voltage * (number_phases or phases) if in_watts else max_current_a
        return min(limit, math.floor(cap * 10) / 10)

    periods = merge_equal_neighbours(
        dataclasses.replace(p, limit=capped(p.limit, p.number_phases)) for p in schedule.periods)
    return dataclasses.replace(schedule, periods=periods)
