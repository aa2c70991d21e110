//! The handshake driver: hellos, mechanism tokens, transcript and key confirmation, in one
//! round trip.
//!
//! ```text
//! client                                             server
//! ClientHello + MechanismToken(t1)        ------->
//!                                         <-------   ServerHello + MechanismToken(t2)
//!                                                    + Finished(server)
//! MechanismToken(t3) + Finished(client)
//! + application data                      ------->
//!                                         <------>   application data
//! ```
//! (Noise XX needs exactly these three tokens; other mechanisms need more or fewer.)
//!
//! Each state is its own type holding only what is valid in it; handling a message consumes
//! the state and returns the next one. A [`SecurityContext`] exists only once the peer's
//! Finished has been checked: the client's after the server's Finished (which covers the
//! hellos), the server's after the client's, so the server releases nothing that arrived with
//! the client's last flight before the client is authenticated.

mod client;
mod exchange;
mod key_share;
mod message;
mod server;

use std::sync::Arc;
use std::time::Instant;

use exchange::Next;
use message::Message;

use crate::config::{ClientConfig, ServerConfig};
use crate::context::SecurityContext;
use crate::error::{ApiMisuse, Error, InvalidMessage};
use crate::mechanism::Entropy;
use crate::record::{ContentType, Mode, STREAM_HEADER_LEN, StreamHeader};

/// A handshake in progress, for either role.
///
/// Feed it the peer's bytes with [`handle_input`](Self::handle_input), send what
/// [`take_output`](Self::take_output) returns, call [`handle_timeout`](Self::handle_timeout)
/// when the [`deadline`](Self::deadline) passes, and once [`is_complete`](Self::is_complete)
/// turn it into a [`SecurityContext`] with [`into_context`](Self::into_context).
///
/// Before the peer is authenticated it buffers at most one handshake message
/// (`Limits::max_handshake_message`, 4 KiB by default), whatever the peer claims.
pub struct Handshake {
    state: State,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    received: usize,
    max_message: usize,
    max_total: usize,
    deadline: Instant,
    /// Datagram mode (once known): protected records that overtake the handshake are dropped.
    datagram: bool,
}

// Named like rustls' states: each waits for (expects) one message.
#[allow(clippy::enum_variant_names, clippy::large_enum_variant)]
enum State {
    /// Client: hello and opening token sent.
    ExpectServerHello(client::ExpectServerHello),
    /// Server: waiting for the hello.
    ExpectClientHello(server::ExpectClientHello),
    /// Server: hello received; its opening token follows.
    ExpectFirstToken(server::ExpectFirstToken),
    /// Either side: waiting for the peer's next token.
    ExpectToken(exchange::Exchange),
    /// Server: last token and Finished sent; one client token completes the mechanism.
    ExpectFinalToken(exchange::ExpectFinalToken),
    /// Client: mechanism done.
    ExpectServerFinished(exchange::ExpectServerFinished),
    /// Server: mechanism done.
    ExpectClientFinished(exchange::ExpectClientFinished),
    Complete(Box<SecurityContext>),
    Failed(Error),
    Taken,
}

impl Handshake {
    /// Starts a client handshake at time `now`; its first flight is ready in
    /// [`take_output`](Self::take_output).
    ///
    /// `entropy` must be 32 fresh random bytes (from the OS in production).
    ///
    /// # Errors
    /// An invalid configuration, or a mechanism that fails to start.
    pub fn client(
        config: Arc<ClientConfig>,
        entropy: [u8; 32],
        now: Instant,
    ) -> Result<Self, Error> {
        config.validate()?;
        let limits = &config.limits;
        let mut hs = Self::new(
            limits.max_handshake_message,
            limits.max_handshake_len,
            now + limits.handshake_timeout,
        );
        hs.datagram = config.mode == Mode::Datagram;
        let state = client::start(config, Entropy::new(entropy), &mut hs.out)?;
        hs.state = State::ExpectServerHello(state);
        Ok(hs)
    }

