#!/usr/bin/env bash
# CI: the journal on a real full disk, with SHIPCORE_E2E=1 so that a 64 KiB tmpfs that
# cannot be mounted fails instead of skipping (the tests mount it themselves; needs root,
# as CI runs):
#
#   journal_tmpfs   the journal fills the disk mid-line, retries, space is freed: no
#                   acknowledged entry lost, the journal reopens
#   crash_safety    >= 120 SIGKILLs at random points from a printed seed
#                   (SHIPCORE_CRASH_SEED=N replays one) and 4 disk-full runs, each resumed
#                   to the reference's end state
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
SHIPCORE_E2E=1 cargo test -p shipcore --test journal_tmpfs --test crash_safety
