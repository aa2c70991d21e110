//! One error type per operation, each convertible into `std::io::Error`.

use std::io;

/// Why [`connect`](crate::connect) or [`accept`](crate::accept) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The transport failed.
    #[error("transport error during handshake: {0}")]
    Io(#[from] io::Error),
    /// The handshake did not finish before its deadline.
    #[error("handshake timed out")]
    Timeout,
    /// The peer closed the connection before the handshake finished.
    #[error("peer closed the connection during the handshake")]
    Closed,
    /// The handshake itself failed: untrusted peer, tampering, policy.
    #[error("{0}")]
    Protocol(#[from] handfast::Error),
}

/// The error of [`connect`](crate::connect).
pub type ConnectError = HandshakeError;
/// The error of [`accept`](crate::accept).
pub type AcceptError = HandshakeError;

impl HandshakeError {
    /// Whether the failure means bytes were altered in transit.
    pub fn is_tampering(&self) -> bool {
        matches!(self, Self::Protocol(e) if e.is_tampering())
    }
}

impl From<HandshakeError> for io::Error {
    fn from(e: HandshakeError) -> Self {
        match e {
            HandshakeError::Io(e) => e,
            HandshakeError::Timeout => io::Error::new(io::ErrorKind::TimedOut, e),
            HandshakeError::Closed => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            HandshakeError::Protocol(_) => io::Error::new(io::ErrorKind::PermissionDenied, e),
        }
    }
}

/// Why [`Stream::recv`](crate::Stream::recv) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// The transport failed.
    #[error("transport error: {0}")]
    Io(#[from] io::Error),
    /// A record was rejected (tampering, replay, reordering, policy) or the stream was cut
    /// ([`handfast::Error::Truncated`]). The connection is unusable.
    #[error("{0}")]
    Protocol(#[from] handfast::Error),
}

impl From<RecvError> for io::Error {
    fn from(e: RecvError) -> Self {
        match e {
            RecvError::Io(e) => e,
            RecvError::Protocol(p) => protocol_to_io(p),
        }
    }
}

/// Why [`Stream::send`](crate::Stream::send) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The transport failed.
    #[error("transport error: {0}")]
    Io(#[from] io::Error),
    /// The message could not be protected (too large, level below the session's, closed).
    #[error("{0}")]
    Protocol(#[from] handfast::Error),
}

impl From<SendError> for io::Error {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Io(e) => e,
            SendError::Protocol(p) => protocol_to_io(p),
        }
    }
}

/// Truncation reads as `UnexpectedEof`, everything else as `InvalidData`: never a clean end.
pub(crate) fn protocol_to_io(e: handfast::Error) -> io::Error {
    let kind = match e {
        handfast::Error::Truncated => io::ErrorKind::UnexpectedEof,
        handfast::Error::ApiMisuse(_) => io::ErrorKind::InvalidInput,
        _ => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, e)
}
