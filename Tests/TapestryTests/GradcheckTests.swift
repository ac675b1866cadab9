import Testing
@testable import Tapestry

/// Float64 central-difference checks of every differentiable operation, with broadcast
/// and non-contiguous (transposed, sliced, flipped) operands.
@Suite struct OperationGradients {
    let x = randomTensor([3, 4], seed: 1)
    let y = randomTensor([3, 4], seed: 2)
    let row = randomTensor([4], seed: 3)
    let column = randomTensor([3, 1], seed: 4)
    let positive = randomTensor([3, 4], seed: 5, low: 0.5, high: 2)

    /// Every binary op, broadcast both ways: the switch has no default, so a new op does not
    /// compile until it has a gradcheck here.
    @Test(arguments: BinaryOp.allCases) func everyBinaryOpWithBroadcasting(_ op: BinaryOp) {
        switch op {
        case .add: expectGradcheck([x, row]) { $0[0] + $0[1] }
        case .sub: expectGradcheck([x, column]) { $0[0] - $0[1] }
        case .mul: expectGradcheck([x, row]) { $0[0] * $0[1] }; expectGradcheck([x]) { -$0[0] * 3 + 2 }
        case .div: expectGradcheck([x, positive]) { $0[0] / $0[1] }; expectGradcheck([column, positive]) { $0[0] / $0[1] }
        case .pow: expectGradcheck([positive, y]) { $0[0].pow($0[1]) }; expectGradcheck([positive]) { $0[0].pow(2.5) }
        case .maximum: expectGradcheck([x, y]) { Tensor.maximum($0[0], $0[1]) }
        case .minimum: expectGradcheck([x, row]) { Tensor.minimum($0[0], $0[1]) }
        }
    }

    @Test func nonContiguousOperands() {
        expectGradcheck([x, y]) { $0[0].transposed() * $0[1].transposed().exp() }
        expectGradcheck([x]) { $0[0].slice(axis: 1, start: 1, end: 4, step: 2).sigmoid() }
        expectGradcheck([x, row]) { $0[0].flipped(axes: [0, 1]) + $0[1].flipped(axes: [0]) }
        expectGradcheck([x]) { $0[0].permuted([1, 0]).reshaped([2, 6]).tanh() }
        expectGradcheck([row]) { $0[0].reshaped([4, 1]).expanded(to: [4, 3]).transposed().contiguous() * 2 }
        expectGradcheck([x]) { $0[0].unsqueezed(axis: 1).squeezed(axis: 1).select(axis: 0, index: 1) }
    }

    /// Every unary op, exhaustively like the binary ones. sign and floor are piecewise
    /// constant: no gradient flows through them, which is checked instead.
    @Test(arguments: UnaryOp.allCases) func everyUnaryOp(_ op: UnaryOp) {
        switch op {
        case .neg: expectGradcheck([x]) { -$0[0] }
        case .exp: expectGradcheck([x]) { $0[0].exp() }
        case .log: expectGradcheck([positive]) { $0[0].log() }
        case .log1p: expectGradcheck([positive]) { $0[0].log1p() }
        case .sin: expectGradcheck([x]) { ($0[0] * 3).sin() }
        case .cos: expectGradcheck([x]) { ($0[0] * 3).cos() }
        case .sqrt: expectGradcheck([positive]) { $0[0].sqrt() }
        case .rsqrt: expectGradcheck([positive]) { $0[0].rsqrt() }
        case .abs: expectGradcheck([x]) { $0[0].abs() }
        case .relu: expectGradcheck([x]) { $0[0].relu() }
        case .sigmoid: expectGradcheck([x]) { $0[0].sigmoid() }
        case .tanh: expectGradcheck([x]) { $0[0].tanh() }
        case .gelu: expectGradcheck([x]) { ($0[0] * 3).gelu() }
        case .softplus: expectGradcheck([x]) { ($0[0] * 30).softplus() }
        case .erf: expectGradcheck([x]) { $0[0].erf() }
        case .reciprocal: expectGradcheck([positive]) { $0[0].reciprocal() }
        case .sign, .floor:
            let input = x.detached().requiringGrad()
            let output = op == .sign ? input.sign() : input.floor()
            #expect(!output.requiresGrad, "\(op) is piecewise constant: its gradient is zero almost everywhere")
        }
    }

