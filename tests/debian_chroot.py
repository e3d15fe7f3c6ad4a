"""A throwaway Debian root to run deploy/install.sh in, as on a freshly flashed machine.

``debootstrap --variant=minbase`` lays down the smallest Debian that apt can work in (no
systemd, no Python, no compiler: install.sh has to bring all of them). Commands run in it through
``chroot``, each inside its own mount namespace (``unshare --mount``): the /proc and /dev the
chroot needs are mounted in that namespace and vanish with it, so nothing stays mounted under the
root when a command, a test or the whole session dies, and deleting the root can never reach the
host's devices. /dev is a fresh tmpfs with the few nodes that apt, dpkg and pip open (null, zero,
random, urandom, tty, a private devpts), not a bind mount of the host's /dev.

The host's network setup is lent to the root: its resolv.conf, its proxy variables, its pip
index URL and the CA bundle its pip trusts (PIP_CERT) when there are such, so that pip inside
reaches PyPI exactly as pip outside does.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MIRRORS = ("http://deb.debian.org/debian", "http://ftp.debian.org/debian")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
# Where the host's pip CA bundle is put inside: under /root, outside what the tests compare.
PIP_CA_INSIDE = "/root/host-pip-ca.pem"

# Runs as "$0 ROOT COMMAND..." inside a new mount namespace with private propagation, so the
# mounts below are seen by nobody else and end with the last process in the namespace.
_ENTER = r"""
set -eu
root=$1; shift
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=0755,nosuid,size=16m dev "$root/dev"
for node in "null 1 3" "zero 1 5" "full 1 7" "random 1 8" "urandom 1 9" "tty 5 0"; do
    set -- $node "$@"
    mknod -m 0666 "$root/dev/$1" c "$2" "$3"
    shift 3
