#!/usr/bin/env bash
# CI: database migrations on a real PostgreSQL 15 (issue 17). Starts a private cluster with
# scripts/ci/pg-cluster.sh (installing Debian's postgresql if it is missing), runs
# shipcore-migrate-postgres's tests with SHIPCORE_E2E=1 (so a missing cluster or pg_dump
# fails instead of skipping) and the command migrator's tests, then stops and removes the
# cluster whatever happened (trap).
#
# What runs for real: the directory migrator (order, idempotent re-apply, a failing file
# leaves nothing, two concurrent appliers apply once, lock timeout, CREATE INDEX
# CONCURRENTLY outside a transaction), the squawk lint gate (every unsafe pattern blocked
# with file:line:rule, pending-only linting against the database), pg_dump backups
# (restorable, checked with pg_restore --list). Each test uses a database of its own, so
# they run in parallel on the one cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

t0=$SECONDS
step() { echo "=== e2e-migrations: $* ($(date -u +%H:%M:%S), +$((SECONDS - t0)) s)"; }

step "PostgreSQL cluster"
eval "$(bash scripts/ci/pg-cluster.sh start)"
trap 'bash scripts/ci/pg-cluster.sh stop "$SHIPCORE_PG_DIR" || true' EXIT
echo "cluster at $SHIPCORE_PG_URL (binaries in $SHIPCORE_PG_BIN)"

export SHIPCORE_E2E=1
step "shipcore-migrate-postgres (unit, end-to-end, doc tests)"
cargo test -p shipcore-migrate-postgres

step "command migrator (real processes)"
cargo test -p shipcore --test migrate_command

step "demo-service /api/users (v1 and v2 against a real schema)"
cargo test -p demo-service --test db

step "shipctl: migrations: {postgres: ...} through the binary (lint and backup gates)"
cargo test -p shipctl --features postgres --test migrations_postgres

step "done"
