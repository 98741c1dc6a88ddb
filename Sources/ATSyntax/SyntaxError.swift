/// Why a string was rejected by one of the ATSyntax parsers.
///
/// The `message` reads as one sentence that names the format and the reason, for example
/// "handle label longer than 63 characters", because these messages are passed on unchanged as
/// XRPC `InvalidRequest` error messages. The rejected input is deliberately not echoed: it can be
/// up to 8 KB of attacker-chosen text.
public struct SyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The string format that failed to parse.
    public enum Format: String, Hashable, Sendable, CaseIterable {
        /// A DID (`did:method:identifier`).
        case did = "DID"
        /// A handle (a DNS name).
        case handle = "handle"
        /// A namespaced identifier (Lexicon schema or collection name).
        case nsid = "NSID"
        /// A Lexicon-restricted `at://` URI.
        case atURI = "AT-URI"
        /// A record key.
        case recordKey = "record key"
        /// A timestamp identifier.
        case tid = "TID"
        /// An RFC 3339 / ISO 8601 datetime.
        case datetime = "datetime"
        /// A BCP-47 language tag.
        case languageTag = "language tag"
        /// An `at-identifier` (a handle or a DID).
        case atIdentifier = "at-identifier"
        /// A CID in string form.
        case cid = "CID"
        /// A generic URI.
        case uri = "URI"
    }

    /// The format that was being parsed.
    public let format: Format
    /// The reason, phrased to follow the format name (e.g. "label longer than 63 characters").
    public let reason: String

    /// Creates an error for `format` with a `reason` that reads after the format's name.
    public init(_ format: Format, _ reason: String) {
        self.format = format
        self.reason = reason
    }

    /// The full human-readable message, e.g. "handle label longer than 63 characters".
    public var message: String { "\(format.rawValue) \(reason)" }

    /// Same as `message`.
    public var description: String { message }

    /// Re-labels an error from a component parser as part of a larger format, e.g. an AT-URI
    /// whose authority is a bad handle: "AT-URI authority: handle has an empty label".
    func nested(in outer: Format, _ role: String) -> SyntaxError {
        SyntaxError(outer, "\(role): \(message)")
    }
}
