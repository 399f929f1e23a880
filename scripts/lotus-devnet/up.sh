#!/usr/bin/env bash
# Start an offline Lotus 2KiB devnet in DIR: one lotus daemon and the genesis miner t01000
# (lotus-miner) producing blocks. Everything listens on 127.0.0.1 only.
# First run in an empty DIR: pre-seal sectors, make the genesis, init the node and the miner.
# Later runs in the same DIR: restart the same chain.
#
# Usage: scripts/lotus-devnet/up.sh [DIR]          (DIR default $HOME/.cache/lotus-devnet/net)
# Knobs (environment):
#   LOTUS_DEVNET_BIN            binaries from build.sh   default $HOME/.cache/lotus-devnet/bin
#   FIL_PROOFS_PARAMETER_CACHE  2KiB Groth16 params      default $HOME/.cache/distminer/filecoin-proof-parameters
#   DEVNET_API_PORT             full-node API port       default 1234
#   DEVNET_MINER_API_PORT       miner API port           default 2345
#   DEVNET_PRESEAL_SECTORS      genesis sectors          default 2
#   DEVNET_DISTMINER_MINER      a second genesis miner for distminer (t01001), or empty (none)
#   DEVNET_DISTMINER_SECTORS    its genesis sectors      default 8 (most of the power: fewer
#                               proofs paid per epoch; each winner of an epoch pays one)
#   DEVNET_IDLE_SECTORS         a third genesis miner, t01002, with this many sectors, that
#                               mines no block (needs DEVNET_DISTMINER_MINER)   default 0 (none)
#   DEVNET_GENESIS_AGO          genesis this many seconds before now             default 0
#                               With both (the long tier): the chain starts behind the wall
#                               clock, where a null round costs no wait, and t01002's idle power
#                               makes most rounds null, so epochs pass as fast as the few
#                               winners' proofs allow instead of one per block delay. Something
#                               must prove t01002 (`distminer post window`), or its sectors turn
#                               faulty at their first deadline and its power goes.
#   DEVNET_WAIT_HEIGHT          wait until this height   default 3
#   DEVNET_UP_TIMEOUT           seconds                  default 600
#   LOTUS_F3_ENABLED            F3 finality gadget       default 0 (off)
#   LOTUS_XX_HEIGHT             nv29 upgrade epoch       default 999999999 (stay on nv28; the 2k build default is 200)
# Prints FULLNODE_API_INFO / MINER_API_INFO and writes DIR/env.sh to `source` for the CLIs.
# With DEVNET_DISTMINER_MINER=t01001 the genesis also holds that miner (after t01000), with
# sectors pre-sealed into DIR/distminer-storage in Lotus's layout (sealed/s-t01001-N,
# cache/s-t01001-N/: a distminer storage path) and its owner/worker key imported into the
# daemon's wallet (not as default); no lotus-miner runs for it: distminer mines and proves it.
# env.sh then also exports DISTMINER_MINER and DISTMINER_STORAGE.
set -euo pipefail

DIR=${1:-${LOTUS_DEVNET_DIR:-$HOME/.cache/lotus-devnet/net}}
BIN=${LOTUS_DEVNET_BIN:-$HOME/.cache/lotus-devnet/bin}
API_PORT=${DEVNET_API_PORT:-1234}
MINER_API_PORT=${DEVNET_MINER_API_PORT:-2345}
SECTORS=${DEVNET_PRESEAL_SECTORS:-2}
WAIT_HEIGHT=${DEVNET_WAIT_HEIGHT:-3}
TIMEOUT=${DEVNET_UP_TIMEOUT:-600}
PARAMS=${FIL_PROOFS_PARAMETER_CACHE:-$HOME/.cache/distminer/filecoin-proof-parameters}
MINER=t01000
DM_MINER=${DEVNET_DISTMINER_MINER:-}
DM_SECTORS=${DEVNET_DISTMINER_SECTORS:-8}
IDLE_SECTORS=${DEVNET_IDLE_SECTORS:-0}
GENESIS_AGO=${DEVNET_GENESIS_AGO:-0}
if [ -n "$DM_MINER" ] && [ "$DM_MINER" != t01001 ]; then
  echo "DEVNET_DISTMINER_MINER must be t01001 (genesis miners are numbered in order after t01000)" >&2; exit 1
