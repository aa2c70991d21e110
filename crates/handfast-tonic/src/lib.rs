//! # handfast-tonic
//!
//! gRPC over handfast, for tonic services: what RPC authentication levels and an interface's
//! security callback are to Windows RPC, done for Rust services.
//!
//! - **Server**: [`server::incoming`] turns a `TcpListener` into authenticated connections for
//!   `tonic::transport::Server::serve_with_incoming`. Handshakes run concurrently under their
//!   deadline, within a pre-authentication budget (the `handfast` daemon's), so strangers
//!   cannot take the places of callers.
//! - **Client**: [`client::connect`] (or the [`client::Connector`] for a lazy channel) gives a
//!   `tonic::transport::Channel` whose connections are handfast sessions.
//! - **Every request** carries a [`Caller`] in its extensions: the peer's identity as its
//!   mechanism proved it (a key fingerprint and name, a SPIFFE ID...), and the level of the
//!   connection it came on.
//! - **Policy** ([`policy::Policy`], a tower layer): a minimum level and the callers allowed, per
//!   service and per method. Privacy is the default for every method; a method allowed at
//!   integrity is an explicit line. A call below its level or from a caller not allowed is
//!   refused (`PERMISSION_DENIED`, naming the rule) before it reaches the handler.
//!
//! The level is the connection's: a client that wants integrity for some calls opens a
//! channel at integrity for them, and a policy decides which methods accept it.

#![forbid(unsafe_code)]

use handfast::{PeerIdentity, ProtectionLevel};

pub mod client;
mod io;
pub mod policy;
pub mod server;

pub use io::Connection;

/// Who is calling, in every request's extensions (`request.extensions().get::<Caller>()`).
#[derive(Clone, Debug)]
pub struct Caller {
    /// The peer, as its mechanism authenticated it (shared by every request of the
    /// connection).
    pub identity: std::sync::Arc<PeerIdentity>,
    /// The level of the connection the call came on.
    pub level: ProtectionLevel,
    /// The mechanism that authenticated it ("noise-xx-25519", "x509-tls13").
    pub mechanism: &'static str,
    /// The peer's address.
    pub remote: Option<std::net::SocketAddr>,
}

impl Caller {
    /// The caller of a request, if it came over handfast.
    pub fn of<T>(request: &tonic::Request<T>) -> Option<&Self> {
        request.extensions().get::<Self>()
    }
}
