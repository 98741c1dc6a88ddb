@testable import PDSStore
import Testing

/// One-time tokens (e-mail confirmation, password reset, PLC signing, deletion): the live token
/// of a purpose redeems once; the same token past its lifetime is told apart from a wrong one (the
/// reference answers `ExpiredToken` and `InvalidToken`), and is gone either way.
@Suite struct TokenRedemptionTests {
    @Test func validExpiredAndInvalidTokens() throws {
        let accounts = AccountStore(database: try PDSDatabase.inMemory())
        try accounts.storeToken("AAAAA-11111", purpose: "reset_password", lifetime: 900, now: 1_000)
        #expect(try accounts.redeemToken("BBBBB-22222", purpose: "reset_password", now: 1_100) == .invalid)
        #expect(try accounts.redeemToken("AAAAA-11111", purpose: "delete_account", now: 1_100) == .invalid)
        #expect(try accounts.redeemToken("AAAAA-11111", purpose: "reset_password", now: 1_100) == .valid)
        #expect(try accounts.redeemToken("AAAAA-11111", purpose: "reset_password", now: 1_100) == .invalid, "a token works once")

        try accounts.storeToken("CCCCC-33333", purpose: "reset_password", lifetime: 900, now: 1_000)
        #expect(try accounts.redeemToken("CCCCC-33333", purpose: "reset_password", now: 1_900) == .expired)
        #expect(try accounts.redeemToken("CCCCC-33333", purpose: "reset_password", now: 1_000) == .invalid, "an expired token is gone")
        try accounts.storeToken("DDDDD-44444", purpose: "reset_password", lifetime: 900, now: 1_000)
        #expect(try !accounts.consumeToken("DDDDD-44444", purpose: "reset_password", now: 2_000))
    }
}
