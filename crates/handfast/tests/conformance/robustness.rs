//! Hostile and random input: never a panic, always a clear error, and no allocation of what a
//! peer claims before it is checked.

use std::sync::Arc;
use std::time::Instant;

use handfast::{Error, Handshake, InvalidMessage, Limits, Mode, ProtectionLevel};
use proptest::prelude::*;

use crate::alloc::measure;
use crate::pair::{configs, established};

use ProtectionLevel::Privacy;

fn server() -> Handshake {
    let (_, s) = configs(Privacy, Privacy, Mode::Stream);
    Handshake::server(Arc::new(s), [9; 32], Instant::now()).unwrap()
}

fn client() -> Handshake {
    let (c, _) = configs(Privacy, Privacy, Mode::Stream);
    let mut hs = Handshake::client(Arc::new(c), [9; 32], Instant::now()).unwrap();
    let _ = hs.take_output();
    hs
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
    // The refusal is answered with a decode-error alert.
    assert_eq!(s.take_output(), vec![0x15, 0, 0, 1, 4]);
}

#[test]
fn hostile_record_length_is_rejected_before_allocation() {
    let (_, mut s) = established(Privacy, Privacy, Mode::Stream);
    let (r, _, largest) = measure(|| s.next_record_len(&[0x22, 0xff, 0xff, 0xff]));
    assert!(matches!(
        r,
        Err(Error::InvalidMessage(InvalidMessage::RecordTooLarge { .. }))
    ));
    assert!(largest < 1024);
    // Sticky: the stream is done.
    assert!(s.next_record_len(&[0x22, 0, 0, 20]).is_err());
}

/// A mechanism that never finishes: every step answers with another 200-byte token.
#[derive(Debug)]
struct Endless;

struct EndlessSession;

impl handfast::Mechanism for Endless {
    fn id(&self) -> handfast::MechanismId {
        handfast::MechanismId(0x7001)
    }
    fn name(&self) -> &'static str {
        "endless"
    }
    fn capabilities(&self) -> handfast::Capabilities {
        handfast::Capabilities::SECRET_BASED
    }
    fn start(
        &self,
        _: handfast::Role,
        _: handfast::Entropy,
    ) -> Result<Box<dyn handfast::MechanismSession>, handfast::MechanismError> {
        Ok(Box::new(EndlessSession))
    }
}

impl handfast::MechanismSession for EndlessSession {
    fn step(&mut self, _: Option<&[u8]>) -> Result<handfast::Step, handfast::MechanismError> {
        Ok(handfast::Step {
            token: Some(vec![7; 200]),
            done: false,
        })
    }
    fn finish(self: Box<Self>) -> Result<handfast::Authenticated, handfast::MechanismError> {
        Err(handfast::MechanismError::Config("never done".into()))
    }
}

#[test]
fn handshake_total_size_is_capped_across_messages() {
    let mut limits = Limits::default();
    limits.max_handshake_message = 256;
    limits.max_handshake_len = 1024;
    let mut c = handfast::ClientConfig::new(Arc::new(Endless));
    c.limits = limits.clone();
    let mut s = handfast::ServerConfig::new(Arc::new(Endless));
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

#[test]
fn handshake_message_size_is_capped() {
    let (_, mut sc) = configs(Privacy, Privacy, Mode::Stream);
    sc.limits = Limits::default();
    sc.limits.max_handshake_message = 256;
    sc.limits.max_handshake_len = 1024;
    let mut s = Handshake::server(Arc::new(sc), [9; 32], Instant::now()).unwrap();
    // A legitimate-looking header followed by garbage bodies: the per-message cap holds,
    // then the total cap.
    let r = s.handle_input(&[0x16, 0, 1, 1]);
    assert!(
        matches!(
            r,
            Err(Error::InvalidMessage(InvalidMessage::RecordTooLarge {
                len: 257,
                max: 256
            }))
        ),
        "{r:?}"
    );
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
}

#[test]
fn errors_are_sticky() {
    let mut s = server();
    let first = s.handle_input(&[0x99, 0, 0, 1]).unwrap_err();
    assert_eq!(s.handle_input(&[0x16]).unwrap_err(), first);
    assert_eq!(s.into_context().unwrap_err(), first);
}

#[test]
fn input_after_completion_is_left_for_the_record_layer() {
    // The server's Finished and its first application record arrive in one read.
    let (c, s) = configs(Privacy, Privacy, Mode::Stream);
    let now = Instant::now();
    let mut ch = Handshake::client(Arc::new(c), [1; 32], now).unwrap();
    let mut sh = Handshake::server(Arc::new(s), [2; 32], now).unwrap();
    sh.handle_input(&ch.take_output()).unwrap();
    ch.handle_input(&sh.take_output()).unwrap();
    sh.handle_input(&ch.take_output()).unwrap();
    let mut bytes = sh.take_output();
    let finished_len = bytes.len();
    let mut server = sh.into_context().unwrap();
    bytes.extend_from_slice(&server.seal(Privacy, b"early data").unwrap());
    let used = ch.handle_input(&bytes).unwrap();
    assert_eq!(used, finished_len);
    let mut client = ch.into_context().unwrap();
    assert_eq!(
        client.open(&bytes[used..]).unwrap(),
        Some((Privacy, b"early data".to_vec()))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic_a_server_handshake(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut s = server();
        let _ = s.handle_input(&data);
    }

    #[test]
    fn random_bytes_never_panic_a_client_handshake(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut c = client();
        let _ = c.handle_input(&data);
    }

    #[test]
    fn mutated_hellos_never_panic(pos in 0usize..200, val in any::<u8>(), cut in 0usize..200) {
        let (c, _) = configs(Privacy, Privacy, Mode::Stream);
        let mut ch = Handshake::client(Arc::new(c), [3; 32], Instant::now()).unwrap();
        let mut flight = ch.take_output();
        let pos = pos % flight.len();
        flight[pos] = val;
        flight.truncate(cut.max(pos + 1));
        let mut s = server();
        let _ = s.handle_input(&flight);
        let reply = s.take_output();
        let _ = ch.handle_input(&reply);
    }

    #[test]
    fn random_records_never_panic_a_context(
        mut data in prop::collection::vec(any::<u8>(), 0..300),
        datagram in any::<bool>(),
        first in prop::sample::select(vec![0x21u8, 0x22, 0x31, 0x32, 0x41, 0x99]),
    ) {
        // Half the inputs start with a valid record type, so that parsing gets past the first byte.
        if data.len() > 1 && data[0] & 1 == 0 {
            data[0] = first;
        }
        let mode = if datagram { Mode::Datagram } else { Mode::Stream };
        // A fresh context for each call: errors are sticky, and each call should see the bytes.
        let fresh = |level| handfast::vectors::dangerous_context_from_secrets(
            handfast::Role::Responder, handfast::CipherSuite::Aes256Gcm, mode, level, [1; 32], [2; 32], 4096,
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
