import Foundation
import Testing
@testable import Tapestry
@testable import TapestryNN

/// A one-parameter model whose loss 2·p has gradient 2 at every step.
func constantGradientSteps(_ optimizer: Optimizer, _ p: Parameter, steps: Int) -> [Double] {
    (0..<steps).map { _ in
        (p.value * 2).sum().backward()
        optimizer.step()
        return p.value.item()
    }
}

@Suite struct Optimizers {
    @Test func sgdWithNesterovMomentumAndWeightDecayByHand() {
        let p = Parameter(Tensor([1.0], shape: [1]))
        let sgd = SGD([ParameterGroup([("p", p)], learningRate: 0.1, weightDecay: 0.1)], momentum: 0.9, nesterov: true)
        // Step 1: g = 2 + 0.1·1 = 2.1, b = 2.1, g' = 2.1 + 0.9·2.1 = 3.99, p = 1 − 0.399 = 0.601.
        // Step 2: g = 2 + 0.0601 = 2.0601, b = 0.9·2.1 + 2.0601 = 3.9501,
        //         g' = 2.0601 + 0.9·3.9501 = 5.61519, p = 0.601 − 0.561519 = 0.039481.
        let values = constantGradientSteps(sgd, p, steps: 2)
        #expect(maxAbsDifference(values, [0.601, 0.039481]) < 1e-12)
        let plain = Parameter(Tensor([1.0], shape: [1]))
        #expect(maxAbsDifference(constantGradientSteps(SGD([ParameterGroup([("p", plain)], learningRate: 0.5)]), plain, steps: 2), [0, -1]) < 1e-15)
    }

    @Test func adamAndAdamWByHand() {
        // Constant gradient 2, lr 0.1: m̂ = 2 and v̂ = 4 at every step, so each step moves
        // by lr·2/(2 + 1e-8) = 0.1 − 5e-10.
        let p = Parameter(Tensor([1.0], shape: [1]))
        let adam = Adam([ParameterGroup([("p", p)], learningRate: 0.1)])
        #expect(maxAbsDifference(constantGradientSteps(adam, p, steps: 2), [0.9000000005, 0.800000001]) < 1e-12)
        // AdamW with λ = 0.5 first shrinks p by (1 − 0.1·0.5): 1 → 0.95 → 0.85 − 5e-10·…
        let q = Parameter(Tensor([1.0], shape: [1]))
        let adamW = AdamW([ParameterGroup([("q", q)], learningRate: 0.1, weightDecay: 0.5)])
        let first = 0.95 - (0.1 - 5e-10), second = first * 0.95 - (0.1 - 5e-10)
        #expect(maxAbsDifference(constantGradientSteps(adamW, q, steps: 2), [first, second]) < 1e-12)
        // Adam with λ adds λ·p to the gradient instead: g = 2 + 0.5 = 2.5 at step 1 still gives m̂/√v̂ = 1.
        let r = Parameter(Tensor([1.0], shape: [1]))
        let coupled = Adam([ParameterGroup([("r", r)], learningRate: 0.1, weightDecay: 0.5)])
        #expect(Swift.abs(constantGradientSteps(coupled, r, steps: 1)[0] - (1 - 0.1 * 2.5 / (2.5 + 1e-8))) < 1e-12)
    }

