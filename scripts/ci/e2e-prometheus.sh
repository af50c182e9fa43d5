#!/usr/bin/env bash
# CI: the end-to-end tests against a real Prometheus, on a bare Debian 12 machine with the
# Rust toolchain. Installs Prometheus (and promtool) from Debian, then runs, with
# SHIPCORE_E2E=1 (a missing part fails loudly instead of skipping):
#
#   cargo test -p metrics-prom   # PrometheusSource + StandardQueries vs real Prometheus,
#                                # alert rules through promtool, the engine-run canary
#   cargo test -p demo-service --lib --bins --test binary   # the demo binary as a process
#                                (its PostgreSQL test, tests/db.rs, runs in e2e-migrations.sh)
#
# The tests start their own demo-service processes and Prometheus on 127.0.0.1 (tempdir
# config and data, killed on drop); the system Prometheus service is never used.
# SHIPCORE_DETECTION_RUNS=N (default 0: skipped) also runs the detection-time benchmark
# example with N runs and prints its median.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

t0=$SECONDS
step() { echo "=== e2e-prometheus: $* ($(date -u +%H:%M:%S), +$((SECONDS - t0)) s)"; }

# The first line a command prints: read whole, then cut (`| head -n1` under pipefail fails
# at random with SIGPIPE, exit 141, when head exits before the command's last line).
first_line() { local out; out="$("$@" 2>&1)"; echo "${out%%$'\n'*}"; }
step "install Prometheus"
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/e2e/prometheus.sh install
elif command -v sudo >/dev/null 2>&1; then
  sudo -E bash scripts/e2e/prometheus.sh install
else
  echo "e2e-prometheus: need root (or sudo) to apt-get install prometheus" >&2
  exit 1
fi
first_line prometheus --version
first_line promtool --version

export SHIPCORE_E2E=1

step "cargo test -p metrics-prom"
cargo test -p metrics-prom

step "cargo test -p demo-service (unit tests and the binary as a process)"
cargo test -p demo-service --lib --bins --test binary

runs="${SHIPCORE_DETECTION_RUNS:-0}"
if [ "$runs" -gt 0 ]; then
  step "detection-time benchmark ($runs runs)"
  SHIPCORE_BENCH_RUNS="$runs" cargo bench -q -p metrics-prom --bench detection_time
fi

step "done in $((SECONDS - t0)) s"
