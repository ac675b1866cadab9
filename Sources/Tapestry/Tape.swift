import Synchronization

/// The reverse-mode tape.
///
/// Every differentiable operation applied to inputs that require gradients records a
/// `GradNode`: the inputs' tape entries, a vector-Jacobian rule and a sequence number.
/// `backward()` visits nodes in decreasing sequence order (a valid reverse topological
/// order, since a node is always created after its inputs), sums incoming gradients per
/// tensor, and accumulates into the `.grad` of leaves. A rule's closure is dropped as soon
/// as it has run, which frees the intermediate values it captured.

/// Tape entry of a tensor that requires a gradient. Copies of a tensor share it.
final class AutogradInfo: @unchecked Sendable {
    /// Accumulated gradient (leaves only).
    var grad: Tensor?
    /// The operation that produced the tensor; nil for a leaf.
    var node: GradNode?
    init(node: GradNode?) { self.node = node }
}

/// One recorded operation.
final class GradNode: @unchecked Sendable {
    let name: StaticString
    let sequence: Int
    /// Tape entries of the inputs (nil where an input needs no gradient).
    var inputs: [AutogradInfo?]
    /// Maps the gradient of the output to gradients of the inputs (nil = no gradient).
    var rule: ((Tensor) -> [Tensor?])?

    init(name: StaticString, inputs: [AutogradInfo?], rule: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.rule = rule
        sequence = nextSequence.add(1, ordering: .relaxed).newValue
    }

    /// Releases the graph behind this node without recursion, so dropping a graph of a
    /// million chained operations does not overflow the stack: every tape entry this node
    /// holds the last reference to has its own node's inputs taken over before it goes.
    deinit {
        var pending = inputs
        inputs = []
        rule = nil
        while !pending.isEmpty {
            guard var info = pending.removeLast() else { continue }
            guard isKnownUniquelyReferenced(&info), var node = info.node else { continue }
            info.node = nil
            if isKnownUniquelyReferenced(&node) {
                pending.append(contentsOf: node.inputs)
                node.inputs = []
                node.rule = nil
            }
        }
    }
}

private let nextSequence = Atomic<Int>(0)

extension Tensor {
    /// True when this tensor takes part in differentiation.
    public var requiresGrad: Bool {
        get { autograd != nil }
        set {
            if newValue {
                check(dtype.isFloatingPoint, "requiresGrad: only floating-point tensors have gradients (this is \(dtype))")
                if autograd == nil { autograd = AutogradInfo(node: nil) }
            } else {
                autograd = nil
            }
        }
    }

    /// This tensor as a new leaf that requires a gradient.
    public func requiringGrad() -> Tensor {
        var leaf = detached()
        leaf.requiresGrad = true
        return leaf
    }

    /// True for tensors created by the user rather than by a recorded operation.
    public var isLeaf: Bool { autograd?.node == nil }

    /// The gradient accumulated by `backward()`, for leaves. Setting it replaces the
    /// accumulated gradient (gradient clipping does).
    public var grad: Tensor? {
        get { autograd?.grad }
        nonmutating set {
            check(autograd != nil || newValue == nil, "grad: this tensor does not require a gradient")
            if let newValue { check(newValue.shape == shape, "grad: gradient shape \(newValue.shape) differs from the tensor's \(shape)") }
            autograd?.grad = newValue
        }
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { autograd?.grad = nil }

    /// The same values, cut off from the tape.
    public func detached() -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset, dtype: dtype)
    }

    /// Records `self`, the output of an operation on `inputs`, on the tape with `rule`
    /// when recording is on and an input requires a gradient; otherwise returns `self`.
    func recorded(_ name: StaticString, _ inputs: [Tensor], rule: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: { $0.autograd != nil }) else { return self }
        OpRecorder.active?.recordedForward(name, shape: shape)
        var out = self
        out.autograd = AutogradInfo(node: GradNode(name: name, inputs: inputs.map(\.autograd), rule: rule))
        return out
    }

    /// For use inside a derivative rule that needs the operation's output: `value` (the
    /// output off the tape) when computing first derivatives; when the backward pass is
    /// itself being recorded (`createGraph`), the output recomputed on the tape, so that
    /// higher derivatives see how it depends on the inputs.
    static func output(_ value: Tensor, orRecompute recompute: () -> Tensor) -> Tensor {
        GradMode.isEnabled ? recompute() : value
    }

    /// For the derivative rule of a fused operation when the backward pass is itself being
    /// recorded (`createGraph`): the gradients, on the tape, of `composite()` — the same
    /// function written with differentiable operations — with respect to `inputs` for the
    /// cotangent `gradient`, so higher derivatives are the composite's. Nil for inputs that
    /// need no gradient.
    static func gradientsThroughComposite(_ inputs: [Tensor], _ gradient: Tensor, _ composite: () -> Tensor) -> [Tensor?] {
        let tracked = inputs.indices.filter { inputs[$0].autograd != nil }
        let found = gradients(of: [composite()], wrt: tracked.map { inputs[$0] }, cotangents: [gradient], createGraph: true)
        var result = [Tensor?](repeating: nil, count: inputs.count)
        for (k, i) in tracked.enumerated() { result[i] = found[k] }
        return result
    }

    /// Backpropagates from this tensor, accumulating into the `.grad` of every leaf that
    /// requires a gradient.
    ///
    /// - Parameters:
    ///   - gradient: the gradient of the final result with respect to this tensor, of its
    ///     shape; nil means 1, for a one-element tensor.
    ///   - retainGraph: keep the rules so `backward` can run through this graph again.
    ///   - createGraph: record the backward computation itself, for higher derivatives
    ///     (implies `retainGraph`, as in PyTorch).
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false, createGraph: Bool = false) {
        check(autograd != nil, "backward(): this tensor does not require a gradient (no input had requiresGrad, or it was computed in noGrad)")
        let seed = gradient ?? Tensor.ones(like: self)
        check(gradient != nil || count == 1, "backward(): the output has shape \(shape); pass a gradient for a non-scalar output")
        check(seed.shape == shape, "backward(): gradient shape \(seed.shape) differs from the output shape \(shape)")
        _ = Tape.run(roots: [(autograd!, seed)], capture: [], retainGraph: retainGraph, createGraph: createGraph, accumulateLeaves: true)
    }
}

