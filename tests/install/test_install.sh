#!/usr/bin/env bash
# An installed framecast finds its web root and models under its prefix,
# not in the working directory: install the build into a scratch
# destination, then run it from another directory.
# Usage: test_install.sh BUILD_DIR FIXTURES_DIR
set -uo pipefail
build=$1 fixtures=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log"; echo "FAIL: meson install"; exit 1; }
bin=$(find "$tmp/root" -path '*/bin/framecast' -type f | head -1)
[ -x "$bin" ] || { echo "FAIL: no bin/framecast under the install"; exit 1; }
data=$(dirname "$(dirname "$bin")")/share/framecast
[ -f "$data/web/index.html" ] || fail "web/index.html not installed under $data"
[ -f "$data/models/blazeface-front-128.onnx" ] || fail "the face model not installed under $data"

# From a directory with no models/ and no web/ in sight.
mkdir "$tmp/elsewhere"
cd "$tmp/elsewhere"
"$bin" detect "$fixtures/face-astronaut.png" >"$tmp/out" 2>&1
status=$?
if [ $status -ne 0 ] || ! grep -q '1 face$' "$tmp/out"; then
  fail "framecast detect from another directory (exit $status):"; cat "$tmp/out"
else
  echo "ok: detect finds the installed model"
fi
"$bin" serve --help >"$tmp/help" 2>&1
grep -q -- "--web-root DIR .*(default $data/web)" "$tmp/help" ||
  { fail "serve --help does not default --web-root to $data/web:"; grep -- --web-root "$tmp/help"; }
grep -q -- "(default $data/models/blazeface-front-128.onnx)" "$tmp/help" ||
  { fail "serve --help does not default --model to the installed one"; grep -A1 -- --model "$tmp/help"; }
[ $failures -eq 0 ] && echo "ok: serve defaults point into $data"
exit $((failures > 0))
