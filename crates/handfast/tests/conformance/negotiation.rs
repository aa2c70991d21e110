//! The negotiation rules of `docs/PROTOCOL.md`: version, key-update bounds, key shares,
//! capabilities, alert codes.

use std::sync::Arc;
use std::time::Instant;

use handfast::mechanism::{
    Capabilities, Entropy, Mechanism, MechanismError, MechanismSession, Role,
};
use handfast::{
    AlertCode, ApiMisuse, ClientConfig, Error, Handshake, Limits, MechanismId, Mode,
    PeerMisbehaved, PolicyRejected, ProtectionLevel, ServerConfig,
};
use handfast_conformance::Fixture;
use handfast_conformance::pair::{Dir, configs, handshake, handshake_with, requested_level_offset};
use handfast_conformance::shapes::{Shape, ShapeFixture};

use crate::FIXTURE;

use ProtectionLevel::{Integrity, Privacy};

/// Offset of the mode byte in a ClientHello flight (followed by max_record_len u32, the
/// key-update interval u64 and the key share).
fn mode_offset(flight: &[u8]) -> usize {
    let suites_at = requested_level_offset(flight) + 1;
    suites_at + 1 + 2 * usize::from(flight[suites_at])
}

/// Feeds a client's first flight, rewritten by `edit`, to a fresh server.
fn server_reply(
    c: ClientConfig,
    s: ServerConfig,
    edit: impl FnOnce(&mut Vec<u8>),
) -> (Result<usize, Error>, Vec<u8>) {
    let now = Instant::now();
    let mut ch = Handshake::client(Arc::new(c), [1; 32], now).unwrap();
    let mut sh = Handshake::server(Arc::new(s), [2; 32], now).unwrap();
    let mut flight = ch.take_output();
    edit(&mut flight);
    let r = sh.handle_input(&flight);
    (r, sh.take_output())
}

#[test]
fn another_version_is_refused_with_protocol_version() {
    let (c, s) = configs(&FIXTURE, Privacy, Privacy, Mode::Stream);
    let (r, out) = server_reply(c, s, |f| f[6] = 1); // version 2 -> 1
    assert_eq!(r, Err(PeerMisbehaved::UnsupportedVersion(1).into()));
    assert_eq!(out, vec![0x15, 0, 0, 1, 5]);
    // A ServerHello of another version, likewise.
    let (c, s) = configs(&FIXTURE, Privacy, Privacy, Mode::Stream);
    let out = handshake_with(
        c,
        s,
        Some(Box::new(|dir, n, b: &mut Vec<u8>| {
            if dir == Dir::ToClient && n == 1 {
                b[6] = 3;
            }
        })),
    );
    assert_eq!(
        out.client.err(),
        Some(PeerMisbehaved::UnsupportedVersion(3).into())
    );
}

#[test]
fn a_key_update_interval_below_the_floor_is_refused() {
    for (mode, floor) in [(Mode::Stream, 1024u64), (Mode::Datagram, 2048)] {
        for (proposed, ok) in [
            (floor - 1, false),
            (floor, true),
            (1 << 24, true),
            ((1 << 24) + 1, false),
        ] {
            let (c, s) = configs(&FIXTURE, Privacy, Privacy, mode);
            let (r, out) = server_reply(c, s, |f| {
                let at = mode_offset(f) + 5;
                f[at..at + 8].copy_from_slice(&proposed.to_be_bytes());
            });
            if ok {
                // Accepted: the server answers with its ServerHello (the test mechanism then
                // notices the rewritten hello, which its token binds).
                assert_eq!((out[0], out[4]), (0x16, 2), "{mode:?} {proposed}: {r:?}");
            } else {
                assert_eq!(
                    r,
                    Err(PeerMisbehaved::IllegalParameter("key_update_interval").into()),
                    "{mode:?} {proposed}"
                );
                assert_eq!(out, vec![0x15, 0, 0, 1, 7], "illegal-parameter alert");
            }
        }
    }
}

