//! Per-direction key state: sequence numbers, key epochs and the ratchet.
//!
//! The epoch of sequence number `s` is `s / interval`; each epoch's traffic secret is the
//! ratchet of the previous one, so both sides change keys at the same record without any
//! signalling, and a stolen key reveals nothing about earlier epochs.

use std::collections::VecDeque;

use super::aead::Unauthentic;
use super::keys::LevelKeys;
use super::replay::ReplayWindow;
use crate::error::{Error, LimitReached, PeerMisbehaved};
use crate::key_schedule::{Secret, next_secret};
use crate::level::ProtectionLevel;
use crate::suite::CipherSuite;

/// How many epochs a datagram may be ahead of the newest authenticated one. The keys of those
/// epochs are derived in advance (as QUIC keeps the next key phase ready), so a forged
/// datagram costs one AEAD check whatever epoch it claims; a session that loses more than
/// this many intervals of datagrams in a row must reconnect.
pub(crate) const MAX_EPOCH_JUMP: u64 = 2;

/// What every direction's key state is built from.
#[derive(Clone, Copy)]
pub(crate) struct KeyParams {
    pub(crate) suite: CipherSuite,
    /// The negotiated level: no keys below it are derived.
    pub(crate) floor: ProtectionLevel,
    pub(crate) interval: u64,
    pub(crate) max_seq: u64,
}

/// The ratchet of one direction: the traffic secret of `epoch`.
struct Chain {
    suite: CipherSuite,
    floor: ProtectionLevel,
    interval: u64,
    secret: Secret,
    epoch: u64,
}

impl Chain {
    fn new(p: KeyParams, secret: Secret) -> Self {
        Self {
            suite: p.suite,
            floor: p.floor,
            interval: p.interval,
            secret,
            epoch: 0,
        }
    }

    #[inline]
    fn epoch_of(&self, seq: u64) -> u64 {
        seq / self.interval
    }

    /// This epoch's keys, expanded on first use (senders and stream receivers: a forged
    /// record ends a stream anyway).
    fn keys(&self) -> LevelKeys {
        LevelKeys::lazy(self.suite, &self.secret, self.floor)
    }

    /// The next epoch's secret and keys, without moving to it.
    fn peek_next(&self) -> (Secret, LevelKeys) {
        let secret = next_secret(&self.secret);
        let keys = LevelKeys::lazy(self.suite, &secret, self.floor);
        (secret, keys)
    }

    /// This epoch's keys, all expanded now (datagram receivers: a forged datagram must cost
    /// one AEAD check and no expansion).
    fn eager_keys(&self) -> LevelKeys {
        LevelKeys::eager(self.suite, &self.secret, self.floor)
    }

    /// Moves to the next epoch; the old secret is erased (zeroized on drop).
    fn commit_next(&mut self, secret: Secret) {
        self.secret = secret;
        self.epoch += 1;
    }
}

/// The sending half.
pub(crate) struct Sender {
    chain: Chain,
    keys: LevelKeys,
    next_seq: u64,
    max_seq: u64,
}

impl Sender {
    pub(crate) fn new(p: KeyParams, secret: Secret) -> Self {
        let chain = Chain::new(p, secret);
        Self {
            keys: chain.keys(),
            chain,
            next_seq: 0,
            max_seq: p.max_seq,
        }
    }

    /// Allocates the next sequence number and returns it with its keys. Refuses past
    /// `max_seq`: sequence numbers never wrap.
    #[inline]
    pub(crate) fn next(&mut self) -> Result<(u64, &LevelKeys), LimitReached> {
        let seq = self.next_seq;
        if seq > self.max_seq {
            return Err(LimitReached::SequenceExhausted);
        }
        // Sequence numbers go up by one, so the epoch moves by at most one.
        if self.chain.epoch_of(seq) != self.chain.epoch {
            let (secret, keys) = self.chain.peek_next();
            self.chain.commit_next(secret);
            self.keys = keys;
        }
        self.next_seq = seq + 1;
        Ok((seq, &self.keys))
    }

    /// The key epoch in use (number of key updates so far).
    pub(crate) fn epoch(&self) -> u64 {
        self.chain.epoch
    }
}

/// The receiving half in stream mode: the next sequence number is implicit.
pub(crate) struct StreamReceiver {
    chain: Chain,
    keys: LevelKeys,
    next_seq: u64,
    max_seq: u64,
}

impl StreamReceiver {
    pub(crate) fn new(p: KeyParams, secret: Secret) -> Self {
        let chain = Chain::new(p, secret);
        Self {
            keys: chain.keys(),
            chain,
            next_seq: 0,
            max_seq: p.max_seq,
        }
    }

    /// Runs `verify` with the next record's sequence number and keys; advances only if it
    /// succeeds.
    pub(crate) fn open(
        &mut self,
        verify: impl FnOnce(u64, &LevelKeys) -> Result<(), Unauthentic>,
    ) -> Result<u64, Error> {
        let seq = self.next_seq;
        if seq > self.max_seq {
            return Err(LimitReached::SequenceExhausted.into());
        }
        if self.chain.epoch_of(seq) == self.chain.epoch {
            verify(seq, &self.keys).map_err(|_| PeerMisbehaved::BadRecordMac)?;
        } else {
            let (secret, keys) = self.chain.peek_next();
            verify(seq, &keys).map_err(|_| PeerMisbehaved::BadRecordMac)?;
            self.chain.commit_next(secret);
            self.keys = keys;
        }
        self.next_seq = seq + 1;
        Ok(seq)
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.chain.epoch
    }
}

