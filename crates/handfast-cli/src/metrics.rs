//! `--metrics ADDR`: counters and a histogram per service, served in the Prometheus text
//! format at `http://ADDR/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{info, warn};

/// Why a handshake failed, as counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The peer's key is not trusted, or authorization refused it.
    Untrusted,
    /// A handshake byte was altered (transcript mismatch, downgrade).
    Tampering,
    /// The handshake did not finish in time.
    Timeout,
    /// The peer closed or reset the connection during the handshake.
    Closed,
    /// Anything else the protocol refused (malformed input, no common suite, an alert).
    Protocol,
    /// Dropped from the pre-authentication budget to make room.
    Evicted,
}

impl Failure {
    const ALL: [Self; 6] = [
        Self::Untrusted,
        Self::Tampering,
        Self::Timeout,
        Self::Closed,
        Self::Protocol,
        Self::Evicted,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Untrusted => "untrusted",
            Self::Tampering => "tampering",
            Self::Timeout => "timeout",
            Self::Closed => "closed",
            Self::Protocol => "protocol",
            Self::Evicted => "evicted",
        }
    }

    /// The category of a failed handshake.
    pub(crate) fn of(e: &handfast_tokio::HandshakeError) -> Self {
        use handfast_tokio::HandshakeError as H;
        match e {
            _ if e.is_tampering() => Self::Tampering,
            H::Timeout => Self::Timeout,
            H::Closed | H::Io(_) => Self::Closed,
            H::Protocol(handfast::Error::PolicyRejected(
                handfast::PolicyRejected::PeerNotTrusted(_),
            ))
            | H::Protocol(handfast::Error::AlertReceived(handfast::AlertCode::AccessDenied)) => {
                Self::Untrusted
            }
            _ => Self::Protocol,
        }
    }
}

/// Why an authenticated connection was refused, or a connection could not be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Server: `max_connections` sessions already; client: as many local connections.
    TooManySessions,
    /// The service (server) or the handfast server (client) could not be reached.
    Unreachable,
}

impl Refusal {
    const ALL: [Self; 2] = [Self::TooManySessions, Self::Unreachable];

    fn label(self) -> &'static str {
        match self {
            Self::TooManySessions => "too_many_sessions",
            Self::Unreachable => "unreachable",
        }
    }
}

/// Upper bounds of the handshake-duration buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The counters of one service.
#[derive(Default)]
pub(crate) struct ServiceMetrics {
    sessions_open: AtomicI64,
    handshakes_in_progress: AtomicI64,
    handshakes_completed: AtomicU64,
    handshakes_failed: [AtomicU64; 6],
    refused: [AtomicU64; 2],
    /// [level: integrity, privacy][direction: to peer, from peer]
    bytes: [[AtomicU64; 2]; 2],
    key_updates: AtomicU64,
    handshake_buckets: [AtomicU64; 12],
    handshake_count: AtomicU64,
    handshake_micros: AtomicU64,
}

impl ServiceMetrics {
    pub(crate) fn handshake_started(&self) {
        self.handshakes_in_progress.fetch_add(1, Ordering::Relaxed);
    }

