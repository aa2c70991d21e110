//! Known-answer vectors: `tests/vectors/*.txt` are checked byte for byte against the code.
//!
//! The files are produced by this module; set `HANDFAST_REGENERATE_VECTORS=1` to rewrite them
//! after an intended change of the wire format (and then update `docs/PROTOCOL.md`).
//! `tests/vectors/check.py` recomputes them independently from the protocol document.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use handfast::vectors::{dangerous_context_from_secrets, schedule};
use handfast::{CipherSuite, ClientConfig, Handshake, Mode, ProtectionLevel, Role, ServerConfig};
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
        "# handfast v1 key schedule (docs/PROTOCOL.md, \"Key schedule\").\n\
         # Inputs: secret, h_mech, h_client_finished. Everything else is derived.\n",
    );
    for (secret, hm, hc) in [
        (seq_bytes(64, 0x00), [0x11u8; 32], [0x22u8; 32]),
        (seq_bytes(32, 0xa0), [0x5au8; 32], [0xc3u8; 32]),
    ] {
        let s = schedule(&secret, &hm, &hc);
        writeln!(out, "\nsecret: {}", hex(&secret)).unwrap();
        writeln!(out, "h_mech: {}", hex(&hm)).unwrap();
        writeln!(out, "h_client_finished: {}", hex(&hc)).unwrap();
        writeln!(out, "prk: {}", hex(&s.prk)).unwrap();
        writeln!(out, "c_finished_key: {}", hex(&s.finished_keys[0])).unwrap();
        writeln!(out, "s_finished_key: {}", hex(&s.finished_keys[1])).unwrap();
        writeln!(out, "c_finished: {}", hex(&s.finished_macs[0])).unwrap();
        writeln!(out, "s_finished: {}", hex(&s.finished_macs[1])).unwrap();
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
        "# handfast v1 records (docs/PROTOCOL.md, \"Records\"), sent by the client.\n\
         # c_traffic_0: {}\n# s_traffic_0: {}\n# key_update_interval: 2 (seq 2 uses epoch 1)\n\
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

#[test]
fn handshake_vectors() {
    let server_key = PrivateKey::from_seed([0x51; 32]).with_comment("server");
    let client_key = PrivateKey::from_seed([0xc1; 32]).with_comment("client");
    let mut out = format!(
        "# handfast v1 handshake with the Noise XX mechanism, fully determined by its inputs.\n\
         # client static private key: {}\n# server static private key: {}\n\
         # client entropy: {}\n# server entropy: {}\n\
         # client: requests integrity, AES-256-GCM then CHACHA20-POLY1305, stream, defaults.\n\
         # server: requires integrity, defaults.\n",
        hex(&[0xc1; 32]),
        hex(&[0x51; 32]),
        hex(&[0xaa; 32]),
        hex(&[0xbb; 32])
    );
    let client = NoiseMechanism::new(
        client_key.clone(),
        TrustSet::from([server_key.public_key("")]),
    );
    let server = NoiseMechanism::new(server_key, TrustSet::from([client_key.public_key("")]));
    let mut cc = ClientConfig::new(Arc::new(client)).with_level(Integrity);
    cc.suites = vec![CipherSuite::Aes256Gcm, CipherSuite::ChaCha20Poly1305];
    let mut sc = ServerConfig::new(Arc::new(server)).with_min_level(Integrity);
    sc.suites = cc.suites.clone();
    let now = Instant::now();
    let mut ch = Handshake::client(Arc::new(cc), [0xaa; 32], now).unwrap();
    let mut sh = Handshake::server(Arc::new(sc), [0xbb; 32], now).unwrap();
    let mut flight = 0;
    while !(ch.is_complete() && sh.is_complete()) {
        for from_client in [true, false] {
            let (name, from, to) = if from_client {
                ("client", &mut ch, &mut sh)
            } else {
                ("server", &mut sh, &mut ch)
            };
            let bytes = from.take_output();
            if !bytes.is_empty() {
                writeln!(out, "flight {flight} {name}: {}", hex(&bytes)).unwrap();
                flight += 1;
                to.handle_input(&bytes).unwrap();
            }
        }
    }
    let (mut c, mut s) = (ch.into_context().unwrap(), sh.into_context().unwrap());
    let r = c.seal(Integrity, b"ping").unwrap();
    writeln!(out, "client seq 0 data integrity \"ping\": {}", hex(&r)).unwrap();
    assert_eq!(s.open(&r).unwrap(), Some((Integrity, b"ping".to_vec())));
    let r = s.seal(Privacy, b"pong").unwrap();
    writeln!(out, "server seq 0 data privacy \"pong\": {}", hex(&r)).unwrap();
    assert_eq!(c.open(&r).unwrap(), Some((Privacy, b"pong".to_vec())));
    check("handshake.txt", &out);
}
