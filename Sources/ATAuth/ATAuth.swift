// ATAuth: who may call what, as pure functions over tokens and method names.
//
// What it is: compact JWS/JWT (RFC 7515/7519) with HS256, ES256K and ES256; the HS256 session
// tokens of password sessions; inter-service auth tokens (https://atproto.com/specs/xrpc#inter-service-authentication-jwt);
// the session scopes and the method policy (protected and privileged methods); the one parser of
// `Authorization` headers; OAuth's pure parts (OAuth/: scope strings and permissions, PKCE S256,
// DPoP proofs and nonces, client metadata rules, private_key_jwt assertions, the method policy).
//
// What it is not: storage (refresh-token rows, revocation), clocks (callers pass `now`), HTTP
// (errors are `AuthError` values; the server maps them to XRPC responses once, at its edge).
