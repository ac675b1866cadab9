#!/usr/bin/env bash
# Checks that training runs and their checkpoints survive what happens to real jobs:
# stray files, damaged checkpoints, kill -9, SIGTERM, cut-off logs, read-only folders.
set -uo pipefail
zoo="$1"
source "$(dirname "$0")/lib.sh"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$zoo" make-shapes --output "$work/shapes" --train 6 --val 2 --size 64 >/dev/null
cat > "$work/tiny.json" <<'JSON'
{"model": {"backbone_width": 8, "hidden_dim": 32, "nheads": 2, "enc_layers": 1, "dec_layers": 1, "dim_feedforward": 64, "num_queries": 5},
 "trainer": {"batch_size": 2, "log_every": 1, "eval_every": 0, "keep_checkpoints": 2, "checkpoint_every": 1},
 "data": {"scales": [64], "max_size": 64, "eval_size": 64}}
JSON
# (Background runs call "$zoo" itself, so that $! is its process and not a subshell's.)
train() { "$zoo" train detr --data "$work/shapes" --config "$work/tiny.json" "$@"; }
names() { ls "$1" | grep safetensors | tr '\n' ' '; }

# Only files the trainer wrote are resumed from and pruned.
run="$work/run"
check "train 4 steps" 0 train --output "$run" --max-steps 4
cp "$run/checkpoint-00000003.safetensors" "$run/checkpoint-best.safetensors"
cp "$run/checkpoint-00000003.safetensors" "$run/checkpoint-00000001-keep-me.safetensors"
check "resume beside stray files" 0 "$zoo" train detr --output "$run" --max-steps 2 --resume
expect "resumes from the newest file the trainer wrote" 'grep -q "resuming from $run/checkpoint-00000004.safetensors at step 4" <<<"$LAST_OUTPUT"'
expect "prunes only the trainer's files" '[ "$(names "$run")" = "checkpoint-00000001-keep-me.safetensors checkpoint-00000005.safetensors checkpoint-00000006.safetensors checkpoint-best.safetensors " ]'

# A damaged newest checkpoint: passed over, named, and the previous one resumed.
head -c 5000 "$run/checkpoint-00000006.safetensors" > "$run/cut" && mv "$run/cut" "$run/checkpoint-00000006.safetensors"
check "resume past a truncated checkpoint" 0 "$zoo" train detr --output "$run" --max-steps 1 --resume
expect "names the damaged file and the one resumed" 'grep -q "passed over $run/checkpoint-00000006.safetensors: .*" <<<"$LAST_OUTPUT"'
expect "resumes from the previous one" 'grep -q "resuming from $run/checkpoint-00000005.safetensors at step 5" <<<"$LAST_OUTPUT"'
# A flipped byte in the tensor data: refused by its checksum.
python3 - "$run/checkpoint-00000006.safetensors" <<'PY'
import sys
path = sys.argv[1]; data = bytearray(open(path, "rb").read())
data[-9] ^= 0x10
open(path, "wb").write(data)
PY
check "eval a checkpoint with a flipped byte" 1 "$zoo" eval "$run/checkpoint-00000006.safetensors"
expect "the checksum names the damage" 'grep -q "damaged: its tensors no longer match the checksum" <<<"$LAST_OUTPUT"'

# The temporary file of a save killed part way is removed by the next run.
sleep 0 & dead=$!; wait $dead
touch "$run/.checkpoint-00000009.safetensors.tmp-$dead-12345"
check "resume removes abandoned temporaries" 0 "$zoo" train detr --output "$run" --max-steps 1 --resume
expect "no temporary file left" '[ -z "$(ls -A "$run" | grep "\.tmp-")" ]'

# A metrics file cut off mid-line (power lost while appending) is repaired on resume.
printf '{"step":99,"train/lo' >> "$run/metrics.jsonl"
check "resume after a cut-off metrics line" 0 "$zoo" train detr --output "$run" --max-steps 1 --resume
python3 -c '
import json, sys
lines = open(sys.argv[1]).read().split("\n")
assert lines[-1] == "" and all(json.loads(l)["step"] != 99 for l in lines[:-1])
' "$run/metrics.jsonl"; whole=$?
expect "every metrics line is whole JSON" '[ $whole -eq 0 ]'

