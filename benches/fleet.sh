#!/usr/bin/env bash
# benches/fleet.sh N [RUNS] — drover on N loopback OpenSSH hosts.
#
# Starts its own sshd listeners (16 addresses each, 127.0.X.Y:PORT, loopback
# only), a throwaway host key and client key, imports N hosts into a fresh
# database, and runs a one-script group (a ~1 KiB script printing 200 lines)
# on all of them with fan-out 64, RUNS times (default 3). Prints wall time,
# controller CPU time (user+sys) and peak RSS for each run and the median,
# and checks that every host succeeded with all 200 lines logged.
#
# Needs root (it creates the login user `droverbench`, whose clean home and
# shell keep per-login costs those of a plain server), openssh-server,
# python3 and a release build (built here if missing). Stops every sshd it
# started on exit.
set -euo pipefail
N=${1:?usage: benches/fleet.sh N [RUNS]}
RUNS=${2:-3}
FANOUT=${FANOUT:-64}
. "$(dirname "$0")/lib.sh"
bench_init bench
[ -n "${KEEP:-}" ] && trap "for p in \"\${PIDS[@]}\"; do kill \$p; done" EXIT
start_fleet "$N"

write_fleet_files "$N"
cat > "$WORK/drover.toml" <<EOC
[ssh]
known_hosts = "$WORK/known_hosts"
host_key_policy = "strict"
EOC
write_w2 "$WORK/w2.sh"
export DROVER_DATABASE_URL="$WORK/drover.db" DROVER_CONFIG="$WORK/drover.toml"
"$DROVER" import "$WORK/inventory.toml" >/dev/null
"$DROVER" script add w2 "$WORK/w2.sh" >/dev/null
"$DROVER" scriptgroup create w2-group w2 >/dev/null

# Wait until every listener answers.
for (( i = 1; i <= N; i++ )); do wait_listening "$(addr "$i")" "$PORT"; done

python3 - "$DROVER" "$WORK" "$N" "$RUNS" "$FANOUT" <<'EOP'
import json, os, resource, statistics, subprocess, sys, time
drover, work, n, runs, fanout = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rows = []
def machine_busy():
    v = list(map(int, open("/proc/stat").readline().split()[1:]))
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")
for r in range(runs):
    busy0 = machine_busy()
    start = time.monotonic()
    proc = subprocess.Popen([drover, "-i", f"{work}/client_key", "--json", "--quiet", "task", "run",
                             "w2-group", "bench", "--parallel", fanout], stdout=subprocess.PIPE)
    out, _ = proc.communicate()
    wall = time.monotonic() - start
    busy = machine_busy() - busy0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_total = ru.ru_utime + ru.ru_stime
    cpu = cpu_total - sum(x["cpu_cumulative"] for x in rows[-1:]) if rows else cpu_total
    doc = json.loads(out)
    ok = sum(1 for h in doc["hosts"] if h["state"] == "succeeded")
    logs = os.path.join(work, "logs", str(doc["id"]))
    complete = 0
    for h in doc["hosts"]:
        with open(os.path.join(logs, h["host"], "1.log"), "rb") as f:
            if f.read().count(b"\n") == 200:
                complete += 1
    rows.append({"wall": wall, "busy": busy, "cpu": cpu, "cpu_cumulative": cpu_total, "rss_mib": ru.ru_maxrss / 1024,
                 "ok": ok, "complete": complete})
    print(f"run {r+1}: {n} hosts  wall {wall:.2f} s  controller CPU {cpu:.2f} s  "
          f"peak RSS {ru.ru_maxrss/1024:.1f} MiB (max so far)  machine CPU {busy:.2f} s  "
          f"succeeded {ok}/{n}  full logs {complete}/{n}")
wall = statistics.median(r["wall"] for r in rows)
cpu = statistics.median(r["cpu"] for r in rows)
rss = max(r["rss_mib"] for r in rows)
busy = statistics.median(r["busy"] for r in rows)
print(f"median: {n} hosts  wall {wall:.2f} s  controller CPU {cpu:.2f} s ({cpu/n*1000:.2f} ms/host)  "
      f"peak RSS {rss:.1f} MiB ({rss*1024/n:.0f} KiB/host)  machine CPU {busy:.2f} s ({busy/n*1000:.1f} ms/host)")
if any(r["ok"] != n or r["complete"] != n for r in rows):
    sys.exit("some hosts did not succeed or lost output")
EOP
