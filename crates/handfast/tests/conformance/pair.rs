//! A deterministic in-memory client/server pair with virtual time and hooks that drop,
//! duplicate, reorder, truncate or flip bytes in flight (after quinn-proto's `Pair`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use handfast::{
    ClientConfig, Error, Handshake, Mechanism, Mode, Opened, ProtectionLevel, SecurityContext,
    ServerConfig,
};
use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};

/// Which way bytes travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    ToServer,
    ToClient,
}

/// The fixed identities of the tests.
pub(crate) struct Keys {
    pub(crate) server: PrivateKey,
    pub(crate) client: PrivateKey,
    pub stranger: PrivateKey,
}

pub(crate) fn keys() -> Keys {
    Keys {
        server: PrivateKey::from_seed([0x51; 32]).with_comment("server"),
        client: PrivateKey::from_seed([0xc1; 32]).with_comment("client"),
        stranger: PrivateKey::from_seed([0x66; 32]).with_comment("stranger"),
    }
}

/// The mechanism each side uses, built for every mechanism under test. Only Noise exists
/// today; later mechanisms add a constructor here and the whole suite runs against them.
pub(crate) fn noise_pair(
    client_key: &PrivateKey,
    server_key: &PrivateKey,
) -> (Arc<dyn Mechanism>, Arc<dyn Mechanism>) {
    let k = keys();
    let client = NoiseMechanism::new(
        client_key.clone(),
        TrustSet::from([k.server.public_key("")]),
    );
    let server = NoiseMechanism::new(
        server_key.clone(),
        TrustSet::from([k.client.public_key("")]),
    );
    (Arc::new(client), Arc::new(server))
}

/// Client and server configs with trusted keys on both sides.
pub(crate) fn configs(
    level: ProtectionLevel,
    min_level: ProtectionLevel,
    mode: Mode,
) -> (ClientConfig, ServerConfig) {
    let k = keys();
    let (cm, sm) = noise_pair(&k.client, &k.server);
    let mut c = ClientConfig::new(cm).with_level(level);
    c.mode = mode;
    let mut s = ServerConfig::new(sm).with_min_level(min_level);
    s.modes = vec![Mode::Stream, Mode::Datagram];
    (c, s)
}

/// A flight-altering hook: `(direction, flight number, bytes)`.
pub(crate) type Tamper<'a> = Box<dyn FnMut(Dir, usize, &mut Vec<u8>) + 'a>;

/// How a handshake ended.
pub(crate) struct Outcome {
    pub(crate) client: Result<SecurityContext, Error>,
    pub(crate) server: Result<SecurityContext, Error>,
    /// Every flight as sent (before tampering).
    pub(crate) flights: Vec<(Dir, Vec<u8>)>,
}

impl Outcome {
    pub(crate) fn both(self) -> (SecurityContext, SecurityContext) {
        match (self.client, self.server) {
            (Ok(c), Ok(s)) => (c, s),
            (c, s) => panic!(
                "handshake failed: client {:?}, server {:?}",
                c.err(),
                s.err()
            ),
        }
    }

    pub(crate) fn established(&self) -> bool {
        self.client.is_ok() && self.server.is_ok()
    }
}

/// Runs a handshake to the end with a virtual clock, applying `tamper` to each flight.
pub(crate) fn handshake_with(
    c: ClientConfig,
    s: ServerConfig,
    mut tamper: Option<Tamper<'_>>,
) -> Outcome {
    let now = Instant::now();
    let mut client = Handshake::client(Arc::new(c), [0xaa; 32], now).expect("client config");
    let mut server = Handshake::server(Arc::new(s), [0xbb; 32], now).expect("server config");
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
            match to.handle_input(&bytes) {
                Ok(_) => {}
                Err(e) => {
                    let slot = if dir == Dir::ToServer {
                        &mut errors.1
                    } else {
                        &mut errors.0
                    };
                    slot.get_or_insert(e);
                }
            }
        }
        if !progressed {
            break;
        }
    }
    // Time passes: anything still waiting hits its deadline.
    let later = now + Duration::from_secs(11);
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

pub(crate) fn handshake(c: ClientConfig, s: ServerConfig) -> Outcome {
    handshake_with(c, s, None)
}

/// An established pair at the given levels and mode.
pub(crate) fn established(
    level: ProtectionLevel,
    min_level: ProtectionLevel,
    mode: Mode,
) -> (SecurityContext, SecurityContext) {
    let (c, s) = configs(level, min_level, mode);
    handshake(c, s).both()
}

/// Stream-mode receiver: buffers bytes and opens whole records as they complete.
#[derive(Default)]
pub(crate) struct StreamReceiver {
    buf: Vec<u8>,
    pub(crate) messages: Vec<(ProtectionLevel, Vec<u8>)>,
    pub(crate) closed: bool,
}

impl StreamReceiver {
    /// Feeds bytes; returns the first error.
    pub(crate) fn feed(&mut self, ctx: &mut SecurityContext, bytes: &[u8]) -> Result<(), Error> {
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

/// Flips bit `bit` of `bytes`.
pub(crate) fn flip(bytes: &mut [u8], bit: usize) {
    bytes[bit / 8] ^= 1 << (bit % 8);
}
