// PDSServer: the HTTP edge of the appliance.
//
// What it is: the Hummingbird application (routes, middleware, TLS serving on OpenSSLNIO, the
// subscribeRepos WebSocket), the XRPC router whose routes declare their auth requirement and
// rate-limit policy, the `Authenticator`, the endpoint groups (each holding only the core
// services it calls), service proxying with read-after-write, and the one place where domain
// errors become XRPC error responses (`XRPCErrorConvertible`).
//
// What it is not: domain rules (PDSCore), SQL (PDSStore), protocol encoding (the AT* modules),
// outbound clients (PDSNetwork), or the command line (PDSAppliance and the `pds` executable).
