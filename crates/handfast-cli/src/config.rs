//! From flags or a TOML file to services: one set of options per role, parsed by clap from
//! flags and by serde from the file, with one set of defaults, turned into running services by
//! one builder.
//!
//! ```toml
//! [[server]]
//! name = "redis"                   # optional, used in logs
//! listen = "0.0.0.0:7000"
//! forward = "127.0.0.1:6379"
//! key = "server.key"               # relative paths are relative to this file
//! allow = "clients.allow"
//! min_level = "privacy"            # optional: privacy (default) or integrity
//! handshake_timeout = 10           # optional, seconds
//! max_connections = 1024           # optional: authenticated sessions at once
//! max_handshakes = 1024            # optional: unauthenticated connections at once
//! max_handshakes_per_source = 512  # optional: of those, from one IP address
//! # Optional limits, on servers and clients alike (defaults shown):
//! max_record_size = 262144         # largest record payload accepted, bytes
//! max_handshake_message = 4096     # pre-authentication buffer: largest handshake message, bytes
//! key_update_interval = 0          # records per key; 0 = automatic (at most 2^38 bytes per key)
//! idle_timeout = 0                 # seconds without traffic before a connection is dropped; 0 = never
//! keepalive = 60                   # TCP keepalive idle seconds on tunnel sockets; 0 = off
//!
//! [[client]]
//! listen = "127.0.0.1:6380"
//! connect = "db.example.net:7000"
//! key = "client.key"
//! server_key = "server.key.pub"
//! level = "privacy"                # optional
//! handshake_timeout = 10           # optional
//! warm = 0                         # optional: sessions kept ready (no handshake on connect)
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use handfast::{ClientConfig, ProtectionLevel, ServerConfig};
use serde::Deserialize;

use crate::mechanisms::{ClientAuth, KerberosOptions, MechanismKind, ServerAuth, X509Options};

/// The defaults, written once: clap and serde both read them from here.
pub(crate) mod defaults {
    use handfast::ProtectionLevel;

    pub(crate) const LEVEL: ProtectionLevel = ProtectionLevel::Privacy;
    pub(crate) const HANDSHAKE_TIMEOUT: f64 = 10.0;
    /// Authenticated sessions a server serves at once.
    pub(crate) const MAX_CONNECTIONS: usize = 1024;
    /// Unauthenticated connections a server holds at once.
    pub(crate) const MAX_HANDSHAKES: usize = 1024;
    /// Unauthenticated connections from one IP address.
    pub(crate) const MAX_HANDSHAKES_PER_SOURCE: usize = 512;
    /// Large records keep bulk transfers limited by the cipher rather than by system calls.
    pub(crate) const MAX_RECORD_SIZE: usize = 256 * 1024;
    pub(crate) const KEEPALIVE: f64 = 60.0;

    pub(crate) fn level() -> ProtectionLevel {
        LEVEL
    }
    pub(crate) fn handshake_timeout() -> f64 {
        HANDSHAKE_TIMEOUT
    }
    pub(crate) fn max_connections() -> usize {
        MAX_CONNECTIONS
    }
    pub(crate) fn max_handshakes() -> usize {
        MAX_HANDSHAKES
    }
    pub(crate) fn max_handshakes_per_source() -> usize {
        MAX_HANDSHAKES_PER_SOURCE
    }
    pub(crate) fn max_record_size() -> usize {
        MAX_RECORD_SIZE
    }
    pub(crate) fn keepalive() -> f64 {
        KEEPALIVE
    }
}

