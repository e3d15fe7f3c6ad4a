"""Firmware updates and diagnostics uploads, put together from the configuration.

Both keep their files in the state directory, beside the store: updates need a store on disk
(a store in memory, as in tests and the demo, cannot carry an update across the restart, so
UpdateFirmware is then answered NotSupported); diagnostics work either way.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pievse.config import Config
from pievse.diagnostics import DiagnosticsUploader
from pievse.firmware import FirmwareUpdater

if TYPE_CHECKING:
    from pievse.link_security import LinkSecurity
    from pievse.store import Store

__all__ = ["state_directory", "updater_and_uploader"]


def state_directory(config: Config) -> Path | None:
    """The folder of the store, where state files go; None for a store in memory."""
    if config.storage.path == ":memory:":
        return None
    return Path(config.storage.path).resolve().parent


def updater_and_uploader(config: Config, store: Store, security: LinkSecurity,
                         ) -> tuple[FirmwareUpdater | None, DiagnosticsUploader]:
    state = state_directory(config)
    firmware = None
    if state is not None and config.firmware.allow_updates:
        firmware = FirmwareUpdater(state, python=config.firmware.python or None,
                                   download_timeout=config.firmware.transfer_timeout,
                                   max_download_bytes=config.firmware.max_download << 20)
    work = (state / "diagnostics" if state is not None
            else Path(tempfile.mkdtemp(prefix="pievse-diagnostics-")))

    def secrets() -> list[str]:
        return [value for value in (config.ocpp.password, security.state.authorization_key)
                if value]

    diagnostics = DiagnosticsUploader(
        work, charge_point_id=config.charge_point.id, config=config, store=store,
        journal_unit=config.diagnostics.journal_unit or None,
        log_file=config.diagnostics.log_file or None, secrets=secrets,
        timeout=config.firmware.transfer_timeout)
    return firmware, diagnostics
