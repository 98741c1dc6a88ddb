import Foundation
@testable import PDSAppliance
import Testing

/// The resume file of `pds migrate`: saved atomically with mode 0600, read back as written, and
/// absent until a move starts.
@Suite struct MigrateStateTests {
    @Test func savedStateReadsBackAndIsPrivate() throws {
        let directory = NSTemporaryDirectory() + "pds-migrate-state-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try MigrateState.load(dataDirectory: directory) == nil)
        var state = MigrateState(did: "did:plc:abcdefghijklmnopqrstuvwx", oldPDS: "https://old.example.com", handle: "alice.example.com")
        state.done = [.account, .repo]
        state.signedOperation = #"{"type":"plc_operation"}"#
        state.blobs = 3
        try state.save(dataDirectory: directory)
        #expect(try MigrateState.load(dataDirectory: directory) == state)
        let path = MigrateState.path(dataDirectory: directory)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        state.done.append(.blobs)
        try state.save(dataDirectory: directory)
        #expect(try MigrateState.load(dataDirectory: directory)?.isDone(.blobs) == true)
    }

    @Test func phasesAreNumberedInOrder() {
        #expect(MigrateState.Phase.allCases.map(\.number) == Array(1...8))
        #expect(MigrateState.Phase.deactivateOld.rawValue == "deactivate-old")
    }
}
