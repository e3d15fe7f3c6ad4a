"""Charging from the solar surplus: the core's control fed by the site meter, and the phase switch.

``SolarCharging`` takes each reading of the site meter (``app/home.py`` polls it), adds what
the cars draw now by their own meters, and hands the core's ``solar`` limit to the station as a
station-wide local limit. With a phase switch on the boards it runs the core's safe sequence:
the ``switching phases`` hold on the connectors, ``SetPhases`` once their contactors are open,
the hold lifted after the relay has settled.

The mode chosen at run time (the local API, MQTT: ``set_mode``) is kept in the store's state and
holds after a restart, until the config's own ``[solar] mode`` is changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from pievse.app.config import Config
from pievse.core.effects import Effect
from pievse.core.hardware import MeterReading
from pievse.core.local_limits import LocalLimitSource
from pievse.core.phase_switch import HOLD_LIMIT, PhaseSwitch
from pievse.core.solar import Solar, SolarMode, SolarRules, mode_named
from pievse.core.station import Station

__all__ = ["SolarCharging"]

log = logging.getLogger("pievse.solar")

#: The store's state row that keeps the mode chosen at run time.
MODE_STATE = "solar_mode"


class State(Protocol):
    def state(self, name: str, default: Any = None) -> Any: ...

    def set_state(self, name: str, value: Any) -> None: ...


class SolarCharging:
    def __init__(self, config: Config, station: Station, dispatch: Callable[[list[Effect]], None],
                 now: float, *, metered: bool, switched: list[int], store: State | None) -> None:
        cp, solar = config.charge_point, config.solar
        self._station, self._dispatch, self._store = station, dispatch, store
        #: Whether a site meter measures the surplus (no other mode than fast without one).
        self.metered = metered
        self._configured = solar.mode
        rules = SolarRules(voltage_v=cp.voltage, phases=cp.phases,
                           start_delay_s=solar.start_delay, stop_delay_s=solar.stop_delay,
                           reserve_w=solar.reserve_w, phase_switch=bool(switched),
                           phase_switch_interval_s=solar.phase_switch_interval)
        self.solar = Solar(rules, self._kept_mode(), now)
        self.switch = PhaseSwitch(switched, cp.phases) if switched else None

    def _kept_mode(self) -> SolarMode:
        kept = self._store.state(MODE_STATE) if self._store is not None else None
        if (isinstance(kept, dict) and kept.get("configured") == self._configured
                and kept.get("mode") in {m.value for m in SolarMode}
                and (self.metered or kept["mode"] == SolarMode.FAST.value)):
            return SolarMode(kept["mode"])
        return SolarMode(self._configured)

    # --- the entry point of the local API and MQTT -----------------------------------------------

    def set_mode(self, mode: str, now: float) -> None:
        """Charge ``fast``, from the surplus only (``pv``) or at least 6 A (``min+pv``).
        ValueError names what is wrong (an unknown mode, no site meter to measure a surplus)."""
        chosen = mode_named(mode)
        if chosen is not SolarMode.FAST and not self.metered:
            raise ValueError(f"mode {chosen.value!r} needs the site meter at the grid connection "
                             "([site_meter]) to measure the surplus")
        if self._store is not None:
            self._store.set_state(MODE_STATE, {"mode": chosen.value,
                                               "configured": self._configured})
        log.info("charging mode: %s", chosen.value)
        self.solar.set_mode(chosen, now)
        self.apply(now)

    # --- fed by the site meter's poll ------------------------------------------------------------

    def reading(self, now: float, reading: MeterReading | None) -> None:
        """A reading of the site meter (None: it gave none)."""
        if reading is None or reading.power_w is None:
            self.solar.failed(now)
        else:
            self.solar.reading(now, reading.power_w, self._cars_w())
        self.apply(now)

    def apply(self, now: float) -> None:
        """Put the control's limit on the station and go on with a phase switch."""
        limit = self.solar.limit_a
        if self._station.local.limits[LocalLimitSource.SOLAR].get(None) != limit:
            self._dispatch(self._station.set_local_limit(LocalLimitSource.SOLAR, None, limit))
            if limit is not None:
                log.info("solar surplus: the cars may draw %g A", limit)
        switch = self.switch
        if switch is None:
            return
        if switch.request(self.solar.wanted_phases, now):
            log.info("switching to %d phase(s): pausing the cars", switch.target)
            self._hold(True)
        contactors = self._station.connectors
        effects, done = switch.step(now, any(contactors[n].contactor_closed
                                             for n in switch.connector_ids))
        self._dispatch(effects)
        if done is not None:
            self.solar.switched(done, now)
            self.apply(now)
            self._hold(False)
            log.info("charging on %d phase(s) now", done)

    def _hold(self, on: bool) -> None:
        assert self.switch is not None
        for n in self.switch.connector_ids:
            self._dispatch(self._station.set_current_limit(n, HOLD_LIMIT, 0.0 if on else None))

    def _cars_w(self) -> float:
        return sum(c.last_reading.power_w or 0.0 for c in self._station.connectors.values()
                   if c.contactor_closed and c.last_reading is not None)

    def status(self) -> dict[str, Any]:
        solar, switch = self.solar, self.switch
        return {
            "mode": solar.mode.value,
            "limit_a": solar.limit_a,
            "surplus_w": solar.surplus_w,
            "phases": solar.phases,
            "phase_switch": None if switch is None else {
                "stage": switch.stage.value, "switches": switch.switches,
                "wanted_phases": solar.wanted_phases},
        }