    @Test func selectionAndCasts() {
        expectGradcheck([x]) { $0[0].clamped(min: -0.5, max: 0.5) }
        expectGradcheck([x, y]) { Tensor.where($0[0] .> 0, $0[0], $0[1]) }
        expectGradcheck([x]) { $0[0].maskedFill($0[0] .< 0, value: 7) }
        // Through Float32 the function is a staircase of 1e-7 steps: difference over a wider step.
        expectGradcheck([x], eps: 1e-3) { $0[0].cast(to: .float32).cast(to: .float64) * 1 }
    }

    @Test func reductions() {
        expectGradcheck([x]) { $0[0].sum() }
        expectGradcheck([x]) { $0[0].sum(axis: 0) }
        expectGradcheck([x]) { $0[0].mean(axis: 1, keepDim: true) }
        expectGradcheck([x]) { $0[0].max(axis: 1) }
        expectGradcheck([x]) { $0[0].min(axes: [0, 1]) }
        expectGradcheck([x]) { $0[0].variance(axes: [1]) }
        expectGradcheck([x]) { $0[0].variance(axes: [0], correction: 0, keepDim: true) }
        expectGradcheck([x]) { $0[0].cumsum(axis: 1) }
        expectGradcheck([x]) { $0[0].transposed().cumsum(axis: 0) }
    }

    @Test func matrixProducts() {
        let a = randomTensor([2, 3, 4], seed: 10), b = randomTensor([4, 5], seed: 11)
        expectGradcheck([a, b]) { $0[0].matmul($0[1]) }
        expectGradcheck([x, b]) { $0[0].matmul($0[1]) }
        expectGradcheck([b, x]) { $0[0].transposed().matmul($0[1].transposed()) }
        expectGradcheck([row, b]) { $0[0].matmul($0[1]) }
        expectGradcheck([x, row]) { $0[0].matmul($0[1]) }
        expectGradcheck([row, row]) { $0[0].matmul($0[1]) }
        let c = randomTensor([2, 1, 3, 4], seed: 12), d = randomTensor([3, 4, 2], seed: 13)
        expectGradcheck([c, d]) { $0[0].matmul($0[1]) }
    }

    @Test func indexingAndAssembling() {
        let index = Tensor([2, 0, 1, 1, 0, 2, 2, 2] as [Int64], shape: [2, 4])
        expectGradcheck([x]) { $0[0].gather(axis: 0, index: index) }
        expectGradcheck([x]) { $0[0].indexSelect(axis: 1, index: Tensor([3, 0, 3] as [Int64])) }
        expectGradcheck([x, randomTensor([2, 4], seed: 20)]) { $0[0].scatterAdd(axis: 0, index: index, source: $0[1]) }
        expectGradcheck([x, y]) { Tensor.concat([$0[0], $0[1].transposed().contiguous().reshaped([3, 4])], axis: 1) }
        expectGradcheck([x, y]) { Tensor.stack([$0[0], $0[1]], axis: 2) }
        expectGradcheck([x]) { let p = $0[0].split(sizes: [1, 3], axis: 1); return p[1] * p[0] }
        expectGradcheck([x]) { $0[0].padded([(1, 2), (0, 1)], value: 3) }
        expectGradcheck([x]) { $0[0].topk(2, axis: 1).values }
        expectGradcheck([x]) { $0[0].sorted(axis: 0, descending: true).values }
    }

