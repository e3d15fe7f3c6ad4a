"""Stand-in meters for the Modbus driver tests: a real pymodbus server serving a meter's registers,
over TCP on 127.0.0.1 or over RTU through a socat PTY pair, with faults that can be switched on.

The server holds registers only where a test puts them: a read touching any other address gets
exception 2 (illegal data address), as a meter answers a read of a reserved register. The
registers are written from datasheet facts in the test, never through the driver's own maps, so a
wrong address or encoding in a map shows up as a wrong value or an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

__all__ = ["MeterServer", "PtyPair", "words"]

#: Function codes of the two register tables.
FUNCTION = {"holding": 3, "input": 4}


def words(value: float | int, type_: str, word_order: str = "big") -> list[int]:
    """The 16-bit registers a meter holds ``value`` in, written with ``struct`` (not the driver's
    own decoder): ``type_`` is float32, int16, uint16, int32, uint32 or uint64."""
    code = {"float32": ">f", "int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I",
            "int64": ">q", "uint64": ">Q"}[type_]
    raw = struct.pack(code, value)
    regs = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
    return regs if word_order == "big" else regs[::-1]


class MeterServer:
    """A simulated meter at ``unit_id``: input and holding registers, served by pymodbus.

    Faults: ``exception`` (an ExcCodes member) answers every read with that exception,
    ``busy_reads`` the next so many reads with "device busy"; ``silent``
    answers nothing; ``garble`` answers frames whose bytes are scrambled (a CRC error on RTU,
    garbage on TCP); ``answer`` rewrites the PDU of every answer (function code and data) and
    frames the result correctly, as a meter would send a well-framed wrong answer. ``requests``
    records each read as ``(table, address, count)``.
    """

    def __init__(self, unit_id: int = 1) -> None:
        self.unit_id = unit_id
        self.tables: dict[str, dict[int, int]] = {"input": {}, "holding": {}}
        self.requests: list[tuple[str, int, int]] = []
        self.exception: ExcCodes | None = None
        self.busy_reads = 0  # answer this many next reads with exception 6 (device busy)
        self.silent = False
        self.garble = False
        self.answer: Callable[[bytes], bytes] | None = None
        self._rtu = False
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self.port: int | None = None

    # --- registers -------------------------------------------------------------------------------

    def put(self, table: str, address: int, regs: list[int]) -> None:
        """Hold ``regs`` from ``address`` on; before ``start_*()`` (use ``update()`` after)."""
        for i, reg in enumerate(regs):
            self.tables[table][address + i] = reg & 0xFFFF

    def fill(self, table: str, first: int, last: int, value: int = 0) -> None:
        """Hold ``value`` in every register from ``first`` to ``last``: a documented block whose
        other values the test does not care about."""
        for address in range(first, last + 1):
            self.tables[table].setdefault(address, value)

    async def update(self, table: str, address: int, regs: list[int]) -> None:
        """Change registers the server already holds, now."""
        for i, reg in enumerate(regs):
            self.tables[table][address + i] = reg & 0xFFFF
        if self._server is not None:
            await self._server.async_setValues(self.unit_id, FUNCTION[table], address, list(regs))

    # --- serving ---------------------------------------------------------------------------------

    async def start_tcp(self, port: int = 0) -> int:
        """Serve on 127.0.0.1 (a free port unless given); returns the port."""
        self._rtu = False
        self._server = ModbusTcpServer(self._device(), address=("127.0.0.1", port),
                                       trace_packet=self._trace)
        await self._server.serve_forever(background=True)
        self.port = self._server.transport.sockets[0].getsockname()[1]
        return self.port

    async def start_rtu(self, device: str, baudrate: int = 9600) -> None:
        """Serve Modbus RTU on a serial device (one end of a PtyPair)."""
        self._rtu = True
        self._server = ModbusSerialServer(self._device(), framer=FramerType.RTU, port=device,
                                          baudrate=baudrate, trace_packet=self._trace)
        await self._server.serve_forever(background=True)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(Exception):
                await server.shutdown()

    # --- inside ----------------------------------------------------------------------------------

    def _device(self) -> SimDevice:
        bits = [SimData(0, values=False, datatype=DataType.BITS)]
        return SimDevice(self.unit_id, action=self._action, simdata=(
            list(bits), list(bits), self._blocks("holding"), self._blocks("input")))

    def _blocks(self, table: str) -> list[SimData]:
        regs = self.tables[table]
        if not regs:
            # A table must hold something: one register far away from every map's values.
            return [SimData(0xFFF0, values=[0], datatype=DataType.REGISTERS)]
        blocks: list[SimData] = []
        run: list[int] = []
        start = previous = None
        for address in sorted(regs):
            if previous is not None and address != previous + 1:
                blocks.append(SimData(start, values=run, datatype=DataType.REGISTERS))
                run, start = [], None
            if start is None:
                start = address
            run.append(regs[address])
            previous = address
        blocks.append(SimData(start, values=run, datatype=DataType.REGISTERS))
        return blocks

    async def _action(self, function_code, _start, address, count, _registers, set_values):
        if set_values is not None:
            return None  # the test changing values, not a read
        table = {3: "holding", 4: "input"}.get(function_code, str(function_code))
        self.requests.append((table, address, count))
        if self.busy_reads > 0:
            self.busy_reads -= 1
            return ExcCodes.DEVICE_BUSY
        return self.exception

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            return data
        if self.silent:
            return b""
        if self.answer is not None:
            data = self._reframed(data)
        if self.garble:
            return bytes(b ^ 0x5A for b in data)
        return data

    def _reframed(self, frame: bytes) -> bytes:
        assert self.answer is not None
        if self._rtu:  # unit id, PDU, CRC
            body = frame[:1] + self.answer(frame[1:-2])
            return body + crc16(body).to_bytes(2, "little")
        # MBAP header: transaction id, protocol id, length (of unit id and PDU), unit id.
        pdu = self.answer(frame[7:])
        return frame[:4] + (len(pdu) + 1).to_bytes(2, "big") + frame[6:7] + pdu


def crc16(data: bytes) -> int:
    """The Modbus RTU CRC (CRC-16/MODBUS)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


class PtyPair:
    """Two linked pseudo-terminals made by socat: what one end writes, the other reads, like
    the two ends of an RS-485 bus. ``stop()`` removes both, as an unplugged adapter."""

    def __init__(self, folder: Path) -> None:
        self.server_end = str(folder / "meter-side")
        self.station_end = str(folder / "station-side")
        self._process: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("socat") is not None

    async def start(self) -> None:
        self._process = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={self.server_end}",
             f"pty,raw,echo=0,link={self.station_end}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(500):
            if os.path.exists(self.server_end) and os.path.exists(self.station_end):
                return
            if self._process.poll() is not None:
                break
            await asyncio.sleep(0.01)
        await self.stop()
        raise RuntimeError("socat did not create the PTY pair")

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        for _ in range(500):
            if process.poll() is not None:
                break
            await asyncio.sleep(0.01)
        else:
            process.kill()
            process.wait()
        # socat removes its links on exit; make sure, so that the port really is gone.
        for link in (self.server_end, self.station_end):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)
