//! GSS mode, for interop: after the context is established, the GSS-API context itself
//! protects each message, as GSS-API and SSPI programs expect (`gss_wrap` / SSPI's
//! `EncryptMessage` with confidentiality for Privacy and without it for Integrity, and
//! `gss_get_mic` / `MakeSignature` for detached signatures).
//!
//! The API follows handfast's own [`handfast::SecurityContext`]: a context knows its peer
//! and the lowest level it accepts, and a message below that level is refused, never
//! delivered. The receiver learns a message's level from the token itself: the *Sealed* flag
//! of an RFC 4121 token, which `gss_unwrap` has authenticated by the time it is read (it is
//! what `gss_unwrap` reports as `conf_state`).
//!
//! Unlike the native mode, GSS mode has no forward secrecy (the Kerberos session key protects
//! every message) and runs only over Kerberos' own message protection; prefer the native mode
//! unless the peer is an existing GSS-API or SSPI program.

use std::sync::Arc;

use handfast::ProtectionLevel;
use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext, ServerCtx};
use libgssapi::oid::{GSS_MECH_KRB5, GSS_MECH_SPNEGO};

use crate::error::{Error, describe};
use crate::mechanism::{
    CLIENT_FLAGS, ClientCredentials, Keytab, Service, client_cred_for, display, server_cred,
};
use crate::names::AllowList;
use crate::store::Mechs;

/// Which GSS-API mechanism a client asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GssMechanism {
    /// Kerberos V5 (1.2.840.113554.1.2.2).
    #[default]
    Kerberos,
    /// SPNEGO (1.3.6.1.5.5.2), negotiating Kerberos: what SSPI's Negotiate package sends.
    Spnego,
}

/// A GSS-mode failure: the context could not be established, a token did not verify, or a
/// message came below the lowest level accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum GssError {
    /// GSS-API refused a token (the reason is Kerberos' or GSS-API's own).
    #[error("{0}")]
    Gss(String),
    /// The peer did not ask for, or did not give, mutual authentication or replay detection.
    #[error("{0}")]
    Flags(String),
    /// The peer's principal is not allowed.
    #[error("principal {0} is not allowed")]
    NotAllowed(String),
    /// A message protected below the lowest level accepted.
    #[error("a message at {got}, below the minimum of {min}")]
    BelowMinimum {
        /// The message's level.
        got: ProtectionLevel,
        /// The lowest level accepted.
        min: ProtectionLevel,
    },
    /// Used out of order (a message before the context is established, say).
    #[error("{0}")]
    State(String),
}

/// The initiator side of a GSS-mode context, while it is being established.
pub struct GssClient {
    ctx: ClientCtx,
    service: Service,
}

impl GssClient {
    /// A client of `service`, with `credentials`, asking for `mechanism`, mutual
    /// authentication and replay detection.
    ///
    /// # Errors
    /// When the credentials cannot be acquired.
    pub fn new(
        service: &Service,
        credentials: &ClientCredentials,
        mechanism: GssMechanism,
    ) -> Result<Self, Error> {
        let cred =
            client_cred_for(credentials, Mechs::Krb5AndSpnego).map_err(Error::Credentials)?;
        let mech = match mechanism {
            GssMechanism::Kerberos => GSS_MECH_KRB5,
            GssMechanism::Spnego => GSS_MECH_SPNEGO,
        };
        let name = service.name().map_err(|e| Error::Name {
            name: service.as_str().into(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            ctx: ClientCtx::new(Some(cred), name, CLIENT_FLAGS, Some(mech)),
            service: Service::parse(service.as_str())?,
        })
    }

    /// One step: the server's last token in (`None` at first), this side's next token out
    /// (`None` when there is nothing to send).
    ///
    /// # Errors
    /// When GSS-API refuses the server's token.
    pub fn step(&mut self, token: Option<&[u8]>) -> Result<Option<Vec<u8>>, GssError> {
        self.ctx
            .step(token, None)
            .map(|t| t.map(|t| t.to_vec()))
            .map_err(|e| GssError::Gss(describe(&e)))
    }

    /// Whether the context is established.
    pub fn is_complete(&self) -> bool {
        self.ctx.is_complete()
    }

    /// The established context, accepting messages at `min` or above.
    ///
    /// # Errors
    /// Before the context is established, or when the server did not authenticate itself.
    pub fn into_context(self, min: ProtectionLevel) -> Result<GssContext, GssError> {
        let peer = checked_peer(&self.ctx, |c| c.target_name())?;
        if !self.service.is_answered_by(&peer) {
            return Err(GssError::NotAllowed(format!(
                "{peer} (the service {} was asked for; a name canonicalized to another host is \
                 refused)",
                self.service.as_str()
            )));
        }
        Ok(GssContext {
            ctx: Ctx::Client(self.ctx),
            peer,
            min,
        })
    }
}

/// The acceptor side of a GSS-mode context, while it is being established. It accepts
/// Kerberos and SPNEGO (which MIT's acceptor unwraps), from the principals it allows.
pub struct GssServer {
    ctx: ServerCtx,
    allow: Arc<AllowList>,
}

impl GssServer {
    /// A server with the keys of `keytab`, allowing `allow`.
    ///
    /// # Errors
    /// When the keytab cannot be used.
    pub fn new(keytab: &Keytab, allow: Arc<AllowList>) -> Result<Self, Error> {
        let cred = server_cred(keytab, Mechs::Krb5AndSpnego)?;
        Ok(Self {
            ctx: ServerCtx::new(Some(cred)),
            allow,
        })
    }

