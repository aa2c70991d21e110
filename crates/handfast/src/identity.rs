//! Who the peer is, as a mechanism proved it.

use core::fmt;

use aws_lc_rs::digest;
use base64::Engine as _;

/// A mechanism's registered number on the wire (see `docs/PROTOCOL.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MechanismId(pub u16);

impl MechanismId {
    /// Noise `XX` with X25519 static keys (`handfast-noise`).
    pub const NOISE_XX_25519: Self = Self(0x0001);
}

impl fmt::Display for MechanismId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.0)
    }
}

/// The authenticated identity of the peer.
///
/// `key` is what the mechanism proved possession of (for Noise, the X25519 static public key);
/// `name` is the human name the local trust configuration gives it (a comment in an allow file),
/// or empty when it has none.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PeerIdentity {
    mechanism: MechanismId,
    key: Vec<u8>,
    name: String,
}

impl PeerIdentity {
    /// An identity proven by `mechanism`.
    pub fn new(mechanism: MechanismId, key: impl Into<Vec<u8>>, name: impl Into<String>) -> Self {
        Self {
            mechanism,
            key: key.into(),
            name: name.into(),
        }
    }

    /// The mechanism that authenticated this peer.
    pub fn mechanism(&self) -> MechanismId {
        self.mechanism
    }

    /// The proven key bytes (public; not secret).
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The local name for this peer; empty if the trust configuration gives none.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `SHA256:` followed by the unpadded base64 of the SHA-256 of the key, the form OpenSSH
    /// uses for fingerprints.
    pub fn fingerprint(&self) -> String {
        let d = digest::digest(&digest::SHA256, &self.key);
        format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(d.as_ref())
        )
    }
}

impl fmt::Debug for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerIdentity")
            .field("mechanism", &self.mechanism)
            .field("name", &self.name)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            f.write_str(&self.fingerprint())
        } else {
            write!(f, "{} ({})", self.name, self.fingerprint())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_sha256_of_key() {
        let id = PeerIdentity::new(MechanismId::NOISE_XX_25519, b"abc".to_vec(), "alice");
        // SHA-256("abc") = ba7816bf...; base64 of it, unpadded.
        assert_eq!(
            id.fingerprint(),
            "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0"
        );
        assert_eq!(id.to_string(), format!("alice ({})", id.fingerprint()));
    }
}
