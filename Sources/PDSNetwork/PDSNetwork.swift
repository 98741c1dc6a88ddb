// PDSNetwork: what this server asks of other machines.
//
// What it is: outbound HTTP/1.1 (over NIO and the system OpenSSL, keep-alive pooled) behind the
// `OutboundHTTP` protocol; the outbound guard (`OutboundGuard`: only public unicast addresses,
// connected to as checked) for targets someone else chose; identity resolution behind
// `IdentityDirectory` (DID → document, handle → DID; direct, cached, or a fixed stand-in,
// stackable); the did:plc directory client; DNS TXT/A lookups; the relay `requestCrawl` notifier;
// SMTP submission (`SMTPClient`: implicit TLS or STARTTLS, AUTH PLAIN/LOGIN) and RFC 5322
// messages (`EmailMessage`). The SMTP server is the operator's choice, so it is not guarded.
//
// What it is not: a server (no Hummingbird), storage, or policy about who may call what.
