//! Handshake outcomes: levels, one round trip, trust, authorization, negotiation, deadlines.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use handfast::mechanism::{
    Capabilities, Entropy, Mechanism, MechanismError, MechanismSession, Role,
};
use handfast::{
    AlertCode, CipherSuite, ClientConfig, Error, Handshake, InvalidMessage, Limits, MechanismId,
    Mode, Policy, PolicyRejected, ProtectionLevel, ServerConfig,
};

use crate::Fixture;
use crate::pair::{Dir, configs, handshake, handshake_with};

use ProtectionLevel::{Integrity, Privacy};

/// The level is the higher of the client's request and the server's requirement, in both modes.
pub fn levels_negotiate_to_the_higher_of_request_and_requirement(f: &dyn Fixture) {
    let (server_name, client_name) = f.names();
    for mode in [Mode::Stream, Mode::Datagram] {
        for (asked, required, expected) in [
            (Integrity, Integrity, Integrity),
            (Integrity, Privacy, Privacy),
            (Privacy, Integrity, Privacy),
            (Privacy, Privacy, Privacy),
        ] {
            let (c, s) = configs(f, asked, required, mode);
            let (c, s) = handshake(c, s).both();
            assert_eq!(c.level(), expected, "{asked} vs {required} ({mode:?})");
            assert_eq!(s.level(), expected);
            assert_eq!(c.mode(), mode);
            assert_eq!(c.peer().name(), server_name);
            assert_eq!(s.peer().name(), client_name);
            assert_eq!(c.mechanism(), s.mechanism());
        }
    }
}

/// With no level chosen, both sides run at privacy.
pub fn defaults_are_privacy(f: &dyn Fixture) {
    let (cm, sm) = f.pair();
    let (c, s) = handshake(ClientConfig::new(cm), ServerConfig::new(sm)).both();
    assert_eq!(c.level(), Privacy);
    assert_eq!(s.level(), Privacy);
}

/// The client can seal after the flights the fixture states (two for a one-round-trip
/// mechanism), and its first record, sent with its last handshake flight, is delivered after
/// the next (three). Adding a flight fails this test.
pub fn flights_until_seal_and_delivery(f: &dyn Fixture) {
    let expected = f.flights();
    for mode in [Mode::Stream, Mode::Datagram] {
        let (c, s) = configs(f, Privacy, Privacy, mode);
        let now = Instant::now();
        let mut client = Handshake::client(Arc::new(c), [1; 32], now).unwrap();
        let mut server = Handshake::server(Arc::new(s), [2; 32], now).unwrap();
        let mut flights = 0;
        // Client and server take turns until the client can seal.
        while !client.is_complete() {
            let out = client.take_output();
            assert!(!out.is_empty(), "client waits with nothing to send");
            flights += 1;
            server.handle_input(&out).unwrap();
            assert!(!server.is_complete(), "server complete before the client");
            let out = server.take_output();
            assert!(!out.is_empty(), "server waits with nothing to send");
            flights += 1;
            client.handle_input(&out).unwrap();
            assert!(flights < 20, "handshake does not end");
        }
        let last = client.take_output();
        let mut ctx = client.into_context().unwrap();
        assert_eq!(
            flights, expected.client_seals_after,
            "{mode:?}: flights before the client can seal"
        );
        let data = ctx.seal(Privacy, b"first request").unwrap();
        flights += 1;
        let mut delivered = None;
        if mode == Mode::Stream {
            let mut wire = last.clone();
            wire.extend_from_slice(&data);
            let used = server.handle_input(&wire).unwrap();
            assert!(
                server.is_complete(),
                "{mode:?}: the client's last flight completes the server"
            );
            let mut s = server.into_context().unwrap();
            delivered = s.open(&wire[used..]).unwrap();
        } else if !last.is_empty() {
            // One datagram for the handshake flight, one for the record.
            server.handle_input(&last).unwrap();
            assert!(server.is_complete());
            delivered = server.into_context().unwrap().open(&data).unwrap();
        }
        assert_eq!(
            flights, expected.server_delivers_after,
            "{mode:?}: flights before delivery"
        );
        assert_eq!(delivered, Some((Privacy, b"first request".to_vec())));
    }
}

