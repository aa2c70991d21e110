//! The native mechanism: a Kerberos AP exchange over GSS-API, bound to handfast's transcript by
//! a MIC from each side (the model is SSH's GSS-API key exchange, RFC 4462), with handfast's
//! own X25519 exchange for the keys.
//!
//! Tokens (`docs/PROTOCOL.md`, "The kerberos mechanism"):
//!
//! 1. client: the GSS-API initial context token of the krb5 mechanism (the AP-REQ), asking for
//!    mutual authentication and replay detection;
//! 2. server: `u16` length of the AP-REP, the AP-REP, then `MIC(SERVER_LABEL || H)`, where H is
//!    the transcript hash before this token (both hellos, with both key shares);
//! 3. client: `MIC(CLIENT_LABEL || H')`, where H' is the transcript hash before this token.
//!
//! The client knows the server once the AP-REP and the MIC verify: only the holder of the
//! service key can answer the AP-REQ, and only the holder of the context key can sign the
//! hellos it saw. The server knows the client from the AP-REQ (the KDC vouches for the
//! ticket; the replay cache refuses a copy), and the client's MIC binds that client to this
//! transcript, so an AP-REQ lifted into another handshake is useless.

use std::path::PathBuf;
use std::sync::Arc;

use handfast::mechanism::{
    Authenticated, Binding, Capabilities, Entropy, Mechanism, MechanismError, MechanismId,
    MechanismSession, PeerIdentity, Progress, Role, Step,
};
use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext as _, ServerCtx};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::name::Name;
use libgssapi::oid::{GSS_MECH_KRB5, GSS_NT_HOSTBASED_SERVICE, GSS_NT_KRB5_PRINCIPAL};
use zeroize::Zeroizing;

use crate::error::{Error, describe};
use crate::names::AllowList;
use crate::store::{Mechs, Store};

/// The number this mechanism is negotiated by.
pub const MECHANISM_ID: MechanismId = MechanismId(0x0003);

/// What the server's MIC covers, before the transcript hash.
pub const SERVER_LABEL: &[u8] = b"handfast krb5 server transcript";
/// What the client's MIC covers, before the transcript hash.
pub const CLIENT_LABEL: &[u8] = b"handfast krb5 client transcript";

/// The context flags a client asks for: mutual authentication and replay detection are
/// required; sequencing, integrity and confidentiality are asked for the GSS mode's messages.
pub(crate) const CLIENT_FLAGS: CtxFlags = CtxFlags::GSS_C_MUTUAL_FLAG
    .union(CtxFlags::GSS_C_REPLAY_FLAG)
    .union(CtxFlags::GSS_C_SEQUENCE_FLAG)
    .union(CtxFlags::GSS_C_INTEG_FLAG)
    .union(CtxFlags::GSS_C_CONF_FLAG);

/// Where a client's Kerberos credentials come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ClientCredentials {
    /// The default credential cache (`KRB5CCNAME`, filled by `kinit`), or the default client
    /// keytab (`KRB5_CLIENT_KTNAME`).
    #[default]
    Default,
    /// A credential cache by name (`FILE:/path`, `KEYRING:...`, `KCM:`), filled by `kinit`.
    Cache(String),
    /// A client keytab: tickets are obtained (and renewed) from it, with no `kinit`.
    Keytab(PathBuf),
}

/// Where a server's keys come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Keytab {
    /// The default keytab (`KRB5_KTNAME`, else `/etc/krb5.keytab`).
    #[default]
    Default,
    /// A keytab file. Every service principal it holds is accepted; it is re-read on each
    /// handshake, so keys added by `ktadd` take effect at once.
    File(PathBuf),
}

/// The service a client asks for a ticket to: a host-based name `service@host`
/// (`host@server.example.com`, the form GSS-API programs use) or a principal
/// `service/host@REALM`.
///
/// The service that answers must be the one named: for a principal, that principal (in the
/// default realm if none is written); for a host-based name, `service/host` with exactly that
/// host (ASCII case aside). A name that GSS-API canonicalized to another host, through DNS
/// (MIT's `dns_canonicalize_hostname` and `rdns`) or `qualify_shortname`, is refused: whoever
/// controls DNS must not choose the service a client talks to. Name the service by its full
/// host name, or as a principal.
#[derive(Debug)]
pub struct Service {
    text: String,
    name: Name,
    expected: Expected,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    /// `service@host`: the principal `service/host@<any realm>`.
    HostBased { service: String, host: String },
    /// A principal's components, and its realm if one was written.
    Principal {
        components: Vec<String>,
        realm: Option<String>,
    },
}

