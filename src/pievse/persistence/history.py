"""The session history: what the person who pays the electricity bill wants to know of each
session, and its export as CSV.

Nothing here is written twice. A session is the row the store keeps of an open transaction
(``open_transactions``: start, connector, id token, meter start, the energy and the peak power
so far, the price in force when it started), and that same row moves to ``sessions`` with its
end (time, meter stop, stop reason) when the transaction stops, in the same commit as the
StopTransaction queued for the CSMS. A kill -9 leaves the row open; the restart stops the
transaction (PowerLoss) and the row moves then. The cost is worked out when asked: energy times
the price the session started at, so a price changed later does not rewrite old bills.
"""

from __future__ import annotations

import csv
import datetime
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["CLEARED_ID_TOKEN", "CSV_COLUMNS", "SessionRecord", "Tariff", "parse_since",
           "sessions_csv"]

#: The id of a session whose customer's data was cleared (OCPP 2.0.1 CustomerInformation): the
#: session stays in the history, for the bill, without saying whose it was.
CLEARED_ID_TOKEN = "(cleared)"

#: The earliest and latest ``since`` taken: a wallbox's sessions lie between.
EARLIEST = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
LATEST = datetime.datetime(2200, 1, 1, tzinfo=datetime.UTC)


@dataclass(frozen=True, slots=True)
class Tariff:
    """``[tariff]``: the price of a kWh, and its currency (ISO 4217: "EUR")."""

    price_per_kwh: float
    currency: str


@dataclass(frozen=True, slots=True)
class SessionRecord:
    transaction_ref: int
    connector_id: int
    id_token: str
    started_at: float
    #: None while the session goes on.
    ended_at: float | None
    meter_start_wh: float
    #: The meter at the end, or the last energy written while it goes on.
    meter_stop_wh: float
    peak_power_w: float | None
    stop_reason: str | None
    price_per_kwh: float | None
    currency: str | None

    @property
    def energy_wh(self) -> float:
        return max(self.meter_stop_wh - self.meter_start_wh, 0.0)

    @property
    def cost(self) -> float | None:
        if self.price_per_kwh is None:
            return None
        return round(self.energy_wh / 1000.0 * self.price_per_kwh, 2)

    def as_json(self, show_id_tag: bool = True) -> dict[str, Any]:
        return {
            "transaction": self.transaction_ref,
            "connector": self.connector_id,
            **({"id_tag": self.id_token} if show_id_tag else {}),
            "started": _iso(self.started_at),
            "ended": _iso(self.ended_at) if self.ended_at is not None else None,
            "energy_wh": round(self.energy_wh, 1),
            "peak_power_w": round(self.peak_power_w, 1) if self.peak_power_w else None,
            "stop_reason": self.stop_reason,
            "cost": self.cost,
            "currency": self.currency if self.cost is not None else None,
        }


#: The columns of the CSV export, in order (the keys of ``as_json``).
CSV_COLUMNS = ("transaction", "connector", "id_tag", "started", "ended", "energy_wh",
               "peak_power_w", "stop_reason", "cost", "currency")


def sessions_csv(records: Iterable[SessionRecord], show_id_tags: bool = True) -> str:
    """The sessions as CSV (RFC 4180, a header line first); times in UTC, ISO 8601."""
    columns = [c for c in CSV_COLUMNS if show_id_tags or c != "id_tag"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for record in records:
        row = record.as_json(show_id_tags)
        writer.writerow(["" if row[c] is None else _cell(row[c]) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    text = str(value)
    # A spreadsheet runs a cell starting with one of these as a formula: an id tag is text
    # from a card or a CSMS, never a formula (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(
        timespec="seconds").replace("+00:00", "Z")


def parse_since(text: str) -> float:
    """A date ("2026-12-01", midnight UTC) or a date and time in ISO 8601 ("2026-12-01T08:00Z",
    UTC unless it names its offset) as epoch seconds; ValueError saying what is allowed."""
    allowed = (f"{text[:40]!r} is no date: a date 2026-12-01 or a date and time "
               "2026-12-01T08:00:00Z (UTC unless an offset is given), from 2000 to 2199")
    if not 10 <= len(text) <= 40 or not text.isascii():
        raise ValueError(allowed)
    try:
        moment = datetime.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(allowed) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    if not EARLIEST <= moment < LATEST:
        raise ValueError(allowed)
    return moment.timestamp()
