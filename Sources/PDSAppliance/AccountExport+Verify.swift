import ATCrypto
import ATData
import ATIdentity
import ATRepo
import Foundation
import PDSStore

extension AccountExport {
    /// Reads an export (directory or `.tar`) back and checks it: the repository verifies (block
    /// CIDs, MST, the commit's DID, its signature when `keyFrom` holds the account's published
    /// key), each blob hashes to its name, and every blob a record refers to is there.
    public static func verify(_ path: String, keyFrom accounts: AccountStore? = nil, progress: Progress = { _, _, _ in }) throws -> Summary {
        // The CAR's blocks go to a scratch SQLite file as they stream past, so a repository of a
        // million records is checked in the memory of a small board.
        var staged: (root: CID, store: ScratchBlockStore, bytes: Int)?
        var blobs: [CID: Int] = [:]
        func take(name: String, size: Int, next: () throws -> [UInt8]?) throws {
            if name == carName {
                staged = try stage(next)
            } else if name.hasPrefix(blobPrefix) {
                let cid: CID
                do { cid = try CID(string: String(name.dropFirst(blobPrefix.count))) } catch { throw ExportError("\(name): not a CID") }
                var hash = SHA256()
                var length = 0
                while let chunk = try next() { hash.update(chunk); length += chunk.count }
                guard CID(codec: cid.codec, sha256Digest: hash.finalize()) == cid else { throw ExportError("\(name): its content does not hash to its CID") }
                blobs[cid] = length
                progress(.verify, blobs.count, 0)
            }
        }
        try readEntries(path, take)
        guard let staged else { throw ExportError("\(path) holds no \(carName)") }
        var summary = try verifyRepository(root: staged.root, blocks: staged.store, blobs: blobs, key: try accounts.flatMap(publishedKey))
        summary.carBytes = staged.bytes
        return summary
    }

    /// Reads a CAR from `next` into a scratch store: its one root and the bytes read.
    static func stage(_ next: () throws -> [UInt8]?) throws -> (root: CID, store: ScratchBlockStore, bytes: Int) {
        var bytes = 0
        let store = try ScratchBlockStore()
        do {
            // The reader lives only inside this call, so the source does not outlive `next`.
            let root = try withoutActuallyEscaping(next) { next in
                var reader = try CARReader {
                    let chunk = try next()
                    bytes += chunk?.count ?? 0
                    return chunk
                }
                guard reader.roots.count == 1, let root = reader.roots.first else { throw ExportError("\(carName) must have one root, the commit") }
                while let (cid, block) = try reader.next() { try store.add(cid, block) }
                return root
            }
            return (root, store, bytes)
        } catch let error as ExportError {
            throw error
        } catch {
            throw ExportError("\(carName) does not verify: \(error)")
        }
    }

    static func verifyRepository(root: CID, blocks: any BlockSource, blobs: [CID: Int], key: (any VerifyingKey)?) throws -> Summary {
        var summary = Summary()
        var referenced = Set<CID>()
        let commit: SignedCommit
        do {
            commit = try RepoVerifier.verify(root: root, blocks: blocks, verifySignature: { message, signature in
                key.map { $0.verify(signature: signature, message: message) } ?? true
            }) { _, _, bytes in
                summary.records += 1
                for blob in try DAGCBOR.decode(bytes).references().blobs { referenced.insert(blob.ref) }
            }
        } catch {
            throw ExportError("\(carName) does not verify: \(error)")
        }
        if let missing = referenced.subtracting(blobs.keys).sorted().first {
            throw ExportError("blob \(missing.string) is referenced by a record but not in the export")
        }
        summary.did = commit.commit.did
        summary.rev = commit.commit.rev ?? ""
        summary.blobs = blobs.count
        summary.blobBytes = blobs.values.reduce(0, +)
        summary.signatureChecked = key != nil
        return summary
    }

    /// The `#atproto` key of the newest PLC operation the server stored (did:plc); nil for did:web.
    static func publishedKey(_ accounts: AccountStore) throws -> (any VerifyingKey)? {
        guard let json = try accounts.latestPLCOperation(),
              let didKey = try PLCOperation(jsonBytes: json).state?.atprotoSigningKey
        else { return nil }
        return try DIDKey.parse(didKey)
    }

    /// Hands each entry of a directory export or a tar export to `body`.
    static func readEntries(_ path: String, _ body: (String, Int, () throws -> [UInt8]?) throws -> Void) throws {
        func file(_ name: String, _ full: String) throws {
            guard let handle = FileHandle(forReadingAtPath: full) else { throw ExportError("cannot read \(full)") }
            defer { try? handle.close() }
            let size = Int(try FileManager.default.attributesOfItem(atPath: full)[.size] as? UInt64 ?? 0)
            try body(name, size) {
                guard let data = try handle.read(upToCount: 1 << 16), !data.isEmpty else { return nil }
                return Array(data)
            }
        }
        if path.hasSuffix(".tar") {
            guard let handle = FileHandle(forReadingAtPath: path) else { throw ExportError("cannot read \(path)") }
            defer { try? handle.close() }
            try TarArchive.read(handle, body)
        } else {
            try file(carName, path + "/" + carName)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path + "/blobs")) ?? [] {
                try file(blobPrefix + name, path + "/blobs/" + name)
            }
        }
    }
}
