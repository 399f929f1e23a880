#!/usr/bin/env bash
# A throw-away PostgreSQL cluster for the sector-number tests and benchmark.
#
#   scripts/postgres-test.sh start DIR     create (if needed) and start a cluster in DIR on a
#                                          free 127.0.0.1 port; prints its postgres:// URL
#   scripts/postgres-test.sh stop DIR      stop it (fast shutdown)
#   scripts/postgres-test.sh kill DIR      stop it abruptly (immediate: like a crash)
#   scripts/postgres-test.sh restart DIR   kill, then start again on the same port
#   scripts/postgres-test.sh url DIR       print the URL of a started cluster
#   scripts/postgres-test.sh freeze DIR    SIGSTOP the server and its backends (a hung database:
#                                          connections are accepted by the kernel, never answered)
#   scripts/postgres-test.sh thaw DIR      SIGCONT them
#
# Installs the Debian package if no PostgreSQL binaries are found (needs root). initdb and
# postgres refuse to run as root, so as root the cluster is owned by a system user
# `distminer-pg` (created here if missing). Trust authentication, loopback only.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z "$cmd" || -z "$dir" ]]; then
  echo "usage: $0 start|stop|kill|restart|url|freeze|thaw DIR" >&2
  exit 2
fi

find_bin() {
  local d
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return 0
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$d/pg_ctl" && -x "$d/initdb" ]]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

bin=$(find_bin || true)
if [[ -z "$bin" ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "postgres-test: no PostgreSQL found and not root: install the 'postgresql' package" >&2
    exit 1
  fi
  echo "postgres-test: installing PostgreSQL (apt-get install -y postgresql)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2 || {
    DEBIAN_FRONTEND=noninteractive apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
  }
  bin=$(find_bin) || { echo "postgres-test: PostgreSQL binaries still not found after install" >&2; exit 1; }
fi

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u distminer-pg -- "$@"
  else
    "$@"
  fi
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

pgctl() { as_owner "$bin/pg_ctl" -D "$dir/data" "$@"; }

start() {
  mkdir -p "$dir"
  dir=$(readlink -f "$dir")
  if [[ $(id -u) -eq 0 ]]; then
    id distminer-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin distminer-pg
    chown distminer-pg "$dir"
    # The owner must reach DIR: open the path's parents for traversal if they are private.
    local p=$dir
    while [[ "$p" != "/" ]]; do
      p=$(dirname "$p")
      [[ -x "$p" ]] && runuser -u distminer-pg -- test -x "$p" 2>/dev/null || chmod o+x "$p"
    done
  fi
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      exit 1
    }
  fi
  local port
  if [[ -f "$dir/port" ]]; then port=$(cat "$dir/port"); else port=$(free_port); echo "$port" >"$dir/port"; fi
  mkdir -p "$dir/sock"
  [[ $(id -u) -eq 0 ]] && chown distminer-pg "$dir/sock" "$dir/port"
  pgctl -w -t 60 -l "$dir/postgres.log" \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $dir/sock -c max_connections=200 -c fsync=on -c synchronous_commit=on" start >&2 || {
    tail -n 30 "$dir/postgres.log" >&2
    exit 1
  }
  echo "postgres://postgres@127.0.0.1:$port/postgres"
}

case "$cmd" in
  start) start ;;
  stop) pgctl -m fast -w stop >&2 || true ;;
  kill) pgctl -m immediate -w stop >&2 || true ;;
  restart)
    pgctl -m immediate -w stop >&2 || true
    start
    ;;
  url) echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres" ;;
  freeze | thaw)
    pid=$(head -n 1 "$dir/data/postmaster.pid")
    # The server first when freezing (no new backend is forked), last when thawing.
    if [[ $cmd == freeze ]]; then
      kill -STOP "$pid"
      pgrep -P "$pid" | xargs -r kill -STOP
    else
      pgrep -P "$pid" | xargs -r kill -CONT
      kill -CONT "$pid"
    fi
    ;;
  *)
    echo "usage: $0 start|stop|kill|restart|url|freeze|thaw DIR" >&2
    exit 2
    ;;
esac
