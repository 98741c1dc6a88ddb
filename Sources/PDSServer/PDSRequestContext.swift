import Hummingbird
import Logging
import NIOCore

/// Per-request state carried through middleware and handlers.
public struct PDSRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The caller's address (for logs and rate limits).
    public let remoteAddress: SocketAddress?
    /// The connection (to close it when a request's unread body is too large to drain).
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }

    /// The cap Hummingbird applies when it *collects* or decodes a body for a handler. Streaming
    /// `request.body` is not capped by it: uploadBlob streams and enforces `PDS_BLOB_UPLOAD_LIMIT`
    /// itself, and JSON inputs pass their own smaller limit to `jsonObject(context:limit:)`.
    public var maxUploadSize: Int { 1_000_000 }
}
