"""IEC 61851-1 safety rules as the station core applies them: when the contactor may close, when
it must open, in which order the board is told, and what the CSMS hears about it.

The first part plays the rules one scenario at a time. The second lets hypothesis play random
afternoons at the station (cars, cards, faults, CSMS commands, limits, hours passing) and checks
after every step that none of the rules was broken, from nothing but the effects the station
returned: the board's view of the world.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from pievse.drivers.contracts import FaultKind, PilotState
from pievse.core.answers import RemoteStartStopStatus
from pievse.core.authorization import AuthorizationStatus
from pievse.core.effects import (
    Effect,
    MeterSample,
    SetContactor,
    SetPilot,
    StatusChanged,
    TokenAnswered,
    TransactionStarted,
    TransactionStopped,
)
from pievse.core.vocabulary import (
    ConnectorStatus,
    ErrorCode,
    ReadingContext,
    StopReason,
)
from tests.test_station_rig import OTHER_TAG, TAG, Bench, card, kinds, only

S = ConnectorStatus


# --- closing and opening -------------------------------------------------------------------------


def test_state_c_with_an_authorised_transaction_closes_the_contactor() -> None:
    bench = Bench()
    bench.pilot("C")  # a car that asks for power before anyone presented a card
    assert not bench.contactor_closed() and bench.offered_a() == 0.0
    assert bench.status() is S.PREPARING

    bench.tap(TAG)
    effects = bench.answer(TAG)
    offer, close = only(effects, SetPilot), only(effects, SetContactor)
    assert offer == [SetPilot(1, 32.0)] and close == [SetContactor(1, closed=True)]
    assert effects.index(offer[0]) < effects.index(close[0]), "PWM on before the contactor closes"
    assert bench.status() is S.CHARGING


def test_state_b_never_closes_the_contactor() -> None:
    bench = Bench()
    bench.pilot("B")
    bench.tap(TAG)
    bench.answer(TAG)
    bench.run_for(3600)
    assert only(bench.log, SetContactor) == []
    assert bench.offered_a() == 32.0 and bench.status() is S.SUSPENDED_EV


def test_c_to_b_opens_the_contactor_at_once_and_reports_suspended_ev() -> None:
    bench = Bench()
    bench.start_charging(TAG)
    effects = bench.pilot("B")
    assert effects[0] == SetContactor(1, closed=False)
    assert bench.offered_a() == 32.0, "the offer stands, so the car may ask again"
    assert bench.status() is S.SUSPENDED_EV and bench.stopped() == []

    assert bench.pilot("C")[0] == SetContactor(1, closed=True)
    assert bench.statuses()[-3:] == [S.CHARGING, S.SUSPENDED_EV, S.CHARGING]


def test_station_side_stop_pwm_off_first_contactor_opens_when_the_car_goes_to_b() -> None:
    bench = Bench(stop_grace_s=3.0)
    bench.start_charging(TAG)
    effects = bench.tap(TAG)
    assert only(effects, SetPilot) == [SetPilot(1, 0.0)]
    assert only(effects, SetContactor) == [], "never break the load while the car draws it"

    bench.clock.advance(1.0)  # the car follows within the grace time
    effects = bench.pilot("B")
    assert kinds(effects)[:3] == ["SetContactor", "MeterSample", "TransactionStopped"]
    assert effects[0] == SetContactor(1, closed=False)
    assert only(effects, TransactionStopped)[0].timestamp == bench.clock.now()


def test_station_side_stop_opens_the_contactor_after_the_grace_time_if_the_car_stays_in_c() -> None:
    bench = Bench(stop_grace_s=3.0, meter_value_sample_interval_s=0.0)
    bench.start_charging(TAG)
    stop_at = bench.clock.now()
    bench.tap(TAG)
    assert bench.station.next_deadline() == stop_at + 3.0, "the daemon must wake at the grace end"

    bench.clock.advance(2.9)
    assert bench.tick() == []
    assert bench.contactor_closed()

    bench.clock.advance(0.1)
    effects = bench.tick()
    assert effects[0] == SetContactor(1, closed=False)
    (stopped,) = only(effects, TransactionStopped)
    assert stopped.reason is StopReason.LOCAL and stopped.timestamp == stop_at + 3.0
    assert bench.status() is S.FINISHING
    assert bench.station.next_deadline() is None


@pytest.mark.parametrize(
    ("kind", "error_code", "reason"),
    [
        (FaultKind.RCD, ErrorCode.GROUND_FAILURE, StopReason.OTHER),
        (FaultKind.EMERGENCY_STOP, ErrorCode.OTHER_ERROR, StopReason.EMERGENCY_STOP),
        (FaultKind.WELDED, ErrorCode.POWER_SWITCH_FAILURE, StopReason.OTHER),
        (FaultKind.PILOT, ErrorCode.EV_COMMUNICATION_ERROR, StopReason.OTHER),
    ],
)
def test_a_fault_opens_the_contactor_in_the_same_call_before_any_other_effect(
    kind: FaultKind, error_code: ErrorCode, reason: StopReason
) -> None:
    bench = Bench()
    started = bench.start_charging(TAG)
    bench.deliver(2500.0, seconds=15 * 60)
    effects = bench.fault(kind)
    assert effects[0] == SetContactor(1, closed=False)
    assert SetPilot(1, 0.0) in effects
    (stopped,) = only(effects, TransactionStopped)
    assert stopped.reason is reason and stopped.transaction_ref == started.transaction_ref
    assert stopped.meter_stop_wh - started.meter_start_wh == 2500.0
    (status,) = only(effects, StatusChanged)
    assert (status.status, status.error_code) == (S.FAULTED, error_code)
    assert status.info


def test_rcd_trip_faulted_with_ground_failure_and_stop_reason_other() -> None:
    bench = Bench()
    bench.start_charging(TAG)
    bench.fault(FaultKind.RCD)
    assert [s.reason for s in bench.stopped()] == [StopReason.OTHER]
    last = only(bench.log, StatusChanged)[-1]
    assert (last.status, last.error_code) == (S.FAULTED, ErrorCode.GROUND_FAILURE)

    bench.fault(FaultKind.RCD, active=False)
    assert not bench.contactor_closed(), "the transaction is over: no closing after the reset"
    assert bench.status() is S.FINISHING, "the car is still plugged in"
    bench.pilot("A")
    assert bench.status() is S.AVAILABLE


def test_emergency_stop_ends_the_transaction_with_reason_emergency_stop() -> None:
    bench = Bench()
    bench.start_charging(TAG)
    bench.fault(FaultKind.EMERGENCY_STOP)
    assert [s.reason for s in bench.stopped()] == [StopReason.EMERGENCY_STOP]
    assert bench.status() is S.FAULTED


def test_welded_contactor_power_switch_failure_and_no_new_session() -> None:
    bench = Bench()
    bench.start_charging(TAG)
    bench.tap(TAG)
    bench.pilot("B")  # the contactor is commanded open ...
    effects = bench.fault(FaultKind.WELDED)  # ... and its auxiliary contact says it is not
    assert only(effects, SetContactor) == []
    (status,) = only(effects, StatusChanged)
    assert (status.status, status.error_code) == (S.FAULTED, ErrorCode.POWER_SWITCH_FAILURE)

    answered = bench.tap(OTHER_TAG)
    assert [a.accepted for a in only(answered, TokenAnswered)] == [False]
    assert bench.station.remote_start(card(OTHER_TAG), 1).status is RemoteStartStopStatus.REJECTED
    bench.pilot("C")
    assert len(bench.started()) == 1 and not bench.contactor_closed()

    bench.fault(FaultKind.WELDED, active=False)  # repaired
    bench.tap(OTHER_TAG)
    bench.answer(OTHER_TAG)
    assert len(bench.started()) == 2 and bench.contactor_closed()


def test_a_fault_cancels_an_authorisation_waiting_for_its_car() -> None:
    bench = Bench()
    bench.tap(TAG)
    bench.answer(TAG)
    bench.fault(FaultKind.RCD)
    bench.fault(FaultKind.RCD, active=False)
    bench.pilot("B")
    assert bench.started() == []


@pytest.mark.parametrize("state", ["E", "F"])
def test_pilot_e_or_f_is_a_fault(state: str) -> None:
    bench = Bench()
    bench.start_charging(TAG)
    effects = bench.pilot(state)
    assert effects[0] == SetContactor(1, closed=False)
    assert [s.reason for s in bench.stopped()] == [StopReason.OTHER]
    last = only(bench.log, StatusChanged)[-1]
    assert (last.status, last.error_code) == (S.FAULTED, ErrorCode.EV_COMMUNICATION_ERROR)
    assert bench.offered_a() == 0.0

    bench.pilot("A")
    assert bench.status() is S.AVAILABLE


def test_a_failed_diode_check_stays_a_fault_until_the_board_clears_it() -> None:
    """The board reports the diode check as a PILOT fault input while the positive level still
    reads B: the pilot reading must not clear the fault the board still reports."""
    bench = Bench()
    bench.start_charging(TAG)
    bench.fault(FaultKind.PILOT)
    bench.pilot("B")
    assert bench.status() is S.FAULTED
    assert [a.accepted for a in only(bench.tap(OTHER_TAG), TokenAnswered)] == [False]

    bench.fault(FaultKind.PILOT, active=False)
    assert bench.status() is S.FINISHING


def test_a_pilot_in_e_stays_a_fault_when_a_pilot_fault_input_clears() -> None:
    bench = Bench()
    bench.pilot("E")
    bench.fault(FaultKind.PILOT)
    bench.fault(FaultKind.PILOT, active=False)
    assert bench.status() is S.FAULTED, "the pilot still reads E"
    bench.pilot("A")
    assert bench.status() is S.AVAILABLE


def test_state_d_without_ventilation_never_closes_the_contactor() -> None:
    bench = Bench(ventilation_available=False)
    bench.pilot("B")
    bench.tap(TAG)
    bench.answer(TAG)
    effects = bench.pilot("D")
    assert SetContactor(1, closed=True) not in bench.log
    assert SetPilot(1, 0.0) in effects
    assert [s.reason for s in bench.stopped()] == [StopReason.OTHER]
    last = only(bench.log, StatusChanged)[-1]
    assert (last.status, last.error_code) == (S.FAULTED, ErrorCode.OTHER_ERROR)
    assert "ventilation" in (last.info or "")


def test_state_d_from_charging_without_ventilation_opens_at_once() -> None:
    bench = Bench(ventilation_available=False)
    bench.start_charging(TAG)
    assert bench.pilot("D")[0] == SetContactor(1, closed=False)


def test_a_car_in_state_d_without_ventilation_gets_no_session_from_a_card() -> None:
    """The connector is Faulted: a card must not start a transaction that the fault ends at once."""
    bench = Bench(ventilation_available=False)
    bench.pilot("D")
    assert bench.status() is S.FAULTED
    bench.tap(TAG)
    bench.answer(TAG)
    assert bench.started() == [] and bench.stopped() == []
    assert SetContactor(1, closed=True) not in bench.log


def test_state_d_with_ventilation_charges() -> None:
    bench = Bench(ventilation_available=True)
    bench.pilot("B")
    bench.tap(TAG)
    bench.answer(TAG)
    assert bench.pilot("D")[0] == SetContactor(1, closed=True)
    assert bench.status() is S.CHARGING


# --- random afternoons at the station ------------------------------------------------------------

@dataclass
class Board:
    """What the board of one connector was told, replayed from the effects in order."""

    closed: bool = False
    offer: float = 0.0
    pwm_off_at: float | None = None  # when the PWM stopped while the contactor was closed


@dataclass
class OpenTransaction:
    ref: int
    connector_id: int
    id_tag: str
    meter_start_wh: float
    transaction_id: int | None = None
    #: Asked to stop, or refused by the CSMS: no energy may be offered any more.
    no_more_energy: bool = False


@dataclass
class World:
    pilot: dict[int, PilotState] = field(default_factory=dict)
    faults: dict[int, set[FaultKind]] = field(default_factory=dict)
    limits: dict[int, dict[str, float]] = field(default_factory=dict)


class StationAfternoon(RuleBasedStateMachine):
    """Random inputs to a real station; after every step the safety rules must hold."""

    @initialize(
        connectors=st.integers(1, 2),
        ventilation=st.booleans(),
        stop_on_disconnect=st.booleans(),
        stop_on_invalid=st.booleans(),
        authorize_remote=st.booleans(),
        installation_max=st.sampled_from([10.0, 32.0]),
        board_max=st.sampled_from([16.0, 32.0]),
        grace=st.sampled_from([0.0, 3.0]),
    )
    def open_the_station(
        self,
        connectors: int,
        ventilation: bool,
        stop_on_disconnect: bool,
        stop_on_invalid: bool,
        authorize_remote: bool,
        installation_max: float,
        board_max: float,
        grace: float,
    ) -> None:
        self.grace = grace
        self.ventilation = ventilation
        self.installation_max = installation_max
        self.board_max = board_max
        self.bench = Bench(
            connectors,
            board_max_current_a={n: board_max for n in range(1, connectors + 1)},
            ventilation_available=ventilation,
            stop_transaction_on_ev_side_disconnect=stop_on_disconnect,
            stop_transaction_on_invalid_id=stop_on_invalid,
            authorize_remote_tx_requests=authorize_remote,
            max_current_a=installation_max,
            stop_grace_s=grace,
            meter_value_sample_interval_s=60.0,
            clock_aligned_data_interval_s=900.0,
        )
        ids = range(1, connectors + 1)
        self.world = World(
            pilot={n: PilotState.A for n in ids},
            faults={n: set() for n in ids},
            limits={n: {} for n in ids},
        )
        self.boards = {n: Board() for n in ids}
        self.open: dict[int, OpenTransaction] = {}
        self.started_refs: list[int] = []
        self.stopped_refs: list[int] = []
        self.registers: dict[int, float] = {}
        self.replay(self.bench.log)

    # --- replaying the effects and checking each one as it comes ------------------------------

    def limit_of(self, n: int) -> float:
        return min([self.installation_max, self.board_max, *self.world.limits[n].values()])

    def asks_for_power(self, n: int) -> bool:
        pilot = self.world.pilot[n]
        return pilot is PilotState.C or (pilot is PilotState.D and self.ventilation)

    def faulted(self, n: int) -> bool:
        pilot = self.world.pilot[n]
        return (
            bool(self.world.faults[n])
            or pilot.is_error
            or (pilot is PilotState.D and not self.ventilation)
        )

    def transaction_on(self, n: int) -> OpenTransaction | None:
        return next((t for t in self.open.values() if t.connector_id == n), None)

    def replay(self, effects: list[Effect]) -> list[Effect]:
        now = self.bench.clock.now()
        for effect in effects:
            match effect:
                case SetPilot(connector_id=n, amps=amps):
                    assert amps == 0.0 or 6.0 <= amps <= self.limit_of(n), effect
                    board = self.boards[n]
                    if amps == 0.0 and board.offer > 0.0 and board.closed:
                        board.pwm_off_at = now
                    board.offer = amps
                case SetContactor(connector_id=n, closed=True):
                    tx = self.transaction_on(n)
                    assert self.boards[n].offer >= 6.0, "the PWM offers before the contactor closes"
                    assert self.asks_for_power(n) and not self.faulted(n)
                    assert tx is not None and not tx.no_more_energy
                    self.boards[n].closed = True
                    self.boards[n].pwm_off_at = None
                case SetContactor(connector_id=n, closed=False):
                    self.boards[n].closed = False
                    self.boards[n].pwm_off_at = None
                case TransactionStarted():
                    assert effect.transaction_ref not in self.started_refs
                    assert self.transaction_on(effect.connector_id) is None
                    self.started_refs.append(effect.transaction_ref)
                    self.open[effect.transaction_ref] = OpenTransaction(
                        effect.transaction_ref,
                        effect.connector_id,
                        effect.id_token.value,
                        effect.meter_start_wh,
                    )
                case TransactionStopped():
                    tx = self.open.pop(effect.transaction_ref)
                    assert tx.connector_id == effect.connector_id
                    assert not self.boards[tx.connector_id].closed, "ends once no current flows"
                    assert effect.meter_stop_wh >= tx.meter_start_wh
                    assert effect.transaction_id == tx.transaction_id
                    contexts = [sample.context for sample in effect.transaction_data]
                    assert contexts[0] is ReadingContext.TRANSACTION_BEGIN
                    assert contexts[-1] is ReadingContext.TRANSACTION_END
                    self.stopped_refs.append(effect.transaction_ref)
                case MeterSample(connector_id=n):
                    register = effect.reading.energy_import_wh
                    assert register >= self.registers.get(n, 0.0), "energy never goes backwards"
                    self.registers[n] = register
                case TokenAnswered(info="session stopped", connector_id=n):
                    # Its TransactionStopped may have come first, if no current was flowing.
                    if (tx := self.transaction_on(n)) is not None:
                        tx.no_more_energy = True
                case StatusChanged(connector_id=n, status=S.CHARGING) if n > 0:
                    assert self.boards[n].closed
        return effects

    @invariant()
    def the_contactor_is_closed_only_when_it_may_be(self) -> None:
        now = self.bench.clock.now()
        for n, board in self.boards.items():
            tx = self.transaction_on(n)
            if board.offer > 0.0:
                assert board.offer <= self.limit_of(n), "a new lower limit lowers the offer"
                assert tx is not None and not tx.no_more_energy and not self.faulted(n)
            if not board.closed:
                continue
            assert self.asks_for_power(n) and not self.faulted(n)
            assert tx is not None
            if board.offer < 6.0:
                # The soft-open grace: PWM already off, car still drawing, only until the deadline.
                assert board.pwm_off_at is not None
                assert now <= board.pwm_off_at + self.grace

    @invariant()
    def a_faulted_connector_says_so(self) -> None:
        for n in self.boards:
            assert (self.bench.status(n) is S.FAULTED) == self.faulted(n)

    # --- the inputs ----------------------------------------------------------------------------

    def connector(self, n: int) -> int:
        return (n - 1) % len(self.boards) + 1

    @rule(n=st.integers(1, 2), state=st.sampled_from(list(PilotState)))
    def the_car_changes_its_pilot_state(self, n: int, state: PilotState) -> None:
        n = self.connector(n)
        was_closed = self.boards[n].closed
        self.world.pilot[n] = state
        effects = self.replay(self.bench.pilot(state, n))
        if was_closed and not self.asks_for_power(n):
            assert effects[0] == SetContactor(n, closed=False)
        if self.faulted(n):
            assert self.transaction_on(n) is None, "a fault ends the transaction"

    @rule(n=st.integers(1, 2), kind=st.sampled_from(list(FaultKind)), active=st.booleans())
    def a_fault_input_changes(self, n: int, kind: FaultKind, active: bool) -> None:
        n = self.connector(n)
        was_closed = self.boards[n].closed
        if active:
            self.world.faults[n].add(kind)
        else:
            self.world.faults[n].discard(kind)
        effects = self.replay(self.bench.fault(kind, active, n))
        if active and was_closed:
            assert effects[0] == SetContactor(n, closed=False)
        if active:
            assert self.transaction_on(n) is None, "a fault ends the transaction"

    @rule(id_tag=st.sampled_from([TAG, OTHER_TAG]))
    def a_card_is_presented(self, id_tag: str) -> None:
        self.replay(self.bench.tap(id_tag))

    @rule(n=st.integers(1, 2), id_tag=st.sampled_from([TAG, OTHER_TAG]))
    def a_driver_plugs_in_and_charges(self, n: int, id_tag: str) -> None:
        """The common case in one step, so that the random walk spends its time charging."""
        n = self.connector(n)
        for state in (PilotState.B, PilotState.C):
            self.the_car_changes_its_pilot_state(n, state)
            if state is PilotState.B:
                self.replay(self.bench.tap(id_tag))
                self.replay(self.bench.answer(id_tag, AuthorizationStatus.ACCEPTED))

    @rule(
        id_tag=st.sampled_from([TAG, OTHER_TAG]),
        status=st.sampled_from([AuthorizationStatus.ACCEPTED, *AuthorizationStatus, None]),
    )
    def the_csms_answers_authorize(self, id_tag: str, status: AuthorizationStatus | None) -> None:
        self.replay(self.bench.answer(id_tag, status))

    @rule(pick=st.integers(0, 3), accepted=st.booleans())
    def the_csms_answers_start_transaction(self, pick: int, accepted: bool) -> None:
        waiting = [t for t in self.open.values() if t.transaction_id is None]
        if not waiting:
            return
        tx = waiting[pick % len(waiting)]
        tx.transaction_id = 1000 + tx.ref
        status = AuthorizationStatus.ACCEPTED if accepted else AuthorizationStatus.INVALID
        if not accepted:
            tx.no_more_energy = True
        self.replay(self.bench.station.transaction_accepted(tx.ref, tx.transaction_id, status))

    @rule(id_tag=st.sampled_from([TAG, OTHER_TAG]), n=st.sampled_from([None, 1, 2]))
    def the_csms_starts_remotely(self, id_tag: str, n: int | None) -> None:
        self.replay(self.bench.command(self.bench.station.remote_start(card(id_tag), n)).effects)

    @rule(pick=st.integers(0, 3))
    def the_csms_stops_remotely(self, pick: int) -> None:
        known = [t for t in self.open.values() if t.transaction_id is not None]
        transaction_id = known[pick % len(known)].transaction_id if known else 999
        answer = self.bench.command(self.bench.station.remote_stop(transaction_id))
        if answer.status is RemoteStartStopStatus.ACCEPTED:
            self.open[transaction_id - 1000].no_more_energy = True
        self.replay(answer.effects)

    @rule(
        n=st.integers(1, 2),
        source=st.sampled_from(["profile", "local"]),
        amps=st.sampled_from([None, 0.0, 3.0, 5.9, 6.0, 10.0, 16.0, 40.0]),
    )
    def a_current_limit_changes(self, n: int, source: str, amps: float | None) -> None:
        n = self.connector(n)
        if amps is None:
            self.world.limits[n].pop(source, None)
        else:
            self.world.limits[n][source] = amps
        self.replay(self.bench.limit(amps, n, source))

    @rule(n=st.integers(0, 2), operative=st.booleans())
    def the_csms_changes_availability(self, n: int, operative: bool) -> None:
        n = 0 if n == 0 else self.connector(n)
        answer = self.bench.command(self.bench.station.change_availability(n, operative))
        self.replay(answer.effects)

    @rule(hard=st.booleans())
    def the_csms_resets(self, hard: bool) -> None:
        answer = self.bench.command(self.bench.station.reset(hard))
        for tx in self.open.values():
            tx.no_more_energy = True
        self.replay(answer.effects)

    @rule()
    def the_daemon_shuts_down(self) -> None:
        for tx in self.open.values():
            tx.no_more_energy = True
        self.replay(self.bench.station.shut_down())
        assert not any(board.closed or board.offer for board in self.boards.values())
        assert self.open == {}, "an exit ends every transaction"

    @rule(n=st.integers(1, 2), wh=st.floats(0.0, 5000.0), glitch=st.booleans())
    def the_meter_reports(self, n: int, wh: float, glitch: bool) -> None:
        n = self.connector(n)
        if glitch:  # a bad read, lower than before
            self.bench.energy_wh[n] = max(0.0, self.bench.energy_wh[n] - wh)
            wh = 0.0
        self.replay(self.bench.deliver(wh, n))

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.9, 3.0, 10.0, 61.0, 900.0, 3 * 3600.0]))
    def time_passes(self, seconds: float) -> None:
        self.replay(self.bench.run_for(seconds))

    @rule()
    def the_daemon_ticks(self) -> None:
        self.replay(self.bench.tick())

    # --- the end of the afternoon --------------------------------------------------------------

    def teardown(self) -> None:
        """Everyone goes home: faults cleared, cars unplugged, cards taken back. Every transaction
        that started must have stopped exactly once."""
        bench = getattr(self, "bench", None)
        if bench is None:
            return
        for n in self.boards:
            for kind in list(self.world.faults[n]):
                self.world.faults[n].discard(kind)
                self.replay(bench.fault(kind, False, n))
            self.world.pilot[n] = PilotState.A
            self.replay(bench.pilot(PilotState.A, n))
        for _ in range(4):  # sessions kept over an unplug end with their own card
            for tx in list(self.open.values()):
                self.replay(bench.tap(tx.id_tag))
        self.replay(bench.run_for(self.grace + 1.0))
        self.the_contactor_is_closed_only_when_it_may_be()
        assert self.open == {}, "every transaction ends"
        assert sorted(self.stopped_refs) == sorted(self.started_refs)
        assert len(set(self.stopped_refs)) == len(self.stopped_refs)
        assert not any(board.closed for board in self.boards.values())


StationAfternoon.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_random_afternoons_at_the_station_keep_every_safety_rule = StationAfternoon.TestCase
