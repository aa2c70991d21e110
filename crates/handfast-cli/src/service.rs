//! The services a daemon runs, as loaded from their options: what the accept loops serve.

use std::sync::{Arc, RwLock};

use handfast::{ClientConfig, ServerConfig};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::config::{ClientOptions, ServerOptions, Tuning};
use crate::metrics::ServiceMetrics;

/// A value the daemon can replace while it runs (on reload); readers take the current one.
#[derive(Debug)]
pub(crate) struct Reloadable<T>(RwLock<Arc<T>>);

impl<T> Reloadable<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(RwLock::new(Arc::new(value)))
    }

    /// The current value.
    pub(crate) fn current(&self) -> Arc<T> {
        match self.0.read() {
            Ok(v) => v.clone(),
            // A writer never panics while holding the lock (it only swaps an Arc).
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the value; connections already using the old one keep it.
    pub(crate) fn replace(&self, value: T) {
        let mut guard = match self.0.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(value);
    }
}

/// A server tunnel, ready to run.
pub(crate) struct ServerService {
    pub(crate) name: String,
    pub(crate) options: ServerOptions,
    /// The handshake configuration: keys and allowed clients, replaced on reload.
    pub(crate) config: Reloadable<ServerConfig>,
    /// What the configuration allows, for logs ("3 allowed client key(s)").
    pub(crate) allowed: Reloadable<String>,
    /// Held through a reload: a SIGHUP and a file change never interleave, so the last
    /// reload to finish is the one that read the newest files.
    pub(crate) reloading: std::sync::Mutex<()>,
    pub(crate) events: Events,
    pub(crate) metrics: Arc<ServiceMetrics>,
    pub(crate) tuning: Tuning,
}

/// A client tunnel, ready to run.
pub(crate) struct ClientService {
    pub(crate) name: String,
    pub(crate) options: ClientOptions,
    /// The handshake configuration: key and pinned server key, replaced on reload.
    pub(crate) config: Reloadable<ClientConfig>,
    /// The server it accepts, for logs ("pinned server key SHA256:…").
    pub(crate) server: Reloadable<String>,
    /// Held through a reload (see `ServerService::reloading`).
    pub(crate) reloading: std::sync::Mutex<()>,
    pub(crate) events: Events,
    pub(crate) metrics: Arc<ServiceMetrics>,
    pub(crate) tuning: Tuning,
}

impl ServerService {
    /// Checks the options and reads the key and allow files.
    pub(crate) fn load(options: ServerOptions, default_name: &str) -> anyhow::Result<Self> {
        let tuning = options
            .tuning
            .resolve(options.handshake_timeout, options.mechanism)?;
        if options.max_connections == 0
            || options.max_handshakes == 0
            || options.max_handshakes_per_source == 0
        {
            anyhow::bail!(
                "max_connections, max_handshakes and max_handshakes_per_source must be at least 1"
            );
        }
        let (config, allowed) = options.build(&tuning)?;
        Ok(Self {
            name: options
                .name
                .clone()
                .unwrap_or_else(|| default_name.to_owned()),
            config: Reloadable::new(config),
            allowed: Reloadable::new(allowed),
            reloading: std::sync::Mutex::new(()),
            events: Events::default(),
            metrics: Arc::default(),
            tuning,
            options,
        })
    }
}

impl ClientService {
    /// Checks the options and reads the key and the pinned server key.
    pub(crate) fn load(options: ClientOptions, default_name: &str) -> anyhow::Result<Self> {
        let tuning = options
            .tuning
            .resolve(options.handshake_timeout, options.mechanism)?;
        if options.warm > 1024 {
            anyhow::bail!("warm {}: at most 1024 sessions kept ready", options.warm);
        }
        let (config, server) = options.build(&tuning)?;
        Ok(Self {
            name: options
                .name
                .clone()
                .unwrap_or_else(|| default_name.to_owned()),
            config: Reloadable::new(config),
            server: Reloadable::new(server),
            reloading: std::sync::Mutex::new(()),
            events: Events::default(),
            metrics: Arc::default(),
            tuning,
            options,
        })
    }
}

/// Either kind of service.
#[derive(Clone)]
pub(crate) enum Service {
    Server(Arc<ServerService>),
    Client(Arc<ClientService>),
}

impl Service {
    /// Re-reads the key, certificate and allow files; established connections keep the
    /// configuration they started with. Files that do not load change nothing. Returns whether
    /// the new configuration is in use.
    pub(crate) fn reload(&self) -> bool {
        let lock = match self {
            Self::Server(s) => &s.reloading,
            Self::Client(c) => &c.reloading,
        };
        let _one_at_a_time = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (name, result) = match self {
            Self::Server(s) => (
                &s.name,
                s.options.build(&s.tuning).map(|(config, allowed)| {
                    s.config.replace(config);
                    s.allowed.replace(allowed.clone());
                    allowed
                }),
            ),
            Self::Client(c) => (
                &c.name,
                c.options.build(&c.tuning).map(|(config, server)| {
                    c.config.replace(config);
                    c.server.replace(server.clone());
                    server
                }),
            ),
        };
        match result {
            Ok(what) => {
                info!("{name}: reloaded: {what}");
                true
            }
            Err(e) => {
                warn!("{name}: reload failed, keeping the previous configuration: {e:#}");
                false
            }
        }
    }

    /// The files the service's mechanism reads.
    pub(crate) fn files(&self) -> Vec<std::path::PathBuf> {
        match self {
            Self::Server(s) => s.options.auth().files(),
            Self::Client(c) => c.options.auth().files(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Server(s) => &s.name,
            Self::Client(c) => &c.name,
        }
    }

    pub(crate) fn listen(&self) -> &str {
        match self {
            Self::Server(s) => &s.options.listen,
            Self::Client(c) => &c.options.listen,
        }
    }

    pub(crate) fn events(&self) -> &Events {
        match self {
            Self::Server(s) => &s.events,
            Self::Client(c) => &c.events,
        }
    }

    pub(crate) fn log_listening(&self, listener: &TcpListener) {
        let addr = listener
            .local_addr()
            .map_or_else(|e| e.to_string(), |a| a.to_string());
        match self {
            Self::Server(s) => info!(
                "{}: listening on {addr}: handfast server forwarding to {}, minimum level {}, {} mechanism, {}, at most {} sessions and {} handshakes ({} per address)",
                s.name,
                s.options.forward,
                s.options.min_level,
                s.options.mechanism,
                s.allowed.current(),
                s.options.max_connections,
                s.options.max_handshakes,
                s.options.max_handshakes_per_source,
            ),
            Self::Client(c) => info!(
                "{}: listening on {addr}: handfast client to {} ({} mechanism, {}), asking for {}",
                c.name,
                c.options.connect,
                c.options.mechanism,
                c.server.current(),
                c.options.level
            ),
        }
    }
}

/// Where connection events go besides the log: nowhere, except in the demo, which narrates
/// them.
#[derive(Clone, Default)]
pub(crate) struct Events(Option<tokio::sync::mpsc::UnboundedSender<String>>);

impl Events {
    pub(crate) fn to(tx: tokio::sync::mpsc::UnboundedSender<String>) -> Self {
        Self(Some(tx))
    }

    pub(crate) fn info(&self, msg: String) {
        info!("{msg}");
        self.send(msg);
    }

    pub(crate) fn warn(&self, msg: String) {
        warn!("{msg}");
        self.send(msg);
    }

    fn send(&self, msg: String) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(msg);
        }
    }
}