/// Data that travels with the client's last flight is released only after the client's
/// Finished verifies: with any bit of that Finished altered, the server never completes and
/// never opens the data.
pub fn early_data_waits_for_the_clients_finished(f: &dyn Fixture) {
    let (c, s) = configs(f, Privacy, Privacy, Mode::Stream);
    let now = Instant::now();
    let (c, s) = (Arc::new(c), Arc::new(s));
    // Find the client's last flight and the length of its Finished (the last record).
    let (last, data) = {
        let (mut client, mut server) = (
            Handshake::client(c.clone(), [5; 32], now).unwrap(),
            Handshake::server(s.clone(), [6; 32], now).unwrap(),
        );
        while !client.is_complete() {
            server.handle_input(&client.take_output()).unwrap();
            client.handle_input(&server.take_output()).unwrap();
        }
        let last = client.take_output();
        let data = client
            .into_context()
            .unwrap()
            .seal(Privacy, b"early")
            .unwrap();
        (last, data)
    };
    let finished_at = last.len() - 37; // 0x16 u24 0x04 + 32-byte MAC
    assert_eq!(&last[finished_at..finished_at + 5], &[0x16, 0, 0, 33, 4]);
    for bit in (finished_at + 5) * 8..last.len() * 8 {
        let (mut client, mut server) = (
            Handshake::client(c.clone(), [5; 32], now).unwrap(),
            Handshake::server(s.clone(), [6; 32], now).unwrap(),
        );
        while !client.is_complete() {
            server.handle_input(&client.take_output()).unwrap();
            client.handle_input(&server.take_output()).unwrap();
        }
        let mut wire = client.take_output();
        crate::pair::flip(&mut wire, bit);
        wire.extend_from_slice(&data);
        assert!(server.handle_input(&wire).is_err(), "bit {bit}");
        assert!(!server.is_complete());
        assert_eq!(
            server.into_context().unwrap_err(),
            handfast::PeerMisbehaved::TranscriptMismatch.into()
        );
    }
}

/// Without the peer's Finished, neither side gets a context.
pub fn no_context_without_the_peers_finished(f: &dyn Fixture) {
    let n_flights = {
        let (c, s) = configs(f, Privacy, Privacy, Mode::Stream);
        handshake(c, s).flights.len()
    };
    for dropped in [n_flights - 2, n_flights - 1] {
        let (c, s) = configs(f, Privacy, Privacy, Mode::Stream);
        let out = handshake_with(
            c,
            s,
            Some(Box::new(move |_, n, bytes: &mut Vec<u8>| {
                if n == dropped {
                    bytes.clear();
                }
            })),
        );
        if dropped == n_flights - 1 {
            // The client's last flight is lost: the client holds a context, the server none.
            assert!(out.client.is_ok());
            assert_eq!(out.server.err(), Some(Error::HandshakeTimeout));
        } else {
            assert_eq!(out.client.err(), Some(Error::HandshakeTimeout));
            assert!(out.server.is_err());
        }
    }
}

/// A client the server does not trust is refused; it learns only "access denied".
pub fn untrusted_client_is_refused_by_server(f: &dyn Fixture) {
    let (_, sm) = f.pair();
    let out = handshake(
        ClientConfig::new(f.untrusted_client()),
        ServerConfig::new(sm),
    );
    assert!(
        matches!(
            &out.server,
            Err(Error::PolicyRejected(PolicyRejected::PeerNotTrusted(_)))
        ),
        "server: {:?}",
        out.server.as_ref().err()
    );
    client_learns_access_denied(out);
}

/// The client learns the refusal as an access-denied alert: during its handshake, or (when the
/// server refused the client's last flight, which the client sends once it has verified the
/// server) as the first thing its context reads.
fn client_learns_access_denied(out: crate::pair::Outcome) {
    let alert = [0x15, 0, 0, 1, 2];
    let last = out.flights.last().unwrap();
    assert_eq!(last.0, Dir::ToClient);
    assert!(
        last.1.ends_with(&alert),
        "the server's last flight ends with the alert"
    );
    match out.client {
        Err(e) => assert_eq!(e, Error::AlertReceived(AlertCode::AccessDenied)),
        Ok(mut ctx) => {
            assert_eq!(ctx.next_record_len(&alert), Ok(Some(5)));
            assert_eq!(
                ctx.open(&alert),
                Err(Error::AlertReceived(AlertCode::AccessDenied))
            );
            assert_eq!(
                ctx.eof(),
                Err(Error::AlertReceived(AlertCode::AccessDenied))
            );
        }
    }
}

