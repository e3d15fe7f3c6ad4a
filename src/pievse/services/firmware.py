"""Firmware updates (OCPP 1.6 UpdateFirmware, and SignedUpdateFirmware of the security
extension): pievse replaces itself.

The firmware of a pievse charge point is the ``pievse`` Python distribution in its virtualenv.
An update, as the CSMS asks for it, goes (the steps are :class:`FirmwareStatus`):

1. wait for ``retrieveDate`` (**DownloadScheduled** while waiting);
2. **Downloading**: fetch the wheel (or sdist) from ``location`` (http, https or ftp), trying
   ``retries`` more times ``retryInterval`` apart; a ``#sha256=<hex>`` fragment on the URL is
   checked. **Downloaded**, or **DownloadFailed** when every attempt failed;
3. a signed update only: verify the signature over the file with the signing certificate
   (:mod:`pievse.services.firmware_signature`): **SignatureVerified**, or **InvalidSignature** and
   the
   file is deleted;
4. check it is pievse: a wheel's ``*.dist-info/METADATA`` (an sdist's ``PKG-INFO``) must name
   pievse, every file must match its RECORD hash, and each ``Requires-Dist`` must already be met
   in the target venv (the install runs ``--no-deps``: a Pi in a garage may have no index).
   **InstallVerificationFailed** if not;
5. wait for ``installDateTime`` (signed updates) and until no transaction is active: code is
   never swapped under a charging car (**InstallScheduled** while waiting);
6. **Installing**: keep a copy of the installed version to roll back to, write a marker, then
   ``python -m pip install --no-deps <file>`` and import the new version in a fresh interpreter.
   Any failure reinstalls the kept copy: **InstallationFailed**, and the old version goes on;
7. **InstallRebooting**: ask for a restart (again only while idle). The new version, once it
   runs, reports **Installed**; ``Idle`` answers a trigger when no update is under way.

One pipeline serves both messages: the signed update only adds step 3. Each protocol message
says the steps in its own words (OCPP 1.6's FirmwareStatusNotification has no word for
SignatureVerified, say): that translation is the protocol adapter's
(:mod:`pievse.protocol.v16.blocks.firmware`).

**Rollback.** The copy kept in step 6 is the wheel of the last update when pievse came from one,
otherwise a wheel repacked from the installed files listed in the distribution's RECORD (an
editable install repacks to its ``.pth``, which points at the same checkout). After the restart,
:mod:`pievse.services.firmware_rollback` (copied into the state directory, so that it runs when the
new
version cannot even be imported) reinstalls that copy if the new version does not come up.

Limits: files installed outside site-packages other than console scripts (``.data/data``) are
not kept in a repacked copy; an sdist needs its build backend (pip fetches it from the index);
the venv must be writable by the daemon's user; without systemd nothing restarts a version that
dies, and the check then runs only on the next start. An unsigned update is trusted as it
comes: whoever controls the CSMS controls the code (the security extension adapter refuses
unsigned updates once a ManufacturerRootCertificate is installed).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pievse.aio import AsyncClock, SystemClock
from pievse.services import firmware_rollback
from pievse.services.firmware_file import NAME, Distribution, inspect_distribution
from pievse.services.firmware_rollback import (
    ROLLBACK_SCRIPT,
    FirmwareError,
    load_record,
    pip_install,
    probe,
    query,
    repack_installed,
    roll_back,
    save_record,
)
from pievse.services.firmware_signature import verify_file_signature
from pievse.services.transfer import SCHEMES, download, open_url, redact_url, retrying

__all__ = ["Distribution", "FirmwareError", "FirmwareStatus", "FirmwareUpdater",
           "UpdateRequest", "download", "inspect_distribution", "open_url", "redact_url",
           "retrying"]

log = logging.getLogger("pievse.firmware")

DEFAULT_RETRIES = 3  # when the CSMS leaves it to the charge point
DEFAULT_RETRY_INTERVAL_S = 60.0


class FirmwareStatus(str, enum.Enum):
    """The steps of an update, named as the security extension's SignedFirmwareStatusNotification
    (and OCPP 2.0.1) name them: a superset of OCPP 1.6's FirmwareStatus."""

    DOWNLOAD_SCHEDULED = "DownloadScheduled"
    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    SIGNATURE_VERIFIED = "SignatureVerified"
    INVALID_SIGNATURE = "InvalidSignature"
    INSTALL_VERIFICATION_FAILED = "InstallVerificationFailed"
    INSTALL_SCHEDULED = "InstallScheduled"
    INSTALLING = "Installing"
    INSTALLATION_FAILED = "InstallationFailed"
    INSTALL_REBOOTING = "InstallRebooting"
    INSTALLED = "Installed"
    IDLE = "Idle"


