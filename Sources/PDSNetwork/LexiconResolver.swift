import ATData
import ATIdentity
import ATLexicon
import ATRepo
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
/// the outbound guard) names its PDS and its `#atproto` key; the schema is the record
/// `com.atproto.lexicon.schema/<nsid>` in that DID's repository, fetched with
/// `com.atproto.sync.getRecord` through the outbound guard (256 KiB, 5 s, no redirects) and
/// proven against the repository's signed commit (`RecordProof`), as the reference resolver
/// does: the schema is the authority's word, not its hosting server's.
public struct LexiconResolver: LexiconSource {
    /// The largest `sync.getRecord` answer taken (a proof is a commit, a few MST nodes and the record).
    public static let maxProofBytes = 256 << 10
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
        var document = try await document(of: did, fresh: false)
        guard let pds = document.pdsEndpoint else { throw LexiconResolutionError("the authority \(did) has no PDS endpoint") }
        let endpoint = pds.hasSuffix("/") ? String(pds.dropLast()) : pds
        let car = try await fetchProof(endpoint: endpoint, did: did, nsid: nsid)
        let path = LexiconAuthority.schemaCollection + "/" + nsid.string
        let proven: RecordProof.Record?
        do {
            proven = try Self.prove(car, did: did, path: path, document: document)
        } catch RepoError.badSignature {
            // The authority may have rotated its key since its document was cached: one fresh look.
            document = try await self.document(of: did, fresh: true)
            do { proven = try Self.prove(car, did: did, path: path, document: document) } catch {
                throw LexiconResolutionError("the schema record of \(nsid.string) does not verify: \(error)")
            }
        } catch let error as LexiconResolutionError {
            throw error
        } catch {
            throw LexiconResolutionError("the schema record of \(nsid.string) does not verify: \(error)")
        }
        guard let proven else { throw LexiconResolutionError("the authority \(did) publishes no schema for \(nsid.string)") }
        let record: JSONValue
        do { record = try DAGCBOR.decode(proven.bytes).jsonValue } catch {
            throw LexiconResolutionError("the schema record of \(nsid.string) is not DAG-CBOR: \(error)")
        }
        do { return try LexiconAuthority.mainDefinition(ofSchemaRecord: record, nsid: nsid) } catch {
            throw LexiconResolutionError("the schema record of \(nsid.string) is invalid: \(error)")
        }
    }

    /// The authority's DID document.
    func document(of did: String, fresh: Bool) async throws(LexiconResolutionError) -> DIDDocument {
        do { return try await identity.document(did, fresh: fresh) } catch {
            throw LexiconResolutionError("the authority \(did) did not resolve: \(error)")
        }
    }

    /// The record at `path`, proven by `car` under the document's `#atproto` key (nil: proven absent).
    static func prove(_ car: [UInt8], did: String, path: String, document: DIDDocument) throws -> RecordProof.Record? {
        guard let key = document.atprotoSigningKey else { throw LexiconResolutionError("the authority \(did) has no #atproto key") }
        return try RecordProof.verify(car: car, did: did, path: path, key: key)
    }

    /// The DID named by `_lexicon.<authority>`.
    func authority(of nsid: NSID) async throws(LexiconResolutionError) -> String {
        let name = LexiconAuthority.dnsName(for: nsid)
        let records: [String]
        do { records = try await txt(name) } catch { throw LexiconResolutionError("DNS lookup of \(name) failed: \(error)") }
        do { return try LexiconAuthority.did(fromTXT: records) } catch { throw LexiconResolutionError("\(name): \(error)") }
    }

    /// `sync.getRecord` at the authority's PDS: the CAR proving the schema record.
    func fetchProof(endpoint: String, did: String, nsid: NSID) async throws(LexiconResolutionError) -> [UInt8] {
        var components = URLComponents(string: endpoint + "/xrpc/com.atproto.sync.getRecord")
        components?.queryItems = [URLQueryItem(name: "did", value: did), URLQueryItem(name: "collection", value: LexiconAuthority.schemaCollection),
                                  URLQueryItem(name: "rkey", value: nsid.string)]
        guard let url = components?.url, url.scheme == "https" || url.scheme == "http" else {
            throw LexiconResolutionError("the authority's PDS endpoint is not an http(s) URL")
        }
        let response: OutboundResponse
        do {
            response = try await remoteHTTP.send(OutboundRequest(url: url, headers: [("Accept", "application/vnd.ipld.car")], timeout: timeout),
                                                 maxResponseBytes: Self.maxProofBytes)
        } catch {
            throw LexiconResolutionError("the schema record of \(nsid.string) could not be fetched: \(error)")
        }
        guard response.status == 200 else {
            throw LexiconResolutionError("the authority's PDS answered HTTP \(response.status) for the schema of \(nsid.string)")
        }
        return response.body
    }
}
