//! Reference mechanisms of the shapes the mechanism interface serves, for testing the driver
//! and as worked examples for mechanism authors. **Not for production use**: identities are
//! symmetric keys and tokens are plain HMACs.
//!
//! Each identity has a 32-byte key that its peers know; a token is
//! `kind || u8(len(name)) || name || random(16) || HMAC(key of the sender, "handfast psk shape"
//! || kind || name || random || binding)`, where `binding` is the transcript hash before the
//! token ([`Binding`]). Secrets are HMACs under both keys, so only the two identities can
//! compute them.
//!
//! | shape | tokens | handshake secret | final secret | like |
//! | --- | --- | --- | --- | --- |
//! | [`Shape::ServerLast`] | c1 (Last), s1 (Done) | none: handfast's X25519 exchange | none | Kerberos AP-REQ / AP-REP, native mode |
//! | [`Shape::MultiLeg`] | c1, s1, c2, s2 (Last), c3 (Done) | after s2 | after c3 | SPNEGO, multi-leg GSS |
//! | [`Shape::Exporter`] | c1, s1 (Last), c2 (Done) | exported at s1 | none | TLS 1.3 exporter |

use std::sync::Arc;

use aws_lc_rs::hmac;
use handfast::mechanism::{
    Authenticated, Binding, Capabilities, Entropy, Mechanism, MechanismError, MechanismId,
    MechanismSession, PeerIdentity, Progress, Role, Step,
};
use zeroize::Zeroizing;

use crate::{Fixture, Flights};

/// The message flow of a reference mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Authentication only, the server's token last.
    ServerLast,
    /// Five tokens; the client's last.
    MultiLeg,
    /// Three tokens; the secret exported at the server's last token.
    Exporter,
}

impl Shape {
    /// Every shape.
    pub const ALL: [Self; 3] = [Self::ServerLast, Self::MultiLeg, Self::Exporter];

    fn id(self) -> MechanismId {
        MechanismId(match self {
            Self::ServerLast => 0x7f01,
            Self::MultiLeg => 0x7f02,
            Self::Exporter => 0x7f03,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::ServerLast => "test-server-last",
            Self::MultiLeg => "test-multi-leg",
            Self::Exporter => "test-exporter",
        }
    }

    /// Tokens of the exchange, in order; the client sends the even-numbered ones (from 0).
    fn tokens(self) -> usize {
        match self {
            Self::ServerLast => 2,
            Self::MultiLeg => 5,
            Self::Exporter => 3,
        }
    }
}

/// An identity: a name and its key.
#[derive(Clone, Debug)]
pub struct Identity {
    name: String,
    key: [u8; 32],
}

impl Identity {
    /// An identity named `name`, with a key derived from the name (test use only).
    pub fn named(name: &str) -> Self {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, name.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(d.as_ref());
        Self {
            name: name.to_owned(),
            key,
        }
    }
}

/// A reference mechanism: this side's identity and the identities it trusts.
#[derive(Clone, Debug)]
pub struct ShapeMechanism {
    shape: Shape,
    me: Identity,
    trusted: Vec<Identity>,
}

impl ShapeMechanism {
    /// `me`, trusting `trusted`.
    pub fn new(shape: Shape, me: Identity, trusted: Vec<Identity>) -> Self {
        Self { shape, me, trusted }
    }
}

impl Mechanism for ShapeMechanism {
    fn id(&self) -> MechanismId {
        self.shape.id()
    }

    fn name(&self) -> &'static str {
        self.shape.name()
    }

    fn capabilities(&self) -> Capabilities {
        match self.shape {
            Shape::ServerLast => Capabilities::AUTHENTICATION_ONLY,
            Shape::MultiLeg | Shape::Exporter => Capabilities::SECRET_BASED,
        }
    }

    fn start(
        &self,
        role: Role,
        entropy: Entropy,
    ) -> Result<Box<dyn MechanismSession>, MechanismError> {
        Ok(Box::new(Session {
            config: self.clone(),
            role,
            entropy,
            next: 0,
            peer: None,
            handshake_secret: None,
            final_secret: None,
        }))
    }
}

struct Session {
    config: ShapeMechanism,
    role: Role,
    entropy: Entropy,
    /// The index of the next token in the exchange.
    next: usize,
    peer: Option<(PeerIdentity, [u8; 32])>,
    handshake_secret: Option<Zeroizing<Vec<u8>>>,
    final_secret: Option<Zeroizing<Vec<u8>>>,
}

const RANDOM: usize = 16;
const MAC: usize = 32;

impl MechanismSession for Session {
    fn step(&mut self, input: Option<&[u8]>, binding: &Binding) -> Result<Step, MechanismError> {
        let shape = self.config.shape;
        let initiator = self.role == Role::Initiator;
        let mine = move |i: usize| i.is_multiple_of(2) == initiator;
        if let Some(token) = input {
            if self.next >= shape.tokens() || mine(self.next) {
                return Err(MechanismError::BadToken("token out of turn".into()));
            }
            self.read(token, &binding.before_input)?;
            self.after(self.next, &binding.before_input);
            self.next += 1;
        } else if self.role != Role::Initiator || self.next != 0 {
            return Err(MechanismError::BadToken("missing token".into()));
        }
        let mut token = None;
        if self.next < shape.tokens() && mine(self.next) {
            token = Some(self.write(&binding.before_output));
            self.after(self.next, &binding.before_output);
            self.next += 1;
        }
        let progress = if self.next == shape.tokens() {
            Progress::Done
        } else if (self.next..shape.tokens()).all(|i| !mine(i)) {
            Progress::Last
        } else {
            Progress::Continue
        };
        Ok(Step { token, progress })
    }

