//! Known-answer vectors: `tests/vectors/*.txt` are checked byte for byte against the code.
//!
//! The files are produced by this module; set `HANDFAST_REGENERATE_VECTORS=1` to rewrite them
//! after an intended change of the wire format (and then update `docs/PROTOCOL.md`).
//! `tests/vectors/check.py` recomputes them independently from the protocol document.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use handfast::mechanism::{Entropy, Role};
use handfast::vectors::{dangerous_context_from_secrets, schedule};
use handfast::{CipherSuite, ClientConfig, Handshake, Mode, ProtectionLevel, ServerConfig};
use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};

use ProtectionLevel::{Integrity, Privacy};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/vectors")
}

fn check(name: &str, generated: &str) {
    let path = vectors_dir().join(name);
    if std::env::var_os("HANDFAST_REGENERATE_VECTORS").is_some() {
        std::fs::create_dir_all(vectors_dir()).unwrap();
        std::fs::write(&path, generated).unwrap();
        eprintln!(
            "REGENERATED {}: this run checks nothing; review the diff",
            path.display()
        );
    }
    let stored =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Compare line by line for a readable failure.
    for (i, (a, b)) in stored.lines().zip(generated.lines()).enumerate() {
        assert_eq!(a, b, "{name} line {}", i + 1);
    }
    assert_eq!(stored, generated, "{name}: length differs");
}

fn seq_bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| seed.wrapping_add(i as u8)).collect()
}

#[test]
fn key_schedule_vectors() {
    let mut out = String::from(
        "# handfast v2 key schedule (docs/PROTOCOL.md, section 6).\n\
         # Inputs: handshake IKM (ecdhe || handshake secret), final secret, h_sfin, h_cfin,\n\
         # h_done. Everything else is derived.\n",
    );
    for (ikm, fin, hs, hc, hd) in [
        (
            seq_bytes(64, 0x00),
            seq_bytes(64, 0x40),
            [0x11u8; 32],
            [0x22u8; 32],
            [0x33u8; 32],
        ),
        (
            seq_bytes(32, 0xa0),
            Vec::new(),
            [0x5au8; 32],
            [0xc3u8; 32],
            [0x3cu8; 32],
        ),
    ] {
        let s = schedule(&ikm, &fin, &hs, &hc, &hd);
        writeln!(out, "\nhandshake_ikm: {}", hex(&ikm)).unwrap();
        writeln!(out, "final_secret: {}", hex(&fin)).unwrap();
        writeln!(out, "h_sfin: {}", hex(&hs)).unwrap();
        writeln!(out, "h_cfin: {}", hex(&hc)).unwrap();
        writeln!(out, "h_done: {}", hex(&hd)).unwrap();
        writeln!(out, "prk_hs: {}", hex(&s.prk_hs)).unwrap();
        writeln!(out, "s_finished_key: {}", hex(&s.finished_keys[0])).unwrap();
        writeln!(out, "s_finished: {}", hex(&s.finished_macs[0])).unwrap();
        writeln!(out, "prk_ms: {}", hex(&s.prk_ms)).unwrap();
        writeln!(out, "c_finished_key: {}", hex(&s.finished_keys[1])).unwrap();
        writeln!(out, "c_finished: {}", hex(&s.finished_macs[1])).unwrap();
        writeln!(out, "c_traffic_0: {}", hex(&s.traffic[0])).unwrap();
        writeln!(out, "s_traffic_0: {}", hex(&s.traffic[1])).unwrap();
        writeln!(out, "c_traffic_1: {}", hex(&s.traffic_c_epoch1)).unwrap();
        for (label, bytes) in &s.keys {
            writeln!(out, "c_traffic_0 {label}: {}", hex(bytes)).unwrap();
        }
    }
    check("key_schedule.txt", &out);
}

