@testable import ATAuth
import ATCrypto
import ATData
import Foundation
import HTTPTypes
import Hummingbird
import Multiformats
import NIOCore
@testable import PDSCore
@testable import PDSServer
@testable import PDSStore
import Testing

/// Session JWTs: claims, expiry, forgery, rotation with its grace period, app-password scopes.
@Suite struct SessionTokensTests {
    final class Clock: @unchecked Sendable { var now: Int64 = 1_800_000_000 }

    static func make() throws -> (SessionService, Clock, AccountStore, String) {
        let directory = NSTemporaryDirectory() + "pds-tokens-\(UUID().uuidString)"
        let database = try PDSDatabase(directory: directory)
        let accounts = AccountStore(database: database)
        let clock = Clock()
        var tokens = SessionService(secret: SecureRandom.bytes(32), audience: "did:web:pds.example.com", accounts: accounts)
        tokens.now = { clock.now }
        return (tokens, clock, accounts, directory)
    }

    static func request(bearer token: String?) -> Request {
        var fields = HTTPFields()
        if let token { fields[.authorization] = "Bearer " + token }
        let head = HTTPRequest(method: .get, scheme: "http", authority: "localhost", path: "/xrpc/x", headerFields: fields)
        return Request(head: head, body: .init(buffer: ByteBuffer()))
    }

    /// "<status> <name>" of the XRPC error `body` throws.
    static func errorName(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch let error as XRPCError {
            return "\(error.status.code) \(error.name)"
        } catch let error as XRPCErrorConvertible {
            return "\(error.xrpcError.status.code) \(error.xrpcError.name)"
        } catch { return "\(error)" }
    }

    @Test func accessTokensCarryTheReferenceClaimsAndExpire() throws {
        let (tokens, clock, _, directory) = try Self.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pair = try tokens.issue(did: "did:plc:abc", scope: .access, appPasswordName: nil)
        let jwt = try JWT(parsing: pair.access)
        #expect(jwt.header["typ"]?.stringValue == "at+jwt" && jwt.header["alg"]?.stringValue == "HS256")
        #expect(jwt.string("scope") == "com.atproto.access" && jwt.string("sub") == "did:plc:abc")
        #expect(jwt.string("aud") == "did:web:pds.example.com")
        #expect(jwt.integer("exp")! - jwt.integer("iat")! == 7200)
        #expect(try tokens.verifyAccess(token: pair.access).isFull)

        clock.now += 7201
        #expect(Self.errorName { _ = try tokens.verifyAccess(token: pair.access) } == "400 ExpiredToken")
    }

    @Test func forgedAndMisusedTokensAreRejected() throws {
        let (tokens, _, _, directory) = try Self.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pair = try tokens.issue(did: "did:plc:abc", scope: .appPass, appPasswordName: nil)
        let parts = pair.access.split(separator: ".").map(String.init)
        // Payload changed (privilege escalation attempt), signature kept.
        let escalated = Base64.encode(Array(#"{"scope":"com.atproto.access","aud":"did:web:pds.example.com","sub":"did:plc:abc","iat":1,"exp":99999999999}"#.utf8), alphabet: .urlSafe)
        let noneHeader = Base64.encode(Array(#"{"typ":"at+jwt","alg":"none"}"#.utf8), alphabet: .urlSafe)
        let otherSecret = SessionService(secret: SecureRandom.bytes(32), audience: "did:web:pds.example.com", accounts: tokens.accounts)
        let foreign = try otherSecret.issue(did: "did:plc:abc", scope: .access, appPasswordName: nil).access
        for forged in [parts[0] + "." + escalated + "." + parts[2], noneHeader + "." + parts[1] + ".", foreign, "garbage", parts[0] + "." + parts[1]] {
            #expect(Self.errorName { _ = try tokens.verifyAccess(token: forged) } == "401 InvalidToken", "\(forged)")
        }
        // A refresh token is not an access token, and vice versa.
        #expect(Self.errorName { _ = try tokens.verifyAccess(token: pair.refresh) } == "401 InvalidToken")
        #expect(Self.errorName { _ = try tokens.verifyRefresh(token: pair.access) } == "401 InvalidToken")
        #expect(Self.errorName { _ = try Authenticator.bearerToken(Self.request(bearer: nil)) } == "401 AuthMissing")
        // App-password sessions are not full sessions.
        #expect(try tokens.verifyAccess(token: pair.access).isFull == false)
    }

    /// The verified-signature cache skips only the HMAC: a cached token is still checked for its
    /// type and expiry on every use, and the cache keeps just the most recent tokens.
    @Test func cachedTokensAreStillCheckedOnEveryUse() throws {
        let (tokens, clock, _, directory) = try Self.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Access tokens carry no jti: issued in the same second they are the same string.
        let pairs = try (0..<(VerifiedTokenCache.capacity + 2)).map { _ in
            clock.now += 1
            return try tokens.issue(did: "did:plc:abc", scope: .access, appPasswordName: nil)
        }
        #expect(Set(pairs.map(\.access)).count == pairs.count)
        for pair in pairs { _ = try tokens.verifyAccess(token: pair.access) }
        #expect(tokens.codec.verified.lookup(pairs.last!.access) != nil)
        #expect(tokens.codec.verified.lookup(pairs[0].access) == nil)  // evicted: verified afresh next time
        #expect(try tokens.verifyAccess(token: pairs[0].access).did == "did:plc:abc")
        // Cached as a verified access token, it is still no refresh token.
        #expect(Self.errorName { _ = try tokens.verifyRefresh(token: pairs.last!.access) } == "401 InvalidToken")
        clock.now += 7201
        #expect(Self.errorName { _ = try tokens.verifyAccess(token: pairs.last!.access) } == "400 ExpiredToken")
    }

    @Test func rotationHasAGracePeriodWithTheSameSuccessor() throws {
        let (tokens, clock, _, directory) = try Self.make()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try tokens.issue(did: "did:plc:abc", scope: .appPassPrivileged, appPasswordName: nil)
        let verified = try tokens.verifyRefresh(token: first.refresh)
        let second = try tokens.rotate(verified)
        clock.now += 60
        // A retry with the old token inside the grace window yields the same successor session.
        let retry = try tokens.rotate(try tokens.verifyRefresh(token: first.refresh))
        #expect(try JWT(parsing: retry.refresh).string("jti") == JWT(parsing: second.refresh).string("jti"))
        // The session keeps its privilege level across refreshes.
        #expect(try tokens.verifyAccess(token: second.access).scope == .appPassPrivileged)
        // After the grace period the old token is revoked; the new one still works.
        clock.now += 2 * 3600
        #expect(Self.errorName { _ = try tokens.rotate(try tokens.verifyRefresh(token: first.refresh)) } == "400 ExpiredToken")
        #expect(throws: Never.self) { _ = try tokens.rotate(try tokens.verifyRefresh(token: second.refresh)) }
    }

    @Test func passwordHashesVerifyAndResistTampering() throws {
        let hash = try PasswordHash.make("correct horse")
        #expect(hash.hasPrefix("scrypt$ln=14,r=8,p=1$"))
        #expect(PasswordHash.verify("correct horse", against: hash))
        #expect(!PasswordHash.verify("correct horsE", against: hash))
        #expect(!PasswordHash.verify("correct horse", against: hash.replacingOccurrences(of: "ln=14", with: "ln=30")))
        #expect(!PasswordHash.verify("correct horse", against: "plaintext"))
        #expect(try PasswordHash.make("x") != PasswordHash.make("x"))  // random salt
    }
}
