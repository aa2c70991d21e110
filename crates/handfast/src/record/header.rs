//! The one record header parser: content types, and the stream header (`type || u24 length`)
//! that frames handshake-phase records in both modes and protected records in stream mode.

use crate::error::InvalidMessage;
use crate::level::ProtectionLevel;

/// Stream header: type + 24-bit length.
pub(crate) const STREAM_HEADER_LEN: usize = 4;
/// Datagram header of a protected record: type + 64-bit sequence number.
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

/// What the first byte of a record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContentType {
    /// A plaintext alert.
    Alert,
    /// A plaintext handshake message.
    Handshake,
    /// A protected record of a kind, at a level.
    Protected(Kind, ProtectionLevel),
}

impl ContentType {
    /// Parses a type byte; every byte that names nothing is an error.
    #[inline]
    pub(crate) fn parse(byte: u8) -> Result<Self, InvalidMessage> {
        let kind = match byte {
            TYPE_ALERT => return Ok(Self::Alert),
            TYPE_HANDSHAKE => return Ok(Self::Handshake),
            b if b & 0xf0 == TYPE_DATA => Kind::Data,
            b if b & 0xf0 == TYPE_CLOSE => Kind::Close,
            b if b & 0xf0 == TYPE_SIGNATURE => Kind::Signature,
            _ => return Err(InvalidMessage::UnknownRecordType(byte)),
        };
        let level = ProtectionLevel::from_wire(byte & 0x0f)
            .ok_or(InvalidMessage::UnknownRecordType(byte))?;
        if kind == Kind::Signature && level != ProtectionLevel::Integrity {
            return Err(InvalidMessage::UnknownRecordType(byte));
        }
        Ok(Self::Protected(kind, level))
    }

    /// The type byte.
    #[inline]
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Self::Alert => TYPE_ALERT,
            Self::Handshake => TYPE_HANDSHAKE,
            Self::Protected(kind, level) => {
                let k = match kind {
                    Kind::Data => TYPE_DATA,
                    Kind::Close => TYPE_CLOSE,
                    Kind::Signature => TYPE_SIGNATURE,
                };
                k | level.to_wire()
            }
        }
    }
}

/// A parsed stream header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StreamHeader {
    /// The record's type.
    pub(crate) ty: ContentType,
    /// The length field: bytes after the header.
    pub(crate) len: usize,
}

impl StreamHeader {
    /// Parses the first [`STREAM_HEADER_LEN`] bytes of `buf`; `Ok(None)` if fewer have arrived.
    pub(crate) fn parse(buf: &[u8]) -> Result<Option<Self>, InvalidMessage> {
        let Some(&[ty, ..]) = buf.get(..STREAM_HEADER_LEN) else {
            return Ok(None);
        };
        let ty = ContentType::parse(ty)?;
        Ok(Some(Self {
            ty,
            len: stream_len(buf),
        }))
    }

    /// The whole record's length, header included.
    pub(crate) fn record_len(&self) -> usize {
        STREAM_HEADER_LEN + self.len
    }
}

/// The length field of a stream header whose type byte was already parsed; the caller checked
/// that `record` holds at least the header.
#[inline]
pub(crate) fn stream_len(record: &[u8]) -> usize {
    match record {
        [_, a, b, c, ..] => (usize::from(*a) << 16) | (usize::from(*b) << 8) | usize::from(*c),
        _ => 0,
    }
}

/// Writes a stream header for a record whose bytes after the header number `len`.
/// The caller guarantees `len < 2^24`.
#[inline]
pub(crate) fn write_stream_header(out: &mut [u8], ty: ContentType, len: usize) {
    debug_assert!(len < 1 << 24);
    out[0] = ty.to_byte();
    out[1..4].copy_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8]);
}

/// Writes a datagram header.
pub(crate) fn write_datagram_header(out: &mut [u8], ty: ContentType, seq: u64) {
    out[0] = ty.to_byte();
    out[1..9].copy_from_slice(&seq.to_be_bytes());
}

/// The explicit sequence number of a datagram header.
pub(crate) fn datagram_seq(header: &[u8; DATAGRAM_HEADER_LEN]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&header[1..]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_byte_parses_or_is_rejected() {
        let mut protected = 0;
        for b in 0..=255u8 {
            if let Ok(ty) = ContentType::parse(b) {
                assert_eq!(ty.to_byte(), b);
                if matches!(ty, ContentType::Protected(..)) {
                    protected += 1;
                }
            }
        }
        // Data and close at two levels, signature at one.
        assert_eq!(protected, 5);
    }

    #[test]
    fn stream_header_round_trips_every_length_width() {
        for len in [0usize, 1, 255, 256, 65_535, 65_536, (1 << 24) - 1] {
            let mut h = [0u8; 4];
            write_stream_header(&mut h, ContentType::Handshake, len);
            let parsed = StreamHeader::parse(&h).unwrap().unwrap();
            assert_eq!(parsed.len, len);
            assert_eq!(parsed.record_len(), len + 4);
        }
        assert_eq!(StreamHeader::parse(&[0x16, 0, 0]), Ok(None));
        assert!(StreamHeader::parse(&[0x99, 0, 0, 1]).is_err());
    }
}
