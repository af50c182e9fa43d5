#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for the end-to-end tests: its own data directory under a
# temporary directory, listening on 127.0.0.1 only, run as the unprivileged `postgres` user
# when started as root (initdb refuses root). Installs Debian's postgresql when it is missing.
#
#   eval "$(bash scripts/ci/pg-cluster.sh start [DIR] [PORT])"   # exports SHIPCORE_PG_URL,
#                                                                # SHIPCORE_PG_DIR, SHIPCORE_PG_BIN
#   bash scripts/ci/pg-cluster.sh restart DIR                   # stop -m fast, then start again
#   bash scripts/ci/pg-cluster.sh stop DIR                      # stops it and removes DIR
#
# The superuser is `shipcore` (trust authentication on 127.0.0.1 and the socket in DIR), the
# database `shipcore`. Everything but the `export` lines goes to stderr, so `eval` is safe.
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"

find_bin() {
  local b
  for b in /usr/lib/postgresql/*/bin; do
    if [ -x "$b/initdb" ]; then echo "$b"; return 0; fi
  done
  return 1
}

as_root=""; [ "$(id -u)" -eq 0 ] || as_root="sudo -E"
if ! bin="$(find_bin)"; then
  echo "pg-cluster: installing Debian's postgresql" >&2
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bin="$(find_bin)" || { echo "pg-cluster: no initdb after installing postgresql" >&2; exit 1; }
fi

# Runs a PostgreSQL binary as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
  local port="${3:-}"
  if [ -z "$dir" ]; then dir="$(mktemp -d /tmp/shipcore-pg.XXXXXX)"; fi
  mkdir -p "$dir"
  [ -n "$port" ] || port="$(cat "$dir/port" 2>/dev/null || free_port)"
  echo "$port" > "$dir/port"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$dir"; chmod 755 "$dir"; fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U shipcore --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-k $dir -h 127.0.0.1 -p $port -c fsync=on -c max_connections=200" start >&2 \
    || { cat "$dir/server.log" >&2; exit 1; }
  if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U shipcore -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='shipcore'" | grep -q 1; then
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U shipcore shipcore >&2
  fi
  echo "export SHIPCORE_PG_URL='postgres://shipcore@127.0.0.1:$port/shipcore'"
  echo "export SHIPCORE_PG_DIR='$dir'"
  echo "export SHIPCORE_PG_BIN='$bin'"
}

stop() {
  [ -n "$dir" ] || { echo "pg-cluster: stop needs the cluster's directory" >&2; exit 2; }
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  fi
}

case "$cmd" in
  start) start "$@" ;;
  restart) stop; start "$@" >/dev/null ;;
  stop) stop; rm -rf "$dir" ;;
  *) echo "usage: pg-cluster.sh start [DIR] [PORT] | restart DIR | stop DIR" >&2; exit 2 ;;
esac
