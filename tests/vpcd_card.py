"""A contactless card for vsmartcard's virtual reader (vpcd), held by the test.

pcscd loads vpcd like the driver of any serial reader; instead of a serial port, each slot of the
virtual reader listens on a TCP port (127.0.0.1:31355 for slot 0 of the pcscd the tests start,
35963 for the system's; the next port for slot 1) and a *card* is whatever connects there. This
card speaks vpcd's small protocol: every message, either way, is a 2-byte big-endian length
followed by that many bytes. From the reader come one-byte control messages (power off, power
on, reset: no answer; "send your ATR": the ATR) and command APDUs, each answered with a response
APDU. Closing the socket is pulling the card off the reader.

It plays a contactless card behind a PC/SC part 3 reader: the ATR is the one such readers build
for a storage card, and the reader's GET DATA pseudo-APDU (``FF CA 00 00 00``) returns the UID.
Every APDU received is recorded in ``apdus``, so a test can see what the driver sent.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

__all__ = [
    "GET_UID",
    "ISO15693_TAG_ATR",
    "MIFARE_CLASSIC_1K_ATR",
    "PcscDaemon",
    "SW_FUNCTION_NOT_SUPPORTED",
    "SW_OK",
    "VPCD_PORT",
    "VirtualCard",
    "contactless_atr",
]

VPCD_HOST = "127.0.0.1"
#: Port of slot 0 of the system's virtual reader (0x8C7B, the CHANNELID of
#: /etc/reader.conf.d/vpcd).
VPCD_PORT = 0x8C7B
#: Port of slot 0 of the virtual reader of a pcscd the tests start: below Linux's ephemeral
#: ports (32768 on), where the system's 35963 lies, so that no outgoing connection of a busy run
#: (a fleet of thousands on the loopback) holds it when pcscd starts.
OWN_VPCD_PORT = 0x7A7B
#: The port of slot 0 of the pcscd in use in this process (set when it is started or adopted).
_vpcd_port = VPCD_PORT

# vpcd's one-byte control messages.
POWER_OFF, POWER_ON, RESET, GET_ATR = 0x00, 0x01, 0x02, 0x04

GET_UID = bytes.fromhex("FFCA000000")
SW_OK = bytes.fromhex("9000")
SW_FUNCTION_NOT_SUPPORTED = bytes.fromhex("6A81")


def contactless_atr(standard: int, card_name: int) -> bytes:
    """The ATR a PC/SC part 3 reader makes up for a contactless storage card.

    A contactless card has no ATR of its own; the reader builds one whose historical bytes carry
    the PC/SC registered application id (RID A0 00 00 03 06), the ``standard`` byte (0x03 ISO
    14443 A part 3, 0x0B ISO 15693 part 3, ...) and a two-byte ``card_name`` (0x0001 MIFARE
    Classic 1K), closed by the TCK check byte (XOR of every byte after TS).
    """
    historical = bytes([0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, standard]) \
        + card_name.to_bytes(2, "big") + bytes(4)
    body = bytes([0x8F, 0x80, 0x01]) + historical  # T0 (15 historical bytes), TD1, TD2
    tck = 0
    for byte in body:
        tck ^= byte
    return bytes([0x3B]) + body + bytes([tck])


MIFARE_CLASSIC_1K_ATR = contactless_atr(0x03, 0x0001)
ISO15693_TAG_ATR = contactless_atr(0x0B, 0x0000)


class VirtualCard:
    """One card, inserted into a slot of the virtual reader by ``insert()`` and pulled off by
    ``remove()``; the reader's side is served by a thread of its own, so the card answers while
    the test awaits the driver's events.

    ``uid_status`` is the status word answered to GET DATA: anything other than 90 00 is answered
    without a UID, as a reader does when the card would not give one.
    """

    def __init__(self) -> None:
        self.apdus: list[bytes] = []
        self.apdu_times: list[float] = []  # time.monotonic() at which each APDU arrived
        self.powered_at: float | None = None  # time.monotonic() of pcscd's last ATR request
        self.uid = b""
        self.atr = MIFARE_CLASSIC_1K_ATR
        self.uid_status = SW_OK
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> VirtualCard:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.remove()

    @property
    def inserted(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def insert(self, uid: str | bytes, slot: int = 0, *, atr: bytes = MIFARE_CLASSIC_1K_ATR,
               uid_status: bytes = SW_OK, port: int | None = None, timeout: float = 10.0
               ) -> None:
        """Put the card on ``slot`` of the virtual reader at ``port`` (slot n listens on
        ``port + n``; by default the reader of the pcscd in use). Waits up to ``timeout`` for
        the reader to listen (pcscd just started)."""
        if self.inserted:
            raise RuntimeError("the card is already on a reader: remove() it first")
        self.uid = bytes.fromhex(uid) if isinstance(uid, str) else bytes(uid)
        self.atr, self.uid_status = atr, uid_status
        address = (VPCD_HOST, (_vpcd_port if port is None else port) + slot)
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection(address, timeout=2.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        sock.settimeout(None)
        # Each message is a few bytes answered at once: without NODELAY, Nagle holds our answer
        # back until the reader acknowledges the last one, and without QUICKACK the kernel delays
        # that acknowledgement (~40 ms); both together stall every APDU.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,),
                                        name=f"vpcd-card-{address[1]}", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        """Pull the card off the reader (close the connection). Harmless if not inserted."""
        sock, self._socket = self._socket, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # pcscd already closed its end
            sock.close()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0)

    # --- the reader's side ---------------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                message = self._receive(sock)
                if message is None:
                    return  # the card was removed, or pcscd stopped
                answer = self._answer(message)
                if answer is not None:
                    sock.sendall(len(answer).to_bytes(2, "big") + answer)
        except OSError:
            return

    def _answer(self, message: bytes) -> bytes | None:
        if len(message) == 1:  # a control message; only the ATR request wants an answer
            if message[0] != GET_ATR:
                return None
            self.powered_at = time.monotonic()  # pcscd found the card and powers it
            return self.atr
        self.apdus.append(message)
        self.apdu_times.append(time.monotonic())
        if message == GET_UID:
            return self.uid + SW_OK if self.uid_status == SW_OK else self.uid_status
        return SW_FUNCTION_NOT_SUPPORTED

    @staticmethod
    def _receive(sock: socket.socket) -> bytes | None:
        header = VirtualCard._exactly(sock, 2)
        if header is None:
            return None
        return VirtualCard._exactly(sock, int.from_bytes(header, "big"))

    @staticmethod
    def _exactly(sock: socket.socket, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            # Linux clears QUICKACK after a while: set it again before every read.
            if hasattr(socket, "TCP_QUICKACK"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            chunk = sock.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data


class PcscDaemon:
    """pcscd serving vpcd's virtual readers. There is one per machine (its socket and pid file
    live at fixed paths under /run/pcscd, the virtual reader at fixed ports), so a test session
    first takes a machine-wide lock (``acquire()``): two sessions running at once (two pytest runs
    of the suite) would otherwise start two pcscds, or put two cards in one slot.

    ``ensure_running()`` adopts a pcscd that already runs (``owned`` False: the tests cannot stop
    it) or starts ``pcscd -f`` with a copy of the system's vpcd configuration (``owned`` True);
    a pcscd left behind by a test session that was killed is recognised by its configuration
    path and taken over. ``shutdown()`` stops only a pcscd it owns. ``start(reader_name=...)``
    gives the virtual reader another name, so that a test can present it as a particular model.
    """

    SYSTEM_CONFIG = Path("/etc/reader.conf.d/vpcd")
    PID_FILE = Path("/run/pcscd/pcscd.pid")
    LOCK_FILE = Path("/tmp/pievse-pcscd-tests.lock")
    #: The configuration directory of a pcscd that tests started: it marks one left behind.
    CONFIG_DIR_NAME = "pievse-test-reader.conf.d"
    READER_NAME = "Virtual PCD"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.owned = False
        self.reader_name = self.READER_NAME
        self._lock: int | None = None

    @classmethod
    def missing(cls) -> str | None:
        """Why the stand-in cannot run here, or None."""
        if shutil.which("pcscd") is None:
            return "pcscd not installed: apt-get install pcscd vsmartcard-vpcd"
        if not cls.SYSTEM_CONFIG.exists():
            return f"{cls.SYSTEM_CONFIG} missing: apt-get install vsmartcard-vpcd"
        if os.geteuid() != 0 and cls.running_pid() is None:
            return "starting pcscd needs root (or start pcscd with vpcd before the tests)"
        return None

    # --- the machine-wide lock ---------------------------------------------------------------

    def acquire(self, timeout: float) -> bool:
        """Take the lock, waiting up to ``timeout`` for another session to finish."""
        import fcntl

        fd = os.open(self.LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._lock = fd
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    return False
                time.sleep(0.2)

    def release(self) -> None:
        fd, self._lock = self._lock, None
        if fd is not None:
            os.close(fd)  # closing the file drops the lock (as the process dying does)

    # --- the daemon ------------------------------------------------------------------------------

    @classmethod
    def running_pid(cls) -> int | None:
        try:
            pid = int(cls.PID_FILE.read_bytes().strip(b"\0\n "))
        except (OSError, ValueError):
            return None
        return pid if cls._alive(pid) else None

    @property
    def running(self) -> bool:
        return self.running_pid() is not None

    def ensure_running(self) -> None:
        pid = self.running_pid()
        if pid is not None and self.CONFIG_DIR_NAME in self._command_line(pid):
            self.owned = True  # left behind by a session that died: we hold the lock now
            self.stop()
            pid = None
        if pid is None:
            self.start()
        else:
            _use_port(VPCD_PORT)  # the system's pcscd, with the system's configuration
            self.wait_ready()

    def start(self, reader_name: str = READER_NAME) -> None:
        """Start our own pcscd, its virtual reader called ``reader_name``, and wait until it
        offers both slots ("<name> 00 00" and "<name> 00 01")."""
        if self.running:
            raise RuntimeError(f"a pcscd already runs (pid {self.running_pid()})")
        config_dir = self.workdir / self.CONFIG_DIR_NAME
        config_dir.mkdir(parents=True, exist_ok=True)
        lines = []
        for line in self.SYSTEM_CONFIG.read_text().splitlines():
            if line.strip().startswith("FRIENDLYNAME"):
                line = f'FRIENDLYNAME "{reader_name}"'
            elif line.strip().startswith("CHANNELID"):
                line = f"CHANNELID    {OWN_VPCD_PORT:#06x}"
            elif line.strip().startswith("DEVICENAME"):
                line = f"DEVICENAME   /dev/null:{OWN_VPCD_PORT:#06x}"
            lines.append(line)
        (config_dir / "vpcd").write_text("\n".join(lines) + "\n")
        with open(self.workdir / "pcscd.log", "ab") as log:
            # Its own session: a Ctrl-C meant for pytest must not kill it behind our back.
            subprocess.Popen(["pcscd", "--foreground", "-c", str(config_dir)],
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.owned, self.reader_name = True, reader_name
        _use_port(OWN_VPCD_PORT)
        self.wait_ready()

    def stop(self) -> None:
        """Stop the pcscd we own (SIGTERM, as systemd does) and wait until it is gone."""
        if not self.owned:
            raise RuntimeError("this pcscd was not started by the tests")
        pid = self.running_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while self._alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline += 10
            time.sleep(0.02)
        # A killed pcscd leaves its pid file behind; a stopped one removes it.
        self.PID_FILE.unlink(missing_ok=True)

    def restart(self, reader_name: str = READER_NAME) -> None:
        self.stop()
        self.start(reader_name)

    def shutdown(self) -> None:
        if self.owned:
            self.stop()

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
        except ChildProcessError:
            pass
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"

    @staticmethod
    def _command_line(pid: int) -> str:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return ""

    # --- what pcscd sees -----------------------------------------------------------------------

    def readers(self) -> list[str]:
        from smartcard import scard

        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            return []
        try:
            hresult, names = scard.SCardListReaders(context, [])
            return list(names) if hresult == scard.SCARD_S_SUCCESS else []
        finally:
            scard.SCardReleaseContext(context)

    def card_present(self, reader: str) -> bool:
        """pcscd reports a card on ``reader`` (it polls a virtual reader every 0.4 s, so this
        follows ``insert()`` and ``remove()`` a little later)."""
        from smartcard import scard

        hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if hresult != scard.SCARD_S_SUCCESS:
            return False
        try:
            hresult, states = scard.SCardGetStatusChange(
                context, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
            return hresult == scard.SCARD_S_SUCCESS and bool(
                states[0][1] & scard.SCARD_STATE_PRESENT)
        finally:
            scard.SCardReleaseContext(context)

    def wait_empty(self, timeout: float = 10.0) -> None:
        """Wait until pcscd sees no card on either slot: a card put on a reader before pcscd
        noticed the last one leave would look to it like the same card staying."""
        deadline = time.monotonic() + timeout
        for slot in ("00 00", "00 01"):
            while self.card_present(f"{self.reader_name} {slot}"):
                if time.monotonic() > deadline:
                    raise RuntimeError("pcscd still sees a card on the virtual reader")
                time.sleep(0.02)

    def wait_ready(self, timeout: float = 20.0) -> None:
        expected = {f"{self.reader_name} 00 00", f"{self.reader_name} 00 01"}
        deadline = time.monotonic() + timeout
        while not expected <= set(self.readers()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"pcscd offers no {sorted(expected)} after {timeout} s "
                                   f"(readers: {self.readers()}); see {self.workdir}/pcscd.log")
            time.sleep(0.05)


def _use_port(port: int) -> None:
    global _vpcd_port
    _vpcd_port = port
