//! X25519 for snow, from aws-lc-rs: about twice as fast as snow's default (curve25519-dalek)
//! on the development machine, which is most of a handshake's cost.

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use snow::types::{Dh, Random};
use zeroize::Zeroizing;

const LEN: usize = 32;

/// Snow's `Dh` for Curve25519.
#[derive(Default)]
pub(crate) struct X25519Dh {
    secret: Zeroizing<[u8; LEN]>,
    public: [u8; LEN],
    key: Option<PrivateKey>,
    /// A key pair whose public half is already known (the static key).
    known: Option<(Zeroizing<[u8; LEN]>, [u8; LEN])>,
}

impl X25519Dh {
    /// A `Dh` that skips recomputing `pair`'s public key when `pair`'s secret is set.
    pub(crate) fn knowing(pair: &(Zeroizing<[u8; LEN]>, [u8; LEN])) -> Self {
        Self {
            known: Some((pair.0.clone(), pair.1)),
            ..Self::default()
        }
    }

    fn load(&mut self, secret: &[u8]) {
        self.secret.copy_from_slice(&secret[..LEN]);
        self.key = PrivateKey::from_private_key(&X25519, &self.secret[..]).ok();
        if let Some((s, p)) = &self.known
            && aws_lc_rs::constant_time::verify_slices_are_equal(&s[..], &self.secret[..]).is_ok()
        {
            self.public = *p;
            return;
        }
        self.public = self
            .key
            .as_ref()
            .and_then(|k| k.compute_public_key().ok())
            .and_then(|p| p.as_ref().try_into().ok())
            .unwrap_or([0; LEN]);
    }
}

/// The public key of an X25519 private key.
pub(crate) fn public_key(secret: &[u8; LEN]) -> [u8; LEN] {
    let mut dh = X25519Dh::default();
    dh.load(secret);
    dh.public
}

impl Dh for X25519Dh {
    fn name(&self) -> &'static str {
        "25519"
    }

    fn pub_len(&self) -> usize {
        LEN
    }

    fn priv_len(&self) -> usize {
        LEN
    }

    fn set(&mut self, privkey: &[u8]) {
        if privkey.len() >= LEN {
            self.load(privkey);
        }
    }

    fn generate(&mut self, rng: &mut dyn Random) -> Result<(), snow::Error> {
        let mut secret = Zeroizing::new([0u8; LEN]);
        rng.try_fill_bytes(&mut secret[..])?;
        self.load(&secret[..]);
        Ok(())
    }

    fn pubkey(&self) -> &[u8] {
        &self.public
    }

    fn privkey(&self) -> &[u8] {
        &self.secret[..]
    }

    fn dh(&self, pubkey: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        let key = self.key.as_ref().ok_or(snow::Error::Dh)?;
        // snow passes its whole key buffer; the key is the first 32 bytes.
        let peer = UnparsedPublicKey::new(&X25519, pubkey.get(..LEN).ok_or(snow::Error::Dh)?);
        // aws-lc refuses low-order points (an all-zero shared secret).
        agreement::agree(key, peer, snow::Error::Dh, |shared| {
            out.get_mut(..LEN)
                .ok_or(snow::Error::Dh)?
                .copy_from_slice(shared);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc7748_section_6_1() {
        let hex = |s: &str| -> [u8; 32] {
            let mut out = [0u8; 32];
            for (i, b) in out.iter_mut().enumerate() {
                *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
            }
            out
        };
        let a = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let b = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        let b_pub = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let shared = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(public_key(&b), b_pub);
        let mut dh = X25519Dh::default();
        dh.set(&a);
        let mut out = [0u8; 32];
        dh.dh(&b_pub, &mut out).unwrap();
        assert_eq!(out, shared);
        // A low-order point is refused.
        assert!(dh.dh(&[0u8; 32], &mut out).is_err());
    }
}
