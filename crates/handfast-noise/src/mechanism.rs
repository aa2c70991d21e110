//! The Noise `XX` mechanism over `snow`.

use std::sync::Mutex;

use handfast::mechanism::{
    Authenticated, Binding, Capabilities, Entropy, Mechanism, MechanismError, MechanismId,
    MechanismSession, PeerIdentity, Progress, Role, Step,
};
use snow::params::{CipherChoice, DHChoice, HashChoice, NoiseParams};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use zeroize::Zeroizing;

use crate::key::PrivateKey;
use crate::trust::TrustSet;

const PATTERN: &str = "Noise_XX_25519_ChaChaPoly_SHA256";
const PROLOGUE: &[u8] = b"handfast v2 noise-xx";
/// Largest Noise message this mechanism writes: XX's longest message with an empty payload is
/// 96 bytes (e, encrypted s, tag).
const MAX_OUTGOING: usize = 256;

/// Noise `XX` with X25519 static keys: mutual authentication in three messages, both
/// identities encrypted (hidden from passive observers), each side's static key checked
/// against a [`TrustSet`] of pinned keys.
#[derive(Debug, Clone)]
pub struct NoiseMechanism {
    key: PrivateKey,
    trust: TrustSet,
}

impl NoiseMechanism {
    /// This side's static key and the peer keys it trusts (the allow list on a server, the
    /// pinned server key on a client).
    pub fn new(key: PrivateKey, trust: TrustSet) -> Self {
        Self { key, trust }
    }

    /// The trusted peers.
    pub fn trust(&self) -> &TrustSet {
        &self.trust
    }
}

impl Mechanism for NoiseMechanism {
    fn id(&self) -> MechanismId {
        MechanismId::NOISE_XX_25519
    }

    fn name(&self) -> &'static str {
        "noise-xx-25519"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::SECRET_BASED.with_identity_hiding(true)
    }

    fn start(
        &self,
        role: Role,
        entropy: Entropy,
    ) -> Result<Box<dyn MechanismSession>, MechanismError> {
        let params: NoiseParams = PATTERN
            .parse()
            .map_err(|e| MechanismError::Config(format!("noise parameters: {e}")))?;
        let resolver = Resolver {
            entropy: Mutex::new(Some(entropy)),
            static_key: (
                Zeroizing::new(*self.key.secret_bytes()),
                *self.key.public_key("").as_bytes(),
            ),
        };
        let builder = snow::Builder::with_resolver(params, Box::new(resolver))
            .local_private_key(self.key.secret_bytes())
            .and_then(|b| b.prologue(PROLOGUE))
            .map_err(|e| MechanismError::Config(format!("noise builder: {e}")))?;
        let state = match role {
            Role::Initiator => builder.build_initiator(),
            Role::Responder => builder.build_responder(),
        }
        .map_err(|e| MechanismError::Config(format!("noise handshake: {e}")))?;
        Ok(Box::new(NoiseSession {
            state,
            trust: self.trust.clone(),
            peer: None,
            handshake_secret: None,
            messages: 0,
            done: false,
        }))
    }
}

struct NoiseSession {
    state: snow::HandshakeState,
    trust: TrustSet,
    peer: Option<PeerIdentity>,
    /// The Noise split after the server's message (`ee`, `es` mixed in): it keys the server's
    /// Finished, which travels with that message.
    handshake_secret: Option<Zeroizing<Vec<u8>>>,
    /// Noise messages read and written so far.
    messages: usize,
    done: bool,
}

/// Noise XX's three messages: `-> e`, `<- e, ee, s, es`, `-> s, se`.
const SERVER_MESSAGE: usize = 2;

