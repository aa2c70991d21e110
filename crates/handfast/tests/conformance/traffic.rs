//! Application traffic in stream mode: levels, ordering, truncation, key updates, limits.

use handfast::{
    ApiMisuse, Error, LimitReached, Limits, Mode, Opened, PeerMisbehaved, ProtectionLevel,
    SecurityContext,
};

use crate::alloc::measure;
use crate::pair::{StreamReceiver, configs, established, handshake};

use ProtectionLevel::{Integrity, Privacy};

fn message(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
}

#[test]
fn round_trip_both_directions_at_both_levels() {
    for (asked, min) in [
        (Integrity, Integrity),
        (Privacy, Integrity),
        (Privacy, Privacy),
    ] {
        let (mut c, mut s) = established(asked, min, Mode::Stream);
        let (mut at_s, mut at_c) = (StreamReceiver::default(), StreamReceiver::default());
        let mut sent_c = Vec::new();
        let mut sent_s = Vec::new();
        for i in 0..50 {
            let m = message(i, i * 37 % 3000);
            // Any level at or above the negotiated one is allowed.
            let level = if i % 3 == 0 { Privacy } else { c.level() };
            let rec = c.seal(level, &m).unwrap();
            at_s.feed(&mut s, &rec).unwrap();
            sent_c.push((level, m.clone()));
            let rec = s.seal(s.level(), &m).unwrap();
            at_c.feed(&mut c, &rec).unwrap();
            sent_s.push((s.level(), m));
        }
        assert_eq!(at_s.messages, sent_c);
        assert_eq!(at_c.messages, sent_s);
    }
}

#[test]
fn integrity_records_are_readable_and_privacy_records_are_not() {
    let secret = b"the quick brown fox pays 1000 EUR";
    let (mut c, _) = established(Integrity, Integrity, Mode::Stream);
    let rec = c.seal(Integrity, secret).unwrap();
    assert_eq!(&rec[4..4 + secret.len()], secret);
    let rec = c.seal(Privacy, secret).unwrap();
    assert!(!rec.windows(8).any(|w| secret.windows(8).any(|s| s == w)));
}

#[test]
fn overhead_is_at_most_tls13() {
    let (c, _) = established(Privacy, Privacy, Mode::Stream);
    let sizes = c.sizes();
    // TLS 1.3 spends 22 bytes per record (5-byte header, 1-byte content type, 16-byte tag).
    assert_eq!(sizes.header + sizes.trailer, 20);
    let (mut c, _) = established(Integrity, Integrity, Mode::Stream);
    assert_eq!(c.seal(Integrity, &[0; 1000]).unwrap().len(), 1020);
}

#[test]
fn sender_cannot_go_below_negotiated_level() {
    let (mut c, _) = established(Privacy, Privacy, Mode::Stream);
    assert_eq!(
        c.seal(Integrity, b"x"),
        Err(ApiMisuse::LevelBelowNegotiated {
            requested: Integrity,
            negotiated: Privacy
        }
        .into())
    );
    // Misuse does not break the context.
    assert!(c.seal(Privacy, b"x").is_ok());
}

#[test]
fn record_below_negotiated_level_is_rejected() {
    // A peer that protects a record at integrity in a privacy session (valid tag under the
    // integrity key of the same traffic secret) is refused: the receiver checks the level.
    use handfast::vectors::dangerous_context_from_secrets;
    use handfast::{CipherSuite, Role};
    let make = |role, level| {
        dangerous_context_from_secrets(
            role,
            CipherSuite::Aes256Gcm,
            Mode::Stream,
            level,
            [1; 32],
            [2; 32],
            1 << 20,
        )
    };
    let mut rogue_client = make(Role::Initiator, Integrity);
    let mut server = make(Role::Responder, Privacy);
    let rec = rogue_client.seal(Integrity, b"transfer 1000").unwrap();
    let err = StreamReceiver::default()
        .feed(&mut server, &rec)
        .unwrap_err();
    assert_eq!(
        err,
        PeerMisbehaved::BelowNegotiatedLevel {
            got: Integrity,
            negotiated: Privacy
        }
        .into()
    );
    // Control: the same rogue sender at privacy is accepted, so the refusal was the level.
    let mut server = make(Role::Responder, Privacy);
    let mut rogue_client = make(Role::Initiator, Integrity);
    let rec = rogue_client.seal(Privacy, b"transfer 1000").unwrap();
    assert_eq!(
        server.open(&rec).unwrap(),
        Some((Privacy, b"transfer 1000".to_vec()))
    );
}

