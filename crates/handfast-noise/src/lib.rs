//! # handfast-noise
//!
//! The default [`handfast`] mechanism: Noise `XX` (`Noise_XX_25519_ChaChaPoly_SHA256`, through
//! the `snow` crate). Both sides hold an X25519 static key; each is trusted by pinning its
//! public key, SSH-style, in a [`TrustSet`] (an allow file on the server, the server's key on
//! the client). Identities travel encrypted, hidden from passive observers.
//!
//! Key formats:
//! - public key line: `handfast-x25519 <base64> [comment]` (the comment names the peer);
//! - private key file: `handfast-x25519-private <base64> [comment]`, plus `#` comments.
//!   [`PrivateKey::load`] refuses a file that the group or others can read.
//!
//! ```
//! use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};
//!
//! let server = PrivateKey::from_seed([1; 32]).with_comment("db");
//! let line = server.public_key("").to_string(); // what `server.key.pub` holds
//! let pinned = TrustSet::parse(&line, "server.key.pub")?;
//! let client = NoiseMechanism::new(PrivateKey::from_seed([2; 32]), pinned);
//! # let _ = client;
//! # Ok::<(), handfast_noise::KeyError>(())
//! ```

#![forbid(unsafe_code)]

mod dh;
mod error;
mod key;
mod mechanism;
mod trust;

pub use error::KeyError;
pub use key::{PRIVATE_KEY_TAG, PUBLIC_KEY_TAG, PrivateKey, PublicKey};
pub use mechanism::NoiseMechanism;
pub use trust::TrustSet;
