import ATData
import ATSyntax

/// Fixed inputs for the core suite, shaped like real traffic.
enum SampleData {
    /// A reply post with unicode text, a link facet, an image embed (with a blob) and two strong
    /// refs: close to the median `app.bsky.feed.post` record on the network, a little richer.
    static func post() -> DataValue {
        let link = "https://example.com/articles/2024/rust-vs-swift"
        let text = "Café-morning thoughts ☕️ on building a PDS in Swift: DAG-CBOR is tiny, MSTs are neat, "
            + "and signing is fast 🚀. Notes at \(link) — 日本語もOK. Ünïcødé everywhere!"
        // Facet indices are UTF-8 byte offsets (Bluesky's richtext convention).
        let start = text.utf8.count - "\(link) — 日本語もOK. Ünïcødé everywhere!".utf8.count
        let end = start + link.utf8.count

        let image = CID.raw(hashing: Array("not really a jpeg".utf8))
        let root = CID.dagCBOR(hashing: Array("root post".utf8))
        let parent = CID.dagCBOR(hashing: Array("parent post".utf8))

        let facet: DataValue = [
            "$type": "app.bsky.richtext.facet",
            "index": ["byteStart": .integer(Int64(start)), "byteEnd": .integer(Int64(end))],
            "features": [["$type": "app.bsky.richtext.facet#link", "uri": .string(link)]],
        ]
        let embed: DataValue = [
            "$type": "app.bsky.embed.images",
            "images": [[
                "alt": "A cup of coffee next to a laptop showing Swift code",
                "image": ["$type": "blob", "ref": .link(image), "mimeType": "image/jpeg", "size": 482_113],
                "aspectRatio": ["width": 2000, "height": 1500],
            ]],
        ]
        let reply: DataValue = [
            "root": [
                "uri": "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l6oveex3ii2l",
                "cid": .string(root.string),
            ],
            "parent": [
                "uri": "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3l6ovfbf4j22p",
                "cid": .string(parent.string),
            ],
        ]
        return [
            "$type": "app.bsky.feed.post",
            "text": .string(text),
            "createdAt": "2024-10-14T09:21:37.412Z",
            "langs": ["en", "ja"],
            "facets": [facet],
            "embed": embed,
            "reply": reply,
        ]
    }

    /// An unsigned v3 repo commit, the message every repo write signs (about 150 bytes of CBOR).
    static func unsignedCommit() -> [UInt8] {
        let data = CID.dagCBOR(hashing: Array("mst root".utf8))
        let commit: DataValue = [
            "did": "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
            "version": 3,
            "data": .link(data),
            "rev": "3l6ovfbf4j22p",
            "prev": nil,
        ]
        return DAGCBOR.encode(commit)
    }
}

/// A deterministic pseudo-random generator (SplitMix64), so every run benchmarks the same repo
/// and figures compare across runs and machines.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SampleData {
    /// Words for generated post text: mostly short English, a little non-ASCII, as on the network.
    private static let words = [
        "the", "a", "and", "to", "of", "in", "is", "it", "that", "for", "on", "with", "this", "my",
        "just", "so", "really", "today", "think", "people", "good", "new", "time", "like", "what",
        "posting", "coffee", "morning", "weekend", "thread", "swift", "protocol", "server", "repo",
        "café", "naïve", "über", "日本語", "🚀", "☕️", "—", "honestly", "anyway", "lol", "wow",
    ]

    /// A plausible `app.bsky.feed.post` record written at `micros` (UNIX microseconds): text of
    /// 20–240 bytes, `langs`, and, like real feeds, some replies (30 %) and link facets (20 %).
    /// Averages about 300 bytes of DAG-CBOR.
    static func feedPost(createdAt micros: UInt64, replyTo parent: (uri: String, cid: CID)?,
                         using generator: inout SeededGenerator) -> DataValue {
        let targetLength = Int.random(in: 20...240, using: &generator)
        var text = ""
        while text.utf8.count < targetLength {
            if !text.isEmpty { text += " " }
            text += words.randomElement(using: &generator)!
        }
        var record: [String: DataValue] = [
            "$type": "app.bsky.feed.post",
            "text": .string(text),
            "createdAt": .string(isoTimestamp(micros: micros)),
            "langs": ["en"],
        ]
        if Int.random(in: 0..<10, using: &generator) < 2 {
            let link = "https://example.com/p/\(generator.next() % 1_000_000)"
            let start = text.utf8.count + 1
            text += " " + link
            record["text"] = .string(text)
            record["facets"] = [[
                "index": ["byteStart": .integer(Int64(start)), "byteEnd": .integer(Int64(text.utf8.count))],
                "features": [["$type": "app.bsky.richtext.facet#link", "uri": .string(link)]],
            ]]
        }
        if let parent, Int.random(in: 0..<10, using: &generator) < 3 {
            // Replying within a thread: root and parent are the same post here.
            let ref: DataValue = ["uri": .string(parent.uri), "cid": .string(parent.cid.string)]
            record["reply"] = ["root": ref, "parent": ref]
        }
        return .map(record)
    }

    /// `micros` since the UNIX epoch as an atproto datetime, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    static func isoTimestamp(micros: UInt64) -> String {
        let seconds = Int(micros / 1_000_000), millis = Int(micros / 1_000 % 1_000)
        let (days, secondOfDay) = (seconds / 86_400, seconds % 86_400)
        // Civil date from days since 1970-01-01 (proleptic Gregorian, 400-year eras).
        let shifted = days + 719_468
        let era = shifted / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func digits(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(digits(year, 4))-\(digits(month, 2))-\(digits(day, 2))T\(digits(secondOfDay / 3_600, 2)):"
            + "\(digits(secondOfDay / 60 % 60, 2)):\(digits(secondOfDay % 60, 2)).\(digits(millis, 3))Z"
    }
}
