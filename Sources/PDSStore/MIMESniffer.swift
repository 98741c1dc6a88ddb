/// Recognises common media types from a file's first bytes (its "magic numbers").
///
/// The reference server sniffs uploads and trusts the detected type over the client's
/// Content-Type (the reference PDS); records later must declare the same type. This covers what
/// the Bluesky app uploads (images, video, GIFs) and a few common documents; anything else falls
/// back to the declared type.
public enum MIMESniffer {
    /// The detected MIME type, or nil.
    public static func sniff(_ head: [UInt8]) -> String? {
        func starts(_ prefix: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + prefix.count && Array(head[offset..<(offset + prefix.count)]) == prefix
        }
        func ascii(_ text: String, at offset: Int = 0) -> Bool { starts(Array(text.utf8), at: offset) }

        if starts([0xff, 0xd8, 0xff]) { return "image/jpeg" }
        if starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) { return "image/png" }
        if ascii("GIF87a") || ascii("GIF89a") { return "image/gif" }
        if ascii("RIFF") && ascii("WEBP", at: 8) { return "image/webp" }
        if ascii("RIFF") && ascii("WAVE", at: 8) { return "audio/wav" }
        if ascii("RIFF") && ascii("AVI ", at: 8) { return "video/x-msvideo" }
        if starts([0x49, 0x49, 0x2a, 0x00]) || starts([0x4d, 0x4d, 0x00, 0x2a]) { return "image/tiff" }
        if ascii("BM") && head.count >= 14 { return "image/bmp" }
        if ascii("ftyp", at: 4), head.count >= 12 {
            // ISO base media: the major brand says which kind.
            let brand = String(decoding: head[8..<12], as: UTF8.self)
            switch brand {
            case "avif", "avis": return "image/avif"
            case "heic", "heix", "heim", "heis", "hevc", "hevx": return "image/heic"
            case "mif1", "msf1": return "image/heif"
            case "qt  ": return "video/quicktime"
            case "M4A ", "M4B ": return "audio/mp4"
            default: return "video/mp4"
            }
        }
        if starts([0x1a, 0x45, 0xdf, 0xa3]) {
            // Matroska; WebM declares its doctype early in the EBML header.
            let text = String(decoding: head, as: UTF8.self)
            return text.contains("webm") ? "video/webm" : "video/x-matroska"
        }
        if ascii("OggS") { return "audio/ogg" }
        if ascii("ID3") || starts([0xff, 0xfb]) || starts([0xff, 0xf3]) || starts([0xff, 0xf2]) { return "audio/mpeg" }
        if ascii("fLaC") { return "audio/flac" }
        if ascii("%PDF-") { return "application/pdf" }
        if starts([0x1f, 0x8b]) { return "application/gzip" }
        if starts([0x50, 0x4b, 0x03, 0x04]) { return "application/zip" }
        return nil
    }
}
