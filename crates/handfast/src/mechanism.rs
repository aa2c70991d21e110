//! The interface for mechanism authors: the equivalent of an SSPI security package or a
//! GSS-API mechanism.
//!
//! A mechanism session exchanges opaque tokens with its peer until both sides have
//! authenticated each other. The handshake driver carries the tokens inside its own
//! transcript, authorizes the peer the mechanism proved, and derives every record key from
//! the mechanism's secrets *and* the transcript hash, so a mechanism never touches
//! application data and never decides a level.
//!
//! # The contract
//!
//! - The initiator (client) speaks first: its first [`step`](MechanismSession::step), with no
//!   input, returns a token. That token travels with the ClientHello.
//! - Each later step consumes one peer token and may return one token.
//! - A step reports [`Progress`]:
//!   - [`Progress::Continue`]: this side will send more tokens;
//!   - [`Progress::Last`]: the returned token (if any) is this side's last, and exactly one
//!     more token from the peer completes the exchange;
//!   - [`Progress::Done`]: this side needs nothing more from the peer.
//! - The server's last token travels with the server's Finished, which is keyed by the
//!   [`handshake_secret`](MechanismSession::handshake_secret). So by the time the server
//!   reports `Last` or `Done`, and by the time the client has consumed the server's last token
//!   (its step reports `Done`), both must hold the same handshake secret, and the client's
//!   mechanism must have authenticated the server.
//! - As soon as a side's mechanism knows the peer, [`peer`](MechanismSession::peer) returns it:
//!   the driver authorizes it *before* sending the token of that step, so a peer that is
//!   refused learns nothing more (a client refused by the server's policy never reveals its
//!   identity, for instance).
//! - [`finish`](MechanismSession::finish) is called after `Done` and returns the peer and the
//!   final secret, which is mixed into the key schedule.
//!
//! # Four shapes this fits
//!
//! - **Own secret** (Noise XX): tokens are Noise messages; the handshake secret is the Noise
//!   split after the server's message, the final secret the split after the client's.
//! - **Exported secret** (a TLS stack that can export at the server's flight): the handshake
//!   secret is an exporter value with [`Binding::before_output`] as its context. (rustls
//!   exports on the server only after the client's Finished, so `handfast-x509` instead
//!   asks for [`Capabilities::key_exchange`], signs [`Binding::before_output`] with the
//!   server's certificate key, and makes the exporter its final secret.)
//! - **Authentication only** (Kerberos): [`Capabilities::key_exchange`] asks the driver for its
//!   own ephemeral X25519 exchange in the hellos, which gives the secret and forward secrecy;
//!   the mechanism authenticates the transcript through [`Binding`] (as a channel binding, or
//!   a MIC over the hash, as SSH's GSS key exchange does) and may return no secret at all.
//! - **Server's token last** (Kerberos AP-REP, multi-leg GSS/SPNEGO): the server reports `Done`
//!   with its final token; the client answers with its Finished only.

use core::fmt;

use aws_lc_rs::hkdf;
use zeroize::{Zeroize, Zeroizing};

pub use crate::identity::{MechanismId, PeerIdentity};
use crate::level::ProtectionLevel;
use crate::record::Mode;

/// A kind of authentication, configured with this side's credentials and trust.
pub trait Mechanism: Send + Sync + fmt::Debug {
    /// The number this mechanism is negotiated by.
    fn id(&self) -> MechanismId;

    /// A short name for logs ("noise-xx-25519").
    fn name(&self) -> &'static str;

    /// What the mechanism offers (like `QuerySecurityPackageInfo`). The driver reads it: a
    /// server picks only a mechanism that supports the mode and the negotiated level, and a
    /// client offers only mutual mechanisms.
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
    /// Consumes the peer's token (`None` only for the initiator's first step) and returns this
    /// side's next move. `binding` holds the transcript hashes around the tokens.
    ///
    /// # Errors
    /// A malformed or forged token, or a peer that the mechanism's trust set does not accept.
    /// The driver aborts the handshake on any error.
    fn step(&mut self, input: Option<&[u8]>, binding: &Binding) -> Result<Step, MechanismError>;

    /// The peer, once the mechanism has authenticated it (and accepted it by its own trust
    /// set); `None` before.
    fn peer(&self) -> Option<&PeerIdentity>;

    /// The secret that keys the server's Finished: on the server from its `Last` or `Done`
    /// step, on the client from the step that consumed the server's last token. `None` if the
    /// mechanism has none, which is allowed only with [`Capabilities::key_exchange`].
    /// Called once.
    fn handshake_secret(&mut self) -> Option<Zeroizing<Vec<u8>>>;

    /// After a step with [`Progress::Done`]: the authenticated peer and the final secret.
    ///
    /// # Errors
    /// When called before the exchange is done.
    fn finish(self: Box<Self>) -> Result<Authenticated, MechanismError>;
}