/// A server tunnel: `handfast server` flags, or a `[[server]]` entry.
#[derive(Args, Deserialize, Debug, Clone)]
pub(crate) struct ServerOptions {
    /// A name for logs (configuration file only).
    #[arg(skip)]
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// Address to accept handfast clients on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: String,
    /// The plain TCP service to forward to.
    #[arg(long, value_name = "ADDR")]
    pub(crate) forward: String,
    /// How clients authenticate: noise (pinned keys), x509 (certificates) or kerberos
    /// (tickets).
    #[arg(long, value_enum, value_name = "KIND", default_value_t)]
    #[serde(default)]
    pub(crate) mechanism: MechanismKind,
    /// This server's private key file (noise: from `handfast keygen`; x509: the PEM key of
    /// --cert).
    #[arg(long, value_name = "PATH")]
    #[serde(default)]
    pub(crate) key: Option<PathBuf>,
    /// The clients allowed to connect. noise: a file of public key lines; x509: a file of
    /// rules, one per line (spiffe://…, dns:NAME, subject:DN).
    #[arg(long, value_name = "PATH")]
    #[serde(default)]
    pub(crate) allow: Option<PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) x509: X509Options,
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) kerberos: KerberosOptions,
    /// Lowest protection level accepted: integrity lets clients that ask for it run at
    /// integrity.
    #[arg(long, value_name = "LEVEL", default_value_t = defaults::LEVEL)]
    #[serde(default = "defaults::level", deserialize_with = "level")]
    pub(crate) min_level: ProtectionLevel,
    /// Seconds a client has to complete the handshake.
    #[arg(long, value_name = "SECS", default_value_t = defaults::HANDSHAKE_TIMEOUT)]
    #[serde(default = "defaults::handshake_timeout")]
    pub(crate) handshake_timeout: f64,
    /// Authenticated sessions served at once; a client authenticated beyond it is refused.
    #[arg(long, value_name = "N", default_value_t = defaults::MAX_CONNECTIONS)]
    #[serde(default = "defaults::max_connections")]
    pub(crate) max_connections: usize,
    /// Unauthenticated connections held at once (handshakes in progress); past it, the oldest
    /// is dropped to make room.
    #[arg(long, value_name = "N", default_value_t = defaults::MAX_HANDSHAKES)]
    #[serde(default = "defaults::max_handshakes")]
    pub(crate) max_handshakes: usize,
    /// Of those, how many one IP address may hold; past it, that address's oldest is dropped.
    #[arg(long, value_name = "N", default_value_t = defaults::MAX_HANDSHAKES_PER_SOURCE)]
    #[serde(default = "defaults::max_handshakes_per_source")]
    pub(crate) max_handshakes_per_source: usize,
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) tuning: TuningOptions,
}

/// A client tunnel: `handfast client` flags, or a `[[client]]` entry.
#[derive(Args, Deserialize, Debug, Clone)]
pub(crate) struct ClientOptions {
    /// A name for logs (configuration file only).
    #[arg(skip)]
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// Local address to accept plain connections on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: String,
    /// The handfast server to connect to.
    #[arg(long, value_name = "ADDR")]
    pub(crate) connect: String,
    /// How the two ends authenticate: noise (pinned keys), x509 (certificates) or kerberos
    /// (tickets).
    #[arg(long, value_enum, value_name = "KIND", default_value_t)]
    #[serde(default)]
    pub(crate) mechanism: MechanismKind,
    /// This client's private key file (noise: from `handfast keygen`; x509: the PEM key of
    /// --cert).
    #[arg(long, value_name = "PATH")]
    #[serde(default)]
    pub(crate) key: Option<PathBuf>,
    /// noise: the file with the server's public key line (pinned).
    #[arg(long, value_name = "PATH")]
    #[serde(default)]
    pub(crate) server_key: Option<PathBuf>,
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) x509: X509Options,
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) kerberos: KerberosOptions,
    /// Protection level to ask for; the server may raise it.
    #[arg(long, value_name = "LEVEL", default_value_t = defaults::LEVEL)]
    #[serde(default = "defaults::level", deserialize_with = "level")]
    pub(crate) level: ProtectionLevel,
    /// Seconds the server has to complete the handshake.
    #[arg(long, value_name = "SECS", default_value_t = defaults::HANDSHAKE_TIMEOUT)]
    #[serde(default = "defaults::handshake_timeout")]
    pub(crate) handshake_timeout: f64,
    /// Authenticated sessions to keep ready, so that a new local connection pays no handshake
    /// (each serves one connection and is replaced; they count against the server's session
    /// limit, and are renewed every 30 s).
    #[arg(long, value_name = "N", default_value_t = 0)]
    #[serde(default)]
    pub(crate) warm: usize,
    #[command(flatten)]
    #[serde(flatten)]
    pub(crate) tuning: TuningOptions,
}

