"""Records a zoo fixture (FORMAT.md's zoo-fixture-1) from the original DETR code: one forward
pass, the Hungarian matching, every loss term and the gradients, in float64 on the CPU, with
every weight from the fixture weight recipe, so `zoo parity` can check Tapestry against it.

    ~/torch-anchor/bin/python record_fixture.py [--detr ~/torch-src/detr] [--output detr-r18-aux.safetensors]

Needs torch, torchvision and scipy, and the DETR repository's source tree (../shared/bench's
README says how to set up both). Writes the fixture and, beside it, `<name>.params.txt`: every
state-dict entry with its shape and whether it trains, the names Tapestry must match.
"""
import argparse, json, math, os, struct, sys

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

# The configuration, in the original's argument names: a ResNet-18 backbone (torchvision's,
# with DETR's FrozenBatchNorm2d), a small transformer, and the auxiliary losses of every
# decoder layer. zoo parity applies each argument that names a Tapestry setting.
ARGUMENTS = ["--backbone", "resnet18", "--hidden_dim", "32", "--nheads", "4", "--enc_layers", "1",
             "--dec_layers", "2", "--dim_feedforward", "64", "--num_queries", "8", "--dropout", "0",
             "--dataset_file", "custom", "--lr_backbone", "1e-5"]
IMAGE_SIZES = [(96, 112), (112, 72)]   # (height, width) of the two images, padded into one batch
OBJECTS = [2, 1]                       # objects in each image
RECIPE_SEED = 0
MATCH_MARGIN = 0.003                   # every matching must win by this much (see choose_targets)


def fnv1a64(text):
    h = 0xcbf29ce484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def recipe(name, shape, seed=RECIPE_SEED):
    """FORMAT.md's weight recipe: a splitmix64 stream keyed by the state-dict name."""
    key, count = fnv1a64(name) ^ seed, math.prod(shape)
    with np.errstate(over="ignore"):               # uint64 arithmetic wraps modulo 2^64, as the recipe's &* does
        z = np.uint64(key) + np.arange(1, count + 1, dtype=np.uint64) * np.uint64(0x9e3779b97f4a7c15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xbf58476d1ce4e5b9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94d049bb133111eb)
        z ^= z >> np.uint64(31)
    values = 2 * ((z >> np.uint64(40)).astype(np.float64) / 2 ** 24) - 1
    if len(shape) >= 2:
        values *= math.sqrt(3 / (count / shape[0]))
    elif name.endswith("running_var"):
        values = 0.75 + 0.25 * values
    elif name.endswith("weight"):
        values = 1 + 0.1 * values
    else:
        values = 0.1 * values
    return torch.from_numpy(values.astype(np.float32).astype(np.float64)).reshape(shape)


def check_recipe():
    """FORMAT.md's test vectors: a recipe that disagrees with them would record a fixture no
    implementation of the format can reproduce."""
    assert fnv1a64("a") == 0xaf63dc4c8601ec8c and fnv1a64("probe.weight") == 0xaf136b5a21a08381
    expected = {("probe.weight", (2, 3), 0): [0.5933300256729126, 0.6326833963394165, -0.29644250869750977,
                                              -0.5531861782073975, -0.9632500410079956, -0.10381412506103516],
                ("bn.running_var", (3,), 0): [0.9308295249938965, 0.6820007562637329, 0.5691431760787964],
                ("conv.weight", (2, 1, 2, 2), 7): [-0.6559960246086121, 0.8262798190116882, 0.41216981410980225, 0.5152251720428467,
                                                   0.7407979965209961, -0.10533669590950012, 0.7648769617080688, 0.45934227108955383]}
    for (name, shape, seed), values in expected.items():
        assert recipe(name, shape, seed).flatten().tolist() == values, f"the recipe disagrees with FORMAT.md for {name}"