#[test]
fn record_vectors() {
    let c_secret = [0x0cu8; 32];
    let s_secret = [0x05u8; 32];
    let mut out = format!(
        "# handfast v2 records (docs/PROTOCOL.md, section 3), sent by the client.\n\
         # c_traffic_0: {}\n# s_traffic_0: {}\n# key_update_interval: 2 (seq 2 uses epoch 1; a\n\
         # session never negotiates below 1024, but the record layer itself has no floor)\n\
         # Each block: suite, mode, negotiated level, then records in sequence order.\n\
         # 'reject' lines are the preceding record altered as described; a receiver must refuse them.\n",
        hex(&c_secret),
        hex(&s_secret)
    );
    let payload = b"handfast test vector payload";
    for suite in [CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305] {
        for mode in [Mode::Stream, Mode::Datagram] {
            for level in [Integrity, Privacy] {
                let ctx = |role| {
                    dangerous_context_from_secrets(role, suite, mode, level, c_secret, s_secret, 2)
                };
                let (mut tx, mut rx) = (ctx(Role::Initiator), ctx(Role::Responder));
                writeln!(
                    out,
                    "\nsuite: {suite}\nmode: {}\nlevel: {level}",
                    mode.as_str()
                )
                .unwrap();
                let r0 = tx.seal(level, payload).unwrap();
                writeln!(
                    out,
                    "seq 0 data {level} \"{}\": {}",
                    String::from_utf8_lossy(payload),
                    hex(&r0)
                )
                .unwrap();
                let mut bad = r0.clone();
                let last = bad.len() - 1;
                bad[last] ^= 0x80;
                writeln!(out, "reject (seq 0 tag bit flipped): {}", hex(&bad)).unwrap();
                assert!(ctx(Role::Responder).open(&bad).is_err());
                assert_eq!(rx.open(&r0).unwrap(), Some((level, payload.to_vec())));
                // Reflection: the same record is refused by its sender.
                assert!(ctx(Role::Initiator).open(&r0).is_err());

                let second: &[u8] = if level == Integrity { b"signed" } else { b"" };
                let r1 = if level == Integrity {
                    let t = tx.sign(second).unwrap();
                    writeln!(out, "seq 1 signature over \"signed\": {}", hex(&t)).unwrap();
                    rx.verify(second, &t).unwrap();
                    t
                } else {
                    let r = tx.seal(Privacy, second).unwrap();
                    writeln!(out, "seq 1 data privacy \"\": {}", hex(&r)).unwrap();
                    assert_eq!(rx.open(&r).unwrap(), Some((Privacy, Vec::new())));
                    r
                };
                let _ = r1;
                let r2 = tx.close().unwrap();
                writeln!(out, "seq 2 close {level}: {}", hex(&r2)).unwrap();
                assert_eq!(rx.open(&r2).unwrap(), None);
            }
        }
    }
    check("records.txt", &out);
}

#[test]
fn below_level_vector_is_rejected() {
    // An integrity record offered to a privacy session, valid under the integrity key: the
    // receiver refuses it by level, not by tag.
    let ctx = |role, level| {
        dangerous_context_from_secrets(
            role,
            CipherSuite::Aes256Gcm,
            Mode::Stream,
            level,
            [0x0c; 32],
            [0x05; 32],
            2,
        )
    };
    let r = ctx(Role::Initiator, Integrity)
        .seal(Integrity, b"x")
        .unwrap();
    assert_eq!(
        ctx(Role::Responder, Privacy).open(&r),
        Err(handfast::PeerMisbehaved::BelowNegotiatedLevel {
            got: Integrity,
            negotiated: Privacy
        }
        .into())
    );
}

/// The records of a flight, split at their headers.
fn records(flight: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = flight;
    while !rest.is_empty() {
        let len = 4 + ((rest[1] as usize) << 16 | (rest[2] as usize) << 8 | rest[3] as usize);
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    ctx.finish().as_ref().try_into().unwrap()
}

fn fill(e: &mut Entropy) -> [u8; 32] {
    let mut b = [0u8; 32];
    e.fill(&mut b);
    b
}

/// snow's own primitives (X25519 from curve25519-dalek), and no randomness: the ephemeral keys
/// are fixed.
struct NoRandom;

impl snow::types::Random for NoRandom {
    fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), snow::Error> {
        Err(snow::Error::Rng)
    }
}

