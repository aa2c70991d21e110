//! The mechanism: a TLS 1.3 handshake with client certificates, driven by rustls in memory,
//! its messages carried as handfast mechanism tokens.
//!
//! ```text
//! client                                         server
//! token 1: ClientHello            ─────────────►
//!          ◄───────────── token 2: binding signature ‖ ServerHello … server Finished
//! token 3: Certificate, CertificateVerify, Finished ─►
//! ```
//!
//! - rustls verifies both chains (webpki, CRLs, the role's extended key usage) and both
//!   CertificateVerify signatures; the mechanism then authorizes the leaf's names against its
//!   allow list.
//! - A rustls server can export keys only after the client's Finished, so the server's token
//!   also carries a signature, by its certificate key, over handfast's transcript up to that
//!   token. That binds the ServerHello (level, key share) to the server's certificate before
//!   the client sends data. The server's Finished is keyed by handfast's own X25519 exchange
//!   ([`Capabilities::key_exchange`]).
//! - The final secret is the TLS exporter (label `EXPORTER-handfast-v2-x509`) with handfast's
//!   transcript before token 3 as its context: the record keys depend on the TLS session and
//!   on handfast's transcript.

use std::sync::Arc;

use handfast::mechanism::{
    Authenticated, Binding, Capabilities, Entropy, Mechanism, MechanismError, MechanismId,
    MechanismSession, PeerIdentity, Progress, Role, Step,
};
use rustls::client::{ResolvesClientCert, Resumption};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{CertificateError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName};
use zeroize::Zeroizing;

use crate::credentials::{Credentials, TrustBundle};
use crate::error::Error;
use crate::names::{AllowList, CertIdentity};
use crate::verify::{ChainError, ChainVerifier, ClientChain, ServerChain};

/// The mechanism's registered number.
pub const MECHANISM_ID: MechanismId = MechanismId(0x0002);

/// The ALPN protocol both sides require.
const ALPN: &[u8] = b"handfast/2";
/// The exporter label of the final secret.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-handfast-v2-x509";
/// What the server's binding signature covers, before the transcript hash. It cannot be
/// mistaken for a TLS 1.3 CertificateVerify input, which starts with 64 spaces.
const BINDING_CONTEXT: &[u8] = b"handfast v2 x509 server binding\0";
/// Signature schemes allowed for the binding signature: those TLS 1.3 allows.
const TLS13_SCHEMES: [SignatureScheme; 7] = [
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::ECDSA_NISTP521_SHA512,
    SignatureScheme::ED25519,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA512,
];
/// The largest binding signature accepted (RSA 8192).
const MAX_SIGNATURE: usize = 1024;

/// X.509 certificates over TLS 1.3: each side proves its certificate key, chains to the
/// other's trust bundle, and is allowed by name (SPIFFE ID, DNS name or subject).
#[derive(Clone, Debug)]
pub struct X509Mechanism {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    credentials: Credentials,
    allow: AllowList,
    provider: Arc<CryptoProvider>,
    client: Arc<rustls::ClientConfig>,
    server: Arc<rustls::ServerConfig>,
}

impl X509Mechanism {
    /// This side's credentials, the CAs (and CRLs) that vouch for peers, and the names a peer
    /// may have. The same mechanism serves as a client (the allow list names the servers it
    /// accepts) or as a server (it names the clients).
    ///
    /// # Errors
    /// An empty allow list: no peer could ever be accepted.
    pub fn new(
        credentials: Credentials,
        trust: TrustBundle,
        allow: AllowList,
    ) -> Result<Self, Error> {
        if allow.is_empty() {
            return Err(Error::Config(
                "no allow rules: every peer would be refused (allow a SPIFFE ID, a DNS name or a subject)"
                    .into(),
            ));
        }
        let provider = crate::provider();
        let certified = Arc::new(Fixed(credentials.certified.clone()));
        let tls13 = &[&rustls::version::TLS13];
        let config = |e: rustls::Error| Error::Config(format!("TLS configuration: {e}"));

        let mut client = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(tls13)
            .map_err(config)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ServerChain(ChainVerifier::new(
                trust.clone(),
                provider.clone(),
            ))))
            .with_client_cert_resolver(certified.clone());
        client.resumption = Resumption::disabled();
        client.enable_sni = false;
        client.alpn_protocols = vec![ALPN.to_vec()];

        let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(tls13)
            .map_err(config)?
            .with_client_cert_verifier(Arc::new(ClientChain(ChainVerifier::new(
                trust,
                provider.clone(),
            ))))
            .with_cert_resolver(certified);
        server.session_storage = Arc::new(NoServerSessionStorage {});
        server.send_tls13_tickets = 0;
        server.max_early_data_size = 0;
        server.alpn_protocols = vec![ALPN.to_vec()];

        Ok(Self {
            inner: Arc::new(Inner {
                credentials,
                allow,
                provider,
                client: Arc::new(client),
                server: Arc::new(server),
            }),
        })
    }

    /// This side's credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    /// The names a peer may have.
    pub fn allow(&self) -> &AllowList {
        &self.inner.allow
    }
}

