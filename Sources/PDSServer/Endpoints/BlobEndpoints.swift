import ATAuth
import ATData
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import PDSStore

/// `com.atproto.repo.uploadBlob` and `com.atproto.sync.getBlob`: blobs stream to and from their
/// files (https://atproto.com/specs/blob).
struct BlobEndpoints: Sendable {
    let blobs: BlobStore
    /// The blob table over the blob files.
    let blobIndex: BlobIndex
    let accounts: AccountStore
    /// getBlob of a deactivated repo is still served to its owner.
    let authenticator: Authenticator
    let uploadLimit: Int
    let logger: Logger

    func register(on router: inout XRPCRouter) {
        // A session, or a service token for uploadBlob (the app's video service uploads with one).
        router.procedure("com.atproto.repo.uploadBlob", auth: .sessionOrServiceToken(lxm: "com.atproto.repo.uploadBlob"),
                         rateLimit: .uploadBlob) { request, _, auth in
            // OAuth: `blob:` permission for the declared type (the stored type is sniffed later).
            try auth.requireBlob(request.headers[.contentType])
            return try await uploadBlob(request)
        }
        router.query("com.atproto.sync.getBlob") { request, context in
            try await getBlob(request, context: context)
        }
    }

    /// Streams the body to disk (never holding it in memory), then records a temporary blob.
    ///
    /// Hummingbird applies `maxUploadSize` only when a handler *collects* a body; iterating
    /// `request.body` is unbounded, so this handler enforces `PDS_BLOB_UPLOAD_LIMIT` itself: from
    /// `Content-Length` before reading anything, then byte by byte while streaming (a chunked body
    /// declares no length). Either way the answer is 413 `PayloadTooLarge` "request entity too
    /// large", as the reference's `decodeBodyStream`, and the partial file is removed.
    func uploadBlob(_ request: Request) async throws -> Response {
        let limit = uploadLimit
        try request.requireIdentityEncoding()
        if let declared = request.headers[.contentLength], let length = Int(declared), length > limit {
            throw XRPCError.payloadTooLarge()
        }
        let upload = try blobs.beginUpload(limit: limit)
        do {
            for try await chunk in request.body {
                try chunk.withUnsafeReadableBytes { try upload.write($0) }
            }
        } catch BlobStoreError.tooLarge {
            throw XRPCError.payloadTooLarge()  // `write` already removed the partial file
        } catch {
            upload.abort()
            throw error
        }
        // fsync and the rename can block for a while on a large file: keep them off the
        // cooperative pool. The upload moves to the pool thread; this task only awaits it.
        let handOff = UploadHandOff(upload: upload)
        let index = blobIndex
        let declaredType = request.headers[.contentType]
        let stored = try await NIOThreadPool.singleton.runIfActive {
            try index.store(handOff.upload, declaredType: declaredType)
        }
        logger.info("blob uploaded", metadata: ["cid": "\(stored.cid.string)", "size": "\(stored.size)", "mimeType": "\(stored.mimeType)"])
        return jsonResponse([
            "blob": [
                "$type": "blob",
                "ref": ["$link": .string(stored.cid.string)],
                "mimeType": .string(stored.mimeType),
                "size": .number(JSONNumber(Int(stored.size))),
            ],
        ])
    }

