#!/usr/bin/env bash
# benches/live_viewers.sh N [VIEWERS] [PAIRS] — what live viewers of a run's
# web page cost the run.
#
# Starts N loopback sshd hosts (benches/lib.sh), a fresh database with them
# in server group `bench`, a task `w2` (the 200-line payload, fan-out 64) and
# `drover serve` on a loopback port. Then, PAIRS times (default 3), starts
# the task from the web (POST /runs/new, so the serve process drives the
# run) once with no viewer and once with VIEWERS (default 50) clients
# following /runs/ID/live from the moment the run starts, in alternating
# order. Prints per run the run's own elapsed time (drover's record), the
# serve process's CPU time, and for viewer runs the events and bytes each
# viewer got and the shortest gap between two events of one viewer; then
# the medians and the ratio with/without viewers. Checks that every host
# succeeded and that every viewer got the run's final state.
#
# Needs root, openssh-server, python3 and a release build (built here if
# missing). Stops every process it started on exit.
set -euo pipefail
N=${1:?usage: benches/live_viewers.sh N [VIEWERS] [PAIRS]}
VIEWERS=${2:-50}
PAIRS=${3:-3}
. "$(dirname "$0")/lib.sh"
bench_init viewers
start_fleet "$N"

write_fleet_files "$N"
cat > "$WORK/drover.toml" <<EOC
[ssh]
known_hosts = "$WORK/known_hosts"
host_key_policy = "strict"
identity_files = ["$WORK/client_key"]
config = false

[web]
listen = "127.0.0.1:0"

[discord]
confirm_above = 100000
EOC
write_w2 "$WORK/w2.sh"
export DROVER_DATABASE_URL="$WORK/drover.db" DROVER_CONFIG="$WORK/drover.toml"
"$DROVER" import "$WORK/inventory.toml" >/dev/null
"$DROVER" script add w2 "$WORK/w2.sh" >/dev/null
"$DROVER" scriptgroup create w2-group w2 >/dev/null
"$DROVER" task create w2 w2-group bench --parallel 64 >/dev/null
PASSWORD="bench-password-$RANDOM-$RANDOM"
printf '%s\n' "$PASSWORD" | "$DROVER" web user add bench --level operator >/dev/null
for (( i = 1; i <= N; i++ )); do wait_listening "$(addr "$i")" "$PORT"; done

"$DROVER" serve 2> "$WORK/serve.log" & SERVE=$!; PIDS+=("$SERVE")
for _ in $(seq 1 200); do grep -q "listening on" "$WORK/serve.log" && break; sleep 0.05; done
BASE=$(sed -n 's/.*drover web: listening on //p' "$WORK/serve.log" | head -1)
[ -n "$BASE" ] || { cat "$WORK/serve.log" >&2; exit 1; }

python3 - "$BASE" "$PASSWORD" "$SERVE" "$N" "$VIEWERS" "$PAIRS" <<'EOP'
import http.client, json, os, resource, socket, statistics, sys, threading, time, urllib.parse
base, password, serve_pid, n, viewers, pairs = sys.argv[1], sys.argv[2], int(sys.argv[3]), *map(int, sys.argv[4:7])
host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
tick = os.sysconf("SC_CLK_TCK")