/// One certified key for every handshake, on either side.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesClientCert for Fixed {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl Mechanism for X509Mechanism {
    fn id(&self) -> MechanismId {
        MECHANISM_ID
    }

    fn name(&self) -> &'static str {
        "x509-tls13"
    }

    /// handfast's own X25519 exchange keys the server's Finished (the rustls server has no
    /// exporter before the client's Finished). TLS 1.3 encrypts the certificates, but the
    /// binding signature travels in the clear and can be tested against a known certificate,
    /// so identities are not claimed to be hidden.
    fn capabilities(&self) -> Capabilities {
        Capabilities::AUTHENTICATION_ONLY
    }

    /// rustls' randoms and ephemeral keys come from `entropy`; ECDSA and RSA-PSS signatures
    /// draw from aws-lc's generator (Ed25519 signatures are deterministic).
    fn start(
        &self,
        role: Role,
        entropy: Entropy,
    ) -> Result<Box<dyn MechanismSession>, MechanismError> {
        let mut entropy = Some(entropy);
        let conn: rustls::Connection = crate::random::with_entropy(&mut entropy, || match role {
            Role::Initiator => {
                let name = ServerName::try_from("handfast.invalid")
                    .map_err(|e| MechanismError::Config(e.to_string()))?;
                Ok(
                    rustls::ClientConnection::new(self.inner.client.clone(), name)
                        .map_err(|e| MechanismError::Config(format!("TLS: {e}")))?
                        .into(),
                )
            }
            Role::Responder => Ok(rustls::ServerConnection::new(self.inner.server.clone())
                .map_err(|e| MechanismError::Config(format!("TLS: {e}")))?
                .into()),
        })?;
        Ok(Box::new(X509Session {
            inner: self.inner.clone(),
            conn,
            entropy,
            steps: 0,
            peer: None,
            secret: None,
            done: false,
        }))
    }
}

struct X509Session {
    inner: Arc<Inner>,
    conn: rustls::Connection,
    /// Lent to rustls for each call (see `random`).
    entropy: Option<Entropy>,
    /// Steps taken so far: each side takes two.
    steps: usize,
    peer: Option<PeerIdentity>,
    secret: Option<Zeroizing<Vec<u8>>>,
    done: bool,
}

impl MechanismSession for X509Session {
    fn step(&mut self, input: Option<&[u8]>, binding: &Binding) -> Result<Step, MechanismError> {
        if self.done {
            return Err(MechanismError::Config(
                "TLS handshake already complete".into(),
            ));
        }
        let is_client = matches!(self.conn, rustls::Connection::Client(_));
        let step = match (is_client, self.steps, input) {
            (true, 0, None) => self.client_hello(),
            (false, 0, Some(t)) => self.server_flight(t, binding),
            (true, 1, Some(t)) => self.client_finish(t, binding),
            (false, 1, Some(t)) => self.server_finish(t, binding),
            (_, _, None) => Err(MechanismError::BadToken("missing token".into())),
            (_, _, Some(_)) => Err(MechanismError::BadToken("token out of turn".into())),
        }?;
        self.steps += 1;
        Ok(step)
    }

    fn peer(&self) -> Option<&PeerIdentity> {
        self.peer.as_ref()
    }

    fn handshake_secret(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        None
    }

    fn finish(mut self: Box<Self>) -> Result<Authenticated, MechanismError> {
        if !self.done {
            return Err(MechanismError::Config("TLS handshake not complete".into()));
        }
        let peer = self
            .peer
            .take()
            .ok_or_else(|| MechanismError::Config("peer unknown".into()))?;
        Ok(Authenticated {
            peer,
            secret: self.secret.take(),
        })
    }
}

impl X509Session {
    /// Client, token 1: the ClientHello.
    fn client_hello(&mut self) -> Result<Step, MechanismError> {
        let hello = self.drain()?;
        Ok(Step::more(hello))
    }

