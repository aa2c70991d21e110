//! The record keys of one traffic secret: one key and IV per level, and one for detached
//! signatures, all expanded from the secret with their own labels.

use zeroize::Zeroizing;

use super::aead::{IV_LEN, KEY_LEN, RecordKey};
use crate::key_schedule::{HASH_LEN, expand_label};
use crate::level::ProtectionLevel;
use crate::suite::CipherSuite;

/// The (key, IV) labels, in the order the protocol document lists them.
pub(crate) const LABELS: [(&str, &str); 3] = [
    ("privacy key", "privacy iv"),
    ("integrity key", "integrity iv"),
    ("signature key", "signature iv"),
];

/// The record keys of one direction and epoch: privacy always; integrity and the signature key
/// only in sessions negotiated at integrity, since nothing below the negotiated level is ever
/// sent or accepted (a privacy session derives a third of the keys).
pub(crate) struct LevelKeys {
    privacy: RecordKey,
    integrity: Option<RecordKey>,
    signature: Option<RecordKey>,
}

impl LevelKeys {
    /// The keys of `secret` for a session negotiated at `floor`.
    pub(crate) fn derive(
        suite: CipherSuite,
        secret: &[u8; HASH_LEN],
        floor: ProtectionLevel,
    ) -> Self {
        #[cfg(test)]
        tests::DERIVATIONS.with(|d| d.set(d.get() + 1));
        let key = |(k, iv): (&str, &str)| {
            let (key, iv) = key_and_iv(secret, k, iv);
            RecordKey::new(suite, &key, iv)
        };
        let [privacy, integrity, signature] = LABELS;
        let below = floor == ProtectionLevel::Integrity;
        Self {
            privacy: key(privacy),
            integrity: below.then(|| key(integrity)),
            signature: below.then(|| key(signature)),
        }
    }

    /// The key of records at `level`; `None` below the session's level.
    pub(crate) fn level(&self, level: ProtectionLevel) -> Option<&RecordKey> {
        match level {
            ProtectionLevel::Integrity => self.integrity.as_ref(),
            ProtectionLevel::Privacy => Some(&self.privacy),
        }
    }

    /// The key for detached signatures (integrity sessions only): separate from the record
    /// keys, so that a signature and a record can never be taken for each other.
    pub(crate) fn signature(&self) -> Option<&RecordKey> {
        self.signature.as_ref()
    }
}

/// The raw key and IV bytes for one pair of labels; exposed for known-answer vectors.
pub(crate) fn key_and_iv(
    secret: &[u8; HASH_LEN],
    key_label: &str,
    iv_label: &str,
) -> (Zeroizing<[u8; KEY_LEN]>, [u8; IV_LEN]) {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    expand_label(secret, key_label, &[], &mut key[..]);
    let mut iv = [0u8; IV_LEN];
    expand_label(secret, iv_label, &[], &mut iv);
    (key, iv)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;

    thread_local! {
        /// How many key sets this thread derived: lets tests prove that forged input
        /// costs no derivation.
        pub(crate) static DERIVATIONS: Cell<u64> = const { Cell::new(0) };
    }

    pub(crate) fn derivations() -> u64 {
        DERIVATIONS.with(Cell::get)
    }
}
