//! One session's record layer: both directions, the close state, and every check a record
//! passes before and after its tag.

use core::ops::Range;

use super::aead::TAG_LEN;
use super::direction::{DatagramReceiver, KeyParams, Sender, StreamReceiver};
use super::header::{
    ContentType, DATAGRAM_HEADER_LEN, Kind, STREAM_HEADER_LEN, StreamHeader, TYPE_ALERT,
    datagram_seq, stream_len, write_datagram_header, write_stream_header,
};
use super::protect::{protect, sign, unprotect, verify_signature};
use super::{Mode, Params};
use crate::error::{AlertCode, ApiMisuse, Error, InvalidMessage, PeerMisbehaved};
use crate::key_schedule::Secret;
use crate::level::ProtectionLevel;

/// A record that verified.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Opened {
    /// Application data at `level`; the plaintext is `record[body]`.
    Data {
        level: ProtectionLevel,
        body: Range<usize>,
    },
    /// The peer's authenticated close.
    Close,
}

/// Sending and receiving state of one session.
pub(crate) struct RecordLayer {
    params: Params,
    sender: Sender,
    receiver: Receiver,
    sent_close: bool,
    received_close: bool,
}

// One variant for the session's whole life; the stream variant stays inline for the hot path.
#[allow(clippy::large_enum_variant)]
enum Receiver {
    Stream(StreamReceiver),
    Datagram(Box<DatagramReceiver>),
}

impl RecordLayer {
    pub(crate) fn new(params: Params, send_secret: Secret, recv_secret: Secret) -> Self {
        let keys = KeyParams {
            suite: params.suite,
            floor: params.level,
            interval: params.key_update_interval,
            max_seq: params.max_sequence,
        };
        let sender = Sender::new(keys, send_secret);
        let receiver = match params.mode {
            Mode::Stream => Receiver::Stream(StreamReceiver::new(keys, recv_secret)),
            Mode::Datagram => Receiver::Datagram(Box::new(DatagramReceiver::new(
                keys,
                recv_secret,
                params.max_bad_records,
            ))),
        };
        Self {
            params,
            sender,
            receiver,
            sent_close: false,
            received_close: false,
        }
    }

    #[inline]
    pub(crate) fn params(&self) -> &Params {
        &self.params
    }

    #[inline]
    pub(crate) fn header_len(&self) -> usize {
        self.params.mode.header_len()
    }

    /// Header plus tag.
    #[inline]
    pub(crate) fn overhead(&self) -> usize {
        self.header_len() + TAG_LEN
    }

    pub(crate) fn peer_closed(&self) -> bool {
        self.received_close
    }

    /// (sending, receiving) key epochs.
    pub(crate) fn epochs(&self) -> (u64, u64) {
        let recv = match &self.receiver {
            Receiver::Stream(r) => r.epoch(),
            Receiver::Datagram(r) => r.epoch(),
        };
        (self.sender.epoch(), recv)
    }

    fn below_level(&self, requested: ProtectionLevel) -> Error {
        ApiMisuse::LevelBelowNegotiated {
            requested,
            negotiated: self.params.level,
        }
        .into()
    }

    /// Whether a payload of `len` bytes may be sent at `level` now.
    #[inline]
    pub(crate) fn check_send(&self, level: ProtectionLevel, len: usize) -> Result<(), Error> {
        if self.sent_close {
            return Err(ApiMisuse::AlreadyClosed.into());
        }
        if level < self.params.level {
            return Err(ApiMisuse::LevelBelowNegotiated {
                requested: level,
                negotiated: self.params.level,
            }
            .into());
        }
        if len > self.params.send_max {
            return Err(ApiMisuse::MessageTooLarge {
                len,
                max: self.params.send_max,
            }
            .into());
        }
        Ok(())
    }

    /// Protects `record` (`header space || payload || tag space`) as a data or close record.
    #[inline]
    pub(crate) fn seal(
        &mut self,
        kind: Kind,
        level: ProtectionLevel,
        record: &mut [u8],
    ) -> Result<(), Error> {
        debug_assert!(kind != Kind::Signature && record.len() >= self.overhead());
        let hl = self.header_len();
        self.check_send(level, record.len() - self.overhead())?;
        let (seq, keys) = self.sender.next()?;
        let ty = ContentType::Protected(kind, level);
        match self.params.mode {
            Mode::Stream => write_stream_header(record, ty, record.len() - STREAM_HEADER_LEN),
            Mode::Datagram => write_datagram_header(record, ty, seq),
        }
        protect(keys, level, seq, hl, record).map_err(|_| self.below_level(level))?;
        if kind == Kind::Close {
            self.sent_close = true;
        }
        Ok(())
    }

