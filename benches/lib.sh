# benches/lib.sh — what the loopback fleet benchmarks share (sourced, not
# run): a release build, a work directory removed on exit with every sshd
# started, throwaway host and client keys, the login user `droverbench`
# (its clean home and shell keep per-login costs those of a plain server),
# loopback addresses, sshd listeners (16 addresses per sshd) and the
# 200-line payload script.
#
# bench_init NAME   sets DROVER, SSHD, WORK, PIDS, PORT, USER_NAME
# addr I            the I-th loopback address (127.100.0.1 onwards)
# sshd_common_conf  the sshd settings every listener shares
# start_fleet N     sshd listeners for addresses 1..N on PORT
# write_fleet_files N  $WORK/inventory.toml (hosts h1..hN in group `bench`)
#                   and $WORK/known_hosts (their pinned host key)
# wait_listening ADDRESS PORT
# write_w2 FILE     the payload: about 1 KiB, prints 200 lines, exits 0

bench_init() {
  cd "$(dirname "$0")/.."
  [ -x target/release/drover ] || cargo build --release --quiet
  DROVER=$PWD/target/release/drover
  SSHD=/usr/sbin/sshd
  [ -x "$SSHD" ] || { echo "openssh-server missing: apt-get install -y openssh-server" >&2; exit 1; }
  WORK=$(mktemp -d "/tmp/drover-$1.XXXXXX")
  PIDS=()
  trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
  ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$WORK/client_key"
  cp "$WORK/client_key.pub" "$WORK/authorized_keys"
  install -d -m 755 /run/sshd
  PORT=$(free_port)
  USER_NAME=droverbench
  id "$USER_NAME" >/dev/null 2>&1 || useradd -m -s /bin/bash -c "drover benchmark login" "$USER_NAME"
  usermod -p '*' "$USER_NAME"
  chmod 755 "$WORK"; chmod 644 "$WORK/authorized_keys"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

addr() { echo "127.$(( 100 + (($1 - 1) / 250) / 250 )).$(( (($1 - 1) / 250) % 250 + 1 )).$(( ($1 - 1) % 250 + 1 ))"; }

sshd_common_conf() {
  echo "HostKey $WORK/host_key"
  echo "AuthorizedKeysFile $WORK/authorized_keys"
  echo "AllowUsers $USER_NAME"
  printf 'PidFile none\nUsePAM no\nStrictModes no\nUseDNS no\nPasswordAuthentication no\n'
  printf 'KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nMaxStartups 2000\n'
  printf 'MaxSessions 100\nPrintMotd no\nPrintLastLog no\n'
}

# One sshd per 16 addresses (OpenSSH's MAX_LISTEN_SOCKS).
start_fleet() {
  local n=$1 g k conf
  for (( g = 0; g * 16 < n; g++ )); do
    conf="$WORK/sshd.$g.conf"
    {
      sshd_common_conf
      echo "LogLevel ERROR"
      for (( k = 1; k <= 16 && g * 16 + k <= n; k++ )); do echo "ListenAddress $(addr $(( g * 16 + k ))):$PORT"; done
    } > "$conf"
    "$SSHD" -D -f "$conf" & PIDS+=($!)
  done
}

write_fleet_files() {
  local n=$1 i
  for (( i = 1; i <= n; i++ )); do
    printf '[[hosts]]\nname = "h%d"\naddress = "%s"\nport = %d\nuser = "%s"\ngroups = ["bench"]\n' \
      "$i" "$(addr "$i")" "$PORT" "$USER_NAME"
  done > "$WORK/inventory.toml"
  for (( i = 1; i <= n; i++ )); do echo "[$(addr "$i")]:$PORT $(cat "$WORK/host_key.pub")"; done > "$WORK/known_hosts"
}

wait_listening() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.05
  done
}

write_w2() {
  cat > "$1" <<'EOS'
#!/bin/sh
# drover benchmark payload (about 1 KiB): prints 200 lines, then exits 0.
# Only shell builtins run inside the loop, so what is measured is drover's
# own work: copy the file, run it, collect 200 lines of output per host.
#   pad: ................................................................
#   pad: ................................................................
#   pad: ................................................................
#   pad: ................................................................
#   pad: ................................................................
#   pad: ................................................................
#   pad: ................................................................
#   pad: ................................................................
set -- ${SSH_CONNECTION:-unknown 0 unknown 0}
srv=$3
i=1
while [ "$i" -le 200 ]; do
    echo "w2 line $i/200 srv=$srv payload-abcdefghijklmnop"
    i=$((i + 1))
done
EOS
}
