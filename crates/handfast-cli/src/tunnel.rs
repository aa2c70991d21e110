//! The tunnels: accept loops, per-connection handshakes, the byte pump, logging, shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use handfast_tokio::CopyError;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::config::defaults;
use crate::metrics::{Failure, Metrics, Refusal};
use crate::service::{ClientService, Events, ServerService, Service};
use crate::sessions::{WarmPool, refusal};
use crate::socket::{ResetOnDrop, bind, reset, reset_on_close, tune_tunnel_socket};
use handfast_tokio::budget::Budget;

/// How long open connections may finish after SIGINT/SIGTERM.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Binds every listener (failing with the address that could not be bound) and the metrics
/// endpoint if asked for, serves until SIGINT or SIGTERM, re-reads key and allow files on
/// SIGHUP, then lets open connections finish for [`SHUTDOWN_GRACE`].
pub(crate) async fn run(
    mut servers: Vec<ServerService>,
    mut clients: Vec<ClientService>,
    metrics_addr: Option<String>,
) -> anyhow::Result<()> {
    raise_open_file_limit();
    let metrics = Arc::new(Metrics::default());
    for s in &mut servers {
        s.metrics = metrics.service(&s.name);
    }
    for c in &mut clients {
        c.metrics = metrics.service(&c.name);
    }
    if let Some(addr) = metrics_addr {
        let listener = bind(&addr).await.context("metrics")?;
        tokio::spawn(crate::metrics::serve(listener, metrics.clone()));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut loops = JoinSet::new();
    let mut bound = Vec::new();
    let services: Vec<Service> = servers
        .into_iter()
        .map(|s| Service::Server(Arc::new(s)))
        .chain(clients.into_iter().map(|c| Service::Client(Arc::new(c))))
        .collect();
    for svc in &services {
        let listener = bind(svc.listen()).await?;
        bound.push((listener, svc.clone()));
    }
    for (listener, svc) in bound {
        svc.log_listening(&listener);
        loops.spawn(accept_loop(listener, svc, stop_rx.clone()));
    }
    tokio::spawn(reload_on_hangup(services.clone()));
    tokio::spawn(reload_on_change(services));
    shutdown_signal().await?;
    info!(
        "shutting down: no new connections; open ones have {}s to finish",
        SHUTDOWN_GRACE.as_secs()
    );
    let _ = stop_tx.send(true);
    while loops.join_next().await.is_some() {}
    info!("stopped");
    Ok(())
}

/// SIGHUP: every service re-reads its key files (and allow file).
async fn reload_on_hangup(services: Vec<Service>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return warn!("cannot listen for SIGHUP: reload is unavailable");
        };
        while hup.recv().await.is_some() {
            info!("SIGHUP: reloading keys and allow files");
            for svc in &services {
                svc.reload();
            }
        }
    }
    #[cfg(not(unix))]
    let _ = services;
}

/// How often the files of each service are checked for changes.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// How long after a failed reload the files are tried again, if they have not changed.
const RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// Reloads a service when one of its files changes (a rotated certificate, an edited allow
/// file, a key made private with chmod), the way SPIFFE helpers expect: they write new files
/// and the user re-reads them. A reload that fails (a certificate written before its key,
/// say) keeps the previous configuration; the next change (the key arriving) reloads again,
/// and so does a retry after `RETRY_INTERVAL`. The state of the files is taken before they
/// are read, so a change during a reload is seen at the next check; reloads of one service
/// (this one and SIGHUP's) run one at a time.
async fn reload_on_change(services: Vec<Service>) {
    let mut seen: Vec<Vec<Stamp>> = services.iter().map(stamps).collect();
    let mut retry: Vec<Option<Instant>> = vec![None; services.len()];
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for (i, svc) in services.iter().enumerate() {
            let now = stamps(svc);
            let changed = now != seen[i];
            if !changed && retry[i].is_none_or(|at| Instant::now() < at) {
                continue;
            }
            if changed {
                info!("{}: files changed: reloading", svc.name());
            } else {
                info!("{}: retrying the failed reload", svc.name());
            }
            seen[i] = now;
            let svc = svc.clone();
            // Reading files and parsing certificates is blocking work.
            let ok = tokio::task::spawn_blocking(move || svc.reload())
                .await
                .unwrap_or(false);
            retry[i] = (!ok).then(|| Instant::now() + RETRY_INTERVAL);
        }
    }
}

