//! Errors, grouped by cause, and the coarse alert codes sent to a peer.

use crate::level::ProtectionLevel;

/// Everything that can go wrong in a handshake or a security context.
///
/// Each category names who is at fault. Errors from a stream-mode context and from a handshake
/// are sticky: once one is returned, every later call returns it again.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer (or something between us) sent bytes that do not parse.
    #[error("invalid message from peer: {0}")]
    InvalidMessage(#[from] InvalidMessage),
    /// The peer sent well-formed bytes that break the protocol, or the bytes were altered in
    /// transit (a failed authentication tag is reported here).
    #[error("{0}")]
    PeerMisbehaved(#[from] PeerMisbehaved),
    /// The peer is well-behaved but local or peer policy refuses the session.
    #[error("{0}")]
    PolicyRejected(#[from] PolicyRejected),
    /// The authentication mechanism failed.
    #[error("mechanism {mechanism}: {reason}")]
    Mechanism {
        /// The mechanism's name.
        mechanism: &'static str,
        /// What went wrong, in the mechanism's words.
        reason: String,
    },
    /// The peer aborted the handshake and said why, coarsely.
    #[error("peer aborted the handshake: {0}")]
    AlertReceived(AlertCode),
    /// The input ended without the peer's authenticated close: the stream was cut.
    #[error("connection truncated: input ended without an authenticated close")]
    Truncated,
    /// The handshake did not finish before its deadline.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// A local limit that exists for safety was reached; the session must end.
    #[error("{0}")]
    LimitReached(LimitReached),
    /// The caller used the API wrongly; the context is unharmed unless stated.
    #[error("API misuse: {0}")]
    ApiMisuse(#[from] ApiMisuse),
}

/// Bytes that do not parse. The peer, or the path to it, is at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidMessage {
    /// A record header carries a type this protocol version does not define.
    #[error("unknown record type {0:#04x}")]
    UnknownRecordType(u8),
    /// A record's length field exceeds the negotiated maximum; nothing was allocated for it.
    #[error("record of {len} bytes exceeds the maximum of {max}")]
    RecordTooLarge {
        /// Length claimed by the header.
        len: usize,
        /// Largest length allowed here.
        max: usize,
    },
    /// A record is shorter than its header and tag.
    #[error("record too short")]
    RecordTooShort,
    /// The handshake grew past its size cap.
    #[error("handshake exceeds {max} bytes")]
    HandshakeTooLarge {
        /// The cap.
        max: usize,
    },
    /// A handshake message is malformed.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A message arrived that is not valid in the current state.
    #[error("unexpected {got} (expected {expected})")]
    Unexpected {
        /// What the state machine waited for.
        expected: &'static str,
        /// What arrived.
        got: &'static str,
    },
}

/// Well-formed input that violates the protocol, or was altered in transit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerMisbehaved {
    /// A record failed authentication: it was altered, forged, reflected, spliced from another
    /// session or replayed in stream mode.
    #[error("record failed authentication (tampering detected)")]
    BadRecordMac,
    /// The peer's Finished did not match this side's view of the handshake: a handshake byte
    /// was changed in transit.
    #[error("handshake transcript mismatch (a handshake message was altered in transit)")]
    TranscriptMismatch,
    /// The peer protected a record below the session's negotiated level.
    #[error("peer sent a record at {got} but the session requires {negotiated}")]
    BelowNegotiatedLevel {
        /// Level of the record.
        got: ProtectionLevel,
        /// Level of the session.
        negotiated: ProtectionLevel,
    },
    /// The server's reply is not consistent with what this client sent, which means the hello
    /// was rewritten in transit.
    #[error("downgrade detected: {0}")]
    Downgrade(&'static str),
    /// The peer speaks a protocol version this side does not.
    #[error("peer speaks protocol version {0}, this side speaks 2")]
    UnsupportedVersion(u16),
    /// A handshake field is well-formed but outside its legal range (a key-update interval
    /// below the floor, a record size above the limit, a bad key share).
    #[error("illegal parameter: {0}")]
    IllegalParameter(&'static str),
    /// A datagram record was already received (datagram mode).
    #[error("replayed record (sequence {0})")]
    Replayed(u64),
    /// A datagram record is older than the replay window (datagram mode).
    #[error("record too old for the replay window (sequence {0})")]
    TooOld(u64),
    /// A datagram record is too far ahead of the receiver's key epoch (datagram mode).
    #[error("record too far ahead (sequence {0})")]
    TooFarAhead(u64),
    /// A record arrived after the peer's authenticated close.
    #[error("record after close")]
    DataAfterClose,
    /// Too many records failed authentication (datagram mode).
    #[error("too many records failed authentication")]
    TooManyBadRecords,
}

/// The session is refused by policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyRejected {
    /// The peer authenticated, but its identity is not trusted here.
    #[error("peer not trusted: {0}")]
    PeerNotTrusted(String),
    /// No mechanism is offered by the client and accepted by the server.
    #[error("no common authentication mechanism")]
    NoCommonMechanism,
    /// No AEAD suite is offered by the client and accepted by the server.
    #[error("no common cipher suite")]
    NoCommonSuite,
    /// The client asked for a mode (stream or datagram) the server does not run.
    #[error("peer asked for {0} mode, which is not enabled here")]
    ModeNotEnabled(&'static str),
}

/// A safety limit was reached.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitReached {
    /// The sequence space is used up; sequence numbers never wrap, so the session must end.
    #[error("sequence numbers exhausted: the session must be re-established")]
    SequenceExhausted,
}

/// The caller used the API wrongly.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiMisuse {
    /// Asked to protect a message below the session's negotiated level.
    #[error("cannot protect at {requested}: the session negotiated {negotiated}")]
    LevelBelowNegotiated {
        /// Level asked for.
        requested: ProtectionLevel,
        /// Level of the session.
        negotiated: ProtectionLevel,
    },
    /// A message is larger than one record may carry.
    #[error("message of {len} bytes exceeds the record maximum of {max}")]
    MessageTooLarge {
        /// Message length.
        len: usize,
        /// Largest allowed.
        max: usize,
    },
    /// A caller-provided buffer has the wrong size.
    #[error("buffer of {got} bytes is too small; {needed} needed")]
    BufferTooSmall {
        /// Bytes given.
        got: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// Detached signatures carry the message in clear, so they are only available in sessions
    /// that negotiated integrity.
    #[error("sign/verify need a session negotiated at integrity; this one requires privacy")]
    SignatureNeedsIntegrity,
    /// This side already sent its close record.
    #[error("already closed")]
    AlreadyClosed,
    /// The handshake has not completed.
    #[error("handshake not complete")]
    HandshakeIncomplete,
    /// Configuration is invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
}

/// The coarse reason carried by an alert: all a peer ever learns about why it was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AlertCode {
    /// Generic handshake failure (including transcript mismatch and mechanism errors).
    #[error("handshake failure")]
    HandshakeFailure,
    /// The peer is not trusted.
    #[error("access denied")]
    AccessDenied,
    /// A level or suite requirement cannot be met.
    #[error("insufficient security")]
    InsufficientSecurity,
    /// A message did not parse.
    #[error("decode error")]
    DecodeError,
    /// The protocol version is not supported.
    #[error("protocol version not supported")]
    ProtocolVersion,
    /// The handshake took too long.
    #[error("handshake timeout")]
    Timeout,
    /// A field is outside its legal range.
    #[error("illegal parameter")]
    IllegalParameter,
    /// A message arrived that is not valid in the current state.
    #[error("unexpected message")]
    UnexpectedMessage,
    /// An alert code this version does not know.
    #[error("unknown alert {0}")]
    Unknown(u8),
}

impl AlertCode {
    pub(crate) fn to_wire(self) -> u8 {
        match self {
            Self::HandshakeFailure => 1,
            Self::AccessDenied => 2,
            Self::InsufficientSecurity => 3,
            Self::DecodeError => 4,
            Self::ProtocolVersion => 5,
            Self::Timeout => 6,
            Self::IllegalParameter => 7,
            Self::UnexpectedMessage => 8,
            Self::Unknown(c) => c,
        }
    }

    pub(crate) fn from_wire(code: u8) -> Self {
        match code {
            1 => Self::HandshakeFailure,
            2 => Self::AccessDenied,
            3 => Self::InsufficientSecurity,
            4 => Self::DecodeError,
            5 => Self::ProtocolVersion,
            6 => Self::Timeout,
            7 => Self::IllegalParameter,
            8 => Self::UnexpectedMessage,
            c => Self::Unknown(c),
        }
    }
}

impl Error {
    /// The coarse alert sent to the peer for this local error, or `None` when nothing should be
    /// sent (the peer already knows, or the error is local misuse).
    ///
    /// Details stay in the local error; the peer learns only the category.
    pub fn alert(&self) -> Option<AlertCode> {
        match self {
            Self::InvalidMessage(InvalidMessage::Unexpected { .. }) => {
                Some(AlertCode::UnexpectedMessage)
            }
            Self::InvalidMessage(_) => Some(AlertCode::DecodeError),
            Self::PeerMisbehaved(PeerMisbehaved::UnsupportedVersion(_)) => {
                Some(AlertCode::ProtocolVersion)
            }
            Self::PeerMisbehaved(PeerMisbehaved::IllegalParameter(_)) => {
                Some(AlertCode::IllegalParameter)
            }
            Self::PeerMisbehaved(_) | Self::Mechanism { .. } => Some(AlertCode::HandshakeFailure),
            Self::PolicyRejected(PolicyRejected::PeerNotTrusted(_)) => {
                Some(AlertCode::AccessDenied)
            }
            Self::PolicyRejected(PolicyRejected::NoCommonSuite) => {
                Some(AlertCode::InsufficientSecurity)
            }
            Self::PolicyRejected(_) => Some(AlertCode::HandshakeFailure),
            Self::HandshakeTimeout => Some(AlertCode::Timeout),
            Self::AlertReceived(_)
            | Self::Truncated
            | Self::LimitReached(_)
            | Self::ApiMisuse(_) => None,
        }
    }

    /// Whether the error means the bytes were altered or forged in transit.
    pub fn is_tampering(&self) -> bool {
        matches!(
            self,
            Self::PeerMisbehaved(
                PeerMisbehaved::BadRecordMac
                    | PeerMisbehaved::TranscriptMismatch
                    | PeerMisbehaved::Downgrade(_)
                    | PeerMisbehaved::Replayed(_)
            )
        )
    }
}

impl From<LimitReached> for Error {
    fn from(e: LimitReached) -> Self {
        Self::LimitReached(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_codes_round_trip() {
        for code in 0..=255u8 {
            assert_eq!(AlertCode::from_wire(code).to_wire(), code);
        }
    }

    #[test]
    fn alerts_are_coarse() {
        let e = Error::PolicyRejected(PolicyRejected::PeerNotTrusted("mallory key 1234".into()));
        assert_eq!(e.alert(), Some(AlertCode::AccessDenied));
        let e = Error::from(PeerMisbehaved::TranscriptMismatch);
        assert_eq!(e.alert(), Some(AlertCode::HandshakeFailure));
        assert_eq!(Error::Truncated.alert(), None);
    }

    #[test]
    fn messages_say_what_failed() {
        let e = Error::from(PeerMisbehaved::BelowNegotiatedLevel {
            got: ProtectionLevel::Integrity,
            negotiated: ProtectionLevel::Privacy,
        });
        assert_eq!(
            e.to_string(),
            "peer sent a record at integrity but the session requires privacy"
        );
        let e = Error::from(PeerMisbehaved::TranscriptMismatch);
        assert!(e.to_string().starts_with("handshake transcript mismatch"));
    }
}
