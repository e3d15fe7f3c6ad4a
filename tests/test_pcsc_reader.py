"""The PC/SC card reader driver against a real pcscd with vsmartcard's virtual reader: a card
played by the test (tests/vpcd_card.py) is tapped, left on the reader, lifted, tapped on two
readers at once, refused by the reader; pcscd itself stops and comes back.

pcscd is one per machine, so one runs for the whole session (started here unless one already
runs); the tests that stop or rename it need to own it and leave it as they found it.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import pytest

from pievse.drivers.contracts import DriverError, TokenPresented, TokenReader
from pievse.drivers.pcsc import FEEDBACK_APDU, PcscReader, format_uid
from tests.conftest import eventually
from tests.vpcd_card import GET_UID, ISO15693_TAG_ATR, PcscDaemon, VirtualCard

LOGGER = "pievse.drivers.pcsc"
READER_0, READER_1 = "Virtual PCD 00 00", "Virtual PCD 00 01"
ACR122U = "ACS ACR122U PICC Interface"
UID = "04A224B2C15E80"  # a 7-byte ISO 14443 A UID, as NXP cards have
OTHER_UID = "DEADBEEF"
#: A card event arrives ~0.4 s after the card does (pcscd polls the virtual reader that often);
#: this is for a slow, loaded machine.
CARD_TIMEOUT = 10.0
#: Quick retries, so that the tests see several while pcscd is away.
QUICK_RETRY = dict(retry_delay=0.05, backoff_max=0.2)


# --- fixtures ---------------------------------------------------------------------------------


class Taps:
    """The tokens a started driver presents, collected as they come."""

    def __init__(self, reader: PcscReader) -> None:
        self.reader = reader
        self.tokens: list[TokenPresented] = []
        self.ended = False
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for token in self.reader.tokens():
            self.tokens.append(token)
        self.ended = True

    async def wait_for(self, count: int, what: str = "") -> list[TokenPresented]:
        await eventually(lambda: len(self.tokens) >= count,
                         what=what or f"{count} card event(s)", timeout=CARD_TIMEOUT)
        return self.tokens

    def ids(self) -> list[str]:
        return [token.id_token for token in self.tokens]


@pytest.fixture
async def watch(pcscd: PcscDaemon) -> AsyncIterator[Callable[..., object]]:
    """Start a driver and wait until it watches ``expect`` readers; returns its Taps."""
    started: list[Taps] = []

    async def start(expect: tuple[str, ...] = (READER_0, READER_1), **options) -> Taps:
        reader = PcscReader(**{**QUICK_RETRY, **options})
        await reader.start()
        taps = Taps(reader)
        started.append(taps)
        if expect:
            await eventually(lambda: set(expect) <= set(reader.readers),
                             what=f"the driver watching {expect}", timeout=CARD_TIMEOUT)
        return taps

    yield start
    for taps in started:
        await taps.reader.close()
        await asyncio.wait_for(taps._task, 5)


async def on_reader(pcscd: PcscDaemon, reader: str = READER_0) -> None:
    """Wait until pcscd reports a card on ``reader``."""
    await eventually(lambda: pcscd.card_present(reader), what=f"pcscd seeing a card on {reader}",
                     timeout=CARD_TIMEOUT)


async def lift(card: VirtualCard, pcscd: PcscDaemon, reader: str = READER_0) -> None:
    """Take the card off and wait until pcscd notices, as a hand lifting it would take longer
    than pcscd's 0.4 s poll of the virtual reader (put back sooner, pcscd would see no change)."""
    card.remove()
    await eventually(lambda: not pcscd.card_present(reader),
                     what=f"pcscd seeing the card leave {reader}", timeout=CARD_TIMEOUT)


def uid_reads(card: VirtualCard) -> int:
    return card.apdus.count(GET_UID)


# --- a tap is one event -----------------------------------------------------------------------


async def test_a_tapped_card_is_presented_once_with_its_uid_in_upper_case_hex(watch, card):
    taps = await watch()
    card().insert(UID.lower(), slot=0)
    assert await taps.wait_for(1) == [TokenPresented(UID, "ISO14443")]
    assert isinstance(taps.reader, TokenReader)


async def test_a_card_left_on_the_reader_is_not_presented_again(watch, card, pcscd):
    taps = await watch()
    left = card()
    left.insert(UID, slot=0)
    await taps.wait_for(1)
    # While it lies there, another card comes and goes twice on the other reader: pcscd polls
    # both readers many times meanwhile, and the driver reads only the new taps.
    other = card()
    for n in (2, 3):
        other.insert(OTHER_UID, slot=1)
        await taps.wait_for(n)
        await lift(other, pcscd, READER_1)
    assert taps.ids() == [UID, OTHER_UID, OTHER_UID]
    assert uid_reads(left) == 1


