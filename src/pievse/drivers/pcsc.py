"""An RFID card reader on PC/SC: any contactless reader pcscd drives (ACR122U, ACR1252U, ...).

On Linux a USB card reader is owned by **pcscd**, the PC/SC daemon, which loads the reader's driver
(libccid for most readers) and lets programs share it through ``libpcsclite``. The driver talks to
pcscd through pyscard's low-level ``smartcard.scard`` module, imported only by :meth:`start` so that
the simulated station never pays for it::

    reader = PcscReader("ACR122")          # readers whose name contains "ACR122"; None: all
    await reader.start()
    async for token in reader.tokens():    # TokenPresented("04A224B2C15E80", "ISO14443")
        ...

**How a tap is read.** A contactless card has no ATR of its own: the reader keeps its RF field on,
and when a card entering it answers, the reader makes up an ATR (PC/SC part 3) and reports "card
present". The driver then connects, sends the reader's GET DATA pseudo-APDU ``FF CA 00 00 00`` (the
reader answers it itself with the card's UID: 4, 7 or 10 bytes for ISO 14443 A, 8 for ISO 15693,
followed by the status word 90 00) and disconnects. Any other status word (6A 81: this card type
gives no UID) is logged and the card ignored. One tap is one event: a card left on the reader is
read once; it must leave the field and come back to be read again. A card that already lies on a
reader when the driver first sees that reader (at start, after pcscd restarts, or on a reader just
plugged in) is *not* read: nobody tapped it, and reading it could start or stop a session by
surprise. (A 4-byte UID starting with 08 is random, new at every tap, as phones and bank cards give:
it identifies nobody, and is passed on like any other for the CSMS to refuse.)

**Watching.** One worker thread blocks in ``SCardGetStatusChange`` on every watched reader plus the
``\\\\?PnP?\\Notification`` pseudo-reader, which pcscd wakes when a reader is plugged in or pulled
out; so the thread sleeps until something happens (no busy polling: a Pi Zero stays idle). Each
wait is bounded by ``poll_interval``, after which the reader list is read again anyway, in case
plug-and-play notifications do not arrive. ``close()`` wakes the thread with ``SCardCancel``.

**Failures.** pcscd may be missing, stopped, restarted (a package upgrade does it) or crash;
pyscard's own CardMonitor threads die when that happens, which is why this driver has its own
loop. Losing pcscd is logged once (ERROR, with what to check), then the driver tries again after
``retry_delay``, doubling up to ``backoff_max``, logging those tries at DEBUG only; getting it
back is logged once (INFO) and reading resumes without a restart. Readers pulled out and plugged
back are logged and watched again. The thread never dies of an error: it logs and starts over.

**Feedback.** With ``feedback=True`` a reader of ACS's ACR122 family (ACR122U/T/S/L, ACR1222L)
blinks its green LED and beeps once after each UID read, through its pseudo-APDU ``FF 00 40``.
Best effort: a reader that refuses is logged at DEBUG and the tap counts all the same. (The
ACR122U also beeps by itself when it detects a card, unless told otherwise.)
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from pievse.drivers.contracts import DriverError, TokenPresented

__all__ = ["UID_FORMATS", "PcscReader", "format_uid", "token_kind"]

log = logging.getLogger(__name__)

UidFormat = Literal["hex", "hex-reversed", "decimal"]
#: ``hex``: the UID as the reader gives it, upper-case hex ("04A224B2C15E80"); ``hex-reversed``:
#: its bytes in reverse order, as some readers and older card lists show it; ``decimal``: the
#: UID read as one big-endian number ("1304178408382080").
UID_FORMATS: tuple[str, ...] = ("hex", "hex-reversed", "decimal")

#: PC/SC part 3 GET DATA, P1 = 00: "the UID of the card in the field", answered by the reader.
GET_UID = [0xFF, 0xCA, 0x00, 0x00, 0x00]

#: ACS bi-colour LED and buzzer pseudo-APDU: P2 0xA0 = blink the green LED starting lit, then
#: T1 = 200 ms on with the buzzer linked, T2 = 100 ms off, once. The reader answers 90 xx, xx
#: being its LED state.
FEEDBACK_APDU = [0xFF, 0x00, 0x40, 0xA0, 0x04, 0x02, 0x01, 0x01, 0x01]
#: Reader names (substrings) that understand FEEDBACK_APDU: ACS's PN532-based family.
FEEDBACK_READERS = ("ACR122",)

#: pcscd's pseudo-reader whose state changes when a reader is plugged in or pulled out.
PNP_NOTIFICATION = "\\\\?PnP?\\Notification"

#: What a status word answered to GET DATA means (PC/SC part 3 and ISO 7816-4).
STATUS_WORDS = {
    0x6281: "part of the UID may be corrupted",
    0x6282: "end of data reached before Le bytes",
    0x6300: "the reader could not get the UID",
    0x6700: "wrong length",
    0x6A81: "function not supported (this card or reader gives no UID)",
    0x6B00: "wrong parameter P1/P2",
}

#: The PC/SC registered application id in a contactless card's made-up ATR; the byte after it
#: names the card's standard (PC/SC part 3, supplement: 0x09 to 0x0C are ISO 15693).
_PCSC_RID = bytes([0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06])
_ISO15693_STANDARDS = range(0x09, 0x0D)

#: Marks the end of the token stream in its queue.
_END: Any = object()

#: How long close() waits for the worker thread, which is normally gone in milliseconds; only a
#: reader call hanging inside the PC/SC stack can hold it longer.
_STOP_TIMEOUT_S = 5.0


def format_uid(uid: bytes, uid_format: str) -> str:
    """The id token for ``uid`` in one of :data:`UID_FORMATS`."""
    if uid_format == "hex":
        return uid.hex().upper()
    if uid_format == "hex-reversed":
        return uid[::-1].hex().upper()
    if uid_format == "decimal":
        return str(int.from_bytes(uid, "big"))
    raise ValueError(f"uid_format must be one of {', '.join(UID_FORMATS)}, not {uid_format!r}")


def token_kind(atr: bytes) -> str:
    """The OCPP token type of a card, from the ATR its reader made up: ISO15693 for a vicinity
    tag, ISO14443 otherwise (also when the ATR says nothing: most cards are)."""
    at = atr.find(_PCSC_RID)
    standard = at + len(_PCSC_RID)
    if at >= 0 and standard < len(atr) and atr[standard] in _ISO15693_STANDARDS:
        return "ISO15693"
    return "ISO14443"


def _load_pyscard() -> Any:
    try:
        from smartcard import scard
    except ImportError as error:
        raise DriverError(
            "the PC/SC card reader needs pyscard (pip install pyscard, or pievse[pi]), which "
            "builds against libpcsclite: apt-get install pcscd libpcsclite-dev swig gcc python3-dev"
        ) from error
    return scard


class _ServiceLost(Exception):
    """pcscd cannot be reached, or dropped our context: start a new session after a backoff."""


@dataclass
class _Watched:
    """What the driver last saw on one reader."""

    state: int = 0  # the last dwEventState, handed back to pcscd as the current state
    seen: bool = False  # the first state is a baseline, never a tap
    readable: bool = False  # a card is present and powered (not mute)
    count: int = 0  # pcscd's card event counter (high word): moves on every insert and removal


class PcscReader:
    """The card readers that pcscd offers, or those whose name contains ``reader`` (any case).

    ``uid_format`` is one of :data:`UID_FORMATS`. ``poll_interval`` bounds one wait for a change
    (seconds; taps and plug events wake the driver at once regardless). ``feedback`` blinks and
    beeps readers that can (see the module's notes). ``retry_delay`` and ``backoff_max`` pace the
    attempts to reach pcscd while it is away.
    """

    def __init__(
        self,
        reader: str | None = None,
        uid_format: UidFormat = "hex",
        poll_interval: float = 5.0,
        *,
        feedback: bool = False,
        retry_delay: float = 0.5,
        backoff_max: float = 10.0,
    ) -> None:
        format_uid(b"\x00", uid_format)  # refuse an unknown format now, not at the first tap
        if not poll_interval > 0 or not retry_delay > 0 or not backoff_max >= retry_delay:
            raise ValueError("poll_interval and retry_delay must be positive, "
                             "backoff_max at least retry_delay")
        self.reader_filter = (reader or "").strip()
        self.uid_format = uid_format
        self.poll_interval = poll_interval
        self.feedback = feedback
        self.retry_delay = retry_delay
        self.backoff_max = backoff_max
        self._scard: Any = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._ended = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._context_lock = threading.Lock()
        self._context: int | None = None
        # Written by the worker thread only; read anywhere (whole-object swaps, no lock needed).
        self._watching: tuple[str, ...] = ()
        self._online = False
        self._failing = False  # the service failure was logged; say so when it comes back
        self._no_reader_logged: tuple[str, ...] | None = None

    # --- TokenReader -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start watching. Raises DriverError only when pyscard is missing: a pcscd that is not
        running yet is logged and waited for."""
        self._scard = _load_pyscard()
        if self.running:
            return
        if self._ended:
            self._queue, self._ended = asyncio.Queue(), False
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="pcsc-reader", daemon=True)
        self._thread.start()

    async def tokens(self) -> AsyncIterator[TokenPresented]:
        while True:
            token = await self._queue.get()
            if token is _END:
                self._queue.put_nowait(_END)  # for any other reader of the stream
                return
            yield token

    async def close(self) -> None:
        """Stop the worker (at once: a blocked wait is cancelled) and end the token stream."""
        try:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._stopping.set()
                deadline = time.monotonic() + _STOP_TIMEOUT_S
                while thread.is_alive() and time.monotonic() < deadline:
                    # Again and again: a cancel sent just before the thread began its next
                    # wait is lost.
                    self._cancel_wait()
                    await asyncio.sleep(0.01)
                if thread.is_alive():
                    log.warning("card reader thread did not stop within %.0f s (a PC/SC call "
                                "hangs); leaving it behind", _STOP_TIMEOUT_S)
        except Exception:  # close() never raises
            log.debug("error while stopping the card reader", exc_info=True)
        finally:
            if not self._ended:
                self._ended = True
                self._queue.put_nowait(_END)

    # --- state, for status pages and tests -----------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def online(self) -> bool:
        """pcscd is reachable and the driver is watching (possibly no reader)."""
        return self._online

    @property
    def problem(self) -> str | None:
        """Why no card can be read now, once the driver has found out; None if cards can be."""
        if self._failing and not self._online:
            return "PC/SC service (pcscd) not reachable"
        if self._online and not self._watching and self._no_reader_logged is not None:
            return "no card reader connected"
        return None

    @property
    def readers(self) -> tuple[str, ...]:
        """The readers being watched now: cards tapped on them are read."""
        return self._watching

    # --- the worker thread -----------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.retry_delay
        while not self._stopping.is_set():
            began = time.monotonic()
            try:
                self._session()
            except _ServiceLost as error:
                self._failed(f"cannot use the PC/SC service (pcscd): {error}; is pcscd running "
                             "(systemctl status pcscd.socket), and may this user reach it?")
            except Exception as error:  # a bug or an unexpected pyscard error: never die of it
                self._failed(f"card reader loop failed: {error!r}", exc_info=True)
            finally:
                self._watching, self._online = (), False
            if self._stopping.is_set():
                return
            if time.monotonic() - began > self.backoff_max:
                delay = self.retry_delay  # it ran well for a while: this is a fresh failure
            log.debug("next attempt to reach pcscd in %.1f s", delay)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, self.backoff_max)

    def _failed(self, message: str, exc_info: bool = False) -> None:
        if self._failing:
            log.debug("%s", message)
        else:
            self._failing = True
            log.error("%s; retrying in the background", message, exc_info=exc_info)

    def _session(self) -> None:
        """One connection to pcscd, kept until it fails or the driver stops."""
        scard = self._scard
        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            raise _ServiceLost(self._explain(hresult))
        with self._context_lock:
            self._context = context
        try:
            self._watch(context)
        finally:
            with self._context_lock:
                self._context = None
            scard.SCardReleaseContext(context)

    def _watch(self, context: int) -> None:
        scard = self._scard
        watched: dict[str, _Watched] = {}
        pnp: int | None = scard.SCARD_STATE_UNAWARE  # None: this pcscd has no PnP notification
        self._relist(context, watched)
        timeout_ms = max(1, round(self.poll_interval * 1000))
        while not self._stopping.is_set():
            # A reader seen for the first time is asked as UNAWARE: pcscd answers at once with
            # its state, the baseline. Later, each is asked with the state last seen, and pcscd
            # answers when anything differs.
            request = [(name, w.state) for name, w in watched.items()]
            if pnp is not None:
                request.append((PNP_NOTIFICATION, pnp))
            if not request:  # no reader and nothing to wake us: look again later
                if self._stopping.wait(self.poll_interval):
                    return
                self._relist(context, watched)
                continue
            hresult, states = scard.SCardGetStatusChange(context, timeout_ms, request)
            if hresult == scard.SCARD_E_CANCELLED:
                continue  # close() woke us
            if hresult == scard.SCARD_E_UNKNOWN_READER:
                # A reader left between listing and waiting, or pcscd does not know the PnP
                # pseudo-reader: if the list is unchanged it is the latter, stop asking for it.
                before = set(watched)
                self._relist(context, watched)
                if set(watched) == before:
                    pnp = None
                continue
            if hresult not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
                raise _ServiceLost(self._explain(hresult))
            if hresult == scard.SCARD_S_SUCCESS:
                for name, event_state, atr in states:
                    if name == PNP_NOTIFICATION:
                        pnp = event_state
                    elif name in watched and not event_state & scard.SCARD_STATE_UNKNOWN:
                        self._observe(context, name, watched[name], event_state, bytes(atr))
            # Whatever woke us (a card, a reader plugged or pulled, or the time bound), look at
            # the reader list again: pcscd's PnP notice only covers changes during a wait.
            self._relist(context, watched)
            self._watching = tuple(name for name, w in watched.items() if w.seen)
            if not self._online:
                self._online = True
                if self._failing:
                    self._failing = False
                    log.info("PC/SC service (pcscd) reachable; watching %s",
                             ", ".join(self._watching) or "no reader yet")

    def _relist(self, context: int, watched: dict[str, _Watched]) -> None:
        """Bring ``watched`` in line with the readers pcscd offers now, logging the changes."""
        scard = self._scard
        hresult, names = scard.SCardListReaders(context, [])
        if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
            names = []
        elif hresult != scard.SCARD_S_SUCCESS:
            raise _ServiceLost(self._explain(hresult))
        wanted = [name for name in names if self._wanted(name)]
        for name in [name for name in watched if name not in wanted]:
            del watched[name]
            log.info("card reader gone: %s", name)
        for name in wanted:
            if name not in watched:
                watched[name] = _Watched()
                log.info("card reader found: %s", name)
        if wanted:
            self._no_reader_logged = None
        elif self._no_reader_logged != tuple(names):
            self._no_reader_logged = tuple(names)
            if names:
                log.warning("no card reader name contains %r (readers: %s); waiting for one",
                            self.reader_filter, ", ".join(names))
            else:
                log.warning("no card reader connected; waiting for one to be plugged in")

    def _wanted(self, name: str) -> bool:
        return self.reader_filter.casefold() in name.casefold()

    def _observe(self, context: int, name: str, watched: _Watched, event_state: int,
                 atr: bytes) -> None:
        scard = self._scard
        count = (event_state >> 16) & 0xFFFF
        mute = bool(event_state & scard.SCARD_STATE_MUTE)
        readable = bool(event_state & scard.SCARD_STATE_PRESENT) and not mute
        if not watched.seen:
            if readable:
                log.info("a card already lies on %s: not read; lift it and tap again", name)
        elif readable and (not watched.readable or count != watched.count):
            # Newly present, or the counter moved: it left and came back between two looks.
            self._read_card(context, name, atr)
        elif mute and count != watched.count:
            log.info("a card on %s does not answer (held too briefly, or not a card the reader "
                     "can power)", name)
        watched.state, watched.seen, watched.readable, watched.count = (
            event_state, True, readable, count)

    def _read_card(self, context: int, name: str, atr: bytes) -> None:
        scard = self._scard
        hresult, card, protocol = scard.SCardConnect(
            context, name, scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
        if hresult != scard.SCARD_S_SUCCESS:
            if hresult in (scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED,
                           scard.SCARD_F_COMM_ERROR):
                raise _ServiceLost(self._explain(hresult))
            self._not_read(name, hresult)
            return
        try:
            hresult, response = scard.SCardTransmit(card, protocol, GET_UID)
            if hresult != scard.SCARD_S_SUCCESS:
                self._not_read(name, hresult)
                return
            response = bytes(response)
            status = int.from_bytes(response[-2:], "big") if len(response) >= 2 else None
            uid = response[:-2]
            if status != 0x9000 or not uid:
                meaning = STATUS_WORDS.get(status or 0, "an unexpected answer")
                log.warning("card on %s ignored: the reader answered GET DATA (UID) with %s: %s",
                            name, response.hex(" ").upper() or "nothing", meaning)
                return
            token = TokenPresented(format_uid(uid, self.uid_format), token_kind(atr))
            log.debug("card on %s: UID %s", name, uid.hex().upper())
            self._emit(token)
            if self.feedback and any(model in name for model in FEEDBACK_READERS):
                self._signal(card, protocol, name)
        finally:
            hresult = scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
            if hresult != scard.SCARD_S_SUCCESS:
                log.debug("disconnect from %s: %s", name, self._explain(hresult))

    def _not_read(self, name: str, hresult: int) -> None:
        scard = self._scard
        if hresult in (scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD,
                       scard.SCARD_W_UNRESPONSIVE_CARD, scard.SCARD_W_UNPOWERED_CARD):
            # Swiped past rather than held: an everyday event, not a fault.
            log.info("card on %s left before it was read: %s", name, self._explain(hresult))
        else:  # e.g. a sharing violation: another program holds the reader exclusively
            log.warning("card on %s not read: %s", name, self._explain(hresult))

    def _signal(self, card: int, protocol: int, name: str) -> None:
        """Blink and beep: best effort, the tap has been read whatever happens here."""
        try:
            hresult, response = self._scard.SCardTransmit(card, protocol, FEEDBACK_APDU)
            if hresult != self._scard.SCARD_S_SUCCESS:
                log.debug("no feedback on %s: %s", name, self._explain(hresult))
            elif len(response) < 2 or response[-2] != 0x90:
                log.debug("no feedback on %s: it answered %s", name, bytes(response).hex(" "))
        except Exception:
            log.debug("no feedback on %s", name, exc_info=True)

    def _emit(self, token: TokenPresented) -> None:
        loop = self._loop
        if loop is None or self._stopping.is_set():
            return
        try:
            loop.call_soon_threadsafe(self._deliver, token)
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            log.debug("card %s read after the event loop closed", token.id_token)

    def _deliver(self, token: TokenPresented) -> None:
        if not self._ended:
            self._queue.put_nowait(token)

    def _cancel_wait(self) -> None:
        """Wake a worker blocked in SCardGetStatusChange (SCardCancel is meant to be called from
        another thread)."""
        with self._context_lock:
            if self._context is not None:
                self._scard.SCardCancel(self._context)

    def _explain(self, hresult: int) -> str:
        return f"{self._scard.SCardGetErrorMessage(hresult).rstrip('. ')} " \
               f"(0x{hresult & 0xFFFFFFFF:08X})"