/// Transcript hashes handed to each [`MechanismSession::step`], for mechanisms that
/// authenticate handfast's transcript (a channel binding, or a MIC over the hash).
///
/// Both are SHA-256 over every handshake record (header included) in transcript order
/// (`docs/PROTOCOL.md`, "Transcript"). The value one side gets as `before_output` for the
/// token it produces is the value the other side gets as `before_input` when it consumes that
/// token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The hash of every handshake record before the input token (equal to `before_output`
    /// when there is no input).
    pub before_input: [u8; 32],
    /// The hash of every handshake record before the token this step returns.
    pub before_output: [u8; 32],
}

/// The outcome of one [`MechanismSession::step`].
#[derive(Debug)]
pub struct Step {
    /// A token to send to the peer, if any.
    pub token: Option<Vec<u8>>,
    /// Where this side stands.
    pub progress: Progress,
}

impl Step {
    /// Send `token`; more tokens follow in both directions.
    pub fn more(token: Vec<u8>) -> Self {
        Self {
            token: Some(token),
            progress: Progress::Continue,
        }
    }
}

/// Where one side of the exchange stands after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// This side will send more tokens.
    Continue,
    /// The returned token (if any) is this side's last; exactly one more token from the peer
    /// completes the exchange.
    Last,
    /// This side needs nothing more from the peer; [`MechanismSession::finish`] may be called.
    Done,
}

/// What a completed exchange proves.
pub struct Authenticated {
    /// The peer, as authenticated and accepted by the mechanism's trust set. It must be the
    /// peer that [`MechanismSession::peer`] reported.
    pub peer: PeerIdentity,
    /// The final secret both sides share and nobody else knows, mixed into the key schedule
    /// after the handshake secret; `None` when the handshake secret is all there is.
    pub secret: Option<Zeroizing<Vec<u8>>>,
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
    /// Authenticates both sides. handfast runs only mutual mechanisms.
    pub mutual: bool,
    /// Hides both identities from a passive observer.
    pub identity_hiding: bool,
    /// Usable in stream mode.
    pub stream: bool,
    /// Usable in datagram mode.
    pub datagram: bool,
    /// Needs handfast's own ephemeral X25519 exchange (key shares in the hellos): the
    /// mechanism authenticates the transcript but brings no forward-secret key of its own.
    pub key_exchange: bool,
}

impl Capabilities {
    /// A mutual mechanism that yields its own secret: everything the record layer offers.
    pub const SECRET_BASED: Self = Self {
        integrity: true,
        privacy: true,
        mutual: true,
        identity_hiding: false,
        stream: true,
        datagram: true,
        key_exchange: false,
    };

    /// A mutual mechanism that authenticates the transcript and relies on handfast's own
    /// key exchange for the secret.
    pub const AUTHENTICATION_ONLY: Self = Self {
        key_exchange: true,
        ..Self::SECRET_BASED
    };

    /// The same, with identity hiding set as given.
    pub const fn with_identity_hiding(mut self, hiding: bool) -> Self {
        self.identity_hiding = hiding;
        self
    }

    /// Whether the mechanism can run at `level` in `mode`.
    pub(crate) fn supports(&self, level: ProtectionLevel, mode: Mode) -> bool {
        let level_ok = match level {
            ProtectionLevel::Integrity => self.integrity,
            ProtectionLevel::Privacy => self.privacy,
        };
        let mode_ok = match mode {
            Mode::Stream => self.stream,
            Mode::Datagram => self.datagram,
        };
        level_ok && mode_ok && self.mutual
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
///
/// The `n`-th call to [`fill`](Self::fill) (counting from 1) with a destination of `L` bytes
/// returns `HKDF-Expand(PRK = seed, info = "handfast entropy" || u64(n), L)` (one call per
/// 8160-byte chunk of larger destinations). [`fork`](Self::fork) is a `fill` of 32 bytes that
/// seeds a new source.
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

    /// A new independent source, seeded by a 32-byte [`fill`](Self::fill) of this one.
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

    #[test]
    fn entropy_is_the_documented_hkdf_expansion() {
        // fill #1 of 32 bytes = HKDF-Expand(PRK = seed, "handfast entropy" || u64(1), 32),
        // recomputed here through aws-lc's HMAC: T(1) = HMAC(PRK, info || 0x01).
        let seed = [0x42u8; 32];
        let mut e = Entropy::new(seed);
        let mut out = [0u8; 32];
        e.fill(&mut out);
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &seed);
        let mut info = b"handfast entropy".to_vec();
        info.extend_from_slice(&1u64.to_be_bytes());
        info.push(1);
        assert_eq!(aws_lc_rs::hmac::sign(&key, &info).as_ref(), &out);
    }
}
