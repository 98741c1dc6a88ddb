import ATCrypto
import ATData
import ATRepo
@testable import ATSync
import Testing

/// The event-stream frame codec (https://atproto.com/specs/event-stream): header bytes as the spec
/// gives them, bodies as the subscribeRepos Lexicon names them, and encode → decode round trips.
@Suite struct RepoEventTests {
    static let did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
    static let time = "2026-11-22T00:00:00.000Z"

    static func signedCommit() throws -> SignedCommit {
        let key = K256PrivateKey()
        return try SignedCommit.create(did: did, data: CID.dagCBOR(hashing: [0xa0]), rev: "3lbgzkqyyyc2a", key: key)
    }

    static func events() throws -> [RepoEvent] {
        let commit = try signedCommit()
        let record = CID.dagCBOR(hashing: Array("record".utf8)), old = CID.dagCBOR(hashing: Array("old".utf8))
        return [
            .commit(.init(repo: did, commit: commit, since: "3lbgzkqyyyc22", carSlice: [1, 2, 3],
                          ops: [.create("app.bsky.feed.post/a", record), .update("app.bsky.feed.post/b", record, prev: old),
                                .delete("app.bsky.feed.post/c", prev: old)],
                          prevData: old, time: time)),
            .commit(.init(repo: did, commit: commit, since: nil, carSlice: [], ops: [], prevData: nil, time: time)),
            .sync(.init(did: did, commit: commit, time: time)),
            .identity(.init(did: did, handle: "alice.test", time: time)),
            .identity(.init(did: did, handle: nil, time: time)),
            .account(.init(did: did, active: true, status: nil, time: time)),
            .account(.init(did: did, active: false, status: "deactivated", time: time)),
        ]
    }

    @Test func eventsRoundTrip() throws {
        for (index, event) in try Self.events().enumerated() {
            let seq = Int64(index + 1) * 1000
            let frame = event.encode(seq: seq)
            let decoded = try RepoEvent.decode(frame)
            #expect(decoded.seq == seq)
            #expect(decoded.event == event)
            #expect(try StreamFrame.decode(frame) == .event(seq: seq, event))
            #expect(StreamFrame.event(seq: seq, event).encode() == frame)
        }
    }

    @Test func messageHeaderIsOpOneAndType() throws {
        let frame = RepoEvent.identity(.init(did: Self.did, handle: nil, time: Self.time)).encode(seq: 7)
        // {t: "#identity", op: 1}: DAG-CBOR orders keys shorter first, so "t" precedes "op".
        let header: [UInt8] = [0xa2, 0x61, 0x74, 0x69] + Array("#identity".utf8) + [0x62, 0x6f, 0x70, 0x01]
        #expect(Array(frame.prefix(header.count)) == header)
        let body = try DAGCBOR.decode(frame[header.count...])
        #expect(body == ["seq": 7, "did": .string(Self.did), "time": .string(Self.time)])
    }

    @Test func commitBodyHasEveryLexiconField() throws {
        let event = try Self.events()[0]
        let frame = event.encode(seq: 42)
        let (_, headerLength) = try DAGCBOR.decodePrefix(frame[...])
        #expect(try DAGCBOR.decode(frame[..<headerLength]) == ["op": 1, "t": "#commit"])
        let body = try #require(try DAGCBOR.decode(frame[headerLength...]).mapValue)
        #expect(Set(body.keys) == ["seq", "rebase", "tooBig", "repo", "commit", "rev", "since", "blocks", "ops", "blobs", "time", "prevData"])
        #expect(body["rebase"] == false && body["tooBig"] == false && body["blobs"] == [])
        let ops = try #require(body["ops"]?.arrayValue)
        #expect(ops[0].mapValue?["prev"] == nil && ops[1].mapValue?["prev"] != nil && ops[2].mapValue?["cid"] == .null)
        // A first commit has `since: null` and no `prevData`.
        let first = try #require(try DAGCBOR.decode(try Self.events()[1].encode(seq: 1).dropFirst(headerLength)).mapValue)
        #expect(first["since"] == .null && first["prevData"] == nil)
    }

    @Test func controlFrames() throws {
        let error = StreamFrame.error(name: "FutureCursor", message: "Cursor in the future.").encode()
        // {op: -1}: the error header has no `t`.
        #expect(Array(error.prefix(5)) == [0xa1, 0x62, 0x6f, 0x70, 0x20])
        #expect(try StreamFrame.decode(error) == .error(name: "FutureCursor", message: "Cursor in the future."))
        let info = StreamFrame.info(name: "OutdatedCursor", message: nil).encode()
        #expect(try StreamFrame.decode(info) == .info(name: "OutdatedCursor", message: nil))
        #expect(throws: StreamFrameError.self) { try RepoEvent.decode(info) }
    }

    @Test func malformedFramesAreRefused() throws {
        let frame = RepoEvent.account(.init(did: Self.did, active: true, status: nil, time: Self.time)).encode(seq: 1)
        #expect(throws: StreamFrameError.self) { try StreamFrame.decode(Array(frame.dropLast())) }
        #expect(throws: StreamFrameError.self) { try StreamFrame.decode(frame + [0x00]) }
        var writer = CBORWriter()
        writer.write(.map(["op": 1, "t": "#account"]))
        writer.write(.map(["seq": 1, "did": .string(Self.did)]))
        #expect(throws: StreamFrameError.badField("active")) { try StreamFrame.decode(writer.bytes) }
    }
}
