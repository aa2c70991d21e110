//! Drives a [`handfast::Handshake`] over an async byte stream, with a deadline.

use std::sync::Arc;
use std::time::Instant;

use aws_lc_rs::rand::SecureRandom;
use handfast::{ClientConfig, Handshake, ServerConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::HandshakeError;
use crate::stream::Stream;

/// Bytes read at a time before the peer is authenticated: all a stranger can make us hold,
/// besides one handshake message (bounded by `Limits::max_handshake_message`).
const PRE_AUTH_READ: usize = 2048;

/// Runs the client side of the handshake over `io` and returns the protected stream.
///
/// The deadline is `config.limits.handshake_timeout`; entropy comes from the operating system.
///
/// # Errors
/// The transport fails, the deadline passes, the peer closes, or the handshake fails (the
/// server is not the pinned one, tampering, policy).
pub async fn connect<IO>(io: IO, config: Arc<ClientConfig>) -> Result<Stream<IO>, HandshakeError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let hs = Handshake::client(config, os_entropy()?, Instant::now())?;
    drive(io, hs).await
}

/// Runs the server side of the handshake over `io` and returns the protected stream.
///
/// The client is authenticated and authorized before this returns: no application byte can be
/// read from or written to an unauthenticated peer. Records the client sent with its last
/// handshake flight wait in the stream, unread, until then.
///
/// # Errors
/// As [`connect`].
pub async fn accept<IO>(io: IO, config: Arc<ServerConfig>) -> Result<Stream<IO>, HandshakeError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let hs = Handshake::server(config, os_entropy()?, Instant::now())?;
    drive(io, hs).await
}

/// Runs the handshake until it completes, fails, or passes its own deadline
/// ([`Handshake::deadline`]), at which point its timeout handler queues the alert.
async fn drive<IO>(mut io: IO, mut hs: Handshake) -> Result<Stream<IO>, HandshakeError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::from_std(hs.deadline());
    let mut buf = [0u8; PRE_AUTH_READ];
    let mut leftover = Vec::new();
    loop {
        let out = hs.take_output();
        if !out.is_empty() {
            match tokio::time::timeout_at(deadline, write_flight(&mut io, &out)).await {
                Ok(result) => result?,
                Err(_elapsed) => return Err(timed_out(&mut io, &mut hs).await),
            }
        }
        if hs.is_complete() {
            break;
        }
        let n = tokio::select! {
            read = io.read(&mut buf) => read?,
            () = tokio::time::sleep_until(deadline) => {
                return Err(timed_out(&mut io, &mut hs).await);
            }
        };
        if n == 0 {
            return Err(HandshakeError::Closed);
        }
        match hs.handle_input(&buf[..n]) {
            Ok(used) if hs.is_complete() => leftover = buf[used..n].to_vec(),
            Ok(_) => {}
            Err(e) => {
                // Tell the peer, coarsely (bounded: a peer that does not read is not waited
                // for); then report the detail locally.
                let alert = hs.take_output();
                let _ = tokio::time::timeout(ALERT_GRACE, write_flight(&mut io, &alert)).await;
                return Err(e.into());
            }
        }
    }
    let ctx = hs.into_context()?;
    Ok(Stream::new(io, ctx, leftover))
}

async fn write_flight<IO: AsyncWrite + Unpin>(io: &mut IO, bytes: &[u8]) -> std::io::Result<()> {
    io.write_all(bytes).await?;
    io.flush().await
}

/// The deadline passed: the handshake's own timeout handler fails it and queues the alert.
async fn timed_out<IO: AsyncWrite + Unpin>(io: &mut IO, hs: &mut Handshake) -> HandshakeError {
    let err = hs.handle_timeout(Instant::now()).err();
    let alert = hs.take_output();
    let _ = tokio::time::timeout(ALERT_GRACE, write_flight(io, &alert)).await;
    match err {
        Some(handfast::Error::HandshakeTimeout) | None => HandshakeError::Timeout,
        Some(e) => e.into(),
    }
}

/// How long a failing handshake waits to deliver its alert.
const ALERT_GRACE: std::time::Duration = std::time::Duration::from_millis(100);

/// 32 bytes from the operating system's random source.
pub(crate) fn os_entropy() -> std::io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| std::io::Error::other("the operating system's random source failed"))?;
    Ok(seed)
}
