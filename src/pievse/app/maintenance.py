"""Firmware updates, diagnostics uploads and the security log, put together from the
configuration.

All keep their files in the state directory, beside the store: updates need a store on disk
(a store in memory, as in tests and the demo, cannot carry an update across the restart, so
UpdateFirmware is then answered NotSupported); diagnostics and logs work either way, in a
private temporary folder when the store is in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pievse.aio import AsyncClock, SystemClock
from pievse.app.config import Config
from pievse.app.state_folders import private_folder, state_directory
from pievse.services.diagnostics import DiagnosticsUploader
from pievse.services.firmware import FirmwareUpdater
from pievse.services.log_upload import LogUploader
from pievse.services.security_log import SecurityLog

if TYPE_CHECKING:
    from pievse.app.link_security import LinkSecurity
    from pievse.persistence.store import Store

__all__ = ["log_uploader", "updater_and_uploader"]

#: The security log's bound: a few thousand events, a few years of a charge point's normal life.
SECURITY_LOG_BYTES = 256 << 10


def _folder(config: Config, name: str) -> Path:
    state = state_directory(config.storage.path)
    return state / name if state is not None else private_folder(name)


def _secrets(config: Config, security: LinkSecurity) -> list[str]:
    """The secret values in force, to be blanked from whatever leaves the charge point."""
    return [value for value in (config.ocpp.password, security.state.authorization_key,
                                config.api.token) if value]


def updater_and_uploader(config: Config, store: Store, security: LinkSecurity,
                         clock: AsyncClock) -> tuple[FirmwareUpdater | None, DiagnosticsUploader]:
    state = state_directory(config.storage.path)
    firmware = None
    if state is not None and config.firmware.allow_updates:
        firmware = FirmwareUpdater(state, python=config.firmware.python or None,
                                   download_timeout=config.firmware.transfer_timeout,
                                   max_download_bytes=config.firmware.max_download << 20,
                                   clock=clock)
    diagnostics = DiagnosticsUploader(
        _folder(config, "diagnostics"), charge_point_id=config.charge_point.id, config=config,
        store=store, journal_unit=config.diagnostics.journal_unit or None,
        log_file=config.diagnostics.log_file or None,
        secrets=lambda: _secrets(config, security), timeout=config.firmware.transfer_timeout,
        clock=clock)
    return firmware, diagnostics


def log_uploader(config: Config, diagnostics: DiagnosticsUploader | None,
                 security: LinkSecurity, *, clock: AsyncClock | None = None,
                 security_log_bytes: int = SECURITY_LOG_BYTES) -> LogUploader:
    """GetLog's uploader, with the security log (``<state>/security-log``, owner-only) and the
    diagnostics bundle it serves."""
    clock = clock or SystemClock()
    security_log = SecurityLog(_folder(config, "security-log"), max_bytes=security_log_bytes,
                               secrets=lambda: _secrets(config, security), clock=clock)
    return LogUploader(_folder(config, "log-uploads"), charge_point_id=config.charge_point.id,
                       security_log=security_log, diagnostics=diagnostics,
                       timeout=config.firmware.transfer_timeout, clock=clock)