#[test]
fn a_server_interval_above_the_ceiling_or_the_proposal_is_refused() {
    // The client proposes 4096 with 64 KiB records; the ceiling for 64 KiB is 2^22.
    for (chosen, expected) in [
        (
            4097u64,
            Error::from(PeerMisbehaved::Downgrade(
                "key update interval above the client's proposal",
            )),
        ),
        (
            1023,
            PeerMisbehaved::IllegalParameter("key_update_interval").into(),
        ),
    ] {
        let (mut c, s) = configs(&FIXTURE, Privacy, Privacy, Mode::Stream);
        c.limits.key_update_interval = Some(4096);
        let out = handshake_with(
            c,
            s,
            Some(Box::new(move |dir, n, b: &mut Vec<u8>| {
                if dir == Dir::ToClient && n == 1 {
                    // ServerHello: header 4, type 1, version 2, random 32, mechanism 2,
                    // levels 2, suite 2, mode 1, max_record_len 4, then the interval.
                    let at = 4 + 1 + 2 + 32 + 2 + 2 + 2 + 1 + 4;
                    assert_eq!(&b[at..at + 8], &4096u64.to_be_bytes());
                    b[at..at + 8].copy_from_slice(&chosen.to_be_bytes());
                }
            })),
        );
        assert_eq!(out.client.err(), Some(expected), "{chosen}");
    }
    // A ceiling that depends on both record sizes: 16 MiB records on the server's side cap
    // the interval at 2^38 / 2^24 = 2^14, whatever the client proposed.
    let (mut c, mut s) = configs(&FIXTURE, Privacy, Privacy, Mode::Stream);
    c.limits.max_record_len = 1024;
    s.limits.max_record_len = (1 << 24) - 64;
    let (mut c, mut s) = handshake(c, s).both();
    for i in 0..(1 << 14) + 1 {
        s.open(&c.seal(Privacy, &[i as u8]).unwrap()).unwrap();
    }
    assert_eq!(
        c.key_epochs().0,
        1,
        "the first key served exactly 2^14 records"
    );
}

#[test]
fn limits_outside_their_range_are_refused_at_configuration() {
    for (interval, record_len) in [
        (Some(1023), 65_536),
        (Some(1 << 23), 65_536),
        (None, 0),
        (None, 1 << 24),
    ] {
        let (mut c, _) = configs(&FIXTURE, Privacy, Privacy, Mode::Stream);
        c.limits = Limits::default();
        c.limits.key_update_interval = interval;
        c.limits.max_record_len = record_len;
        let err = Handshake::client(Arc::new(c), [0; 32], Instant::now()).unwrap_err();
        assert!(
            matches!(err, Error::ApiMisuse(ApiMisuse::InvalidConfig(_))),
            "{interval:?} {record_len}: {err}"
        );
    }
}

#[test]
fn a_record_size_outside_its_range_is_refused() {
    for bad in [0u32, (1 << 24) - 63] {
        let (c, s) = configs(&FIXTURE, Privacy, Privacy, Mode::Stream);
        let (r, out) = server_reply(c, s, |f| {
            let at = mode_offset(f) + 1;
            f[at..at + 4].copy_from_slice(&bad.to_be_bytes());
        });
        assert_eq!(
            r,
            Err(PeerMisbehaved::IllegalParameter("max_record_len").into())
        );
        assert_eq!(out, vec![0x15, 0, 0, 1, 7]);
    }
}

#[test]
fn key_shares_travel_only_for_mechanisms_that_ask_for_them() {
    // The Exporter shape brings its own secret: no key share either way.
    let (c, s) = configs(&FIXTURE, Privacy, Privacy, Mode::Stream);
    let out = handshake(c, s);
    let ch = &out.flights[0].1;
    assert_eq!(ch[mode_offset(ch) + 13], 0, "no client key share");
    // The ServerLast shape authenticates only: both hellos carry an X25519 share.
    let auth_only = ShapeFixture(Shape::ServerLast);
    let (c, s) = configs(&auth_only, Privacy, Privacy, Mode::Stream);
    let out = handshake(c, s);
    assert!(out.established());
    let ch = &out.flights[0].1;
    assert_eq!(ch[mode_offset(ch) + 13], 32, "client key share");

    // A low-order share is refused.
    let (c, s) = configs(&auth_only, Privacy, Privacy, Mode::Stream);
    let (r, out) = server_reply(c, s, |f| {
        let at = mode_offset(f) + 14;
        f[at..at + 32].fill(0);
    });
    assert_eq!(r, Err(PeerMisbehaved::IllegalParameter("key share").into()));
    assert_eq!(out, vec![0x15, 0, 0, 1, 7]);
}

