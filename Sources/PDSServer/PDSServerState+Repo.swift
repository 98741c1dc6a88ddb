import ATData
import ATIdentity
import ATLexicon
import ATRepo
import ATSyntax
import Foundation
import Hummingbird
import PDSCore
import PDSStore

extension PDSServerState {
    /// `com.atproto.repo.*` and the local part of `com.atproto.identity.resolveHandle`
    /// (REFERENCE-PDS.md §1b).
    func registerRepoMethods(on router: inout XRPCRouter) {
        router.procedure("com.atproto.repo.createRecord") { [self] request, context in
            let auth = try tokens.verifyAccess(request)
            let input = try await request.jsonObject(context: context, limit: Self.recordBodyLimit)
            let account = try requireWritableRepo(input, auth: auth)
            let collection = try input.requiredString("collection")
            let rkey = try input.optionalString("rkey") ?? TIDClock.shared.next().string
            let record = try recordValue(input, key: "record", collection: collection)
            let validation = try validateRecord(record, collection: collection, rkey: rkey, mode: try input.optionalBool("validate"))
            let outcome = try await repoWriter().apply(
                [.create(collection: collection, rkey: rkey, record: record)], swapCommit: try swapCommit(input))
            return Self.recordWriteResponse(did: account.did, outcome: outcome, validation: validation)
        }

        router.procedure("com.atproto.repo.putRecord") { [self] request, context in
            let auth = try tokens.verifyAccess(request)
            let input = try await request.jsonObject(context: context, limit: Self.recordBodyLimit)
            let account = try requireWritableRepo(input, auth: auth)
            let collection = try input.requiredString("collection")
            let rkey = try input.requiredString("rkey")
            let record = try recordValue(input, key: "record", collection: collection)
            let validation = try validateRecord(record, collection: collection, rkey: rkey, mode: try input.optionalBool("validate"))
            let outcome = try await repoWriter().apply(
                [.update(collection: collection, rkey: rkey, record: record, swap: try recordSwap(input))],
                swapCommit: try swapCommit(input))
            return Self.recordWriteResponse(did: account.did, outcome: outcome, validation: validation)
        }

        router.procedure("com.atproto.repo.deleteRecord") { [self] request, context in
            let auth = try tokens.verifyAccess(request)
            let input = try await request.jsonObject(context: context)
            _ = try requireWritableRepo(input, auth: auth)
            let collection = try input.requiredString("collection")
            let rkey = try input.requiredString("rkey")
            let outcome = try await repoWriter().apply(
                [.delete(collection: collection, rkey: rkey, swap: try recordSwap(input))], swapCommit: try swapCommit(input))
            var output = JSONObject()
            if let commit = outcome.commit { output["commit"] = Self.commitMeta(commit) }
            return jsonResponse(.object(output))
        }

        router.procedure("com.atproto.repo.applyWrites") { [self] request, context in
            let auth = try tokens.verifyAccess(request)
            let input = try await request.jsonObject(context: context, limit: Self.recordBodyLimit)
            let account = try requireWritableRepo(input, auth: auth)
            guard let writesValue = input.object["writes"] else { throw XRPCError.invalidRequest("Input must have the property \"writes\"") }
            guard let writeList = writesValue.arrayValue else { throw XRPCError.invalidRequest("Input/writes must be an array") }
            guard writeList.count <= RepoWriter.maxWrites else { throw XRPCError.invalidRequest("Too many writes. Max: \(RepoWriter.maxWrites)") }
            let mode = try input.optionalBool("validate")
            var writes: [RecordWrite] = []
            var statuses: [String?] = []
            for (index, item) in writeList.enumerated() {
                guard let object = item.objectValue else { throw XRPCError.invalidRequest("Input/writes/\(index) must be an object") }
                let write = XRPCInput(object: object)
                let type = try write.requiredString("$type")
                let collection = try write.requiredString("collection")
                switch type {
                case "com.atproto.repo.applyWrites#create":
                    let rkey = try write.optionalString("rkey") ?? TIDClock.shared.next().string
                    let record = try recordValue(write, key: "value", collection: collection)
                    statuses.append(try validateRecord(record, collection: collection, rkey: rkey, mode: mode))
                    writes.append(.create(collection: collection, rkey: rkey, record: record))
                case "com.atproto.repo.applyWrites#update":
                    let rkey = try write.requiredString("rkey")
                    let record = try recordValue(write, key: "value", collection: collection)
                    statuses.append(try validateRecord(record, collection: collection, rkey: rkey, mode: mode))
                    writes.append(.update(collection: collection, rkey: rkey, record: record, swap: .any))
                case "com.atproto.repo.applyWrites#delete":
                    writes.append(.delete(collection: collection, rkey: try write.requiredString("rkey"), swap: .any))
                    statuses.append(nil)
                default:
                    throw XRPCError.invalidRequest("Input/writes/\(index) has an unsupported $type: \(type)")
                }
            }
            let outcome = try await repoWriter().apply(writes, swapCommit: try swapCommit(input))
            let results: [JSONValue] = zip(outcome.results, statuses).map { result, status in
                guard let cid = result.cid else { return ["$type": "com.atproto.repo.applyWrites#deleteResult"] }
                let isCreate = writes.first { $0.collection == result.collection && $0.rkey == result.rkey }.map {
                    if case .create = $0 { return true } else { return false }
                } ?? false
                var output: JSONObject = [
                    "$type": .string(isCreate ? "com.atproto.repo.applyWrites#createResult" : "com.atproto.repo.applyWrites#updateResult"),
                    "uri": .string("at://\(account.did)/\(result.collection)/\(result.rkey)"),
                    "cid": .string(cid.string),
                ]
                if let status { output["validationStatus"] = .string(status) }
                return .object(output)
            }
            var output: JSONObject = ["results": .array(results)]
            if let commit = outcome.commit { output["commit"] = Self.commitMeta(commit) }
            return jsonResponse(.object(output))
        }

        router.query("com.atproto.repo.getRecord") { [self] request, _ in
            let params = request.params
            let account = try requireHostedRepo(try params.requiredString("repo"))
            let collection = try params.requiredString("collection")
            guard (try? NSID(collection)) != nil else { throw XRPCError.invalidRequest("collection must be a valid nsid") }
            let rkey = try params.requiredString("rkey")
            guard (try? RecordKey(rkey)) != nil else { throw XRPCError.invalidRequest("rkey must be a valid record key") }
            let uri = "at://\(account.did)/\(collection)/\(rkey)"
            guard let cid = try repository.recordCID(collection: collection, rkey: rkey) else {
                throw XRPCError.badRequest("RecordNotFound", "Could not locate record: \(uri)")
            }
            if let wanted = params.optionalString("cid"), wanted != cid.string {
                throw XRPCError.badRequest("RecordNotFound", "Could not locate record: \(uri)")
            }
            return jsonResponse(["uri": .string(uri), "cid": .string(cid.string), "value": try recordJSON(cid)])
        }

        router.query("com.atproto.repo.listRecords") { [self] request, _ in
            let params = request.params
            let account = try requireHostedRepo(try params.requiredString("repo"))
            let collection = try params.requiredString("collection")
            guard (try? NSID(collection)) != nil else { throw XRPCError.invalidRequest("collection must be a valid nsid") }
            let limit = try params.optionalInteger("limit", range: 1...100) ?? 50
            let reverse = try params.optionalBool("reverse") ?? false
            let page = try repository.listRecords(collection: collection, limit: limit, cursor: params.optionalString("cursor"), reverse: reverse)
            var records: [JSONValue] = []
            for entry in page {
                records.append([
                    "uri": .string("at://\(account.did)/\(collection)/\(entry.rkey)"),
                    "cid": .string(entry.cid.string), "value": try recordJSON(entry.cid),
                ])
            }
            var output: JSONObject = ["records": .array(records)]
            if page.count == limit, let last = page.last { output["cursor"] = .string(last.rkey) }
            return jsonResponse(.object(output))
        }

        router.query("com.atproto.repo.describeRepo") { [self] request, _ in
            let account = try requireHostedRepo(try request.params.requiredString("repo"))
            return jsonResponse([
                "handle": .string(account.handle), "did": .string(account.did),
                "didDoc": try didDocument()?.json ?? .null,
                "collections": .array(try repository.collections().map(JSONValue.string)),
                "handleIsCorrect": true,
            ])
        }

        router.query("com.atproto.identity.resolveHandle") { [self] request, _ in
            let text = try request.params.requiredString("handle")
            guard let handle = try? Handle(text) else { throw XRPCError.invalidRequest("handle must be a valid handle") }
            if let account = try accounts.account(), account.handle == handle.string {
                return jsonResponse(["did": .string(account.did)])
            }
            // Someone else's handle: resolved here (DNS, then HTTPS) and checked backwards
            // against the DID document, so a handle that merely claims a DID is not answered.
            do {
                return jsonResponse(["did": .string(try await resolver.verifiedDID(forHandle: handle.string))])
            } catch {
                throw XRPCError.badRequest("HandleNotFound", "Unable to resolve handle")
            }
        }
    }

