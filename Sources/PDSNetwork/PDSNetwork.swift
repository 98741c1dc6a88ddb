// PDSNetwork: how the appliance talks to other servers.
//
// What it is: the `OutboundHTTP` protocol (requests, buffered and streamed responses, their
// limits) and `NIOHTTPClient`, its implementation on SwiftNIO and the system OpenSSL.
//
// What it is not: an HTTP server (PDSServer), or anything that knows which server it talks to
// (the PLC directory, relays, AppViews and S3 buckets are their callers' business).

/// The appliance's version: the outbound `User-Agent` (`pds/<version>`), `/xrpc/_health` and the
/// banner (`PDSApplication.version`). Declared here, the lowest module that sends it.
public enum PDSVersion {
    public static let current = "0.1.0"
}
