#!/usr/bin/env bash
# benches/bastion.sh N [RUNS] — N hosts reached through one bastion against
# the same N hosts reached directly.
#
# Starts N loopback sshd listeners (16 addresses each, 127.100.X.Y:PORT) and
# one bastion sshd (127.99.0.1, LogLevel INFO, its own log), all with a
# throwaway host key, for the login `droverbench` (created if missing, as in
# benches/fleet.sh). Puts every address in the inventory twice: `dI` in
# group `direct`, `jI` in group `jumped` with `--jump bastion`. Then runs a
# one-script group (200 lines of output per host) with fan-out 64 on each
# group, alternating, RUNS times (default 3), and prints per run: wall time,
# succeeded hosts, and for the jumped runs the logins the bastion accepted
# (its log) and the TCP connections to its port at their peak (`ss -tn`,
# sampled every 20 ms). Ends with the medians and their ratio.
#
# Needs root, openssh-server, iproute2 (ss), python3 and a release build
# (built here if missing). Stops every sshd it started on exit.
set -euo pipefail
N=${1:?usage: benches/bastion.sh N [RUNS]}
RUNS=${2:-3}
FANOUT=${FANOUT:-64}
. "$(dirname "$0")/lib.sh"
bench_init bastion
BASTION_PORT=$(free_port)
BASTION=127.99.0.1
start_fleet "$N"
{ sshd_common_conf; echo "LogLevel INFO"; echo "AllowTcpForwarding yes"; echo "ListenAddress $BASTION:$BASTION_PORT"; } > "$WORK/bastion.conf"
"$SSHD" -D -E "$WORK/bastion.log" -f "$WORK/bastion.conf" & PIDS+=($!)

{
  printf '[[hosts]]\nname = "bastion"\naddress = "%s"\nport = %d\nuser = "%s"\n' "$BASTION" "$BASTION_PORT" "$USER_NAME"
  for (( i = 1; i <= N; i++ )); do
    for kind in d j; do
      group=direct; [ "$kind" = j ] && group=jumped
      printf '[[hosts]]\nname = "%s%d"\naddress = "%s"\nport = %d\nuser = "%s"\ngroups = ["%s"]\n' \
        "$kind" "$i" "$(addr "$i")" "$PORT" "$USER_NAME" "$group"
    done
  done
} > "$WORK/inventory.toml"
{
  echo "[$BASTION]:$BASTION_PORT $(cat "$WORK/host_key.pub")"
  for (( i = 1; i <= N; i++ )); do echo "[$(addr "$i")]:$PORT $(cat "$WORK/host_key.pub")"; done
} > "$WORK/known_hosts"
cat > "$WORK/drover.toml" <<EOC
[ssh]
known_hosts = "$WORK/known_hosts"
host_key_policy = "strict"
config = false
EOC
cat > "$WORK/w2.sh" <<'EOS'
#!/bin/sh
i=1
while [ "$i" -le 200 ]; do
    echo "w2 line $i/200 via=${SSH_CONNECTION%% *} payload-abcdefghijklmnop"
    i=$((i + 1))
done
EOS
export DROVER_DATABASE_URL="$WORK/drover.db" DROVER_CONFIG="$WORK/drover.toml"
"$DROVER" import "$WORK/inventory.toml" >/dev/null
for (( i = 1; i <= N; i++ )); do "$DROVER" host edit "j$i" --jump bastion >/dev/null; done
"$DROVER" script add w2 "$WORK/w2.sh" >/dev/null
"$DROVER" scriptgroup create w2-group w2 >/dev/null

wait_listening "$BASTION" "$BASTION_PORT"
for (( i = 1; i <= N; i++ )); do wait_listening "$(addr "$i")" "$PORT"; done

python3 - "$DROVER" "$WORK" "$N" "$RUNS" "$FANOUT" "$BASTION" "$BASTION_PORT" <<'EOP'
import json, statistics, subprocess, sys, threading, time
drover, work, n, runs, fanout, bastion, bport = sys.argv[1:8]
n, runs = int(n), int(runs)
def logins():
    return open(f"{work}/bastion.log").read().count("Accepted publickey")
def connections():
    out = subprocess.run(["ss", "-Htn", "state", "established", "dst", f"{bastion}:{bport}"],
                         capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if line.strip())
def run(group):
    peak = [0]
    done = threading.Event()
    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], connections())
            time.sleep(0.02)
    sampler = threading.Thread(target=sample)
    before = logins()
    sampler.start()
    start = time.monotonic()
    out = subprocess.run([drover, "-i", f"{work}/client_key", "--json", "--quiet", "task", "run",
                          "w2-group", group, "--parallel", fanout], capture_output=True).stdout
    wall = time.monotonic() - start
    done.set(); sampler.join()
    doc = json.loads(out)
    ok = sum(1 for h in doc["hosts"] if h["state"] == "succeeded")
    return {"wall": wall, "ok": ok, "logins": logins() - before, "peak": peak[0]}
rows = {"direct": [], "jumped": []}
for r in range(runs):
    for group in ("direct", "jumped"):
        row = run(group)
        rows[group].append(row)
        extra = f"  bastion logins {row['logins']}  peak connections to the bastion {row['peak']}" if group == "jumped" else ""
        print(f"run {r+1} {group:6}: {n} hosts  wall {row['wall']:.2f} s  succeeded {row['ok']}/{n}{extra}")
d = statistics.median(x["wall"] for x in rows["direct"])
j = statistics.median(x["wall"] for x in rows["jumped"])
print(f"median: direct {d:.2f} s, through the bastion {j:.2f} s, ratio {j/d:.2f}; "
      f"bastion logins per run {[x['logins'] for x in rows['jumped']]}, peak connections {[x['peak'] for x in rows['jumped']]}")
if any(x["ok"] != n for g in rows.values() for x in g):
    sys.exit("some hosts did not succeed")
EOP