    /// Server, token 2: the binding signature, then the server's flight up to its Finished.
    fn server_flight(&mut self, token: &[u8], binding: &Binding) -> Result<Step, MechanismError> {
        self.feed(token)?;
        if !self.conn.is_handshaking() {
            return Err(MechanismError::BadToken("TLS handshake ended early".into()));
        }
        let flight = self.drain()?;
        if flight.is_empty() {
            return Err(MechanismError::BadToken("incomplete ClientHello".into()));
        }
        // Refuse what this exchange has no room for before signing anything: a second
        // ClientHello (a HelloRetryRequest would need another round trip), or a client that
        // did not ask for handfast's ALPN protocol.
        if self.conn.handshake_kind() != Some(rustls::HandshakeKind::Full) {
            return Err(MechanismError::BadToken(
                "the ClientHello has no x25519 key share (a HelloRetryRequest is not supported)"
                    .into(),
            ));
        }
        if self.conn.alpn_protocol() != Some(ALPN) {
            return Err(MechanismError::BadToken(
                "the client did not offer the handfast/2 ALPN protocol".into(),
            ));
        }
        let signer = self
            .inner
            .credentials
            .certified
            .key
            .choose_scheme(&TLS13_SCHEMES)
            .ok_or_else(|| {
                MechanismError::Config("the certificate key has no TLS 1.3 signature scheme".into())
            })?;
        let signature = signer
            .sign(&binding_message(&binding.before_output))
            .map_err(|e| MechanismError::Config(format!("signing the binding: {e}")))?;
        let len = u16::try_from(signature.len())
            .ok()
            .filter(|&n| usize::from(n) <= MAX_SIGNATURE)
            .ok_or_else(|| MechanismError::Config("binding signature too long".into()))?;
        let mut out = Vec::with_capacity(4 + signature.len() + flight.len());
        out.extend_from_slice(&u16::from(signer.scheme()).to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&signature);
        out.extend_from_slice(&flight);
        Ok(Step {
            token: Some(out),
            progress: Progress::Last,
        })
    }

    /// Client, token 3: checks the server, then its certificate, CertificateVerify and
    /// Finished.
    fn client_finish(&mut self, token: &[u8], binding: &Binding) -> Result<Step, MechanismError> {
        let (scheme, signature, flight) = split_binding(token)?;
        self.feed(flight)?;
        if self.conn.is_handshaking() {
            return Err(MechanismError::BadToken(
                "the server's TLS flight is incomplete".into(),
            ));
        }
        let leaf = self.checked_leaf()?;
        self.verify_binding(&leaf, scheme, signature, &binding.before_input)?;
        let peer = self.authorize(&leaf)?;
        self.secret = Some(self.export(&binding.before_output)?);
        let finished = self.drain()?;
        self.peer = Some(peer);
        self.done = true;
        Ok(Step {
            token: Some(finished),
            progress: Progress::Done,
        })
    }

    /// Server, after token 3: the client's chain, CertificateVerify and Finished.
    fn server_finish(&mut self, token: &[u8], binding: &Binding) -> Result<Step, MechanismError> {
        self.feed(token)?;
        if self.conn.is_handshaking() {
            return Err(MechanismError::BadToken(
                "the client's TLS flight is incomplete".into(),
            ));
        }
        // Nothing is sent after the handshake (no tickets are issued); drop whatever rustls
        // may still hold.
        self.drain()?;
        let leaf = self.checked_leaf()?;
        let peer = self.authorize(&leaf)?;
        self.secret = Some(self.export(&binding.before_input)?);
        self.peer = Some(peer);
        self.done = true;
        Ok(Step {
            token: None,
            progress: Progress::Done,
        })
    }

    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), MechanismError> {
        while !bytes.is_empty() {
            let n = self
                .conn
                .read_tls(&mut bytes)
                .map_err(|e| MechanismError::BadToken(format!("TLS: {e}")))?;
            if n == 0 {
                return Err(MechanismError::BadToken("TLS: no progress".into()));
            }
            let conn = &mut self.conn;
            crate::random::with_entropy(&mut self.entropy, || conn.process_new_packets())
                .map_err(tls_error)?;
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<Vec<u8>, MechanismError> {
        let mut out = Vec::new();
        while self.conn.wants_write() {
            self.conn
                .write_tls(&mut out)
                .map_err(|e| MechanismError::Config(format!("TLS: {e}")))?;
        }
        Ok(out)
    }

    /// The peer's leaf, once rustls has verified the chain and the handshake; ALPN checked.
    fn checked_leaf(&self) -> Result<CertificateDer<'static>, MechanismError> {
        if self.conn.alpn_protocol() != Some(ALPN) {
            return Err(MechanismError::BadToken(
                "the peer did not negotiate the handfast/2 ALPN protocol".into(),
            ));
        }
        self.conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.clone().into_owned())
            .ok_or_else(|| MechanismError::BadToken("the peer sent no certificate".into()))
    }

    fn verify_binding(
        &self,
        leaf: &CertificateDer<'_>,
        scheme: SignatureScheme,
        signature: &[u8],
        transcript: &[u8; 32],
    ) -> Result<(), MechanismError> {
        let bad = || {
            MechanismError::BadToken(
                "the server's binding signature does not verify: the transcript was altered".into(),
            )
        };
        if !TLS13_SCHEMES.contains(&scheme) {
            return Err(bad());
        }
        let algs = &self.inner.provider.signature_verification_algorithms;
        let alg = algs
            .mapping
            .iter()
            .find(|(s, _)| *s == scheme)
            .and_then(|(_, a)| a.first())
            .ok_or_else(bad)?;
        let cert = webpki::EndEntityCert::try_from(leaf).map_err(|_| bad())?;
        cert.verify_signature(*alg, &binding_message(transcript), signature)
            .map_err(|_| bad())
    }

    fn authorize(&self, leaf: &CertificateDer<'_>) -> Result<PeerIdentity, MechanismError> {
        let id =
            CertIdentity::from_der(leaf).map_err(|e| MechanismError::NotTrusted(e.to_string()))?;
        // webpki accepts a leaf without an extended key usage extension for any purpose; this
        // mechanism requires the extension, with the peer's role in it.
        let (role, has) = match self.conn {
            rustls::Connection::Client(_) => ("server", id.server_auth),
            rustls::Connection::Server(_) => ("client", id.client_auth),
        };
        if !has {
            return Err(MechanismError::NotTrusted(format!(
                "the {role}'s certificate lacks the {role}Auth extended key usage"
            )));
        }
        let name = id.display_name();
        if self.inner.allow.allows(&id).is_none() {
            return Err(MechanismError::NotTrusted(format!(
                "{} is not allowed (no allow rule matches)",
                describe(&id)
            )));
        }
        let spki = webpki::EndEntityCert::try_from(leaf)
            .map_err(|e| MechanismError::BadToken(format!("certificate: {e:?}")))?
            .subject_public_key_info();
        Ok(PeerIdentity::new(
            MECHANISM_ID,
            spki.as_ref().to_vec(),
            name,
        ))
    }

    fn export(&self, context: &[u8; 32]) -> Result<Zeroizing<Vec<u8>>, MechanismError> {
        let mut secret = Zeroizing::new(vec![0u8; 32]);
        self.conn
            .export_keying_material(&mut secret[..], EXPORTER_LABEL, Some(context))
            .map_err(|e| MechanismError::Config(format!("TLS exporter: {e}")))?;
        Ok(secret)
    }
}

