// PDSServer: the HTTP face of the appliance.
//
// What it is: the XRPC router and handlers, authentication (session JWTs, app passwords, service
// auth), the firehose, service proxying and identity endpoints, built on Hummingbird and
// SwiftNIO, with storage from PDSStore and protocol logic from the AT* modules.
//
// What it is not: protocol encoding (ATData/ATRepo), storage details (PDSStore), or the command
// line (the `pds` executable).

// Transitional: the outbound HTTP client moved to PDSNetwork; re-exported so the server's files
// and tests keep compiling unchanged until identity and federation move there too.
@_exported import PDSNetwork
