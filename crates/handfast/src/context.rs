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

use crate::error::{ApiMisuse, Error, PeerMisbehaved};
use crate::identity::{MechanismId, PeerIdentity};
use crate::key_schedule::Secret;
use crate::level::ProtectionLevel;
use crate::mechanism::Role;
use crate::record::{self, Kind, Mode, Params, RecordLayer, TAG_LEN};
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
    mechanism: (MechanismId, &'static str),
    peer: PeerIdentity,
    records: RecordLayer,
    failed: Option<Error>,
}

/// What both sides agreed on in the handshake.
#[derive(Clone, Debug)]
pub(crate) struct Negotiated {
    pub(crate) mechanism: MechanismId,
    pub(crate) mechanism_name: &'static str,
    pub(crate) record: Params,
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
        Self {
            role,
            mechanism: (negotiated.mechanism, negotiated.mechanism_name),
            peer,
            records: RecordLayer::new(negotiated.record, send_secret, recv_secret),
            failed: None,
        }
    }

    /// Protects `msg` at `level` and returns the record to send.
    ///
    /// # Errors
    /// See [`seal_into`](Self::seal_into).
    pub fn seal(&mut self, level: ProtectionLevel, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(msg.len() + self.records.overhead());
        self.seal_into(level, msg, &mut out)?;
        Ok(out)
    }

    /// Appends the record protecting `msg` at `level` to `out`; allocates nothing if `out`
    /// has room for `msg.len()` plus [`Sizes::header`] and [`Sizes::trailer`].
    ///
    /// # Errors
    /// `level` below the negotiated level, `msg` larger than [`Sizes::max_message`], this side
    /// already closed, the sequence space used up, or (in stream mode) a receive error earlier
    /// in the session.
    pub fn seal_into(
        &mut self,
        level: ProtectionLevel,
        msg: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        self.check_failed()?;
        self.records.check_send(level, msg.len())?;
        let start = out.len();
        let hl = self.records.header_len();
        out.resize(start + hl, 0);
        out.extend_from_slice(msg);
        out.resize(start + hl + msg.len() + TAG_LEN, 0);
        self.records
            .seal(Kind::Data, level, &mut out[start..])
            .inspect_err(|_| out.truncate(start))
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
        let overhead = self.records.overhead();
        if record.len() < overhead {
            return Err(ApiMisuse::BufferTooSmall {
                got: record.len(),
                needed: overhead,
            }
            .into());
        }
        self.check_failed()?;
        self.records.seal(Kind::Data, level, record)
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
                let hl = self.records.header_len();
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
    /// [`next_record_len`](Self::next_record_len); in datagram mode it is one datagram. A
    /// record that fails leaves zeros where its payload was, never unverified bytes.
    ///
    /// # Errors
    /// A record that is malformed, too large, below the negotiated level, replayed, out of
    /// order or altered ([`PeerMisbehaved::BadRecordMac`]); or anything after the peer's close.
    /// In stream mode the error is sticky (and later sends are refused too); in datagram mode
    /// the record is dropped and nothing else changes.
    pub fn open_in_place<'a>(&mut self, record: &'a mut [u8]) -> Result<Opened<'a>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.records.open(record) {
            Ok(record::Opened::Data { level, body }) => Ok(Opened::Data {
                level,
                payload: &mut record[body],
            }),
            Ok(record::Opened::Close) => Ok(Opened::Closed),
            Err(e) => Err(self.receive_failed(e)),
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
        self.records.next_record_len(buf).inspect_err(|e| {
            self.failed = Some(e.clone());
        })
    }

    /// Reports that the transport's input ended.
    ///
    /// # Errors
    /// [`Error::Truncated`] unless the peer's authenticated close arrived first: an attacker
    /// who cuts the connection is never mistaken for the peer finishing.
    pub fn eof(&mut self) -> Result<(), Error> {
        if self.records.peer_closed() {
            return Ok(());
        }
        let e = self.failed.clone().unwrap_or(Error::Truncated);
        self.failed = Some(e.clone());
        Err(e)
    }

    /// The authenticated close record: this side will send nothing more (a half-close).
    /// Receiving continues until the peer closes too.
    ///
    /// # Errors
    /// Already closed, the sequence space used up, or a stream-mode receive error earlier.
    pub fn close(&mut self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(self.records.overhead());
        self.close_into(&mut out)?;
        Ok(out)
    }

    /// Appends the close record to `out`.
    ///
    /// # Errors
    /// As [`close`](Self::close).
    pub fn close_into(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let level = self.level();
        self.check_failed()?;
        self.records.check_send(level, 0)?;
        let start = out.len();
        out.resize(start + self.records.overhead(), 0);
        self.records
            .seal(Kind::Close, level, &mut out[start..])
            .inspect_err(|_| out.truncate(start))
    }

    /// A detached signature over `msg` (which travels separately and in clear), like
    /// `MakeSignature` or `gss_get_mic`. Signatures share the record sequence, so the peer
    /// must verify them in the order they were made (stream mode).
    ///
    /// # Errors
    /// [`ApiMisuse::SignatureNeedsIntegrity`] in a session negotiated at privacy (a message in
    /// clear would run below the session's level), or as [`seal`](Self::seal).
    pub fn sign(&mut self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        if self.level() != ProtectionLevel::Integrity {
            return Err(ApiMisuse::SignatureNeedsIntegrity.into());
        }
        check_signed_len(msg)?;
        self.check_failed()?;
        self.records.sign(msg)
    }

    /// Checks a detached signature made by the peer's [`sign`](Self::sign).
    ///
    /// # Errors
    /// A session at privacy ([`ApiMisuse::SignatureNeedsIntegrity`]), a malformed token, or a
    /// signature that does not match `msg` at this position in the sequence.
    pub fn verify(&mut self, msg: &[u8], token: &[u8]) -> Result<(), Error> {
        if self.level() != ProtectionLevel::Integrity {
            return Err(ApiMisuse::SignatureNeedsIntegrity.into());
        }
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        check_signed_len(msg)?;
        self.records
            .verify(msg, token)
            .map_err(|e| self.receive_failed(e))
    }

    /// Header, trailer and maximum sizes.
    pub fn sizes(&self) -> Sizes {
        let header = self.records.header_len();
        Sizes {
            header,
            trailer: TAG_LEN,
            max_message: self.records.params().send_max,
            signature: header + TAG_LEN,
        }
    }

    /// The authenticated peer.
    pub fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    /// The negotiated level: the lowest any record of this session may use.
    pub fn level(&self) -> ProtectionLevel {
        self.records.params().level
    }

    /// The mechanism that authenticated the peer: its number and name.
    pub fn mechanism(&self) -> (MechanismId, &'static str) {
        self.mechanism
    }

    /// The AEAD suite protecting records.
    pub fn suite(&self) -> CipherSuite {
        self.records.params().suite
    }

    /// Stream or datagram.
    pub fn mode(&self) -> Mode {
        self.records.params().mode
    }

    /// Whether this side is the client (`Initiator`) or the server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// How many times the (sending, receiving) keys have been replaced by the ratchet.
    pub fn key_epochs(&self) -> (u64, u64) {
        self.records.epochs()
    }

    /// Whether the peer's authenticated close has arrived.
    pub fn peer_closed(&self) -> bool {
        self.records.peer_closed()
    }

    /// Refuses to send after a fatal error; the record layer applies its own checks (level,
    /// size, close) when it seals.
    #[inline]
    fn check_failed(&self) -> Result<(), Error> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Makes a receive error sticky where the mode requires it.
    fn receive_failed(&mut self, e: Error) -> Error {
        let fatal = self.mode() == Mode::Stream
            || matches!(
                e,
                Error::LimitReached(_) | Error::PeerMisbehaved(PeerMisbehaved::TooManyBadRecords)
            );
        if fatal {
            self.failed = Some(e.clone());
        }
        e
    }
}

impl core::fmt::Debug for SecurityContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecurityContext")
            .field("role", &self.role)
            .field("peer", &self.peer)
            .field("level", &self.level())
            .field("suite", &self.suite())
            .field("mode", &self.mode())
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
