//! The protected stream: `AsyncRead`/`AsyncWrite` over records, plus whole-message send/recv,
//! and a bidirectional copy to a plain stream (`copy`).

mod copy;

pub use copy::{Carried, CopyError};

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use handfast::{ApiMisuse, Opened, ProtectionLevel, SecurityContext};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{RecvError, SendError, protocol_to_io};

/// Smallest read buffer; grows to the size of the largest record seen.
const MIN_READ: usize = 4 * 1024;
/// The read buffer grows (doubling from [`MIN_READ`]) while reads fill it, up to this: several
/// records per system call when data is waiting, 4 KiB per idle connection otherwise.
const MAX_READ: usize = 64 * 1024;
/// One write seals at most this many records (of the largest message each) and hands them to
/// the transport in one call: a large write costs one system call per 64 KiB, not per record.
pub const RECORDS_PER_WRITE: usize = 4;

/// A mutually authenticated, protected byte stream.
///
/// Writes are cut into records of at most [`handfast::Sizes::max_message`] bytes, each protected
/// at [`write_level`](Self::write_level) (the negotiated level unless raised). Reads return
/// verified bytes only. A record that fails verification, or input that ends without the peer's
/// authenticated close, is an error (`InvalidData` or `UnexpectedEof`), never a clean end of
/// stream. [`shutdown`](tokio::io::AsyncWriteExt::shutdown) sends the authenticated close and
/// half-closes the transport; reading goes on until the peer closes too.
pub struct Stream<IO> {
    io: IO,
    ctx: SecurityContext,
    /// Raw record bytes in `rbuf[rpos..rend]`; a verified payload in `rbuf[ppos..pend]`.
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    ppos: usize,
    pend: usize,
    plevel: ProtectionLevel,
    /// A verified record (possibly empty) not yet returned by `recv`.
    pending: bool,
    read_state: ReadState,
    /// A sealed record (or close) not yet written, from `wpos`.
    wbuf: Vec<u8>,
    wpos: usize,
    level: ProtectionLevel,
    closed: bool,
    /// How much the next read asks for (see [`MAX_READ`]).
    read_cap: usize,
}

enum ReadState {
    Open,
    Eof,
    Failed(Failure),
}

#[derive(Clone)]
enum Failure {
    Io(io::ErrorKind, String),
    Protocol(handfast::Error),
}

impl Failure {
    fn to_io(&self) -> io::Error {
        match self {
            Self::Io(kind, msg) => io::Error::new(*kind, msg.clone()),
            Self::Protocol(e) => protocol_to_io(e.clone()),
        }
    }
}

impl<IO> Stream<IO> {
    pub(crate) fn new(io: IO, ctx: SecurityContext, leftover: Vec<u8>) -> Self {
        let level = ctx.level();
        let rend = leftover.len();
        Self {
            io,
            ctx,
            rbuf: leftover,
            rpos: 0,
            rend,
            ppos: 0,
            pend: 0,
            plevel: level,
            pending: false,
            read_state: ReadState::Open,
            wbuf: Vec::new(),
            wpos: 0,
            level,
            closed: false,
            read_cap: MIN_READ,
        }
    }

    /// The security context: peer, negotiated level, mechanism, suite, sizes.
    pub fn context(&self) -> &SecurityContext {
        &self.ctx
    }

    /// The level writes are protected at.
    pub fn write_level(&self) -> ProtectionLevel {
        self.level
    }

    /// Protects later writes at `level`.
    ///
    /// # Errors
    /// `level` is below the session's negotiated level.
    pub fn set_write_level(&mut self, level: ProtectionLevel) -> Result<(), handfast::Error> {
        if level < self.ctx.level() {
            return Err(ApiMisuse::LevelBelowNegotiated {
                requested: level,
                negotiated: self.ctx.level(),
            }
            .into());
        }
        self.level = level;
        Ok(())
    }

