//! rustls' randomness from the handshake's entropy, so that a handshake is a function of its
//! inputs (the mechanism contract; the conformance kit replays handshakes byte for byte).
//!
//! Two sources feed rustls: its `SecureRandom` (the hello randoms and the legacy session id)
//! and the key-exchange group (the ephemeral X25519 key). Both draw from one [`Entropy`].
//! Signatures are the exception: ECDSA and RSA-PSS signing draw from aws-lc's own generator,
//! so only Ed25519 certificates give byte-identical handshakes.

use std::cell::RefCell;

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use handfast::mechanism::Entropy;
use rustls::crypto::{
    ActiveKeyExchange, GetRandomFailed, SecureRandom, SharedSecret, SupportedKxGroup,
};
use rustls::{NamedGroup, PeerMisbehaved};
use zeroize::Zeroizing;

thread_local! {
    /// The entropy of the session whose rustls call is running on this thread.
    static CURRENT: RefCell<Option<Entropy>> = const { RefCell::new(None) };
}

/// Runs `f` (a call into rustls) with `entropy` as the source of [`RANDOM`] and [`X25519`].
/// rustls calls them synchronously, on the calling thread.
pub(crate) fn with_entropy<R>(entropy: &mut Option<Entropy>, f: impl FnOnce() -> R) -> R {
    CURRENT.with(|c| *c.borrow_mut() = entropy.take());
    let r = f();
    *entropy = CURRENT.with(|c| c.borrow_mut().take());
    r
}

fn fill(buf: &mut [u8]) -> Result<(), GetRandomFailed> {
    CURRENT.with(|c| match c.borrow_mut().as_mut() {
        Some(e) => {
            e.fill(buf);
            Ok(())
        }
        // Outside `with_entropy`: no randomness rather than some other randomness.
        None => Err(GetRandomFailed),
    })
}

/// rustls' `SecureRandom`, drawing from the running session's entropy.
pub(crate) static RANDOM: Random = Random;
/// X25519 with ephemeral keys from the running session's entropy.
pub(crate) static X25519_GROUP: Group = Group;

#[derive(Debug)]
pub(crate) struct Random;

impl SecureRandom for Random {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        fill(buf)
    }
}

/// X25519 whose ephemeral keys come from the entropy.
#[derive(Debug)]
pub(crate) struct Group;

impl SupportedKxGroup for Group {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let mut secret = Zeroizing::new([0u8; 32]);
        fill(&mut secret[..]).map_err(|_| rustls::Error::FailedToGetRandomBytes)?;
        let key = PrivateKey::from_private_key(&X25519, &secret[..])
            .map_err(|_| rustls::Error::General("X25519 key".into()))?;
        let public = key
            .compute_public_key()
            .map_err(|_| rustls::Error::General("X25519 public key".into()))?
            .as_ref()
            .to_vec();
        Ok(Box::new(Active { key, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

struct Active {
    key: PrivateKey,
    public: Vec<u8>,
}

impl ActiveKeyExchange for Active {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, rustls::Error> {
        agreement::agree(
            &self.key,
            UnparsedPublicKey::new(&X25519, peer),
            rustls::Error::from(PeerMisbehaved::InvalidKeyShare),
            |shared| Ok(SharedSecret::from(shared)),
        )
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}
