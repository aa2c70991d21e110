//! Handshake outcomes: levels, trust, authorization, negotiation, deadlines.

use std::sync::Arc;

use handfast::{
    AlertCode, ClientConfig, Error, Mechanism, MechanismId, Mode, PeerMisbehaved, Policy,
    PolicyRejected, ProtectionLevel, ServerConfig,
};
use handfast_noise::{NoiseMechanism, TrustSet};

use crate::pair::{Dir, configs, handshake, handshake_with, keys, noise_pair};

use ProtectionLevel::{Integrity, Privacy};

#[test]
fn levels_negotiate_to_the_higher_of_request_and_requirement() {
    for mode in [Mode::Stream, Mode::Datagram] {
        for (asked, required, expected) in [
            (Integrity, Integrity, Integrity),
            (Integrity, Privacy, Privacy),
            (Privacy, Integrity, Privacy),
            (Privacy, Privacy, Privacy),
        ] {
            let (c, s) = configs(asked, required, mode);
            let (c, s) = handshake(c, s).both();
            assert_eq!(c.level(), expected, "{asked} vs {required} ({mode:?})");
            assert_eq!(s.level(), expected);
            assert_eq!(c.mode(), mode);
            assert_eq!(c.peer().name(), "server");
            assert_eq!(s.peer().name(), "client");
            assert_eq!(
                c.mechanism(),
                (MechanismId::NOISE_XX_25519, "noise-xx-25519")
            );
        }
    }
}

#[test]
fn defaults_are_privacy() {
    let k = keys();
    let (cm, sm) = noise_pair(&k.client, &k.server);
    let (c, s) = handshake(ClientConfig::new(cm), ServerConfig::new(sm)).both();
    assert_eq!(c.level(), Privacy);
    assert_eq!(s.level(), Privacy);
}

#[test]
fn a_request_below_the_clients_own_minimum_is_refused_at_configuration() {
    // A client whose own minimum is privacy but which (mis)configured a lower request is
    // rejected at configuration time: a session can never start below its own minimum.
    let (mut c, _) = configs(Integrity, Integrity, Mode::Stream);
    c.policy.minimum = Privacy;
    let now = std::time::Instant::now();
    let err = handfast::Handshake::client(Arc::new(c), [0; 32], now).unwrap_err();
    assert!(matches!(err, Error::ApiMisuse(_)), "{err}");
}

#[test]
fn untrusted_client_is_refused_by_server() {
    let k = keys();
    let client = NoiseMechanism::new(
        k.stranger.clone(),
        TrustSet::from([k.server.public_key("")]),
    );
    let (_, sm) = noise_pair(&k.client, &k.server);
    let out = handshake(ClientConfig::new(Arc::new(client)), ServerConfig::new(sm));
    match &out.server {
        Err(Error::PolicyRejected(PolicyRejected::PeerNotTrusted(why))) => {
            assert!(why.contains("unknown key SHA256:"), "{why}");
        }
        other => panic!("server: {other:?}"),
    }
    assert_eq!(
        out.client.err(),
        Some(Error::AlertReceived(AlertCode::AccessDenied))
    );
}

#[test]
fn unpinned_server_is_refused_before_client_reveals_itself() {
    let k = keys();
    let (cm, _) = noise_pair(&k.client, &k.server);
    let server = NoiseMechanism::new(
        k.stranger.clone(),
        TrustSet::from([k.client.public_key("")]),
    );
    let out = handshake(ClientConfig::new(cm), ServerConfig::new(Arc::new(server)));
    assert!(
        matches!(
            &out.client,
            Err(Error::PolicyRejected(PolicyRejected::PeerNotTrusted(_)))
        ),
        "{:?}",
        out.client.as_ref().err()
    );
    assert!(out.server.is_err());
    // The client's second flight is an alert only: no Noise message carrying its identity.
    let client_flights: Vec<_> = out
        .flights
        .iter()
        .filter(|(d, _)| *d == Dir::ToServer)
        .collect();
    assert_eq!(client_flights.len(), 2);
    assert_eq!(
        client_flights[1].1,
        vec![0x15, 0, 0, 1, 2],
        "only an access-denied alert"
    );
}

