import Testing
@testable import Tapestry

@Suite struct Tape {
    /// ReLU's gradient passes g only where x > 0: not at 0 or −0, not below, and 0 (not NaN)
    /// where g is infinite below zero, as PyTorch's threshold_backward gives; the recorded
    /// backward (createGraph) agrees on the finite values.
    @Test func reluGradientByHand() {
        let x = Tensor([-2, -0.0, 0, 0.5, 3, -1] as [Double]).requiringGrad()
        let g = Tensor([1, 2, 3, 4, 5, Double.infinity] as [Double])
        expectClose(gradients(of: [x.relu()], wrt: [x], cotangents: [g])[0], [0, 0, 0, 4, 5, 0])
        let finite = Tensor([1, 2, 3, 4, 5, 6] as [Double])
        let recorded = enableGrad { gradients(of: [x.relu()], wrt: [x], cotangents: [finite], createGraph: true)[0] }
        expectClose(recorded, [0, 0, 0, 4, 5, 0])
    }

    @Test func backwardAccumulatesIntoLeaves() {
        let x = Tensor([1, 2, 3] as [Double]).requiringGrad()
        let y = (x * x).sum()
        y.backward()
        expectClose(x.grad!, [2, 4, 6])
        // A second graph adds to the same .grad.
        (x * 3).sum().backward()
        expectClose(x.grad!, [5, 7, 9])
        x.zeroGrad()
        #expect(x.grad == nil)
    }

    @Test func reusedTensorsSumTheirGradients() {
        let x = Tensor([2] as [Double]).requiringGrad()
        let a = x * x          // 4
        let b = a * x + a      // x³ + x²
        b.backward(Tensor([1] as [Double]))
        expectClose(x.grad!, [3 * 4 + 2 * 2])
    }

    @Test func noGradAndDetachStopRecording() {
        let x = Tensor([1, 2] as [Double]).requiringGrad()
        let inside = noGrad { x * 2 }
        #expect(!inside.requiresGrad)
        #expect(!(x.detached() * 2).requiresGrad)
        #expect((x * 2).requiresGrad)
        let nested = noGrad { enableGrad { x * 2 } }
        #expect(nested.requiresGrad)
    }

    @Test func gradientsOfSeveralOutputsWithoutTouchingGrad() {
        let x = Tensor([1, 2] as [Double]).requiringGrad()
        let w = Tensor([3, 4] as [Double]).requiringGrad()
        let y1 = (x * w).sum(), y2 = (x * x).sum()
        let g = gradients(of: [y1, y2], wrt: [x, w])
        expectClose(g[0], [3 + 2, 4 + 4])
        expectClose(g[1], [1, 2])
        #expect(x.grad == nil && w.grad == nil)
        // An input the outputs do not depend on gets zeros.
        let unused = Tensor([5] as [Double]).requiringGrad()
        expectClose(gradients(of: [(x * 2).sum()], wrt: [unused])[0], [0])
    }

    @Test func gradientWithRespectToAnIntermediate() {
        let x = Tensor([1, 2] as [Double]).requiringGrad()
        let h = x * 3
        let y = (h * h).sum()
        expectClose(gradient(of: y, wrt: h), [6, 12])
    }

    @Test func secondDerivativesThroughCreateGraph() {
        let x = Tensor([0.5, -1.5] as [Double]).requiringGrad()
        let y = (x * x * x).sum()
        let dy = gradient(of: y, wrt: x, createGraph: true)     // 3x²
        expectClose(dy, [0.75, 6.75])
        let d2 = gradient(of: dy.sum(), wrt: x)                  // 6x
        expectClose(d2, [3, -9])
        // And through a composite: d²/dx² tanh(x) = −2 tanh(x)(1 − tanh²(x)).
        let t = Tensor([0.3] as [Double]).requiringGrad()
        let first = gradient(of: t.tanh().sum(), wrt: t, createGraph: true)
        let second = gradient(of: first.sum(), wrt: t).item()
        let th = Foundation.tanh(0.3)
        #expect(Swift.abs(second - (-2 * th * (1 - th * th))) < 1e-12)
    }