impl Service {
    /// Parses `service@host` (no `/`) or a principal `service/host@REALM` (with a `/`).
    ///
    /// # Errors
    /// When GSS-API does not accept the name, or it is neither form.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let refuse = |reason: &str| Error::Name {
            name: text.into(),
            reason: reason.into(),
        };
        let (kind, expected) = if text.contains('/') {
            let (name, realm) = match crate::names::split_realm(text) {
                Some((n, r)) => (n, Some(r.to_string())),
                None => (text, None),
            };
            let components = crate::names::split_components(name);
            if components.iter().any(String::is_empty) || realm.as_deref() == Some("") {
                return Err(refuse("write a principal as service/host@REALM"));
            }
            (
                GSS_NT_KRB5_PRINCIPAL,
                Expected::Principal { components, realm },
            )
        } else {
            let Some((service, host)) = text.split_once('@') else {
                return Err(refuse(
                    "write a service as service@host or service/host@REALM",
                ));
            };
            if service.is_empty() || host.is_empty() || host.contains('@') {
                return Err(refuse(
                    "write a service as service@host or service/host@REALM",
                ));
            }
            if host.bytes().any(|b| b.is_ascii_uppercase())
                && !host.bytes().any(|b| b.is_ascii_lowercase())
            {
                return Err(refuse(&format!(
                    "{host:?} looks like a realm: a service principal is written \
                     service/host@REALM; service@host names a host"
                )));
            }
            (
                GSS_NT_HOSTBASED_SERVICE,
                Expected::HostBased {
                    service: service.into(),
                    host: host.into(),
                },
            )
        };
        let name = Name::new(text.as_bytes(), Some(kind)).map_err(|e| refuse(&describe(&e)))?;
        Ok(Self {
            text: text.into(),
            name,
            expected,
        })
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `principal` (the target of an established context) is the service named.
    pub fn is_answered_by(&self, principal: &str) -> bool {
        answers(&self.expected, principal)
    }

    pub(crate) fn name(&self) -> Result<Name, MechanismError> {
        self.name
            .duplicate()
            .map_err(|e| MechanismError::Config(describe(&e)))
    }
}

fn answers(expected: &Expected, principal: &str) -> bool {
    let Some((name, realm)) = crate::names::split_realm(principal) else {
        return false;
    };
    let components = crate::names::split_components(name);
    match expected {
        Expected::HostBased { service, host } => {
            components.len() == 2
                && components[0] == *service
                && components[1].eq_ignore_ascii_case(host)
        }
        Expected::Principal {
            components: want,
            realm: want_realm,
        } => components == *want && want_realm.as_deref().is_none_or(|r| r == realm),
    }
}

/// A GSS-API name in its display form, strictly: a name that cannot be displayed as UTF-8 is
/// an error, never a placeholder that two principals could share.
pub(crate) fn display(name: &Name) -> Result<String, String> {
    let buf = name.display_name().map_err(|e| describe(&e))?;
    std::str::from_utf8(&buf)
        .map(str::to_owned)
        .map_err(|_| "a principal name that is not UTF-8".to_string())
}

/// The Kerberos mechanism, configured as a client (for one service) or as a server (with a
/// keytab and the principals it allows).
pub struct KerberosMechanism {
    side: Side,
    /// This side's own principal, for logs.
    principal: String,
}

enum Side {
    Client {
        /// Held for a client keytab (GSS-API renews its tickets); for a credential cache,
        /// acquired again for each handshake, so that a later `kinit` is seen.
        cred: Cred,
        credentials: ClientCredentials,
        service: Service,
    },
    Server {
        cred: Cred,
        allow: Arc<AllowList>,
    },
}

impl std::fmt::Debug for KerberosMechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("KerberosMechanism");
        d.field("principal", &self.principal);
        match &self.side {
            Side::Client { service, .. } => d.field("service", &service.text),
            Side::Server { allow, .. } => d.field("allow", &allow.len()),
        };
        d.finish()
    }
}

impl KerberosMechanism {
    /// A client that authenticates to `service` with `credentials`.
    ///
    /// # Errors
    /// When the credentials cannot be acquired now (no ticket in the cache, say).
    pub fn client(service: Service, credentials: &ClientCredentials) -> Result<Self, Error> {
        let cred = client_cred(credentials).map_err(Error::Credentials)?;
        let principal = cred
            .name()
            .map_err(|e| describe(&e))
            .and_then(|n| display(&n))
            .map_err(Error::Credentials)?;
        Ok(Self {
            side: Side::Client {
                cred,
                credentials: credentials.clone(),
                service,
            },
            principal,
        })
    }

