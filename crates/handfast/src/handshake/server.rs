//! Server states: ExpectClientHello -> ExpectToken -> ExpectClientFinished.

use std::sync::Arc;

use super::client::unexpected;
use super::message::{self, ClientHello, Message, ServerHello, VERSION};
use super::{Negotiated, conclude, mechanism_error, min_interval};
use crate::config::{Mode, ServerConfig};
use crate::context::SecurityContext;
use crate::error::{Error, PolicyRejected};
use crate::identity::PeerIdentity;
use crate::key_schedule::{
    HASH_LEN, KeySchedule, Secret, Transcript, finished_mac, verify_finished,
};
use crate::level::ProtectionLevel;
use crate::mechanism::{Entropy, Mechanism, MechanismSession, Role};
use crate::record::MAX_RECORD_LEN_LIMIT;

// Named like rustls' states: each waits for (expects) one message.
#[allow(clippy::enum_variant_names)]
pub(super) enum State {
    ExpectClientHello(ExpectClientHello),
    ExpectEarlyToken(ExpectEarlyToken),
    ExpectToken(ExpectToken),
    ExpectClientFinished(ExpectClientFinished),
}

// The handshake runs once per session; boxing the in-progress state would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Next {
    Continue(State),
    Done(Box<SecurityContext>),
}

pub(super) struct ExpectClientHello {
    config: Arc<ServerConfig>,
    entropy: Entropy,
}

/// The ClientHello announced an opening token. The transcript orders messages as the client
/// sent them (ClientHello, token, ServerHello), so the ServerHello waits for the token.
pub(super) struct ExpectEarlyToken {
    /// The ServerHello record, not yet sent or hashed.
    server_hello: Vec<u8>,
    /// The token is for the chosen mechanism (otherwise it is hashed and ignored).
    for_chosen: bool,
    next: ExpectToken,
}

pub(super) struct ExpectToken {
    config: Arc<ServerConfig>,
    mechanism: Arc<dyn Mechanism>,
    session: Box<dyn MechanismSession>,
    negotiated: Negotiated,
    transcript: Transcript,
}

pub(super) struct ExpectClientFinished {
    negotiated: Negotiated,
    peer: PeerIdentity,
    schedule: KeySchedule,
    client_finished_key: Secret,
    server_finished_key: Secret,
    h_mech: [u8; HASH_LEN],
    transcript: Transcript,
}

pub(super) fn start(config: Arc<ServerConfig>, entropy: Entropy) -> State {
    State::ExpectClientHello(ExpectClientHello { config, entropy })
}

impl State {
    pub(super) fn handle(self, record: &[u8], out: &mut Vec<u8>) -> Result<Next, Error> {
        let msg = message::decode(record)?;
        if let Message::Alert(code) = msg {
            return Err(Error::AlertReceived(code));
        }
        match self {
            Self::ExpectClientHello(s) => s.handle(msg, record, out),
            Self::ExpectEarlyToken(s) => s.handle(msg, record, out),
            Self::ExpectToken(s) => s.handle(msg, record, out),
            Self::ExpectClientFinished(s) => s.handle(msg, record, out),
        }
    }
}

impl ExpectClientHello {
    fn handle(mut self, msg: Message<'_>, record: &[u8], out: &mut Vec<u8>) -> Result<Next, Error> {
        let Message::ClientHello(ch) = msg else {
            return Err(unexpected("ClientHello", &msg));
        };
        let mut transcript = Transcript::new();
        transcript.add(record);
        let (mechanism, negotiated) = self.choose(&ch)?;
        let mut random = [0u8; 32];
        self.entropy.fill(&mut random);
        let hello = ServerHello {
            version: VERSION,
            random,
            mechanism: negotiated.mechanism,
            required_level: self.config.policy.minimum,
            negotiated_level: negotiated.level,
            suite: negotiated.suite,
            mode: negotiated.mode,
            max_record_len: self.config.limits.max_record_len as u32,
            key_update_interval: negotiated.key_update_interval,
        };
        let server_hello = hello.encode();
        let session = mechanism
            .start(Role::Responder, self.entropy.fork())
            .map_err(|e| mechanism_error(mechanism.name(), e))?;
        let for_chosen = ch.mechanisms[0] == negotiated.mechanism;
        let mut next = ExpectToken {
            config: self.config,
            mechanism,
            session,
            negotiated,
            transcript,
        };
        if ch.early_token {
            return Ok(Next::Continue(State::ExpectEarlyToken(ExpectEarlyToken {
                server_hello,
                for_chosen,
                next,
            })));
        }
        next.send(&server_hello, out);
        Ok(Next::Continue(State::ExpectToken(next)))
    }