/// What identifies a file's content and access without reading it: device, inode (a rename
/// replaces it even within one timestamp tick), size, modification and change times (the
/// latter moves on chmod and chown), mode and owner.
type Stamp = Option<(u64, u64, u64, i64, i64, i64, i64, u32, u32)>;

#[cfg(unix)]
fn stamps(svc: &Service) -> Vec<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    svc.files()
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            Some((
                m.dev(),
                m.ino(),
                m.size(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec(),
                m.mode(),
                m.uid(),
            ))
        })
        .collect()
}

#[cfg(not(unix))]
fn stamps(svc: &Service) -> Vec<Stamp> {
    svc.files()
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).ok()?;
            let t = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?;
            Some((
                0,
                0,
                m.len(),
                t.as_secs() as i64,
                i64::from(t.subsec_nanos()),
                0,
                0,
                0,
                0,
            ))
        })
        .collect()
}

/// Every connection costs descriptors: raise the soft limit to the hard one, and say so.
fn raise_open_file_limit() {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft);
    match (before, rlimit::increase_nofile_limit(u64::MAX)) {
        (Ok(before), Ok(now)) if now > before => {
            info!("open-file limit raised from {before} to {now}")
        }
        (_, Ok(now)) => info!("open-file limit: {now}"),
        (_, Err(e)) => warn!("cannot raise the open-file limit: {e}"),
    }
}

/// Accepts until told to stop, then waits up to the grace period for open connections.
///
/// A server holds unauthenticated connections in its pre-authentication [`Budget`] (the
/// oldest goes when it is full) and authenticated sessions under `max_connections`; a client
/// caps its local connections at the default session limit.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    svc: Service,
    mut stop: watch::Receiver<bool>,
) {
    let (sessions, budget) = match &svc {
        Service::Server(s) => (
            s.options.max_connections,
            Some(Budget::new(
                s.options.max_handshakes,
                s.options.max_handshakes_per_source,
            )),
        ),
        Service::Client(_) => (defaults::MAX_CONNECTIONS, None),
    };
    let slots = Arc::new(Semaphore::new(sessions));
    let mut conns = JoinSet::new();
    let warm = match &svc {
        Service::Client(c) => {
            let pool = Arc::new(WarmPool::new(c.options.warm, c.tuning.idle_timeout));
            if c.options.warm > 0 {
                tokio::spawn(pool.clone().keep(c.clone(), stop.clone()));
            }
            Some(pool)
        }
        Service::Server(_) => None,
    };
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let (tcp, from) = match accepted {
                    Ok(a) => a,
                    Err(e) if handfast_tokio::budget::accept_error_is_exhaustion(&e) => {
                        // Out of descriptors: strangers must not keep callers waiting in the
                        // kernel's queue until their deadlines. Free the oldest one, then pause.
                        let freed = budget.as_ref().is_some_and(|b| b.evict_oldest());
                        warn!("accept failed: {e}; {}", if freed {
                            "dropped the oldest unauthenticated connection"
                        } else {
                            "waiting for connections to close"
                        });
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                    Err(e) => {
                        debug!("accept failed: {e}");
                        continue;
                    }
                };
                let id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
                match (&svc, &budget) {
                    (Service::Server(s), Some(budget)) => {
                        let ticket = budget.admit(from.ip());
                        let (s, slots) = (s.clone(), slots.clone());
                        conns.spawn(serve_server_conn(id, tcp, from, s, ticket, slots));
                    }
                    (svc, _) => {
                        let Ok(permit) = slots.clone().try_acquire_owned() else {
                            svc.events().warn(format!("conn={id} from={from} refused: too many connections (limit {sessions})"));
                            if let Service::Client(c) = svc {
                                c.metrics.refused(Refusal::TooManySessions);
                            }
                            reset(tcp);
                            continue;
                        };
                        if let (Service::Client(c), Some(warm)) = (svc, &warm) {
                            let (c, warm) = (c.clone(), warm.clone());
                            conns.spawn(async move {
                                serve_client_conn(id, tcp, from, c, &warm).await;
                                drop(permit);
                            });
                        }
                    }
                }
            }
        }
    }
    drop(listener);
    let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = conns.join_next() => if next.is_none() { break },
            () = &mut deadline => {
                warn!("{} connection(s) still open after the grace period; closing them", conns.len());
                conns.abort_all();
                break;
            }
        }
    }
}

