import ATData
import ATIdentity
import ATSyntax
import Foundation
import TestSupport
import Testing

/// The go-didplc audit-log vectors (shared/vectors/extra/plc; ATPROTO.md §8.2).
@Suite(.enabled(if: SharedVectors.enabled, "needs the interop vectors: ../shared or PDS_SHARED_DIR"))
struct PLCVectorTests {
    /// Logs the README lists as valid.
    static let validLogs = [
        "log_bnewbold_robocracy.json", "log_bskyapp.json", "log_duplicate_rotation_keys.json",
        "log_empty_rotation_keys.json", "log_legacy_dholms.json", "log_nullification.json",
        "log_nullification_at_exactly_72h.json", "log_nullification_nontrivial.json",
        "log_nullified_tombstone.json", "log_tombstone.json",
    ]

    /// Logs the README lists as invalid, with the rule each breaks and the entry that breaks it.
    static let invalidLogs: [String: (PLCLogFailure, Int)] = [
        "log_invalid_sig_b64_padding_chars.json": (.signatureEncoding, 0),
        "log_invalid_sig_b64_padding_bits.json": (.signatureEncoding, 0),
        "log_invalid_sig_b64_newline.json": (.signatureEncoding, 0),
        "log_invalid_sig_der.json": (.invalidSignature, 0),
        "log_invalid_sig_k256_high_s.json": (.invalidSignature, 0),
        "log_invalid_sig_p256_high_s.json": (.invalidSignature, 0),
        "log_invalid_nullification_reused_key.json": (.unauthorizedKey, 2),
        "log_invalid_nullification_too_slow.json": (.nullificationTooLate, 2),
        "log_invalid_update_nullified.json": (.prevNullified, 4),
        "log_invalid_update_tombstoned.json": (.prevTombstoned, 2),
    ]

    static func load(_ name: String) throws -> [PLCLogEntry] {
        try PLCAuditLog.parse(Array(SharedVectors.data("extra/plc/" + name)))
    }

