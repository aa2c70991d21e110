//! The client's hellos: the ClientHello with the first mechanism's opening token, and the
//! check that every choice in the ServerHello follows from it.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::exchange::{Exchange, Mech, Next, mechanism_error, opening};
use super::key_share::KeyShare;
use super::message::{self, ClientHello, Message, ServerHello, VERSION, unexpected};
use crate::config::ClientConfig;
use crate::context::Negotiated;
use crate::error::{Error, PeerMisbehaved};
use crate::key_schedule::Transcript;
use crate::level::ProtectionLevel;
use crate::mechanism::{Entropy, Mechanism, Progress, Role};
use crate::record::{MAX_RECORD_LEN_LIMIT, Params, max_key_update_interval};

/// The ClientHello and the opening token are out; the ServerHello must come next.
pub(super) struct ExpectServerHello {
    config: Arc<ClientConfig>,
    hello: ClientHello,
    /// The first mechanism's session after its opening step.
    first: Mech,
    first_progress: Progress,
    entropy: Entropy,
    transcript: Transcript,
    key_share: Option<KeyShare>,
}

/// Builds the first flight: ClientHello and the preferred mechanism's opening token.
pub(super) fn start(
    config: Arc<ClientConfig>,
    mut entropy: Entropy,
    out: &mut Vec<u8>,
) -> Result<ExpectServerHello, Error> {
    let mut random = [0u8; 32];
    entropy.fill(&mut random);
    let key_share = if config
        .mechanisms
        .iter()
        .any(|m| m.capabilities().key_exchange)
    {
        Some(KeyShare::generate(&mut entropy)?)
    } else {
        None
    };
    let hello = ClientHello {
        version: VERSION,
        random,
        mechanisms: config.mechanisms.iter().map(|m| m.id()).collect(),
        requested_level: config.level,
        suites: config.suites.clone(),
        mode: config.mode,
        max_record_len: config.limits.max_record_len as u32,
        key_update_interval: config.limits.effective_key_update_interval(),
        key_share: key_share.as_ref().map(KeyShare::public),
    };
    let mut transcript = Transcript::new();
    let record = hello.encode();
    transcript.add(&record);
    let first = &config.mechanisms[0];
    let mut mech = start_mechanism(first.as_ref(), &config, &mut entropy)?;
    let (token, first_progress) = mech.step(None, &opening(transcript.current()))?;
    let token = token.ok_or_else(|| Error::Mechanism {
        mechanism: first.name(),
        reason: "mechanism broke its contract: the initiator's first step must return a token"
            .into(),
    })?;
    let token = message::mechanism_token(&token);
    transcript.add(&token);
    out.extend_from_slice(&record);
    out.extend_from_slice(&token);
    Ok(ExpectServerHello {
        config,
        hello,
        first: mech,
        first_progress,
        entropy,
        transcript,
        key_share,
    })
}

impl ExpectServerHello {
    pub(super) fn handle(
        self,
        msg: Message<'_>,
        record: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Next, Error> {
        let Message::ServerHello(sh) = msg else {
            return Err(unexpected("ServerHello", &msg));
        };
        let Self {
            config,
            hello,
            first,
            first_progress,
            mut entropy,
            mut transcript,
            key_share,
        } = self;
        let (mechanism, negotiated) = check(&config, &hello, &sh)?;
        transcript.add(record);
        let ecdhe = match (key_share, sh.key_share) {
            (Some(ours), Some(theirs)) => Some(ours.agree(&theirs)?),
            // `check` refused a share that does not match the mechanism.
            _ => None::<Zeroizing<[u8; 32]>>,
        };
        if mechanism.id() == config.mechanisms[0].id() {
            let ex = Exchange::new(Role::Initiator, first, negotiated, transcript, ecdhe);
            return match first_progress {
                Progress::Done => ex.client_moved(None, Progress::Done, false, out),
                Progress::Continue | Progress::Last => Ok(Next::Exchange(ex)),
            };
        }
        // The server chose a later mechanism: the opening token was for the first one and is
        // ignored; the chosen one starts now.
        let mech = start_mechanism(mechanism.as_ref(), &config, &mut entropy)?;
        let ex = Exchange::new(Role::Initiator, mech, negotiated, transcript, ecdhe);
        let binding = opening(ex.hash());
        ex.consume(None, &binding, out)
    }
}

fn start_mechanism(
    mechanism: &dyn Mechanism,
    config: &ClientConfig,
    entropy: &mut Entropy,
) -> Result<Mech, Error> {
    let session = mechanism
        .start(Role::Initiator, entropy.fork())
        .map_err(|e| mechanism_error(mechanism.name(), e))?;
    Ok(Mech::new(session, mechanism.name(), config.policy.clone()))
}

/// Everything the server chose must follow from what this client offered.
fn check(
    config: &ClientConfig,
    hello: &ClientHello,
    sh: &ServerHello,
) -> Result<(Arc<dyn Mechanism>, Negotiated), Error> {
    let downgrade = |what| Err(PeerMisbehaved::Downgrade(what).into());
    let Some(mechanism) = config.mechanisms.iter().find(|m| m.id() == sh.mechanism) else {
        return downgrade("server chose a mechanism the client did not offer");
    };
    if !hello.suites.contains(&sh.suite) {
        return downgrade("server chose a suite the client did not offer");
    }
    if sh.mode != hello.mode {
        return downgrade("server chose a different mode");
    }
    if sh.negotiated_level != ProtectionLevel::negotiate(hello.requested_level, sh.required_level) {
        return downgrade(
            "negotiated level is not the higher of the requested and required levels",
        );
    }
    let caps = mechanism.capabilities();
    if !caps.supports(sh.negotiated_level, sh.mode) {
        return downgrade(
            "server chose a mechanism that cannot run at the negotiated level and mode",
        );
    }
    if caps.key_exchange != sh.key_share.is_some() {
        return downgrade("the server's key share does not match the chosen mechanism");
    }
    let send_max = sh.max_record_len as usize;
    if send_max == 0 || send_max > MAX_RECORD_LEN_LIMIT {
        return Err(PeerMisbehaved::IllegalParameter("max_record_len").into());
    }
    let interval = sh.key_update_interval;
    if interval > hello.key_update_interval {
        return downgrade("key update interval above the client's proposal");
    }
    let recv_max = config.limits.max_record_len;
    if interval < sh.mode.min_key_update_interval()
        || interval > max_key_update_interval(send_max.max(recv_max))
    {
        return Err(PeerMisbehaved::IllegalParameter("key_update_interval").into());
    }
    let negotiated = Negotiated {
        mechanism: sh.mechanism,
        mechanism_name: mechanism.name(),
        record: Params {
            suite: sh.suite,
            mode: sh.mode,
            level: sh.negotiated_level,
            send_max,
            recv_max,
            key_update_interval: interval,
            max_sequence: config.limits.max_sequence,
            max_bad_records: config.limits.max_bad_records,
        },
    };
    Ok((mechanism.clone(), negotiated))
}