done
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o nosuid,nodev tmpfs "$root/dev/shm"
exec chroot "$root" "$@"
"""


def missing_tools() -> str | None:
    """Why a Debian root cannot be built and entered here, or None if it can."""
    if os.geteuid() != 0:
        return "building a Debian root with debootstrap and chroot needs root"
    for tool in ("debootstrap", "unshare", "chroot"):
        if shutil.which(tool) is None:
            return f"{tool} not installed: apt-get install -y debootstrap"
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot make a mount namespace here (unshare --mount: {probe.stderr.strip()})"
    return None


def reachable_mirror(suite: str) -> str | None:
    """The first Debian mirror that serves ``suite``: $PIEVSE_DEBIAN_MIRROR, then the CDN."""
    candidates = [os.environ.get("PIEVSE_DEBIAN_MIRROR", ""), *MIRRORS]
    for mirror in filter(None, candidates):
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{mirror}/dists/{suite}/InRelease", timeout=15):
                return mirror
    return None


@dataclass(frozen=True)
class Entry:
    """One path of a manifest: what a second run of the installer must leave exactly as it was."""

    kind: str  # "file", "dir", "link" or "other"
    mode: int
    owner: tuple[int, int]
    mtime_ns: int
    content: str  # sha256 of a file, target of a link, "" otherwise


class DebianRoot:
    """A Debian root directory made by debootstrap, and the means to run commands in it."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()

    @classmethod
    def bootstrap(cls, path: Path, suite: str, mirror: str) -> DebianRoot:
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", suite, str(path), mirror],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={"PATH": PATH, "LANG": "C.UTF-8"}, timeout=900,
        )
        if result.returncode != 0:
            raise RuntimeError(f"debootstrap failed:\n{result.stdout[-3000:]}")
        root = cls(path)
        root.lend_host_network()
        return root

    def lend_host_network(self) -> None:
        shutil.copyfile("/etc/resolv.conf", self.path / "etc/resolv.conf")
        pip_cert = os.environ.get("PIP_CERT")
        if pip_cert and Path(pip_cert).is_file():
            shutil.copyfile(pip_cert, self.inside(PIP_CA_INSIDE))

    def environment(self) -> list[str]:
        """The variables a command inside gets: a root login's, plus the host's network ones."""
        env = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb"}
        env.update({name: os.environ[name] for name in PROXY_VARIABLES if name in os.environ})
        # A package index the host's pip is pointed at (a CI's PyPI mirror), if it is a URL
        # that also works from inside; a file:// index on the host does not.
        index = os.environ.get("PIP_INDEX_URL", "")
        if index.startswith(("http://", "https://")):
            env["PIP_INDEX_URL"] = index
        if self.inside(PIP_CA_INSIDE).exists():
            env["PIP_CERT"] = PIP_CA_INSIDE
        return [f"{name}={value}" for name, value in env.items()]

    def inside(self, path: str) -> Path:
        """The host's path of ``path`` inside the root."""
        return self.path / path.lstrip("/")

    def copy_checkout(self, checkout: Path, to: str) -> None:
        """Copy the repository as a user would have cloned it: no venv, no git, no caches."""
        shutil.copytree(
            checkout, self.inside(to), symlinks=True,
            ignore=shutil.ignore_patterns(".venv", ".git", ".hypothesis", ".pytest_cache",
                                          ".ruff_cache", "__pycache__", "*.egg-info", "build",
                                          "dist"),
        )

    def run(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as root inside, with a clean environment; stdout and stderr together."""
        return subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", _ENTER, "enter",
             str(self.path), "env", "-i", *self.environment(), *argv],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
        )

    def manifest(self, *paths: str) -> dict[str, Entry]:
        """Every path under ``paths`` (inside the root) with its type, mode, owner, mtime and
        content digest; symlinks are recorded, never followed."""
        entries: dict[str, Entry] = {}
        for top in paths:
            start = self.inside(top)
            if not start.exists() and not start.is_symlink():
                continue
            walk = [start] if not start.is_dir() else [start, *sorted(start.rglob("*"))]
            for path in walk:
                entries["/" + str(path.relative_to(self.path))] = _entry(path)
        return entries

    def processes_inside(self) -> list[int]:
        """Processes whose root directory is this root (a daemon a package script started)."""
        found = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(proc / "root") == str(self.path):
                        found.append(int(proc.name))
        return found

    def mounted_under(self) -> list[str]:
        """Mount points under the root seen from here (none, if every command kept its own)."""
        prefix = str(self.path) + "/"
        with open("/proc/self/mountinfo") as mountinfo:
            points = [line.split()[4] for line in mountinfo]
        return [point for point in points if point.startswith(prefix)]

    def remove(self) -> None:
        """Delete the root, after ending what still runs in it. Refuses while anything is
        mounted under it, so that a deletion never walks into a live filesystem."""
        for pid in self.processes_inside():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        if mounted := self.mounted_under():
            raise RuntimeError(f"still mounted under {self.path}, not deleting it: {mounted}")
        shutil.rmtree(self.path)


def _entry(path: Path) -> Entry:
    info = path.lstat()
    owner = (info.st_uid, info.st_gid)
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        return Entry("link", mode, owner, info.st_mtime_ns, os.readlink(path))
    if stat.S_ISREG(info.st_mode):
        return Entry("file", mode, owner, info.st_mtime_ns,
                     hashlib.sha256(path.read_bytes()).hexdigest())
    kind = "dir" if stat.S_ISDIR(info.st_mode) else "other"
    return Entry(kind, mode, owner, info.st_mtime_ns, "")


def manifest_changes(before: dict[str, Entry], after: dict[str, Entry]) -> list[str]:
    """What differs between two manifests, one readable line per path."""
    changes = [f"created {path}" for path in sorted(after.keys() - before.keys())]
    changes += [f"removed {path}" for path in sorted(before.keys() - after.keys())]
    for path in sorted(before.keys() & after.keys()):
        old, new = before[path], after[path]
        if old != new:
            fields = [name for name in ("kind", "mode", "owner", "mtime_ns", "content")
                      if getattr(old, name) != getattr(new, name)]
            changes.append(f"changed {path}: {', '.join(fields)}")
    return changes