# SIGTERM and SIGHUP stop like Ctrl-C: the step finishes, a checkpoint is saved.
for sig in TERM HUP; do
    out="$work/sig-$sig"
    "$zoo" train detr --data "$work/shapes" --config "$work/tiny.json" --output "$out" --set checkpoint_every=0 --set log_every=1000 > "$work/sig.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do grep -q "output in" "$work/sig.log" && break; sleep 0.1; done
    sleep 0.5; kill -$sig $pid; wait $pid 2>/dev/null; status=$?
    want=$((128 + $(kill -l $sig)))
    LAST_OUTPUT="$(cat "$work/sig.log")"
    expect "SIG$sig saves and exits $want (got $status)" '[ "$status" -eq "$want" ] && grep -q "interrupted at step [0-9]*; saved $out/checkpoint-" <<<"$LAST_OUTPUT"'
done

# Output folders that cannot be used are reported first, in plain words.
check "an output folder that cannot be created" 1 train --output /proc/tapestry-run --data /nonexistent
expect "says so before loading data" 'grep -q "^zoo: output folder /proc/tapestry-run cannot be created (No such file or directory)$" <<<"$LAST_OUTPUT"'
check "an output path that is a file" 1 train --output "$work/tiny.json"
expect "says it is not a folder" 'grep -q "output folder $work/tiny.json exists and is not a folder" <<<"$LAST_OUTPUT"'

# Divergence stops with the step, the non-finite outputs and the images.
check "a diverging run" 1 train --output "$work/diverge" --set lr=1e30 --max-steps 3
expect "reports the non-finite loss" 'grep -q "loss is nan at step 2 (pred_boxes=nan, pred_logits=nan) on image ids" <<<"$LAST_OUTPUT"'

# Two images with the same base name: two pictures.
mkdir -p "$work/other" && cp "$work/shapes/val/000001.png" "$work/other/000000.png"
check "predict images sharing a name" 0 "$zoo" predict --checkpoint "$run" --output "$work/pred" "$work/shapes/val/000000.png" "$work/other/000000.png"
expect "writes both pictures" '[ -f "$work/pred/000000.png" ] && [ -f "$work/pred/000000-2.png" ]'

# kill -9 at random moments, 20 times, each run resuming the last: every checkpoint left
# behind reads completely.
kills="$work/kills"
for i in $(seq 1 20); do
    if ls "$kills"/checkpoint-*.safetensors >/dev/null 2>&1; then "$zoo" train detr --output "$kills" --resume >/dev/null 2>&1 &
    else "$zoo" train detr --data "$work/shapes" --config "$work/tiny.json" --output "$kills" >/dev/null 2>&1 & fi
    pid=$!
    sleep "0.$((RANDOM % 9 + 1))"; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
done
broken=0
for f in "$kills"/checkpoint-*.safetensors; do "$zoo" export "$f" --output "$work/x.safetensors" >/dev/null 2>&1 || { broken=$((broken + 1)); echo "unreadable: $f"; }; done
LAST_OUTPUT="$(ls -la "$kills")"
expect "after 20 kill -9s every checkpoint reads" '[ "$broken" -eq 0 ] && ls "$kills"/checkpoint-*.safetensors >/dev/null 2>&1'
check "and resuming works" 0 "$zoo" train detr --output "$kills" --max-steps 1 --resume

# Resuming in a new process is bit-exact: 6 steps = 3 + --resume + 3 (parameters,
# optimizer moments and trainer state are the checkpoint's bytes; metrics line for line).
check "6 steps straight" 0 train --output "$work/straight" --max-steps 6
check "3 steps" 0 train --output "$work/halves" --max-steps 3
check "then 3 more" 0 "$zoo" train detr --output "$work/halves" --max-steps 3 --resume
expect "the checkpoints are identical" 'cmp "$work/straight/checkpoint-00000006.safetensors" "$work/halves/checkpoint-00000006.safetensors"'
expect "the metrics are identical" 'cmp <(grep "\"train/" "$work/straight/metrics.jsonl") <(grep "\"train/" "$work/halves/metrics.jsonl")'
echo "zoo-reliability: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
