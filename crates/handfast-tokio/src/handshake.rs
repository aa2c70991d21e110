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
    let timeout = config.limits.handshake_timeout;
    let hs = Handshake::client(config, os_entropy()?, Instant::now())?;
    drive(io, hs, timeout).await
}

/// Runs the server side of the handshake over `io` and returns the protected stream.
///
/// The client is authenticated and authorized before this returns: no application byte can be
/// read from or written to an unauthenticated peer.
///
/// # Errors
/// As [`connect`].
pub async fn accept<IO>(io: IO, config: Arc<ServerConfig>) -> Result<Stream<IO>, HandshakeError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let timeout = config.limits.handshake_timeout;
    let hs = Handshake::server(config, os_entropy()?, Instant::now())?;
    drive(io, hs, timeout).await
}

async fn drive<IO>(
    mut io: IO,
    mut hs: Handshake,
    timeout: std::time::Duration,
) -> Result<Stream<IO>, HandshakeError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = [0u8; PRE_AUTH_READ];
    let result = tokio::time::timeout(timeout, async {
        loop {
            let out = hs.take_output();
            if !out.is_empty() {
                io.write_all(&out).await?;
                io.flush().await?;
            }
            if !hs.is_in_progress() {
                return Ok(Vec::new());
            }
            let n = io.read(&mut buf).await?;
            if n == 0 {
                return Err(HandshakeError::Closed);
            }
            match hs.handle_input(&buf[..n]) {
                Ok(used) if hs.is_complete() => {
                    let out = hs.take_output();
                    io.write_all(&out).await?;
                    io.flush().await?;
                    return Ok(buf[used..n].to_vec());
                }
                Ok(_) => {}
                Err(e) => {
                    // Tell the peer, coarsely; then report the detail locally.
                    let alert = hs.take_output();
                    let _ = io.write_all(&alert).await;
                    let _ = io.flush().await;
                    return Err(e.into());
                }
            }
        }
    })
    .await;
    let leftover = match result {
        Ok(Ok(leftover)) => leftover,
        Ok(Err(e)) => return Err(e),
        Err(_elapsed) => {
            let _ = hs.handle_timeout(Instant::now() + timeout);
            let alert = hs.take_output();
            let _ =
                tokio::time::timeout(std::time::Duration::from_millis(100), io.write_all(&alert))
                    .await;
            return Err(HandshakeError::Timeout);
        }
    };
    let ctx = hs.into_context()?;
    Ok(Stream::new(io, ctx, leftover))
}

/// 32 bytes from the operating system's random source.
pub(crate) fn os_entropy() -> std::io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| std::io::Error::other("the operating system's random source failed"))?;
    Ok(seed)
}