#[test]
fn replayed_record_is_rejected() {
    let (mut c, mut s) = established(Privacy, Privacy, Mode::Stream);
    let r1 = c.seal(Privacy, b"pay 10").unwrap();
    s.open(&r1).unwrap();
    assert_eq!(s.open(&r1), Err(PeerMisbehaved::BadRecordMac.into()));
    // Stream mode: the context is now closed for good.
    let r2 = c.seal(Privacy, b"next").unwrap();
    assert_eq!(s.open(&r2), Err(PeerMisbehaved::BadRecordMac.into()));
}

#[test]
fn reordered_records_are_rejected() {
    for level in [Integrity, Privacy] {
        let (mut c, mut s) = established(level, level, Mode::Stream);
        let r1 = c.seal(level, b"first").unwrap();
        let r2 = c.seal(level, b"second").unwrap();
        assert_eq!(s.open(&r2), Err(PeerMisbehaved::BadRecordMac.into()));
        assert!(s.open(&r1).is_err(), "sticky after a failure");
    }
}

#[test]
fn dropped_record_is_detected() {
    let (mut c, mut s) = established(Privacy, Privacy, Mode::Stream);
    let _lost = c.seal(Privacy, b"lost").unwrap();
    let r2 = c.seal(Privacy, b"after").unwrap();
    assert_eq!(s.open(&r2), Err(PeerMisbehaved::BadRecordMac.into()));
}

#[test]
fn reflected_record_is_rejected() {
    for level in [Integrity, Privacy] {
        let (mut c, mut s) = established(level, level, Mode::Stream);
        let to_server = c.seal(level, b"hello").unwrap();
        // Sent back to its sender: the client opens with the server-to-client keys.
        assert_eq!(c.open(&to_server), Err(PeerMisbehaved::BadRecordMac.into()));
        assert!(s.open(&to_server).is_ok());
    }
}

#[test]
fn spliced_record_from_another_session_is_rejected() {
    for level in [Integrity, Privacy] {
        let (mut c1, _s1) = established(level, level, Mode::Stream);
        // A second session between the same keys, with different entropy.
        let (cc, sc) = configs(level, level, Mode::Stream);
        let now = std::time::Instant::now();
        let mut ch = handfast::Handshake::client(std::sync::Arc::new(cc), [0x01; 32], now).unwrap();
        let mut sh = handfast::Handshake::server(std::sync::Arc::new(sc), [0x02; 32], now).unwrap();
        while !(ch.is_complete() && sh.is_complete()) {
            sh.handle_input(&ch.take_output()).unwrap();
            ch.handle_input(&sh.take_output()).unwrap();
        }
        let mut s2 = sh.into_context().unwrap();
        let rec = c1.seal(level, b"from session 1").unwrap();
        assert_eq!(s2.open(&rec), Err(PeerMisbehaved::BadRecordMac.into()));
    }
}

#[test]
fn truncation_is_reported_not_a_clean_end() {
    for level in [Integrity, Privacy] {
        // Cut between records.
        let (mut c, mut s) = established(level, level, Mode::Stream);
        let mut rx = StreamReceiver::default();
        rx.feed(&mut s, &c.seal(level, b"part 1").unwrap()).unwrap();
        assert_eq!(s.eof(), Err(Error::Truncated));

        // Cut inside a record.
        let (mut c, mut s) = established(level, level, Mode::Stream);
        let rec = c.seal(level, b"part 1").unwrap();
        let mut rx = StreamReceiver::default();
        rx.feed(&mut s, &rec[..rec.len() - 1]).unwrap();
        assert!(rx.messages.is_empty());
        assert_eq!(s.eof(), Err(Error::Truncated));

        // A proper close is a clean end, and the close itself is authenticated.
        let (mut c, mut s) = established(level, level, Mode::Stream);
        let mut rx = StreamReceiver::default();
        let mut bytes = c.seal(level, b"all").unwrap();
        let close = c.close().unwrap();
        bytes.extend_from_slice(&close);
        rx.feed(&mut s, &bytes).unwrap();
        assert!(rx.closed && s.peer_closed());
        assert_eq!(s.eof(), Ok(()));
        assert_eq!(c.seal(level, b"more"), Err(ApiMisuse::AlreadyClosed.into()));
        // The other direction still works after a half-close.
        let reply = s.seal(level, b"reply").unwrap();
        assert_eq!(c.open(&reply).unwrap(), Some((level, b"reply".to_vec())));

        // A forged close is not a close.
        let (mut c, mut s) = established(level, level, Mode::Stream);
        let mut close = c.close().unwrap();
        let last = close.len() - 1;
        close[last] ^= 1;
        assert!(s.open(&close).is_err());
        assert_eq!(s.eof(), Err(PeerMisbehaved::BadRecordMac.into()));
    }
}

