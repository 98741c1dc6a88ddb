import Foundation
@testable import PDSCore
@testable import PDSStore
import Synchronization
import Testing

/// The IP-independent login defence: counted failures, delays, the lock, its window, a success
/// resetting it, persistence across a restart, and the operator's reset.
@Suite struct LoginGuardTests {
    final class Clock: Sendable {
        let seconds = Mutex<Int64>(1_800_000_000)
        var now: Int64 { seconds.withLock { $0 } }
        func advance(_ by: Int64) { seconds.withLock { $0 += by } }
    }

    final class Sleeps: Sendable {
        let recorded = Mutex<[Duration]>([])
        var all: [Duration] { recorded.withLock { $0 } }
    }

    static let password = "correct horse battery staple"

    static func makeDirectory() throws -> String {
        let directory = NSTemporaryDirectory() + "pds-login-guard-\(UUID().uuidString)"
        let database = try PDSDatabase(directory: directory)
        try AccountStore(database: database).createAccount(
            did: "did:plc:abcdefghijklmnopqrstuvwx", handle: "alice.test", email: "alice@example.com",
            passwordHash: try PasswordHash.make(password))
        return directory
    }

    static func service(_ directory: String, clock: Clock, sleeps: Sleeps, limit: Int = 4, lockout: Int = 600) throws -> SessionService {
        let accounts = AccountStore(database: try PDSDatabase(directory: directory))
        var service = SessionService(
            secret: Array(repeating: 7, count: 32), audience: "did:web:pds.example.com", accounts: accounts,
            loginDefence: LoginDefenceSettings(failureLimit: limit, lockoutSeconds: lockout),
            sleep: { duration in sleeps.recorded.withLock { $0.append(duration) } })
        service.now = { clock.now }
        return service
    }

    /// "ok", "invalid" or "locked <retryAfter>".
    static func attempt(_ service: SessionService, identifier: String = "alice.test", password: String) async -> String {
        do {
            _ = try await service.login(identifier: identifier, password: password)
            return "ok"
        } catch SessionError.invalidCredentials {
            return "invalid"
        } catch SessionError.loginLocked(let retryAfter) {
            return "locked \(retryAfter)"
        } catch {
            return "\(error)"
        }
    }

    @Test func failuresDelayThenLockUntilTheWindowPassesAndASuccessResets() async throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = Clock(), sleeps = Sleeps()
        let service = try Self.service(directory, clock: clock, sleeps: sleeps, limit: 4, lockout: 600)

        // An unknown identifier counts like a wrong password.
        #expect(await Self.attempt(service, identifier: "mallory.test", password: "x") == "invalid")
        for _ in 0..<3 { #expect(await Self.attempt(service, password: "wrong") == "invalid") }
        // Delays from half the limit on (2 failures): 1 s after 2, 2 s after 3.
        #expect(sleeps.all == [.seconds(1), .seconds(2)])
        #expect(try service.loginGuard.failures() == 4)

        // Locked: even the right password is refused, without the password being checked.
        #expect(await Self.attempt(service, password: Self.password) == "locked 600")
        clock.advance(599)
        #expect(await Self.attempt(service, password: Self.password) == "locked 1")
        #expect(try service.loginGuard.failures() == 4, "refused attempts are not failures")

        // The window passed: one more wrong password locks again at once.
        clock.advance(1)
        #expect(await Self.attempt(service, password: "wrong") == "invalid")
        #expect(await Self.attempt(service, password: Self.password) == "locked 600")

        // After the next window the right password signs in and the count starts again.
        clock.advance(600)
        #expect(await Self.attempt(service, password: Self.password) == "ok")
        #expect(try service.loginGuard.failures() == 0)
        #expect(await Self.attempt(service, password: "wrong") == "invalid")
        #expect(try service.loginGuard.failures() == 1)
    }

    @Test func theCountSurvivesARestartAndTheOperatorResetUnlocks() async throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = Clock(), sleeps = Sleeps()
        let first = try Self.service(directory, clock: clock, sleeps: sleeps, limit: 3)
        for _ in 0..<3 { #expect(await Self.attempt(first, password: "wrong") == "invalid") }
        #expect(await Self.attempt(first, password: Self.password).hasPrefix("locked"))

        // A new process on the same database: still locked.
        let second = try Self.service(directory, clock: clock, sleeps: sleeps, limit: 3)
        #expect(try second.loginGuard.failures() == 3)
        #expect(await Self.attempt(second, password: Self.password).hasPrefix("locked"))

        // The operator's reset (what `pds account unlock-logins` calls), from another connection.
        let operatorStore = AccountStore(database: try PDSDatabase(directory: directory))
        #expect(try operatorStore.resetLoginFailures() == 3)
        #expect(await Self.attempt(second, password: Self.password) == "ok")
    }

    @Test func attemptsInProgressCountAgainstTheLimit() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clock = Clock()
        let guardian = try Self.service(directory, clock: clock, sleeps: Sleeps(), limit: 3).loginGuard
        // Three parallel guesses may be checked; a fourth is refused before any of them is recorded.
        for _ in 0..<3 { _ = try guardian.admit(now: clock.now) }
        #expect(throws: SessionError.loginLocked(retryAfter: 1)) { _ = try guardian.admit(now: clock.now) }
        // One of them failed: 1 failure + 2 in flight still fill the limit.
        #expect(try guardian.finish(.failed, now: clock.now) == 1)
        #expect(throws: SessionError.loginLocked(retryAfter: 1)) { _ = try guardian.admit(now: clock.now) }
        // One was abandoned (e.g. a database error): a slot is free again.
        #expect(try guardian.finish(.abandoned, now: clock.now) == 1)
        _ = try guardian.admit(now: clock.now)
    }

    @Test func delaysGrowFromHalfTheLimitAndAreCapped() throws {
        let directory = try Self.makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let guardian = try Self.service(directory, clock: Clock(), sleeps: Sleeps(), limit: 10).loginGuard
        #expect((0...4).map { guardian.delay(afterFailures: $0) }.allSatisfy { $0 == .zero })
        #expect(guardian.delay(afterFailures: 5) == .seconds(1))
        #expect(guardian.delay(afterFailures: 9) == .seconds(5))
        #expect(guardian.delay(afterFailures: 40) == .seconds(10))
    }
}
