//! The handshake driver: hellos, mechanism tokens, transcript and key confirmation.
//!
//! ```text
//! client                                             server
//! ClientHello + MechanismToken(t1)        ------->
//!                                         <-------   ServerHello + MechanismToken(t2)
//! MechanismToken(t3) + Finished(client)   ------->
//!                                         <-------   Finished(server) [+ application data]
//! [application data]                      <------>   [application data]
//! ```
//! (Noise XX needs exactly these three tokens; other mechanisms may need more or fewer.)
//!
//! Each state is its own type holding only what is valid in it; handling a message consumes
//! the state and returns the next one. A [`SecurityContext`] exists only once both Finished
//! messages have been checked, so application data cannot flow before the handshake completes.

mod client;
mod message;
mod server;

use std::sync::Arc;
use std::time::Instant;

use crate::codec::get_u24;
use crate::config::{ClientConfig, Mode, ServerConfig};
use crate::context::SecurityContext;
use crate::error::{Error, InvalidMessage, PolicyRejected};
use crate::identity::{MechanismId, PeerIdentity};
use crate::level::ProtectionLevel;
use crate::mechanism::{Entropy, MechanismError};
use crate::record::{STREAM_HEADER_LEN, TYPE_ALERT, TYPE_HANDSHAKE};
use crate::suite::CipherSuite;

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
}

