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
cd "$(dirname "$0")/.."
[ -x target/release/drover ] || cargo build --release --quiet
DROVER=$PWD/target/release/drover
SSHD=/usr/sbin/sshd
[ -x "$SSHD" ] || { echo "openssh-server missing: apt-get install -y openssh-server" >&2; exit 1; }

WORK=$(mktemp -d /tmp/drover-bastion.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client_key"
cp "$WORK/client_key.pub" "$WORK/authorized_keys"
install -d -m 755 /run/sshd
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
BASTION_PORT=$(free_port)
BASTION=127.99.0.1
USER_NAME=droverbench
id "$USER_NAME" >/dev/null 2>&1 || useradd -m -s /bin/bash -c "drover benchmark login" "$USER_NAME"
usermod -p '*' "$USER_NAME"
chmod 755 "$WORK"; chmod 644 "$WORK/authorized_keys"
addr() { echo "127.$(( 100 + (($1 - 1) / 250) / 250 )).$(( (($1 - 1) / 250) % 250 + 1 )).$(( ($1 - 1) % 250 + 1 ))"; }

common_conf() {
  echo "HostKey $WORK/host_key"
  echo "AuthorizedKeysFile $WORK/authorized_keys"
  echo "AllowUsers $USER_NAME"
  printf 'PidFile none\nUsePAM no\nStrictModes no\nUseDNS no\nPasswordAuthentication no\n'
  printf 'KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nMaxStartups 2000\n'
  printf 'MaxSessions 100\nPrintMotd no\nPrintLastLog no\n'
}
for (( g = 0; g * 16 < N; g++ )); do
  conf="$WORK/sshd.$g.conf"
  {
    common_conf
    echo "LogLevel ERROR"
    for (( k = 1; k <= 16 && g * 16 + k <= N; k++ )); do echo "ListenAddress $(addr $(( g * 16 + k ))):$PORT"; done
  } > "$conf"
  "$SSHD" -D -f "$conf" & PIDS+=($!)
done
{ common_conf; echo "LogLevel INFO"; echo "AllowTcpForwarding yes"; echo "ListenAddress $BASTION:$BASTION_PORT"; } > "$WORK/bastion.conf"
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

for (( i = 0; i <= N; i++ )); do
  if (( i == 0 )); then a=$BASTION; p=$BASTION_PORT; else a=$(addr "$i"); p=$PORT; fi
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/$a/$p") 2>/dev/null && break
    sleep 0.05
  done
done

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
