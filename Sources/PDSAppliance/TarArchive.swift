import Foundation

/// A POSIX ustar archive written and read as a stream (https://pubs.opengroup.org/onlinepubs/9699919799/utilities/pax.html#tag_20_92_13_06),
/// for `pds export --to FILE.tar`: regular files only, names under 100 bytes, as GNU and BSD
/// `tar` read them.
enum TarArchive {
    static let blockSize = 512

    /// The 512-byte header of a regular file.
    static func header(name: String, size: Int, modified: Date = Date()) throws -> [UInt8] {
        let nameBytes = Array(name.utf8)
        guard !nameBytes.isEmpty, nameBytes.count < 100 else { throw ExportError("tar entry name too long: \(name)") }
        var header = [UInt8](repeating: 0, count: blockSize)
        func put(_ bytes: [UInt8], at offset: Int) { header.replaceSubrange(offset..<(offset + bytes.count), with: bytes) }
        func octal(_ value: Int, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
        }
        put(nameBytes, at: 0)
        put(octal(0o644, width: 8), at: 100)  // mode
        put(octal(0, width: 8), at: 108)  // uid
        put(octal(0, width: 8), at: 116)  // gid
        put(octal(size, width: 12), at: 124)
        put(octal(Int(modified.timeIntervalSince1970), width: 12), at: 136)
        put(Array("        ".utf8), at: 148)  // checksum counted as spaces
        header[156] = UInt8(ascii: "0")  // regular file
        put(Array("ustar\u{0}00".utf8), at: 257)
        let checksum = header.reduce(0) { $0 + Int($1) }
        put(octal(checksum, width: 7) + [UInt8(ascii: " ")], at: 148)
        return header
    }

    /// Zero bytes that pad `size` to a whole block.
    static func padding(after size: Int) -> [UInt8] {
        [UInt8](repeating: 0, count: (blockSize - size % blockSize) % blockSize)
    }

    /// The archive's end: two zero blocks.
    static let end = [UInt8](repeating: 0, count: 2 * blockSize)

    /// Reads each entry's name and size from `handle`, handing the entry's bytes to `body` in
    /// chunks; checks every header's checksum.
    static func read(_ handle: FileHandle, _ body: (_ name: String, _ size: Int, _ chunks: () throws -> [UInt8]?) throws -> Void) throws {
        while true {
            guard let header = try handle.read(upToCount: blockSize), header.count == blockSize else {
                throw ExportError("tar archive ends without its end blocks")
            }
            let bytes = Array(header)
            if bytes.allSatisfy({ $0 == 0 }) { return }
            var summed = bytes
            summed.replaceSubrange(148..<156, with: Array("        ".utf8))
            guard field(bytes, 148, 8).flatMap({ Int($0, radix: 8) }) == summed.reduce(0, { $0 + Int($1) }) else {
                throw ExportError("tar header checksum mismatch")
            }
            guard let name = field(bytes, 0, 100), let size = field(bytes, 124, 12).flatMap({ Int($0, radix: 8) }) else {
                throw ExportError("unreadable tar header")
            }
            var remaining = size
            try body(name, size) {
                guard remaining > 0 else { return nil }
                guard let data = try handle.read(upToCount: min(remaining, 1 << 16)), !data.isEmpty else {
                    throw ExportError("tar entry \(name) is truncated")
                }
                remaining -= data.count
                return Array(data)
            }
            // Skip what the reader left, then the padding.
            while remaining > 0 {
                guard let data = try handle.read(upToCount: min(remaining, 1 << 16)), !data.isEmpty else {
                    throw ExportError("tar entry \(name) is truncated")
                }
                remaining -= data.count
            }
            _ = try handle.read(upToCount: padding(after: size).count)
        }
    }

    /// A NUL- or space-terminated text field.
    static func field(_ header: [UInt8], _ offset: Int, _ length: Int) -> String? {
        let raw = header[offset..<(offset + length)].prefix { $0 != 0 }
        let text = String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        return text.isEmpty ? nil : text
    }
}

/// Why an export could not be written or does not verify, as one line.
public struct ExportError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
