"""Each part of the station core, built alone: a ``Connector``, ``ChargingLimits``, ``Access`` and
``InterruptedTransactions`` without a ``Station``, each given only its seams (the settings, a
clock, an emit function and the few questions it asks), here as small real classes written for
the test. What the whole station does with them is in the test_station_*.py files."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from pievse.core.access import Access
from pievse.core.authorization import (
    AuthorizationResult,
    AuthorizationStatus,
    IdToken,
    IdTokenType,
)
from pievse.core.charging_limits import SOURCE, ChargingLimits
from pievse.core.charging_profiles import (
    ChargingProfilePurpose,
    ChargingProfileStatus,
    ChargingRateUnit,
)
from pievse.core.clock import ManualClock
from pievse.core.connector import Connector
from pievse.core.effects import (
    ChargingProfilesChanged,
    Effect,
    MeterSample,
    ReservationsChanged,
    SetContactor,
    SetPilot,
    TransactionStarted,
    TransactionStopped,
)
from pievse.core.hardware import FaultKind, MeterReading, PilotState
from pievse.core.interrupted import DECIDE_WITHIN_S, InterruptedTransactions
from pievse.core.reservations import Reservation, ReservationStatus
from pievse.core.settings import StationSettings
from pievse.core.transactions import InterruptedTransaction, Transaction
from pievse.core.vocabulary import ConnectorStatus, ErrorCode, ReadingContext, StopReason
from tests.test_station_rig import NEW_YEAR
from tests.test_station_smart_charging import profile

HOUR = 3600.0
ALICE = IdToken("04A1B2C3", IdTokenType.ISO14443)
BOB = IdToken("04FFEE01", IdTokenType.ISO14443)


class Seams:
    """The settings, the clock and the emit function every part takes, and what was emitted."""

    def __init__(self, **settings: object) -> None:
        self.settings = StationSettings(**settings)  # type: ignore[arg-type]
        self.clock = ManualClock(NEW_YEAR)
        self.effects: list[Effect] = []

    def given(self) -> dict[str, object]:
        return {"settings": lambda: self.settings, "clock": self.clock,
                "emit": self.effects.append}

    def emitted(self, cls: type) -> list:
        return [e for e in self.effects if isinstance(e, cls)]


# --- Connector -----------------------------------------------------------------------------------


class Host:
    """The rest of a charge point, as little of it as a connector asks about (ConnectorHost)."""

    def __init__(self) -> None:
        self.resetting = False
        self.going_down = False
        self.updating = False
        self.reserved: dict[int, int] = {}  # connector id -> reservation id
        self.refs = itertools.count(1)
        self.pilots_reported: list[PilotState] = []
        self.started: list[Transaction] = []
        self.ended: list[int] = []

    def may_start_transaction(self) -> bool:
        return not self.resetting and not self.going_down and not self.updating

    def shutting_down(self) -> bool:
        return self.going_down

    def held_for_update(self) -> bool:
        return self.updating

    def shows_reserved(self, connector_id: int) -> bool:
        return connector_id in self.reserved

    def profile_limit_reason(self, connector_id: int) -> str:
        return f"the site's profile on connector {connector_id}"

    def new_transaction_ref(self) -> int:
        return next(self.refs)

    def claim_reservation(self, connector_id: int, id_token: IdToken,
                          group: IdToken | None) -> int | None:
        return self.reserved.pop(connector_id, None)

    def pilot_reported(self, connector: Connector) -> None:
        self.pilots_reported.append(connector.pilot)

    def transaction_started(self, connector: Connector) -> None:
        assert connector.transaction is not None
        self.started.append(connector.transaction)

    def transaction_ended(self, connector: Connector) -> None:
        self.ended.append(connector.id)


def a_connector(**settings: object) -> tuple[Connector, Host, Seams]:
    seams, host = Seams(**settings), Host()
    connector = Connector(1, host, board_max_current_a=32.0, **seams.given())  # type: ignore
    connector.meter_reading(MeterReading(1000.0, NEW_YEAR))
    connector.reconcile()
    return connector, host, seams


def contactor(seams: Seams) -> bool:
    commands = seams.emitted(SetContactor)
    return commands[-1].closed if commands else False


def test_the_contactor_closes_only_in_state_c_with_an_authorised_transaction() -> None:
    connector, host, seams = a_connector()
    assert connector.status[0] is ConnectorStatus.AVAILABLE
    connector.set_pilot(PilotState.B)
    connector.set_pilot(PilotState.C)
    assert not contactor(seams), "a car asking for power without a card gets none"
    assert connector.status[0] is ConnectorStatus.PREPARING

    connector.set_pilot(PilotState.B)
    connector.authorize(ALICE)
    [started] = seams.emitted(TransactionStarted)
    assert (started.transaction_ref, started.id_token, started.meter_start_wh) == (
        1, ALICE, 1000.0)
    assert host.started == [connector.transaction]
    assert seams.emitted(SetPilot)[-1].amps == 32.0
    assert not contactor(seams), "state B: the car does not ask yet"

    connector.set_pilot(PilotState.C)
    assert contactor(seams) and connector.status[0] is ConnectorStatus.CHARGING
    assert host.pilots_reported == [PilotState.B, PilotState.C, PilotState.B, PilotState.C]


def test_a_fault_opens_the_contactor_first_and_ends_the_transaction() -> None:
    connector, host, seams = a_connector()
    connector.set_pilot(PilotState.C)
    connector.authorize(ALICE)
    assert contactor(seams)
    seams.effects.clear()
    connector.set_fault(FaultKind.RCD, True)
    assert isinstance(seams.effects[0], SetContactor) and not seams.effects[0].closed
    [stopped] = seams.emitted(TransactionStopped)
    assert stopped.reason is StopReason.OTHER and host.ended == [1]
    assert connector.status[:2] == (ConnectorStatus.FAULTED, ErrorCode.GROUND_FAILURE)
    connector.authorize(BOB)
    assert connector.transaction is None and not contactor(seams), "no session while faulted"


def test_no_session_starts_while_the_host_says_none_may() -> None:
    connector, host, seams = a_connector()
    host.resetting = True
    connector.set_pilot(PilotState.C)
    connector.authorize(ALICE)
    assert connector.transaction is None and connector.pending is None
    assert seams.emitted(TransactionStarted) == [] and not contactor(seams)


def test_a_reservation_the_host_holds_shows_reserved_and_ends_with_the_start() -> None:
    connector, host, seams = a_connector()
    host.reserved[1] = 42
    connector.report_status()
    assert connector.status[0] is ConnectorStatus.RESERVED
    assert connector.compute_status(reserved=False)[0] is ConnectorStatus.AVAILABLE
    connector.set_pilot(PilotState.B)
    connector.authorize(ALICE)
    assert seams.emitted(TransactionStarted)[0].reservation_id == 42


def test_the_lowest_limit_is_offered_and_named() -> None:
    connector, host, seams = a_connector(max_current_a=25.0)
    connector.set_pilot(PilotState.C)
    connector.authorize(ALICE)
    assert connector.offered_a == 25.0
    assert connector.current_limit_reason == "installation maximum: 25 A"
    connector.limits[SOURCE] = 10.0
    connector.reconcile()
    assert seams.emitted(SetPilot)[-1].amps == 10.0
    assert connector.current_limit_reason == "the site's profile on connector 1: 10 A"


# --- ChargingLimits ------------------------------------------------------------------------------


@dataclass
class Socket:
    """A connector as the charging profiles see it (a LimitedConnector)."""

    id: int
    transaction: Transaction | None = None
    last_reading: MeterReading | None = None
    contactor_closed: bool = False
    limits: dict[str, float] = field(default_factory=dict)
    reconciled: int = 0

    def reconcile(self) -> None:
        self.reconciled += 1


def charging_limits(connectors: int = 2) -> tuple[ChargingLimits, dict[int, Socket], Seams]:
    seams = Seams()
    sockets = {n: Socket(n) for n in range(1, connectors + 1)}
    return ChargingLimits(sockets, **seams.given()), sockets, seams  # type: ignore[arg-type]


def test_an_installed_profile_limits_every_connector_and_moves_on_time() -> None:
    limits, sockets, seams = charging_limits()
    cp_max = profile(1, ChargingProfilePurpose.CHARGE_POINT_MAX_PROFILE, [(0, 16), (3600, 10)])
    assert limits.set_profile(0, cp_max).status is ChargingProfileStatus.ACCEPTED
    assert [s.limits[SOURCE] for s in sockets.values()] == [16.0, 16.0]
    assert all(s.reconciled == 1 for s in sockets.values())
    assert "ChargePointMaxProfile" in limits.reasons[1]
    [saved] = seams.emitted(ChargingProfilesChanged)
    assert [(e.connector_id, e.profile) for e in saved.profiles] == [(0, cp_max)]
    assert limits.next_change_at == NEW_YEAR + HOUR

    seams.clock.advance(HOUR)
    assert limits.due(seams.clock.now())
    limits.apply()
    assert [s.limits[SOURCE] for s in sockets.values()] == [10.0, 10.0]


def test_a_limit_in_watts_counts_the_phases_the_car_draws_on() -> None:
    limits, sockets, seams = charging_limits(connectors=1)
    socket = sockets[1]
    socket.transaction = Transaction(1, 1, ALICE, 1000.0, NEW_YEAR)
    limits.set_profile(1, profile(1, ChargingProfilePurpose.TX_PROFILE, [(0, 3680.0)],
                                  unit=ChargingRateUnit.WATTS))
    assert socket.limits[SOURCE] == 3680.0 / 230.0 / 3, "the configured 3 phases at first"
    socket.contactor_closed = True
    socket.last_reading = MeterReading(1000.0, NEW_YEAR, current_a=(16.0, 0.2, 0.0))
    limits.apply()
    assert socket.limits[SOURCE] == 16.0, "one phase measured: all of it on that phase"


def test_a_tx_profile_without_a_transaction_is_rejected_and_one_with_a_remote_start_waits() -> None:
    limits, sockets, seams = charging_limits(connectors=1)
    tx_profile = profile(5, ChargingProfilePurpose.TX_PROFILE, [(0, 8)])
    assert limits.set_profile(1, tx_profile).status is ChargingProfileStatus.REJECTED
    assert limits.remote_start_profile(ALICE, tx_profile)
    sockets[1].transaction = Transaction(1, 1, ALICE, 1000.0, NEW_YEAR)
    limits.transaction_started(sockets[1])
    assert sockets[1].limits[SOURCE] == 8.0
    assert sockets[1].reconciled == 0, "the connector reconciles itself after its start"


# --- Access --------------------------------------------------------------------------------------


class Post:
    """A connector as the reservations see it (a ShownConnector): free or not, and what it
    showed the CSMS last."""

    def __init__(self, connector_id: int) -> None:
        self.id = connector_id
        self.without_reservations = ConnectorStatus.AVAILABLE
        self.status: tuple[ConnectorStatus, ErrorCode, str | None] | None = None
        self.access: Access | None = None

    def compute_status(self, reserved: bool = True
                       ) -> tuple[ConnectorStatus, ErrorCode, str | None]:
        status = self.without_reservations
        if (reserved and status is ConnectorStatus.AVAILABLE and self.access is not None
                and self.access.shows_reserved(self.id)):
            status = ConnectorStatus.RESERVED
        return status, ErrorCode.NO_ERROR, None

    def report_status(self) -> None:
        self.status = self.compute_status()


def an_access(**settings: object) -> tuple[Access, dict[int, Post], Seams]:
    seams = Seams(**settings)
    posts = {n: Post(n) for n in (1, 2)}
    access = Access(posts, **seams.given())  # type: ignore[arg-type]
    for post in posts.values():
        post.access = access
        post.report_status()
    return access, posts, seams


def shown(posts: dict[int, Post]) -> list[ConnectorStatus]:
    return [p.status[0] for p in posts.values() if p.status is not None]


def test_a_reservation_is_shown_reserved_admits_only_its_card_and_ends_with_its_use() -> None:
    access, posts, seams = an_access()
    booking = Reservation(1, 1, ALICE, NEW_YEAR + HOUR)
    assert access.reserve(booking)[0] is ReservationStatus.ACCEPTED
    assert seams.emitted(ReservationsChanged)[-1].reservations == (booking,)
    access.settle()
    assert shown(posts) == [ConnectorStatus.RESERVED, ConnectorStatus.AVAILABLE]
    assert not access.admits(1, BOB, None) and access.admits(1, ALICE, None)
    assert access.admits(2, BOB, None)

    assert access.claim(1, ALICE, None) == 1
    assert seams.emitted(ReservationsChanged)[-1].reservations == ()
    access.settle()
    assert shown(posts) == [ConnectorStatus.AVAILABLE, ConnectorStatus.AVAILABLE]


def test_a_reservation_on_a_busy_connector_is_refused_and_one_held_expires() -> None:
    access, posts, seams = an_access()
    posts[1].without_reservations = ConnectorStatus.CHARGING
    assert access.reserve(Reservation(1, 1, ALICE, NEW_YEAR + HOUR))[0] is \
        ReservationStatus.OCCUPIED
    assert access.reserve(Reservation(2, 2, ALICE, NEW_YEAR + HOUR))[0] is \
        ReservationStatus.ACCEPTED
    assert access.next_deadline() == NEW_YEAR + HOUR
    access.tick(NEW_YEAR + HOUR)
    access.settle()
    assert access.reservations.all == [] and posts[2].status[0] is ConnectorStatus.AVAILABLE


def test_the_stores_follow_the_settings_they_are_given() -> None:
    access, posts, seams = an_access()
    access.remember(ALICE, AuthorizationResult(AuthorizationStatus.ACCEPTED))
    assert access.decide_offline(ALICE).status is AuthorizationStatus.ACCEPTED
    revision = access.cache_revision
    seams.settings = StationSettings(authorization_cache_enabled=False)
    access.settings_changed()
    assert access.cache_revision > revision, "a cache switched off forgets, the store too"
    assert access.decide_offline(ALICE) is None


# --- InterruptedTransactions ---------------------------------------------------------------------


@dataclass
class Bay:
    """A connector as a restart sees it (a ResumableConnector)."""

    id: int
    pilot_known: bool = False
    pilot: PilotState = PilotState.A
    transaction: Transaction | None = None
    energy_wh: float = 0.0

    def resume(self, tx: Transaction) -> None:
        self.transaction = tx


CUT_OFF = InterruptedTransaction(ref=7, connector_id=1, id_token=ALICE, meter_start_wh=1000.0,
                                 started_at=NEW_YEAR - HOUR, transaction_id=4711,
                                 last_energy_wh=5400.0, last_energy_at=NEW_YEAR - 60)


def interrupted_transactions() -> tuple[InterruptedTransactions, Bay, list[int], Seams]:
    seams, bay, next_refs = Seams(), Bay(1), []
    bays = {1: bay}
    part = InterruptedTransactions(bays.__getitem__, next_refs.append, clock=seams.clock,
                                   emit=seams.effects.append)
    return part, bay, next_refs, seams


def test_an_interrupted_transaction_ends_with_power_loss_when_the_power_went() -> None:
    part, bay, next_refs, seams = interrupted_transactions()
    part.end(CUT_OFF, StopReason.POWER_LOSS)
    [stop] = seams.emitted(TransactionStopped)
    assert (stop.transaction_ref, stop.transaction_id, stop.reason) == (
        7, 4711, StopReason.POWER_LOSS)
    assert (stop.meter_stop_wh, stop.timestamp) == (5400.0, NEW_YEAR - 60)
    [end] = stop.transaction_data
    assert isinstance(end, MeterSample) and end.context is ReadingContext.TRANSACTION_END
    assert next_refs == [8], "new transactions are numbered after it"


def test_an_interrupted_transaction_whose_car_is_still_there_goes_on() -> None:
    part, bay, next_refs, seams = interrupted_transactions()
    part.hold(CUT_OFF, StopReason.POWER_LOSS)
    assert seams.effects == [] and part.next_deadline() == NEW_YEAR + DECIDE_WITHIN_S
    bay.pilot, bay.pilot_known, bay.energy_wh = PilotState.B, True, 5500.0
    part.pilot_known(bay)
    tx = bay.transaction
    assert tx is not None and (tx.ref, tx.transaction_id, tx.id_token, tx.meter_start_wh) == (
        7, 4711, ALICE, 1000.0)
    assert tx.last_energy_wh == 5500.0 and seams.effects == []
    assert part.next_deadline() is None


def test_an_interrupted_transaction_ends_when_the_car_is_gone_or_the_pilot_never_told() -> None:
    part, bay, next_refs, seams = interrupted_transactions()
    bay.pilot_known = True  # state A: nobody plugged in
    part.hold(CUT_OFF, StopReason.REBOOT)
    assert [s.reason for s in seams.emitted(TransactionStopped)] == [StopReason.REBOOT]

    part, bay, next_refs, seams = interrupted_transactions()
    part.hold(CUT_OFF, StopReason.POWER_LOSS)
    part.tick(NEW_YEAR + DECIDE_WITHIN_S - 1)
    assert seams.effects == []
    part.tick(NEW_YEAR + DECIDE_WITHIN_S)
    assert [s.reason for s in seams.emitted(TransactionStopped)] == [StopReason.POWER_LOSS]
    assert bay.transaction is None
