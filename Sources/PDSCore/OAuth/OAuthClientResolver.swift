import ATAuth
import ATData
import Foundation
import PDSNetwork
import Synchronization

/// Fetches and validates client metadata documents and JWKS (https://atproto.com/specs/oauth
/// "Client ID Metadata Document") through the outbound guard: size and time capped, redirects
/// refused (the client_id must answer 200 itself), `application/json` only, and cached for `ttl`
/// seconds so one sign-in does not fetch the document several times.
public final class OAuthClientResolver: Sendable {
    public static let maxDocumentBytes = 64 << 10
    let http: any OutboundHTTP
    let ttl: Int64
    let timeout: TimeInterval
    let allowHTTPLoopbackIDs: Bool
    private let cache = Mutex<[String: (metadata: OAuthClientMetadata, keys: [ECPublicJWK], fetchedAt: Int64)]>([:])

    /// `http` must be the guarded client (`PDSServices.remoteHTTP`).
    public init(http: any OutboundHTTP, ttl: Int64 = 600, timeout: TimeInterval = 5, allowHTTPLoopbackIDs: Bool = false) {
        self.http = http
        self.ttl = ttl
        self.timeout = timeout
        self.allowHTTPLoopbackIDs = allowHTTPLoopbackIDs
    }

    /// The client's validated metadata and (for confidential clients) its current keys.
    /// `fresh` skips the cache (re-checking that a session's key is still published).
    public func resolve(_ clientID: String, now: Int64, fresh: Bool = false) async throws(OAuthError) -> (OAuthClientMetadata, [ECPublicJWK]) {
        if OAuthClientMetadata.isLoopbackClientID(clientID) {
            do { return (try OAuthClientMetadata(loopbackClientID: clientID), []) } catch { throw .invalidClient(error.message) }
        }
        if !fresh, let cached = cache.withLock({ $0[clientID] }), cached.fetchedAt + ttl > now {
            return (cached.metadata, cached.keys)
        }
        let document = try await fetchJSON(clientID, what: "client metadata")
        guard let object = document.objectValue else { throw .invalidClientMetadata("client metadata is not a JSON object") }
        let metadata: OAuthClientMetadata
        do {
            metadata = try OAuthClientMetadata(document: object, clientID: clientID, allowHTTPLoopbackIDs: allowHTTPLoopbackIDs)
        } catch {
            throw .invalidClientMetadata(error.message)
        }
        var keys = metadata.jwks
        if let jwksURI = metadata.jwksURI {
            do { keys = try OAuthClientMetadata.keys(try await fetchJSON(jwksURI, what: "client JWKS")) } catch let error as OAuthError {
                throw error
            } catch let error as OAuthClientMetadata.Invalid {
                throw .invalidClientMetadata(error.message)
            } catch {
                throw .invalidClientMetadata("client JWKS could not be read")
            }
        }
        cache.withLock { cache in
            if cache.count > 256 { cache.removeAll() }
            cache[clientID] = (metadata, keys, now)
        }
        return (metadata, keys)
    }

    private func fetchJSON(_ address: String, what: String) async throws(OAuthError) -> JSONValue {
        guard let url = URL(string: address) else { throw .invalidClientMetadata("\(what) URL is invalid") }
        let response: OutboundResponse
        do {
            response = try await http.send(
                OutboundRequest(url: url, headers: [("Accept", "application/json")], timeout: timeout, followRedirects: false),
                maxResponseBytes: Self.maxDocumentBytes)
        } catch OutboundHTTPError.responseTooLarge {
            throw .invalidClientMetadata("\(what) is larger than \(Self.maxDocumentBytes) bytes")
        } catch {
            throw .invalidClientMetadata("\(what) could not be fetched: \(error)")
        }
        guard response.status == 200 else {
            if (300..<400).contains(response.status) { throw .invalidClientMetadata("\(what) must not redirect") }
            throw .invalidClientMetadata("\(what) answered HTTP \(response.status)")
        }
        let contentType = response.headers["content-type"]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard contentType == "application/json" else { throw .invalidClientMetadata("\(what) must be served as application/json") }
        do { return try JSONValue.parse(response.body) } catch { throw .invalidClientMetadata("\(what) is not valid JSON") }
    }
}
