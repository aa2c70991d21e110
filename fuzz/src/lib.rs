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

/// The x509 mechanism's client and server (Ed25519 certificates of one CA, made once), each
/// allowing the other.
fn x509_mechanisms() -> &'static (Arc<dyn Mechanism>, Arc<dyn Mechanism>) {
    use handfast_x509::ca::{Authority, KeyType, Request, Usage};
    use handfast_x509::{AllowList, Credentials, Rule, SpiffeId, TrustBundle, X509Mechanism};
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    static M: std::sync::OnceLock<(Arc<dyn Mechanism>, Arc<dyn Mechanism>)> =
        std::sync::OnceLock::new();
    M.get_or_init(|| {
        let ca = Authority::init("fuzz CA", std::time::Duration::from_secs(86_400)).expect("CA");
        let trust = TrustBundle::from_der(vec![
            CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).expect("CA pem"),
        ])
        .expect("bundle");
        let side = |me: &str, peer: &str| -> Arc<dyn Mechanism> {
            let issued = ca
                .issue(&Request {
                    spiffe_id: Some(SpiffeId::parse(me).expect("id")),
                    dns_names: vec![],
                    common_name: None,
                    lifetime: std::time::Duration::from_secs(86_400),
                    usage: Usage::Both,
                    key_type: KeyType::Ed25519,
                })
                .expect("issue");
            let creds = Credentials::from_der(
                vec![CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).expect("pem")],
                PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).expect("key"),
            )
            .expect("credentials");
            let allow = AllowList::new([Rule::spiffe(peer).expect("rule")]);
            Arc::new(X509Mechanism::new(creds, trust.clone(), allow).expect("mechanism"))
        };
        (
            side("spiffe://fuzz.test/client", "spiffe://fuzz.test/server"),
            side("spiffe://fuzz.test/server", "spiffe://fuzz.test/client"),
        )
    })
}

/// A server with the real x509 mechanism, as a stranger reaches it.
pub fn x509_server() -> Handshake {
    let mut config = ServerConfig::new(x509_mechanisms().1.clone());
    config.limits.max_handshake_message = 16 * 1024;
    Handshake::server(Arc::new(config), [0xbb; 32], Instant::now()).expect("valid config")
}

/// A client with the real x509 mechanism, its first flight not yet taken.
pub fn x509_client_fresh() -> Handshake {
    let mut config = ClientConfig::new(x509_mechanisms().0.clone());
    config.limits.max_handshake_message = 16 * 1024;
    Handshake::client(Arc::new(config), [0xaa; 32], Instant::now()).expect("valid config")
}

/// A client with the real x509 mechanism, its first flight already taken.
pub fn x509_client() -> Handshake {
    let mut hs = x509_client_fresh();
    let _ = hs.take_output();
    hs
}