    /// A server with the keys of `keytab` that allows the principals of `allow`.
    ///
    /// # Errors
    /// When the keytab cannot be used (missing, unreadable, empty).
    pub fn server(keytab: &Keytab, allow: AllowList) -> Result<Self, Error> {
        let cred = server_cred(keytab, Mechs::Krb5)?;
        let principal = match keytab {
            Keytab::Default => "the default keytab".to_string(),
            Keytab::File(p) => format!("keytab {}", p.display()),
        };
        Ok(Self {
            side: Side::Server {
                cred,
                allow: Arc::new(allow),
            },
            principal,
        })
    }

    fn service_check(&self) -> ServiceCheck {
        match &self.side {
            Side::Client { service, .. } => ServiceCheck {
                text: service.text.clone(),
                expected: service.expected.clone(),
            },
            Side::Server { .. } => ServiceCheck {
                text: String::new(),
                expected: Expected::Principal {
                    components: vec![],
                    realm: None,
                },
            },
        }
    }

    /// The client's own principal, or the server's keytab, for logs.
    pub fn local(&self) -> &str {
        &self.principal
    }
}

impl Mechanism for KerberosMechanism {
    fn id(&self) -> MechanismId {
        MECHANISM_ID
    }

    fn name(&self) -> &'static str {
        "kerberos"
    }

    /// Kerberos authenticates but brings no forward-secret key: handfast's X25519 exchange
    /// keys the session, and the MICs bind the tickets to it. The service's name travels in
    /// the clear in the ticket, so identities are not hidden.
    fn capabilities(&self) -> Capabilities {
        Capabilities::AUTHENTICATION_ONLY
    }

    /// GSS-API draws its randomness (the authenticator's subkey, confounders) from the
    /// Kerberos library's own generator; `entropy` is not used.
    fn start(
        &self,
        role: Role,
        _entropy: Entropy,
    ) -> Result<Box<dyn MechanismSession>, MechanismError> {
        match (&self.side, role) {
            (
                Side::Client {
                    cred,
                    credentials,
                    service,
                },
                Role::Initiator,
            ) => {
                let cred = match credentials {
                    ClientCredentials::Keytab(_) => cred.clone(),
                    _ => client_cred(credentials).map_err(MechanismError::Config)?,
                };
                Ok(Box::new(ClientSession {
                    ctx: ClientCtx::new(
                        Some(cred),
                        service.name()?,
                        CLIENT_FLAGS,
                        Some(GSS_MECH_KRB5),
                    ),
                    service: self.service_check(),
                    steps: 0,
                    peer: None,
                }))
            }
            (Side::Server { cred, allow }, Role::Responder) => Ok(Box::new(ServerSession {
                ctx: ServerCtx::new(Some(cred.clone())),
                allow: allow.clone(),
                steps: 0,
                peer: None,
            })),
            (Side::Client { .. }, Role::Responder) => Err(MechanismError::Config(
                "a Kerberos client mechanism cannot accept connections".into(),
            )),
            (Side::Server { .. }, Role::Initiator) => Err(MechanismError::Config(
                "a Kerberos server mechanism cannot initiate".into(),
            )),
        }
    }
}

/// A client's credentials: for a client keytab, with a private in-memory cache.
pub(crate) fn client_cred(credentials: &ClientCredentials) -> Result<Cred, String> {
    client_cred_for(credentials, Mechs::Krb5)
}

/// The same, for `mechs`.
pub(crate) fn client_cred_for(
    credentials: &ClientCredentials,
    mechs: Mechs,
) -> Result<Cred, String> {
    let store = match credentials {
        ClientCredentials::Default => Store::default(),
        ClientCredentials::Cache(name) => Store::default().ccache(name)?,
        ClientCredentials::Keytab(path) => Store::default().client_keytab(path)?,
    };
    crate::store::acquire(CredUsage::Initiate, mechs, &store)
}

/// A server's credentials from `keytab`, for `mechs`.
pub(crate) fn server_cred(keytab: &Keytab, mechs: Mechs) -> Result<Cred, Error> {
    let store = match keytab {
        Keytab::Default => Store::default(),
        Keytab::File(p) => {
            if let Err(e) = std::fs::File::open(p) {
                return Err(Error::Io {
                    path: p.display().to_string(),
                    source: e,
                });
            }
            Store::default().keytab(p).map_err(Error::Credentials)?
        }
    };
    crate::store::acquire(CredUsage::Accept, mechs, &store).map_err(Error::Credentials)
}

