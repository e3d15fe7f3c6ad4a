#!/usr/bin/env bash
# Install pievse as a systemd service on Raspberry Pi OS or Debian bookworm, from this checkout.
#
#   sudo deploy/install.sh               install, or bring an installation up to date
#   sudo deploy/install.sh --no-start    the same, without starting or restarting the service
#   sudo deploy/install.sh --uninstall   remove the service and the program; keep config and data
#
# What it puts where:
#   apt packages     the compiler and headers that pyscard and systemd-python build against,
#                    pcscd + libccid (the PC/SC daemon and the USB CCID driver of the ACR122U),
#                    systemd, and python3-lgpio / python3-spidev where apt has them (Raspberry Pi
#                    OS: gpiozero's GPIO backend and the hardware SPI the MCP3008 pilot ADC uses)
#   user pievse      a system user without login, home /var/lib/pievse, in the groups that own
#                    the GPIO, SPI, I2C and serial devices
#   /opt/pievse      a virtualenv with --system-site-packages, so the lgpio and spidev modules
#                    from apt are importable; pievse is pip-installed into it with the "pi" extra
#   /etc/pievse/config.toml          from config.example.toml, only if there is none yet
#   /etc/systemd/system/pievse.service              deploy/pievse.service, enabled (and pcscd's socket)
#   /etc/modprobe.d/blacklist-nfc.conf              keeps the kernel's NFC driver off the reader
#   /usr/local/bin/pievse            a link to the venv's command, for `pievse status` and friends
#
# Safe to run again: a file is only written when its content differs, apt and pip only run when
# something is missing or the checkout changed, and the last line says what changed (or "already
# up to date"). In a chroot (an SD-card image being built) nothing is started: the units are
# enabled offline and start at the first boot.
set -euo pipefail

readonly VENV=/opt/pievse
readonly CONFIG_DIR=/etc/pievse
readonly CONFIG=$CONFIG_DIR/config.toml
readonly STATE_DIR=/var/lib/pievse
readonly SERVICE_USER=pievse
readonly UNIT=/etc/systemd/system/pievse.service
readonly DROPIN_DIR=/etc/systemd/system/pievse.service.d
readonly GROUPS_DROPIN=$DROPIN_DIR/supplementary-groups.conf
readonly BLACKLIST=/etc/modprobe.d/blacklist-nfc.conf
readonly COMMAND_LINK=/usr/local/bin/pievse
# Where the digest of the source that the venv was built from is kept (see source_digest).
readonly SOURCE_STAMP=$VENV/.pievse-source-sha256

# The groups that own the devices pievse opens (Raspberry Pi OS's udev rules give /dev/gpiochip*
# to gpio, /dev/spidev* to spi, /dev/i2c-* to i2c; serial ports belong to dialout everywhere).
# deploy/pievse.service names the same groups in SupplementaryGroups=.
readonly HARDWARE_GROUPS=(gpio spi i2c dialout)
readonly REQUIRED_PACKAGES=(
    python3-venv python3-dev gcc pkg-config swig libpcsclite-dev libsystemd-dev
    pcscd libccid systemd
)
# Raspberry Pi OS packages: Debian has python3-spidev but no python3-lgpio.
readonly OPTIONAL_PACKAGES=(python3-lgpio python3-spidev)

SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly SOURCE
CHANGES=0
START=auto