    fn choose(&self, ch: &ClientHello) -> Result<(Arc<dyn Mechanism>, Negotiated), Error> {
        let config = &self.config;
        if !config.modes.contains(&ch.mode) {
            return Err(PolicyRejected::ModeNotEnabled(ch.mode.as_str()).into());
        }
        let supports_mode = |m: &&Arc<dyn Mechanism>| {
            let caps = m.capabilities();
            match ch.mode {
                Mode::Stream => caps.stream,
                Mode::Datagram => caps.datagram,
            }
        };
        let mechanism = ch
            .mechanisms
            .iter()
            .find_map(|id| {
                config
                    .mechanisms
                    .iter()
                    .filter(supports_mode)
                    .find(|m| m.id() == *id)
            })
            .cloned()
            .ok_or(PolicyRejected::NoCommonMechanism)?;
        let suite = ch
            .suites
            .iter()
            .find(|s| config.suites.contains(s))
            .copied()
            .ok_or(PolicyRejected::NoCommonSuite)?;
        let level = ProtectionLevel::negotiate(ch.requested_level, config.policy.minimum);
        let send_max = ch.max_record_len as usize;
        if send_max == 0 || send_max > MAX_RECORD_LEN_LIMIT {
            return Err(PolicyRejected::Limits("maximum record length").into());
        }
        if ch.key_update_interval < min_interval(ch.mode) {
            return Err(PolicyRejected::Limits("key update interval").into());
        }
        let interval = ch
            .key_update_interval
            .min(config.limits.effective_key_update_interval());
        Ok((
            mechanism.clone(),
            Negotiated {
                mechanism: mechanism.id(),
                mechanism_name: mechanism.name(),
                level,
                suite,
                mode: ch.mode,
                send_max,
                recv_max: config.limits.max_record_len,
                key_update_interval: interval,
                max_sequence: config.limits.max_sequence,
                max_bad_records: config.limits.max_bad_records,
            },
        ))
    }
}

impl ExpectEarlyToken {
    fn handle(mut self, msg: Message<'_>, record: &[u8], out: &mut Vec<u8>) -> Result<Next, Error> {
        let Message::MechanismToken(token) = msg else {
            return Err(unexpected("MechanismToken", &msg));
        };
        self.next.transcript.add(record);
        self.next.send(&self.server_hello, out);
        if self.for_chosen {
            self.next.consume(token, out)
        } else {
            // The opening token was for a mechanism the server did not choose; the client
            // starts the chosen one after the ServerHello.
            Ok(Next::Continue(State::ExpectToken(self.next)))
        }
    }
}

impl ExpectToken {
    fn handle(mut self, msg: Message<'_>, record: &[u8], out: &mut Vec<u8>) -> Result<Next, Error> {
        let Message::MechanismToken(token) = msg else {
            return Err(unexpected("MechanismToken", &msg));
        };
        self.transcript.add(record);
        self.consume(token, out)
    }

    fn send(&mut self, record: &[u8], out: &mut Vec<u8>) {
        self.transcript.add(record);
        out.extend_from_slice(record);
    }

    fn consume(mut self, token: &[u8], out: &mut Vec<u8>) -> Result<Next, Error> {
        let name = self.mechanism.name();
        let step = self
            .session
            .step(Some(token))
            .map_err(|e| mechanism_error(name, e))?;
        if let Some(token) = step.token {
            self.send(&message::mechanism_token(&token), out);
        }
        if !step.done {
            return Ok(Next::Continue(State::ExpectToken(self)));
        }
        let done = conclude(self.session, name, &self.config.policy, &self.transcript)?;
        Ok(Next::Continue(State::ExpectClientFinished(
            ExpectClientFinished {
                negotiated: self.negotiated,
                peer: done.peer,
                schedule: done.schedule,
                client_finished_key: done.client_finished_key,
                server_finished_key: done.server_finished_key,
                h_mech: done.h_mech,
                transcript: self.transcript,
            },
        )))
    }
}

impl ExpectClientFinished {
    fn handle(mut self, msg: Message<'_>, record: &[u8], out: &mut Vec<u8>) -> Result<Next, Error> {
        let Message::Finished(mac) = msg else {
            return Err(unexpected("Finished", &msg));
        };
        if !verify_finished(&self.client_finished_key, &self.h_mech, mac) {
            return Err(crate::error::PeerMisbehaved::TranscriptMismatch.into());
        }
        self.transcript.add(record);
        let h_client_finished = self.transcript.current();
        out.extend_from_slice(&message::finished(&finished_mac(
            &self.server_finished_key,
            &h_client_finished,
        )));
        let (client_traffic, server_traffic) = self.schedule.traffic_secrets(&h_client_finished);
        Ok(Next::Done(Box::new(SecurityContext::new(
            Role::Responder,
            self.negotiated,
            self.peer,
            client_traffic,
            server_traffic,
        ))))
    }
}
