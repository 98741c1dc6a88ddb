import Foundation
@testable import PDSStore
import Testing

@Suite struct OAuthStoreTests {
    let now: Int64 = 1_800_000_000

    func session(_ id: String = "s1", access: String = "a1", refresh: String? = "r1", clientID: String = "https://app.example.com/m.json",
                 clientAuth: String = "none") -> OAuthSessionRow {
        OAuthSessionRow(id: id, did: "did:plc:owner", clientID: clientID, scope: "atproto transition:generic", dpopJKT: "jkt",
                        clientAuth: clientAuth, clientKey: clientAuth == "none" ? nil : "k1 thumb", createdAt: now,
                        expiresAt: now + 86400, accessHash: access, accessExpiresAt: now + 900, refreshHash: refresh,
                        refreshExpiresAt: refresh == nil ? nil : now + 86400)
    }

    func request(_ id: String = "req1") -> OAuthRequestRow {
        OAuthRequestRow(id: id, clientID: "https://app.example.com/m.json", parameters: "{}", dpopJKT: "jkt", clientKey: nil,
                        expiresAt: now + 300)
    }

    @Test func requestIsApprovedOnceAndCodeIsSingleUse() throws {
        let store = OAuthStore(database: try PDSDatabase.inMemory())
        try store.insertRequest(request())
        #expect(try store.pendingRequest(id: "req1", now: now) != nil)
        #expect(try store.pendingRequest(id: "req1", now: now + 301) == nil)
        #expect(try store.approveRequest(id: "req1", did: "did:plc:owner", codeHash: "code1", codeExpiresAt: now + 60, now: now))
        #expect(try !store.approveRequest(id: "req1", did: "did:plc:owner", codeHash: "code2", codeExpiresAt: now + 60, now: now))
        #expect(try store.pendingRequest(id: "req1", now: now) == nil)

        let first = try store.exchangeCode(hash: "code1", now: now) { row in
            #expect(row.did == "did:plc:owner")
            return session()
        }
        #expect(first == .issued(session()))
        #expect(try store.session(accessHash: "a1", now: now) != nil)
        // Reuse: refused, and the session it created is revoked.
        let second = try store.exchangeCode(hash: "code1", now: now) { _ in Issue.record("must not be called"); return session("s2") }
        #expect(second == .reused)
        #expect(try store.session(accessHash: "a1", now: now) == nil)
        #expect(try store.exchangeCode(hash: "nope", now: now) { _ in session() } == .unknown)
    }

    @Test func aRefusedExchangeConsumesNothing() throws {
        struct Refused: Error {}
        let store = OAuthStore(database: try PDSDatabase.inMemory())
        try store.insertRequest(request())
        _ = try store.approveRequest(id: "req1", did: "did:plc:owner", codeHash: "code1", codeExpiresAt: now + 60, now: now)
        #expect(throws: Refused.self) { try store.exchangeCode(hash: "code1", now: now) { _ in throw Refused() } }
        #expect(try store.exchangeCode(hash: "code1", now: now) { _ in session() } == .issued(session()))
        // An expired code is unknown.
        try store.insertRequest(request("req2"))
        _ = try store.approveRequest(id: "req2", did: "did:plc:owner", codeHash: "code2", codeExpiresAt: now + 60, now: now)
        #expect(try store.exchangeCode(hash: "code2", now: now + 61) { _ in session("s9", access: "a9", refresh: "r9") } == .unknown)
    }

    @Test func refreshRotatesOnceAndReuseRevokes() throws {
        let store = OAuthStore(database: try PDSDatabase.inMemory())
        try store.database.pool.write { db in try OAuthStore.insert(session(), db) }
        let next = { (_: OAuthSessionRow) in (accessHash: "a2", accessExpiresAt: now + 900, refreshHash: "r2", refreshExpiresAt: now + 86400) }
        guard case .rotated(let rotated) = try store.rotateRefresh(hash: "r1", now: now + 10, check: { _ in }, next: next) else {
            Issue.record("expected a rotation")
            return
        }
        #expect(rotated.accessHash == "a2" && rotated.refreshHash == "r2")
        #expect(try store.session(accessHash: "a1", now: now) == nil)
        #expect(try store.session(accessHash: "a2", now: now) != nil)
        // The old token again: the session is revoked.
        #expect(try store.rotateRefresh(hash: "r1", now: now + 20, check: { _ in }, next: next) == .reused)
        #expect(try store.session(accessHash: "a2", now: now) == nil)
        #expect(try store.rotateRefresh(hash: "r2", now: now + 30, check: { _ in }, next: next) == .unknown)
    }