def sine_encoding_in_float64(self, tensor_list):
    """PositionEmbeddingSine.forward with its float32 arithmetic in float64: the original
    computes the encoding in float32, which moves the outputs by about 1e-8, too much for a
    Float64 comparison at 1e-9."""
    mask = tensor_list.mask
    not_mask = ~mask
    y_embed = not_mask.cumsum(1, dtype=torch.float64)
    x_embed = not_mask.cumsum(2, dtype=torch.float64)
    if self.normalize:
        y_embed = y_embed / (y_embed[:, -1:, :] + 1e-6) * self.scale
        x_embed = x_embed / (x_embed[:, :, -1:] + 1e-6) * self.scale
    dim_t = torch.arange(self.num_pos_feats, dtype=torch.float64)
    dim_t = self.temperature ** (2 * (dim_t // 2) / self.num_pos_feats)
    pos_x, pos_y = x_embed[:, :, :, None] / dim_t, y_embed[:, :, :, None] / dim_t
    pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
    return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)


def match_margins(outputs, targets, args, box_ops):
    """How much each image's Hungarian assignment beats the second-best one, for the final and
    every auxiliary layer, with the original matcher's cost (class, L1 and GIoU terms)."""
    margins = []
    for layer in [outputs] + outputs.get("aux_outputs", []):
        for b, target in enumerate(targets):
            prob = layer["pred_logits"][b].softmax(-1)
            boxes = layer["pred_boxes"][b]
            cost = (args.set_cost_bbox * torch.cdist(boxes, target["boxes"], p=1)
                    - args.set_cost_class * prob[:, target["labels"]]
                    - args.set_cost_giou * box_ops.generalized_box_iou(box_ops.box_cxcywh_to_xyxy(boxes),
                                                                       box_ops.box_cxcywh_to_xyxy(target["boxes"]))).detach().numpy()
            rows, cols = linear_sum_assignment(cost)
            best = cost[rows, cols].sum()
            second = math.inf
            for r, c in zip(rows, cols):     # the best assignment that avoids one of its pairs
                blocked = cost.copy()
                blocked[r, c] = 1e9
                rr, cc = linear_sum_assignment(blocked)
                second = min(second, blocked[rr, cc].sum())
            margins.append(second - best)
    return margins


def choose_targets(model, samples, args, box_ops):
    """Random targets, redrawn until every matching wins by MATCH_MARGIN: the queries of an
    untrained DETR differ little, and a near-tie could flip in Float32 rounding."""
    for seed in range(1000):
        generator = torch.Generator().manual_seed(seed)
        targets = []
        for n in OBJECTS:
            centres = 0.25 + 0.5 * torch.rand(n, 2, generator=generator)
            sizes = 0.1 + 0.3 * torch.rand(n, 2, generator=generator)
            boxes = torch.cat([centres, sizes], dim=1).float().double()
            targets.append({"labels": torch.randint(0, 20, (n,), generator=generator), "boxes": boxes})
        with torch.no_grad():
            if min(match_margins(model(samples), targets, args, box_ops)) >= MATCH_MARGIN:
                return targets
    sys.exit("no target seed below 1000 gives every matching a margin of %g" % MATCH_MARGIN)


def write_safetensors(path, tensors, metadata):
    """The safetensors format by hand: an 8-byte header length, a JSON header, the raw bytes.
    Written to a temporary file and renamed, so a failed run leaves no half-written fixture."""
    names = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.uint8: "U8"}
    header, chunks, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        data = tensors[name].contiguous().numpy().tobytes()
        header[name] = {"dtype": names[tensors[name].dtype], "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))
    os.replace(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detr", default=os.path.expanduser("~/torch-src/detr"), help="the DETR repository's source tree")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "detr-r18-aux.safetensors"))
    options = parser.parse_args()
    check_recipe()
    sys.path.insert(0, options.detr)
    import models.backbone
    import models.position_encoding
    from main import get_args_parser
    from models.detr import build
    from util import box_ops
    from util.misc import nested_tensor_from_tensor_list

    models.backbone.is_main_process = lambda: False          # no pretrained download: the recipe sets every weight
    models.position_encoding.PositionEmbeddingSine.forward = sine_encoding_in_float64
    args = get_args_parser().parse_args(ARGUMENTS)
    args.device = "cpu"
    model, criterion, _ = build(args)
    state = model.state_dict()
    model.load_state_dict({name: recipe(name, tuple(value.shape)).to(value.dtype) if value.is_floating_point() else value
                           for name, value in state.items()})
    model.double().train()
    criterion.double().train()
    criterion.empty_weight = torch.ones(criterion.num_classes + 1, dtype=torch.float64)
    criterion.empty_weight[-1] = criterion.eos_coef

    generator = torch.Generator().manual_seed(0)
    images = [torch.randn(3, h, w, generator=generator).float().double() for h, w in IMAGE_SIZES]
    samples = nested_tensor_from_tensor_list(images)
    targets = choose_targets(model, samples, args, box_ops)

    outputs = model(samples)
    losses = criterion(outputs, targets)
    total = sum(losses[k] * criterion.weight_dict[k] for k in losses if k in criterion.weight_dict)
    total.backward()
    with torch.no_grad():
        matches = criterion.matcher({k: v for k, v in outputs.items() if k != "aux_outputs"}, targets)

    record = {"input.images": samples.tensors.float(), "input.mask": samples.mask.to(torch.uint8),
              "loss.total": total.detach().reshape(1)}
    for b, (target, (pred, matched)) in enumerate(zip(targets, matches)):
        record[f"target.{b}.labels"] = target["labels"]
        record[f"target.{b}.boxes"] = target["boxes"].float()
        record[f"match.{b}.pred"], record[f"match.{b}.target"] = pred, matched
    for key in ("pred_logits", "pred_boxes"):
        record[f"output.{key}"] = outputs[key].detach()
        for i, aux in enumerate(outputs["aux_outputs"]):
            record[f"output.aux.{i}.{key}"] = aux[key].detach()
    for name, value in losses.items():
        record[f"loss.{name}"] = value.detach().double().reshape(1)
    sampler = torch.Generator().manual_seed(1)
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        g = parameter.grad.detach()
        if g.numel() <= 16384:
            record[f"grad.{name}"] = g
        else:
            flat = g.flatten()
            record[f"gradstat.{name}"] = torch.stack([flat.norm(), flat.sum(), flat.abs().max()])
            index = torch.randperm(flat.numel(), generator=sampler)[:16]
            record[f"gradsample.{name}.index"], record[f"gradsample.{name}.value"] = index, flat[index]
    for name, value in state.items():
        if value.is_floating_point():
            values = recipe(name, tuple(value.shape))
            record[f"param.checksum.{name}"] = torch.stack([values.sum(), (values * values).sum()])

    config = {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool)) and v is not None}
    config.update(num_classes=criterion.num_classes, image_sizes=[list(s) for s in IMAGE_SIZES],
                  weight_dict=criterion.weight_dict)
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    metadata = {"format": "zoo-fixture-1", "model": "detr", "seed": str(RECIPE_SEED),
                "reference": "facebookresearch/detr (" + options.detr + ")", "config": json.dumps(config, sort_keys=True),
                "notes": "float64 CPU run of record_fixture.py: train mode, dropout 0, one backward of loss.total from zero "
                         "gradients; PositionEmbeddingSine evaluated in float64; frozen: " + ", ".join(frozen)}
    write_safetensors(options.output, record, metadata)
    with open(options.output.replace(".safetensors", ".params.txt"), "w") as f:
        for name, value in state.items():
            trains = dict(model.named_parameters()).get(name)
            kind = "trainable" if trains is not None and trains.requires_grad else ("frozen" if trains is not None else "buffer")
            f.write(f"{name} {list(value.shape)} {str(value.dtype).replace('torch.', '')} {kind}\n")
    print(f"wrote {options.output}: {len(record)} tensors, loss.total {total.item():.6f}, "
          f"smallest matching margin {min(match_margins(outputs, targets, args, box_ops)):.4f}")


if __name__ == "__main__":
    main()
