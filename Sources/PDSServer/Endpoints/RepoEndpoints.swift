import ATAuth
import ATData
import ATIdentity
import ATLexicon
import ATRepo
import ATSyntax
import Foundation
import Hummingbird
import PDSCore
import PDSStore

/// `com.atproto.repo.*`: record writes through the repository writer, and reads from the record
/// index, as the reference server answers them.
struct RepoEndpoints: Sendable {
    let repo: HostedRepository
    /// The account's DID document as this server knows it (`describeRepo` includes it).
    let didDocument: @Sendable () throws -> DIDDocument?

    func register(on router: inout XRPCRouter) {
        registerRecordWrites(on: &router)
        registerApplyWrites(on: &router)
        registerReads(on: &router)
    }

    /// createRecord, putRecord, deleteRecord.
    func registerRecordWrites(on router: inout XRPCRouter) {
        router.procedure("com.atproto.repo.createRecord", auth: .activeSession, rateLimit: .repoWriteCreate) { request, context, auth in
            let input = try await request.jsonObject(context: context, limit: Self.recordBodyLimit)
            let account = try repo.writableAccount(try input.requiredString("repo"), auth: auth)
            let collection = try input.requiredString("collection")
            try auth.requireRepo(collection, .create)
            let rkey = try input.optionalString("rkey") ?? TIDClock.shared.next().string
            let record = try recordValue(input, key: "record", collection: collection)
            let validation = try validateRecord(record, collection: collection, rkey: rkey, mode: try input.optionalBool("validate"))
            let outcome = try await repo.writer().apply(
                [.create(collection: collection, rkey: rkey, record: record)], swapCommit: try swapCommit(input))
            return Self.recordWriteResponse(did: account.did, outcome: outcome, validation: validation)
        }

        router.procedure("com.atproto.repo.putRecord", auth: .activeSession, rateLimit: .repoWriteUpdate) { request, context, auth in
            let input = try await request.jsonObject(context: context, limit: Self.recordBodyLimit)
            let account = try repo.writableAccount(try input.requiredString("repo"), auth: auth)
            let collection = try input.requiredString("collection")
            try auth.requireRepo(collection, .update)
            let rkey = try input.requiredString("rkey")
            let record = try recordValue(input, key: "record", collection: collection)
            let validation = try validateRecord(record, collection: collection, rkey: rkey, mode: try input.optionalBool("validate"))
            let outcome = try await repo.writer().apply(
                [.update(collection: collection, rkey: rkey, record: record, swap: try recordSwap(input))],
                swapCommit: try swapCommit(input))
            return Self.recordWriteResponse(did: account.did, outcome: outcome, validation: validation)
        }

        router.procedure("com.atproto.repo.deleteRecord", auth: .activeSession, rateLimit: .repoWriteDelete) { request, context, auth in
            let input = try await request.jsonObject(context: context)
            _ = try repo.writableAccount(try input.requiredString("repo"), auth: auth)
            let collection = try input.requiredString("collection")
            try auth.requireRepo(collection, .delete)
            let rkey = try input.requiredString("rkey")
            let outcome = try await repo.writer().apply(
                [.delete(collection: collection, rkey: rkey, swap: try recordSwap(input))], swapCommit: try swapCommit(input))
            var output = JSONObject()
            if let commit = outcome.commit { output["commit"] = Self.commitMeta(commit) }
            return jsonResponse(.object(output))
        }
    }