/// What the client checks the answering service against.
struct ServiceCheck {
    text: String,
    expected: Expected,
}

/// The MIC input: a label and a transcript hash.
fn binding_message(label: &[u8], hash: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(label.len() + 32);
    m.extend_from_slice(label);
    m.extend_from_slice(hash);
    m
}

fn identity(principal: String) -> PeerIdentity {
    PeerIdentity::new(MECHANISM_ID, principal.as_bytes().to_vec(), principal)
}

/// Required flags, each with the refusal when it is missing.
fn require_flags(flags: CtxFlags, whose: &str) -> Result<(), MechanismError> {
    if !flags.contains(CtxFlags::GSS_C_MUTUAL_FLAG) {
        return Err(MechanismError::BadToken(format!(
            "a context without mutual authentication ({whose} did not ask for it)"
        )));
    }
    if !flags.contains(CtxFlags::GSS_C_REPLAY_FLAG) {
        return Err(MechanismError::BadToken(format!(
            "a context without replay detection ({whose} did not ask for it)"
        )));
    }
    Ok(())
}

struct ClientSession {
    ctx: ClientCtx,
    service: ServiceCheck,
    steps: u8,
    peer: Option<PeerIdentity>,
}

impl MechanismSession for ClientSession {
    fn step(&mut self, input: Option<&[u8]>, binding: &Binding) -> Result<Step, MechanismError> {
        let step = match (self.steps, input) {
            (0, None) => {
                let token = self
                    .ctx
                    .step(None, None)
                    .map_err(|e| MechanismError::Config(describe(&e)))?
                    .ok_or_else(|| {
                        MechanismError::Config("GSS-API produced no initial token".into())
                    })?;
                if self.ctx.is_complete() {
                    return Err(MechanismError::Config(
                        "GSS-API completed without mutual authentication".into(),
                    ));
                }
                Step::more(token.to_vec())
            }
            (1, Some(token)) => self.finish_exchange(token, binding)?,
            (_, None) => return Err(MechanismError::BadToken("missing token".into())),
            (_, Some(_)) => return Err(MechanismError::BadToken("token out of turn".into())),
        };
        self.steps += 1;
        Ok(step)
    }

    fn peer(&self) -> Option<&PeerIdentity> {
        self.peer.as_ref()
    }

    fn handshake_secret(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        None
    }

    fn finish(self: Box<Self>) -> Result<Authenticated, MechanismError> {
        authenticated(self.peer, self.steps)
    }
}

impl ClientSession {
    /// Token 2 in, token 3 out.
    fn finish_exchange(&mut self, token: &[u8], binding: &Binding) -> Result<Step, MechanismError> {
        let (ap_rep, mic) = split_server_token(token)?;
        let more = self.ctx.step(Some(ap_rep), None).map_err(|e| {
            MechanismError::BadToken(format!("the server's AP-REP: {}", describe(&e)))
        })?;
        if more.is_some() || !self.ctx.is_complete() {
            return Err(MechanismError::BadToken(
                "the Kerberos exchange did not complete with the server's AP-REP".into(),
            ));
        }
        let flags = self
            .ctx
            .flags()
            .map_err(|e| MechanismError::BadToken(describe(&e)))?;
        require_flags(flags, "the server")?;
        // A copy of the MIC: GSS-API may rewrite the buffers it is handed.
        let mic = mic.to_vec();
        self.ctx
            .verify_mic(&binding_message(SERVER_LABEL, &binding.before_input), &mic)
            .map_err(|e| {
                MechanismError::BadToken(format!(
                    "the server's MIC over the transcript does not verify: {}",
                    describe(&e)
                ))
            })?;
        let server = self
            .ctx
            .target_name()
            .map_err(|e| describe(&e))
            .and_then(|n| display(&n))
            .map_err(MechanismError::BadToken)?;
        if !answers(&self.service.expected, &server) {
            return Err(MechanismError::NotTrusted(format!(
                "the service {} answered as {server}: a name canonicalized to another host is \
                 refused (name the service by its full host name, or as a principal)",
                self.service.text
            )));
        }
        let mic = self
            .ctx
            .get_mic(&binding_message(CLIENT_LABEL, &binding.before_output))
            .map_err(|e| MechanismError::Config(describe(&e)))?;
        self.peer = Some(identity(server));
        Ok(Step {
            token: Some(mic.to_vec()),
            progress: Progress::Done,
        })
    }
}

