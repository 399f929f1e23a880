#!/usr/bin/env bash
# Stop the devnet that up.sh started in DIR (miner first, then the daemon), by the pids
# that up.sh recorded. Nothing else is touched. --purge also deletes DIR.
#
# Usage: scripts/lotus-devnet/down.sh [--purge] [DIR]   (DIR default $HOME/.cache/lotus-devnet/net)
set -uo pipefail

purge=0
if [ "${1:-}" = --purge ]; then purge=1; shift; fi
DIR=${1:-${LOTUS_DEVNET_DIR:-$HOME/.cache/lotus-devnet/net}}
[ -d "$DIR" ] || { echo "no devnet dir $DIR"; exit 0; }
DIR=$(cd "$DIR" && pwd)

log() { echo "[lotus-devnet down $(date +%H:%M:%S)] $*" >&2; }

# stop_pid PIDFILE NAME EXPECTED-WORD
stop_pid() {
  local f=$1 name=$2 word=$3 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if ! kill -0 "$pid" 2>/dev/null; then rm -f "$f"; return 0; fi
  # only a process that is really ours: right binary and started in this DIR
  if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$word"; then
    log "pid $pid in $f is not $name any more; leaving it alone"; rm -f "$f"; return 0
  fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in 60s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$f"
}

# the long tier's Window PoSt for the idle miner t01002 (scripts/test-lotus.sh)
stop_pid "$DIR/idle-post.pid" "distminer post window" "post window"
stop_pid "$DIR/miner.pid" lotus-miner "lotus-miner run"
stop_pid "$DIR/daemon.pid" "lotus daemon" "lotus daemon"

if [ "$purge" = 1 ]; then
  log "deleting $DIR"
  rm -rf "$DIR"
fi
