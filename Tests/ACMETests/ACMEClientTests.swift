import ACME
import Foundation
import Multiformats
import OpenSSLNIO
import Synchronization
import Testing

/// A scripted ACME server: answers requests in order and records them.
final class ScriptedTransport: ACMETransport, Sendable {
    let answers: Mutex<[ACMEHTTPResponse]>
    let requests = Mutex<[ACMEHTTPRequest]>([])

    init(_ answers: [ACMEHTTPResponse]) { self.answers = Mutex(answers) }

    func send(_ request: ACMEHTTPRequest) async throws -> ACMEHTTPResponse {
        requests.withLock { $0.append(request) }
        return try answers.withLock { answers in
            guard !answers.isEmpty else { throw ACMEError("unexpected request \(request.method) \(request.url)") }
            return answers.removeFirst()
        }
    }

    static func json(_ status: Int, _ body: String, _ headers: [(String, String)] = []) -> ACMEHTTPResponse {
        ACMEHTTPResponse(status: status, headerFields: headers.map { (name: $0.0, value: $0.1) }, body: Array(body.utf8))
    }
}

/// The protected header and payload of a JWS request body.
func decodeJWS(_ body: [UInt8]?) throws -> (header: [String: Any], payload: String) {
    let object = try #require(try JSONSerialization.jsonObject(with: Data(body ?? [])) as? [String: String])
    let header = try Base64.decode(try #require(object["protected"]), alphabet: .urlSafe)
    let payload = try Base64.decode(try #require(object["payload"]), alphabet: .urlSafe)
    #expect(try Base64.decode(try #require(object["signature"]), alphabet: .urlSafe).count == 64)
    return (try #require(try JSONSerialization.jsonObject(with: Data(header)) as? [String: Any]),
            String(decoding: payload, as: UTF8.self))
}

@Suite struct ACMEClientTests {
    static let directory = """
        {"newNonce":"https://ca.test/nonce","newAccount":"https://ca.test/account","newOrder":"https://ca.test/order"}
        """

    @Test func badNonceIsRetriedWithTheNonceThatCameWithIt() async throws {
        let transport = ScriptedTransport([
            ScriptedTransport.json(200, Self.directory),
            ScriptedTransport.json(200, "", [("Replay-Nonce", "nonce-1")]),
            ScriptedTransport.json(400, #"{"type":"urn:ietf:params:acme:error:badNonce","detail":"JWS has an invalid anti-replay nonce"}"#,
                                   [("Replay-Nonce", "nonce-2"), ("Content-Type", "application/problem+json")]),
            ScriptedTransport.json(201, #"{"status":"valid"}"#, [("Location", "https://ca.test/acct/7"), ("Replay-Nonce", "nonce-3")]),
            ScriptedTransport.json(201, #"{"status":"pending","identifiers":[{"type":"dns","value":"pds.test"}],"authorizations":["https://ca.test/authz/1"],"finalize":"https://ca.test/finalize/1"}"#,
                                   [("Location", "https://ca.test/order/1")]),
        ])
        let key = try TLSPrivateKey.generateP256()
        let client = ACMEClient(directoryURL: URL(string: "https://ca.test/dir")!, accountKey: key, transport: transport)
        let account = try await client.registerAccount(contact: ["mailto:admin@pds.test"])
        #expect(account == "https://ca.test/acct/7")
        #expect(await client.badNonceRetries == 1)
        let (orderURL, order) = try await client.newOrder(names: ["pds.test"])
        #expect(orderURL.absoluteString == "https://ca.test/order/1")
        #expect(order.authorizations.map(\.absoluteString) == ["https://ca.test/authz/1"])

        let requests = transport.requests.withLock { $0 }
        #expect(requests.map(\.method) == ["GET", "HEAD", "POST", "POST", "POST"])
        let first = try decodeJWS(requests[2].body), retry = try decodeJWS(requests[3].body), order1 = try decodeJWS(requests[4].body)
        #expect(first.header["nonce"] as? String == "nonce-1")
        #expect(retry.header["nonce"] as? String == "nonce-2")
        #expect(order1.header["nonce"] as? String == "nonce-3")
        // newAccount names the key itself; later requests name the account.
        #expect(first.header["jwk"] != nil && first.header["kid"] == nil)
        #expect(order1.header["kid"] as? String == "https://ca.test/acct/7" && order1.header["jwk"] == nil)
        #expect(first.header["alg"] as? String == "ES256")
        #expect(first.header["url"] as? String == "https://ca.test/account")
        #expect(first.payload == #"{"contact":["mailto:admin@pds.test"],"termsOfServiceAgreed":true}"#)
        #expect(requests[2].headers.contains { $0.name == "Content-Type" && $0.value == "application/jose+json" })
    }

    @Test func badNonceRetriesAreBounded() async throws {
        let badNonce = ScriptedTransport.json(400, #"{"type":"urn:ietf:params:acme:error:badNonce"}"#, [("Replay-Nonce", "again")])
        let transport = ScriptedTransport([ScriptedTransport.json(200, Self.directory), ScriptedTransport.json(200, "", [("Replay-Nonce", "n")])]
            + Array(repeating: badNonce, count: 3))
        let client = ACMEClient(directoryURL: URL(string: "https://ca.test/dir")!, accountKey: try TLSPrivateKey.generateP256(),
                                transport: transport, maxBadNonceRetries: 2)
        await #expect(throws: ACMEProblem.self) { try await client.registerAccount() }
        #expect(await client.badNonceRetries == 2)
    }

    @Test func otherProblemsAreThrownAsIs() async throws {
        let transport = ScriptedTransport([
            ScriptedTransport.json(200, Self.directory),
            ScriptedTransport.json(200, "", [("Replay-Nonce", "n")]),
            ScriptedTransport.json(403, #"{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"no"}"#),
        ])
        let client = ACMEClient(directoryURL: URL(string: "https://ca.test/dir")!, accountKey: try TLSPrivateKey.generateP256(), transport: transport)
        do {
            try await client.registerAccount()
            Issue.record("expected a problem")
        } catch let problem as ACMEProblem {
            #expect(problem.type == "urn:ietf:params:acme:error:rejectedIdentifier")
            #expect(problem.status == 403)
            #expect(!problem.isBadNonce)
        }
        #expect(await client.badNonceRetries == 0)
    }

    @Test func thumbprintFollowsRFC7638() throws {
        let key = try TLSPrivateKey.generateP256()
        let (x, y) = try key.ecCoordinates()
        let canonical = #"{"crv":"P-256","kty":"EC","x":"\#(JWS.base64url(x))","y":"\#(JWS.base64url(y))"}"#
        #expect(try JWS.jwk(key) == canonical)
        #expect(try JWS.thumbprint(key) == JWS.base64url(SHA256Digest.hash(Array(canonical.utf8))))
        #expect(try JWS.thumbprint(key).count == 43)
        // RFC 7638 §3.1's example shape: base64url, no padding.
        #expect(!(try JWS.thumbprint(key)).contains("="))
    }

    @Test func renewalIsAtTwoThirdsOfTheLifetime() {
        #expect(ACMECertificateManager.renewalTime(notBefore: 0, notAfter: 90 * 86400) == 60 * 86400)
        #expect(ACMECertificateManager.renewalTime(notBefore: 1000, notAfter: 1300) == 1200)
    }
}