    /// The fused update against Adam's formula written with tensor operations (the same
    /// operations in the same order, so equal bit for bit), over three steps with changing
    /// gradients, on a parameter large enough to be split between threads, both dtypes,
    /// AdamW's decoupled and Adam's coupled weight decay.
    @Test(arguments: [DType.float32, .float64]) func fusedAdamUpdateEqualsTheFormula(_ dtype: DType) {
        var rng = RandomGenerator(seed: 11)
        let count = 70_001
        for decoupled in [true, false] {
            let start = Tensor.normal([count], dtype: dtype, generator: &rng)
            let p = Parameter(start)
            let optimizer = Adam([ParameterGroup([("p", p)], learningRate: 0.01, weightDecay: 0.1)], decoupledWeightDecay: decoupled)
            var (expected, m, v) = (start, Tensor.zeros([count], dtype: dtype), Tensor.zeros([count], dtype: dtype))
            for t in 1...3 {
                let g = Tensor.normal([count], dtype: dtype, generator: &rng) * Double(t)
                p.value.grad = g
                optimizer.step()
                let (c1, c2) = (1 - Foundation.pow(0.9, Double(t)), 1 - Foundation.pow(0.999, Double(t)))
                var (value, grad) = (expected, g)
                if decoupled { value = value * (1 - 0.01 * 0.1) } else { grad = grad + value * 0.1 }
                m = m * 0.9 + grad * (1 - 0.9)
                v = v * 0.999 + grad * grad * (1 - 0.999)
                expected = value - m / (v.sqrt() / c2.squareRoot() + 1e-8) * (0.01 / c1)
                #expect(p.value.doubles() == expected.doubles(), "\(dtype), decoupled \(decoupled), step \(t)")
            }
            let state = Dictionary(uniqueKeysWithValues: optimizer.stateDict())
            #expect(state["p.exp_avg"]?.doubles() == m.doubles() && state["p.exp_avg_sq"]?.doubles() == v.doubles())
        }
    }

    @Test func parameterGroupsByNameAndSkippedParameters() {
        let model = Sequential(Linear(2, 2), Linear(2, 1))
        let groups = ParameterGroup.split(model, matching: { $0.hasPrefix("0.") }, matchingRate: 0, learningRate: 0.1)
        #expect(groups[0].parameters.map(\.name) == ["1.weight", "1.bias"])
        #expect(groups[1].parameters.map(\.name) == ["0.weight", "0.bias"] && groups[1].learningRate == 0)
        let before = model.stateDict().map { $0.1.doubles() }
        let optimizer = SGD(groups)
        model(Tensor([1, 2] as [Float], shape: [1, 2])).sum().backward()
        optimizer.step()
        let after = model.stateDict().map { $0.1.doubles() }
        #expect(after[0] == before[0] && after[1] == before[1], "rate 0 leaves the first layer alone")
        #expect(after[2] != before[2], "the second layer moved")
        #expect(model.parameters.allSatisfy { $0.grad == nil && $0.value.requiresGrad }, "each step leaves fresh leaves")
        optimizer.step()   // no gradients: nothing moves
        #expect(model.stateDict().map { $0.1.doubles() } == after)
    }

    @Test func clippingByGlobalNorm() {
        let a = Parameter(Tensor([0.0], shape: [1])), b = Parameter(Tensor([0.0], shape: [1]))
        ((a.value * 3) + (b.value * 4)).sum().backward()
        let norm = clipGradientNorm([a, b], maxNorm: 1)
        #expect(Swift.abs(norm - 5) < 1e-12)
        #expect(Swift.abs(a.grad!.item() - 3 / (5 + 1e-6)) < 1e-12 && Swift.abs(b.grad!.item() - 4 / (5 + 1e-6)) < 1e-12)
        #expect(clipGradientNorm([a, b], maxNorm: 10) < 1.0000001, "below the limit nothing changes")
        // A gradient large enough for the sum of squares to be split between threads.
        var rng = RandomGenerator(seed: 12)
        let values = (0..<100_003).map { _ in rng.nextUniform() * 2 - 1 }
        let big = Parameter(Tensor(values, shape: [values.count], dtype: .float64))
        big.value.grad = big.value.detached()
        let plain = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        #expect(Swift.abs(clipGradientNorm([big], maxNorm: 1) - plain) < 1e-12 * plain)
        #expect(Swift.abs(big.grad!.doubles()[7] - values[7] / (plain + 1e-6)) < 1e-15)
    }

