/// A BCP-47 language tag (https://atproto.com/specs/lexicon#string-formats "language"; grammar from RFC 5646 §2.1), e.g. `en`, `pt-BR`,
/// `zh-Hant`, `sl-rozaj-biske`, `en-u-co-phonebk`, `x-private`, or a grandfathered tag such as
/// `i-navajo`.
///
/// Two levels of checking, mirroring the interop vectors:
/// - `validateSyntax(_:)`: well-formed per the RFC 5646 ABNF, which is what the Lexicon `language`
///   format requires;
/// - `init(_:)`: well-formed and free of the repetitions RFC 5646 §2.2.5–2.2.6 forbid in a *valid*
///   tag: the same variant twice (`de-DE-1901-1901`) or the same extension singleton twice
///   (`en-a-foo-a-bar`), both compared case-insensitively. Registry membership is not checked.
///
/// Two deliberate restrictions beyond the ABNF, required by the atproto interop vectors: the
/// primary language subtag must be lowercase (`JA` is rejected), and the four-letter form RFC 5646
/// reserves "for future use" is rejected (`jaja`). Other subtags are case-insensitive. The tag is
/// kept as written (no case canonicalisation), since it is stored in records.
public struct LanguageTag: SyntaxValue {
    /// The tag exactly as given.
    public let string: String
    /// The parsed subtags.
    public let components: Components

    /// The subtags of a tag, as written.
    public struct Components: Hashable, Sendable {
        /// The primary language subtag (`en`); for a private-use-only or grandfathered tag, its
        /// first subtag (`x`, `i`).
        public var language: String = ""
        /// Extended language subtags (`yue` in `zh-yue`).
        public var extendedLanguages: [String] = []
        /// The script subtag (`Hant`).
        public var script: String?
        /// The region subtag (`BR`, `419`).
        public var region: String?
        /// Variant subtags (`rozaj`, `1901`).
        public var variants: [String] = []
        /// Extensions: a singleton and its subtags (`u` → `co`, `phonebk`).
        public var extensions: [Extension] = []
        /// Private-use subtags after `x-`.
        public var privateUse: [String] = []
        /// Whether the whole tag is one of RFC 5646's grandfathered tags (then only `language`
        /// is filled in).
        public var isGrandfathered = false
    }

    /// An extension sequence such as `u-co-phonebk`.
    public struct Extension: Hashable, Sendable {
        /// The single-character extension name (`u`, `t`, …), as written.
        public var singleton: Character
        /// The subtags that follow it.
        public var subtags: [String]

        /// Creates an extension value (not validated).
        public init(singleton: Character, subtags: [String]) {
            self.singleton = singleton
            self.subtags = subtags
        }
    }

    /// Parses a tag, requiring well-formedness and no duplicate variants or singletons.
    public init(_ string: String) throws(SyntaxError) {
        let components = try scanUTF8(string) { bytes throws(SyntaxError) in try LanguageTag.parse(bytes) }
        try LanguageTag.checkValidity(components)
        self.string = string
        self.components = components
    }

    /// Checks only RFC 5646 well-formedness (the Lexicon `language` format).
    public static func validateSyntax(_ string: String) throws(SyntaxError) {
        _ = try scanUTF8(string) { bytes throws(SyntaxError) in try LanguageTag.parse(bytes) }
    }

    /// Whether `string` is well-formed (`validateSyntax` without the error).
    public static func isWellFormed(_ string: String) -> Bool {
        do { try validateSyntax(string); return true } catch { return false }
    }

    /// The primary language subtag, e.g. `en`.
    public var language: String { components.language }

    /// RFC 5646 §2.2.8 grandfathered tags (irregular and regular), lowercase for case-insensitive
    /// matching.
    private static let grandfathered: [StaticString] = [
        "en-gb-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon", "i-lux",
        "i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay", "i-tsu", "sgn-be-fr", "sgn-be-nl",
        "sgn-ch-de", "art-lojban", "cel-gaulish", "no-bok", "no-nyn", "zh-guoyu", "zh-hakka",
        "zh-min", "zh-min-nan", "zh-xiang",
    ]

    /// The RFC 5646 §2.2.5–2.2.6 repetition rules.
    private static func checkValidity(_ components: Components) throws(SyntaxError) {
        let variants = components.variants.map { ASCII.lowercasedString($0) }
        if Set(variants).count != variants.count {
            throw SyntaxError(.languageTag, "repeats a variant subtag")
        }
        let singletons = components.extensions.map { $0.singleton.lowercased() }
        if Set(singletons).count != singletons.count {
            throw SyntaxError(.languageTag, "repeats an extension singleton")
        }
    }

