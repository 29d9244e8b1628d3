#!/bin/sh
# description: Install PHP with the Apache module and MySQL/MariaDB extension on Debian/Ubuntu
# timeout: 10m
#
# Requires root (run with sudo). Installs php, libapache2-mod-php and
# php-mysql (the distribution's default PHP version). When apache2 is
# installed, makes sure the PHP module is enabled (switching Apache to the
# prefork MPM, which mod_php needs, like the Debian package itself does) and
# restarts Apache after a configuration test - but only if something changed.
# Prints the first line of `php -v`. Idempotent: re-running on a configured
# host changes nothing (no apt-get update, no Apache restart).
#
# Run setup-apache first (the "lamp" group does), otherwise
# libapache2-mod-php pulls in only the Apache binaries.
#
# Exit codes: 0 ok; 1 not root, not Debian/Ubuntu, install failed, Apache
# configuration test or restart failed.

set -eu

PROG=setup-php
PKGS="php libapache2-mod-php php-mysql"

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

changed=0

missing=
for p in $PKGS; do
    if is_installed "$p"; then
        say "package $p already installed"
    else
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    say "packages missing:$missing; running apt-get update"
    # shellcheck disable=SC2086 # APT_OPTS is a list of options
    apt-get $APT_OPTS update || die "apt-get update failed"
    say "installing:$missing"
    # shellcheck disable=SC2086 # APT_OPTS and missing are lists
    apt-get $APT_OPTS install $missing || die "apt-get install$missing failed"
    for p in $missing; do
        is_installed "$p" || die "$p is still not installed after apt-get install"
    done
    changed=1
fi

command -v php >/dev/null 2>&1 || die "php command not found after installation"
php_ver=$(php -r 'echo PHP_MAJOR_VERSION, ".", PHP_MINOR_VERSION;' 2>/dev/null) ||
    die "could not determine the PHP version (php -r failed)"

if is_installed apache2 && command -v a2query >/dev/null 2>&1; then
    mod="php$php_ver"
    if a2query -q -m "$mod"; then
        say "apache module $mod already enabled"
    else
        say "enabling apache module $mod (with the prefork MPM)"
        for mpm in mpm_event mpm_worker; do
            if a2query -q -m "$mpm"; then
                a2dismod -q "$mpm" >/dev/null || die "a2dismod $mpm failed"
            fi
        done
        a2query -q -m mpm_prefork || a2enmod -q mpm_prefork >/dev/null || die "a2enmod mpm_prefork failed"
        a2enmod -q "$mod" >/dev/null || die "a2enmod $mod failed"
        changed=1
    fi

    if [ "$changed" -eq 1 ]; then
        say "testing apache configuration"
        apache2ctl configtest || die "apache configuration test failed; apache not restarted"
        say "restarting apache2"
        if have_systemd; then
            systemctl restart apache2 || die "systemctl restart apache2 failed; see: journalctl -u apache2"
        elif command -v service >/dev/null 2>&1; then
            service apache2 restart || die "service apache2 restart failed"
        else
            die "neither systemctl nor service is available to restart apache2"
        fi
    else
        say "nothing changed: apache2 not restarted"
    fi
else
    say "apache2 not installed: skipping the apache module and restart"
fi

say "$(php -v | sed -n 1p)"
say "done"