def serve_cpu():
    fields = open(f"/proc/{serve_pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick

def request(method, path, cookie=None, form=None):
    conn = http.client.HTTPConnection(host, port, timeout=60)
    headers = {"Cookie": f"drover_session={cookie}"} if cookie else {}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data

resp, _ = request("POST", "/login", form={"name": "bench", "password": password})
cookie = next(c.split("=", 1)[1].split(";", 1)[0] for c in resp.headers.get_all("Set-Cookie") if c.startswith("drover_session="))
csrf = json.loads(request("GET", "/api/whoami", cookie)[1])["csrf_token"]

def viewer(run_id, out):
    """Follows the live stream to its end with a raw socket (no parsing
    beyond counting events), as cheaply as a client can."""
    s = socket.create_connection((host, port))
    s.sendall(f"GET /runs/{run_id}/live HTTP/1.1\r\nHost: {host}\r\nCookie: drover_session={cookie}\r\n"
              f"Accept: text/event-stream\r\nConnection: close\r\n\r\n".encode())
    # `event: run` (the whole section) and `event: rows` (what changed).
    marker, finals, carry, events, size, times, seen_final = b"event: r", (b'data-final="1"', b'"final":true'), b"", 0, 0, [], False
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        size += len(chunk)
        window = carry + chunk
        found = window.count(marker) - carry.count(marker)
        if found:
            events += found
            times.append(time.monotonic())
        seen_final = seen_final or any(final in window for final in finals)
        carry = chunk[-16:]
    s.close()
    out.append({"events": events, "bytes": size, "times": times,
                "final": seen_final})

def client_cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime

def run(with_viewers):
    cpu0, client0 = serve_cpu(), client_cpu()
    resp, _ = request("POST", "/runs/new", cookie, {"csrf": csrf, "target": "w2", "confirmed": "1"})
    location = resp.getheader("Location") or ""
    if resp.status != 303 or not location.startswith("/runs/"):
        sys.exit(f"start refused: {resp.status} {location}")
    run_id = int(location.rsplit("/", 1)[1])
    results, threads = [], []
    for _ in range(with_viewers):
        t = threading.Thread(target=viewer, args=(run_id, results))
        t.start()
        threads.append(t)
    while True:
        doc = json.loads(request("GET", f"/api/runs/{run_id}", cookie)[1])
        if doc["state"] != "running":
            break
        time.sleep(0.25)
    for t in threads:
        t.join(timeout=60)
    ok = sum(1 for h in doc["hosts"] if h["state"] == "succeeded")
    gaps = [b - a for r in results for a, b in zip(r["times"], r["times"][1:])]
    return {"id": run_id, "elapsed": doc["elapsed_ms"] / 1000, "cpu": serve_cpu() - cpu0, "ok": ok,
            "client_cpu": client_cpu() - client0,
            "viewers": len(results), "final": sum(1 for r in results if r["final"]),
            "events": statistics.median(r["events"] for r in results) if results else 0,
            "mib": statistics.median(r["bytes"] for r in results) / 2**20 if results else 0,
            "min_gap": min(gaps) if gaps else None, "median_gap": statistics.median(gaps) if gaps else None}

rows = {0: [], viewers: []}
for p in range(pairs):
    order = (0, viewers) if p % 2 == 0 else (viewers, 0)
    for v in order:
        r = run(v)
        rows[v].append(r)
        extra = ""
        if v:
            gap = (f"{r['min_gap']*1000:.0f} ms (median {r['median_gap']*1000:.0f} ms)"
                   if r["min_gap"] is not None else "-")
            extra = (f"  viewers {r['viewers']} (final state seen by {r['final']})  events/viewer {r['events']}"
                     f"  {r['mib']:.1f} MiB/viewer  shortest gap between two events as received {gap}")
        print(f"pair {p+1} run {r['id']:2} viewers {v:3}: {n} hosts  elapsed {r['elapsed']:.2f} s"
              f"  serve CPU {r['cpu']:.2f} s  viewers' CPU {r['client_cpu']:.2f} s  succeeded {r['ok']}/{n}{extra}", flush=True)
base_t = statistics.median(r["elapsed"] for r in rows[0])
view_t = statistics.median(r["elapsed"] for r in rows[viewers])
base_c = statistics.median(r["cpu"] for r in rows[0])
view_c = statistics.median(r["cpu"] for r in rows[viewers])
ratios = [b["elapsed"] / a["elapsed"] for a, b in zip(rows[0], rows[viewers])]
print(f"median: no viewer {base_t:.2f} s (serve CPU {base_c:.2f} s), {viewers} viewers {view_t:.2f} s "
      f"(serve CPU {view_c:.2f} s): {100*(view_t/base_t-1):+.1f}% wall time; per pair "
      f"{' '.join(f'{100*(r-1):+.1f}%' for r in ratios)}, mean {100*(statistics.mean(ratios)-1):+.1f}%")
bad = [r for v in rows.values() for r in v if r["ok"] != n or r["final"] != r["viewers"]]
if bad:
    sys.exit(f"some hosts did not succeed or some viewers missed the final state: {bad}")
EOP
