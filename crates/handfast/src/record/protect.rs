//! Level-aware protection of one record, and detached signatures.
//!
//! A record is laid out as `header || body || tag`. At Privacy the body is encrypted and the
//! header is the associated data; at Integrity the body stays in clear and header and body
//! together are the associated data of an empty plaintext (AES-GMAC, or Poly1305). A
//! detached signature is a tag over the message as associated data, under its own key.

use super::aead::{TAG_LEN, Unauthentic};
use super::keys::LevelKeys;
use crate::level::ProtectionLevel;

/// A session has no key below its negotiated level.
#[derive(Debug)]
pub(crate) struct NoKey;

/// Fills the tag of `record` (`header || body || tag space`, header already written) and, at
/// Privacy, encrypts the body in place.
#[inline]
pub(crate) fn protect(
    keys: &LevelKeys,
    level: ProtectionLevel,
    seq: u64,
    header_len: usize,
    record: &mut [u8],
) -> Result<(), NoKey> {
    let key = keys.level(level).ok_or(NoKey)?;
    let (head, tag_space) = record.split_at_mut(record.len() - TAG_LEN);
    let tag = match level {
        ProtectionLevel::Integrity => key.mac(seq, head),
        ProtectionLevel::Privacy => {
            let (header, body) = head.split_at_mut(header_len);
            key.seal(seq, header, body)
        }
    };
    tag_space.copy_from_slice(&tag);
    Ok(())
}

/// Verifies `record` (`header || body || tag`) and, at Privacy, decrypts the body in place.
/// On failure the body is overwritten with zeros, so no unverified bytes are left for the
/// caller to mistake for a message.
#[inline]
pub(crate) fn unprotect(
    keys: &LevelKeys,
    level: ProtectionLevel,
    seq: u64,
    header_len: usize,
    record: &mut [u8],
) -> Result<(), Unauthentic> {
    let key = keys.level(level).ok_or(Unauthentic)?;
    let (head, tag) = record.split_at_mut(record.len() - TAG_LEN);
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(tag);
    match level {
        ProtectionLevel::Integrity => key.verify(seq, head, &t).inspect_err(|_| {
            head[header_len..].fill(0);
        }),
        ProtectionLevel::Privacy => {
            let (header, body) = head.split_at_mut(header_len);
            key.open(seq, header, body, &t)
        }
    }
}

/// The tag of a detached signature over `msg`.
pub(crate) fn sign(keys: &LevelKeys, seq: u64, msg: &[u8]) -> Result<[u8; TAG_LEN], NoKey> {
    Ok(keys.signature().ok_or(NoKey)?.mac(seq, msg))
}

/// Checks a detached signature's tag.
pub(crate) fn verify_signature(
    keys: &LevelKeys,
    seq: u64,
    msg: &[u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), Unauthentic> {
    keys.signature().ok_or(Unauthentic)?.verify(seq, msg, tag)
}
