#!/usr/bin/env bash
# CI: the end-to-end tests against moto (PyPI moto[server], the AWS control plane double),
# on a bare Debian 12 machine with the Rust toolchain and Python. Installs moto if
# moto_server is missing, then runs, with SHIPCORE_E2E=1 (a missing part fails loudly
# instead of skipping), every test binary of
#
#   shipcore-metrics-cloudwatch   # CloudWatchSource vs moto, the canary judged by CloudWatch
#   shipcore-driver-ecs           # the ECS driver vs moto, whole rollouts, SIGKILL + resume
#
# and shipctl's ECS test (crates/shipctl/tests/e2e_ecs.rs: `shipctl run` of a rollout file
# with `driver: {ecs: ...}`, AWS found through the environment, and canaries judged by
# `metrics: {cloudwatch: ...}`), built with `--features ecs,cloudwatch` (its own build of
# shipctl; the AWS crates are the ones above).
#
# Every test starts its own moto_server on a free 127.0.0.1 port and kills it when done
# (crates/metrics-cloudwatch/tests/support/moto.rs), so tests share no AWS state.
# SHIPCORE_MOTO_SERVER=/path/to/moto_server picks another binary.
#
# One build, shared with `cargo test --workspace`: the binaries come from
# `cargo test --workspace --no-run` (nothing to do when CI already ran `cargo test
# --workspace`, and what it builds here is what that will reuse), run directly from their
# crate's directory, as cargo runs them. `cargo test -p <crate>` would not share it: with
# `-p`, cargo resolves features for the selected packages only (tokio, serde, hyper, rustls
# ... differ from the workspace's), so each `-p` rebuilt the AWS SDK crates once more.
# Doc tests need no moto; `cargo test --workspace` runs them.
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

step "the two crates' test binaries, from the workspace's build"
bash scripts/ci/workspace-tests.sh crates/metrics-cloudwatch crates/driver-ecs
step "shipctl with the ECS driver on moto"
cargo test -q -p shipctl --features ecs,cloudwatch --test e2e_ecs
step "done in $((SECONDS - t0)) s"
