/// An `at://` URI in the Lexicon-restricted form (https://atproto.com/specs/lexicon#string-formats "at-uri"):
/// `at://AUTHORITY[/COLLECTION[/RKEY]]`, where the authority is a DID or handle, the collection an
/// NSID and the record key a record key. No query, fragment, trailing slash or extra path
/// segments; at most 8 KB.
///
/// Normalised as the spec says: a handle authority and the NSID's authority part are lowercased,
/// so two spellings of the same record compare equal.
public struct ATURI: SyntaxValue, Comparable {
    /// The maximum length (https://atproto.com/specs/lexicon#string-formats: "≤8 KB").
    public static let maxLength = 8 * 1024

    /// The normalised URI.
    public let string: String
    /// The repository: a DID or handle.
    public let authority: ATIdentifier
    /// The collection, when the URI has a path.
    public let collection: NSID?
    /// The record key, when the URI names a record.
    public let recordKey: RecordKey?

    /// Parses and validates an AT-URI, normalising its authority and collection.
    public init(_ string: String) throws(SyntaxError) {
        (authority, collection, recordKey) = try scanUTF8(string) { bytes throws(SyntaxError) in
            try ATURI.parse(bytes)
        }
        self.string = ATURI.format(authority, collection, recordKey)
    }

    /// The URI of a whole repository, `at://<authority>`.
    public init(authority: ATIdentifier) {
        self.authority = authority
        self.collection = nil
        self.recordKey = nil
        self.string = ATURI.format(authority, nil, nil)
    }

    /// The URI of a collection, or of a record when `recordKey` is given.
    public init(authority: ATIdentifier, collection: NSID, recordKey: RecordKey? = nil) {
        self.authority = authority
        self.collection = collection
        self.recordKey = recordKey
        self.string = ATURI.format(authority, collection, recordKey)
    }

    /// The URI of a record in a DID's repository: the form stored in records and the firehose.
    public init(did: DID, collection: NSID, recordKey: RecordKey) {
        self.init(authority: .did(did), collection: collection, recordKey: recordKey)
    }

    /// The repository path `collection/rkey` (https://atproto.com/specs/repository), when the URI names a record.
    public var repoPath: String? {
        guard let collection, let recordKey else { return nil }
        return collection.string + "/" + recordKey.string
    }

    /// Orders by the normalised string's bytes.
    public static func < (lhs: ATURI, rhs: ATURI) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    private static func format(_ authority: ATIdentifier, _ collection: NSID?, _ recordKey: RecordKey?) -> String {
        var text = "at://" + authority.string
        if let collection {
            text += "/" + collection.string
            if let recordKey { text += "/" + recordKey.string }
        }
        return text
    }

    private static func parse(
        _ bytes: UnsafeBufferPointer<UInt8>
    ) throws(SyntaxError) -> (ATIdentifier, NSID?, RecordKey?) {
        let count = bytes.count
        guard count > 0 else { throw SyntaxError(.atURI, "is empty") }
        guard count <= maxLength else { throw SyntaxError(.atURI, "longer than \(maxLength) bytes") }
        guard ASCII.hasPrefix(bytes, "at://") else { throw SyntaxError(.atURI, "must start with \"at://\"") }
        // The Lexicon-restricted form has no query or fragment; say so directly rather than
        // letting the component parser report "invalid character '#'".
        for byte in bytes where byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#") {
            throw SyntaxError(.atURI, "must not have a query or fragment")
        }
        let authorityEnd = bytes.firstIndex(of: UInt8(ascii: "/"), from: 5)
        guard authorityEnd > 5 else { throw SyntaxError(.atURI, "authority is empty") }
        let authority = try ATIdentifier.parse(bytes.slice(5..<authorityEnd), original: nil, format: .atURI)
        guard authorityEnd < count else { return (authority, nil, nil) }

        let collectionStart = authorityEnd + 1
        guard collectionStart < count else { throw SyntaxError(.atURI, "must not end with '/'") }
        let collectionEnd = bytes.firstIndex(of: UInt8(ascii: "/"), from: collectionStart)
        guard collectionEnd > collectionStart else { throw SyntaxError(.atURI, "has an empty path segment") }
        let collection: NSID
        do {
            collection = try NSID(bytes.slice(collectionStart..<collectionEnd).asString)
        } catch {
            throw error.nested(in: .atURI, "collection")
        }
        guard collectionEnd < count else { return (authority, collection, nil) }

        let keyStart = collectionEnd + 1
        guard keyStart < count else { throw SyntaxError(.atURI, "must not end with '/'") }
        let keyEnd = bytes.firstIndex(of: UInt8(ascii: "/"), from: keyStart)
        guard keyEnd == count else {
            throw SyntaxError(.atURI, "has too many path segments (at most collection and record key)")
        }
        let keyBytes = bytes.slice(keyStart..<count)
        do {
            try RecordKey.validate(keyBytes)
        } catch {
            throw error.nested(in: .atURI, "record key")
        }
        return (authority, collection, RecordKey(validated: keyBytes.asString))
    }
}
