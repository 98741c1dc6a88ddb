import Foundation
import GRDB

/// The account's e-mail address, its confirmation and the e-mail sign-in factor.
extension AccountStore {
    /// Replaces the address. A new address is unconfirmed and turns the e-mail sign-in factor
    /// off, unless `confirmed` says the change was itself proven (a token sent to the address).
    public func setEmail(_ email: String, confirmed: Bool = false) throws {
        try database.pool.write { db in
            try db.execute(sql: "UPDATE account SET email = ?, email_confirmed_at = ?, email_auth_factor = CASE WHEN ? THEN email_auth_factor ELSE 0 END",
                           arguments: [email, confirmed ? Self.timestamp() : nil, confirmed])
        }
        invalidate()
    }

    /// Marks the current address confirmed (`confirmEmail`, or `pds init --email-confirmed`).
    public func confirmEmail() throws {
        try database.pool.write { db in
            try db.execute(sql: "UPDATE account SET email_confirmed_at = COALESCE(email_confirmed_at, ?)", arguments: [Self.timestamp()])
        }
        invalidate()
    }

    /// Turns the e-mail sign-in factor on or off.
    public func setEmailAuthFactor(_ enabled: Bool) throws {
        try database.pool.write { db in
            try db.execute(sql: "UPDATE account SET email_auth_factor = ?", arguments: [enabled ? 1 : 0])
        }
        invalidate()
    }
}
