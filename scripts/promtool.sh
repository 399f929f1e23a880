#!/usr/bin/env bash
# Makes sure `promtool` (Prometheus's rule checker, Debian package `prometheus`) is on PATH,
# installing it with apt when missing, then runs promtool with the given arguments (none:
# just prints its path). Needs root (or sudo) only for the install. The package's service is
# never started: a policy-rc.d that refuses every start is in place while apt runs (only if
# the host has none of its own), and a prometheus daemon that is running afterwards anyway
# and was not running before is stopped by its pid. Nothing is cached in the repository.
set -euo pipefail

if ! command -v promtool >/dev/null 2>&1; then
  SUDO=
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; else
      echo "promtool is missing and installing it needs root: apt-get install -y --no-install-recommends prometheus" >&2
      exit 2
    fi
  fi
  before=$(pgrep -x prometheus || true)
  policy=/usr/sbin/policy-rc.d
  ours=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    ours=1
  fi
  cleanup() { if [ "$ours" = 1 ]; then $SUDO rm -f "$policy"; fi; }
  trap cleanup EXIT
  echo "promtool: installing the Debian package prometheus (its service is not started)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y --no-install-recommends prometheus >&2; then
    $SUDO apt-get update >&2
    $SUDO apt-get install -y --no-install-recommends prometheus >&2
  fi
  cleanup
  ours=0
  for pid in $(pgrep -x prometheus || true); do
    case " $before " in *" $pid "*) ;; *) echo "promtool: stopping the prometheus daemon the package started (pid $pid)" >&2; $SUDO kill "$pid" ;; esac
  done
  command -v promtool >/dev/null 2>&1 || { echo "promtool: still not on PATH after installing prometheus" >&2; exit 2; }
fi

if [ $# -eq 0 ]; then command -v promtool; else exec promtool "$@"; fi
