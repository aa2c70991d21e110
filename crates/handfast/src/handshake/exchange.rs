//! The mechanism token exchange and the two Finished messages, for both roles.
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
//! (Noise XX needs exactly these three tokens; other mechanisms need more or fewer, and the
//! server's Finished always travels with the server's last token.)

use zeroize::Zeroizing;

use super::message::{self, Message, unexpected};
use crate::context::{Negotiated, SecurityContext};
use crate::error::{Error, PeerMisbehaved, PolicyRejected};
use crate::identity::PeerIdentity;
use crate::key_schedule::{HandshakeKeys, MasterKeys, Transcript, finished_mac, verify_finished};
use crate::mechanism::{Binding, MechanismError, MechanismSession, Progress, Role};
use crate::policy::Policy;

/// One side's mechanism session, with the authorization of the peer it proves.
pub(super) struct Mech {
    session: Box<dyn MechanismSession>,
    name: &'static str,
    policy: Policy,
    /// The peer, once the mechanism proved it and the policy accepted it.
    peer: Option<PeerIdentity>,
}

impl Mech {
    pub(super) fn new(
        session: Box<dyn MechanismSession>,
        name: &'static str,
        policy: Policy,
    ) -> Self {
        Self {
            session,
            name,
            policy,
            peer: None,
        }
    }

    /// Runs one step, then authorizes the peer if the mechanism has just proved it, before
    /// the caller sends the step's token anywhere.
    pub(super) fn step(
        &mut self,
        input: Option<&[u8]>,
        binding: &Binding,
    ) -> Result<(Option<Vec<u8>>, Progress), Error> {
        let step = self
            .session
            .step(input, binding)
            .map_err(|e| mechanism_error(self.name, e))?;
        if self.peer.is_none()
            && let Some(peer) = self.session.peer()
        {
            self.policy
                .check_peer(peer)
                .map_err(|why| PolicyRejected::PeerNotTrusted(format!("{peer}: {why}")))?;
            self.peer = Some(peer.clone());
        }
        Ok((step.token, step.progress))
    }

    fn contract(&self, reason: &str) -> Error {
        Error::Mechanism {
            mechanism: self.name,
            reason: format!("mechanism broke its contract: {reason}"),
        }
    }
}

/// The binding of an opening step (no input): both hashes are the transcript so far.
pub(super) fn opening(h: [u8; 32]) -> Binding {
    Binding {
        before_input: h,
        before_output: h,
    }
}

/// Maps a mechanism failure to the handshake error.
pub(super) fn mechanism_error(name: &'static str, e: MechanismError) -> Error {
    match e {
        MechanismError::NotTrusted(who) => PolicyRejected::PeerNotTrusted(who).into(),
        MechanismError::BadToken(reason) | MechanismError::Config(reason) => Error::Mechanism {
            mechanism: name,
            reason,
        },
    }
}

/// Where the handshake goes after a message.
// The handshake runs once per session; boxing the in-progress states would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Next {
    /// Waiting for the peer's next mechanism token.
    Exchange(Exchange),
    /// Server: its last token and Finished are out; waiting for the client's final token.
    FinalToken(ExpectFinalToken),
    /// Client: the mechanism is done; waiting for the server's Finished.
    ServerFinished(ExpectServerFinished),
    /// Server: waiting for the client's Finished.
    ClientFinished(ExpectClientFinished),
    /// Both Finished messages verified.
    Complete(Box<SecurityContext>),
}

/// The negotiated exchange: the hellos are done, tokens flow.
pub(super) struct Exchange {
    role: Role,
    mech: Mech,
    negotiated: Negotiated,
    transcript: Transcript,
    /// The shared secret of handfast's own key exchange, if the mechanism asked for it.
    ecdhe: Option<Zeroizing<[u8; 32]>>,
}

impl Exchange {
    pub(super) fn new(
        role: Role,
        mech: Mech,
        negotiated: Negotiated,
        transcript: Transcript,
        ecdhe: Option<Zeroizing<[u8; 32]>>,
    ) -> Self {
        Self {
            role,
            mech,
            negotiated,
            transcript,
            ecdhe,
        }
    }

    /// Appends a record to the transcript and the output.
    pub(super) fn send(&mut self, record: &[u8], out: &mut Vec<u8>) {
        self.transcript.add(record);
        out.extend_from_slice(record);
    }

    /// The hash of every handshake record so far.
    pub(super) fn hash(&self) -> [u8; 32] {
        self.transcript.current()
    }

    /// Stream or datagram.
    pub(super) fn mode(&self) -> crate::record::Mode {
        self.negotiated.record.mode
    }

    /// Adds a received record to the transcript.
    pub(super) fn receive(&mut self, record: &[u8]) {
        self.transcript.add(record);
    }

