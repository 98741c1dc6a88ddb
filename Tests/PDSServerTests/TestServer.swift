import Foundation
import Hummingbird
import Logging
import NIOCore
import PDSAppliance
import PDSCore
import PDSServer
import PDSStore
import ServiceLifecycle
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real server on a loopback port with a fresh data directory and the dev account, for tests
/// that speak HTTP to it. Use `TestServer.with { server in … }`: the server stops and its
/// directory is removed when the body returns or throws.
final class TestServer: Sendable {
    let directory: String
    let state: PDSServices
    let did: String
    let handle: String
    let password: String
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(directory: String, state: PDSServices, summary: DevBootstrap.Summary, password: String,
                 port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.directory = directory
        self.state = state
        did = summary.did
        handle = summary.handle
        self.password = password
        self.port = port
        self.group = group
        self.task = task
    }

    /// Runs `body` against a started server. `configure` adjusts the configuration first.
    static func with<T>(configure: (inout PDSConfig) -> Void = { _ in },
                        _ body: (TestServer) async throws -> T) async throws -> T {
        let server = try await start(configure: configure)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Starts a server on an ephemeral port (port 0; the bound port is read back from the
    /// listening channel) and waits until `/xrpc/_health` answers.
    static func start(configure: (inout PDSConfig) -> Void = { _ in }) async throws -> TestServer {
        let directory = NSTemporaryDirectory() + "pds-server-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var config = PDSConfig(hostname: "127.0.0.1", port: 0, bindAddress: "127.0.0.1",
                               dataDirectory: directory, isDevelopment: true)
        config.publicScheme = "http"
        config.appViewURL = ""  // tests never reach the real AppView
        configure(&config)
        var logger = Logger(label: "pds-test")
        logger.logLevel = .warning
        let keys = try DevBootstrap.loadKeys(dataDirectory: directory)
        let state = try PDSServices.open(config: config, keys: keys, logger: logger)
        let password = "test-password-\(UUID().uuidString.prefix(8))"
        let summary = try await DevBootstrap.ensureAccount(state: state, handle: "alice.test", password: password)

        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = PDSApplication.make(server: state, logger: logger) { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
        }
        // Run in our own service group (no signal handlers) so stop() can shut down gracefully.
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task {
            defer { continuation.finish() }
            try await group.run()
        }
        var bound: Int?
        for await port in ports {
            bound = port
            break
        }
        guard let port = bound, port > 0 else {
            task.cancel()
            _ = await task.result
            throw Failure(description: "the test server did not start: \(String(describing: await task.result))")
        }
        let server = TestServer(directory: directory, state: state, summary: summary, password: password, port: port, group: group, task: task)
        try await server.waitUntilHealthy()
        return server
    }

    /// Stops the server (graceful shutdown: in-flight requests finish) and removes its data.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// `http://127.0.0.1:<port>` + `path` (path includes any query).
    func url(_ path: String) -> URL { URL(string: "http://127.0.0.1:\(port)\(path)")! }

    private func waitUntilHealthy() async throws {
        for _ in 0..<100 {
            if let (_, response) = try? await send(URLRequest(url: url("/xrpc/_health"))), response.statusCode == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Failure(description: "/xrpc/_health never answered 200")
    }

    /// Sends a request with an ephemeral URLSession (no shared cookies or caches between tests).
    func send(_ request: URLRequest, body: Data? = nil) async throws -> (Data, HTTPURLResponse) {
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        let (data, response): (Data, URLResponse)
        if let body {
            (data, response) = try await session.upload(for: request, from: body)
        } else {
            (data, response) = try await session.data(for: request)
        }
        guard let http = response as? HTTPURLResponse else { throw Failure(description: "not an HTTP response") }
        return (data, http)
    }

    /// An access token from `createSession` with the account password.
    func accessToken() async throws -> String {
        var request = URLRequest(url: url("/xrpc/com.atproto.server.createSession"))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let input = try JSONSerialization.data(withJSONObject: ["identifier": handle, "password": password])
        let (data, response) = try await send(request, body: input)
        guard response.statusCode == 200,
              let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let token = object["accessJwt"] as? String
        else {
            throw Failure(description: "createSession failed: \(response.statusCode) \(String(decoding: data, as: UTF8.self))")
        }
        return token
    }

    /// A setup problem in the harness itself.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }
}
