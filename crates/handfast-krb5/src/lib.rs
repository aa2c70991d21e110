//! # handfast-krb5
//!
//! A [`handfast`] mechanism for organisations that already run Kerberos: an MIT realm or
//! Active Directory. Users and services keep the identities the KDC already holds for them
//! (`kinit`, keytabs); nobody hands out new keys.
//!
//! It runs over the system GSS-API (MIT krb5 on Linux, through the `libgssapi` crate):
//!
//! - **Native mode** ([`KerberosMechanism`], the default): the Kerberos AP exchange
//!   authenticates both sides and, through a MIC from each side over handfast's transcript,
//!   binds them to handfast's own X25519 exchange, which gives the forward secrecy Kerberos
//!   alone lacks (as SSH's GSS-API key exchange does). Traffic then runs on handfast's record
//!   layer at either level, and the whole handshake is one round trip. Mutual authentication
//!   and replay detection are required; a server allows principals by [`AllowList`]
//!   (`alice@EXAMPLE.COM`, `*@EXAMPLE.COM`, `HTTP/*@EXAMPLE.COM`).
//!
//! ```no_run
//! use std::path::PathBuf;
//! use handfast_krb5::{AllowList, ClientCredentials, KerberosMechanism, Keytab, Rule, Service};
//!
//! // A client with the ticket of `kinit`, for the service host/server.example.com.
//! let client = KerberosMechanism::client(
//!     Service::parse("host@server.example.com")?,
//!     &ClientCredentials::Default,
//! )?;
//! // A server with a keytab, allowing the users of its realm.
//! let server = KerberosMechanism::server(
//!     &Keytab::File(PathBuf::from("/etc/handfast/service.keytab")),
//!     AllowList::new([Rule::parse("*@EXAMPLE.COM").map_err(std::io::Error::other)?]),
//! )?;
//! # let _ = (client, server);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - **GSS mode** ([`gss`], for interop): after the context is established, GSS-API itself
//!   protects each message (`gss_wrap` with or without confidentiality, `gss_get_mic`), as
//!   existing GSS-API and SSPI programs expect; the receiver reads each message's level and
//!   refuses one below its minimum. [`sample`] speaks the protocol of MIT's `gss-server` and
//!   `gss-client` programs.
//!
//! [`realm`] stands up a throwaway MIT realm on loopback, for tests.

mod error;
pub mod gss;
mod mechanism;
mod names;
pub mod realm;
pub mod sample;
mod store;

pub use error::Error;
pub use mechanism::{
    CLIENT_LABEL, ClientCredentials, KerberosMechanism, Keytab, MECHANISM_ID, SERVER_LABEL, Service,
};
pub use names::{AllowList, Rule};
