import Dispatch
import Foundation
import Synchronization

/// Runs a handler for each delivery of some signals, in place of their default action, until
/// cancelled. The one place the commands take over SIGINT or SIGTERM: training stops after the
/// current step, merge cleans up its temporary files, the server ends its generations.
/// (Unchecked: the sources are set once, and cancelling a dispatch source is thread-safe.)
final class SignalWatch: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    private let numbers: [Int32]

    /// Starts watching `numbers`; `handler` gets the signal's number on a global queue.
    init(_ numbers: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        self.numbers = numbers
        sources = numbers.map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handler(number) }
            source.resume()
            return source
        }
    }

    /// Stops watching and gives the signals their default action back.
    func cancel() {
        for source in sources { source.cancel() }
        for number in numbers { signal(number, SIG_DFL) }
    }
}

/// Ctrl-C (or SIGTERM, as `docker stop` and systemd send) during training: the first asks the
/// run to stop after the current step (a checkpoint and the adapter are written), a second
/// quits at once.
final class Interrupt: Sendable {
    /// Ctrl-C presses seen, in a class of its own so the handler can hold it before `self` exists.
    private final class Presses: Sendable {
        let count = Atomic(0)
    }

    private let presses = Presses()
    private let watch: SignalWatch

    init() {
        let presses = presses
        watch = SignalWatch([SIGINT, SIGTERM]) { _ in
            if presses.count.add(1, ordering: .sequentiallyConsistent).newValue == 1 {
                log("\nstopping after this step (Ctrl-C again to quit at once)")
            } else {
                log("quit")
                exit(130)
            }
        }
    }

    /// Whether Ctrl-C has been pressed.
    var requested: Bool { presses.count.load(ordering: .sequentiallyConsistent) > 0 }

    /// Gives SIGINT and SIGTERM their default actions back.
    func restore() { watch.cancel() }
}
