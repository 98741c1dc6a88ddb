import ATIdentity
import ATSyntax
import Foundation

/// Resolves identities over the network, with no cache: did:plc through the PLC directory, did:web
/// through `/.well-known/did.json`, handles by DNS TXT `_atproto.<handle>` and then HTTPS
/// `/.well-known/atproto-did` (https://atproto.com/specs/handle#handle-resolution).
///
/// In dev mode did:web names on loopback hosts (`did:web:127.0.0.1%3A8080`) resolve over plain
/// HTTP, so local stand-ins can play remote services (with `PDS_OUTBOUND_ALLOW_PRIVATE=1`: the
/// outbound guard refuses loopback otherwise).
///
/// The PLC directory is the operator's choice and is asked through `http`; did:web documents and
/// handle well-known names are anyone's choice and go through `remoteHTTP` (the guarded client).
public struct NetworkIdentityDirectory: IdentityDirectory {
    let http: any OutboundHTTP
    let remoteHTTP: any OutboundHTTP
    let plcURL: String
    let dns: DNSClient
    let isDevelopment: Bool
    /// Whether a handle without a DNS record may resolve through HTTPS well-known.
    let httpsFallback: Bool

    /// - Parameters:
    ///   - http: for the PLC directory.
    ///   - remoteHTTP: for did:web and handle well-known; nil: `http` behind a default (strict)
    ///     `OutboundGuard`.
    public init(http: any OutboundHTTP, remoteHTTP: (any OutboundHTTP)? = nil, plcURL: String, dnsResolver: String?,
                isDevelopment: Bool, httpsFallback: Bool) {
        self.http = http
        self.remoteHTTP = remoteHTTP ?? http.guarded(by: OutboundGuard())
        self.plcURL = plcURL
        dns = DNSClient.configured(dnsResolver)
        self.isDevelopment = isDevelopment
        self.httpsFallback = httpsFallback
    }

    public func document(_ did: String, fresh: Bool) async throws -> DIDDocument {
        let url = try documentURL(did)
        let client = did.hasPrefix("did:plc:") ? http : remoteHTTP
        let response: OutboundResponse
        do {
            response = try await client.send(OutboundRequest(url: url, headers: [("Accept", "application/json")], timeout: 3), maxResponseBytes: 1 << 20)
        } catch {
            throw IdentityResolutionError("could not resolve \(did): \(error)")
        }
        guard response.status == 200 else { throw IdentityResolutionError("could not resolve \(did): HTTP \(response.status)") }
        let document: DIDDocument
        do { document = try DIDDocument.parse(response.body) } catch {
            throw IdentityResolutionError("\(did) has an invalid DID document: \(error)")
        }
        guard document.id == did else { throw IdentityResolutionError("the DID document for \(did) names \(document.id)") }
        return document
    }

    /// Where a DID's document lives.
    func documentURL(_ did: String) throws -> URL {
        if did.hasPrefix("did:plc:") {
            guard let url = URL(string: plcURL + "/" + did) else { throw IdentityResolutionError("bad PLC directory URL") }
            return url
        }
        if did.hasPrefix("did:web:") {
            // did:web:<host>[%3A<port>] with no path (atproto allows hostname-level did:web only).
            let rest = String(did.dropFirst("did:web:".count))
            guard !rest.contains(":"), let host = rest.removingPercentEncoding, !host.isEmpty else {
                throw IdentityResolutionError("unsupported did:web \(did)")
            }
            let name = host.split(separator: ":").first.map(String.init) ?? host
            let scheme = isDevelopment && (name == "127.0.0.1" || name == "localhost") ? "http" : "https"
            guard let url = URL(string: "\(scheme)://\(host)/.well-known/did.json") else { throw IdentityResolutionError("bad did:web \(did)") }
            return url
        }
        throw IdentityResolutionError("unsupported DID method: \(did)")
    }

    public func did(forHandle handle: String, fresh: Bool) async throws -> String {
        let handle = handle.lowercased()
        var reasons: [String] = []
        do {
            let records = try await dns.txt("_atproto." + handle)
            let dids = Set(records.compactMap { $0.hasPrefix("did=") ? String($0.dropFirst(4)) : nil })
            if dids.count == 1, let did = dids.first, DID.isValid(did) { return did }
            // Several distinct DIDs is a failure, not a choice (https://atproto.com/specs/handle).
            if dids.count > 1 { throw IdentityResolutionError("\(handle) has conflicting _atproto TXT records") }
            reasons.append("no _atproto TXT record")
        } catch let failure as IdentityResolutionError {
            throw failure
        } catch {
            reasons.append("DNS: \(error)")
        }
        // Dev mode (and PDS_HANDLE_HTTPS_RESOLUTION=false) resolves by DNS only: in loopback tests an
        // HTTPS lookup of an arbitrary name would leave the machine.
        if httpsFallback, let url = URL(string: "https://\(handle)/.well-known/atproto-did") {
            do {
                let response = try await remoteHTTP.send(OutboundRequest(url: url, timeout: 3, followRedirects: true), maxResponseBytes: 2048)
                let text = String(decoding: response.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if response.status == 200, DID.isValid(text) { return text }
                reasons.append("HTTPS well-known answered \(response.status)")
            } catch {
                reasons.append("HTTPS: \(error)")
            }
        }
        throw IdentityResolutionError("Unable to resolve handle \(handle) (\(reasons.joined(separator: "; ")))")
    }
}