/// A server the client does not trust is refused, and the client's answer to the server's
/// flight is an access-denied alert and nothing else: no further token, no Finished. (Where the
/// server cannot answer at all, [`crate::Refusal::ByServer`], the client sends nothing after
/// its first flight and learns of the failure.)
pub fn untrusted_server_is_refused_before_the_client_says_more(f: &dyn Fixture) {
    let (cm, _) = f.pair();
    let out = handshake(
        ClientConfig::new(cm),
        ServerConfig::new(f.untrusted_server()),
    );
    if f.untrusted_server_refusal() == crate::Refusal::ByServer {
        assert!(out.server.is_err(), "the server cannot complete");
        assert!(
            matches!(&out.client, Err(Error::AlertReceived(_))),
            "client: {:?}",
            out.client.as_ref().err()
        );
        let to_server = out
            .flights
            .iter()
            .filter(|(d, _)| *d == Dir::ToServer)
            .count();
        assert_eq!(to_server, 1, "the client sent only its first flight");
        let last = out.flights.last().unwrap();
        assert_eq!(last.0, Dir::ToClient);
        let alert = &last.1[last.1.len().saturating_sub(5)..];
        assert!(
            alert.len() == 5 && alert[..4] == [0x15, 0, 0, 1],
            "the server's answer ends with an alert: {alert:?}"
        );
        return;
    }
    assert!(
        matches!(
            &out.client,
            Err(Error::PolicyRejected(PolicyRejected::PeerNotTrusted(_)))
        ),
        "client: {:?}",
        out.client.as_ref().err()
    );
    assert!(out.server.is_err());
    let last = out
        .flights
        .iter()
        .rev()
        .find(|(d, _)| *d == Dir::ToServer)
        .unwrap();
    assert_eq!(
        last.1,
        vec![0x15, 0, 0, 1, 2],
        "only an access-denied alert"
    );
}

/// A server the client's own policy refuses (its mechanism trusted it) gets the same answer:
/// one access-denied alert, sent before the client's next token, which would reveal more.
pub fn servers_refused_by_the_clients_policy_learn_nothing_more(f: &dyn Fixture) {
    let (mut c, s) = configs(f, Privacy, Privacy, Mode::Stream);
    c.policy = Policy::default().authorize_with(|_| Err("not this server".into()));
    let clean = {
        let (c, s) = configs(f, Privacy, Privacy, Mode::Stream);
        handshake(c, s)
    };
    let out = handshake(c, s);
    match &out.client {
        Err(Error::PolicyRejected(PolicyRejected::PeerNotTrusted(why))) => {
            assert!(why.contains("not this server"), "{why}");
        }
        other => panic!("client: {:?}", other.as_ref().err()),
    }
    // Up to the refusal the flights are the genuine ones; the client's answer to the flight
    // that proved the server is the alert alone.
    let refused_at = out.flights.len() - 1;
    assert_eq!(out.flights[refused_at].0, Dir::ToServer);
    assert_eq!(out.flights[refused_at].1, vec![0x15, 0, 0, 1, 2]);
    if f.deterministic() {
        assert_eq!(out.flights[..refused_at], clean.flights[..refused_at]);
    } else {
        // Tokens with timestamps differ from run to run: the same flights in the same
        // directions, each opening with the same handshake record header type.
        let shape = |fl: &[(Dir, Vec<u8>)]| -> Vec<(Dir, u8)> {
            fl.iter().map(|(d, b)| (*d, b[0])).collect()
        };
        assert_eq!(
            shape(&out.flights[..refused_at]),
            shape(&clean.flights[..refused_at])
        );
    }
    assert!(out.server.is_err());
}

/// The server's authorization callback sees the client and can refuse it; the client learns
/// only the coarse reason.
pub fn unauthorized_client_is_refused_with_a_coarse_alert(f: &dyn Fixture) {
    let (_, client_name) = f.names();
    let (c, mut s) = configs(f, Privacy, Privacy, Mode::Stream);
    let name = client_name.clone();
    s.policy = Policy::default().authorize_with(move |peer| {
        if peer.name() == name {
            Err("client is suspended".into())
        } else {
            Ok(())
        }
    });
    let out = handshake(c, s);
    match out.server {
        Err(Error::PolicyRejected(PolicyRejected::PeerNotTrusted(ref why))) => {
            assert!(why.contains("client is suspended"), "{why}");
        }
        ref other => panic!("server: {:?}", other.as_ref().err()),
    }
    client_learns_access_denied(out);
}

/// The client's authorization callback runs exactly once, on the server.
pub fn clients_authorization_sees_the_server_once(f: &dyn Fixture) {
    let (server_name, _) = f.names();
    let (mut c, s) = configs(f, Privacy, Privacy, Mode::Stream);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    c.policy = Policy::default().authorize_with(move |peer| {
        record.lock().unwrap().push(peer.name().to_owned());
        Ok(())
    });
    assert!(handshake(c, s).established());
    assert_eq!(*seen.lock().unwrap(), vec![server_name]);
}

