//! Client states: ExpectServerHello -> ExpectToken -> ExpectServerFinished.

use std::sync::Arc;

use super::message::{self, ClientHello, Message, ServerHello, VERSION};
use super::{Negotiated, conclude, mechanism_error, min_interval};
use crate::config::ClientConfig;
use crate::context::SecurityContext;
use crate::error::{Error, InvalidMessage, PeerMisbehaved, PolicyRejected};
use crate::identity::PeerIdentity;
use crate::key_schedule::{HASH_LEN, Secret, Transcript, finished_mac, verify_finished};
use crate::level::ProtectionLevel;
use crate::mechanism::{Entropy, Mechanism, MechanismSession, Role};
use crate::record::MAX_RECORD_LEN_LIMIT;

// Named like rustls' states: each waits for (expects) one message.
#[allow(clippy::enum_variant_names)]
pub(super) enum State {
    ExpectServerHello(ExpectServerHello),
    ExpectToken(ExpectToken),
    ExpectServerFinished(ExpectServerFinished),
}

// The handshake runs once per session; boxing the in-progress state would buy nothing.
#[allow(clippy::large_enum_variant)]
pub(super) enum Next {
    Continue(State),
    Done(Box<SecurityContext>),
}

pub(super) struct ExpectServerHello {
    config: Arc<ClientConfig>,
    hello: ClientHello,
    session: Box<dyn MechanismSession>,
    entropy: Entropy,
    transcript: Transcript,
}

pub(super) struct ExpectToken {
    config: Arc<ClientConfig>,
    mechanism: Arc<dyn Mechanism>,
    session: Box<dyn MechanismSession>,
    negotiated: Negotiated,
    transcript: Transcript,
}

pub(super) struct ExpectServerFinished {
    negotiated: Negotiated,
    peer: PeerIdentity,
    server_finished_key: Secret,
    client_traffic: Secret,
    server_traffic: Secret,
    h_client_finished: [u8; HASH_LEN],
}

/// Builds the first flight: ClientHello and the preferred mechanism's opening token.
pub(super) fn start(
    config: Arc<ClientConfig>,
    mut entropy: Entropy,
    out: &mut Vec<u8>,
) -> Result<State, Error> {
    let mut random = [0u8; 32];
    entropy.fill(&mut random);
    let first = &config.mechanisms[0];
    let mut session = first
        .start(Role::Initiator, entropy.fork())
        .map_err(|e| mechanism_error(first.name(), e))?;
    let step = session
        .step(None)
        .map_err(|e| mechanism_error(first.name(), e))?;
    let hello = ClientHello {
        version: VERSION,
        random,
        mechanisms: config.mechanisms.iter().map(|m| m.id()).collect(),
        requested_level: config.level,
        suites: config.suites.clone(),
        mode: config.mode,
        max_record_len: config.limits.max_record_len as u32,
        key_update_interval: config.limits.effective_key_update_interval(),
        early_token: step.token.is_some(),
    };
    let mut transcript = Transcript::new();
    send(&hello.encode(), &mut transcript, out);
    if let Some(token) = step.token {
        send(&message::mechanism_token(&token), &mut transcript, out);
    }
    Ok(State::ExpectServerHello(ExpectServerHello {
        config,
        hello,
        session,
        entropy,
        transcript,
    }))
}

impl State {
    pub(super) fn handle(self, record: &[u8], out: &mut Vec<u8>) -> Result<Next, Error> {
        let msg = message::decode(record)?;
        if let Message::Alert(code) = msg {
            return Err(Error::AlertReceived(code));
        }
        match self {
            Self::ExpectServerHello(s) => s.handle(msg, record, out),
            Self::ExpectToken(s) => s.handle(msg, record, out),
            Self::ExpectServerFinished(s) => s.handle(msg),
        }
    }
}

impl ExpectServerHello {
    fn handle(mut self, msg: Message<'_>, record: &[u8], out: &mut Vec<u8>) -> Result<Next, Error> {
        let Message::ServerHello(sh) = msg else {
            return Err(unexpected("ServerHello", &msg));
        };
        let negotiated = self.check(&sh)?;
        self.transcript.add(record);
        let first = &self.config.mechanisms[0];
        let (mechanism, session) = if sh.mechanism == first.id() {
            (first.clone(), self.session)
        } else {
            // The server picked a later mechanism: the opening token was for the first one.
            let mechanism = self
                .config
                .mechanisms
                .iter()
                .find(|m| m.id() == sh.mechanism)
                .cloned()
                .ok_or(PeerMisbehaved::Downgrade(
                    "server chose a mechanism the client did not offer",
                ))?;
            let mut session = mechanism
                .start(Role::Initiator, self.entropy.fork())
                .map_err(|e| mechanism_error(mechanism.name(), e))?;
            let step = session
                .step(None)
                .map_err(|e| mechanism_error(mechanism.name(), e))?;
            if let Some(token) = step.token {
                send(&message::mechanism_token(&token), &mut self.transcript, out);
            }
            (mechanism, session)
        };
        let negotiated = Negotiated {
            mechanism_name: mechanism.name(),
            ..negotiated
        };
        Ok(Next::Continue(State::ExpectToken(ExpectToken {
            config: self.config,
            mechanism,
            session,
            negotiated,
            transcript: self.transcript,
        })))
    }