    /// Starts a server handshake at time `now`; it waits for the client's hello.
    ///
    /// # Errors
    /// An invalid configuration.
    pub fn server(
        config: Arc<ServerConfig>,
        entropy: [u8; 32],
        now: Instant,
    ) -> Result<Self, Error> {
        config.validate()?;
        let limits = &config.limits;
        let mut hs = Self::new(
            limits.max_handshake_message,
            limits.max_handshake_len,
            now + limits.handshake_timeout,
        );
        hs.state = State::ExpectClientHello(server::start(config, Entropy::new(entropy)));
        Ok(hs)
    }

    fn new(max_message: usize, max_total: usize, deadline: Instant) -> Self {
        Self {
            state: State::Taken,
            inbuf: Vec::new(),
            out: Vec::new(),
            received: 0,
            max_message,
            max_total,
            deadline,
            datagram: false,
        }
    }

    /// Consumes bytes from the peer and returns how many were used.
    ///
    /// Consumption stops when the handshake completes: any bytes after that (on the server,
    /// the client's first application records) belong to the record layer and must be given to
    /// the [`SecurityContext`]. In datagram mode, pass one datagram per call: a protected
    /// record that arrives before the handshake completes is dropped.
    ///
    /// # Errors
    /// Any handshake failure. It is sticky, and an alert for the peer (with a coarse reason)
    /// is queued in [`take_output`](Self::take_output).
    pub fn handle_input(&mut self, mut input: &[u8]) -> Result<usize, Error> {
        let total = input.len();
        if self.datagram
            && self.inbuf.is_empty()
            && self.is_in_progress()
            && let Some(&first) = input.first()
            && matches!(ContentType::parse(first), Ok(ContentType::Protected(..)))
        {
            return Ok(total);
        }
        while !input.is_empty() && self.is_in_progress() {
            let n = self.fill(input).map_err(|e| self.fail(e))?;
            input = &input[n..];
            if let Ok(Some(len)) = self.buffered_record_len()
                && self.inbuf.len() == len
            {
                let record = core::mem::take(&mut self.inbuf);
                self.process(&record)?;
            }
        }
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        Ok(total - input.len())
    }

