"""Keeps the store in step with the station: open transactions, their energy, the charging
profiles, the local limits a person set, the Local Authorization List, the Authorization Cache,
the reservations, the last run.

The daemon hands every effect to ``record()`` inside the same store batch that queues the
effect's OCPP message, so "transaction started" and "StartTransaction queued" (or "stopped" and
"StopTransaction queued") reach the disk together or not at all. ``recover()`` runs once at
start-up, before anything else: the transactions the store still holds as open were cut off by a
crash or a power cut, and are stopped now with the last energy written (reason PowerLoss, or
Reboot when a Reset was under way), their StopTransaction queued behind whatever of theirs the
outbox still holds. The list, the cache and the reservations come back too, so a charge point
that restarts offline still knows its cards, and the CSMS sees the list version it sent.
"""

from __future__ import annotations

import logging

from pievse.core.authorization import AuthorizationSnapshot
from pievse.core.charging_profiles import InstalledProfile
from pievse.core.effects import (
    AvailabilityChanged,
    ChargingProfilesChanged,
    Effect,
    LocalAuthListChanged,
    LocalLimitsChanged,
    MeterSample,
    ReservationEnded,
    ReservationsChanged,
    TransactionAuthorized,
    TransactionStarted,
    TransactionStopped,
)
from pievse.core.reservations import ReservationEnd
from pievse.core.station import Station
from pievse.core.vocabulary import ReadingContext, StopReason
from pievse.persistence.profile_codec import decode_installed_profile, encode_installed_profile
from pievse.persistence.access_codec import (
    UnreadableRecord,
    decode_entries,
    decode_local_list,
    decode_reservations,
    encode_entries,
    encode_local_list,
    encode_reservations,
)
from pievse.persistence.history import Tariff
from pievse.persistence.store import ENERGY_WRITE_INTERVAL_S, Store

__all__ = ["TransactionRecorder"]

log = logging.getLogger(__name__)


