//! Hooks for known-answer tests (`tests/vectors/`): the key schedule's intermediate values and
//! a context built from given traffic secrets. Hidden from the docs; never use these to build a
//! real session, which must come from a [`Handshake`](crate::Handshake).

use zeroize::Zeroizing;

use crate::config::Mode;
use crate::context::SecurityContext;
use crate::handshake::Negotiated;
use crate::identity::{MechanismId, PeerIdentity};
use crate::key_schedule::{self, KeySchedule};
use crate::level::ProtectionLevel;
use crate::mechanism::Role;
use crate::suite::CipherSuite;

/// Every value the key schedule derives from one mechanism secret and two transcript hashes.
#[derive(Debug)]
pub struct Schedule {
    /// HKDF-Extract output.
    pub prk: [u8; 32],
    /// Client and server Finished keys.
    pub finished_keys: [[u8; 32]; 2],
    /// Client and server Finished MACs (over `h_mech` and `h_client_finished`).
    pub finished_macs: [[u8; 32]; 2],
    /// Client-to-server and server-to-client epoch-0 traffic secrets.
    pub traffic: [[u8; 32]; 2],
    /// The client-to-server secret after one ratchet step.
    pub traffic_c_epoch1: [u8; 32],
    /// For the client-to-server epoch-0 secret: (label, bytes) of every key and IV.
    pub keys: Vec<(&'static str, Vec<u8>)>,
}

/// Runs the key schedule.
pub fn schedule(secret: &[u8], h_mech: &[u8; 32], h_client_finished: &[u8; 32]) -> Schedule {
    let ks = KeySchedule::new(secret);
    let (cf, sf) = ks.finished_keys(h_mech);
    let (ct, st) = ks.traffic_secrets(h_client_finished);
    let mut keys = Vec::new();
    for (k, iv) in [
        ("privacy key", "privacy iv"),
        ("integrity key", "integrity iv"),
        ("signature key", "signature iv"),
    ] {
        let (key, ivb) = key_schedule::key_and_iv(&ct, k, iv);
        keys.push((k, key.to_vec()));
        keys.push((iv, ivb.to_vec()));
    }
    Schedule {
        prk: *ks.prk(),
        finished_keys: [*cf, *sf],
        finished_macs: [
            key_schedule::finished_mac(&cf, h_mech),
            key_schedule::finished_mac(&sf, h_client_finished),
        ],
        traffic: [*ct, *st],
        traffic_c_epoch1: *key_schedule::next_secret(&ct),
        keys,
    }
}

/// A context from raw traffic secrets, for record vectors only.
pub fn dangerous_context_from_secrets(
    role: Role,
    suite: CipherSuite,
    mode: Mode,
    level: ProtectionLevel,
    client_traffic: [u8; 32],
    server_traffic: [u8; 32],
    key_update_interval: u64,
) -> SecurityContext {
    let negotiated = Negotiated {
        mechanism: MechanismId(0),
        mechanism_name: "vectors",
        level,
        suite,
        mode,
        send_max: 1 << 16,
        recv_max: 1 << 16,
        key_update_interval,
        max_sequence: u64::MAX - 1,
        max_bad_records: 1 << 36,
    };
    SecurityContext::new(
        role,
        negotiated,
        PeerIdentity::new(MechanismId(0), Vec::new(), "vectors"),
        Zeroizing::new(client_traffic),
        Zeroizing::new(server_traffic),
    )
}
