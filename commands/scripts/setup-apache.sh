#!/bin/sh
# description: Install, enable and start the Apache HTTP server (apache2) on Debian/Ubuntu
# timeout: 10m
#
# Requires root (run with sudo). Idempotent: when apache2 is already
# installed, enabled and running, nothing is changed (no apt-get update).
#
# Environment:
#   APACHE_CHECK_URL  URL probed after start-up with curl or wget, if either
#                     is installed (default http://localhost:80/). Any HTTP
#                     answer, even 403/404, counts as "answering".
#
# Exit codes: 0 ok; 1 not root, not Debian/Ubuntu, install/start failed or
# no answer on APACHE_CHECK_URL.

set -eu

PROG=setup-apache
PKG=apache2
SERVICE=apache2
CHECK_URL=${APACHE_CHECK_URL:-http://localhost:80/}

say() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

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

# Succeeds when something answers HTTP on $1 (any status code).
http_answers() {
    if command -v curl >/dev/null 2>&1; then
        code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$1" 2>/dev/null) || true
        [ -n "$code" ] && [ "$code" != 000 ]
    else
        # wget exits 8 when the server answered with an HTTP error status.
        rc=0
        wget -q -O /dev/null --timeout=10 --tries=1 "$1" 2>/dev/null || rc=$?
        [ "$rc" -eq 0 ] || [ "$rc" -eq 8 ]
    fi
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

ensure_service "$SERVICE"

if command -v curl >/dev/null 2>&1 || command -v wget >/dev/null 2>&1; then
    say "checking that $CHECK_URL answers"
    tries=0
    until http_answers "$CHECK_URL"; do
        tries=$((tries + 1))
        [ "$tries" -lt 10 ] || die "no HTTP answer from $CHECK_URL after $tries attempts"
        sleep 1
    done
    say "$CHECK_URL answers"
else
    say "curl and wget not installed: skipping the HTTP check"
fi

version=$(apache2ctl -v 2>/dev/null | sed -n 's/^Server version: *//p') || version=unknown
say "done: ${version:-apache2 version unknown}"
