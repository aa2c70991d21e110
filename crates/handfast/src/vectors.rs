//! Hooks for known-answer tests (`tests/vectors/`): the key schedule's intermediate values and
//! a context built from given traffic secrets. Hidden from the docs; never use these to build a
//! real session, which must come from a [`Handshake`](crate::Handshake).

use zeroize::Zeroizing;

use crate::context::{Negotiated, SecurityContext};
use crate::identity::{MechanismId, PeerIdentity};
use crate::key_schedule::{self, HandshakeKeys};
use crate::level::ProtectionLevel;
use crate::mechanism::Role;
use crate::record::{self, Mode, Params};
use crate::suite::CipherSuite;

/// Every value the key schedule derives from its secrets and three transcript hashes.
#[derive(Debug)]
pub struct Schedule {
    /// HKDF-Extract of the handshake stage.
    pub prk_hs: [u8; 32],
    /// HKDF-Extract of the master stage.
    pub prk_ms: [u8; 32],
    /// Server and client Finished keys.
    pub finished_keys: [[u8; 32]; 2],
    /// Server and client Finished MACs (over `h_sfin` and `h_cfin`).
    pub finished_macs: [[u8; 32]; 2],
    /// Client-to-server and server-to-client epoch-0 traffic secrets.
    pub traffic: [[u8; 32]; 2],
    /// The client-to-server secret after one ratchet step.
    pub traffic_c_epoch1: [u8; 32],
    /// For the client-to-server epoch-0 secret: (label, bytes) of every key and IV.
    pub keys: Vec<(&'static str, Vec<u8>)>,
}

/// Runs the key schedule.
pub fn schedule(
    handshake_ikm: &[u8],
    final_secret: &[u8],
    h_sfin: &[u8; 32],
    h_cfin: &[u8; 32],
    h_done: &[u8; 32],
) -> Schedule {
    let hs = HandshakeKeys::new(handshake_ikm);
    let ms = hs.master(final_secret);
    let sf = hs.server_finished_key(h_sfin);
    let cf = ms.client_finished_key(h_cfin);
    let (ct, st) = ms.traffic_secrets(h_done);
    let mut keys = Vec::new();
    for (k, iv) in record::LABELS {
        let (key, ivb) = record::key_and_iv(&ct, k, iv);
        keys.push((k, key.to_vec()));
        keys.push((iv, ivb.to_vec()));
    }
    Schedule {
        prk_hs: *hs.prk(),
        prk_ms: *ms.prk(),
        finished_keys: [*sf, *cf],
        finished_macs: [
            key_schedule::finished_mac(&sf, h_sfin),
            key_schedule::finished_mac(&cf, h_cfin),
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
        record: Params {
            suite,
            mode,
            level,
            send_max: 1 << 16,
            recv_max: 1 << 16,
            key_update_interval,
            max_sequence: u64::MAX - 1,
            max_bad_records: 1 << 36,
        },
    };
    SecurityContext::new(
        role,
        negotiated,
        PeerIdentity::new(MechanismId(0), Vec::new(), "vectors"),
        Zeroizing::new(client_traffic),
        Zeroizing::new(server_traffic),
    )
}