/// The peer never learns a refusal's local reason.
pub fn alerts_are_coarse(f: &dyn Fixture) {
    let (c, mut s) = configs(f, Privacy, Privacy, Mode::Stream);
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

/// No common suite: insufficient security. A mode the server does not run: refused.
pub fn no_common_suite_or_mode_is_refused(f: &dyn Fixture) {
    let (mut c, mut s) = configs(f, Privacy, Privacy, Mode::Stream);
    c.suites = vec![CipherSuite::ChaCha20Poly1305];
    s.suites = vec![CipherSuite::Aes256Gcm];
    let out = handshake(c, s);
    assert_eq!(out.server.err(), Some(PolicyRejected::NoCommonSuite.into()));
    assert_eq!(
        out.client.err(),
        Some(Error::AlertReceived(AlertCode::InsufficientSecurity))
    );

    let (c, mut s) = configs(f, Privacy, Privacy, Mode::Datagram);
    s.modes = vec![Mode::Stream];
    let out = handshake(c, s);
    assert_eq!(
        out.server.err(),
        Some(PolicyRejected::ModeNotEnabled("datagram").into())
    );
}

/// Each suite carries records.
pub fn both_suites_work(f: &dyn Fixture) {
    for suite in [CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305] {
        let (mut c, s) = configs(f, Privacy, Privacy, Mode::Stream);
        c.suites = vec![suite];
        let (mut c, mut s) = handshake(c, s).both();
        assert_eq!(c.suite(), suite);
        let r = c.seal(Privacy, b"x").unwrap();
        assert_eq!(s.open(&r).unwrap(), Some((Privacy, b"x".to_vec())));
    }
}

/// The same mechanism under another number, to offer two.
#[derive(Debug)]
pub struct Renumbered(pub Arc<dyn Mechanism>, pub MechanismId);

impl Mechanism for Renumbered {
    fn id(&self) -> MechanismId {
        self.1
    }
    fn name(&self) -> &'static str {
        "renumbered"
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    fn start(
        &self,
        role: Role,
        entropy: Entropy,
    ) -> Result<Box<dyn MechanismSession>, MechanismError> {
        self.0.start(role, entropy)
    }
}

/// A server that does not know the client's first mechanism picks a later one; the opening
/// token is ignored and the chosen mechanism starts after the ServerHello.
pub fn server_may_choose_a_later_mechanism(f: &dyn Fixture) {
    let (cm, sm) = f.pair();
    let id = cm.id();
    let unknown = Arc::new(Renumbered(cm.clone(), MechanismId(0x7777)));
    let mut c = ClientConfig::new(unknown);
    c.mechanisms.push(cm);
    let (mut c, mut s) = handshake(c, ServerConfig::new(sm)).both();
    assert_eq!(c.mechanism().0, id);
    assert_eq!(s.mechanism().0, id);
    let r = c.seal(Privacy, b"after fallback").unwrap();
    assert_eq!(
        s.open(&r).unwrap(),
        Some((Privacy, b"after fallback".to_vec()))
    );

    let (cm, sm) = f.pair();
    let c = ClientConfig::new(Arc::new(Renumbered(cm, MechanismId(0x7777))));
    let out = handshake(c, ServerConfig::new(sm));
    assert_eq!(
        out.server.err(),
        Some(PolicyRejected::NoCommonMechanism.into())
    );
}

/// The handshake has a deadline; passing it is sticky and tells the peer.
pub fn handshake_deadline(f: &dyn Fixture) {
    let (c, _) = configs(f, Privacy, Privacy, Mode::Stream);
    let t0 = Instant::now();
    let mut hs = Handshake::client(Arc::new(c), [1; 32], t0).unwrap();
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
    assert_eq!(hs.handle_input(&[0x16]), Err(Error::HandshakeTimeout));
}

/// A header claiming more than the per-message cap is refused from the header alone, with a
/// decode-error alert; so is a handshake that grows past the total cap.
pub fn limits_cap_handshake_messages(f: &dyn Fixture) {
    let (_, mut sc) = configs(f, Privacy, Privacy, Mode::Stream);
    sc.limits = Limits::default();
    sc.limits.max_handshake_message = 256;
    sc.limits.max_handshake_len = 1024;
    let mut s = Handshake::server(Arc::new(sc), [9; 32], Instant::now()).unwrap();
    let r = s.handle_input(&[0x16, 0, 1, 1]);
    assert_eq!(
        r,
        Err(InvalidMessage::RecordTooLarge { len: 257, max: 256 }.into())
    );
    assert_eq!(s.take_output(), vec![0x15, 0, 0, 1, 4]);

    // Sticky.
    assert_eq!(s.handle_input(&[0x16, 0, 0, 1]), r);
}
