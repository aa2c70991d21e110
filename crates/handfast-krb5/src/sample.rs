//! The protocol of MIT's GSS-API sample programs, `gss-server` and `gss-client` (Debian's
//! `krb5-gss-samples`; `src/appl/gss-sample` in MIT krb5), over GSS mode ([`crate::gss`]), so
//! that handfast can stand on either side of them.
//!
//! A frame is one flags byte, a 4-byte big-endian length and the token. A session:
//!
//! 1. the client sends `NOOP | CONTEXT_NEXT` with an empty token;
//! 2. context tokens go both ways as `CONTEXT` frames until the context is established;
//! 3. for each message the client sends `DATA | WRAPPED` (`| ENCRYPTED` when it asked for
//!    confidentiality, `| SEND_MIC` when it wants a MIC back), and the server answers `MIC`
//!    with `gss_get_mic` over the plaintext, or `NOOP`;
//! 4. the client ends with `NOOP`.
//!
//! Both ends here require mutual authentication, replay detection and wrapped messages, and
//! refuse a message below their minimum level. MIT's version-1 framing (no flags byte) is
//! refused, as MIT's own server does.

use std::io::{self, Read, Write};
use std::sync::Arc;

use handfast::ProtectionLevel;

use crate::gss::{GssClient, GssContext, GssError, GssMechanism, GssServer};
use crate::mechanism::{ClientCredentials, Keytab, Service};
use crate::names::AllowList;

/// An empty control token: session start (with `CONTEXT_NEXT`), end, or "no MIC".
pub const NOOP: u8 = 0x01;
/// A context-establishment token.
pub const CONTEXT: u8 = 0x02;
/// An application message.
pub const DATA: u8 = 0x04;
/// The server's MIC over the plaintext of a message.
pub const MIC: u8 = 0x08;
/// With the first `NOOP`: context tokens follow.
pub const CONTEXT_NEXT: u8 = 0x10;
/// The `DATA` token is a `gss_wrap` token.
pub const WRAPPED: u8 = 0x20;
/// The client asked for confidentiality.
pub const ENCRYPTED: u8 = 0x40;
/// The server must answer with a MIC.
pub const SEND_MIC: u8 = 0x80;

/// The largest token accepted: MIT's programs send tokens of a few kilobytes (a ticket with
/// a PAC) and messages of the user's choosing.
pub const MAX_TOKEN: usize = 1 << 20;

/// Why a sample session failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SampleError {
    /// The connection failed, or a frame was malformed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// GSS-API refused a token, or a message was below the minimum.
    #[error("{0}")]
    Gss(#[from] GssError),
    /// Credentials or a keytab could not be used.
    #[error("{0}")]
    Setup(#[from] crate::Error),
    /// The peer broke the sample protocol.
    #[error("{0}")]
    Protocol(String),
}

/// Writes one frame. The flags byte is written only when it is not zero, as MIT does.
///
/// # Errors
/// When writing fails, or the token is longer than a frame can say.
pub fn send_token(w: &mut impl Write, flags: u8, token: &[u8]) -> io::Result<()> {
    let len = u32::try_from(token.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "token too long"))?;
    let mut frame = Vec::with_capacity(5 + token.len());
    if flags != 0 {
        frame.push(flags);
    }
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(token);
    w.write_all(&frame)?;
    w.flush()
}

/// Reads one frame: its flags and token. The length is checked against [`MAX_TOKEN`]
/// before anything is allocated for the token.
///
/// # Errors
/// A closed connection, version-1 framing (a zero first byte), or a token too long.
pub fn recv_token(r: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut flags = [0u8; 1];
    r.read_exact(&mut flags)?;
    if flags[0] == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "version 1 framing (no flags byte) is not supported",
        ));
    }
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    if len > MAX_TOKEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a token of {len} bytes, more than the {MAX_TOKEN} accepted"),
        ));
    }
    // Grows with the bytes that arrive, not with the length claimed.
    let mut token = Vec::with_capacity(len.min(64 * 1024));
    r.take(len as u64).read_to_end(&mut token)?;
    if token.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the connection ended inside a token",
        ));
    }
    Ok((flags[0], token))
}

/// What a server session received.
#[derive(Debug)]
pub struct Served {
    /// The client's principal.
    pub peer: String,
    /// Each message with its level, in order.
    pub messages: Vec<(ProtectionLevel, Vec<u8>)>,
}

