//! A first micro-benchmark: seal + open throughput per level and message size, one thread,
//! both sides in memory, beside the raw AEAD from the same crypto library (aws-lc-rs) as the
//! ceiling. Reports medians over rounds and the ratio to the raw primitive.
//!
//! ```sh
//! cargo run --release -p handfast --example seal_open
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use handfast::{ClientConfig, Handshake, Opened, ProtectionLevel, SecurityContext, ServerConfig};
use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};

const ROUNDS: usize = 7;
const ROUND_BYTES: usize = 128 << 20;

fn main() {
    println!(
        "seal+open, one thread, median of {ROUNDS} rounds of {} MiB",
        ROUND_BYTES >> 20
    );
    println!(
        "{:<10} {:>8} {:>12} {:>14} {:>8}",
        "level", "size", "handfast MB/s", "raw AEAD MB/s", "ratio"
    );
    for size in [1024usize, 64 * 1024] {
        let raw_gcm = median(|| raw(size, false));
        let raw_gmac = median(|| raw(size, true));
        for level in [ProtectionLevel::Privacy, ProtectionLevel::Integrity] {
            let ours = median(|| handfast(level, size));
            let raw = if level == ProtectionLevel::Privacy {
                raw_gcm
            } else {
                raw_gmac
            };
            println!(
                "{:<10} {:>8} {:>12.0} {:>14.0} {:>8.2}",
                level.as_str(),
                size,
                ours,
                raw,
                ours / raw
            );
        }
    }
    println!("(raw: aws-lc-rs AES-256-GCM seal+open for privacy; AES-256-GMAC, i.e. the AEAD over");
    println!(" associated data only, for integrity; same nonce handling, no framing)");
}

fn median(mut f: impl FnMut() -> f64) -> f64 {
    let mut v: Vec<f64> = (0..ROUNDS).map(|_| f()).collect();
    v.sort_by(f64::total_cmp);
    v[ROUNDS / 2]
}

fn pair() -> (SecurityContext, SecurityContext) {
    let (sk, ck) = (
        PrivateKey::from_seed([1; 32]),
        PrivateKey::from_seed([2; 32]),
    );
    let server = NoiseMechanism::new(sk.clone(), TrustSet::from([ck.public_key("c")]));
    let client = NoiseMechanism::new(ck, TrustSet::from([sk.public_key("s")]));
    let mut cc = ClientConfig::new(Arc::new(client)).with_level(ProtectionLevel::Integrity);
    cc.suites = vec![handfast::CipherSuite::Aes256Gcm];
    let sc = ServerConfig::new(Arc::new(server)).with_min_level(ProtectionLevel::Integrity);
    let now = Instant::now();
    let mut c = Handshake::client(Arc::new(cc), [3; 32], now).unwrap();
    let mut s = Handshake::server(Arc::new(sc), [4; 32], now).unwrap();
    while !(c.is_complete() && s.is_complete()) {
        s.handle_input(&c.take_output()).unwrap();
        c.handle_input(&s.take_output()).unwrap();
    }
    (c.into_context().unwrap(), s.into_context().unwrap())
}

/// MB/s of seal_in_place + open_in_place at `level`.
fn handfast(level: ProtectionLevel, size: usize) -> f64 {
    let (mut c, mut s) = pair();
    let sizes = c.sizes();
    let mut buf = vec![0x42u8; sizes.header + size + sizes.trailer];
    let n = ROUND_BYTES / size;
    let start = Instant::now();
    for _ in 0..n {
        c.seal_in_place(level, &mut buf).unwrap();
        match s.open_in_place(&mut buf).unwrap() {
            Opened::Data { payload, .. } => {
                black_box(payload);
            }
            _ => unreachable!(),
        }
    }
    rate(n * size, start.elapsed())
}

fn rate(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

/// MB/s of the bare AEAD (aws-lc-rs, the library handfast uses): seal + open with counter
/// nonces, no framing.
fn raw(size: usize, mac_only: bool) -> f64 {
    use aws_lc_rs::aead as a;
    let key = a::LessSafeKey::new(a::UnboundKey::new(&a::AES_256_GCM, &[7; 32]).unwrap());
    let mut buf = vec![0x42u8; size];
    let n = ROUND_BYTES / size;
    let nonce = |i: usize| {
        let mut b = [0u8; 12];
        b[4..].copy_from_slice(&(i as u64).to_be_bytes());
        a::Nonce::assume_unique_for_key(b)
    };
    let start = Instant::now();
    for i in 0..n {
        if mac_only {
            let tag = key
                .seal_in_place_separate_tag(nonce(i), a::Aad::from(&buf[..]), &mut [])
                .unwrap();
            key.open_in_place_separate_tag(nonce(i), a::Aad::from(&buf[..]), tag.as_ref(), &mut [])
                .unwrap();
        } else {
            let tag = key
                .seal_in_place_separate_tag(nonce(i), a::Aad::from(&[0u8; 4]), &mut buf)
                .unwrap();
            key.open_in_place_separate_tag(
                nonce(i),
                a::Aad::from(&[0u8; 4]),
                tag.as_ref(),
                &mut buf,
            )
            .unwrap();
        }
        black_box(&buf);
    }
    rate(n * size, start.elapsed())
}
