import ATData
import ATSyntax
import Foundation
import Hummingbird
import Logging
import NIOCore
import OpenSSLNIO
import PDSAppliance
import PDSCore
@testable import PDSServer
import PDSStore
import ServiceLifecycle
import TestSupport
import Testing

/// The whole appliance over TLS (system OpenSSL): `PDSApplication.make(tls:)` with certificate
/// files from a test CA, driven by curl, openssl s_client and a Python `websockets` WSS client.
@Suite(.serialized) struct TLSServingTests {
    /// A running TLS server and what the tests need to reach it.
    struct Running {
        let state: PDSServices
        let port: Int
        let ca: TestCertificateAuthority
        let directory: String
        let group: ServiceGroup
        let task: Task<Void, any Error>

        func stop() async {
            await group.triggerGracefulShutdown()
            _ = await task.result
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func start(handshakeTimeout: TimeAmount = .seconds(10)) async throws -> Running {
        let ca = try TestCertificateAuthority()
        let issued = try ca.issue("pds", dnsNames: ["pds.test"], ipAddresses: ["127.0.0.1"])
        let directory = NSTemporaryDirectory() + "pds-tls-server-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var config = PDSConfig(hostname: "127.0.0.1", port: 0, bindAddress: "127.0.0.1", dataDirectory: directory, isDevelopment: true)
        config.appViewURL = ""  // tests never reach the real AppView
        config.publicScheme = "https"
        var logger = Logger(label: "pds-tls-test")
        logger.logLevel = .warning
        let state = try PDSServices.open(config: config, keys: try DevBootstrap.loadKeys(dataDirectory: directory), logger: logger)
        _ = try await DevBootstrap.ensureAccount(state: state, handle: "alice.test", password: "tls-test-password")

        var settings = TLSSettings(certificates: .files(chain: issued.chain, key: issued.key))
        settings.httpPort = nil
        settings.handler.handshakeTimeout = handshakeTimeout
        let tls = try TLSServing.configure(settings: settings, dataDirectory: directory, hostname: "pds.test",
                                           bindAddress: "127.0.0.1", httpsPort: 443, logger: logger)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = PDSApplication.make(server: state, logger: logger, tls: tls) { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
        }
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        var port = 0
        for await bound in ports {
            port = bound
            break
        }
        guard port > 0 else { throw TestFailure("the TLS server did not start: \(String(describing: await task.result))") }
        return Running(state: state, port: port, ca: ca, directory: directory, group: group, task: task)
    }

    static func curl(_ running: Running, _ path: String, _ extra: [String] = []) async throws -> (status: Int32, output: String) {
        try await TestCertificateAuthority.runDetached(
            "curl", ["-sS", "-v", "--cacert", running.ca.caCertificatePath, "--resolve", "pds.test:\(running.port):127.0.0.1"]
                + extra + ["https://pds.test:\(running.port)\(path)"])
    }

    @Test(.timeLimit(.minutes(1)))
    func curlAndSClientReachTheAppOverTLS13AndTLS12() async throws {
        let running = try await Self.start()
        defer { Task { await running.stop() } }

        let v13 = try await Self.curl(running, "/xrpc/_health")
        #expect(v13.status == 0, "\(v13.output)")
        #expect(v13.output.contains(#"{"version":"\#(PDSApplication.version)"}"#), "\(v13.output)")
        #expect(v13.output.contains("SSL connection using TLSv1.3 / TLS_"), "\(v13.output)")
        #expect(v13.output.contains("ALPN: server accepted http/1.1"), "\(v13.output)")
        #expect(v13.output.lowercased().contains("< strict-transport-security: max-age=63072000"), "\(v13.output)")

        let v12 = try await Self.curl(running, "/xrpc/_health", ["--tls-max", "1.2"])
        #expect(v12.status == 0, "\(v12.output)")
        #expect(v12.output.contains("SSL connection using TLSv1.2 / ECDHE-ECDSA-"), "\(v12.output)")
        #expect(v12.output.contains("GCM") || v12.output.contains("CHACHA20"), "\(v12.output)")

        for version in ["-tls1_2", "-tls1_3"] {
            let result = try await TestCertificateAuthority.runDetached(
                "openssl", ["s_client", "-connect", "127.0.0.1:\(running.port)", "-servername", "pds.test", "-CAfile",
                            running.ca.caCertificatePath, "-verify_return_error", "-alpn", "http/1.1", version, "-ign_eof"],
                input: Data("GET /xrpc/_health HTTP/1.1\r\nHost: pds.test\r\nConnection: close\r\n\r\n".utf8))
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains(version == "-tls1_3" ? "New, TLSv1.3, Cipher is TLS_" : "New, TLSv1.2, Cipher is ECDHE-ECDSA-"),
                    "\(result.output)")
            #expect(result.output.contains("ALPN protocol: http/1.1"), "\(result.output)")
            #expect(result.output.contains("HTTP/1.1 200 OK"), "\(result.output)")
        }
    }