    /// Fails the handshake if `now` is past its deadline.
    ///
    /// # Errors
    /// [`Error::HandshakeTimeout`], sticky, with an alert queued for the peer.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Error> {
        if self.is_in_progress() && now >= self.deadline {
            return Err(self.fail(Error::HandshakeTimeout));
        }
        match &self.state {
            State::Failed(e) => Err(e.clone()),
            _ => Ok(()),
        }
    }

    /// When the handshake must have completed.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Bytes to send to the peer (handshake messages or an alert); empties the queue.
    pub fn take_output(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.out)
    }

    /// Whether output is waiting.
    pub fn wants_write(&self) -> bool {
        !self.out.is_empty()
    }

    /// Whether the handshake is done and [`into_context`](Self::into_context) will succeed.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Complete(_))
    }

    /// Whether the handshake is neither complete nor failed.
    pub fn is_in_progress(&self) -> bool {
        !matches!(
            self.state,
            State::Complete(_) | State::Failed(_) | State::Taken
        )
    }

    /// The established security context.
    ///
    /// # Errors
    /// The handshake's error if it failed, or [`crate::ApiMisuse::HandshakeIncomplete`].
    pub fn into_context(self) -> Result<SecurityContext, Error> {
        match self.state {
            State::Complete(ctx) => Ok(*ctx),
            State::Failed(e) => Err(e),
            _ => Err(ApiMisuse::HandshakeIncomplete.into()),
        }
    }

    /// Buffers bytes of the current record, checking its header before taking the body.
    fn fill(&mut self, input: &[u8]) -> Result<usize, Error> {
        let want = match self.buffered_record_len()? {
            Some(len) => len - self.inbuf.len(),
            None => STREAM_HEADER_LEN - self.inbuf.len(),
        };
        let n = want.min(input.len());
        self.inbuf.extend_from_slice(&input[..n]);
        self.received += n;
        if self.inbuf.len() == STREAM_HEADER_LEN
            && let Some(len) = self.buffered_record_len()?
        {
            self.inbuf.reserve_exact(len - STREAM_HEADER_LEN);
        }
        if self.received > self.max_total {
            return Err(InvalidMessage::HandshakeTooLarge {
                max: self.max_total,
            }
            .into());
        }
        Ok(n)
    }

    /// The whole length of the buffered record once its header is in, checked: a handshake
    /// or alert record of 1 to `max_message` bytes.
    fn buffered_record_len(&self) -> Result<Option<usize>, Error> {
        let Some(header) = StreamHeader::parse(&self.inbuf)? else {
            return Ok(None);
        };
        if let ContentType::Protected(..) = header.ty {
            return Err(InvalidMessage::Unexpected {
                expected: "handshake record",
                got: "protected record",
            }
            .into());
        }
        if header.len == 0 || header.len > self.max_message {
            return Err(InvalidMessage::RecordTooLarge {
                len: header.len,
                max: self.max_message,
            }
            .into());
        }
        Ok(Some(header.record_len()))
    }

    fn process(&mut self, record: &[u8]) -> Result<(), Error> {
        let state = core::mem::replace(&mut self.state, State::Taken);
        match transition(state, record, &mut self.out) {
            Ok(state) => {
                if let State::ExpectFirstToken(s) = &state {
                    self.datagram = s.mode() == Mode::Datagram;
                }
                self.state = state;
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        if let Some(code) = e.alert() {
            self.out.extend_from_slice(&message::alert(code));
        }
        self.inbuf = Vec::new();
        self.state = State::Failed(e.clone());
        e
    }
}

/// One record moves the state machine one step.
fn transition(state: State, record: &[u8], out: &mut Vec<u8>) -> Result<State, Error> {
    let msg = message::decode(record)?;
    if let Message::Alert(code) = msg {
        return Err(Error::AlertReceived(code));
    }
    let next = match state {
        State::ExpectServerHello(s) => s.handle(msg, record, out)?,
        State::ExpectClientHello(s) => return Ok(State::ExpectFirstToken(s.handle(msg, record)?)),
        State::ExpectFirstToken(s) => s.handle(msg, record, out)?,
        State::ExpectToken(s) => s.handle(msg, record, out)?,
        State::ExpectFinalToken(s) => s.handle(msg, record)?,
        State::ExpectServerFinished(s) => s.handle(msg, record, out)?,
        State::ExpectClientFinished(s) => s.handle(msg, record)?,
        done @ (State::Complete(_) | State::Failed(_) | State::Taken) => return Ok(done),
    };
    Ok(match next {
        Next::Exchange(s) => State::ExpectToken(s),
        Next::FinalToken(s) => State::ExpectFinalToken(s),
        Next::ServerFinished(s) => State::ExpectServerFinished(s),
        Next::ClientFinished(s) => State::ExpectClientFinished(s),
        Next::Complete(ctx) => State::Complete(ctx),
    })
}

impl core::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = match &self.state {
            State::ExpectServerHello(_) => "expecting ServerHello",
            State::ExpectClientHello(_) => "expecting ClientHello",
            State::ExpectFirstToken(_) => "expecting the opening token",
            State::ExpectToken(_) => "expecting a mechanism token",
            State::ExpectFinalToken(_) => "expecting the client's final token",
            State::ExpectServerFinished(_) => "expecting the server's Finished",
            State::ExpectClientFinished(_) => "expecting the client's Finished",
            State::Complete(_) => "complete",
            State::Failed(_) => "failed",
            State::Taken => "poisoned",
        };
        f.debug_struct("Handshake")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
