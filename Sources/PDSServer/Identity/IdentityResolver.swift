import ATIdentity
import ATSyntax
import Foundation
import Synchronization

/// Resolves other parties' identities: DID → DID document (did:plc through the directory,
/// did:web through `/.well-known/did.json`), handle → DID (DNS TXT `_atproto.<handle>`, then
/// HTTPS `/.well-known/atproto-did`; ATPROTO.md §8–9), with short-lived caches.
///
/// In dev mode did:web names on loopback hosts (`did:web:127.0.0.1%3A8080`) resolve over plain
/// HTTP, so local stand-ins can play remote services.
public final class IdentityResolver: Sendable {
    let http: any OutboundHTTP
    let plcURL: String
    let dns: DNSClient
    let isDevelopment: Bool
    /// Whether a handle without a DNS record may resolve through HTTPS well-known.
    let httpsFallback: Bool
    /// Cached entries stay fresh this long (the reference: DID cache stale after 1 h).
    let freshFor: TimeInterval = 3600

    private let documents = Mutex<[String: (DIDDocument, Date)]>([:])
    private let handles = Mutex<[String: (String, Date)]>([:])

    public init(http: any OutboundHTTP, plcURL: String, dns: DNSClient, isDevelopment: Bool, httpsFallback: Bool) {
        self.httpsFallback = httpsFallback
        self.http = http
        self.plcURL = plcURL
        self.dns = dns
        self.isDevelopment = isDevelopment
    }

    /// Why an identity did not resolve; `description` is fit for an XRPC error message.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    // MARK: DIDs

    /// The DID document of `did` (cached unless `fresh`).
    public func document(_ did: String, fresh: Bool = false) async throws -> DIDDocument {
        if !fresh, let (document, at) = documents.withLock({ $0[did] }), Date().timeIntervalSince(at) < freshFor {
            return document
        }
        let url = try documentURL(did)
        let response: OutboundResponse
        do {
            response = try await http.send(OutboundRequest(url: url, headers: [("Accept", "application/json")], timeout: 3), maxResponseBytes: 1 << 20)
        } catch {
            throw Failure(description: "could not resolve \(did): \(error)")
        }
        guard response.status == 200 else { throw Failure(description: "could not resolve \(did): HTTP \(response.status)") }
        let document: DIDDocument
        do { document = try DIDDocument.parse(response.body) } catch {
            throw Failure(description: "\(did) has an invalid DID document: \(error)")
        }
        guard document.id == did else { throw Failure(description: "the DID document for \(did) names \(document.id)") }
        documents.withLock { Self.insert(document, for: did, into: &$0) }
        return document
    }

    /// Where a DID's document lives.
    func documentURL(_ did: String) throws -> URL {
        if did.hasPrefix("did:plc:") {
            guard let url = URL(string: plcURL + "/" + did) else { throw Failure(description: "bad PLC directory URL") }
            return url
        }
        if did.hasPrefix("did:web:") {
            // did:web:<host>[%3A<port>] with no path (atproto allows hostname-level did:web only).
            let rest = String(did.dropFirst("did:web:".count))
            guard !rest.contains(":"), let host = rest.removingPercentEncoding, !host.isEmpty else {
                throw Failure(description: "unsupported did:web \(did)")
            }
            let name = host.split(separator: ":").first.map(String.init) ?? host
            let scheme = isDevelopment && (name == "127.0.0.1" || name == "localhost") ? "http" : "https"
            guard let url = URL(string: "\(scheme)://\(host)/.well-known/did.json") else { throw Failure(description: "bad did:web \(did)") }
            return url
        }
        throw Failure(description: "unsupported DID method: \(did)")
    }

    /// The endpoint of service `#fragment` in `did`'s document (service proxying).
    func serviceEndpoint(did: String, fragment: String) async throws -> String {
        let document = try await document(did)
        guard let service = document.services.first(where: { $0.id == "#" + fragment || $0.id == did + "#" + fragment }),
              let endpoint = service.serviceEndpoint, DIDDocument.isHTTPURL(endpoint)
        else { throw Failure(description: "could not resolve proxy did service url") }
        return endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
    }

    /// Anyone may ask this server to resolve a handle, so the caches are bounded: past
    /// `maxEntries`, stale entries go, and if that is not enough, everything does.
    static let maxEntries = 1000

    static func insert<Value>(_ value: Value, for key: String, into cache: inout [String: (Value, Date)]) {
        if cache.count >= maxEntries {
            let now = Date()
            cache = cache.filter { now.timeIntervalSince($0.value.1) < 3600 }
            if cache.count >= maxEntries { cache.removeAll(keepingCapacity: true) }
        }
        cache[key] = (value, Date())
    }

    // MARK: Handles

    /// The DID `handle` claims to be (DNS TXT first, then HTTPS), not yet checked backwards.
    public func resolveHandle(_ handle: String, fresh: Bool = false) async throws -> String {
        let handle = handle.lowercased()
        if !fresh, let (did, at) = handles.withLock({ $0[handle] }), Date().timeIntervalSince(at) < 300 { return did }
        var reasons: [String] = []
        do {
            let records = try await dns.txt("_atproto." + handle)
            let dids = Set(records.compactMap { $0.hasPrefix("did=") ? String($0.dropFirst(4)) : nil })
            if dids.count == 1, let did = dids.first, DID.isValid(did) {
                handles.withLock { Self.insert(did, for: handle, into: &$0) }
                return did
            }
            // Several distinct DIDs is a failure, not a choice (ATPROTO.md §9).
            reasons.append(dids.isEmpty ? "no _atproto TXT record" : "several _atproto TXT records")
            if dids.count > 1 { throw Failure(description: "\(handle) has conflicting _atproto TXT records") }
        } catch let failure as Failure {
            throw failure
        } catch {
            reasons.append("DNS: \(error)")
        }
        // Dev mode (and PDS_HANDLE_HTTPS_RESOLUTION=false) resolves by DNS only: in loopback tests an
        // HTTPS lookup of an arbitrary name would leave the machine.
        if httpsFallback, let url = URL(string: "https://\(handle)/.well-known/atproto-did") {
            do {
                let response = try await http.send(OutboundRequest(url: url, timeout: 3, followRedirects: true), maxResponseBytes: 2048)
                let text = String(decoding: response.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if response.status == 200, DID.isValid(text) {
                    handles.withLock { Self.insert(text, for: handle, into: &$0) }
                    return text
                }
                reasons.append("HTTPS well-known answered \(response.status)")
            } catch {
                reasons.append("HTTPS: \(error)")
            }
        }
        throw Failure(description: "Unable to resolve handle \(handle) (\(reasons.joined(separator: "; ")))")
    }

    /// `handle` → DID, confirmed by the DID document naming the handle back (bidirectional check).
    func verifiedDID(forHandle handle: String) async throws -> String {
        let did = try await resolveHandle(handle)
        let document = try await document(did)
        guard document.handle?.string == handle.lowercased() else {
            throw Failure(description: "\(handle) resolves to \(did), whose document does not name it back")
        }
        return did
    }
}

extension DIDDocument {
    /// An http(s) URL with a host (service endpoints may carry a path, unlike `#atproto_pds`).
    static func isHTTPURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme, scheme == "https" || scheme == "http" else { return false }
        return url.host != nil
    }
}
