import Foundation

/// Makes the OpenBLAS build use the kernels this CPU can run best, without the user
/// knowing about OpenBLAS's environment variables.
///
/// Some machines pin `OPENBLAS_CORETYPE=Haswell` in their environment, which holds
/// OpenBLAS to AVX2 kernels (about half the speed on an AVX-512 CPU). OpenBLAS reads the
/// variable when the library loads, before `main`, so the only remedy is to start again:
/// when the CPU has AVX-512 and the variable says Haswell, `zoo` re-executes itself once
/// with `OPENBLAS_CORETYPE=SkylakeX`. Set `TAPESTRY_KEEP_OPENBLAS_CORETYPE=1` to opt out.
enum FastPath {
    static func ensureOpenBLASKernelsMatchTheCPU() {
        #if OpenBLAS
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"]?.lowercased() == "haswell",
              environment["TAPESTRY_KEEP_OPENBLAS_CORETYPE"] == nil,
              let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              cpuinfo.contains(" avx512f") else { return }
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
        setenv("TAPESTRY_KEEP_OPENBLAS_CORETYPE", "1", 1)   // never loop
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", arguments)
        // execv only returns on failure: carry on with the kernels we have.
        #endif
    }
}
