import Foundation
import NIOCore
import NIOPosix
@testable import OpenSSLNIO
@testable import PDSNetwork
import Synchronization
import Testing

/// A resolver that answers from a script, one answer per call (the last repeats), and counts
/// the calls.
final class ScriptedResolver: HostResolver {
    private let answers: [[String]]
    private let calls = Mutex(0)

    init(_ answers: [[String]]) { self.answers = answers }

    var callCount: Int { calls.withLock { $0 } }

    func resolve(host: String, port: Int) async throws -> [SocketAddress] {
        let call = calls.withLock { count in
            defer { count += 1 }
            return count
        }
        return try answers[min(call, answers.count - 1)].map { try SocketAddress(ipAddress: $0, port: port) }
    }
}

@Suite struct OutboundGuardAddressTests {
    func refusal(_ text: String) -> String? {
        guard let address = IPAddress(text) else { Issue.record("\(text) does not parse"); return nil }
        return AddressPolicy.refusal(address)
    }

    @Test func everyNonPublicIPv4ClassIsRefused() {
        let refused: [String: String] = [
            "0.0.0.0": "this network", "0.255.1.2": "this network",
            "127.0.0.1": "loopback", "127.255.255.254": "loopback",
            "10.0.0.1": "private", "172.16.0.1": "private", "172.31.255.255": "private", "192.168.1.1": "private",
            "100.64.0.1": "carrier-grade NAT", "100.127.255.254": "carrier-grade NAT",
            "169.254.169.254": "link-local",
            "192.0.0.8": "IETF", "192.0.2.1": "documentation", "198.51.100.7": "documentation", "203.0.113.9": "documentation",
            "198.18.0.1": "benchmarking", "198.19.255.255": "benchmarking",
            "192.88.99.1": "6to4 relay",
            "224.0.0.1": "multicast", "239.255.255.250": "multicast",
            "240.0.0.1": "reserved", "255.255.255.255": "broadcast",
        ]
        for (address, expected) in refused {
            let reason = refusal(address)
            #expect(reason?.contains(expected) == true, "\(address): \(reason ?? "allowed")")
        }
        for address in ["8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.1", "172.15.255.255", "172.32.0.1",
                        "169.253.0.1", "192.0.1.1", "198.17.255.255", "198.20.0.1", "223.255.255.255", "11.0.0.1"] {
            #expect(refusal(address) == nil, "\(address) is public: \(refusal(address) ?? "")")
        }
    }

    @Test func everyNonPublicIPv6ClassIsRefused() {
        let refused: [String: String] = [
            "::": "unspecified", "::1": "loopback",
            "fe80::1": "link-local", "febf::1": "link-local", "fec0::1": "site-local",
            "fc00::1": "unique local", "fd12:3456::1": "unique local",
            "ff02::1": "multicast", "ff0e::1": "multicast",
            "2001:db8::1": "documentation", "3fff::1": "documentation",
            "2001::1": "IETF", "2001:0:4136:e378::1": "IETF",
            "100::1": "discard", "64:ff9b:1::1": "local-use NAT64",
            "4000::1": "not global unicast", "::2:1": "IPv4-compatible",
        ]
        for (address, expected) in refused {
            let reason = refusal(address)
            #expect(reason?.contains(expected) == true, "\(address): \(reason ?? "allowed")")
        }
        for address in ["2606:4700:4700::1111", "2a00:1450:4001::1", "2001:4860:4860::8888", "2002:808:808::1"] {
            #expect(refusal(address) == nil, "\(address) is public: \(refusal(address) ?? "")")
        }
    }

    /// IPv4 inside IPv6 is judged by the IPv4 address it carries.
    @Test func embeddedIPv4IsJudgedByItsIPv4() {
        let refused: [String: String] = [
            "::ffff:127.0.0.1": "IPv4-mapped 127.0.0.1: loopback",
            "::ffff:10.1.2.3": "IPv4-mapped 10.1.2.3: private",
            "::ffff:169.254.169.254": "link-local",
            "::ffff:0.0.0.0": "this network",
            "::127.0.0.1": "IPv4-compatible",
            "::8.8.8.8": "IPv4-compatible",  // deprecated form: refused whatever it carries
            "64:ff9b::127.0.0.1": "NAT64 127.0.0.1: loopback",
            "64:ff9b::192.168.0.1": "NAT64 192.168.0.1: private",
            "64:ff9b::a9fe:a9fe": "NAT64 169.254.169.254: link-local",
            "2002:7f00:1::1": "6to4 127.0.0.1: loopback",
            "2002:c0a8:101::1": "6to4 192.168.1.1: private",
        ]
        for (address, expected) in refused {
            let reason = refusal(address)
            #expect(reason?.contains(expected) == true, "\(address): \(reason ?? "allowed")")
        }
        #expect(refusal("::ffff:8.8.8.8") == nil)
        #expect(refusal("64:ff9b::8.8.8.8") == nil)
    }

