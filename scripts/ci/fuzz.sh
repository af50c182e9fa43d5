#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time and fails if any crashes.
#
#   FUZZ_SECONDS   seconds per target (default 60)
#   FUZZ_JOBS      targets fuzzed at once, one core each (default: number of cores)
#   FUZZ_TARGETS   space-separated subset (default: every target in fuzz/Cargo.toml)
#   FUZZ_GROW_CORPUS=1  write new inputs into the committed fuzz/corpus/<target>/ (local use;
#                  by default they go to fuzz/target/corpus-run/ and the repository is untouched)
#
# Needs the nightly toolchain; installs cargo-fuzz (pinned) when missing. Builds into
# fuzz/target (gitignored), never the workspace's target/. Targets are built with debug
# assertions and overflow checks and without a sanitizer: the workspace forbids unsafe code,
# and ASan would double the build time and halve the executions.
# A crash leaves its input in fuzz/artifacts/<target>/; reproduce it with
#   fuzz/target/x86_64-unknown-linux-gnu/release/<target> fuzz/artifacts/<target>/crash-...
# and add it as a regression #[test] in the crate that owns the parser.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
JOBS="${FUZZ_JOBS:-$(nproc)}"
TOOLCHAIN="${FUZZ_TOOLCHAIN:-nightly}"
CARGO_FUZZ_VERSION=0.13.2
TARGET_DIR="$ROOT/fuzz/target"
BIN_DIR="$TARGET_DIR/x86_64-unknown-linux-gnu/release"
LOG_DIR="$TARGET_DIR/logs"
start_all=$(date +%s)

if ! cargo "+$TOOLCHAIN" fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

echo "fuzz: building every target ($(cargo "+$TOOLCHAIN" fuzz --version))"
start_build=$(date +%s)
cargo "+$TOOLCHAIN" fuzz build --sanitizer none --target-dir "$TARGET_DIR"
build_s=$(( $(date +%s) - start_build ))
echo "fuzz: build took ${build_s}s"

if [[ -n "${FUZZ_TARGETS:-}" ]]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    mapfile -t targets < <(cargo "+$TOOLCHAIN" fuzz list)
fi

SCRATCH="$(mktemp -d "$( [[ -d /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/shipcore-fuzz.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
rm -rf "$LOG_DIR"
mkdir -p "$LOG_DIR"

run_target() {
    local t="$1" rc=0 work corpus="$ROOT/fuzz/corpus/$1"
    mkdir -p "$corpus" "$ROOT/fuzz/artifacts/$t" "$SCRATCH/$t"
    if [[ "${FUZZ_GROW_CORPUS:-0}" == 1 ]]; then
        work=("$corpus")
    else
        rm -rf "$TARGET_DIR/corpus-run/$t"
        mkdir -p "$TARGET_DIR/corpus-run/$t"
        work=("$TARGET_DIR/corpus-run/$t" "$corpus")
    fi
    SHIPCORE_FUZZ_SCRATCH="$SCRATCH/$t" "$BIN_DIR/$t" \
        -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
        -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$ROOT/fuzz/artifacts/$t/" \
        "${work[@]}" >"$LOG_DIR/$t.log" 2>&1 || rc=$?
    echo "$rc" >"$LOG_DIR/$t.rc"
}

echo "fuzz: ${#targets[@]} targets, ${SECONDS_PER_TARGET}s each, $JOBS at a time"
start_runs=$(date +%s)
running=0
for t in "${targets[@]}"; do
    if [[ ! -x "$BIN_DIR/$t" ]]; then
        echo "fuzz: no binary for target $t" >&2
        exit 2
    fi
    run_target "$t" &
    running=$((running + 1))
    if (( running >= JOBS )); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true
runs_s=$(( $(date +%s) - start_runs ))

failed=()
printf '\n%-22s %8s %12s %9s %7s  %s\n' target seconds executions exec/s corpus result
for t in "${targets[@]}"; do
    log="$LOG_DIR/$t.log"
    rc="$(cat "$LOG_DIR/$t.rc" 2>/dev/null || echo '?')"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    corpus="$(grep -oE 'corp: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || true)"
    if [[ "$rc" == 0 ]]; then
        result=ok
    else
        result="CRASH (exit $rc, see $log)"
        failed+=("$t")
    fi
    printf '%-22s %8s %12s %9s %7s  %s\n' "$t" "$SECONDS_PER_TARGET" "${execs:-?}" "${rate:-?}" "${corpus:-?}" "$result"
done
total_s=$(( $(date +%s) - start_all ))
echo
echo "fuzz: build ${build_s}s, fuzzing ${runs_s}s, total ${total_s}s"

if (( ${#failed[@]} > 0 )); then
    for t in "${failed[@]}"; do
        echo
        echo "=== $t: $(ls "$ROOT/fuzz/artifacts/$t" 2>/dev/null | tr '\n' ' ')"
        grep -E -A12 "panicked|ERROR: libFuzzer|==ERROR|SUMMARY" "$LOG_DIR/$t.log" | head -40
    done
    echo "fuzz: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: no crash in ${#targets[@]} targets"
