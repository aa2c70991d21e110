//! # handfast
//!
//! Mutually authenticated security contexts: two peers prove who they are to each other, then
//! every message between them is protected at one of two levels.
//!
//! - [`ProtectionLevel::Privacy`] (the default): encrypted and authenticated.
//! - [`ProtectionLevel::Integrity`] (an explicit opt-in for speed): readable, but nothing can
//!   be altered, replayed, reordered, reflected or cut off undetected.
//!
//! Higher security is the default, higher performance is the option, and no attacker can choose
//! the option: the level is bound into the handshake transcript, and each side refuses to run
//! below its own minimum.
//!
//! This crate is the sans-IO core. It reads no clock, no socket and no global random source:
//! the caller passes bytes, the current time and fresh entropy in, and sends the bytes it gets
//! out. Authentication itself is done by a [`Mechanism`](mechanism::Mechanism) (the default is
//! Noise `XX` with pinned X25519 keys, in the `handfast-noise` crate); the interface for
//! mechanism authors is the [`mechanism`] module.
//!
//! ```text
//!   ClientConfig ─► Handshake::client ─┐ bytes ┌─ Handshake::server ◄─ ServerConfig
//!                        │             └───────┘          │
//!                        ▼    (one round trip:            ▼
//!                 SecurityContext  hellos, tokens, Finished) SecurityContext
//!                 seal / sign  ──────── records ───────► open / verify
//! ```
//!
//! ## Example
//!
//! ```
//! use std::{sync::Arc, time::Instant};
//! use handfast::{ClientConfig, Handshake, ProtectionLevel, ServerConfig};
//! use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};
//!
//! let (server_key, client_key) = (PrivateKey::from_seed([1; 32]), PrivateKey::from_seed([2; 32]));
//! let server = NoiseMechanism::new(server_key.clone(), TrustSet::from([client_key.public_key("alice")]));
//! let client = NoiseMechanism::new(client_key, TrustSet::from([server_key.public_key("db")]));
//! let now = Instant::now();
//! let mut c = Handshake::client(Arc::new(ClientConfig::new(Arc::new(client))), [3; 32], now)?;
//! let mut s = Handshake::server(Arc::new(ServerConfig::new(Arc::new(server))), [4; 32], now)?;
//! while !(c.is_complete() && s.is_complete()) {
//!     s.handle_input(&c.take_output())?;
//!     c.handle_input(&s.take_output())?;
//! }
//! let (mut c, mut s) = (c.into_context()?, s.into_context()?);
//! let record = c.seal(ProtectionLevel::Privacy, b"GET /balance")?;
//! assert_eq!(s.open(&record)?, Some((ProtectionLevel::Privacy, b"GET /balance".to_vec())));
//! assert_eq!(s.peer().name(), "alice");
//! # Ok::<(), handfast::Error>(())
//! ```
//!
//! (Entropy and time are fixed above for brevity; real callers pass 32 bytes from the OS and
//! the real time.)
//!
//! The wire format, key schedule and state machine are specified in `docs/PROTOCOL.md`.

#![forbid(unsafe_code)]

mod codec;
mod config;
mod context;
mod error;
mod fuzzing;
mod handshake;
mod identity;
pub mod key_file;
mod key_schedule;
mod level;
pub mod mechanism;
mod policy;
mod record;
mod suite;

pub use config::{ClientConfig, Limits, ServerConfig};
pub use context::{Opened, SecurityContext, Sizes};
pub use error::{
    AlertCode, ApiMisuse, Error, InvalidMessage, LimitReached, PeerMisbehaved, PolicyRejected,
};
pub use handshake::Handshake;
pub use identity::{MechanismId, PeerIdentity};
pub use level::{ParseLevelError, ProtectionLevel};
pub use policy::{Authorizer, Policy};
pub use record::Mode;
pub use suite::CipherSuite;

/// Known-answer support: exposes internal derivations so that `tests/vectors` can be checked
/// byte for byte. Not part of the stable API.
#[doc(hidden)]
pub mod vectors;
