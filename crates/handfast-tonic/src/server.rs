//! Authenticated connections for a tonic server.
//!
//! ```no_run
//! # async fn run(config: std::sync::Arc<handfast::ServerConfig>) -> Result<(), Box<dyn std::error::Error>> {
//! # #[derive(Clone)] struct Svc;
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:50051").await?;
//! let incoming = handfast_tonic::server::incoming(listener, config, Default::default());
//! // tonic::transport::Server::builder()
//! //     .layer(policy.layer())
//! //     .add_service(AccountsServer::new(svc))
//! //     .serve_with_incoming(incoming)
//! //     .await?;
//! # let _ = incoming; Ok(())
//! # }
//! ```

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use handfast::ServerConfig;
use handfast_tokio::budget::Budget;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::io::Connection;

/// Limits on connections, before and after they authenticate.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Authenticated connections open at once; a caller authenticated beyond it is dropped.
    pub max_connections: usize,
    /// Unauthenticated connections held at once; past it, the oldest is dropped.
    pub max_handshakes: usize,
    /// Of those, how many one IP address may hold; past it, that address's oldest is dropped.
    pub max_handshakes_per_source: usize,
}

impl Default for Options {
    /// The `handfast` daemon's defaults: 1024 connections, 1024 handshakes, 512 per address.
    /// Keep the sum below the process's open-file limit.
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_handshakes: 1024,
            max_handshakes_per_source: 512,
        }
    }
}

/// Accepts TCP connections on `listener` and yields those that complete a handfast handshake
/// with `config`, for `tonic::transport::Server::serve_with_incoming`.
///
/// Each handshake runs in its own task under the configuration's deadline. Unauthenticated
/// connections are held within `options`' budget (the oldest dropped when it is full, or when
/// `accept` runs out of file descriptors); authenticated ones within `max_connections`, each
/// holding its place until it closes. A connection that fails its handshake is dropped
/// (logged at debug level). Dropping the returned stream stops accepting and ends the
/// handshakes in progress.
pub fn incoming(listener: TcpListener, config: Arc<ServerConfig>, options: Options) -> Incoming {
    let (tx, rx) = mpsc::channel(64);
    let budget = Budget::new(options.max_handshakes, options.max_handshakes_per_source);
    let sessions = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let task = tokio::spawn(accept_loop(listener, config, budget, sessions, tx));
    Incoming { rx, task }
}

/// The authenticated connections of [`incoming`].
#[derive(Debug)]
pub struct Incoming {
    rx: mpsc::Receiver<Connection>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Incoming {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl tokio_stream::Stream for Incoming {
    type Item = io::Result<Connection>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|c| c.map(Ok))
    }
}

async fn accept_loop(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    budget: Arc<Budget>,
    sessions: Arc<Semaphore>,
    tx: mpsc::Sender<Connection>,
) {
    // The handshakes belong to this task: when it is aborted (the `Incoming` dropped), so are
    // they.
    let mut handshakes = JoinSet::new();
    loop {
        let (tcp, from) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if handfast_tokio::budget::accept_error_is_exhaustion(&e) => {
                    let freed = budget.evict_oldest();
                    warn!("accept failed: {e}; freed the oldest unauthenticated connection: {freed}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                Err(e) => {
                    debug!("accept failed: {e}");
                    continue;
                }
            },
            Some(_) = handshakes.join_next(), if !handshakes.is_empty() => continue,
            () = tx.closed() => return,
        };
        let mut ticket = budget.admit(from.ip());
        let (config, tx, sessions) = (config.clone(), tx.clone(), sessions.clone());
        handshakes.spawn(async move {
            let _ = tcp.set_nodelay(true);
            tokio::select! {
                result = handfast_tokio::accept(tcp, config) => match result {
                    Ok(stream) => {
                        drop(ticket);
                        let Ok(place) = sessions.try_acquire_owned() else {
                            debug!("connection from {from}: authenticated, but max_connections are open");
                            return;
                        };
                        let _ = tx.send(Connection::new(stream, Some(place))).await;
                    }
                    Err(e) => debug!("handshake from {from} failed: {e}"),
                },
                why = ticket.evicted() => debug!("connection from {from}: {why}"),
            }
        });
    }
}
