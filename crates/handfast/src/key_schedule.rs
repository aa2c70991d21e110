//! HKDF-SHA256 key schedule: mechanism secret + transcript hash -> Finished keys and
//! per-direction, per-level record keys, and the one-way key-update ratchet.
//!
//! ```text
//! PRK            = HKDF-Extract(salt = "handfast v1", IKM = mechanism secret)
//! c_finished_key = Expand-Label(PRK, "c finished",   H_mech, 32)
//! s_finished_key = Expand-Label(PRK, "s finished",   H_mech, 32)
//! c_traffic_0    = Expand-Label(PRK, "c ap traffic", H_cfin, 32)
//! s_traffic_0    = Expand-Label(PRK, "s ap traffic", H_cfin, 32)
//! traffic_{n+1}  = Expand-Label(traffic_n, "key update", "", 32)
//! key / iv       = Expand-Label(traffic_n, "privacy key" | "privacy iv" |
//!                               "integrity key" | "integrity iv" |
//!                               "signature key" | "signature iv", "", 32 | 12)
//! ```
//! `Expand-Label(S, label, ctx, L)` is HKDF-Expand(S, info, L) with
//! `info = u16(L) || u8(len) || "handfast v1 " || label || u8(len(ctx)) || ctx`.

use aws_lc_rs::{digest, hkdf, hmac};
use zeroize::Zeroizing;

use crate::level::ProtectionLevel;
use crate::suite::{CipherSuite, IV_LEN, KEY_LEN, RecordKey};

/// Length of every hash, secret and Finished MAC.
pub(crate) const HASH_LEN: usize = 32;
const LABEL_PREFIX: &[u8] = b"handfast v1 ";
const EXTRACT_SALT: &[u8] = b"handfast v1";

/// A 32-byte secret, zeroized on drop.
pub(crate) type Secret = Zeroizing<[u8; HASH_LEN]>;

/// SHA-256 hash of the handshake messages so far.
#[derive(Clone)]
pub(crate) struct Transcript(digest::Context);

impl Transcript {
    pub(crate) fn new() -> Self {
        Self(digest::Context::new(&digest::SHA256))
    }

    pub(crate) fn add(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub(crate) fn current(&self) -> [u8; HASH_LEN] {
        let mut out = [0u8; HASH_LEN];
        out.copy_from_slice(self.0.clone().finish().as_ref());
        out
    }
}

/// The pseudo-random key extracted from a mechanism's secret.
pub(crate) struct KeySchedule {
    prk: Secret,
}

impl KeySchedule {
    /// HKDF-Extract with the fixed salt.
    pub(crate) fn new(mechanism_secret: &[u8]) -> Self {
        let salt = hmac::Key::new(hmac::HMAC_SHA256, EXTRACT_SALT);
        let tag = hmac::sign(&salt, mechanism_secret);
        let mut prk = Zeroizing::new([0u8; HASH_LEN]);
        prk.copy_from_slice(tag.as_ref());
        Self { prk }
    }

    pub(crate) fn prk(&self) -> &[u8; HASH_LEN] {
        &self.prk
    }

    /// (client, server) Finished keys, bound to the transcript through the last mechanism token.
    pub(crate) fn finished_keys(&self, h_mech: &[u8; HASH_LEN]) -> (Secret, Secret) {
        (
            expand_secret(&self.prk, "c finished", h_mech),
            expand_secret(&self.prk, "s finished", h_mech),
        )
    }

    /// (client-to-server, server-to-client) initial traffic secrets, bound to the transcript
    /// through the client's Finished.
    pub(crate) fn traffic_secrets(&self, h_cfin: &[u8; HASH_LEN]) -> (Secret, Secret) {
        (
            expand_secret(&self.prk, "c ap traffic", h_cfin),
            expand_secret(&self.prk, "s ap traffic", h_cfin),
        )
    }
}

/// HMAC-SHA256(finished_key, transcript hash).
pub(crate) fn finished_mac(key: &[u8; HASH_LEN], hash: &[u8; HASH_LEN]) -> [u8; HASH_LEN] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(hmac::sign(&k, hash).as_ref());
    out
}

/// Constant-time check of a peer's Finished MAC.
pub(crate) fn verify_finished(key: &[u8; HASH_LEN], hash: &[u8; HASH_LEN], mac: &[u8]) -> bool {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    // Fuzzing builds accept any Finished (see `RecordKey::open`); never in a real build.
    hmac::verify(&k, hash, mac).is_ok() || cfg!(fuzzing)
}

