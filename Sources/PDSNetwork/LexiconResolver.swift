import ATData
import ATIdentity
import ATLexicon
import ATSyntax
import Foundation

/// Finds the published schema of an NSID; `LexiconResolver` asks the network, tests stand in.
public protocol LexiconSource: Sendable {
    /// The `defs.main` object of the schema record published for `nsid`, checked to be that schema.
    func mainDefinition(of nsid: NSID) async throws(LexiconResolutionError) -> JSONObject
}

/// Why a Lexicon did not resolve; `description` is fit for an error message (no secrets in it).
public struct LexiconResolutionError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Lexicon resolution over the network (https://atproto.com/specs/lexicon, "Lexicon Publication
/// and Resolution"): DNS TXT `_lexicon.<authority>` names the authority's DID (`did=…`); the DID
/// document (the identity directory: did:plc through the configured PLC directory, did:web through
/// the outbound guard) names its PDS; the schema is the record
/// `com.atproto.lexicon.schema/<nsid>` in that DID's repository, fetched with
/// `com.atproto.repo.getRecord` through the outbound guard (256 KiB, 5 s, no redirects).
///
/// The record is not proven against the repository's signed commit (`sync.getRecord` would): the
/// answer is as trustworthy as the authority's PDS, which is who decides the schema anyway.
public struct LexiconResolver: LexiconSource {
    public static let maxRecordBytes = 256 << 10
    let identity: any IdentityDirectory
    let remoteHTTP: any OutboundHTTP
    let txt: @Sendable (String) async throws -> [String]
    let timeout: TimeInterval

    /// - Parameters:
    ///   - remoteHTTP: the guarded client (`PDSServices.remoteHTTP`).
    ///   - dns: the DNS client handles use too (`PDS_DNS_RESOLVER` or the system's).
    public init(identity: any IdentityDirectory, remoteHTTP: any OutboundHTTP, dns: DNSClient, timeout: TimeInterval = 5) {
        self.init(identity: identity, remoteHTTP: remoteHTTP, timeout: timeout, txt: { try await dns.txt($0) })
    }

    /// With any TXT lookup (tests).
    public init(identity: any IdentityDirectory, remoteHTTP: any OutboundHTTP, timeout: TimeInterval = 5,
                txt: @escaping @Sendable (String) async throws -> [String]) {
        self.identity = identity
        self.remoteHTTP = remoteHTTP
        self.timeout = timeout
        self.txt = txt
    }

    public func mainDefinition(of nsid: NSID) async throws(LexiconResolutionError) -> JSONObject {
        let did = try await authority(of: nsid)
        let endpoint: String
        do {
            guard let pds = try await identity.document(did).pdsEndpoint else {
                throw LexiconResolutionError("the authority \(did) has no PDS endpoint")
            }
            endpoint = pds.hasSuffix("/") ? String(pds.dropLast()) : pds
        } catch let error as LexiconResolutionError {
            throw error
        } catch {
            throw LexiconResolutionError("the authority \(did) did not resolve: \(error)")
        }
        let record = try await fetchRecord(endpoint: endpoint, did: did, nsid: nsid)
        do { return try LexiconAuthority.mainDefinition(ofSchemaRecord: record, nsid: nsid) } catch {
            throw LexiconResolutionError("the schema record of \(nsid.string) is invalid: \(error)")
        }
    }

    /// The DID named by `_lexicon.<authority>`.
    func authority(of nsid: NSID) async throws(LexiconResolutionError) -> String {
        let name = LexiconAuthority.dnsName(for: nsid)
        let records: [String]
        do { records = try await txt(name) } catch { throw LexiconResolutionError("DNS lookup of \(name) failed: \(error)") }
        do { return try LexiconAuthority.did(fromTXT: records) } catch { throw LexiconResolutionError("\(name): \(error)") }
    }

    /// `getRecord` at the authority's PDS; the record's `value`.
    func fetchRecord(endpoint: String, did: String, nsid: NSID) async throws(LexiconResolutionError) -> JSONValue {
        var components = URLComponents(string: endpoint + "/xrpc/com.atproto.repo.getRecord")
        components?.queryItems = [URLQueryItem(name: "repo", value: did), URLQueryItem(name: "collection", value: LexiconAuthority.schemaCollection),
                                  URLQueryItem(name: "rkey", value: nsid.string)]
        guard let url = components?.url, url.scheme == "https" || url.scheme == "http" else {
            throw LexiconResolutionError("the authority's PDS endpoint is not an http(s) URL")
        }
        let response: OutboundResponse
        do {
            response = try await remoteHTTP.send(OutboundRequest(url: url, headers: [("Accept", "application/json")], timeout: timeout),
                                                 maxResponseBytes: Self.maxRecordBytes)
        } catch {
            throw LexiconResolutionError("the schema record of \(nsid.string) could not be fetched: \(error)")
        }
        guard response.status == 200 else {
            throw LexiconResolutionError("the authority's PDS answered HTTP \(response.status) for the schema of \(nsid.string)")
        }
        guard let body = try? JSONValue.parse(response.body), let value = body["value"] else {
            throw LexiconResolutionError("the authority's PDS sent no record for \(nsid.string)")
        }
        return value
    }
}
