//! Application traffic over a real handshake: levels, ordering, truncation, key updates,
//! limits, detached signatures.

use std::sync::Arc;
use std::time::Instant;

use handfast::{
    ApiMisuse, Error, Handshake, LimitReached, Limits, Mode, PeerMisbehaved, ProtectionLevel,
};

use crate::Fixture;
use crate::pair::{StreamReceiver, configs, established, handshake, handshake_seeded};

use ProtectionLevel::{Integrity, Privacy};

fn message(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
}

/// Messages of many sizes flow both ways at every level at or above the negotiated one.
pub fn round_trip_both_directions_at_both_levels(f: &dyn Fixture) {
    for (asked, min) in [
        (Integrity, Integrity),
        (Privacy, Integrity),
        (Privacy, Privacy),
    ] {
        let (mut c, mut s) = established(f, asked, min, Mode::Stream);
        let (mut at_s, mut at_c) = (StreamReceiver::default(), StreamReceiver::default());
        let (mut sent_c, mut sent_s) = (Vec::new(), Vec::new());
        for i in 0..50 {
            let m = message(i, i * 37 % 3000);
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

/// Integrity records carry the payload in clear; privacy records do not.
pub fn integrity_is_readable_and_privacy_is_not(f: &dyn Fixture) {
    let secret = b"the quick brown fox pays 1000 EUR";
    let (mut c, _) = established(f, Integrity, Integrity, Mode::Stream);
    let rec = c.seal(Integrity, secret).unwrap();
    assert_eq!(&rec[4..4 + secret.len()], secret);
    let rec = c.seal(Privacy, secret).unwrap();
    assert!(!rec.windows(8).any(|w| secret.windows(8).any(|s| s == w)));
    // The sender cannot go below the negotiated level, and misuse harms nothing.
    let (mut c, _) = established(f, Privacy, Privacy, Mode::Stream);
    assert_eq!(
        c.seal(Integrity, b"x"),
        Err(ApiMisuse::LevelBelowNegotiated {
            requested: Integrity,
            negotiated: Privacy
        }
        .into())
    );
    assert!(c.seal(Privacy, b"x").is_ok());
}

/// In stream mode a replayed, reordered or missing record is fatal.
pub fn replayed_reordered_and_dropped_records_are_fatal(f: &dyn Fixture) {
    for level in [Integrity, Privacy] {
        let (mut c, mut s) = established(f, level, level, Mode::Stream);
        let r1 = c.seal(level, b"pay 10").unwrap();
        s.open(&r1).unwrap();
        assert_eq!(s.open(&r1), Err(PeerMisbehaved::BadRecordMac.into()));
        let r2 = c.seal(level, b"next").unwrap();
        assert_eq!(
            s.open(&r2),
            Err(PeerMisbehaved::BadRecordMac.into()),
            "sticky"
        );

        let (mut c, mut s) = established(f, level, level, Mode::Stream);
        let r1 = c.seal(level, b"first").unwrap();
        let r2 = c.seal(level, b"second").unwrap();
        assert_eq!(s.open(&r2), Err(PeerMisbehaved::BadRecordMac.into()));
        assert!(s.open(&r1).is_err());
    }
}

/// A record sent back to its sender is refused (per-direction keys).
pub fn reflected_records_are_rejected(f: &dyn Fixture) {
    for mode in [Mode::Stream, Mode::Datagram] {
        for level in [Integrity, Privacy] {
            let (mut c, mut s) = established(f, level, level, mode);
            let to_server = c.seal(level, b"hello").unwrap();
            assert_eq!(c.open(&to_server), Err(PeerMisbehaved::BadRecordMac.into()));
            assert!(s.open(&to_server).is_ok());
        }
    }
}

/// A record from another session between the same identities is refused.
pub fn spliced_records_from_another_session_are_rejected(f: &dyn Fixture) {
    for level in [Integrity, Privacy] {
        let (mut c1, _) = established(f, level, level, Mode::Stream);
        let (cc, sc) = configs(f, level, level, Mode::Stream);
        let (_, mut s2) = handshake_seeded(cc, sc, [0x01; 32], [0x02; 32], None).both();
        let rec = c1.seal(level, b"from session 1").unwrap();
        assert_eq!(s2.open(&rec), Err(PeerMisbehaved::BadRecordMac.into()));
    }
}

/// A cut between or inside records is `Truncated`; only an authenticated close ends cleanly,
/// and it ends one direction only.
pub fn truncation_is_reported_not_a_clean_end(f: &dyn Fixture) {
    for level in [Integrity, Privacy] {
        let (mut c, mut s) = established(f, level, level, Mode::Stream);
        let mut rx = StreamReceiver::default();
        rx.feed(&mut s, &c.seal(level, b"part 1").unwrap()).unwrap();
        assert_eq!(s.eof(), Err(Error::Truncated));

        let (mut c, mut s) = established(f, level, level, Mode::Stream);
        let rec = c.seal(level, b"part 1").unwrap();
        let mut rx = StreamReceiver::default();
        rx.feed(&mut s, &rec[..rec.len() - 1]).unwrap();
        assert!(rx.messages.is_empty());
        assert_eq!(s.eof(), Err(Error::Truncated));

        let (mut c, mut s) = established(f, level, level, Mode::Stream);
        let mut rx = StreamReceiver::default();
        let mut bytes = c.seal(level, b"all").unwrap();
        bytes.extend_from_slice(&c.close().unwrap());
        rx.feed(&mut s, &bytes).unwrap();
        assert!(rx.closed && s.peer_closed());
        assert_eq!(s.eof(), Ok(()));
        assert_eq!(c.seal(level, b"more"), Err(ApiMisuse::AlreadyClosed.into()));
        let reply = s.seal(level, b"reply").unwrap();
        assert_eq!(c.open(&reply).unwrap(), Some((level, b"reply".to_vec())));
        // Nothing is accepted after the close.
        let (mut c2, _) = established(f, level, level, Mode::Stream);
        assert_eq!(
            s.open(&c2.seal(level, b"x").unwrap()),
            Err(PeerMisbehaved::DataAfterClose.into())
        );

        let (mut c, mut s) = established(f, level, level, Mode::Stream);
        let mut close = c.close().unwrap();
        let last = close.len() - 1;
        close[last] ^= 1;
        assert!(s.open(&close).is_err());
        assert_eq!(s.eof(), Err(PeerMisbehaved::BadRecordMac.into()));
    }
}

/// Counter nonces: the same plaintext never yields the same record.
pub fn same_plaintext_never_same_record(f: &dyn Fixture) {
    let (mut c, mut s) = established(f, Privacy, Privacy, Mode::Stream);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..100 {
        assert!(seen.insert(c.seal(Privacy, b"same").unwrap()));
        assert!(seen.insert(s.seal(Privacy, b"same").unwrap()));
    }
}

/// Many key updates in each direction, in both modes and at both levels, at the smallest
/// interval each mode allows.
pub fn key_updates_crossed_many_times(f: &dyn Fixture) {
    for mode in [Mode::Stream, Mode::Datagram] {
        for level in [Integrity, Privacy] {
            let (mut cc, mut sc) = configs(f, level, level, mode);
            let interval = if mode == Mode::Stream { 1024 } else { 2048 };
            cc.limits = Limits::default();
            cc.limits.key_update_interval = Some(interval);
            sc.limits = cc.limits.clone();
            sc.modes = vec![mode];
            let (mut c, mut s) = handshake(cc, sc).both();
            let records = interval as usize * 12 + 5;
            let mut rx = StreamReceiver::default();
            for i in 0..records {
                let m = message(i, i % 16);
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
                        .all(|(i, (_, m))| *m == message(i, i % 16))
                );
            }
            let epochs = (records as u64 - 1) / interval;
            assert_eq!(c.key_epochs().0, epochs, "{mode:?} {level}");
            assert_eq!(s.key_epochs().1, epochs);
            for i in 0..records {
                let rec = s.seal(level, &message(i, 4)).unwrap();
                assert_eq!(c.open(&rec).unwrap(), Some((level, message(i, 4))));
            }
            assert_eq!(s.key_epochs().0, epochs);
            assert_eq!(c.key_epochs().1, epochs);
        }
    }
}

/// Sequence numbers never wrap: the sender refuses past its maximum, and so does the receiver,
/// even when the sender allows more.
pub fn sequence_never_wraps_on_either_side(f: &dyn Fixture) {
    let (mut cc, mut sc) = configs(f, Privacy, Privacy, Mode::Stream);
    cc.limits = Limits::default();
    cc.limits.max_sequence = 4;
    sc.limits = Limits::default();
    let (mut c, mut s) = handshake(cc.clone(), sc.clone()).both();
    for i in 0..5u8 {
        let rec = c.seal(Privacy, &[i]).unwrap();
        assert_eq!(s.open(&rec).unwrap(), Some((Privacy, vec![i])));
    }
    let exhausted: Error = LimitReached::SequenceExhausted.into();
    assert_eq!(c.seal(Privacy, b"x"), Err(exhausted.clone()));
    assert_eq!(c.close(), Err(exhausted.clone()));
    assert_eq!(c.seal(Privacy, b"x"), Err(exhausted.clone()));

    // Receive side: the server's own maximum holds against a client that may send more.
    let (mut cc, mut sc) = (cc, sc);
    cc.limits.max_sequence = u64::MAX - 1;
    sc.limits.max_sequence = 2;
    let (mut c, mut s) = handshake(cc, sc).both();
    for i in 0..3u8 {
        let rec = c.seal(Privacy, &[i]).unwrap();
        assert_eq!(s.open(&rec).unwrap(), Some((Privacy, vec![i])));
    }
    let rec = c.seal(Privacy, b"fourth").unwrap();
    assert_eq!(s.open(&rec), Err(exhausted.clone()));
    assert_eq!(s.open(&rec), Err(exhausted), "sticky");
}

/// In stream mode, a receive error ends the session for sending too: the peer is not answered
/// on a connection that was tampered with.
pub fn send_after_a_fatal_receive_error_is_refused(f: &dyn Fixture) {
    let (mut c, mut s) = established(f, Privacy, Privacy, Mode::Stream);
    let mut rec = c.seal(Privacy, b"x").unwrap();
    rec[6] ^= 1;
    let err = s.open(&rec).unwrap_err();
    assert_eq!(s.seal(Privacy, b"reply"), Err(err.clone()));
    assert_eq!(s.close(), Err(err));
    // In datagram mode a dropped record harms nothing.
    let (mut c, mut s) = established(f, Privacy, Privacy, Mode::Datagram);
    let mut rec = c.seal(Privacy, b"x").unwrap();
    rec[12] ^= 1;
    assert!(s.open(&rec).is_err());
    assert!(s.seal(Privacy, b"reply").is_ok());
    // A larger message than the peer accepts is refused by the sender.
    let (mut cc, mut sc) = configs(f, Privacy, Privacy, Mode::Stream);
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
    assert!(s.open(&c.seal(Privacy, &[0; 1000]).unwrap()).is_ok());
}

/// Detached signatures share the record sequence, use their own key, and exist only at
/// integrity.
pub fn sign_and_verify_detached(f: &dyn Fixture) {
    let (mut c, mut s) = established(f, Integrity, Integrity, Mode::Stream);
    let t1 = c.sign(b"first message").unwrap();
    let t2 = c.sign(b"second message").unwrap();
    assert_eq!(t1.len(), c.sizes().signature);
    s.verify(b"first message", &t1).unwrap();
    s.verify(b"second message", &t2).unwrap();
    let r = c.seal(Integrity, b"record").unwrap();
    assert!(s.open(&r).is_ok());
    let t3 = c.sign(b"third").unwrap();
    assert_eq!(
        s.verify(b"thirD", &t3),
        Err(PeerMisbehaved::BadRecordMac.into())
    );

    let (mut c, mut s) = established(f, Integrity, Integrity, Mode::Stream);
    let t = c.sign(b"m").unwrap();
    assert!(s.open(&t).is_err());
    let (mut c, mut s) = established(f, Integrity, Integrity, Mode::Stream);
    let r = c.seal(Integrity, b"m").unwrap();
    assert!(s.verify(&r[4..5], &r).is_err());

    let (mut c, mut s) = established(f, Privacy, Privacy, Mode::Stream);
    assert_eq!(c.sign(b"m"), Err(ApiMisuse::SignatureNeedsIntegrity.into()));
    assert_eq!(
        s.verify(b"m", &[0x41, 0, 0, 16]),
        Err(ApiMisuse::SignatureNeedsIntegrity.into())
    );

    // A fresh handshake proves the context is usable right after `into_context`.
    let (cc, sc) = configs(f, Integrity, Integrity, Mode::Datagram);
    let now = Instant::now();
    let mut ch = Handshake::client(Arc::new(cc), [7; 32], now).unwrap();
    let mut sh = Handshake::server(Arc::new(sc), [8; 32], now).unwrap();
    while !(ch.is_complete() && sh.is_complete()) {
        sh.handle_input(&ch.take_output()).unwrap();
        ch.handle_input(&sh.take_output()).unwrap();
    }
    let (mut c, mut s) = (ch.into_context().unwrap(), sh.into_context().unwrap());
    let t = c.sign(b"datagram").unwrap();
    s.verify(b"datagram", &t).unwrap();
}