/// The next traffic secret of the one-way ratchet. The old one cannot be computed from it.
pub(crate) fn next_secret(secret: &[u8; HASH_LEN]) -> Secret {
    expand_secret(secret, "key update", &[])
}

/// Both levels' record keys of one traffic secret.
pub(crate) struct LevelKeys {
    integrity: RecordKey,
    privacy: RecordKey,
    signature: RecordKey,
}

impl LevelKeys {
    pub(crate) fn derive(suite: CipherSuite, secret: &[u8; HASH_LEN]) -> Self {
        let (ik, iiv) = key_and_iv(secret, "integrity key", "integrity iv");
        let (pk, piv) = key_and_iv(secret, "privacy key", "privacy iv");
        let (sk, siv) = key_and_iv(secret, "signature key", "signature iv");
        Self {
            integrity: RecordKey::new(suite, &ik, iiv),
            privacy: RecordKey::new(suite, &pk, piv),
            signature: RecordKey::new(suite, &sk, siv),
        }
    }

    /// The key for detached signatures: separate from the record keys, so that a signature
    /// and a record can never be taken for each other.
    pub(crate) fn signature(&self) -> &RecordKey {
        &self.signature
    }

    pub(crate) fn get(&self, level: ProtectionLevel) -> &RecordKey {
        match level {
            ProtectionLevel::Integrity => &self.integrity,
            ProtectionLevel::Privacy => &self.privacy,
        }
    }
}

/// The raw key and IV bytes for one level; exposed for known-answer vectors.
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

fn expand_secret(secret: &[u8; HASH_LEN], label: &str, context: &[u8]) -> Secret {
    let mut out = Zeroizing::new([0u8; HASH_LEN]);
    expand_label(secret, label, context, &mut out[..]);
    out
}

/// HKDF-Expand-Label (see the module docs). Labels and contexts are short constants and hashes.
pub(crate) fn expand_label(secret: &[u8], label: &str, context: &[u8], out: &mut [u8]) {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    debug_assert!(out.len() <= 255 * HASH_LEN && LABEL_PREFIX.len() + label.len() <= 255);
    debug_assert!(context.len() <= 255);
    let length = (out.len() as u16).to_be_bytes();
    let label_len = [(LABEL_PREFIX.len() + label.len()) as u8];
    let context_len = [context.len() as u8];
    let info: [&[u8]; 6] = [
        &length,
        &label_len,
        LABEL_PREFIX,
        label.as_bytes(),
        &context_len,
        context,
    ];
    let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, secret);
    // expand/fill only fail when the output exceeds 255 * HashLen, which the lengths above
    // (at most 32 bytes) never do.
    #[allow(clippy::expect_used)]
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .expect("HKDF output within 255 * HashLen");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn extract_is_hmac_with_fixed_salt() {
        // HKDF-Extract(salt, ikm) = HMAC-SHA256(salt, ikm): check against an independent
        // computation through ring's own HKDF implementation.
        let ikm = [0x0bu8; 22];
        let ks = KeySchedule::new(&ikm);
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, EXTRACT_SALT);
        let prk = salt.extract(&ikm);
        let mut via_ring = [0u8; 32];
        struct L;
        impl hkdf::KeyType for L {
            fn len(&self) -> usize {
                32
            }
        }
        prk.expand(&[b"x"], L).unwrap().fill(&mut via_ring).unwrap();
        let mut via_ours = [0u8; 32];
        hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, ks.prk())
            .expand(&[b"x"], L)
            .unwrap()
            .fill(&mut via_ours)
            .unwrap();
        assert_eq!(via_ring, via_ours);
    }

    #[test]
    fn labels_separate_outputs() {
        let ks = KeySchedule::new(b"secret");
        let h = [1u8; 32];
        let (cf, sf) = ks.finished_keys(&h);
        let (ct, st) = ks.traffic_secrets(&h);
        let all = [
            hex(&*cf),
            hex(&*sf),
            hex(&*ct),
            hex(&*st),
            hex(&*next_secret(&ct)),
        ];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j]);
            }
        }
        // The transcript hash matters.
        let (cf2, _) = ks.finished_keys(&[2u8; 32]);
        assert_ne!(*cf, *cf2);
    }

    #[test]
    fn finished_verification_is_exact() {
        let key = [3u8; 32];
        let h = [4u8; 32];
        let mac = finished_mac(&key, &h);
        assert!(verify_finished(&key, &h, &mac));
        let mut bad = mac;
        bad[31] ^= 1;
        assert!(!verify_finished(&key, &h, &bad));
        assert!(!verify_finished(&key, &h, &mac[..31]));
    }
}
