import Foundation
import OpenSSLNIO

/// An RFC 8555 client: the protocol steps, one account key, no policy.
///
/// Every POST is a JWS signed with the account key (`jwk` for newAccount, `kid` after it).
/// Nonces come from each response's `Replay-Nonce` (or `newNonce` when none is left); a
/// `badNonce` error is retried with the nonce that came with it, up to `maxBadNonceRetries`
/// times (RFC 8555 §6.5). Errors are thrown as `ACMEProblem`s.
///
/// ```swift
/// let client = ACMEClient(directoryURL: url, accountKey: key, transport: try OpenSSLHTTPSClient())
/// try await client.registerAccount(contact: ["mailto:admin@example.com"])
/// let (orderURL, order) = try await client.newOrder(names: ["pds.example.com"])
/// ```
public actor ACMEClient {
    public let directoryURL: URL
    public let accountKey: TLSPrivateKey
    let transport: any ACMETransport
    /// Pause between polls when the server sends no `Retry-After`.
    public let pollInterval: Duration
    /// Polls before giving up on an authorization or order.
    public let maxPolls: Int
    /// badNonce retries per request.
    public let maxBadNonceRetries: Int

    private var cachedDirectory: ACMEDirectory?
    private var nonces: [String] = []
    /// The account URL (`kid`), once registered.
    public private(set) var accountURL: String?
    /// How many requests were repeated after `badNonce` (for logs and tests).
    public private(set) var badNonceRetries = 0

    public init(directoryURL: URL, accountKey: TLSPrivateKey, transport: any ACMETransport,
                pollInterval: Duration = .seconds(1), maxPolls: Int = 120, maxBadNonceRetries: Int = 10) {
        self.directoryURL = directoryURL
        self.accountKey = accountKey
        self.transport = transport
        self.pollInterval = pollInterval
        self.maxPolls = maxPolls
        self.maxBadNonceRetries = maxBadNonceRetries
    }

    // MARK: - Directory and nonces

    /// The directory (fetched once).
    public func directory() async throws -> ACMEDirectory {
        if let cachedDirectory { return cachedDirectory }
        let response = try await transport.send(ACMEHTTPRequest(method: "GET", url: directoryURL))
        guard response.status == 200 else { throw problem(from: response) }
        let directory = try decode(ACMEDirectory.self, response)
        cachedDirectory = directory
        return directory
    }

    private func nextNonce() async throws -> String {
        if let nonce = nonces.popLast() { return nonce }
        let response = try await transport.send(ACMEHTTPRequest(method: "HEAD", url: try await directory().newNonce))
        guard let nonce = response.header("Replay-Nonce"), !nonce.isEmpty else {
            throw ACMEError("newNonce answered \(response.status) without a Replay-Nonce")
        }
        return nonce
    }

    private func keepNonce(_ response: ACMEHTTPResponse) {
        if let nonce = response.header("Replay-Nonce"), !nonce.isEmpty { nonces.append(nonce) }
    }

    // MARK: - Signed requests

    /// POSTs a JWS to `url`; `payload` nil is POST-as-GET. Throws the problem document of any
    /// error response (after badNonce retries).
    @discardableResult
    public func post(_ url: URL, payload: [UInt8]?, accept: String? = nil) async throws -> ACMEHTTPResponse {
        let keyReference: JWS.KeyReference
        if let accountURL { keyReference = .keyID(accountURL) } else { keyReference = .jwk }
        return try await post(url, payload: payload, keyReference: keyReference, accept: accept)
    }

    private func post(_ url: URL, payload: [UInt8]?, keyReference: JWS.KeyReference, accept: String? = nil) async throws -> ACMEHTTPResponse {
        var attempt = 0
        while true {
            let body = try JWS.sign(payload: payload, url: url.absoluteString, nonce: try await nextNonce(),
                                    key: accountKey, keyReference: keyReference)
            var headers = [(name: "Content-Type", value: "application/jose+json")]
            if let accept { headers.append((name: "Accept", value: accept)) }
            let response = try await transport.send(ACMEHTTPRequest(method: "POST", url: url, headers: headers, body: body))
            keepNonce(response)
            if response.status < 400 { return response }
            let problem = problem(from: response)
            if let acme = problem as? ACMEProblem, acme.isBadNonce, attempt < maxBadNonceRetries {
                attempt += 1
                badNonceRetries += 1
                continue
            }
            throw problem
        }
    }

    private func problem(from response: ACMEHTTPResponse) -> any Error {
        if var problem = try? JSONDecoder().decode(ACMEProblem.self, from: Data(response.body)) {
            if problem.status == nil { problem.status = response.status }
            return problem
        }
        return ACMEProblem(type: "about:blank", detail: String(decoding: response.body.prefix(300), as: UTF8.self),
                           status: response.status)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ response: ACMEHTTPResponse) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw ACMEError("cannot parse \(T.self) from the server: \(error)")
        }
    }

    private func location(_ response: ACMEHTTPResponse) throws -> URL {
        guard let text = response.header("Location"), let url = URL(string: text) else {
            throw ACMEError("response \(response.status) has no Location")
        }
        return url
    }

    // MARK: - Protocol steps

    /// Creates the account or finds the existing one for this key (RFC 8555 §7.3): both answer
    /// with the account URL, so calling this on every start is safe.
    @discardableResult
    public func registerAccount(contact: [String] = [], termsOfServiceAgreed: Bool = true) async throws -> String {
        var payload: [String: Any] = ["termsOfServiceAgreed": termsOfServiceAgreed]
        if !contact.isEmpty { payload["contact"] = contact }
        let body = try JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys, .withoutEscapingSlashes])
        let response = try await post(try await directory().newAccount, payload: Array(body), keyReference: .jwk)
        let url = try location(response).absoluteString
        accountURL = url
        return url
    }

    /// Places an order for `names` (RFC 8555 §7.4).
    public func newOrder(names: [String]) async throws -> (url: URL, order: ACMEOrder) {
        let identifiers = names.map { ["type": "dns", "value": $0] }
        let body = try JSONSerialization.data(withJSONObject: ["identifiers": identifiers], options: [.sortedKeys])
        let response = try await post(try await directory().newOrder, payload: Array(body))
        return (try location(response), try decode(ACMEOrder.self, response))
    }

    /// The current state of an order.
    public func order(_ url: URL) async throws -> ACMEOrder {
        try decode(ACMEOrder.self, try await post(url, payload: nil))
    }

    /// The current state of an authorization.
    public func authorization(_ url: URL) async throws -> ACMEAuthorization {
        try decode(ACMEAuthorization.self, try await post(url, payload: nil))
    }

    /// Tells the server the challenge is ready to be validated (an empty JSON object).
    public func respond(to challenge: ACMEChallenge) async throws {
        try await post(challenge.url, payload: Array("{}".utf8))
    }

    /// `token.thumbprint` (RFC 8555 §8.1).
    public func keyAuthorization(token: String) throws -> String {
        token + "." + (try JWS.thumbprint(accountKey))
    }

    /// Polls an authorization until it leaves `pending`.
    public func waitForAuthorization(_ url: URL) async throws -> ACMEAuthorization {
        for _ in 0..<maxPolls {
            let response = try await post(url, payload: nil)
            let authorization = try decode(ACMEAuthorization.self, response)
            if authorization.status != "pending" { return authorization }
            try await Task.sleep(for: retryAfter(response))
        }
        throw ACMEError("authorization \(url) still pending after \(maxPolls) polls")
    }

    /// Submits the CSR (RFC 8555 §7.4) and returns the order as the server reports it.
    public func finalize(_ order: ACMEOrder, csr: [UInt8]) async throws -> ACMEOrder {
        let body = #"{"csr":"\#(JWS.base64url(csr))"}"#
        return try decode(ACMEOrder.self, try await post(order.finalize, payload: Array(body.utf8)))
    }

    /// Polls an order while its status is in `waiting` (`pending`, `processing`, `ready`…).
    public func waitForOrder(_ url: URL, whileStatusIn waiting: Set<String>) async throws -> ACMEOrder {
        for _ in 0..<maxPolls {
            let response = try await post(url, payload: nil)
            let order = try decode(ACMEOrder.self, response)
            if !waiting.contains(order.status) { return order }
            try await Task.sleep(for: retryAfter(response))
        }
        throw ACMEError("order \(url) still \(waiting.sorted()) after \(maxPolls) polls")
    }

    /// Downloads the certificate chain as PEM (RFC 8555 §7.4.2).
    public func downloadCertificate(_ url: URL) async throws -> [UInt8] {
        try await post(url, payload: nil, accept: "application/pem-certificate-chain").body
    }

    /// The server's `Retry-After` (seconds; at least `pollInterval`, at most a minute).
    private func retryAfter(_ response: ACMEHTTPResponse) -> Duration {
        if let text = response.header("Retry-After"), let seconds = Int(text.trimmingCharacters(in: .whitespaces)) {
            return max(pollInterval, .seconds(min(seconds, 60)))
        }
        return pollInterval
    }
}