say() { printf '%s\n' "$*"; }
changed() { CHANGES=$((CHANGES + 1)); printf '  + %s\n' "$*"; }
unchanged() { printf '  = %s\n' "$*"; }
note() { printf '  ! %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,6s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

# --- facts about the machine ----------------------------------------------------------------

is_raspberry_pi_os() {
    # pi-gen writes /etc/rpi-issue into every image; raspberrypi-sys-mods holds the udev rules
    # and creates the gpio, spi and i2c groups.
    [ -e /etc/rpi-issue ] || package_installed raspberrypi-sys-mods
}

# systemd is PID 1 and we are not inside a chroot: units can be started and reloaded. Otherwise
# (an image being built, a container) systemctl works offline on the files under /.
systemd_running() {
    [ -d /run/systemd/system ] && ! systemd-detect-virt --quiet --chroot 2>/dev/null
}

package_installed() {
    # One line per architecture for a Multi-Arch: same package; any of them will do.
    local status
    status=$(dpkg-query -W -f='${db:Status-Status}\n' "$1" 2>/dev/null) || return 1
    [[ $'\n'$status$'\n' == *$'\n'installed$'\n'* ]]
}

apt_knows() {
    apt-cache show --no-all-versions "$1" >/dev/null 2>&1
}

apt_lists_present() {
    compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

# --- file helpers: write only what differs ----------------------------------------------------

# install_file SOURCE DEST MODE OWNER:GROUP WHAT
install_file() {
    local src=$1 dest=$2 mode=$3 owner=$4 what=$5
    if [ -f "$dest" ] && cmp -s "$src" "$dest" \
        && [ "$(stat -c '%a %U:%G' "$dest")" = "${mode#0} $owner" ]; then
        unchanged "$what: $dest"
        return 0
    fi
    local verb=installed
    [ -e "$dest" ] && verb=updated
    install -D -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$src" "$dest"
    changed "$what: $dest ($verb)"
}

# remove_path PATH WHAT
remove_path() {
    if [ -e "$1" ] || [ -L "$1" ]; then
        rm -rf -- "$1"
        changed "$2: removed $1"
    fi
}

# --- install, step by step --------------------------------------------------------------------

install_packages() {
    say "System packages"
    local missing=() package
    for package in "${REQUIRED_PACKAGES[@]}"; do
        package_installed "$package" || missing+=("$package")
    done
    # Refresh the lists only when something must be installed (or they were never fetched), so
    # that a run with nothing to do does not touch /var/lib/apt.
    if [ "${#missing[@]}" -gt 0 ] || ! apt_lists_present; then
        apt-get update -q
    fi
    for package in "${OPTIONAL_PACKAGES[@]}"; do
        if package_installed "$package"; then
            continue
        elif apt_knows "$package"; then
            missing+=("$package")
        else
            note "$package: not in this system's apt sources (a Raspberry Pi OS package), skipped"
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        unchanged "all installed: ${REQUIRED_PACKAGES[*]}"
        return 0
    fi
    # No recommends: a charge point needs none of them, and on a minimal image they are many
    # (systemd alone recommends dbus, timesyncd and PAM modules).
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    changed "apt installed: ${missing[*]}"
}

check_python() {
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "pievse needs Python 3.11 or newer; this system has $(python3 --version 2>&1)"
}

create_user() {
    say "Service user"
    if getent passwd "$SERVICE_USER" >/dev/null; then
        unchanged "user $SERVICE_USER exists"
    else
        # A system user with its own group (the unit's Group=) and no login shell. The group
        # may be left over from an earlier installation: then the user joins it.
        local own_group=(--user-group)
        getent group "$SERVICE_USER" >/dev/null && own_group=(--gid "$SERVICE_USER")
        useradd --system "${own_group[@]}" --home-dir "$STATE_DIR" --no-create-home \
            --shell /usr/sbin/nologin --comment "pievse charge point controller" "$SERVICE_USER"
        changed "user $SERVICE_USER created (home $STATE_DIR, no login)"
    fi
    if [ ! -d "$STATE_DIR" ]; then
        # Same owner and mode as the unit's StateDirectory=/StateDirectoryMode=: the database
        # holds transactions not yet billed.
        install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE_DIR"
        changed "created $STATE_DIR (mode 0700)"
    fi

    MISSING_GROUPS=()
    local group
    for group in "${HARDWARE_GROUPS[@]}"; do
        if ! getent group "$group" >/dev/null; then
            if is_raspberry_pi_os; then
                # raspberrypi-sys-mods normally creates it and its udev rules hand the devices
                # to it by this name, so making it here restores the convention.
                groupadd --system "$group"
                changed "group $group created (the Raspberry Pi OS convention)"
            else
                MISSING_GROUPS+=("$group")
                continue
            fi
        fi
        if [[ " $(id -nG "$SERVICE_USER") " == *" $group "* ]]; then
            unchanged "$SERVICE_USER is in group $group"
        else
            usermod -a -G "$group" "$SERVICE_USER"
            changed "$SERVICE_USER added to group $group"
        fi
    done
    if [ "${#MISSING_GROUPS[@]}" -gt 0 ]; then
        # Without Raspberry Pi OS's udev rules nothing would hand the devices to such a group,
        # so creating it would achieve nothing.
        note "no group ${MISSING_GROUPS[*]} here (not Raspberry Pi OS): skipped; if pievse must" \
             "open those devices, give them to $SERVICE_USER with a udev rule"
    fi
}

# A digest of everything pip builds the package from. The version number alone is not enough: a
# checkout moves on for many commits before the version is bumped.
source_digest() {
    (cd "$SOURCE" && find pyproject.toml README.md src -type f \
        ! -name '*.pyc' ! -path '*/__pycache__/*' ! -path '*.egg-info/*' -print0 \
        | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

venv_usable() {
    # A venv dies with the Python it was made from (a release upgrade replaces python3.11) and is
    # no use without the system site-packages that hold lgpio and spidev.
    "$VENV/bin/python" -c '' 2>/dev/null \
        && grep -qx 'include-system-site-packages = true' "$VENV/pyvenv.cfg" 2>/dev/null
}

install_venv() {
    say "Program in $VENV"
    if ! venv_usable; then
        stop_before_upgrade
        if [ -e "$VENV" ]; then
            rm -rf -- "$VENV"
            changed "removed $VENV: its Python is gone or it does not see the system packages"
        fi
        python3 -m venv --system-site-packages "$VENV"
        changed "virtualenv created: $VENV (with the system site-packages)"
    fi

    local digest version
    digest=$(source_digest)
    version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$SOURCE/pyproject.toml")
    if [ "$(cat "$SOURCE_STAMP" 2>/dev/null)" = "$digest" ] \
        && PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/pievse" --version >/dev/null 2>&1; then
        unchanged "pievse $version already installed from this checkout"
        return 0
    fi
    stop_before_upgrade
    # Build from a copy: pip builds in the source tree, and root must not leave build/ and
    # *.egg-info owned by root in the user's checkout.
    local build
    build=$(mktemp -d /tmp/pievse-build.XXXXXX)
    # shellcheck disable=SC2064  # expand now: $build is local
    trap "rm -rf -- '$build'" EXIT
    tar -C "$SOURCE" --exclude=__pycache__ --exclude='*.pyc' --exclude='*.egg-info' \
        -cf - pyproject.toml README.md src | tar -C "$build" -xf -
    say "  pip install pievse[pi] $version (pyscard and systemd-python may compile: minutes on a Pi)"
    "$VENV/bin/pip" install --quiet --progress-bar off --use-pep517 "${build}[pi]"
    rm -rf -- "$build"
    trap - EXIT
    printf '%s\n' "$digest" >"$SOURCE_STAMP"
    changed "pievse $version installed in $VENV ($("$VENV/bin/pievse" --version))"
}

# UpdateFirmware installs the new version into this venv from the daemon, which runs as the
# pievse user: the venv is theirs (the unit lets it write there and nowhere else under /opt). To
# lock updates out, set [firmware] allow_updates = false and chown -R root:root the venv.
give_venv_to_daemon() {
    if [ -z "$(find "$VENV" ! -user "$SERVICE_USER" -print -quit 2>/dev/null)" ]; then
        unchanged "$VENV belongs to $SERVICE_USER (firmware updates can install into it)"
        return 0
    fi
    chown -R "$SERVICE_USER:$SERVICE_USER" "$VENV"
    changed "$VENV given to $SERVICE_USER, so that firmware updates can install into it"
}

install_command_link() {
    if [ "$(readlink "$COMMAND_LINK" 2>/dev/null)" = "$VENV/bin/pievse" ]; then
        unchanged "command: $COMMAND_LINK -> $VENV/bin/pievse"
    elif [ -e "$COMMAND_LINK" ] || [ -L "$COMMAND_LINK" ]; then
        note "$COMMAND_LINK exists and is not ours: left alone; use $VENV/bin/pievse"
    else
        ln -s "$VENV/bin/pievse" "$COMMAND_LINK"
        changed "command: $COMMAND_LINK -> $VENV/bin/pievse"
    fi
}

install_config() {
    say "Configuration"
    CONFIG_CREATED=false
    if [ -e "$CONFIG" ]; then
        # Never overwrite: it holds the charge point's identity and its CSMS password.
        unchanged "$CONFIG kept as it is (new keys: diff it against $SOURCE/config.example.toml)"
        return 0
    fi
    install -d -m 0755 "$CONFIG_DIR"
    # Readable by the service, not by everyone: security profiles 1 and 2 keep a password in it.
    install -m 0640 -o root -g "$SERVICE_USER" "$SOURCE/config.example.toml" "$CONFIG"
    CONFIG_CREATED=true
    changed "$CONFIG created from config.example.toml (mode 0640, group $SERVICE_USER)"
}

install_units() {
    say "systemd units and modprobe"
    UNITS_CHANGED=$CHANGES
    install_file "$SOURCE/deploy/pievse.service" "$UNIT" 0644 root:root "unit"

    # systemd refuses to start a unit whose SupplementaryGroups= names a group that does not
    # exist (status 216/GROUP). Where gpio, spi or i2c are missing, a drop-in lists only the
    # groups this system has.
    if [ "${#MISSING_GROUPS[@]}" -gt 0 ]; then
        local present=() group dropin
        for group in "${HARDWARE_GROUPS[@]}"; do
            getent group "$group" >/dev/null && present+=("$group")
        done
        dropin=$(mktemp)
        {
            say "# Written by pievse's deploy/install.sh: this system has no group ${MISSING_GROUPS[*]},"
            say "# and systemd will not start a unit whose SupplementaryGroups= names a missing group."
            say "[Service]"
            say "SupplementaryGroups="
            say "SupplementaryGroups=${present[*]}"
        } >"$dropin"
        install_file "$dropin" "$GROUPS_DROPIN" 0644 root:root "drop-in"
        rm -f -- "$dropin"
    else
        remove_path "$GROUPS_DROPIN" "drop-in no longer needed (every group exists)"
        rmdir --ignore-fail-on-non-empty "$DROPIN_DIR" 2>/dev/null || true
    fi
    UNITS_CHANGED=$((CHANGES > UNITS_CHANGED))

    install_file "$SOURCE/deploy/blacklist-nfc.conf" "$BLACKLIST" 0644 root:root "NFC blacklist"
    if [ -d /sys/module/pn533_usb ]; then
        note "the kernel's pn533_usb holds the card reader now: sudo modprobe -r pn533_usb pn533" \
             "nfc, then replug the reader (or reboot)"
    fi
}

enable_units() {
    local systemctl=(systemctl)
    if systemd_running; then
        [ "$UNITS_CHANGED" = 1 ] && systemctl daemon-reload
    else
        # Offline: systemctl reads the [Install] sections and makes the .wants links itself.
        systemctl=(systemctl --root=/)
    fi
    # pcscd is socket-activated on Debian: enabling the socket is what `enable pcscd` means
    # (pcscd.service has only Also=pcscd.socket), and pcscd starts at the first connection.
    local unit
    for unit in pievse.service pcscd.socket; do
        if "${systemctl[@]}" is-enabled --quiet "$unit" 2>/dev/null; then
            unchanged "$unit enabled"
        else
            "${systemctl[@]}" enable --quiet "$unit"
            changed "$unit enabled (starts at boot)"
        fi
    done
}

# Stop a running pievse before its venv changes under it: modules it has not imported yet would
# come from the new version, and a venv being rebuilt vanishes. SIGTERM makes it open the
# contactors first (an ongoing session is interrupted; the CSMS hears why).
stop_before_upgrade() {
    if [ "$START" != no ] && systemd_running && systemctl is-active --quiet pievse.service; then
        say "  stopping pievse for the upgrade (it opens the contactors); it starts again at the end"
        systemctl stop pievse.service
    fi
}

start_service() {
    if [ "$START" = no ]; then
        say "Not started (--no-start)"
        if [ "$CHANGES" -gt 0 ] && systemd_running \
            && systemctl is-active --quiet pievse.service; then
            note "pievse still runs the previous installation: sudo systemctl restart pievse"
        fi
        return 0
    elif ! systemd_running; then
        say "Not started: systemd is not running here (a chroot?); pievse starts at the next boot"
        return 0
    fi
    systemctl start pcscd.socket
    if [ "$CONFIG_CREATED" = true ]; then
        say "Not started: $CONFIG is still the example. Edit it, then: sudo systemctl start pievse"
    elif [ "$CHANGES" -eq 0 ]; then
        return 0
    elif systemctl is-active --quiet pievse.service; then
        systemctl restart pievse.service
        say "pievse restarted on the new installation"
    else
        systemctl start pievse.service
        say "pievse started"
    fi
}

check_installed_config() {
    say "Checking $CONFIG as user $SERVICE_USER"
    # As the service user: this also proves that it can read the file.
    if ! (cd / && runuser -u "$SERVICE_USER" -- "$VENV/bin/pievse" check-config "$CONFIG") 2>&1 \
        | sed 's/^/    /'; then
        note "the config has problems (above); the service refuses to start until they are fixed"
    fi
}

print_guidance() {
    say ""
    say "Next steps"
    say "  1. Set [charge_point] id, [ocpp] url and the drivers in $CONFIG"
    say "     (sudoedit $CONFIG; every key is documented in it), then check and (re)start:"
    say "       sudo -u $SERVICE_USER $VENV/bin/pievse check-config $CONFIG"
    say "       sudo systemctl restart pievse && journalctl -u pievse -f"
    local boot=""
    [ -f /boot/firmware/config.txt ] && boot=/boot/firmware/config.txt
    [ -z "$boot" ] && [ -f /boot/config.txt ] && boot=/boot/config.txt
    local wanted=("dtparam=spi=on" "dtparam=i2c_arm=on" "dtoverlay=pwm,pin=18,func=2" "enable_uart=1")
    local missing=() line
    for line in "${wanted[@]}"; do
        if [ -z "$boot" ] || ! grep -qxF "$line" "$boot"; then missing+=("$line"); fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "  2. For the GPIO board and an MCP3008 pilot ADC (SPI0), I2C, the hardware PWM pilot on"
        say "     GPIO18 and an RS-485 meter on the UART, add to ${boot:-/boot/firmware/config.txt}:"
        for line in "${missing[@]}"; do say "       $line"; done
        say "     and reboot (the whole list, with Pi 3/4 notes, is in hardware/README.md)."
    else
        say "  2. $boot already enables SPI, I2C, the PWM pilot on GPIO18 and the UART."
    fi
    local cmdline=${boot%config.txt}cmdline.txt
    if [ -z "$boot" ] || grep -q 'console=serial0' "$cmdline" 2>/dev/null; then
        say "  3. Turn the serial login console off, so that the kernel does not talk on an RS-485"
        say "     meter bus: sudo raspi-config nonint do_serial_cons 1 (or remove"
        say "     console=serial0,115200 from cmdline.txt)."
    fi
}

do_install() {
    say "Installing pievse from $SOURCE"
    install_packages
    check_python
    create_user
    install_venv
    give_venv_to_daemon
    install_command_link
    install_config
    install_units
    say "Enabling"
    enable_units
    check_installed_config
    start_service
    print_guidance
    say ""
    if [ "$CHANGES" -eq 0 ]; then
        say "pievse: already up to date, nothing changed."
    else
        say "pievse: installed, $CHANGES change(s) made."
    fi
}

do_uninstall() {
    say "Removing pievse (the configuration and the data stay)"
    if [ -e "$UNIT" ]; then
        if systemd_running; then
            systemctl disable --now --quiet pievse.service
            changed "pievse.service stopped and disabled"
        elif command -v systemctl >/dev/null; then
            systemctl --root=/ disable --quiet pievse.service
            changed "pievse.service disabled"
        fi
    fi
    remove_path "$UNIT" "unit"
    remove_path "$DROPIN_DIR" "drop-ins"
    if systemd_running; then
        systemctl daemon-reload
        systemctl reset-failed pievse.service 2>/dev/null || true
    fi
    if [ "$(readlink "$COMMAND_LINK" 2>/dev/null)" = "$VENV/bin/pievse" ]; then
        remove_path "$COMMAND_LINK" "command"
    fi
    remove_path "$VENV" "program"
    if [ -e "$BLACKLIST" ] && ! cmp -s "$SOURCE/deploy/blacklist-nfc.conf" "$BLACKLIST"; then
        note "$BLACKLIST differs from pievse's: someone edited it, so it stays"
    else
        remove_path "$BLACKLIST" "NFC blacklist"
    fi
    say "Kept: $CONFIG_DIR (your configuration) and $STATE_DIR (transactions and messages not"
    say "yet delivered), and the user $SERVICE_USER that owns them. Remove them by hand if you"
    say "are sure: sudo rm -r $CONFIG_DIR $STATE_DIR && sudo userdel $SERVICE_USER"
    say "Kept: the apt packages and pcscd (other programs may use them)."
    if [ "$CHANGES" -eq 0 ]; then
        say "pievse: nothing to remove."
    else
        say "pievse: uninstalled, $CHANGES change(s) made."
    fi
}

main() {
    local action=install
    while [ $# -gt 0 ]; do
        case $1 in
            --uninstall) action=uninstall ;;
            --no-start) START=no ;;
            -h | --help) usage; exit 0 ;;
            *) usage >&2; die "unknown option: $1" ;;
        esac
        shift
    done
    [ "$(id -u)" -eq 0 ] || die "run it as root: sudo $0"
    if ! grep -qsx 'name = "pievse"' "$SOURCE/pyproject.toml"; then
        die "$SOURCE is not a pievse checkout (run deploy/install.sh from inside one)"
    fi
    command -v apt-get >/dev/null || die "this installer is for Debian and Raspberry Pi OS (apt)"
    umask 022
    "do_$action"
}

main "$@"
