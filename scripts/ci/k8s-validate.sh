#!/usr/bin/env bash
# CI: validates every Kubernetes manifest (*.yaml, *.yml, *.json) in the directory given as
# $1 with `kubernetes-validate -k 1.33 --strict` (PyPI package kubernetes-validate; this
# script installs nothing: CI installs it with `pip install kubernetes-validate`).
# The driver's tests and the fake apiserver's `dump_manifests(dir)` write one file per
# stored Deployment/Service there. Fails when the directory holds no manifest, when the
# validator is missing, or when any manifest is invalid (all of them are checked first).
set -euo pipefail

dir="${1:-}"
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
  echo "usage: $0 DIR   (DIR: a directory of manifests; got '${dir}')" >&2
  exit 2
fi
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "k8s-validate: kubernetes-validate not found (pip install kubernetes-validate)" >&2
  exit 2
fi

mapfile -t files < <(find "$dir" -maxdepth 1 -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort)
if [ "${#files[@]}" -eq 0 ]; then
  echo "k8s-validate: no manifest (*.yaml, *.yml, *.json) in $dir" >&2
  exit 1
fi

failed=0
for f in "${files[@]}"; do
  # kubernetes-validate exits non-zero on an invalid document; --strict rejects unknown fields.
  if ! out=$(kubernetes-validate -k 1.33 --strict --no-warn "$f" 2>&1); then
    echo "INVALID $f" >&2
    echo "$out" >&2
    failed=$((failed + 1))
  else
    echo "valid   $f"
  fi
done

echo "k8s-validate: ${#files[@]} manifest(s), $failed invalid"
[ "$failed" -eq 0 ]
