"""What a downloaded firmware file is: an intact pievse wheel or sdist, or not.

pip checks little of a wheel before it installs it (not the RECORD hashes, for one), and an
update that installs a damaged or foreign file has already lost: so the updater looks first.
A wheel must carry exactly one ``*.dist-info/METADATA`` naming pievse and a version that
matches the folder's name, a WHEEL file with its tags, and a RECORD that lists every file with
its sha256, each of which must match. An sdist must carry one ``<name>-<version>/PKG-INFO``
naming pievse. :class:`Distribution` is what the file says it is, with the file name pip needs
to recognise it.
"""

from __future__ import annotations

import base64
import csv
import email.parser
import hashlib
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from pievse.services.firmware_rollback import FirmwareError, escaped

__all__ = ["NAME", "Distribution", "inspect_distribution"]

NAME = "pievse"


@dataclass(frozen=True, slots=True)
class Distribution:
    """What a downloaded file says it is."""

    name: str
    version: str
    filename: str  # the name pip needs to recognise it: pievse-1.2.0-py3-none-any.whl
    requires: tuple[str, ...] = ()


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
    import tarfile  # here, not at start: only a firmware update reads an sdist

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
    import tarfile

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
