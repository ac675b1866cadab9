import Tapestry
import TapestryNN
import Detection

/// Runners for the layer fixtures (shared/fixtures/layers/README.md), keyed by `model`.
public enum LayerFixtures {
    public static let runners: [String: FixtureRunner] = [
        "conv2d": conv2d,
        "max_pool2d": maxPool2d,
        "layer_norm": layerNorm,
        "group_norm": groupNorm,
        "frozen_batch_norm": frozenBatchNorm,
        "grid_sample": gridSample,
        "interpolate_nearest": interpolateNearest,
        "multihead_attention": multiheadAttention,
        "box_losses": boxLosses,
        "sigmoid_focal_loss": sigmoidFocalLoss,
        "weighted_cross_entropy": weightedCrossEntropy,
        "sasa_attention": sasaAttention,
        "sasa_stem": sasaStem,
    ]

    /// A module with recipe weights in `dtype`, and the fixture's `input.input` as a leaf.
    static func prepare(_ module: Module, _ f: Fixture, _ dtype: DType) throws -> Tensor {
        module.convert(to: dtype)
        WeightRecipe.apply(to: module, seed: f.seed, dtype: dtype)
        return try f.input("input", dtype: dtype).requiringGrad()
    }

    static func conv2d(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let k = try f.int("kernel_size"), s = try f.int("stride"), p = try f.int("padding"), d = try f.int("dilation")
        let conv = Conv2d(try f.int("in_channels"), try f.int("out_channels"), kernelSize: k, stride: s, padding: p,
                          dilation: d, groups: try f.int("groups"), bias: try f.bool("bias"))
        let x = try prepare(conv, f, dtype)
        return FixtureRun(outputs: ["output": conv(x)], inputs: ["input": x], module: conv)
    }

    static func maxPool2d(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let x = try f.input("input", dtype: dtype).requiringGrad()
        let k = try f.int("kernel_size"), s = try f.int("stride"), p = try f.int("padding")
        return FixtureRun(outputs: ["output": x.maxPool2d(kernel: (k, k), stride: (s, s), padding: (p, p))], inputs: ["input": x])
    }

    static func layerNorm(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let norm = LayerNorm(try f.ints("normalized_shape"), eps: try f.double("eps"))
        let x = try prepare(norm, f, dtype)
        return FixtureRun(outputs: ["output": norm(x)], inputs: ["input": x], module: norm)
    }

    static func groupNorm(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let norm = GroupNorm(groups: try f.int("num_groups"), channels: try f.int("num_channels"), eps: try f.double("eps"))
        let x = try prepare(norm, f, dtype)
        return FixtureRun(outputs: ["output": norm(x)], inputs: ["input": x], module: norm)
    }

    static func frozenBatchNorm(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let norm = FrozenBatchNorm2d(try f.int("num_features"))
        let x = try prepare(norm, f, dtype)
        return FixtureRun(outputs: ["output": norm(x)], inputs: ["input": x], module: norm)
    }

    static func gridSample(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let x = try f.input("input", dtype: dtype).requiringGrad(), grid = try f.input("grid", dtype: dtype).requiringGrad()
        return FixtureRun(outputs: ["output": x.gridSample(grid)], inputs: ["input": x, "grid": grid])
    }

    static func interpolateNearest(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let x = try f.input("x", dtype: dtype).requiringGrad()
        let down = try f.ints("x_down"), up = try f.ints("x_up"), maskSize = try f.ints("mask_out")
        let mask = try f.input("mask", dtype: dtype).cast(to: dtype).unsqueezed(axis: 0)
            .interpolateNearest(size: (maskSize[0], maskSize[1])).squeezed(axis: 0)
        return FixtureRun(outputs: ["x_down": x.interpolateNearest(size: (down[0], down[1])),
                                    "x_up": x.interpolateNearest(size: (up[0], up[1])),
                                    "mask": (mask .> 0).cast(to: .uint8)],
                          inputs: ["x": x])
    }

