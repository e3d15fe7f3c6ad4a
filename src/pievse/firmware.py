"""Firmware updates (OCPP 1.6 Firmware Management, UpdateFirmware): pievse replaces itself.

The firmware of a pievse charge point is the ``pievse`` Python distribution in its virtualenv.
An update, as the CSMS asks for it, goes:

1. wait for ``retrieveDate``;
2. **Downloading**: fetch the wheel (or sdist) from ``location`` (http, https or ftp), trying
   ``retries`` more times ``retryInterval`` apart; a ``#sha256=<hex>`` fragment on the URL is
   checked. **Downloaded**, or **DownloadFailed** when every attempt failed;
3. check it is pievse: a wheel's ``*.dist-info/METADATA`` (an sdist's ``PKG-INFO``) must name
   pievse, every file must match its RECORD hash, and each ``Requires-Dist`` must already be met
   in the target venv (the install runs ``--no-deps``: a Pi in a garage may have no index);
4. wait until no transaction is active: code is never swapped under a charging car;
5. **Installing**: keep a copy of the installed version to roll back to, write a marker, then
   ``python -m pip install --no-deps <file>`` and import the new version in a fresh interpreter.
   Any failure reinstalls the kept copy: **InstallationFailed**, and the old version goes on;
6. ask for a restart (again only while idle). The new version, once it runs, reports
   **Installed** (OCPP 1.6 sends it after the reboot); ``Idle`` answers a TriggerMessage when no
   update is under way.

**Rollback.** The copy kept in step 5 is the wheel of the last update when pievse came from one,
otherwise a wheel repacked from the installed files listed in the distribution's RECORD (an
editable install repacks to its ``.pth``, which points at the same checkout). After the restart,
:mod:`pievse.firmware_rollback` (copied into the state directory, so that it runs when the new
version cannot even be imported) reinstalls that copy if the new version does not come up.

Limits: files installed outside site-packages other than console scripts (``.data/data``) are
not kept in a repacked copy; an sdist needs its build backend (pip fetches it from the index);
the venv must be writable by the daemon's user; without systemd nothing restarts a version that
dies, and the check then runs only on the next start. The update is not signed (OCPP 1.6J's
SignedUpdateFirmware is not implemented): whoever controls the CSMS controls the code.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import email.parser
import enum
import hashlib
import io
import logging
import os
import re
import shutil
import sys
import tarfile
import time
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.client import HTTPException
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from pievse import firmware_rollback
from pievse.firmware_rollback import (
    ROLLBACK_SCRIPT,
    FirmwareError,
    escaped,
    load_record,
    pip_install,
    probe,
    query,
    repack_installed,
    roll_back,
    save_record,
)

__all__ = ["Distribution", "FirmwareError", "FirmwareStatus", "FirmwareUpdater",
           "UpdateRequest", "download", "inspect_distribution", "open_url", "redact_url",
           "retrying"]

log = logging.getLogger("pievse.firmware")

NAME = "pievse"
DEFAULT_RETRIES = 3  # when UpdateFirmware leaves it to the charge point
DEFAULT_RETRY_INTERVAL_S = 60.0
_RETRYABLE = (OSError, HTTPException, ValueError)
T = TypeVar("T")


class FirmwareStatus(str, enum.Enum):
    """The ``status`` of FirmwareStatusNotification (OCPP 1.6 FirmwareStatus)."""

    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    DOWNLOADING = "Downloading"
    IDLE = "Idle"
    INSTALLATION_FAILED = "InstallationFailed"
    INSTALLING = "Installing"
    INSTALLED = "Installed"


#: Statuses that end an update: after them a TriggerMessage hears Idle.
_FINAL = {FirmwareStatus.DOWNLOAD_FAILED, FirmwareStatus.INSTALLATION_FAILED,
          FirmwareStatus.INSTALLED}


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """An UpdateFirmware.req: ``retrieve_date`` in epoch seconds."""

    location: str
    retrieve_date: float
    retries: int = DEFAULT_RETRIES
    retry_interval: float = DEFAULT_RETRY_INTERVAL_S


@dataclass(frozen=True, slots=True)
class Distribution:
    """What a downloaded file says it is."""

    name: str
    version: str
    filename: str  # the name pip needs to recognise it: pievse-1.2.0-py3-none-any.whl
    requires: tuple[str, ...] = ()


# --- URLs: credentials travel in them (ftp://user:pass@host/), and never reach a log ----------


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def open_url(url: str, *, timeout: float, method: str = "GET", data: Any = None,
             headers: dict[str, str] | None = None) -> Any:
    """urllib's ``urlopen`` for http, https and ftp, with user:password in an http(s) URL sent
    as Basic authentication (urllib's own FTP handler reads them from the URL)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ftp"):
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} (http, https or ftp)")
    request_headers = dict(headers or {})
    if parts.scheme != "ftp" and parts.username is not None:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        request_headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    request = urllib.request.Request(urlunsplit(urlsplit(url)._replace(fragment="")), data=data,
                                     headers=request_headers, method=method)
    return urllib.request.urlopen(request, timeout=timeout)


