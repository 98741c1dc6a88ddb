/// The `at-identifier` string format: a handle or a DID (https://atproto.com/specs/lexicon#string-formats), as used by AT-URI authorities
/// and by XRPC parameters such as `repo` and `actor`.
///
/// A string starting with `did:` is parsed as a DID, anything else as a handle (no handle can
/// contain `:`), so the error names the alternative the caller evidently meant.
public enum ATIdentifier: SyntaxValue, Comparable {
    /// A DID.
    case did(DID)
    /// A handle (lowercased).
    case handle(Handle)

    /// Parses a DID or a handle.
    public init(_ string: String) throws(SyntaxError) {
        self = try scanUTF8(string) { bytes throws(SyntaxError) in
            try ATIdentifier.parse(bytes, original: string, format: .atIdentifier)
        }
    }

    /// The identifier's string (the DID, or the lowercased handle).
    public var string: String {
        switch self {
        case .did(let did): return did.string
        case .handle(let handle): return handle.string
        }
    }

    /// The DID, if this is one.
    public var did: DID? {
        if case .did(let did) = self { return did }
        return nil
    }

    /// The handle, if this is one.
    public var handle: Handle? {
        if case .handle(let handle) = self { return handle }
        return nil
    }

    /// Orders by the string's bytes.
    public static func < (lhs: ATIdentifier, rhs: ATIdentifier) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }

    /// Parses identifier bytes; `original` is reused when they are the whole string and need no
    /// normalisation. Errors are re-labelled as `format` ("at-identifier" or "AT-URI authority").
    static func parse(
        _ bytes: UnsafeBufferPointer<UInt8>, original: String?, format: SyntaxError.Format
    ) throws(SyntaxError) -> ATIdentifier {
        let role = format == .atURI ? "authority" : "is not a valid DID or handle"
        if ASCII.hasPrefix(bytes, "did:") {
            do {
                let methodEnd = try DID.validate(bytes)
                return .did(DID(validated: original ?? bytes.asString, methodEnd: methodEnd))
            } catch {
                throw error.nested(in: format, role)
            }
        }
        do {
            let hasUpper = try Handle.validate(bytes)
            let text = hasUpper ? ASCII.lowercased(bytes) : (original ?? bytes.asString)
            return .handle(Handle(validatedLowercase: text))
        } catch {
            throw error.nested(in: format, role)
        }
    }
}
