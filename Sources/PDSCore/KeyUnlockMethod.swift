/// How `pds serve` opens the age-encrypted key files. Declared here, beside `PDSConfig`, because
/// the configuration names the method (`PDS_KEY_UNLOCK`); reading the secret and opening the
/// files is PDSAppliance's `KeyUnlock` extension.
public enum KeyUnlock {
    /// How the key files were sealed (`PDS_KEY_UNLOCK`).
    public enum Method: String, Sendable {
        /// To an X25519 age recipient; unlocked with the matching identity file.
        case identity
        /// To an scrypt passphrase.
        case passphrase
    }
}
