#!/usr/bin/env bash
# Prometheus for the end-to-end tests of crates/metrics-prom. Usage:
#
#   scripts/e2e/prometheus.sh install                 # apt prometheus (gives prometheus + promtool)
#   scripts/e2e/prometheus.sh start PORT TARGET...    # run by hand on 127.0.0.1:PORT, 1 s scrape
#   scripts/e2e/prometheus.sh stop                    # stop the one started by `start` (by pid)
#   scripts/e2e/prometheus.sh status
#
# The Rust e2e tests start their own Prometheus (tempdir config, kill on drop); they only
# need `install`. `start` is for poking at the demo service by hand: TARGET is host:port of
# a demo service; each gets the label revision=<target index> unless given as
# host:port=REVISION. Everything lives under $SHIPCORE_E2E_STATE/prometheus
# (default /tmp/shipcore-e2e/prometheus). The system service is never used.
set -euo pipefail

STATE="${SHIPCORE_E2E_STATE:-/tmp/shipcore-e2e}/prometheus"
PIDFILE="$STATE/prometheus.pid"
LOG="$STATE/prometheus.log"

log() { echo "[prometheus.sh] $*" >&2; }

install() {
  if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    log "already installed: $(prometheus --version 2>&1 | head -n1)"
    return 0
  fi
  log "installing prometheus (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # Debian starts the system service on install; these tests never use it (it would hold
  # port 9090 and scrape nothing of ours), so stop it if an init system is there.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus || true
  fi
  command -v prometheus >/dev/null 2>&1 || { log "prometheus missing after install"; exit 1; }
  command -v promtool >/dev/null 2>&1 || { log "promtool missing after install"; exit 1; }
  log "installed: $(prometheus --version 2>&1 | head -n1)"
}

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

start() {
  local port="${1:-}"
  shift || true
  if [ -z "$port" ] || [ "$#" -eq 0 ]; then
    echo "usage: $0 start PORT HOST:PORT[=REVISION]..." >&2; exit 2
  fi
  command -v prometheus >/dev/null 2>&1 || { log "prometheus is not installed: run '$0 install'"; exit 1; }
  if running; then log "already running (pid $(cat "$PIDFILE")); stop it first"; exit 1; fi
  mkdir -p "$STATE/data"
  {
    echo "global:"
    echo "  scrape_interval: 1s"
    echo "  evaluation_interval: 1s"
    echo "scrape_configs:"
    echo "  - job_name: demo"
    echo "    static_configs:"
    local i=0 t rev
    for t in "$@"; do
      rev="${t#*=}"; [ "$rev" = "$t" ] && rev="$i"
      echo "      - targets: ['${t%%=*}']"
      echo "        labels: {revision: '$rev'}"
      i=$((i + 1))
    done
  } > "$STATE/prometheus.yml"
  setsid prometheus --config.file="$STATE/prometheus.yml" \
    --storage.tsdb.path="$STATE/data" \
    --web.listen-address="127.0.0.1:$port" >"$LOG" 2>&1 < /dev/null &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then
      log "up on http://127.0.0.1:$port (pid $(cat "$PIDFILE"))"; return 0
    fi
    sleep 0.1
  done
  log "did not become ready; log:"; cat "$LOG" >&2; stop; exit 1
}

stop() {
  if running; then
    local pid; pid="$(cat "$PIDFILE")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "stopped (pid $pid)"
  fi
  rm -f "$PIDFILE"
}

status() {
  if running; then echo "prometheus running (pid $(cat "$PIDFILE"))"; else echo "prometheus not running"; fi
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start PORT TARGET...|stop|status" >&2; exit 2 ;;
esac
