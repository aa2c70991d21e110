//! An active attacker: every bit of every handshake flight, ≥ 10,000 record bits, and targeted
//! rewrites of the negotiated fields.

use handfast::vectors::dangerous_context_from_secrets;
use handfast::{CipherSuite, Error, Mode, PeerMisbehaved, ProtectionLevel, Role};

use crate::handshake::{requested_level_offset, rewrite_requested_level};
use crate::pair::{Dir, StreamReceiver, configs, established, flip, handshake, handshake_with};

use ProtectionLevel::{Integrity, Privacy};

#[test]
fn every_handshake_bit_flip_fails() {
    for (level, min) in [(Privacy, Privacy), (Integrity, Integrity)] {
        let (c, s) = configs(level, min, Mode::Stream);
        let clean = handshake(c, s);
        assert!(clean.established());
        let flights = clean.flights.clone();
        assert_eq!(flights.len(), 4);
        let mut tried = 0;
        for (index, (_, bytes)) in flights.iter().enumerate() {
            for bit in 0..bytes.len() * 8 {
                let (c, s) = configs(level, min, Mode::Stream);
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
                // The client must never accept the session; a flip in the server's last
                // flight leaves only the server believing in a session the client refused.
                assert!(
                    out.client.is_err(),
                    "flight {index} bit {bit}: client established"
                );
                if index < 3 {
                    assert!(
                        out.server.is_err(),
                        "flight {index} bit {bit}: server established"
                    );
                }
            }
        }
        assert!(tried > 2000, "tried {tried}");
    }
}

#[test]
fn mitm_rewriting_requested_level_fails() {
    let (c, s) = configs(Privacy, Integrity, Mode::Stream);
    let out = handshake_with(c, s, Some(Box::new(rewrite_requested_level)));
    assert!(!out.established());
    assert!(out.client.is_err());
}

#[test]
fn mitm_rewriting_required_level_fails() {
    // Server requires privacy; the attacker rewrites both the required and the negotiated
    // level of the ServerHello to integrity, consistently.
    let (c, s) = configs(Integrity, Privacy, Mode::Stream);
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
    // The server sees the client's Finished over a different transcript and aborts; the
    // client, which sends nothing before the server's Finished, learns it from the alert.
    assert_eq!(
        out.server.err(),
        Some(PeerMisbehaved::TranscriptMismatch.into())
    );
    assert_eq!(
        out.client.err(),
        Some(Error::AlertReceived(handfast::AlertCode::HandshakeFailure))
    );
}

#[test]
fn mitm_rewriting_suite_list_fails() {
    // Strip AES-256-GCM from the client's offer so that the server picks ChaCha20.
    let (mut c, s) = configs(Privacy, Privacy, Mode::Stream);
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
    assert!(!out.established());
    assert!(out.server.is_err() && out.client.is_err());
    assert_eq!(
        out.server.err(),
        Some(PeerMisbehaved::TranscriptMismatch.into())
    );
}

#[test]
fn mitm_rewriting_mechanism_list_fails() {
    // The client offers Noise and a second mechanism; the server knows only Noise and picks it
    // either way. The attacker renames the alternative: every choice still follows from what
    // the server read, so only the transcript can tell.
    let k = crate::pair::keys();
    let (cm, sm) = crate::pair::noise_pair(&k.client, &k.server);
    let mut c = handfast::ClientConfig::new(cm.clone());
    c.mechanisms
        .push(std::sync::Arc::new(crate::handshake::Renumbered(
            cm,
            handfast::MechanismId(0x7777),
        )));
    let out = handshake_with(
        c,
        handfast::ServerConfig::new(sm),
        Some(Box::new(|dir, n, b: &mut Vec<u8>| {
            if dir == Dir::ToServer && n == 0 {
                let at = 4 + 1 + 2 + 32 + 1;
                assert_eq!(&b[at..at + 4], &[0, 1, 0x77, 0x77]);
                b[at + 3] = 0x78;
            }
        })),
    );
    assert!(!out.established());
    assert_eq!(
        out.server.err(),
        Some(PeerMisbehaved::TranscriptMismatch.into())
    );
    assert!(out.client.is_err());
}

