#!/usr/bin/env bash
# CI: the end-to-end tests against moto (PyPI moto[server], the AWS control plane double),
# on a bare Debian 12 machine with the Rust toolchain and Python. Installs moto if
# moto_server is missing, then runs, with SHIPCORE_E2E=1 (a missing part fails loudly
# instead of skipping):
#
#   cargo test -p shipcore-metrics-cloudwatch   # CloudWatchSource vs moto, the canary
#                                               # judged by CloudWatch
#   cargo test -p shipcore-driver-ecs           # the ECS driver vs moto
#
# Every test starts its own moto_server on a free 127.0.0.1 port and kills it when done
# (crates/metrics-cloudwatch/tests/support/moto.rs), so tests share no AWS state.
# SHIPCORE_MOTO_SERVER=/path/to/moto_server picks another binary. Both crates share one
# build of the AWS SDK crates (same target directory, same features).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

t0=$SECONDS
step() { echo "=== e2e-ecs: $* ($(date -u +%H:%M:%S), +$((SECONDS - t0)) s)"; }

MOTO_VERSION=5.2.5
step "moto $MOTO_VERSION"
if [ -z "${SHIPCORE_MOTO_SERVER:-}" ] && ! command -v moto_server >/dev/null 2>&1; then
  python3 -m pip install --quiet "moto[server]==$MOTO_VERSION"
  hash -r
fi
bin="${SHIPCORE_MOTO_SERVER:-moto_server}"
if ! command -v "$bin" >/dev/null 2>&1; then
  echo "e2e-ecs: $bin is not on PATH after installing moto[server]==$MOTO_VERSION" >&2
  exit 1
fi
python3 -c 'import moto; print("moto", moto.__version__)' 2>/dev/null || true

export SHIPCORE_E2E=1

step "cargo test -p shipcore-metrics-cloudwatch"
cargo test -p shipcore-metrics-cloudwatch

step "cargo test -p shipcore-driver-ecs"
cargo test -p shipcore-driver-ecs

step "done in $((SECONDS - t0)) s"
