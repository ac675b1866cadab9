/// Facts about this build of Tapestry, for `zoo info` and bug reports.
public enum BuildInfo {
    public static let version = "0.1.0"

    /// True when the kernels were compiled with fused multiply-add (`-DTAPESTRY_FMA`,
    /// which the Makefile sets together with `-target-cpu native`).
    public static var fusedMultiplyAdd: Bool {
        #if TAPESTRY_FMA
        return true
        #else
        return false
        #endif
    }

    /// A one-line description of the compute backend in use.
    public static var backendSummary: String {
        #if OpenBLAS
        return "openblas (OpenBLAS core \(backend.coreName), one thread per call; other kernels: reference)"
        #else
        return "reference (plain Swift)"
        #endif
    }
}