    @Test func addressesPrintAsTheyParse() {
        #expect(IPAddress("127.0.0.1")?.description == "127.0.0.1")
        #expect(IPAddress("::ffff:127.0.0.1")?.description == "::ffff:127.0.0.1")
        #expect(IPAddress("fe80::1")?.description == "fe80::1")
        #expect(IPAddress("localhost") == nil)
        #expect(IPAddress("[::1]") == nil)
    }

    @Test func theGuardRefusesUnlessEveryAddressIsPublic() async throws {
        let strict = OutboundGuard(resolver: ScriptedResolver([["8.8.8.8", "2606:4700:4700::1111"]]))
        #expect(try await strict.addresses(host: "public.test", port: 443).count == 2)
        for literal in ["127.0.0.1", "::1", "[::1]", "10.0.0.1", "169.254.169.254", "::ffff:127.0.0.1", "0.0.0.0"] {
            await #expect(throws: OutboundHTTPError.self, "\(literal)") { _ = try await strict.addresses(host: literal, port: 80) }
        }
        // One private address among public ones is enough to refuse the name.
        let mixed = OutboundGuard(resolver: ScriptedResolver([["8.8.8.8", "127.0.0.1"]]))
        do {
            _ = try await mixed.addresses(host: "mixed.test", port: 80)
            Issue.record("a name with a loopback address was allowed")
        } catch OutboundHTTPError.refused(let refusal) {
            #expect(refusal.host == "mixed.test" && refusal.address == "127.0.0.1" && refusal.reason.contains("loopback"))
            #expect("\(refusal)" == "refused to connect to mixed.test (127.0.0.1): loopback (127.0.0.0/8)")
        }
        let nothing = OutboundGuard(resolver: ScriptedResolver([[]]))
        await #expect(throws: OutboundHTTPError.self) { _ = try await nothing.addresses(host: "empty.test", port: 80) }

        // The test switch lets private addresses through (still resolved once, by the guard).
        let open = OutboundGuard(allowPrivate: true, resolver: ScriptedResolver([["127.0.0.1"]]))
        #expect(try await open.addresses(host: "stand-in.test", port: 80).map { "\($0)" }.count == 1)
        #expect(try await open.addresses(host: "127.0.0.1", port: 80).count == 1)
    }

    @Test func theSystemResolverAnswersLocalhost() async throws {
        let addresses = try await SystemHostResolver().resolve(host: "localhost", port: 80)
        #expect(!addresses.isEmpty)
        #expect(addresses.allSatisfy { IPAddress($0).map { AddressPolicy.refusal($0)?.contains("loopback") == true } ?? false })
        await #expect(throws: (any Error).self) { _ = try await SystemHostResolver().resolve(host: "no-such-name.invalid", port: 80) }
    }

    @Test func outboundSettingsAreReadAndChecked() throws {
        #expect(try OutboundSettings.load(from: [:]) == OutboundSettings(allowPrivate: false, pool: true, caFile: nil))
        let set = try OutboundSettings.load(from: ["PDS_OUTBOUND_ALLOW_PRIVATE": "1", "PDS_OUTBOUND_POOL": "0", "PDS_OUTBOUND_CA_FILE": "/ca.pem"])
        #expect(set == OutboundSettings(allowPrivate: true, pool: false, caFile: "/ca.pem"))
        #expect(throws: OutboundSettings.Invalid.self) { try OutboundSettings.load(from: ["PDS_OUTBOUND_ALLOW_PRIVATE": "maybe"]) }
    }
}

/// The guard in front of real requests, on loopback: a policy that counts 127.0.0.1 as public
/// plays the internet, every other address is judged as in production.
@Suite struct OutboundGuardClientTests {
    static let loopbackIsPublic: @Sendable (IPAddress) -> String? = { address in
        address == IPAddress("127.0.0.1") ? nil : AddressPolicy.refusal(address)
    }

    func guarded(_ resolver: ScriptedResolver, maxResponseBytes: Int = 16 << 20) -> any OutboundHTTP {
        NIOHTTPClient().guarded(by: OutboundGuard(maxResponseBytes: maxResponseBytes, resolver: resolver, policy: Self.loopbackIsPublic))
    }