    /// A handshake ended; `took` is its duration, `failure` its reason if it failed.
    pub(crate) fn handshake_ended(&self, took: Duration, failure: Option<Failure>) {
        self.handshakes_in_progress.fetch_sub(1, Ordering::Relaxed);
        match failure {
            Some(f) => {
                let i = Failure::ALL.iter().position(|x| *x == f).unwrap_or(0);
                self.handshakes_failed[i].fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.handshakes_completed.fetch_add(1, Ordering::Relaxed);
                let secs = took.as_secs_f64();
                for (bucket, bound) in self.handshake_buckets.iter().zip(BUCKETS) {
                    if secs <= bound {
                        bucket.fetch_add(1, Ordering::Relaxed);
                    }
                }
                self.handshake_count.fetch_add(1, Ordering::Relaxed);
                self.handshake_micros
                    .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn refused(&self, r: Refusal) {
        let i = Refusal::ALL.iter().position(|x| *x == r).unwrap_or(0);
        self.refused[i].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn session_opened(&self) {
        self.sessions_open.fetch_add(1, Ordering::Relaxed);
    }

    /// A session ended, having carried these bytes at `level` and updated its keys `updates`
    /// times.
    pub(crate) fn session_closed(
        &self,
        level: handfast::ProtectionLevel,
        sent: u64,
        received: u64,
        updates: u64,
    ) {
        self.sessions_open.fetch_sub(1, Ordering::Relaxed);
        let l = usize::from(level == handfast::ProtectionLevel::Privacy);
        self.bytes[l][0].fetch_add(sent, Ordering::Relaxed);
        self.bytes[l][1].fetch_add(received, Ordering::Relaxed);
        self.key_updates.fetch_add(updates, Ordering::Relaxed);
    }
}

/// Every service's counters, by service name.
#[derive(Default)]
pub(crate) struct Metrics(Mutex<BTreeMap<String, Arc<ServiceMetrics>>>);

impl Metrics {
    /// The counters of the service named `name` (created on first use).
    pub(crate) fn service(&self, name: &str) -> Arc<ServiceMetrics> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(name.to_owned()).or_default().clone()
    }

    /// The Prometheus text exposition of everything.
    pub(crate) fn render(&self) -> String {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = String::new();
        let mut family =
            |name: &str,
             kind: &str,
             help: &str,
             rows: &mut dyn FnMut(&mut String, &str, &ServiceMetrics)| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                for (svc, m) in &map {
                    rows(&mut out, svc, m);
                }
            };
        family(
            "handfast_sessions_open",
            "gauge",
            "Authenticated sessions open now.",
            &mut |o, s, m| {
                let _ = writeln!(
                    o,
                    "handfast_sessions_open{{service=\"{s}\"}} {}",
                    m.sessions_open.load(Ordering::Relaxed)
                );
            },
        );
        family(
            "handfast_handshakes_in_progress",
            "gauge",
            "Connections not yet authenticated.",
            &mut |o, s, m| {
                let _ = writeln!(
                    o,
                    "handfast_handshakes_in_progress{{service=\"{s}\"}} {}",
                    m.handshakes_in_progress.load(Ordering::Relaxed)
                );
            },
        );
        family(
            "handfast_handshakes_completed_total",
            "counter",
            "Handshakes that authenticated the peer.",
            &mut |o, s, m| {
                let _ = writeln!(
                    o,
                    "handfast_handshakes_completed_total{{service=\"{s}\"}} {}",
                    m.handshakes_completed.load(Ordering::Relaxed)
                );
            },
        );
        family(
            "handfast_handshakes_failed_total",
            "counter",
            "Handshakes that failed, by reason.",
            &mut |o, s, m| {
                for (f, n) in Failure::ALL.iter().zip(&m.handshakes_failed) {
                    let _ = writeln!(
                        o,
                        "handfast_handshakes_failed_total{{service=\"{s}\",reason=\"{}\"}} {}",
                        f.label(),
                        n.load(Ordering::Relaxed)
                    );
                }
            },
        );
        family(
            "handfast_refused_total",
            "counter",
            "Connections refused or not served after the handshake, by reason.",
            &mut |o, s, m| {
                for (r, n) in Refusal::ALL.iter().zip(&m.refused) {
                    let _ = writeln!(
                        o,
                        "handfast_refused_total{{service=\"{s}\",reason=\"{}\"}} {}",
                        r.label(),
                        n.load(Ordering::Relaxed)
                    );
                }
            },
        );
        family(
            "handfast_bytes_total",
            "counter",
            "Application bytes carried by closed sessions, by level and direction.",
            &mut |o, s, m| {
                for (l, level) in ["integrity", "privacy"].iter().enumerate() {
                    for (d, dir) in ["to_peer", "from_peer"].iter().enumerate() {
                        let _ = writeln!(
                            o,
                            "handfast_bytes_total{{service=\"{s}\",level=\"{level}\",direction=\"{dir}\"}} {}",
                            m.bytes[l][d].load(Ordering::Relaxed)
                        );
                    }
                }
            },
        );
        family(
            "handfast_key_updates_total",
            "counter",
            "Key updates (ratchet steps) of closed sessions, both directions.",
            &mut |o, s, m| {
                let _ = writeln!(
                    o,
                    "handfast_key_updates_total{{service=\"{s}\"}} {}",
                    m.key_updates.load(Ordering::Relaxed)
                );
            },
        );
        family(
            "handfast_handshake_duration_seconds",
            "histogram",
            "Duration of successful handshakes.",
            &mut |o, s, m| {
                for (b, bound) in m.handshake_buckets.iter().zip(BUCKETS) {
                    let _ = writeln!(
                        o,
                        "handfast_handshake_duration_seconds_bucket{{service=\"{s}\",le=\"{bound}\"}} {}",
                        b.load(Ordering::Relaxed)
                    );
                }
                let count = m.handshake_count.load(Ordering::Relaxed);
                let _ = writeln!(
                    o,
                    "handfast_handshake_duration_seconds_bucket{{service=\"{s}\",le=\"+Inf\"}} {count}"
                );
                let _ = writeln!(
                    o,
                    "handfast_handshake_duration_seconds_sum{{service=\"{s}\"}} {}",
                    m.handshake_micros.load(Ordering::Relaxed) as f64 / 1e6
                );
                let _ = writeln!(
                    o,
                    "handfast_handshake_duration_seconds_count{{service=\"{s}\"}} {count}"
                );
            },
        );
        out
    }
}

/// Serves `GET /metrics` on `listener` until the process ends. Requests are bounded (8 KiB
/// of head, 5 s), one response per connection.
pub(crate) async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    if let Ok(addr) = listener.local_addr() {
        info!("metrics: serving the Prometheus text format at http://{addr}/metrics");
    }
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut head = Vec::with_capacity(512);
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                true
            })
            .await;
            if read != Ok(true) {
                return;
            }
            let request = String::from_utf8_lossy(&head);
            let target = request.split_whitespace().take(2).collect::<Vec<_>>();
            let (status, body) = match target.as_slice() {
                ["GET", "/metrics"] => ("200 OK", metrics.render()),
                ["GET", _] => (
                    "404 Not Found",
                    "not found: the metrics are at /metrics\n".into(),
                ),
                _ => ("405 Method Not Allowed", "only GET\n".into()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            if let Err(e) = tcp.write_all(response.as_bytes()).await {
                warn!("metrics: cannot answer: {e}");
            }
            let _ = tcp.shutdown().await;
        });
    }
}
