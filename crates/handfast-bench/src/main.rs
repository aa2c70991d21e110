//! Side-by-side measurements, one process, one run, one thread: the raw AEADs (the ceiling),
//! handfast at both levels, and rustls (TLS 1.3, AES-256-GCM, client certificates) moving the
//! same bytes in memory; and mutual-authentication handshakes per second. Medians over rounds,
//! reported as ratios.
//!
//! ```sh
//! cargo run --release -p handfast-bench              # writes BENCHMARKS.md and BENCHMARKS.svg
//! cargo run --release -p handfast-bench -- --quick --out /tmp/bench   # a smoke run
//! ```

mod chart;
mod handfast_side;
mod raw;
mod report;
mod tls;

use std::path::PathBuf;
use std::time::{Duration, Instant};

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
        let hs = median(plan, || handfast_side::handshakes(plan.round_time));
        println!("handfast handshakes/s: {hs:.0}");
        return Ok(());
    }
    eprintln!(
        "measuring: {} rounds of {:?} per point",
        plan.rounds, plan.round_time
    );
    let series = vec![
        measure("raw AES-256-GCM", plan, |size| {
            raw::rate(size, raw::Op::Gcm, plan.round_time)
        }),
        measure("raw AES-256-GMAC", plan, |size| {
            raw::rate(size, raw::Op::Gmac, plan.round_time)
        }),
        measure("handfast privacy", plan, |size| {
            handfast_side::rate(size, handfast::ProtectionLevel::Privacy, plan.round_time)
        }),
        measure("handfast integrity", plan, |size| {
            handfast_side::rate(size, handfast::ProtectionLevel::Integrity, plan.round_time)
        }),
        measure("rustls TLS 1.3", plan, |size| {
            tls::rate(size, plan.round_time)
        }),
    ];
    eprintln!("handshakes");
    let hs_handfast = median(plan, || handfast_side::handshakes(plan.round_time));
    let hs_rustls = median(plan, || tls::handshakes(plan.round_time));
    let report = report::Report {
        series,
        hs_handfast,
        hs_rustls,
        quick,
    };
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

fn measure(
    name: &'static str,
    plan: Plan,
    mut f: impl FnMut(usize) -> anyhow::Result<f64>,
) -> Series {
    eprintln!("{name}");
    let per_sec = SIZES
        .iter()
        .map(|&size| median(plan, || f(size).unwrap_or(0.0)))
        .collect();
    Series { name, per_sec }
}

fn median(plan: Plan, mut f: impl FnMut() -> f64) -> f64 {
    let mut v: Vec<f64> = (0..plan.rounds).map(|_| f()).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
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
