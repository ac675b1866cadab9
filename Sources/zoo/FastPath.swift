import Foundation
import Tapestry

/// Makes the OpenBLAS build fast without the user knowing about OpenBLAS's environment
/// variables, which OpenBLAS reads when the library loads (before `main`), so the only
/// remedy is to start again: `zoo` re-executes itself once with `OPENBLAS_CORETYPE` set
/// to the best kernels the CPU runs (`OpenBLASCore`) when OpenBLAS chose weaker ones (it
/// does not recognise every CPU, and an environment may pin Haswell on an AVX-512 machine).
///
/// Set `TAPESTRY_KEEP_OPENBLAS_ENV=1` to leave the environment alone.
enum FastPath {
    static func ensureOpenBLASKernelsMatchTheCPU() {
        #if OpenBLAS
        let environment = ProcessInfo.processInfo.environment
        guard environment["TAPESTRY_KEEP_OPENBLAS_ENV"] == nil else { return }
        guard let better = OpenBLASCore.upgrade(running: backend.coreName, cpuFlags: OpenBLASCore.cpuFlags) else { return }
        setenv("OPENBLAS_CORETYPE", better, 1)
        setenv("TAPESTRY_KEEP_OPENBLAS_ENV", "1", 1)   // never loop
        let arguments = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", arguments)
        // execv only returns on failure: carry on with the kernels we have.
        #endif
    }
}
