#!/usr/bin/env bash
# Runs the test binaries of the given crates (folders, e.g. crates/driver-ecs) exactly as
# `cargo test --workspace` built them, each from its crate folder as cargo would.
#
# Why not `cargo test -p CRATE`: with `-p`, cargo resolves dependency features for that
# crate alone, so about 20 shared dependencies (tokio, hyper, rustls ...) come out with other
# features than in the workspace build and the kube / AWS SDK trees are built a second time.
# After CI's `cargo test --workspace`, the `--no-run` below has nothing left to build.
# Fails if a crate has no test binary or any binary fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$#" -gt 0 ] || { echo "usage: $0 CRATE_DIR..." >&2; exit 2; }

list="$(mktemp)"
trap 'rm -f "$list"' EXIT
cargo test --workspace --no-run --message-format=json-render-diagnostics \
  | python3 -c '
import json, os, sys
want = {os.path.abspath(d) for d in sys.argv[1:]}
for line in sys.stdin:
    if not line.startswith("{"):
        continue
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m.get("executable"):
        continue
    if not m["profile"]["test"]:
        continue
    crate = os.path.dirname(m["manifest_path"])
    if crate in want:
        print(crate, m["target"]["name"], m["executable"])
' "$@" | sort > "$list"
for crate in "$@"; do
  if ! grep -q "/${crate%/} " "$list"; then
    echo "workspace-tests: no test binary of $crate in the workspace build" >&2
    exit 1
  fi
done

failed=()
while read -r dir name exe; do
  echo "=== ${dir#"$PWD"/} $name ($(date -u +%H:%M:%S))"
  if ! (cd "$dir" && "$exe" </dev/null); then
    failed+=("${dir#"$PWD"/} $name")
  fi
done < "$list"

if [ "${#failed[@]}" -gt 0 ]; then
  echo "workspace-tests: FAILED: ${failed[*]}" >&2
  exit 1
fi
