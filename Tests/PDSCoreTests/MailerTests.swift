import ATCrypto
import Foundation
import Logging
import OpenSSLNIO
@testable import PDSCore
import PDSNetwork
@testable import PDSStore
import Testing
import TestSupport

/// The outgoing queue: sealed at rest, retried with backoff while the SMTP server is down,
/// delivered later, and the e-mail uses of tokens (confirmation, change, the sign-in factor).
@Suite struct MailerTests {
    static let password = "correct horse battery staple"

    struct Setup {
        let database: PDSDatabase
        let keys: ServerKeys
        let accounts: AccountStore
    }

    static func setup(email: String? = "alice@example.net") throws -> Setup {
        let database = try PDSDatabase.inMemory()
        let accounts = AccountStore(database: database)
        try accounts.createAccount(did: "did:plc:abcdefghijklmnopqrstuvwx", handle: "alice.test", email: email,
                                   passwordHash: try PasswordHash.make(password))
        return Setup(database: database, keys: ServerKeys(signingKey: K256PrivateKey(), rotationKey: nil), accounts: accounts)
    }

    static func mailer(_ setup: Setup, port: Int, ca: String, keys: ServerKeys? = nil) -> Mailer {
        Mailer(settings: SMTPClientTests.settings(port: port, ca: ca), database: setup.database, keys: keys ?? setup.keys,
               heloName: "pds.example.com", logger: Logger(label: "test"))
    }

    /// The token in the single queued message, opened the way the delivery loop opens it.
    static func queuedToken(_ mailer: Mailer) throws -> (recipient: String, token: String) {
        let item = try #require(try mailer.outbox.due(now: Date().addingTimeInterval(86_400)).last)
        let opened = try #require(mailer.open(item))
        let text = String(decoding: opened.message, as: UTF8.self)
        let token = try #require(text.split(separator: "\r\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.count == 11 && $0.dropFirst(5).first == "-" })
        return (opened.recipient, token)
    }

