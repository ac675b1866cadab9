/// The entries of a zip archive as `torch.save` writes it: stored (uncompressed) files, in
/// the ZIP64 form when the archive is large (APPNOTE.TXT, sections 4.3 and 4.5).
///
/// Every offset and size comes from the file and is checked against the file before it is
/// used, so a damaged or hostile archive is an error, never a read past the end. Compressed
/// entries, which torch.save never writes, are refused by name.
struct StoredZip {
    /// Entry name → the range of its bytes.
    private(set) var entries: [String: Range<Int>] = [:]
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) throws(StoredZipError) {
        self.bytes = bytes
        let end = try Self.endOfCentralDirectory(bytes)
        var (count, directorySize, directoryOffset) = (Int(read16(end + 10)), Int(read32(end + 12)), Int(read32(end + 16)))
        if directoryOffset == 0xFFFF_FFFF || count == 0xFFFF || directorySize == 0xFFFF_FFFF {
            // ZIP64: a locator just before the end record points at the ZIP64 end record.
            guard end >= 20, read32(end - 20) == 0x0706_4b50 else { throw .damaged("a ZIP64 archive without its locator") }
            let record = try offset(read64(end - 12), length: 56, "the ZIP64 end record")
            guard read32(record) == 0x0606_4b50 else { throw .damaged("the ZIP64 end record's signature is wrong") }
            count = try small(read64(record + 32), "the entry count")
            directorySize = try small(read64(record + 40), "the central directory's size")
            directoryOffset = try small(read64(record + 48), "the central directory's offset")
        }
        var position = try offset(UInt64(directoryOffset), length: directorySize, "the central directory")
        for _ in 0..<count {
            _ = try offset(UInt64(position), length: 46, "a central directory entry")
            guard read32(position) == 0x0201_4b50 else { throw .damaged("a central directory entry's signature is wrong") }
            let method = read16(position + 10)
            var (compressed, uncompressed, local) = (UInt64(read32(position + 20)), UInt64(read32(position + 24)), UInt64(read32(position + 42)))
            let (nameLength, extraLength, commentLength) = (Int(read16(position + 28)), Int(read16(position + 30)), Int(read16(position + 32)))
            let nameStart = try offset(UInt64(position + 46), length: nameLength + extraLength + commentLength, "an entry's name")
            let name = String(decoding: bytes[nameStart..<(nameStart + nameLength)], as: UTF8.self)
            // ZIP64 extra field (id 1): the 8-byte values of the fields that overflowed, in order.
            var extra = nameStart + nameLength
            while extra + 4 <= nameStart + nameLength + extraLength {
                let (id, size) = (read16(extra), Int(read16(extra + 2)))
                var field = extra + 4
                if id == 1 {
                    var values = [uncompressed, compressed, local]
                    for i in values.indices where values[i] == 0xFFFF_FFFF {
                        guard field + 8 <= extra + 4 + size, field + 8 <= bytes.count else { throw .damaged("entry \(name)'s ZIP64 field is short") }
                        values[i] = read64(field)
                        field += 8
                    }
                    (uncompressed, compressed, local) = (values[0], values[1], values[2])
                }
                extra += 4 + size
            }
            guard method == 0 else { throw .compressed(name) }
            guard compressed == uncompressed else { throw .damaged("stored entry \(name) has two different sizes") }
            let header = try offset(local, length: 30, "entry \(name)'s local header")
            guard read32(header) == 0x0403_4b50 else { throw .damaged("entry \(name)'s local header signature is wrong") }
            let dataStart = header + 30 + Int(read16(header + 26)) + Int(read16(header + 28))
            let start = try offset(UInt64(dataStart), length: try small(compressed, "entry \(name)'s size"), "entry \(name)'s data")
            entries[name] = start..<(start + Int(compressed))
            position = nameStart + nameLength + extraLength + commentLength
        }
    }

    subscript(name: String) -> [UInt8]? { entries[name].map { Array(bytes[$0]) } }

    /// The end-of-central-directory record: the last signature within the final 64 KiB + 22 bytes.
    private static func endOfCentralDirectory(_ bytes: [UInt8]) throws(StoredZipError) -> Int {
        guard bytes.count >= 22 else { throw .damaged("too short to be a zip archive") }
        let lowest = Swift.max(0, bytes.count - 22 - 0xFFFF)
        for candidate in stride(from: bytes.count - 22, through: lowest, by: -1)
        where bytes[candidate] == 0x50 && bytes[candidate + 1] == 0x4b && bytes[candidate + 2] == 5 && bytes[candidate + 3] == 6 {
            return candidate
        }
        throw .damaged("no end-of-central-directory record (truncated)")
    }

    /// `value` as a position from which `length` bytes lie inside the file.
    private func offset(_ value: UInt64, length: Int, _ what: String) throws(StoredZipError) -> Int {
        guard length >= 0, value <= UInt64(bytes.count), UInt64(length) <= UInt64(bytes.count) - value else {
            throw .damaged("\(what) lies outside the file")
        }
        return Int(value)
    }

    private func small(_ value: UInt64, _ what: String) throws(StoredZipError) -> Int {
        guard value <= UInt64(bytes.count) else { throw .damaged("\(what) is larger than the file") }
        return Int(value)
    }

    private func read16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
    private func read32(_ at: Int) -> UInt32 { UInt32(read16(at)) | UInt32(read16(at + 2)) << 16 }
    private func read64(_ at: Int) -> UInt64 { UInt64(read32(at)) | UInt64(read32(at + 4)) << 32 }
}

enum StoredZipError: Error, CustomStringConvertible {
    case damaged(String)
    case compressed(String)

    var description: String {
        switch self {
        case .damaged(let why): return "is a damaged zip archive: \(why)"
        case .compressed(let name): return "holds compressed entry \(name), which torch.save never writes"
        }
    }
}
