import ATAuth
import PDSCore
import PDSStore

/// An error from a lower layer that has a protocol meaning. The error middleware answers with
/// `xrpcError` instead of a 500, so storage stays free of HTTP concerns.
public protocol XRPCErrorConvertible: Error {
    var xrpcError: XRPCError { get }
}

extension BlobReferenceError: XRPCErrorConvertible {
    /// Error names as the reference server uses them when a record's blob does not match an
    /// upload (the reference PDS: `BlobNotFound`, `InvalidMimeType`, `InvalidSize`).
    public var xrpcError: XRPCError {
        switch self {
        case .notFound(let cid):
            .badRequest("BlobNotFound", "Could not find blob: \(cid)")
        case .mimeTypeMismatch(let cid, let stored, let declared):
            .badRequest("InvalidMimeType", "Referenced mimeType \(declared) does not match stored blob \(cid) (\(stored))")
        case .sizeMismatch(let cid, let stored, let declared):
            .badRequest("InvalidSize", "Referenced size \(declared) does not match stored blob \(cid) (\(stored) bytes)")
        }
    }
}

extension AuthError: XRPCErrorConvertible {
    /// Statuses and names as the reference server answers: 401 with `WWW-Authenticate: Bearer`
    /// for missing or bad credentials (clients drop or refresh the session rather than retry),
    /// 400 `ExpiredToken` (clients refresh on exactly this name), 400 `InvalidToken` for a genuine
    /// token whose session may not do this.
    public var xrpcError: XRPCError {
        switch self {
        case .missing: .authMissing
        case .invalidToken(let message): .invalidToken(message)
        case .expiredToken(let message): .expiredToken(message)
        case .badScope(let message): .badRequest("InvalidToken", message)
        case .accountDeactivated: XRPCError(.unauthorized, "AccountDeactivated", "Account is deactivated")
        case .serviceToken(let name, let message): XRPCError(.unauthorized, name, message)
        }
    }
}

extension SessionError: XRPCErrorConvertible {
    public var xrpcError: XRPCError {
        switch self {
        case .invalidCredentials: .authenticationRequired("Invalid identifier or password")
        case .accountNotFound: .invalidToken("Account not found")
        case .emptyAppPasswordName: .invalidRequest("App password name must not be empty")
        case .appPasswordNameTaken: .invalidRequest("A app password with this name already exists.")
        case .loginLocked(let retryAfter):
            .rateLimitExceeded(retryAfter: retryAfter, message: "Too many failed sign-in attempts, try again later")
        // The names and wording the Bluesky app looks for (it shows a code field on the first,
        // "Invalid 2FA confirmation code" on a message containing "Token is invalid").
        case .authFactorTokenRequired:
            XRPCError(.unauthorized, "AuthFactorTokenRequired", "A sign in code has been sent to your email address")
        case .invalidAuthFactorToken: .badRequest("InvalidToken", "Token is invalid")
        }
    }
}

extension IdentityServiceError: XRPCErrorConvertible {
    public var xrpcError: XRPCError {
        switch self {
        case .invalid(let message): .invalidRequest(message)
        case .invalidToken: .badRequest("InvalidToken", "Token is invalid")
        case .expiredToken: .badRequest("ExpiredToken", "Token is expired")
        case .upstream(let message): XRPCError(.badGateway, "UpstreamFailure", message)
        }
    }
}

extension RepoWriteError: XRPCErrorConvertible {
    /// Error names, statuses and messages as the reference server answers them.
    public var xrpcError: XRPCError {
        switch self {
        case .noWrites: .invalidRequest("No writes given")
        case .tooManyWrites(let max): .invalidRequest("Too many writes. Max: \(max)")
        case .repoNotFound(let did): .badRequest("RepoNotFound", "Could not find repo: \(did)")
        case .invalidCommitSwap(let current): .badRequest("InvalidSwap", "Commit was at \(current)")
        case .invalidRecordSwap(let current): .badRequest("InvalidSwap", "Record was at \(current.map(\.string) ?? "null")")
        case .recordExists(let uri): .invalidRequest("Record already exists: \(uri)")
        case .invalidCollection(let collection): .invalidRequest("Invalid collection NSID: \(collection)")
        case .invalidRecordKey(let rkey): .invalidRequest("Invalid record key: \(rkey)")
        case .invalidRecord(let reason): .invalidRequest("Invalid record: \(reason)")
        case .commitTooLarge: .invalidRequest("Too many writes. Max event size: 2MB")
        }
    }
}

extension StorageFullError: XRPCErrorConvertible {
    /// 507 `InsufficientStorage` (RFC 4918 §11.5): the server's disk is full, so the write was
    /// refused and nothing of it was stored; the same request succeeds once space is freed. The
    /// XRPC status list has no disk-full entry and the reference server would answer a generic
    /// 500; a distinct status and name tell the client (and the operator's logs) what happened.
    public var xrpcError: XRPCError {
        XRPCError(.init(code: 507, reasonPhrase: "Insufficient Storage"), "InsufficientStorage",
                  "The server is out of disk space; the request was not stored")
    }
}
