//! What a forged datagram costs the receiver, against a genuine one, by the key epoch it
//! claims. The keys of the next two epochs are derived in advance, so a forgery costs one AEAD
//! check whatever epoch it names, never a key derivation.
//!
//! ```sh
//! cargo run --release -p handfast --example forged_datagrams
//! ```

#![allow(clippy::expect_used)] // A benchmark: any failure is a bug to stop at.

use std::time::Instant;

use handfast::mechanism::Role;
use handfast::vectors::dangerous_context_from_secrets;
use handfast::{CipherSuite, Mode, ProtectionLevel, SecurityContext};

const INTERVAL: u64 = 4096;
const N: usize = 200_000;

fn context(role: Role) -> SecurityContext {
    dangerous_context_from_secrets(
        role,
        CipherSuite::Aes256Gcm,
        Mode::Datagram,
        ProtectionLevel::Privacy,
        [1; 32],
        [2; 32],
        INTERVAL,
    )
}

/// Nanoseconds per call of `f`, the median of 5 rounds of `N` calls.
fn ns_per_op(mut f: impl FnMut(usize)) -> f64 {
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            for i in 0..N {
                f(i);
            }
            start.elapsed().as_nanos() as f64 / N as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

fn main() {
    let payload = [7u8; 64];
    // Genuine: a fresh receiver per round would dominate, so open a long run of records.
    let mut tx = context(Role::Initiator);
    let records: Vec<Vec<u8>> = (0..N * 5)
        .map(|_| tx.seal(ProtectionLevel::Privacy, &payload).expect("seal"))
        .collect();
    let mut rx = context(Role::Responder);
    let mut next = 0;
    let genuine = ns_per_op(|_| {
        rx.open(&records[next]).expect("genuine record");
        next += 1;
    });
    println!("genuine datagram (64 B, privacy): {genuine:.0} ns");
    for ahead in 0..=2u64 {
        let mut rx = context(Role::Responder);
        let mut forged = records[0].clone();
        let seq = ahead * INTERVAL + 17;
        forged[1..9].copy_from_slice(&seq.to_be_bytes());
        let ns = ns_per_op(|_| {
            assert!(rx.open(&forged).is_err());
        });
        println!(
            "forged datagram {ahead} epoch(s) ahead: {ns:.0} ns ({:.2}x a genuine one)",
            ns / genuine
        );
    }
}
