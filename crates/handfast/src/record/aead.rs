//! The per-record AEAD primitive: one key and IV of one level, direction and epoch.
//!
//! The AEADs come from aws-lc-rs. Measured on the development machine (seal + open, one
//! thread, `cargo run --release -p handfast --example seal_open`): its AES-256-GMAC is 15x
//! ring's at 64 KiB (ring authenticates associated data block by block), its AES-256-GCM is
//! on par with ring's, and it zeroizes key schedules when they are dropped.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use zeroize::Zeroizing;

use crate::suite::CipherSuite;

/// Length of every suite's authentication tag.
pub(crate) const TAG_LEN: usize = 16;
/// Length of every suite's key.
pub(crate) const KEY_LEN: usize = 32;
/// Length of every suite's nonce and IV.
pub(crate) const IV_LEN: usize = 12;

/// One key and IV.
pub(crate) struct RecordKey {
    key: LessSafeKey,
    iv: Zeroizing<[u8; IV_LEN]>,
}

/// The record failed to authenticate. Carries no detail on purpose.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unauthentic;

impl RecordKey {
    pub(crate) fn new(suite: CipherSuite, key: &[u8; KEY_LEN], iv: [u8; IV_LEN]) -> Self {
        // Both algorithms take exactly KEY_LEN-byte keys, so construction cannot fail.
        #[allow(clippy::expect_used)]
        let unbound = UnboundKey::new(suite.algorithm(), key).expect("32-byte AEAD key");
        Self {
            key: LessSafeKey::new(unbound),
            iv: Zeroizing::new(iv),
        }
    }

    /// Encrypts `payload` in place, authenticating `aad` too; returns the tag.
    #[inline]
    pub(crate) fn seal(&self, seq: u64, aad: &[u8], payload: &mut [u8]) -> [u8; TAG_LEN] {
        // Sealing fails only for inputs beyond the AEAD's length limits (about 64 GiB of
        // plaintext, far more of associated data): payloads are at most 16 MiB (a record) and
        // associated data at most 4 GiB (a detached signature's message, checked in
        // `SecurityContext::sign`).
        #[allow(clippy::expect_used)]
        let tag = self
            .key
            .seal_in_place_separate_tag(self.nonce(seq), Aad::from(aad), payload)
            .expect("record within AEAD length limit");
        tag_bytes(tag)
    }

    /// Decrypts `payload` in place if it and `aad` match `tag`. On failure `payload` is
    /// overwritten with zeros: no unverified plaintext is ever left behind.
    #[inline]
    pub(crate) fn open(
        &self,
        seq: u64,
        aad: &[u8],
        payload: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Unauthentic> {
        let verified = self
            .key
            .open_in_place_separate_tag(self.nonce(seq), Aad::from(aad), tag, payload)
            .is_ok();
        if crate::fuzzing::authentic(verified) {
            Ok(())
        } else {
            payload.fill(0);
            Err(Unauthentic)
        }
    }

    /// Authenticates `aad` alone (GMAC / Poly1305 over associated data).
    pub(crate) fn mac(&self, seq: u64, aad: &[u8]) -> [u8; TAG_LEN] {
        self.seal(seq, aad, &mut [])
    }

    /// Checks a tag made by [`mac`](Self::mac). The comparison inside the AEAD is constant-time.
    pub(crate) fn verify(
        &self,
        seq: u64,
        aad: &[u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Unauthentic> {
        self.open(seq, aad, &mut [], tag)
    }

    /// `iv XOR (0^32 || u64(seq))`.
    #[inline]
    fn nonce(&self, seq: u64) -> Nonce {
        let mut n = *self.iv;
        for (b, s) in n[IV_LEN - 8..].iter_mut().zip(seq.to_be_bytes()) {
            *b ^= s;
        }
        Nonce::assume_unique_for_key(n)
    }
}

fn tag_bytes(tag: Tag) -> [u8; TAG_LEN] {
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(suite: CipherSuite) -> RecordKey {
        RecordKey::new(suite, &[7u8; KEY_LEN], [9u8; IV_LEN])
    }

    #[test]
    fn seal_open_round_trip_and_reject_wrong_seq_or_aad() {
        for suite in [CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305] {
            let k = key(suite);
            let mut buf = *b"hello world";
            let tag = k.seal(5, b"hdr", &mut buf);
            assert_ne!(&buf, b"hello world");
            let sealed = buf;
            assert!(k.open(6, b"hdr", &mut buf, &tag).is_err());
            // A failed open leaves zeros, never unverified plaintext.
            assert_eq!(buf, [0u8; 11]);
            let mut buf = sealed;
            assert!(k.open(5, b"hdR", &mut buf, &tag).is_err());
            let mut buf = sealed;
            k.open(5, b"hdr", &mut buf, &tag).unwrap();
            assert_eq!(&buf, b"hello world");
        }
    }

    #[test]
    fn mac_covers_every_aad_byte() {
        let k = key(CipherSuite::Aes256Gcm);
        let msg = b"integrity protected".to_vec();
        let tag = k.mac(1, &msg);
        k.verify(1, &msg, &tag).unwrap();
        for i in 0..msg.len() * 8 {
            let mut m = msg.clone();
            m[i / 8] ^= 1 << (i % 8);
            assert!(k.verify(1, &m, &tag).is_err());
        }
    }
}