/// Gradients of `sum_i <outputs[i], cotangents[i]>` with respect to each of `inputs`,
/// without touching any `.grad`. `cotangents` default to ones (outputs must then be
/// one-element). An input the outputs do not depend on gets zeros.
public func gradients(of outputs: [Tensor], wrt inputs: [Tensor], cotangents: [Tensor]? = nil,
                      retainGraph: Bool = false, createGraph: Bool = false) -> [Tensor] {
    var roots: [(AutogradInfo, Tensor)] = []
    for (i, output) in outputs.enumerated() {
        guard let info = output.autograd else { continue }
        let seed = cotangents?[i] ?? Tensor.ones(like: output)
        check(seed.shape == output.shape, "gradients(of:wrt:): cotangent \(i) has shape \(seed.shape), output has \(output.shape)")
        roots.append((info, seed))
    }
    for (i, input) in inputs.enumerated() {
        check(input.autograd != nil, "gradients(of:wrt:): input \(i) does not require a gradient")
    }
    let found = Tape.run(roots: roots, capture: inputs.map { $0.autograd! }, retainGraph: retainGraph,
                         createGraph: createGraph, accumulateLeaves: false)
    return inputs.enumerated().map { i, input in found[i] ?? Tensor.zeros(like: input) }
}

/// Convenience for one output and one input.
public func gradient(of output: Tensor, wrt input: Tensor, createGraph: Bool = false) -> Tensor {
    gradients(of: [output], wrt: [input], createGraph: createGraph)[0]
}

/// `gradient()` when `input` takes part in differentiation, else nil: a derivative rule
/// skips the work for inputs that need no gradient (a frozen scale, a constant mask).
@inline(__always)
func ifTracked(_ input: Tensor, _ gradient: () -> Tensor) -> Tensor? {
    input.autograd == nil ? nil : gradient()
}

enum Tape {
    /// Runs the reverse pass. Returns the gradients reaching each entry of `capture`.
    static func run(roots: [(AutogradInfo, Tensor)], capture: [AutogradInfo], retainGraph: Bool,
                    createGraph: Bool, accumulateLeaves: Bool) -> [Tensor?] {
        let retainGraph = retainGraph || createGraph
        // Every tape entry reachable from the roots, keyed by identity.
        var entries: [ObjectIdentifier: AutogradInfo] = [:]
        var stack = roots.map(\.0)
        while let info = stack.popLast() {
            guard entries.updateValue(info, forKey: ObjectIdentifier(info)) == nil else { continue }
            if let node = info.node {
                for case let input? in node.inputs { stack.append(input) }
            }
        }
        let order = entries.values.compactMap { info in info.node.map { (info, $0) } }
            .sorted { $0.1.sequence > $1.1.sequence }

        var pending: [ObjectIdentifier: Tensor] = [:]
        let recorder = OpRecorder.active
        func accumulate(_ info: AutogradInfo, _ g: Tensor) {
            let key = ObjectIdentifier(info)
            guard let earlier = pending[key] else { pending[key] = g; return }
            pending[key] = recorder.map { $0.backward("+ grads", shape: g.shape) { earlier + g } } ?? earlier + g
        }
        let captureIndex = Dictionary(capture.enumerated().map { (ObjectIdentifier($0.element), $0.offset) },
                                      uniquingKeysWith: { a, _ in a })
        var captured = [Tensor?](repeating: nil, count: capture.count)

        let pass = {
            for (info, g) in roots { accumulate(info, createGraph ? g : g.detached()) }
            for (info, node) in order {
                guard let g = pending.removeValue(forKey: ObjectIdentifier(info)) else { continue }
                if let slot = captureIndex[ObjectIdentifier(info)] { captured[slot] = g }
                guard let rule = node.rule else {
                    fatalError("backward(): the graph through '\(node.name)' was already freed by an earlier backward; pass retainGraph: true to the first call")
                }
                let grads = recorder.map { $0.backward("\(node.name)", shape: g.shape) { rule(g) } } ?? rule(g)
                if !retainGraph { node.rule = nil }
                check(grads.count == node.inputs.count, "backward of '\(node.name)' returned \(grads.count) gradients for \(node.inputs.count) inputs")
                for (input, grad) in zip(node.inputs, grads) {
                    if let input, let grad { accumulate(input, grad) }
                }
            }
            // What is left in `pending` belongs to leaves.
            for (key, g) in pending {
                let info = entries[key]!
                if let slot = captureIndex[key] { captured[slot] = g }
                if accumulateLeaves { info.grad = info.grad.map { $0 + g } ?? g }
            }
        }
        if createGraph { enableGrad(pass) } else { noGrad(pass) }
        return captured
    }
}