    @Test func vectorFolderHoldsExactlyTheListedLogs() throws {
        let folder = try SharedVectors.url("extra/plc")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasPrefix("log_") && $0.hasSuffix(".json") }
        #expect(Set(names) == Set(Self.validLogs).union(Self.invalidLogs.keys))
        #expect(Self.validLogs.count == 10 && Self.invalidLogs.count == 10)
    }

    @Test(arguments: validLogs) func validLogValidates(_ name: String) throws {
        let entries = try Self.load(name)
        let result: PLCAuditLog.Result
        do {
            result = try PLCAuditLog.validate(entries)
        } catch {
            Issue.record("\(name) should validate: \(error)")
            return
        }
        #expect(result.did.string == entries[0].did, "\(name)")
        // The DID the genesis hashes to is the log's.
        #expect(try entries[0].operation.did().string == entries[0].did, "\(name)")
        // Every CID is that of the signed operation.
        for entry in entries { #expect(entry.operation.cid.string == entry.cid, "\(name) \(entry.cid)") }
        // The current state is the last non-nullified entry's.
        let lastActive = try #require(entries.last { !$0.nullified })
        #expect(result.head == lastActive, "\(name)")
        #expect(result.activeEntries == entries.filter { !$0.nullified }, "\(name)")
        #expect(result.state == lastActive.operation.state, "\(name)")
        #expect(result.isTombstoned == lastActive.operation.isTombstone, "\(name)")
        #expect((result.document == nil) == result.isTombstoned, "\(name)")
    }

    @Test(arguments: Array(invalidLogs.keys).sorted()) func invalidLogIsRejected(_ name: String) throws {
        let (expected, expectedIndex) = try #require(Self.invalidLogs[name])
        let entries = try Self.load(name)
        do {
            _ = try PLCAuditLog.validate(entries)
            Issue.record("\(name) validated but should fail with \(expected)")
        } catch {
            guard case let .invalidLog(failure, index, _) = error else {
                Issue.record("\(name): unexpected error \(error)")
                return
            }
            #expect(failure == expected, "\(name): \(error)")
            #expect(index == expectedIndex, "\(name): \(error)")
        }
        // The DIDs and CIDs themselves are right: the failures are about signatures and history.
        #expect(try entries[0].operation.did().string == entries[0].did, "\(name)")
        for entry in entries { #expect(entry.operation.cid.string == entry.cid, "\(name) \(entry.cid)") }
    }

    @Test func nontrivialNullificationLeavesTheExpectedHistory() throws {
        let entries = try Self.load("log_nullification_nontrivial.json")
        let result = try PLCAuditLog.validate(entries)
        // op7 forks from op1, nullifying op2–op6 (op4 already nullified by op5): UPSTREAM-README.
        #expect(result.activeEntries.map(\.cid) == [entries[0].cid, entries[1].cid, entries[7].cid])
        #expect(result.state?.alsoKnownAs == ["at://op7"])
    }

    @Test func legacyGenesisIsNormalised() throws {
        let entries = try Self.load("log_legacy_dholms.json")
        let genesis = try #require(entries[0].operation.state)
        #expect(entries[0].operation.type == "create")
        #expect(genesis.alsoKnownAs == ["at://dan.bsky.social"])
        #expect(genesis.pdsEndpoint == "https://bsky.social")
        #expect(genesis.rotationKeys == [
            "did:key:zQ3shhCGUqDKjStzuDxPkTxN6ujddP4RkEKJJouJGRRkaLGbg",
            "did:key:zQ3shP5TBe1sQfSttXty15FAEHV1DZgcxRZNxvEWnPfLFwLxJ",
        ])
        _ = try PLCAuditLog.validate(entries)
    }

    @Test func duplicateRotationKeysFailUnderTheStrictPolicy() throws {
        let entries = try Self.load("log_duplicate_rotation_keys.json")
        #expect(throws: IdentityError.self) { try PLCAuditLog.validate(entries, policy: .strict) }
        do {
            _ = try PLCAuditLog.validate(entries, policy: .strict)
        } catch {
            guard case .invalidLog(.duplicateRotationKeys, 0, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
        }
        // Every other valid log also passes the strict policy.
        for name in Self.validLogs where name != "log_duplicate_rotation_keys.json" {
            #expect(throws: Never.self, "\(name)") { try PLCAuditLog.validate(Self.load(name), policy: .strict) }
        }
    }

    @Test(arguments: validLogs + invalidLogs.keys.sorted()) func entriesRoundTripThroughJSON(_ name: String) throws {
        for entry in try Self.load(name) {
            let reparsed = try PLCLogEntry(json: JSONValue.parse(entry.json.serialized()))
            #expect(reparsed == entry, "\(name)")
            let operation = try PLCOperation(jsonBytes: entry.operation.jsonBytes)
            #expect(operation == entry.operation, "\(name)")
            #expect(operation.cid.string == entry.cid, "\(name)")
            // And through DAG-CBOR.
            #expect(try PLCOperation(dagCBOR: entry.operation.encoded) == entry.operation, "\(name)")
        }
    }

    @Test func knownBadLists() throws {
        let badCIDs = try #require(try SharedVectors.json("extra/plc/known_bad_cids.json") as? [String])
        let badDIDs = try #require(try SharedVectors.json("extra/plc/known_bad_dids.json") as? [String])
        #expect(badCIDs.count > 6000 && badDIDs.count > 6000)
        for cid in badCIDs { #expect((try? CID(string: cid))?.string == cid, "\(cid)") }
        for did in badDIDs {
            #expect(did.hasPrefix("did:plc:") && did.count == 32 && (try? DID(did)) != nil, "\(did)")
        }
        let cidSet = Set(badCIDs), didSet = Set(badDIDs)

        // The DER-signature log is one of the directory's known-bad operations.
        let der = try Self.load("log_invalid_sig_der.json")
        #expect(didSet.contains(der[0].did))
        #expect(cidSet.contains(der[0].cid))

        // No valid log touches the lists.
        for name in Self.validLogs {
            for entry in try Self.load(name) {
                #expect(!didSet.contains(entry.did), "\(name)")
                #expect(!cidSet.contains(entry.cid), "\(name)")
            }
        }
    }
}