#[test]
fn a_stripped_server_key_share_is_a_downgrade() {
    let auth_only = ShapeFixture(Shape::ServerLast);
    let (c, s) = configs(&auth_only, Privacy, Privacy, Mode::Stream);
    let out = handshake_with(
        c,
        s,
        Some(Box::new(|dir, n, b: &mut Vec<u8>| {
            if dir == Dir::ToClient && n == 1 {
                // Cut the 32-byte share out of the ServerHello and fix the lengths.
                let sh_len = usize::from(b[3]);
                let share_at = 4 + sh_len - 32;
                assert_eq!(b[share_at - 1], 32);
                b[share_at - 1] = 0;
                b.drain(share_at..share_at + 32);
                b[3] -= 32;
            }
        })),
    );
    assert!(
        matches!(
            out.client,
            Err(Error::PeerMisbehaved(PeerMisbehaved::Downgrade(_)))
        ),
        "{:?}",
        out.client.err()
    );
}

/// A mechanism whose capabilities are overridden.
#[derive(Debug)]
struct Limited(Arc<dyn Mechanism>, Capabilities);

impl Mechanism for Limited {
    fn id(&self) -> MechanismId {
        self.0.id()
    }
    fn name(&self) -> &'static str {
        "limited"
    }
    fn capabilities(&self) -> Capabilities {
        self.1
    }
    fn start(
        &self,
        role: Role,
        entropy: Entropy,
    ) -> Result<Box<dyn MechanismSession>, MechanismError> {
        self.0.start(role, entropy)
    }
}

#[test]
fn capabilities_decide_what_a_mechanism_may_run() {
    let (cm, sm) = FIXTURE.pair();
    // A server mechanism without the integrity level is not chosen for an integrity session.
    let mut caps = Capabilities::SECRET_BASED;
    caps.integrity = false;
    let s = ServerConfig::new(Arc::new(Limited(sm.clone(), caps))).with_min_level(Integrity);
    let out = handshake(
        ClientConfig::new(cm.clone()).with_level(Integrity),
        s.clone(),
    );
    assert_eq!(
        out.server.err(),
        Some(PolicyRejected::NoCommonMechanism.into())
    );
    // ... but it serves a privacy session.
    assert!(handshake(ClientConfig::new(cm.clone()), s).established());
    // Nor one without datagram support for a datagram session.
    let mut caps = Capabilities::SECRET_BASED;
    caps.datagram = false;
    let mut s = ServerConfig::new(Arc::new(Limited(sm, caps)));
    s.modes = vec![Mode::Datagram];
    let mut c = ClientConfig::new(cm.clone());
    c.mode = Mode::Datagram;
    let out = handshake(c, s);
    assert_eq!(
        out.server.err(),
        Some(PolicyRejected::NoCommonMechanism.into())
    );
    // A mechanism that does not authenticate both sides is refused at configuration.
    let mut caps = Capabilities::SECRET_BASED;
    caps.mutual = false;
    let c = ClientConfig::new(Arc::new(Limited(cm, caps)));
    let err = Handshake::client(Arc::new(c), [0; 32], Instant::now()).unwrap_err();
    assert!(
        matches!(err, Error::ApiMisuse(ApiMisuse::InvalidConfig(_))),
        "{err}"
    );
}

#[test]
fn every_refusal_has_its_alert_code() {
    for (e, code) in [
        (
            Error::from(PeerMisbehaved::TranscriptMismatch),
            AlertCode::HandshakeFailure,
        ),
        (
            PeerMisbehaved::Downgrade("x").into(),
            AlertCode::HandshakeFailure,
        ),
        (
            PolicyRejected::PeerNotTrusted("x".into()).into(),
            AlertCode::AccessDenied,
        ),
        (
            PolicyRejected::NoCommonSuite.into(),
            AlertCode::InsufficientSecurity,
        ),
        (
            PolicyRejected::NoCommonMechanism.into(),
            AlertCode::HandshakeFailure,
        ),
        (
            handfast::InvalidMessage::Malformed("x").into(),
            AlertCode::DecodeError,
        ),
        (
            PeerMisbehaved::UnsupportedVersion(1).into(),
            AlertCode::ProtocolVersion,
        ),
        (Error::HandshakeTimeout, AlertCode::Timeout),
        (
            PeerMisbehaved::IllegalParameter("x").into(),
            AlertCode::IllegalParameter,
        ),
        (
            handfast::InvalidMessage::Unexpected {
                expected: "a",
                got: "b",
            }
            .into(),
            AlertCode::UnexpectedMessage,
        ),
    ] {
        assert_eq!(e.alert(), Some(code), "{e}");
    }
}