async def test_a_card_lifted_and_tapped_again_is_presented_again(watch, card, pcscd):
    taps = await watch()
    tapped = card()
    tapped.insert(UID, slot=0)
    await taps.wait_for(1)
    await lift(tapped, pcscd)
    tapped.insert(UID, slot=0)
    assert [t.id_token for t in await taps.wait_for(2)] == [UID, UID]


async def test_a_card_already_on_the_reader_at_start_is_not_presented(watch, card, pcscd):
    waiting = card()
    waiting.insert(UID, slot=0)
    await on_reader(pcscd)
    taps = await watch()
    card().insert(OTHER_UID, slot=1)
    await taps.wait_for(1)
    await lift(waiting, pcscd)
    waiting.insert(UID, slot=0)  # lifted and tapped: now it counts
    await taps.wait_for(2)
    assert taps.ids() == [OTHER_UID, UID]


async def test_two_cards_on_two_readers_are_both_presented(watch, card):
    taps = await watch()
    card().insert(UID, slot=0)
    card().insert(OTHER_UID, slot=1)
    await taps.wait_for(2)
    assert sorted(taps.ids()) == sorted([UID, OTHER_UID])


# --- what the token says ----------------------------------------------------------------------


@pytest.mark.parametrize(("uid_format", "expected"), [
    ("hex-reversed", "805EC1B224A204"),
    ("decimal", str(0x04A224B2C15E80)),
])
async def test_the_uid_can_be_presented_reversed_or_in_decimal(watch, card, uid_format, expected):
    taps = await watch(uid_format=uid_format)
    card().insert(UID, slot=0)
    assert (await taps.wait_for(1))[0].id_token == expected


def test_an_unknown_uid_format_is_refused_when_the_driver_is_made():
    with pytest.raises(ValueError, match="uid_format"):
        PcscReader(uid_format="base64")  # type: ignore[arg-type]
    assert format_uid(bytes.fromhex("00000001"), "decimal") == "1"


async def test_an_iso15693_tag_is_presented_as_iso15693(watch, card):
    taps = await watch()
    card().insert("E004010012345678", slot=0, atr=ISO15693_TAG_ATR)
    assert await taps.wait_for(1) == [TokenPresented("E004010012345678", "ISO15693")]


# --- which readers ----------------------------------------------------------------------------


async def test_only_readers_whose_name_contains_the_filter_are_watched(watch, card, pcscd):
    taps = await watch(expect=(READER_1,), reader="pcd 00 01")  # any case
    assert taps.reader.readers == (READER_1,)
    unwatched = card()
    unwatched.insert(OTHER_UID, slot=0)  # a tap on the reader left out
    await on_reader(pcscd, READER_0)
    card().insert(UID, slot=1)
    await taps.wait_for(1)
    assert taps.ids() == [UID]
    assert uid_reads(unwatched) == 0


async def test_a_filter_that_matches_no_reader_is_logged_once_and_reads_nothing(
        watch, card, pcscd, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    taps = await watch(expect=(), reader="ACR122", poll_interval=0.05)
    await eventually(lambda: taps.reader.online, what="the driver reaching pcscd")
    # Taps on the readers left out, while the driver looks at the reader list every 0.05 s:
    # each tap takes pcscd at least one 0.4 s poll, so the driver looks many times meanwhile.
    tapped = card()
    for _ in range(3):
        tapped.insert(UID, slot=0)
        await on_reader(pcscd)
        await lift(tapped, pcscd)
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "no card reader name contains 'ACR122' (readers: Virtual PCD 00 00, Virtual PCD 00 01);"
        " waiting for one"]
    assert taps.reader.readers == () and taps.tokens == [] and uid_reads(tapped) == 0
    assert taps.reader.problem == "no card reader connected", "reported as ReaderFailure"


# --- cards and readers that misbehave ---------------------------------------------------------


