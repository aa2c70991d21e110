//! Shared pieces of the fuzz targets.
//!
//! Fuzz builds set `cfg(fuzzing)`, under which the core accepts every AEAD tag and Finished MAC
//! (never in a real build), so inputs reach the logic behind them. `PassMechanism` does the same
//! for the authentication mechanism: it accepts any token, so the fuzzer drives the handshake
//! state machine through every state.

use std::sync::Arc;
use std::time::Instant;

use handfast::mechanism::{
    Authenticated, Binding, Capabilities, Entropy, Mechanism, MechanismError, MechanismId,
    MechanismSession, PeerIdentity, Progress, Role, Step,
};
use handfast::{ClientConfig, Handshake, Limits, Mode, ProtectionLevel, ServerConfig};
use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};

/// A mechanism with no security at all: one token each way (the server's last), then done.
#[derive(Debug)]
pub struct PassMechanism;

struct PassSession {
    role: Role,
    steps: u8,
    peer: PeerIdentity,
}

impl Mechanism for PassMechanism {
    fn id(&self) -> MechanismId {
        MechanismId::NOISE_XX_25519
    }
    fn name(&self) -> &'static str {
        "pass"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::SECRET_BASED
    }
    fn start(&self, role: Role, _: Entropy) -> Result<Box<dyn MechanismSession>, MechanismError> {
        Ok(Box::new(PassSession {
            role,
            steps: 0,
            peer: PeerIdentity::new(MechanismId::NOISE_XX_25519, vec![1; 32], "fuzz"),
        }))
    }
}

impl MechanismSession for PassSession {
    fn step(&mut self, input: Option<&[u8]>, _: &Binding) -> Result<Step, MechanismError> {
        self.steps += 1;
        if input.is_some_and(|t| t.first() == Some(&0xff)) {
            return Err(MechanismError::BadToken("rejected".into()));
        }
        Ok(match (self.role, self.steps) {
            (Role::Initiator, 1) => Step {
                token: Some(b"hello".to_vec()),
                progress: Progress::Last,
            },
            (Role::Initiator, _) => Step {
                token: None,
                progress: Progress::Done,
            },
            (Role::Responder, _) => Step {
                token: Some(b"welcome".to_vec()),
                progress: Progress::Done,
            },
        })
    }
    fn peer(&self) -> Option<&PeerIdentity> {
        Some(&self.peer)
    }
    fn handshake_secret(&mut self) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        Some(zeroize_vec(vec![9; 32]))
    }
    fn finish(self: Box<Self>) -> Result<Authenticated, MechanismError> {
        Ok(Authenticated {
            peer: self.peer,
            secret: Some(zeroize_vec(vec![7; 64])),
        })
    }
}

fn zeroize_vec(v: Vec<u8>) -> zeroize::Zeroizing<Vec<u8>> {
    zeroize::Zeroizing::new(v)
}

fn limits() -> Limits {
    let mut l = Limits::default();
    l.key_update_interval = Some(2048);
    l
}

/// A server handshake with the pass-through mechanism; the first input byte picks the level.
pub fn pass_server(first: u8) -> Handshake {
    let mut c = ServerConfig::new(Arc::new(PassMechanism)).with_min_level(if first & 1 == 0 {
        ProtectionLevel::Integrity
    } else {
        ProtectionLevel::Privacy
    });
    c.modes = vec![Mode::Stream, Mode::Datagram];
    c.limits = limits();
    Handshake::server(Arc::new(c), [first; 32], Instant::now()).expect("valid config")
}

/// A client handshake with the pass-through mechanism, its first flight already taken.
pub fn pass_client(first: u8) -> Handshake {
    let mut c = ClientConfig::new(Arc::new(PassMechanism));
    c.mode = if first & 1 == 0 {
        Mode::Stream
    } else {
        Mode::Datagram
    };
    c.limits = limits();
    let mut hs = Handshake::client(Arc::new(c), [first; 32], Instant::now()).expect("valid config");
    let _ = hs.take_output();
    hs
}

/// A Noise server that trusts one fixed client key.
pub fn noise_server() -> Handshake {
    let server = PrivateKey::from_seed([0x51; 32]);
    let client = PrivateKey::from_seed([0xc1; 32]);
    let m = NoiseMechanism::new(server, TrustSet::from([client.public_key("c")]));
    Handshake::server(
        Arc::new(ServerConfig::new(Arc::new(m))),
        [0xbb; 32],
        Instant::now(),
    )
    .expect("valid config")
}

/// Splits `data` into chunks whose sizes come from the data itself.
pub fn chunks(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some((&n, tail)) = rest.split_first() {
        let n = usize::from(n).max(1).min(tail.len());
        let (a, b) = tail.split_at(n);
        out.push(a);
        rest = b;
        if b.is_empty() {
            break;
        }
    }
    out
}
