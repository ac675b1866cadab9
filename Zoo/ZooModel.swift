import Classification
import Detection
import Tapestry
import TapestryNN
import Training

/// A model of the zoo with its settings. A model joins the zoo with one file of its own
/// that conforms to `ZooDetector` or `ZooClassifier`, and one line in `Registry.models`;
/// its settings sections, presets, training, evaluation, prediction, export and fixture
/// parity all follow.
///
/// - `Config`: the `model` section, every field a `@Setting` with its default (the paper's)
///   and its range, named as the original code's arguments.
/// - `paperTrainer`, `shapesModel`, `shapesTrainer`: the trainer settings of the paper, and
///   the model and trainer settings sized for the embedded shapes dataset on a CPU.
public protocol ZooModel: Module {
    associatedtype Config: SettingsGroup
    static var name: String { get }
    static var summary: String { get }
    static var paper: String { get }
    static var paperTrainer: TrainerConfig { get }
    static var shapesModel: Config { get }
    static var shapesTrainer: TrainerConfig { get }
    init(_ config: Config) throws
    var config: Config { get }
}

/// A detector of the zoo; `Loss` is its `loss` section (matcher costs and loss weights),
/// which builds the criterion.
public protocol ZooDetector: ZooModel, Detector {
    associatedtype Loss: CriterionSettings
}

/// A classifier of the zoo (trained with cross-entropy on its `data` section's images).
public protocol ZooClassifier: ZooModel, Classifier {}

extension ZooDetector where Config: BackboneSettings {
    /// The backbone at `lr_backbone`, everything else at `lr` (DETR's main.py); a model
    /// with more groups (Deformable DETR) writes its own.
    public func parameterGroups(learningRate: Double, weightDecay: Double) -> [ParameterGroup] {
        ParameterGroup.split(self, matching: { $0.hasPrefix("backbone.") }, matchingRate: config.lrBackbone,
                             learningRate: learningRate, weightDecay: weightDecay)
    }
}

extension ZooModel {
    /// DETR's trainer settings (detr/main.py).
    public static var paperTrainer: TrainerConfig { TrainerConfig() }
}

/// A zoo model or its configuration could not be built.
public enum ZooError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case unknownModel(String, known: [String])
    case datasetMismatch(String)
    case wrongKind(model: String, expected: String)
    /// Weights from elsewhere that do not fit the model: what is missing, left over or misshapen.
    case weightsMismatch(String)

    public var description: String {
        switch self {
        case .invalidConfig(let why): return "invalid configuration: \(why)"
        case let .unknownModel(name, known): return "unknown model \"\(name)\" (known: \(known.joined(separator: ", ")))"
        case .datasetMismatch(let why): return why
        case let .wrongKind(model, expected): return "\(model) is not \(expected)"
        case .weightsMismatch(let why): return why
        }
    }
}

extension SettingsGroup {
    /// Throws `ZooError.invalidConfig` naming every problem (for models built in code).
    func validated() throws(ZooError) -> Self {
        let problems = problems()
        guard problems.isEmpty else { throw .invalidConfig(problems.joined(separator: "; ")) }
        return self
    }
}
