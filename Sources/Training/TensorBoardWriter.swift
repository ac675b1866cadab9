import Foundation

/// Scalar summaries in TensorBoard's event-file format, written without protobuf.
///
/// An event file is a sequence of TFRecords: a little-endian UInt64 length, the masked
/// CRC-32C of those 8 bytes, the payload, and the payload's masked CRC-32C. Each payload is
/// a serialized `tensorflow.Event` — wall_time (field 1, double), step (field 2, int64) and
/// either file_version (field 3, the first record) or a `Summary` (field 5) holding one
/// `Value` with tag (field 1) and simple_value (field 2, float).
public final class TensorBoardWriter {
    public let path: String
    private let handle: FileHandle

    /// Creates `events.out.tfevents.<time>.<host>` in `directory`.
    public init(directory: String, now: Date = Date()) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let name = "events.out.tfevents.\(Int(now.timeIntervalSince1970)).\(ProcessInfo.processInfo.hostName)"
        path = (directory as NSString).appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try writeRecord(Self.event(wallTime: now.timeIntervalSince1970, step: 0, body: Protobuf.field(3, string: "brain.Event:2")))
    }

    deinit { try? handle.close() }

    /// Appends one scalar per (tag, value) at `step`.
    public func add(step: Int, _ scalars: [String: Double], wallTime: Double = Date().timeIntervalSince1970) throws {
        for (tag, value) in scalars.sorted(by: { $0.key < $1.key }) {
            let summaryValue = Protobuf.field(1, string: tag) + Protobuf.field(2, float: Float(value))
            try writeRecord(Self.event(wallTime: wallTime, step: step, body: Protobuf.field(5, message: Protobuf.field(1, message: summaryValue))))
        }
        try handle.synchronize()
    }

    static func event(wallTime: Double, step: Int, body: [UInt8]) -> [UInt8] {
        Protobuf.field(1, double: wallTime) + Protobuf.field(2, varint: UInt64(bitPattern: Int64(step))) + body
    }

    func writeRecord(_ payload: [UInt8]) throws {
        try handle.write(contentsOf: Data(Self.record(payload)))
    }

    /// One TFRecord around `payload`.
    static func record(_ payload: [UInt8]) -> [UInt8] {
        let length = littleEndian(UInt64(payload.count))
        return length + littleEndian(CRC32C.masked(length)) + payload + littleEndian(CRC32C.masked(payload))
    }

    static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }
}

/// The few protobuf wire-format encodings an event needs.
enum Protobuf {
    static func varint(_ value: UInt64) -> [UInt8] {
        var v = value, out: [UInt8] = []
        repeat {
            let byte = UInt8(v & 0x7F)
            v >>= 7
            out.append(v == 0 ? byte : byte | 0x80)
        } while v != 0
        return out
    }

    static func field(_ number: Int, varint value: UInt64) -> [UInt8] { varint(UInt64(number << 3)) + varint(value) }
    static func field(_ number: Int, double value: Double) -> [UInt8] {
        varint(UInt64(number << 3 | 1)) + TensorBoardWriter.littleEndian(value.bitPattern)
    }
    static func field(_ number: Int, float value: Float) -> [UInt8] {
        varint(UInt64(number << 3 | 5)) + TensorBoardWriter.littleEndian(value.bitPattern)
    }
    static func field(_ number: Int, message bytes: [UInt8]) -> [UInt8] {
        varint(UInt64(number << 3 | 2)) + varint(UInt64(bytes.count)) + bytes
    }
    static func field(_ number: Int, string: String) -> [UInt8] { field(number, message: Array(string.utf8)) }
}

/// CRC-32C (Castagnoli), as TFRecords use it, with TensorFlow's masking.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// ((crc >> 15) | (crc << 17)) + 0xa282ead8.
    static func masked(_ bytes: [UInt8]) -> UInt32 {
        let crc = checksum(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}
