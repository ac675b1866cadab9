import Tapestry
import TapestryNN

/// An image classifier: normalised images [B, 3, H, W] in, class logits [B, classes] out;
/// and its optimizer parameter groups. The trainer's classification task runs any of them.
public protocol Classifier: Layer {
    func parameterGroups(learningRate: Double, weightDecay: Double) -> [ParameterGroup]
}

extension Classifier {
    /// Every trainable parameter in one group.
    public func parameterGroups(learningRate: Double, weightDecay: Double) -> [ParameterGroup] {
        [ParameterGroup(namedParameters().filter { $0.1.requiresGrad }, learningRate: learningRate, weightDecay: weightDecay)]
    }
}
