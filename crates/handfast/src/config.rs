//! Configuration of the two sides of a handshake.

use core::time::Duration;
use std::sync::Arc;

use crate::error::{ApiMisuse, Error};
use crate::level::ProtectionLevel;
use crate::mechanism::Mechanism;
use crate::policy::Policy;
use crate::record::{MAX_RECORD_LEN_LIMIT, Mode, max_key_update_interval};
use crate::suite::CipherSuite;

/// Sizes and counts that bound memory and key use. All have safe defaults; tests lower them to
/// reach them in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest plaintext this side accepts in one record; the peer learns it in the handshake.
    /// Default 64 KiB; at most 16 MiB − 64.
    pub max_record_len: usize,
    /// Largest single handshake message accepted before the peer is authenticated. Default
    /// 4 KiB: this is all a stranger can make this side buffer.
    pub max_handshake_message: usize,
    /// Largest total handshake accepted. Default 16 KiB.
    pub max_handshake_len: usize,
    /// Records sent under one key before the one-way ratchet replaces it. `None` derives it from
    /// `max_record_len` so that no key protects more than 2^38 bytes or 2^24 records (well under
    /// AES-GCM's limits). The two sides use the smaller of their values, further capped so that
    /// the larger of the two record sizes keeps that bound. At least 1024 in stream mode and
    /// 2048 (the replay window) in datagram mode, so that a peer cannot make this side ratchet
    /// on every record.
    pub key_update_interval: Option<u64>,
    /// The handshake must complete within this time of its start.
    pub handshake_timeout: Duration,
    /// The last sequence number this side sends or accepts; the session refuses to go past it
    /// instead of wrapping. Default `u64::MAX - 1`.
    pub max_sequence: u64,
    /// Records that may fail authentication in datagram mode before the session is closed.
    /// Default 2^36.
    pub max_bad_records: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_record_len: 64 * 1024,
            max_handshake_message: 4 * 1024,
            max_handshake_len: 16 * 1024,
            key_update_interval: None,
            handshake_timeout: Duration::from_secs(10),
            max_sequence: u64::MAX - 1,
            max_bad_records: 1 << 36,
        }
    }
}

impl Limits {
    /// The key-update interval this side proposes.
    pub fn effective_key_update_interval(&self) -> u64 {
        self.key_update_interval
            .unwrap_or_else(|| max_key_update_interval(self.max_record_len))
    }

    pub(crate) fn validate(&self, mode: Mode) -> Result<(), Error> {
        let bad = |s| Err(Error::from(ApiMisuse::InvalidConfig(s)));
        if self.max_record_len == 0 || self.max_record_len > MAX_RECORD_LEN_LIMIT {
            return bad("max_record_len must be between 1 and 16 MiB - 64");
        }
        if self.max_handshake_message < 256 || self.max_handshake_message > self.max_handshake_len {
            return bad("max_handshake_message must be at least 256 and at most max_handshake_len");
        }
        if self.max_handshake_len >= 1 << 24 {
            return bad("max_handshake_len must be below 16 MiB");
        }
        if self.max_sequence == u64::MAX {
            return bad("max_sequence must be below 2^64 - 1 so that sequence numbers never wrap");
        }
        let interval = self.effective_key_update_interval();
        if interval < mode.min_key_update_interval() {
            return bad(
                "key_update_interval must be at least 1024 (stream) or 2048, the replay window \
                 (datagram)",
            );
        }
        if interval > max_key_update_interval(self.max_record_len) {
            return bad(
                "key_update_interval must keep each key under 2^38 bytes and 2^24 records at \
                 max_record_len",
            );
        }
        Ok(())
    }
}

