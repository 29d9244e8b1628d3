#!/bin/sh
# description: Show uptime, load averages, CPU count and memory usage
# timeout: 1m
#
# Runs as any user; reads /proc only (Linux), plus uptime/nproc/getconf when
# present. No environment variables.
#
# Exit codes: 0 ok; 1 /proc/loadavg or /proc/meminfo unreadable.

set -eu

PROG=load-uptime

die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }

[ -r /proc/loadavg ] || die "/proc/loadavg is not readable (is /proc mounted?)"
[ -r /proc/meminfo ] || die "/proc/meminfo is not readable (is /proc mounted?)"

echo "host:       ${DROVER_HOST:-$(uname -n)}"

if command -v uptime >/dev/null 2>&1; then
    echo "uptime:     $(uptime | sed 's/^ *//')"
elif [ -r /proc/uptime ]; then
    echo "uptime:     $(awk '{ s = int($1); printf "up %d days, %02d:%02d", s / 86400, (s % 86400) / 3600, (s % 3600) / 60 }' /proc/uptime)"
fi

cpus=
if command -v nproc >/dev/null 2>&1; then
    cpus=$(nproc 2>/dev/null) || cpus=
fi
if [ -z "$cpus" ]; then
    cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null) || cpus=
fi
if [ -z "$cpus" ]; then
    cpus=$(grep -c '^processor' /proc/cpuinfo 2>/dev/null) || cpus=
fi
case $cpus in '' | *[!0-9]* | 0) cpus=unknown ;; esac
echo "cpus:       $cpus"

read -r load1 load5 load15 procs _ </proc/loadavg
echo "load avg:   $load1 (1m)  $load5 (5m)  $load15 (15m)  runnable/total tasks: $procs"
if [ "$cpus" != unknown ]; then
    awk -v l1="$load1" -v l5="$load5" -v l15="$load15" -v n="$cpus" \
        'BEGIN { printf "load/cpu:   %.2f (1m)  %.2f (5m)  %.2f (15m)\n", l1 / n, l5 / n, l15 / n }'
fi

# MemAvailable exists since Linux 3.14; estimate it on older kernels.
awk '
    $1 == "MemTotal:"     { total = $2 }
    $1 == "MemAvailable:" { avail = $2; have_avail = 1 }
    $1 == "MemFree:"      { free = $2 }
    $1 == "Buffers:"      { buffers = $2 }
    $1 == "Cached:"       { cached = $2 }
    $1 == "SwapTotal:"    { swap_total = $2 }
    $1 == "SwapFree:"     { swap_free = $2 }
    END {
        if (total <= 0) { print "memory:     unknown (no MemTotal in /proc/meminfo)"; exit }
        note = ""
        if (!have_avail) { avail = free + buffers + cached; note = " (estimated)" }
        used = total - avail
        printf "memory:     total %.0f MiB, available %.0f MiB%s, used %.0f MiB (%.1f%%)\n",
            total / 1024, avail / 1024, note, used / 1024, 100 * used / total
        if (swap_total > 0) {
            swap_used = swap_total - swap_free
            printf "swap:       total %.0f MiB, used %.0f MiB (%.1f%%)\n",
                swap_total / 1024, swap_used / 1024, 100 * swap_used / swap_total
        } else {
            print "swap:       none"
        }
    }' /proc/meminfo
