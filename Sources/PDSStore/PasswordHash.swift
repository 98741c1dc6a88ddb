import ATCrypto
import Multiformats

/// scrypt password hashes in a self-describing text form: `scrypt$ln=14,r=8,p=1$<salt>$<hash>`
/// (base64, unpadded). The parameters travel with the hash so they can be raised later without
/// invalidating stored passwords.
///
/// Cost: N = 2^14, r = 8, p = 1 (16 MiB, the reference server's Node default). That keeps a login
/// around 50 ms on a small x86 VPS and a few hundred on a Raspberry Pi, without risking memory
/// pressure on a 1 GB board.
public enum PasswordHash {
    /// The cost used for new hashes.
    public static let defaultParameters = Scrypt.Parameters(logN: 14, r: 8, p: 1)
    static let keyLength = 64

    /// Hashes `password` with a fresh random salt.
    public static func make(_ password: String, parameters: Scrypt.Parameters = defaultParameters) throws -> String {
        let salt = SecureRandom.bytes(16)
        let hash = try derive(password, salt: salt, parameters: parameters)
        return "scrypt$ln=\(parameters.n.trailingZeroBitCount),r=\(parameters.r),p=\(parameters.p)$"
            + Base64.encode(salt) + "$" + Base64.encode(hash)
    }

    /// Hashes `password` with a fixed `salt`: used for app passwords, so a presented password can
    /// be found by its hash in one scrypt computation.
    public static func make(_ password: String, salt: [UInt8], parameters: Scrypt.Parameters = defaultParameters) throws -> String {
        let hash = try derive(password, salt: salt, parameters: parameters)
        return "scrypt$ln=\(parameters.n.trailingZeroBitCount),r=\(parameters.r),p=\(parameters.p)$"
            + Base64.encode(salt) + "$" + Base64.encode(hash)
    }

    /// True if `password` matches `stored` (constant-time comparison). Malformed stored values
    /// never match.
    public static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "scrypt" else { return false }
        var logN = 0, r: UInt32 = 0, p: UInt32 = 0
        for field in parts[1].split(separator: ",") {
            let pair = field.split(separator: "=")
            guard pair.count == 2 else { return false }
            switch pair[0] {
            case "ln": logN = Int(pair[1]) ?? 0
            case "r": r = UInt32(pair[1]) ?? 0
            case "p": p = UInt32(pair[1]) ?? 0
            default: return false
            }
        }
        guard (10...20).contains(logN), (1...32).contains(r), (1...16).contains(p),
              let salt = try? Base64.decode(parts[2]), let expected = try? Base64.decode(parts[3]),
              let actual = try? derive(password, salt: salt, parameters: Scrypt.Parameters(logN: logN, r: r, p: p))
        else { return false }
        return HMAC.constantTimeEquals(actual, expected)
    }

    static func derive(_ password: String, salt: [UInt8], parameters: Scrypt.Parameters) throws -> [UInt8] {
        try Scrypt.deriveKey(password: Array(password.utf8), salt: salt, parameters: parameters, outputByteCount: keyLength)
    }
}
