#!/bin/sh
# description: Install, enable and start MariaDB (Debian's MySQL server) on Debian/Ubuntu
# timeout: 15m
#
# Requires root (run with sudo). Installs the mariadb-server package, makes
# sure the service is enabled and running, waits until it answers a ping and
# prints the server version. Idempotent: when mariadb-server is already
# installed, enabled and running, nothing is changed (no apt-get update).
#
# The Debian defaults are kept: root@localhost authenticates by unix socket
# and the server listens on 127.0.0.1 only. Creating databases, users and
# passwords is deliberately left to other scripts.
#
# Environment:
#   MYSQL_PING_SECONDS  how long to wait for the server to answer after
#                       starting it (default 60)
#
# Exit codes: 0 ok; 1 not root, not Debian/Ubuntu, install/start failed or
# the server did not answer; 64 invalid MYSQL_PING_SECONDS.

set -eu

PROG=setup-mysql
PKG=mariadb-server
PING_SECONDS=${MYSQL_PING_SECONDS:-60}

say() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

case $PING_SECONDS in
    '' | *[!0-9]*)
        printf '%s: ERROR: MYSQL_PING_SECONDS must be a whole number of seconds, got %s\n' \
            "$PROG" "$PING_SECONDS" >&2
        exit 64
        ;;
esac

if [ "$(id -u)" -ne 0 ]; then
    die "must run as root (uid 0), running as uid $(id -u); run this script with sudo"
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    die "apt-get/dpkg-query not found: this script supports Debian/Ubuntu only"
fi

export DEBIAN_FRONTEND=noninteractive
APT_OPTS="-y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"

is_installed() {
    # shellcheck disable=SC2016 # ${Status} is a dpkg-query format, not a shell expansion
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

have_systemd() {
    command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]
}

# Prints the service name of the installed server: "mariadb" on current
# releases, "mysql" on older ones.
service_name() {
    for s in mariadb mysql; do
        if have_systemd; then
            if systemctl cat "$s.service" >/dev/null 2>&1; then
                echo "$s"
                return 0
            fi
        elif [ -x "/etc/init.d/$s" ]; then
            echo "$s"
            return 0
        fi
    done
    return 1
}

ensure_service() {
    svc=$1
    if have_systemd; then
        if systemctl is-enabled --quiet "$svc" 2>/dev/null; then
            say "service $svc already enabled"
        else
            say "enabling service $svc"
            systemctl enable --quiet "$svc" || die "systemctl enable $svc failed"
        fi
        if systemctl is-active --quiet "$svc"; then
            say "service $svc already running"
        else
            say "starting service $svc"
            systemctl start "$svc" || die "systemctl start $svc failed; see: journalctl -u $svc"
        fi
    elif command -v service >/dev/null 2>&1; then
        # Without systemd the package's maintainer scripts register the
        # init script (update-rc.d); we only make sure it is running.
        if service "$svc" status >/dev/null 2>&1; then
            say "service $svc already running"
        else
            say "starting service $svc"
            service "$svc" start || die "service $svc start failed"
        fi
    else
        die "neither systemctl nor service is available to manage $svc"
    fi
}

first_command() {
    for c in "$@"; do
        if command -v "$c" >/dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

if is_installed "$PKG"; then
    say "package $PKG already installed"
else
    say "package $PKG missing: running apt-get update"
    # shellcheck disable=SC2086 # APT_OPTS is a list of options
    apt-get $APT_OPTS update || die "apt-get update failed"
    say "installing $PKG"
    # shellcheck disable=SC2086
    apt-get $APT_OPTS install "$PKG" || die "apt-get install $PKG failed"
    is_installed "$PKG" || die "$PKG is still not installed after apt-get install"
fi

svc=$(service_name) || die "no mariadb or mysql service found although $PKG is installed"
ensure_service "$svc"

# mysqladmin ping exits 0 whenever the server is up, even if access is denied.
if admin=$(first_command mariadb-admin mysqladmin); then
    say "waiting up to ${PING_SECONDS}s for the server to answer"
    waited=0
    until "$admin" --connect-timeout=5 ping >/dev/null 2>&1; do
        [ "$waited" -lt "$PING_SECONDS" ] || die "server did not answer a ping within ${PING_SECONDS}s"
        sleep 1
        waited=$((waited + 1))
    done
    say "server answers"
else
    say "mariadb-admin/mysqladmin not found: skipping the ping check"
fi

if server=$(first_command mariadbd mysqld /usr/sbin/mariadbd /usr/sbin/mysqld); then
    say "version: $("$server" --version 2>/dev/null || echo unknown)"
elif client=$(first_command mariadb mysql); then
    say "version: $("$client" --version 2>/dev/null || echo unknown)"
else
    say "version: unknown (no server or client binary found)"
fi
say "done"
