"""OCPP date-times, read and written by the one module every protocol version and the bench CSMS
use: RFC 3339 in, UTC with a 'Z' and milliseconds when there are any out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pievse.protocol.common.datetimes import format_datetime, is_datetime, parse_datetime

NEW_YEAR = datetime(2025, 1, 1, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("text", [
    "2025-01-01T12:00:00Z",
    "2025-01-01T12:00:00.250Z",
    "2025-01-01T12:00:00.001Z",
    "1970-01-01T00:00:00Z",
    "2038-01-19T03:14:08.999Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
])
def test_what_we_write_reads_back_to_the_same_text(text):
    assert format_datetime(parse_datetime(text)) == text


@pytest.mark.parametrize("seconds", [NEW_YEAR, NEW_YEAR + 0.25, NEW_YEAR + 0.001, 0.0,
                                     1_746_100_800.123, -86_400.5])
def test_an_instant_in_milliseconds_survives_a_round_trip(seconds):
    assert parse_datetime(format_datetime(seconds)) == seconds


def test_the_one_format_is_utc_with_z_and_milliseconds_only_when_there_are_any():
    assert format_datetime(NEW_YEAR) == "2025-01-01T12:00:00Z"
    assert format_datetime(NEW_YEAR + 0.5) == "2025-01-01T12:00:00.500Z"
    # To the nearest millisecond: ".000" would read back as a whole second, written without it.
    assert format_datetime(NEW_YEAR + 0.0004) == "2025-01-01T12:00:00Z"
    assert format_datetime(NEW_YEAR + 0.0006) == "2025-01-01T12:00:00.001Z"
    assert format_datetime(NEW_YEAR + 0.9996) == "2025-01-01T12:00:01Z"
    assert format_datetime(datetime(9999, 12, 31, 23, 59, 59, 999_900)) == \
        "9999-12-31T23:59:59.999Z", "as close as can be written"


def test_datetimes_are_written_in_utc_whatever_their_zone():
    paris = timezone(timedelta(hours=1))
    assert format_datetime(datetime(2025, 1, 1, 13, 0, tzinfo=paris)) == "2025-01-01T12:00:00Z"
    assert format_datetime(datetime(2025, 1, 1, 12, 0)) == "2025-01-01T12:00:00Z", "naive is UTC"
    assert format_datetime(datetime(2025, 1, 1, 12, 0, 0, 7000, tzinfo=UTC)) == \
        "2025-01-01T12:00:00.007Z"


@pytest.mark.parametrize("text", [
    "2025-01-01T12:00:00Z",
    "2025-01-01T12:00:00z",
    "2025-01-01t12:00:00Z",
    "2025-01-01T12:00:00+00:00",
    "2025-01-01T12:00:00-00:00",
    "2025-01-01T13:00:00+01:00",
    "2025-01-01T13:00:00+0100",
    "2025-01-01T06:30:00-05:30",
    "2025-01-02T11:59:00+23:59",
    "2025-01-01T12:00:00",
    "2025-01-01T12:00:00.000000000Z",
])
def test_a_z_an_offset_or_no_zone_name_the_same_instant(text):
    assert parse_datetime(text) == NEW_YEAR


def test_fractions_are_kept_to_the_microsecond():
    assert parse_datetime("2025-01-01T12:00:00.5Z") == NEW_YEAR + 0.5
    assert parse_datetime("2025-01-01T12:00:00.123456789Z") == pytest.approx(NEW_YEAR + 0.123456,
                                                                             abs=1e-7)


def test_a_leap_second_is_the_second_after_59():
    assert parse_datetime("2016-12-31T23:59:60Z") == parse_datetime("2017-01-01T00:00:00Z")


@pytest.mark.parametrize("text", [
    "yesterday", "", "2025-01-01", "2025-01-01 12:00:00Z", "2025-01-01T12:00Z",
    "2025-02-29T10:00:00Z", "2025-13-01T00:00:00Z", "2025-01-01T24:00:00Z",
    "2025-01-01T12:60:00Z", "2025-01-01T12:00:61Z", "2025-01-01T12:00:00+24:00",
    "2025-01-01T12:00:00+01:60", "2025-01-01T12:00:00.Z", "2025-01-01T12:00:00ZZ",
    " 2025-01-01T12:00:00Z", "+2025-01-01T12:00:00Z",
])
def test_what_is_not_an_rfc_3339_date_time_is_refused_with_value_error(text):
    with pytest.raises(ValueError):
        parse_datetime(text)
    assert not is_datetime(text)


@pytest.mark.parametrize("text", [
    "0000-01-01T00:00:00Z",          # there is no year 0
    "0001-01-01T00:00:00+00:01",     # the last minute of year 0 in UTC
    "9999-12-31T23:59:59-00:01",     # the first minute of year 10000 in UTC
    "9999-12-31T23:59:60Z",          # a leap second into year 10000
])
def test_an_instant_outside_the_years_1_to_9999_is_a_value_error_not_an_overflow(text):
    with pytest.raises(ValueError):
        parse_datetime(text)
    assert not is_datetime(text)


@pytest.mark.parametrize("seconds", [1e20, -1e20, 253_402_300_800.0, float("inf"),
                                     float("nan")])
def test_formatting_an_instant_out_of_range_is_a_value_error_not_an_overflow(seconds):
    with pytest.raises(ValueError):
        format_datetime(seconds)


def test_a_datetime_that_leaves_the_range_in_utc_is_a_value_error():
    late = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1)))
    with pytest.raises(ValueError):
        format_datetime(late)


def test_a_value_that_is_not_text_is_not_a_date_time():
    with pytest.raises(ValueError):
        parse_datetime(None)  # type: ignore[arg-type]
    assert not is_datetime(20250101)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [
    "9999-12-31T23:59:59.9999999Z",  # rounds into the year 10000 as epoch seconds
    "9999-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00.0000001+00:01",
])
def test_what_is_read_can_always_be_written_back_or_is_refused(text):
    try:
        seconds = parse_datetime(text)
    except ValueError:
        assert not is_datetime(text)
        return
    assert is_datetime(text)
    assert parse_datetime(format_datetime(seconds)) == pytest.approx(seconds, abs=1e-3)


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.999999Z"])
def test_the_last_microsecond_of_9999_is_refused_since_it_cannot_be_written_back(text):
    assert not is_datetime(text)


@given(st.one_of(st.floats(-62_135_596_800, 253_402_300_798, allow_nan=False),
                 st.integers(-62_135_596_800, 253_402_300_798),
                 st.floats(1.7e9, 1.8e9), st.sampled_from([0.0, -0.0, 0.0005, -0.0005,
                                                           1e-7, 999_999.9999995])))
def test_epoch_seconds_are_written_as_their_datetime_is_and_read_back_to_the_same_text(
        seconds):
    # The epoch path skips the datetime per instant; it must write the very same text.
    text = format_datetime(seconds)
    assert text == format_datetime(datetime.fromtimestamp(seconds, UTC))
    assert format_datetime(parse_datetime(text)) == text
