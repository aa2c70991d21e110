//! A client's sessions to its server: opened when a local connection needs one, or kept
//! ready with `client --warm N`, so that a new local connection pays no handshake.
//!
//! A warm session holds no service connection: the server opens its connection to the service
//! only when the client assigns the session to a local connection, which the client signals at
//! once with its first record (an empty data record when the application has not spoken yet,
//! so that services that speak first still get their connection). Warm sessions count against
//! the server's session limit; each serves exactly one local connection and is replaced as it
//! is used. A session older than the refresh age is closed cleanly (the authenticated close)
//! and replaced, so none meets an idle timeout.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use handfast_tokio::{HandshakeError, Stream};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::metrics::{Failure, Refusal};
use crate::service::ClientService;
use crate::socket::tune_tunnel_socket;

/// A warm session is replaced after this long (or half the client's idle timeout, if less).
const REFRESH: Duration = Duration::from_secs(30);

/// The ready sessions of one client service.
pub(crate) struct WarmPool {
    size: usize,
    refresh: Duration,
    sessions: Mutex<VecDeque<(Instant, Stream<TcpStream>)>>,
    taken: Notify,
}

impl WarmPool {
    pub(crate) fn new(size: usize, idle_timeout: Option<Duration>) -> Self {
        Self {
            size,
            refresh: idle_timeout.map_or(REFRESH, |t| (t / 2).min(REFRESH)),
            sessions: Mutex::default(),
            taken: Notify::new(),
        }
    }

    /// A ready session, if one is usable; its place is refilled in the background.
    pub(crate) fn take(&self) -> Option<Stream<TcpStream>> {
        let mut sessions = self.lock();
        while let Some((born, mut s)) = sessions.pop_front() {
            if born.elapsed() < self.refresh && s.is_usable() {
                drop(sessions);
                self.taken.notify_one();
                return Some(s);
            }
        }
        drop(sessions);
        self.taken.notify_one();
        None
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Instant, Stream<TcpStream>)>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `size` sessions ready until told to stop, then closes them.
    pub(crate) async fn keep(
        self: Arc<Self>,
        svc: Arc<ClientService>,
        mut stop: watch::Receiver<bool>,
    ) {
        info!(
            "{}: keeping {} warm session(s) to {}",
            svc.name, self.size, svc.options.connect
        );
        let mut backoff = Duration::from_millis(100);
        loop {
            // Retire sessions that are too old or no longer usable.
            let stale: Vec<_> = {
                let mut sessions = self.lock();
                let mut keep = VecDeque::with_capacity(self.size);
                let mut stale = Vec::new();
                for (born, mut s) in sessions.drain(..) {
                    if born.elapsed() < self.refresh && s.is_usable() {
                        keep.push_back((born, s));
                    } else {
                        stale.push(s);
                    }
                }
                *sessions = keep;
                stale
            };
            for s in stale {
                tokio::spawn(retire(s));
            }
            let missing = self.size.saturating_sub(self.lock().len());
            for _ in 0..missing {
                match open(&svc).await {
                    Ok(s) => {
                        self.lock().push_back((Instant::now(), s));
                        backoff = Duration::from_millis(100);
                    }
                    Err(why) => {
                        warn!(
                            "{}: warm session not opened: {why}; retrying in {backoff:?}",
                            svc.name
                        );
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            _ = stop.changed() => break,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        break;
                    }
                }
            }
            if *stop.borrow() {
                break;
            }
            // Wake when a session is taken, or when the oldest is due for refresh.
            let next_refresh = self.lock().front().map_or(self.refresh, |(born, _)| {
                self.refresh.saturating_sub(born.elapsed())
            });
            tokio::select! {
                () = self.taken.notified() => {}
                () = tokio::time::sleep(next_refresh.max(Duration::from_millis(10))) => {}
                _ = stop.changed() => break,
            }
        }
        let sessions: Vec<_> = self.lock().drain(..).collect();
        for (_, s) in sessions {
            retire(s).await;
        }
    }
}

/// Closes an unused session cleanly: the server retires it without opening a service
/// connection.
async fn retire(mut s: Stream<TcpStream>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), s.shutdown()).await;
}

/// A new session to the client's server: TCP, then the handshake. The error says which step
/// failed.
pub(crate) async fn open(svc: &ClientService) -> Result<handfast_tokio::Stream<TcpStream>, String> {
    let m = &svc.metrics;
    let start = Instant::now();
    let tcp = match TcpStream::connect(&svc.options.connect).await {
        Ok(t) => t,
        Err(e) => {
            m.refused(Refusal::Unreachable);
            return Err(format!(
                "closed: server {} unreachable: {e}",
                svc.options.connect
            ));
        }
    };
    tune_tunnel_socket(&tcp, &svc.tuning);
    m.handshake_started();
    let handshake = handfast_tokio::connect(tcp, svc.config.current()).await;
    m.handshake_ended(start.elapsed(), handshake.as_ref().err().map(Failure::of));
    handshake.map_err(|e| format!("to={} refused: {}", svc.options.connect, refusal(&e)))
}

/// The reason a handshake failed, as logged.
pub(crate) fn refusal(e: &HandshakeError) -> String {
    if e.is_tampering() {
        format!("tampering detected: {e}")
    } else {
        e.to_string()
    }
}