async fn serve_server_conn(
    id: u64,
    tcp: TcpStream,
    from: SocketAddr,
    svc: Arc<ServerService>,
    mut ticket: handfast_tokio::budget::Ticket,
    slots: Arc<Semaphore>,
) {
    tune_tunnel_socket(&tcp, &svc.tuning);
    let start = Instant::now();
    let m = &svc.metrics;
    m.handshake_started();
    let handshake = tokio::select! {
        r = handfast_tokio::accept(tcp, svc.config.current()) => r,
        why = ticket.evicted() => {
            m.handshake_ended(start.elapsed(), Some(Failure::Evicted));
            return svc.events.warn(format!("conn={id} from={from} {why}"));
        }
    };
    // Authenticated or refused: either way this connection leaves the pre-authentication
    // budget.
    drop(ticket);
    m.handshake_ended(start.elapsed(), handshake.as_ref().err().map(Failure::of));
    let secure = match handshake {
        Ok(s) => s,
        Err(e) => {
            return svc
                .events
                .warn(format!("conn={id} from={from} refused: {}", refusal(&e)));
        }
    };
    let Ok(_permit) = slots.try_acquire_owned() else {
        m.refused(Refusal::TooManySessions);
        svc.events.warn(format!(
            "conn={id} from={from} refused: too many sessions (max_connections {})",
            svc.options.max_connections
        ));
        return reset_on_close(secure.get_ref());
    };
    log_established(&svc.events, id, from, &secure);
    let mut secure = secure;
    // The client says it is using the session with its first record (at once, or later for a
    // warm session): only then, with the client authenticated and authorized, is the backend
    // contacted.
    let first = match svc.tuning.idle_timeout {
        Some(limit) => tokio::time::timeout(limit, secure.ready())
            .await
            .unwrap_or(Ok(false)),
        None => secure.ready().await,
    };
    match first {
        Ok(true) => {}
        Ok(false) => {
            return svc.events.info(format!(
                "conn={id} closed: unused: the client retired this warm session (or it idled out)"
            ));
        }
        Err(e) => {
            reset_on_close(secure.get_ref());
            return svc.events.warn(format!("conn={id} closed before use: {e}"));
        }
    }
    let backend = match TcpStream::connect(&svc.options.forward).await {
        Ok(b) => b,
        Err(e) => {
            m.refused(Refusal::Unreachable);
            reset_on_close(secure.get_ref());
            let msg = format!(
                "conn={id} closed: backend {} unreachable: {e}",
                svc.options.forward
            );
            return svc.events.warn(msg);
        }
    };
    let _ = backend.set_nodelay(true);
    m.session_opened();
    let outcome = pump(&mut secure, backend, svc.tuning.idle_timeout).await;
    outcome.log(&svc.events, m, id, start, secure.context());
}

async fn serve_client_conn(
    id: u64,
    local: TcpStream,
    from: SocketAddr,
    svc: Arc<ClientService>,
    warm: &WarmPool,
) {
    let _ = local.set_nodelay(true);
    let start = Instant::now();
    let m = &svc.metrics;
    let secure = match warm.take() {
        Some(s) => s,
        None => match crate::sessions::open(&svc).await {
            Ok(s) => s,
            Err(why) => {
                svc.events.warn(format!("conn={id} from={from} {why}"));
                return reset(local);
            }
        },
    };
    log_established(&svc.events, id, from, &secure);
    let mut secure = secure;
    // Tell the server at once that this session is in use (it opens its connection to the
    // service on this), even if the application waits for the service to speak first.
    let level = secure.write_level();
    if let Err(e) = secure.send(level, &[]).await {
        svc.events.warn(format!(
            "conn={id} closed: the session failed before use: {e}"
        ));
        reset_on_close(secure.get_ref());
        return reset(local);
    }
    m.session_opened();
    let outcome = pump(&mut secure, local, svc.tuning.idle_timeout).await;
    outcome.log(&svc.events, m, id, start, secure.context());
}

