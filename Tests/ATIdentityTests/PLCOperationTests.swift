import ATCrypto
import ATData
import ATIdentity
import ATSyntax
import Testing

/// Building, signing and replaying this server's own operations (ATPROTO.md §8.2,
/// REFERENCE-PDS.md §6.1).
@Suite struct PLCOperationTests {
    let signingKey = K256PrivateKey()
    let serverKey = K256PrivateKey()
    let recoveryKey = K256PrivateKey()
    let handle = try! Handle("alice.example.com")
    let endpoint = "https://pds.example.com"
    /// 2025-01-01T00:00:00Z.
    static let start: Int64 = 1_735_689_600_000_000
    static let hour: Int64 = 3_600_000_000

    func genesis(recovery: Bool = true) throws -> (operation: PLCOperation, did: DID) {
        try PLCOperation.signedGenesis(
            handle: handle, signingKey: signingKey.didKey, pdsEndpoint: endpoint,
            serverRotationKey: serverKey, recoveryKey: recovery ? recoveryKey.didKey : nil)
    }

    func entry(_ did: DID, _ operation: PLCOperation, hours: Int64, nullified: Bool = false) -> PLCLogEntry {
        PLCLogEntry(
            did: did.string, operation: operation, cid: operation.cid.string, nullified: nullified,
            createdAt: Datetime(microsecondsSinceEpoch: Self.start + hours * Self.hour))
    }

    func failure(_ entries: [PLCLogEntry]) -> (PLCLogFailure, Int)? {
        do {
            _ = try PLCAuditLog.validate(entries)
            return nil
        } catch {
            guard case let .invalidLog(failure, index, _) = error else { return nil }
            return (failure, index)
        }
    }

    @Test func genesisHasTheReferenceShapeAndValidatesAsALog() throws {
        let (operation, did) = try genesis()
        let state = try #require(operation.state)
        #expect(state.rotationKeys == [recoveryKey.didKey, serverKey.didKey])
        #expect(state.verificationMethods == ["atproto": signingKey.didKey])
        #expect(state.alsoKnownAs == ["at://alice.example.com"])
        #expect(state.services == ["atproto_pds": PLCService(type: "AtprotoPersonalDataServer", endpoint: endpoint)])
        #expect(operation.prev == nil && operation.type == "plc_operation")
        #expect(operation.isSigned(by: serverKey.didKey))

        // did:plc: + 24 characters of lowercase base32.
        #expect(did.string.count == 32)
        #expect(did.identifier.allSatisfy { ("a"..."z").contains($0) || ("2"..."7").contains($0) })

        let result = try PLCAuditLog.validate([entry(did, operation, hours: 0)])
        #expect(result.did == did)
        #expect(result.state == state)
        let identity = try #require(result.document).atprotoIdentity(for: did)
        #expect(identity.handle == handle)
        #expect(identity.signingKey?.isSameKey(as: signingKey.publicKey) == true)
        #expect(identity.pdsEndpoint == endpoint)

        // Without a recovery key the server key is the only rotation key.
        #expect(try genesis(recovery: false).operation.rotationKeys == [serverKey.didKey])
    }

    @Test func p256RotationKeyWorksToo() throws {
        let p256 = try P256PrivateKey()
        let (operation, did) = try PLCOperation.signedGenesis(
            handle: handle, signingKey: signingKey.didKey, pdsEndpoint: endpoint, serverRotationKey: p256)
        _ = try PLCAuditLog.validate([entry(did, operation, hours: 0)])
    }

    @Test func chainedUpdateSignedByARotationKeyValidates() throws {
        let (first, did) = try genesis()
        let newSigningKey = K256PrivateKey()
        let update = try PLCOperation.update(
            after: first, handle: Handle("alice.example.org"), signingKey: newSigningKey.didKey
        ).signed(with: serverKey, chainedOn: first)
        #expect(update.prev == first.cid.string)

        let result = try PLCAuditLog.validate([entry(did, first, hours: 0), entry(did, update, hours: 1)])
        #expect(result.state?.handle?.string == "alice.example.org")
        #expect(result.state?.atprotoSigningKey == newSigningKey.didKey)
        #expect(result.state?.rotationKeys == first.rotationKeys)
        #expect(result.head.operation == update)

        // Endpoint and rotation-key changes, chained once more.
        let newServerKey = K256PrivateKey()
        let move = try PLCOperation.update(
            after: update, pdsEndpoint: "https://new.example.net", rotationKeys: [recoveryKey.didKey, newServerKey.didKey]
        ).signed(with: serverKey, chainedOn: update)
        let moved = try PLCAuditLog.validate([entry(did, first, hours: 0), entry(did, update, hours: 1), entry(did, move, hours: 2)])
        #expect(moved.state?.pdsEndpoint == "https://new.example.net")
        #expect(moved.state?.rotationKeys.last == newServerKey.didKey)
    }