    static func multiheadAttention(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let attention = MultiheadAttention(embedDim: try f.int("embed_dim"), heads: try f.int("num_heads"), batchFirst: try f.bool("batch_first"))
        attention.convert(to: dtype)
        WeightRecipe.apply(to: attention, seed: f.seed, dtype: dtype)
        let names = ["query", "key", "value", "attn_mask"]
        let inputs = Dictionary(uniqueKeysWithValues: try names.map { ($0, try f.input($0, dtype: dtype).requiringGrad()) })
        let (output, weights) = attention(query: inputs["query"]!, key: inputs["key"]!, value: inputs["value"]!,
                                          keyPaddingMask: try f.input("key_padding_mask", dtype: dtype), attentionMask: inputs["attn_mask"]!,
                                          averageWeights: try f.bool("average_attn_weights"))
        return FixtureRun(outputs: ["attn_output": output, "attn_weights": weights!], inputs: inputs, module: attention)
    }

    static func boxLosses(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let pred = try f.input("pred_boxes", dtype: dtype).requiringGrad(), target = try f.input("target_boxes", dtype: dtype).requiringGrad()
        let numBoxes = try f.double("num_boxes")
        let giou = try Boxes.generalizedIoU(Boxes.cxcywhToXyxy(pred), Boxes.cxcywhToXyxy(target))
        let n = pred.shape[0]
        let diagonal = giou.gather(axis: 1, index: Tensor((0..<n).map { Int64($0) }, shape: [n, 1])).reshaped([n])
        return FixtureRun(outputs: ["giou": giou,
                                    "loss_bbox": (Losses.l1(pred, target, reduction: .sum) / numBoxes).reshaped([1]),
                                    "loss_giou": ((1 - diagonal).sum() / numBoxes).reshaped([1])],
                          inputs: ["pred_boxes": pred, "target_boxes": target])
    }

    static func sigmoidFocalLoss(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let logits = try f.input("logits", dtype: dtype).requiringGrad(), targets = try f.input("targets", dtype: dtype)
        let numBoxes = try f.double("num_boxes")
        let elementwise = Losses.sigmoidFocalLoss(logits: logits, targets: targets, alpha: try f.double("alpha"), gamma: try f.double("gamma"))
        let loss = elementwise.mean(axis: 1).sum() / numBoxes
        return FixtureRun(outputs: ["elementwise": elementwise, "loss": loss.reshaped([1]),
                                    "loss_ce_deformable": (loss * Double(logits.shape[1])).reshaped([1])],
                          inputs: ["logits": logits])
    }

    static func weightedCrossEntropy(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let logits = try f.input("logits", dtype: dtype).requiringGrad()
        let targets = try f.input("target_classes", dtype: dtype), weight = try f.input("empty_weight", dtype: dtype)
        return FixtureRun(outputs: ["loss_ce": Losses.crossEntropy(logits: logits, targets: targets, weight: weight).reshaped([1]),
                                    "weighted_nll": Losses.crossEntropy(logits: logits, targets: targets, weight: weight, reduction: .none)],
                          inputs: ["logits": logits])
    }

    static func sasaAttention(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let layer = LocalSelfAttention(inChannels: try f.int("in_channels"), outChannels: try f.int("out_channels"),
                                       kernelSize: try f.int("kernel_size"), heads: try f.int("heads"))
        let x = try prepare(layer, f, dtype)
        return FixtureRun(outputs: ["output": layer(x)], inputs: ["input": x], module: layer)
    }

    static func sasaStem(_ f: Fixture, _ dtype: DType) throws -> FixtureRun {
        let stem = AttentionStem(inChannels: try f.ints("input_shape")[1], outChannels: try f.int("out_channels"),
                                 kernelSize: try f.int("kernel_size"), padding: try f.int("padding"),
                                 heads: try f.int("heads"), mixtures: try f.int("m"))
        let x = try prepare(stem, f, dtype)
        return FixtureRun(outputs: ["output": stem(x)], inputs: ["input": x], module: stem)
    }
}
