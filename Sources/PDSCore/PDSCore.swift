// PDSCore: what the server does, without HTTP.
//
// What it is: the services behind the XRPC methods — the repository writer, the firehose hub,
// sessions and app passwords, the account's identity (handle, PLC operations, DID document), the
// account's e-mail (one-time tokens, confirmation, sign-in codes) and the outgoing-mail queue's
// delivery loop (`Mailer`) — with the configuration and keys they run on. They throw domain errors (`RepoWriteError`,
// `SessionError`, `IdentityServiceError`, …) that the HTTP edge maps to XRPC responses once.
//
// What it is not: HTTP (no Hummingbird import), SQL (PDSStore), wire formats (ATSync, ATRepo), or
// the network clients themselves (PDSNetwork).
