import Foundation
import Tapestry

/// Makes the OpenBLAS build fast without the user knowing about OpenBLAS's environment
/// variables, which OpenBLAS reads when the library loads (before `main`), so the only
/// remedy is to start again: `zoo` re-executes itself once with
///
/// - `OPENBLAS_CORETYPE` set to the best kernels the CPU runs (`OpenBLASCore`) when
///   OpenBLAS chose weaker ones (it does not recognise every CPU, and an environment may
///   pin Haswell on an AVX-512 machine);
/// - `OPENBLAS_THREAD_TIMEOUT=4` when unset: OpenBLAS's idle threads otherwise spin for
///   a long while after each call and halve the speed of Tapestry's own threaded kernels
///   (im2col, the Swift gemm) that run right after it.
///
/// Set `TAPESTRY_KEEP_OPENBLAS_ENV=1` to leave the environment alone.
enum FastPath {
    static func ensureOpenBLASKernelsMatchTheCPU() {
        #if OpenBLAS
        let environment = ProcessInfo.processInfo.environment
        guard environment["TAPESTRY_KEEP_OPENBLAS_ENV"] == nil else { return }
        var changes: [(String, String)] = []
        if let better = OpenBLASCore.upgrade(running: backend.coreName, cpuFlags: OpenBLASCore.cpuFlags) {
            changes.append(("OPENBLAS_CORETYPE", better))
        }
        if environment["OPENBLAS_THREAD_TIMEOUT"] == nil { changes.append(("OPENBLAS_THREAD_TIMEOUT", "4")) }
        guard !changes.isEmpty else { return }
        for (name, value) in changes { setenv(name, value, 1) }
        setenv("TAPESTRY_KEEP_OPENBLAS_ENV", "1", 1)   // never loop
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", arguments)
        // execv only returns on failure: carry on with the kernels we have.
        #endif
    }
}
