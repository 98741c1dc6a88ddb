@testable import PDSServer
import Testing

/// `Range` header interpretation (RFC 9110 §14).
@Suite struct ByteRangeRequestTests {
    @Test func singleRanges() {
        #expect(ByteRangeRequest(header: nil, size: 100) == .whole)
        #expect(ByteRangeRequest(header: "bytes=0-9", size: 100) == .partial(0...9))
        #expect(ByteRangeRequest(header: "bytes=90-", size: 100) == .partial(90...99))
        #expect(ByteRangeRequest(header: "bytes=-10", size: 100) == .partial(90...99))
        #expect(ByteRangeRequest(header: "bytes=-500", size: 100) == .partial(0...99))
        #expect(ByteRangeRequest(header: "bytes=50-500", size: 100) == .partial(50...99))
        #expect(ByteRangeRequest(header: "BYTES = 1-1", size: 100) == .partial(1...1))
        #expect(ByteRangeRequest(header: "bytes=99999999999999999999999-", size: 100) == .unsatisfiable)
    }

    @Test func unsatisfiable() {
        #expect(ByteRangeRequest(header: "bytes=100-", size: 100) == .unsatisfiable)
        #expect(ByteRangeRequest(header: "bytes=100-200", size: 100) == .unsatisfiable)
        #expect(ByteRangeRequest(header: "bytes=-0", size: 100) == .unsatisfiable)
        #expect(ByteRangeRequest(header: "bytes=0-", size: 0) == .unsatisfiable)
        #expect(ByteRangeRequest(header: "bytes=-5", size: 0) == .unsatisfiable)
    }

    @Test func ignoredHeaders() {
        #expect(ByteRangeRequest(header: "bytes=9-1", size: 100) == .whole)
        #expect(ByteRangeRequest(header: "bytes=0-1,4-5", size: 100) == .whole)
        #expect(ByteRangeRequest(header: "items=0-1", size: 100) == .whole)
        #expect(ByteRangeRequest(header: "bytes=a-b", size: 100) == .whole)
        #expect(ByteRangeRequest(header: "bytes=+1-2", size: 100) == .whole)
        #expect(ByteRangeRequest(header: "bytes=-", size: 100) == .whole)
        #expect(ByteRangeRequest(header: "bytes", size: 100) == .whole)
    }
}
