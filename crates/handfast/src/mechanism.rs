//! The authentication mechanism interface: the equivalent of an SSPI security package or a
//! GSS-API mechanism.
//!
//! A mechanism session exchanges opaque tokens with its peer until it is done, then yields the
//! authenticated peer identity and a secret that both sides share. The handshake driver carries
//! the tokens, binds them into its transcript and derives all record keys from the secret and the
//! transcript hash, so a mechanism never touches application data.
//!
//! The shape fits the mechanisms planned beyond Noise:
//! - TLS 1.3 through rustls in memory: tokens are the bytes of `write_tls`/`read_tls`, the
//!   identity is the verified certificate, the secret comes from `export_keying_material`.
//! - Kerberos through GSS-API: tokens are `gss_init_sec_context`/`gss_accept_sec_context`
//!   output, the identity is the principal, the secret is a key exported from the context (or a
//!   MIC over the handshake transcript delivered as the last token).

use core::fmt;

use aws_lc_rs::hkdf;
use zeroize::{Zeroize, Zeroizing};

use crate::identity::{MechanismId, PeerIdentity};

/// A kind of authentication, configured with this side's credentials and trust.
pub trait Mechanism: Send + Sync + fmt::Debug {
    /// The number this mechanism is negotiated by.
    fn id(&self) -> MechanismId;

    /// A short name for logs ("noise-xx-25519").
    fn name(&self) -> &'static str;

    /// What the mechanism offers (like `QuerySecurityPackageInfo`).
    fn capabilities(&self) -> Capabilities;

    /// Starts one authentication exchange.
    ///
    /// `entropy` is fresh randomness from the caller; the mechanism takes all of its randomness
    /// from it.
    ///
    /// # Errors
    /// When the mechanism is not configured for `role` (for example, no pinned server key on a
    /// client).
    fn start(
        &self,
        role: Role,
        entropy: Entropy,
    ) -> Result<Box<dyn MechanismSession>, MechanismError>;
}

/// One side of one authentication exchange.
pub trait MechanismSession: Send {
    /// Consumes the peer's token (`None` for the initiator's first step) and returns this side's
    /// next move.
    ///
    /// # Errors
    /// A malformed or forged token, or a peer that the mechanism's trust set does not accept.
    /// The driver aborts the handshake on any error.
    fn step(&mut self, input: Option<&[u8]>) -> Result<Step, MechanismError>;

    /// After a [`Step`] with `done: true`: the authenticated peer and the shared secret.
    ///
    /// # Errors
    /// When called before the exchange is done.
    fn finish(self: Box<Self>) -> Result<Authenticated, MechanismError>;
}

/// The outcome of one [`MechanismSession::step`].
#[derive(Debug, Default)]
pub struct Step {
    /// A token to send to the peer, if any.
    pub token: Option<Vec<u8>>,
    /// Whether this side's part of the exchange is complete.
    pub done: bool,
}

/// What a completed exchange proves.
pub struct Authenticated {
    /// The peer, as authenticated and accepted by the mechanism's trust set.
    pub peer: PeerIdentity,
    /// A secret both sides share and nobody else knows; at least 32 bytes.
    pub secret: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticated")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// Which end of the exchange this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The client: sends the first token.
    Initiator,
    /// The server.
    Responder,
}

/// What a mechanism supports, like SSPI's `SecPkgInfo.fCapabilities`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Supports the Integrity level.
    pub integrity: bool,
    /// Supports the Privacy level.
    pub privacy: bool,
    /// Authenticates both sides.
    pub mutual: bool,
    /// Hides both identities from a passive observer.
    pub identity_hiding: bool,
    /// Usable in stream mode.
    pub stream: bool,
    /// Usable in datagram mode.
    pub datagram: bool,
}

impl Capabilities {
    /// A mechanism that yields a secret supports everything the record layer offers.
    pub const SECRET_BASED: Self = Self {
        integrity: true,
        privacy: true,
        mutual: true,
        identity_hiding: false,
        stream: true,
        datagram: true,
    };

    /// The same, with identity hiding set as given.
    pub const fn with_identity_hiding(mut self, hiding: bool) -> Self {
        self.identity_hiding = hiding;
        self
    }
}

/// A mechanism failure, with the reason kept local.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MechanismError {
    /// The peer authenticated with an identity that is not trusted.
    NotTrusted(String),
    /// A token failed to parse or to authenticate.
    BadToken(String),
    /// The mechanism is misconfigured or used out of order.
    Config(String),
}

impl fmt::Display for MechanismError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotTrusted(s) => write!(f, "peer not trusted: {s}"),
            Self::BadToken(s) => write!(f, "bad token: {s}"),
            Self::Config(s) => write!(f, "configuration: {s}"),
        }
    }
}

impl std::error::Error for MechanismError {}

/// Randomness handed in by the caller, stretched with HKDF-SHA256 into as many bytes as a
/// handshake needs. The core never reads a global random source.
pub struct Entropy {
    prk: Zeroizing<[u8; 32]>,
    counter: u64,
}

impl Entropy {
    /// Wraps 32 bytes of fresh randomness (from the operating system, or fixed in tests).
    pub fn new(mut seed: [u8; 32]) -> Self {
        let e = Self {
            prk: Zeroizing::new(seed),
            counter: 0,
        };
        seed.zeroize();
        e
    }

    /// Fills `dest` with bytes no other call returns.
    pub fn fill(&mut self, dest: &mut [u8]) {
        struct Len(usize);
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                self.0
            }
        }
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &self.prk[..]);
        for chunk in dest.chunks_mut(255 * 32) {
            self.counter += 1;
            let ctr = self.counter.to_be_bytes();
            // expand/fill fail only above 255 * 32 bytes; chunks are at most that.
            #[allow(clippy::expect_used)]
            prk.expand(&[b"handfast entropy", &ctr], Len(chunk.len()))
                .and_then(|okm| okm.fill(chunk))
                .expect("chunk within HKDF output limit");
        }
    }

    /// A new independent source derived from this one.
    pub fn fork(&mut self) -> Self {
        let mut seed = [0u8; 32];
        self.fill(&mut seed);
        Self::new(seed)
    }
}

impl fmt::Debug for Entropy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Entropy(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_never_repeats_and_depends_on_seed() {
        let mut a = Entropy::new([1; 32]);
        let mut x = [0u8; 32];
        let mut y = [0u8; 32];
        a.fill(&mut x);
        a.fill(&mut y);
        assert_ne!(x, y);
        let mut b = Entropy::new([2; 32]);
        let mut z = [0u8; 32];
        b.fill(&mut z);
        assert_ne!(x, z);
        // Deterministic for a given seed.
        let mut c = Entropy::new([1; 32]);
        let mut w = [0u8; 32];
        c.fill(&mut w);
        assert_eq!(x, w);
        // Large fills work.
        let mut big = vec![0u8; 20_000];
        c.fill(&mut big);
        assert!(big.iter().any(|&b| b != 0));
    }
}