    /// Where the parser is in the `langtag` production (each subtag kind may only follow the
    /// earlier ones).
    private enum Stage: Int, Comparable {
        case language, extlang, script, region, variant, extensionStart, extensionBody, privateUse
        static func < (lhs: Stage, rhs: Stage) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// The first subtag: `x` (the whole tag is private use) or the primary language, which
    /// decides where the parser goes next.
    private static func primaryLanguage(_ text: String, length: Int, letters: Bool, hasUpper: Bool, isX: Bool) throws(SyntaxError) -> Stage {
        if isX { return .privateUse }
        guard letters, length >= 2, length != 4 else {
            throw SyntaxError(.languageTag, "primary language subtag must be 2–3 letters (or 5–8 for a registered language)")
        }
        guard !hasUpper else { throw SyntaxError(.languageTag, "primary language subtag must be lowercase") }
        return length <= 3 ? .extlang : .script
    }

    /// An extlang, script, region or variant subtag, in the first place still open for it.
    private static func placeLanguageSubtag(
        _ text: String, length: Int, letters: Bool, digits: Bool, firstIsDigit: Bool,
        stage: inout Stage, extlangs: inout Int, components: inout Components
    ) throws(SyntaxError) {
        guard stage < .extensionStart else {
            throw SyntaxError(.languageTag, "subtag '\(text)' is not allowed after an extension")
        }
        if stage == .extlang, letters, length == 3, extlangs < 3 {
            // extlang = 3ALPHA *2("-" 3ALPHA), only after a 2–3 letter language.
            components.extendedLanguages.append(text)
            extlangs += 1
            return
        }
        if stage <= .script, letters, length == 4 {
            components.script = text
            stage = .region
        } else if stage <= .region, (letters && length == 2) || (digits && length == 3) {
            components.region = text
            stage = .variant
        } else if length >= 5 || (length == 4 && firstIsDigit) {
            // variant = 5*8alphanum / (DIGIT 3alphanum)
            components.variants.append(text)
            stage = .variant
        } else {
            throw SyntaxError(.languageTag, "subtag '\(text)' is not allowed in that position")
        }
    }

    /// The well-formedness parser (RFC 5646 §2.1 ABNF).
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws(SyntaxError) -> Components {
        guard !bytes.isEmpty else { throw SyntaxError(.languageTag, "is empty") }
        for byte in bytes where !ASCII.isAlphanumeric(byte) && byte != UInt8(ascii: "-") {
            throw SyntaxError(.languageTag, "contains \(ASCII.describe(byte))")
        }
        var components = Components()
        for tag in grandfathered where ASCII.equalsIgnoringCase(bytes, tag) {
            components.isGrandfathered = true
            components.language = bytes.slice(0..<bytes.firstIndex(of: UInt8(ascii: "-"), from: 0)).asString
            return components
        }

        var stage = Stage.language
        var extlangs = 0
        var start = 0
        var first = true
        while start <= bytes.count {
            let end = bytes.firstIndex(of: UInt8(ascii: "-"), from: start)
            let subtag = bytes.slice(start..<end)
            let length = subtag.count
            guard length > 0 else { throw SyntaxError(.languageTag, "has an empty subtag") }
            guard length <= 8 else { throw SyntaxError(.languageTag, "subtag longer than 8 characters") }
            let text = subtag.asString
            let letters = subtag.allSatisfy(ASCII.isLetter)
            let digits = subtag.allSatisfy(ASCII.isDigit)
            let isX = length == 1 && subtag[0] | 0x20 == UInt8(ascii: "x")
            start = end + 1

            if first {
                first = false
                stage = try primaryLanguage(text, length: length, letters: letters, hasUpper: ASCII.hasUpper(subtag), isX: isX)
                components.language = text
                continue
            }

            switch stage {
            case .privateUse:
                // privateuse = "x" 1*("-" (1*8alphanum))
                components.privateUse.append(text)
                continue
            case .extensionStart:
                // extension = singleton 1*("-" (2*8alphanum))
                guard length >= 2 else {
                    throw SyntaxError(.languageTag, "extension needs at least one subtag of 2–8 characters")
                }
                components.extensions[components.extensions.count - 1].subtags.append(text)
                stage = .extensionBody
                continue
            case .extensionBody where length >= 2:
                components.extensions[components.extensions.count - 1].subtags.append(text)
                continue
            default:
                break
            }

            if length == 1 {
                // A singleton: `x` starts private use, anything else an extension.
                if isX {
                    stage = .privateUse
                } else {
                    components.extensions.append(Extension(singleton: Character(Unicode.Scalar(subtag[0])), subtags: []))
                    stage = .extensionStart
                }
                if end == bytes.count {
                    throw SyntaxError(.languageTag, "singleton '\(text)' must be followed by a subtag")
                }
                continue
            }
            try placeLanguageSubtag(text, length: length, letters: letters, digits: digits, firstIsDigit: ASCII.isDigit(subtag[0]),
                                    stage: &stage, extlangs: &extlangs, components: &components)
        }
        if stage == .privateUse, components.privateUse.isEmpty {
            throw SyntaxError(.languageTag, "private use 'x' must be followed by a subtag")
        }
        return components
    }
}

extension ASCII {
    /// A String with ASCII letters lowercased.
    static func lowercasedString(_ text: String) -> String {
        var copy = text
        return copy.withUTF8 { lowercased($0) }
    }
}