/// Serves one connection as MIT's `gss-server` does, with the keys of `keytab`, for the
/// principals of `allow`, accepting messages at `min` or above.
///
/// # Errors
/// Any failure ends the session (the caller closes the connection): a refused context, a
/// principal not allowed, a message that does not verify or is below `min`.
pub fn serve(
    stream: &mut (impl Read + Write),
    keytab: &Keytab,
    allow: Arc<AllowList>,
    min: ProtectionLevel,
) -> Result<Served, SampleError> {
    let (flags, _) = recv_token(stream)?;
    if flags & NOOP == 0 {
        return Err(SampleError::Protocol(format!(
            "expected a NOOP token to start, got flags {flags:#04x}"
        )));
    }
    if flags & CONTEXT_NEXT == 0 {
        return Err(SampleError::Protocol(
            "the client wants no authentication (-na): refused".into(),
        ));
    }
    let mut server = GssServer::new(keytab, allow)?;
    while !server.is_complete() {
        let (flags, token) = recv_token(stream)?;
        if flags & CONTEXT == 0 {
            return Err(SampleError::Protocol(format!(
                "expected a context token, got flags {flags:#04x}"
            )));
        }
        if let Some(out) = server.step(&token)? {
            send_token(stream, CONTEXT, &out)?;
        }
    }
    let mut ctx = server.into_context(min)?;
    let mut messages = Vec::new();
    loop {
        let (flags, token) = recv_token(stream)?;
        if flags & NOOP != 0 {
            break;
        }
        if flags & DATA == 0 {
            return Err(SampleError::Protocol(format!(
                "expected a data token, got flags {flags:#04x}"
            )));
        }
        if flags & WRAPPED == 0 {
            return Err(SampleError::Protocol(
                "an unprotected message (-nw): refused".into(),
            ));
        }
        let (level, msg) = ctx.unwrap(&token)?;
        if flags & ENCRYPTED != 0 && level != ProtectionLevel::Privacy {
            return Err(SampleError::Protocol(
                "a message marked encrypted that was not".into(),
            ));
        }
        if flags & SEND_MIC != 0 {
            let mic = ctx.sign(&msg)?;
            send_token(stream, MIC, &mic)?;
        } else {
            send_token(stream, NOOP, &[])?;
        }
        messages.push((level, msg));
    }
    Ok(Served {
        peer: ctx.peer().to_string(),
        messages,
    })
}

/// How a client session runs.
#[derive(Clone, Debug)]
pub struct ClientSession<'a> {
    /// The service (`host@server`).
    pub service: &'a Service,
    /// This side's credentials.
    pub credentials: &'a ClientCredentials,
    /// Kerberos, or SPNEGO negotiating it.
    pub mechanism: GssMechanism,
    /// The level of each message (Privacy wraps with confidentiality).
    pub level: ProtectionLevel,
    /// Whether to ask for a MIC over each message (`gss-client` does unless `-nm`).
    pub want_mic: bool,
}

/// Runs one session as MIT's `gss-client` does: authenticates, sends each message and checks
/// each answer, then ends. Returns the server's principal.
///
/// # Errors
/// A refused context, a server that did not authenticate itself, a MIC that does not verify.
pub fn client(
    stream: &mut (impl Read + Write),
    session: &ClientSession<'_>,
    messages: &[&[u8]],
) -> Result<String, SampleError> {
    send_token(stream, NOOP | CONTEXT_NEXT, &[])?;
    let mut gss = GssClient::new(session.service, session.credentials, session.mechanism)?;
    let mut out = gss.step(None)?;
    loop {
        if let Some(token) = out.take() {
            send_token(stream, CONTEXT, &token)?;
        }
        if gss.is_complete() {
            break;
        }
        let (flags, token) = recv_token(stream)?;
        if flags & CONTEXT == 0 {
            return Err(SampleError::Protocol(format!(
                "expected a context token, got flags {flags:#04x}"
            )));
        }
        out = gss.step(Some(&token))?;
    }
    let mut ctx: GssContext = gss.into_context(session.level)?;
    for msg in messages {
        let token = ctx.wrap(session.level, msg)?;
        let mut flags = DATA | WRAPPED;
        if session.level == ProtectionLevel::Privacy {
            flags |= ENCRYPTED;
        }
        if session.want_mic {
            flags |= SEND_MIC;
        }
        send_token(stream, flags, &token)?;
        let (flags, reply) = recv_token(stream)?;
        if session.want_mic {
            if flags & MIC == 0 {
                return Err(SampleError::Protocol(format!(
                    "expected a MIC, got flags {flags:#04x}"
                )));
            }
            ctx.verify_reply(msg, &reply)?;
        } else if flags & NOOP == 0 {
            return Err(SampleError::Protocol(format!(
                "expected a NOOP, got flags {flags:#04x}"
            )));
        }
    }
    send_token(stream, NOOP, &[])?;
    Ok(ctx.peer().to_string())
}
