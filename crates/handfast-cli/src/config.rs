//! Service specifications, from flags or from a TOML file, resolved into running configs.
//!
//! ```toml
//! [[server]]
//! name = "redis"                 # optional, used in logs
//! listen = "0.0.0.0:7000"
//! forward = "127.0.0.1:6379"
//! key = "server.key"             # relative paths are relative to this file
//! allow = "clients.allow"
//! min_level = "privacy"          # optional: privacy (default) or integrity
//! handshake_timeout = 10         # optional, seconds
//! max_connections = 1024         # optional
//! # Optional limits, on servers and clients alike (defaults shown):
//! max_record_size = 262144       # largest record payload accepted, bytes
//! max_handshake_message = 4096   # pre-authentication buffer: largest handshake message, bytes
//! key_update_interval = 0        # records per key; 0 = automatic (at most 2^38 bytes per key)
//! idle_timeout = 0               # seconds without traffic before a connection is dropped; 0 = never
//! keepalive = 60                 # TCP keepalive idle seconds on tunnel sockets; 0 = off
//!
//! [[client]]
//! listen = "127.0.0.1:6380"
//! connect = "db.example.net:7000"
//! key = "client.key"
//! server_key = "server.key.pub"
//! level = "privacy"              # optional
//! handshake_timeout = 10         # optional
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use handfast::{ClientConfig, ProtectionLevel, ServerConfig};
use handfast_noise::{NoiseMechanism, TrustSet};
use serde::Deserialize;

use crate::keys;
use crate::tunnel::{ClientService, DEFAULT_MAX_CONNECTIONS, Events, ServerService};

/// Largest record payload accepted by default: large records keep bulk transfers limited by the
/// cipher rather than by system calls.
pub(crate) const DEFAULT_MAX_RECORD: usize = 256 * 1024;

/// Limits and liveness settings shared by servers and clients.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct TuningArgs {
    /// Largest record payload accepted from the peer, in bytes (256 to 16 MiB - 64).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_RECORD)]
    max_record_size: usize,
    /// Largest handshake message buffered before the peer is authenticated, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 4096)]
    max_handshake_message: usize,
    /// Records protected under one key before the key is ratcheted; 0 = automatic.
    #[arg(long, value_name = "RECORDS", default_value_t = 0)]
    key_update_interval: u64,
    /// Drop a connection after this many seconds without traffic either way; 0 = never.
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    idle_timeout: f64,
    /// TCP keepalive on tunnel sockets: seconds idle before probing; 0 = off. A peer that
    /// vanished is detected after about this plus 3 probes 10 s apart.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    keepalive: f64,
}

impl TuningArgs {
    pub(crate) fn resolve(&self) -> anyhow::Result<Tuning> {
        Tuning::new(
            self.max_record_size,
            self.max_handshake_message,
            self.key_update_interval,
            self.idle_timeout,
            self.keepalive,
        )
    }
}

/// Resolved limits and liveness settings.
#[derive(Debug, Clone)]
pub(crate) struct Tuning {
    pub(crate) max_record_size: usize,
    pub(crate) max_handshake_message: usize,
    pub(crate) key_update_interval: Option<u64>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) keepalive: Option<Duration>,
}

impl Tuning {
    fn new(
        record: usize,
        handshake: usize,
        interval: u64,
        idle: f64,
        keepalive: f64,
    ) -> anyhow::Result<Self> {
        if !(256..=(1 << 24) - 64).contains(&record) {
            bail!(
                "max_record_size {record}: expected 256 to {}",
                (1 << 24) - 64
            );
        }
        if !(256..=16 * 1024).contains(&handshake) {
            bail!("max_handshake_message {handshake}: expected 256 to 16384");
        }
        let optional = |s: f64, what: &str| -> anyhow::Result<Option<Duration>> {
            if s == 0.0 {
                return Ok(None);
            }
            Duration::try_from_secs_f64(s)
                .map(Some)
                .map_err(|_| anyhow::anyhow!("{what} {s}: expected a number of seconds, 0 for off"))
        };
        Ok(Self {
            max_record_size: record,
            max_handshake_message: handshake,
            key_update_interval: (interval != 0).then_some(interval),
            idle_timeout: optional(idle, "idle_timeout")?,
            keepalive: optional(keepalive, "keepalive")?,
        })
    }

