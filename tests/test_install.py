"""deploy/install.sh on a freshly bootstrapped Debian bookworm, the way a maker runs it on a Pi.

One throwaway root (debootstrap minbase: no Python, no compiler, no systemd) goes through a life:
the first run installs everything; a second run changes nothing; a newer checkout replaces the
program and leaves the edited configuration alone; ``--uninstall`` removes the program and the
service and keeps the configuration and the data; installing again, on a root that now claims
to be Raspberry Pi OS, creates the device groups of that convention. Each phase is a fixture that
runs the installer and records what the tests look at, so every test reads one phase, in any
order.

Plain Debian is the harder case for the installer: it has no gpio, spi or i2c group and no
python3-lgpio (Raspberry Pi OS packages), and systemd is not running (a chroot), so the units
must be enabled offline. The root needs the network: a Debian mirror for apt and PyPI for pip.
About a minute and a half on a desktop; budget four minutes on a slow CI machine.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import standin_missing
from tests.debian_chroot import DebianRoot, Entry, manifest_changes, missing_tools, reachable_mirror

# One root goes through the whole life, so its tests share one pytest-xdist worker: a worker of
# its own would bootstrap a root of its own and run the installer up to the phase its tests read
# (four debootstraps and four first installs at once under -n 4).
pytestmark = [pytest.mark.timeout(900), pytest.mark.xdist_group("debian_root")]

CHECKOUT = Path(__file__).resolve().parents[1]
SUITE = "bookworm"
SOURCE = "/src"
INSTALL = f"{SOURCE}/deploy/install.sh"
VENV_PIEVSE = "/opt/pievse/bin/pievse"
CONFIG = "/etc/pievse/config.toml"
UNIT = "/etc/systemd/system/pievse.service"
ENABLED_LINK = "/etc/systemd/system/multi-user.target.wants/pievse.service"
GROUPS_DROPIN = "/etc/systemd/system/pievse.service.d/supplementary-groups.conf"
BLACKLIST = "/etc/modprobe.d/blacklist-nfc.conf"
# What "changes nothing" is checked on: configuration, the program, the state, the command link
# and dpkg's database (apt installed nothing).
WATCHED = ("/etc", "/opt/pievse", "/var/lib/pievse", "/usr/local/bin", "/var/lib/dpkg/status")


@dataclass
class Run:
    """One command run inside the root (the installer or a probe): exit status and output."""

    returncode: int
    output: str

    def succeeded(self) -> bool:
        return self.returncode == 0

    def __str__(self) -> str:
        return f"exit status {self.returncode}, output:\n{self.output[-6000:]}"

    def __repr__(self) -> str:
        return f"Run(exit status {self.returncode}, {len(self.output)} characters of output)"


def run_inside(root: DebianRoot, *argv: str) -> Run:
    result = root.run(*argv)
    return Run(result.returncode, result.stdout)


def run_installer(root: DebianRoot, *options: str) -> Run:
    return run_inside(root, "bash", INSTALL, *options)


def text_inside(root: DebianRoot, path: str) -> str:
    return root.inside(path).read_text()


def checkout_text(path: str) -> str:
    return (CHECKOUT / path).read_text()


@pytest.fixture(scope="session")
def bookworm(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[DebianRoot]:
    """A minbase Debian bookworm with this checkout at /src, built once per session."""
    why = missing_tools()
    if why is not None:
        standin_missing(request, why)
    mirror = reachable_mirror(SUITE)
    if mirror is None:
        standin_missing(request, "no Debian mirror reachable (set PIEVSE_DEBIAN_MIRROR)")
    path = tmp_path_factory.mktemp("install") / SUITE
    root = DebianRoot.bootstrap(path.resolve(), SUITE, mirror)
    try:
        root.copy_checkout(CHECKOUT, SOURCE)
        yield root
    finally:
        root.remove()


@dataclass(repr=False)
class FirstInstall:
    """The first run, and the machine as it left it (files, user, what runs)."""

    run: Run
    files: dict[str, Entry]
    texts: dict[str, str]
    version: str
    config_check: Run
    enabled: list[str]
    passwd: str
    groups: list[str]
    verify: Run
    imports: Run


@pytest.fixture(scope="session")
def first_install(bookworm: DebianRoot) -> FirstInstall:
    run = run_installer(bookworm)
    assert run.succeeded(), f"the first run of install.sh failed: {run}"
    written = (UNIT, BLACKLIST, CONFIG, GROUPS_DROPIN)
    return FirstInstall(
        run=run,
        files=bookworm.manifest(*written, ENABLED_LINK, "/var/lib/pievse"),
        texts={path: text_inside(bookworm, path) for path in written},
        version=run_inside(bookworm, VENV_PIEVSE, "--version").output.strip(),
        config_check=run_inside(bookworm, "runuser", "-u", "pievse", "--",
                                VENV_PIEVSE, "check-config", CONFIG),
        enabled=run_inside(bookworm, "systemctl", "--root=/", "is-enabled", "pievse.service",
                           "pcscd.socket").output.split(),
        passwd=run_inside(bookworm, "getent", "passwd", "pievse").output.strip(),
        groups=run_inside(bookworm, "id", "-nG", "pievse").output.split(),
        verify=run_inside(bookworm, "systemd-analyze", "verify", UNIT),
        imports=run_inside(bookworm, "/opt/pievse/bin/python", "-c",
                           "import smartcard, systemd.daemon, spidev, gpiozero, pievse.app.daemon"),
    )


@dataclass(repr=False)
class SecondInstall:
    run: Run
    changes: list[str]


@pytest.fixture(scope="session")
def second_install(bookworm: DebianRoot, first_install: FirstInstall) -> SecondInstall:
    before = bookworm.manifest(*WATCHED)
    run = run_installer(bookworm)
    return SecondInstall(run, manifest_changes(before, bookworm.manifest(*WATCHED)))


@dataclass(repr=False)
class Upgrade:
    run: Run
    changes_outside_venv: list[str]
    installed_init: str
    config: str


EDITED_ID = 'id = "garage-left"'


@pytest.fixture(scope="session")
def upgrade(bookworm: DebianRoot, second_install: SecondInstall) -> Upgrade:
    """The user edits the config; the checkout moves on without a version bump; install again."""
    config = bookworm.inside(CONFIG)
    config.write_text(re.sub(r'^id = ".*"$', EDITED_ID, config.read_text(), count=1, flags=re.M))
    with bookworm.inside(f"{SOURCE}/src/pievse/__init__.py").open("a") as source:
        source.write("# a newer checkout\n")
    outside_venv = [path for path in WATCHED if path != "/opt/pievse"]
    before = bookworm.manifest(*outside_venv)
    run = run_installer(bookworm)
    return Upgrade(
        run=run,
        changes_outside_venv=manifest_changes(before, bookworm.manifest(*outside_venv)),
        installed_init=text_inside(bookworm,
                                   "/opt/pievse/lib/python3.11/site-packages/pievse/__init__.py"),
        config=text_inside(bookworm, CONFIG),
    )


@dataclass(repr=False)
class Uninstall:
    run: Run
    again: Run
    left: dict[str, Entry]
    config: str
    passwd: str


@pytest.fixture(scope="session")
def uninstall(bookworm: DebianRoot, upgrade: Upgrade) -> Uninstall:
    run = run_installer(bookworm, "--uninstall")
    again = run_installer(bookworm, "--uninstall")
    left = bookworm.manifest("/opt/pievse", UNIT, ENABLED_LINK, GROUPS_DROPIN, BLACKLIST,
                             "/usr/local/bin/pievse", CONFIG, "/var/lib/pievse")
    return Uninstall(run, again, left, text_inside(bookworm, CONFIG),
                     run_inside(bookworm, "getent", "passwd", "pievse").output.strip())


@dataclass(repr=False)
class Reinstall:
    run: Run
    groups: list[str]
    dropin_left: bool
    config: str
    enabled: list[str]


@pytest.fixture(scope="session")
def reinstall_on_raspberry_pi_os(bookworm: DebianRoot, uninstall: Uninstall) -> Reinstall:
    """Install again after --uninstall, on a root that now says it is Raspberry Pi OS (the file
    pi-gen writes into every image), where gpio, spi and i2c are the groups udev gives the
    devices to."""
    bookworm.inside("/etc/rpi-issue").write_text("Raspberry Pi reference 2024-11-19\n")
    run = run_installer(bookworm)
    return Reinstall(
        run=run,
        groups=run_inside(bookworm, "id", "-nG", "pievse").output.split(),
        dropin_left=bookworm.inside(GROUPS_DROPIN).exists(),
        config=text_inside(bookworm, CONFIG),
        enabled=run_inside(bookworm, "systemctl", "--root=/", "is-enabled",
                           "pievse.service").output.split(),
    )


# --- the first run --------------------------------------------------------------------------


def test_first_run_installs_unit_blacklist_and_example_config(first_install):
    assert "pievse: installed" in first_install.run.output, first_install.run
    assert first_install.texts[UNIT] == checkout_text("deploy/pievse.service")
    assert first_install.texts[BLACKLIST] == checkout_text("deploy/blacklist-nfc.conf")
    assert first_install.texts[CONFIG] == checkout_text("config.example.toml")
    config = first_install.files[CONFIG]
    assert oct(config.mode) == "0o640", "the config may hold the CSMS password: not world-readable"


def test_first_run_enables_pievse_and_pcscd_offline_in_a_chroot(first_install):
    assert first_install.enabled == ["enabled", "enabled"], first_install.enabled
    assert first_install.files[ENABLED_LINK].content == UNIT
    assert "Not started: systemd is not running here" in first_install.run.output


def test_service_user_has_no_login_and_owns_the_state_directory(first_install):
    name, _, uid, gid, _, home, shell = first_install.passwd.split(":")
    assert (name, home, shell) == ("pievse", "/var/lib/pievse", "/usr/sbin/nologin")
    state = first_install.files["/var/lib/pievse"]
    assert state.owner == (int(uid), int(gid)) and oct(state.mode) == "0o700"
    assert oct(first_install.files[CONFIG].mode) == "0o640"
    assert first_install.files[CONFIG].owner == (0, int(gid)), "root:pievse, read by the service"


def test_installed_pievse_runs_and_accepts_the_installed_config_as_the_service_user(
        first_install):
    version = tomllib.loads(checkout_text("pyproject.toml"))["project"]["version"]
    assert first_install.version == f"pievse {version}"
    assert first_install.config_check.succeeded(), first_install.config_check
    assert f"config OK: {CONFIG}" in first_install.config_check.output


def test_venv_has_the_pi_extra_and_sees_spidev_from_apt(first_install):
    # smartcard and systemd are compiled by pip from the "pi" extra; spidev is python3-spidev
    # from apt, visible only because the venv has --system-site-packages.
    assert first_install.imports.succeeded(), first_install.imports


def test_installed_unit_passes_systemd_analyze_verify(first_install):
    assert first_install.verify.succeeded(), first_install.verify
    assert first_install.verify.output.strip() == "", first_install.verify


def test_on_plain_debian_missing_pi_groups_are_skipped_and_left_out_of_the_unit(first_install):
    output = first_install.run.output
    assert "no group gpio spi i2c here (not Raspberry Pi OS): skipped" in output
    assert "python3-lgpio: not in this system's apt sources" in output
    assert first_install.groups == ["pievse", "dialout"]
    # systemd would refuse to start the unit (216/GROUP) with the missing groups in it.
    dropin = first_install.texts[GROUPS_DROPIN].splitlines()
    assert dropin[-2:] == ["SupplementaryGroups=", "SupplementaryGroups=dialout"]


# --- the second run ---------------------------------------------------------------------------


def test_second_run_changes_nothing_and_says_so(second_install):
    assert second_install.run.succeeded(), second_install.run
    assert second_install.changes == []
    assert "pievse: already up to date, nothing changed." in second_install.run.output
    assert " + " not in second_install.run.output, second_install.run


# --- a newer checkout --------------------------------------------------------------------------


def test_newer_checkout_reinstalls_the_program_only(upgrade):
    assert upgrade.run.succeeded(), upgrade.run
    assert upgrade.installed_init.endswith("# a newer checkout\n")
    assert upgrade.changes_outside_venv == []


def test_edited_config_is_never_overwritten(upgrade):
    assert EDITED_ID in upgrade.config
    assert f"{CONFIG} kept as it is" in upgrade.run.output


# --- uninstall ----------------------------------------------------------------------------------


def test_uninstall_removes_program_unit_and_blacklist(uninstall):
    assert uninstall.run.succeeded(), uninstall.run
    gone = ["/opt/pievse", UNIT, ENABLED_LINK, GROUPS_DROPIN, BLACKLIST, "/usr/local/bin/pievse"]
    assert [path for path in gone if path in uninstall.left] == []


def test_uninstall_keeps_config_data_and_user_and_says_so(uninstall):
    assert EDITED_ID in uninstall.config
    assert "/var/lib/pievse" in uninstall.left
    assert uninstall.passwd.startswith("pievse:")
    assert "Kept: /etc/pievse (your configuration) and /var/lib/pievse" in uninstall.run.output


def test_second_uninstall_has_nothing_to_remove(uninstall):
    assert uninstall.again.succeeded(), uninstall.again
    assert "pievse: nothing to remove." in uninstall.again.output


# --- installing again, on Raspberry Pi OS ------------------------------------------------------


def test_reinstall_after_uninstall_keeps_the_edited_config_and_enables_the_unit(
        reinstall_on_raspberry_pi_os):
    reinstall = reinstall_on_raspberry_pi_os
    assert reinstall.run.succeeded(), reinstall.run
    assert EDITED_ID in reinstall.config
    assert reinstall.enabled == ["enabled"]


def test_on_raspberry_pi_os_missing_device_groups_are_created_and_joined(
        reinstall_on_raspberry_pi_os):
    reinstall = reinstall_on_raspberry_pi_os
    for group in ("gpio", "spi", "i2c"):
        assert f"group {group} created (the Raspberry Pi OS convention)" in reinstall.run.output
    assert sorted(reinstall.groups) == ["dialout", "gpio", "i2c", "pievse", "spi"]
    assert not reinstall.dropin_left, "every group exists: the unit's own list applies"
