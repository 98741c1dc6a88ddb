// JWT parsing and verification (ATAuth): the Authorization header parser, JWT(parsing:), HS256
// and ECDSA verification, the session token codec's access/refresh checks and service-auth
// checks. Mode 0 hands the input over as a token; mode 1 reads it as `header JSON \n claims JSON`
// and signs it with the server's secret (and mode 2 with the issuer's K-256 key) first, so the
// claim checks behind the signature are reached.
import ATAuth
import ATCrypto
import ATData
import FuzzSupport
import Multiformats

let secret = [UInt8](repeating: 0x5a, count: 32)
let codec = SessionTokenCodec(secret: secret, audience: "did:web:pds.example")
let k256 = try! K256PrivateKey(privateKeyBytes: [UInt8](repeating: 7, count: 32))
let p256 = try! P256PrivateKey(privateKeyBytes: [UInt8](repeating: 9, count: 32))
let now: Int64 = 1_700_000_000

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    writeSeeds {
        let pair = codec.pair(did: "did:plc:abcdefghijklmnopqrstuvwx", scope: .access, jti: "abc", issuedAt: now - 10)
        let service = (try? ServiceAuthToken.make(issuer: "did:plc:abcdefghijklmnopqrstuvwx", audience: "did:web:api.example",
                                                  lxm: "app.bsky.feed.getTimeline", issuedAt: now, lifetime: 60, key: k256)) ?? ""
        let p256Token = (try? JWT.sign(claims: ["iss": "did:plc:x", "exp": .number(JSONNumber(now + 60))], key: p256)) ?? ""
        return [
            ("access", [0] + Array(("Bearer " + pair.access).utf8)),
            ("refresh", [0] + Array(pair.refresh.utf8)),
            ("service", [0] + Array(service.utf8)),
            ("p256", [0] + Array(p256Token.utf8)),
            ("signed-access", [1] + Array(#"{"typ":"at+jwt","alg":"HS256"}"#.utf8) + [10]
                + Array(#"{"scope":"com.atproto.access","sub":"did:plc:abc","aud":"did:web:pds.example","iat":1699999990,"exp":1700007200}"#.utf8)),
            ("signed-refresh", [1] + Array(#"{"typ":"refresh+jwt","alg":"HS256"}"#.utf8) + [10]
                + Array(#"{"scope":"com.atproto.refresh","sub":"did:plc:abc","aud":"did:web:pds.example","jti":"x","exp":1800000000}"#.utf8)),
            ("signed-service", [2] + Array(#"{"typ":"JWT","alg":"ES256K"}"#.utf8) + [10]
                + Array(#"{"iss":"did:plc:abc","aud":"did:web:pds.example#atproto_pds","lxm":"com.atproto.repo.uploadBlob","exp":1700000060}"#.utf8)),
        ]
    }
    return 0
}

func segment(_ bytes: ArraySlice<UInt8>) -> String { Base64.encode(bytes, alphabet: .urlSafe) }

func check(_ token: String) {
    if let bearer = AuthorizationHeader(token).bearerToken { check(bearer) }
    _ = try? codec.verifyAccess(token, now: now)
    _ = try? codec.verifyRefresh(token, allowExpired: true, now: now)
    guard let jwt = try? JWT(parsing: token) else { return }
    _ = jwt.string("sub")
    _ = jwt.integer("exp")
    try? jwt.verifyHS256(secret: secret)
    try? jwt.verify(key: k256.publicKey)
    try? jwt.verify(key: p256.publicKey)
    if ServiceAuthToken.isCandidate(jwt) {
        try? ServiceAuthToken.verify(jwt, issuer: "did:plc:abc", key: k256.publicKey, audience: "did:web:pds.example",
                                     lxm: "com.atproto.repo.uploadBlob", now: now)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var cursor = ByteCursor(inputBytes(data, size))
    let mode = cursor.byte() % 3
    let rest = cursor.rest
    if mode == 0 {
        // Tokens are header values: Hummingbird hands them over as Strings (invalid UTF-8 repaired).
        check(String(decoding: rest, as: UTF8.self))
        return 0
    }
    let newline = rest.firstIndex(of: 10) ?? rest.endIndex
    let input = segment(rest[..<newline]) + "." + segment(rest[min(newline + 1, rest.endIndex)...])
    let signature: [UInt8] = mode == 1 ? HMAC.sha256(key: secret, message: Array(input.utf8)) : k256.sign(Array(input.utf8))
    check(input + "." + Base64.encode(signature, alphabet: .urlSafe))
    return 0
}

@main
enum Main {
    static func main() { runFuzzer(testOneInput) }
}
