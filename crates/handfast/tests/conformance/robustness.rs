//! Hostile and random input: never a panic, always a clear error, and no allocation of what a
//! peer claims before it is checked.

use std::sync::Arc;
use std::time::Instant;

use handfast::mechanism::{
    Authenticated, Binding, Capabilities, Entropy, Mechanism, MechanismError, MechanismSession,
    PeerIdentity, Progress, Role, Step,
};
use handfast::{
    ClientConfig, Error, Handshake, InvalidMessage, Limits, MechanismId, Mode, ProtectionLevel,
    ServerConfig,
};
use handfast_conformance::pair::configs;
use proptest::prelude::*;
use zeroize::Zeroizing;

use crate::FIXTURE;
use crate::alloc::measure;

use ProtectionLevel::Privacy;

fn server() -> Handshake {
    let (_, s) = configs(&FIXTURE, Privacy, Privacy, Mode::Stream);
    Handshake::server(Arc::new(s), [9; 32], Instant::now()).unwrap()
}

#[test]
fn hostile_handshake_length_is_rejected_before_allocation() {
    let mut s = server();
    let (r, _, largest) = measure(|| s.handle_input(&[0x16, 0xff, 0xff, 0xff]));
    assert_eq!(
        r,
        Err(InvalidMessage::RecordTooLarge {
            len: 0xff_ffff,
            max: 4096
        }
        .into())
    );
    assert!(
        largest < 64 * 1024,
        "allocated {largest} bytes for a hostile length"
    );
    assert_eq!(
        s.take_output(),
        vec![0x15, 0, 0, 1, 4],
        "decode-error alert"
    );
}

/// A mechanism that never finishes: every step answers with another 200-byte token.
#[derive(Debug)]
struct Endless;

struct EndlessSession;

impl Mechanism for Endless {
    fn id(&self) -> MechanismId {
        MechanismId(0x7001)
    }
    fn name(&self) -> &'static str {
        "endless"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::SECRET_BASED
    }
    fn start(&self, _: Role, _: Entropy) -> Result<Box<dyn MechanismSession>, MechanismError> {
        Ok(Box::new(EndlessSession))
    }
}

impl MechanismSession for EndlessSession {
    fn step(&mut self, _: Option<&[u8]>, _: &Binding) -> Result<Step, MechanismError> {
        Ok(Step::more(vec![7; 200]))
    }
    fn peer(&self) -> Option<&PeerIdentity> {
        None
    }
    fn handshake_secret(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        None
    }
    fn finish(self: Box<Self>) -> Result<Authenticated, MechanismError> {
        Err(MechanismError::Config("never done".into()))
    }
}

#[test]
fn handshake_total_size_is_capped_across_messages() {
    let mut limits = Limits::default();
    limits.max_handshake_message = 256;
    limits.max_handshake_len = 1024;
    let mut c = ClientConfig::new(Arc::new(Endless));
    c.limits = limits.clone();
    let mut s = ServerConfig::new(Arc::new(Endless));
    s.limits = limits;
    let now = Instant::now();
    let mut ch = Handshake::client(Arc::new(c), [1; 32], now).unwrap();
    let mut sh = Handshake::server(Arc::new(s), [2; 32], now).unwrap();
    let mut errors = Vec::new();
    for _ in 0..20 {
        if let Err(e) = sh.handle_input(&ch.take_output()) {
            errors.push(e);
            break;
        }
        if let Err(e) = ch.handle_input(&sh.take_output()) {
            errors.push(e);
            break;
        }
    }
    assert!(
        errors.iter().any(|e| matches!(
            e,
            Error::InvalidMessage(InvalidMessage::HandshakeTooLarge { max: 1024 })
        )),
        "{errors:?}"
    );
}

/// A mechanism that claims to be done without ever naming the peer, or that returns no
/// handshake secret: the driver refuses it rather than establish an unauthenticated session.
#[derive(Debug)]
struct Liar(Progress);

struct LiarSession(Progress);

impl Mechanism for Liar {
    fn id(&self) -> MechanismId {
        MechanismId(0x7002)
    }
    fn name(&self) -> &'static str {
        "liar"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::SECRET_BASED
    }
    fn start(&self, _: Role, _: Entropy) -> Result<Box<dyn MechanismSession>, MechanismError> {
        Ok(Box::new(LiarSession(self.0)))
    }
}

impl MechanismSession for LiarSession {
    fn step(&mut self, _: Option<&[u8]>, _: &Binding) -> Result<Step, MechanismError> {
        Ok(Step {
            token: Some(vec![1]),
            progress: self.0,
        })
    }
    fn peer(&self) -> Option<&PeerIdentity> {
        None
    }
    fn handshake_secret(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        None
    }
    fn finish(self: Box<Self>) -> Result<Authenticated, MechanismError> {
        Err(MechanismError::Config("nothing to finish".into()))
    }
}