/// Limits and liveness settings shared by servers and clients.
#[derive(Args, Deserialize, Debug, Clone)]
pub(crate) struct TuningOptions {
    /// Largest record payload accepted from the peer, in bytes (256 to 16 MiB - 64).
    #[arg(long, value_name = "BYTES", default_value_t = defaults::MAX_RECORD_SIZE)]
    #[serde(default = "defaults::max_record_size")]
    pub(crate) max_record_size: usize,
    /// Largest handshake message buffered before the peer is authenticated, in bytes
    /// (default: 4096 for noise, 16384 for x509, whose certificate chains are larger).
    #[arg(long, value_name = "BYTES")]
    #[serde(default)]
    pub(crate) max_handshake_message: Option<usize>,
    /// Records protected under one key before the key is ratcheted (at least 1024); 0 =
    /// automatic, the most that keeps each key under 2^38 bytes.
    #[arg(long, value_name = "RECORDS", default_value_t = 0)]
    #[serde(default)]
    pub(crate) key_update_interval: u64,
    /// Drop a connection after this many seconds without traffic either way; 0 = never.
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    #[serde(default)]
    pub(crate) idle_timeout: f64,
    /// TCP keepalive on tunnel sockets: seconds idle before probing; 0 = off. A peer that
    /// vanished is detected after about this plus 3 probes 10 s apart.
    #[arg(long, value_name = "SECS", default_value_t = defaults::KEEPALIVE)]
    #[serde(default = "defaults::keepalive")]
    pub(crate) keepalive: f64,
}

/// Resolved limits and liveness settings.
#[derive(Debug, Clone)]
pub(crate) struct Tuning {
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_record_size: usize,
    pub(crate) max_handshake_message: usize,
    pub(crate) key_update_interval: Option<u64>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) keepalive: Option<Duration>,
}

impl TuningOptions {
    pub(crate) fn resolve(
        &self,
        handshake_timeout: f64,
        mechanism: MechanismKind,
    ) -> anyhow::Result<Tuning> {
        let record = self.max_record_size;
        if !(256..=(1 << 24) - 64).contains(&record) {
            bail!(
                "max_record_size {record}: expected 256 to {}",
                (1 << 24) - 64
            );
        }
        let message = self
            .max_handshake_message
            .unwrap_or_else(|| mechanism.default_max_handshake_message());
        if !(256..=16 * 1024).contains(&message) {
            bail!("max_handshake_message {message}: expected 256 to 16384");
        }
        let interval = self.key_update_interval;
        if interval != 0 && interval < 1024 {
            bail!("key_update_interval {interval}: expected at least 1024, or 0 for automatic");
        }
        Ok(Tuning {
            handshake_timeout: Duration::try_from_secs_f64(handshake_timeout)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "handshake_timeout {handshake_timeout}: expected a positive number of seconds"
                    )
                })?,
            max_record_size: record,
            max_handshake_message: message,
            key_update_interval: (interval != 0).then_some(interval),
            idle_timeout: optional_secs(self.idle_timeout, "idle_timeout")?,
            keepalive: optional_secs(self.keepalive, "keepalive")?,
        })
    }
}

impl Tuning {
    fn apply(&self, limits: &mut handfast::Limits) {
        limits.handshake_timeout = self.handshake_timeout;
        limits.max_record_len = self.max_record_size;
        limits.max_handshake_message = self.max_handshake_message;
        limits.key_update_interval = self.key_update_interval;
    }
}

fn optional_secs(s: f64, what: &str) -> anyhow::Result<Option<Duration>> {
    if s == 0.0 {
        return Ok(None);
    }
    Duration::try_from_secs_f64(s)
        .map(Some)
        .map_err(|_| anyhow::anyhow!("{what} {s}: expected a number of seconds, 0 for off"))
}

impl ServerOptions {
    pub(crate) fn auth(&self) -> ServerAuth<'_> {
        ServerAuth {
            kind: self.mechanism,
            key: self.key.as_deref(),
            allow: self.allow.as_deref(),
            x509: &self.x509,
            kerberos: &self.kerberos,
        }
    }

    /// The handshake configuration, from the key, certificate and allow files as they are now
    /// (also on reload), with a summary of what it allows.
    pub(crate) fn build(&self, tuning: &Tuning) -> anyhow::Result<(ServerConfig, String)> {
        let (mechanism, summary) = self.auth().build()?;
        let mut config = ServerConfig::new(mechanism).with_min_level(self.min_level);
        tuning.apply(&mut config.limits);
        Ok((config, summary))
    }
}