#[test]
fn data_after_close_is_rejected() {
    let (mut c, mut s) = established(Privacy, Privacy, Mode::Stream);
    assert_eq!(s.open(&c.close().unwrap()).unwrap(), None);
    // A sender that ignores its own close (built by hand: the API refuses) cannot be
    // simulated without the keys, so check the receiver refuses any further record.
    let (mut c2, _) = established(Privacy, Privacy, Mode::Stream);
    let other = c2.seal(Privacy, b"x").unwrap();
    assert_eq!(s.open(&other), Err(PeerMisbehaved::DataAfterClose.into()));
}

#[test]
fn same_plaintext_never_same_record() {
    let (mut c, mut s) = established(Privacy, Privacy, Mode::Stream);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..100 {
        assert!(seen.insert(c.seal(Privacy, b"same").unwrap()));
        assert!(seen.insert(s.seal(Privacy, b"same").unwrap()));
    }
}

#[test]
fn key_updates_crossed_many_times() {
    for mode in [Mode::Stream, Mode::Datagram] {
        for level in [Integrity, Privacy] {
            let (mut cc, mut sc) = configs(level, level, mode);
            let interval = if mode == Mode::Stream { 3 } else { 2048 };
            cc.limits = Limits::default();
            cc.limits.key_update_interval = Some(interval);
            sc.limits = cc.limits.clone();
            sc.modes = vec![mode];
            let (mut c, mut s) = handshake(cc, sc).both();
            let records = if mode == Mode::Stream { 1000 } else { 20_000 };
            let mut rx = StreamReceiver::default();
            for i in 0..records {
                let m = message(i, i % 64);
                let rec = c.seal(level, &m).unwrap();
                match mode {
                    Mode::Stream => rx.feed(&mut s, &rec).unwrap(),
                    _ => assert_eq!(s.open(&rec).unwrap(), Some((level, m))),
                }
            }
            if mode == Mode::Stream {
                assert_eq!(rx.messages.len(), records);
                assert!(
                    rx.messages
                        .iter()
                        .enumerate()
                        .all(|(i, (_, m))| *m == message(i, i % 64))
                );
            }
            let epochs = (records as u64 - 1) / interval;
            assert_eq!(c.key_epochs().0, epochs, "{mode:?} {level}");
            assert_eq!(s.key_epochs().1, epochs);
            assert!(epochs >= 9);
            // And the other direction, with its own ratchet.
            for i in 0..records {
                let rec = s.seal(level, &message(i, 8)).unwrap();
                match mode {
                    Mode::Stream => assert_eq!(c.open(&rec).unwrap(), Some((level, message(i, 8)))),
                    _ => assert_eq!(c.open(&rec).unwrap(), Some((level, message(i, 8)))),
                }
            }
            assert_eq!(s.key_epochs().0, epochs);
            assert_eq!(c.key_epochs().1, epochs);
        }
    }
}

#[test]
fn sequence_never_wraps() {
    let (mut cc, mut sc) = configs(Privacy, Privacy, Mode::Stream);
    cc.limits = Limits::default();
    cc.limits.max_sequence = 4;
    sc.limits = cc.limits.clone();
    let (mut c, mut s) = handshake(cc, sc).both();
    for i in 0..5u8 {
        let rec = c.seal(Privacy, &[i]).unwrap();
        assert_eq!(s.open(&rec).unwrap(), Some((Privacy, vec![i])));
    }
    let exhausted: Error = LimitReached::SequenceExhausted.into();
    assert_eq!(c.seal(Privacy, b"x"), Err(exhausted.clone()));
    assert_eq!(c.close(), Err(exhausted.clone()));
    // Still refused: no wrap back to zero.
    assert_eq!(c.seal(Privacy, b"x"), Err(exhausted));
}

