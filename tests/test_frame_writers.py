"""The frames a charge point writes mean the same whichever JSON writer wrote them: orjson (the
fleet's extra, several times faster) or the standard library's encoder (everywhere else), down
to the integers past 64 bits that orjson refuses and hands back to the standard encoder."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pievse.protocol.common import frames
from pievse.protocol.common.frames import Call, CallError, CallResult

orjson = pytest.importorskip("orjson", reason="orjson comes with the test and fleet extras")

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30)
PAYLOADS = st.dictionaries(TEXT, JSON_VALUES, max_size=6)


def by_both_writers(write: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    fast = write()
    with monkeypatch.context() as standard_only:
        standard_only.setattr(frames, "orjson", None)
        standard = write()
    return fast, standard


@given(unique_id=TEXT, action=TEXT, payload=PAYLOADS)
def test_a_frame_reads_back_the_same_from_either_writer(unique_id: str, action: str,
                                                        payload: dict[str, Any]) -> None:
    monkeypatch = pytest.MonkeyPatch()
    try:
        for frame in (Call(unique_id, action, payload), CallResult(unique_id, payload),
                      CallError(unique_id, "GenericError", action, payload)):
            fast, standard = by_both_writers(frame.to_json, monkeypatch)
            assert json.loads(fast) == json.loads(standard)
    finally:
        monkeypatch.undo()


def test_orjson_is_the_writer_when_it_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast writer is really used (else the test above compares the encoder with itself)."""
    calls: list[Any] = []

    class Counted:
        @staticmethod
        def dumps(value: Any) -> bytes:
            calls.append(value)
            return orjson.dumps(value)

    monkeypatch.setattr(frames, "orjson", Counted)
    assert json.loads(Call("1", "Heartbeat", {}).to_json()) == [2, "1", "Heartbeat", {}]
    assert calls == [[2, "1", "Heartbeat", {}]]


WITHOUT_FLOATS = st.dictionaries(TEXT, st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30), max_size=6)


@given(payload=WITHOUT_FLOATS)
def test_a_frame_is_spelled_the_same_by_either_writer(payload: dict[str, Any]) -> None:
    """Text beyond ASCII as \\u escapes, as the ocpp package writes it, whichever writer ran
    (only a float's exponent may be spelled otherwise: 1e16 or 1e+16)."""
    monkeypatch = pytest.MonkeyPatch()
    try:
        fast, standard = by_both_writers(Call("u", "DataTransfer", payload).to_json, monkeypatch)
        assert fast == standard
    finally:
        monkeypatch.undo()