fn log_established<IO>(events: &Events, id: u64, from: SocketAddr, s: &handfast_tokio::Stream<IO>) {
    let ctx = s.context();
    let peer = ctx.peer();
    events.info(format!(
        "conn={id} from={from} established: peer={:?} key={} level={} mechanism={} suite={}",
        peer.name(),
        peer.fingerprint(),
        ctx.level(),
        ctx.mechanism().1,
        ctx.suite(),
    ));
}

/// How a tunnelled connection ended.
pub(crate) struct Outcome {
    /// Plain bytes carried from the local side into the tunnel.
    pub(crate) sent: u64,
    /// Plain bytes delivered from the tunnel to the local side.
    pub(crate) received: u64,
    pub(crate) reason: String,
    pub(crate) clean: bool,
}

impl Outcome {
    fn log(
        &self,
        events: &Events,
        metrics: &crate::metrics::ServiceMetrics,
        id: u64,
        start: Instant,
        ctx: &handfast::SecurityContext,
    ) {
        let (tx_epochs, rx_epochs) = ctx.key_epochs();
        metrics.session_closed(ctx.level(), self.sent, self.received, tx_epochs + rx_epochs);
        let secs = start.elapsed().as_secs_f64();
        let msg = format!(
            "conn={id} closed: sent={} received={} duration={secs:.3}s key_updates={} reason={}",
            self.sent,
            self.received,
            tx_epochs + rx_epochs,
            self.reason
        );
        if self.clean {
            events.info(msg)
        } else {
            events.warn(msg)
        }
    }
}

/// Carries a tunnelled connection both ways until both directions have closed cleanly, or one
/// side fails (`handfast_tokio::Stream::copy_bidirectional`: sealed from the read buffer,
/// opened in place, one write per record).
///
/// A clean end on one side becomes a clean half-close on the other (the authenticated close
/// into the tunnel, a FIN to the plain socket). If either side fails — a record rejected, the
/// tunnel cut, the plain side reset, the idle timeout — both sockets are reset: the plain
/// application never mistakes a failure for a clean end (it has received exactly the verified
/// bytes before it), and the far end sees the tunnel cut and resets its own application in
/// turn.
pub(crate) async fn pump(
    secure: &mut handfast_tokio::Stream<TcpStream>,
    plain: TcpStream,
    idle_timeout: Option<Duration>,
) -> Outcome {
    // If this future is dropped before a clean end (shutdown's grace period ran out, the task
    // was aborted), the plain connection is reset rather than closed with a FIN.
    let mut guard = ResetOnDrop {
        tcp: plain,
        armed: true,
    };
    let (carried, result) = secure
        .copy_bidirectional(&mut guard.tcp, idle_timeout)
        .await;
    let (reason, clean) = match result {
        Ok(()) => {
            guard.disarm();
            ("clean close".to_owned(), true)
        }
        Err(CopyError::Secure(e)) => (tunnel_reason(&e), false),
        Err(CopyError::Plain(e)) => (format!("local connection failed: {e}"), false),
        Err(e) => (e.to_string(), false),
    };
    if !clean {
        // The tunnel ends without the authenticated close; a reset says so at once.
        reset_on_close(secure.get_ref());
    }
    drop(guard);
    Outcome {
        sent: carried.to_peer,
        received: carried.from_peer,
        reason,
        clean,
    }
}

fn tunnel_reason(e: &io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<handfast::Error>())
    {
        Some(h) if h.is_tampering() => format!("tampering detected: {h}"),
        // The server refused this client's last handshake flight, after the client had
        // verified the server and started sending (one round trip).
        Some(handfast::Error::AlertReceived(alert)) => {
            format!("refused by the peer after the handshake: {alert}")
        }
        Some(handfast::Error::Truncated) => {
            "tunnel cut: connection ended without the authenticated close".into()
        }
        Some(h) => format!("protocol error: {h}"),
        None => format!("tunnel failed: {e}"),
    }
}

async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("cannot install SIGINT handler")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot install Ctrl-C handler")?;
    Ok(())
}