impl ClientOptions {
    pub(crate) fn auth(&self) -> ClientAuth<'_> {
        ClientAuth {
            kind: self.mechanism,
            key: self.key.as_deref(),
            server_key: self.server_key.as_deref(),
            x509: &self.x509,
            kerberos: &self.kerberos,
        }
    }

    /// The handshake configuration, from the key and certificate files as they are now (also on
    /// reload), with a summary of the server it accepts.
    pub(crate) fn build(&self, tuning: &Tuning) -> anyhow::Result<(ClientConfig, String)> {
        let (mechanism, summary) = self.auth().build()?;
        let mut config = ClientConfig::new(mechanism).with_level(self.level);
        tuning.apply(&mut config.limits);
        Ok((config, summary))
    }
}

fn level<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ProtectionLevel, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// A configuration file: its servers and clients, with relative paths resolved, and where
/// to serve metrics (`[metrics] listen = "ADDR"`).
#[derive(Debug)]
pub(crate) struct File {
    pub(crate) servers: Vec<ServerOptions>,
    pub(crate) clients: Vec<ClientOptions>,
    pub(crate) metrics: Option<String>,
}

impl File {
    /// Reads and parses a configuration file (without reading the key files it names).
    pub(crate) fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text, path)
    }

    /// Parses a configuration file's text; relative paths are resolved against `path`'s folder.
    pub(crate) fn parse(text: &str, path: &Path) -> anyhow::Result<Self> {
        let at = |e: &dyn std::fmt::Display| anyhow::anyhow!("{}: {e}", path.display());
        let mut table: toml::Table = toml::from_str(text).map_err(|e| at(&e))?;
        let mut entries = |kind: &str| -> anyhow::Result<Vec<toml::Table>> {
            match table.remove(kind) {
                None => Ok(Vec::new()),
                Some(toml::Value::Array(items)) => items
                    .into_iter()
                    .map(|v| match v {
                        toml::Value::Table(t) => Ok(t),
                        _ => Err(at(&format!("[[{kind}]] entries must be tables"))),
                    })
                    .collect(),
                Some(_) => Err(at(&format!(
                    "`{kind}` must be an array of tables: [[{kind}]]"
                ))),
            }
        };
        let (servers, clients) = (entries("server")?, entries("client")?);
        let metrics = match table.remove("metrics") {
            None => None,
            Some(toml::Value::Table(mut m)) => {
                let listen = match m.remove("listen") {
                    Some(toml::Value::String(a)) => a,
                    _ => bail!("{}: [metrics] needs listen = \"ADDR\"", path.display()),
                };
                if let Some(key) = m.keys().next() {
                    bail!("{}: metrics: unknown field `{key}`", path.display());
                }
                Some(listen)
            }
            Some(_) => bail!("{}: `metrics` must be a table: [metrics]", path.display()),
        };
        if let Some(key) = table.keys().next() {
            bail!("{}: unknown section `{key}`", path.display());
        }
        if servers.is_empty() && clients.is_empty() {
            bail!("{}: no [[server]] or [[client]] entries", path.display());
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        let mut file = Self {
            servers: Vec::new(),
            clients: Vec::new(),
            metrics,
        };
        for (i, t) in servers.into_iter().enumerate() {
            let mut s: ServerOptions = entry(
                t,
                &format!("server {}", i + 1),
                path,
                &known::<ServerOptions>(),
            )?;
            if let Some(k) = &mut s.key {
                resolve(k);
            }
            if let Some(a) = &mut s.allow {
                resolve(a);
            }
            s.x509.resolve(&resolve);
            s.kerberos.resolve(&resolve);
            file.servers.push(s);
        }
        for (i, t) in clients.into_iter().enumerate() {
            let mut c: ClientOptions = entry(
                t,
                &format!("client {}", i + 1),
                path,
                &known::<ClientOptions>(),
            )?;
            if let Some(k) = &mut c.key {
                resolve(k);
            }
            if let Some(k) = &mut c.server_key {
                resolve(k);
            }
            c.x509.resolve(&resolve);
            c.kerberos.resolve(&resolve);
            file.clients.push(c);
        }
        Ok(file)
    }

    /// Checks every entry as `handfast run` would, without reading key files: the values
    /// parse, limits are in range, addresses are well-formed.
    pub(crate) fn check_values(&self) -> anyhow::Result<()> {
        for (i, s) in self.servers.iter().enumerate() {
            let at = || format!("server {}", i + 1);
            s.tuning
                .resolve(s.handshake_timeout, s.mechanism)
                .with_context(at)?;
            s.auth().check().with_context(at)?;
        }
        for (i, c) in self.clients.iter().enumerate() {
            let at = || format!("client {}", i + 1);
            c.tuning
                .resolve(c.handshake_timeout, c.mechanism)
                .with_context(at)?;
            c.auth().check().with_context(at)?;
        }
        Ok(())
    }
}

