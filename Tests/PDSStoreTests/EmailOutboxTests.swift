import Foundation
@testable import PDSStore
import Testing

/// `email_outbox`: due order, backoff bookkeeping, removal, the summary, and durability across a
/// reopen of the database (an acknowledged request's message is still there after a restart).
@Suite struct EmailOutboxTests {
    @Test func dueFailedRemovedAndSummarised() throws {
        let directory = PDSDatabaseTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        do {
            let outbox = EmailOutbox(database: try PDSDatabase(directory: directory))
            #expect(try outbox.summary() == .init(pending: 0, oldestEnqueuedAt: nil, lastError: nil))
            #expect(try outbox.nextDue() == nil)
            let first = try outbox.enqueue(purpose: "a", sealed: [1, 2, 3], now: start)
            try outbox.enqueue(purpose: "b", sealed: [4], now: start.addingTimeInterval(1))
            #expect(try outbox.due(now: start).map(\.id) == [first], "not yet due: the second was queued later")
            try outbox.failed(id: first, error: "connect refused", retryAt: start.addingTimeInterval(60))
            #expect(try outbox.due(now: start.addingTimeInterval(2)).map(\.purpose) == ["b"])
            #expect(try outbox.nextDue() == start.addingTimeInterval(1))
            #expect(try outbox.summary() == .init(pending: 2, oldestEnqueuedAt: EmailOutbox.milliseconds(start), lastError: "connect refused"))
        }
        // Reopened (a restart): both messages are still queued, with their attempts.
        let outbox = EmailOutbox(database: try PDSDatabase(directory: directory))
        let due = try outbox.due(now: start.addingTimeInterval(61))
        #expect(due.map(\.purpose) == ["a", "b"])
        #expect(due.map(\.attempts) == [1, 0])
        #expect(due.first?.sealed == [1, 2, 3])
        for item in due { try outbox.remove(id: item.id) }
        #expect(try outbox.summary().pending == 0)
    }
}