    @Test func replayStoreRemembersUntilExpiry() throws {
        let store = OAuthStore(database: try PDSDatabase.inMemory())
        #expect(try store.recordOnce("dpop:j1", expiresAt: now + 60, now: now))
        #expect(try !store.recordOnce("dpop:j1", expiresAt: now + 60, now: now + 59))
        #expect(try store.recordOnce("dpop:j1", expiresAt: now + 200, now: now + 61))
    }

    @Test func revocationApprovalsAndSweep() throws {
        let store = OAuthStore(database: try PDSDatabase.inMemory())
        try store.database.pool.write { db in
            try OAuthStore.insert(session(), db)
            try OAuthStore.insert(session("s2", access: "a2", refresh: "r2"), db)
            try OAuthStore.insert(session("s3", access: "a3", refresh: "r3", clientID: "https://other.example.com/m.json", clientAuth: "private_key_jwt"), db)
        }
        #expect(try store.revokeToken(hash: "r2"))
        #expect(try !store.revokeToken(hash: "r2"))
        try store.saveApproval(did: "did:plc:owner", clientID: "https://app.example.com/m.json", scope: "atproto", now: now)
        #expect(try store.approval(did: "did:plc:owner", clientID: "https://app.example.com/m.json") == "atproto")
        #expect(try store.confidentialSessions(now: now).map(\.id) == ["s3"])
        #expect(try store.revokeClient(did: "did:plc:owner", clientID: "https://app.example.com/m.json") == 1)
        #expect(try store.approval(did: "did:plc:owner", clientID: "https://app.example.com/m.json") == nil)
        #expect(try store.sessions(did: "did:plc:owner", now: now).map(\.id) == ["s3"])

        try store.insertRequest(request())
        _ = try store.recordOnce("k", expiresAt: now + 10, now: now)
        try store.createPageSession(OAuthPageSession(id: "p", did: "did:plc:owner", csrf: "c", expiresAt: now + 10), now: now)
        #expect(try store.sweep(now: now) == 0)
        #expect(try store.sweep(now: now + 100_000) == 4)
    }

    /// Sessions read once are answered from memory; every way of ending one is seen at once.
    @Test func cachedSessionsEndWithTheirRevocation() throws {
        let store = OAuthStore(database: try PDSDatabase.inMemory())
        try store.database.pool.write { db in
            try OAuthStore.insert(session(), db)
            try OAuthStore.insert(session("s2", access: "a2", refresh: "r2"), db)
        }
        #expect(try store.session(accessHash: "a1", now: now)?.id == "s1")
        #expect(try store.session(accessHash: "a1", now: now + 901) == nil)  // the access token's own expiry
        try store.revokeToken(hash: "r1")
        #expect(try store.session(accessHash: "a1", now: now) == nil)
        #expect(try store.session(accessHash: "a2", now: now)?.id == "s2")
        try store.revokeSession(id: "s2")
        #expect(try store.session(accessHash: "a2", now: now) == nil)
    }

    @Test func stateSurvivesReopening() throws {
        let directory = NSTemporaryDirectory() + "pds-oauth-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let store = OAuthStore(database: try PDSDatabase(directory: directory))
            try store.database.pool.write { db in try OAuthStore.insert(session(), db) }
            _ = try store.recordOnce("dpop:j", expiresAt: now + 60, now: now)
        }
        let reopened = OAuthStore(database: try PDSDatabase(directory: directory))
        #expect(try reopened.session(accessHash: "a1", now: now)?.id == "s1")
        #expect(try !reopened.recordOnce("dpop:j", expiresAt: now + 60, now: now))
        #expect(try reopened.database.appliedMigrations().contains("oauth-v1"))
    }
}