    /// Verifies (and at Privacy decrypts) one record in place.
    #[inline]
    pub(crate) fn open(&mut self, record: &mut [u8]) -> Result<Opened, Error> {
        let hl = self.header_len();
        if record.first() == Some(&TYPE_ALERT) {
            return Err(late_alert(record));
        }
        if record.len() < hl + TAG_LEN {
            return Err(InvalidMessage::RecordTooShort.into());
        }
        let (kind, level) = match ContentType::parse(record[0])? {
            ContentType::Protected(kind, level) => (kind, level),
            ContentType::Alert | ContentType::Handshake => {
                return Err(InvalidMessage::Unexpected {
                    expected: "protected record",
                    got: "handshake record",
                }
                .into());
            }
        };
        let body_len = record.len() - hl - TAG_LEN;
        if self.params.mode == Mode::Stream && stream_len(record) != body_len + TAG_LEN {
            return Err(InvalidMessage::Malformed("record length").into());
        }
        if body_len > self.params.recv_max {
            return Err(InvalidMessage::RecordTooLarge {
                len: body_len,
                max: self.params.recv_max,
            }
            .into());
        }
        if self.received_close {
            return Err(PeerMisbehaved::DataAfterClose.into());
        }
        match kind {
            Kind::Signature => {
                return Err(InvalidMessage::Unexpected {
                    expected: "data or close record",
                    got: "signature token (use verify)",
                }
                .into());
            }
            Kind::Close if body_len != 0 => {
                return Err(InvalidMessage::Malformed("close record").into());
            }
            Kind::Data | Kind::Close => {}
        }
        if level < self.params.level {
            return Err(PeerMisbehaved::BelowNegotiatedLevel {
                got: level,
                negotiated: self.params.level,
            }
            .into());
        }
        match &mut self.receiver {
            Receiver::Stream(r) => {
                r.open(|seq, keys| unprotect(keys, level, seq, hl, record))?;
            }
            Receiver::Datagram(r) => {
                let seq = datagram_seq(header_array(record));
                r.open(seq, |keys| unprotect(keys, level, seq, hl, record))?;
            }
        }
        if kind == Kind::Close {
            self.received_close = true;
            return Ok(Opened::Close);
        }
        Ok(Opened::Data {
            level,
            body: hl..hl + body_len,
        })
    }

    /// Stream mode: the whole length of the record that starts `buf`, checked against this
    /// side's maximum before anything is allocated for it; `None` until the header is in.
    pub(crate) fn next_record_len(&self, buf: &[u8]) -> Result<Option<usize>, Error> {
        let Some(h) = StreamHeader::parse(buf)? else {
            return Ok(None);
        };
        if h.ty == ContentType::Alert && h.len == 1 {
            // The peer's refusal of a handshake this side already considers complete (the
            // server answers the client's last flight): [`open`](Self::open) reports it.
            return Ok(Some(h.record_len()));
        }
        if !matches!(h.ty, ContentType::Protected(..)) {
            return Err(InvalidMessage::Unexpected {
                expected: "protected record",
                got: "handshake record",
            }
            .into());
        }
        if h.len < TAG_LEN {
            return Err(InvalidMessage::RecordTooShort.into());
        }
        if h.len - TAG_LEN > self.params.recv_max {
            return Err(InvalidMessage::RecordTooLarge {
                len: h.len - TAG_LEN,
                max: self.params.recv_max,
            }
            .into());
        }
        Ok(Some(h.record_len()))
    }

    /// A detached signature token over `msg`: a signature header and a tag.
    pub(crate) fn sign(&mut self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        self.check_send(ProtectionLevel::Integrity, 0)?;
        let mut token = vec![0u8; self.overhead()];
        let hl = self.header_len();
        let ty = ContentType::Protected(Kind::Signature, ProtectionLevel::Integrity);
        let (seq, keys) = self.sender.next()?;
        match self.params.mode {
            Mode::Stream => write_stream_header(&mut token, ty, TAG_LEN),
            Mode::Datagram => write_datagram_header(&mut token, ty, seq),
        }
        let tag = sign(keys, seq, msg);
        token[hl..]
            .copy_from_slice(&tag.map_err(|_| self.below_level(ProtectionLevel::Integrity))?);
        Ok(token)
    }

    /// Checks a detached signature made by the peer's [`sign`](Self::sign).
    pub(crate) fn verify(&mut self, msg: &[u8], token: &[u8]) -> Result<(), Error> {
        let hl = self.header_len();
        if token.len() != hl + TAG_LEN {
            return Err(InvalidMessage::Malformed("signature token").into());
        }
        let ty = ContentType::Protected(Kind::Signature, ProtectionLevel::Integrity);
        if ContentType::parse(token[0])? != ty {
            return Err(InvalidMessage::UnknownRecordType(token[0]).into());
        }
        if self.params.mode == Mode::Stream
            && StreamHeader::parse(token)?.map(|h| h.len) != Some(TAG_LEN)
        {
            return Err(InvalidMessage::Malformed("signature token").into());
        }
        if self.received_close {
            return Err(PeerMisbehaved::DataAfterClose.into());
        }
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&token[hl..]);
        match &mut self.receiver {
            Receiver::Stream(r) => {
                r.open(|seq, keys| verify_signature(keys, seq, msg, &tag))?;
            }
            Receiver::Datagram(r) => {
                let seq = datagram_seq(header_array(token));
                r.open(seq, |keys| verify_signature(keys, seq, msg, &tag))?;
            }
        }
        Ok(())
    }
}

/// A plaintext alert after the handshake: the server refused the client's last flight, which
/// the client had already sent with its first records. Unauthenticated, like any alert; in
/// stream mode it ends the session as any unverifiable input would, in datagram mode the
/// datagram is dropped.
fn late_alert(record: &[u8]) -> Error {
    match record {
        [_, 0, 0, 1, code] => Error::AlertReceived(AlertCode::from_wire(*code)),
        _ => InvalidMessage::Malformed("alert").into(),
    }
}

/// The first [`DATAGRAM_HEADER_LEN`] bytes; the callers checked the length.
fn header_array(record: &[u8]) -> &[u8; DATAGRAM_HEADER_LEN] {
    // Both callers checked `record.len() >= header_len + TAG_LEN` in datagram mode.
    #[allow(clippy::expect_used)]
    record[..DATAGRAM_HEADER_LEN]
        .try_into()
        .expect("datagram record longer than its header")
}