struct SnowResolver;

impl snow::resolvers::CryptoResolver for SnowResolver {
    fn resolve_rng(&self) -> Option<Box<dyn snow::types::Random>> {
        Some(Box::new(NoRandom))
    }
    fn resolve_dh(&self, c: &snow::params::DHChoice) -> Option<Box<dyn snow::types::Dh>> {
        snow::resolvers::DefaultResolver.resolve_dh(c)
    }
    fn resolve_hash(&self, c: &snow::params::HashChoice) -> Option<Box<dyn snow::types::Hash>> {
        snow::resolvers::DefaultResolver.resolve_hash(c)
    }
    fn resolve_cipher(
        &self,
        c: &snow::params::CipherChoice,
    ) -> Option<Box<dyn snow::types::Cipher>> {
        snow::resolvers::DefaultResolver.resolve_cipher(c)
    }
}

/// The Noise split (k1 || k2) at this point of a snow handshake.
fn split(hs: &mut snow::HandshakeState) -> Vec<u8> {
    let (k1, k2) = hs.dangerously_get_raw_split();
    [k1, k2].concat()
}

#[test]
fn handshake_vectors() {
    let (c_static, s_static, c_entropy, s_entropy) =
        ([0xc1u8; 32], [0x51u8; 32], [0xaau8; 32], [0xbbu8; 32]);
    let server_key = PrivateKey::from_seed(s_static).with_comment("server");
    let client_key = PrivateKey::from_seed(c_static).with_comment("client");
    let client = NoiseMechanism::new(
        client_key.clone(),
        TrustSet::from([server_key.public_key("")]),
    );
    let server = NoiseMechanism::new(
        server_key.clone(),
        TrustSet::from([client_key.public_key("")]),
    );
    let mut cc = ClientConfig::new(Arc::new(client)).with_level(Integrity);
    cc.suites = vec![CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305];
    let mut sc = ServerConfig::new(Arc::new(server)).with_min_level(Privacy);
    sc.suites = cc.suites.clone();
    let now = Instant::now();
    let mut ch = Handshake::client(Arc::new(cc), c_entropy, now).unwrap();
    let mut sh = Handshake::server(Arc::new(sc), s_entropy, now).unwrap();
    let mut flights = Vec::new();
    while !(ch.is_complete() && sh.is_complete()) {
        for from_client in [true, false] {
            let (from, to) = if from_client {
                (&mut ch, &mut sh)
            } else {
                (&mut sh, &mut ch)
            };
            let bytes = from.take_output();
            if !bytes.is_empty() {
                to.handle_input(&bytes).unwrap();
                flights.push(bytes);
            }
        }
    }
    assert_eq!(flights.len(), 3, "one round trip");
    let (mut c, mut s) = (ch.into_context().unwrap(), sh.into_context().unwrap());

    // Entropy: random, then the mechanism's seed; the Noise ephemeral is that seed's first fill.
    let (mut ce, mut se) = (Entropy::new(c_entropy), Entropy::new(s_entropy));
    let (c_random, c_seed) = (fill(&mut ce), fill(&mut ce));
    let (s_random, s_seed) = (fill(&mut se), fill(&mut se));
    let c_eph = fill(&mut Entropy::new(c_seed));
    let s_eph = fill(&mut Entropy::new(s_seed));

    // The same Noise exchange through snow's own X25519 (curve25519-dalek), independently.
    let params: snow::params::NoiseParams = "Noise_XX_25519_ChaChaPoly_SHA256".parse().unwrap();
    let mut ni = snow::Builder::with_resolver(params.clone(), Box::new(SnowResolver))
        .local_private_key(&c_static)
        .unwrap()
        .prologue(b"handfast v2 noise-xx")
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(&c_eph)
        .build_initiator()
        .unwrap();
    let mut nr = snow::Builder::with_resolver(params, Box::new(SnowResolver))
        .local_private_key(&s_static)
        .unwrap()
        .prologue(b"handfast v2 noise-xx")
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(&s_eph)
        .build_responder()
        .unwrap();
    let (mut m1, mut m2, mut m3, mut scratch) = ([0u8; 256], [0u8; 256], [0u8; 256], [0u8; 256]);
    let n1 = ni.write_message(&[], &mut m1).unwrap();
    nr.read_message(&m1[..n1], &mut scratch).unwrap();
    let n2 = nr.write_message(&[], &mut m2).unwrap();
    ni.read_message(&m2[..n2], &mut scratch).unwrap();
    let hs_secret = split(&mut ni);
    assert_eq!(hs_secret, split(&mut nr));
    let n3 = ni.write_message(&[], &mut m3).unwrap();
    nr.read_message(&m3[..n3], &mut scratch).unwrap();
    let final_secret = split(&mut ni);

    // The flights hold exactly these tokens, and the Finished values the schedule gives.
    let (f0, f1, f2) = (
        records(&flights[0]),
        records(&flights[1]),
        records(&flights[2]),
    );
    assert_eq!((f0.len(), f1.len(), f2.len()), (2, 3, 2));
    assert_eq!(&f0[1][5..], &m1[..n1]);
    assert_eq!(&f1[1][5..], &m2[..n2]);
    assert_eq!(&f2[0][5..], &m3[..n3]);
    assert_eq!(&f0[0][7..39], &c_random);
    assert_eq!(&f1[0][7..39], &s_random);
    let h_sfin = sha256(&[f0[0], f0[1], f1[0], f1[1]]);
    let h_cfin = sha256(&[f0[0], f0[1], f1[0], f1[1], f1[2], f2[0]]);
    let h_done = sha256(&[f0[0], f0[1], f1[0], f1[1], f1[2], f2[0], f2[1]]);
    let ks = schedule(&hs_secret, &final_secret, &h_sfin, &h_cfin, &h_done);
    assert_eq!(&f1[2][5..], &ks.finished_macs[0]);
    assert_eq!(&f2[1][5..], &ks.finished_macs[1]);

    let mut out = format!(
        "# handfast v2 handshake with the Noise XX mechanism, fully determined by its inputs\n\
         # (docs/PROTOCOL.md, sections 5-7; tests/vectors/check.py recomputes every line).\n\
         # client: requests integrity, offers AES-256-GCM then CHACHA20-POLY1305, stream mode,\n\
         #   max_record_len 65536, key-update interval 2^22 (the default for 64 KiB records).\n\
         # server: requires privacy, same suites and limits. Negotiated: privacy.\n\
         client static private key: {}\nserver static private key: {}\n\
         client entropy: {}\nserver entropy: {}\n",
        hex(&c_static),
        hex(&s_static),
        hex(&c_entropy),
        hex(&s_entropy)
    );
    for (name, value) in [
        ("client random", &c_random[..]),
        ("client mechanism seed", &c_seed),
        ("client noise ephemeral private key", &c_eph),
        ("server random", &s_random),
        ("server mechanism seed", &s_seed),
        ("server noise ephemeral private key", &s_eph),
    ] {
        writeln!(out, "{name}: {}", hex(value)).unwrap();
    }
    for (i, (who, f)) in ["client", "server", "client"]
        .iter()
        .zip(&flights)
        .enumerate()
    {
        writeln!(out, "flight {i} {who}: {}", hex(f)).unwrap();
    }
    for (name, value) in [
        (
            "noise split after message 2 (handshake secret)",
            &hs_secret[..],
        ),
        ("h_sfin", &h_sfin),
        ("prk_hs", &ks.prk_hs),
        ("s_finished_key", &ks.finished_keys[0]),
        ("noise split after message 3 (final secret)", &final_secret),
        ("h_cfin", &h_cfin),
        ("prk_ms", &ks.prk_ms),
        ("c_finished_key", &ks.finished_keys[1]),
        ("h_done", &h_done),
        ("c_traffic_0", &ks.traffic[0]),
        ("s_traffic_0", &ks.traffic[1]),
    ] {
        writeln!(out, "{name}: {}", hex(value)).unwrap();
    }
    // The client's first record travels with flight 2; the server answers.
    let r = c.seal(Privacy, b"ping").unwrap();
    writeln!(
        out,
        "client seq 0 data privacy \"ping\" (sent with flight 2): {}",
        hex(&r)
    )
    .unwrap();
    assert_eq!(s.open(&r).unwrap(), Some((Privacy, b"ping".to_vec())));
    let r = s.seal(Privacy, b"pong").unwrap();
    writeln!(out, "server seq 0 data privacy \"pong\": {}", hex(&r)).unwrap();
    assert_eq!(c.open(&r).unwrap(), Some((Privacy, b"pong".to_vec())));

    // Negative vectors: flight 1 altered; the client must refuse each before sending flight 2.
    let refuse = |altered: &[u8]| {
        let cc = {
            let client = NoiseMechanism::new(
                client_key.clone(),
                TrustSet::from([server_key.public_key("")]),
            );
            let mut cc = ClientConfig::new(Arc::new(client)).with_level(Integrity);
            cc.suites = vec![CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305];
            cc
        };
        let mut ch = Handshake::client(Arc::new(cc), c_entropy, now).unwrap();
        assert_eq!(ch.take_output(), flights[0]);
        let err = ch.handle_input(altered).unwrap_err();
        assert!(!ch.is_complete());
        err
    };
    let mut flipped = flights[1].clone();
    *flipped.last_mut().unwrap() ^= 0x01;
    assert_eq!(
        refuse(&flipped),
        handfast::PeerMisbehaved::TranscriptMismatch.into()
    );
    writeln!(out, "reject flight 1 with the last bit of the server Finished flipped (transcript mismatch): {}", hex(&flipped)).unwrap();
    // ServerHello: header 4, type 1, version 2, random 32, mechanism 2, then the two levels.
    let levels = 4 + 1 + 2 + 32 + 2;
    let mut downgraded = flights[1].clone();
    assert_eq!(&downgraded[levels..levels + 2], &[2, 2]);
    downgraded[levels..levels + 2].copy_from_slice(&[1, 1]);
    assert_eq!(
        refuse(&downgraded),
        handfast::PeerMisbehaved::TranscriptMismatch.into()
    );
    writeln!(out, "reject flight 1 with the ServerHello downgraded to required and negotiated integrity (transcript mismatch): {}", hex(&downgraded)).unwrap();
    let mut inconsistent = flights[1].clone();
    inconsistent[levels + 1] = 1;
    assert!(matches!(
        refuse(&inconsistent),
        handfast::Error::PeerMisbehaved(handfast::PeerMisbehaved::Downgrade(_))
    ));
    writeln!(out, "reject flight 1 with the ServerHello negotiated level lowered to integrity (downgrade detected): {}", hex(&inconsistent)).unwrap();
    check("handshake.txt", &out);
}

/// The independent Python recomputation (`tests/vectors/check.py`) runs with the Rust tests
/// wherever Python's `cryptography` package is installed, and is required when
/// `HANDFAST_REQUIRE_PYTHON` is set (scripts/test.sh sets it after installing the package).
/// Without Python, the byte-for-byte checks above still hold every vector to the code.
#[test]
fn python_check_recomputes_every_vector() {
    let script = vectors_dir().join("check.py");
    let required = std::env::var_os("HANDFAST_REQUIRE_PYTHON").is_some();
    let available = std::process::Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            !required,
            "python3 with the cryptography package is required"
        );
        eprintln!("python3 with cryptography not found: check.py not run");
        return;
    }
    let out = std::process::Command::new("python3")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