enum State {
    Client(client::State),
    Server(server::State),
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
        let state = client::start(config, Entropy::new(entropy), &mut hs.out)?;
        hs.state = State::Client(state);
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
        hs.state = State::Server(server::start(config, Entropy::new(entropy)));
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
        }
    }

    /// Consumes bytes from the peer and returns how many were used.
    ///
    /// Consumption stops when the handshake completes: any bytes after that belong to the
    /// record layer and must be given to the [`SecurityContext`].
    ///
    /// # Errors
    /// Any handshake failure. It is sticky, and an alert for the peer (with a coarse reason)
    /// is queued in [`take_output`](Self::take_output).
    pub fn handle_input(&mut self, mut input: &[u8]) -> Result<usize, Error> {
        let total = input.len();
        while !input.is_empty() && self.is_in_progress() {
            let n = self.fill(input).map_err(|e| self.fail(e))?;
            input = &input[n..];
            if let Some(len) = self.buffered_record_len()
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
        matches!(self.state, State::Client(_) | State::Server(_))
    }

    /// The established security context.
    ///
    /// # Errors
    /// The handshake's error if it failed, or [`crate::ApiMisuse::HandshakeIncomplete`].
    pub fn into_context(self) -> Result<SecurityContext, Error> {
        match self.state {
            State::Complete(ctx) => Ok(*ctx),
            State::Failed(e) => Err(e),
            _ => Err(crate::error::ApiMisuse::HandshakeIncomplete.into()),
        }
    }

    /// Buffers bytes of the current record, checking its header before taking the body.
    fn fill(&mut self, input: &[u8]) -> Result<usize, Error> {
        let want = match self.buffered_record_len() {
            Some(len) => len - self.inbuf.len(),
            None => STREAM_HEADER_LEN - self.inbuf.len(),
        };
        let n = want.min(input.len());
        self.inbuf.extend_from_slice(&input[..n]);
        self.received += n;
        if self.inbuf.len() == STREAM_HEADER_LEN {
            let ty = self.inbuf[0];
            if ty != TYPE_HANDSHAKE && ty != TYPE_ALERT {
                return Err(InvalidMessage::Unexpected {
                    expected: "handshake record",
                    got: "protected record",
                }
                .into());
            }
            let len = get_u24([self.inbuf[1], self.inbuf[2], self.inbuf[3]]);
            if len == 0 || len > self.max_message {
                return Err(InvalidMessage::RecordTooLarge {
                    len,
                    max: self.max_message,
                }
                .into());
            }
            self.inbuf.reserve_exact(len);
        }
        if self.received > self.max_total {
            return Err(InvalidMessage::HandshakeTooLarge {
                max: self.max_total,
            }
            .into());
        }
        Ok(n)
    }

    fn buffered_record_len(&self) -> Option<usize> {
        let h = self.inbuf.get(..STREAM_HEADER_LEN)?;
        Some(STREAM_HEADER_LEN + get_u24([h[1], h[2], h[3]]))
    }

    fn process(&mut self, record: &[u8]) -> Result<(), Error> {
        let result = match core::mem::replace(&mut self.state, State::Taken) {
            State::Client(s) => s.handle(record, &mut self.out).map(|next| match next {
                client::Next::Continue(s) => State::Client(s),
                client::Next::Done(ctx) => State::Complete(ctx),
            }),
            State::Server(s) => s.handle(record, &mut self.out).map(|next| match next {
                server::Next::Continue(s) => State::Server(s),
                server::Next::Done(ctx) => State::Complete(ctx),
            }),
            other => Ok(other),
        };
        match result {
            Ok(state) => {
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

impl core::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = match &self.state {
            State::Client(_) => "client in progress",
            State::Server(_) => "server in progress",
            State::Complete(_) => "complete",
            State::Failed(_) => "failed",
            State::Taken => "poisoned",
        };
        f.debug_struct("Handshake")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

/// What both sides agreed on.
#[derive(Clone, Debug)]
pub(crate) struct Negotiated {
    pub(crate) mechanism: MechanismId,
    pub(crate) mechanism_name: &'static str,
    pub(crate) level: ProtectionLevel,
    pub(crate) suite: CipherSuite,
    pub(crate) mode: Mode,
    /// Largest plaintext this side may send (the peer's limit).
    pub(crate) send_max: usize,
    /// Largest plaintext this side accepts.
    pub(crate) recv_max: usize,
    pub(crate) key_update_interval: u64,
    pub(crate) max_sequence: u64,
    pub(crate) max_bad_records: u64,
}

/// Maps a mechanism failure to the handshake error.
pub(crate) fn mechanism_error(name: &'static str, e: MechanismError) -> Error {
    match e {
        MechanismError::NotTrusted(who) => PolicyRejected::PeerNotTrusted(who).into(),
        MechanismError::BadToken(reason) | MechanismError::Config(reason) => Error::Mechanism {
            mechanism: name,
            reason,
        },
    }
}

/// Where both sides stand when their mechanism is done: the authorized peer, and the key
/// schedule keyed by the mechanism's secret and the transcript through the last token.
pub(crate) struct Concluded {
    pub(crate) peer: PeerIdentity,
    pub(crate) schedule: crate::key_schedule::KeySchedule,
    pub(crate) h_mech: [u8; crate::key_schedule::HASH_LEN],
    pub(crate) client_finished_key: crate::key_schedule::Secret,
    pub(crate) server_finished_key: crate::key_schedule::Secret,
}

/// Takes a finished mechanism's result, authorizes the peer with `policy`, and derives the
/// Finished keys.
pub(crate) fn conclude(
    session: Box<dyn crate::mechanism::MechanismSession>,
    name: &'static str,
    policy: &crate::policy::Policy,
    transcript: &crate::key_schedule::Transcript,
) -> Result<Concluded, Error> {
    let auth = session.finish().map_err(|e| mechanism_error(name, e))?;
    authorize(policy, &auth.peer)?;
    let h_mech = transcript.current();
    let schedule = crate::key_schedule::KeySchedule::new(&auth.secret);
    let (client_finished_key, server_finished_key) = schedule.finished_keys(&h_mech);
    Ok(Concluded {
        peer: auth.peer,
        schedule,
        h_mech,
        client_finished_key,
        server_finished_key,
    })
}

/// Runs the policy's authorization callback.
pub(crate) fn authorize(policy: &crate::policy::Policy, peer: &PeerIdentity) -> Result<(), Error> {
    policy
        .check_peer(peer)
        .map_err(|reason| PolicyRejected::PeerNotTrusted(format!("{peer}: {reason}")).into())
}

/// The smallest key-update interval a mode accepts from a peer.
pub(crate) fn min_interval(mode: Mode) -> u64 {
    match mode {
        Mode::Stream => 1,
        Mode::Datagram => crate::record::REPLAY_WINDOW,
    }
}
