import Foundation
import Synchronization

/// A reference-counted, 64-byte aligned block of raw memory holding tensor elements.
/// Several tensors (views) may share one storage; it is returned when the last one goes.
final class Storage: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int) {
        check(byteCount >= 0, "Storage: negative byte count \(byteCount)")
        self.byteCount = byteCount
        base = BufferPool.shared.allocate(byteCount: byteCount)
    }

    deinit { BufferPool.shared.release(base, byteCount: byteCount) }

    func pointer<T>(_: T.Type, offset: Int = 0) -> UnsafeMutablePointer<T> {
        base.assumingMemoryBound(to: T.self) + offset
    }
}

/// A kernel's scratch space of `count` elements from the buffer pool (no page faults when
/// the same size was used before); `release()` hands it back.
struct PooledBuffer<T> {
    let pointer: UnsafeMutablePointer<T>
    let count: Int

    init(_ count: Int) {
        self.count = count
        pointer = BufferPool.shared.allocate(byteCount: count * MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: count)
    }

    func release() { BufferPool.shared.release(UnsafeMutableRawPointer(pointer), byteCount: count * MemoryLayout<T>.stride) }
}

/// Keeps freed large buffers for reuse.
///
/// Fresh memory from the system costs a page fault per 4 KiB on first touch: a 58 MB
/// im2col buffer took 37 ms to allocate and fill, against 5 ms for the fill alone. A
/// training step allocates the same sizes again and again, so buffers of at least 128 KiB
/// are kept in exact-size buckets (up to `TAPESTRY_BUFFER_CACHE_MB`, default 2048 MB)
/// and handed out again instead of going back to the system. 128 KiB is where glibc's
/// malloc starts mapping fresh pages for each allocation: with the bound at 256 KiB,
/// DETR's decoder activations ([100, 2, 256], 200 KiB) were faulted in anew at every
/// operation, and its inference transformer took 69 ms against 52–54 ms pooled.
final class BufferPool: Sendable {
    static let shared = BufferPool(limit: {
        let megabytes = ProcessInfo.processInfo.environment["TAPESTRY_BUFFER_CACHE_MB"].flatMap(Int.init) ?? 2048
        return max(0, megabytes) << 20
    }())

    static let minimumPooledBytes = 128 << 10
    private struct Buffer: @unchecked Sendable { let pointer: UnsafeMutableRawPointer }
    private struct State {
        var free: [Int: [Buffer]] = [:]
        var cachedBytes = 0
    }
    private let state = Mutex(State())
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Sizes are rounded up to whole pages so nearby sizes share a bucket.
    private static func bucket(_ byteCount: Int) -> Int { (max(byteCount, 1) + 4095) & ~4095 }

    func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        guard byteCount >= Self.minimumPooledBytes else { return .allocate(byteCount: max(byteCount, 1), alignment: 64) }
        let size = Self.bucket(byteCount)
        let reused: Buffer? = state.withLock { s in
            guard let buffer = s.free[size]?.popLast() else { return nil }
            s.cachedBytes -= size
            return buffer
        }
        return reused?.pointer ?? .allocate(byteCount: size, alignment: 64)
    }

    func release(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        guard byteCount >= Self.minimumPooledBytes else { pointer.deallocate(); return }
        let size = Self.bucket(byteCount)
        let kept = state.withLock { s -> Bool in
            guard s.cachedBytes + size <= limit else { return false }
            s.free[size, default: []].append(Buffer(pointer: pointer))
            s.cachedBytes += size
            return true
        }
        if !kept { pointer.deallocate() }
    }

    /// Returns every cached buffer to the system.
    func empty() {
        let buffers = state.withLock { s -> [Buffer] in
            defer { s = State() }
            return s.free.values.flatMap { $0 }
        }
        buffers.forEach { $0.pointer.deallocate() }
    }

    /// Bytes currently held for reuse.
    var cachedBytes: Int { state.withLock { $0.cachedBytes } }
}