    /// Adds the peer's token record to the transcript and returns the hash before it: the
    /// `before_output` the peer was given when it produced the token.
    pub(super) fn receive_token(&mut self, record: &[u8]) -> [u8; 32] {
        let before = self.hash();
        self.receive(record);
        before
    }

    /// The binding of a step that consumes a token bound to `before_input`; its output comes
    /// after everything in the transcript now.
    pub(super) fn binding(&self, before_input: [u8; 32]) -> Binding {
        Binding {
            before_input,
            before_output: self.hash(),
        }
    }

    pub(super) fn handle(
        self,
        msg: Message<'_>,
        record: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Next, Error> {
        let Message::MechanismToken(token) = msg else {
            return Err(unexpected("MechanismToken", &msg));
        };
        let mut this = self;
        let before_input = this.receive_token(record);
        let binding = this.binding(before_input);
        this.consume(Some(token), &binding, out)
    }

    /// Runs a step on `input` (`None` for the client's opening step after a ServerHello that
    /// chose a mechanism other than the first) and acts on the outcome for this role.
    pub(super) fn consume(
        mut self,
        input: Option<&[u8]>,
        binding: &Binding,
        out: &mut Vec<u8>,
    ) -> Result<Next, Error> {
        let (token, progress) = self.mech.step(input, binding)?;
        match self.role {
            Role::Initiator => self.client_moved(token, progress, input.is_some(), out),
            Role::Responder => self.server_moved(token, progress, out),
        }
    }

    /// Client: sends the token now, or (when the mechanism is done after consuming the server's
    /// last token) holds it until the server's Finished, which precedes it in the transcript.
    pub(super) fn client_moved(
        mut self,
        token: Option<Vec<u8>>,
        progress: Progress,
        consumed_server_token: bool,
        out: &mut Vec<u8>,
    ) -> Result<Next, Error> {
        match progress {
            Progress::Continue | Progress::Last => {
                let token = token.ok_or_else(|| {
                    self.mech
                        .contract("a client step that is not done must return a token")
                })?;
                self.send(&message::mechanism_token(&token), out);
                Ok(Next::Exchange(self))
            }
            Progress::Done => {
                self.require_peer()?;
                let pending = if consumed_server_token {
                    token
                } else {
                    if let Some(token) = token {
                        self.send(&message::mechanism_token(&token), out);
                    }
                    None
                };
                Ok(Next::ServerFinished(ExpectServerFinished {
                    ex: self,
                    pending,
                }))
            }
        }
    }

    /// Server: sends the token, and with its last token the server's Finished.
    fn server_moved(
        mut self,
        token: Option<Vec<u8>>,
        progress: Progress,
        out: &mut Vec<u8>,
    ) -> Result<Next, Error> {
        if progress == Progress::Continue && token.is_none() {
            return Err(self
                .mech
                .contract("a server step that continues must return a token"));
        }
        if progress == Progress::Done {
            self.require_peer()?;
        }
        if let Some(token) = token {
            self.send(&message::mechanism_token(&token), out);
        }
        if progress == Progress::Continue {
            return Ok(Next::Exchange(self));
        }
        let hs = self.handshake_keys()?;
        let h_sfin = self.hash();
        let mac = finished_mac(&hs.server_finished_key(&h_sfin), &h_sfin);
        self.send(&message::finished(&mac), out);
        if progress == Progress::Last {
            return Ok(Next::FinalToken(ExpectFinalToken {
                ex: self,
                hs,
                h_sfin,
            }));
        }
        let (done, master) = self.finish(&hs)?;
        Ok(Next::ClientFinished(ExpectClientFinished { done, master }))
    }

    /// The handshake stage, keyed by handfast's key exchange and the mechanism's handshake
    /// secret.
    fn handshake_keys(&mut self) -> Result<HandshakeKeys, Error> {
        let mut ikm = Zeroizing::new(Vec::with_capacity(96));
        if let Some(shared) = &self.ecdhe {
            ikm.extend_from_slice(&shared[..]);
        }
        if let Some(secret) = self.mech.session.handshake_secret() {
            ikm.extend_from_slice(&secret);
        }
        if ikm.len() < 32 {
            return Err(self.mech.contract(
                "no handshake secret of at least 32 bytes, and no key exchange asked for",
            ));
        }
        Ok(HandshakeKeys::new(&ikm))
    }

    /// The mechanism's result: the peer must be the one authorized, and its final secret
    /// keys the master stage.
    fn finish(self, hs: &HandshakeKeys) -> Result<(Concluded, MasterKeys), Error> {
        let Mech {
            session,
            name,
            peer,
            ..
        } = self.mech;
        let auth = session.finish().map_err(|e| mechanism_error(name, e))?;
        let contract = |reason: &str| Error::Mechanism {
            mechanism: name,
            reason: format!("mechanism broke its contract: {reason}"),
        };
        let peer = peer.ok_or_else(|| contract("the exchange is done but the peer is unknown"))?;
        if peer != auth.peer {
            return Err(contract("finish() names another peer than peer() did"));
        }
        let master = hs.master(auth.secret.as_deref().map_or(&[][..], |s| &s[..]));
        let concluded = Concluded {
            role: self.role,
            peer,
            negotiated: self.negotiated,
            transcript: self.transcript,
        };
        Ok((concluded, master))
    }

    fn require_peer(&self) -> Result<(), Error> {
        match self.mech.peer {
            Some(_) => Ok(()),
            None => Err(self
                .mech
                .contract("the exchange is done but the peer is unknown")),
        }
    }
}

/// The mechanism is finished and its peer authorized; only Finished messages remain.
pub(super) struct Concluded {
    role: Role,
    peer: PeerIdentity,
    negotiated: Negotiated,
    transcript: Transcript,
}

impl Concluded {
    /// The session, keyed by the whole transcript.
    fn establish(self, master: &MasterKeys) -> Box<SecurityContext> {
        let h_done = self.transcript.current();
        let (client_traffic, server_traffic) = master.traffic_secrets(&h_done);
        Box::new(SecurityContext::new(
            self.role,
            self.negotiated,
            self.peer,
            client_traffic,
            server_traffic,
        ))
    }
}

/// Client: the mechanism is done; the server's Finished must come next.
pub(super) struct ExpectServerFinished {
    ex: Exchange,
    /// The client's final token, which follows the server's Finished.
    pending: Option<Vec<u8>>,
}

impl ExpectServerFinished {
    pub(super) fn handle(
        self,
        msg: Message<'_>,
        record: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Next, Error> {
        let Message::Finished(mac) = msg else {
            return Err(unexpected("Finished", &msg));
        };
        let Self { mut ex, pending } = self;
        let h_sfin = ex.hash();
        let hs = ex.handshake_keys()?;
        if !verify_finished(&hs.server_finished_key(&h_sfin), &h_sfin, mac) {
            return Err(PeerMisbehaved::TranscriptMismatch.into());
        }
        ex.receive(record);
        if let Some(token) = pending {
            ex.send(&message::mechanism_token(&token), out);
        }
        let (mut done, master) = ex.finish(&hs)?;
        let h_cfin = done.transcript.current();
        let record =
            message::finished(&finished_mac(&master.client_finished_key(&h_cfin), &h_cfin));
        done.transcript.add(&record);
        out.extend_from_slice(&record);
        Ok(Next::Complete(done.establish(&master)))
    }
}

/// Server: its last token and Finished are out; exactly one more client token completes the
/// mechanism.
pub(super) struct ExpectFinalToken {
    ex: Exchange,
    hs: HandshakeKeys,
    /// The transcript before the server's Finished: the client produced its final token
    /// before that Finished reached it, so this is the token's binding.
    h_sfin: [u8; 32],
}

impl ExpectFinalToken {
    pub(super) fn handle(self, msg: Message<'_>, record: &[u8]) -> Result<Next, Error> {
        let Message::MechanismToken(token) = msg else {
            return Err(unexpected("MechanismToken", &msg));
        };
        let Self { mut ex, hs, h_sfin } = self;
        ex.receive(record);
        let binding = ex.binding(h_sfin);
        let (token, progress) = ex.mech.step(Some(token), &binding)?;
        if progress != Progress::Done || token.is_some() {
            return Err(ex.mech.contract(
                "after its last token the server's mechanism must be done with the client's next \
                 token, and send nothing",
            ));
        }
        ex.require_peer()?;
        let (done, master) = ex.finish(&hs)?;
        Ok(Next::ClientFinished(ExpectClientFinished { done, master }))
    }
}

/// Server: the client's Finished must come next.
pub(super) struct ExpectClientFinished {
    done: Concluded,
    master: MasterKeys,
}

impl ExpectClientFinished {
    pub(super) fn handle(self, msg: Message<'_>, record: &[u8]) -> Result<Next, Error> {
        let Message::Finished(mac) = msg else {
            return Err(unexpected("Finished", &msg));
        };
        let Self { mut done, master } = self;
        let h_cfin = done.transcript.current();
        if !verify_finished(&master.client_finished_key(&h_cfin), &h_cfin, mac) {
            return Err(PeerMisbehaved::TranscriptMismatch.into());
        }
        done.transcript.add(record);
        Ok(Next::Complete(done.establish(&master)))
    }
}
