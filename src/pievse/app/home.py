"""The house side of the charge point: the local limits people set, the house fuse, the sun.

``Home`` is what the local API and MQTT call to set a maximum current
(``set_local_limit(source, connector_id, amps)``) or the charging mode (``set_mode(mode)``:
"fast", "pv", "min+pv", see ``app/solar.py``), and it runs the load management when the
config has a site meter and a main fuse: it reads the site meter every ``[site_meter] interval``
(a second at most), feeds each reading with what the cars draw now to the core's ``SiteLoad``,
and hands the limit it decides to the station as the station-wide ``site`` limit. A site meter
that fails or falls silent gives the safe current, once logged, and shown in the status.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from pievse.aio import AsyncClock
from pievse.app.config import Config
from pievse.app.solar import SolarCharging, State
from pievse.app.supervision import Supervisor
from pievse.core.effects import Effect
from pievse.core.local_limits import LocalLimitSource
from pievse.core.site_load import SiteFuse, SiteLoad
from pievse.core.station import Station
from pievse.drivers.contracts import DriverError, EnergyMeter

__all__ = ["Home"]

log = logging.getLogger("pievse.home")


class Home:
    def __init__(self, config: Config, station: Station, dispatch: Callable[[list[Effect]], None],
                 clock: AsyncClock, site_meter: EnergyMeter | None,
                 store: State | None = None) -> None:
        self._station = station
        self._dispatch = dispatch
        self._clock = clock
        self._interval = config.site_meter.interval
        self.site_meter = site_meter if config.site.managed else None
        site = config.site
        self.site: SiteLoad | None = None
        if self.site_meter is not None:
            self.site = SiteLoad(SiteFuse(site.main_fuse, site.margin, site.safe_current,
                                          hold_s=site.hold), clock.now())
        self.solar = SolarCharging(
            config, station, dispatch, clock.now(), metered=self.site_meter is not None,
            switched=list(station.connectors) if config.board.has_phase_switch else [],
            store=store)

    def set_mode(self, mode: str) -> None:
        """Charge "fast", from the solar surplus only ("pv") or at least 6 A ("min+pv"); kept
        across a restart. ValueError names what is wrong."""
        self.solar.set_mode(mode, self._clock.now())

    # --- local limits ----------------------------------------------------------------------------

    def set_local_limit(self, source: str, connector_id: int | None,
                        amps: float | None) -> None:
        """``source``'s maximum current on a connector, or (None) on the whole station; ``amps``
        None lifts it. ValueError names what is wrong (an unknown source or connector)."""
        self._dispatch(self._station.set_local_limit(source, connector_id, amps))
        where = "the station" if connector_id is None else f"connector {connector_id}"
        if amps is None:
            log.info("local limit (%s) on %s lifted", source, where)
        else:
            log.info("local limit (%s) on %s: %g A", source, where, amps)

    def status(self) -> dict[str, Any]:
        """The local limits by source, what each connector is allowed and why, and the site."""
        local = self._station.local
        return {
            "local_limits": {
                source.value: {("station" if n is None else str(n)): amps
                               for n, amps in table.items()}
                for source, table in local.limits.items()},
            "site": None if self.site is None else {
                "limit_a": self.site.limit_a,
                "room_a": self.site.room_a,
                "house_a": list(self.site.house_a),
                "main_fuse_a": self.site.fuse.main_fuse_a,
                "margin_a": self.site.fuse.margin_a,
                "meter_online": self.site.blind is None,
                "problem": self.site.blind,
            },
            # No modes to choose from without a site meter to measure the surplus.
            "solar": None if self.site is None else self.solar.status(),
        }

    # --- the house fuse --------------------------------------------------------------------------

    async def start(self, supervisor: Supervisor) -> list[asyncio.Task]:
        """Start the site meter; the tasks that run the house fuse from now on."""
        site = self.site
        if self.site_meter is None or site is None:
            return []
        await self.site_meter.start()
        self._apply(site.limit_a)  # the safe current until the first reading
        self.solar.apply(self._clock.now())
        # A site meter driver that fails is a silent site meter: the safe current.
        return [supervisor.start("house fuse", self._run, failed=lambda why: self._apply(
            site.failed(self._clock.now(), f"site meter driver failed: {why}")))]

    async def _run(self) -> None:
        while True:
            await self.read_site()
            await self._clock.sleep(self._interval)

    async def read_site(self) -> None:
        site, meter = self.site, self.site_meter
        assert site is not None and meter is not None
        was_blind = site.blind
        try:
            reading = await meter.read()
        except DriverError as error:
            self._apply(site.failed(self._clock.now(), str(error)))
            self.solar.reading(self._clock.now(), None)
        else:
            self._apply(site.reading(self._clock.now(), reading.current_a, self._cars_a()))
            self.solar.reading(self._clock.now(), reading)
        self._apply(site.check(self._clock.now()))
        if site.blind is not None and was_blind is None:
            log.error("site meter silent (%s): the cars get the safe current, %g A", site.blind,
                      site.fuse.safe_current_a)
        elif site.blind is None and was_blind is not None:
            log.info("site meter reading again: room for the cars %g A", site.room_a)

    def _cars_a(self) -> list[float]:
        """What the station's cars draw now on each phase, by their own meters."""
        drawn: list[float] = []
        for connector in self._station.connectors.values():
            reading = connector.last_reading
            if not connector.contactor_closed or reading is None:
                continue
            for phase, amps in enumerate(reading.current_a):
                if phase == len(drawn):
                    drawn.append(0.0)
                drawn[phase] += amps
        return drawn

    def _apply(self, amps: float | None) -> None:
        if amps is None:
            return
        self._dispatch(self._station.set_local_limit(LocalLimitSource.SITE, None, amps))
        log.info("house fuse: the cars may draw %g A", amps)
