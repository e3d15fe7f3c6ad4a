"""Files that hold secrets (keys, the AuthorizationKey, certificates) and must survive a power
cut."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_private_file"]


def write_private_file(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically with ``data``, readable by its owner only.

    Written to a temporary file in the same directory (mode 0600 from its creation, so the secret
    is never readable by others, whatever the umask), flushed to the disk, then renamed over the
    old file: after a power cut the file is either the old one or the new one, never a mix.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                       "wb") as file:
            os.fchmod(file.fileno(), 0o600)  # a file left over from a crash keeps its mode
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