fn binding_message(transcript: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(BINDING_CONTEXT.len() + 32);
    m.extend_from_slice(BINDING_CONTEXT);
    m.extend_from_slice(transcript);
    m
}

/// Token 2: `scheme (u16) ‖ length (u16) ‖ signature ‖ TLS records`.
fn split_binding(token: &[u8]) -> Result<(SignatureScheme, &[u8], &[u8]), MechanismError> {
    let short = || MechanismError::BadToken("the server's token is too short".into());
    let (head, rest) = token.split_at_checked(4).ok_or_else(short)?;
    let scheme = SignatureScheme::from(u16::from_be_bytes([head[0], head[1]]));
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    if len == 0 || len > MAX_SIGNATURE {
        return Err(MechanismError::BadToken(
            "the server's binding signature has an illegal length".into(),
        ));
    }
    let (signature, flight) = rest.split_at_checked(len).ok_or_else(short)?;
    Ok((scheme, signature, flight))
}

/// The names of a refused peer, for the log: quoted, control characters escaped.
fn describe(id: &CertIdentity) -> String {
    let mut parts = Vec::new();
    if let Some(s) = &id.spiffe_id {
        parts.push(s.to_string());
    }
    parts.extend(
        id.dns_names
            .iter()
            .map(|d| format!("DNS:{}", d.escape_debug())),
    );
    match &id.subject {
        Some(s) => parts.push(format!("subject {s:?}")),
        None => parts.push("a subject that is not text".into()),
    }
    parts.join(", ")
}

/// A rustls failure as a mechanism error: certificate problems are trust failures, with the
/// reason in words; everything else is a bad token.
fn tls_error(e: rustls::Error) -> MechanismError {
    match &e {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            match other.0.downcast_ref::<ChainError>() {
                Some(ChainError(why)) => MechanismError::NotTrusted(why.clone()),
                None => MechanismError::NotTrusted(format!("certificate: {other}")),
            }
        }
        rustls::Error::InvalidCertificate(ce) => {
            MechanismError::NotTrusted(format!("certificate: {ce:?}"))
        }
        rustls::Error::NoCertificatesPresented => {
            MechanismError::NotTrusted("the peer presented no certificate".into())
        }
        rustls::Error::PeerIncompatible(why) => {
            MechanismError::BadToken(format!("TLS: the peer is incompatible: {why:?}"))
        }
        _ => MechanismError::BadToken(format!("TLS: {e}")),
    }
}