    @Test func secondDerivativesOfEveryOutputReusingRule() {
        // The gradient itself, checked by finite differences: exercises each rule's
        // dependence on its own output when the backward pass is recorded.
        func gradientOf(_ h: @escaping (Tensor) -> Tensor) -> ([Tensor]) -> Tensor {
            { x in
                enableGrad {
                    let v = x[0].requiresGrad ? x[0] : x[0].requiringGrad()
                    return gradient(of: h(v).sum(), wrt: v, createGraph: true)
                }
            }
        }
        let x = randomTensor([5], seed: 9), p = randomTensor([5], seed: 8, low: 0.5, high: 2)
        expectGradcheck([x], gradientOf { $0.exp() })
        expectGradcheck([x], gradientOf { $0.tanh() })
        expectGradcheck([x], gradientOf { $0.sigmoid() })
        expectGradcheck([p], gradientOf { $0.sqrt() })
        expectGradcheck([p], gradientOf { $0.rsqrt() })
        expectGradcheck([p], gradientOf { $0.reciprocal() })
        expectGradcheck([p], gradientOf { $0.pow($0) })
        expectGradcheck([x], gradientOf { $0.softmax(axis: 0) * $0 })
        let a = randomTensor([3, 3], seed: 7) + Tensor.eye(3, dtype: .float64) * 3
        expectGradcheck([a], gradientOf { try! $0.inverse() * $0 })
    }

    @Test func rulesAreReleasedAfterBackward() {
        weak var captured: Storage?
        let x = Tensor([1, 2, 3] as [Double]).requiringGrad()
        var y: Tensor? = {
            let e = x.exp()                 // its rule captures the output values
            captured = e.storage
            return (e * 2).sum()
        }()
        #expect(captured != nil)
        y!.backward()
        y = nil
        #expect(captured == nil, "the exp output should be freed once backward no longer needs it")
    }

    @Test func droppedGraphFreesEverything() {
        weak var captured: Storage?
        do {
            let x = Tensor([1, 2, 3] as [Double]).requiringGrad()
            let e = x.exp()
            captured = e.storage
            _ = (e * 2).sum()
        }
        #expect(captured == nil)
    }

    @Test func longChainsBackpropagateAndReleaseWithoutRecursion() {
        // Deep enough to overflow the stack if graph teardown or the backward walk recursed.
        let leaf = Tensor([Float(1)]).requiringGrad(), factor = Tensor([Float(1)])
        var v = leaf
        for _ in 0..<50_000 { v = v * factor }
        v.backward()
        expectClose(leaf.grad!, [1])
        var dropped = leaf
        for _ in 0..<50_000 { dropped = dropped * factor }
        dropped = leaf   // the whole unevaluated graph goes here
        #expect(dropped.isLeaf)
    }

    @Test func retainGraphAllowsASecondBackward() {
        let x = Tensor([1, 2] as [Double]).requiringGrad()
        let y = (x.exp()).sum()
        y.backward(retainGraph: true)
        y.backward()
        expectClose(x.grad!, [2 * Foundation.exp(1), 2 * Foundation.exp(2)], tolerance: 1e-12)
    }

    @Test func customFunctionComposesAndChecks() {
        struct Cube: DifferentiableFunction {
            func forward(_ inputs: [Tensor]) -> Tensor { inputs[0] * inputs[0] * inputs[0] }
            func backward(_ gradient: Tensor, inputs: [Tensor], output: Tensor) -> [Tensor?] {
                [gradient * 3 * inputs[0] * inputs[0]]
            }
        }
        let x = randomTensor([5], seed: 3)
        expectGradcheck([x]) { (Cube()($0[0].exp()) * $0[0]).tanh() }
        // Second derivatives flow through a custom rule written with tensor ops.
        let v = Tensor([2] as [Double]).requiringGrad()
        let d = gradient(of: Cube()(v).sum(), wrt: v, createGraph: true)
        expectClose(gradient(of: d.sum(), wrt: v), [12])
    }

    @Test func tapeRecordsOnlyWhenNeeded() {
        let a = Tensor([1, 2] as [Double])
        #expect(!(a * a).requiresGrad)
        #expect((a * a.requiringGrad()).requiresGrad)
        #expect(Tensor([1] as [Double]).requiringGrad().isLeaf)
        #expect(!(Tensor([1] as [Double]).requiringGrad() * 2).isLeaf)
    }
}


import Foundation
