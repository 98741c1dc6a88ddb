import ATCrypto
import Foundation
import Logging
@testable import PDSAppliance
import PDSCore
import PDSNetwork
import PDSStore
import Testing

/// `pds key rotate` on a development server (its identity is the local PLC record, so the
/// "directory" shows the change at once): new key file, document, `#identity`, old key kept.
@Suite struct KeyRotationTests {
    struct NoNetwork: OutboundHTTP {
        func stream(_ request: OutboundRequest) async throws -> OutboundStream {
            throw OutboundHTTPError.unreachable("no network in this test")
        }
    }

    @Test func rotationPublishesSwitchesAndKeepsTheOldKey() async throws {
        let directory = NSTemporaryDirectory() + "pds-rotate-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = PDSConfig(hostname: "127.0.0.1", port: 2583, bindAddress: "127.0.0.1", dataDirectory: directory, isDevelopment: true)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let keys = try DevBootstrap.loadKeys(dataDirectory: directory)
        let state = try PDSServices.open(config: config, keys: keys, logger: logger, http: NoNetwork())
        _ = try await DevBootstrap.ensureAccount(state: state, handle: "alice.test", password: "password-1234")
        let files = KeyFiles(dataDirectory: directory)
        let oldFile = try Data(contentsOf: URL(fileURLWithPath: files.signingKeyPath))
        let eventsBefore = try await state.events.highWaterMark()
        #expect(KeyRotation.pendingDescription(dataDirectory: directory) == nil)

        let identity = try DevBootstrap.identity(dataDirectory: directory)
        let outcome = try await KeyRotation.rotate(state: state, identities: [identity], wait: .seconds(5))
        #expect(outcome.switched)
        #expect(outcome.newKey != keys.signingKey.didKey)
        let retired = try #require(outcome.retiredPath)
        #expect(try Data(contentsOf: URL(fileURLWithPath: retired)) == oldFile)
        #expect(!FileManager.default.fileExists(atPath: files.nextSigningKeyPath))
        let mode = try FileManager.default.attributesOfItem(atPath: files.signingKeyPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let reloaded = try files.load(identities: [identity])
        #expect(reloaded.signingKey.didKey == outcome.newKey)
        #expect(reloaded.nextSigningKey == nil)
        #expect(reloaded.rotationKey?.didKey == keys.rotationKey?.didKey)
        #expect(try state.identity.didDocument()?.atprotoSigningKey?.didKey == outcome.newKey)
        let events = try await state.events.events(after: eventsBefore, limit: 10, maxBytes: 1 << 20)
        #expect(events.count == 1)
        #expect(events.first.map { String(decoding: $0.frame, as: UTF8.self).contains("#identity") } == true)
        // Nothing pending: a start changes nothing.
        let restarted = try PDSServices.open(config: config, keys: reloaded, logger: logger, http: NoNetwork())
        #expect(await KeyRotation.finishPending(state: restarted) == false)
    }

    @Test func aNewKeyFileIsSealedToTheSecretThatOpenedTheOthers() throws {
        let x25519 = AgeX25519Identity.generate()
        let sealed = try KeyRotation.recipients(for: [x25519])
        let bytes = try Age.encrypt(Array("key".utf8), to: sealed, armor: true)
        #expect(try Age.decrypt(bytes, identities: [x25519]) == Array("key".utf8))
        let passphrase = try KeyRotation.recipients(for: [AgeScryptIdentity(passphrase: "correct horse")])
        #expect(passphrase.count == 1 && passphrase.first is AgeScryptRecipient)
    }
}
