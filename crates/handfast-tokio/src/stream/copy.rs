//! Carrying a plain byte stream through the protected stream, both ways, in one task: what the
//! `handfast` daemon does for every connection.
//!
//! Plain to protected: bytes are read from the plain side straight into the payload space of
//! the stream's write buffer (`header | payload | tag`), sealed in place, and the whole record
//! is written with one call. Protected to plain: records are opened in place in the read
//! buffer and their payload is written to the plain side from there. No byte is copied
//! between buffers. Reads grow from 4 KiB up to the largest record while they come back full,
//! and shrink again when traffic quietens, so an idle connection holds little memory.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::Stream;

/// Smallest plain read; reads double while they fill the buffer.
const READ_MIN: usize = 4 * 1024;
/// Largest plain read (and so the largest record this side sends), at most the peer's limit.
const READ_MAX: usize = 256 * 1024;

/// Bytes carried by [`Stream::copy_bidirectional`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Carried {
    /// Plain bytes sealed and sent to the peer.
    pub to_peer: u64,
    /// Plain bytes opened and written to the plain side.
    pub from_peer: u64,
}

/// Why [`Stream::copy_bidirectional`] stopped before both directions ended cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// The protected side failed: a record was refused (tampering, replay, truncation) or its
    /// transport failed. The peer's data so far was delivered exactly; nothing after it.
    #[error("{0}")]
    Secure(io::Error),
    /// The plain side failed: its reset, or an error reading or writing it.
    #[error("{0}")]
    Plain(io::Error),
    /// No byte moved either way for the idle timeout.
    #[error("idle timeout: no traffic for {}s", .0.as_secs_f64())]
    Idle(Duration),
}

/// One direction's progress.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// Moving bytes.
    Open,
    /// Plain to protected only: the plain side ended; the close record is being sent.
    Closing,
    /// Ended cleanly.
    Done,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Stream<IO> {
    /// Copies between this stream and `plain` until both directions have ended cleanly (the
    /// plain side's end of input becomes the authenticated close, the peer's close becomes a
    /// half-close of `plain`), or one side fails, or nothing moves for `idle`.
    ///
    /// Returns the bytes carried either way, and whether it ended cleanly. On failure the
    /// caller decides how to end each side (the daemon resets both, so neither application
    /// mistakes a failure for a clean end).
    pub async fn copy_bidirectional<P>(
        &mut self,
        plain: &mut P,
        idle: Option<Duration>,
    ) -> (Carried, Result<(), CopyError>)
    where
        P: AsyncRead + AsyncWrite + Unpin,
    {
        let mut copy = Copy {
            carried: Carried::default(),
            up: Dir::Open,
            down: Dir::Open,
            read_cap: READ_MIN,
            out: Vec::new(),
            out_pos: 0,
            out_end: 0,
            idle: idle.map(|d| (d, Box::pin(tokio::time::sleep(d)))),
        };
        // Anything the stream had queued goes first.
        let result = match poll_fn(|cx| self.poll_drain(cx)).await {
            Ok(()) => poll_fn(|cx| copy.poll(self, plain, cx)).await,
            Err(e) => Err(CopyError::Secure(e)),
        };
        (copy.carried, result)
    }
}

struct Copy {
    carried: Carried,
    /// Plain to protected.
    up: Dir,
    /// Protected to plain.
    down: Dir,
    read_cap: usize,
    /// The outgoing record buffer (`header | payload | tag`), and the part still to write.
    out: Vec<u8>,
    out_pos: usize,
    out_end: usize,
    idle: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
}

