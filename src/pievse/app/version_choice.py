"""``[ocpp] version = "auto"``: offer both OCPP versions and speak the one the CSMS chooses.

The link offers ``ocpp2.0.1`` and ``ocpp1.6`` (2.0.1 first) and runs each session on the
adapter of the subprotocol the CSMS selected. :class:`VersionChoice` is that adapter for the
daemon: it stands for the version in use, and everything under it is the same whatever the
choice, the station core, the store and the one persistent outbox (whose entries are the core's
effects, not frames: either version builds its messages from them).

Each version's adapter is built the first time it is needed and kept: before any connection the
adapter of the version the CSMS chose last time (kept in the store, 2.0.1 when it never chose)
turns the station's effects into messages; a CSMS that chooses the other version on a later
connection gets the other adapter from then on, which is logged as a warning (a CSMS that
changes its version is rare). Configuration keys and device-model variables that mean the same
thing are kept under the same name, so a value set under one version holds under the other:
what the daemon sets and what the CSMS changes goes to every adapter built, and to the ones
built later.

**Transactions and a change of version.** A transaction the CSMS has heard of in one version
(its StartTransaction answered under 1.6, its Started event under 2.0.1) is spoken of in that
version until it is finished: its transactionId is the 1.6 CSMS's number or the station's own
2.0.1 name, and a CSMS speaking the other version never heard of it. So while there is such a
transaction (charging still, or with messages in the outbox), the link offers only its version,
and a warning says so: its messages are delivered when the CSMS next speaks that version, and
nothing is sent in words the CSMS cannot place. Once they are delivered, both versions are offered
again. The messages of a transaction the CSMS has not heard of yet (one made offline) go out in
whichever version it chooses (a 2.0.1 charging-state event has no 1.6 message and is dropped
then). A CSMS that no longer speaks the version at all leaves the station offline, charging by its
offline rules, nothing lost; configuring the other version explicitly then sends those messages in
that version's words (with a warning at start).

The notifications each adapter keeps for redelivery (security events, firmware and log
statuses) are built in its version's words: those still queued when the CSMS chooses the other
version are delivered when it next speaks theirs.

Before the CSMS has chosen on this run, ``version`` is None (``ocpp.version`` is null in
``GET /api/status``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pievse.app.protocols import Adapter, DaemonParts
    from pievse.core.effects import Effect
    from pievse.protocol.common.outbox import Outbox
    from pievse.protocol.common.transport_security import TransportSecurity

__all__ = ["AUTO", "SUBPROTOCOLS", "VersionChoice", "ongoing", "versions_holding"]

log = logging.getLogger("pievse.ocpp")

AUTO = "auto"
#: The versions offered, the one preferred first, with their subprotocols.
SUBPROTOCOLS = {"2.0.1": "ocpp2.0.1", "1.6": "ocpp1.6"}
#: Where the store keeps the version the CSMS chose last.
CHOSEN_STATE = "ocpp_version_chosen"


def versions_holding(outbox: Outbox, ongoing: Iterable[int] = ()) -> dict[str, int]:
    """The versions that must finish transactions: version -> how many, in the order of the
    queue, then of the ``ongoing`` transactions (their references). A transaction whose start
    is still queued is nobody's yet; one whose start was answered is its version's (a 1.6 CSMS
    numbers it, the 2.0.1 station named it by a string) until its last message is delivered."""
    entries = outbox.entries()
    queued_starts = {entry.transaction_ref for entry in entries if entry.kind == "start"}
    held: dict[str, int] = {}
    for ref in dict.fromkeys([*(entry.transaction_ref for entry in entries), *ongoing]):
        transaction_id = outbox.transaction_id(ref)
        if ref in queued_starts or transaction_id is None:
            continue
        version = "1.6" if isinstance(transaction_id, int) else "2.0.1"
        held[version] = held.get(version, 0) + 1
    return held


class SharedKeys:
    """The configuration keys of every adapter built, as the daemon sees one adapter's: a value
    set goes to each adapter that knows the name (and to those built later), a change the CSMS
    makes under one version is mirrored into the others, the station's settings come from the
    adapter in use."""

    def __init__(self, choice: VersionChoice) -> None:
        self._choice = choice
        #: What was set or changed, in order, to be given to adapters built later.
        self._values: dict[str, Any] = {}
        self._listeners: list[Callable[[str, Any], None]] = []

    def _keys(self) -> Iterator[Any]:
        current = self._choice.current
        yield current.configuration
        for adapter in self._choice.adapters.values():
            if adapter is not current:
                yield adapter.configuration

    def __contains__(self, name: str) -> bool:
        return any(name in keys for keys in self._keys())

    def definition(self, name: str) -> Any:
        return self._holder(name).definition(name)

    def __getitem__(self, name: str) -> Any:
        return self._holder(name)[name]

    def _holder(self, name: str) -> Any:
        """The keys of the adapter in use, if it knows ``name``, else of one that does."""
        return next(keys for keys in self._keys() if name in keys)

    def set_initial(self, name: str, value: Any) -> None:
        self._values[name] = value
        for keys in self._keys():
            if name in keys:
                keys.set_initial(name, value)

    def on_change(self, listener: Callable[[str, Any], None]) -> None:
        self._listeners.append(listener)

    def station_settings(self) -> dict[str, Any]:
        return self._choice.current.configuration.station_settings()

    def adopt(self, adapter: Adapter, stored: dict[str, Any]) -> None:
        """A newly built adapter: the values the CSMS changed before this run (``stored``),
        then those set and changed since, then it reports its own changes here."""
        keys = adapter.configuration
        for name, value in {**stored, **self._values}.items():
            if name in keys and not keys.definition(name).readonly:
                keys.set_initial(name, value)
        keys.on_change(lambda name, value: self._changed(keys, name, value))

    def _changed(self, source: Any, name: str, value: Any) -> None:
        self._values[name] = value
        for keys in self._keys():
            if keys is not source and name in keys and not keys.definition(name).readonly:
                keys.set_initial(name, value)
        for listener in self._listeners:
            listener(name, value)


class VersionChoice:
    """The daemon's adapter under ``version = "auto"``: the adapter of the version the CSMS
    chose, built on first use and kept."""

    def __init__(self, parts: DaemonParts, builders: dict[str, Callable[[DaemonParts], Adapter]]
                 ) -> None:
        self._parts = parts
        self._builders = builders
        self._store = parts.store
        self.outbox = parts.outbox
        self.adapters: dict[str, Adapter] = {}
        self.configuration = SharedKeys(self)
        #: The version spoken on this run's last connection; None until the CSMS chose one.
        self.version: str | None = None
        self._held_said: dict[str, int] = {}
        last = self._store.state(CHOSEN_STATE) if self._store is not None else None
        self.current = self._adapter(last if last in builders else next(iter(SUBPROTOCOLS)))
        self.max_message_size = max(_max_message_size(version, parts) for version in builders)

    def _adapter(self, version: str) -> Adapter:
        adapter = self.adapters.get(version)
        if adapter is None:
            adapter = self.adapters[version] = self._builders[version](self._parts)
            stored = self._store.configuration() if self._store is not None else {}
            self.configuration.adopt(adapter, stored)
        return adapter

    # --- the link ------------------------------------------------------------------------------

    @property
    def subprotocol(self) -> str:
        return SUBPROTOCOLS[self.current.version]

    def offer(self) -> tuple[str, ...]:
        """The subprotocols to offer on the next attempt: both, unless queued messages belong
        to one version (see the module's description)."""
        held = versions_holding(self.outbox, ongoing(self._parts.station))
        if held != self._held_said:
            self._held_said = held
            for version, count in held.items():
                log.warning("%d transaction(s) begun under OCPP %s not finished with the CSMS "
                            "(charging, or messages in the outbox): offering only %s until they "
                            "are", count, version, SUBPROTOCOLS[version])
        if held:
            return (SUBPROTOCOLS[next(iter(held))],)
        return tuple(SUBPROTOCOLS.values())

    async def run_session(self, connection: Any) -> None:
        chosen = next(v for v, name in SUBPROTOCOLS.items() if name == connection.subprotocol)
        self._choose(chosen)
        await self.current.run_session(connection)

    def _choose(self, version: str) -> None:
        self.version = version
        if self._store is not None:
            self._store.set_state(CHOSEN_STATE, version)
        before = self.current.version
        if version == before:
            log.info("the CSMS chose OCPP %s", version)
            return
        log.warning("the CSMS chose OCPP %s (OCPP %s before): its adapter speaks from now on",
                    version, before)
        self.current = self._adapter(version)
        station = self._parts.station
        self._parts.dispatch(station.update_settings(**self.configuration.station_settings()))

    # --- the adapter in use --------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.current.connected

    @property
    def registered(self) -> bool:
        return self.current.registered

    def handle(self, effect: Effect) -> None:
        self.current.handle(effect)

    def report_security_event(self, event: str, tech_info: str | None = None) -> None:
        self.current.report_security_event(event, tech_info)

    def transport_security(self) -> TransportSecurity:
        return self.current.transport_security()


def ongoing(station: Any) -> list[int]:
    """The references of the station's transactions."""
    return [transaction.ref for transaction in station.transactions()]


def _max_message_size(version: str, parts: DaemonParts) -> int:
    """The largest message a CSMS of ``version`` may send, without building its adapter."""
    if version == "1.6":
        from pievse.protocol.v16.codec.authorization import send_local_list_frame_size

        return send_local_list_frame_size(
            parts.station.access.authorization.send_list_max_length)
    from pievse.protocol.v201.adapter import MAX_MESSAGE_SIZE

    return MAX_MESSAGE_SIZE
