import Foundation
import Synchronization

private let interruptRequested = Atomic<Bool>(false)

/// Ctrl-C during training: the first SIGINT asks the trainer to finish its step, save a
/// checkpoint and stop; a second one quits at once.
public enum Interrupt {
    /// Installs the SIGINT handler.
    public static func install() {
        signal(SIGINT) { _ in
            if interruptRequested.exchange(true, ordering: .relaxed) { _exit(130) }
            let message = "\ninterrupted: finishing this step and saving a checkpoint (Ctrl-C again quits at once)\n"
            message.withCString { _ = write(2, $0, strlen($0)) }
        }
    }

    /// Whether Ctrl-C was pressed.
    public static var requested: Bool { interruptRequested.load(ordering: .relaxed) }
}