impl Copy {
    fn poll<IO, P>(
        &mut self,
        s: &mut Stream<IO>,
        plain: &mut P,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), CopyError>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
        P: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            let mut progressed = false;
            if self.down == Dir::Open {
                match self.poll_down(s, plain, cx) {
                    Poll::Ready(Ok(())) => progressed = true,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            if self.up != Dir::Done {
                match self.poll_up(s, plain, cx) {
                    Poll::Ready(Ok(())) => progressed = true,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            if self.up == Dir::Done && self.down == Dir::Done {
                return Poll::Ready(Ok(()));
            }
            if progressed {
                if let Some((limit, sleep)) = &mut self.idle {
                    sleep.as_mut().reset(tokio::time::Instant::now() + *limit);
                }
                continue;
            }
            if let Some((limit, sleep)) = &mut self.idle
                && sleep.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(Err(CopyError::Idle(*limit)));
            }
            return Poll::Pending;
        }
    }

    /// One step of protected to plain: a verified payload written out, or the peer's close
    /// passed on. `Ready(Ok)` means progress.
    fn poll_down<IO, P>(
        &mut self,
        s: &mut Stream<IO>,
        plain: &mut P,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), CopyError>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
        P: AsyncRead + AsyncWrite + Unpin,
    {
        match ready!(s.poll_fill(cx)) {
            Ok(true) if s.ppos == s.pend => {
                s.pending = false;
                Poll::Ready(Ok(()))
            }
            Ok(true) => {
                let data = &s.rbuf[s.ppos..s.pend];
                match ready!(Pin::new(&mut *plain).poll_write(cx, data)) {
                    Ok(0) => Poll::Ready(Err(CopyError::Plain(io::ErrorKind::WriteZero.into()))),
                    Ok(n) => {
                        s.ppos += n;
                        if s.ppos == s.pend {
                            s.pending = false;
                        }
                        self.carried.from_peer += n as u64;
                        Poll::Ready(Ok(()))
                    }
                    Err(e) => Poll::Ready(Err(CopyError::Plain(e))),
                }
            }
            Ok(false) => {
                // The peer's authenticated close: end the plain side's input.
                match ready!(Pin::new(&mut *plain).poll_shutdown(cx)) {
                    Ok(()) => {
                        self.down = Dir::Done;
                        Poll::Ready(Ok(()))
                    }
                    Err(e) => Poll::Ready(Err(CopyError::Plain(e))),
                }
            }
            Err(f) => Poll::Ready(Err(CopyError::Secure(f.to_io()))),
        }
    }

    /// One step of plain to protected: a record sealed from a plain read and written whole,
    /// or the close sent.
    fn poll_up<IO, P>(
        &mut self,
        s: &mut Stream<IO>,
        plain: &mut P,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), CopyError>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
        P: AsyncRead + AsyncWrite + Unpin,
    {
        // A record (or the close) still going out comes first.
        if self.out_pos < self.out_end {
            while self.out_pos < self.out_end {
                let chunk = &self.out[self.out_pos..self.out_end];
                match ready!(Pin::new(&mut s.io).poll_write(cx, chunk)) {
                    Ok(0) => {
                        return Poll::Ready(Err(CopyError::Secure(
                            io::ErrorKind::WriteZero.into(),
                        )));
                    }
                    Ok(n) => self.out_pos += n,
                    Err(e) => return Poll::Ready(Err(CopyError::Secure(e))),
                }
            }
            ready!(Pin::new(&mut s.io).poll_flush(cx)).map_err(CopyError::Secure)?;
            self.out_pos = 0;
            self.out_end = 0;
            return Poll::Ready(Ok(()));
        }
        if self.up == Dir::Closing {
            ready!(Pin::new(&mut s.io).poll_flush(cx)).map_err(CopyError::Secure)?;
            ready!(Pin::new(&mut s.io).poll_shutdown(cx)).map_err(CopyError::Secure)?;
            self.up = Dir::Done;
            return Poll::Ready(Ok(()));
        }
        let sizes = s.ctx.sizes();
        let (hl, cap) = (sizes.header, self.read_cap.min(sizes.max_message));
        let total = hl + cap + sizes.trailer;
        if self.out.len() < total {
            self.out.resize(total, 0);
        }
        let mut rb = ReadBuf::new(&mut self.out[hl..hl + cap]);
        let n = match ready!(Pin::new(&mut *plain).poll_read(cx, &mut rb)) {
            Ok(()) => rb.filled().len(),
            Err(e) => return Poll::Ready(Err(CopyError::Plain(e))),
        };
        if n == 0 {
            // A clean end of the plain side's input. (Had the plain side been reset, the first
            // call to see it, read or write, has already ended the copy with an error: both
            // directions run in this one task, so no step follows a failure.)
            let close = s
                .ctx
                .close()
                .map_err(|e| CopyError::Secure(crate::error::protocol_to_io(e)))?;
            s.closed = true;
            self.out[..close.len()].copy_from_slice(&close);
            self.out_end = close.len();
            self.up = Dir::Closing;
            return Poll::Ready(Ok(()));
        }
        let level = s.level;
        let end = hl + n + sizes.trailer;
        s.ctx
            .seal_in_place(level, &mut self.out[..end])
            .map_err(|e| CopyError::Secure(crate::error::protocol_to_io(e)))?;
        self.out_end = end;
        self.carried.to_peer += n as u64;
        self.read_cap = next_cap(self.read_cap, n);
        // After a burst, give the memory back: an idle connection holds little.
        let wanted = hl + self.read_cap + sizes.trailer;
        if self.out.len() > 2 * wanted.max(end) {
            self.out.truncate(wanted.max(end));
            self.out.shrink_to_fit();
        }
        Poll::Ready(Ok(()))
    }
}

/// Doubles the read size when a read filled it, halves it when a read used less than a
/// quarter.
fn next_cap(cap: usize, filled: usize) -> usize {
    if filled == cap {
        (cap * 2).min(READ_MAX)
    } else if filled < cap / 4 {
        (cap / 2).max(READ_MIN)
    } else {
        cap
    }
}
