import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// An HTTP request this server makes to another service (PLC directory, AppView, relays, did:web
/// and handle resolution).
public struct OutboundRequest: Sendable {
    public var method: String
    public var url: URL
    /// Header names as given; values are sent as is.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]?
    /// Seconds without progress before the request fails (the reference proxy: 10 s for headers).
    public var timeout: TimeInterval

    public init(method: String = "GET", url: URL, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil, timeout: TimeInterval = 10) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// A response whose body arrives as a stream of chunks.
public struct OutboundStream: Sendable {
    public var status: Int
    /// Header values by lowercased name.
    public var headers: [String: String]
    public var body: AsyncThrowingStream<[UInt8], any Error>
}

/// A fully read response.
public struct OutboundResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]

    /// The body parsed as a JSON object, or nil.
    public var jsonObject: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }
}

/// Why an outbound request did not produce a response.
public enum OutboundHTTPError: Error, CustomStringConvertible {
    case unreachable(String)
    case responseTooLarge(limit: Int)

    public var description: String {
        switch self {
        case .unreachable(let reason): "upstream unreachable: \(reason)"
        case .responseTooLarge(let limit): "upstream response larger than \(limit) bytes"
        }
    }
}

/// The seam for outbound HTTP: production uses `URLSessionHTTP`; tests may inject another.
public protocol OutboundHTTP: Sendable {
    /// Sends `request` and returns as soon as the response head has arrived.
    func stream(_ request: OutboundRequest) async throws -> OutboundStream
}

extension OutboundHTTP {
    /// Sends `request` and reads the whole body, failing past `maxResponseBytes`.
    public func send(_ request: OutboundRequest, maxResponseBytes: Int = 10 << 20) async throws -> OutboundResponse {
        let response = try await stream(request)
        var body: [UInt8] = []
        for try await chunk in response.body {
            body += chunk
            if body.count > maxResponseBytes { throw OutboundHTTPError.responseTooLarge(limit: maxResponseBytes) }
        }
        return OutboundResponse(status: response.status, headers: response.headers, body: body)
    }
}

/// A data task handed to a termination handler (URLSessionTask is thread-safe but not marked Sendable).
private struct UncheckedTask: @unchecked Sendable {
    let task: URLSessionDataTask
}

/// Outbound HTTP through Foundation's URLSession (on Linux: libcurl on the system OpenSSL, so no
/// second TLS stack; DESIGN.md "Outbound HTTP"). Responses stream through a per-task delegate.
public final class URLSessionHTTP: NSObject, OutboundHTTP, URLSessionDataDelegate, @unchecked Sendable {
    /// Per-task state: the continuation waiting for the head, then the body stream.
    private final class Transfer: @unchecked Sendable {
        var head: CheckedContinuation<OutboundStream, any Error>?
        let body: AsyncThrowingStream<[UInt8], any Error>
        let sink: AsyncThrowingStream<[UInt8], any Error>.Continuation
        init(head: CheckedContinuation<OutboundStream, any Error>) {
            self.head = head
            (body, sink) = AsyncThrowingStream.makeStream(of: [UInt8].self, bufferingPolicy: .unbounded)
        }
    }

    private let transfers = Mutex<[Int: Transfer]>([:])
    /// Made on first use: an idle server (and every test server) that never calls out does not
    /// pay for libcurl's state (several MiB of RSS).
    private let sessionStore = Mutex<URLSession?>(nil)

    public override init() {
        super.init()
    }

    private var session: URLSession {
        sessionStore.withLock { stored in
            if let stored { return stored }
            let configuration = URLSessionConfiguration.ephemeral
            configuration.httpCookieStorage = nil
            configuration.urlCache = nil
            configuration.timeoutIntervalForResource = 120
            let queue = OperationQueue()
            queue.maxConcurrentOperationCount = 1
            let made = URLSession(configuration: configuration, delegate: self, delegateQueue: queue)
            stored = made
            return made
        }
    }

    public func stream(_ request: OutboundRequest) async throws -> OutboundStream {
        var urlRequest = URLRequest(url: request.url, timeoutInterval: request.timeout)
        urlRequest.httpMethod = request.method
        for header in request.headers { urlRequest.addValue(header.value, forHTTPHeaderField: header.name) }
        if let body = request.body { urlRequest.httpBody = Data(body) }
        return try await withCheckedThrowingContinuation { continuation in
            let task = session.dataTask(with: urlRequest)
            let transfer = Transfer(head: continuation)
            // A client that goes away stops the body stream; stop the download with it.
            let cancel = UncheckedTask(task: task)
            transfer.sink.onTermination = { _ in cancel.task.cancel() }
            transfers.withLock { $0[task.taskIdentifier] = transfer }
            task.resume()
        }
    }

    public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                           completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        guard let transfer = transfers.withLock({ $0[dataTask.taskIdentifier] }), let head = transfer.head else {
            completionHandler(.cancel)
            return
        }
        transfer.head = nil
        let http = response as? HTTPURLResponse
        var headers: [String: String] = [:]
        for (name, value) in http?.allHeaderFields ?? [:] {
            if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
        }
        head.resume(returning: OutboundStream(status: http?.statusCode ?? 502, headers: headers, body: transfer.body))
        completionHandler(.allow)
    }

    public func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        transfers.withLock { $0[dataTask.taskIdentifier] }?.sink.yield([UInt8](data))
    }

    public func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let transfer = transfers.withLock({ $0.removeValue(forKey: task.taskIdentifier) }) else { return }
        if let head = transfer.head {
            head.resume(throwing: OutboundHTTPError.unreachable(error?.localizedDescription ?? "no response"))
        } else if let error {
            transfer.sink.finish(throwing: OutboundHTTPError.unreachable(error.localizedDescription))
        } else {
            transfer.sink.finish()
        }
    }
}
