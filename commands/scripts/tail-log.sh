#!/bin/sh
# description: Print the last lines of a log file under /var/log (LOG_FILE, LINES)
# timeout: 1m
#
# Runs as any user; many logs are readable only by root or the adm group,
# so run with sudo if needed. Files ending in .gz are decompressed.
#
# Environment:
#   LOG_FILE  absolute path of a regular file under /var/log/ (default
#             /var/log/syslog, or /var/log/messages when syslog does not
#             exist). Paths containing '..', or resolving (through symlinks)
#             outside /var/log, are refused.
#   LINES     number of lines to print, 1..10000, digits only (default 100)
#
# Exit codes: 0 ok; 64 invalid LOG_FILE or LINES; 66 log file missing or
# not a regular file; 77 log file not readable by this user.

set -eu

PROG=tail-log

usage_error() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 64; }
fail() { code=$1; shift; printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit "$code"; }

LINES=${LINES:-100}
case $LINES in
    '' | *[!0123456789]*) usage_error "LINES must be a number from 1 to 10000 (digits only), got '$LINES'" ;;
esac
if [ "${#LINES}" -gt 5 ] || [ "$LINES" -lt 1 ] || [ "$LINES" -gt 10000 ]; then
    usage_error "LINES must be a number from 1 to 10000, got '$LINES'"
fi

if [ -n "${LOG_FILE:-}" ]; then
    log=$LOG_FILE
elif [ -e /var/log/syslog ]; then
    log=/var/log/syslog
elif [ -e /var/log/messages ]; then
    log=/var/log/messages
else
    fail 66 "neither /var/log/syslog nor /var/log/messages exists (the host may log to the journal only: use journalctl); set LOG_FILE"
fi

case $log in
    *..*) usage_error "LOG_FILE must not contain '..', got '$log'" ;;
    /var/log/?*) ;;
    *) usage_error "LOG_FILE must be an absolute path under /var/log/, got '$log'" ;;
esac

[ -e "$log" ] || fail 66 "$log does not exist"
[ -f "$log" ] || fail 66 "$log is not a regular file"

# Refuse symlinks (of the file or a parent directory) leading out of /var/log.
if command -v readlink >/dev/null 2>&1; then
    root=$(readlink -f /var/log) || fail 66 "cannot resolve /var/log"
    real=$(readlink -f "$log") || fail 66 "cannot resolve $log"
    case $real in
        "$root"/?*) ;;
        *) usage_error "$log resolves to $real, which is outside /var/log" ;;
    esac
elif [ -L "$log" ]; then
    usage_error "$log is a symlink and readlink is not available to check where it points"
fi

[ -r "$log" ] || fail 77 "$log is not readable by uid $(id -u); run with sudo or as a member of the adm group"

echo "==> $log on ${DROVER_HOST:-$(uname -n)}: last $LINES lines <=="
case $log in
    *.gz) gzip -dc -- "$log" | tail -n "$LINES" ;;
    *) tail -n "$LINES" -- "$log" ;;
esac
