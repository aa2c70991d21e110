//! An active attacker: every bit of every handshake flight, targeted rewrites of the
//! negotiated fields, tokens spliced from another handshake, and flipped record bits.

use std::sync::Arc;

use handfast::{
    CipherSuite, ClientConfig, Error, MechanismId, Mode, PeerMisbehaved, ProtectionLevel,
    ServerConfig,
};

use crate::Fixture;
use crate::handshake::Renumbered;
use crate::pair::{
    Dir, StreamReceiver, configs, established, flip, handshake, handshake_seeded, handshake_with,
    requested_level_offset,
};

use ProtectionLevel::{Integrity, Privacy};

/// Every single-bit change of every handshake flight fails the handshake, in stream mode.
pub fn every_handshake_bit_flip_fails_in_stream_mode(f: &dyn Fixture) {
    every_handshake_bit_flip_fails(f, Mode::Stream);
}

/// The same in datagram mode.
pub fn every_handshake_bit_flip_fails_in_datagram_mode(f: &dyn Fixture) {
    every_handshake_bit_flip_fails(f, Mode::Datagram);
}

fn every_handshake_bit_flip_fails(f: &dyn Fixture, mode: Mode) {
    for (level, min) in [(Privacy, Privacy), (Integrity, Integrity)] {
        let (c, s) = configs(f, level, min, mode);
        let clean = handshake(c, s);
        assert!(clean.established());
        let flights = clean.flights.clone();
        let last = flights.len() - 1;
        assert_eq!(
            flights[last].0,
            Dir::ToServer,
            "the client sends the last flight"
        );
        let mut tried = 0;
        for (index, (_, bytes)) in flights.iter().enumerate() {
            for bit in 0..bytes.len() * 8 {
                let (c, s) = configs(f, level, min, mode);
                let out = handshake_with(
                    c,
                    s,
                    Some(Box::new(move |_, n, b: &mut Vec<u8>| {
                        if n == index {
                            flip(b, bit);
                        }
                    })),
                );
                tried += 1;
                let what = format!("{mode:?} {level}: flight {index} bit {bit}");
                // The server never accepts an altered handshake.
                assert!(out.server.is_err(), "{what}: server established");
                // The client has verified the server's Finished before its last flight, so
                // only a change in that last flight leaves it holding a context (whose data
                // the server never opens).
                if index < last {
                    assert!(out.client.is_err(), "{what}: client established");
                }
            }
        }
        assert!(tried > 1000, "tried {tried}");
    }
}

