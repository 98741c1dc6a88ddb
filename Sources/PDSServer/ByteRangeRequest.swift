import Foundation

/// What a `Range` request header asks of a representation of known size (RFC 9110 §14.1–14.4).
///
/// Only single byte ranges are honoured: `bytes=a-b`, `bytes=a-` and the suffix form `bytes=-n`.
/// Anything else — other units, several ranges, syntax errors — is ignored and the whole body is
/// sent, which RFC 9110 §14.2 permits ("a server MAY ignore the Range header field").
enum ByteRangeRequest: Equatable {
    /// Send everything with 200.
    case whole
    /// Send these bytes with 206 and `Content-Range: bytes a-b/size`.
    case partial(ClosedRange<Int>)
    /// 416 with `Content-Range: bytes */size`: the range starts past the end (or the suffix is empty).
    case unsatisfiable

    /// Interprets `header` (the `Range` field value, if any) for a body of `size` bytes.
    init(header: String?, size: Int) {
        guard let header else { self = .whole; return }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let equals = trimmed.firstIndex(of: "="),
              trimmed[..<equals].trimmingCharacters(in: .whitespaces).lowercased() == "bytes"
        else { self = .whole; return }
        let spec = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { self = .whole; return }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        func number(_ text: String) -> Int? {
            // Digits only: Int("+5") would accept a sign the grammar does not.
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            return Int(text) ?? Int.max  // absurdly long numbers still mean "past the end"
        }
        if first.isEmpty {
            // Suffix range: the last n bytes (all of them if n exceeds the size).
            guard let length = number(last) else { self = .whole; return }
            guard length > 0, size > 0 else { self = .unsatisfiable; return }
            self = .partial(max(0, size - length)...(size - 1))
            return
        }
        guard let start = number(first) else { self = .whole; return }
        var end = size - 1
        if !last.isEmpty {
            guard let parsed = number(last) else { self = .whole; return }
            // "a-b" with b < a is invalid syntax, so the field is ignored (RFC 9110 §14.1.1).
            guard parsed >= start else { self = .whole; return }
            end = min(parsed, size - 1)
        }
        guard start < size else { self = .unsatisfiable; return }
        self = .partial(start...end)
    }
}
