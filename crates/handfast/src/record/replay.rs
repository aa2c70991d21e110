//! Sliding replay window for datagram mode (the shape of RFC 6479 / WireGuard's filter).
//!
//! `check` never changes state; `accept` is called only after the record authenticated, so a
//! forged record cannot move the window.

use crate::error::PeerMisbehaved;

/// How far behind the highest accepted sequence number a record may still arrive.
pub(crate) const WINDOW: u64 = 2048;
const WORDS: usize = (WINDOW / 64) as usize;

/// Bitmap of the sequence numbers seen in `(top - WINDOW, top]`.
#[derive(Clone, Debug)]
pub(crate) struct ReplayWindow {
    /// Highest accepted sequence number, if any record was accepted.
    top: Option<u64>,
    bits: [u64; WORDS],
}

impl ReplayWindow {
    pub(crate) fn new() -> Self {
        Self {
            top: None,
            bits: [0; WORDS],
        }
    }

    /// Whether `seq` may be accepted. Changes nothing.
    pub(crate) fn check(&self, seq: u64) -> Result<(), PeerMisbehaved> {
        let Some(top) = self.top else { return Ok(()) };
        if seq > top {
            return Ok(());
        }
        if top - seq >= WINDOW {
            return Err(PeerMisbehaved::TooOld(seq));
        }
        if self.bit(seq) {
            return Err(PeerMisbehaved::Replayed(seq));
        }
        Ok(())
    }

    /// Records `seq` as received. The caller has checked it and authenticated the record.
    pub(crate) fn accept(&mut self, seq: u64) {
        match self.top {
            Some(top) if seq <= top => {}
            Some(top) if seq - top < WINDOW => {
                for s in top + 1..=seq {
                    self.set(s, false);
                }
                self.top = Some(seq);
            }
            _ => {
                self.bits = [0; WORDS];
                self.top = Some(seq);
            }
        }
        self.set(seq, true);
    }

    /// The highest accepted sequence number.
    #[cfg(test)]
    pub(crate) fn top(&self) -> Option<u64> {
        self.top
    }

    fn bit(&self, seq: u64) -> bool {
        let i = seq % WINDOW;
        self.bits[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, seq: u64, on: bool) {
        let i = seq % WINDOW;
        let word = &mut self.bits[(i / 64) as usize];
        if on {
            *word |= 1 << (i % 64);
        } else {
            *word &= !(1 << (i % 64));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    /// The obvious model: remember everything, accept what is new and not too old.
    struct Model {
        seen: BTreeSet<u64>,
        top: Option<u64>,
    }

    impl Model {
        fn offer(&mut self, seq: u64) -> Result<(), PeerMisbehaved> {
            if let Some(top) = self.top
                && seq <= top
                && top - seq >= WINDOW
            {
                return Err(PeerMisbehaved::TooOld(seq));
            }
            if !self.seen.insert(seq) {
                return Err(PeerMisbehaved::Replayed(seq));
            }
            self.top = Some(self.top.map_or(seq, |t| t.max(seq)));
            Ok(())
        }
    }

    fn offer(w: &mut ReplayWindow, seq: u64) -> Result<(), PeerMisbehaved> {
        w.check(seq)?;
        w.accept(seq);
        Ok(())
    }

    #[test]
    fn edge_cases() {
        let mut w = ReplayWindow::new();
        assert_eq!(offer(&mut w, 0), Ok(()));
        assert_eq!(offer(&mut w, 0), Err(PeerMisbehaved::Replayed(0)));
        assert_eq!(offer(&mut w, WINDOW - 1), Ok(()));
        // 0 is exactly WINDOW - 1 behind: still inside, still a duplicate.
        assert_eq!(offer(&mut w, 0), Err(PeerMisbehaved::Replayed(0)));
        assert_eq!(offer(&mut w, 1), Ok(()));
        assert_eq!(offer(&mut w, WINDOW), Ok(()));
        // Now 0 is WINDOW behind: too old.
        assert_eq!(offer(&mut w, 0), Err(PeerMisbehaved::TooOld(0)));
        assert_eq!(offer(&mut w, 1), Err(PeerMisbehaved::Replayed(1)));
        assert_eq!(offer(&mut w, 2), Ok(()));
        // Far ahead clears everything; the old region is too old.
        assert_eq!(offer(&mut w, 1_000_000), Ok(()));
        assert_eq!(offer(&mut w, WINDOW), Err(PeerMisbehaved::TooOld(WINDOW)));
        assert_eq!(offer(&mut w, 1_000_000 - WINDOW + 1), Ok(()));
        assert_eq!(
            offer(&mut w, 1_000_000 - WINDOW),
            Err(PeerMisbehaved::TooOld(1_000_000 - WINDOW))
        );
        assert_eq!(offer(&mut w, u64::MAX), Ok(()));
        assert_eq!(
            offer(&mut w, u64::MAX),
            Err(PeerMisbehaved::Replayed(u64::MAX))
        );
    }

    #[test]
    fn check_does_not_change_state() {
        let mut w = ReplayWindow::new();
        w.accept(10);
        for _ in 0..3 {
            assert_eq!(w.check(11), Ok(()));
        }
        assert_eq!(w.top(), Some(10));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn matches_reference_model(
            base in 0u64..u64::MAX / 2,
            steps in prop::collection::vec((0u64..3 * WINDOW, any::<bool>()), 1..400),
        ) {
            let mut w = ReplayWindow::new();
            let mut m = Model { seen: BTreeSet::new(), top: None };
            let mut cursor = base;
            for (delta, back) in steps {
                // Move mostly forward, sometimes backward into (and past) the window.
                let seq = if back { cursor.saturating_sub(delta) } else { cursor + delta / 8 };
                cursor = cursor.max(seq);
                prop_assert_eq!(offer(&mut w, seq), m.offer(seq), "seq {}", seq);
            }
        }
    }
}
