//! Record framing: content types, headers, and the per-direction key state.
//!
//! Stream record:   `type(1) | length(3) | body | tag(16)` with `length = len(body) + 16`.
//! Datagram record: `type(1) | seq(8) | body | tag(16)`, one record per datagram.
//! See `docs/PROTOCOL.md` for the complete format.

mod direction;
mod replay;

pub(crate) use direction::{RecvDatagram, RecvStream, Send};

use crate::codec::get_u24;
use crate::config::Mode;
use crate::error::{Error, InvalidMessage};
use crate::level::ProtectionLevel;
pub(crate) use crate::suite::TAG_LEN;

/// Width of the datagram replay window.
pub(crate) const REPLAY_WINDOW: u64 = replay::WINDOW;
/// Largest record plaintext a side may allow: the stream header's 24-bit length minus room for
/// the tag.
pub(crate) const MAX_RECORD_LEN_LIMIT: usize = (1 << 24) - 64;
/// Stream header: type + 24-bit length.
pub(crate) const STREAM_HEADER_LEN: usize = 4;
/// Datagram header: type + 64-bit sequence number.
pub(crate) const DATAGRAM_HEADER_LEN: usize = 9;

/// Plaintext alert (handshake phase only).
pub(crate) const TYPE_ALERT: u8 = 0x15;
/// Plaintext handshake message.
pub(crate) const TYPE_HANDSHAKE: u8 = 0x16;
const TYPE_DATA: u8 = 0x20;
const TYPE_CLOSE: u8 = 0x30;
const TYPE_SIGNATURE: u8 = 0x40;

/// What a protected record carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Application data.
    Data,
    /// The authenticated end of this direction; empty body.
    Close,
    /// A detached signature over a message carried elsewhere; empty body. Integrity only.
    Signature,
}

/// The type byte of a protected record: kind in the high nibble, level in the low one.
pub(crate) fn type_byte(kind: Kind, level: ProtectionLevel) -> u8 {
    let k = match kind {
        Kind::Data => TYPE_DATA,
        Kind::Close => TYPE_CLOSE,
        Kind::Signature => TYPE_SIGNATURE,
    };
    k | level.to_wire()
}

/// Parses a protected record's type byte.
pub(crate) fn parse_type(byte: u8) -> Result<(Kind, ProtectionLevel), InvalidMessage> {
    let kind = match byte & 0xf0 {
        TYPE_DATA => Kind::Data,
        TYPE_CLOSE => Kind::Close,
        TYPE_SIGNATURE => Kind::Signature,
        _ => return Err(InvalidMessage::UnknownRecordType(byte)),
    };
    let level =
        ProtectionLevel::from_wire(byte & 0x0f).ok_or(InvalidMessage::UnknownRecordType(byte))?;
    if kind == Kind::Signature && level != ProtectionLevel::Integrity {
        return Err(InvalidMessage::UnknownRecordType(byte));
    }
    Ok((kind, level))
}

/// Header length for a mode.
pub(crate) fn header_len(mode: Mode) -> usize {
    match mode {
        Mode::Stream => STREAM_HEADER_LEN,
        Mode::Datagram => DATAGRAM_HEADER_LEN,
    }
}

/// Writes a header into `out[..header_len]`.
pub(crate) fn write_header(out: &mut [u8], mode: Mode, ty: u8, body_len: usize, seq: u64) {
    out[0] = ty;
    match mode {
        Mode::Stream => {
            let n = body_len + TAG_LEN;
            out[1..4].copy_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
        }
        Mode::Datagram => out[1..9].copy_from_slice(&seq.to_be_bytes()),
    }
}

/// From the first bytes of a stream, the full length of the next protected record, checked
/// against `max_body` before anything is allocated. `Ok(None)` if fewer than four bytes are
/// available.
pub(crate) fn stream_record_len(buf: &[u8], max_body: usize) -> Result<Option<usize>, Error> {
    let Some(hdr) = buf.get(..STREAM_HEADER_LEN) else {
        return Ok(None);
    };
    parse_type(hdr[0])?;
    let len = get_u24([hdr[1], hdr[2], hdr[3]]);
    if len < TAG_LEN {
        return Err(InvalidMessage::RecordTooShort.into());
    }
    if len - TAG_LEN > max_body {
        return Err(InvalidMessage::RecordTooLarge {
            len: len - TAG_LEN,
            max: max_body,
        }
        .into());
    }
    Ok(Some(STREAM_HEADER_LEN + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_byte_parses_or_is_rejected() {
        let mut accepted = 0;
        for b in 0..=255u8 {
            if let Ok((kind, level)) = parse_type(b) {
                assert_eq!(type_byte(kind, level), b);
                accepted += 1;
            }
        }
        // Data and close at two levels, signature at one.
        assert_eq!(accepted, 5);
    }

    #[test]
    fn oversized_length_rejected_from_header_alone() {
        let hdr = [0x22, 0xff, 0xff, 0xff];
        let err = stream_record_len(&hdr, 64 * 1024).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidMessage(InvalidMessage::RecordTooLarge { .. })
        ));
        assert_eq!(stream_record_len(&hdr[..3], 10), Ok(None));
        let short = [0x22, 0, 0, 15];
        assert!(stream_record_len(&short, 10).is_err());
        let ok = [0x22, 0, 0, 16 + 10];
        assert_eq!(stream_record_len(&ok, 10), Ok(Some(4 + 26)));
    }
}
