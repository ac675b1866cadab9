import Foundation
import Testing
@testable import Tapestry

/// `OpProfile`: which time lands on which operation. A custom operation that sleeps a known
/// time in its forward pass and another in its backward rule must carry those times, and
/// its neighbours on the tape must not.
@Suite struct OpProfileAttributesTimeToOperations {
    /// y = x slept for `forward` seconds; the backward rule sleeps `backward` seconds.
    struct Sleeper: DifferentiableFunction {
        let forward: Double, backward: Double
        func forward(_ inputs: [Tensor]) -> Tensor {
            Thread.sleep(forTimeInterval: forward)
            return inputs[0] * 1
        }
        func backward(_ gradient: Tensor, inputs: [Tensor], output: Tensor) -> [Tensor?] {
            Thread.sleep(forTimeInterval: backward)
            return [gradient]
        }
    }

    func entry(_ profile: OpProfile, _ phase: OpProfile.Phase, _ operation: String) -> OpProfile.Entry? {
        profile.entries.first { $0.phase == phase && $0.operation == operation }
    }

    @Test func sleepsLandOnTheSleeper() {
        let x = Tensor([1, 2, 3, 4]).requiringGrad()
        let before = (x * 5).sum()   // recorded before measuring: not in the profile
        let (_, profile) = OpProfile.measure {
            let slept = Sleeper(forward: 0.03, backward: 0.04)(x * 2)
            // x is used twice, so two gradients reach it and are summed ("+ grads").
            (slept.exp().sum() + (x * 3).sum()).backward()
        }
        _ = before

        let forward = entry(profile, .forward, "custom"), backward = entry(profile, .backward, "custom")
        #expect(forward?.calls == 1 && forward?.shape == [4])
        #expect((forward?.seconds ?? 0) >= 0.03, "the forward sleep")
        #expect((backward?.seconds ?? 0) >= 0.04, "the backward sleep")
        #expect((entry(profile, .forward, "exp")?.seconds ?? 1) < 0.03, "exp, recorded after the sleeper, has none of its sleep")
        #expect((entry(profile, .backward, "exp")?.seconds ?? 1) < 0.04)
        #expect(entry(profile, .forward, "mul")?.calls == 2, "x * 2 and x * 3; x * 5 ran before measuring")
        #expect(entry(profile, .backward, "+ grads")?.calls == 1)
        #expect(profile.wallSeconds >= 0.07 && profile.runs == 1)
        #expect(profile.entries.map(\.seconds) == profile.entries.map(\.seconds).sorted(by: >))
    }

    /// Operations a backward pass records (`createGraph`) belong to the rule that ran them.
    @Test func operationsRecordedByARuleAreTheRules() {
        let x = Tensor([0.5, 1.5]).requiringGrad()
        let (_, profile) = OpProfile.measure {
            let y = (x * x).sum()
            _ = gradients(of: [y], wrt: [x], createGraph: true)
        }
        #expect(entry(profile, .forward, "mul")?.calls == 1, "the rule's x·g products are not forward operations")
        #expect(entry(profile, .backward, "mul")?.calls == 1)
    }

    @Test func mergedProfilesAddUpAndTabulatePerRun() {
        let x = Tensor([1, 2]).requiringGrad()
        func step() -> OpProfile { OpProfile.measure { (x * 2).sum().backward() }.profile }
        let merged = step().merging(step())
        #expect(merged.runs == 2)
        #expect(entry(merged, .forward, "mul")?.calls == 2 && entry(merged, .backward, "sum")?.calls == 2)
        let table = merged.table(top: 10)
        let mulRow = table.split(separator: "\n").first { $0.hasPrefix("forward  mul") }
        #expect(mulRow?.contains(" 1.0 ") == true, "one call per step: \(mulRow ?? "no row")")
        #expect(table.contains("other    (no operation)") && table.contains("total"))
    }
}