    /// DNS rebinding: the name answers a "public" address to the check and loopback afterwards.
    /// The connection goes to the address that was checked; nothing asks the name again.
    @Test func theConnectionGoesToTheCheckedAddress() async throws {
        let server = try await LoopbackHTTPServer.start()
        defer { Task { await server.stop() } }
        let resolver = ScriptedResolver([["127.0.0.1"], ["127.0.0.2"]])
        let client = guarded(resolver)
        // `rebind.test` does not exist for the system resolver: success means the client connected
        // to the checked address instead of resolving the name itself.
        let response = try await client.send(OutboundRequest(url: URL(string: "http://rebind.test:\(server.port)/echo")!))
        #expect(response.status == 200)
        #expect(response.headers["x-host"] == "rebind.test:\(server.port)", "the Host header names the host, not the address")
        #expect(resolver.callCount == 1)
        #expect(server.record.snapshot.requests == 1)

        // The second answer (rebinding to another address) is checked again and refused.
        await #expect(throws: OutboundHTTPError.self) {
            _ = try await client.send(OutboundRequest(url: URL(string: "http://rebind.test:\(server.port)/echo")!))
        }
        #expect(resolver.callCount == 2)
        #expect(server.record.snapshot.requests == 1)
    }

    /// A "public" first answer with a private one beside it is refused before any connection.
    @Test func aNameWithOnePrivateAddressIsRefused() async throws {
        let server = try await LoopbackHTTPServer.start()
        defer { Task { await server.stop() } }
        let client = guarded(ScriptedResolver([["127.0.0.1", "::1"]]))
        do {
            _ = try await client.send(OutboundRequest(url: URL(string: "http://both.test:\(server.port)/hello")!))
            Issue.record("refused address let through")
        } catch OutboundHTTPError.refused(let refusal) {
            #expect(refusal.address == "::1")
        }
        #expect(server.record.snapshot.requests == 0)
    }

    @Test func aRedirectToAPrivateAddressIsRefused() async throws {
        let server = try await LoopbackHTTPServer.start()
        defer { Task { await server.stop() } }
        let client = guarded(ScriptedResolver([["127.0.0.1"]]))
        // The allowed hop works, redirects within it too.
        let same = try await client.send(OutboundRequest(url: URL(string: "http://127.0.0.1:\(server.port)/redirect?to=/hello")!, followRedirects: true))
        #expect(same.status == 200)
        for target in ["http://127.0.0.2:\(server.port)/hello", "http://[::1]:\(server.port)/hello", "http://10.0.0.1/hello",
                       "http://[::ffff:127.0.0.2]:\(server.port)/hello", "http://169.254.169.254/latest/meta-data/"] {
            let location = target.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            do {
                _ = try await client.send(OutboundRequest(url: URL(string: "http://127.0.0.1:\(server.port)/redirect?to=\(location)")!,
                                                          timeout: 2, followRedirects: true))
                Issue.record("redirect to \(target) followed")
            } catch OutboundHTTPError.refused {
            } catch {
                Issue.record("redirect to \(target): \(error)")
            }
        }
        // A redirect to a name is resolved and checked too.
        let names = ScriptedResolver([["127.0.0.1"], ["192.168.0.10"]])
        let named = guarded(names)
        await #expect(throws: OutboundHTTPError.self) {
            _ = try await named.send(OutboundRequest(url: URL(string: "http://first.test:\(server.port)/redirect?to=http%3A%2F%2Fsecond.test%2F")!,
                                                     followRedirects: true))
        }
        #expect(names.callCount == 2)
    }

    @Test func responsesAreCappedInSize() async throws {
        let server = try await LoopbackHTTPServer.start()
        defer { Task { await server.stop() } }
        let client = guarded(ScriptedResolver([["127.0.0.1"]]), maxResponseBytes: 100_000)
        // A declared length past the cap fails at once.
        await #expect(throws: OutboundHTTPError.self) {
            _ = try await client.stream(OutboundRequest(url: URL(string: "http://127.0.0.1:\(server.port)/large?size=200000")!))
        }
        // A body without a length fails once it passes the cap, and its connection closes.
        let endless = try await client.stream(OutboundRequest(url: URL(string: "http://127.0.0.1:\(server.port)/endless")!))
        var seen = 0
        do {
            for try await chunk in endless.body { seen += chunk.count }
            Issue.record("the endless body ended")
        } catch OutboundHTTPError.responseTooLarge(let limit) {
            #expect(limit == 100_000)
        }
        #expect(seen <= 100_000)
        #expect(await server.eventually { $0.endlessClosed == 1 })
        let small = try await client.send(OutboundRequest(url: URL(string: "http://127.0.0.1:\(server.port)/large?size=50000")!))
        #expect(small.body.count == 50_000)
    }

    /// `connectAddresses` on the wire client: TLS still verifies (and SNI names) the host name.
    @Test func tlsToACheckedAddressVerifiesTheName() async throws {
        let (server, ca) = try await LoopbackHTTPServer.startTLS(dnsNames: ["upstream.test"])
        defer { Task { await server.stop() } }
        let client = HTTP1Client(trustRoots: .pemFile(ca.caCertificatePath))
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: server.port)
        let response = try await client.execute(
            HTTP1ClientRequest(isSecure: true, host: "upstream.test", port: server.port, target: "/hello", connectAddresses: [address]),
            timeouts: .all(.seconds(30)))
        #expect(response.status == 200)
        for try await _ in response.body {}
        await #expect(throws: TLSError.self) {
            _ = try await client.execute(
                HTTP1ClientRequest(isSecure: true, host: "other.test", port: server.port, target: "/hello", connectAddresses: [address]),
                timeouts: .all(.seconds(30)))
        }
    }
}
