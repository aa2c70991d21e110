//! Datagram mode: loss, reordering, duplicates and the replay window, checked against a simple
//! reference model.

use std::collections::BTreeSet;

use handfast::{Error, Mode, PeerMisbehaved, ProtectionLevel};
use proptest::prelude::*;

use crate::pair::established;

use ProtectionLevel::{Integrity, Privacy};

/// The window the implementation promises (at least 1024).
const WINDOW: u64 = 2048;

#[test]
fn loss_and_reordering_within_the_window_are_tolerated() {
    let (mut c, mut s) = established(Privacy, Privacy, Mode::Datagram);
    let records: Vec<_> = (0..3000u32)
        .map(|i| c.seal(Privacy, &i.to_be_bytes()).unwrap())
        .collect();
    // Every third lost, pairs swapped.
    let mut order: Vec<usize> = (0..3000).filter(|i| i % 3 != 0).collect();
    for pair in order.chunks_mut(2) {
        pair.reverse();
    }
    for i in order {
        let (level, data) = s.open(&records[i]).unwrap().unwrap();
        assert_eq!(level, Privacy);
        assert_eq!(data, (i as u32).to_be_bytes());
    }
}

#[test]
fn window_edges() {
    let (mut c, mut s) = established(Integrity, Integrity, Mode::Datagram);
    let records: Vec<_> = (0..5000u32)
        .map(|i| c.seal(Integrity, &i.to_be_bytes()).unwrap())
        .collect();
    s.open(&records[0]).unwrap();
    assert_eq!(s.open(&records[0]), Err(PeerMisbehaved::Replayed(0).into()));
    // Far ahead (but within the key-epoch bound) is fine.
    s.open(&records[4000]).unwrap();
    let oldest = 4000 - (WINDOW as usize - 1);
    s.open(&records[oldest]).unwrap();
    assert_eq!(
        s.open(&records[oldest - 1]),
        Err(PeerMisbehaved::TooOld(oldest as u64 - 1).into())
    );
    assert_eq!(
        s.open(&records[oldest]),
        Err(PeerMisbehaved::Replayed(oldest as u64).into())
    );
    // Everything in between is still accepted once.
    for r in records[oldest + 1..4000].iter().chain(&records[4001..]) {
        s.open(r).unwrap();
    }
}

#[test]
fn far_future_sequence_is_refused_without_state_change() {
    let (mut c, mut s) = established(Privacy, Privacy, Mode::Datagram);
    let r0 = c.seal(Privacy, b"0").unwrap();
    // Forge a header with a huge sequence number: rejected (too far ahead of the key epoch or
    // failed tag), and the genuine record 0 still opens.
    let mut forged = r0.clone();
    forged[1..9].copy_from_slice(&(u64::MAX / 2).to_be_bytes());
    assert!(matches!(
        s.open(&forged),
        Err(Error::PeerMisbehaved(PeerMisbehaved::TooFarAhead(_)))
    ));
    forged[1..9].copy_from_slice(&5u64.to_be_bytes());
    assert_eq!(s.open(&forged), Err(PeerMisbehaved::BadRecordMac.into()));
    assert_eq!(s.open(&r0).unwrap(), Some((Privacy, b"0".to_vec())));
}

#[test]
fn reflected_datagram_is_rejected() {
    let (mut c, mut s) = established(Privacy, Privacy, Mode::Datagram);
    let r = c.seal(Privacy, b"to server").unwrap();
    assert_eq!(c.open(&r), Err(PeerMisbehaved::BadRecordMac.into()));
    assert!(s.open(&r).is_ok());
}

/// The reference: accept a sequence number once, unless it is `WINDOW` or more behind the
/// highest accepted.
#[derive(Default)]
struct Model {
    seen: BTreeSet<u64>,
    top: Option<u64>,
}

impl Model {
    fn offer(&mut self, seq: u64) -> bool {
        if self.top.is_some_and(|t| seq + WINDOW <= t) || !self.seen.insert(seq) {
            return false;
        }
        self.top = Some(self.top.map_or(seq, |t| t.max(seq)));
        true
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn context_matches_reference_window(
        deliveries in prop::collection::vec(0usize..6000, 1..600),
    ) {
        let (mut c, mut s) = established(Privacy, Privacy, Mode::Datagram);
        let records: Vec<_> = (0..6000u32).map(|i| c.seal(Privacy, &i.to_be_bytes()).unwrap()).collect();
        let mut model = Model::default();
        for i in deliveries {
            let expected = model.offer(i as u64);
            let got = s.open(&records[i]);
            prop_assert_eq!(got.is_ok(), expected, "seq {} -> {:?}", i, got);
            if let Ok(Some((_, data))) = got {
                prop_assert_eq!(data, (i as u32).to_be_bytes().to_vec());
            }
        }
    }
}
