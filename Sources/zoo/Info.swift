import ArgumentParser
import Tapestry

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the version, the compute backend and the thread counts.")

    func run() {
        print("Tapestry \(BuildInfo.version)")
        print("backend:          \(BuildInfo.backendSummary)")
        print("kernel threads:   \(Parallel.threadCount) (set TAPESTRY_NUM_THREADS to change)")
        print("fused multiply-add in Swift kernels: \(BuildInfo.fusedMultiplyAdd ? "yes" : "no (build with `make` for the fast path)")")
        print("subnormal numbers: flushed to zero by zoo train and zoo bench model (--keep-subnormals keeps them), kept elsewhere")
        if let warning = OpenBLASCore.warning { print("warning: \(warning)") }
    }
}
