import CFloatingPointMode
import Synchronization

/// Subnormal ("denormal") numbers: kept, with IEEE gradual underflow, by default (as in
/// PyTorch), or flushed to zero, as `torch.set_flush_denormal(True)` does.
///
/// Arithmetic that reads or writes a subnormal (|x| < 1.18·10⁻³⁸ in Float32) takes a slow
/// microcode path on x86 CPUs: an OpenBLAS (or MKL) gemm whose operand is a quarter
/// subnormal runs 30–50× slower. Training makes them where a softmax saturates, as attention
/// often does at initialisation: probabilities underflow, and with them the gradients of
/// the keys and values that no query attends to. Flushing reads subnormal inputs as 0 and
/// writes 0 for subnormal results (x86-64: MXCSR's DAZ and FTZ bits; AArch64: FPCR's FZ):
/// only numbers smaller than 1.18·10⁻³⁸ (Float32) or 2.2·10⁻³⁰⁸ (Float64) in magnitude are
/// affected, and a sum that held them moves by less than that per term.
///
/// The setting covers the thread that makes it and every work item of Tapestry's kernel
/// threads, which run OpenBLAS's calls too (OpenBLAS runs one thread per call).
public enum Subnormals {
    private static let flushing = Atomic<Bool>(false)

    /// Whether subnormals are flushed to zero.
    public static var areFlushed: Bool { flushing.load(ordering: .relaxed) }

    /// Flushes subnormals to zero (`true`) or keeps them (`false`) on the calling thread
    /// and in Tapestry's kernel threads. Call it between computations, not while another
    /// thread computes. Returns false, changing nothing, on a CPU that cannot flush.
    @discardableResult
    public static func setFlushed(_ flush: Bool) -> Bool {
        guard tapestry_fp_can_flush() else { return false }
        flushing.store(flush, ordering: .relaxed)
        tapestry_set_fp_control(tapestry_fp_control_flushing(tapestry_fp_control(), flush))
        return true
    }

    /// Runs `body` with subnormals flushed as `flush` says, then restores the previous mode.
    public static func withFlushed<R>(_ flush: Bool, _ body: () throws -> R) rethrows -> R {
        let previous = areFlushed
        setFlushed(flush)
        defer { setFlushed(previous) }
        return try body()
    }

    /// Whether the calling thread flushes subnormals now.
    static var threadFlushes: Bool {
        let own = tapestry_fp_control()
        return tapestry_fp_can_flush() && tapestry_fp_control_flushing(own, true) == own
    }

    /// Runs a kernel work item with the calling thread in the mode `areFlushed` says, then
    /// gives the thread back its own.
    @inline(__always)
    static func matching(_ body: () -> Void) {
        let own = tapestry_fp_control()
        let wanted = tapestry_fp_control_flushing(own, areFlushed)
        guard wanted != own else { return body() }
        tapestry_set_fp_control(wanted)
        body()
        tapestry_set_fp_control(own)
    }
}
