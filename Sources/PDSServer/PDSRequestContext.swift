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

    /// Request bodies larger than this are refused before handlers see them (uploadBlob streams
    /// and enforces its own limit).
    public var maxUploadSize: Int { 1_000_000 }
}
