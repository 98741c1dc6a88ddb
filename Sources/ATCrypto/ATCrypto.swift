// ATCrypto: the cryptography an AT Protocol server needs, over the system's C libraries.
//
// What it is: SHA-256, secure random bytes, K-256 (secp256k1) keys through libsecp256k1, P-256 keys
// and every other primitive (HMAC, HKDF, scrypt, X25519, ChaCha20-Poly1305) through OpenSSL 3.0's
// non-deprecated API, did:key / multikey encoding, and age v1 encrypted files.
//
// What it is not: JWT or DID document logic (those live above), TLS (OpenSSLNIO), or storage.
// It does no file or network I/O of its own: age works on byte buffers so that plaintext key
// material never has to touch disk.
//
// This module and the C shim targets are the only places that touch C pointers.
