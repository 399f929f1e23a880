#!/usr/bin/env bash
# Runs a command holding the host-wide proof lock, so that two proof-heavy runs (a Commit2
# takes both cores for ~45 s) never overlap on a small machine: scripts/proof-lock.sh npm test
exec flock /tmp/distminer-proof.lock "$@"
