import ATData
import Foundation
@testable import PDSServer
@testable import PDSStore
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `com.atproto.repo.uploadBlob` and `com.atproto.sync.getBlob` against a running server.
@Suite struct BlobEndpointTests {
    /// A PNG signature followed by filler: sniffed as image/png whatever the request declares.
    static let png: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] + (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31) }

    static func uploadRequest(_ server: TestServer, token: String?, contentType: String = "application/octet-stream") -> URLRequest {
        var request = URLRequest(url: server.url("/xrpc/com.atproto.repo.uploadBlob"))
        request.httpMethod = "POST"
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        return request
    }

    static func upload(_ server: TestServer, token: String, _ bytes: [UInt8], contentType: String = "application/octet-stream") async throws -> [String: Any] {
        let (data, response) = try await server.send(uploadRequest(server, token: token, contentType: contentType), body: Data(bytes))
        #expect(response.statusCode == 200, "\(String(decoding: data, as: UTF8.self))")
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return try #require(object?["blob"] as? [String: Any])
    }

    static func getBlob(_ server: TestServer, did: String? = nil, cid: String, method: String = "GET",
                        range: String? = nil) async throws -> (Data, HTTPURLResponse) {
        let query = "did=\((did ?? server.did).addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&cid=\(cid)"
        var request = URLRequest(url: server.url("/xrpc/com.atproto.sync.getBlob?\(query)"))
        request.httpMethod = method
        if let range { request.setValue(range, forHTTPHeaderField: "Range") }
        return try await server.send(request)
    }

    static func errorName(_ data: Data) -> (String?, String?) {
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        return (object?["error"] as? String, object?["message"] as? String)
    }

    static func temporaryFiles(_ server: TestServer) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: server.directory + "/blobs/tmp")
    }

    @Test func uploadedPNGComesBackByteForByteWithSafeHeaders() async throws {
        try await TestServer.with { server in
            let token = try await server.accessToken()
            let blob = try await Self.upload(server, token: token, Self.png)
            let cid = CID.raw(hashing: Self.png).string
            #expect(blob["$type"] as? String == "blob")
            #expect((blob["ref"] as? [String: Any])?["$link"] as? String == cid)
            #expect(blob["mimeType"] as? String == "image/png")
            #expect(blob["size"] as? Int == Self.png.count)
            // Stored as a temporary blob until a record references it.
            #expect(try server.state.blobIndex.blob(CID(string: cid))?.isTemporary == true)
            #expect(try Self.temporaryFiles(server).isEmpty)

            let (data, response) = try await Self.getBlob(server, cid: cid)
            #expect(response.statusCode == 200)
            #expect(Array(data) == Self.png)
            #expect(response.value(forHTTPHeaderField: "Content-Type") == "image/png")
            #expect(response.value(forHTTPHeaderField: "Content-Length") == String(Self.png.count))
            #expect(response.value(forHTTPHeaderField: "X-Content-Type-Options") == "nosniff")
            #expect(response.value(forHTTPHeaderField: "Content-Security-Policy") == "default-src 'none'; sandbox")
            #expect(response.value(forHTTPHeaderField: "Content-Disposition") == "attachment; filename=\"\(cid)\"")
            #expect(response.value(forHTTPHeaderField: "Cache-Control") == "public, max-age=31536000, immutable")
            #expect(response.value(forHTTPHeaderField: "Accept-Ranges") == "bytes")
            #expect(response.value(forHTTPHeaderField: "Access-Control-Allow-Origin") == "*")

            let (headData, head) = try await Self.getBlob(server, cid: cid, method: "HEAD")
            #expect(head.statusCode == 200)
            #expect(headData.isEmpty)
            #expect(head.value(forHTTPHeaderField: "Content-Length") == String(Self.png.count))
            #expect(head.value(forHTTPHeaderField: "Content-Type") == "image/png")

            // The same bytes again: same CID, one file.
            let again = try await Self.upload(server, token: token, Self.png)
            #expect((again["ref"] as? [String: Any])?["$link"] as? String == cid)
        }
    }

    @Test func declaredTypeIsUsedWhenSniffingFindsNothing() async throws {
        try await TestServer.with { server in
            let token = try await server.accessToken()
            let text = Array("just some text".utf8)
            let blob = try await Self.upload(server, token: token, text, contentType: "text/plain; charset=utf-8")
            #expect(blob["mimeType"] as? String == "text/plain")
            let (_, response) = try await Self.getBlob(server, cid: CID.raw(hashing: text).string)
            #expect(response.value(forHTTPHeaderField: "Content-Type") == "text/plain")
        }
    }

    @Test func uploadsOverTheLimitAre413AndLeaveNoFile() async throws {
        try await TestServer.with(configure: { $0.blobUploadLimit = 1000 }) { server in
            let token = try await server.accessToken()
            // Refused from Content-Length, before the body is read.
            let (data, response) = try await server.send(
                Self.uploadRequest(server, token: token), body: Data(repeating: 7, count: 5000))
            #expect(response.statusCode == 413)
            #expect(Self.errorName(data).0 == "PayloadTooLarge")
            #expect(Self.errorName(data).1 == "request entity too large")

            // No length declared (chunked): refused while streaming, the partial file removed.
            let raw = try RawHTTPClient.sendChunked(
                port: server.port,
                head: "POST /xrpc/com.atproto.repo.uploadBlob HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/octet-stream",
                chunks: Array(repeating: [UInt8](repeating: 9, count: 400), count: 5))
            #expect(raw.status == 413)
            #expect(Self.errorName(Data(raw.body)).0 == "PayloadTooLarge")

            #expect(try Self.temporaryFiles(server).isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: server.directory + "/blobs") == ["tmp"])
            let rows = try await server.state.database.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM blob") }
            #expect(rows == 0)

            // Exactly at the limit is fine.
            let blob = try await Self.upload(server, token: token, [UInt8](repeating: 1, count: 1000))
            #expect(blob["size"] as? Int == 1000)
        }
    }

    @Test func uploadWithoutATokenIsAuthMissing() async throws {
        try await TestServer.with { server in
            let (data, response) = try await server.send(Self.uploadRequest(server, token: nil), body: Data(Self.png))
            #expect(response.statusCode == 401)
            #expect(Self.errorName(data).0 == "AuthMissing")
            #expect(try FileManager.default.contentsOfDirectory(atPath: server.directory + "/blobs") == ["tmp"])
        }
    }

    @Test func rangeRequests() async throws {
        try await TestServer.with { server in
            let token = try await server.accessToken()
            let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
            _ = try await Self.upload(server, token: token, bytes)
            let cid = CID.raw(hashing: bytes).string

            let (first, firstResponse) = try await Self.getBlob(server, cid: cid, range: "bytes=0-9")
            #expect(firstResponse.statusCode == 206)
            #expect(Array(first) == Array(bytes[0..<10]))
            #expect(firstResponse.value(forHTTPHeaderField: "Content-Range") == "bytes 0-9/1000")
            #expect(firstResponse.value(forHTTPHeaderField: "Content-Length") == "10")
            #expect(firstResponse.value(forHTTPHeaderField: "Accept-Ranges") == "bytes")

            let (suffix, suffixResponse) = try await Self.getBlob(server, cid: cid, range: "bytes=-100")
            #expect(suffixResponse.statusCode == 206)
            #expect(Array(suffix) == Array(bytes[900...]))
            #expect(suffixResponse.value(forHTTPHeaderField: "Content-Range") == "bytes 900-999/1000")

            let (open, openResponse) = try await Self.getBlob(server, cid: cid, range: "bytes=990-")
            #expect(openResponse.statusCode == 206)
            #expect(Array(open) == Array(bytes[990...]))
            #expect(openResponse.value(forHTTPHeaderField: "Content-Range") == "bytes 990-999/1000")

            // An end past the size is clamped.
            let (clamped, clampedResponse) = try await Self.getBlob(server, cid: cid, range: "bytes=995-5000")
            #expect(clampedResponse.statusCode == 206)
            #expect(Array(clamped) == Array(bytes[995...]))

            let (_, unsatisfiable) = try await Self.getBlob(server, cid: cid, range: "bytes=1000-")
            #expect(unsatisfiable.statusCode == 416)
            #expect(unsatisfiable.value(forHTTPHeaderField: "Content-Range") == "bytes */1000")
            #expect(unsatisfiable.value(forHTTPHeaderField: "Accept-Ranges") == "bytes")

            // Invalid or multi-range headers are ignored: the whole blob.
            let (whole, wholeResponse) = try await Self.getBlob(server, cid: cid, range: "bytes=5-2")
            #expect(wholeResponse.statusCode == 200)
            #expect(Array(whole) == bytes)
            let (_, multiResponse) = try await Self.getBlob(server, cid: cid, range: "bytes=0-1,5-6")
            #expect(multiResponse.statusCode == 200)
        }
    }

    @Test func getBlobErrors() async throws {
        try await TestServer.with { server in
            let token = try await server.accessToken()
            _ = try await Self.upload(server, token: token, Self.png)
            let cid = CID.raw(hashing: Self.png).string

            let (wrongDID, wrongDIDResponse) = try await Self.getBlob(server, did: "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", cid: cid)
            #expect(wrongDIDResponse.statusCode == 400)
            #expect(Self.errorName(wrongDID).0 == "RepoNotFound")
            #expect(Self.errorName(wrongDID).1 == "Could not find repo for DID: did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")

            let (unknown, unknownResponse) = try await Self.getBlob(server, cid: CID.raw(hashing: [1, 2, 3]).string)
            #expect(unknownResponse.statusCode == 400)
            #expect(Self.errorName(unknown).0 == "BlobNotFound")
            #expect(Self.errorName(unknown).1 == "Blob not found")

            let (malformed, malformedResponse) = try await Self.getBlob(server, cid: "not-a-cid")
            #expect(malformedResponse.statusCode == 400)
            #expect(Self.errorName(malformed).0 == "InvalidRequest")

            let (missing, missingResponse) = try await server.send(URLRequest(url: server.url("/xrpc/com.atproto.sync.getBlob?did=\(server.did)")))
            #expect(missingResponse.statusCode == 400)
            #expect(Self.errorName(missing).0 == "InvalidRequest")
        }
    }

    /// 20 MB goes through without being held in memory. Memory is only printed (the test process
    /// also holds the client's copy): thresholds would make the test flaky.
    @Test func largeUploadStreams() async throws {
        try await TestServer.with { server in
            let token = try await server.accessToken()
            let size = 20 * 1024 * 1024
            // 64 KiB blocks, each stamped with its index so a misplaced chunk would show.
            var block = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 8) }
            var bytes = Data(capacity: size)
            for index in 0..<(size / block.count) {
                block[0] = UInt8(truncatingIfNeeded: index)
                block[1] = UInt8(truncatingIfNeeded: index >> 8)
                bytes.append(contentsOf: block)
            }
            let before = Self.residentMemory()
            let blob = try await Self.upload(server, token: token, Array(bytes))
            let afterUpload = Self.residentMemory()
            #expect(blob["size"] as? Int == size)
            let cid = try #require((blob["ref"] as? [String: Any])?["$link"] as? String)
            let (data, response) = try await Self.getBlob(server, cid: cid)
            let afterDownload = Self.residentMemory()
            #expect(response.statusCode == 200)
            #expect(data.count == size)
            #expect(data == bytes)
            print("largeUploadStreams: RSS before \(before / 1024) KiB, after upload \(afterUpload / 1024) KiB, after download \(afterDownload / 1024) KiB (client copies included)")
        }
    }

    /// VmRSS in bytes (0 where /proc is unavailable).
    static func residentMemory() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return 0 }
        return kilobytes * 1024
    }
}