    /// createRecord/putRecord/applyWrites accept bodies up to 1,000,000 bytes (REFERENCE-PDS.md §11.2).
    static let recordBodyLimit = 1_000_000

    var repository: RepositoryStore { RepositoryStore(database: database) }

    /// The hosted account if `repo` (DID or handle) names it.
    func requireHostedRepo(_ repo: String) throws -> Account {
        guard (try? ATIdentifier(repo)) != nil else { throw XRPCError.invalidRequest("repo must be a valid did or handle") }
        guard let account = try accounts.account(), repo == account.did || repo.lowercased() == account.handle else {
            throw XRPCError.badRequest("RepoNotFound", "Could not find repo: \(repo)")
        }
        return account
    }

    /// The hosted account, checking that the caller may write to `repo`.
    func requireWritableRepo(_ input: XRPCInput, auth: AccessAuth) throws -> Account {
        let account = try requireHostedRepo(try input.requiredString("repo"))
        guard account.did == auth.did else { throw XRPCError.forbidden("Cannot write to another account's repository") }
        guard account.isActive else { throw XRPCError(.unauthorized, "AccountDeactivated", "Account is deactivated") }
        return account
    }

    /// Lexicon validation as the reference does it (`repo/prepare.ts`): `validate` unset checks
    /// the record if its collection has a built-in schema and answers `unknown` otherwise; `true`
    /// refuses a collection without one; `false` skips the check and the status is omitted.
    /// An invalid record is refused before it reaches the writer, so nothing is stored.
    func validateRecord(_ record: DataValue, collection: String, rkey: String, mode: Bool?) throws -> String? {
        if mode == false { return nil }
        let outcome: LexiconCatalog.RecordValidation
        do {
            outcome = try LexiconCatalog.builtIn.validateRecord(record, collection: collection, rkey: rkey)
        } catch {
            throw XRPCError.invalidRequest("Invalid \(collection) record: \(error.message)")
        }
        switch outcome {
        case .valid:
            return "valid"
        case .unknownLexicon:
            if mode == true { throw XRPCError.invalidRequest("Lexicon not found: \(collection)") }
            return "unknown"
        }
    }

