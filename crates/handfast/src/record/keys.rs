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

/// Both levels' record keys and the signature key of one direction and epoch.
pub(crate) struct LevelKeys {
    privacy: RecordKey,
    integrity: RecordKey,
    signature: RecordKey,
}

impl LevelKeys {
    pub(crate) fn derive(suite: CipherSuite, secret: &[u8; HASH_LEN]) -> Self {
        #[cfg(test)]
        tests::DERIVATIONS.with(|d| d.set(d.get() + 1));
        let [p, i, s] = LABELS.map(|(k, iv)| {
            let (key, iv) = key_and_iv(secret, k, iv);
            RecordKey::new(suite, &key, iv)
        });
        Self {
            privacy: p,
            integrity: i,
            signature: s,
        }
    }

    /// The key of records at `level`.
    pub(crate) fn level(&self, level: ProtectionLevel) -> &RecordKey {
        match level {
            ProtectionLevel::Integrity => &self.integrity,
            ProtectionLevel::Privacy => &self.privacy,
        }
    }

    /// The key for detached signatures: separate from the record keys, so that a signature
    /// and a record can never be taken for each other.
    pub(crate) fn signature(&self) -> &RecordKey {
        &self.signature
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
