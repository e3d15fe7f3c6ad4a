"""An energy meter on Modbus: RTU over an RS-485 adapter, or TCP.

Most DIN-rail meters in home chargers talk Modbus RTU on a two-wire RS-485 bus: the station is
the only master, asks, and the meter answers within a few tens of milliseconds or not at all.
A USB RS-485 adapter appears as ``/dev/ttyUSB0`` (better: its stable name under
``/dev/serial/by-id/``, which survives the adapter being unplugged and coming back as another
tty). The bus settings (baud rate, parity, stop bits) and the meter's *unit id* (1 to 247) are
set on the meter's own menu and must match. A meter with an Ethernet port, or an RS-485 to
Ethernet gateway, speaks Modbus TCP instead (port 502)::

    meter = ModbusMeter(ModbusRtu("/dev/serial/by-id/usb-FTDI_…-port0", baudrate=9600),
                        load_register_map("sdm630"), unit_id=1)
    await meter.start()
    reading = await meter.read()      # MeterReading, or DriverError

What a meter is asked for is its :mod:`register map <pievse.drivers.modbus.register_maps>`; every
reading
asks for all the map's values in as few requests as the map allows.

A bus fails in ordinary ways: the meter does not answer (timeout), a frame arrives damaged (CRC
error, read as no answer), the meter answers with an exception (busy, or an address it does not
have), the adapter is unplugged, the TCP gateway restarts. Each read tries ``retries`` more times,
waiting ``retry_delay`` and twice that and so on, reopening the port in between. When all tries
fail the meter is *offline*: logged once, ``online`` is False (the daemon reports it as
StatusNotification errorCode PowerMeterFailure), and further reads fail at once, without touching
the bus, until a backoff (doubling up to ``backoff_max``) has passed; then the next read tries
again, and a success brings it back online with no restart.

An import energy register never goes backwards. A reading whose energy is lower than the last good
one is rejected (a meter replaced or reset, or a map reading the wrong register): it raises
DriverError, as does every failure, and the message says which last good reading the transactions
go on with. Whether a reading is plausible beyond that (within what the connection can deliver)
is the station's judgement; a reading it rejects is handed back with ``discard()``, so that a
spike does not become the reference the next reading is compared with.

An answer is checked as a frame before its registers are used: it must answer the function asked
(3 or 4) with exactly the registers asked for; an exception answer names its code. pymodbus drops
an answer it cannot decode at all (an unknown function code, a truncated frame) and closes the
connection from inside asyncio's callbacks, which would log a traceback: the driver cuts that to
one line, and the read fails as one without an answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusIOException

from pievse.drivers.contracts import DriverError, MeterReading
from pievse.drivers.modbus.register_maps import ReadRequest, RegisterMap

__all__ = ["ModbusMeter", "ModbusRtu", "ModbusTcp"]

log = logging.getLogger(__name__)

PARITIES = {"N": "none", "E": "even", "O": "odd"}

#: The function codes of a read of each register table.
FUNCTION_CODES = {"holding": 3, "input": 4}

#: Modbus exception codes, as the meter's answer names them.
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


@dataclass(frozen=True, slots=True)
class ModbusRtu:
    """A meter on an RS-485 bus behind a serial adapter.

    ``parity`` is "N" (none), "E" (even) or "O" (odd); with no parity most meters want two stop
    bits by the standard, but many ship with 8N1: copy what the meter's menu shows.
    """

    port: str
    baudrate: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8

    def __post_init__(self) -> None:
        if not self.port:
            raise ValueError("the serial port must be named, e.g. /dev/ttyUSB0")
        if self.parity not in PARITIES:
            raise ValueError(f"parity must be N, E or O, not {self.parity!r}")
        if self.stopbits not in (1, 2):
            raise ValueError(f"stop bits must be 1 or 2, not {self.stopbits!r}")
        if self.bytesize not in (7, 8):
            raise ValueError(f"data bits must be 7 or 8, not {self.bytesize!r}")
        if not isinstance(self.baudrate, int) or self.baudrate <= 0:
            raise ValueError(f"the baud rate must be a positive whole number, not "
                             f"{self.baudrate!r}")

    def __str__(self) -> str:
        return f"{self.port} ({self.baudrate} {self.bytesize}{self.parity}{self.stopbits})"


@dataclass(frozen=True, slots=True)
class ModbusTcp:
    """A meter (or an RS-485 gateway) reached over Modbus TCP."""

    host: str
    port: int = 502

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("the host of a Modbus TCP meter must be named")
        if not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ValueError(f"the TCP port must be 1 to 65535, not {self.port!r}")

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class _BusError(Exception):
    """One try at reading the meter failed; the message says how."""


class ModbusMeter:
    """An energy meter read over Modbus; implements :class:`~pievse.drivers.contracts.EnergyMeter`.

    ``timeout`` bounds each request (a 9600-baud meter answers 80 registers in ~0.2 s);
    ``retries`` more tries follow a failed one within the same read, after ``retry_delay``,
    doubling; once offline, the bus is left alone for ``retry_delay`` doubling up to
    ``backoff_max`` between tries. ``clock`` (monotonic) paces that; ``wall_clock`` stamps the
    readings.
    """

    def __init__(
        self,
        connection: ModbusRtu | ModbusTcp,
        register_map: RegisterMap,
        *,
        unit_id: int = 1,
        timeout: float = 1.0,
        retries: int = 2,
        retry_delay: float = 0.2,
        backoff_max: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(connection, (ModbusRtu, ModbusTcp)):
            raise TypeError(f"connection must be ModbusRtu or ModbusTcp, not {connection!r}")
        if not isinstance(unit_id, int) or not 1 <= unit_id <= 247:
            raise ValueError(f"the unit id must be 1 to 247, not {unit_id!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be above 0 s, not {timeout!r}")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be 0 or more, not {retries!r}")
        if not retry_delay >= 0 or not backoff_max >= retry_delay:
            raise ValueError(f"need 0 <= retry_delay ({retry_delay!r}) <= backoff_max "
                             f"({backoff_max!r})")
        self.connection = connection
        self.register_map = register_map
        self.unit_id = unit_id
        self.timeout = float(timeout)
        self.retries = retries
        self.retry_delay = float(retry_delay)
        self.backoff_max = float(backoff_max)
        self._clock = clock
        self._wall_clock = wall_clock
        self._requests = register_map.requests()
        self._client: AsyncModbusSerialClient | AsyncModbusTcpClient | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._online = False
        self._problem: str | None = "not read yet"
        self._offline_since: float | None = None  # clock() of the failure that took it offline
        self._next_try = 0.0
        self._backoff = 0.0
        self._rejecting = False  # a backwards energy is being rejected (logged once)
        self._last: MeterReading | None = None
        self._before_last: MeterReading | None = None  # what ``discard()`` goes back to

    # --- EnergyMeter -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the port (or connection). A meter that does not answer yet is no reason to stop
        the station: a failure here is logged, leaves the meter offline and the next read tries
        again."""
        self._closed = False
        _quiet_pymodbus()
        async with self._lock:
            try:
                await self._connect()
            except _BusError as error:
                self._went_offline(str(error))

    async def read(self) -> MeterReading:
        """Read every value of the map now; raises DriverError when the meter cannot give a
        reading that can be trusted."""
        if self._closed:
            raise DriverError(f"{self.name} is closed")
        async with self._lock:
            if self._offline_since is not None and self._clock() < self._next_try:
                raise DriverError(self._offline_message())
            try:
                answers = await self._read_with_retries()
            except _BusError as error:
                self._went_offline(str(error))
                raise DriverError(self._offline_message()) from None
            try:
                reading = self.register_map.reading(self.register_map.decode(answers),
                                                    self._wall_clock())
            except ValueError as error:
                self._went_offline(str(error), backoff=False)
                raise DriverError(self._offline_message()) from None
            last = self._last
            if last is not None and reading.energy_import_wh < last.energy_import_wh:
                self._reject_backwards(reading, last)
            self._came_online(reading)
            self._before_last, self._last = last, reading
            return reading

    def discard(self, reading: MeterReading) -> None:
        """The station found ``reading`` implausible (a spike) and goes on with the one before it:
        so does the driver, which compares the next energy with that one again."""
        if reading is self._last:
            self._last = self._before_last

    async def close(self) -> None:
        """Close the port. Never raises."""
        self._closed = True
        self._disconnect()

    # --- state for the daemon and the status API ----------------------------------------------

    @property
    def name(self) -> str:
        return f"{self.register_map.model} (unit {self.unit_id} on {self.connection})"

    @property
    def online(self) -> bool:
        """Whether the last read gave a reading. False before the first one, while the meter does
        not answer and while its readings are rejected: report PowerMeterFailure then."""
        return self._online

    @property
    def problem(self) -> str | None:
        """Why the meter is not online, in words; None while it is."""
        return None if self._online else self._problem

    @property
    def last_reading(self) -> MeterReading | None:
        """The last good reading: the one transactions go on with while the meter is offline."""
        return self._last

    # --- inside ----------------------------------------------------------------------------------

    async def _read_with_retries(self) -> dict[ReadRequest, list[int]]:
        delay = self.retry_delay
        for attempt in range(self.retries + 1):
            try:
                if self._client is None:
                    await self._connect()
                return {request: await self._read(request) for request in self._requests}
            except _BusError as error:
                # Start the next try from a fresh port: it drops a late answer still on its way
                # and notices an adapter that went away.
                self._disconnect()
                if attempt == self.retries:
                    raise
                log.debug("%s: try %d of %d failed: %s", self.name, attempt + 1,
                          self.retries + 1, error)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def _read(self, request: ReadRequest) -> list[int]:
        assert self._client is not None
        if request.register == "input":
            call = self._client.read_input_registers
        else:
            call = self._client.read_holding_registers
        what = request.describe()
        try:
            # pymodbus bounds the wait for the answer itself; the outer bound is for the rare
            # case where it does not (a transport that stalls on write).
            answer = await asyncio.wait_for(
                call(request.address, count=request.count, device_id=self.unit_id),
                self.timeout * 2 + 1)
        except (ModbusIOException, TimeoutError):
            # A damaged frame (CRC error, garbage) is dropped by the framer: it looks the same.
            raise _BusError(f"no answer within {self.timeout:g} s to a read of {what}") from None
        except ConnectionException:
            raise _BusError(f"connection lost before a read of {what}") from None
        except Exception as error:  # pymodbus does not keep to its own exceptions
            raise _BusError(f"a read of {what} failed: {_reason(error)}") from None
        if answer.isError():
            code = getattr(answer, "exception_code", 0)
            raise _BusError(f"the meter answered exception {code} "
                            f"({EXCEPTION_NAMES.get(code, 'unknown')}) to a read of "
                            f"{request.describe()}"
                            + ("; is the model (register map) right?" if code == 2 else ""))
        function = getattr(answer, "function_code", None)
        if function != FUNCTION_CODES[request.register]:
            raise _BusError(f"the meter answered function {function} to a read of {what} "
                            f"(function {FUNCTION_CODES[request.register]})")
        words = list(getattr(answer, "registers", []))
        if len(words) != request.count:
            raise _BusError(f"the meter answered {len(words)} registers to a read of "
                            f"{request.describe()}")
        return words

    async def _connect(self) -> None:
        self._disconnect()
        connection = self.connection
        if isinstance(connection, ModbusRtu):
            # reconnect_delay=0: pymodbus must not reconnect on its own; this driver decides
            # when to touch the bus again. retries=0: the driver's own retries are the only ones.
            client: AsyncModbusSerialClient | AsyncModbusTcpClient = AsyncModbusSerialClient(
                connection.port, baudrate=connection.baudrate, parity=connection.parity,
                stopbits=connection.stopbits, bytesize=connection.bytesize,
                timeout=self.timeout, retries=0, reconnect_delay=0, name="meter")
        else:
            client = AsyncModbusTcpClient(connection.host, port=connection.port,
                                          timeout=self.timeout, retries=0, reconnect_delay=0,
                                          name="meter")
        try:
            connected = await client.connect()
        except Exception as error:  # pyserial raises its own errors for odd ports
            connected = False
            reason = _reason(error)
        else:
            reason = ""
        if not connected:
            with contextlib.suppress(Exception):
                client.close()
            if isinstance(connection, ModbusRtu):
                if not os.path.exists(connection.port):
                    reason = "it does not exist: adapter unplugged?"
                raise _BusError(f"cannot open serial port {connection.port}"
                                + (f": {reason}" if reason else ""))
            raise _BusError(f"cannot connect to {connection}" + (f": {reason}" if reason else ""))
        self._client = client

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def _went_offline(self, why: str, backoff: bool = True) -> None:
        now = self._clock()
        first = self._offline_since is None
        if first:
            self._offline_since = now
            self._backoff = self.retry_delay
        elif backoff:
            self._backoff = min(max(self._backoff * 2, self.retry_delay), self.backoff_max)
        self._next_try = now + (self._backoff if backoff else 0.0)
        self._online = False
        self._problem = why
        if first:
            log.error("%s offline: %s; %s", self.name, why, self._carry_on())
        else:
            log.debug("%s still offline: %s", self.name, why)

    def _came_online(self, reading: MeterReading) -> None:
        if self._offline_since is not None:
            log.warning("%s back online after %.0f s: %s", self.name,
                        self._clock() - self._offline_since, _wh(reading.energy_import_wh))
        elif self._last is None:
            log.info("%s online: %s", self.name, _wh(reading.energy_import_wh))
        elif self._rejecting:
            log.warning("%s: energy readings accepted again", self.name)
        self._offline_since = None
        self._backoff = 0.0
        self._rejecting = False
        self._online = True
        self._problem = None

    def _reject_backwards(self, reading: MeterReading, last: MeterReading) -> None:
        why = (f"energy went backwards from {_wh(last.energy_import_wh)} to "
               f"{_wh(reading.energy_import_wh)}: reading rejected (meter replaced or reset, "
               f"or the wrong register map?)")
        if not self._rejecting:
            log.error("%s: %s; %s", self.name, why, self._carry_on())
        self._rejecting = True
        self._online = False
        self._problem = why
        # The bus works: no backoff, the next read looks again.
        raise DriverError(f"{self.name}: {why}; {self._carry_on()}")

    def _offline_message(self) -> str:
        wait = max(0.0, self._next_try - self._clock())
        retry = f"next try in {wait:.1f} s" if wait > 0 else "next read tries again"
        return f"{self.name} offline: {self._problem}; {retry}; {self._carry_on()}"

    def _carry_on(self) -> str:
        last = self._last
        if last is None:
            return "no good reading yet"
        at = datetime.fromtimestamp(last.timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (f"transactions go on with the last good energy reading, "
                f"{_wh(last.energy_import_wh)} at {at}")

    def __repr__(self) -> str:
        state = "online" if self._online else f"offline: {self._problem}"
        return f"ModbusMeter({self.name}, {state})"


def _wh(value: float) -> str:
    return f"{value:.1f} Wh" if math.isfinite(value) else f"{value!r} Wh"


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    # pymodbus wraps its messages in "Modbus Error: [...]": keep the words, not the wrapping.
    return text.replace("Modbus Error: ", "") or type(error).__name__


def _quiet_pymodbus() -> None:
    """pymodbus logs every timeout and failed connect itself, a line per try; this driver logs
    one line per change of state instead. At debug level both speak."""
    if not log.isEnabledFor(logging.DEBUG):
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    logging.getLogger("asyncio").addFilter(_PYMODBUS_TRACEBACKS)


class _OneLineForPymodbus(logging.Filter):
    """Cuts a traceback raised inside pymodbus to one line with its cause.

    pymodbus decodes answers in asyncio's ``data_received`` callback; an answer it cannot decode
    raises there, and asyncio logs "Fatal error: protocol.data_received() call failed" with the
    whole traceback before it closes the connection. What a person needs is the cause; the read
    that waited for the answer fails on its own and the driver reports that."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is None or not _raised_in_pymodbus(error):
            return True
        record.msg = "Modbus connection closed on an answer pymodbus cannot read: %s"
        record.args = (_reason(error),)
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


def _raised_in_pymodbus(error: BaseException) -> bool:
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_globals.get("__name__", "").startswith("pymodbus."):
            return True
        frame = frame.tb_next
    return type(error).__module__.startswith("pymodbus.")


_PYMODBUS_TRACEBACKS = _OneLineForPymodbus()
