#!/usr/bin/env bash
# benches/peers-drover.sh N [RUNS] — drover in the same run as the peer tools
# of a loopback sshbench fleet (see the sshbench README: sshd-up.sh, peers.sh),
# so that ratios come from one run. SSHBENCH_DIR points at that bench folder.
#
# Prepares a drover database with the fleet's N hosts (strict host keys from
# the fleet's known_hosts), then runs peers.sh with drover added as a peer:
#   w1: a script printing `w1-ok $SSH_CONNECTION` on every host
#   w2: the fleet's w2.sh (about 1 KiB, 200 lines) on every host
# Extra peers.sh settings (TOOLS, FANOUT...) pass through the environment.
set -euo pipefail
N=${1:?usage: benches/peers-drover.sh N [RUNS]}
RUNS=${2:-3}
BENCH=${SSHBENCH_DIR:?set SSHBENCH_DIR to the sshbench folder (with peers.sh)}
STATE=${SSHBENCH_STATE:-/var/lib/sshbench}
cd "$(dirname "$0")/.."
[ -x target/release/drover ] || cargo build --release --quiet
"$BENCH/sshd-up.sh" "$N" >/dev/null
WORK=/var/tmp/drover-peers
rm -rf "$WORK"; mkdir -p "$WORK"
cat > "$WORK/drover.toml" <<EOC
[ssh]
known_hosts = "$STATE/known_hosts"
host_key_policy = "strict"
user = "sshbench"
EOC
{
  while read -r addr; do
    printf '[[hosts]]\nname = "h-%s"\naddress = "%s"\nport = 2222\ngroups = ["bench"]\n' "${addr//./-}" "$addr"
  done < "$STATE/hosts.$N"
} > "$WORK/inventory.toml"
printf '#!/bin/sh\necho w1-ok $SSH_CONNECTION\n' > "$WORK/w1.sh"
export DROVER_DATABASE_URL="$WORK/drover.db" DROVER_CONFIG="$WORK/drover.toml"
D=$PWD/target/release/drover
"$D" import "$WORK/inventory.toml" >/dev/null
"$D" script add w1 "$WORK/w1.sh" >/dev/null
"$D" script add w2 "$BENCH/w2.sh" >/dev/null
"$D" scriptgroup create w1-group w1 >/dev/null
"$D" scriptgroup create w2-group w2 >/dev/null
export PEERS_EXTRA="drover ${PEERS_EXTRA:-}"
export PEER_drover_W1="DROVER_DATABASE_URL=$WORK/drover.db DROVER_CONFIG=$WORK/drover.toml $D -i \"\$SSHBENCH_KEY\" --quiet task run w1-group bench --parallel \"\$SSHBENCH_FANOUT\" --show-output"
export PEER_drover_W2="DROVER_DATABASE_URL=$WORK/drover.db DROVER_CONFIG=$WORK/drover.toml $D -i \"\$SSHBENCH_KEY\" --quiet task run w2-group bench --parallel \"\$SSHBENCH_FANOUT\" --show-output"
exec "$BENCH/peers.sh" "$N" "$RUNS"
