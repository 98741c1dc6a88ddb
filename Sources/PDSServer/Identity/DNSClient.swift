import ATIdentity
import Foundation
import NIOCore
import NIOPosix

/// TXT lookups over UDP against one DNS server (`PDS_DNS_RESOLVER`, else the first nameserver in
/// /etc/resolv.conf). Only what handle resolution needs: one question, one answer, a timeout.
public struct DNSClient: Sendable {
    let host: String
    let port: Int
    var timeout: Duration = .seconds(3)

    /// The configured resolver, or the system's.
    public static func configured(_ setting: String?) -> DNSClient {
        if let setting {
            let parts = setting.split(separator: ":")
            if parts.count == 2, let port = Int(parts[1]) { return DNSClient(host: String(parts[0]), port: port) }
            return DNSClient(host: setting, port: 53)
        }
        let text = (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count >= 2, fields[0] == "nameserver" { return DNSClient(host: String(fields[1]), port: 53) }
        }
        return DNSClient(host: "127.0.0.1", port: 53)
    }

    /// The TXT strings of `name`; NXDOMAIN gives an empty list.
    func txt(_ name: String) async throws -> [String] {
        try await exchange(name, type: .txt) { try DNSMessage.txtAnswers($0, id: $1) }
    }

    /// The A and AAAA addresses of `name`; NXDOMAIN gives an empty list.
    public func addresses(_ name: String) async throws -> [String] {
        let v4 = try await exchange(name, type: .a) { try DNSMessage.addressAnswers($0, id: $1) }
        let v6 = try await exchange(name, type: .aaaa) { try DNSMessage.addressAnswers($0, id: $1) }
        return v4 + v6
    }

    /// One query and its answer, parsed by `parse` (message, id).
    func exchange(_ name: String, type: DNSMessage.RecordType,
                  parse: @escaping @Sendable ([UInt8], UInt16) throws -> [String]) async throws -> [String] {
        let id = UInt16.random(in: 0...UInt16.max)
        let query = try DNSMessage.query(name: name, type: type, id: id)
        let remote = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: remote.protocol == .inet6 ? "::" : "0.0.0.0", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(wrappingChannelSynchronously: channel)
                }
            }
        return try await withThrowingTaskGroup(of: [String]?.self) { group in
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(AddressedEnvelope(remoteAddress: remote, data: ByteBuffer(bytes: query)))
                    for try await reply in inbound {
                        let bytes = Array(reply.data.readableBytesView)
                        do {
                            return try parse(bytes, id)
                        } catch DNSMessage.Failure.responseCode(3) {
                            return []
                        } catch DNSMessage.Failure.malformed("transaction id does not match") {
                            continue  // a late answer to someone else's query
                        }
                    }
                    return []
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                try? await channel.channel.close()  // ends the reader if it ignores cancellation
                return nil
            }
            defer { group.cancelAll() }
            let first: [String]??
            do { first = try await group.next() } catch {
                throw OutboundHTTPError.unreachable("DNS server \(host):\(port) did not answer in time")
            }
            guard let first, let answers = first else {
                throw OutboundHTTPError.unreachable("DNS server \(host):\(port) did not answer in time")
            }
            return answers
        }
    }
}