/// The receiving half in datagram mode: explicit sequence numbers and a replay window.
pub(crate) struct DatagramReceiver {
    /// The secret of the furthest epoch whose keys are ready (`epoch + MAX_EPOCH_JUMP`).
    chain: Chain,
    /// Keys of epochs `first ..= epoch + MAX_EPOCH_JUMP`; `first` is `epoch - 1` once an
    /// epoch has been left (its records may still arrive within the window), else `epoch`.
    keys: VecDeque<LevelKeys>,
    first: u64,
    /// The epoch of the newest authentic record.
    epoch: u64,
    window: ReplayWindow,
    max_seq: u64,
    bad_records: u64,
    max_bad_records: u64,
}

impl DatagramReceiver {
    pub(crate) fn new(p: KeyParams, secret: Secret, max_bad_records: u64) -> Self {
        let mut chain = Chain::new(p, secret);
        let mut keys = VecDeque::with_capacity(2 + MAX_EPOCH_JUMP as usize);
        keys.push_back(chain.eager_keys());
        for _ in 0..MAX_EPOCH_JUMP {
            let (secret, _) = chain.peek_next();
            chain.commit_next(secret);
            keys.push_back(chain.eager_keys());
        }
        Self {
            chain,
            keys,
            first: 0,
            epoch: 0,
            window: ReplayWindow::new(),
            max_seq: p.max_seq,
            bad_records: 0,
            max_bad_records,
        }
    }

    /// Checks `seq` against the window, runs `verify` with its epoch's keys, and only if that
    /// succeeds marks it received and moves the epoch forward. A record that fails leaves the
    /// window and keys as they were, and costs no key derivation.
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
        let epoch = self.chain.epoch_of(seq);
        if epoch > self.epoch + MAX_EPOCH_JUMP {
            return Err(PeerMisbehaved::TooFarAhead(seq).into());
        }
        let Some(keys) = epoch
            .checked_sub(self.first)
            .and_then(|i| self.keys.get(i as usize))
        else {
            return Err(PeerMisbehaved::TooOld(seq).into());
        };
        if verify(keys).is_err() {
            self.bad_records += 1;
            return Err(PeerMisbehaved::BadRecordMac.into());
        }
        while self.epoch < epoch {
            self.advance();
        }
        self.window.accept(seq);
        Ok(())
    }

    /// Moves the newest epoch up by one: derives the keys of the epoch that comes into reach
    /// and drops those that fall out of it.
    fn advance(&mut self) {
        let (secret, _) = self.chain.peek_next();
        self.chain.commit_next(secret);
        self.keys.push_back(self.chain.eager_keys());
        self.epoch += 1;
        while self.epoch - self.first > 1 {
            self.keys.pop_front();
            self.first += 1;
        }
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;
    use crate::record::keys::tests::derivations;

    fn pair(interval: u64) -> (Sender, DatagramReceiver) {
        let secret = || Zeroizing::new([7u8; 32]);
        let p = KeyParams {
            suite: CipherSuite::Aes256Gcm,
            floor: ProtectionLevel::Integrity,
            interval,
            max_seq: u64::MAX - 1,
        };
        (
            Sender::new(p, secret()),
            DatagramReceiver::new(p, secret(), 1 << 36),
        )
    }

    /// A record of sequence `seq`, verified through the keys the receiver picks.
    fn mac_of(keys: &LevelKeys, seq: u64) -> [u8; 16] {
        keys.level(ProtectionLevel::Integrity)
            .unwrap()
            .mac(seq, &seq.to_be_bytes())
    }

    #[test]
    fn forged_datagrams_ahead_cost_no_key_derivation() {
        let interval = 4096;
        let (_, mut rx) = pair(interval);
        let before = derivations();
        for epochs_ahead in 0..=MAX_EPOCH_JUMP {
            let seq = epochs_ahead * interval + 5;
            let err = rx
                .open(seq, |k| {
                    k.level(ProtectionLevel::Integrity).unwrap().verify(
                        seq,
                        &seq.to_be_bytes(),
                        &[0; 16],
                    )
                })
                .unwrap_err();
            assert_eq!(err, PeerMisbehaved::BadRecordMac.into());
        }
        assert_eq!(derivations(), before, "a forged datagram derived keys");
        assert_eq!(rx.epoch(), 0);
        // Beyond the jump the record is refused before any cryptography.
        let far = (MAX_EPOCH_JUMP + 1) * interval;
        assert_eq!(
            rx.open(far, |_| unreachable!("no verification past the jump")),
            Err(PeerMisbehaved::TooFarAhead(far).into())
        );
    }

    #[test]
    fn genuine_datagrams_move_epochs_and_keep_the_previous_one() {
        let interval = 2048;
        let (mut tx, mut rx) = pair(interval);
        let mut sealed = Vec::new();
        for _ in 0..(5 * interval) {
            let (seq, keys) = tx.next().unwrap();
            sealed.push((seq, mac_of(keys, seq)));
        }
        let open = |rx: &mut DatagramReceiver, (seq, tag): (u64, [u8; 16])| {
            rx.open(seq, |k| {
                k.level(ProtectionLevel::Integrity)
                    .unwrap()
                    .verify(seq, &seq.to_be_bytes(), &tag)
            })
        };
        // Epoch 0, then a jump of two epochs, then a late record of the epoch just left.
        open(&mut rx, sealed[10]).unwrap();
        open(&mut rx, sealed[(2 * interval + 3) as usize]).unwrap();
        assert_eq!(rx.epoch(), 2);
        open(&mut rx, sealed[(2 * interval - 1) as usize]).unwrap();
        // Two epochs back is out of reach.
        assert!(matches!(
            open(&mut rx, sealed[11]),
            Err(Error::PeerMisbehaved(PeerMisbehaved::TooOld(_)))
        ));
        open(&mut rx, sealed[(4 * interval) as usize]).unwrap();
        assert_eq!(rx.epoch(), 4);
    }
}