    /// The record from `input[key]` as data-model value, `$type` filled in or checked.
    func recordValue(_ input: XRPCInput, key: String, collection: String) throws -> DataValue {
        guard let json = input.object[key] else { throw XRPCError.invalidRequest("Input must have the property \"\(key)\"") }
        guard case .object(var object) = json else { throw XRPCError.invalidRequest("Input/\(key) must be an object") }
        if let type = object["$type"] {
            guard type.stringValue == collection else {
                throw XRPCError.invalidRequest("Invalid $type: expected \(collection), got \(type.stringValue ?? "a non-string")")
            }
        } else {
            object["$type"] = .string(collection)
        }
        do {
            return try DataValue(json: .object(object))
        } catch {
            throw XRPCError.invalidRequest("Invalid record: \(error)")
        }
    }

    func swapCommit(_ input: XRPCInput) throws -> CID? {
        guard let text = try input.optionalString("swapCommit") else { return nil }
        guard let cid = try? CID(string: text) else { throw XRPCError.invalidRequest("swapCommit must be a cid") }
        return cid
    }

    func recordSwap(_ input: XRPCInput) throws -> RecordSwap {
        guard let value = input.object["swapRecord"] else { return .any }
        if value.isNull { return .mustNotExist }
        guard let text = value.stringValue, let cid = try? CID(string: text) else {
            throw XRPCError.invalidRequest("swapRecord must be a cid")
        }
        return .cid(cid)
    }

    /// The createRecord/putRecord output: `{uri, cid, commit?, validationStatus}` (`commit` is
    /// absent when the write changed nothing).
    static func recordWriteResponse(did: String, outcome: WriteOutcome, validation: String?) -> Response {
        let result = outcome.results[0]
        var output: JSONObject = [
            "uri": .string("at://\(did)/\(result.collection)/\(result.rkey)"),
            "cid": .string(result.cid!.string),
        ]
        if let validation { output["validationStatus"] = .string(validation) }
        if let commit = outcome.commit { output["commit"] = commitMeta(commit) }
        return jsonResponse(.object(output))
    }

    static func commitMeta(_ commit: (cid: CID, rev: String)) -> JSONValue {
        ["cid": .string(commit.cid.string), "rev": .string(commit.rev)]
    }

    /// A stored record as atproto JSON.
    func recordJSON(_ cid: CID) throws -> JSONValue {
        guard let bytes = try repository.block(cid) else { throw XRPCError.internalError }
        return try DAGCBOR.decode(bytes, limits: .init(maxDepth: 64)).jsonValue
    }

    /// The account's DID document as this server knows it: from its latest PLC operation, or
    /// built from the keys for a did:web account (whose document this server serves itself).
    func didDocument() throws -> DIDDocument? {
        guard let account = try accounts.account(), let did = try? DID(account.did) else { return nil }
        if account.did.hasPrefix("did:web:") {
            return DIDDocument.web(did: did, handle: try? Handle(account.handle), signingKey: keys.signingKey.publicKey,
                                   pdsEndpoint: config.publicURL)
        }
        guard let json = try accounts.latestPLCOperation(),
              let operation = try? PLCOperation(jsonBytes: json), let state = operation.state
        else { return nil }
        return DIDDocument.plc(did: did, state: state)
    }
}
