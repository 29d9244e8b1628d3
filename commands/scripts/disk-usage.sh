#!/bin/sh
# description: Show disk usage (df -hP) and warn or fail on nearly full filesystems
# timeout: 2m
#
# Runs as any user. Pseudo and image filesystems are left out (see
# DISK_EXCLUDE_TYPES). "Above" means strictly greater than the threshold.
#
# Environment:
#   DISK_WARN_PERCENT   warn (exit status stays 0) for filesystems above this
#                       use percentage (default 90)
#   DISK_FAIL_PERCENT   exit 2 if any filesystem is above this use percentage
#                       (default 98)
#   DISK_EXCLUDE_TYPES  space-separated filesystem types to leave out
#                       (default "tmpfs devtmpfs overlay squashfs"; squashfs
#                       covers Ubuntu snap images, which are always 100% full)
#
# Exit codes: 0 ok or warnings only; 1 df failed to report anything;
# 2 a filesystem is above DISK_FAIL_PERCENT; 64 invalid environment value.

set -eu

PROG=disk-usage
WARN=${DISK_WARN_PERCENT:-90}
FAIL=${DISK_FAIL_PERCENT:-98}
EXCLUDE=${DISK_EXCLUDE_TYPES-tmpfs devtmpfs overlay squashfs}

usage_error() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 64; }

check_percent() {
    case $2 in
        '' | *[!0-9]*) usage_error "$1 must be a whole number from 0 to 100, got '$2'" ;;
    esac
    if [ "${#2}" -gt 3 ] || [ "$2" -gt 100 ]; then
        usage_error "$1 must be a whole number from 0 to 100, got '$2'"
    fi
}
check_percent DISK_WARN_PERCENT "$WARN"
check_percent DISK_FAIL_PERCENT "$FAIL"

set --
for t in $EXCLUDE; do
    case $t in
        *[!A-Za-z0-9._-]*) usage_error "DISK_EXCLUDE_TYPES: invalid filesystem type '$t'" ;;
    esac
    set -- "$@" -x "$t"
done

rc=0
out=$(df -hP "$@") || rc=$?
# df exits 1 on partial errors (e.g. a stale NFS mount) but still reports the
# other filesystems; its own messages go to stderr.
if [ -z "$out" ]; then
    printf '%s: ERROR: df reported no filesystems (exit status %s)\n' "$PROG" "$rc" >&2
    exit 1
fi
printf '%s\n' "$out"
echo

# One line per filesystem above the lower threshold: "<percent> <mount>".
low=$WARN
[ "$FAIL" -ge "$WARN" ] || low=$FAIL
over=$(printf '%s\n' "$out" | awk -v low="$low" '
    NR > 1 {
        pct = $5
        if (pct !~ /^[0-9]+%$/) next
        sub(/%$/, "", pct)
        if (pct + 0 <= low + 0) next
        mnt = $0
        for (i = 1; i <= 5; i++) sub(/^[ \t]*[^ \t]+/, "", mnt)
        sub(/^[ \t]+/, "", mnt)
        print pct, mnt
    }')

warned=0
failed=0
if [ -n "$over" ]; then
    while read -r pct mnt; do
        if [ "$pct" -gt "$FAIL" ]; then
            printf '%s: CRITICAL: %s is %s%% full (fail threshold %s%%)\n' "$PROG" "$mnt" "$pct" "$FAIL" >&2
            failed=$((failed + 1))
        else
            printf '%s: WARNING: %s is %s%% full (warn threshold %s%%)\n' "$PROG" "$mnt" "$pct" "$WARN" >&2
            warned=$((warned + 1))
        fi
    done <<EOT
$over
EOT
fi

if [ "$failed" -gt 0 ]; then
    echo "$PROG: FAIL: $failed filesystem(s) above ${FAIL}%, $warned more above ${WARN}%"
    exit 2
fi
if [ "$warned" -gt 0 ]; then
    echo "$PROG: OK with warnings: $warned filesystem(s) above ${WARN}%"
else
    echo "$PROG: OK: no filesystem above ${WARN}%"
fi
