//! Per-direction key state: sequence numbers, key epochs and the ratchet.
//!
//! The epoch of sequence number `s` is `s / interval`; each epoch's traffic secret is the
//! ratchet of the previous one, so both sides change keys at the same record without any
//! signalling, and a stolen key reveals nothing about earlier epochs.

use super::replay::ReplayWindow;
use crate::error::{Error, LimitReached, PeerMisbehaved};
use crate::key_schedule::{LevelKeys, Secret, next_secret};
use crate::suite::{CipherSuite, Unauthentic};

/// How many epochs a datagram may jump ahead of the newest authenticated one. Each step costs
/// a ratchet before the tag can be checked, so a forged datagram costs at most this many; a
/// session that loses more than this many intervals of datagrams in a row must reconnect.
pub(crate) const MAX_EPOCH_JUMP: u64 = 2;

/// Key state shared by all directions.
struct Epochs {
    suite: CipherSuite,
    interval: u64,
    secret: Secret,
    epoch: u64,
    keys: LevelKeys,
}

impl Epochs {
    fn new(suite: CipherSuite, secret: Secret, interval: u64) -> Self {
        let keys = LevelKeys::derive(suite, &secret);
        Self {
            suite,
            interval,
            secret,
            epoch: 0,
            keys,
        }
    }

    fn epoch_of(&self, seq: u64) -> u64 {
        seq / self.interval
    }

    /// Secret and keys of `epoch` (> current), and the keys of `epoch - 1`, without committing.
    fn ahead(&self, epoch: u64) -> (Secret, LevelKeys, Option<LevelKeys>) {
        let mut secret = next_secret(&self.secret);
        let mut before = None;
        for e in self.epoch + 1..epoch {
            if e + 1 == epoch {
                before = Some(LevelKeys::derive(self.suite, &secret));
            }
            secret = next_secret(&secret);
        }
        let keys = LevelKeys::derive(self.suite, &secret);
        (secret, keys, before)
    }

    /// Moves to `epoch`; returns the keys of the epoch just left if it was `epoch - 1`.
    fn commit(
        &mut self,
        epoch: u64,
        secret: Secret,
        keys: LevelKeys,
        before: Option<LevelKeys>,
    ) -> Option<LevelKeys> {
        let left = core::mem::replace(&mut self.keys, keys);
        let was_adjacent = self.epoch + 1 == epoch;
        self.secret = secret;
        self.epoch = epoch;
        if was_adjacent { Some(left) } else { before }
    }
}

/// The sending half.
pub(crate) struct Send {
    keys: Epochs,
    next_seq: u64,
    max_seq: u64,
}

impl Send {
    pub(crate) fn new(suite: CipherSuite, secret: Secret, interval: u64, max_seq: u64) -> Self {
        Self {
            keys: Epochs::new(suite, secret, interval),
            next_seq: 0,
            max_seq,
        }
    }

    /// Allocates the next sequence number and returns it with its keys. Refuses past
    /// `max_seq`: sequence numbers never wrap.
    pub(crate) fn next(&mut self) -> Result<(u64, &LevelKeys), LimitReached> {
        let seq = self.next_seq;
        if seq > self.max_seq {
            return Err(LimitReached::SequenceExhausted);
        }
        let epoch = self.keys.epoch_of(seq);
        if epoch != self.keys.epoch {
            let (secret, keys, _) = self.keys.ahead(epoch);
            self.keys.commit(epoch, secret, keys, None);
        }
        self.next_seq = seq + 1;
        Ok((seq, &self.keys.keys))
    }

    /// The key epoch in use (number of key updates so far).
    pub(crate) fn epoch(&self) -> u64 {
        self.keys.epoch
    }
}

/// The receiving half in stream mode: the next sequence number is implicit.
pub(crate) struct RecvStream {
    keys: Epochs,
    next_seq: u64,
    max_seq: u64,
}

impl RecvStream {
    pub(crate) fn new(suite: CipherSuite, secret: Secret, interval: u64, max_seq: u64) -> Self {
        Self {
            keys: Epochs::new(suite, secret, interval),
            next_seq: 0,
            max_seq,
        }
    }

    /// Runs `verify` with the keys of the next record; advances only if it succeeds.
    pub(crate) fn open(
        &mut self,
        verify: impl FnOnce(u64, &LevelKeys) -> Result<(), Unauthentic>,
    ) -> Result<u64, Error> {
        let seq = self.next_seq;
        if seq > self.max_seq {
            return Err(LimitReached::SequenceExhausted.into());
        }
        let epoch = self.keys.epoch_of(seq);
        if epoch == self.keys.epoch {
            verify(seq, &self.keys.keys).map_err(|_| PeerMisbehaved::BadRecordMac)?;
        } else {
            let (secret, keys, _) = self.keys.ahead(epoch);
            verify(seq, &keys).map_err(|_| PeerMisbehaved::BadRecordMac)?;
            self.keys.commit(epoch, secret, keys, None);
        }
        self.next_seq = seq + 1;
        Ok(seq)
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.keys.epoch
    }
}

/// The receiving half in datagram mode: explicit sequence numbers and a replay window.
pub(crate) struct RecvDatagram {
    keys: Epochs,
    previous: Option<LevelKeys>,
    window: ReplayWindow,
    max_seq: u64,
    bad_records: u64,
    max_bad_records: u64,
}

impl RecvDatagram {
    pub(crate) fn new(
        suite: CipherSuite,
        secret: Secret,
        interval: u64,
        max_seq: u64,
        max_bad_records: u64,
    ) -> Self {
        Self {
            keys: Epochs::new(suite, secret, interval),
            previous: None,
            window: ReplayWindow::new(),
            max_seq,
            bad_records: 0,
            max_bad_records,
        }
    }

    /// Checks `seq` against the window, runs `verify` with its epoch's keys, and only if that
    /// succeeds marks it received and moves the epoch forward. A record that fails leaves the
    /// window and keys as they were.
    pub(crate) fn open(
        &mut self,
        seq: u64,
        verify: impl FnOnce(&LevelKeys) -> Result<(), Unauthentic>,
    ) -> Result<(), Error> {
        if self.bad_records > self.max_bad_records {
            return Err(PeerMisbehaved::TooManyBadRecords.into());
        }
        if seq > self.max_seq {
            return Err(PeerMisbehaved::TooFarAhead(seq).into());
        }
        self.window.check(seq)?;
        let epoch = self.keys.epoch_of(seq);
        let current = self.keys.epoch;
        let result = if epoch == current {
            verify(&self.keys.keys)
        } else if epoch + 1 == current {
            match &self.previous {
                Some(keys) => verify(keys),
                None => return Err(PeerMisbehaved::TooOld(seq).into()),
            }
        } else if epoch < current {
            return Err(PeerMisbehaved::TooOld(seq).into());
        } else if epoch - current > MAX_EPOCH_JUMP {
            return Err(PeerMisbehaved::TooFarAhead(seq).into());
        } else {
            let (secret, keys, before) = self.keys.ahead(epoch);
            let r = verify(&keys);
            if r.is_ok() {
                self.previous = self.keys.commit(epoch, secret, keys, before);
            }
            r
        };
        match result {
            Ok(()) => {
                self.window.accept(seq);
                Ok(())
            }
            Err(Unauthentic) => {
                self.bad_records += 1;
                Err(PeerMisbehaved::BadRecordMac.into())
            }
        }
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.keys.epoch
    }
}
