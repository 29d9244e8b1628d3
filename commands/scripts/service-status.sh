#!/bin/sh
# description: Show the status of one service (SERVICE); exit 0 if active, 3 if not
# timeout: 1m
#
# Runs as any user (journal lines in the status output may need root).
# Uses systemctl when systemd is running, else the SysV `service` command.
#
# Environment:
#   SERVICE  required; the service or unit name, e.g. apache2, mariadb,
#            ssh.service, getty@tty1. Must match ^[A-Za-z0-9@._-]+$ and not
#            start with '-'.
#
# Exit codes: 0 active; 3 inactive, failed or otherwise not running;
# 4 no such service; 64 SERVICE missing or invalid.

set -eu

PROG=service-status
SERVICE=${SERVICE:-}

usage_error() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 64; }

[ -n "$SERVICE" ] || usage_error "SERVICE is required, e.g. --env SERVICE=apache2"
# Spelled out instead of A-Z ranges so that the locale cannot widen the set.
case $SERVICE in
    *[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@._-]*)
        usage_error "SERVICE must match ^[A-Za-z0-9@._-]+\$, got '$SERVICE'" ;;
    -*)
        usage_error "SERVICE must not start with '-', got '$SERVICE'" ;;
esac
if [ "${#SERVICE}" -gt 256 ]; then
    usage_error "SERVICE is longer than 256 characters"
fi

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl status --no-pager --full --lines=20 -- "$SERVICE" || true
    echo
    state=$(systemctl is-active -- "$SERVICE" 2>/dev/null) || true
    if [ "$state" = active ]; then
        echo "$PROG: $SERVICE is active"
        exit 0
    fi
    load=$(systemctl show --property=LoadState --value -- "$SERVICE" 2>/dev/null) || load=
    if [ "$load" = not-found ]; then
        printf '%s: ERROR: no such unit: %s\n' "$PROG" "$SERVICE" >&2
        exit 4
    fi
    echo "$PROG: $SERVICE is ${state:-not active}"
    exit 3
fi

if ! command -v service >/dev/null 2>&1; then
    printf '%s: ERROR: neither systemd (systemctl) nor the service command is available\n' "$PROG" >&2
    exit 1
fi
if [ ! -f "/etc/init.d/$SERVICE" ] || [ ! -x "/etc/init.d/$SERVICE" ]; then
    printf '%s: ERROR: no such service: /etc/init.d/%s is not an executable init script\n' "$PROG" "$SERVICE" >&2
    exit 4
fi

rc=0
out=$(service "$SERVICE" status 2>&1) || rc=$?
if [ -n "$out" ]; then
    printf '%s\n' "$out" | head -n 20
fi
echo
# LSB init scripts: 0 running, 3 not running, 4 status unknown/no service.
case $rc in
    0)
        echo "$PROG: $SERVICE is active"
        exit 0 ;;
    4)
        printf '%s: ERROR: status of %s is unknown (init script exit status 4)\n' "$PROG" "$SERVICE" >&2
        exit 4 ;;
    *)
        echo "$PROG: $SERVICE is not running (init script exit status $rc)"
        exit 3 ;;
esac
