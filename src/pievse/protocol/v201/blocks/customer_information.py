"""N09/N10 CustomerInformation and NotifyCustomerInformation: report, clear, or both, what the
charging station holds of one customer.

What it holds of a customer known by an idToken: the Authorization Cache's verdict, the Local
Authorization List's entry, the reservations made for it, and the sessions of the history (kept
by the store, given to the adapter as
:class:`~pievse.protocol.common.customer_data.SessionHistory`). A clear removes:

* the cache entry (the station core forgets it, and the store with it);
* the id of every ended session in the history, which stays for the bill without saying whose
  it was;

and keeps, as the specification asks or nothing lost demands:

* the list entry: only the CSMS changes the list (N10.FR.03), with SendLocalList;
* a reservation: the CSMS made it and cancels it (it lapses at its expiry anyway);
* a session going on: its end (and its recovery after a power cut) needs the id;
* every transaction message not yet delivered: it goes to the CSMS as it was made, then leaves
  the store.

The answer is Accepted, or Rejected when neither a report nor a clear is asked for (N09.FR.07,
N10.FR.07), or Invalid without a customer to look for. A customerIdentifier or a
customerCertificate names nobody the station keeps anything for (it keeps no customer
identifiers, and no contract certificates without an ISO 15118 stack): Accepted, and the
report says no data was found. After the answer, NotifyCustomerInformation: the data found (or
that none was), split into messages of at most 512 characters, and after a clear what was
cleared (N10.FR.06 asks for one even when no report was).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from pievse.protocol.common.customer_data import SessionHistory
from pievse.protocol.v201.codec.charging_profiles import status_info
from pievse.protocol.v201.codec.customer_information import (
    CustomerData,
    notify_customer_information,
)
from pievse.protocol.v201.codec.words import decode_id_token
from pievse.protocol.v201.context import Context
from pievse.protocol.v201.device_model import Variable

__all__ = ["CustomerInformationBlock"]


class CustomerInformationBlock:
    def __init__(self, context: Context, *, history: SessionHistory | None = None) -> None:
        self.context = context
        self.history = history
        self._found: tuple[int, CustomerData, bool] | None = None

    def variables(self) -> list[Variable]:
        return []

    @on(Action.customer_information)
    def on_customer_information(self, request_id: int, report: bool, clear: bool,
                                id_token: dict[str, Any] | None = None,
                                customer_identifier: str | None = None,
                                customer_certificate: dict[str, Any] | None = None,
                                **_: Any) -> call_result.CustomerInformation:
        if not report and not clear:
            return call_result.CustomerInformation(status="Rejected", status_info=status_info(
                "InvalidValue", "neither report nor clear was asked for"))
        if id_token is not None:
            if not id_token["id_token"]:  # NoAuthorization's empty token names nobody
                return call_result.CustomerInformation(status="Invalid", status_info=status_info(
                    "InvalidIdToken", "an empty idToken names no customer"))
            data = self._of_token(id_token, clear)
        elif customer_identifier is not None:
            data = CustomerData(f"customerIdentifier {customer_identifier}", cleared=clear)
        elif customer_certificate is not None:
            data = CustomerData(
                f"customerCertificate {customer_certificate.get('serial_number', '')}",
                cleared=clear)
        else:
            return call_result.CustomerInformation(status="Invalid", status_info=status_info(
                "MissingParam", "no idToken, customerIdentifier or customerCertificate"))
        self._found = (request_id, data, report)
        return call_result.CustomerInformation(status="Accepted")

    def _of_token(self, wire: dict[str, Any], clear: bool) -> CustomerData:
        token = decode_id_token(wire)
        station, history = self.context.station, self.history
        authorization = station.access.authorization
        data = CustomerData(
            f"idToken {token.value} ({wire['type']})", authorization.cached(token),
            authorization.list_entry(token),
            tuple(r for r in station.access.reservations.all if r.id_token.key == token.key),
            tuple(history.sessions_of(token.value)) if history is not None else ())
        if not clear:
            return data
        cache_cleared = self.context.answer(station.forget_cached_token(token))
        sessions_cleared = history.forget_id_token(token.value) if history is not None else 0
        self.context.log.info("CustomerInformation: %s cleared (cache entry: %s, sessions: %d)",
                              data.reference, cache_cleared, sessions_cleared)
        return dataclasses.replace(data, cleared=True, sessions_cleared=sessions_cleared,
                                   cache_cleared=cache_cleared)

    @after(Action.customer_information)
    def after_customer_information(self, **_: Any) -> None:
        found, self._found = self._found, None
        if found is None:
            return
        request_id, data, report = found
        lines = data.lines()
        if not report:
            lines = lines[-1:]  # only what the clear did (N10.FR.06)
        for message in notify_customer_information(lines, request_id, self.context.clock.now()):
            self.context.reply(message)