#[test]
fn authorization_callback_sees_identity_and_can_refuse() {
    let (c, mut s) = configs(Privacy, Privacy, Mode::Stream);
    s.policy = Policy::default().authorize_with(|peer| {
        if peer.name() == "client" {
            Err("client is suspended".into())
        } else {
            Ok(())
        }
    });
    let out = handshake(c, s);
    match out.server {
        Err(Error::PolicyRejected(PolicyRejected::PeerNotTrusted(why))) => {
            assert!(
                why.contains("client is suspended") && why.contains("SHA256:"),
                "{why}"
            );
        }
        other => panic!("server: {:?}", other.err()),
    }
    // The client learns only the coarse reason.
    assert_eq!(
        out.client.err(),
        Some(Error::AlertReceived(AlertCode::AccessDenied))
    );

    let (mut c, s) = configs(Privacy, Privacy, Mode::Stream);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    c.policy = Policy::default().authorize_with(move |peer| {
        record.lock().unwrap().push(peer.name().to_owned());
        Ok(())
    });
    assert!(handshake(c, s).established());
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["server".to_owned()],
        "the client's callback ran once, on the server"
    );
}

#[test]
fn alerts_are_coarse() {
    let (c, mut s) = configs(Privacy, Privacy, Mode::Stream);
    s.policy = Policy::default().authorize_with(|_| Err("secret internal reason 42".into()));
    let out = handshake(c, s);
    let to_client: Vec<u8> = out
        .flights
        .iter()
        .filter(|(d, _)| *d == Dir::ToClient)
        .flat_map(|(_, b)| b.clone())
        .collect();
    assert!(!String::from_utf8_lossy(&to_client).contains("secret internal"));
    assert!(to_client.ends_with(&[0x15, 0, 0, 1, 2]));
}

#[test]
fn no_common_suite_or_mode_is_refused() {
    let (mut c, mut s) = configs(Privacy, Privacy, Mode::Stream);
    c.suites = vec![handfast::CipherSuite::ChaCha20Poly1305];
    s.suites = vec![handfast::CipherSuite::Aes256Gcm];
    let out = handshake(c, s);
    assert_eq!(out.server.err(), Some(PolicyRejected::NoCommonSuite.into()));
    assert_eq!(
        out.client.err(),
        Some(Error::AlertReceived(AlertCode::InsufficientSecurity))
    );

    let (c, mut s) = configs(Privacy, Privacy, Mode::Datagram);
    s.modes = vec![Mode::Stream];
    let out = handshake(c, s);
    assert_eq!(
        out.server.err(),
        Some(PolicyRejected::ModeNotEnabled("datagram").into())
    );
}

#[test]
fn both_suites_work() {
    for suite in [
        handfast::CipherSuite::Aes256Gcm,
        handfast::CipherSuite::ChaCha20Poly1305,
    ] {
        let (mut c, s) = configs(Privacy, Privacy, Mode::Stream);
        c.suites = vec![suite];
        let (mut c, mut s) = handshake(c, s).both();
        assert_eq!(c.suite(), suite);
        let r = c.seal(Privacy, b"x").unwrap();
        assert_eq!(s.open(&r).unwrap(), Some((Privacy, b"x".to_vec())));
    }
}

/// A second mechanism number for the same Noise exchange, to exercise the fallback path.
#[derive(Debug)]
pub(crate) struct Renumbered(pub(crate) Arc<dyn Mechanism>, pub(crate) MechanismId);

impl Mechanism for Renumbered {
    fn id(&self) -> MechanismId {
        self.1
    }
    fn name(&self) -> &'static str {
        "renumbered"
    }
    fn capabilities(&self) -> handfast::Capabilities {
        self.0.capabilities()
    }
    fn start(
        &self,
        role: handfast::Role,
        entropy: handfast::Entropy,
    ) -> Result<Box<dyn handfast::MechanismSession>, handfast::MechanismError> {
        self.0.start(role, entropy)
    }
}

