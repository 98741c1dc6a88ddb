/// Schema for outgoing e-mail and e-mail sign-in codes (docs/ARCHITECTURE.md, "E-mail").
/// Registered as `email-v1` in `PDSDatabase.migrator`.
extension PDSSchema {
    /// `account.email_auth_factor`: 1 when createSession must also get a code sent by e-mail
    /// (`com.atproto.server.updateEmail{emailAuthFactor}`).
    ///
    /// `email_outbox`: messages accepted for delivery and not yet handed to the SMTP server. A
    /// row is written before the request that caused it answers and deleted once the server
    /// accepted the message (RFC 5321 §4.1.1.4: a 250 after DATA), so an acknowledged request's
    /// mail survives a crash. `sealed` is the envelope and the whole RFC 5322 message sealed with
    /// ChaCha20-Poly1305 under a key derived from the server's signing key: messages carry
    /// one-time tokens, which must not sit on disk in plaintext. Times are Unix milliseconds.
    static let emailV1 = """
        ALTER TABLE account ADD COLUMN email_auth_factor INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE email_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            purpose TEXT NOT NULL,
            sealed BLOB NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            last_error TEXT,
            enqueued_at INTEGER NOT NULL
        );
        CREATE INDEX email_outbox_due ON email_outbox(next_attempt_at);
        """
}
