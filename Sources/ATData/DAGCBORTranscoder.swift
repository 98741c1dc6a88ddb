import Multiformats

/// DAG-CBOR bytes straight to atproto JSON bytes, with no `DataValue` tree in between.
///
/// The output is byte for byte what `JSONWriter.write(DAGCBOR.decode(cbor))` writes: links as
/// `{"$link":"b…"}`, bytes as `{"$bytes":"…"}` (standard base64, unpadded), map keys in bytewise
/// UTF-8 order. The input is checked as strictly as `DAGCBOR.decode` checks it (canonical heads
/// and key order, tag 42 only, valid CIDs and UTF-8, no floats, the same limits, no trailing
/// bytes), and is refused where the decoder refuses it; when an input has several faults the
/// error reported may be a different one of them, since map values are read in JSON key order.
///
/// Maps are read twice: a first pass over the keys checks their canonical order and skips each
/// value (heads only) to note where it starts, then the values are written in JSON key order.
/// A value nested n maps deep is thus skipped n times, which for records (a few levels) costs
/// less than building and sorting a dictionary per map.
public struct DAGCBORTranscoder {
    var reader: CBORReader
    var output: JSONWriter

    /// The JSON of the one item spanning `cbor`.
    public static func json(_ cbor: [UInt8], limits: DAGCBOR.Limits = .default) throws(DataError) -> [UInt8] {
        var writer = JSONWriter(capacity: cbor.count + cbor.count / 2 + 16)
        try appendJSON(of: cbor, to: &writer, limits: limits)
        return writer.bytes
    }

    /// Appends the JSON of the one item spanning `cbor` to `writer`. On error, `writer` may hold
    /// part of the value.
    public static func appendJSON(of cbor: [UInt8], to writer: inout JSONWriter, limits: DAGCBOR.Limits = .default) throws(DataError) {
        guard cbor.count <= limits.maxInputSize else { throw .limitExceeded("input larger than \(limits.maxInputSize) bytes") }
        try cbor.withUnsafeBufferPointer { buffer throws(DataError) in
            // The writer's buffer moves into the transcoder and back, so it is never copied.
            var transcoder = DAGCBORTranscoder(reader: CBORReader(buffer: buffer, limits: limits), output: writer)
            writer = JSONWriter(capacity: 0)
            defer { writer = transcoder.output }
            try transcoder.value(depth: 0)
            guard transcoder.reader.position == buffer.count else { throw .trailingBytes }
        }
    }

    mutating func value(depth: Int) throws(DataError) {
        let (major, argument) = try reader.readHead()
        switch major {
        case 0:
            guard argument <= UInt64(Int64.max) else { throw .integerOutOfRange }
            output.write(integer: Int64(argument))
        case 1:
            guard argument <= UInt64(Int64.max) else { throw .integerOutOfRange }
            output.write(integer: -1 - Int64(argument))
        case 2:
            output.write(bytesObject: try span(length: try reader.length(argument, unitSize: 1)))
        case 3:
            try text(length: try reader.length(argument, unitSize: 1))
        case 4:
            let count = try containerLength(argument, depth: depth, kind: "array", unitSize: 1)
            output.writeRaw("[")
            for index in 0..<count {
                if index > 0 { output.writeRaw(",") }
                try value(depth: depth + 1)
            }
            output.writeRaw("]")
        case 5:
            try map(count: try containerLength(argument, depth: depth, kind: "map", unitSize: 2), depth: depth)
        case 6:
            output.write(linkObject: try link(tag: argument))
        default:
            try simple(argument)
        }
    }

    /// The next `length` bytes, consumed.
    mutating func span(length: Int) throws(DataError) -> UnsafeBufferPointer<UInt8> {
        let bytes = UnsafeBufferPointer(rebasing: reader.buffer[reader.position..<(reader.position + length)])
        reader.position += length
        return bytes
    }

    /// A text string's bytes (checked as UTF-8), escaped and quoted.
    mutating func text(length: Int) throws(DataError) {
        let utf8 = try span(length: length)
        guard utf8.isWellFormedUTF8 else { throw .invalidUTF8 }
        output.write(utf8: utf8)
    }

    /// An array's or map's length, checked against the depth and length limits as the decoder checks them.
    mutating func containerLength(_ argument: UInt64, depth: Int, kind: StaticString, unitSize: Int) throws(DataError) -> Int {
        guard depth < reader.limits.maxDepth else { throw .limitExceeded("nesting deeper than \(reader.limits.maxDepth)") }
        guard argument <= UInt64(reader.limits.maxContainerLength) else {
            throw .limitExceeded("\(kind) longer than \(reader.limits.maxContainerLength)")
        }
        return try reader.length(argument, unitSize: unitSize)
    }

