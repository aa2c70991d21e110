//! The server's hellos: the choice of mechanism, suite, level, limits and key share, and the
//! ServerHello that waits for the client's opening token.

use std::sync::Arc;

use super::exchange::{Exchange, Mech, Next, mechanism_error};
use super::key_share::KeyShare;
use super::message::{ClientHello, Message, ServerHello, VERSION, unexpected};
use crate::config::ServerConfig;
use crate::context::Negotiated;
use crate::error::{Error, PeerMisbehaved, PolicyRejected};
use crate::key_schedule::Transcript;
use crate::level::ProtectionLevel;
use crate::mechanism::{Entropy, Mechanism, Role};
use crate::record::{MAX_RECORD_LEN_LIMIT, Mode, Params, max_key_update_interval};

/// Waiting for the ClientHello.
pub(super) struct ExpectClientHello {
    config: Arc<ServerConfig>,
    entropy: Entropy,
}

pub(super) fn start(config: Arc<ServerConfig>, entropy: Entropy) -> ExpectClientHello {
    ExpectClientHello { config, entropy }
}

impl ExpectClientHello {
    pub(super) fn handle(
        mut self,
        msg: Message<'_>,
        record: &[u8],
    ) -> Result<ExpectFirstToken, Error> {
        let Message::ClientHello(ch) = msg else {
            return Err(unexpected("ClientHello", &msg));
        };
        let mut transcript = Transcript::new();
        transcript.add(record);
        let (mechanism, negotiated) = choose(&self.config, &ch)?;
        let mut random = [0u8; 32];
        self.entropy.fill(&mut random);
        let (key_share, ecdhe) = if mechanism.capabilities().key_exchange {
            let ours = KeyShare::generate(&mut self.entropy)?;
            let public = ours.public();
            // `choose` picks a key-exchange mechanism only when the client sent a share.
            let theirs = ch
                .key_share
                .ok_or(PeerMisbehaved::IllegalParameter("key share"))?;
            (Some(public), Some(ours.agree(&theirs)?))
        } else {
            (None, None)
        };
        let p = &negotiated.record;
        let server_hello = ServerHello {
            version: VERSION,
            random,
            mechanism: mechanism.id(),
            required_level: self.config.policy.minimum,
            negotiated_level: p.level,
            suite: p.suite,
            mode: p.mode,
            max_record_len: self.config.limits.max_record_len as u32,
            key_update_interval: p.key_update_interval,
            key_share,
        }
        .encode();
        let session = mechanism
            .start(Role::Responder, self.entropy.fork())
            .map_err(|e| mechanism_error(mechanism.name(), e))?;
        let mech = Mech::new(session, mechanism.name(), self.config.policy.clone());
        Ok(ExpectFirstToken {
            server_hello,
            for_chosen: ch.mechanisms[0] == mechanism.id(),
            ex: Exchange::new(Role::Responder, mech, negotiated, transcript, ecdhe),
        })
    }
}

/// The ClientHello arrived; its opening token follows it. The transcript orders the messages
/// as the client sent them (ClientHello, token, ServerHello), so the ServerHello waits.
pub(super) struct ExpectFirstToken {
    /// The ServerHello record, not yet sent or hashed.
    server_hello: Vec<u8>,
    /// The opening token is for the chosen mechanism (otherwise it is hashed and ignored).
    for_chosen: bool,
    ex: Exchange,
}

impl ExpectFirstToken {
    pub(super) fn mode(&self) -> Mode {
        self.ex.mode()
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
        let Self {
            server_hello,
            for_chosen,
            mut ex,
        } = self;
        let before_input = ex.receive_token(record);
        ex.send(&server_hello, out);
        if !for_chosen {
            // The client starts the chosen mechanism after the ServerHello.
            return Ok(Next::Exchange(ex));
        }
        let binding = ex.binding(before_input);
        ex.consume(Some(token), &binding, out)
    }
}

/// The server's choices, from the ClientHello and this server's configuration.
fn choose(
    config: &ServerConfig,
    ch: &ClientHello,
) -> Result<(Arc<dyn Mechanism>, Negotiated), Error> {
    if !config.modes.contains(&ch.mode) {
        return Err(PolicyRejected::ModeNotEnabled(ch.mode.as_str()).into());
    }
    let send_max = ch.max_record_len as usize;
    if send_max == 0 || send_max > MAX_RECORD_LEN_LIMIT {
        return Err(PeerMisbehaved::IllegalParameter("max_record_len").into());
    }
    let proposed = ch.key_update_interval;
    if proposed < ch.mode.min_key_update_interval() || proposed > max_key_update_interval(1) {
        return Err(PeerMisbehaved::IllegalParameter("key_update_interval").into());
    }
    let suite = ch
        .suites
        .iter()
        .find(|s| config.suites.contains(s))
        .copied()
        .ok_or(PolicyRejected::NoCommonSuite)?;
    let level = ProtectionLevel::negotiate(ch.requested_level, config.policy.minimum);
    let usable = |m: &&Arc<dyn Mechanism>| {
        let caps = m.capabilities();
        caps.supports(level, ch.mode) && (!caps.key_exchange || ch.key_share.is_some())
    };
    let mechanism = ch
        .mechanisms
        .iter()
        .find_map(|id| {
            config
                .mechanisms
                .iter()
                .filter(usable)
                .find(|m| m.id() == *id)
        })
        .cloned()
        .ok_or(PolicyRejected::NoCommonMechanism)?;
    let recv_max = config.limits.max_record_len;
    let interval = proposed
        .min(config.limits.effective_key_update_interval())
        .min(max_key_update_interval(send_max.max(recv_max)));
    let negotiated = Negotiated {
        mechanism: mechanism.id(),
        mechanism_name: mechanism.name(),
        record: Params {
            suite,
            mode: ch.mode,
            level,
            send_max,
            recv_max,
            key_update_interval: interval,
            max_sequence: config.limits.max_sequence,
            max_bad_records: config.limits.max_bad_records,
        },
    };
    Ok((mechanism, negotiated))
}