async def retrying(action: Callable[[], T], *, retries: int, interval: float, what: str) -> T:
    """Run the blocking ``action`` in a worker thread, ``1 + retries`` times at most,
    ``interval`` seconds apart; raise FirmwareError when the last attempt failed."""
    attempts = max(1, retries + 1)
    attempt = 1
    while True:
        try:
            return await asyncio.to_thread(action)
        except (*_RETRYABLE, FirmwareError) as error:
            log.warning("%s: attempt %d of %d failed: %s", what, attempt, attempts, error)
            if attempt >= attempts:
                raise FirmwareError(f"{what}: gave up after {attempts} attempts: {error}") \
                    from error
        attempt += 1
        await asyncio.sleep(max(0.0, interval))


def download(url: str, destination: Path, *, timeout: float, max_bytes: int) -> None:
    """Stream ``url`` into ``destination`` (written to a ``.part`` file and renamed only when
    complete, length and optional ``#sha256=`` fragment checked)."""
    wanted = re.fullmatch(r"sha256=([0-9a-fA-F]{64})", urlsplit(url).fragment)
    digest, size = hashlib.sha256(), 0
    partial = destination.with_name(destination.name + ".part")
    try:
        with open_url(url, timeout=timeout) as response, open(partial, "wb") as out:
            announced = response.headers.get("Content-Length")
            while chunk := response.read(1 << 16):
                size += len(chunk)
                if size > max_bytes:
                    raise FirmwareError(f"larger than the {max_bytes} bytes allowed")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if announced is not None and announced.isdigit() and int(announced) != size:
            raise FirmwareError(f"cut short: {size} of {announced} bytes")
        if wanted and digest.hexdigest() != wanted.group(1).lower():
            raise FirmwareError(f"sha256 {digest.hexdigest()} is not the {wanted.group(1)} "
                                "announced")
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)


# --- what a file is -------------------------------------------------------------------------


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _metadata(text: str, where: str) -> tuple[str, str, tuple[str, ...]]:
    message = email.parser.Parser().parsestr(text, headersonly=True)
    name, version = message.get("Name"), message.get("Version")
    if not name or not version:
        raise FirmwareError(f"{where} has no Name or no Version")
    if _canonical(name) != NAME:
        raise FirmwareError(f"it is {name} {version}, not {NAME}")
    return name, version, tuple(message.get_all("Requires-Dist") or ())


def inspect_distribution(path: Path) -> Distribution:
    """Check that ``path`` is an intact pievse wheel or sdist; FirmwareError says why not."""
    if zipfile.is_zipfile(path):
        return _inspect_wheel(path)
    try:
        if tarfile.is_tarfile(path):
            return _inspect_sdist(path)
    except OSError:
        pass  # a truncated gzip stream
    raise FirmwareError("neither a wheel (zip) nor an sdist (tar.gz)")


