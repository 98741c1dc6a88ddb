// OpenSSLNIO: TLS for SwiftNIO on the system OpenSSL 3.0.
//
// Scope: a `ChannelDuplexHandler` that runs OpenSSL over a pair of memory BIOs (server role, and a
// client role that verifies the chain and the host name), a hot-swappable set of server contexts
// loaded from PEM files (`TLSContextStore`), the X.509 pieces ACME needs (keys, CSRs, self-signed
// certificates, certificate facts), and `HTTP1Client`: the one outbound HTTP/1.1 client of the
// appliance (plain or TLS, streamed bodies with backpressure), under both ACME's transport and
// the server's `OutboundHTTP`.
//
// What it is not: an HTTP server, an ACME client, or a general X.509 toolkit. It never imports
// Foundation or Hummingbird; `PDSServer` wraps the handler into Hummingbird's `ServerChildChannel`.
//
// Policy is fixed, not configurable: TLS 1.2 and 1.3 only, AEAD ciphers only (ECDHE with AES-GCM
// or ChaCha20-Poly1305 for 1.2; the three RFC 8446 AEAD suites for 1.3), no renegotiation, no
// compression, ALPN `http/1.1` (and `acme-tls/1` only for RFC 8737 challenge connections).
// Only the non-deprecated OpenSSL 3.0 API is used (https://docs.openssl.org/3.0/man7/migration_guide/).