    @Test func queuedWhileDownThenDeliveredLaterAndSealedAtRest() async throws {
        let fixture = try SMTPClientTests.fixture()
        let setup = try Self.setup()
        // Port 1: nothing listens; the SMTP server is down.
        let down = Self.mailer(setup, port: 1, ca: fixture.ca.caCertificatePath)
        let email = AccountEmail(accounts: setup.accounts, mailer: down, hostname: "pds.example.com", logger: Logger(label: "test"))
        #expect(try email.issueToken(purpose: AccountLifecycle.resetTokenPurpose) == .emailed)
        let (recipient, token) = try Self.queuedToken(down)
        #expect(recipient == "alice@example.net")

        let stored = try #require(try down.outbox.due().first)
        #expect(stored.sealed.firstRange(of: Array(token.utf8)) == nil, "the token is not on disk in plaintext")
        #expect(stored.sealed.firstRange(of: Array("alice@example.net".utf8)) == nil)

        let start = Date()
        #expect(await down.deliverDue(now: { start }) == 0)
        #expect(try down.outbox.due(now: start).isEmpty, "a failed message waits for its backoff")
        let next = try #require(try down.outbox.nextDue())
        #expect(next.timeIntervalSince(start) >= down.settings.retryBase - 1)
        #expect(try down.outbox.summary().pending == 1)
        #expect(try down.outbox.summary().lastError?.contains("connect") == true)
        #expect(down.backoff(afterAttempts: 1) == 2 * down.backoff(afterAttempts: 0))
        #expect(down.backoff(afterAttempts: 40) == Mailer.maxBackoff)

        // The server is up now (same database, same key): the message goes out when due.
        let server = try await SMTPTestServer(tls: fixture.store)
        defer { Task { await server.close() } }
        let up = Self.mailer(setup, port: server.port, ca: fixture.ca.caCertificatePath)
        // (A loaded machine can lose the TLS handshake with the test server: that attempt is a
        // transient failure, and the message is tried again at its next due time.)
        var delivered = 0, due = next
        for _ in 0..<5 where delivered == 0 {
            let now = due.addingTimeInterval(1)
            delivered = await up.deliverDue(now: { now })
            if delivered == 0 { due = try #require(try up.outbox.nextDue()) }
        }
        #expect(delivered == 1)
        #expect(try up.outbox.summary().pending == 0)
        let got = try #require(server.messages.first)
        #expect(got.recipients == ["alice@example.net"])
        #expect(String(decoding: got.data, as: UTF8.self).contains(token))
        // The token works once.
        #expect(try setup.accounts.consumeToken(token, purpose: AccountLifecycle.resetTokenPurpose))
        #expect(try !setup.accounts.consumeToken(token, purpose: AccountLifecycle.resetTokenPurpose))
    }

    @Test func theDeliveryLoopSendsWhatIsQueuedWhileItRunsAndStopsWhenCancelled() async throws {
        let fixture = try SMTPClientTests.fixture()
        let setup = try Self.setup()
        let server = try await SMTPTestServer(tls: fixture.store)
        defer { Task { await server.close() } }
        let mailer = Self.mailer(setup, port: server.port, ca: fixture.ca.caCertificatePath)
        let loop = Task { await mailer.run() }
        for index in 1...3 {
            try mailer.enqueue(mailer.message(to: "alice@example.net", subject: "n\(index)", body: "message \(index)"), purpose: "test")
            // Generous: the CI machine is slow; this returns as soon as the message is there.
            for _ in 0..<300 where server.messages.count < index { try await Task.sleep(for: .milliseconds(100)) }
            #expect(server.messages.count == index)
        }
        // The row goes once the server's 250 is read, a moment after the server stored the message.
        for _ in 0..<300 where try mailer.outbox.summary().pending > 0 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(try mailer.outbox.summary().pending == 0)
        loop.cancel()
        await loop.value
    }

    @Test func aPermanentRefusalDropsTheMessage() async throws {
        let fixture = try SMTPClientTests.fixture()
        let setup = try Self.setup()
        let server = try await SMTPTestServer(tls: fixture.store, behaviour: .init(refuseRecipients: true))
        defer { Task { await server.close() } }
        let mailer = Self.mailer(setup, port: server.port, ca: fixture.ca.caCertificatePath)
        try mailer.enqueue(mailer.message(to: "nobody@example.net", subject: "s", body: "b"), purpose: "test")
        // A loaded machine can fail a TLS handshake with the test server: that attempt is a
        // transient failure, retried (an hour later each time, well inside the day a message is
        // kept); the 550 to RCPT, once reached, drops the message.
        for attempt in 0..<5 where try mailer.outbox.summary().pending > 0 {
            #expect(await mailer.deliverDue(now: { Date().addingTimeInterval(Double(attempt) * 3600) }) == 0)
        }
        #expect(try mailer.outbox.summary().pending == 0, "a 550 to RCPT will not change: the message is dropped")
        #expect(server.messages.isEmpty)
        // The refusal itself is a permanent error. (An attempt that fails earlier, a handshake
        // lost on a loaded machine, is transient: tried again, as the mailer would.)
        var permanent = false
        for _ in 0..<5 where !permanent {
            do {
                try await mailer.client.send(Array("x\r\n".utf8), to: ["nobody@example.net"])
                Issue.record("a refused recipient was accepted")
                return
            } catch {
                permanent = (error as? SMTPError)?.isPermanent == true
            }
        }
        #expect(permanent)
    }

    @Test func aMessageSealedUnderAnotherKeyIsDropped() async throws {
        let fixture = try SMTPClientTests.fixture()
        let setup = try Self.setup()
        let old = Self.mailer(setup, port: 1, ca: fixture.ca.caCertificatePath)
        try old.enqueue(old.message(to: "alice@example.net", subject: "s", body: "b"), purpose: "test")
        let rotated = Self.mailer(setup, port: 1, ca: fixture.ca.caCertificatePath,
                                  keys: ServerKeys(signingKey: K256PrivateKey(), rotationKey: nil))
        #expect(await rotated.deliverDue() == 0)
        #expect(try rotated.outbox.summary().pending == 0)
    }

    @Test func withoutSMTPTokensAreLeftForTheCommandLine() throws {
        let setup = try Self.setup()
        let email = AccountEmail(accounts: setup.accounts, mailer: nil, hostname: "pds.example.com", logger: Logger(label: "test"))
        #expect(try email.issueToken(purpose: AccountEmail.confirmPurpose) == .commandLine)
        #expect(try EmailOutbox(database: setup.database).summary().pending == 0)
    }

    @Test func confirmationAndChangeOfTheAddress() throws {
        let setup = try Self.setup()
        let mailer = Self.mailer(setup, port: 1, ca: "/dev/null")
        let email = AccountEmail(accounts: setup.accounts, mailer: mailer, hostname: "pds.example.com", logger: Logger(label: "test"))
        var account = try #require(try setup.accounts.account())
        // Unconfirmed: no token needed to change it.
        #expect(try email.requestUpdate(account: account) == false)

        _ = try email.requestConfirmation(account: account)
        let confirm = try Self.queuedToken(mailer).token
        #expect(throws: AccountLifecycleError.named("InvalidEmail", "Invalid email")) {
            try email.confirm(account: account, email: "other@example.net", token: confirm)
        }
        #expect(throws: AccountLifecycleError.named("InvalidToken", "Token is invalid")) {
            try email.confirm(account: account, email: "alice@example.net", token: "WRONG-TOKEN")
        }
        try email.confirm(account: account, email: "ALICE@example.net", token: confirm)
        account = try #require(try setup.accounts.account())
        #expect(account.emailConfirmedAt != nil)