/// What both sides' `finish` returns: the peer, once both of its steps are taken. There is no
/// secret: handfast's own key exchange keys the session.
fn authenticated(peer: Option<PeerIdentity>, steps: u8) -> Result<Authenticated, MechanismError> {
    let peer = peer
        .filter(|_| steps == 2)
        .ok_or_else(|| MechanismError::Config("Kerberos exchange not complete".into()))?;
    Ok(Authenticated { peer, secret: None })
}

/// Token 2: `u16` length, AP-REP, MIC.
fn split_server_token(token: &[u8]) -> Result<(&[u8], &[u8]), MechanismError> {
    let bad = || MechanismError::BadToken("malformed server token".into());
    let (len, rest) = token.split_first_chunk::<2>().ok_or_else(bad)?;
    let len = usize::from(u16::from_be_bytes(*len));
    if len == 0 || len >= rest.len() {
        return Err(bad());
    }
    Ok(rest.split_at(len))
}

struct ServerSession {
    ctx: ServerCtx,
    allow: Arc<AllowList>,
    steps: u8,
    peer: Option<PeerIdentity>,
}

impl MechanismSession for ServerSession {
    fn step(&mut self, input: Option<&[u8]>, binding: &Binding) -> Result<Step, MechanismError> {
        let step = match (self.steps, input) {
            (0, Some(token)) => self.accept(token, binding)?,
            (1, Some(mic)) => {
                // A copy of the MIC: GSS-API may rewrite the buffers it is handed.
                let mic = mic.to_vec();
                self.ctx
                    .verify_mic(&binding_message(CLIENT_LABEL, &binding.before_input), &mic)
                    .map_err(|e| {
                        MechanismError::BadToken(format!(
                            "the client's MIC over the transcript does not verify: {}",
                            describe(&e)
                        ))
                    })?;
                Step {
                    token: None,
                    progress: Progress::Done,
                }
            }
            (_, None) => return Err(MechanismError::BadToken("missing token".into())),
            (_, Some(_)) => return Err(MechanismError::BadToken("token out of turn".into())),
        };
        self.steps += 1;
        Ok(step)
    }

    fn peer(&self) -> Option<&PeerIdentity> {
        self.peer.as_ref()
    }

    fn handshake_secret(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        None
    }

    fn finish(self: Box<Self>) -> Result<Authenticated, MechanismError> {
        authenticated(self.peer, self.steps)
    }
}

impl ServerSession {
    /// Token 1 in, token 2 out.
    fn accept(&mut self, token: &[u8], binding: &Binding) -> Result<Step, MechanismError> {
        let ap_rep = self.ctx.step(token, None).map_err(|e| {
            MechanismError::BadToken(format!("the client's AP-REQ: {}", describe(&e)))
        })?;
        if !self.ctx.is_complete() {
            return Err(MechanismError::BadToken(
                "the Kerberos exchange needs more than one token from the client (only krb5 with \
                 mutual authentication is supported)"
                    .into(),
            ));
        }
        let flags = self
            .ctx
            .flags()
            .map_err(|e| MechanismError::BadToken(describe(&e)))?;
        require_flags(flags, "the client")?;
        let Some(ap_rep) = ap_rep else {
            return Err(MechanismError::BadToken(
                "a context without mutual authentication (no AP-REP)".into(),
            ));
        };
        let mech = self
            .ctx
            .mechanism()
            .map_err(|e| MechanismError::BadToken(describe(&e)))?;
        if mech != GSS_MECH_KRB5 {
            return Err(MechanismError::BadToken(format!(
                "the client used the GSS mechanism {mech}, not krb5"
            )));
        }
        let client = self
            .ctx
            .source_name()
            .map_err(|e| describe(&e))
            .and_then(|n| display(&n))
            .map_err(MechanismError::BadToken)?;
        if self.allow.allowing(&client).is_none() {
            return Err(MechanismError::NotTrusted(format!(
                "principal {client} is not allowed"
            )));
        }
        let mic = self
            .ctx
            .get_mic(&binding_message(SERVER_LABEL, &binding.before_output))
            .map_err(|e| MechanismError::Config(describe(&e)))?;
        let len = u16::try_from(ap_rep.len())
            .map_err(|_| MechanismError::Config("AP-REP longer than 65535 bytes".into()))?;
        let mut out = Vec::with_capacity(2 + ap_rep.len() + mic.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&ap_rep);
        out.extend_from_slice(&mic);
        self.peer = Some(identity(client));
        Ok(Step {
            token: Some(out),
            progress: Progress::Last,
        })
    }
}
