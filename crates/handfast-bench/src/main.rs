//! Side-by-side measurements, one process, one run, one thread: the raw AEADs (the ceiling),
//! handfast at both levels, and rustls (TLS 1.3, AES-256-GCM, client certificates) moving the
//! same bytes in memory; and mutual-authentication handshakes per second. Medians over rounds,
//! reported as ratios.
//!
//! ```sh
//! cargo run --release -p handfast-bench              # writes BENCHMARKS.md and BENCHMARKS.svg
//! cargo run --release -p handfast-bench -- --quick --out /tmp/bench   # a smoke run
//! ```
//!
//! It also carries the pieces of `bench/latency.sh` (`echo`, `delay`, `first-reply`).

mod chart;
mod handfast_side;
mod latency;
mod raw;
mod report;
mod tls;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use handfast_side::Mech::{Noise, X509};

/// Message sizes compared.
pub(crate) const SIZES: [usize; 4] = [64, 1024, 16 * 1024, 256 * 1024];

/// How long each measurement runs, and how many times.
#[derive(Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) rounds: usize,
    pub(crate) round_time: Duration,
}

/// One measured series: messages per second at each size.
pub(crate) struct Series {
    pub(crate) name: &'static str,
    pub(crate) per_sec: Vec<f64>,
}

impl Series {
    pub(crate) fn mb_per_sec(&self, i: usize) -> f64 {
        self.per_sec.get(i).copied().unwrap_or(0.0) * SIZES[i] as f64 / 1e6
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    // The pieces of bench/latency.sh.
    match args.first().map(String::as_str) {
        Some("echo") => return latency::echo(flag("--listen").unwrap_or("127.0.0.1:0")),
        Some("delay") => {
            let ms: f64 = flag("--delay-ms").unwrap_or("0").parse()?;
            return latency::delay(
                flag("--listen").unwrap_or("127.0.0.1:0"),
                flag("--connect").unwrap_or("127.0.0.1:0"),
                Duration::from_secs_f64(ms / 1e3),
            );
        }
        Some("first-reply") => {
            let ms = latency::first_reply(flag("--connect").unwrap_or("127.0.0.1:0"))?;
            println!("{ms:.3}");
            return Ok(());
        }
        _ => {}
    }
    let quick = args.iter().any(|a| a == "--quick");
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."));
    let plan = if quick {
        Plan {
            rounds: 1,
            round_time: Duration::from_millis(20),
        }
    } else {
        Plan {
            rounds: 7,
            round_time: Duration::from_millis(300),
        }
    };
    let start = Instant::now();
    if args.iter().any(|a| a == "--handshakes-only") {
        // For profiling the handshake alone.
        let hs = middle(
            (0..plan.rounds)
                .map(|_| handfast_side::handshakes(handfast_side::Mech::Noise, plan.round_time))
                .collect(),
        );
        println!("handfast handshakes/s: {hs:.0}");
        return Ok(());
    }
    eprintln!(
        "measuring: {} rounds of {:?} per point",
        plan.rounds, plan.round_time
    );
    // Warm up (CPU frequency, caches, allocator) so that the first series is not penalized.
    let warm_up = if quick {
        Duration::ZERO
    } else {
        Duration::from_secs(2)
    };
    let _ = raw::rate(16 * 1024, raw::Op::Gcm, warm_up);
    // Each round measures every contender once, in turn, so that the machine's noise falls on
    // all of them alike; each point is the median over rounds.
    type Contender = (&'static str, Box<dyn Fn(usize) -> anyhow::Result<f64>>);
    let t = plan.round_time;
    let contenders: Vec<Contender> = vec![
        (
            "raw AES-256-GCM",
            Box::new(move |size| raw::rate(size, raw::Op::Gcm, t)),
        ),
        (
            "raw AES-256-GMAC",
            Box::new(move |size| raw::rate(size, raw::Op::Gmac, t)),
        ),
        (
            "handfast privacy",
            Box::new(move |size| {
                handfast_side::rate(Noise, size, handfast::ProtectionLevel::Privacy, t)
            }),
        ),
        (
            "handfast integrity",
            Box::new(move |size| {
                handfast_side::rate(Noise, size, handfast::ProtectionLevel::Integrity, t)
            }),
        ),
        (
            "handfast x509 privacy",
            Box::new(move |size| {
                handfast_side::rate(X509, size, handfast::ProtectionLevel::Privacy, t)
            }),
        ),
        (
            "handfast x509 integrity",
            Box::new(move |size| {
                handfast_side::rate(X509, size, handfast::ProtectionLevel::Integrity, t)
            }),
        ),
        ("rustls TLS 1.3", Box::new(move |size| tls::rate(size, t))),
    ];
    let mut samples = vec![vec![Vec::new(); SIZES.len()]; contenders.len()];
    for (k, &size) in SIZES.iter().enumerate() {
        eprintln!("{size}-byte messages");
        for _ in 0..plan.rounds {
            for (c, (_, f)) in contenders.iter().enumerate() {
                samples[c][k].push(f(size).unwrap_or(0.0));
            }
        }
    }
    let series = contenders
        .iter()
        .zip(samples)
        .map(|((name, _), per_size)| Series {
            name,
            per_sec: per_size.into_iter().map(middle).collect(),
        })
        .collect();
    eprintln!("handshakes");
    let (mut hf, mut hx, mut tl) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..plan.rounds {
        hf.push(handfast_side::handshakes(Noise, t));
        hx.push(handfast_side::handshakes(X509, t));
        tl.push(tls::handshakes(t));
    }
    let report = report::Report {
        series,
        hs_handfast: middle(hf),
        hs_x509: middle(hx),
        hs_rustls: middle(tl),
        quick,
    };
    // A contender that failed measured nothing: say so rather than report a zero.
    for s in &report.series {
        anyhow::ensure!(
            s.per_sec.iter().all(|&r| r > 0.0),
            "{} failed to run",
            s.name
        );
    }
    anyhow::ensure!(
        report.hs_handfast > 0.0 && report.hs_x509 > 0.0 && report.hs_rustls > 0.0,
        "a handshake series failed to run"
    );
    std::fs::create_dir_all(&out)?;
    let md = out.join("BENCHMARKS.md");
    report::write(&report, &md)?;
    chart::draw(&report, &out.join("BENCHMARKS.svg"))?;
    println!("{}", report.table());
    eprintln!(
        "wrote {} and BENCHMARKS.svg in {:?}",
        md.display(),
        start.elapsed()
    );
    Ok(())
}

/// The median of some samples.
fn middle(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Runs `f` in batches until `time` has passed; returns calls per second.
pub(crate) fn per_second(
    time: Duration,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < time {
        for _ in 0..16 {
            f()?;
        }
        n += 16;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}