class TransactionRecorder:
    def __init__(self, store: Store, station: Station, tariff: Tariff | None = None) -> None:
        self.store = store
        self.station = station
        #: The price a session starting now is billed at (kept with the session).
        self.tariff = tariff
        self._energy_written_at: dict[int, float] = {}  # transaction ref -> station time
        #: transaction ref -> the highest power measured since its last write
        self._peak_power_w: dict[int, float] = {}
        self._reset_recorded: bool | None = None
        self._cache_recorded = station.access.cache_revision

    def recover(self) -> list[Effect]:
        """Stop the transactions a crash or power cut left open; number new ones after them."""
        self.station.restore_transaction_refs(self.store.state("next_transaction_ref", 1))
        for n, connector in self.station.connectors.items():
            connector.remembered_energy_wh = self.last_meter_energy(self.store, n)
        hard = self.store.state("reset_pending")
        reason = StopReason.POWER_LOSS if hard is None else StopReason.REBOOT
        effects: list[Effect] = []
        for interrupted in self.store.open_transactions():
            log.warning("transaction %s (connector %s, id tag %s) was cut off by a %s: %s "
                        "reason %s at %.1f Wh", interrupted.ref,
                        interrupted.connector_id, getattr(interrupted.id_token, "value", "none"),
                        "power cut or crash" if hard is None else "reset",
                        "resuming it if its car is still plugged in, else stopping it with"
                        if self.station.settings.resume_interrupted_transactions
                        else "stopping it with", reason.value,
                        interrupted.last_energy_wh,
                        extra={"CONNECTOR_ID": interrupted.connector_id,
                               "TRANSACTION_ID": interrupted.transaction_id or ""})
            if self.station.settings.resume_interrupted_transactions:
                effects += self.station.hold_interrupted(interrupted, reason)
            else:
                effects += self.station.end_interrupted(interrupted, reason)
        self.store.set_state("reset_pending", None)
        # Charging profiles come back after the transactions they might have belonged to ended.
        effects += self.station.restore_charging_profiles(self._stored_profiles())
        effects += self._recover_local_limits()
        effects += self._recover_access()
        effects += self._recover_availability()
        return effects

    def _recover_availability(self) -> list[Effect]:
        """ChangeAvailability Inoperative holds through a restart (a CSMS took the station or a
        connector out of service, and it stays so until the CSMS says otherwise)."""
        stored = self.store.state("availability", {})
        try:
            wanted = {int(n): bool(operative) for n, operative in stored.items()}
        except (AttributeError, TypeError, ValueError) as error:
            log.error("the stored availability is unreadable (%r: %s): all operative", stored,
                      error)
            wanted = {}
        return self.station.restore_availability(wanted) if wanted else []

    def _recover_local_limits(self) -> list[Effect]:
        """The maximum currents a person set (local API, MQTT) hold after a restart, as they
        would on any appliance; one that no longer fits (a connector gone) is left out."""
        effects: list[Effect] = []
        for data in self.store.state("local_limits", []):
            try:
                effects += self.station.set_local_limit(data["source"], data["connector"],
                                                        data["amps"])
            except (KeyError, TypeError, ValueError) as error:
                log.error("a stored local limit is unreadable or no longer fits (%r: %s): left "
                          "out", data, error)
        return effects

    def _stored_profiles(self) -> list[InstalledProfile]:
        installed = []
        for data in self.store.state("charging_profiles", []):
            try:
                installed.append(decode_installed_profile(data))
            except (KeyError, TypeError, ValueError) as error:
                log.error("a stored charging profile is unreadable (%s): left out; the CSMS "
                          "can set it again", error)
        return installed

    def _recover_access(self) -> list[Effect]:
        """The list, the cache and the reservations; the reservations that lapsed while the
        daemon was down are ended as expired (for the CSMS that is told so)."""
        access = self.station.access
        try:
            listed = self.store.state("local_auth_list")
            version, entries = (0, []) if listed is None else decode_local_list(listed)
            cache = decode_entries(self.store.state("authorization_cache", []))
            access.restore_authorization(AuthorizationSnapshot(version, tuple(entries),
                                                               tuple(cache)))
        except UnreadableRecord as error:
            log.error("the stored local authorization list or cache is unreadable (%s): "
                      "starting with empty ones; the CSMS will see list version 0", error)
        try:
            lapsed = access.restore_reservations(
                decode_reservations(self.store.state("reservations", [])))
        except UnreadableRecord as error:
            log.error("the stored reservations are unreadable (%s): starting without any",
                      error)
            lapsed = []
        for reservation in lapsed:
            log.info("reservation %s (connector %s, id token %s) lapsed while the daemon was "
                     "down", reservation.reservation_id, reservation.connector_id,
                     reservation.id_token.value)
        if lapsed:
            self.store.set_state("reservations", encode_reservations(access.reservations.all))
        # What was just read back needs no writing.
        self._cache_recorded = access.cache_revision
        return [ReservationEnded(r, ReservationEnd.EXPIRED) for r in lapsed]

    @staticmethod
    def last_meter_energy(store: Store, connector_id: int) -> float:
        """The highest the connector's meter register was known to reach, from the last run:
        a simulated meter resumes there, so a new meterStart is never below an old meterStop."""
        known = [store.state(f"meter_energy_wh/{connector_id}", 0.0)]
        known += [t.last_energy_wh for t in store.open_transactions()
                  if t.connector_id == connector_id]
        return max(known)

    def record(self, effect: Effect) -> None:
        match effect:
            case TransactionStarted():
                self.store.transaction_started(effect.transaction_ref, effect.connector_id,
                                               effect.id_token, effect.meter_start_wh,
                                               effect.timestamp, self.tariff)
                self.store.set_state(f"meter_energy_wh/{effect.connector_id}",
                                     effect.meter_start_wh)
                self._energy_written_at[effect.transaction_ref] = effect.timestamp
            case TransactionAuthorized():
                self.store.transaction_authorized(effect.transaction_ref, effect.id_token)
            case TransactionStopped():
                self.store.transaction_ended(effect.transaction_ref, ended_at=effect.timestamp,
                                             meter_stop_wh=effect.meter_stop_wh,
                                             stop_reason=effect.reason.value,
                                             peak_power_w=self._peak_power_w.pop(
                                                 effect.transaction_ref, None))
                self.store.set_state(f"meter_energy_wh/{effect.connector_id}",
                                     effect.meter_stop_wh)
                self._energy_written_at.pop(effect.transaction_ref, None)
            case ChargingProfilesChanged(profiles=profiles):
                self.store.set_state("charging_profiles",
                                     [encode_installed_profile(entry) for entry in profiles])
            case LocalLimitsChanged(limits=limits):
                self.store.set_state("local_limits", [
                    {"source": x.source, "connector": x.connector_id, "amps": x.amps}
                    for x in limits])
            case AvailabilityChanged(operative=operative):
                self.store.set_state("availability", {str(n): on for n, on in operative})
            case LocalAuthListChanged():
                self.store.set_state("local_auth_list",
                                     encode_local_list(effect.list_version, effect.entries))
            case ReservationsChanged(reservations=reservations):
                self.store.set_state("reservations", encode_reservations(reservations))
            case MeterSample(transaction_ref=int(ref)) if effect.context in (
                    ReadingContext.SAMPLE_PERIODIC, ReadingContext.SAMPLE_CLOCK):
                self._write_energy(ref, effect.connector_id, effect.reading.energy_import_wh,
                                   effect.timestamp)

    def reading_taken(self, connector_id: int) -> None:
        """A meter reading reached the station: write its energy if the last write is old."""
        connector = self.station.connector(connector_id)
        tx, reading = connector.transaction, connector.last_reading
        if tx is None or tx.stop is not None or reading is None:
            return
        if reading.power_w is not None:
            peak = self._peak_power_w.get(tx.ref, 0.0)
            self._peak_power_w[tx.ref] = max(peak, reading.power_w)
        now = self.station.clock.now()
        if now - self._energy_written_at.get(tx.ref, 0.0) >= ENERGY_WRITE_INTERVAL_S:
            self._write_energy(tx.ref, connector_id, reading.energy_import_wh, now)

    def settled(self) -> None:
        """After each dispatch: note a Reset being carried out, so that a crash during it ends
        the transactions with reason Reboot rather than PowerLoss; write the Authorization
        Cache if a verdict in it changed (once, however many changed in the batch)."""
        pending = self.station.reset_pending
        if pending != self._reset_recorded:
            self.store.set_state("reset_pending", pending)
            self._reset_recorded = pending
        access = self.station.access
        if access.cache_revision != self._cache_recorded:
            self.store.set_state("authorization_cache", encode_entries(access.cache_entries()))
            self._cache_recorded = access.cache_revision

    def _write_energy(self, ref: int, connector_id: int, energy_wh: float, at: float) -> None:
        with self.store.batch():
            # The peak power goes with the energy: as much of it is lost to a power cut.
            self.store.transaction_energy(ref, energy_wh, at, self._peak_power_w.get(ref))
            self.store.set_state(f"meter_energy_wh/{connector_id}", energy_wh)
        self._energy_written_at[ref] = at