        // Confirmed: a change needs the token sent to the current address.
        #expect(throws: AccountLifecycleError.named("TokenRequired", "confirmation token required")) {
            try email.update(account: account, email: "new@example.net", emailAuthFactor: nil, token: nil)
        }
        #expect(try email.requestUpdate(account: account) == true)
        let update = try Self.queuedToken(mailer)
        #expect(update.recipient == "alice@example.net")
        try email.update(account: account, email: "alice@example.net", emailAuthFactor: true, token: update.token)
        account = try #require(try setup.accounts.account())
        #expect(account.emailAuthFactor && account.emailConfirmedAt != nil)

        _ = try email.requestUpdate(account: account)
        try email.update(account: account, email: "new@example.net", emailAuthFactor: nil, token: try Self.queuedToken(mailer).token)
        account = try #require(try setup.accounts.account())
        #expect(account.email == "new@example.net" && account.emailConfirmedAt == nil && !account.emailAuthFactor,
                "a new address is unconfirmed, and sign-in codes stop until it is confirmed")
        #expect(throws: AccountLifecycleError.self) {
            try email.update(account: account, email: "new@example.net", emailAuthFactor: true, token: nil)
        }
    }

    @Test func signInNeedsTheEmailedCodeWhenTheFactorIsOn() async throws {
        let setup = try Self.setup()
        try setup.accounts.confirmEmail()
        try setup.accounts.setEmailAuthFactor(true)
        let mailer = Self.mailer(setup, port: 1, ca: "/dev/null")
        var sessions = SessionService(secret: Array(repeating: 7, count: 32), audience: "did:web:pds.example.com", accounts: setup.accounts,
                                      sleep: { _ in })
        sessions.emailSignIn = AccountEmail(accounts: setup.accounts, mailer: mailer, hostname: "pds.example.com", logger: Logger(label: "test"))

        await #expect(throws: SessionError.authFactorTokenRequired) {
            _ = try await sessions.login(identifier: "alice.test", password: Self.password)
        }
        let code = try Self.queuedToken(mailer).token
        await #expect(throws: SessionError.invalidAuthFactorToken) {
            _ = try await sessions.login(identifier: "alice.test", password: Self.password, authFactorToken: "AAAAA-BBBBB")
        }
        #expect(try sessions.loginGuard.failures() == 1, "a wrong code counts as a failed login")
        // The wrong guess used nothing up: the mailed code still works, once, in any case.
        let session = try await sessions.login(identifier: "alice.test", password: Self.password, authFactorToken: code.lowercased())
        #expect(session.account.did == "did:plc:abcdefghijklmnopqrstuvwx")
        await #expect(throws: SessionError.self) {
            _ = try await sessions.login(identifier: "alice.test", password: Self.password, authFactorToken: code)
        }
        // A wrong password never sends a code.
        let before = try mailer.outbox.summary().pending
        await #expect(throws: SessionError.invalidCredentials) {
            _ = try await sessions.login(identifier: "alice.test", password: "wrong", authFactorToken: nil)
        }
        #expect(try mailer.outbox.summary().pending == before)
    }
}