#[test]
fn mitm_rewriting_mode_or_record_size_fails() {
    for field in ["mode", "max_record_len"] {
        let (c, s) = configs(Privacy, Privacy, Mode::Stream);
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
        assert!(!out.established(), "{field}");
        // The server agrees to what it read; the client's own view differs: either it
        // notices the echoed mode, or the Finished exchange does.
        let caught = [&out.client, &out.server].iter().any(|r| {
            matches!(
                r,
                Err(handfast::Error::PeerMisbehaved(
                    PeerMisbehaved::TranscriptMismatch | PeerMisbehaved::Downgrade(_)
                ))
            )
        });
        assert!(
            caught,
            "{field}: {:?} / {:?}",
            out.client.as_ref().err(),
            out.server.as_ref().err()
        );
    }
}

/// Records of every kind and level, in both modes, from a context built from fixed secrets.
fn sample_records(mode: Mode, level: ProtectionLevel) -> Vec<Vec<u8>> {
    let mut tx = dangerous_context_from_secrets(
        Role::Initiator,
        CipherSuite::Aes256Gcm,
        mode,
        level,
        [3; 32],
        [4; 32],
        1 << 20,
    );
    let mut records = vec![
        tx.seal(level, &(0..320).map(|i| i as u8).collect::<Vec<_>>())
            .unwrap(),
        tx.seal(Privacy, b"short").unwrap(),
        tx.seal(level, b"").unwrap(),
    ];
    if level == Integrity {
        records.push(tx.sign(b"signed elsewhere").unwrap());
    }
    records.push(tx.close().unwrap());
    records
}

fn receiver(mode: Mode, level: ProtectionLevel) -> handfast::SecurityContext {
    dangerous_context_from_secrets(
        Role::Responder,
        CipherSuite::Aes256Gcm,
        mode,
        level,
        [3; 32],
        [4; 32],
        1 << 20,
    )
}

/// Feeds one record (or signature token) to `rx`; whether it was accepted as a whole.
fn offer(rx: &mut handfast::SecurityContext, stream: &mut StreamReceiver, r: &[u8]) -> bool {
    if r.first() == Some(&0x41) {
        return rx.verify(b"signed elsewhere", r).is_ok();
    }
    if rx.mode() == Mode::Datagram {
        return rx.open(r).is_ok();
    }
    let before = stream.messages.len() + usize::from(stream.closed);
    stream.feed(rx, r).is_ok() && stream.messages.len() + usize::from(stream.closed) == before + 1
}

#[test]
fn record_bit_flips_are_all_rejected() {
    let mut flips = 0;
    for mode in [Mode::Stream, Mode::Datagram] {
        for level in [Integrity, Privacy] {
            let records = sample_records(mode, level);
            // Control: untouched records all pass.
            let (mut rx, mut stream) = (receiver(mode, level), StreamReceiver::default());
            assert!(
                records.iter().all(|r| offer(&mut rx, &mut stream, r)),
                "{mode:?} {level}"
            );
            for (i, rec) in records.iter().enumerate() {
                for bit in 0..rec.len() * 8 {
                    let (mut rx, mut stream) = (receiver(mode, level), StreamReceiver::default());
                    for genuine in &records[..i] {
                        assert!(offer(&mut rx, &mut stream, genuine));
                    }
                    let mut altered = rec.clone();
                    flip(&mut altered, bit);
                    flips += 1;
                    let what = format!("{mode:?} {level} record {i} bit {bit}");
                    assert!(
                        !offer(&mut rx, &mut stream, &altered),
                        "{what}: altered record accepted"
                    );
                    let genuine_after = offer(&mut rx, &mut stream, rec);
                    match mode {
                        // The stream is dead: nothing more is delivered and its end is an error.
                        Mode::Stream => {
                            assert!(!genuine_after, "{what}: stream went on");
                            assert!(rx.eof().is_err(), "{what}: clean end after tampering");
                        }
                        // A datagram session drops the bad record and goes on.
                        _ => assert!(genuine_after, "{what}: genuine record refused"),
                    }
                }
            }
        }
    }
    assert!(flips >= 10_000, "only {flips} flips");
}

#[test]
fn truncated_or_extended_records_are_rejected() {
    let (mut c, mut s) = established(Privacy, Privacy, Mode::Datagram);
    let rec = c.seal(Privacy, b"datagram").unwrap();
    for cut in 0..rec.len() {
        assert!(s.open(&rec[..cut]).is_err());
    }
    let mut longer = rec.clone();
    longer.push(0);
    assert!(s.open(&longer).is_err());
    assert!(s.open(&rec).is_ok());
    assert!(matches!(
        s.open(&rec),
        Err(Error::PeerMisbehaved(PeerMisbehaved::Replayed(0)))
    ));
}
