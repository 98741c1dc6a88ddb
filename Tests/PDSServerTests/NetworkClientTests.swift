import ATCrypto
import ATIdentity
import ATSyntax
import Foundation
import Logging
import PDSAppliance
import PDSCore
@testable import PDSNetwork
@testable import PDSServer
import Synchronization
import Testing

/// An `OutboundHTTP` that answers from a script and records what it was asked.
final class ScriptedHTTP: OutboundHTTP, @unchecked Sendable {
    struct Call: Sendable { let method: String; let url: String; let body: [UInt8]? }
    private let lock = Mutex<(answers: [(Int, String)], calls: [Call])>(([], []))

    init(_ answers: [(Int, String)]) { lock.withLock { $0.answers = answers } }

    var calls: [Call] { lock.withLock { $0.calls } }

    func stream(_ request: OutboundRequest) async throws -> OutboundStream {
        let answer = lock.withLock { state -> (Int, String)? in
            state.calls.append(Call(method: request.method, url: request.url.absoluteString, body: request.body))
            return state.answers.isEmpty ? nil : state.answers.removeFirst()
        }
        guard let (status, body) = answer else { throw OutboundHTTPError.unreachable("no scripted answer") }
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self)
        continuation.yield(Array(body.utf8))
        continuation.finish()
        return OutboundStream(status: status, headers: ["content-type": "application/json"], body: stream)
    }
}

@Suite struct PLCDirectoryTests {
    let rotation = K256PrivateKey()

    func genesis() throws -> (PLCOperation, DID) {
        let result = try PLCOperation.signedGenesis(
            handle: try Handle("alice.example.com"), signingKey: K256PrivateKey().publicKey.didKey,
            pdsEndpoint: "https://pds.example.com", serverRotationKey: rotation)
        return (result.operation, result.did)
    }

    func directory(_ http: ScriptedHTTP) -> PLCDirectory {
        var directory = PLCDirectory(http: http, baseURL: "https://plc.test", logger: Logger(label: "test"))
        directory.attempts = 3
        return directory
    }

    @Test func submitsTheOperationJSONToTheDIDPath() async throws {
        let (operation, did) = try genesis()
        let http = ScriptedHTTP([(200, "")])
        try await directory(http).submit(operation, did: did.string)
        #expect(http.calls.count == 1)
        #expect(http.calls[0].method == "POST")
        #expect(http.calls[0].url == "https://plc.test/\(did.string)")
        #expect(try PLCOperation(jsonBytes: http.calls[0].body ?? []) == operation)
    }

    @Test func transientFailuresAreRetried() async throws {
        let (operation, did) = try genesis()
        let http = ScriptedHTTP([(503, "busy"), (200, "")])
        try await directory(http).submit(operation, did: did.string)
        #expect(http.calls.count == 2)
    }