    /// A tag-42 link's binary CID (after its 0x00 prefix), checked as `CID(bytes:)` checks it.
    mutating func link(tag: UInt64) throws(DataError) -> UnsafeBufferPointer<UInt8> {
        guard tag == 42 else { throw .forbidden("tag \(tag) (only tag 42 is allowed)") }
        let (innerMajor, innerArgument) = try reader.readHead()
        guard innerMajor == 2 else { throw .invalidCID("tag 42 must wrap a byte string") }
        let count = try reader.length(innerArgument, unitSize: 1)
        guard count >= 1, reader.buffer[reader.position] == 0 else { throw .invalidCID("tag 42 bytes must start with 0x00") }
        let cid = UnsafeBufferPointer(rebasing: try span(length: count)[1...])
        try CID.Shape.check(cid)
        return cid
    }

    /// `false`, `true` or `null`; every other major-type-7 item is refused, as by the decoder.
    mutating func simple(_ argument: UInt64) throws(DataError) {
        switch argument {
        case 20: output.writeRaw("false")
        case 21: output.writeRaw("true")
        case 22: output.writeRaw("null")
        case 25, 26, 27: throw .forbidden("floating-point numbers")
        case 23: throw .forbidden("the undefined value")
        case 31: throw .forbidden("the break code")
        default: throw .forbidden("simple value \(argument)")
        }
    }

    /// Where a map entry's key and value start.
    struct Entry {
        var keyStart: Int
        var keyLength: Int
        var valueStart: Int
    }

    /// A map of `count` entries: keys checked in canonical order, written in bytewise order.
    mutating func map(count: Int, depth: Int) throws(DataError) {
        guard count > 0 else { return output.writeRaw("{}") }
        let result = withUnsafeTemporaryAllocation(of: Entry.self, capacity: count) { entries in
            Result { () throws(DataError) in try map(entries: entries, depth: depth) }
        }
        try result.get()
    }

    mutating func map(entries: consuming UnsafeMutableBufferPointer<Entry>, depth: Int) throws(DataError) {
        let buffer = reader.buffer
        for index in 0..<entries.count {
            let (keyMajor, keyArgument) = try reader.readHead()
            guard keyMajor == 3 else { throw .badMapKey("map keys must be text strings") }
            let keyLength = try reader.length(keyArgument, unitSize: 1)
            let entry = Entry(keyStart: reader.position, keyLength: keyLength, valueStart: reader.position + keyLength)
            if index > 0 {
                // Canonical order is strict: equal keys (duplicates) fail here too.
                let previous = entries[index - 1]
                let previousKey = UnsafeBufferPointer(rebasing: buffer[previous.keyStart..<(previous.keyStart + previous.keyLength)])
                let key = UnsafeBufferPointer(rebasing: buffer[entry.keyStart..<entry.valueStart])
                let ordered = previous.keyLength != keyLength ? previous.keyLength < keyLength : previousKey.lexicographicallyPrecedes(key)
                guard ordered else {
                    throw previousKey.elementsEqual(key) ? .badMapKey("duplicate key") : .badMapKey("keys out of canonical order")
                }
            }
            entries[index] = entry
            reader.position = entry.valueStart
            try skip(depth: depth + 1)
        }
        let end = reader.position
        // JSON order is bytewise; canonical order differs only between keys of different lengths.
        entries.sort { left, right in
            UnsafeBufferPointer(rebasing: buffer[left.keyStart..<(left.keyStart + left.keyLength)])
                .lexicographicallyPrecedes(UnsafeBufferPointer(rebasing: buffer[right.keyStart..<(right.keyStart + right.keyLength)]))
        }
        output.writeRaw("{")
        for index in 0..<entries.count {
            if index > 0 { output.writeRaw(",") }
            reader.position = entries[index].keyStart
            try text(length: entries[index].keyLength)
            output.writeRaw(":")
            try value(depth: depth + 1)
        }
        output.writeRaw("}")
        reader.position = end
    }

    /// Steps over one item, reading only its heads (its contents are checked when it is written).
    mutating func skip(depth: Int) throws(DataError) {
        let (major, argument) = try reader.readHead()
        switch major {
        case 0, 1:
            return
        case 2, 3:
            reader.position += try reader.length(argument, unitSize: 1)
        case 4, 5:
            let count = try containerLength(argument, depth: depth, kind: major == 4 ? "array" : "map", unitSize: major == 4 ? 1 : 2)
            for _ in 0..<(major == 4 ? count : 2 * count) { try skip(depth: depth + 1) }
        case 6:
            _ = try link(tag: argument)
        default:
            // Floats must be refused here: readHead leaves the bytes after their head unread.
            if !(20...22).contains(argument) { try simple(argument) }
        }
    }
}