fi
IDLE_MINER=
if [ "$IDLE_SECTORS" -gt 0 ]; then
  [ -n "$DM_MINER" ] || { echo "DEVNET_IDLE_SECTORS needs DEVNET_DISTMINER_MINER (the idle miner is t01002)" >&2; exit 1; }
  IDLE_MINER=t01002
fi

log() { echo "[lotus-devnet up $(date +%H:%M:%S)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for b in lotus lotus-miner lotus-seed; do
  [ -x "$BIN/$b" ] || die "no $BIN/$b: run build.sh first (or set LOTUS_DEVNET_BIN)"
done
command -v curl >/dev/null || die "curl is needed"
command -v jq >/dev/null || die "jq is needed"
# Block production needs the 2KiB Winning PoSt parameters; WindowPoSt needs the window ones.
# (ids: proofs' cache ids for StackedDrgWinning2KiBV1 and StackedDrgWindow2KiBV1_2)
for id in 0170db1f394b35d995252228ee359194b13199d259380541dc529fb0099096b0 \
          3ea05428c9d11689f23529cde32fd30aabd50f7d2c93657c1d3650bca3e8ea9e; do
  ls "$PARAMS"/v28-proof-of-spacetime-fallback-merkletree-poseidon_hasher-8-0-0-$id.params >/dev/null 2>&1 ||
    die "2KiB PoSt parameters ($id) missing in $PARAMS (set FIL_PROOFS_PARAMETER_CACHE)"
done

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

# ---------------------------------------------------------------- environment
cat >"$DIR/env.sh" <<EOF
# source this file to use the lotus / lotus-miner CLIs against the devnet in $DIR
export PATH="$BIN:\$PATH"
export LOTUS_PATH="$DIR/lotus"
export LOTUS_MINER_PATH="$DIR/miner"
export FIL_PROOFS_PARAMETER_CACHE="$PARAMS"
# offline-devnet patch switches (see patches/): mock randomness beacon, no param fetching
export LOTUS_DEVNET_MOCK_BEACON=1
export LOTUS_DEVNET_SKIP_PARAMFETCH=1
export TRUST_PARAMS=1
# any parameter download that slips through fails at once, on loopback
export IPFS_GATEWAY=http://127.0.0.1:9/ipfs/
export LOTUS_SKIP_GENESIS_CHECK=_yes_
export LOTUS_F3_ENABLED=${LOTUS_F3_ENABLED:-0}
export LOTUS_XX_HEIGHT=${LOTUS_XX_HEIGHT:-999999999}
export BELLMAN_NO_GPU=1
EOF
if [ -n "$DM_MINER" ]; then
  cat >>"$DIR/env.sh" <<EOF
export DISTMINER_MINER=$DM_MINER
export DISTMINER_STORAGE="$DIR/distminer-storage"
EOF
fi
if [ -n "$IDLE_MINER" ]; then
  cat >>"$DIR/env.sh" <<EOF
export IDLE_MINER=$IDLE_MINER
export IDLE_STORAGE="$DIR/idle-storage"
EOF
fi
# shellcheck disable=SC1091
. "$DIR/env.sh"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# ---------------------------------------------------------------- first run: genesis
if [ ! -f "$DIR/devgen.car" ]; then
  if [ ! -f "$DIR/genesis-sectors/pre-seal-$MINER.json" ]; then
    log "pre-sealing $SECTORS x 2KiB sectors for $MINER"
    lotus-seed --sector-dir "$DIR/genesis-sectors" pre-seal --sector-size 2KiB \
      --num-sectors "$SECTORS" --miner-addr "$MINER" >"$DIR/preseal.log" 2>&1 ||
      { tail -20 "$DIR/preseal.log"; die "pre-seal failed"; }
  fi
  if [ -n "$DM_MINER" ] && [ ! -f "$DIR/distminer-storage/pre-seal-$DM_MINER.json" ]; then
    log "pre-sealing $DM_SECTORS x 2KiB sectors for $DM_MINER (distminer's)"
    lotus-seed --sector-dir "$DIR/distminer-storage" pre-seal --sector-size 2KiB \
      --num-sectors "$DM_SECTORS" --miner-addr "$DM_MINER" >>"$DIR/preseal.log" 2>&1 ||
      { tail -20 "$DIR/preseal.log"; die "pre-seal for $DM_MINER failed"; }
  fi
  if [ -n "$IDLE_MINER" ] && [ ! -f "$DIR/idle-storage/pre-seal-$IDLE_MINER.json" ]; then
    log "pre-sealing $IDLE_SECTORS x 2KiB sectors for $IDLE_MINER (idle power)"
    lotus-seed --sector-dir "$DIR/idle-storage" pre-seal --sector-size 2KiB \
      --num-sectors "$IDLE_SECTORS" --miner-addr "$IDLE_MINER" >>"$DIR/preseal.log" 2>&1 ||
      { tail -20 "$DIR/preseal.log"; die "pre-seal for $IDLE_MINER failed"; }
  fi
  rm -f "$DIR/localnet.json"
  ts_args=()
  if [ "$GENESIS_AGO" -gt 0 ]; then
    ts_args=(--timestamp "$(date -u -d "@$(( $(date +%s) - GENESIS_AGO ))" +%Y-%m-%dT%H:%M:%SZ)")
    log "genesis ${GENESIS_AGO}s in the past: ${ts_args[1]}"
  fi
  lotus-seed genesis new --network-name localnet "${ts_args[@]}" "$DIR/localnet.json" >>"$DIR/preseal.log" 2>&1
  # Miners are numbered in the order they are added: t01000 first.
  lotus-seed genesis add-miner "$DIR/localnet.json" "$DIR/genesis-sectors/pre-seal-$MINER.json" \
    >>"$DIR/preseal.log" 2>&1 || { tail -20 "$DIR/preseal.log"; die "genesis add-miner failed"; }
  if [ -n "$DM_MINER" ]; then
    lotus-seed genesis add-miner "$DIR/localnet.json" "$DIR/distminer-storage/pre-seal-$DM_MINER.json" \
      >>"$DIR/preseal.log" 2>&1 || { tail -20 "$DIR/preseal.log"; die "genesis add-miner $DM_MINER failed"; }
  fi
  if [ -n "$IDLE_MINER" ]; then
    lotus-seed genesis add-miner "$DIR/localnet.json" "$DIR/idle-storage/pre-seal-$IDLE_MINER.json" \
      >>"$DIR/preseal.log" 2>&1 || { tail -20 "$DIR/preseal.log"; die "genesis add-miner $IDLE_MINER failed"; }
  fi
  genesis_args=(--lotus-make-genesis="$DIR/devgen.car" --genesis-template="$DIR/localnet.json")
  rm -rf "$LOTUS_PATH" "$LOTUS_MINER_PATH"
else
  genesis_args=(--genesis="$DIR/devgen.car")
fi

cat >"$DIR/lotus-config.toml" <<EOF
[API]
  ListenAddress = "/ip4/127.0.0.1/tcp/$API_PORT/http"
[Libp2p]
  ListenAddresses = ["/ip4/127.0.0.1/tcp/0"]
  AnnounceAddresses = []
  DisableNatPortMap = true
[Chainstore]
  EnableSplitstore = false
EOF

# ---------------------------------------------------------------- daemon
if alive "$DIR/daemon.pid"; then
  log "daemon already running (pid $(cat "$DIR/daemon.pid"))"
else
  log "starting lotus daemon (API 127.0.0.1:$API_PORT)"
  nohup lotus daemon "${genesis_args[@]}" --bootstrap=false --config="$DIR/lotus-config.toml" \
    >>"$DIR/daemon.log" 2>&1 </dev/null &
  echo $! >"$DIR/daemon.pid"
fi
deadline=$(( $(date +%s) + TIMEOUT ))
until [ -f "$LOTUS_PATH/token" ] && lotus chain head --height >/dev/null 2>&1; do
  alive "$DIR/daemon.pid" || { tail -30 "$DIR/daemon.log"; die "daemon exited (log: $DIR/daemon.log)"; }
  [ "$(date +%s)" -lt "$deadline" ] || die "daemon API not up after ${TIMEOUT}s"
  sleep 2
done

# ---------------------------------------------------------------- miner
if [ ! -f "$LOTUS_MINER_PATH/.devnet-initialized" ]; then
  lotus wallet import --as-default "$DIR/genesis-sectors/pre-seal-$MINER.key" >>"$DIR/miner-init.log" 2>&1 ||
    lotus wallet list >>"$DIR/miner-init.log" 2>&1
  if [ -n "$DM_MINER" ]; then
    # distminer signs with the daemon's wallet (WalletSign, MpoolPushMessage): its worker key there.
    lotus wallet import "$DIR/distminer-storage/pre-seal-$DM_MINER.key" >>"$DIR/miner-init.log" 2>&1 ||
      die "cannot import $DM_MINER's key (log: $DIR/miner-init.log)"
  fi
  if [ -n "$IDLE_MINER" ]; then
    lotus wallet import "$DIR/idle-storage/pre-seal-$IDLE_MINER.key" >>"$DIR/miner-init.log" 2>&1 ||
      die "cannot import $IDLE_MINER's key (log: $DIR/miner-init.log)"
  fi
  log "lotus-miner init --genesis-miner ($MINER)"
  lotus-miner init --genesis-miner --actor="$MINER" --sector-size=2KiB \
    --pre-sealed-sectors="$DIR/genesis-sectors" \
    --pre-sealed-metadata="$DIR/genesis-sectors/pre-seal-$MINER.json" --nosync \
    >>"$DIR/miner-init.log" 2>&1 || { tail -30 "$DIR/miner-init.log"; die "lotus-miner init failed"; }
  touch "$LOTUS_MINER_PATH/.devnet-initialized"
fi
if alive "$DIR/miner.pid"; then
  log "miner already running (pid $(cat "$DIR/miner.pid"))"
else
  log "starting lotus-miner (API 127.0.0.1:$MINER_API_PORT)"
  nohup lotus-miner run --nosync --miner-api="$MINER_API_PORT" >>"$DIR/miner.log" 2>&1 </dev/null &
  echo $! >"$DIR/miner.pid"
fi

# ---------------------------------------------------------------- wait for blocks
token=$(cat "$LOTUS_PATH/token")
rpc() {
  curl -fsS -X POST -H "Content-Type: application/json" -H "Authorization: Bearer $token" \
    --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":${2:-[]}}" \
    "http://127.0.0.1:$API_PORT/rpc/v1"
}
start_h=$(rpc Filecoin.ChainHead | jq -r .result.Height)
target=$(( start_h > WAIT_HEIGHT ? start_h + 2 : WAIT_HEIGHT ))
log "chain height $start_h; waiting for height >= $target"
h=$start_h
while [ "$h" -lt "$target" ]; do
  alive "$DIR/miner.pid" || { tail -30 "$DIR/miner.log"; die "miner exited (log: $DIR/miner.log)"; }
  alive "$DIR/daemon.pid" || { tail -30 "$DIR/daemon.log"; die "daemon exited (log: $DIR/daemon.log)"; }
  [ "$(date +%s)" -lt "$deadline" ] || die "no blocks after ${TIMEOUT}s (height $h); see $DIR/miner.log"
  sleep 2
  h=$(rpc Filecoin.ChainHead | jq -r .result.Height)
done
log "blocks are being produced: height $h"

full_info=$(lotus auth api-info --perm admin)
miner_info=$(lotus-miner auth api-info --perm admin)
{
  echo "export $full_info"
  echo "export $miner_info"
} >>"$DIR/env.sh"
echo "$full_info"
echo "$miner_info"
echo "FULLNODE_JSONRPC=http://127.0.0.1:$API_PORT/rpc/v1"
echo "FULLNODE_TOKEN_FILE=$LOTUS_PATH/token"
echo "DEVNET_DIR=$DIR"