    /// The underlying transport.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// The underlying transport, mutably. Reading or writing it directly corrupts the session.
    pub fn get_mut(&mut self) -> &mut IO {
        &mut self.io
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Stream<IO> {
    /// Sends `msg` as one record at `level` and flushes it.
    ///
    /// # Errors
    /// The message is larger than one record, `level` is below the negotiated level, this side
    /// already shut down, or the transport failed.
    pub async fn send(&mut self, level: ProtectionLevel, msg: &[u8]) -> Result<(), SendError> {
        std::future::poll_fn(|cx| self.poll_drain(cx)).await?;
        if self.closed {
            return Err(handfast::Error::from(ApiMisuse::AlreadyClosed).into());
        }
        self.wbuf.clear();
        self.wpos = 0;
        self.ctx.seal_into(level, msg, &mut self.wbuf)?;
        std::future::poll_fn(|cx| self.poll_drain(cx)).await?;
        std::future::poll_fn(|cx| Pin::new(&mut self.io).poll_flush(cx)).await?;
        Ok(())
    }

    /// Receives one whole message with the level it was verified at, or `None` after the peer's
    /// authenticated close. Do not mix with `AsyncRead` on the same stream.
    ///
    /// # Errors
    /// A rejected record, a cut connection ([`handfast::Error::Truncated`]) or a transport error.
    pub async fn recv(&mut self) -> Result<Option<(ProtectionLevel, Vec<u8>)>, RecvError> {
        let more = std::future::poll_fn(|cx| self.poll_fill(cx)).await;
        match more {
            Ok(true) => {
                let msg = self.rbuf[self.ppos..self.pend].to_vec();
                self.ppos = self.pend;
                self.pending = false;
                Ok(Some((self.plevel, msg)))
            }
            Ok(false) => Ok(None),
            Err(Failure::Protocol(e)) => Err(RecvError::Protocol(e)),
            Err(f @ Failure::Io(..)) => Err(RecvError::Io(f.to_io())),
        }
    }

    /// Waits until the peer's next record has verified (`true`; it stays unread, and may be
    /// empty) or the peer has closed cleanly (`false`). The `handfast` daemon's server uses it
    /// to open its connection to the service only once the client has said, with a record,
    /// that it is using the session.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub async fn ready(&mut self) -> Result<bool, RecvError> {
        std::future::poll_fn(|cx| self.poll_fill(cx))
            .await
            .map_err(|f| match f {
                Failure::Protocol(e) => RecvError::Protocol(e),
                f @ Failure::Io(..) => RecvError::Io(f.to_io()),
            })
    }

    /// Whether the session still looks usable without waiting: `false` once the peer closed,
    /// the transport ended or failed, or a record was refused. Reads nothing that is not
    /// already there.
    pub fn is_usable(&mut self) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        !matches!(self.poll_fill(&mut cx), Poll::Ready(Ok(false) | Err(_)))
    }

    /// Makes a verified record available (`true`; its payload may be empty), or reports the
    /// peer's clean close (`false`).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Failure>> {
        loop {
            if self.pending {
                return Poll::Ready(Ok(true));
            }
            match &self.read_state {
                ReadState::Open => {}
                ReadState::Eof => return Poll::Ready(Ok(false)),
                ReadState::Failed(f) => return Poll::Ready(Err(f.clone())),
            }
            let raw = &self.rbuf[self.rpos..self.rend];
            let need = match self.ctx.next_record_len(raw) {
                Ok(need) => need,
                Err(e) => return Poll::Ready(Err(self.fail(Failure::Protocol(e)))),
            };
            match need {
                Some(len) if raw.len() >= len => {
                    let header = self.ctx.sizes().header;
                    let start = self.rpos;
                    match self.ctx.open_in_place(&mut self.rbuf[start..start + len]) {
                        Ok(Opened::Data { level, payload }) => {
                            let plen = payload.len();
                            self.plevel = level;
                            self.ppos = start + header;
                            self.pend = self.ppos + plen;
                            self.pending = true;
                        }
                        Ok(_) => {
                            // The peer's authenticated close ends its direction: anything
                            // after it in the stream did not come from the peer's session.
                            if start + len < self.rend {
                                let e =
                                    handfast::Error::from(handfast::PeerMisbehaved::DataAfterClose);
                                return Poll::Ready(Err(self.fail(Failure::Protocol(e))));
                            }
                            self.read_state = ReadState::Eof;
                        }
                        Err(e) => return Poll::Ready(Err(self.fail(Failure::Protocol(e)))),
                    }
                    self.rpos += len;
                }
                need => {
                    let need = need.unwrap_or(4);
                    if self.rpos > 0 {
                        self.rbuf.copy_within(self.rpos..self.rend, 0);
                        self.rend -= self.rpos;
                        self.rpos = 0;
                        self.ppos = 0;
                        self.pend = 0;
                    }
                    if self.rbuf.len() < need.max(self.read_cap) {
                        self.rbuf.resize(need.max(self.read_cap), 0);
                    }
                    let mut rb = ReadBuf::new(&mut self.rbuf[self.rend..]);
                    let space = rb.remaining();
                    match ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb)) {
                        Ok(()) => {}
                        Err(e) => {
                            return Poll::Ready(Err(
                                self.fail(Failure::Io(e.kind(), e.to_string()))
                            ));
                        }
                    }
                    let n = rb.filled().len();
                    if n == space && self.read_cap < MAX_READ {
                        self.read_cap *= 2;
                    }
                    if n == 0 {
                        match self.ctx.eof() {
                            Ok(()) => self.read_state = ReadState::Eof,
                            Err(e) => return Poll::Ready(Err(self.fail(Failure::Protocol(e)))),
                        }
                    }
                    self.rend += n;
                }
            }
        }
    }

    fn fail(&mut self, f: Failure) -> Failure {
        self.read_state = ReadState::Failed(f.clone());
        f
    }

    /// Writes out the pending sealed bytes.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wpos < self.wbuf.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.wbuf[self.wpos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wpos += n;
        }
        self.wbuf.clear();
        self.wpos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            match ready!(this.poll_fill(cx)) {
                Ok(true) => {
                    let n = buf.remaining().min(this.pend - this.ppos);
                    buf.put_slice(&this.rbuf[this.ppos..this.ppos + n]);
                    this.ppos += n;
                    if this.ppos == this.pend {
                        this.pending = false;
                    }
                    // An empty record carries nothing for a byte stream: read on.
                    if n > 0 {
                        return Poll::Ready(Ok(()));
                    }
                }
                Ok(false) => return Poll::Ready(Ok(())),
                Err(f) => return Poll::Ready(Err(f.to_io())),
            }
        }
    }
}

