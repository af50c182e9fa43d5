#!/usr/bin/env bash
# HAProxy (Debian, 2.6) for the end-to-end tests of the Compose driver's router. The tests
# start their own HAProxy on 127.0.0.1 with a generated config; this only installs it.
# Usage: scripts/e2e/haproxy.sh install|env|status
set -euo pipefail

log() { echo "[haproxy.sh] $*" >&2; }

do_install() {
  if ! command -v haproxy >/dev/null 2>&1; then
    log "installing haproxy (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq haproxy >/dev/null
  fi
  # The package may start the system service; the tests run their own instances.
  if command -v service >/dev/null 2>&1; then service haproxy stop >/dev/null 2>&1 || true; fi
  log "$(haproxy -v | head -1)"
}

case "${1:-}" in
  install) do_install ;;
  env) echo "export SHIPCORE_HAPROXY_BIN=$(command -v haproxy || echo /usr/sbin/haproxy)" ;;
  status) command -v haproxy >/dev/null && haproxy -v | head -1 || echo "haproxy not installed" ;;
  *) echo "usage: $0 install|env|status" >&2; exit 2 ;;
esac
