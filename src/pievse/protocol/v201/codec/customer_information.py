"""What NotifyCustomerInformation says of a customer, in words a person reads (the data field
is free text), and its split into messages of at most 512 characters each.

One line per thing held: the Authorization Cache's entry, the Local Authorization List's entry,
each reservation made for the token, each session of the history (start, end, EVSE, energy, why
it stopped); then, when the request
cleared, what was cleared and what was kept and why. Lines are packed into as few messages as
fit; a line longer than a message is cut across several, so nothing is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ocpp.v201 import call

from pievse.core.authorization import AuthorizationResult
from pievse.core.reservations import Reservation
from pievse.protocol.common.customer_data import CustomerSession
from pievse.protocol.common.datetimes import format_datetime

__all__ = ["MAX_DATA", "CustomerData", "notify_customer_information"]

#: NotifyCustomerInformationRequest.data's maxLength.
MAX_DATA = 512


def _result(result: AuthorizationResult) -> str:
    shown = result.status.word
    if result.expires_at is not None:
        shown += f", until {format_datetime(result.expires_at)}"
    if result.group is not None:
        shown += f", group {result.group.value}"
    return shown


@dataclass(frozen=True, slots=True)
class CustomerData:
    """What the station holds of one customer, and what a clear did with it."""

    reference: str
    cached: AuthorizationResult | None = None
    listed: AuthorizationResult | None = None
    reservations: Sequence[Reservation] = ()
    sessions: Sequence[CustomerSession] = ()
    #: A clear was asked for: how many ended sessions lost the id, whether the cache did.
    cleared: bool = False
    sessions_cleared: int = 0
    cache_cleared: bool = False

    def lines(self) -> list[str]:
        shown: list[str] = []
        if self.cached is not None:
            shown.append(f"AuthorizationCache: {self.reference}: {_result(self.cached)}")
        if self.listed is not None:
            shown.append(f"LocalAuthorizationList: {self.reference}: {_result(self.listed)}")
        for reservation in self.reservations:
            where = (f"EVSE {reservation.connector_id}" if reservation.connector_id
                     else "any EVSE")
            shown.append(f"Reservation {reservation.reservation_id} on {where} until "
                         f"{format_datetime(reservation.expires_at)}")
        for session in self.sessions:
            end = ("ongoing" if session.ended_at is None
                   else f"to {format_datetime(session.ended_at)}, {session.stop_reason}")
            shown.append(f"Session on EVSE {session.connector_id}: from "
                         f"{format_datetime(session.started_at)} {end}, "
                         f"{session.energy_wh / 1000:.3f} kWh")
        if not shown:
            shown.append(f"No data found for {self.reference}")
        if self.cleared:
            shown.append(self._clear_line())
        return shown

    def _clear_line(self) -> str:
        done = []
        if self.cache_cleared:
            done.append("the AuthorizationCache entry")
        if self.sessions_cleared:
            done.append(f"the id of {self.sessions_cleared} ended session(s)")
        line = f"Cleared: {', '.join(done) if done else 'nothing was held'}."
        ongoing = sum(1 for s in self.sessions if s.ended_at is None)
        if self.listed is not None:
            line += (" Kept: the LocalAuthorizationList entry (only the CSMS changes the list:"
                     " SendLocalList).")
        if self.reservations:
            line += (f" Kept: {len(self.reservations)} reservation(s) (the CSMS's to cancel;"
                     " each lapses at its expiry).")
        if ongoing:
            line += (f" Kept: {ongoing} session(s) going on (their end needs the id; clear "
                     "again once ended).")
        return line + (" Transaction messages not yet delivered to the CSMS are sent as they"
                       " were made.")


def _chunks(lines: Iterable[str]) -> list[str]:
    chunks: list[str] = []
    current = ""
    for line in lines:
        while len(line) > MAX_DATA:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:MAX_DATA])
            line = line[MAX_DATA:]
        joined = f"{current}\n{line}" if current else line
        if len(joined) > MAX_DATA:
            chunks.append(current)
            joined = line
        current = joined
    if current:
        chunks.append(current)
    return chunks


def notify_customer_information(lines: Iterable[str], request_id: int,
                                generated_at: float) -> list[call.NotifyCustomerInformation]:
    """The report in order: seqNo from 0, tbc on all but the last, one generatedAt."""
    chunks = _chunks(lines) or [""]
    at = format_datetime(generated_at)
    return [call.NotifyCustomerInformation(data=chunk, seq_no=n, generated_at=at,
                                           request_id=request_id, tbc=n < len(chunks) - 1)
            for n, chunk in enumerate(chunks)]
