import Foundation
import Synchronization

/// The signal that asked for a stop (0: none yet).
private let receivedSignal = Atomic<Int32>(0)

/// Stopping a training run: Ctrl-C (SIGINT), or a cluster or container stopping the job
/// (SIGTERM, SIGHUP). The first signal asks the trainer to finish its step, save a
/// checkpoint and stop; a second one quits at once.
public enum Interrupt {
    /// Installs the handler for SIGINT, SIGTERM and SIGHUP.
    public static func install() {
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber) { received in
                if receivedSignal.exchange(received, ordering: .relaxed) != 0 { _exit(128 + received) }
                let message = "\ninterrupted: finishing this step and saving a checkpoint (a second signal quits at once)\n"
                message.withCString { _ = write(2, $0, strlen($0)) }
            }
        }
    }

    /// Whether a stop was asked for.
    public static var requested: Bool { receivedSignal.load(ordering: .relaxed) != 0 }

    /// The exit status a process stopped this way reports: 128 + the signal's number, as
    /// a shell does (130 for Ctrl-C, 143 for SIGTERM).
    public static var exitStatus: Int32 { 128 + (requested ? receivedSignal.load(ordering: .relaxed) : SIGINT) }
}