    /// The clipping factor applied inside the step equals clipping the gradients first, bit
    /// for bit, over two steps (so the moments carry it too), for the fused Adam update in
    /// both element types (37 elements: the 8-lane loop and its tail) and for SGD.
    @Test(arguments: [DType.float32, .float64]) func scaledStepEqualsClippingFirst(_ dtype: DType) {
        let values = randomTensor([37], seed: 31).cast(to: dtype)
        let makers: [(String, ([ParameterGroup]) -> Optimizer)] = [
            ("AdamW", { AdamW($0) }), ("Adam", { Adam($0) }), ("SGD", { SGD($0, momentum: 0.9, nesterov: true) }),
        ]
        for (name, make) in makers {
            let (clipped, scaled) = (Parameter(values.detached()), Parameter(values.detached()))
            let (first, second) = (make([ParameterGroup([("p", clipped)], learningRate: 0.01, weightDecay: 0.1)]),
                                   make([ParameterGroup([("p", scaled)], learningRate: 0.01, weightDecay: 0.1)]))
            for step in 0..<2 {
                for p in [clipped, scaled] { (p.value * p.value * 3).sum().backward() }
                clipGradientNorm([clipped], maxNorm: 0.1)
                first.step()
                let (norm, scale) = gradientClipping([scaled], maxNorm: 0.1)
                #expect(norm > 1 && scale < 0.1, "\(name): the factor must clip (‖g‖ = \(norm))")
                second.step(gradientScale: scale)
                #expect(clipped.value.doubles() == scaled.value.doubles(), "\(name) \(dtype), step \(step + 1)")
            }
        }
        #expect(gradientClipping([Parameter(values.detached())], maxNorm: 1) == (0, 1), "no gradient: norm 0, factor 1")
    }

    @Test func schedulesByHand() {
        #expect(LearningRateSchedule.step(size: 2, gamma: 0.1).learningRate(base: 1, step: 3) == 0.1)
        let multi = LearningRateSchedule.multiStep(milestones: [2, 4], gamma: 0.5)
        #expect([0, 2, 3, 4, 9].map { multi.learningRate(base: 1, step: $0) } == [1, 0.5, 0.5, 0.25, 0.25])
        let cosine = LearningRateSchedule.cosine(total: 4, minimum: 0.1)
        #expect(cosine.learningRate(base: 1.1, step: 0) == 1.1)
        #expect(Swift.abs(cosine.learningRate(base: 1.1, step: 2) - 0.6) < 1e-15)
        #expect(Swift.abs(cosine.learningRate(base: 1.1, step: 9) - 0.1) < 1e-15)
        let warm = LearningRateSchedule.warmup(steps: 4, startFactor: 0.2, then: .step(size: 10, gamma: 0.1))
        #expect(maxAbsDifference([0, 2, 4, 14].map { warm.learningRate(base: 1, step: $0) }, [0.2, 0.6, 1, 0.1]) < 1e-15)
        let p = Parameter(Tensor([1.0], shape: [1]))
        let sgd = SGD([ParameterGroup([("p", p)], learningRate: 1)])
        sgd.apply(.step(size: 1, gamma: 0.5), step: 2)
        #expect(sgd.groups[0].currentLearningRate == 0.25)
    }

    @Test func stateRestoresExactly() throws {
        let template = Linear(3, 2)
        func model() -> Linear {
            let copy = Linear(3, 2)
            copy.load(Dictionary(uniqueKeysWithValues: template.stateDict()))
            return copy
        }
        let input = Tensor([0.5, -1, 2] as [Float], shape: [1, 3])
        func train(_ m: Linear, _ opt: Optimizer, steps: Int) {
            for _ in 0..<steps { (m(input) * m(input)).sum().backward(); opt.step() }
        }
        let straight = model()
        let straightOptimizer = AdamW([ParameterGroup(straight.namedParameters(), learningRate: 0.01, weightDecay: 0.1)])
        train(straight, straightOptimizer, steps: 4)

        let resumed = model()
        let first = AdamW([ParameterGroup(resumed.namedParameters(), learningRate: 0.01, weightDecay: 0.1)])
        train(resumed, first, steps: 2)
        let saved = Dictionary(uniqueKeysWithValues: first.stateDict())
        let second = AdamW([ParameterGroup(resumed.namedParameters(), learningRate: 0.01, weightDecay: 0.1)])
        try second.load(stateDict: saved)
        #expect(second.stepCount == 2)
        train(resumed, second, steps: 2)
        #expect(resumed.stateDict().map { $0.1.doubles() } == straight.stateDict().map { $0.1.doubles() }, "2 + resume + 2 steps equal 4 steps bit for bit")

        var bad = saved
        bad["nonexistent.exp_avg"] = Tensor.zeros([1])
        #expect(throws: OptimizerStateError.self) { try second.load(stateDict: bad) }
        #expect(throws: OptimizerStateError.self) { try second.load(stateDict: [:]) }
    }
}
