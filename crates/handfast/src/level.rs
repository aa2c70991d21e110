//! Protection levels and the negotiation rule.

use core::fmt;

/// How every application message of a session is protected.
///
/// Levels are ordered: `Integrity < Privacy`. A session runs at the *negotiated* level, and a
/// sender may protect any single message at that level or above it, never below.
///
/// | level | wire | SSPI | GSS-API |
/// | --- | --- | --- | --- |
/// | [`Integrity`](Self::Integrity) | plaintext + tag | `MakeSignature`, `EncryptMessage(SECQOP_WRAP_NO_ENCRYPT)`, `RPC_C_AUTHN_LEVEL_PKT_INTEGRITY` | `gss_get_mic`, `gss_wrap(conf_req_flag = false)` |
/// | [`Privacy`](Self::Privacy) | ciphertext + tag | `EncryptMessage`, `RPC_C_AUTHN_LEVEL_PKT_PRIVACY` | `gss_wrap(conf_req_flag = true)` |
///
/// There is deliberately no level that authenticates the peers and then leaves the traffic
/// unprotected (RPC's `CONNECT` level).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ProtectionLevel {
    /// Every message is authenticated (AES-GMAC or Poly1305 over the plaintext) but travels
    /// readable. Nothing can be altered, replayed, reordered, reflected or cut off undetected.
    /// An explicit opt-in for speed.
    Integrity,
    /// Every message is encrypted and authenticated (AES-256-GCM or ChaCha20-Poly1305).
    /// The default.
    #[default]
    Privacy,
}

impl ProtectionLevel {
    /// All levels, lowest first.
    pub const ALL: [Self; 2] = [Self::Integrity, Self::Privacy];

    /// The level a session runs at: the higher of what the client asks for and the minimum the
    /// server requires.
    pub fn negotiate(client_requested: Self, server_required: Self) -> Self {
        client_requested.max(server_required)
    }

    /// The lower-case name used in configuration files and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Integrity => "integrity",
            Self::Privacy => "privacy",
        }
    }

    /// The wire code (see `docs/PROTOCOL.md`).
    pub(crate) fn to_wire(self) -> u8 {
        match self {
            Self::Integrity => 1,
            Self::Privacy => 2,
        }
    }

    /// Parses a wire code; `None` for anything that is not a level.
    pub(crate) fn from_wire(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Integrity),
            2 => Some(Self::Privacy),
            _ => None,
        }
    }
}

impl fmt::Display for ProtectionLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::str::FromStr for ProtectionLevel {
    type Err = ParseLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "integrity" => Ok(Self::Integrity),
            "privacy" => Ok(Self::Privacy),
            _ => Err(ParseLevelError(s.to_owned())),
        }
    }
}

/// A string that names no protection level.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid protection level {0:?}: expected \"integrity\" or \"privacy\"")]
pub struct ParseLevelError(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privacy_is_default_and_highest() {
        assert_eq!(ProtectionLevel::default(), ProtectionLevel::Privacy);
        assert!(ProtectionLevel::Integrity < ProtectionLevel::Privacy);
    }

    #[test]
    fn negotiation_takes_the_higher_level() {
        use ProtectionLevel::*;
        assert_eq!(ProtectionLevel::negotiate(Integrity, Integrity), Integrity);
        assert_eq!(ProtectionLevel::negotiate(Integrity, Privacy), Privacy);
        assert_eq!(ProtectionLevel::negotiate(Privacy, Integrity), Privacy);
        assert_eq!(ProtectionLevel::negotiate(Privacy, Privacy), Privacy);
    }

    #[test]
    fn parses_names_and_rejects_others() {
        assert_eq!("Integrity".parse(), Ok(ProtectionLevel::Integrity));
        assert_eq!(" privacy ".parse(), Ok(ProtectionLevel::Privacy));
        let err = "connect".parse::<ProtectionLevel>().unwrap_err();
        assert!(err.to_string().contains("\"connect\""));
    }

    #[test]
    fn wire_codes_round_trip_and_reject_unknown() {
        for level in ProtectionLevel::ALL {
            assert_eq!(ProtectionLevel::from_wire(level.to_wire()), Some(level));
        }
        for code in [0u8, 3, 0x81, 0xff] {
            assert_eq!(ProtectionLevel::from_wire(code), None);
        }
    }
}
