//! The established security context: the per-message API.
//!
//! | handfast | SSPI | GSS-API |
//! | --- | --- | --- |
//! | [`seal`](SecurityContext::seal) at Privacy | `EncryptMessage` | `gss_wrap(conf_req_flag = 1)` |
//! | [`seal`](SecurityContext::seal) at Integrity | `EncryptMessage(SECQOP_WRAP_NO_ENCRYPT)` | `gss_wrap(conf_req_flag = 0)` |
//! | [`open`](SecurityContext::open) | `DecryptMessage` (+ `pfQOP`) | `gss_unwrap` (+ `conf_state`) |
//! | [`sign`](SecurityContext::sign) | `MakeSignature` | `gss_get_mic` |
//! | [`verify`](SecurityContext::verify) | `VerifySignature` | `gss_verify_mic` |
//! | [`sizes`](SecurityContext::sizes) | `QueryContextAttributes(SECPKG_ATTR_SIZES)` | `gss_wrap_size_limit` |
//! | [`peer`](SecurityContext::peer) | `SECPKG_ATTR_NAMES` | `src_name` of `gss_accept_sec_context` |
//! | [`close`](SecurityContext::close) | — (TLS `close_notify`) | — |

use crate::codec::get_u24;
use crate::config::Mode;
use crate::error::{ApiMisuse, Error, InvalidMessage, PeerMisbehaved};
use crate::handshake::Negotiated;
use crate::identity::{MechanismId, PeerIdentity};
use crate::key_schedule::Secret;
use crate::level::ProtectionLevel;
use crate::mechanism::Role;
use crate::record::{
    self, Kind, RecvDatagram, RecvStream, STREAM_HEADER_LEN, Send, TAG_LEN, header_len, type_byte,
    write_header,
};
use crate::suite::CipherSuite;

/// Buffer sizes of a context, like `SecPkgContext_Sizes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sizes {
    /// Bytes before the payload in every record (4 in stream mode, 9 in datagram mode).
    pub header: usize,
    /// Bytes after the payload (the 16-byte tag).
    pub trailer: usize,
    /// Largest payload of one record (the peer's limit).
    pub max_message: usize,
    /// Length of a detached signature token.
    pub signature: usize,
}

/// A message opened in place.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Opened<'a> {
    /// Application data, verified (and decrypted) at `level`.
    Data {
        /// The level the record was protected at: at or above the negotiated one.
        level: ProtectionLevel,
        /// The plaintext, inside the caller's buffer.
        payload: &'a mut [u8],
    },
    /// The peer's authenticated close: it will send nothing more.
    Closed,
}

/// A mutually authenticated session that protects messages.
///
/// Obtained only from a completed [`Handshake`](crate::Handshake). In stream mode every error
/// is sticky; in datagram mode a record that fails is dropped and the context goes on.
pub struct SecurityContext {
    role: Role,
    negotiated: Negotiated,
    peer: PeerIdentity,
    send: Send,
    recv: Recv,
    sent_close: bool,
    received_close: bool,
    failed: Option<Error>,
}

// One variant for the context's whole life; the stream variant stays inline for the hot path.
#[allow(clippy::large_enum_variant)]
enum Recv {
    Stream(RecvStream),
    Datagram(Box<RecvDatagram>),
}

impl SecurityContext {
    pub(crate) fn new(
        role: Role,
        negotiated: Negotiated,
        peer: PeerIdentity,
        client_traffic: Secret,
        server_traffic: Secret,
    ) -> Self {
        let (send_secret, recv_secret) = match role {
            Role::Initiator => (client_traffic, server_traffic),
            Role::Responder => (server_traffic, client_traffic),
        };
        let n = &negotiated;
        let send = Send::new(n.suite, send_secret, n.key_update_interval, n.max_sequence);
        let recv = match n.mode {
            Mode::Stream => Recv::Stream(RecvStream::new(
                n.suite,
                recv_secret,
                n.key_update_interval,
                n.max_sequence,
            )),
            Mode::Datagram => Recv::Datagram(Box::new(RecvDatagram::new(
                n.suite,
                recv_secret,
                n.key_update_interval,
                n.max_sequence,
                n.max_bad_records,
            ))),
        };
        Self {
            role,
            negotiated,
            peer,
            send,
            recv,
            sent_close: false,
            received_close: false,
            failed: None,
        }
    }

    /// Protects `msg` at `level` and returns the record to send.
    ///
    /// # Errors
    /// See [`seal_into`](Self::seal_into).
    pub fn seal(&mut self, level: ProtectionLevel, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(msg.len() + self.overhead());
        self.seal_into(level, msg, &mut out)?;
        Ok(out)
    }