/// Verified plaintext straight from the record buffer, without a copy: `poll_fill_buf` returns
/// the rest of the current record's payload; an empty slice means the peer's clean close.
impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncBufRead for Stream<IO> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        loop {
            match ready!(this.poll_fill(cx)) {
                Ok(true) if this.ppos == this.pend => this.pending = false,
                Ok(true) => return Poll::Ready(Ok(&this.rbuf[this.ppos..this.pend])),
                Ok(false) => return Poll::Ready(Ok(&[])),
                Err(f) => return Poll::Ready(Err(f.to_io())),
            }
        }
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.ppos = (this.ppos + amt).min(this.pend);
        if this.ppos == this.pend {
            this.pending = false;
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if this.closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let max = this.ctx.sizes().max_message;
        let total = buf.len().min(max * RECORDS_PER_WRITE);
        this.wbuf.clear();
        this.wpos = 0;
        let mut n = 0;
        while n < total {
            let take = (total - n).min(max);
            if let Err(e) = this
                .ctx
                .seal_into(this.level, &buf[n..n + take], &mut this.wbuf)
            {
                // What is sealed is queued and counts; the error recurs on the next call.
                if n == 0 {
                    return Poll::Ready(Err(protocol_to_io(e)));
                }
                break;
            }
            n += take;
        }
        // The bytes are sealed and queued: from here on they count as written. Start sending
        // now; what does not fit, or a transport error, surfaces on the next call or flush
        // (reporting it here would invite a retry that sends the bytes twice).
        let _ = this.poll_drain(cx);
        Poll::Ready(Ok(n))
    }

    /// Gathers the slices into records (of up to the largest message each, at most
    /// [`RECORDS_PER_WRITE`] of them), sealed in place: an HTTP/2 frame header and its
    /// payload, say, become one record, and a large frame a few records in one system call.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if this.closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        let sizes = this.ctx.sizes();
        this.wbuf.clear();
        this.wpos = 0;
        // Slices in order, from (slice, offset), into records of up to the largest message.
        let (mut slice, mut offset) = (0, 0);
        let mut n = 0;
        for _ in 0..RECORDS_PER_WRITE {
            let start = this.wbuf.len();
            this.wbuf.resize(start + sizes.header, 0);
            let mut len = 0;
            while len < sizes.max_message && slice < bufs.len() {
                let b = &bufs[slice][offset..];
                let take = b.len().min(sizes.max_message - len);
                this.wbuf.extend_from_slice(&b[..take]);
                len += take;
                offset += take;
                if offset == bufs[slice].len() {
                    slice += 1;
                    offset = 0;
                }
            }
            if len == 0 {
                this.wbuf.truncate(start);
                break;
            }
            this.wbuf
                .resize(start + sizes.header + len + sizes.trailer, 0);
            if let Err(e) = this.ctx.seal_in_place(this.level, &mut this.wbuf[start..]) {
                this.wbuf.truncate(start);
                if n == 0 {
                    return Poll::Ready(Err(protocol_to_io(e)));
                }
                break;
            }
            n += len;
        }
        if n == 0 {
            return Poll::Ready(Ok(0));
        }
        // As in poll_write: queued bytes count as written.
        let _ = this.poll_drain(cx);
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if !this.closed {
            this.wbuf.clear();
            this.wpos = 0;
            this.ctx
                .close_into(&mut this.wbuf)
                .map_err(protocol_to_io)?;
            this.closed = true;
            ready!(this.poll_drain(cx))?;
        }
        ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<IO> std::fmt::Debug for Stream<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("context", &self.ctx)
            .finish_non_exhaustive()
    }
}
