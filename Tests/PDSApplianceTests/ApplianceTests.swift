import Foundation
@testable import PDSAppliance
import PDSCore
@testable import PDSNetwork
import PDSServer
import PDSStore
import Synchronization
import Testing

/// A fresh directory under the system temporary directory, removed by the caller.
private func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "pds-appliance-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// `PDS_CRAWLERS`: the reference distribution's relay unless the key says otherwise.
@Suite struct CrawlerSettingTests {
    @Test func absentKeyMeansTheDefaultRelay() throws {
        let config = try PDSConfig.load(file: ["PDS_HOSTNAME": "pds.example.com"], environment: [:])
        #expect(config.crawlers == ["https://bsky.network"])
        #expect(PDSConfig.defaultCrawlers == ["https://bsky.network"])
    }

    @Test func emptyKeyTurnsCrawlingOff() throws {
        #expect(try PDSConfig.load(file: ["PDS_HOSTNAME": "pds.example.com", "PDS_CRAWLERS": ""], environment: [:]).crawlers == [])
        // The environment overrides the file, also with an empty value.
        #expect(try PDSConfig.load(file: ["PDS_HOSTNAME": "pds.example.com", "PDS_CRAWLERS": "https://relay.one"],
                                   environment: ["PDS_CRAWLERS": ""]).crawlers == [])
    }

    @Test func aDevServerOnLoopbackAsksNoRelayUnlessTold() throws {
        #expect(try PDSConfig.load(file: [:], environment: [:], isDevelopment: true).crawlers == [])
        #expect(try PDSConfig.load(file: [:], environment: ["PDS_CRAWLERS": "http://127.0.0.1:9"], isDevelopment: true).crawlers
                == ["http://127.0.0.1:9"])
    }

    @Test func initWritesTheKey() {
        func options(_ settings: [(String, String)]) -> ApplianceInit.Options {
            ApplianceInit.Options(hostname: "pds.example.com", handle: "alice.example.com", password: "password-1",
                                  unlock: .passphrase, passphrase: "secret", identityFile: nil, email: nil,
                                  dataDirectory: "/var/lib/pds", configPath: "/etc/pds/pds.conf", recoveryKeyFile: nil,
                                  settings: settings)
        }
        let lines = ApplianceInit.configLines(options([]), recoveryDIDKey: "did:key:zTest", identityPath: nil)
        #expect(lines.filter { $0.hasPrefix("PDS_CRAWLERS=") } == ["PDS_CRAWLERS=https://bsky.network"])
        // A --set of its own replaces the default instead of adding a second line.
        let chosen = ApplianceInit.configLines(options([("PDS_CRAWLERS", "")]), recoveryDIDKey: "did:key:zTest", identityPath: nil)
        #expect(chosen.filter { $0.hasPrefix("PDS_CRAWLERS=") } == ["PDS_CRAWLERS="])
    }
}

/// An `OutboundHTTP` that answers every request with `status` and records the URLs asked for.
private final class RecordingHTTP: OutboundHTTP {
    let status: Int
    private let asked = Mutex<[String]>([])
    init(status: Int) { self.status = status }
    var urls: [String] { asked.withLock { $0 } }

    func stream(_ request: OutboundRequest) async throws -> OutboundStream {
        asked.withLock { $0.append(request.url.absoluteString) }
        let (body, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self)
        continuation.finish()
        return OutboundStream(status: status, headers: [:], body: body)
    }
}

/// `pds doctor`'s relay check: made for every configured relay (the default included), and
/// reported, not skipped, when crawling is off.
@Suite struct DoctorRelayTests {
    func relayFindings(_ extra: String) async throws -> (findings: [Doctor.Finding], asked: [String]) {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/pds.conf"
        try "PDS_HOSTNAME=localhost\nPDS_DATA_DIRECTORY=\(directory)/data\nPDS_TLS=off\n\(extra)\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let http = RecordingHTTP(status: 200)
        let findings = await Doctor.run(configPath: path, environment: [:], http: http) { _ in }
        return (findings.filter { $0.check == "relay" }, http.urls)
    }

    @Test func theDefaultRelayIsChecked() async throws {
        let (relay, asked) = try await relayFindings("")
        #expect(relay.count == 1 && relay[0].ok && relay[0].detail.contains("https://bsky.network"), "\(relay)")
        #expect(asked.contains("https://bsky.network/xrpc/_health"), "\(asked)")
    }

    @Test func configuredRelaysAreEachChecked() async throws {
        let (relay, asked) = try await relayFindings("PDS_CRAWLERS=https://relay.one,https://relay.two")
        #expect(relay.map(\.ok) == [true, true], "\(relay)")
        #expect(asked.filter { $0.hasSuffix("/xrpc/_health") } == ["https://relay.one/xrpc/_health", "https://relay.two/xrpc/_health"])
    }

    @Test func crawlingOffIsReported() async throws {
        let (relay, asked) = try await relayFindings("PDS_CRAWLERS=")
        #expect(relay.count == 1 && relay[0].detail.contains("crawling is off"), "\(relay)")
        #expect(asked.isEmpty, "\(asked)")
    }
}

/// `pds account plc-token` issues a token only for an initialised server.
@Suite struct AccountTokenTests {
    @Test func refusesADirectoryWithoutADatabaseAndCreatesNothing() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: AccountTokens.Refused.self) { try AccountTokens.issuePLCToken(dataDirectory: directory) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        let missing = directory + "/nothing-here"
        do {
            _ = try AccountTokens.issuePLCToken(dataDirectory: missing)
            Issue.record("issued a token for \(missing)")
        } catch {
            #expect("\(error)".contains("holds no initialised server"), "\(error)")
            #expect(!"\(error)".contains("\n"), "not one line: \(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: missing))
    }

    @Test func refusesADatabaseWithoutTheAccountThenIssuesOnceItExists() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = try PDSDatabase(directory: directory)
        #expect(throws: AccountTokens.Refused.self) { try AccountTokens.issuePLCToken(dataDirectory: directory) }
        try AccountStore(database: database).createAccount(did: "did:plc:abcdefghijklmnopqrstuvwx", handle: "alice.test",
                                                           email: nil, passwordHash: try PasswordHash.make("password-1"))
        let token = try AccountTokens.issuePLCToken(dataDirectory: directory)
        #expect(token.wholeMatch(of: /[A-Z2-9]{5}-[A-Z2-9]{5}/) != nil, "\(token)")
    }
}
