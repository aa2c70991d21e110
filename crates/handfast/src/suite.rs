//! AEAD cipher suites and the per-record protect/verify primitive.
//!
//! One AEAD serves both levels. Privacy encrypts the payload and authenticates the header.
//! Integrity passes header and payload as associated data with an empty plaintext, which for
//! AES-GCM is AES-GMAC: readable, but every byte is authenticated.
//!
//! The AEADs come from aws-lc-rs. Measured on the development machine (seal + open, one
//! thread, `cargo run --release -p handfast --example seal_open`): its AES-256-GMAC is 15x
//! ring's at 64 KiB (ring authenticates associated data block by block), its AES-256-GCM is
//! on par with ring's, and it zeroizes key schedules when they are dropped.

use core::fmt;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use zeroize::Zeroizing;

/// Length of every suite's authentication tag.
pub(crate) const TAG_LEN: usize = 16;
/// Length of every suite's key.
pub(crate) const KEY_LEN: usize = 32;
/// Length of every suite's nonce and IV.
pub(crate) const IV_LEN: usize = 12;

/// The AEAD that protects records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CipherSuite {
    /// AES-256-GCM; Integrity uses AES-256-GMAC. Fastest where the CPU has AES instructions.
    Aes256Gcm,
    /// ChaCha20-Poly1305; Integrity uses Poly1305 over the plaintext as associated data.
    /// Fastest where the CPU has no AES instructions.
    ChaCha20Poly1305,
}

impl CipherSuite {
    /// The suites in this machine's order of preference: AES-256-GCM first where the CPU has
    /// AES instructions, ChaCha20-Poly1305 first elsewhere.
    pub fn preferred() -> Vec<Self> {
        if cpu_has_aes() {
            vec![Self::Aes256Gcm, Self::ChaCha20Poly1305]
        } else {
            vec![Self::ChaCha20Poly1305, Self::Aes256Gcm]
        }
    }

    /// The suite's name as written in logs and configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::Aes256Gcm => "AES-256-GCM",
            Self::ChaCha20Poly1305 => "CHACHA20-POLY1305",
        }
    }

    pub(crate) fn to_wire(self) -> u16 {
        match self {
            Self::Aes256Gcm => 0x0001,
            Self::ChaCha20Poly1305 => 0x0002,
        }
    }

    pub(crate) fn from_wire(code: u16) -> Option<Self> {
        match code {
            0x0001 => Some(Self::Aes256Gcm),
            0x0002 => Some(Self::ChaCha20Poly1305),
            _ => None,
        }
    }

    fn algorithm(self) -> &'static aead::Algorithm {
        match self {
            Self::Aes256Gcm => &aead::AES_256_GCM,
            Self::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
        }
    }
}

impl fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One key and IV of one level, direction and epoch.
pub(crate) struct RecordKey {
    key: LessSafeKey,
    iv: Zeroizing<[u8; IV_LEN]>,
}

/// The record failed to authenticate. Carries no detail on purpose.
#[derive(Debug)]
pub(crate) struct Unauthentic;

impl RecordKey {
    /// `key` must be [`KEY_LEN`] bytes.
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

    /// Decrypts `payload` in place if it and `aad` match `tag`; on failure `payload` is left
    /// unspecified and must be discarded by the caller.
    pub(crate) fn open(
        &self,
        seq: u64,
        aad: &[u8],
        payload: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Unauthentic> {
        let result = self
            .key
            .open_in_place_separate_tag(self.nonce(seq), Aad::from(aad), tag, payload)
            .map(|_| ())
            .map_err(|_| Unauthentic);
        // Fuzzing builds only (cargo-fuzz sets `cfg(fuzzing)`): accept every tag so that the
        // fuzzer reaches the logic behind the MAC, as rustls' fuzzers do with a no-security
        // provider. Never set in a real build.
        if cfg!(fuzzing) {
            return Ok(());
        }
        result
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

#[cfg(target_arch = "x86_64")]
fn cpu_has_aes() -> bool {
    std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
}

#[cfg(target_arch = "aarch64")]
fn cpu_has_aes() -> bool {
    std::arch::is_aarch64_feature_detected!("aes")
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn cpu_has_aes() -> bool {
    false
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

    #[test]
    fn wire_codes_round_trip() {
        for s in [CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305] {
            assert_eq!(CipherSuite::from_wire(s.to_wire()), Some(s));
        }
        assert_eq!(CipherSuite::from_wire(0), None);
        assert_eq!(CipherSuite::preferred().len(), 2);
    }
}
