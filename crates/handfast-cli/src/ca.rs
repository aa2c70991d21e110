//! `handfast ca`: a small certificate authority for `--mechanism x509`, for those with no PKI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use clap::Subcommand;
use handfast_x509::SpiffeId;
use handfast_x509::ca::{Authority, KeyType, Request, Usage, parse_lifetime};

use crate::keys::{write_new, write_replace};

#[derive(Subcommand, Debug)]
pub(crate) enum CaCommand {
    /// Create a CA: DIR/ca.pem (the trust bundle, --ca on every side) and DIR/ca.key (mode
    /// 0600; keep it off the servers).
    Init {
        /// The folder for ca.pem and ca.key (created if missing).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The CA's name (its subject common name).
        #[arg(long, value_name = "TEXT", default_value = "handfast CA")]
        name: String,
        /// How long the CA is valid: a number and s, m, h or d.
        #[arg(long, value_name = "TIME", default_value = "365d", value_parser = parse_lifetime)]
        lifetime: Duration,
    },
    /// Issue a certificate and a new key signed by the CA in DIR: OUT.pem and OUT.key (mode
    /// 0600). Existing files are replaced atomically, so a running daemon picks up the new
    /// pair (rotation).
    Issue {
        /// The CA's folder (ca.pem and ca.key).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The SPIFFE ID, e.g. spiffe://example.org/ns/prod/web.
        #[arg(long, value_name = "ID")]
        spiffe_id: Option<String>,
        /// A DNS name (repeatable).
        #[arg(long, value_name = "NAME")]
        dns: Vec<String>,
        /// Where to write: OUT.pem and OUT.key.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// How long the certificate is valid: a number and s, m, h or d. Short by default:
        /// re-issue (or let your automation re-issue) before it ends.
        #[arg(long, value_name = "TIME", default_value = "24h", value_parser = parse_lifetime)]
        lifetime: Duration,
        /// What the certificate may be used for.
        #[arg(long, value_enum, default_value = "both")]
        usage: UsageArg,
        /// The new key's type: p256 (ECDSA) or ed25519.
        #[arg(long, value_name = "TYPE", default_value = "p256")]
        key_type: KeyType,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(crate) enum UsageArg {
    /// clientAuth: for `handfast client`.
    Client,
    /// serverAuth: for `handfast server`.
    Server,
    /// Both.
    Both,
}

pub(crate) fn run(command: CaCommand) -> anyhow::Result<()> {
    match command {
        CaCommand::Init {
            dir,
            name,
            lifetime,
        } => {
            let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
            for p in [&cert, &key] {
                if p.exists() {
                    bail!("{} already exists; refusing to overwrite it", p.display());
                }
            }
            std::fs::create_dir_all(&dir)?;
            let ca = Authority::init(&name, lifetime)?;
            write_new(&key, ca.key_pem().as_bytes(), 0o600)?;
            write_new(&cert, ca.cert_pem().as_bytes(), 0o644)?;
            println!(
                "wrote {} (the trust bundle: --ca) and {} (mode 0600), valid for {}",
                cert.display(),
                key.display(),
                days(lifetime)
            );
            Ok(())
        }
        CaCommand::Issue {
            dir,
            spiffe_id,
            dns,
            out,
            lifetime,
            usage,
            key_type,
        } => {
            let ca = Authority::load(&dir.join("ca.pem"), &dir.join("ca.key"))?;
            let spiffe_id = spiffe_id.as_deref().map(SpiffeId::parse).transpose()?;
            let issued = ca.issue(&Request {
                spiffe_id,
                dns_names: dns,
                common_name: None,
                lifetime,
                usage: match usage {
                    UsageArg::Client => Usage::Client,
                    UsageArg::Server => Usage::Server,
                    UsageArg::Both => Usage::Both,
                },
                key_type,
            })?;
            let (cert, key) = (with_ext(&out, "pem"), with_ext(&out, "key"));
            // The key first: a daemon that sees the new certificate finds its key in place.
            write_replace(&key, issued.key_pem.as_bytes(), 0o600)?;
            write_replace(&cert, issued.cert_pem.as_bytes(), 0o644)?;
            println!(
                "wrote {} and {} (mode 0600), valid for {}",
                cert.display(),
                key.display(),
                days(lifetime)
            );
            Ok(())
        }
    }
}

fn with_ext(out: &Path, ext: &str) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn days(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(86_400) {
        format!("{} day(s)", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{} hour(s)", s / 3600)
    } else {
        format!("{s} s")
    }
}