/// A client's configuration.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Mechanisms offered, most preferred first. The first one sends its opening token with the
    /// hello.
    pub mechanisms: Vec<Arc<dyn Mechanism>>,
    /// The level this client asks for. Default: Privacy. The server may raise it, never lower it.
    pub level: ProtectionLevel,
    /// This client's minimum and authorization callback for the server.
    pub policy: Policy,
    /// AEAD suites offered, most preferred first.
    pub suites: Vec<CipherSuite>,
    /// Stream or datagram.
    pub mode: Mode,
    /// Sizes, counts and the handshake deadline.
    pub limits: Limits,
}

impl ClientConfig {
    /// Privacy, the machine's preferred suites, stream mode, default limits.
    pub fn new(mechanism: Arc<dyn Mechanism>) -> Self {
        Self {
            mechanisms: vec![mechanism],
            level: ProtectionLevel::Privacy,
            policy: Policy::default(),
            suites: CipherSuite::preferred(),
            mode: Mode::Stream,
            limits: Limits::default(),
        }
    }

    /// Asks for `level` and accepts it as this client's minimum. Choosing
    /// [`ProtectionLevel::Integrity`] is the explicit opt-in for speed; the server may still
    /// require privacy.
    pub fn with_level(mut self, level: ProtectionLevel) -> Self {
        self.level = level;
        self.policy.minimum = level;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |s| Err(Error::from(ApiMisuse::InvalidConfig(s)));
        if self.mechanisms.is_empty() || self.mechanisms.len() > 16 {
            return bad("a client offers between 1 and 16 mechanisms");
        }
        if self.suites.is_empty() || self.suites.len() > 8 {
            return bad("a client offers between 1 and 8 suites");
        }
        if self.level < self.policy.minimum {
            return bad("the requested level is below the client's own minimum");
        }
        if self.mechanisms.iter().any(|m| !m.capabilities().mutual) {
            return bad("every mechanism must authenticate both sides (Capabilities::mutual)");
        }
        if !self
            .mechanisms
            .iter()
            .any(|m| m.capabilities().supports(self.level, self.mode))
        {
            return bad("no offered mechanism supports the requested level and mode");
        }
        let mut ids: Vec<_> = self.mechanisms.iter().map(|m| m.id()).collect();
        ids.sort();
        ids.dedup();
        if ids.len() != self.mechanisms.len() {
            return bad("a mechanism is offered twice");
        }
        self.limits.validate(self.mode)
    }
}

/// A server's configuration.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Mechanisms accepted; the server picks the first of the client's offers it has here.
    pub mechanisms: Vec<Arc<dyn Mechanism>>,
    /// The minimum level (the server's requirement) and the authorization callback for clients.
    pub policy: Policy,
    /// AEAD suites accepted.
    pub suites: Vec<CipherSuite>,
    /// Modes this server runs.
    pub modes: Vec<Mode>,
    /// Sizes, counts and the handshake deadline.
    pub limits: Limits,
}

impl ServerConfig {
    /// Requires Privacy; all suites; stream mode; default limits.
    pub fn new(mechanism: Arc<dyn Mechanism>) -> Self {
        Self {
            mechanisms: vec![mechanism],
            policy: Policy::default(),
            suites: CipherSuite::preferred(),
            modes: vec![Mode::Stream],
            limits: Limits::default(),
        }
    }

    /// Sets the minimum level clients must run at. [`ProtectionLevel::Integrity`] lets clients
    /// that ask for it run at integrity; clients that ask for privacy still get privacy.
    pub fn with_min_level(mut self, level: ProtectionLevel) -> Self {
        self.policy.minimum = level;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |s| Err(Error::from(ApiMisuse::InvalidConfig(s)));
        if self.mechanisms.is_empty() {
            return bad("a server needs at least one mechanism");
        }
        if self.suites.is_empty() || self.modes.is_empty() {
            return bad("a server needs at least one suite and one mode");
        }
        if self.mechanisms.iter().any(|m| !m.capabilities().mutual) {
            return bad("every mechanism must authenticate both sides (Capabilities::mutual)");
        }
        for mode in &self.modes {
            self.limits.validate(*mode)?;
        }
        Ok(())
    }
}