    @Test func updateSignedByTheSigningKeyFails() throws {
        let (first, did) = try genesis()
        let update = try PLCOperation.update(after: first, pdsEndpoint: "https://evil.example.com")
        // The builder refuses to sign with a key that has no authority…
        #expect(throws: IdentityError.self) { try update.signed(with: signingKey, chainedOn: first) }
        // …and a log carrying such an operation fails validation.
        let forged = try update.signed(with: signingKey)
        let result = failure([entry(did, first, hours: 0), entry(did, forged, hours: 1)])
        #expect(result?.0 == .invalidSignature && result?.1 == 1)
    }

    @Test func recoveryKeyNullifiesARecentServerOperation() throws {
        let (first, did) = try genesis()
        let hijack = try PLCOperation.update(after: first, pdsEndpoint: "https://evil.example.com")
            .signed(with: serverKey, chainedOn: first)
        let recovery = try PLCOperation.update(after: first, rotationKeys: [recoveryKey.didKey])
            .signed(with: recoveryKey, chainedOn: first)

        let result = try PLCAuditLog.validate([
            entry(did, first, hours: 0), entry(did, hijack, hours: 1, nullified: true), entry(did, recovery, hours: 2),
        ])
        #expect(result.activeEntries.map(\.operation) == [first, recovery])
        #expect(result.state?.pdsEndpoint == endpoint)

        // The nullified flags must match the replay.
        let unflagged = failure([entry(did, first, hours: 0), entry(did, hijack, hours: 1), entry(did, recovery, hours: 2)])
        #expect(unflagged?.0 == .nullifiedFlagMismatch && unflagged?.1 == 1)

        // Exactly 72 h after the nullified operation is still allowed, a moment later is not.
        let atLimit = try PLCAuditLog.validate([
            entry(did, first, hours: 0), entry(did, hijack, hours: 1, nullified: true), entry(did, recovery, hours: 73),
        ])
        #expect(atLimit.head.operation == recovery)
        let late = PLCLogEntry(
            did: did.string, operation: recovery, cid: recovery.cid.string, nullified: false,
            createdAt: Datetime(microsecondsSinceEpoch: Self.start + 73 * Self.hour + 1000))
        let tooLate = failure([entry(did, first, hours: 0), entry(did, hijack, hours: 1, nullified: true), late])
        #expect(tooLate?.0 == .nullificationTooLate && tooLate?.1 == 2)

        // The server key cannot undo its own operation: it has no priority over itself.
        let serverFork = try PLCOperation.update(after: first, handle: Handle("mallory.example.com"))
            .signed(with: serverKey, chainedOn: first)
        let unauthorized = failure([
            entry(did, first, hours: 0), entry(did, hijack, hours: 1, nullified: true), entry(did, serverFork, hours: 2),
        ])
        #expect(unauthorized?.0 == .unauthorizedKey && unauthorized?.1 == 2)
    }

    @Test func nothingFollowsATombstone() throws {
        let (first, did) = try genesis()
        let tombstone = try PLCOperation.tombstone(after: first).signed(with: serverKey, chainedOn: first)
        let result = try PLCAuditLog.validate([entry(did, first, hours: 0), entry(did, tombstone, hours: 1)])
        #expect(result.isTombstoned && result.state == nil && result.document == nil)
        #expect(throws: IdentityError.self) { try PLCOperation.update(after: tombstone, pdsEndpoint: endpoint) }
        var revived = try PLCOperation.update(after: first, pdsEndpoint: endpoint)
        revived.prev = tombstone.cid.string
        revived = try revived.signed(with: serverKey)
        let failed = failure([entry(did, first, hours: 0), entry(did, tombstone, hours: 1), entry(did, revived, hours: 2)])
        #expect(failed?.0 == .prevTombstoned)
    }

    @Test func historyRules() throws {
        let (first, did) = try genesis()
        let update = try PLCOperation.update(after: first, pdsEndpoint: "https://b.example.com").signed(with: serverKey)
        // Timestamps must increase.
        #expect(failure([entry(did, first, hours: 1), entry(did, update, hours: 1)])?.0 == .timestampOrder)
        // The first entry must be the genesis, and only the first.
        #expect(failure([entry(did, update, hours: 1)])?.0 == .expectedGenesis)
        #expect(failure([entry(did, first, hours: 0), entry(did, first, hours: 1)])?.0 == .duplicateOperation)
        // prev must be in the log.
        let (other, _) = try genesis(recovery: false)
        let stray = try PLCOperation.update(after: other, pdsEndpoint: endpoint).signed(with: serverKey)
        #expect(failure([entry(did, first, hours: 0), entry(did, stray, hours: 1)])?.0 == .prevNotFound)
        // Entries must agree with their operations and DID.
        var wrongCID = entry(did, update, hours: 1)
        wrongCID.cid = first.cid.string
        #expect(failure([entry(did, first, hours: 0), wrongCID])?.0 == .cidMismatch)
        var wrongDID = entry(did, first, hours: 0)
        wrongDID.did = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
        #expect(failure([wrongDID])?.0 == .genesisDIDMismatch)
        #expect(failure([])?.0 == .emptyLog)
    }