    /// One step: a client token in, this side's answer out (`None` when there is none).
    ///
    /// # Errors
    /// When GSS-API refuses the client's token (a replay, a key it lacks, clock skew...).
    pub fn step(&mut self, token: &[u8]) -> Result<Option<Vec<u8>>, GssError> {
        self.ctx
            .step(token, None)
            .map(|t| t.map(|t| t.to_vec()))
            .map_err(|e| GssError::Gss(describe(&e)))
    }

    /// Whether the context is established.
    pub fn is_complete(&self) -> bool {
        self.ctx.is_complete()
    }

    /// The established context, accepting messages at `min` or above, once the client is
    /// found allowed and to have asked for mutual authentication and replay detection.
    ///
    /// # Errors
    /// As above.
    pub fn into_context(self, min: ProtectionLevel) -> Result<GssContext, GssError> {
        let peer = checked_peer(&self.ctx, |c| c.source_name())?;
        if self.allow.allowing(&peer).is_none() {
            return Err(GssError::NotAllowed(peer));
        }
        Ok(GssContext {
            ctx: Ctx::Server(self.ctx),
            peer,
            min,
        })
    }
}

/// The underlying mechanism must be Kerberos (SPNEGO reports the one it negotiated): not
/// NTLM, whose keys and level semantics differ.
fn require_krb5(
    mech: Result<libgssapi::oid::Oid<'static>, libgssapi::error::Error>,
) -> Result<(), GssError> {
    let mech = mech.map_err(|e| GssError::Gss(describe(&e)))?;
    if mech != GSS_MECH_KRB5 {
        return Err(GssError::Flags(format!(
            "the context's mechanism is {mech}, not Kerberos"
        )));
    }
    Ok(())
}

/// What both sides check of a context before using it, and the peer's name (`name` is the
/// context's target name on the client, its source name on the server).
fn checked_peer<C: SecurityContext>(
    ctx: &C,
    name: impl FnOnce(&C) -> Result<libgssapi::name::Name, libgssapi::error::Error>,
) -> Result<String, GssError> {
    if !ctx.is_complete() {
        return Err(GssError::State("the context is not established".into()));
    }
    require(ctx.flags().map_err(|e| GssError::Gss(describe(&e)))?)?;
    require_krb5(ctx.mechanism())?;
    name(ctx)
        .map_err(|e| describe(&e))
        .and_then(|n| display(&n))
        .map_err(GssError::Gss)
}

fn require(flags: CtxFlags) -> Result<(), GssError> {
    if !flags.contains(CtxFlags::GSS_C_MUTUAL_FLAG) {
        return Err(GssError::Flags(
            "a context without mutual authentication".into(),
        ));
    }
    if !flags.contains(CtxFlags::GSS_C_REPLAY_FLAG) {
        return Err(GssError::Flags("a context without replay detection".into()));
    }
    Ok(())
}

enum Ctx {
    Client(ClientCtx),
    Server(ServerCtx),
}

/// An established GSS-mode context: messages protected by GSS-API itself.
pub struct GssContext {
    ctx: Ctx,
    peer: String,
    min: ProtectionLevel,
}

impl std::fmt::Debug for GssContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GssContext")
            .field("peer", &self.peer)
            .field("min", &self.min)
            .finish_non_exhaustive()
    }
}

/// RFC 4121 token identifiers and the Sealed flag.
const WRAP_TOKEN: [u8; 2] = [0x05, 0x04];
const SEALED: u8 = 0x02;