    /// Appends the record protecting `msg` at `level` to `out`; allocates nothing if `out`
    /// has room for `msg.len()` plus [`Sizes::header`] and [`Sizes::trailer`].
    ///
    /// # Errors
    /// `level` below the negotiated level, `msg` larger than [`Sizes::max_message`], this side
    /// already closed, or the sequence space used up.
    pub fn seal_into(
        &mut self,
        level: ProtectionLevel,
        msg: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.check_send(level, msg.len())?;
        let start = out.len();
        let hl = self.header_len();
        out.resize(start + hl, 0);
        out.extend_from_slice(msg);
        out.resize(start + hl + msg.len() + TAG_LEN, 0);
        match self.seal_record(Kind::Data, level, &mut out[start..]) {
            Ok(()) => Ok(()),
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// Protects a record in place. `record` is laid out as [`Sizes::header`] bytes of space,
    /// the payload, and [`Sizes::trailer`] bytes of space; header and tag are written into the
    /// spaces and, at Privacy, the payload is encrypted.
    ///
    /// # Errors
    /// As [`seal_into`](Self::seal_into), or a buffer shorter than header plus trailer.
    pub fn seal_in_place(
        &mut self,
        level: ProtectionLevel,
        record: &mut [u8],
    ) -> Result<(), Error> {
        let overhead = self.overhead();
        if record.len() < overhead {
            return Err(ApiMisuse::BufferTooSmall {
                got: record.len(),
                needed: overhead,
            }
            .into());
        }
        self.check_send(level, record.len() - overhead)?;
        self.seal_record(Kind::Data, level, record)
    }

    /// Verifies (and at Privacy decrypts) one record, returning the level it was protected at
    /// and the message, or `None` for the peer's authenticated close.
    ///
    /// # Errors
    /// See [`open_in_place`](Self::open_in_place).
    pub fn open(&mut self, record: &[u8]) -> Result<Option<(ProtectionLevel, Vec<u8>)>, Error> {
        let mut buf = record.to_vec();
        match self.open_in_place(&mut buf)? {
            Opened::Data { level, payload } => {
                let len = payload.len();
                let hl = self.header_len();
                buf.truncate(hl + len);
                buf.drain(..hl);
                Ok(Some((level, buf)))
            }
            Opened::Closed => Ok(None),
        }
    }

    /// Verifies (and at Privacy decrypts) one record in place.
    ///
    /// In stream mode `record` is exactly one record as delimited by
    /// [`next_record_len`](Self::next_record_len); in datagram mode it is one datagram.
    ///
    /// # Errors
    /// A record that is malformed, too large, below the negotiated level, replayed, out of
    /// order or altered ([`PeerMisbehaved::BadRecordMac`]); or anything after the peer's close.
    /// In stream mode the error is sticky; in datagram mode the record is dropped and nothing
    /// else changes.
    pub fn open_in_place<'a>(&mut self, record: &'a mut [u8]) -> Result<Opened<'a>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.open_record(record) {
            Ok(Some((level, range))) => Ok(Opened::Data {
                level,
                payload: &mut record[range],
            }),
            Ok(None) => Ok(Opened::Closed),
            Err(e) => {
                if self.negotiated.mode == Mode::Stream
                    || matches!(
                        e,
                        Error::LimitReached(_)
                            | Error::PeerMisbehaved(PeerMisbehaved::TooManyBadRecords)
                    )
                {
                    self.failed = Some(e.clone());
                }
                Err(e)
            }
        }
    }

    /// Stream mode: from the start of the received bytes, the total length of the next record,
    /// or `None` until its 4-byte header has arrived. The length is checked against this side's
    /// maximum before the caller allocates anything for it.
    ///
    /// # Errors
    /// An unknown record type or an oversized length (sticky).
    pub fn next_record_len(&mut self, buf: &[u8]) -> Result<Option<usize>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        record::stream_record_len(buf, self.negotiated.recv_max).inspect_err(|e| {
            self.failed = Some(e.clone());
        })
    }

    /// Reports that the transport's input ended.
    ///
    /// # Errors
    /// [`Error::Truncated`] unless the peer's authenticated close arrived first: an attacker
    /// who cuts the connection is never mistaken for the peer finishing.
    pub fn eof(&mut self) -> Result<(), Error> {
        if self.received_close {
            return Ok(());
        }
        let e = self.failed.clone().unwrap_or(Error::Truncated);
        self.failed = Some(e.clone());
        Err(e)
    }

    /// The authenticated close record: this side will send nothing more. Receiving continues.
    ///
    /// # Errors
    /// Already closed, or the sequence space used up.
    pub fn close(&mut self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.overhead());
        self.close_into(&mut out)?;
        Ok(out)
    }

    /// Appends the close record to `out`.
    ///
    /// # Errors
    /// As [`close`](Self::close).
    pub fn close_into(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.check_send(self.negotiated.level, 0)?;
        let start = out.len();
        out.resize(start + self.overhead(), 0);
        let level = self.negotiated.level;
        self.seal_record(Kind::Close, level, &mut out[start..])
            .inspect_err(|_| out.truncate(start))?;
        self.sent_close = true;
        Ok(())
    }

    /// A detached signature over `msg` (which travels separately and in clear), like
    /// `MakeSignature` or `gss_get_mic`. Signatures share the record sequence, so the peer
    /// must verify them in the order they were made (stream mode).
    ///
    /// # Errors
    /// [`ApiMisuse::SignatureNeedsIntegrity`] in a session negotiated at privacy (a message in
    /// clear would run below the session's level), or as [`seal`](Self::seal).
    pub fn sign(&mut self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        if self.negotiated.level != ProtectionLevel::Integrity {
            return Err(ApiMisuse::SignatureNeedsIntegrity.into());
        }
        self.check_send(ProtectionLevel::Integrity, 0)?;
        check_signed_len(msg)?;
        let mut token = vec![0u8; self.overhead()];
        let hl = self.header_len();
        let ty = type_byte(Kind::Signature, ProtectionLevel::Integrity);
        let (seq, keys) = self.send.next().map_err(Error::from)?;
        write_header(&mut token, self.negotiated.mode, ty, 0, seq);
        let tag = keys.signature().mac(seq, msg);
        token[hl..].copy_from_slice(&tag);
        Ok(token)
    }

    /// Checks a detached signature made by the peer's [`sign`](Self::sign).
    ///
    /// # Errors
    /// A session at privacy ([`ApiMisuse::SignatureNeedsIntegrity`]), a malformed token, or a
    /// signature that does not match `msg` at this position in the sequence.
    pub fn verify(&mut self, msg: &[u8], token: &[u8]) -> Result<(), Error> {
        if self.negotiated.level != ProtectionLevel::Integrity {
            return Err(ApiMisuse::SignatureNeedsIntegrity.into());
        }
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        check_signed_len(msg)?;
        let result = self.verify_token(msg, token);
        if let Err(e) = &result
            && self.negotiated.mode == Mode::Stream
        {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Header, trailer and maximum sizes.
    pub fn sizes(&self) -> Sizes {
        let header = self.header_len();
        Sizes {
            header,
            trailer: TAG_LEN,
            max_message: self.negotiated.send_max,
            signature: header + TAG_LEN,
        }
    }

    /// The authenticated peer.
    pub fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    /// The negotiated level: the lowest any record of this session may use.
    pub fn level(&self) -> ProtectionLevel {
        self.negotiated.level
    }

    /// The mechanism that authenticated the peer: its number and name.
    pub fn mechanism(&self) -> (MechanismId, &'static str) {
        (self.negotiated.mechanism, self.negotiated.mechanism_name)
    }

    /// The AEAD suite protecting records.
    pub fn suite(&self) -> CipherSuite {
        self.negotiated.suite
    }

    /// Stream or datagram.
    pub fn mode(&self) -> Mode {
        self.negotiated.mode
    }

    /// Whether this side is the client (`Initiator`) or the server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// How many times the (sending, receiving) keys have been replaced by the ratchet.
    pub fn key_epochs(&self) -> (u64, u64) {
        let recv = match &self.recv {
            Recv::Stream(r) => r.epoch(),
            Recv::Datagram(r) => r.epoch(),
        };
        (self.send.epoch(), recv)
    }

    /// Whether the peer's authenticated close has arrived.
    pub fn peer_closed(&self) -> bool {
        self.received_close
    }

    fn header_len(&self) -> usize {
        header_len(self.negotiated.mode)
    }

    fn overhead(&self) -> usize {
        self.header_len() + TAG_LEN
    }

    fn check_send(&self, level: ProtectionLevel, len: usize) -> Result<(), Error> {
        if self.sent_close {
            return Err(ApiMisuse::AlreadyClosed.into());
        }
        if level < self.negotiated.level {
            return Err(ApiMisuse::LevelBelowNegotiated {
                requested: level,
                negotiated: self.negotiated.level,
            }
            .into());
        }
        if len > self.negotiated.send_max {
            return Err(ApiMisuse::MessageTooLarge {
                len,
                max: self.negotiated.send_max,
            }
            .into());
        }
        Ok(())
    }

    /// Fills header and tag of `record` (header space, body, tag space), encrypting the body at
    /// Privacy.
    fn seal_record(
        &mut self,
        kind: Kind,
        level: ProtectionLevel,
        record: &mut [u8],
    ) -> Result<(), Error> {
        let hl = self.header_len();
        let body_len = record.len() - hl - TAG_LEN;
        let mode = self.negotiated.mode;
        let (seq, keys) = self.send.next()?;
        write_header(record, mode, type_byte(kind, level), body_len, seq);
        let key = keys.get(level);
        let (head, tag_space) = record.split_at_mut(hl + body_len);
        let tag = match level {
            ProtectionLevel::Integrity => key.mac(seq, head),
            ProtectionLevel::Privacy => {
                let (header, body) = head.split_at_mut(hl);
                key.seal(seq, header, body)
            }
        };
        tag_space.copy_from_slice(&tag);
        Ok(())
    }

    /// Returns the verified level and the payload's range within `record`, or `None` for close.
    fn open_record(
        &mut self,
        record: &mut [u8],
    ) -> Result<Option<(ProtectionLevel, core::ops::Range<usize>)>, Error> {
        let hl = self.header_len();
        if record.len() < hl + TAG_LEN {
            return Err(InvalidMessage::RecordTooShort.into());
        }
        let (kind, level) = record::parse_type(record[0])?;
        let body_len = record.len() - hl - TAG_LEN;
        // The type byte is parsed above; in stream mode the length field must describe exactly
        // this record.
        if self.negotiated.mode == Mode::Stream
            && get_u24([record[1], record[2], record[3]]) != record.len() - STREAM_HEADER_LEN
        {
            return Err(InvalidMessage::Malformed("record length").into());
        }
        if body_len > self.negotiated.recv_max {
            return Err(InvalidMessage::RecordTooLarge {
                len: body_len,
                max: self.negotiated.recv_max,
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
            _ => {}
        }
        if level < self.negotiated.level {
            return Err(PeerMisbehaved::BelowNegotiatedLevel {
                got: level,
                negotiated: self.negotiated.level,
            }
            .into());
        }
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&record[hl + body_len..]);
        let explicit_seq = datagram_seq(&record[..hl]);
        let (head, _) = record.split_at_mut(hl + body_len);
        let mut verify = |seq: u64, keys: &crate::key_schedule::LevelKeys| {
            let key = keys.get(level);
            match level {
                ProtectionLevel::Integrity => key.verify(seq, head, &tag),
                ProtectionLevel::Privacy => {
                    let (header, body) = head.split_at_mut(hl);
                    key.open(seq, header, body, &tag)
                }
            }
        };
        match &mut self.recv {
            Recv::Stream(r) => {
                r.open(verify)?;
            }
            Recv::Datagram(r) => {
                let seq = explicit_seq.unwrap_or_default();
                r.open(seq, |keys| verify(seq, keys))?;
            }
        }
        if kind == Kind::Close {
            self.received_close = true;
            return Ok(None);
        }
        Ok(Some((level, hl..hl + body_len)))
    }

    fn verify_token(&mut self, msg: &[u8], token: &[u8]) -> Result<(), Error> {
        let hl = self.header_len();
        if token.len() != hl + TAG_LEN {
            return Err(InvalidMessage::Malformed("signature token").into());
        }
        if token[0] != type_byte(Kind::Signature, ProtectionLevel::Integrity) {
            return Err(InvalidMessage::UnknownRecordType(token[0]).into());
        }
        if self.negotiated.mode == Mode::Stream
            && token[1..STREAM_HEADER_LEN] != [0, 0, TAG_LEN as u8]
        {
            return Err(InvalidMessage::Malformed("signature token").into());
        }
        if self.received_close {
            return Err(PeerMisbehaved::DataAfterClose.into());
        }
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&token[hl..]);
        match &mut self.recv {
            Recv::Stream(r) => {
                r.open(|seq, keys| keys.signature().verify(seq, msg, &tag))?;
            }
            Recv::Datagram(r) => {
                let seq = datagram_seq(&token[..hl]).unwrap_or_default();
                r.open(seq, |keys| keys.signature().verify(seq, msg, &tag))?;
            }
        }
        Ok(())
    }
}

impl core::fmt::Debug for SecurityContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecurityContext")
            .field("role", &self.role)
            .field("peer", &self.peer)
            .field("level", &self.negotiated.level)
            .field("suite", &self.negotiated.suite)
            .field("mode", &self.negotiated.mode)
            .finish_non_exhaustive()
    }
}

/// Signed messages are authenticated as AEAD associated data, which is bounded; 4 GiB is far
/// below the bound.
fn check_signed_len(msg: &[u8]) -> Result<(), Error> {
    const MAX_SIGNED_LEN: usize = u32::MAX as usize;
    if msg.len() > MAX_SIGNED_LEN {
        return Err(ApiMisuse::MessageTooLarge {
            len: msg.len(),
            max: MAX_SIGNED_LEN,
        }
        .into());
    }
    Ok(())
}

/// The explicit sequence number of a datagram header; `None` for a stream header.
fn datagram_seq(header: &[u8]) -> Option<u64> {
    let b: [u8; 8] = header.get(1..9)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}
