//! AEAD cipher suites: which AEAD protects records.

use core::fmt;

use aws_lc_rs::aead;

/// The AEAD that protects records.
///
/// One AEAD serves both levels. Privacy encrypts the payload and authenticates the header.
/// Integrity passes header and payload as associated data with an empty plaintext, which for
/// AES-GCM is AES-GMAC: readable, but every byte is authenticated.
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

    pub(crate) fn algorithm(self) -> &'static aead::Algorithm {
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

    #[test]
    fn wire_codes_round_trip() {
        for s in [CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305] {
            assert_eq!(CipherSuite::from_wire(s.to_wire()), Some(s));
        }
        assert_eq!(CipherSuite::from_wire(0), None);
        assert_eq!(CipherSuite::preferred().len(), 2);
    }
}
