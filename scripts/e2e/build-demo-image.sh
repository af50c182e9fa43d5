#!/usr/bin/env bash
# Builds the demo service as a static binary (glibc, crt-static) and packs it into a
# `FROM scratch` image with Podman. Usage:
#
#   scripts/e2e/build-demo-image.sh [--smoke] [IMAGE]    # IMAGE default: localhost/shipcore-demo:latest
#
# --smoke also runs the image on a published loopback port and checks /health, then removes
# the container. Needs podman (installed by scripts/e2e/podman.sh install); uses the
# containers.conf that script writes ($SHIPCORE_E2E_STATE/containers.conf) when present.
# The image listens on 0.0.0.0:8080 (ENV BIND/PORT); flags after the image name in
# `podman run` go to the service, e.g. `podman run IMAGE --version 2.0.0 --error-rate 0.1`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
STATE="${SHIPCORE_E2E_STATE:-/tmp/shipcore-e2e}"
TARGET_TRIPLE="x86_64-unknown-linux-gnu"
SMOKE=0
IMAGE="localhost/shipcore-demo:latest"
for arg in "$@"; do
  case "$arg" in
    --smoke) SMOKE=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "unknown option $arg" >&2; exit 2 ;;
    *) IMAGE="$arg" ;;
  esac
done

log() { echo "[build-demo-image.sh] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v podman >/dev/null 2>&1 ||
  die "podman is not installed: run scripts/e2e/podman.sh install (apt-get install -y podman runc)"
if [ -z "${CONTAINERS_CONF:-}" ] && [ -f "$STATE/containers.conf" ]; then
  export CONTAINERS_CONF="$STATE/containers.conf"
fi

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
log "building demo-service (release, static, $TARGET_TRIPLE)"
# --target keeps crt-static away from build scripts and proc macros.
( cd "$ROOT" && RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build -q --release -p demo-service --target "$TARGET_TRIPLE" --target-dir "$TARGET_DIR" )
BIN="$TARGET_DIR/$TARGET_TRIPLE/release/demo-service"
[ -x "$BIN" ] || die "no binary at $BIN"
# ldd says "statically linked" (static-pie) or "not a dynamic executable" for static binaries.
linkage="$(ldd "$BIN" 2>&1 || true)"
if ! echo "$linkage" | grep -Eq 'statically linked|not a dynamic executable'; then
  die "$BIN is dynamically linked ($(echo "$linkage" | head -n 3 | tr '\n' ' ')); it would not run FROM scratch"
fi
log "static binary: $BIN ($(du -h "$BIN" | cut -f1))"

CTX="$(mktemp -d)"
trap 'rm -rf "$CTX"' EXIT
cp "$BIN" "$CTX/demo-service"
cat > "$CTX/Containerfile" <<'EOF'
FROM scratch
COPY demo-service /demo-service
ENV BIND=0.0.0.0 PORT=8080
EXPOSE 8080
ENTRYPOINT ["/demo-service"]
EOF
podman build -q -t "$IMAGE" -f "$CTX/Containerfile" "$CTX" >/dev/null
log "built $IMAGE"

if [ "$SMOKE" = 1 ]; then
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  name="shipcore-demo-smoke-$$"
  podman run -d --rm --name "$name" -p "127.0.0.1:$port:8080" "$IMAGE" --version 9.9.9 >/dev/null
  cleanup() { podman rm -f -t 0 "$name" >/dev/null 2>&1 || true; rm -rf "$CTX"; }
  trap cleanup EXIT
  body=""
  for _ in $(seq 1 50); do
    body="$(curl -fsS "http://127.0.0.1:$port/health" 2>/dev/null || true)"
    [ -n "$body" ] && break
    sleep 0.1
  done
  echo "$body" | grep -q '"version":"9.9.9"' || die "smoke test: /health answered '$body'"
  log "smoke test passed: $body"
fi
echo "$IMAGE"
