#!/usr/bin/env bash
# `npm run test:lotus`: the real-Lotus tier. Builds Lotus v1.36.2 (2k) from the registries
# (cached under ~/.cache/lotus-devnet, seconds when warm), starts an offline devnet in a fresh
# temporary directory on free loopback ports, runs test/lotus/*.test.ts against it, and stops
# every process it started by its pid — also when a test fails or the run is interrupted.
# Figures go to bench/results/lotus-interop.json (entry "ci"; other entries are kept; a run of
# named test files writes entry "<tier>:<files>" instead).
# DISTMINER_LOTUS_TIER=long (`npm run test:lotus:long`) runs test/lotus/long.test.ts (a new miner
# through a whole proving period) on a devnet whose chain runs ahead of the CI tier's: its genesis
# 12 hours in the past and 40 sectors of idle power on t01002, which a `distminer post window`
# started here keeps proven (up.sh says why that makes epochs cheap); it writes entry "long".
set -euo pipefail
cd "$(dirname "$0")/.."
tier=${DISTMINER_LOTUS_TIER:-ci}
here=$PWD/scripts/lotus-devnet
t0=$(date +%s)
export FIL_PROOFS_PARAMETER_CACHE="${FIL_PROOFS_PARAMETER_CACHE:-$HOME/.cache/distminer/filecoin-proof-parameters}"

# Never beside another Rust/Go build or proof-heavy run on a small machine.
"$PWD/scripts/proof-lock.sh" "$here/build.sh"
t_build=$(date +%s)

dir=$(mktemp -d "${TMPDIR:-/tmp}/distminer-lotus-XXXXXX")
cleanup() {
  # The long tier's logs (daemon, lotus-miner, t01002's prover, the test's distminer runs)
  # outlive the devnet, for a post-mortem of a run that takes an hour.
  if [ "$tier" = long ]; then
    keep="${TMPDIR:-/tmp}/distminer-lotus-long-logs-$(date +%Y%m%d-%H%M%S)"
    mkdir -p "$keep" && cp "$dir"/*.log "$keep"/ 2>/dev/null && echo "test:lotus (long): logs kept in $keep" >&2
  fi
  "$here/down.sh" --purge "$dir" >/dev/null 2>&1 || true
}
# The tests run in their own process group (job control, below): on an interrupt, that whole group
# (ava, its workers, the distminer processes they started, their proof workers) is stopped here
# before the devnet goes, not left running against a node that is gone.
tests_pid=
stop_tests() {
  [ -n "$tests_pid" ] && kill -0 "$tests_pid" 2>/dev/null || return 0
  kill -TERM -- "-$tests_pid" 2>/dev/null || true
  for _ in $(seq 20); do kill -0 -- "-$tests_pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL -- "-$tests_pid" 2>/dev/null || true
}
trap 'stop_tests; cleanup' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
free_port() { node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
export DEVNET_API_PORT=$(free_port) DEVNET_MINER_API_PORT=$(free_port)
# A second genesis miner, t01001, for distminer to mine and prove (test/lotus/post.test.ts),
# with most of the power (8 sectors against t01000's 2): fewer Winning PoSts per epoch.
export DEVNET_DISTMINER_MINER=t01001 DEVNET_DISTMINER_SECTORS=${DEVNET_DISTMINER_SECTORS:-8}
if [ "$tier" = long ]; then
  # Idle power sets how sparse the tipsets are: t01000 (2 sectors, lotus-miner) makes every block,
  # so with 40 idle sectors about one epoch in five has a tipset. Sparser was tried: 100 idle
  # sectors gave one tipset per ~14 epochs, and Window PoSts then missed windows that held one
  # tipset or none — t01000's among them, which left no miner with power and stopped the chain.
  # t01001 (unproven in this tier, so its power goes at its first deadlines) gets 1 sector.
  export DEVNET_IDLE_SECTORS=${DEVNET_IDLE_SECTORS:-40} DEVNET_GENESIS_AGO=${DEVNET_GENESIS_AGO:-43200}
  export DEVNET_DISTMINER_SECTORS=${DEVNET_LONG_DISTMINER_SECTORS:-1}
fi
"$here/up.sh" "$dir" >"$dir/up.out"
t_up=$(date +%s)
# shellcheck disable=SC1091
. "$dir/env.sh"
export LOTUS_DEVNET_DIR=$dir
export DISTMINER_LOTUS_FIGURES=$dir/figures.json
rc=0
extra=()
# The figures' entry: the tier's name for the tier's own files; with test files named on the
# command line, the tier and those files ("ci:deals", "long:migrate"), so that one file's run
# does not replace the entry of a whole tier's run.
entry=$tier
if [ $# -gt 0 ]; then
  names=$(for f in "$@"; do basename "$f" | sed 's/\.test\.[jt]s$//'; done | paste -sd+)
  entry="$tier:$names"
fi
if [ "$tier" = long ]; then
  # t01002's Window PoSt, for the whole run (down.sh stops it by this pid, before the devnet).
  nohup node dist/main.js post window --miner "$IDLE_MINER" --storage "$IDLE_STORAGE" \
    --chain-api "$FULLNODE_API_INFO" >"$dir/idle-post.log" 2>&1 </dev/null &
  echo $! >"$dir/idle-post.pid"
  # ava's timeout is "no result for this long": the long test runs for hours.
  extra=(--timeout=180m)
  [ $# -gt 0 ] || set -- dist/test/lotus/long.test.js
fi
# A process group, not a session (setsid): the kernel weighs sessions against each other
# (autogroups) before processes, and a PoSt role raises its whole session's autogroup to nice -10
# (actors/priority.ts) — `npm test` had raised .ci/run's, where up.sh started Lotus. In a new
# session the tests got ~1/10 of the CPU beside lotus-miner (which keeps ~1.8 cores busy): the deal
# test's sector took 790-880 s to activate instead of ~200 s. In one session with the devnet, what
# a test raises lifts Lotus too, and the share does not depend on what ran in the caller's shell.
set -m
node scripts/run-tests.mjs --config ava.lotus.config.mjs "${extra[@]}" "$@" &
tests_pid=$!
set +m
wait "$tests_pid" || rc=$?
tests_pid=
t_tests=$(date +%s)
if [ -f "$DISTMINER_LOTUS_FIGURES" ]; then
  node scripts/lotus-figures.mjs "$entry" "$DISTMINER_LOTUS_FIGURES" bench/results/lotus-interop.json "$rc"
fi
echo "test:lotus ($tier): build $((t_build - t0))s, devnet up $((t_up - t_build))s, tests $((t_tests - t_up))s, total $((t_tests - t0))s"
exit $rc
