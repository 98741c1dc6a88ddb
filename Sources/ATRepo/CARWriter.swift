import ATData
import Multiformats

/// Streaming CAR v1 writer (https://atproto.com/specs/repository): `varint(len) ‖ header` then `varint(len) ‖ cid ‖ block`
/// sections, handed to a sink in chunks so a full repository export never sits in memory.
public struct CARWriter {
    private var buffer: [UInt8]
    private let chunkSize: Int
    private let sink: ([UInt8]) throws -> Void

    /// Starts a CAR with `roots` (`roots[0]` is the commit, https://atproto.com/specs/repository). Output reaches `sink` in
    /// chunks of about `chunkSize` bytes; call `finish()` to flush the rest.
    public init(roots: [CID], chunkSize: Int = 64 * 1024, sink: @escaping ([UInt8]) throws -> Void) {
        self.chunkSize = max(chunkSize, 1)
        self.sink = sink
        buffer = CARWriter.header(roots: roots)
        buffer.reserveCapacity(self.chunkSize + 1024)
    }

    /// Appends one block section.
    public mutating func write(cid: CID, bytes: [UInt8]) throws {
        CARWriter.appendSection(cid: cid, bytes: bytes, to: &buffer)
        if buffer.count >= chunkSize { try flush() }
    }

    /// Appends one block section from a CID's binary form and the block's bytes as a store holds
    /// them (no `CID` or array made; the store checked them when they were written).
    public mutating func write(cidBytes: UnsafeRawBufferPointer, bytes: UnsafeRawBufferPointer) throws {
        Varint.encode(UInt64(cidBytes.count + bytes.count), into: &buffer)
        buffer.append(contentsOf: cidBytes)
        buffer.append(contentsOf: bytes)
        if buffer.count >= chunkSize { try flush() }
    }

    /// Appends every block of `blocks` (in CID order, so output is deterministic).
    public mutating func write(_ blocks: BlockMap) throws {
        for cid in blocks.cids.sorted() { try write(cid: cid, bytes: blocks[cid]!) }
    }

    /// Sends whatever is buffered to the sink.
    public mutating func finish() throws { try flush() }

    private mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        let chunk = buffer
        buffer.removeAll(keepingCapacity: true)
        try sink(chunk)
    }

    /// The length-prefixed header `{roots: [...], version: 1}` ("roots" sorts before "version").
    public static func header(roots: [CID]) -> [UInt8] {
        var writer = CBORWriter(capacity: 16 + roots.count * 40)
        writer.writeMapHead(count: 2)
        writer.write(text: "roots")
        writer.writeArrayHead(count: roots.count)
        for root in roots { writer.write(link: root) }
        writer.write(text: "version")
        writer.write(integer: 1)
        var out = Varint.encode(UInt64(writer.bytes.count))
        out.append(contentsOf: writer.bytes)
        return out
    }

    /// Appends `varint(len(cid) + len(bytes)) ‖ cid ‖ bytes`.
    public static func appendSection(cid: CID, bytes: [UInt8], to out: inout [UInt8]) {
        Varint.encode(UInt64(cid.bytes.count + bytes.count), into: &out)
        out.append(contentsOf: cid.bytes)
        out.append(contentsOf: bytes)
    }

    /// A whole CAR in memory (small slices, tests).
    public static func encode(roots: [CID], blocks: some Sequence<(CID, [UInt8])>) -> [UInt8] {
        var out = header(roots: roots)
        for (cid, bytes) in blocks { appendSection(cid: cid, bytes: bytes, to: &out) }
        return out
    }

    /// A whole CAR in memory with the blocks of `blocks` in CID order.
    public static func encode(roots: [CID], blocks: BlockMap) -> [UInt8] {
        encode(roots: roots, blocks: blocks.cids.sorted().map { ($0, blocks[$0]!) })
    }
}