    @Test func normalizationAndSoftmax() {
        let w = randomTensor([4], seed: 30), b = randomTensor([4], seed: 31)
        expectGradcheck([x]) { $0[0].softmax(axis: 1) }
        expectGradcheck([x]) { $0[0].softmax(axis: 0) }
        expectGradcheck([x]) { $0[0].logSoftmax(axis: -1) }
        expectGradcheck([x, w, b]) { $0[0].layerNorm(weight: $0[1], bias: $0[2]) }
        expectGradcheck([randomTensor([2, 3, 4], seed: 32)]) { $0[0].layerNorm(normalizedAxes: 2) }
    }

    @Test func convolutionAndPooling() {
        let image = randomTensor([2, 4, 6, 7], seed: 40)
        let w = randomTensor([6, 2, 3, 3], seed: 41), b = randomTensor([6], seed: 42)
        expectGradcheck([image, w, b]) { $0[0].conv2d(weight: $0[1], bias: $0[2], stride: (2, 1), padding: (1, 2), dilation: (1, 2), groups: 2) }
        let w1 = randomTensor([3, 4, 1, 1], seed: 43)
        expectGradcheck([image, w1]) { $0[0].conv2d(weight: $0[1]) }
        expectGradcheck([image]) { $0[0].unfold(kernel: (2, 3), stride: (1, 2), padding: (1, 0), dilation: (2, 1)) }
        expectGradcheck([image]) { $0[0].maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }
        expectGradcheck([image]) { $0[0].avgPool2d(kernel: (2, 2), stride: (2, 1), padding: (1, 0)) }
        expectGradcheck([image]) { $0[0].adaptiveAvgPool2d(outputSize: (4, 3)) }
    }

    @Test func resampling() {
        let image = randomTensor([2, 3, 5, 6], seed: 50)
        let grid = randomTensor([2, 4, 7, 2], seed: 51, low: -1.25, high: 1.25)
        expectGradcheck([image, grid]) { $0[0].gridSample($0[1]) }
        expectGradcheck([image]) { $0[0].interpolateNearest(size: (7, 4)) }
        expectGradcheck([image]) { $0[0].interpolateBilinear(size: (8, 4)) }
    }

    @Test func linearAlgebra() throws {
        let a = randomTensor([4, 4], seed: 60) + Tensor.eye(4, dtype: .float64) * 3
        let rhs = randomTensor([4, 2], seed: 61)
        expectGradcheck([a, rhs]) { try! Tensor.solve($0[0], $0[1]) }
        expectGradcheck([a]) { try! $0[0].inverse() }
        // Cholesky reads only the lower triangle, so check it through a symmetric input.
        let m = randomTensor([3, 3], seed: 62)
        expectGradcheck([m]) { x in try! (x[0].matmul(x[0].transposed()) + Tensor.eye(3, dtype: .float64)).cholesky() }
    }

    @Test func randomDirectionModeOnALargeInput() {
        let big = randomTensor([64, 64], seed: 70)
        expectGradcheck([big], mode: .randomDirections(count: 4)) { ($0[0].matmul($0[0]) * 0.1).tanh().sum(axis: 0) }
    }

    @Test func gradcheckCatchesAWrongRule() {
        struct WrongSquare: DifferentiableFunction {
            func forward(_ inputs: [Tensor]) -> Tensor { inputs[0] * inputs[0] }
            func backward(_ gradient: Tensor, inputs: [Tensor], output: Tensor) -> [Tensor?] { [gradient * inputs[0] * 3] }
        }
        let report = gradcheck({ WrongSquare()($0) }, inputs: [x])
        #expect(!report.passed)
        #expect(report.description.contains("FAILED") && report.description.contains("input 0 at ["))
        #expect(Swift.abs(report.analytical / report.numerical - 1.5) < 1e-4)
        let directional = gradcheck({ WrongSquare()($0) }, inputs: [x], mode: .randomDirections(count: 2))
        #expect(!directional.passed)
    }
}
