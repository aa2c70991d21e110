//! # handfast-tokio
//!
//! [`connect`] and [`accept`] run a handfast handshake over any tokio
//! `AsyncRead + AsyncWrite` (a `TcpStream`, a Unix socket, an in-memory duplex) with a deadline
//! and OS entropy, and return a [`Stream`]: an `AsyncRead + AsyncWrite` whose bytes are
//! protected at the negotiated level, with a whole-message API ([`Stream::send`],
//! [`Stream::recv`]) beside it. This crate makes no protocol decisions of its own.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use handfast::{ClientConfig, ProtectionLevel, ServerConfig};
//! use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let (sk, ck) = (PrivateKey::from_seed([1; 32]), PrivateKey::from_seed([2; 32]));
//! let server = ServerConfig::new(Arc::new(NoiseMechanism::new(sk.clone(), TrustSet::from([ck.public_key("app")]))));
//! let client = ClientConfig::new(Arc::new(NoiseMechanism::new(ck, TrustSet::from([sk.public_key("db")]))));
//! let (a, b) = tokio::io::duplex(64 * 1024);
//! let server = tokio::spawn(async move {
//!     let mut s = handfast_tokio::accept(b, Arc::new(server)).await?;
//!     let mut buf = Vec::new();
//!     s.read_to_end(&mut buf).await?; // ends cleanly only at the client's authenticated close
//!     Ok::<_, std::io::Error>(buf)
//! });
//! let mut c = handfast_tokio::connect(a, Arc::new(client)).await?;
//! assert_eq!(c.context().level(), ProtectionLevel::Privacy);
//! c.write_all(b"hello").await?;
//! c.shutdown().await?;
//! assert_eq!(server.await??, b"hello");
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod budget;
mod error;
mod handshake;
mod stream;

pub use error::{AcceptError, ConnectError, HandshakeError, RecvError, SendError};
pub use handshake::{accept, connect};
pub use stream::{Carried, CopyError, RECORDS_PER_WRITE, Stream};
