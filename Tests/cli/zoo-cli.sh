#!/usr/bin/env bash
# Checks the zoo command's behaviour as a user sees it: exit codes and one-line errors.
set -uo pipefail
zoo="$1"
fixtures="$(dirname "$0")/../TapestryTests/Fixtures/bad-safetensors"
source "$(dirname "$0")/lib.sh"
check "info" 0 "$zoo" info
grep -q "backend:" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL info prints the backend"; }
check "models" 0 "$zoo" models
for name in detr deformable-detr smca stacked-detr sasa-resnet resnet; do
    grep -q "^$name " <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL models lists $name: $LAST_OUTPUT"; }
done
check "inspect valid" 0 "$zoo" inspect "$fixtures/valid.safetensors"
grep -q "weight  F32\|weight *float32 *\[2, 3\]" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL inspect lists weight [2, 3]: $LAST_OUTPUT"; }
for bad in "$fixtures"/*.safetensors; do
    case "$(basename "$bad")" in valid*|ok_*) continue ;; esac
    check "inspect $(basename "$bad")" 1 "$zoo" inspect "$bad"
    [ "$(wc -l <<<"$LAST_OUTPUT")" -eq 1 ] && grep -q "^zoo: .*$(basename "$bad")" <<<"$LAST_OUTPUT" \
        || { failed=$((failed + 1)); echo "FAIL one-line error naming the file: $LAST_OUTPUT"; }
done
check "inspect missing file" 1 "$zoo" inspect /nonexistent.safetensors
layers="$(dirname "$0")/../ParityTests/Fixtures/layers"
check "parity float64" 0 "$zoo" parity "$layers/conv2d.safetensors" "$layers/max_pool2d.safetensors"
grep -q "grad.weight" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL parity prints per-tensor lines: $LAST_OUTPUT"; }
check "parity float32" 0 "$zoo" parity --dtype float32 "$layers/layer_norm.safetensors"
check "parity hungarian" 0 "$zoo" parity --quiet "$(dirname "$0")/../ParityTests/Fixtures/hungarian.safetensors"
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

# Training end to end on the generated images, with a tiny DETR.
run="$(mktemp -d)"
cat > "$run/tiny.json" <<'JSON'
{"model": {"backbone_width": 8, "hidden_dim": 32, "nheads": 2, "enc_layers": 1, "dec_layers": 1, "dim_feedforward": 64, "num_queries": 5},
 "trainer": {"batch_size": 2, "log_every": 1, "eval_every": 0, "keep_checkpoints": 2},
 "data": {"scales": [64], "max_size": 64, "eval_size": 64}}
JSON
check "train" 0 "$zoo" train detr --data "$shapes" --config "$run/tiny.json" --output "$run/out" --max-steps 3
grep -q "step 3/900" <<<"$LAST_OUTPUT" && grep -q "trained AP" <<<"$LAST_OUTPUT" \
    || { failed=$((failed + 1)); echo "FAIL train reports steps and AP: $LAST_OUTPUT"; }
[ -f "$run/out/checkpoint-00000003.safetensors" ] && [ "$(wc -l < "$run/out/metrics.jsonl")" -ge 3 ] && ls "$run/out/tensorboard/"events.out.tfevents.* >/dev/null \
    || { failed=$((failed + 1)); echo "FAIL train writes a checkpoint, metrics and TensorBoard events"; ls -R "$run/out"; }
check "train into a used folder" 1 "$zoo" train detr --data "$shapes" --config "$run/tiny.json" --output "$run/out" --max-steps 1
grep -q "already holds a run" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL a second run does not mix into the first: $LAST_OUTPUT"; }
check "train --resume" 0 "$zoo" train detr --output "$run/out" --max-steps 2 --resume
grep -q "resuming from .*checkpoint-00000003.safetensors at step 3" <<<"$LAST_OUTPUT" && [ -f "$run/out/checkpoint-00000005.safetensors" ] \
    || { failed=$((failed + 1)); echo "FAIL resume continues at step 3: $LAST_OUTPUT"; }
# A checkpoint written before a setting existed (here: without trainer.optimizer and
# trainer.momentum) still resumes, the missing keys at their defaults.
cp -r "$run/out" "$run/older"
python3 - "$run/older/checkpoint-00000005.safetensors" <<'PY'
import json, struct, sys
data = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", data[:8])[0]; header = json.loads(data[8:8 + n])
settings = json.loads(header["__metadata__"]["tapestry.settings"])
del settings["trainer"]["optimizer"], settings["trainer"]["momentum"]
header["__metadata__"]["tapestry.settings"] = json.dumps(settings, separators=(",", ":"), sort_keys=True)
text = json.dumps(header).encode(); text += b" " * (-len(text) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(text)) + text + data[8 + n:])
PY
check "resume a checkpoint written before a setting existed" 0 "$zoo" train detr --output "$run/older" --max-steps 1 --resume
grep -q "resuming from .*checkpoint-00000005.safetensors at step 5" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL an older checkpoint resumes: $LAST_OUTPUT"; }
check "resume with other settings" 1 "$zoo" train detr --output "$run/out" --set hidden_dim=64 --resume
grep -q "model.hidden_dim: 32 → 64" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL resume names the changed key: $LAST_OUTPUT"; }
check "eval" 0 "$zoo" eval "$run/out" --json
grep -q '"stats":\[' <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL eval --json prints stats: $LAST_OUTPUT"; }
check "eval untrained" 0 "$zoo" eval --untrained detr --data "$shapes" --limit 2
grep -q "Average Precision" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL eval prints the COCO summary: $LAST_OUTPUT"; }
check "eval side by side" 0 "$zoo" eval --untrained detr --data "$shapes" "$run/out" --limit 2
[ "$(grep -c "^0\.[0-9]*  " <<<"$LAST_OUTPUT")" -eq 2 ] || { failed=$((failed + 1)); echo "FAIL eval prints a line per model: $LAST_OUTPUT"; }
check "predict" 0 "$zoo" predict --checkpoint "$run/out" --threshold 0 --output "$run/pred" --sheet "$run/sheet.png" "$shapes/val/000000.png" "$shapes/val/000001.png"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["images"]) == 2 and all(len(i["detections"]) == 5 for i in d["images"]), d
assert open(sys.argv[2], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
' "$run/pred/predictions.json" "$run/sheet.png" && [ -f "$run/pred/000000.png" ] \
    || { failed=$((failed + 1)); echo "FAIL predict writes JSON, pictures and a sheet"; }
check "export" 0 "$zoo" export "$run/out" --output "$run/shared.safetensors"
check "eval an exported model" 0 "$zoo" eval "$run/shared.safetensors" --json
[ "$(stat -c %s "$run/shared.safetensors")" -lt "$(stat -c %s "$run/out/checkpoint-00000005.safetensors")" ] \
    || { failed=$((failed + 1)); echo "FAIL export drops the optimizer state"; }
check "attention maps" 0 "$zoo" attention --checkpoint "$run/out" --top 2 --output "$run/attention" "$shapes/val/000000.png"
expect "attention writes the picture of the last decoder layer" 'grep -q "decoder.layers.0.multihead_attn" <<<"$LAST_OUTPUT" && [ "$(head -c 4 "$run/attention/000000.png" | od -An -c | tr -d " ")" = "211PNG" ]'
check "encoder self-attention at two pixels" 0 "$zoo" attention --checkpoint "$run/out" --top 1 --pixel 32,32 --pixel 10,50 --output "$run/attention-pixels" "$shapes/val/000000.png"
expect "the pixels' panels come from the last encoder layer" 'grep -q "encoder.layers.[0-9]*.self_attn" <<<"$LAST_OUTPUT" && [ -f "$run/attention-pixels/000000.png" ]'
check "a pixel that is not x,y" 64 "$zoo" attention --checkpoint "$run/out" --pixel 64 "$shapes/val/000000.png"
check "a pixel outside the image" 1 "$zoo" attention --checkpoint "$run/out" --pixel 500,3 --output "$run/attention-pixels" "$shapes/val/000000.png"
expect "the error names the pixel and the image size" 'grep -q "500,3 lies outside .*64×64" <<<"$LAST_OUTPUT"'
check "plot a run" 0 "$zoo" plot "$run/out" --output "$run/plot.png"
expect "plot writes a PNG of the loss" 'grep -q "train/loss" <<<"$LAST_OUTPUT" && [ "$(head -c 4 "$run/plot.png" | od -An -c | tr -d " ")" = "211PNG" ]'
check "plot an unlogged metric" 1 "$zoo" plot "$run/out" --metric eval/nothing --output "$run/none.png"
expect "plot names what the runs logged" 'grep -q "no run logged eval/nothing" <<<"$LAST_OUTPUT" && [ ! -f "$run/none.png" ]'
check "plot a folder that is not a run" 1 "$zoo" plot "$shapes" --output "$run/none.png"
# A PyTorch checkpoint (legacy format, as DETR's hub ones) converted, then evaluated; a wrong
# model or a malicious pickle is a clear error.
pth="$(dirname "$0")/../ZooTests/Fixtures/tiny-detr-legacy.pth"
tiny="--set model.backbone=resnet18 --set model.backbone_width=8 --set model.hidden_dim=16 --set model.nheads=2 --set model.enc_layers=1"
tiny="$tiny --set model.dec_layers=1 --set model.dim_feedforward=32 --set model.num_queries=5 --set model.num_classes=4 --set model.frozen_batch_norm=false"
check "convert a .pth" 0 "$zoo" convert "$pth" --model detr $tiny --output "$run/converted.safetensors"
check "eval a converted .pth" 0 "$zoo" eval "$run/converted.safetensors" --data "$shapes" --limit 4 --json
check "convert for the wrong model" 1 "$zoo" convert "$pth" --model smca --output "$run/wrong.safetensors"
expect "convert names the keys that do not fit" 'grep -q "does not fit smca" <<<"$LAST_OUTPUT" && [ ! -f "$run/wrong.safetensors" ]'
check "convert a malicious .pth" 1 "$zoo" convert "$(dirname "$0")/../TorchCheckpointTests/Fixtures/malicious-os-system-zip.pth" --model detr
expect "convert refuses the call by name" 'grep -q "system" <<<"$LAST_OUTPUT" && grep -q "refused" <<<"$LAST_OUTPUT"'
check "predict --top" 0 "$zoo" predict --checkpoint "$run/out" --threshold 0 --top 2 --output "$run/pred2" "$shapes/val/000000.png"
grep -q "000000.png: 2 detections" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL predict --top keeps the best two: $LAST_OUTPUT"; }
check "predict a broken image" 1 "$zoo" predict --checkpoint "$run/out" "$run/tiny.json"
printf 'not a checkpoint' > "$run/bad.safetensors"
check "eval a corrupt checkpoint" 1 "$zoo" eval "$run/bad.safetensors"
check "train an unknown model" 1 "$zoo" train yolo --data "$shapes"
grep -q 'unknown model "yolo" (known: detr, deformable-detr, smca, stacked-detr, sasa-resnet, resnet)' <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL unknown model error: $LAST_OUTPUT"; }
check "train with an unknown key" 1 "$zoo" train detr --data "$shapes" --set hiden_dim=3 --output "$run/x"
grep -q "unknown key hiden_dim" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL unknown key error: $LAST_OUTPUT"; }
check "train without data" 1 "$zoo" train detr --data /nonexistent --output "$run/x"
# Ctrl-C: the step finishes, a checkpoint is saved, the exit status is 130.
"$zoo" train detr --data "$shapes" --config "$run/tiny.json" --set log_every=1000 --output "$run/int" > "$run/int.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q "output in" "$run/int.log" && break; sleep 0.2; done
sleep 1; kill -INT "$pid"; wait "$pid"; status=$?
if [ "$status" -eq 130 ] && grep -q "interrupted at step" "$run/int.log" && ls "$run/int/"checkpoint-*.safetensors >/dev/null 2>&1; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL Ctrl-C saves and exits 130 (exit $status)"; cat "$run/int.log"
fi

# Deformable DETR through the same commands: train, resume, eval (side by side), predict, export.
cat > "$run/tiny-deformable.json" <<'JSON'
{"model": {"backbone_width": 8, "hidden_dim": 32, "nheads": 2, "enc_layers": 1, "dec_layers": 2, "dim_feedforward": 32,
           "num_queries": 5, "enc_n_points": 2, "dec_n_points": 2, "with_box_refine": true},
 "trainer": {"batch_size": 2, "log_every": 1, "eval_every": 0},
 "data": {"scales": [64], "max_size": 64, "eval_size": 64}}
JSON
check "train deformable-detr" 0 "$zoo" train deformable-detr --data "$shapes" --config "$run/tiny-deformable.json" --output "$run/def" --max-steps 2
grep -q "trained AP" <<<"$LAST_OUTPUT" && grep -q "loss_ce_0" "$run/def/metrics.jsonl" \
    || { failed=$((failed + 1)); echo "FAIL deformable-detr trains with auxiliary focal losses: $LAST_OUTPUT"; }
check "train deformable-detr --resume" 0 "$zoo" train deformable-detr --output "$run/def" --max-steps 1 --resume
check "eval deformable-detr beside detr" 0 "$zoo" eval "$run/def" "$run/out" --limit 2
[ "$(grep -c "^0\.[0-9]*  " <<<"$LAST_OUTPUT")" -eq 2 ] || { failed=$((failed + 1)); echo "FAIL eval prints a line per model: $LAST_OUTPUT"; }
check "predict deformable-detr" 0 "$zoo" predict --checkpoint "$run/def" --threshold 0 --top 3 --output "$run/defpred" "$shapes/val/000000.png"
grep -q "000000.png: 3 detections" <<<"$LAST_OUTPUT" && [ -f "$run/defpred/000000.png" ] \
    || { failed=$((failed + 1)); echo "FAIL predict deformable-detr draws the top three: $LAST_OUTPUT"; }
check "sampling points of deformable-detr" 0 "$zoo" attention --checkpoint "$run/def" --top 2 --output "$run/def-attention" "$shapes/val/000000.png"
expect "deformable-detr's points are its last decoder layer's cross-attention" 'grep -q "decoder.layers.[0-9]*.cross_attn" <<<"$LAST_OUTPUT" && [ "$(head -c 4 "$run/def-attention/000000.png" | od -An -c | tr -d " ")" = "211PNG" ]'
check "deformable-detr's encoder points at a pixel" 0 "$zoo" attention --checkpoint "$run/def" --top 1 --pixel 40,50 --output "$run/def-attention" "$shapes/val/000000.png"
expect "the pixel's panel comes from the last encoder layer" 'grep -q "encoder.layers.[0-9]*.self_attn" <<<"$LAST_OUTPUT"'
check "export deformable-detr" 0 "$zoo" export "$run/def" --output "$run/def.safetensors"
# SMCA-DETR and Stacked-DETR through the same commands, with the original argument names.
cat > "$run/tiny-smca.json" <<'JSON'
{"model": {"backbone_width": 8, "hidden_dim": 32, "nheads": 2, "enc_layers": 1, "dec_layers": 2, "dim_feedforward": 32,
           "num_queries": 5, "dynamic_scale": "type2"},
 "trainer": {"batch_size": 2, "log_every": 1, "eval_every": 0},
 "data": {"scales": [64], "max_size": 64, "eval_size": 64}}
JSON
check "train smca" 0 "$zoo" train smca --data "$shapes" --config "$run/tiny-smca.json" --output "$run/smca" --max-steps 2
grep -q "trained AP" <<<"$LAST_OUTPUT" && grep -q "loss_ce_0" "$run/smca/metrics.jsonl" \
    || { failed=$((failed + 1)); echo "FAIL smca trains with auxiliary focal losses: $LAST_OUTPUT"; }
check "train stacked-detr" 0 "$zoo" train stacked-detr --data "$shapes" --output "$run/stacked" --max-steps 2 \
    --set backbone_width=4 --set hidden_dim=16 --set stack_layers=1-1-1-2 --set stack_heads=2-2-1-2 --set num_queries=5 \
    --set batch_size=2 --set eval_every=0 --set scales=[64] --set max_size=64 --set eval_size=64
grep -q "loss_ce_1" "$run/stacked/metrics.jsonl" || { failed=$((failed + 1)); echo "FAIL stacked-detr trains three decoder outputs: $LAST_OUTPUT"; }
check "eval smca beside stacked-detr" 0 "$zoo" eval "$run/smca" "$run/stacked" --limit 2
[ "$(grep -c "^0\.[0-9]*  " <<<"$LAST_OUTPUT")" -eq 2 ] || { failed=$((failed + 1)); echo "FAIL eval prints a line per model: $LAST_OUTPUT"; }
check "predict smca" 0 "$zoo" predict --checkpoint "$run/smca" --threshold 0 --top 3 --output "$run/smcapred" "$shapes/val/000000.png"
grep -q "000000.png: 3 detections" <<<"$LAST_OUTPUT" && [ -f "$run/smcapred/000000.png" ] \
    || { failed=$((failed + 1)); echo "FAIL predict smca draws the top three: $LAST_OUTPUT"; }
check "attention maps of smca, with its priors" 0 "$zoo" attention --checkpoint "$run/smca" --top 1 --output "$run/smca-attention" "$shapes/val/000000.png"
[ -f "$run/smca-attention/000000.png" ] || { failed=$((failed + 1)); echo "FAIL attention draws smca: $LAST_OUTPUT"; }
check "attention maps of stacked-detr (its level-3 decoder)" 0 "$zoo" attention --checkpoint "$run/stacked" --top 1 --output "$run/stacked-attention" "$shapes/val/000000.png"
expect "stacked-detr's last cross-attention is the second transformer's" 'grep -q "mytransformer2.decoder.layers.1.multihead_attn" <<<"$LAST_OUTPUT"'
check "export stacked-detr" 0 "$zoo" export "$run/stacked" --output "$run/stacked.safetensors"
check "parity smca and stacked-detr" 0 "$zoo" parity --quiet "$(dirname "$0")/../ParityTests/Fixtures/smca-r50-ss-type3-tiny.safetensors" \
    "$(dirname "$0")/../ParityTests/Fixtures/stacked-detr-r50-3333.safetensors"
check "stacked-detr on resnet18" 1 "$zoo" train stacked-detr --data "$shapes" --set backbone=resnet18 --output "$run/y"
grep -q 'Stacked-DETR needs resnet50, resnet101 or a SASA-ResNet' <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL stacked-detr backbone error: $LAST_OUTPUT"; }
check "smca with an unknown scale type" 1 "$zoo" train smca --data "$shapes" --set dynamic_scale=type9 --output "$run/y"
grep -q 'model.dynamic_scale is "type9", must be one of type1, type2, type3, type4' <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL smca scale error: $LAST_OUTPUT"; }
# A dataset with fewer categories than the model predicts: a clear error, not a trap.
cp -r "$shapes" "$run/onecat"
python3 - "$run/onecat/annotations/val.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); keep = d["categories"][0]["id"]
d["categories"] = d["categories"][:1]; d["annotations"] = [a for a in d["annotations"] if a["category_id"] == keep]
json.dump(d, open(sys.argv[1], "w"))
PY
check "eval on data with fewer categories" 1 "$zoo" eval "$run/def" --data "$run/onecat"
grep -q "class index [1-3], but the dataset has only 1 category:" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL category mismatch error: $LAST_OUTPUT"; }
check "two-stage without refinement" 1 "$zoo" train deformable-detr --data "$shapes" --set two_stage=true --set with_box_refine=false --output "$run/y"
grep -q "two_stage needs with_box_refine" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL two-stage error: $LAST_OUTPUT"; }
check "a value outside its range" 1 "$zoo" train detr --data "$shapes" --set nheads=0 --output "$run/y"
grep -q "model.nheads is 0, must be at least 1" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL range error: $LAST_OUTPUT"; }
# Classifiers through the same commands, on the ten-shape ImageFolder and on one written here.
check "make-shapes --classification" 0 "$zoo" make-shapes --classification --output "$run/classes" --train 20 --val 10 --size 16
[ "$(ls "$run/classes/train" | wc -l)" -eq 10 ] && [ -f "$run/classes/val/arrow/000009.png" ] \
    || { failed=$((failed + 1)); echo "FAIL make-shapes --classification writes ten class folders: $LAST_OUTPUT"; }
check "make-shapes --classification into an existing folder" 1 "$zoo" make-shapes --classification --output "$run/classes"
tinyclassifier=(--set image_size=16 --set planes=[4,4,4,4] --set stem_width=4 --set kernel_size=3 --set batch_size=5 --set eval_every=0 --set log_every=1)
check "train sasa-resnet" 0 "$zoo" train sasa-resnet --data "$run/classes" "${tinyclassifier[@]}" --set heads=2 --output "$run/sasa" --max-steps 3
grep -q "20 training images of 10 classes" <<<"$LAST_OUTPUT" && grep -q "trained top-1 0\.[0-9]*  top-5" <<<"$LAST_OUTPUT" \
    && grep -q '"eval/confusion.9.9"' "$run/sasa/metrics.jsonl" || { failed=$((failed + 1)); echo "FAIL sasa-resnet trains and reports accuracy: $LAST_OUTPUT"; }
check "train sasa-resnet --resume" 0 "$zoo" train sasa-resnet --output "$run/sasa" --max-steps 1 --resume
check "train resnet" 0 "$zoo" train resnet --data "$run/classes" "${tinyclassifier[@]}" --output "$run/resnet" --max-steps 3
check "eval sasa-resnet beside resnet" 0 "$zoo" eval "$run/sasa" "$run/resnet"
[ "$(grep -c "^[01]\.[0-9]*  [01]\.[0-9]*  " <<<"$LAST_OUTPUT")" -eq 2 ] || { failed=$((failed + 1)); echo "FAIL eval prints top-1 and top-5 per model: $LAST_OUTPUT"; }
check "eval one classifier" 0 "$zoo" eval "$run/sasa" --json
grep -q '"images":10,"top1":' <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL eval --json of a classifier: $LAST_OUTPUT"; }
check "eval a classifier beside a detector" 1 "$zoo" eval "$run/sasa" "$run/out"
check "predict sasa-resnet" 0 "$zoo" predict --checkpoint "$run/sasa" --output "$run/sasapred" "$run/classes/val/ring/000004.png" "$run/classes/val/arrow/000009.png"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["images"]) == 2 and all(len(i["top5"]) == 5 for i in d["images"]), d
assert abs(sum(c["probability"] for c in d["images"][0]["top5"])) <= 1.0 + 1e-6
assert open(sys.argv[2], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
' "$run/sasapred/predictions.json" "$run/sasapred/sheet.png" && [ -f "$run/sasapred/000004.png" ] \
    || { failed=$((failed + 1)); echo "FAIL predict writes top-5 JSON, pictures and a contact sheet: $LAST_OUTPUT"; }
check "sasa-resnet's neighbourhoods at a pixel" 0 "$zoo" attention --checkpoint "$run/sasa" --pixel 5,6 --output "$run/sasa-attention" "$run/classes/val/ring/000004.png"
expect "one panel per stage's last attention layer, written as a PNG" 'grep -q "layer2.0.conv2.0, layer3.0.conv2.0, layer4.0.conv2.0)" <<<"$LAST_OUTPUT" && [ "$(head -c 4 "$run/sasa-attention/000004.png" | od -An -c | tr -d " ")" = "211PNG" ]'
check "a classifier's attention needs --pixel" 1 "$zoo" attention --checkpoint "$run/sasa" --output "$run/sasa-attention" "$run/classes/val/ring/000004.png"
expect "the refusal says to add --pixel" 'grep -q "add --pixel x,y" <<<"$LAST_OUTPUT"'
check "resnet has no local attention to draw" 1 "$zoo" attention --checkpoint "$run/resnet" --pixel 5,6 --output "$run/sasa-attention" "$run/classes/val/ring/000004.png"
expect "the refusal says what is missing" 'grep -q "no local self-attention" <<<"$LAST_OUTPUT"'
check "export sasa-resnet" 0 "$zoo" export "$run/sasa" --output "$run/sasa.safetensors"
check "eval an exported classifier" 0 "$zoo" eval "$run/sasa.safetensors" --json
mkdir -p "$run/imagefolder/train/cats" "$run/imagefolder/train/dogs" "$run/imagefolder/val/cats" "$run/imagefolder/val/dogs"
for n in 1 2 3; do cp "$run/classes/train/circle/000000.png" "$run/imagefolder/train/cats/$n.png"; cp "$run/classes/train/square/000001.png" "$run/imagefolder/train/dogs/$n.png"; done
cp "$run/classes/val/circle/000000.png" "$run/imagefolder/val/cats/a.png"; cp "$run/classes/val/square/000001.png" "$run/imagefolder/val/dogs/b.png"
check "train resnet on an ImageFolder" 0 "$zoo" train resnet --data "$run/imagefolder" "${tinyclassifier[@]}" --set batch_size=2 --output "$run/folder" --max-steps 2
grep -q "6 training images of 2 classes" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL an ImageFolder's classes are its folders: $LAST_OUTPUT"; }
printf 'not a png' > "$run/imagefolder/train/dogs/4.png"
check "train on a broken image" 1 "$zoo" train resnet --data "$run/imagefolder" "${tinyclassifier[@]}" --set batch_size=7 --output "$run/broken" --max-steps 1
grep -q "train/dogs/4.png" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL a broken image is named: $LAST_OUTPUT"; }
mkdir -p "$run/imagefolder/val/birds"
check "validation class unknown to training" 1 "$zoo" train resnet --data "$run/imagefolder" --output "$run/broken2"
grep -q "val/birds: is not one of the training classes (cats, dogs)" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL unknown class folder error: $LAST_OUTPUT"; }
printf 'short' > "$run/data_batch_1.bin"; mkdir -p "$run/cifar"; mv "$run/data_batch_1.bin" "$run/cifar/"
check "a truncated CIFAR-10 batch" 1 "$zoo" train sasa-resnet --data "$run/cifar" --output "$run/broken3"
grep -q "data_batch_1.bin: 5 bytes is not a whole number of 3073-byte CIFAR-10 records" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL CIFAR-10 size error: $LAST_OUTPUT"; }
check "sasa-resnet with heads that do not split the planes" 1 "$zoo" train sasa-resnet --data "$run/classes" --set heads=3 --output "$run/y"
grep -q "must split into 3 heads" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL heads error: $LAST_OUTPUT"; }
check "models --summary" 0 "$zoo" models --summary --size 64
grep -q "ResNet-50  sasa-resnet, attn stem .*G   (0\.[0-9]* / 0\.[0-9]*)" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL models --summary prints SASA / conv ratios: $LAST_OUTPUT"; }
rm -rf "$shapes" "$run"
check "make-shapes rejects a bad size" 64 "$zoo" make-shapes --output /tmp/never --size 8
check "parity on a non-fixture" 1 "$zoo" parity "$fixtures/valid.safetensors"
check "parity on a missing file" 1 "$zoo" parity /nonexistent.safetensors
check "unknown subcommand" 64 "$zoo" no-such-command
check "bench model with settings" 0 "$zoo" bench model detr --batch 1 --size 64 --set model.num_queries=3 --set model.enc_layers=1 --json
STEP="$LAST_OUTPUT" python3 -c '
import json, os
r = json.loads(os.environ["STEP"].strip().splitlines()[-1])
assert set(r) == {"train_step_s", "inference_s", "peak_rss_mib"} and all(v > 0 for v in r.values()), r
' || { failed=$((failed + 1)); echo "FAIL bench model --json prints the three figures: $LAST_OUTPUT"; }
check "bench model of a classifier" 0 "$zoo" bench model sasa-resnet --batch 2 --size 32
{ grep -q "sasa-resnet shapes preset .*batch 2 of 32²: training step" <<<"$LAST_OUTPUT" && grep -q "clipping and AdamW" <<<"$LAST_OUTPUT"; } || { failed=$((failed + 1)); echo "FAIL bench model times a classifier's step: $LAST_OUTPUT"; }
check "bench model of a classifier, paper trainer" 0 "$zoo" bench model resnet --paper --batch 1 --size 32 --set model.planes=[8,8,8,8]
grep -q "clipping and SGD" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL bench model uses the paper trainer's SGD: $LAST_OUTPUT"; }
check "bench model keeping subnormals" 0 "$zoo" bench model detr --batch 1 --size 64 --set model.num_queries=3 --set model.enc_layers=1 --keep-subnormals
grep -q "training step" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL bench model --keep-subnormals times the step: $LAST_OUTPUT"; }
check "bench model profile" 0 "$zoo" bench model detr --batch 1 --size 64 --set model.num_queries=3 --set model.enc_layers=1 --profile --top 500
# The shapes preset's layer 4: four 3×3 convolutions and the downsampling one give [1, 256, 2, 2].
{ grep -q "^profile of 5 training steps" <<<"$LAST_OUTPUT" && grep -Eq "^backward conv2d +\[1, 256, 2, 2\] +5\.0 " <<<"$LAST_OUTPUT" \
    && grep -q "^total " <<<"$LAST_OUTPUT"; } || { failed=$((failed + 1)); echo "FAIL bench model --profile tabulates the step's operations: $LAST_OUTPUT"; }
check "bench model profile rows" 64 "$zoo" bench model detr --profile --top 0
grep -q "top must be at least 1" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL bench --top 0 is refused by name: $LAST_OUTPUT"; }
check "bench model unknown setting" 1 "$zoo" bench model detr --set model.no_such_key=1
grep -q "no_such_key" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL bench model names the unknown setting: $LAST_OUTPUT"; }
check "bench unknown section" 64 "$zoo" bench layers --only nonsense
grep -q "unknown section nonsense" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL bench --only names the unknown section: $LAST_OUTPUT"; }
check "bench zero repeats" 64 "$zoo" bench layers --repeats 0 --only tape
grep -q "repeats must be at least 1" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL bench --repeats 0 is refused by name: $LAST_OUTPUT"; }
check "bench malformed conv input" 64 "$zoo" bench layers --only conv2d --conv-input 8x64x56
grep -q "conv-input must be NxCxHxW" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL bench --conv-input 8x64x56 is refused by name: $LAST_OUTPUT"; }
check "bench even conv kernel" 64 "$zoo" bench layers --only conv2d --conv-kernel 2
grep -q "conv-kernel must be odd" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL bench --conv-kernel 2 is refused by name: $LAST_OUTPUT"; }
check "bench conv2d at another shape" 0 "$zoo" bench layers --only conv2d --conv-input 1x8x30x30 --conv-kernel 1 --repeats 1
grep -q "conv2d 1×1, 8→8 channels, input 1×8×30×30" <<<"$LAST_OUTPUT" || { failed=$((failed + 1)); echo "FAIL bench --conv-input/--conv-kernel time that convolution: $LAST_OUTPUT"; }
echo "zoo-cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
