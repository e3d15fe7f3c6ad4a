"""The session history in the store and on the local API, and the standalone card decision in
the core: a store written before the history opens with its open transaction intact, which
ends into the history; a session keeps its energy, peak power, stop reason and the price it
started at; the query parameters and the new configuration keys take anything without a crash.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import sqlite3
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pievse.app.config import ConfigError, parse_config
from pievse.core.authorization import AuthorizationStatus
from pievse.core.hardware import FaultKind
from pievse.core.effects import TokenAnswered, TransactionStarted, TransactionStopped
from pievse.core.standalone import FREE_ID_TOKEN, Standalone, StandaloneAuthorization
from pievse.core.vocabulary import StopReason
from pievse.local_api.server import ApiServer
from pievse.local_api.sessions import MAX_LIMIT, read_query
from pievse.local_api.wire import Request
from pievse.persistence.history import CLEARED_ID_TOKEN, CSV_COLUMNS, Tariff, parse_since
from pievse.persistence.recorder import TransactionRecorder
from pievse.persistence.store import MIGRATIONS, SCHEMA_VERSION, Store
from tests.test_station_rig import NEW_YEAR, OTHER_TAG, TAG, Bench, card, only

T0 = NEW_YEAR - 3600
MINIMAL = '[charge_point]\nid = "CP1"\n[ocpp]\nurl = ""\n'


# --- the core: who may charge without a CSMS ------------------------------------------------------


def standalone_bench(authorization: StandaloneAuthorization, cards=(TAG,)) -> Bench:
    return Bench(standalone=Standalone(authorization, [card(c) for c in cards]))


def test_a_card_on_the_standalone_list_starts_a_session_without_asking_anyone() -> None:
    bench = standalone_bench(StandaloneAuthorization.CARDS)
    bench.pilot("B")
    bench.tap(TAG)
    assert bench.questions() == []  # no AuthorizeRequest: nobody to ask
    assert [s.id_token for s in bench.started()] == [card(TAG)]


def test_an_unknown_card_is_refused_in_standalone_as_invalid() -> None:
    bench = standalone_bench(StandaloneAuthorization.CARDS)
    bench.pilot("B")
    [answer] = only(bench.tap(OTHER_TAG), TokenAnswered)
    assert not answer.accepted and answer.status is AuthorizationStatus.INVALID
    assert bench.started() == [] and bench.questions() == []


def test_a_card_taken_off_the_list_no_longer_starts() -> None:
    decision = Standalone(StandaloneAuthorization.CARDS, [card(TAG)])
    bench = Bench(standalone=decision)
    decision.set_cards([card(OTHER_TAG)])
    bench.pilot("B")
    bench.tap(TAG.lower())
    assert bench.started() == []
    bench.tap(OTHER_TAG.lower())  # ids compare without regard to case
    assert len(bench.started()) == 1


def test_free_charging_starts_on_plugging_in_with_the_FREE_id_tag_and_not_again_after_a_stop():
    bench = standalone_bench(StandaloneAuthorization.FREE, cards=())
    bench.pilot("B")
    [started] = bench.started()
    assert started.id_token == FREE_ID_TOKEN
    bench.pilot("C")
    bench.tap(OTHER_TAG)  # another card: refused, the connector is busy
    bench.fault(FaultKind.RCD)  # ends the session; the car stays plugged in
    bench.fault(FaultKind.RCD, active=False)
    assert len(bench.stopped()) == 1
    bench.pilot("B")
    assert len(bench.started()) == 1  # the car stayed plugged in: no new session by itself
    bench.pilot("A")
    bench.pilot("B")
    assert len(bench.started()) == 2


def test_free_charging_records_the_card_tapped_before_plugging_in() -> None:
    bench = standalone_bench(StandaloneAuthorization.FREE, cards=())
    bench.tap(OTHER_TAG)
    bench.pilot("B")
    assert [s.id_token for s in bench.started()] == [card(OTHER_TAG)]


# --- the store: migration 5 and the history ------------------------------------------------------


def write_schema_4_store(path: str) -> None:
    """A store as pievse left it while its schema was at version 4: a session open."""
    db = sqlite3.connect(path, isolation_level=None)
    for migrate in MIGRATIONS[:4]:
        migrate(db)
    db.execute("INSERT INTO open_transactions (transaction_ref, connector_id, id_token, "
               "id_token_type, meter_start_wh, started_at, transaction_id, last_energy_wh, "
               "last_energy_at) VALUES (9, 1, ?, 'iso14443', 3000.0, ?, NULL, 4500.0, ?)",
               (TAG, T0, T0 + 600))
    db.execute("PRAGMA user_version = 4")
    db.close()


def test_a_store_written_before_the_history_opens_and_its_open_session_ends_into_it(tmp_path):
    path = str(tmp_path / "pievse.sqlite3")
    write_schema_4_store(path)
    store = Store(path).open()
    assert SCHEMA_VERSION >= 5
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    [ongoing] = store.sessions()
    assert (ongoing.id_token, ongoing.ended_at, ongoing.energy_wh) == (TAG, None, 1500.0)
    # The restart stops it (PowerLoss) as it always did; now the session stays.
    bench = Bench()
    recorder = TransactionRecorder(store, bench.station)
    for effect in recorder.recover():
        recorder.record(effect)
    [ended] = store.sessions()
    assert ended.stop_reason == "PowerLoss" and ended.energy_wh == 1500.0
    assert ended.ended_at == T0 + 600 and ended.cost is None
    assert store.open_transactions() == []


def test_a_session_keeps_its_energy_peak_power_reason_and_the_price_it_started_at(tmp_path):
    store = Store(str(tmp_path / "pievse.sqlite3")).open()
    bench = Bench()
    recorder = TransactionRecorder(store, bench.station, Tariff(0.30, "EUR"))

    def record(effects) -> None:
        with store.batch():
            for effect in effects:
                recorder.record(effect)

    bench.start_charging(TAG)
    record(bench.log)
    for watts in (7000.0, 11000.0, 9000.0):
        bench.clock.advance(4)
        bench.energy_wh[1] += watts * 4 / 3600
        reading = dataclasses.replace(bench._reading(1), power_w=watts)
        record(bench.station.meter_reading(1, reading))
        recorder.reading_taken(1)
    recorder.tariff = Tariff(0.99, "EUR")  # a later price does not change this session
    record(bench.pilot("A"))
    [session] = store.sessions()
    assert session.stop_reason == StopReason.EV_DISCONNECTED.value
    assert session.peak_power_w == 11000.0
    assert session.energy_wh == pytest.approx(27000 * 4 / 3600, rel=1e-6)
    assert session.cost == round(session.energy_wh / 1000 * 0.30, 2)
    assert session.as_json()["currency"] == "EUR"
    assert only(bench.log, TransactionStarted) and only(bench.log, TransactionStopped)


def test_the_history_is_newest_first_bounded_and_from_a_date(tmp_path) -> None:
    store = Store(str(tmp_path / "pievse.sqlite3")).open()
    for ref in range(1, 6):
        store.transaction_started(ref, 1, card(TAG), 1000.0 * ref, T0 + 86_400 * ref)
        store.transaction_ended(ref, ended_at=T0 + 86_400 * ref + 60,
                                meter_stop_wh=1000.0 * ref + 500, stop_reason="Local")
    assert [s.transaction_ref for s in store.sessions()] == [5, 4, 3, 2, 1]
    assert [s.transaction_ref for s in store.sessions(limit=2)] == [5, 4]
    assert [s.transaction_ref for s in store.sessions(since=T0 + 86_400 * 4)] == [5, 4]


def test_a_customers_ended_sessions_forget_the_id_and_what_is_still_owed_keeps_it(tmp_path):
    store = Store(str(tmp_path / "pievse.sqlite3")).open()
    for ref, (token, ended) in enumerate([(TAG, True), (TAG.lower(), True), ("04FFFFFF", True),
                                          (TAG, False)], start=1):
        store.transaction_started(ref, 1, card(token), 1000.0 * ref, T0 + 3600 * ref)
        if ended:
            store.transaction_ended(ref, ended_at=T0 + 3600 * ref + 60,
                                    meter_stop_wh=1000.0 * ref + 500, stop_reason="Local")
    assert [s.transaction_ref for s in store.sessions_of(TAG)] == [4, 2, 1]

    assert store.forget_id_token(TAG.lower()) == 2
    assert [s.transaction_ref for s in store.sessions_of(TAG)] == [4], \
        "the session going on keeps its id: its end needs it"
    cleared = [s for s in store.sessions() if s.id_token == CLEARED_ID_TOKEN]
    assert sorted(s.transaction_ref for s in cleared) == [1, 2]
    assert all(s.energy_wh == 500.0 for s in cleared), "the bill keeps its sessions"
    assert [t.id_token.value for t in store.open_transactions()] == [TAG]
    assert store.forget_id_token(TAG) == 0
    store.close()
    reopened = Store(str(tmp_path / "pievse.sqlite3")).open()
    assert [s.transaction_ref for s in reopened.sessions_of(TAG)] == [4], "written for good"


# --- the query parameters -------------------------------------------------------------------------


def test_the_query_parameters_are_read_within_their_bounds() -> None:
    assert read_query("").limit == 100 and read_query("").since is None
    assert read_query("limit=7&since=2026-01-01").since == NEW_YEAR
    assert read_query("since=2026-01-01T01:00:00%2B01:00").since == NEW_YEAR
    for bad, said in [("limit=0", "from 1 to 1000"), (f"limit={MAX_LIMIT + 1}", "from 1 to 1000"),
                      ("limit=-3", "from 1 to 1000"), ("since=yesterday", "is no date"),
                      ("since=1899-01-01", "from 2000 to 2199"), ("color=red", "unknown"),
                      ("limit=1&limit=2", "given twice"), ("limit", "malformed")]:
        with pytest.raises(ValueError, match=said):
            read_query(bad)


class _NoSessions:
    def status(self, show_id_tags: bool) -> dict:
        return {}


@pytest.fixture(scope="module")
def sessions_server(tmp_path_factory) -> ApiServer:
    store = Store(str(tmp_path_factory.mktemp("history") / "pievse.sqlite3")).open()
    store.transaction_started(1, 1, card("=HYPERLINK(1)"), 1000.0, T0)
    store.transaction_ended(1, ended_at=T0 + 60, meter_stop_wh=1500.0, stop_reason="Local")
    return ApiServer(_NoSessions(), "127.0.0.1", 0, history=store.sessions)


query_text = st.one_of(
    st.text(max_size=80),
    st.lists(st.tuples(st.sampled_from(["since", "limit", "x", ""]),
                       st.one_of(st.integers(-10, 5000).map(str), st.dates().map(str),
                                 st.datetimes().map(lambda d: d.isoformat()),
                                 st.text(string.printable, max_size=20))),
             max_size=3).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)),
)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=query_text, csv_route=st.booleans())
def test_any_query_gets_the_history_or_a_400_naming_what_is_allowed(sessions_server, query,
                                                                    csv_route) -> None:
    path = "/api/sessions.csv" if csv_route else "/api/sessions"
    request = Request("GET", path, {"host": "127.0.0.1"}, b"", query)
    status, body, _ = sessions_server.answer(request)
    assert status in (200, 400), (query, status, body)
    if status == 400:
        assert any(word in body["error"] for word in ("since", "limit", "query", "date"))
    elif csv_route:
        rows = list(csv.DictReader(io.StringIO(body.content.decode())))
        assert set(rows[0]) <= set(CSV_COLUMNS) if rows else True
        # An id tag that looks like a formula reaches a spreadsheet as text.
        assert all(not row.get("id_tag", "").startswith("=") for row in rows)


# --- the configuration keys -----------------------------------------------------------------------


def test_the_standalone_keys_name_key_value_and_what_is_allowed() -> None:
    config = parse_config(MINIMAL + '[standalone]\ncards = ["04A1B2C3"]\n'
                          '[tariff]\nprice_per_kwh = 0.31\ncurrency = "CHF"\n')
    assert config.ocpp.url == "" and config.standalone.cards == ["04A1B2C3"]
    for line, problem in [
        ('[standalone]\nauthorization = "open"',
         '[standalone] authorization = "open": must be "cards" or "free"'),
        ('[standalone]\ncards = ["04A1 B2"]', '[standalone] cards = ["04A1 B2"]: must be a list '
         'of card ids; "04A1 B2" is no card id'),
        ('[standalone]\ncards = ["04A1B2C3", "04a1b2c3"]', "is listed twice"),
        ('[standalone]\ncards = [1]', "[standalone] cards = [1]: must be a list of card ids"),
        ('[tariff]\ncurrency = "euro"', '[tariff] currency = "euro": must be an ISO 4217'),
        ("[tariff]\nprice_per_kwh = -1", "[tariff] price_per_kwh = -1: must be between 0"),
    ]:
        with pytest.raises(ConfigError) as caught:
            parse_config(MINIMAL + line + "\n")
        assert any(p.startswith(problem) or problem in p for p in caught.value.problems), \
            caught.value.problems


toml_values = st.one_of(
    st.text(max_size=25).map(lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"')
                             .replace("\n", "\\n") + '"'),
    st.integers(-(2**40), 2**40).map(str), st.floats(allow_nan=False).map(repr),
    st.lists(st.text(string.printable, max_size=22), max_size=4).map(
        lambda items: "[" + ", ".join('"' + i.replace("\\", "\\\\").replace('"', '\\"')
                                      .replace("\n", "\\n").replace("\r", "\\r") + '"'
                                      for i in items) + "]"))


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from([("standalone", "authorization"), ("standalone", "cards"),
                            ("tariff", "price_per_kwh"), ("tariff", "currency"),
                            ("ocpp", "url")]),
       value=toml_values)
def test_any_value_of_the_new_keys_gives_a_config_or_a_problem_naming_the_key(key, value):
    section, name = key
    base = MINIMAL if section != "ocpp" else '[charge_point]\nid = "CP1"\n'
    text = base + f"[{section}]\n{name} = {value}\n" if section != "ocpp" else \
        base + f"[ocpp]\nurl = {value}\n"
    try:
        parse_config(text)
    except ConfigError as error:
        assert any(p.startswith(f"[{section}] {name} = ") or "TOML" in p or "toml" in p
                   for p in error.problems), error.problems


def test_a_date_of_the_history_is_utc_unless_it_says_otherwise() -> None:
    assert parse_since("2026-01-01") == NEW_YEAR
    assert parse_since("2026-01-01T00:00:00Z") == NEW_YEAR
    assert parse_since("2026-01-01T02:00:00+02:00") == NEW_YEAR