#: Statuses that end an update: after them OCPP 1.6's TriggerMessage hears Idle.
FINAL_STATUSES = frozenset({
    FirmwareStatus.DOWNLOAD_FAILED, FirmwareStatus.INVALID_SIGNATURE,
    FirmwareStatus.INSTALL_VERIFICATION_FAILED, FirmwareStatus.INSTALLATION_FAILED,
    FirmwareStatus.INSTALLED})


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """An UpdateFirmware.req or a SignedUpdateFirmware.req; times in epoch seconds.

    A signed request carries the ``signature`` (base64) and the ``signing_certificate`` (PEM)
    that step 3 verifies the file with, and the CSMS's ``request_id``, which every status
    notification of the update repeats.
    """

    location: str
    retrieve_date: float
    retries: int = DEFAULT_RETRIES
    retry_interval: float = DEFAULT_RETRY_INTERVAL_S
    install_date: float | None = None
    signing_certificate: str | None = None
    signature: str | None = None
    request_id: int | None = None

    @property
    def signed(self) -> bool:
        return self.signature is not None


# --- the updater ----------------------------------------------------------------------------


class FirmwareUpdater:
    """Carries out firmware updates for the venv of ``python`` (default: this interpreter),
    keeping its files in ``state_dir/firmware``.

    The protocol adapter that owns it sets three hooks: ``notify(status)`` reports each step
    (``request`` is then the update it belongs to), ``is_idle()`` says no transaction is
    active, ``restart()`` restarts the daemon. ``probe_modules`` must import for a new version
    to count as installed. Scheduled dates, retries and the wait for a new version to prove
    healthy go by ``clock``.
    """

    def __init__(self, state_dir: Path | str, *, python: str | None = None,
                 probe_modules: tuple[str, ...] = ("pievse.app.daemon",),
                 download_timeout: float = 60.0, max_download_bytes: int = 64 << 20,
                 healthy_after: float = 120.0, idle_poll: float = 5.0,
                 clock: AsyncClock | None = None) -> None:
        self.folder = Path(state_dir) / "firmware"
        self.clock = clock or SystemClock()
        self.python = python or sys.executable
        self.probe_modules = list(probe_modules)
        self.download_timeout = download_timeout
        self.max_download_bytes = max_download_bytes
        self.healthy_after = healthy_after
        self.idle_poll = idle_poll
        self.notify: Callable[[FirmwareStatus], None] = lambda status: None
        self.is_idle: Callable[[], bool] = lambda: True
        self.restart: Callable[[], None] = lambda: None
        #: The update under way, or the last one (across the restart that ends it).
        self.request: UpdateRequest | None = None
        self._current: FirmwareStatus | None = None
        self._last: FirmwareStatus | None = None
        self._job: asyncio.Task | None = None
        self._installing = False  # from Installing until the restart: not to be cut short
        self._running: str | None = None  # the version this process runs, once resumed

    @property
    def status(self) -> FirmwareStatus:
        """The step under way, or Idle (what OCPP 1.6's triggered notification says)."""
        return self._current or FirmwareStatus.IDLE

    @property
    def last_status(self) -> FirmwareStatus:
        """The last step reported, final ones included, or Idle if none (what a triggered
        SignedFirmwareStatusNotification says; Installed is followed by Idle there too)."""
        last = self._last or FirmwareStatus.IDLE
        return FirmwareStatus.IDLE if last is FirmwareStatus.INSTALLED else last

    @property
    def busy(self) -> bool:
        """An update is scheduled or under way (a new request would cancel it)."""
        return self._job is not None and not self._job.done()

    @property
    def installing(self) -> bool:
        """An installation is under way or awaits its restart: it cannot be cancelled."""
        return self._installing

    def _report(self, status: FirmwareStatus) -> None:
        self._current = None if status in FINAL_STATUSES else status
        self._last = status
        log.info("firmware update: %s", status.value)
        self.notify(status)

    def update(self, request: UpdateRequest) -> bool:
        """Start an update (replacing one not yet installing); False while one is installing
        or installed and waiting for its restart."""
        if self._installing:
            log.warning("firmware update from %s ignored: an installation is under way",
                        redact_url(request.location))
            return False
        if self._job is not None:
            self._job.cancel()
        self.request = request
        self._current = None
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
        where = redact_url(request.location)
        await self._until(request.retrieve_date, FirmwareStatus.DOWNLOAD_SCHEDULED,
                          f"firmware from {where} will be fetched")
        self._report(FirmwareStatus.DOWNLOADING)
        if urlsplit(request.location).scheme not in SCHEMES:
            log.error("firmware location %s: only http, https and ftp are supported", where)
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
                           what=f"downloading {where}", clock=self.clock)
        except FirmwareError as error:
            log.error("firmware update: %s", error)
            return self._give_up(FirmwareStatus.DOWNLOAD_FAILED)
        self._report(FirmwareStatus.DOWNLOADED)
        if request.signed:
            try:
                await asyncio.to_thread(verify_file_signature, file, request.signature or "",
                                        request.signing_certificate or "")
            except FirmwareError as error:
                log.error("firmware from %s refused: %s", where, error)
                file.unlink(missing_ok=True)  # whoever made it, it is not the manufacturer
                return self._give_up(FirmwareStatus.INVALID_SIGNATURE)
            self._report(FirmwareStatus.SIGNATURE_VERIFIED)
        try:
            distribution = await asyncio.to_thread(inspect_distribution, file)
            unmet = (await asyncio.to_thread(query, self.python, distribution.requires))["unmet"]
            if unmet:
                raise FirmwareError(f"{distribution.version} needs {', '.join(unmet)}")
        except FirmwareError as error:
            log.error("firmware from %s refused: %s", where, error)
            return self._give_up(FirmwareStatus.INSTALL_VERIFICATION_FAILED)
        if request.install_date is not None:
            await self._until(request.install_date, FirmwareStatus.INSTALL_SCHEDULED,
                              f"firmware {distribution.version} will be installed")
        await self._until_idle("installing", FirmwareStatus.INSTALL_SCHEDULED)
        self._installing = True
        self._report(FirmwareStatus.INSTALLING)
        try:
            await asyncio.to_thread(self._install, file, distribution, request)
        except FirmwareError as error:
            log.error("firmware %s not installed: %s", distribution.version, error)
            self._installing = False
            return self._give_up(FirmwareStatus.INSTALLATION_FAILED)
        await self._until_idle("restarting")
        log.warning("firmware %s installed: restarting to run it", distribution.version)
        self._report(FirmwareStatus.INSTALL_REBOOTING)
        self.restart()

    async def _until(self, moment: float, waiting: FirmwareStatus, what: str) -> None:
        delay = moment - self.clock.now()
        if delay > 0:
            log.info("%s in %.0f s", what, delay)
            self._report(waiting)
            await self.clock.sleep(delay)

    def _give_up(self, status: FirmwareStatus) -> None:
        record = load_record(self.folder)
        if record.get("phase") == "scheduled":
            record["phase"] = "failed"
            save_record(self.folder, record)
        self._report(status)

    async def _until_idle(self, before: str, waiting: FirmwareStatus | None = None) -> None:
        if not self.is_idle():
            log.info("firmware update: waiting for the transactions to end before %s", before)
            if waiting is not None and self.status is not waiting:
                self._report(waiting)
        while not self.is_idle():
            await self.clock.sleep(self.idle_poll)

    def _install(self, downloaded: Path, distribution: Distribution,
                 request: UpdateRequest) -> None:
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
        # The request goes along: the new version reports Installed with its requestId.
        record = {"phase": "installing", "target": distribution.version, "target_file": str(new),
                  "previous": installed["version"], "previous_file": str(previous), "starts": 0,
                  "probe_modules": self.probe_modules, "at": self.clock.now(),
                  "request": asdict(request)}
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
        self.request = _stored_request(record)
        phase = record.get("phase")
        if phase == "scheduled" and self.request is not None:
            self.update(self.request)
            return
        if phase == "installed":
            if running_version == record.get("target"):
                record["report"] = FirmwareStatus.INSTALLED.value
                self.clock.call_later(self.healthy_after, self.confirm)
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
            self._last = FirmwareStatus(record["report"])
            log.info("firmware update of %s ended: %s", record.get("target"), record["report"])

    def restarted_by_update(self) -> bool:
        """This start is the restart an installation asked for (or the one after it was rolled
        back), as the marker on disk says: OCPP 2.0.1 boots with the reason FirmwareUpdate."""
        record = load_record(self.folder)
        return record.get("phase") in ("installing", "installed") or bool(record.get("report"))

    def pending_report(self) -> FirmwareStatus | None:
        """How the last update ended, when the CSMS has not heard it yet (kept across the
        restart, sent after the next registration; :attr:`request` is that update's)."""
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


def _stored_request(record: dict) -> UpdateRequest | None:
    """The request kept in the marker (None when there is none, or it is unreadable)."""
    try:
        return UpdateRequest(**record["request"])
    except (KeyError, TypeError):
        return None
