//! # handfast-x509
//!
//! A [`handfast`] mechanism for organisations that already identify their services with
//! certificates: a PKI, cert-manager, or SPIFFE/SPIRE. Each side presents a certificate chain
//! in a TLS 1.3 handshake (rustls, in memory: no sockets, no session tickets), the other
//! verifies it against its trust bundle and CRLs and allows it by name:
//!
//! - a SPIFFE ID (`spiffe://example.org/ns/prod/*`), by the X.509-SVID rules;
//! - a DNS name of the subject alternative names (`dns:*.example.org`);
//! - the subject (`subject:O=Example, CN=*`).
//!
//! After the handshake, traffic runs on handfast's record layer at either level: Privacy, or
//! Integrity (signed, readable, faster), which mutual TLS cannot offer. The TLS handshake is
//! bound to handfast's transcript both ways (a server signature over it, and the TLS exporter
//! keyed by it), and the whole exchange is one round trip. `docs/PROTOCOL.md` ("The x509
//! mechanism") states the tokens byte by byte.
//!
//! ```no_run
//! use std::path::Path;
//! use handfast_x509::{AllowList, Credentials, Rule, TrustBundle, X509Mechanism};
//!
//! let mechanism = X509Mechanism::new(
//!     Credentials::load(Path::new("svid.pem"), Path::new("svid.key"))?,
//!     TrustBundle::load(Path::new("bundle.pem"))?,
//!     AllowList::new([Rule::spiffe("spiffe://example.org/ns/prod/*")?]),
//! )?;
//! let server = handfast::ServerConfig::new(std::sync::Arc::new(mechanism));
//! # let _ = server;
//! # Ok::<(), handfast_x509::Error>(())
//! ```
//!
//! For those with no PKI, [`ca`] makes a small one (`handfast ca`).

#![forbid(unsafe_code)]

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;

pub mod ca;
mod credentials;
mod error;
mod mechanism;
mod names;
mod random;
mod verify;

pub use credentials::{Credentials, TrustBundle};
pub use error::Error;
pub use mechanism::{MECHANISM_ID, X509Mechanism};
pub use names::{AllowList, CertIdentity, Rule, SpiffeId, SpiffeIdError};

/// The crypto provider of every handshake: aws-lc-rs, TLS 1.3 suites only, X25519 key
/// exchange, randomness from the session's entropy (`random`).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            use rustls::crypto::aws_lc_rs as p;
            Arc::new(CryptoProvider {
                cipher_suites: vec![
                    p::cipher_suite::TLS13_AES_128_GCM_SHA256,
                    p::cipher_suite::TLS13_AES_256_GCM_SHA384,
                    p::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
                ],
                kx_groups: vec![&random::X25519_GROUP],
                secure_random: &random::RANDOM,
                ..p::default_provider()
            })
        })
        .clone()
}
