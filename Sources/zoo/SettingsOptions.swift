import ArgumentParser

/// The settings options of every command that builds a model: a JSON file, then key=value
/// overrides, over the model's defaults.
struct SettingsOptions: ParsableArguments {
    @Option(help: "JSON settings file: {\"model\": {...}, \"trainer\": {...}, ...}.")
    var config: String?

    @Option(name: .customLong("set"), help: "Override one setting: key=value or section.key=value (repeatable).")
    var assignments: [String] = []
}
