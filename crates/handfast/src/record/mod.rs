//! The record layer: framing, level-aware protection, sequence numbers, key epochs, the replay
//! window and the authenticated close.
//!
//! Stream record:   `type(1) | length(3) | body | tag(16)` with `length = len(body) + 16`.
//! Datagram record: `type(1) | seq(8) | body | tag(16)`, one record per datagram.
//! See `docs/PROTOCOL.md` for the complete format.

mod aead;
mod direction;
mod header;
mod keys;
mod layer;
mod protect;
mod replay;

pub(crate) use aead::TAG_LEN;
pub(crate) use header::{
    ContentType, DATAGRAM_HEADER_LEN, Kind, STREAM_HEADER_LEN, StreamHeader, TYPE_ALERT,
    write_stream_header,
};
pub(crate) use keys::{LABELS, key_and_iv};
pub(crate) use layer::{Opened, RecordLayer};

use crate::level::ProtectionLevel;
use crate::suite::CipherSuite;

/// Width of the datagram replay window.
pub(crate) const REPLAY_WINDOW: u64 = replay::WINDOW;
/// Largest record plaintext a side may allow: the stream header's 24-bit length minus room for
/// the tag, rounded down.
pub(crate) const MAX_RECORD_LEN_LIMIT: usize = (1 << 24) - 64;

/// How records travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// A reliable ordered byte stream (TCP, a pipe). Implicit sequence numbers; any gap,
    /// duplicate or reordering is fatal.
    #[default]
    Stream,
    /// Unreliable datagrams (UDP, a queue). Explicit sequence numbers and a replay window;
    /// a bad record is dropped and the session goes on.
    Datagram,
}

impl Mode {
    /// `"stream"` or `"datagram"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stream => "stream",
            Self::Datagram => "datagram",
        }
    }

    /// The protected record header's length in this mode.
    pub(crate) fn header_len(self) -> usize {
        match self {
            Self::Stream => STREAM_HEADER_LEN,
            Self::Datagram => DATAGRAM_HEADER_LEN,
        }
    }

    /// The smallest key-update interval this mode allows: a peer cannot make the other side
    /// ratchet more often than this (stream), and a datagram epoch spans at least the replay
    /// window.
    pub(crate) fn min_key_update_interval(self) -> u64 {
        match self {
            Self::Stream => 1 << 10,
            Self::Datagram => REPLAY_WINDOW,
        }
    }

    pub(crate) fn to_wire(self) -> u8 {
        match self {
            Self::Stream => 1,
            Self::Datagram => 2,
        }
    }

    pub(crate) fn from_wire(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Stream),
            2 => Some(Self::Datagram),
            _ => None,
        }
    }
}

/// The largest key-update interval for records of up to `max_record_len` bytes: no key
/// protects more than 2^38 bytes or 2^24 records, well inside AES-GCM's limits.
pub(crate) fn max_key_update_interval(max_record_len: usize) -> u64 {
    ((1u64 << 38) / max_record_len.max(1) as u64).min(1 << 24)
}

/// What the record layer of one session runs with, as negotiated.
#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub(crate) suite: CipherSuite,
    pub(crate) mode: Mode,
    /// The negotiated level: the lowest any record may use.
    pub(crate) level: ProtectionLevel,
    /// Largest plaintext this side may send (the peer's limit).
    pub(crate) send_max: usize,
    /// Largest plaintext this side accepts.
    pub(crate) recv_max: usize,
    pub(crate) key_update_interval: u64,
    pub(crate) max_sequence: u64,
    pub(crate) max_bad_records: u64,
}
