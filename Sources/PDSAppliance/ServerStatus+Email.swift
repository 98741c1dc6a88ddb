import Foundation
import PDSNetwork
import PDSStore

extension ServerStatus {
    /// Mail waiting longer than this needs the owner's attention (tokens live 15 minutes).
    static let emailLagMilliseconds: Int64 = 15 * 60_000

    /// The e-mail line: off, or the SMTP server and the outgoing queue (length, age, last error).
    mutating func addEmail(_ settings: SMTPSettings?, outbox: EmailOutbox.Summary, account: Account?, now: Date) {
        guard let settings else {
            add("email", "off (no PDS_EMAIL_SMTP_URL): `pds account token <purpose>` prints each token")
            return
        }
        let address = account?.email.map { $0 + (account?.emailConfirmedAt == nil ? " (unconfirmed)" : " (confirmed)") }
        let lag = outbox.oldestEnqueuedAt.map { EmailOutbox.milliseconds(now) - $0 } ?? 0
        var text = "\(settings)" + (address.map { ", to \($0)" } ?? ", the account has no address")
        text += outbox.pending == 0 ? ", nothing queued" : ", \(outbox.pending) queued, oldest \(lag / 60_000) min"
        if outbox.pending > 0, let error = outbox.lastError { text += " (last error: \(error))" }
        add("email", text, attention: outbox.pending > 0 && lag > Self.emailLagMilliseconds
            ? "mail is not going out: check PDS_EMAIL_* and the server log (tokens expire after 15 minutes)" : nil)
    }
}
