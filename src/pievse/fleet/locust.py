"""Charge points as Locust users: Locust's distributed mode, web UI, statistics and CSV reports
over fleets of pievse stations.

A locustfile needs one line::

    from pievse.fleet.locust import ChargePointUser  # noqa: F401

and runs with the CSMS as Locust's host and a scenario file (``--fleet-scenario`` or the
``PIEVSE_FLEET_SCENARIO`` environment variable)::

    locust -f locustfile.py --host ws://csms:9000/ocpp --fleet-scenario fleet.toml
    locust -f locustfile.py --master ...            # on one machine
    locust -f locustfile.py --worker --master-host … # on each of the others

Each user is a block of ``--fleet-stations-per-user`` charge points (1 by default), played as
the scenario says (its arrivals, sessions, faults and link drops; its station count and duration
are Locust's users and run time here). Each OCPP round trip a station makes is one Locust request:
type ``OCPP``, named by its action, failed when the CSMS answered with a CALLERROR.

Locust runs on gevent, which replaces the standard library's sockets and threads; the stations
run on asyncio. So each Locust process keeps its stations in one child process
(:mod:`pievse.fleet.service`), started with its first user, told by a line on its input when a
user starts or stops, and telling back every round trip, which a greenlet turns into request
events. A station's number is unique across workers: the worker's index times a stride, plus
the user's number in its worker.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from typing import Any

import gevent
from locust import User, constant, events, task

__all__ = ["ChargePointUser", "CallError"]

#: Station numbers per Locust worker: worker ``w`` numbers its stations from ``w * STRIDE``.
STRIDE = 100_000


class CallError(Exception):
    """The CSMS answered a station's CALL with a CALLERROR (its code is the message)."""


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--fleet-scenario", default=os.environ.get("PIEVSE_FLEET_SCENARIO", ""),
                        include_in_web_ui=True,
                        help="pievse fleet scenario file (TOML): what the charge points do")
    parser.add_argument("--fleet-stations-per-user", type=int, default=1,
                        include_in_web_ui=True, help="charge points per Locust user")


class _Stations:
    """The child process that runs this Locust process's charge points."""

    def __init__(self, environment: Any, scenario: str, csms_url: str) -> None:
        self.environment = environment
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pievse.fleet.service", "--scenario", scenario,
             "--csms", csms_url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.reader = gevent.spawn(self._report)

    def command(self, line: str) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()

    def _report(self) -> None:
        assert self.process.stdout is not None
        fire = self.environment.events.request.fire
        for line in self.process.stdout:
            kind, action, milliseconds, code = (line.split() + ["", "", "", ""])[:4]
            if kind != "R":
                continue
            fire(request_type="OCPP", name=action, response_time=float(milliseconds),
                 response_length=0, exception=None if code == "-" else CallError(code),
                 context={})

    def close(self) -> None:
        self.command("quit")
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.reader.join(timeout=5)


_stations: _Stations | None = None
_numbers = itertools.count()


def _stations_for(user: User) -> _Stations:
    global _stations
    if _stations is None:
        options = user.environment.parsed_options
        scenario = getattr(options, "fleet_scenario", "") or os.environ.get(
            "PIEVSE_FLEET_SCENARIO", "")
        if not scenario:
            raise RuntimeError("no scenario: give --fleet-scenario FILE or set "
                               "PIEVSE_FLEET_SCENARIO")
        _stations = _Stations(user.environment, scenario, user.host)
    return _stations


@events.quitting.add_listener
def _quitting(**_kwargs: Any) -> None:
    global _stations
    if _stations is not None:
        _stations.close()
        _stations = None


class ChargePointUser(User):
    """A block of charge points that run for as long as the user does."""

    # The stations act on their own, as their scenario says: the user only holds them.
    wait_time = constant(1)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        per_user = max(1, getattr(options, "fleet_stations_per_user", 1) or 1)
        worker = getattr(self.environment.runner, "worker_index", 0) or 0
        first = worker * STRIDE + next(_numbers) * per_user
        self.station_numbers = list(range(first, first + per_user))
        stations = _stations_for(self)
        for number in self.station_numbers:
            stations.command(f"start {number}")

    @task
    def hold(self) -> None:
        """Nothing to do: the stations' requests are reported as they happen."""

    def on_stop(self) -> None:
        if _stations is not None:
            for number in getattr(self, "station_numbers", []):
                _stations.command(f"stop {number}")
