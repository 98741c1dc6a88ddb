import ATData
import Foundation
@testable import PDSStore
import Testing

@Suite struct BlobStoreTests {
    @Test func storesUnderTheRawCIDAtomically() throws {
        let directory = PDSDatabaseTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try BlobStore(directory: directory + "/blobs")
        let png: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] + Array(repeating: 7, count: 100_000)
        let upload = try store.beginUpload(limit: 1 << 20)
        for chunk in stride(from: 0, to: png.count, by: 4096) {
            try upload.write(Array(png[chunk..<min(chunk + 4096, png.count)]))
        }
        let result = try upload.finish(declaredType: "application/octet-stream")
        #expect(result.cid == CID.raw(hashing: png))
        #expect(result.size == png.count)
        #expect(result.mimeType == "image/png")
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: store.path(for: result.cid)))) == png)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/blobs/tmp").isEmpty)
        let mode = try FileManager.default.attributesOfItem(atPath: store.path(for: result.cid))[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func refusesBytesPastTheLimitAndLeavesNothing() throws {
        let directory = PDSDatabaseTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try BlobStore(directory: directory + "/blobs")
        let upload = try store.beginUpload(limit: 10)
        try upload.write([UInt8](repeating: 1, count: 10))
        #expect(throws: BlobStoreError.tooLarge(limit: 10)) { try upload.write([1]) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/blobs/tmp").isEmpty)
    }

    @Test func fallsBackToTheDeclaredTypeThenOctetStream() throws {
        let directory = PDSDatabaseTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try BlobStore(directory: directory + "/blobs")
        let text = try store.beginUpload(limit: 100)
        try text.write(Array("hello".utf8))
        #expect(try text.finish(declaredType: "text/plain; charset=utf-8").mimeType == "text/plain")
        let unknown = try store.beginUpload(limit: 100)
        try unknown.write(Array("hello again".utf8))
        #expect(try unknown.finish(declaredType: nil).mimeType == "application/octet-stream")
    }

    @Test func sniffsCommonMediaTypes() {
        #expect(MIMESniffer.sniff([0xff, 0xd8, 0xff, 0xe0]) == "image/jpeg")
        #expect(MIMESniffer.sniff(Array("GIF89a....".utf8)) == "image/gif")
        #expect(MIMESniffer.sniff(Array("RIFF\0\0\0\0WEBPVP8 ".utf8)) == "image/webp")
        #expect(MIMESniffer.sniff([0, 0, 0, 0x18] + Array("ftypmp42".utf8)) == "video/mp4")
        #expect(MIMESniffer.sniff([0, 0, 0, 0x18] + Array("ftypavif".utf8)) == "image/avif")
        #expect(MIMESniffer.sniff(Array("plain text".utf8)) == nil)
    }
}
