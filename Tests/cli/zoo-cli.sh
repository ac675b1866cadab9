#!/usr/bin/env bash
# Checks the zoo command's behaviour as a user sees it: exit codes and one-line errors.
set -uo pipefail
zoo="$1"
fixtures="$(dirname "$0")/../TapestryTests/Fixtures/bad-safetensors"
passed=0; failed=0
check() {  # name, expected exit code, command...
    local name="$1" want="$2"; shift 2
    local out; out="$("$@" 2>&1)"; local got=$?
    if [ "$got" -eq "$want" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $name: exit $got, wanted $want"; echo "$out"; fi
    LAST_OUTPUT="$out"
}
check "info" 0 "$zoo" info
grep -q "backend:" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL info prints the backend"; }
check "models" 0 "$zoo" models
grep -q "^detr " <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL models lists detr: $LAST_OUTPUT"; }
check "inspect valid" 0 "$zoo" inspect "$fixtures/valid.safetensors"
grep -q "weight  F32\|weight *float32 *\[2, 3\]" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL inspect lists weight [2, 3]: $LAST_OUTPUT"; }
for bad in "$fixtures"/*.safetensors; do
    case "$(basename "$bad")" in valid*|ok_*) continue ;; esac
    check "inspect $(basename "$bad")" 1 "$zoo" inspect "$bad"
    [ "$(wc -l <<<"$LAST_OUTPUT")" -eq 1 ] && grep -q "^zoo: .*$(basename "$bad")" <<<"$LAST_OUTPUT" \
        || { failed=$((failed + 1)); echo "FAIL one-line error naming the file: $LAST_OUTPUT"; }
done
check "inspect missing file" 1 "$zoo" inspect /nonexistent.safetensors
layers="$(dirname "$0")/../TapestryNNTests/Fixtures/layers"
check "parity float64" 0 "$zoo" parity "$layers/conv2d.safetensors" "$layers/max_pool2d.safetensors"
grep -q "grad.weight" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL parity prints per-tensor lines: $LAST_OUTPUT"; }
check "parity float32" 0 "$zoo" parity --dtype float32 "$layers/layer_norm.safetensors"
check "parity hungarian" 0 "$zoo" parity --quiet "$(dirname "$0")/../DetectionTests/Fixtures/hungarian.safetensors"
coco="$(dirname "$0")/../DetectionTests/Fixtures/coco-eval"
check "eval-coco json" 0 "$zoo" eval-coco --gt "$coco/gt.json" --results "$coco/dets.json" --json
STATS="$LAST_OUTPUT" python3 -c '
import json, os, sys
ours = json.loads(os.environ["STATS"])["stats"]; theirs = json.load(open(sys.argv[1]))["stats"]
assert len(ours) == 12 and max(abs(a - b) for a, b in zip(ours, theirs)) < 1e-12, (ours, theirs)
' "$coco/expected.json" || { failed=$((failed + 1)); echo "FAIL eval-coco --json stats differ from expected.json"; }
check "eval-coco missing results" 1 "$zoo" eval-coco --gt "$coco/gt.json" --results /nonexistent.json
badcoco="$(dirname "$0")/../DetectionTests/Fixtures/bad-coco"
check "check-data valid" 0 "$zoo" check-data --annotations "$badcoco/valid_minimal.json"
check "check-data degenerate warns" 0 "$zoo" check-data --annotations "$badcoco/degenerate_boxes.json"
grep -q "warning: 3 degenerate boxes" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL check-data summarizes degenerate boxes: $LAST_OUTPUT"; }
check "check-data wrong types" 1 "$zoo" check-data --annotations "$badcoco/wrong_types.json"
grep -q "annotations entry id 1 (index 0), field bbox" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL check-data names the entry: $LAST_OUTPUT"; }
check "check-data missing images" 1 "$zoo" check-data --annotations "$badcoco/valid_minimal.json" --images /nonexistent
shapes="$(mktemp -d)"
check "make-shapes" 0 "$zoo" make-shapes --output "$shapes" --train 6 --val 2 --size 64
check "check-data on shapes" 0 "$zoo" check-data --annotations "$shapes/annotations/train.json" --images "$shapes/train"
grep -q "images decoded: 6 ok, 0 failed" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL shapes decode: $LAST_OUTPUT"; }
rm -rf "$shapes"
check "make-shapes rejects a bad size" 64 "$zoo" make-shapes --output /tmp/never --size 8
check "parity on a non-fixture" 1 "$zoo" parity "$fixtures/valid.safetensors"
check "parity on a missing file" 1 "$zoo" parity /nonexistent.safetensors
check "unknown subcommand" 64 "$zoo" no-such-command
echo "zoo-cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