#[test]
fn server_may_choose_a_later_mechanism() {
    let k = keys();
    let (cm, sm) = noise_pair(&k.client, &k.server);
    let unknown = Arc::new(Renumbered(cm.clone(), MechanismId(0x7777)));
    let mut c = ClientConfig::new(unknown);
    c.mechanisms.push(cm);
    let (c, s) = handshake(c, ServerConfig::new(sm)).both();
    assert_eq!(c.mechanism().0, MechanismId::NOISE_XX_25519);
    assert_eq!(s.mechanism().0, MechanismId::NOISE_XX_25519);

    let k = keys();
    let (cm, sm) = noise_pair(&k.client, &k.server);
    let c = ClientConfig::new(Arc::new(Renumbered(cm, MechanismId(0x7777))));
    let out = handshake(c, ServerConfig::new(sm));
    assert_eq!(
        out.server.err(),
        Some(PolicyRejected::NoCommonMechanism.into())
    );
}

#[test]
fn no_context_before_finished() {
    // Stop delivering after the client's second flight: the server has verified the client's
    // Finished but the client has not seen the server's, so the client has no context.
    let (c, s) = configs(Privacy, Privacy, Mode::Stream);
    let out = handshake_with(
        c,
        s,
        Some(Box::new(|dir, n, bytes: &mut Vec<u8>| {
            if dir == Dir::ToClient && n == 3 {
                bytes.clear();
            }
        })),
    );
    assert!(out.server.is_ok());
    assert_eq!(out.client.err(), Some(Error::HandshakeTimeout));
}

#[test]
fn handshake_deadline() {
    use std::time::{Duration, Instant};
    let (c, _) = configs(Privacy, Privacy, Mode::Stream);
    let t0 = Instant::now();
    let mut hs = handfast::Handshake::client(Arc::new(c), [1; 32], t0).unwrap();
    assert_eq!(hs.deadline(), t0 + Duration::from_secs(10));
    assert!(hs.handle_timeout(t0 + Duration::from_secs(9)).is_ok());
    let _ = hs.take_output();
    assert_eq!(
        hs.handle_timeout(t0 + Duration::from_secs(10)),
        Err(Error::HandshakeTimeout)
    );
    assert_eq!(
        hs.take_output(),
        vec![0x15, 0, 0, 1, 6],
        "timeout alert queued"
    );
    // Sticky.
    assert_eq!(hs.handle_input(&[0x16]), Err(Error::HandshakeTimeout));
}

#[test]
fn downgraded_request_is_detected_by_client() {
    // A man in the middle rewrites the client's requested level to integrity; the server
    // (minimum integrity) agrees, but the client sees the result does not follow from its hello.
    let (c, s) = configs(Privacy, Integrity, Mode::Stream);
    let out = handshake_with(c, s, Some(Box::new(rewrite_requested_level)));
    assert!(
        matches!(
            out.client,
            Err(Error::PeerMisbehaved(PeerMisbehaved::Downgrade(_)))
        ),
        "{:?}",
        out.client.err()
    );
    assert!(out.server.is_err());
}

/// Rewrites ClientHello's requested level (privacy -> integrity) in the first flight.
#[allow(clippy::ptr_arg)] // Matches the `Tamper` hook signature.
pub(crate) fn rewrite_requested_level(dir: Dir, n: usize, bytes: &mut Vec<u8>) {
    if dir == Dir::ToServer && n == 0 {
        let at = requested_level_offset(bytes);
        assert_eq!(bytes[at], 2);
        bytes[at] = 1;
    }
}

/// Offset of the requested-level byte in a first flight.
pub(crate) fn requested_level_offset(flight: &[u8]) -> usize {
    // record header 4, hs type 1, version 2, random 32, mechanism count 1 + 2 each.
    let n_mech = usize::from(flight[4 + 1 + 2 + 32]);
    4 + 1 + 2 + 32 + 1 + 2 * n_mech
}