/// A man in the middle rewrites the requested level from privacy to integrity; the server
/// (minimum integrity) agrees, the client sees the result does not follow from its hello.
pub fn mitm_rewriting_requested_level_fails(f: &dyn Fixture) {
    let (c, s) = configs(f, Privacy, Integrity, Mode::Stream);
    let out = handshake_with(
        c,
        s,
        Some(Box::new(|dir, n, bytes: &mut Vec<u8>| {
            if dir == Dir::ToServer && n == 0 {
                let at = requested_level_offset(bytes);
                assert_eq!(bytes[at], 2);
                bytes[at] = 1;
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
    assert!(out.server.is_err());
}

/// The server requires privacy; the attacker rewrites both the required and the negotiated
/// level of the ServerHello to integrity, consistently. The server's Finished covers the
/// ServerHello, so the client catches it before it sends anything.
pub fn mitm_rewriting_required_level_fails(f: &dyn Fixture) {
    let (c, s) = configs(f, Integrity, Privacy, Mode::Stream);
    let out = handshake_with(
        c,
        s,
        Some(Box::new(|dir, n, b: &mut Vec<u8>| {
            if dir == Dir::ToClient && n == 1 {
                let at = 4 + 1 + 2 + 32 + 2; // header, type, version, random, mechanism
                assert_eq!((b[at], b[at + 1]), (2, 2));
                b[at] = 1;
                b[at + 1] = 1;
            }
        })),
    );
    assert!(out.server.is_err());
    detected(&out.client);
}

/// Stripping AES-256-GCM from the client's offer makes the server pick ChaCha20; the server's
/// Finished tells the client its offer was changed.
pub fn mitm_rewriting_suite_list_fails(f: &dyn Fixture) {
    let (mut c, s) = configs(f, Privacy, Privacy, Mode::Stream);
    c.suites = vec![CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305];
    let out = handshake_with(
        c,
        s,
        Some(Box::new(|dir, n, b: &mut Vec<u8>| {
            if dir == Dir::ToServer && n == 0 {
                let at = requested_level_offset(b) + 2; // level, suite count, first suite
                assert_eq!(&b[at..at + 4], &[0, 1, 0, 2]);
                b[at + 1] = 2;
            }
        })),
    );
    assert!(out.server.is_err());
    detected(&out.client);
}

/// The client offers the mechanism under two numbers; the attacker renames the second. Every
/// choice still follows from what the server read, so only the transcript can tell.
pub fn mitm_rewriting_mechanism_list_fails(f: &dyn Fixture) {
    let (cm, sm) = f.pair();
    let mut c = ClientConfig::new(cm.clone());
    c.mechanisms
        .push(Arc::new(Renumbered(cm, MechanismId(0x7777))));
    let out = handshake_with(
        c,
        ServerConfig::new(sm),
        Some(Box::new(|dir, n, b: &mut Vec<u8>| {
            if dir == Dir::ToServer && n == 0 {
                let at = 4 + 1 + 2 + 32 + 1 + 2;
                assert_eq!(&b[at..at + 2], &[0x77, 0x77]);
                b[at + 1] = 0x78;
            }
        })),
    );
    assert!(out.server.is_err());
    detected(&out.client);
}

/// Rewriting the client's mode or maximum record size is caught by the client: the echoed mode
/// no longer matches, or the server's Finished does not.
pub fn mitm_rewriting_mode_or_record_size_fails(f: &dyn Fixture) {
    for field in ["mode", "max_record_len"] {
        let (c, s) = configs(f, Privacy, Privacy, Mode::Stream);
        let out = handshake_with(
            c,
            s,
            Some(Box::new(move |dir, n, b: &mut Vec<u8>| {
                if dir == Dir::ToServer && n == 0 {
                    let suites_at = requested_level_offset(b) + 1;
                    let mode_at = suites_at + 1 + 2 * usize::from(b[suites_at]);
                    assert_eq!(b[mode_at], 1, "stream mode byte");
                    // max_record_len = 65536 = 00 01 00 00 follows the mode byte.
                    assert_eq!(&b[mode_at + 1..mode_at + 5], &[0, 1, 0, 0]);
                    match field {
                        "mode" => b[mode_at] = 2,
                        _ => b[mode_at + 2] ^= 0x40,
                    }
                }
            })),
        );
        assert!(out.server.is_err(), "{field}");
        detected(&out.client);
    }
}

/// The client refused the handshake because it was altered: through the server's Finished
/// (which covers the hellos), a choice that does not follow from its offer, a mechanism that
/// binds the transcript itself, or the server's own detection, reported by alert.
fn detected(client: &Result<handfast::SecurityContext, Error>) {
    match client {
        Err(Error::PeerMisbehaved(
            PeerMisbehaved::TranscriptMismatch | PeerMisbehaved::Downgrade(_),
        ))
        | Err(Error::Mechanism { .. })
        | Err(Error::AlertReceived(_)) => {}
        other => panic!("client: {:?}", other.as_ref().err()),
    }
}

/// A flight from another handshake between the same identities (other randomness) is refused,
/// in either direction.
pub fn spliced_token_from_another_handshake_fails(f: &dyn Fixture) {
    let other = {
        let (c, s) = configs(f, Privacy, Privacy, Mode::Stream);
        handshake_seeded(c, s, [0x11; 32], [0x22; 32], None)
    };
    assert!(other.established());
    for index in 1..other.flights.len() {
        let replacement = other.flights[index].1.clone();
        let (c, s) = configs(f, Privacy, Privacy, Mode::Stream);
        let out = handshake_with(
            c,
            s,
            Some(Box::new(move |_, n, b: &mut Vec<u8>| {
                if n == index {
                    *b = replacement.clone();
                }
            })),
        );
        assert!(
            out.server.is_err(),
            "flight {index} spliced: server established"
        );
    }
}

/// Every bit of records from a real session is covered, at both levels and in both modes: an
/// altered record is refused; the stream then stays dead, the datagram session goes on.
pub fn record_bit_flips_in_a_live_session(f: &dyn Fixture) {
    for mode in [Mode::Stream, Mode::Datagram] {
        for level in [Integrity, Privacy] {
            let (mut c, _) = established(f, level, level, mode);
            let records = [
                c.seal(level, b"pay 100 to bob").unwrap(),
                c.seal(Privacy, b"").unwrap(),
                c.close().unwrap(),
            ];
            for (i, rec) in records.iter().enumerate() {
                for bit in 0..rec.len() * 8 {
                    // A fresh pair per flip would re-run the handshake thousands of times; the
                    // receiver is rebuilt from the same handshake instead.
                    let (mut c2, mut s2) = established(f, level, level, mode);
                    let genuine: Vec<_> = [
                        c2.seal(level, b"pay 100 to bob").unwrap(),
                        c2.seal(Privacy, b"").unwrap(),
                        c2.close().unwrap(),
                    ]
                    .to_vec();
                    assert_eq!(genuine[i].len(), rec.len());
                    let mut rx = StreamReceiver::default();
                    for g in &genuine[..i] {
                        match mode {
                            Mode::Stream => rx.feed(&mut s2, g).unwrap(),
                            _ => {
                                s2.open(g).unwrap();
                            }
                        }
                    }
                    let mut altered = genuine[i].clone();
                    flip(&mut altered, bit);
                    let what = format!("{mode:?} {level} record {i} bit {bit}");
                    match mode {
                        Mode::Stream => {
                            let before = rx.messages.len();
                            let r = rx.feed(&mut s2, &altered);
                            assert!(
                                r.is_err() || rx.messages.len() == before && !rx.closed,
                                "{what}: accepted"
                            );
                            // Whatever arrives next, the stream is dead or still waiting for
                            // the bytes its altered length announced; it never delivers.
                            let _ = rx.feed(&mut s2, &genuine[i]);
                            assert_eq!(rx.messages.len(), before, "{what}: delivered");
                            assert!(s2.eof().is_err(), "{what}: clean end after tampering");
                        }
                        _ => {
                            assert!(s2.open(&altered).is_err(), "{what}: accepted");
                            assert!(s2.open(&genuine[i]).is_ok(), "{what}: genuine refused");
                        }
                    }
                }
            }
        }
    }
}