/// The keys an entry may have: the options' own field names, as clap knows them (the one list
/// of fields), plus `name`.
fn known<T: Args>() -> BTreeSet<String> {
    let cmd = T::augment_args(clap::Command::new("entry"));
    let mut keys: BTreeSet<String> = cmd
        .get_arguments()
        .map(|a| a.get_id().as_str().to_owned())
        .collect();
    keys.insert("name".into());
    keys
}

/// One `[[server]]` or `[[client]]` entry: unknown keys are errors that name the entry.
fn entry<T: for<'de> Deserialize<'de>>(
    table: toml::Table,
    what: &str,
    path: &Path,
    known: &BTreeSet<String>,
) -> anyhow::Result<T> {
    if let Some(unknown) = table.keys().find(|k| !known.contains(*k)) {
        bail!("{}: {what}: unknown field `{unknown}`", path.display());
    }
    T::deserialize(toml::Value::Table(table))
        .map_err(|e| anyhow::anyhow!("{}: {what}: {}", path.display(), e.message()))
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
            handshake_timeout = 5

            [[client]]
            name = "cache"
            listen = "127.0.0.1:6380"
            connect = "127.0.0.1:7000"
            key = "client.key"
            server_key = "server.key.pub"
            idle_timeout = 30
        "#;
        let f = File::parse(text, Path::new("/srv/conf/handfast.toml")).unwrap();
        let (s, c) = (&f.servers[0], &f.clients[0]);
        assert_eq!(s.key.as_deref(), Some(Path::new("/srv/conf/server.key")));
        assert_eq!(
            s.allow.as_deref(),
            Some(Path::new("/etc/handfast/clients.allow"))
        );
        assert_eq!(s.min_level, ProtectionLevel::Integrity);
        assert_eq!(s.handshake_timeout, 5.0);
        assert_eq!(s.max_connections, defaults::MAX_CONNECTIONS);
        assert_eq!(s.name, None);
        assert_eq!(c.name.as_deref(), Some("cache"));
        assert_eq!(c.level, ProtectionLevel::Privacy);
        assert_eq!(c.tuning.idle_timeout, 30.0);
        assert_eq!(c.tuning.max_record_size, defaults::MAX_RECORD_SIZE);
        f.check_values().unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_that_say_where() {
        let text = "[[server]]\nlisten = \"a\"\nforward = \"b\"\nkey = \"k\"\nallow = \"a\"\nmin_levle = \"privacy\"\n";
        let err = File::parse(text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server 1: unknown field `min_levle`"), "{err}");
        let text = "[[client]]\nlisten = \"a\"\nconnect = \"b\"\nkey = \"k\"\nserver_key = \"s\"\nlevel = \"connect\"\n";
        let err = File::parse(text, Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid protection level \"connect\""),
            "{err}"
        );
        let err = File::parse("", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no [[server]] or [[client]]"), "{err}");
        let err = File::parse("[[server]]\nlisten = \"a\"\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing field `forward`"), "{err}");
        let text = "[[client]]\nlisten = \"a\"\nconnect = \"b\"\nkey = \"k\"\nserver_key = \"s\"\nkey_update_interval = 10\n";
        let f = File::parse(text, Path::new("x.toml")).unwrap();
        let err = format!("{:#}", f.check_values().unwrap_err());
        assert!(
            err.contains("client 1: key_update_interval 10: expected at least 1024"),
            "{err}"
        );
        // Each mechanism's options are checked without reading files.
        for (text, expect) in [
            (
                "[[server]]\nlisten = \"a\"\nforward = \"b\"\nkey = \"k\"\nallow = \"a\"\nca = \"c\"\n",
                "server 1: --cert, --ca, --crl and --allow-spiffe/-dns/-subject belong to --mechanism x509",
            ),
            (
                "[[server]]\nlisten = \"a\"\nforward = \"b\"\nkey = \"k\"\nmechanism = \"x509\"\ncert = \"c\"\nca = \"d\"\n",
                "server 1: an x509 server needs the clients it allows",
            ),
            (
                "[[client]]\nlisten = \"a\"\nconnect = \"b\"\nkey = \"k\"\nmechanism = \"x509\"\nallow_dns = \"x.org\"\n",
                "client 1: --mechanism x509 needs --cert and --ca",
            ),
            (
                "[[client]]\nlisten = \"a\"\nconnect = \"b\"\nkey = \"k\"\n",
                "client 1: a noise client needs --server-key",
            ),
            (
                "[[server]]\nlisten = \"a\"\nforward = \"b\"\nmechanism = \"kerberos\"\nkey = \"k\"\nallow_principal = \"*@R\"\n",
                "server 1: a kerberos server takes --keytab and --allow-principals",
            ),
            (
                "[[server]]\nlisten = \"a\"\nforward = \"b\"\nmechanism = \"kerberos\"\nkeytab = \"k\"\n",
                "server 1: a kerberos server needs the principals it allows",
            ),
            (
                "[[client]]\nlisten = \"a\"\nconnect = \"b\"\nmechanism = \"kerberos\"\nccache = \"FILE:c\"\n",
                "client 1: a kerberos client needs --service",
            ),
            (
                "[[client]]\nlisten = \"a\"\nconnect = \"b\"\nkey = \"k\"\nserver_key = \"s\"\nservice = \"host@x\"\n",
                "client 1: --keytab, --allow-principals, --allow-principal, --service, --ccache and --client-keytab belong to --mechanism kerberos",
            ),
            (
                "[[client]]\nlisten = \"a\"\nconnect = \"b\"\nmechanism = \"kerberos\"\nservice = \"host@x\"\nccache = \"c\"\nclient_keytab = \"k\"\n",
                "client 1: --ccache and --client-keytab exclude each other",
            ),
        ] {
            let f = File::parse(text, Path::new("x.toml")).unwrap();
            let err = format!("{:#}", f.check_values().unwrap_err());
            assert!(err.contains(expect), "{err}");
        }
        let text = "[[server]]\nlisten = \"a\"\nforward = \"b\"\nkey = \"k\"\nmechanism = \"x509\"\ncert = \"c\"\nca = \"d\"\ncrl = [\"r1\", \"r2\"]\nallow_spiffe = \"spiffe://example.org/*\"\nallow_dns = [\"a.org\", \"*.b.org\"]\n";
        let f = File::parse(text, Path::new("/etc/x.toml")).unwrap();
        f.check_values().unwrap();
        let s = &f.servers[0];
        assert_eq!(
            s.x509.crl,
            [PathBuf::from("/etc/r1"), PathBuf::from("/etc/r2")]
        );
        assert_eq!(s.x509.allow_spiffe, ["spiffe://example.org/*"]);
        assert_eq!(s.x509.allow_dns.len(), 2);
        assert_eq!(s.x509.cert.as_deref(), Some(Path::new("/etc/c")));
        let err = File::parse("[stats]\nlisten = \"x\"\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown section `stats`"), "{err}");
        let err = File::parse("[metrics]\nport = 1\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("[metrics] needs listen"), "{err}");
    }

    #[test]
    fn flags_and_file_know_the_same_fields() {
        let server = known::<ServerOptions>();
        for field in [
            "listen",
            "forward",
            "key",
            "allow",
            "min_level",
            "max_handshakes",
            "keepalive",
            "name",
        ] {
            assert!(server.contains(field), "{field}");
        }
        assert!(known::<ClientOptions>().contains("server_key"));
        <crate::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
