import ATData
import ATRepo
import Foundation
import PDSServer
import PDSStore
import Testing

/// `com.atproto.sync.subscribeRepos` over a real WebSocket on a loopback port (ATPROTO.md §12–13).
@Suite("Firehose", .serialized)
struct FirehoseTests {
    /// Waits until the hub has `count` subscribers whose start position is settled.
    func waitForSubscribers(_ server: FirehoseTestServer, _ count: Int) async throws {
        #expect(try await eventually { server.state.firehose.subscriberCount == count })
        // Registration precedes the read of the start position; give that read time to finish so
        // a live-only subscriber's "now" is before the next write.
        try await Task.sleep(for: .milliseconds(200))
    }

    @Test("live-only subscriber sees new commits and nothing older")
    func liveOnly() async throws {
        let server = try await FirehoseTestServer.start()
        let before = try await server.highWaterMark()
        #expect(before == 4)  // account creation: #identity, #account, #commit, #sync
        let client = try FirehoseTestClient(port: server.port)
        try await waitForSubscribers(server, 1)
        let post = try await server.createPost("hello firehose")
        let events = try await client.events(1)
        #expect(events[0].type == "#commit")
        #expect(events[0].seq == before + 1)
        let ops = events[0].body["ops"]?.arrayValue ?? []
        #expect(ops.count == 1)
        #expect(ops.first?["path"]?.stringValue == "app.bsky.feed.post/\(post.rkey)")
        #expect(ops.first?["cid"]?.linkValue == post.cid)
        client.close()
        #expect(try await client.nextFrame().isClose(1000))
        await server.stop()
    }

    @Test("cursor=0 replays everything in order, then live with no gap or duplicate during concurrent writes")
    func replayThenLive() async throws {
        let server = try await FirehoseTestServer.start()
        var rkeys: [String] = []
        for index in 0..<30 { rkeys.append(try await server.createPost("before \(index)").rkey) }
        // Writes continue while the subscriber replays: creates, updates and deletes.
        let writer = Task {
            for index in 0..<40 {
                switch (index % 4, index < rkeys.count) {
                case (1, true): _ = try await server.updatePost(rkey: rkeys[index], text: "updated \(index)")
                case (3, true): try await server.deletePost(rkey: rkeys[index])
                default: try await server.createPost("during \(index)")
                }
            }
        }
        let client = try FirehoseTestClient(port: server.port, cursor: 0)
        try await writer.value
        let total = Int(try await server.highWaterMark())
        #expect(total == 4 + 30 + 40)
        let events = try await client.events(total)
        #expect(events.map(\.seq) == Array(1...Int64(total)))
        #expect(events.prefix(4).map(\.type) == ["#identity", "#account", "#commit", "#sync"])
        try checkCommitChain(events, did: try server.state.accounts.account()!.did)
        // Nothing beyond the log.
        #expect(try await client.next(timeout: .milliseconds(300)) == nil)
        await server.stop()
    }