def _inspect_wheel(path: Path) -> Distribution:
    try:
        with zipfile.ZipFile(path) as wheel:
            damaged = wheel.testzip()
            if damaged is not None:
                raise FirmwareError(f"damaged wheel: {damaged} fails its CRC")
            members = set(wheel.namelist())
            infos = sorted(n[:-len("/METADATA")] for n in members
                           if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
            if len(infos) != 1:
                raise FirmwareError(f"a wheel has one *.dist-info/METADATA, this one {len(infos)}")
            info = infos[0]
            name, version, requires = _metadata(wheel.read(f"{info}/METADATA").decode(), info)
            if _canonical(info[:-len(".dist-info")]) != _canonical(f"{name}-{version}"):
                raise FirmwareError(f"{info} does not match {name} {version}")
            tags = [line.split(":", 1)[1].strip()
                    for line in wheel.read(f"{info}/WHEEL").decode().splitlines()
                    if line.startswith("Tag:")]
            _check_record(wheel, f"{info}/RECORD", members)
    except (zipfile.BadZipFile, zlib.error, KeyError, UnicodeDecodeError, EOFError,
            OSError) as error:
        raise FirmwareError(f"not a valid wheel: {error}") from None
    if not tags:
        raise FirmwareError(f"{info}/WHEEL names no tag")
    tag = "-".join(".".join(dict.fromkeys(part)) for part in zip(*(t.split("-") for t in tags)))
    return Distribution(name, version, f"{escaped(name)}-{version.replace('-', '_')}-{tag}.whl",
                        requires)


def _check_record(wheel: zipfile.ZipFile, record: str, members: set[str]) -> None:
    """Every file of the wheel is in its RECORD with the right sha256 (pip does not check)."""
    listed = set()
    for row in csv.reader(io.StringIO(wheel.read(record).decode())):
        if not row:
            continue
        path, hashed = row[0], row[1] if len(row) > 1 else ""
        listed.add(path)
        algorithm, _, expected = hashed.partition("=")
        if expected:
            if algorithm != "sha256":
                raise FirmwareError(f"RECORD uses {algorithm}, not sha256")
            actual = base64.urlsafe_b64encode(hashlib.sha256(wheel.read(path)).digest())
            if actual.rstrip(b"=").decode() != expected:
                raise FirmwareError(f"{path} does not match its RECORD hash")
    unlisted = {m for m in members - listed if not m.endswith("/")
                and not m.endswith((".dist-info/RECORD.jws", ".dist-info/RECORD.p7s"))}
    if unlisted:
        raise FirmwareError(f"files missing from RECORD: {', '.join(sorted(unlisted)[:3])}")


def _inspect_sdist(path: Path) -> Distribution:
    try:
        with tarfile.open(path, "r:*") as sdist:
            infos = [m for m in sdist.getmembers()
                     if m.isfile() and m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")]
            if len(infos) != 1:
                raise FirmwareError("an sdist has one <name>-<version>/PKG-INFO")
            text = sdist.extractfile(infos[0]).read().decode()  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError) as error:
        raise FirmwareError(f"not a valid sdist: {error}") from None
    name, version, requires = _metadata(text, infos[0].name)
    return Distribution(name, version, f"{escaped(name)}-{version}.tar.gz", requires)


# --- the updater ----------------------------------------------------------------------------


class FirmwareUpdater:
    """Carries out UpdateFirmware for the venv of ``python`` (default: this interpreter),
    keeping its files in ``state_dir/firmware``.

    The protocol adapter that owns it sets three hooks: ``notify(status)`` reports each step,
    ``is_idle()`` says no transaction is active, ``restart()`` restarts the daemon.
    ``probe_modules`` must import for a new version to count as installed.
    """

    def __init__(self, state_dir: Path | str, *, python: str | None = None,
                 probe_modules: tuple[str, ...] = ("pievse.daemon",),
                 download_timeout: float = 60.0, max_download_bytes: int = 64 << 20,
                 healthy_after: float = 120.0, idle_poll: float = 5.0) -> None:
        self.folder = Path(state_dir) / "firmware"
        self.python = python or sys.executable
        self.probe_modules = list(probe_modules)
        self.download_timeout = download_timeout
        self.max_download_bytes = max_download_bytes
        self.healthy_after = healthy_after
        self.idle_poll = idle_poll
        self.notify: Callable[[FirmwareStatus], None] = lambda status: None
        self.is_idle: Callable[[], bool] = lambda: True
        self.restart: Callable[[], None] = lambda: None
        self._current: FirmwareStatus | None = None
        self._job: asyncio.Task | None = None
        self._installing = False  # from Installing until the restart: not to be cut short
        self._running: str | None = None  # the version this process runs, once resumed

    @property
    def status(self) -> FirmwareStatus:
        """What a triggered FirmwareStatusNotification says: the step under way, or Idle."""
        return self._current or FirmwareStatus.IDLE

    def _report(self, status: FirmwareStatus) -> None:
        self._current = None if status in _FINAL else status
        log.info("firmware update: %s", status.value)
        self.notify(status)

    def update(self, request: UpdateRequest) -> bool:
        """Start an update (replacing one not yet installing); False while one is installing
        or installed and waiting for its restart."""
        if self._installing:
            log.warning("UpdateFirmware %s ignored: an installation is under way",
                        redact_url(request.location))
            return False
        if self._job is not None:
            self._job.cancel()
        # A new request supersedes the report of the last update, if still undelivered.
        save_record(self.folder, {**load_record(self.folder), "phase": "scheduled",
                                  "request": asdict(request), "report": None})
        self._job = asyncio.get_running_loop().create_task(self._run(request), name="firmware")
        return True

    def stop(self) -> None:
        """The daemon is going down: drop the job. A scheduled update is taken up again by
        :meth:`resume` at the next start; an interrupted installation is the rollback check's."""
        if self._job is not None:
            self._job.cancel()

    async def wait(self) -> None:
        """Until the update under way (if any) has ended."""
        if self._job is not None:
            await asyncio.gather(self._job, return_exceptions=True)

    async def _run(self, request: UpdateRequest) -> None:
        try:
            await self._steps(request)
        except Exception:
            # A bug must still end the update where the CSMS can see it, not leave it hanging.
            log.exception("firmware update failed")
            self._installing = False
            failed = (FirmwareStatus.DOWNLOAD_FAILED if self.status is FirmwareStatus.DOWNLOADING
                      else FirmwareStatus.INSTALLATION_FAILED)
            self._give_up(failed)

    async def _steps(self, request: UpdateRequest) -> None:
        delay = request.retrieve_date - time.time()
        if delay > 0:
            log.info("firmware from %s will be fetched in %.0f s", redact_url(request.location),
                     delay)
            await asyncio.sleep(delay)
        self._report(FirmwareStatus.DOWNLOADING)
        if urlsplit(request.location).scheme not in ("http", "https", "ftp"):
            log.error("firmware location %s: only http, https and ftp are supported",
                      redact_url(request.location))
            return self._give_up(FirmwareStatus.DOWNLOAD_FAILED)
        downloads = self.folder / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        for left in downloads.iterdir():  # by a job cut short (a power cut, a newer request)
            left.unlink(missing_ok=True)
        file = downloads / f"{time.time_ns()}.download"
        try:
            await retrying(lambda: download(request.location, file, timeout=self.download_timeout,
                                            max_bytes=self.max_download_bytes),
                           retries=request.retries, interval=request.retry_interval,
                           what=f"downloading {redact_url(request.location)}")
        except FirmwareError as error:
            log.error("firmware update: %s", error)
            return self._give_up(FirmwareStatus.DOWNLOAD_FAILED)
        self._report(FirmwareStatus.DOWNLOADED)
        try:
            distribution = await asyncio.to_thread(inspect_distribution, file)
            unmet = (await asyncio.to_thread(query, self.python, distribution.requires))["unmet"]
            if unmet:
                raise FirmwareError(f"{distribution.version} needs {', '.join(unmet)}")
        except FirmwareError as error:
            log.error("firmware from %s refused: %s", redact_url(request.location), error)
            return self._give_up(FirmwareStatus.INSTALLATION_FAILED)
        await self._until_idle("installing")
        self._installing = True
        self._report(FirmwareStatus.INSTALLING)
        try:
            await asyncio.to_thread(self._install, file, distribution)
        except FirmwareError as error:
            log.error("firmware %s not installed: %s", distribution.version, error)
            self._installing = False
            return self._give_up(FirmwareStatus.INSTALLATION_FAILED)
        await self._until_idle("restarting")
        log.warning("firmware %s installed: restarting to run it", distribution.version)
        self.restart()

    def _give_up(self, status: FirmwareStatus) -> None:
        record = load_record(self.folder)
        if record.get("phase") == "scheduled":
            record["phase"] = "failed"
            save_record(self.folder, record)
        self._report(status)

    async def _until_idle(self, before: str) -> None:
        if not self.is_idle():
            log.info("firmware update: waiting for the transactions to end before %s", before)
        while not self.is_idle():
            await asyncio.sleep(self.idle_poll)

    def _install(self, downloaded: Path, distribution: Distribution) -> None:
        kept = self.folder / "kept"
        kept.mkdir(exist_ok=True)
        installed = query(self.python)["installed"]
        if installed is None:
            raise FirmwareError(f"{NAME} is not installed for {self.python}: nothing to keep")
        record = load_record(self.folder)
        # The original file of the running version if an earlier update kept it, else a repack.
        previous = next((Path(record[f"{role}_file"]) for role in ("target", "previous")
                         if record.get(role) == installed["version"]
                         and Path(record.get(f"{role}_file") or "/").is_file()), None)
        if previous is None:
            previous = repack_installed(installed, kept)
        new = kept / distribution.filename
        if new != previous:
            shutil.copyfile(downloaded, new)
        for stale in kept.iterdir():
            if stale not in (previous, new):
                stale.unlink()
        shutil.copyfile(firmware_rollback.__file__, self.folder / ROLLBACK_SCRIPT)
        record = {"phase": "installing", "target": distribution.version, "target_file": str(new),
                  "previous": installed["version"], "previous_file": str(previous), "starts": 0,
                  "probe_modules": self.probe_modules, "at": time.time()}
        save_record(self.folder, record)
        try:
            pip_install(self.python, new, force=distribution.version == installed["version"])
            running = probe(self.python, self.probe_modules)
            if running != distribution.version:
                raise FirmwareError(f"{running} is what imports after installing")
        except FirmwareError as error:
            roll_back(self.folder, record, self.python, str(error), report=False)
            raise
        record["phase"] = "installed"
        save_record(self.folder, record)
        downloaded.unlink(missing_ok=True)

    # --- after the restart ---------------------------------------------------------------------

    def resume(self, running_version: str | None = None) -> None:
        """At start-up: note how the last update ended (:meth:`pending_report`), give a new
        version ``healthy_after`` seconds to confirm, or take up an update that was scheduled
        or downloading when the daemon stopped."""
        if running_version is None:
            import pievse

            running_version = pievse.__version__
        self._running = running_version
        record = load_record(self.folder)
        phase = record.get("phase")
        if phase == "scheduled" and record.get("request"):
            self.update(UpdateRequest(**record["request"]))
            return
        if phase == "installed":
            if running_version == record.get("target"):
                record["report"] = FirmwareStatus.INSTALLED.value
                asyncio.get_running_loop().call_later(self.healthy_after, self.confirm)
            else:
                # The rollback check should have caught this: it is not wired at start-up.
                record.update(phase="failed", report=FirmwareStatus.INSTALLATION_FAILED.value,
                              reason=f"{running_version} runs, not {record.get('target')}")
                log.error("firmware %s did not come up: %s", record.get("target"),
                          record["reason"])
        elif phase == "installing":
            record.update(phase="failed", report=FirmwareStatus.INSTALLATION_FAILED.value,
                          reason="the installation was interrupted")
        if record:
            save_record(self.folder, record)
        if record.get("report"):
            log.info("firmware update of %s ended: %s", record.get("target"), record["report"])

    def pending_report(self) -> FirmwareStatus | None:
        """How the last update ended, when the CSMS has not heard it yet (kept across the
        restart, sent after the next registration)."""
        report = load_record(self.folder).get("report")
        return FirmwareStatus(report) if report else None

    def confirm(self) -> None:
        """The new version is up (registered with the CSMS, or running for a while): the
        rollback check leaves it alone from now on. Only the new version itself confirms."""
        record = load_record(self.folder)
        if record.get("phase") == "installed" and self._running == record.get("target"):
            record["phase"] = "confirmed"
            save_record(self.folder, record)
            log.info("firmware %s confirmed", record.get("target"))

    def delivered(self, status: FirmwareStatus) -> None:
        """The CSMS has heard ``status``: a report kept across the restart is done."""
        record = load_record(self.folder)
        if record.get("report") == status.value:
            record["report"] = None
            save_record(self.folder, record)
        if status is FirmwareStatus.INSTALLED:
            self.confirm()  # it runs and talks to the CSMS: it came up
