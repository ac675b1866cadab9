import Foundation

/// Which OpenBLAS kernels this CPU deserves, and whether the running ones are weaker.
///
/// OpenBLAS picks its kernels when the library loads, from its own CPU table: Debian's
/// 0.3.21 does not know recent Intel Xeons and falls back to "Prescott" (SSE3), five times
/// slower than the AVX-512 "SkylakeX" kernels the CPU runs; an environment may also pin
/// "Haswell" on an AVX-512 CPU. `OPENBLAS_CORETYPE` fixes it, but only before the library
/// loads: `zoo` re-executes itself with it, and a library user is told to set it.
public enum OpenBLASCore {
    /// Cores with AVX-512 kernels, and with AVX2 ones (OpenBLAS's names, lowercased).
    static let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]
    static let avx2Cores: Set<String> = avx512Cores.union(["haswell", "zen"])

    /// The core to ask for on a CPU with these /proc/cpuinfo flags ("SkylakeX" with AVX-512,
    /// "Haswell" with AVX2), or nil when OpenBLAS's own choice cannot be beaten.
    public static func preferred(cpuFlags: Set<String>) -> String? {
        if cpuFlags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { return "SkylakeX" }
        if cpuFlags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
        return nil
    }

    /// The better core to restart with when `running` is weaker than what the CPU supports.
    public static func upgrade(running: String, cpuFlags: Set<String>) -> String? {
        guard let preferred = preferred(cpuFlags: cpuFlags) else { return nil }
        let sufficient = preferred == "SkylakeX" ? avx512Cores : avx2Cores
        return sufficient.contains(running.lowercased()) ? nil : preferred
    }

    /// This machine's CPU flags (the first processor's, from /proc/cpuinfo).
    public static var cpuFlags: Set<String> {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
        return Set(line.split(separator: ":").last.map { $0.split(separator: " ").map(String.init) } ?? [])
    }

    /// A warning when the running OpenBLAS kernels are weaker than this CPU's, naming the
    /// environment variable that fixes it; nil when they are the best (or no OpenBLAS).
    public static var warning: String? {
        #if OpenBLAS
        let running = backend.coreName
        guard let better = upgrade(running: running, cpuFlags: cpuFlags) else { return nil }
        return "OpenBLAS runs its \(running) kernels on a CPU that has \(better)'s: start the process with OPENBLAS_CORETYPE=\(better) for several times faster matrix products"
        #else
        return nil
        #endif
    }
}
