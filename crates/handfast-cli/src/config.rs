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
        config.limits.handshake_timeout = self.handshake_timeout;
        Ok(ServerService {
            name: self.name,
            listen: self.listen,
            forward: self.forward,
            config: Arc::new(config),
            max_connections: self.max_connections,
            allowed_keys,
            events: Events::default(),
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
        config.limits.handshake_timeout = self.handshake_timeout;
        Ok(ClientService {
            name: self.name,
            listen: self.listen,
            connect: self.connect,
            config: Arc::new(config),
            server_fingerprint,
            events: Events::default(),
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
