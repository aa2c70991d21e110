//! handfast's own ephemeral X25519 exchange, for mechanisms that authenticate the transcript
//! but bring no forward-secret key of their own ([`Capabilities::key_exchange`]).
//!
//! [`Capabilities::key_exchange`]: crate::mechanism::Capabilities::key_exchange

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use zeroize::Zeroizing;

use super::message::KEY_SHARE_LEN;
use crate::error::{Error, PeerMisbehaved};
use crate::mechanism::Entropy;

/// An ephemeral X25519 key pair.
pub(super) struct KeyShare {
    private: PrivateKey,
    public: [u8; KEY_SHARE_LEN],
}

impl KeyShare {
    /// The private key is the next 32 bytes of `entropy` (clamped by X25519 itself).
    pub(super) fn generate(entropy: &mut Entropy) -> Result<Self, Error> {
        let mut seed = Zeroizing::new([0u8; KEY_SHARE_LEN]);
        entropy.fill(&mut seed[..]);
        let failed = || Error::Mechanism {
            mechanism: "key exchange",
            reason: "X25519 key generation failed".into(),
        };
        let private = PrivateKey::from_private_key(&X25519, &seed[..]).map_err(|_| failed())?;
        let public = private.compute_public_key().map_err(|_| failed())?;
        let mut p = [0u8; KEY_SHARE_LEN];
        p.copy_from_slice(public.as_ref());
        Ok(Self { private, public: p })
    }

    pub(super) fn public(&self) -> [u8; KEY_SHARE_LEN] {
        self.public
    }

    /// The shared secret with the peer's share. A share of low order (an all-zero result) is
    /// refused.
    pub(super) fn agree(self, peer: &[u8; KEY_SHARE_LEN]) -> Result<Zeroizing<[u8; 32]>, Error> {
        let peer = UnparsedPublicKey::new(&X25519, peer);
        agreement::agree(
            &self.private,
            peer,
            PeerMisbehaved::IllegalParameter("key share"),
            |shared| {
                let mut out = Zeroizing::new([0u8; 32]);
                out.copy_from_slice(shared);
                Ok(out)
            },
        )
        .map_err(Error::from)
    }
}