    @Test func conflictIsSuccessWhenTheDirectoryHasThisOperation() async throws {
        let (operation, did) = try genesis()
        let http = ScriptedHTTP([(409, #"{"message":"exists"}"#), (200, operation.json.serializedString)])
        try await directory(http).submit(operation, did: did.string)
        #expect(http.calls.last?.url == "https://plc.test/\(did.string)/log/last")
    }

    @Test func conflictWithAnotherHeadAndBadRequestsAreClearErrors() async throws {
        let (operation, did) = try genesis()
        let other = try PLCOperation.update(after: operation, handle: try Handle("bob.example.com")).signed(with: rotation)
        let conflict = ScriptedHTTP([(409, #"{"message":"stale prev"}"#), (200, other.json.serializedString)])
        await #expect(throws: PLCDirectory.Rejected.self) { try await directory(conflict).submit(operation, did: did.string) }
        let refused = ScriptedHTTP([(400, #"{"message":"Invalid signature"}"#)])
        let error = await #expect(throws: PLCDirectory.Rejected.self) { try await directory(refused).submit(operation, did: did.string) }
        #expect(error?.description.contains("Invalid signature") == true)
        #expect(refused.calls.count == 1, "a 400 is final, not retried")
    }

    @Test func unreachableAfterTheLastAttempt() async throws {
        let (operation, did) = try genesis()
        let http = ScriptedHTTP([(502, ""), (502, ""), (502, "")])
        let error = await #expect(throws: PLCDirectory.Rejected.self) { try await directory(http).submit(operation, did: did.string) }
        #expect(error?.description.contains("unreachable") == true)
        #expect(http.calls.count == 3)
    }
}

@Suite struct ConfigTests {
    @Test func networkKeysAreReadAndChecked() throws {
        let config = try PDSConfig.load(file: [
            "PDS_HOSTNAME": "pds.example.com", "PDS_DID_PLC_URL": "https://plc.test/",
            "PDS_CRAWLERS": "https://relay.one, https://relay.two", "PDS_TLS": "files",
            "PDS_TLS_CERTIFICATE": "/c.pem", "PDS_TLS_PRIVATE_KEY": "/k.pem", "PDS_KEY_UNLOCK": "passphrase",
        ], environment: [:])
        #expect(config.plcURL == "https://plc.test")
        #expect(config.publishesIdentity)
        #expect(config.crawlers == ["https://relay.one", "https://relay.two"])
        #expect(config.tlsMode == .files)
        #expect(config.keyUnlock == .passphrase)
        #expect(config.appViewDID == "did:web:api.bsky.app")
        for (key, value) in [("PDS_DID_PLC_URL", "ftp://x"), ("PDS_TLS", "maybe"), ("PDS_KEY_UNLOCK", "magic"),
                             ("PDS_BSKY_APP_VIEW_DID", "api.bsky.app"), ("PDS_METRICS_ENABLED", "perhaps")] {
            #expect(throws: PDSConfig.Invalid.self, "\(key)=\(value)") {
                try PDSConfig.load(file: ["PDS_HOSTNAME": "pds.example.com", key: value], environment: [:])
            }
        }
        #expect(throws: PDSConfig.Invalid.self, "files without paths") {
            try PDSConfig.load(file: ["PDS_HOSTNAME": "pds.example.com", "PDS_TLS": "files"], environment: [:])
        }
    }

    @Test func devPublishesOnlyWhenADirectoryIsNamed() throws {
        #expect(try !PDSConfig.load(file: [:], environment: [:], isDevelopment: true).publishesIdentity)
        #expect(try PDSConfig.load(file: [:], environment: ["PDS_DID_PLC_URL": "http://127.0.0.1:1"], isDevelopment: true).publishesIdentity)
        #expect(try PDSConfig.load(file: [:], environment: [:], isDevelopment: true).webDID == "did:web:127.0.0.1%3A2583")
    }
}

@Suite struct KeyUnlockTests {
    @Test func secretFilesReadableByOthersAreRefused() throws {
        let path = NSTemporaryDirectory() + "pds-unlock-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "correct horse\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        #expect(throws: KeyUnlock.Problem.self) { try KeyUnlock.identities(fromSecretFile: path, method: .passphrase) }
        chmod(path, 0o600)
        #expect(try KeyUnlock.identities(fromSecretFile: path, method: .passphrase).count == 1)
        #expect(throws: KeyUnlock.Problem.self, "a passphrase is not an identity file") {
            try KeyUnlock.identities(fromSecretFile: path, method: .identity)
        }
    }

    @Test func theCredentialDirectoryComesFirst() throws {
        let directory = NSTemporaryDirectory() + "pds-credentials-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let identity = AgeX25519Identity.generate()
        try KeyFiles.writeSecretFile(Array((identity.encoded() + "\n").utf8), to: directory + "/" + KeyUnlock.credentialName)
        var config = PDSConfig(hostname: "pds.example.com")
        config.keyPassphraseFile = "/nonexistent"
        let found = try KeyUnlock.identities(config: config, environment: ["CREDENTIALS_DIRECTORY": directory], prompt: { nil })
        #expect((found.first as? AgeX25519Identity)?.recipient.description == identity.recipient.description)
        let none = PDSConfig(hostname: "pds.example.com")
        #expect(throws: KeyUnlock.Problem.self) { try KeyUnlock.identities(config: none, environment: [:], prompt: { nil }) }
    }
}
