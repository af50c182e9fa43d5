#!/usr/bin/env bash
# End-to-end tests of shipcore-store-postgres (issue 16) on a real PostgreSQL 15: starts a
# private cluster (scripts/ci/pg-cluster.sh), runs the crate's tests with SHIPCORE_E2E=1
# (a test that cannot reach the database fails instead of skipping), and stops and
# removes the cluster on exit, whatever happened.
#
#   bash scripts/ci/e2e-postgres.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/../.."

eval "$(bash scripts/ci/pg-cluster.sh start)"
trap 'bash scripts/ci/pg-cluster.sh stop "$SHIPCORE_PG_DIR"' EXIT
export SHIPCORE_E2E=1
echo "e2e-postgres: cluster at $SHIPCORE_PG_URL ($SHIPCORE_PG_DIR)" >&2
cargo test -p shipcore-store-postgres "$@"