    fn apply(&self, limits: &mut handfast::Limits, handshake_timeout: Duration) {
        limits.handshake_timeout = handshake_timeout;
        limits.max_record_len = self.max_record_size;
        limits.max_handshake_message = self.max_handshake_message;
        limits.key_update_interval = self.key_update_interval;
    }
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            max_record_size: DEFAULT_MAX_RECORD,
            max_handshake_message: 4096,
            key_update_interval: None,
            idle_timeout: None,
            keepalive: Some(Duration::from_secs(60)),
        }
    }
}

/// A server tunnel as configured.
#[derive(Debug)]
pub(crate) struct ServerSpec {
    pub(crate) name: String,
    pub(crate) listen: String,
    pub(crate) forward: String,
    pub(crate) key: PathBuf,
    pub(crate) allow: PathBuf,
    pub(crate) min_level: ProtectionLevel,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) tuning: Tuning,
}

/// A client tunnel as configured.
#[derive(Debug)]
pub(crate) struct ClientSpec {
    pub(crate) name: String,
    pub(crate) listen: String,
    pub(crate) connect: String,
    pub(crate) key: PathBuf,
    pub(crate) server_key: PathBuf,
    pub(crate) level: ProtectionLevel,
    pub(crate) handshake_timeout: Duration,
    pub(crate) tuning: Tuning,
}

impl ServerSpec {
    /// Reads the key and allow files.
    pub(crate) fn load(self) -> anyhow::Result<ServerService> {
        let key = keys::load_private(&self.key)?;
        let allow = keys::load_allow(&self.allow)?;
        let allowed_keys = allow.len();
        if self.max_connections == 0 {
            bail!("max_connections must be at least 1");
        }
        let mut config = ServerConfig::new(Arc::new(NoiseMechanism::new(key, allow)))
            .with_min_level(self.min_level);
        self.tuning
            .apply(&mut config.limits, self.handshake_timeout);
        Ok(ServerService {
            name: self.name,
            listen: self.listen,
            forward: self.forward,
            config: Arc::new(config),
            max_connections: self.max_connections,
            allowed_keys,
            events: Events::default(),
            tuning: self.tuning,
        })
    }
}

