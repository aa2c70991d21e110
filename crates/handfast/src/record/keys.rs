//! The record keys of one traffic secret: one key and IV per level, and one for detached
//! signatures, each expanded from the secret with its own labels.

use std::cell::OnceCell;

use zeroize::Zeroizing;

use super::aead::{IV_LEN, KEY_LEN, RecordKey};
use crate::key_schedule::{HASH_LEN, Secret, expand_label};
use crate::level::ProtectionLevel;
use crate::suite::CipherSuite;

/// The (key, IV) labels, in the order the protocol document lists them.
pub(crate) const LABELS: [(&str, &str); 3] = [
    ("privacy key", "privacy iv"),
    ("integrity key", "integrity iv"),
    ("signature key", "signature iv"),
];

/// The record keys of one direction and epoch. Keys below the session's negotiated level
/// never exist (nothing below it is sent or accepted). The others are expanded from the epoch's
/// secret when first used, or all at once where a receiver must answer forged input at the
/// cost of one AEAD check ([`eager`](Self::eager)).
pub(crate) struct LevelKeys {
    suite: CipherSuite,
    floor: ProtectionLevel,
    /// The key of the session's own level, which nearly every record uses: always expanded.
    own: RecordKey,
    /// The epoch's traffic secret, kept while any of the other keys may still be expanded;
    /// `None` (erased) once all are.
    secret: Option<Secret>,
    /// In an integrity session, the privacy key (a sender may raise a record's level).
    above: OnceCell<RecordKey>,
    signature: OnceCell<RecordKey>,
}

impl LevelKeys {
    /// The keys of `secret` for a session negotiated at `floor`: the key of that level now,
    /// the others on first use.
    pub(crate) fn lazy(
        suite: CipherSuite,
        secret: &[u8; HASH_LEN],
        floor: ProtectionLevel,
    ) -> Self {
        let own = match floor {
            ProtectionLevel::Integrity => LABELS[1],
            ProtectionLevel::Privacy => LABELS[0],
        };
        Self {
            suite,
            floor,
            own: expand(suite, secret, own),
            // A privacy session has nothing else to expand: the secret is not kept.
            secret: (floor == ProtectionLevel::Integrity).then(|| Zeroizing::new(*secret)),
            above: OnceCell::new(),
            signature: OnceCell::new(),
        }
    }

    /// The same, every key expanded now and the secret erased.
    pub(crate) fn eager(
        suite: CipherSuite,
        secret: &[u8; HASH_LEN],
        floor: ProtectionLevel,
    ) -> Self {
        let mut keys = Self::lazy(suite, secret, floor);
        let _ = keys.level(ProtectionLevel::Privacy);
        let _ = keys.signature();
        keys.secret = None;
        keys
    }

    /// The key of records at `level`; `None` below the session's level.
    #[inline]
    pub(crate) fn level(&self, level: ProtectionLevel) -> Option<&RecordKey> {
        if level == self.floor {
            Some(&self.own)
        } else if level > self.floor {
            self.get(&self.above, LABELS[0])
        } else {
            None
        }
    }

    /// The key for detached signatures (integrity sessions only): separate from the record
    /// keys, so that a signature and a record can never be taken for each other.
    pub(crate) fn signature(&self) -> Option<&RecordKey> {
        if self.floor != ProtectionLevel::Integrity {
            return None;
        }
        self.get(&self.signature, LABELS[2])
    }

    /// The key in `cell`, expanded now if it was not yet (and the secret is still here).
    fn get<'a>(
        &'a self,
        cell: &'a OnceCell<RecordKey>,
        labels: (&str, &str),
    ) -> Option<&'a RecordKey> {
        if let Some(key) = cell.get() {
            return Some(key);
        }
        let key = expand(self.suite, self.secret.as_ref()?, labels);
        Some(cell.get_or_init(|| key))
    }
}

/// One key of `secret`, by its labels.
fn expand(
    suite: CipherSuite,
    secret: &[u8; HASH_LEN],
    (key_label, iv_label): (&str, &str),
) -> RecordKey {
    #[cfg(test)]
    tests::DERIVATIONS.with(|d| d.set(d.get() + 1));
    let (key, iv) = key_and_iv(secret, key_label, iv_label);
    RecordKey::new(suite, &key, iv)
}

impl LevelKeys {}

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

    use super::*;

    thread_local! {
        /// How many record keys this thread expanded: lets tests prove that forged input
        /// costs no key expansion.
        pub(crate) static DERIVATIONS: Cell<u64> = const { Cell::new(0) };
    }

    pub(crate) fn derivations() -> u64 {
        DERIVATIONS.with(Cell::get)
    }

    #[test]
    fn keys_below_the_floor_never_exist_and_others_appear_on_use() {
        let before = derivations();
        let keys = LevelKeys::lazy(CipherSuite::Aes256Gcm, &[1; 32], ProtectionLevel::Privacy);
        // A privacy session: its own key, expanded at once, and nothing else, ever.
        assert_eq!(derivations(), before + 1);
        assert!(keys.level(ProtectionLevel::Integrity).is_none());
        assert!(keys.signature().is_none());
        assert!(keys.level(ProtectionLevel::Privacy).is_some());
        assert_eq!(derivations(), before + 1, "expanded once");
        // An integrity session: its own key now, the others on first use.
        let lazy = LevelKeys::lazy(CipherSuite::Aes256Gcm, &[1; 32], ProtectionLevel::Integrity);
        assert_eq!(derivations(), before + 2);
        assert!(lazy.level(ProtectionLevel::Privacy).is_some());
        assert!(lazy.level(ProtectionLevel::Privacy).is_some());
        assert_eq!(derivations(), before + 3);
        let all = LevelKeys::eager(CipherSuite::Aes256Gcm, &[1; 32], ProtectionLevel::Integrity);
        assert_eq!(derivations(), before + 6);
        // Eager and lazy keys are the same keys.
        let tag = all.level(ProtectionLevel::Privacy).unwrap().mac(3, b"x");
        assert_eq!(
            keys.level(ProtectionLevel::Privacy).unwrap().mac(3, b"x"),
            tag
        );
    }
}