    /// A WSS firehose client stays connected and keeps receiving while other connections send
    /// garbage, truncated handshakes, or nothing at all (closed by the handshake timeout).
    @Test(.timeLimit(.minutes(1)),
          .enabled(if: TestTools.hasVenv || SharedVectors.required,
                   "needs the Python tools venv (Tests/tools/venv: python3-venv, and PyPI on first use)"))
    func wssFirehoseIsUndisturbedByGarbageOnOtherConnections() async throws {
        let running = try await Self.start(handshakeTimeout: .seconds(2))
        defer { Task { await running.stop() } }
        let python = try TestTools.venv() + "/bin/python"
        let script = running.directory + "/wss_client.py"
        let marker = running.directory + "/garbage-done"
        try Self.pythonClient.write(toFile: script, atomically: true, encoding: .utf8)

        async let client = TestCertificateAuthority.runDetached(
            python, [script, String(running.port), running.ca.caCertificatePath, marker])
        // Wait until the client is subscribed and the garbage connections have been dealt with.
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: marker) {
            try await Task.sleep(for: .milliseconds(50))
        }
        // A new commit on the firehose after all of that.
        let rkey = TIDClock.shared.next().string
        let record: DataValue = .map(["$type": "app.bsky.feed.post", "text": "after-garbage", "createdAt": .string(AccountStore.timestamp())])
        _ = try await running.state.repoWriter().apply([.create(collection: "app.bsky.feed.post", rkey: rkey, record: record)])

        let result = try await client
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("TLS TLSv1.3"), "\(result.output)")
        #expect(result.output.contains("GARBAGE closed=3"), "\(result.output)")
        #expect(result.output.contains("IDLE closed by the server"), "\(result.output)")
        #expect(result.output.contains("GOT after-garbage"), "\(result.output)")
        // And a new HTTPS connection still works.
        let health = try await Self.curl(running, "/xrpc/_health")
        #expect(health.status == 0 && health.output.contains("\"version\""), "\(health.output)")
    }

    static let pythonClient = #"""
    import asyncio, os, socket, ssl, sys
    import websockets

    port, cafile, marker = int(sys.argv[1]), sys.argv[2], sys.argv[3]

    def raw(payload):
        """Sends payload on a new TCP connection; True when the server closes it."""
        s = socket.create_connection(("127.0.0.1", port), timeout=15)
        try:
            if payload:
                s.sendall(payload)
            while True:
                data = s.recv(4096)
                if not data:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        finally:
            s.close()

    async def main():
        context = ssl.create_default_context(cafile=cafile)
        uri = f"wss://127.0.0.1:{port}/xrpc/com.atproto.sync.subscribeRepos?cursor=0"
        async with websockets.connect(uri, ssl=context, max_size=None, open_timeout=10) as ws:
            tls = ws.transport.get_extra_info("ssl_object")
            print("TLS", tls.version(), tls.cipher()[0], flush=True)
            first = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(first, bytes), "firehose frames are binary"
            loop = asyncio.get_running_loop()
            garbage = [b"GET / HTTP/1.1\r\nHost: pds.test\r\n\r\n", os.urandom(3000),
                       bytes.fromhex("1603010200010001fc0303") + os.urandom(40)]
            results = await asyncio.gather(*[loop.run_in_executor(None, raw, g) for g in garbage])
            print("GARBAGE closed=%d" % sum(results), flush=True)
            idle = await loop.run_in_executor(None, raw, b"")
            print("IDLE closed by the server" if idle else "IDLE still open", flush=True)
            open(marker, "w").close()
            while True:
                frame = await asyncio.wait_for(ws.recv(), 20)
                if b"after-garbage" in frame:
                    print("GOT after-garbage", flush=True)
                    return

    asyncio.run(main())
    """#
}
