//! HKDF-SHA256 key schedule: from the handshake secret and the mechanism's final secret, and
//! the transcript, to the Finished keys and the per-direction traffic secrets; and the one-way
//! key-update ratchet.
//!
//! ```text
//! prk_hs         = HKDF-Extract(salt = "handfast v2 handshake", IKM = ecdhe || handshake_secret)
//! s_finished_key = Expand-Label(prk_hs, "s finished", h_sfin, 32)
//! prk_ms         = HKDF-Extract(salt = prk_hs, IKM = final_secret)
//! c_finished_key = Expand-Label(prk_ms, "c finished", h_cfin, 32)
//! c_traffic_0    = Expand-Label(prk_ms, "c ap traffic", h_done, 32)
//! s_traffic_0    = Expand-Label(prk_ms, "s ap traffic", h_done, 32)
//! traffic_{n+1}  = Expand-Label(traffic_n, "key update", "", 32)
//! ```
//! `Expand-Label(S, label, ctx, L)` is HKDF-Expand(S, info, L) with
//! `info = u16(L) || u8(len) || "handfast v2 " || label || u8(len(ctx)) || ctx`.
//! The record keys of a traffic secret are in `record::keys`.

use aws_lc_rs::{digest, hkdf, hmac};
use zeroize::Zeroizing;

/// Length of every hash, secret and Finished MAC.
pub(crate) const HASH_LEN: usize = 32;
const LABEL_PREFIX: &[u8] = b"handfast v2 ";
const HANDSHAKE_SALT: &[u8] = b"handfast v2 handshake";

/// A 32-byte secret, zeroized on drop.
pub(crate) type Secret = Zeroizing<[u8; HASH_LEN]>;

/// SHA-256 hash of the handshake records so far.
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

/// The handshake stage: keyed by what both sides know once the server has sent its last
/// mechanism token.
pub(crate) struct HandshakeKeys {
    prk: Secret,
}

impl HandshakeKeys {
    /// `HKDF-Extract(salt = "handfast v2 handshake", IKM = ikm)`.
    pub(crate) fn new(ikm: &[u8]) -> Self {
        Self {
            prk: extract(HANDSHAKE_SALT, ikm),
        }
    }

    pub(crate) fn prk(&self) -> &[u8; HASH_LEN] {
        &self.prk
    }

    /// The server's Finished key, bound to the transcript through the server's last token.
    pub(crate) fn server_finished_key(&self, h_sfin: &[u8; HASH_LEN]) -> Secret {
        expand_secret(&self.prk, "s finished", h_sfin)
    }

    /// The master stage: the mechanism's final secret (possibly empty) mixed in.
    pub(crate) fn master(&self, final_secret: &[u8]) -> MasterKeys {
        MasterKeys {
            prk: extract(&self.prk[..], final_secret),
        }
    }
}

/// The master stage: keyed by everything the mechanism established.
pub(crate) struct MasterKeys {
    prk: Secret,
}

impl MasterKeys {
    pub(crate) fn prk(&self) -> &[u8; HASH_LEN] {
        &self.prk
    }

    /// The client's Finished key, bound to the transcript before the client's Finished.
    pub(crate) fn client_finished_key(&self, h_cfin: &[u8; HASH_LEN]) -> Secret {
        expand_secret(&self.prk, "c finished", h_cfin)
    }

    /// (client-to-server, server-to-client) epoch-0 traffic secrets, bound to the whole
    /// transcript.
    pub(crate) fn traffic_secrets(&self, h_done: &[u8; HASH_LEN]) -> (Secret, Secret) {
        (
            expand_secret(&self.prk, "c ap traffic", h_done),
            expand_secret(&self.prk, "s ap traffic", h_done),
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
    crate::fuzzing::authentic(hmac::verify(&k, hash, mac).is_ok())
}

/// The next traffic secret of the one-way ratchet. The old one cannot be computed from it.
pub(crate) fn next_secret(secret: &[u8; HASH_LEN]) -> Secret {
    expand_secret(secret, "key update", &[])
}

/// HKDF-Extract: HMAC-SHA256 keyed by the salt.
fn extract(salt: &[u8], ikm: &[u8]) -> Secret {
    let key = hmac::Key::new(hmac::HMAC_SHA256, salt);
    let mut prk = Zeroizing::new([0u8; HASH_LEN]);
    prk.copy_from_slice(hmac::sign(&key, ikm).as_ref());
    prk
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

    #[test]
    fn extract_matches_aws_lc_hkdf() {
        // HKDF-Extract(salt, ikm) = HMAC-SHA256(salt, ikm): check against aws-lc's own HKDF.
        struct L;
        impl hkdf::KeyType for L {
            fn len(&self) -> usize {
                32
            }
        }
        let ikm = [0x0bu8; 22];
        let hs = HandshakeKeys::new(&ikm);
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HANDSHAKE_SALT).extract(&ikm);
        let mut via_lib = [0u8; 32];
        prk.expand(&[b"x"], L).unwrap().fill(&mut via_lib).unwrap();
        let mut via_ours = [0u8; 32];
        hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, hs.prk())
            .expand(&[b"x"], L)
            .unwrap()
            .fill(&mut via_ours)
            .unwrap();
        assert_eq!(via_lib, via_ours);
    }

    #[test]
    fn labels_and_transcripts_separate_outputs() {
        let hs = HandshakeKeys::new(&[9u8; 32]);
        let ms = hs.master(b"final");
        let h = [1u8; 32];
        let sf = hs.server_finished_key(&h);
        let cf = ms.client_finished_key(&h);
        let (ct, st) = ms.traffic_secrets(&h);
        let all = [*sf, *cf, *ct, *st, *next_secret(&ct)];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j]);
            }
        }
        assert_ne!(*hs.server_finished_key(&[2u8; 32]), *sf);
        // The final secret matters, even when the handshake stage is the same.
        assert_ne!(*hs.master(b"other").client_finished_key(&h), *cf);
        assert_ne!(*hs.master(b"").client_finished_key(&h), *cf);
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
