//! Datagram mode: loss, reordering, duplicates and the replay window, checked against a simple
//! reference model.

use std::collections::BTreeSet;

use handfast::{Error, Mode, PeerMisbehaved, ProtectionLevel};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::Fixture;
use crate::pair::established;

use ProtectionLevel::Privacy;

/// The window the implementation promises (at least 1024).
const WINDOW: u64 = 2048;

/// Lost and swapped datagrams within the window are delivered, each once.
pub fn loss_and_reordering_within_the_window_are_tolerated(f: &dyn Fixture) {
    let (mut c, mut s) = established(f, Privacy, Privacy, Mode::Datagram);
    let records: Vec<_> = (0..3000u32)
        .map(|i| c.seal(Privacy, &i.to_be_bytes()).unwrap())
        .collect();
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

/// The replay window against a reference model that remembers everything, over random
/// delivery orders with duplicates.
pub fn replay_window_matches_a_reference_model(f: &dyn Fixture) {
    let mut runner = TestRunner::new(Config::with_cases(32));
    runner
        .run(&prop::collection::vec(0usize..6000, 1..600), |deliveries| {
            // A fresh session per case (not one sender's records replayed into receivers of
            // later handshakes, which only a deterministic mechanism would make equal).
            let (mut c, mut s) = established(f, Privacy, Privacy, Mode::Datagram);
            let records: Vec<_> = (0..6000u32)
                .map(|i| c.seal(Privacy, &i.to_be_bytes()).unwrap())
                .collect();
            let mut model = Model::default();
            for i in deliveries {
                let expected = model.offer(i as u64);
                let got = s.open(&records[i]);
                prop_assert_eq!(got.is_ok(), expected, "seq {} -> {:?}", i, got);
                if let Ok(Some((_, data))) = got {
                    prop_assert_eq!(data, (i as u32).to_be_bytes().to_vec());
                }
            }
            Ok(())
        })
        .unwrap();
}

/// Datagrams sent back to their sender, or claiming a far-future sequence number, are refused
/// without changing any state.
pub fn reflected_and_far_future_datagrams_are_rejected(f: &dyn Fixture) {
    let (mut c, mut s) = established(f, Privacy, Privacy, Mode::Datagram);
    let r0 = c.seal(Privacy, b"0").unwrap();
    assert_eq!(c.open(&r0), Err(PeerMisbehaved::BadRecordMac.into()));
    let mut forged = r0.clone();
    forged[1..9].copy_from_slice(&(u64::MAX / 2).to_be_bytes());
    assert!(matches!(
        s.open(&forged),
        Err(Error::PeerMisbehaved(PeerMisbehaved::TooFarAhead(_)))
    ));
    forged[1..9].copy_from_slice(&5u64.to_be_bytes());
    assert_eq!(s.open(&forged), Err(PeerMisbehaved::BadRecordMac.into()));
    assert_eq!(s.open(&r0).unwrap(), Some((Privacy, b"0".to_vec())));
    assert_eq!(s.open(&r0), Err(PeerMisbehaved::Replayed(0).into()));
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
