#!/usr/bin/env bash
# CI: the HTML reports in a real browser (issue 14). Installs Debian's chromium if it is
# missing, renders with the canary example the bad-canary report (`--html`) and a history
# page with the reports it links to (`--history-html`: a simulated fortnight, one canary
# broken at 50%), then for each page runs headless Chromium and checks, for real:
#
#   - the page is self-contained: no <script>, <link>, src= or url( in the file;
#   - a PNG screenshot is not blank: python3 (stdlib zlib) decodes it and counts distinct
#     colours and non-white pixels;
#   - the DOM Chromium built (--dump-dom) holds the revision weight series
#     (path.series.weight#weight-checkout-v2), the critical threshold line
#     (line.threshold-critical) and the rollback marker (g.marker-rollback); the history page
#     holds the DORA table and a link per deployment;
#   - no console message at all: Chromium's log (--enable-logging=stderr --v=0) has no
#     CONSOLE line (the pages have no JavaScript, so any message is an error). The check is
#     itself checked first on a page that logs one, so a change of log format cannot make it
#     pass silently.
#
# With SHIPCORE_E2E=1 a missing chromium fails loudly; without it the script says it skips.
# SHIPCORE_BROWSER_OUT=DIR keeps the pages, screenshots and DOM dumps there (default: a
# temporary folder, removed on exit).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

t0=$SECONDS
step() { echo "=== e2e-browser: $* ($(date -u +%H:%M:%S), +$((SECONDS - t0)) s)"; }
fail() { echo "e2e-browser: FAILED: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -E "$@"
  else
    return 1
  fi
}

step "chromium"
if ! command -v chromium >/dev/null 2>&1; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq || true
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || true
fi
if ! command -v chromium >/dev/null 2>&1; then
  if [ "${SHIPCORE_E2E:-}" = "1" ]; then
    fail "chromium is not installed and could not be installed (SHIPCORE_E2E=1: not skipping)"
  fi
  echo "e2e-browser: chromium missing, skipped (set SHIPCORE_E2E=1 to fail instead)"
  exit 0
fi
version="$(chromium --version 2>&1 || true)"
echo "${version##*$'\n'}"

if [ -n "${SHIPCORE_BROWSER_OUT:-}" ]; then
  out="$SHIPCORE_BROWSER_OUT"
  mkdir -p "$out"
else
  out="$(mktemp -d)"
fi
profile="$(mktemp -d)"
trap 'rm -rf "$profile"; [ -n "${SHIPCORE_BROWSER_OUT:-}" ] || rm -rf "$out"' EXIT

# Headless Chromium that does not try the network (see real-components notes).
browse() {
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --disable-background-networking --disable-component-update --disable-sync \
    --no-first-run --user-data-dir="$profile" --enable-logging=stderr --v=0 "$@"
}

console_lines() { grep -E ':CONSOLE[:(]' "$1" || true; }

step "the console check finds a console message on a page that logs one"
printf '<!DOCTYPE html><html><body><script>console.error("e2e-browser-self-test")</script></body></html>' >"$out/self-test.html"
browse --dump-dom "file://$out/self-test.html" >"$out/self-test.dom" 2>"$out/self-test.log"
console_lines "$out/self-test.log" | grep -q "e2e-browser-self-test" \
  || fail "the console check does not see Chromium's console messages (log format changed?)"

step "render the bad-canary report and a history page with the example"
cargo run -q --example canary -- --html "$out/canary.html" --history-html "$out/history.html" | tail -3

# shot PAGE: screenshot, DOM dump and log of $out/PAGE.html; checks self-containment,
# non-blank screenshot and console silence.
shot() {
  local page="$1" html="$out/$1.html"
  [ -s "$html" ] || fail "$html was not written"
  if grep -E -n '<script|<link|src=|url\(' "$html"; then
    fail "$page.html is not self-contained (see the lines above)"
  fi
  browse --window-size=1300,1400 --screenshot="$out/$page.png" "file://$html" \
    >/dev/null 2>"$out/$page.shot.log"
  browse --dump-dom "file://$html" >"$out/$page.dom" 2>"$out/$page.log"
  local console
  console="$(console_lines "$out/$page.log"; console_lines "$out/$page.shot.log")"
  [ -z "$console" ] || fail "console messages on $page.html:"$'\n'"$console"
  python3 - "$out/$page.png" <<'PY'
import struct, sys, zlib
path = sys.argv[1]
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"{path}: not a PNG")
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
w, h, depth, ctype, _, _, interlace = ihdr
channels = {2: 3, 6: 4}.get(ctype)
if depth != 8 or channels is None or interlace:
    sys.exit(f"{path}: unexpected PNG format (depth {depth}, colour type {ctype})")
raw, stride = zlib.decompress(idat), w * channels
prev, colours, ink = bytearray(stride), set(), 0
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - channels] if i >= channels else 0
        b, c = prev[i], prev[i - channels] if i >= channels else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, channels):
        px = bytes(line[x:x + 3])
        colours.add(px)
        if px != b"\xff\xff\xff":
            ink += 1
    prev = line
share = ink / (w * h)
print(f"{path}: {w}x{h}, {len(colours)} distinct colours, {share:.1%} non-white pixels")
if len(colours) < 16 or share < 0.02:
    sys.exit(f"{path}: looks blank")
PY
}

# has PAGE PATTERN WHAT: the DOM dump of PAGE matches PATTERN (extended regex).
has() {
  grep -E -q "$2" "$out/$1.dom" || fail "$1: the DOM has no $3 (/$2/)"
  echo "  $1: $3"
}

step "the bad-canary report in Chromium"
shot canary
has canary '<path class="series weight" id="weight-checkout-v2"' "weight series of checkout-v2"
has canary '<path class="series weight" id="weight-checkout-v1"' "weight series of checkout-v1"
has canary '<line class="threshold threshold-critical" id="threshold-critical-error-rate-error-rate"' "critical threshold line of error-rate"
has canary '<g class="marker marker-rollback" id="marker-rollback-1"' "rollback marker"
has canary '<title>rollback at \+[0-9a-z]+: analysis failed: error-rate' "rollback reason tooltip"
has canary 'data-status="rolled_back"' "outcome rolled_back"

step "a canary broken at 50% (a report the history links to) in Chromium"
shot checkout-1.5.0
has checkout-1.5.0 '<circle class="point outcome-failed"' "failed measurement point"
has checkout-1.5.0 '<g class="marker marker-rollback"' "rollback marker"

step "the history page in Chromium"
shot history
has history '<tr id="dora-overall">' "overall DORA row"
has history '<tr id="dora-checkout">' "checkout DORA row"
has history 'not restored \(1 open\)' "unrestored payments incident"
has history '<a href="checkout-1.5.0.html">' "link to the broken canary's report"
[ "$(grep -o '<tr data-status=' "$out/history.dom" | wc -l)" -eq 8 ] || fail "history: expected 8 deployment rows"

step "done in $((SECONDS - t0)) s${SHIPCORE_BROWSER_OUT:+ (pages, screenshots and DOM dumps in $out)}"
