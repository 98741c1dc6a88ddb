// ATIdentity: AT Protocol identity data — DID documents and did:plc operations.
//
// What it is: did:plc operation building, signing and verification, DID computation, audit-log
// validation, and DID-document parsing/rendering (the atproto fields: handle, signing key, PDS
// endpoint).
//
// What it is not: network resolution (the server does HTTP and DNS and feeds documents in here),
// key storage, or handle policy.
