import Foundation
import Testing
@testable import Training

@Suite struct Metrics {
    func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tapestry-metrics-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func crc32cAndVarintsMatchTheirSpecifications() {
        // The CRC-32C check value of "123456789" (RFC 3720, appendix B.4).
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        // Protobuf's own example: 300 → AC 02.
        #expect(Protobuf.varint(300) == [0xAC, 0x02] && Protobuf.varint(0) == [0] && Protobuf.varint(127) == [0x7F])
    }

    @Test func scalarEventsAreFramedTFRecords() throws {
        // Event{wall_time 0, step 3, summary{value{tag "loss", simple_value 1.5}}}, assembled by hand:
        let value: [UInt8] = [0x0A, 0x04] + Array("loss".utf8) + [0x15, 0x00, 0x00, 0xC0, 0x3F]
        let summary: [UInt8] = [0x0A, UInt8(value.count)] + value
        let event: [UInt8] = [0x09] + [UInt8](repeating: 0, count: 8) + [0x10, 0x03] + [0x2A, UInt8(summary.count)] + summary
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = try TensorBoardWriter(directory: directory)
        try writer.add(step: 3, ["loss": 1.5], wallTime: 0)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: writer.path)))
        #expect((writer.path as NSString).lastPathComponent.hasPrefix("events.out.tfevents."))
        // Walk the records, checking lengths and both CRCs.
        var offset = 0, payloads: [[UInt8]] = []
        while offset < bytes.count {
            let lengthBytes = Array(bytes[offset..<(offset + 8)])
            let length = lengthBytes.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            let lengthCRC = bytes[(offset + 8)..<(offset + 12)].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
            #expect(lengthCRC == CRC32C.masked(lengthBytes))
            let payload = Array(bytes[(offset + 12)..<(offset + 12 + length)])
            let payloadCRC = bytes[(offset + 12 + length)..<(offset + 16 + length)].enumerated()
                .reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
            #expect(payloadCRC == CRC32C.masked(payload))
            payloads.append(payload)
            offset += 16 + length
        }
        #expect(offset == bytes.count && payloads.count == 2)
        #expect(payloads[0].suffix(15) == [0x1A, 0x0D] + Array("brain.Event:2".utf8), "the first record names the file version")
        #expect(payloads[1] == event)
    }

    @Test func jsonLinesAppendAndStayValid() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/metrics.jsonl"
        try MetricsLog(path: path).write(step: 1, ["loss": 2.5, "lr": 1e-4])
        try MetricsLog(path: path).write(step: 2, ["loss": .nan])
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        #expect(first["step"] as? Int == 1 && first["loss"] as? Double == 2.5 && first["lr"] as? Double == 1e-4)
        let second = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as! [String: Any]
        #expect(second["loss"] as? String == "nan")
    }
}

@Suite struct MetricsReading {
    @Test func recordsComeBackWithNonFiniteValuesAndCutLinesPassedOver() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try MetricsLog(path: path)
        try log.write(step: 10, ["train/loss": 2.5, "train/grad_norm": .nan])
        try log.write(step: 20, ["train/loss": 1.25, "eval/AP": .infinity])
        try Data("{\"step\":30,\"train/lo".utf8).append(to: path)
        let (records, skipped) = try MetricsLog.read(path)
        #expect(skipped == 1 && records.map(\.step) == [10, 20])
        #expect(records[0].values["train/loss"] == 2.5 && records[0].values["train/grad_norm"]!.isNaN)
        #expect(records[1].values["eval/AP"] == .infinity && records[1].values["train/loss"] == 1.25)
        #expect(throws: MetricsLogError.self) { try MetricsLog.read(path + ".missing") }
    }
}

extension Data {
    /// Appends these bytes to the file at `path` (as a crash mid-write would leave them).
    func append(to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: self)
    }
}