    /// Everything the server chose must follow from what this client offered.
    fn check(&self, sh: &ServerHello) -> Result<Negotiated, Error> {
        let config = &self.config;
        if !self.hello.mechanisms.contains(&sh.mechanism) {
            return Err(PeerMisbehaved::Downgrade(
                "server chose a mechanism the client did not offer",
            )
            .into());
        }
        if !self.hello.suites.contains(&sh.suite) {
            return Err(
                PeerMisbehaved::Downgrade("server chose a suite the client did not offer").into(),
            );
        }
        if sh.mode != self.hello.mode {
            return Err(PeerMisbehaved::Downgrade("server chose a different mode").into());
        }
        if sh.negotiated_level
            != ProtectionLevel::negotiate(self.hello.requested_level, sh.required_level)
        {
            return Err(PeerMisbehaved::Downgrade(
                "negotiated level is not the higher of the requested and required levels",
            )
            .into());
        }
        if sh.negotiated_level < config.policy.minimum {
            return Err(PolicyRejected::LevelBelowMinimum {
                offered: sh.negotiated_level,
                required: config.policy.minimum,
            }
            .into());
        }
        let interval = sh.key_update_interval;
        if interval > self.hello.key_update_interval || interval < min_interval(sh.mode) {
            return Err(PolicyRejected::Limits("key update interval").into());
        }
        let send_max = sh.max_record_len as usize;
        if send_max == 0 || send_max > MAX_RECORD_LEN_LIMIT {
            return Err(PolicyRejected::Limits("maximum record length").into());
        }
        Ok(Negotiated {
            mechanism: sh.mechanism,
            mechanism_name: "",
            level: sh.negotiated_level,
            suite: sh.suite,
            mode: sh.mode,
            send_max,
            recv_max: config.limits.max_record_len,
            key_update_interval: interval,
            max_sequence: config.limits.max_sequence,
            max_bad_records: config.limits.max_bad_records,
        })
    }
}

impl ExpectToken {
    fn handle(mut self, msg: Message<'_>, record: &[u8], out: &mut Vec<u8>) -> Result<Next, Error> {
        let Message::MechanismToken(token) = msg else {
            return Err(unexpected("MechanismToken", &msg));
        };
        self.transcript.add(record);
        let name = self.mechanism.name();
        let step = self
            .session
            .step(Some(token))
            .map_err(|e| mechanism_error(name, e))?;
        if let Some(token) = step.token {
            send(&message::mechanism_token(&token), &mut self.transcript, out);
        }
        if !step.done {
            return Ok(Next::Continue(State::ExpectToken(self)));
        }
        let done = conclude(self.session, name, &self.config.policy, &self.transcript)?;
        let mac = finished_mac(&done.client_finished_key, &done.h_mech);
        send(&message::finished(&mac), &mut self.transcript, out);
        let h_client_finished = self.transcript.current();
        let (client_traffic, server_traffic) = done.schedule.traffic_secrets(&h_client_finished);
        Ok(Next::Continue(State::ExpectServerFinished(
            ExpectServerFinished {
                negotiated: self.negotiated,
                peer: done.peer,
                server_finished_key: done.server_finished_key,
                client_traffic,
                server_traffic,
                h_client_finished,
            },
        )))
    }
}

impl ExpectServerFinished {
    fn handle(self, msg: Message<'_>) -> Result<Next, Error> {
        let Message::Finished(mac) = msg else {
            return Err(unexpected("Finished", &msg));
        };
        if !verify_finished(&self.server_finished_key, &self.h_client_finished, mac) {
            return Err(PeerMisbehaved::TranscriptMismatch.into());
        }
        Ok(Next::Done(Box::new(SecurityContext::new(
            Role::Initiator,
            self.negotiated,
            self.peer,
            self.client_traffic,
            self.server_traffic,
        ))))
    }
}

fn send(record: &[u8], transcript: &mut Transcript, out: &mut Vec<u8>) {
    transcript.add(record);
    out.extend_from_slice(record);
}

pub(super) fn unexpected(expected: &'static str, got: &Message<'_>) -> Error {
    InvalidMessage::Unexpected {
        expected,
        got: got.name(),
    }
    .into()
}
