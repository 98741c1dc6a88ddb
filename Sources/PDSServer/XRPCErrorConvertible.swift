import PDSCore
import PDSStore

/// An error from a lower layer that has a protocol meaning. The error middleware answers with
/// `xrpcError` instead of a 500, so storage stays free of HTTP concerns.
public protocol XRPCErrorConvertible: Error {
    var xrpcError: XRPCError { get }
}

extension BlobReferenceError: XRPCErrorConvertible {
    /// Error names as the reference server uses them when a record's blob does not match an
    /// upload (REFERENCE-PDS.md §8: `BlobNotFound`, `InvalidMimeType`, `InvalidSize`).
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