impl ClientSpec {
    /// Reads the key and the pinned server key.
    pub(crate) fn load(self) -> anyhow::Result<ClientService> {
        let key = keys::load_private(&self.key)?;
        let server = keys::load_public(&self.server_key)?;
        let server_fingerprint = server.fingerprint();
        let mut config =
            ClientConfig::new(Arc::new(NoiseMechanism::new(key, TrustSet::from([server]))))
                .with_level(self.level);
        self.tuning
            .apply(&mut config.limits, self.handshake_timeout);
        Ok(ClientService {
            name: self.name,
            listen: self.listen,
            connect: self.connect,
            config: Arc::new(config),
            server_fingerprint,
            events: Events::default(),
            tuning: self.tuning,
        })
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    server: Vec<ServerEntry>,
    #[serde(default)]
    client: Vec<ClientEntry>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ServerEntry {
    name: Option<String>,
    listen: String,
    forward: String,
    key: PathBuf,
    allow: PathBuf,
    min_level: Option<String>,
    handshake_timeout: Option<f64>,
    max_connections: Option<usize>,
    max_record_size: Option<usize>,
    max_handshake_message: Option<usize>,
    key_update_interval: Option<u64>,
    idle_timeout: Option<f64>,
    keepalive: Option<f64>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    name: Option<String>,
    listen: String,
    connect: String,
    key: PathBuf,
    server_key: PathBuf,
    level: Option<String>,
    handshake_timeout: Option<f64>,
    max_record_size: Option<usize>,
    max_handshake_message: Option<usize>,
    key_update_interval: Option<u64>,
    idle_timeout: Option<f64>,
    keepalive: Option<f64>,
}

/// Parses and loads a configuration file.
pub(crate) fn load(path: &Path) -> anyhow::Result<(Vec<ServerService>, Vec<ClientService>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (servers, clients) = parse(&text, path)?;
    let servers = servers
        .into_iter()
        .map(ServerSpec::load)
        .collect::<Result<Vec<_>, _>>()?;
    let clients = clients
        .into_iter()
        .map(ClientSpec::load)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((servers, clients))
}

/// The limits of one `[[server]]` or `[[client]]` entry, defaults filled in.
macro_rules! tuning_of {
    ($entry:expr, $path:expr) => {{
        let d = Tuning::default();
        Tuning::new(
            $entry.max_record_size.unwrap_or(d.max_record_size),
            $entry
                .max_handshake_message
                .unwrap_or(d.max_handshake_message),
            $entry.key_update_interval.unwrap_or(0),
            $entry.idle_timeout.unwrap_or(0.0),
            $entry.keepalive.unwrap_or(60.0),
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", $path.display()))
    }};
}

/// Parses a configuration file's text; relative paths are resolved against `path`'s folder.
pub(crate) fn parse(text: &str, path: &Path) -> anyhow::Result<(Vec<ServerSpec>, Vec<ClientSpec>)> {
    let file: File =
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if file.server.is_empty() && file.client.is_empty() {
        bail!("{}: no [[server]] or [[client]] entries", path.display());
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
    let level = |v: Option<String>, what: &str| -> anyhow::Result<ProtectionLevel> {
        v.map_or(Ok(ProtectionLevel::Privacy), |s| {
            s.parse()
                .map_err(|e| anyhow::anyhow!("{}: {what}: {e}", path.display()))
        })
    };
    let timeout = |v: Option<f64>| -> anyhow::Result<Duration> {
        let s = v.unwrap_or(10.0);
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: handshake_timeout {s}: expected a positive number of seconds",
                    path.display()
                )
            })
    };
    let mut servers = Vec::new();
    for (i, s) in file.server.into_iter().enumerate() {
        servers.push(ServerSpec {
            name: s.name.unwrap_or_else(|| format!("server{}", i + 1)),
            listen: s.listen,
            forward: s.forward,
            key: resolve(s.key),
            allow: resolve(s.allow),
            min_level: level(s.min_level, "min_level")?,
            handshake_timeout: timeout(s.handshake_timeout)?,
            max_connections: s.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
            tuning: tuning_of!(s, path)?,
        });
    }
    let mut clients = Vec::new();
    for (i, c) in file.client.into_iter().enumerate() {
        clients.push(ClientSpec {
            name: c.name.unwrap_or_else(|| format!("client{}", i + 1)),
            listen: c.listen,
            connect: c.connect,
            key: resolve(c.key),
            server_key: resolve(c.server_key),
            level: level(c.level, "level")?,
            handshake_timeout: timeout(c.handshake_timeout)?,
            tuning: tuning_of!(c, path)?,
        });
    }
    Ok((servers, clients))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds_and_resolves_paths() {
        let text = r#"
            [[server]]
            listen = "127.0.0.1:7000"
            forward = "127.0.0.1:6379"
            key = "server.key"
            allow = "/etc/handfast/clients.allow"
            min_level = "integrity"

            [[client]]
            name = "cache"
            listen = "127.0.0.1:6380"
            connect = "127.0.0.1:7000"
            key = "client.key"
            server_key = "server.key.pub"
        "#;
        let (s, c) = parse(text, Path::new("/srv/conf/handfast.toml")).unwrap();
        assert_eq!(s[0].key, PathBuf::from("/srv/conf/server.key"));
        assert_eq!(s[0].allow, PathBuf::from("/etc/handfast/clients.allow"));
        assert_eq!(s[0].min_level, ProtectionLevel::Integrity);
        assert_eq!(s[0].name, "server1");
        assert_eq!(c[0].name, "cache");
        assert_eq!(c[0].level, ProtectionLevel::Privacy);
        assert_eq!(c[0].handshake_timeout, Duration::from_secs(10));
    }

    #[test]
    fn unknown_keys_and_bad_levels_are_errors() {
        let text = "[[server]]\nlisten = \"a\"\nforward = \"b\"\nkey = \"k\"\nallow = \"a\"\nmin_levle = \"privacy\"\n";
        let err = parse(text, Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("unknown field `min_levle`"), "{err}");
        let text = "[[client]]\nlisten = \"a\"\nconnect = \"b\"\nkey = \"k\"\nserver_key = \"s\"\nlevel = \"connect\"\n";
        let err = parse(text, Path::new("x.toml")).unwrap_err().to_string();
        assert!(
            err.contains("invalid protection level \"connect\""),
            "{err}"
        );
        let err = parse("", Path::new("x.toml")).unwrap_err().to_string();
        assert!(err.contains("no [[server]] or [[client]]"), "{err}");
    }
}