impl GssContext {
    fn sc(&mut self) -> &mut dyn libgssapi::context::SecurityContext {
        match &mut self.ctx {
            Ctx::Client(c) => c,
            Ctx::Server(s) => s,
        }
    }

    /// The peer's principal.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The lowest level this side accepts.
    pub fn min_level(&self) -> ProtectionLevel {
        self.min
    }

    /// `gss_wrap`: the message encrypted and integrity-protected at Privacy, signed and
    /// readable at Integrity.
    ///
    /// # Errors
    /// When GSS-API fails.
    pub fn wrap(&mut self, level: ProtectionLevel, msg: &[u8]) -> Result<Vec<u8>, GssError> {
        let encrypt = level == ProtectionLevel::Privacy;
        let token = self
            .sc()
            .wrap(encrypt, msg)
            .map(|t| t.to_vec())
            .map_err(|e| GssError::Gss(describe(&e)))?;
        // GSS-API may give less confidentiality than asked for (its conf_state, which
        // libgssapi does not return): read what the token says.
        let sealed = matches!(&token[..], [0x05, 0x04, flags, ..] if flags & SEALED != 0);
        if encrypt && !sealed {
            return Err(GssError::Gss(
                "GSS-API did not encrypt a message wrapped at privacy".into(),
            ));
        }
        Ok(token)
    }

    /// `gss_unwrap`: the message and the level it was protected at. A message below the
    /// minimum is refused and not returned; so is one whose token is not an RFC 4121 wrap
    /// token (the only kind whose level can be read).
    ///
    /// # Errors
    /// A token that does not verify (altered, or replayed; out of sequence too when the
    /// initiator asked for sequencing, as handfast's client does), or below the minimum.
    pub fn unwrap(&mut self, token: &[u8]) -> Result<(ProtectionLevel, Vec<u8>), GssError> {
        // MIT's gss_unwrap rewrites parts of the token it is given (libgssapi hands it our
        // buffer), so it gets a copy of its own, and the flags are read from the token as
        // received: the token gss_unwrap then verifies whole, header and flags included.
        let level = match token {
            [a, b, flags, ..] if [*a, *b] == WRAP_TOKEN => {
                if flags & SEALED != 0 {
                    ProtectionLevel::Privacy
                } else {
                    ProtectionLevel::Integrity
                }
            }
            _ => {
                return Err(GssError::Gss(
                    "not an RFC 4121 wrap token: its level cannot be read".into(),
                ));
            }
        };
        let scratch = token.to_vec();
        let msg = self
            .sc()
            .unwrap(&scratch)
            .map_err(|e| GssError::Gss(describe(&e)))?;
        drop(scratch);
        if level < self.min {
            return Err(GssError::BelowMinimum {
                got: level,
                min: self.min,
            });
        }
        Ok((level, msg.to_vec()))
    }

    /// `gss_get_mic`: a detached signature over `msg`.
    ///
    /// # Errors
    /// When GSS-API fails.
    pub fn sign(&mut self, msg: &[u8]) -> Result<Vec<u8>, GssError> {
        self.sc()
            .get_mic(msg)
            .map(|t| t.to_vec())
            .map_err(|e| GssError::Gss(describe(&e)))
    }

    /// `gss_verify_mic`: whether `mic` is this peer's signature over `msg` (not replayed; in
    /// sequence when sequencing was asked for). A MIC proves Integrity only, so a context whose minimum is Privacy refuses
    /// detached signatures as the only protection of a message.
    ///
    /// # Errors
    /// A MIC that does not verify, or a Privacy minimum.
    pub fn verify(&mut self, msg: &[u8], mic: &[u8]) -> Result<(), GssError> {
        if self.min == ProtectionLevel::Privacy {
            return Err(GssError::BelowMinimum {
                got: ProtectionLevel::Integrity,
                min: self.min,
            });
        }
        self.verify_reply(msg, mic)
    }

    /// `gss_verify_mic` over a message this side already has (a peer's acknowledgement of
    /// what it received, as MIT's sample programs send): no minimum applies, since no
    /// message is delivered by it.
    ///
    /// # Errors
    /// A MIC that does not verify.
    pub fn verify_reply(&mut self, msg: &[u8], mic: &[u8]) -> Result<(), GssError> {
        // Copies: GSS-API may rewrite the buffers it is handed (see `unwrap`).
        let (msg, mic) = (msg.to_vec(), mic.to_vec());
        self.sc()
            .verify_mic(&msg, &mic)
            .map_err(|e| GssError::Gss(describe(&e)))
    }
}
