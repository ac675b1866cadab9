/// A reference-counted, 64-byte aligned block of raw memory holding tensor elements.
/// Several tensors (views) may share one storage; it is freed when the last one goes.
final class Storage: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int) {
        precondition(byteCount >= 0, "Storage: negative byte count \(byteCount)")
        self.byteCount = byteCount
        base = .allocate(byteCount: max(byteCount, 1), alignment: 64)
    }

    deinit { base.deallocate() }

    func pointer<T>(_: T.Type, offset: Int = 0) -> UnsafeMutablePointer<T> {
        base.assumingMemoryBound(to: T.self) + offset
    }
}