    @Test func signatureEncodingIsStrict() throws {
        let (first, _) = try genesis()
        let sig = try #require(first.sig)
        #expect(!sig.contains("=") && !sig.contains("+") && !sig.contains("/"))
        #expect(try first.signatureBytes().count == 64)
        for bad in [sig + "=", sig + "\n", String(sig.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })]
        where bad != sig {
            var tampered = first
            tampered.sig = bad
            #expect(throws: IdentityError.self) { try tampered.signatureBytes() }
            // The entry's DID must still match, or that check would fire first.
            let tamperedDID = try tampered.did()
            #expect(failure([entry(tamperedDID, tampered, hours: 0)])?.0 == .signatureEncoding)
        }
    }

    @Test func operationSizeLimit() throws {
        let (first, _) = try genesis()
        let huge = try PLCOperation.update(after: first) { state in
            state.alsoKnownAs.append("https://" + String(repeating: "a", count: 8000))
        }
        #expect(throws: IdentityError.self) { try huge.signed(with: serverKey) }
        do {
            _ = try huge.signed(with: serverKey)
        } catch {
            guard case .operationTooLarge(let size) = error else { Issue.record("\(error)"); return }
            #expect(size > PLCOperation.maxSize)
        }
        // An oversized operation in a log is rejected before anything else.
        var forged = huge
        forged.sig = "AAAA"
        let did = try DID("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
        let (firstGenesis, firstDID) = try genesis()
        #expect(failure([entry(firstDID, firstGenesis, hours: 0), entry(did, forged, hours: 1)])?.0 == .inconsistentDID)
        #expect(failure([entry(firstDID, firstGenesis, hours: 0), entry(firstDID, forged, hours: 1)])?.0 == .operationTooLarge)
        // Just under the limit is fine.
        let fitting = try PLCOperation.update(after: first) { state in
            state.alsoKnownAs.append("https://" + String(repeating: "a", count: 6500))
        }.signed(with: serverKey)
        #expect(fitting.encoded.count <= PLCOperation.maxSize)
    }

    @Test func builderLimits() throws {
        // The recovery key must differ from the server key.
        #expect(throws: IdentityError.self) {
            try PLCOperation.genesis(
                handle: handle, signingKey: signingKey.didKey, pdsEndpoint: endpoint,
                serverRotationKey: serverKey.didKey, recoveryKey: serverKey.didKey)
        }
        let (first, _) = try genesis()
        #expect(throws: IdentityError.self) { try PLCOperation.update(after: first, rotationKeys: []) }
        let six = (0..<6).map { _ in K256PrivateKey().didKey }
        #expect(throws: IdentityError.self) { try PLCOperation.update(after: first, rotationKeys: six) }
        #expect(throws: IdentityError.self) { try PLCOperation.update(after: first, rotationKeys: ["did:key:zNotAKey"]) }
        #expect(throws: IdentityError.self) { try PLCOperation.update(after: first, signingKey: "did:web:example.com") }
        #expect(throws: IdentityError.self) { try PLCOperation.update(after: first, pdsEndpoint: "pds.example.com") }
        // An unsigned operation has no CID to chain on and no DID.
        let unsigned = try PLCOperation.genesis(
            handle: handle, signingKey: signingKey.didKey, pdsEndpoint: endpoint, serverRotationKey: serverKey.didKey)
        #expect(throws: IdentityError.self) { try PLCOperation.update(after: unsigned, pdsEndpoint: endpoint) }
        #expect(throws: IdentityError.unsigned) { try unsigned.did() }
    }

    @Test func jsonRoundTrip() throws {
        let (first, _) = try genesis()
        let update = try PLCOperation.update(after: first, handle: Handle("bob.example.com")).signed(with: serverKey)
        let tombstone = try PLCOperation.tombstone(after: update).signed(with: serverKey)
        for operation in [first, update, tombstone] {
            let parsed = try PLCOperation(jsonBytes: operation.jsonBytes)
            #expect(parsed == operation)
            #expect(parsed.cid == operation.cid)
            #expect(parsed.isSigned(by: serverKey.didKey))
            #expect(try PLCOperation(dagCBOR: operation.encoded) == operation)
        }
        // The signed bytes omit sig; prev is a string, not a link.
        #expect(first.unsignedValue["sig"] == nil)
        #expect(update.dataValue["prev"] == .string(first.cid.string))
        // Unknown fields and types are refused rather than dropped.
        guard case .object(var object) = first.json else { Issue.record("not an object"); return }
        object["extra"] = .string("x")
        #expect(throws: IdentityError.self) { try PLCOperation(json: .object(object)) }
        object["extra"] = nil
        object["type"] = .string("plc_unknown")
        #expect(throws: IdentityError.self) { try PLCOperation(json: .object(object)) }
        object["type"] = .string("plc_operation")
        object["prev"] = nil
        #expect(throws: IdentityError.self) { try PLCOperation(json: .object(object)) }
    }
}
