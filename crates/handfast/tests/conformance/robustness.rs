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

#[test]
fn handshake_total_size_is_capped() {
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
    fn random_records_never_panic_a_context(data in prop::collection::vec(any::<u8>(), 0..300), datagram in any::<bool>()) {
        let mode = if datagram { Mode::Datagram } else { Mode::Stream };
        let (_, mut s) = established(Privacy, Privacy, mode);
        let mut buf = data.clone();
        let _ = s.next_record_len(&data);
        let _ = s.open_in_place(&mut buf);
        let _ = s.verify(&data, &data);
        let _ = s.eof();
    }
}