    /// applyWrites: up to 200 creates, updates and deletes as one commit.
    func registerApplyWrites(on router: inout XRPCRouter) {
        router.procedure("com.atproto.repo.applyWrites", auth: .activeSession) { request, context, auth in
            let input = try await request.jsonObject(context: context, limit: Self.recordBodyLimit)
            let account = try repo.writableAccount(try input.requiredString("repo"), auth: auth)
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
                    try auth.requireRepo(collection, .create)
                    let rkey = try write.optionalString("rkey") ?? TIDClock.shared.next().string
                    let record = try recordValue(write, key: "value", collection: collection)
                    statuses.append(try validateRecord(record, collection: collection, rkey: rkey, mode: mode))
                    writes.append(.create(collection: collection, rkey: rkey, record: record))
                case "com.atproto.repo.applyWrites#update":
                    try auth.requireRepo(collection, .update)
                    let rkey = try write.requiredString("rkey")
                    let record = try recordValue(write, key: "value", collection: collection)
                    statuses.append(try validateRecord(record, collection: collection, rkey: rkey, mode: mode))
                    writes.append(.update(collection: collection, rkey: rkey, record: record, swap: .any))
                case "com.atproto.repo.applyWrites#delete":
                    try auth.requireRepo(collection, .delete)
                    writes.append(.delete(collection: collection, rkey: try write.requiredString("rkey"), swap: .any))
                    statuses.append(nil)
                default:
                    throw XRPCError.invalidRequest("Input/writes/\(index) has an unsupported $type: \(type)")
                }
            }
            // The repoWrite limit as the reference counts it: create 3, update 2, delete 1 point each.
            let points = writes.reduce(0) { sum, write in
                switch write {
                case .create: sum + 3
                case .update: sum + 2
                case .delete: sum + 1
                }
            }
            try context.chargeRateLimit(.repoWrite(points: points), account: auth.did)
            let outcome = try await repo.writer().apply(writes, swapCommit: try swapCommit(input))
            // One result per write, in order, typed by the write at the same position: a batch that
            // creates and then updates one path answers createResult, updateResult.
            let results: [JSONValue] = zip(writes, zip(outcome.results, statuses)).map { write, pair in
                let (result, status) = pair
                let type: String
                switch write {
                case .create: type = "com.atproto.repo.applyWrites#createResult"
                case .update: type = "com.atproto.repo.applyWrites#updateResult"
                case .delete: return ["$type": "com.atproto.repo.applyWrites#deleteResult"]
                }
                var output: JSONObject = [
                    "$type": .string(type),
                    "uri": .string("at://\(account.did)/\(result.collection)/\(result.rkey)"),
                    "cid": .string(result.cid?.string ?? ""),
                ]
                if let status { output["validationStatus"] = .string(status) }
                return .object(output)
            }
            var output: JSONObject = ["results": .array(results)]
            if let commit = outcome.commit { output["commit"] = Self.commitMeta(commit) }
            return jsonResponse(.object(output))
        }
    }

    /// getRecord, listRecords, describeRepo: reads of the record index.
    func registerReads(on router: inout XRPCRouter) {
        router.query("com.atproto.repo.getRecord") { request, _ in
            let params = request.params
            let account = try repo.account(try params.requiredString("repo"))
            let collection = try params.requiredString("collection")
            guard (try? NSID(collection)) != nil else { throw XRPCError.invalidRequest("collection must be a valid nsid") }
            let rkey = try params.requiredString("rkey")
            guard (try? RecordKey(rkey)) != nil else { throw XRPCError.invalidRequest("rkey must be a valid record key") }
            let wanted = params.optionalString("cid")
            if let wanted, (try? CID(string: wanted)) == nil { throw XRPCError.invalidRequest("cid must be a cid-string") }
            let uri = "at://\(account.did)/\(collection)/\(rkey)"
            // CID and bytes from one snapshot: a commit deletes the blocks of records it removes.
            guard let (cid, bytes) = try repo.store.record(collection: collection, rkey: rkey) else {
                throw XRPCError.badRequest("RecordNotFound", "Could not locate record: \(uri)")
            }
            if let wanted, wanted != cid.string {
                throw XRPCError.badRequest("RecordNotFound", "Could not locate record: \(uri)")
            }
            return jsonResponse(bytes: try RepositoryStore.recordOutputJSON(uri: uri, cid: cid, bytes: bytes))
        }

        router.query("com.atproto.repo.listRecords") { request, _ in
            let params = request.params
            let account = try repo.account(try params.requiredString("repo"))
            let collection = try params.requiredString("collection")
            guard (try? NSID(collection)) != nil else { throw XRPCError.invalidRequest("collection must be a valid nsid") }
            let limit = try params.optionalInteger("limit", range: 1...100) ?? 50
            let reverse = try params.optionalBool("reverse") ?? false
            // The page and its records' bytes from one snapshot.
            let page = try repo.store.listRecordsWithBytes(collection: collection, limit: limit, cursor: params.optionalString("cursor"),
                                                           reverse: reverse)
            let cursor = page.count == limit ? page.last?.rkey : nil
            return jsonResponse(bytes: try RepositoryStore.pageOutputJSON(uriPrefix: "at://\(account.did)/\(collection)/",
                                                                          page: page, cursor: cursor))
        }

        router.query("com.atproto.repo.describeRepo") { request, _ in
            // Repo availability as the reference asserts it: a deactivated or taken-down repo is not described.
            let account = try repo.servedAccount(did: try repo.account(try request.params.requiredString("repo")).did)
            return jsonResponse([
                "handle": .string(account.handle), "did": .string(account.did),
                "didDoc": try didDocument()?.json ?? .null,
                "collections": .array(try repo.store.collections().map(JSONValue.string)),
                "handleIsCorrect": true,
            ])
        }
    }

    /// createRecord/putRecord/applyWrites accept bodies up to 1,000,000 bytes (the reference PDS).
    static let recordBodyLimit = 1_000_000

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
}
