// Tutorial 01: the tape, a custom operation, and gradient checking.
// Run with: swift run Tutorial01TapeAndGradcheck   (README.md beside this file explains each step)
import Foundation
import Tapestry

// 1. Tensors that require gradients record every operation applied to them.
let x = Tensor([1.0, 2.0, 3.0]).requiringGrad()
let y = (x * x).sum()             // y = Σ x²
y.backward()                       // dy/dx = 2x
print("1. y = \(y.item()), dy/dx = \(x.grad!.doubles())")

// 2. A custom operation: SiLU(x) = x·σ(x), with a hand-written backward rule
//    d/dx SiLU = σ(x)·(1 + x·(1 − σ(x))).
struct SiLU: DifferentiableFunction {
    func forward(_ inputs: [Tensor]) -> Tensor { inputs[0] * inputs[0].sigmoid() }
    func backward(_ gradient: Tensor, inputs: [Tensor], output: Tensor) -> [Tensor?] {
        let s = inputs[0].sigmoid()
        return [gradient * s * (1 + inputs[0] * (1 - s))]
    }
}

// 3. gradcheck compares the rule with central finite differences in Float64.
var rng = RandomGenerator(seed: 0)
let probe = Tensor.normal([4, 5], dtype: .float64, generator: &rng)
let report = gradcheck({ SiLU()($0[0]) }, inputs: [probe])
print("3. \(report)")

// A wrong rule (forgetting the product rule) is caught, and the report points at it.
struct WrongSiLU: DifferentiableFunction {
    func forward(_ inputs: [Tensor]) -> Tensor { inputs[0] * inputs[0].sigmoid() }
    func backward(_ gradient: Tensor, inputs: [Tensor], output: Tensor) -> [Tensor?] { [gradient * inputs[0].sigmoid()] }
}
let wrong = gradcheck({ WrongSiLU()($0[0]) }, inputs: [probe])
print("   the wrong rule is caught, as it should be: \(wrong)")

// 4. The custom op composes with everything else: recover w = 2, b = 1 from samples of
//    y = SiLU(w·x + b) by gradient descent, reading gradients off the tape.
let inputs = Tensor.uniform([64, 1], low: -2, high: 2, dtype: .float64, generator: &rng)
let targets = SiLU()(inputs * 2 + 1)
var weight = Tensor([0.1], shape: [1, 1], dtype: .float64).requiringGrad()
var bias = Tensor([0.0], shape: [1], dtype: .float64).requiringGrad()
var firstLoss = 0.0, loss = 0.0
for step in 0..<2000 {
    let prediction = SiLU()(inputs.matmul(weight) + bias)
    let error = prediction - targets
    let objective = (error * error).mean()
    let grads = gradients(of: [objective], wrt: [weight, bias])
    loss = objective.item()
    if step == 0 { firstLoss = loss }
    weight = (weight.detached() - grads[0] * 0.2).requiringGrad()
    bias = (bias.detached() - grads[1] * 0.2).requiringGrad()
}
print("4. loss \(String(format: "%.4f", firstLoss)) → \(String(format: "%.2e", loss)); w = \(String(format: "%.4f", weight.item())), b = \(String(format: "%.4f", bias.item()))")

let fitted = Swift.abs(weight.item() - 2) < 1e-3 && Swift.abs(bias.item() - 1) < 1e-3
guard report.passed, !wrong.passed, fitted else {
    print("tutorial check failed")
    exit(1)
}
print("all tutorial checks passed")
