//! Big-endian reading and writing of handshake fields.

use crate::error::InvalidMessage;

/// Reads fields from a byte slice; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// `what` names the message in errors ("ClientHello").
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, what }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], InvalidMessage> {
        if self.buf.len() < n {
            return Err(InvalidMessage::Malformed(self.what));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, InvalidMessage> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, InvalidMessage> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, InvalidMessage> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, InvalidMessage> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], InvalidMessage> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// Fails unless every byte was read: no trailing bytes are tolerated.
    pub(crate) fn finish(self) -> Result<(), InvalidMessage> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(InvalidMessage::Malformed(self.what))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_rejects_short_and_trailing_input() {
        let mut r = Reader::new(&[1, 2, 3], "test");
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.u16(), Err(InvalidMessage::Malformed("test")));
        let mut r = Reader::new(&[1, 2, 3], "test");
        assert_eq!(r.u8(), Ok(1));
        assert_eq!(r.finish(), Err(InvalidMessage::Malformed("test")));
    }
}
