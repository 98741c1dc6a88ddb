/// What every validated ATSyntax string type has in common: a strict throwing parser, the
/// (normalised) string, and `Codable` as a plain JSON string.
///
/// Decoding runs the full parser, so a `Decodable` model can never hold an invalid value.
public protocol SyntaxValue: Hashable, Sendable, CustomStringConvertible, Codable {
    /// Parses and validates `string`, normalising it where the spec says so.
    init(_ string: String) throws(SyntaxError)
    /// The canonical string form (after any normalisation).
    var string: String { get }
}

extension SyntaxValue {
    /// The canonical string form.
    public var description: String { string }

    /// True when `string` parses; a convenience for call sites that only need a yes/no answer.
    public static func isValid(_ string: String) -> Bool {
        do { _ = try Self(string); return true } catch { return false }
    }

    /// Decodes from a single JSON string and validates it.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    /// Encodes as a single string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(string)
    }
}
