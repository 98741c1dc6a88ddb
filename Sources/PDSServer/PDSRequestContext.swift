import Hummingbird
import Logging
import NIOCore

/// Per-request state carried through middleware and handlers.
public struct PDSRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The caller's address (for logs and, later, rate limits).
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// The cap Hummingbird applies when it *collects* or decodes a body for a handler. Streaming
    /// `request.body` is not capped by it: uploadBlob streams and enforces `PDS_BLOB_UPLOAD_LIMIT`
    /// itself, and JSON inputs pass their own smaller limit to `jsonObject(context:limit:)`.
    public var maxUploadSize: Int { 1_000_000 }
}
