/// Something an age file can be encrypted to: it wraps the file key into one or more stanzas.
///
/// Native recipients: ``AgeX25519Recipient`` (`age1…`) and ``AgeScryptRecipient`` (passphrase).
public protocol AgeRecipient: Sendable {
    /// Wraps `fileKey` for this recipient. Each call must use fresh randomness.
    func wrap(_ fileKey: AgeFileKey) throws(AgeError) -> [AgeStanza]
}

/// Something that can decrypt age files: it recognises stanzas addressed to it and unwraps the
/// file key.
///
/// Native identities: ``AgeX25519Identity`` (`AGE-SECRET-KEY-1…`) and ``AgeScryptIdentity``.
public protocol AgeIdentity: Sendable {
    /// Returns the file key from the first stanza this identity can unwrap, or nil when no stanza
    /// is addressed to it (stanzas of other types MUST be ignored). Throws
    /// ``AgeError/headerFailure(_:)`` for a malformed stanza of its own type.
    func unwrap(_ stanzas: [AgeStanza]) throws(AgeError) -> AgeFileKey?
}
