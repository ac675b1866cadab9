/// Whether operations record themselves on the tape, per task/thread.
public enum GradMode {
    @TaskLocal static var isEnabled = true

    /// True when operations on tensors that require gradients are being recorded.
    public static var enabled: Bool { isEnabled }
}

/// Runs `body` without recording any operation on the tape (like `torch.no_grad()`).
@discardableResult
public func noGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$isEnabled.withValue(false, operation: body)
}

/// Runs `body` with recording on, even inside `noGrad`.
@discardableResult
public func enableGrad<R>(_ body: () throws -> R) rethrows -> R {
    try GradMode.$isEnabled.withValue(true, operation: body)
}