#[test]
fn a_mechanism_that_breaks_its_contract_is_refused() {
    for progress in [Progress::Done, Progress::Last] {
        let c = ClientConfig::new(Arc::new(Liar(Progress::Continue)));
        let s = ServerConfig::new(Arc::new(Liar(progress)));
        let now = Instant::now();
        let mut ch = Handshake::client(Arc::new(c), [1; 32], now).unwrap();
        let mut sh = Handshake::server(Arc::new(s), [2; 32], now).unwrap();
        let err = sh.handle_input(&ch.take_output()).unwrap_err();
        match err {
            Error::Mechanism {
                mechanism: "liar",
                reason,
            } => {
                assert!(reason.contains("contract"), "{progress:?}: {reason}")
            }
            other => panic!("{progress:?}: {other:?}"),
        }
        assert!(!sh.is_complete());
        let _ = ch.handle_input(&sh.take_output());
        assert!(!ch.is_complete());
    }
}

#[test]
fn application_data_before_handshake_is_refused() {
    let mut s = server();
    let r = s.handle_input(&[0x22, 0, 0, 20]);
    assert!(
        matches!(
            r,
            Err(Error::InvalidMessage(InvalidMessage::Unexpected { .. }))
        ),
        "{r:?}"
    );
    assert_eq!(
        s.take_output(),
        vec![0x15, 0, 0, 1, 8],
        "unexpected-message alert"
    );
}

#[test]
fn datagram_records_that_overtake_the_handshake_are_dropped() {
    let (c, s) = configs(&FIXTURE, Privacy, Privacy, Mode::Datagram);
    let now = Instant::now();
    let mut ch = Handshake::client(Arc::new(c), [1; 32], now).unwrap();
    let mut sh = Handshake::server(Arc::new(s), [2; 32], now).unwrap();
    sh.handle_input(&ch.take_output()).unwrap();
    ch.handle_input(&sh.take_output()).unwrap();
    let last = ch.take_output();
    let mut client = ch.into_context().unwrap();
    let early = client.seal(Privacy, b"overtook the handshake").unwrap();
    let late = client.seal(Privacy, b"after it").unwrap();
    // The data datagram arrives before the client's last flight: dropped, not fatal.
    assert_eq!(sh.handle_input(&early), Ok(early.len()));
    assert!(sh.is_in_progress());
    sh.handle_input(&last).unwrap();
    let mut server = sh.into_context().unwrap();
    assert_eq!(
        server.open(&late).unwrap(),
        Some((Privacy, b"after it".to_vec()))
    );
    // The dropped one may still arrive again within the window.
    assert_eq!(
        server.open(&early).unwrap(),
        Some((Privacy, b"overtook the handshake".to_vec()))
    );
}

#[test]
fn errors_are_sticky() {
    let mut s = server();
    let first = s.handle_input(&[0x99, 0, 0, 1]).unwrap_err();
    assert_eq!(s.handle_input(&[0x16]).unwrap_err(), first);
    assert_eq!(s.into_context().unwrap_err(), first);
}

#[test]
fn the_clients_first_records_are_left_for_the_record_layer() {
    // The client's last flight and its first application record arrive in one read: the
    // handshake consumes exactly the flight, and the record opens once the server is complete.
    let (c, s) = configs(&FIXTURE, Privacy, Privacy, Mode::Stream);
    let now = Instant::now();
    let mut ch = Handshake::client(Arc::new(c), [1; 32], now).unwrap();
    let mut sh = Handshake::server(Arc::new(s), [2; 32], now).unwrap();
    sh.handle_input(&ch.take_output()).unwrap();
    ch.handle_input(&sh.take_output()).unwrap();
    let mut bytes = ch.take_output();
    let flight_len = bytes.len();
    let mut client = ch.into_context().unwrap();
    bytes.extend_from_slice(&client.seal(Privacy, b"early data").unwrap());
    let used = sh.handle_input(&bytes).unwrap();
    assert_eq!(used, flight_len);
    let mut server = sh.into_context().unwrap();
    assert_eq!(
        server.open(&bytes[used..]).unwrap(),
        Some((Privacy, b"early data".to_vec()))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_records_never_panic_a_context(
        mut data in prop::collection::vec(any::<u8>(), 0..300),
        datagram in any::<bool>(),
        first in prop::sample::select(vec![0x15u8, 0x16, 0x21, 0x22, 0x31, 0x32, 0x41, 0x99]),
    ) {
        // Half the inputs start with a valid record type, so that parsing gets past the first byte.
        if data.len() > 1 && data[0] & 1 == 0 {
            data[0] = first;
        }
        let mode = if datagram { Mode::Datagram } else { Mode::Stream };
        let fresh = |level| handfast::vectors::dangerous_context_from_secrets(
            Role::Responder, handfast::CipherSuite::Aes256Gcm, mode, level, [1; 32], [2; 32], 4096,
        );
        let _ = fresh(Privacy).next_record_len(&data);
        let mut buf = data.clone();
        let _ = fresh(Privacy).open_in_place(&mut buf);
        let mut buf = data.clone();
        let _ = fresh(ProtectionLevel::Integrity).open_in_place(&mut buf);
        let _ = fresh(ProtectionLevel::Integrity).verify(&data, &data);
        let mut ctx = fresh(Privacy);
        let _ = ctx.open(&data);
        prop_assert!(ctx.eof().is_err(), "no close was received, so the end is never clean");
    }
}
