//! The conformance kit against the Noise XX mechanism, plus what is particular to Noise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use handfast::mechanism::Mechanism;
use handfast::{
    ClientConfig, Error, MechanismId, Mode, PeerMisbehaved, PolicyRejected, ServerConfig,
};
use handfast_conformance::Fixture;
use handfast_conformance::pair::{Dir, configs, handshake, handshake_with};
use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};

/// "client" and "server" pin each other; "stranger" is trusted by nobody.
struct Noise;

fn key(name: &str) -> PrivateKey {
    let seed = match name {
        "server" => [0x51; 32],
        "client" => [0xc1; 32],
        _ => [0x66; 32],
    };
    PrivateKey::from_seed(seed).with_comment(name)
}

fn mechanism(me: &str, trusts: &str) -> Arc<dyn Mechanism> {
    Arc::new(NoiseMechanism::new(
        key(me),
        TrustSet::from([key(trusts).public_key(trusts)]),
    ))
}

impl Fixture for Noise {
    fn pair(&self) -> (Arc<dyn Mechanism>, Arc<dyn Mechanism>) {
        (mechanism("client", "server"), mechanism("server", "client"))
    }

    fn untrusted_client(&self) -> Arc<dyn Mechanism> {
        mechanism("stranger", "server")
    }

    fn untrusted_server(&self) -> Arc<dyn Mechanism> {
        mechanism("stranger", "client")
    }

    fn names(&self) -> (String, String) {
        ("server".into(), "client".into())
    }
}

handfast_conformance::suite!(Noise);

#[test]
fn peer_identity_is_the_static_key() {
    let (c, s) = configs(
        &Noise,
        handfast::ProtectionLevel::Privacy,
        handfast::ProtectionLevel::Privacy,
        Mode::Stream,
    );
    let (c, s) = handshake(c, s).both();
    assert_eq!(c.peer().key(), key("server").public_key("").as_bytes());
    assert_eq!(s.peer().key(), key("client").public_key("").as_bytes());
    assert_eq!(
        c.mechanism(),
        (MechanismId::NOISE_XX_25519, "noise-xx-25519")
    );
    assert!(s.peer().fingerprint().starts_with("SHA256:"));
}

#[test]
fn an_unknown_key_is_named_by_its_fingerprint() {
    let (_, sm) = Noise.pair();
    let out = handshake(
        ClientConfig::new(Noise.untrusted_client()),
        ServerConfig::new(sm),
    );
    match out.server {
        Err(Error::PolicyRejected(PolicyRejected::PeerNotTrusted(why))) => {
            assert!(why.contains("unknown key SHA256:"), "{why}");
        }
        other => panic!("{:?}", other.err()),
    }
}

/// Noise XX never sends the client's static key to a server it has not verified: the client's
/// answer to an unpinned server is one alert, and its first flight holds only an ephemeral.
#[test]
fn the_client_identity_stays_hidden_from_an_unpinned_server() {
    let (cm, _) = Noise.pair();
    let out = handshake(
        ClientConfig::new(cm),
        ServerConfig::new(Noise.untrusted_server()),
    );
    let client_bytes: Vec<u8> = out
        .flights
        .iter()
        .filter(|(d, _)| *d == Dir::ToServer)
        .flat_map(|(_, b)| b.clone())
        .collect();
    let public = *key("client").public_key("").as_bytes();
    assert!(!client_bytes.windows(32).any(|w| w == public));
    assert_eq!(out.flights.len(), 3, "hello, reply, alert");
}

/// A rewritten ServerHello is caught by the server's Finished, which Noise cannot see: the
/// level is a handfast field.
#[test]
fn the_servers_finished_covers_the_server_hello() {
    let (c, s) = configs(
        &Noise,
        handfast::ProtectionLevel::Integrity,
        handfast::ProtectionLevel::Privacy,
        Mode::Stream,
    );
    let out = handshake_with(
        c,
        s,
        Some(Box::new(|dir, n, b: &mut Vec<u8>| {
            if dir == Dir::ToClient && n == 1 {
                let at = 4 + 1 + 2 + 32 + 2;
                b[at] = 1;
                b[at + 1] = 1;
            }
        })),
    );
    assert_eq!(
        out.client.err(),
        Some(PeerMisbehaved::TranscriptMismatch.into())
    );
}
