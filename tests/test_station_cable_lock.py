"""A socket's cable lock as the station core drives it: locked before the contactor closes,
released only after it opened, a lock that misses its position is ConnectorLockFailure, and
UnlockConnector stops the session there before it releases the plug."""

from __future__ import annotations

from pievse.core.answers import UnlockStatus
from pievse.core.effects import (
    CableLockSettled,
    Effect,
    LockCable,
    SetContactor,
    StatusChanged,
    TransactionStarted,
)
from pievse.core.vocabulary import ConnectorStatus, ErrorCode, StopReason
from tests.test_station_rig import TAG, Bench, only

LOCKED_SOCKET = {1: True}


def board_moves(effects: list[Effect]) -> list[tuple[str, bool]]:
    """The lock and contactor commands, in the order the board gets them."""
    return [("lock", e.locked) if isinstance(e, LockCable) else ("contactor", e.closed)
            for e in effects if isinstance(e, LockCable | SetContactor)]


def plug_in_and_start(bench: Bench) -> None:
    bench.pilot("B")
    bench.tap(TAG)
    assert only(bench.answer(TAG), TransactionStarted)


def test_a_session_with_a_lock_locks_before_the_contactor_closes_and_unlocks_after_it_opens(
) -> None:
    bench = Bench(cable_lock=LOCKED_SOCKET)
    plug_in_and_start(bench)
    bench.pilot("C")
    assert board_moves(bench.log) == [("lock", True)]
    assert not bench.contactor_closed(), "no contactor before the feedback reads locked"

    bench.record(bench.station.cable_lock_changed(1, locked=True, failed=False))
    assert board_moves(bench.log) == [("lock", True), ("contactor", True)]
    assert bench.status() is ConnectorStatus.CHARGING

    bench.pilot("B")
    bench.pilot("A")
    assert board_moves(bench.log) == [("lock", True), ("contactor", True), ("contactor", False),
                                      ("lock", False)]
    assert bench.stopped()[0].reason is StopReason.EV_DISCONNECTED


def test_a_jammed_lock_gives_connector_lock_failure_and_no_contactor() -> None:
    bench = Bench(cable_lock=LOCKED_SOCKET)
    plug_in_and_start(bench)
    bench.pilot("C")
    # The actuator stuck: driven to locked, its feedback still reads unlocked.
    effects = bench.record(bench.station.cable_lock_changed(1, locked=False, failed=True))
    faulted = only(effects, StatusChanged)[-1]
    assert (faulted.status, faulted.error_code) == (ConnectorStatus.FAULTED,
                                                    ErrorCode.CONNECTOR_LOCK_FAILURE)
    assert not any(isinstance(e, SetContactor) for e in bench.log)
    assert [s.reason for s in bench.stopped()] == [StopReason.OTHER]
    assert board_moves(bench.log) == [("lock", True), ("lock", False)]
    assert only(effects, CableLockSettled) == [CableLockSettled(1, locked=False, failed=True)]


def test_unlock_connector_during_a_session_stops_it_with_unlock_command_and_unlocks() -> None:
    bench = Bench(cable_lock=LOCKED_SOCKET)
    plug_in_and_start(bench)
    bench.pilot("C")
    bench.record(bench.station.cable_lock_changed(1, locked=True, failed=False))
    assert bench.contactor_closed()

    answer = bench.command(bench.station.unlock_connector(1))
    assert answer.status is UnlockStatus.UNLOCKING
    bench.pilot("B")  # the car stops drawing once the PWM is off
    assert board_moves(bench.log)[-2:] == [("contactor", False), ("lock", False)]
    assert [s.reason for s in bench.stopped()] == [StopReason.UNLOCK_COMMAND]

    settled = bench.record(bench.station.cable_lock_changed(1, locked=False, failed=False))
    assert only(settled, CableLockSettled) == [CableLockSettled(1, locked=False, failed=False)]


def test_unlock_connector_without_a_session_releases_the_plug_at_once() -> None:
    bench = Bench(cable_lock=LOCKED_SOCKET)
    answer = bench.command(bench.station.unlock_connector(1))
    assert answer.status is UnlockStatus.UNLOCKING
    assert answer.effects == [LockCable(1, locked=False)]
