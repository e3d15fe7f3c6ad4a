"""The fields every OCPP version's transfer requests share (UpdateFirmware, GetDiagnostics,
GetLog): the times they name and the retries they ask for."""

from __future__ import annotations

from ocpp.exceptions import TypeConstraintViolationError

from pievse.protocol.common.datetimes import parse_datetime
from pievse.services.firmware import DEFAULT_RETRIES, DEFAULT_RETRY_INTERVAL_S

__all__ = ["request_retries", "request_time"]


def request_time(text: str | None, field: str) -> float | None:
    """A date-time of a CSMS's request in epoch seconds (None stays None); an unreadable one is
    the CSMS's TypeConstraintViolation."""
    if text is None:
        return None
    try:
        return parse_datetime(text)
    except ValueError:
        raise TypeConstraintViolationError(f"{field} is not a date-time: {text!r}") from None


def request_retries(retries: int | None, retry_interval: int | None) -> tuple[int, float]:
    """The retries and the interval between them (seconds) a transfer request asks for, or
    the defaults."""
    return (DEFAULT_RETRIES if retries is None else max(0, retries),
            DEFAULT_RETRY_INTERVAL_S if retry_interval is None else max(0, retry_interval))
