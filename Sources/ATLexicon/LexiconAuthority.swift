import ATData
import ATSyntax

/// The pure steps of Lexicon resolution (https://atproto.com/specs/lexicon, "Lexicon Publication
/// and Resolution"): where the authority of an NSID is looked up in DNS, which DID its TXT record
/// names, and whether a fetched `com.atproto.lexicon.schema` record is the schema asked for.
/// The network steps (DNS, DID document, `getRecord`) live in PDSNetwork's `LexiconResolver`.
public enum LexiconAuthority {
    /// The collection schema records are published in.
    public static let schemaCollection = "com.atproto.lexicon.schema"

    public struct Invalid: Error, Equatable, Sendable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The DNS name whose TXT record names the authority's DID: `_lexicon.` + the NSID's authority
    /// reversed, the name segment dropped (`app.bsky.feed.post` → `_lexicon.feed.bsky.app`).
    /// Only the authority counts: `app.bsky.feed.post` and `app.bsky.feed.like` share the name.
    public static func dnsName(for nsid: NSID) -> String {
        "_lexicon." + nsid.authorityDomain
    }

    /// The DID in the TXT strings of `_lexicon.<authority>`: the strings starting `did=`. None is
    /// "no authority"; several different DIDs are refused, not chosen among (as for handles).
    public static func did(fromTXT records: [String]) throws(Invalid) -> String {
        let dids = Set(records.compactMap { $0.hasPrefix("did=") ? String($0.dropFirst(4)) : nil })
        guard dids.count <= 1 else { throw Invalid("conflicting _lexicon TXT records") }
        guard let did = dids.first else { throw Invalid("no _lexicon TXT record with did=") }
        guard DID.isValid(did) else { throw Invalid("the _lexicon TXT record names an invalid DID") }
        return did
    }

    /// Checks a fetched schema record: `$type` is the schema collection, `lexicon` is 1 and `id` is
    /// the NSID that was asked for (a record at another key must not stand in for it). Returns
    /// the record's `defs.main` object.
    public static func mainDefinition(ofSchemaRecord record: JSONValue, nsid: NSID) throws(Invalid) -> JSONObject {
        guard let object = record.objectValue else { throw Invalid("the schema record is not an object") }
        guard object["$type"]?.stringValue == schemaCollection else { throw Invalid("the record's $type is not \(schemaCollection)") }
        guard object["lexicon"]?.int64Value == 1 else { throw Invalid("the schema's lexicon version is not 1") }
        guard let id = object["id"]?.stringValue, (try? NSID(id)) == nsid else {
            throw Invalid("the schema's id is not \(nsid.string)")
        }
        guard let main = object["defs"]?["main"]?.objectValue else { throw Invalid("the schema has no main definition") }
        return main
    }
}
