//! `handfast bench`: what this machine does, in memory, one thread.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use handfast::{
    CipherSuite, ClientConfig, Handshake, Limits, Mode, Opened, ProtectionLevel, SecurityContext,
    ServerConfig,
};
use handfast_noise::{NoiseMechanism, TrustSet};

use crate::keys;

const SIZES: [usize; 4] = [64, 1024, 16 * 1024, 256 * 1024];
const ROUNDS: usize = 5;
const ROUND_TIME: Duration = Duration::from_millis(200);

pub(crate) fn run() -> anyhow::Result<()> {
    let suite = CipherSuite::preferred()[0];
    let steps = SIZES.len() * 2 + 1;
    // Drawn on stderr only when it is a terminal (indicatif hides it otherwise).
    let progress = indicatif::ProgressBar::new(steps as u64).with_style(
        indicatif::ProgressStyle::with_template("[{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("#>."),
    );
    let mut rows = Vec::new();
    for level in [ProtectionLevel::Privacy, ProtectionLevel::Integrity] {
        for size in SIZES {
            progress.set_message(format!("{level} {}", human(size)));
            let (mut c, mut s) = pair(suite, Mode::Stream)?;
            let per_sec = median(|| seal_open_rate(&mut c, &mut s, level, size));
            rows.push((level, size, per_sec));
            progress.inc(1);
        }
    }
    progress.set_message("handshakes");
    let handshakes = median(|| handshake_rate(suite).unwrap_or(0.0));
    progress.finish_and_clear();

    let (c, _) = pair(suite, Mode::Stream)?;
    let (d, _) = pair(suite, Mode::Datagram)?;
    let stream = c.sizes();
    let datagram = d.sizes();
    println!(
        "handfast bench: one thread, both sides in memory, median of {ROUNDS} rounds; suite {suite}"
    );
    println!();
    println!(
        "{:<10} {:>9} {:>12} {:>14}",
        "level", "message", "MB/s", "messages/s"
    );
    for (level, size, per_sec) in &rows {
        println!(
            "{:<10} {:>9} {:>12.0} {:>14.0}",
            level.as_str(),
            human(*size),
            per_sec * *size as f64 / 1e6,
            per_sec
        );
    }
    println!();
    println!("mutual handshakes (noise-xx-25519, both sides): {handshakes:.0}/s");
    println!(
        "overhead per record: {} bytes in stream mode ({}-byte header + {}-byte tag), {} in datagram mode",
        stream.header + stream.trailer,
        stream.header,
        stream.trailer,
        datagram.header + datagram.trailer
    );
    println!("(seal + open of one message each; MB/s counts each message once)");
    Ok(())
}

fn human(size: usize) -> String {
    if size >= 1024 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

fn median(mut f: impl FnMut() -> f64) -> f64 {
    let mut v: Vec<f64> = (0..ROUNDS).map(|_| f()).collect();
    v.sort_by(f64::total_cmp);
    v[ROUNDS / 2]
}

fn configs(
    suite: CipherSuite,
    mode: Mode,
) -> anyhow::Result<(Arc<ClientConfig>, Arc<ServerConfig>)> {
    let (sk, ck) = (keys::generate()?, keys::generate()?);
    let mut limits = Limits::default();
    limits.max_record_len = 256 * 1024;
    let server = NoiseMechanism::new(sk.clone(), TrustSet::from([ck.public_key("bench-client")]));
    let client = NoiseMechanism::new(ck, TrustSet::from([sk.public_key("bench-server")]));
    let mut c = ClientConfig::new(Arc::new(client)).with_level(ProtectionLevel::Integrity);
    c.suites = vec![suite];
    c.mode = mode;
    c.limits = limits.clone();
    let mut s = ServerConfig::new(Arc::new(server)).with_min_level(ProtectionLevel::Integrity);
    s.modes = vec![Mode::Stream, Mode::Datagram];
    s.limits = limits;
    Ok((Arc::new(c), Arc::new(s)))
}

fn connect(
    c: &Arc<ClientConfig>,
    s: &Arc<ServerConfig>,
) -> anyhow::Result<(SecurityContext, SecurityContext)> {
    let now = Instant::now();
    let mut ch = Handshake::client(c.clone(), entropy()?, now)?;
    let mut sh = Handshake::server(s.clone(), entropy()?, now)?;
    while !(ch.is_complete() && sh.is_complete()) {
        sh.handle_input(&ch.take_output())?;
        ch.handle_input(&sh.take_output())?;
    }
    Ok((ch.into_context()?, sh.into_context()?))
}

/// Fresh entropy per handshake, as real callers use.
fn entropy() -> anyhow::Result<[u8; 32]> {
    use aws_lc_rs::rand::SecureRandom;
    let mut seed = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| anyhow::anyhow!("the operating system's random source failed"))?;
    Ok(seed)
}

fn pair(suite: CipherSuite, mode: Mode) -> anyhow::Result<(SecurityContext, SecurityContext)> {
    let (c, s) = configs(suite, mode)?;
    connect(&c, &s)
}

/// Messages per second of seal_in_place + open_in_place.
fn seal_open_rate(
    c: &mut SecurityContext,
    s: &mut SecurityContext,
    level: ProtectionLevel,
    size: usize,
) -> f64 {
    let sizes = c.sizes();
    let mut buf = vec![0x5au8; sizes.header + size + sizes.trailer];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < ROUND_TIME {
        for _ in 0..64 {
            if c.seal_in_place(level, &mut buf).is_err() {
                return 0.0;
            }
            match s.open_in_place(&mut buf) {
                Ok(Opened::Data { payload, .. }) => {
                    black_box(payload);
                }
                _ => return 0.0,
            }
        }
        n += 64;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn handshake_rate(suite: CipherSuite) -> anyhow::Result<f64> {
    let (c, s) = configs(suite, Mode::Stream)?;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < ROUND_TIME {
        black_box(connect(&c, &s)?);
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}