#[test]
fn oversized_message_is_refused_by_sender() {
    let (mut cc, mut sc) = configs(Privacy, Privacy, Mode::Stream);
    sc.limits = Limits::default();
    sc.limits.max_record_len = 1000;
    cc.limits = Limits::default();
    let (mut c, mut s) = handshake(cc, sc).both();
    assert_eq!(c.sizes().max_message, 1000);
    assert_eq!(
        c.seal(Privacy, &[0; 1001]),
        Err(ApiMisuse::MessageTooLarge {
            len: 1001,
            max: 1000
        }
        .into())
    );
    let rec = c.seal(Privacy, &[0; 1000]).unwrap();
    assert!(s.open(&rec).is_ok());
}

#[test]
fn sign_and_verify_detached() {
    let (mut c, mut s) = established(Integrity, Integrity, Mode::Stream);
    let t1 = c.sign(b"first message").unwrap();
    let t2 = c.sign(b"second message").unwrap();
    assert_eq!(t1.len(), c.sizes().signature);
    s.verify(b"first message", &t1).unwrap();
    s.verify(b"second message", &t2).unwrap();
    // Interleaves with records in one sequence.
    let r = c.seal(Integrity, b"record").unwrap();
    assert!(s.open(&r).is_ok());
    let t3 = c.sign(b"third").unwrap();
    assert_eq!(
        s.verify(b"thirD", &t3),
        Err(PeerMisbehaved::BadRecordMac.into())
    );

    // A signature is never accepted as a record, nor a record as a signature.
    let (mut c, mut s) = established(Integrity, Integrity, Mode::Stream);
    let t = c.sign(b"m").unwrap();
    assert!(s.open(&t).is_err());
    let (mut c, mut s) = established(Integrity, Integrity, Mode::Stream);
    let r = c.seal(Integrity, b"m").unwrap();
    assert!(s.verify(&r[4..5], &r).is_err());

    // In a privacy session a message in clear would run below the level.
    let (mut c, mut s) = established(Privacy, Privacy, Mode::Stream);
    assert_eq!(c.sign(b"m"), Err(ApiMisuse::SignatureNeedsIntegrity.into()));
    assert_eq!(
        s.verify(b"m", &[0x41, 0, 0, 16]),
        Err(ApiMisuse::SignatureNeedsIntegrity.into())
    );
}

#[test]
fn in_place_path_does_not_allocate() {
    for level in [Integrity, Privacy] {
        let (mut c, mut s) = established(level, level, Mode::Stream);
        let sizes = c.sizes();
        let payload = 16 * 1024;
        let mut buf = vec![0u8; sizes.header + payload + sizes.trailer];
        let mut out = Vec::with_capacity(payload + 64);
        let msg = vec![7u8; payload];
        // Warm up (the first record may set up nothing, but be fair).
        seal_open(&mut c, &mut s, level, &mut buf, &msg);
        let (_, count, _) = measure(|| {
            for _ in 0..100 {
                seal_open(&mut c, &mut s, level, &mut buf, &msg);
                out.clear();
                c.seal_into(level, &msg, &mut out).unwrap();
                match s.open_in_place(&mut out).unwrap() {
                    Opened::Data { payload, .. } => assert_eq!(payload.len(), msg.len()),
                    _ => panic!("expected data"),
                }
            }
        });
        assert_eq!(count, 0, "allocations on the in-place path at {level}");
    }
}

fn seal_open(
    c: &mut SecurityContext,
    s: &mut SecurityContext,
    level: ProtectionLevel,
    buf: &mut [u8],
    msg: &[u8],
) {
    let h = c.sizes().header;
    buf[h..h + msg.len()].copy_from_slice(msg);
    c.seal_in_place(level, buf).unwrap();
    match s.open_in_place(buf).unwrap() {
        Opened::Data {
            level: got,
            payload,
        } => {
            assert_eq!(got, level);
            assert_eq!(payload, msg);
        }
        _ => panic!("expected data"),
    }
}
