//! A deterministic in-memory client/server pair with virtual time and hooks that drop,
//! duplicate, reorder, truncate or flip bytes in flight (after quinn-proto's `Pair`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use handfast::{
    ClientConfig, Error, Handshake, Mode, Opened, ProtectionLevel, SecurityContext, ServerConfig,
};

use crate::Fixture;

/// Which way bytes travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client to server.
    ToServer,
    /// Server to client.
    ToClient,
}

/// Client and server configs from the fixture's trusted pair, with the server running both
/// modes.
pub fn configs(
    f: &dyn Fixture,
    level: ProtectionLevel,
    min_level: ProtectionLevel,
    mode: Mode,
) -> (ClientConfig, ServerConfig) {
    let (cm, sm) = f.pair();
    let mut c = ClientConfig::new(cm).with_level(level);
    c.mode = mode;
    let mut s = ServerConfig::new(sm).with_min_level(min_level);
    s.modes = vec![Mode::Stream, Mode::Datagram];
    (c, s)
}

/// A flight-altering hook: `(direction, flight number, bytes)`.
pub type Tamper<'a> = Box<dyn FnMut(Dir, usize, &mut Vec<u8>) + 'a>;

/// How a handshake ended.
pub struct Outcome {
    /// The client's context, or why it has none.
    pub client: Result<SecurityContext, Error>,
    /// The server's context, or why it has none.
    pub server: Result<SecurityContext, Error>,
    /// Every flight as sent (before tampering).
    pub flights: Vec<(Dir, Vec<u8>)>,
}

impl Outcome {
    /// Both contexts; panics with both errors otherwise.
    pub fn both(self) -> (SecurityContext, SecurityContext) {
        match (self.client, self.server) {
            (Ok(c), Ok(s)) => (c, s),
            (c, s) => panic!(
                "handshake failed: client {:?}, server {:?}",
                c.err(),
                s.err()
            ),
        }
    }

    /// Whether both sides established a session.
    pub fn established(&self) -> bool {
        self.client.is_ok() && self.server.is_ok()
    }
}

/// Runs a handshake to the end with a virtual clock, applying `tamper` to each flight.
pub fn handshake_with(c: ClientConfig, s: ServerConfig, tamper: Option<Tamper<'_>>) -> Outcome {
    handshake_seeded(c, s, [0xaa; 32], [0xbb; 32], tamper)
}

/// As [`handshake_with`], with the entropy of each side given.
pub fn handshake_seeded(
    c: ClientConfig,
    s: ServerConfig,
    client_entropy: [u8; 32],
    server_entropy: [u8; 32],
    mut tamper: Option<Tamper<'_>>,
) -> Outcome {
    let now = Instant::now();
    let mut client = Handshake::client(Arc::new(c), client_entropy, now).expect("client config");
    let mut server = Handshake::server(Arc::new(s), server_entropy, now).expect("server config");
    let mut flights = Vec::new();
    let mut errors: (Option<Error>, Option<Error>) = (None, None);
    let mut n = 0;
    loop {
        let mut progressed = false;
        for dir in [Dir::ToServer, Dir::ToClient] {
            let (from, to) = match dir {
                Dir::ToServer => (&mut client, &mut server),
                Dir::ToClient => (&mut server, &mut client),
            };
            let mut bytes = from.take_output();
            if bytes.is_empty() {
                continue;
            }
            progressed = true;
            flights.push((dir, bytes.clone()));
            if let Some(t) = tamper.as_mut() {
                t(dir, n, &mut bytes);
            }
            n += 1;
            if !to.is_in_progress() {
                continue;
            }
            if let Err(e) = to.handle_input(&bytes) {
                let slot = match dir {
                    Dir::ToServer => &mut errors.1,
                    Dir::ToClient => &mut errors.0,
                };
                slot.get_or_insert(e);
            }
        }
        if !progressed {
            break;
        }
    }
    // Time passes: anything still waiting hits its deadline.
    let later = now + Duration::from_secs(3600);
    for (hs, err) in [(&mut client, &mut errors.0), (&mut server, &mut errors.1)] {
        if let Err(e) = hs.handle_timeout(later) {
            err.get_or_insert(e);
        }
    }
    Outcome {
        client: client.into_context(),
        server: server.into_context(),
        flights,
    }
}

/// Runs a handshake with nothing altered.
pub fn handshake(c: ClientConfig, s: ServerConfig) -> Outcome {
    handshake_with(c, s, None)
}

/// An established pair at the given levels and mode.
pub fn established(
    f: &dyn Fixture,
    level: ProtectionLevel,
    min_level: ProtectionLevel,
    mode: Mode,
) -> (SecurityContext, SecurityContext) {
    let (c, s) = configs(f, level, min_level, mode);
    handshake(c, s).both()
}

/// Stream-mode receiver: buffers bytes and opens whole records as they complete.
#[derive(Default)]
pub struct StreamReceiver {
    buf: Vec<u8>,
    /// Messages delivered so far, with their levels.
    pub messages: Vec<(ProtectionLevel, Vec<u8>)>,
    /// Whether the peer's authenticated close arrived.
    pub closed: bool,
}

impl StreamReceiver {
    /// Feeds bytes; returns the first error.
    ///
    /// # Errors
    /// Whatever the context refuses.
    pub fn feed(&mut self, ctx: &mut SecurityContext, bytes: &[u8]) -> Result<(), Error> {
        self.buf.extend_from_slice(bytes);
        while let Some(len) = ctx.next_record_len(&self.buf)? {
            if self.buf.len() < len {
                break;
            }
            let mut record: Vec<u8> = self.buf.drain(..len).collect();
            match ctx.open_in_place(&mut record)? {
                Opened::Data { level, payload } => self.messages.push((level, payload.to_vec())),
                Opened::Closed => self.closed = true,
                _ => unreachable!("no other kinds"),
            }
        }
        Ok(())
    }
}

/// Flips bit `bit` of `bytes` (counting from the start again past the end: a mechanism whose
/// tokens carry timestamps, as Kerberos' do, may make a flight a byte shorter than the clean
/// run it was counted on).
pub fn flip(bytes: &mut [u8], bit: usize) {
    if bytes.is_empty() {
        return;
    }
    let bit = bit % (bytes.len() * 8);
    bytes[bit / 8] ^= 1 << (bit % 8);
}

/// Offset of the requested-level byte in a ClientHello flight.
pub fn requested_level_offset(flight: &[u8]) -> usize {
    // record header 4, hs type 1, version 2, random 32, mechanism count 1 + 2 each.
    let n_mech = usize::from(flight[4 + 1 + 2 + 32]);
    4 + 1 + 2 + 32 + 1 + 2 * n_mech
}
