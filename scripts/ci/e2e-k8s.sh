#!/usr/bin/env bash
# CI: the Kubernetes driver's suite against clients nobody here wrote, on a machine with the
# Rust toolchain, kubectl (>= 1.32, on the machine image) and Python/pip. No cluster is
# needed: the tests run the driver's fake apiserver in-process and on 127.0.0.1 (with a
# kubeconfig that kubectl uses). With SHIPCORE_E2E=1 (a missing part fails loudly instead
# of skipping) it runs:
#
#   the driver's test binaries as `cargo test --workspace` built them (workspace-tests.sh)  # unit, protocol, fake, whole-rollout and SIGKILL
#                                       # tests; kubectl against the loopback fake;
#                                       # kubernetes-validate on the fake's dumps
#
# then shipctl's own Kubernetes tests (crates/shipctl/tests/e2e_k8s.rs: `shipctl run` and
# `plan` of rollout files with `driver: {k8s: ...}` against the fake on 127.0.0.1), and
# validates, once more and visibly, the Deployments and Services the DRIVER wrote
# in a whole canary (tests/rollout_manifests.rs dumps them at the canary's midpoint and end
# into $SHIPCORE_K8S_MANIFESTS/{mid,end}) with scripts/ci/k8s-validate.sh
# (kubernetes-validate -k 1.33 --strict). Installs kubernetes-validate==1.37.0 with pip when
# it is missing. The real-cluster suite (tests/e2e_cluster.rs) runs only when
# SHIPCORE_K8S_E2E=1 and KUBECONFIG are set by the caller.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

t0=$SECONDS
step() { echo "=== e2e-k8s: $* ($(date -u +%H:%M:%S), +$((SECONDS - t0)) s)"; }

# The first line a command prints: read whole, then cut (`| head -n1` under pipefail fails
# at random with SIGPIPE, exit 141, when head exits before the command's last line).
first_line() { local out; out="$("$@" 2>&1)"; echo "${out%%$'\n'*}"; }

step "check kubectl"
if ! command -v kubectl >/dev/null 2>&1; then
  echo "e2e-k8s: kubectl not found; it is on the machine image (kubectl 1.32): install it" >&2
  exit 1
fi
first_line kubectl version --client

step "check kubernetes-validate"
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  python3 -m pip install --quiet "kubernetes-validate==1.37.0"
  hash -r
fi
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "e2e-k8s: kubernetes-validate is still not on PATH after pip install" >&2
  exit 1
fi
first_line kubernetes-validate --version

export SHIPCORE_E2E=1
manifests="$(mktemp -d)"
trap 'rm -rf "$manifests"' EXIT
export SHIPCORE_K8S_MANIFESTS="$manifests"

step "the driver's test binaries, from the workspace's build (kubectl checks, manifests, rollouts)"
bash scripts/ci/workspace-tests.sh crates/driver-k8s

for part in mid end; do
  step "validate the manifests the driver wrote ($part of the canary)"
  bash scripts/ci/k8s-validate.sh "$manifests/$part"
done

step "shipctl with the Kubernetes driver: rollout files run by the binary on the loopback fake"
cargo test -q -p shipctl --features k8s --test e2e_k8s

step "done in $((SECONDS - t0)) s"