    /// Serves a blob's bytes, streamed from its file in chunks, with single-range support.
    ///
    /// Headers follow the reference (the reference PDS, "getBlob response headers"): the stored
    /// type, `nosniff`, an attachment disposition and a sandboxing CSP, so a blob can never run as
    /// a page of this origin. Blobs are content-addressed, hence immutable and cacheable for good.
    /// Any stored blob is served, temporary or referenced, as the reference does.
    func getBlob(_ request: Request, context: PDSRequestContext) async throws -> Response {
        let params = request.params
        let did = try params.requiredString("did")
        let cidText = try params.requiredString("cid")
        // Parameters first (Lexicon formats), then the repository, as the reference checks them.
        try HostedRepository.requireDID(did)
        guard let cid = try? CID(string: cidText) else {
            throw XRPCError.invalidRequest("cid must be a cid-string")
        }
        guard let account = try accounts.account(), account.did == did else {
            throw XRPCError.badRequest("RepoNotFound", "Could not find repo for DID: \(did)")
        }
        try requireRepoAvailable(account, request: request)
        let path = blobs.path(for: cid)
        guard let stored = try blobIndex.blob(cid), let size = Self.fileSize(path) else {
            if (try? blobIndex.blob(cid)) != nil {
                logger.error("blob row without file", metadata: ["cid": "\(cid.string)"])
            }
            throw Self.blobNotFound
        }

        var headers: HTTPFields = [
            .contentType: stored.mimeType,
            .acceptRanges: "bytes",
            .xContentTypeOptions: "nosniff",
            .contentSecurityPolicy: "default-src 'none'; sandbox",
            .contentDisposition: "attachment; filename=\"\(cid.string)\"",
            .cacheControl: "public, max-age=31536000, immutable",
            .eTag: "\"\(cid.string)\"",
        ]
        // If-Range (RFC 9110 §13.1.5): a range is only honoured when the client's copy is this one.
        var rangeHeader = request.headers[.range]
        if let ifRange = request.headers[.ifRange], ifRange != headers[.eTag] { rangeHeader = nil }

        let range: ClosedRange<Int>?
        let status: HTTPResponse.Status
        switch ByteRangeRequest(header: rangeHeader, size: size) {
        case .whole:
            range = size > 0 ? 0...(size - 1) : nil
            status = .ok
        case .partial(let bytes):
            range = bytes
            status = .partialContent
            headers[.contentRange] = "bytes \(bytes.lowerBound)-\(bytes.upperBound)/\(size)"
        case .unsatisfiable:
            headers[.contentRange] = "bytes */\(size)"
            headers[.contentLength] = "0"
            return Response(status: .rangeNotSatisfiable, headers: headers)
        }
        headers[.contentLength] = String(range?.count ?? 0)

        guard request.method != .head, let range else {
            // HEAD: the headers only (NIO's encoder sends no body for HEAD; the explicit
            // Content-Length above is kept because Response only fills it in when absent).
            return Response(status: status, headers: headers)
        }
        // FileIO reads on NIO's thread pool in 128 KiB chunks and writes each one as it arrives,
        // so memory stays flat whatever the blob's size.
        let body = try await FileIO().loadFile(path: path, range: range, context: context)
        return Response(status: status, headers: headers, body: body)
    }

    /// Deactivated and taken-down repos serve blobs only to their owner (the reference PDS).
    func requireRepoAvailable(_ account: Account, request: Request) throws {
        guard !account.isActive else { return }
        if request.headers[.authorization] != nil, let auth = try? authenticator.authenticate(request, .session), auth.did == account.did {
            return
        }
        if account.takedownRef != nil {
            throw XRPCError.badRequest("RepoTakendown", "Repo has been takendown: \(account.did)")
        }
        throw XRPCError.badRequest("RepoDeactivated", "Repo has been deactivated: \(account.did)")
    }

    /// Unknown blob. The Lexicon names this error `BlobNotFound`.
    static let blobNotFound = XRPCError.badRequest("BlobNotFound", "Blob not found")

    /// A regular file's size, or nil if it does not exist.
    static func fileSize(_ path: String) -> Int? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              (attributes[.type] as? FileAttributeType) == .typeRegular,
              let size = attributes[.size] as? NSNumber
        else { return nil }
        return size.intValue
    }
}

/// Moves a `BlobUpload` (a non-Sendable file writer) to the thread that finishes it. Safe because
/// the handler never touches the upload again while the pool thread owns it.
private struct UploadHandOff: @unchecked Sendable {
    let upload: BlobUpload
}
