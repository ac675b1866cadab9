/// Stops the program with `message` when `condition` is false.
///
/// Like `precondition`, but the message is printed in release builds too (Swift drops
/// `precondition` messages under -O), so a user who passes a wrong shape learns which
/// operation complained and why.
@inline(__always)
package func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
           file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}