    /// Commits delete the blocks they replace (issue 16), yet a replay from storage must send each
    /// frame exactly as it went out live: its CAR slice holds MST nodes and records no longer in
    /// the repository (docs/ARCHITECTURE.md, "Blocks": the window keeps them in the frames).
    @Test("frames replayed from storage are byte for byte the frames sent live, after their blocks were collected")
    func replayIsByteIdentical() async throws {
        let server = try await FirehoseTestServer.start()
        let start = try await server.highWaterMark()
        let live = try FirehoseTestClient(port: server.port)
        try await waitForSubscribers(server, 1)
        var rkeys: [String] = []
        for index in 0..<12 { rkeys.append(try await server.createPost("live \(index)").rkey) }
        for rkey in rkeys.prefix(4) { _ = try await server.updatePost(rkey: rkey, text: "edited") }
        for rkey in rkeys.suffix(4) { try await server.deletePost(rkey: rkey) }
        let count = Int(try await server.highWaterMark() - start)
        let sent = try await live.events(count)
        // More commits replace every node those frames carried.
        for index in 0..<8 { try await server.createPost("later \(index)") }
        let replay = try FirehoseTestClient(port: server.port, cursor: start)
        let replayed = try await replay.events(count)
        #expect(replayed.map(\.seq) == sent.map(\.seq))
        #expect(replayed.map(\.bytes) == sent.map(\.bytes))
        // The frames' blocks are gone from the repository: the replay did not read them there.
        let store = RepositoryStore(database: server.state.database)
        let firstSlice = try CARReader.read(try #require(sent.first?.body["blocks"]?.bytesValue))
        let gone = try firstSlice.blocks.filter { try store.block($0.0) == nil }
        #expect(!gone.isEmpty)
        await server.stop()
    }

    /// Checks every `#commit` against the previous one (ATPROTO.md §13.1, §13.7).
    func checkCommitChain(_ events: [FirehoseEvent], did: String) throws {
        var previous: (rev: String, data: CID)?
        var records: [String: CID] = [:]
        for event in events where event.type == "#commit" {
            let body = event.body
            #expect(body["repo"]?.stringValue == did)
            #expect(body["rebase"]?.boolValue == false)
            #expect(body["tooBig"]?.boolValue == false)
            #expect(body["blobs"]?.arrayValue == [])
            #expect(body["time"]?.stringValue != nil)
            let car = try CARReader.read(body["blocks"]?.bytesValue ?? [])
            let commitCID = try #require(body["commit"]?.linkValue)
            #expect(car.roots == [commitCID])
            let commit = try SignedCommit(bytes: try #require(car.blocks[commitCID])).commit
            #expect(body["rev"]?.stringValue == commit.rev)
            if let previous {
                #expect(body["since"]?.stringValue == previous.rev)
                #expect(body["prevData"]?.linkValue == previous.data)
                #expect(commit.rev! > previous.rev)
            } else {
                #expect(body["since"]?.isNull == true)
                #expect(body["prevData"] == nil)
            }
            for op in body["ops"]?.arrayValue ?? [] {
                let path = try #require(op["path"]?.stringValue)
                switch op["action"]?.stringValue {
                case "create":
                    #expect(op["prev"] == nil)
                    #expect(records[path] == nil)
                    records[path] = try #require(op["cid"]?.linkValue)
                case "update":
                    #expect(op["prev"]?.linkValue == records[path])
                    records[path] = try #require(op["cid"]?.linkValue)
                case "delete":
                    #expect(op["cid"]?.isNull == true)
                    #expect(op["prev"]?.linkValue == records[path])
                    records[path] = nil
                default:
                    Issue.record("unknown action in \(op)")
                }
            }
            previous = (commit.rev!, commit.data)
        }
    }

    @Test("a cursor beyond the newest seq gets a FutureCursor error frame and the connection closes")
    func futureCursor() async throws {
        let server = try await FirehoseTestServer.start()
        let client = try FirehoseTestClient(port: server.port, cursor: 1000)
        let frame = try await client.nextFrame()
        guard case .error(let name, let message) = frame else { Issue.record("got \(frame)"); return }
        #expect(name == "FutureCursor")
        #expect(message != nil)
        #expect(try await client.nextFrame().isClose(1000))
        #expect(try await eventually { server.state.firehose.subscriberCount == 0 })
        await server.stop()
    }

    @Test("a cursor older than the retention window gets #info OutdatedCursor, then the window")
    func outdatedCursor() async throws {
        let server = try await FirehoseTestServer.start { $0.firehoseRetention = .seconds(2) }
        for index in 0..<3 { try await server.createPost("old \(index)") }
        let oldHigh = try await server.highWaterMark()
        try await Task.sleep(for: .milliseconds(2300))
        try await server.state.firehose.prune()
        let kept = [try await server.createPost("new 0"), try await server.createPost("new 1")]

        let outdated = try FirehoseTestClient(port: server.port, cursor: 2)
        let first = try await outdated.nextFrame()
        guard case .info(let name, _) = first else { Issue.record("got \(first)"); return }
        #expect(name == "OutdatedCursor")
        let events = try await outdated.events(2)
        // Pruning never resets the numbering: the new events continue after the old ones.
        #expect(events.map(\.seq) == [oldHigh + 1, oldHigh + 2])
        #expect(events.map { $0.body["ops"]?.arrayValue?.first?["cid"]?.linkValue } == kept.map(\.cid))

        // Cursor 0 asks for the whole window: the same events, without the #info.
        let whole = try FirehoseTestClient(port: server.port, cursor: 0)
        #expect(try await whole.events(2).map(\.seq) == [oldHigh + 1, oldHigh + 2])
        #expect(try await whole.next(timeout: .milliseconds(300)) == nil)

        // A cursor inside the window replays strictly after it.
        let inside = try FirehoseTestClient(port: server.port, cursor: oldHigh + 1)
        #expect(try await inside.events(1).map(\.seq) == [oldHigh + 2])
        await server.stop()
    }

    @Test("20 concurrent subscribers receive identical sequences")
    func manySubscribers() async throws {
        let server = try await FirehoseTestServer.start()
        for index in 0..<10 { try await server.createPost("before \(index)") }
        let writer = Task {
            for index in 0..<30 { try await server.createPost("during \(index)") }
        }
        let clients = try (0..<20).map { _ in try FirehoseTestClient(port: server.port, cursor: 0) }
        try await writer.value
        let total = Int(try await server.highWaterMark())
        let reference = try await clients[0].events(total)
        #expect(reference.map(\.seq) == Array(1...Int64(total)))
        for client in clients.dropFirst() {
            let events = try await client.events(total)
            #expect(events.map(\.bytes) == reference.map(\.bytes))
        }
        #expect(server.state.firehose.droppedCount == 0)
        await server.stop()
    }

    @Test("a consumer that does not read is dropped with ConsumerTooSlow; the others keep receiving")
    func slowConsumer() async throws {
        let server = try await FirehoseTestServer.start { $0.firehoseMaxPendingEvents = 8 }
        let start = try await server.highWaterMark()
        let healthy = try FirehoseTestClient(port: server.port)
        let stalled = try FirehoseTestClient(port: server.port, receiveBuffer: 4096, startReading: false)
        try await waitForSubscribers(server, 2)

        // ~100 KB events fill the stalled consumer's socket quickly.
        var written = 0
        while server.state.firehose.droppedCount == 0 && written < 300 {
            try await server.createPost("big \(written)", padding: 100_000)
            written += 1
        }
        #expect(server.state.firehose.droppedCount == 1)
        for index in 0..<3 { try await server.createPost("after \(index)") }
        written += 3

        let events = try await healthy.events(written)
        #expect(events.map(\.seq) == Array((start + 1)...(start + Int64(written))))

        // The stalled consumer now reads: what was buffered (a contiguous run), then the error.
        stalled.startReading()
        var received: [Int64] = []
        var sawError = false
        reading: while true {
            let frame = try await stalled.nextFrame()
            switch frame {
            case .event(let event): received.append(event.seq)
            case .error(let name, _):
                #expect(name == "ConsumerTooSlow")
                sawError = true
            case .closed, .ended: break reading
            case .info: Issue.record("unexpected #info")
            }
        }
        #expect(sawError)
        #expect(received.count < written)
        if let first = received.first { #expect(received == Array(first..<(first + Int64(received.count)))) }
        #expect(try await eventually { server.state.firehose.subscriberCount == 1 })
        healthy.close()
        await server.stop()
    }

    @Test("stopping the hub closes subscriber connections")
    func stopClosesConnections() async throws {
        let server = try await FirehoseTestServer.start()
        let client = try FirehoseTestClient(port: server.port, cursor: 0)
        #expect(try await client.events(4).count == 4)
        server.state.firehose.stop()
        #expect(try await client.nextFrame().isClose(1001))
        #expect(try await eventually { server.state.firehose.subscriberCount == 0 })
        await server.stop()
    }

    /// A server with two subscribers: `client`, which read everything, and `stalled`, which reads
    /// nothing and whose send is stuck on its full socket.
    func serverWithStalledSubscriber() async throws -> (server: FirehoseTestServer, client: FirehoseTestClient, stalled: FirehoseTestClient) {
        let server = try await FirehoseTestServer.start()
        let client = try FirehoseTestClient(port: server.port, cursor: 0)
        let stalled = try FirehoseTestClient(port: server.port, receiveBuffer: 4096, startReading: false)
        #expect(try await client.events(4).count == 4)
        try await waitForSubscribers(server, 2)
        // Write until the stalled consumer's send is stuck on its full socket.
        var written = 0
        while try await (server.state.firehose.positions.min() ?? 0) >= server.highWaterMark() - 3 && written < 300 {
            try await server.createPost("big \(written)", padding: 100_000)
            written += 1
        }
        #expect(try await (server.state.firehose.positions.min() ?? 0) < server.highWaterMark() - 3)
        _ = try await client.events(written)
        return (server, client, stalled)
    }

    /// A graceful shutdown stops the hub before the HTTP server closes what is left with 1000
    /// (`PDSApplicationService`): every 1001 must be queued by the time `stop()` returns,
    /// however slowly a peer reads.
    @Test("a stopped hub's subscribers queue their 1001 before stop() returns, a stalled one's too")
    func stopQueuesEveryCloseFrame() async throws {
        let (server, client, stalled) = try await serverWithStalledSubscriber()
        #expect(server.state.firehose.subscribersClosing == 2)
        server.state.firehose.stop()
        #expect(server.state.firehose.subscribersClosing == 0)
        #expect(try await client.nextFrame().isClose(1001))
        stalled.shutdownSocket()
        await server.stop()
    }

    @Test("graceful server shutdown closes subscriber connections, a stalled one included")
    func shutdownClosesConnections() async throws {
        let (server, client, stalled) = try await serverWithStalledSubscriber()
        let started = ContinuousClock.now
        await server.stop()
        // 1001 "going away", so relays reconnect later with their cursor.
        let frame = try await client.nextFrame()
        #expect(frame.isClose(1001), "after the shutdown the client got \(frame)")
        #expect(server.state.firehose.subscriberCount == 0)
        #expect(ContinuousClock.now - started < .seconds(30))
        stalled.shutdownSocket()
    }

    @Test("plain GET without an upgrade is an XRPC error")
    func plainRequest() async throws {
        let server = try await FirehoseTestServer.start()
        let response = try RawHTTP.get(port: server.port, path: "/xrpc/com.atproto.sync.subscribeRepos")
        #expect(response.status == 426)
        #expect(response.body.contains(#""error":"InvalidRequest""#))
        let bad = try RawHTTP.get(port: server.port, path: "/xrpc/com.atproto.sync.subscribeRepos?cursor=abc")
        #expect(bad.status == 400)
        // An upgrade attempt with a bad cursor is refused the same way instead of upgraded.
        let refused = try RawHTTP.get(port: server.port, path: "/xrpc/com.atproto.sync.subscribeRepos?cursor=-1", headers: [
            "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
        ])
        #expect(refused.status == 400)
        await server.stop()
    }
}

extension DecodedFrame {
    func isClose(_ code: UInt16) -> Bool {
        if case .closed(code) = self { true } else { false }
    }
}

extension FirehoseMessage: Equatable {
    static func == (lhs: FirehoseMessage, rhs: FirehoseMessage) -> Bool {
        switch (lhs, rhs) {
        case (.binary(let a), .binary(let b)): a == b
        case (.close(let a), .close(let b)): a == b
        case (.end, .end): true
        default: false
        }
    }
}
