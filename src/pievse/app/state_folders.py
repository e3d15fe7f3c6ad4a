"""Where a charge point keeps its files: beside the store it actually uses.

A store on disk keeps its certificates, security log, diagnostics and firmware in its folder
(``[storage] path``'s directory). A store in memory (tests, the demo) has no folder: its files go
to private temporary folders that are removed when the process ends, so that nothing a demo or a
test does can reach an installed service's state (root-owned folders in ``/var/lib/pievse`` stop
the service, which runs as its own user, from starting).
"""

from __future__ import annotations

import atexit
import errno
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from pievse.app.config import Config

__all__ = ["MEMORY", "following_store", "private_folder", "state_directory",
           "unusable_folder"]

MEMORY = ":memory:"


def following_store(config: Config, storage_path: str) -> Config:
    """The configuration as it is in force: its ``[storage] path`` is the store in use (the demo
    and tests give the daemon a store in memory whatever the file says)."""
    if storage_path == config.storage.path:
        return config
    return replace(config, storage=replace(config.storage, path=storage_path))


def state_directory(storage_path: str) -> Path | None:
    """The folder of the store, where state files go; None for a store in memory."""
    if storage_path == MEMORY:
        return None
    return Path(storage_path).resolve().parent


def private_folder(name: str) -> Path:
    """An owner-only temporary folder for a store in memory, removed when the process exits."""
    path = Path(tempfile.mkdtemp(prefix=f"pievse-{name}-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def unusable_folder(error: OSError, storage_path: str) -> str | None:
    """What to tell the person when a state folder cannot be used for lack of permission (a
    folder left by ``sudo pievse ...`` belongs to root, the service runs as its own user); None
    for another error."""
    if error.errno not in (errno.EACCES, errno.EPERM):
        return None
    path = error.filename or str(state_directory(storage_path) or "")
    state = state_directory(storage_path)
    fix = (f"give the state folder to the user that runs pievse, e.g. "
           f"`sudo chown -R pievse: {state}`" if state is not None
           else "check the folder's owner and permissions")
    return f"no permission to use {path} ({error.strerror}): {fix}"