async def test_a_card_whose_uid_the_reader_refuses_is_ignored_and_the_next_tap_is_read(
        watch, card, pcscd, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    taps = await watch()
    refused = card()
    refused.insert(UID, slot=0, uid_status=bytes.fromhex("6A81"))
    await eventually(lambda: any("6A 81" in r.getMessage() for r in caplog.records),
                     what="the refusal logged", timeout=CARD_TIMEOUT)
    await lift(refused, pcscd)
    card().insert(OTHER_UID, slot=0)
    await taps.wait_for(1)
    assert taps.ids() == [OTHER_UID]


async def test_pcscd_stopped_is_logged_once_and_a_tap_after_its_restart_is_read(
        own_pcscd, watch, card, caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    taps = await watch()
    first = card()
    first.insert(UID, slot=0)
    await taps.wait_for(1)
    await lift(first, own_pcscd)

    await asyncio.to_thread(own_pcscd.stop)
    await eventually(lambda: not taps.reader.online, what="the driver noticing")
    await eventually(lambda: taps.reader.problem == "PC/SC service (pcscd) not reachable",
                     what="the problem the station reports as ReaderFailure")
    # Let it try again several times: each try is a DEBUG line, never another ERROR.
    await eventually(lambda: sum("next attempt" in r.getMessage() for r in caplog.records) >= 4,
                     what="several retries")
    assert taps.reader.running

    await asyncio.to_thread(own_pcscd.start)
    await eventually(lambda: any("reachable" in r.getMessage() for r in caplog.records),
                     what="the recovery logged", timeout=CARD_TIMEOUT)
    await eventually(lambda: {READER_0, READER_1} <= set(taps.reader.readers),
                     what="the readers watched again", timeout=CARD_TIMEOUT)
    card().insert(OTHER_UID, slot=1)
    await taps.wait_for(2)
    assert taps.ids() == [UID, OTHER_UID]
    assert taps.reader.problem is None
    errors = [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "pcscd" in errors[0].getMessage()


async def test_a_driver_started_before_pcscd_waits_for_it(own_pcscd, watch, card, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    await asyncio.to_thread(own_pcscd.stop)
    taps = await watch(expect=())  # start() does not fail
    await eventually(lambda: any(r.levelno == logging.ERROR for r in caplog.records),
                     what="pcscd's absence logged")
    await asyncio.to_thread(own_pcscd.start)
    await eventually(lambda: {READER_0, READER_1} <= set(taps.reader.readers),
                     what="the readers watched", timeout=CARD_TIMEOUT)
    card().insert(UID, slot=0)
    assert [t.id_token for t in await taps.wait_for(1)] == [UID]


# --- feedback ---------------------------------------------------------------------------------


async def test_an_acr122u_blinks_and_beeps_after_each_read_when_asked(
        own_pcscd, watch, card):
    await asyncio.to_thread(own_pcscd.restart, ACR122U)
    taps = await watch(expect=(f"{ACR122U} 00 00",), feedback=True)
    tapped = card()
    tapped.insert(UID, slot=0)
    # The virtual card answers the LED command 6A 81, like a reader without LEDs: ignored.
    await taps.wait_for(1)
    await eventually(lambda: len(tapped.apdus) >= 2, what="the feedback command")
    assert tapped.apdus == [GET_UID, bytes(FEEDBACK_APDU)]


async def read_two_cards(taps: Taps, card) -> VirtualCard:
    """Tap a card, then another: the driver reads one card at a time, so once the second is
    presented it is done with the first, including any feedback."""
    tapped = card()
    tapped.insert(UID, slot=0)
    await taps.wait_for(1)
    card().insert(OTHER_UID, slot=1)
    await taps.wait_for(2)
    return tapped


async def test_feedback_goes_only_to_readers_that_understand_it(watch, card):
    taps = await watch(feedback=True)
    assert (await read_two_cards(taps, card)).apdus == [GET_UID]


async def test_without_feedback_an_acr122u_is_only_read(own_pcscd, watch, card):
    await asyncio.to_thread(own_pcscd.restart, ACR122U)
    taps = await watch(expect=(f"{ACR122U} 00 00", f"{ACR122U} 00 01"))
    assert (await read_two_cards(taps, card)).apdus == [GET_UID]


# --- life cycle -------------------------------------------------------------------------------


async def test_close_while_idle_returns_promptly_and_ends_the_token_stream(watch):
    # A wait of ten minutes: close() must cancel it, not sit it out.
    taps = await watch(poll_interval=600)
    await asyncio.wait_for(taps.reader.close(), 5)
    assert not taps.reader.running
    await eventually(lambda: taps.ended, what="the token stream ending")
    await taps.reader.close()  # twice is harmless


async def test_without_pyscard_start_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "smartcard", None)  # as if it were not installed
    with pytest.raises(DriverError, match="pyscard") as raised:
        await PcscReader().start()
    assert "pcscd" in str(raised.value) and "libpcsclite-dev" in str(raised.value)


def test_importing_the_driver_does_not_load_pyscard():
    code = "import sys, pievse.drivers.pcsc; print('smartcard' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
