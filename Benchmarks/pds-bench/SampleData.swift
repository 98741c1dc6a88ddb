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
