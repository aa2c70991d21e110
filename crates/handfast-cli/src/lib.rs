//! `handfast`: put mutual authentication and protection in front of any TCP service.
//!
//! This library is the binary's implementation; its only public items are the entry point and
//! a hook for the configuration fuzzer.

mod bench;
mod config;
mod demo;
mod keys;
mod tunnel;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use handfast::ProtectionLevel;

/// Mutual authentication and message protection (privacy or integrity) for TCP services.
#[derive(Parser, Debug)]
#[command(name = "handfast", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a key pair: PATH (private, mode 0600) and PATH.pub (one public key line).
    Keygen {
        /// Where to write the private key; the public key goes to PATH.pub.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
        /// A name for the key, written into the public key line.
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
    },
    /// Print the public key line of a private key file.
    Pubkey {
        /// The private key file.
        path: PathBuf,
    },
    /// Accept handfast clients and forward their traffic to a plain TCP service.
    Server {
        /// Address to accept handfast clients on (port 0 picks a free port).
        #[arg(long, value_name = "ADDR")]
        listen: String,
        /// The plain TCP service to forward to.
        #[arg(long, value_name = "ADDR")]
        forward: String,
        /// This server's private key file.
        #[arg(long, value_name = "PATH")]
        key: PathBuf,
        /// File of public key lines of the clients allowed to connect.
        #[arg(long, value_name = "PATH")]
        allow: PathBuf,
        /// Lowest protection level accepted: integrity lets clients that ask for it run at
        /// integrity.
        #[arg(long, value_name = "LEVEL", default_value = "privacy")]
        min_level: ProtectionLevel,
        /// Seconds a client has to complete the handshake.
        #[arg(long, value_name = "SECS", default_value_t = 10.0)]
        handshake_timeout: f64,
        /// Connections served at once; more are refused.
        #[arg(long, value_name = "N", default_value_t = tunnel::DEFAULT_MAX_CONNECTIONS)]
        max_connections: usize,
        #[command(flatten)]
        tuning: config::TuningArgs,
    },
    /// Accept plain local connections and carry them to a handfast server.
    Client {
        /// Local address to accept plain connections on (port 0 picks a free port).
        #[arg(long, value_name = "ADDR")]
        listen: String,
        /// The handfast server to connect to.
        #[arg(long, value_name = "ADDR")]
        connect: String,
        /// This client's private key file.
        #[arg(long, value_name = "PATH")]
        key: PathBuf,
        /// File with the server's public key line (pinned).
        #[arg(long, value_name = "PATH")]
        server_key: PathBuf,
        /// Protection level to ask for; the server may raise it.
        #[arg(long, value_name = "LEVEL", default_value = "privacy")]
        level: ProtectionLevel,
        /// Seconds the server has to complete the handshake.
        #[arg(long, value_name = "SECS", default_value_t = 10.0)]
        handshake_timeout: f64,
        #[command(flatten)]
        tuning: config::TuningArgs,
    },
    /// Run the servers and clients described in a TOML file.
    Run {
        /// The configuration file.
        config: PathBuf,
    },
    /// Show the whole story in one process on loopback: no setup, no files.
    Demo,
    /// Measure this machine: throughput per level and message size, handshakes per second,
    /// overhead per record.
    Bench,
}

/// The `handfast` command line: parses arguments, runs the command, prints errors.
pub fn cli_main() -> ExitCode {
    let cli = Cli::parse();
    // The demo narrates the server's log itself; the raw log would interleave with it.
    let default_level = match cli.command {
        Command::Demo => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    init_logging(default_level);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("handfast: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen { out, comment } => keys::keygen(&out, comment.as_deref()),
        Command::Pubkey { path } => keys::pubkey(&path),
        Command::Server {
            listen,
            forward,
            key,
            allow,
            min_level,
            handshake_timeout,
            max_connections,
            tuning,
        } => {
            let svc = config::ServerSpec {
                name: "server".into(),
                listen,
                forward,
                key,
                allow,
                min_level,
                handshake_timeout: seconds(handshake_timeout)?,
                max_connections,
                tuning: tuning.resolve()?,
            };
            runtime()?.block_on(tunnel::run(vec![svc.load()?], Vec::new()))
        }
        Command::Client {
            listen,
            connect,
            key,
            server_key,
            level,
            handshake_timeout,
            tuning,
        } => {
            let svc = config::ClientSpec {
                name: "client".into(),
                listen,
                connect,
                key,
                server_key,
                level,
                handshake_timeout: seconds(handshake_timeout)?,
                tuning: tuning.resolve()?,
            };
            runtime()?.block_on(tunnel::run(Vec::new(), vec![svc.load()?]))
        }
        Command::Run { config } => {
            let (servers, clients) = config::load(&config)?;
            runtime()?.block_on(tunnel::run(servers, clients))
        }
        Command::Demo => runtime()?.block_on(demo::run()),
        Command::Bench => bench::run(),
    }
}

/// Parses a configuration file's text as `handfast run` does (without reading key files); for
/// the configuration fuzzer.
///
/// # Errors
/// Whatever `handfast run` would report for this text.
#[doc(hidden)]
pub fn parse_config(text: &str) -> anyhow::Result<usize> {
    let (servers, clients) = config::parse(text, std::path::Path::new("fuzz.toml"))?;
    Ok(servers.len() + clients.len())
}

fn seconds(s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            anyhow::anyhow!("invalid timeout {s}: expected a positive number of seconds")
        })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Logs go to stderr; `HANDFAST_LOG` (error, warn, info, debug, trace) sets the level.
fn init_logging(default: tracing::Level) {
    let level = std::env::var("HANDFAST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing::Level>().ok())
        .unwrap_or(default);
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_max_level(level)
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
}
