#!/usr/bin/env bash
# Makes sure Debian's `chromium` (the headless browser the web page test drives) is on PATH,
# installing it with apt when missing, then runs chromium with the given arguments (none:
# just prints its path). Needs root (or sudo) only for the install; it never skips: a test
# that calls it fails when chromium cannot be had. Nothing is cached in the repository.
set -euo pipefail

find_chromium() { command -v chromium || command -v chromium-browser || true; }

bin=$(find_chromium)
if [ -z "$bin" ]; then
  SUDO=
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo; else
      echo "chromium is missing and installing it needs root: apt-get install -y --no-install-recommends chromium" >&2
      exit 2
    fi
  fi
  echo "chromium: installing the Debian package chromium (this takes a while)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! $SUDO apt-get install -y --no-install-recommends chromium >&2; then
    $SUDO apt-get update >&2
    $SUDO apt-get install -y --no-install-recommends chromium >&2
  fi
  bin=$(find_chromium)
  [ -n "$bin" ] || { echo "chromium: still not on PATH after installing the package" >&2; exit 2; }
fi

if [ $# -eq 0 ]; then echo "$bin"; else exec "$bin" "$@"; fi