impl MechanismSession for NoiseSession {
    /// Noise authenticates its own messages; handfast's transcript (which contains them) is
    /// confirmed by the Finished messages, so the binding is not needed here.
    fn step(&mut self, input: Option<&[u8]>, _binding: &Binding) -> Result<Step, MechanismError> {
        if self.done {
            return Err(MechanismError::Config(
                "noise handshake already complete".into(),
            ));
        }
        if let Some(msg) = input {
            if self.state.is_my_turn() {
                return Err(MechanismError::BadToken("token out of turn".into()));
            }
            // A payload is never longer than its message; ours are empty.
            let mut payload = Zeroizing::new(vec![0u8; msg.len()]);
            let n = self
                .state
                .read_message(msg, &mut payload)
                .map_err(|e| MechanismError::BadToken(format!("noise: {e}")))?;
            if n != 0 {
                return Err(MechanismError::BadToken("unexpected noise payload".into()));
            }
            self.messages += 1;
            // Check the peer's static key as soon as it is known: a client refuses an
            // unpinned server before revealing its own identity in the next message.
            if self.peer.is_none()
                && let Some(remote) = self.state.get_remote_static()
            {
                self.peer = Some(self.authorize(remote)?);
            }
            // The client has just read the server's message.
            if self.messages == SERVER_MESSAGE {
                self.capture_handshake_secret();
            }
        } else if !self.state.is_my_turn() {
            return Err(MechanismError::BadToken("missing token".into()));
        }
        let mut token = None;
        if !self.state.is_handshake_finished() && self.state.is_my_turn() {
            let mut out = vec![0u8; MAX_OUTGOING];
            let n = self
                .state
                .write_message(&[], &mut out)
                .map_err(|e| MechanismError::BadToken(format!("noise: {e}")))?;
            out.truncate(n);
            token = Some(out);
            self.messages += 1;
            // The server has just written its message, its last.
            if self.messages == SERVER_MESSAGE {
                self.capture_handshake_secret();
                return Ok(Step {
                    token,
                    progress: Progress::Last,
                });
            }
        }
        if self.state.is_handshake_finished() {
            self.done = true;
            return Ok(Step {
                token,
                progress: Progress::Done,
            });
        }
        Ok(Step {
            token,
            progress: Progress::Continue,
        })
    }

    fn peer(&self) -> Option<&PeerIdentity> {
        self.peer.as_ref()
    }

    fn handshake_secret(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        self.handshake_secret.take()
    }

    fn finish(mut self: Box<Self>) -> Result<Authenticated, MechanismError> {
        if !self.done {
            return Err(MechanismError::Config(
                "noise handshake not complete".into(),
            ));
        }
        let peer = self
            .peer
            .take()
            .ok_or_else(|| MechanismError::Config("noise peer unknown".into()))?;
        Ok(Authenticated {
            peer,
            secret: Some(self.split()),
        })
    }
}

impl NoiseSession {
    /// The 64-byte concatenation of Noise's `Split()` outputs at this point of the handshake.
    fn split(&mut self) -> Zeroizing<Vec<u8>> {
        let (k1, k2) = self.state.dangerously_get_raw_split();
        let (k1, k2) = (Zeroizing::new(k1), Zeroizing::new(k2));
        let mut secret = Zeroizing::new(Vec::with_capacity(64));
        secret.extend_from_slice(&k1[..]);
        secret.extend_from_slice(&k2[..]);
        secret
    }

    fn capture_handshake_secret(&mut self) {
        self.handshake_secret = Some(self.split());
    }

    fn authorize(&self, remote: &[u8]) -> Result<PeerIdentity, MechanismError> {
        match self.trust.get(remote) {
            Some(key) => Ok(PeerIdentity::new(
                MechanismId::NOISE_XX_25519,
                remote.to_vec(),
                key.comment(),
            )),
            None => {
                let unknown = PeerIdentity::new(MechanismId::NOISE_XX_25519, remote.to_vec(), "");
                Err(MechanismError::NotTrusted(format!(
                    "unknown key {}",
                    unknown.fingerprint()
                )))
            }
        }
    }
}

/// snow's default hash and cipher, X25519 from aws-lc-rs, and randomness from the handshake's
/// caller-supplied entropy.
struct Resolver {
    entropy: Mutex<Option<Entropy>>,
    /// This side's static key pair, so that snow's `set` need not recompute the public key.
    static_key: (Zeroizing<[u8; 32]>, [u8; 32]),
}

struct EntropyRng(Entropy);

impl Random for EntropyRng {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl CryptoResolver for Resolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        // Handed out once: a second request gets nothing rather than repeated randomness.
        let entropy = self.entropy.lock().ok()?.take()?;
        Some(Box::new(EntropyRng(entropy)))
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        match choice {
            DHChoice::Curve25519 => Some(Box::new(crate::dh::X25519Dh::knowing(&self.static_key))),
            _ => None,
        }
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        DefaultResolver.resolve_hash(choice)
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        DefaultResolver.resolve_cipher(choice)
    }
}
