#!/usr/bin/env bash
# framecast detect from the outside: exit codes, JSON, error messages.
# Usage: test_cli.sh FRAMECAST MODEL FIXTURES_DIR
set -uo pipefail
fc=$1 model=$2 fixtures=$3
[ -r "$model" ] || { echo "FAIL: model $model is missing; run scripts/fetch-models"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
check() { # name, command status wanted, actual status, file that must contain pattern, pattern
  if [ "$2" != "$3" ] || ! grep -q -- "$5" "$4"; then
    echo "FAIL: $1 (exit $3, wanted $2; looked for '$5' in:)"; cat "$4"; failures=$((failures + 1))
  else
    echo "ok: $1"
  fi
}

"$fc" detect "$fixtures/face-astronaut.png" --model "$model" --json >"$tmp/out" 2>"$tmp/err"
check "json on the face fixture" 0 $? "$tmp/out" '"faces"'
[ "$(grep -c '"score"' "$tmp/out")" = 1 ] || { echo "FAIL: wanted exactly one face"; failures=$((failures + 1)); }
grep -q '"right_eye"' "$tmp/out" || { echo "FAIL: no keypoints in JSON"; failures=$((failures + 1)); }

"$fc" detect "$fixtures/face-astronaut.png" --model "$model" >"$tmp/out" 2>&1
check "text on the face fixture" 0 $? "$tmp/out" '1 face$'

"$fc" detect "$fixtures/face-astronaut.png" --model "$model" --input square >"$tmp/out" 2>&1
check "--input square (the reference letterbox)" 0 $? "$tmp/out" '1 face$'

"$fc" detect "$fixtures/face-astronaut.png" --model "$model" --input round >"$tmp/out" 2>&1
check "bad --input" 2 $? "$tmp/out" "--input wants band or square, not 'round'"

"$fc" detect "$fixtures/speech-16k.wav" --model "$model" >"$tmp/out" 2>&1
check "non-image input" 1 $? "$tmp/out" 'not a PNG, JPEG or WebP image'

"$fc" detect "$tmp/missing.png" --model "$model" >"$tmp/out" 2>&1
check "missing input" 1 $? "$tmp/out" 'missing.png: No such file'

head -c 2000 "$fixtures/face-astronaut.png" >"$tmp/cut.png"
"$fc" detect "$tmp/cut.png" --model "$model" >"$tmp/out" 2>&1
check "truncated PNG" 1 $? "$tmp/out" 'bad PNG'

"$fc" detect "$fixtures/face-astronaut.png" --model "$fixtures/face-astronaut.png" >"$tmp/out" 2>&1
check "picture given as the model" 1 $? "$tmp/out" 'not an ONNX model'

"$fc" detect >"$tmp/out" 2>&1
check "no argument" 2 $? "$tmp/out" 'usage: framecast detect'

exit $((failures > 0))
