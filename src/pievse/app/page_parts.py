"""What the local API gets from the daemon besides its status: the controls of the person at the
wallbox and the power trace of each session, for the status page.

The controls are :class:`StationControls` for the source ``api``: the same rules as over MQTT
(the connector must exist, a stop needs a session), and the maximum current goes through the same
``Home.set_local_limit`` as ``POST /api/limit``. The API has no start without a card: MQTT's
``[mqtt] start_id_tag`` is Home Assistant's, and whoever stands at the wallbox has a card (or the
station charges freely). Who may use the controls is the API's access rule for every change
(:mod:`pievse.local_api.access`).

The power trace is fed on each change the daemon dispatches (its watchers), which includes each
meter reading.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pievse.app.home_controls import StationControls
from pievse.core.local_limits import LocalLimitSource
from pievse.local_api.power import PowerTraces

if TYPE_CHECKING:
    from pievse.app.daemon import Daemon

__all__ = ["page_parts"]


def page_parts(daemon: Daemon) -> tuple[StationControls, PowerTraces]:
    controls = StationControls(daemon.station, daemon.dispatch, daemon.home.set_local_limit,
                               LocalLimitSource.API)
    traces = PowerTraces()

    def sample() -> None:
        now = time.time()
        for n, connector in daemon.station.connectors.items():
            tx, reading = connector.transaction, connector.last_reading
            traces.record(n, tx.ref if tx else None, now, reading.power_w if reading else None)

    sample()
    daemon.watchers.append(sample)
    return controls, traces
