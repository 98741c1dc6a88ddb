/// Why a Lexicon document is not a valid schema. `path` names the definition (`defs/main/record`).
public struct LexiconError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Where in the document the problem is, e.g. `defs/main/record/properties/text`.
    public let path: String
    /// What is wrong.
    public let reason: String

    public init(_ path: String, _ reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}

/// Why data does not match its schema. `message` reads like the reference implementation's
/// (`Record/text must not be longer than 300 graphemes`), so it can go straight into an XRPC error.
public struct LexiconValidationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The data path and what is wrong with the value there.
    public let message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