    fn peer(&self) -> Option<&PeerIdentity> {
        self.peer.as_ref().map(|(p, _)| p)
    }

    fn handshake_secret(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        self.handshake_secret.take()
    }

    fn finish(self: Box<Self>) -> Result<Authenticated, MechanismError> {
        let (peer, _) = self
            .peer
            .ok_or_else(|| MechanismError::Config("exchange not complete".into()))?;
        if self.next != self.config.shape.tokens() {
            return Err(MechanismError::Config("exchange not complete".into()));
        }
        Ok(Authenticated {
            peer,
            secret: self.final_secret,
        })
    }
}

impl Session {
    fn write(&mut self, binding: &[u8; 32]) -> Vec<u8> {
        let mut random = [0u8; RANDOM];
        self.entropy.fill(&mut random);
        let me = &self.config.me;
        let kind = self.next as u8;
        let mut t = vec![kind, me.name.len() as u8];
        t.extend_from_slice(me.name.as_bytes());
        t.extend_from_slice(&random);
        let tag = mac(&me.key, &t, binding);
        t.extend_from_slice(&tag);
        t
    }

    fn read(&mut self, t: &[u8], binding: &[u8; 32]) -> Result<(), MechanismError> {
        let bad = |why: &str| MechanismError::BadToken(why.to_owned());
        let (&kind, rest) = t.split_first().ok_or_else(|| bad("empty token"))?;
        let (&len, rest) = rest.split_first().ok_or_else(|| bad("short token"))?;
        let len = usize::from(len);
        if kind as usize != self.next || rest.len() != len + RANDOM + MAC {
            return Err(bad("malformed token"));
        }
        let name = std::str::from_utf8(&rest[..len]).map_err(|_| bad("name not UTF-8"))?;
        let key = match &self.peer {
            Some((p, key)) if p.name() == name => *key,
            Some(_) => return Err(bad("the peer changed its name")),
            None => {
                self.config
                    .trusted
                    .iter()
                    .find(|i| i.name == name)
                    .ok_or_else(|| MechanismError::NotTrusted(format!("unknown identity {name}")))?
                    .key
            }
        };
        let split = t.len() - MAC;
        let expected = mac(&key, &t[..split], binding);
        aws_lc_rs::constant_time::verify_slices_are_equal(&expected, &t[split..])
            .map_err(|_| bad("token MAC does not verify"))?;
        if self.peer.is_none() {
            let id = PeerIdentity::new(self.config.shape.id(), key.to_vec(), name);
            self.peer = Some((id, key));
        }
        Ok(())
    }

    /// Secrets become available after a given token, on both sides alike.
    fn after(&mut self, token: usize, binding: &[u8; 32]) {
        let shape = self.config.shape;
        match (shape, token) {
            (Shape::MultiLeg, 3) => self.handshake_secret = self.secret(b"hs", binding),
            (Shape::MultiLeg, 4) => self.final_secret = self.secret(b"final", binding),
            (Shape::Exporter, 1) => self.handshake_secret = self.secret(b"export", binding),
            _ => {}
        }
    }

    /// HMAC under both identities' keys (client's first), or `None` before the peer is known.
    fn secret(&self, label: &[u8], binding: &[u8; 32]) -> Option<Zeroizing<Vec<u8>>> {
        let (_, peer_key) = self.peer.as_ref()?;
        let mut both = Zeroizing::new([0u8; 64]);
        let (c, s) = match self.role {
            Role::Initiator => (&self.config.me.key, peer_key),
            Role::Responder => (peer_key, &self.config.me.key),
        };
        both[..32].copy_from_slice(c);
        both[32..].copy_from_slice(s);
        Some(Zeroizing::new(mac(&both[..], label, binding).to_vec()))
    }
}

fn mac(key: &[u8], msg: &[u8], binding: &[u8; 32]) -> [u8; 32] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&k);
    ctx.update(b"handfast psk shape");
    ctx.update(msg);
    ctx.update(binding);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// The conformance fixture for one shape: "client" and "server" trust each other, "eve" is a
/// client nobody trusts, "mallory" a server the client does not trust.
#[derive(Clone, Copy, Debug)]
pub struct ShapeFixture(pub Shape);

impl Fixture for ShapeFixture {
    fn pair(&self) -> (Arc<dyn Mechanism>, Arc<dyn Mechanism>) {
        let (c, s) = (Identity::named("client"), Identity::named("server"));
        (
            Arc::new(ShapeMechanism::new(self.0, c.clone(), vec![s.clone()])),
            Arc::new(ShapeMechanism::new(self.0, s, vec![c])),
        )
    }

    fn untrusted_client(&self) -> Arc<dyn Mechanism> {
        let eve = Identity::named("eve");
        Arc::new(ShapeMechanism::new(
            self.0,
            eve,
            vec![Identity::named("server")],
        ))
    }

    fn untrusted_server(&self) -> Arc<dyn Mechanism> {
        let mallory = Identity::named("mallory");
        Arc::new(ShapeMechanism::new(
            self.0,
            mallory,
            vec![Identity::named("client")],
        ))
    }

    fn names(&self) -> (String, String) {
        ("server".into(), "client".into())
    }

    fn flights(&self) -> Flights {
        match self.0 {
            Shape::ServerLast | Shape::Exporter => Flights::ONE_ROUND_TRIP,
            Shape::MultiLeg => Flights {
                client_seals_after: 4,
                server_delivers_after: 5,
            },
        }
    }
}
