//! `handfast`: put mutual authentication and protection in front of any TCP service.
//!
//! This library is the binary's implementation; its only public items are the entry point and
//! a hook for the configuration fuzzer.

mod bench;
mod ca;
mod config;
mod demo;
mod keys;
mod mechanisms;
mod metrics;
mod service;
mod sessions;
mod socket;
mod tunnel;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Mutual authentication and message protection (privacy or integrity) for TCP services.
#[derive(Parser, Debug)]
#[command(name = "handfast", version, about, long_about = None)]
pub(crate) struct Cli {
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
    /// A small certificate authority for --mechanism x509, for those with no PKI.
    Ca {
        #[command(subcommand)]
        command: ca::CaCommand,
    },
    /// Print the public key line of a private key file.
    Pubkey {
        /// The private key file.
        path: PathBuf,
    },
    /// Accept handfast clients and forward their traffic to a plain TCP service.
    Server {
        #[command(flatten)]
        options: config::ServerOptions,
        /// Serve metrics in the Prometheus text format at http://ADDR/metrics.
        #[arg(long, value_name = "ADDR")]
        metrics: Option<String>,
    },
    /// Accept plain local connections and carry them to a handfast server.
    Client {
        #[command(flatten)]
        options: config::ClientOptions,
        /// Serve metrics in the Prometheus text format at http://ADDR/metrics.
        #[arg(long, value_name = "ADDR")]
        metrics: Option<String>,
    },
    /// Run the servers and clients described in a TOML file.
    Run {
        /// The configuration file.
        config: PathBuf,
    },
    /// Check a TOML configuration file as `run` would (values, key and allow files) and exit.
    Check {
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
        Command::Ca { command } => ca::run(command),
        Command::Server { options, metrics } => {
            let svc = service::ServerService::load(options, "server")?;
            runtime()?.block_on(tunnel::run(vec![svc], Vec::new(), metrics))
        }
        Command::Client { options, metrics } => {
            let svc = service::ClientService::load(options, "client")?;
            runtime()?.block_on(tunnel::run(Vec::new(), vec![svc], metrics))
        }
        Command::Run { config } => {
            let (servers, clients, metrics) = load(&config)?;
            runtime()?.block_on(tunnel::run(servers, clients, metrics))
        }
        Command::Check { config } => {
            let (servers, clients, _) = load(&config)?;
            println!(
                "{}: OK: {} server(s), {} client(s)",
                config.display(),
                servers.len(),
                clients.len()
            );
            for s in &servers {
                println!(
                    "  server {}: {} -> {}, minimum level {}, {}: {}",
                    s.name,
                    s.options.listen,
                    s.options.forward,
                    s.options.min_level,
                    s.options.mechanism,
                    s.allowed.current()
                );
            }
            for c in &clients {
                println!(
                    "  client {}: {} -> {}, level {}, {}: {}",
                    c.name,
                    c.options.listen,
                    c.options.connect,
                    c.options.level,
                    c.options.mechanism,
                    c.server.current()
                );
            }
            Ok(())
        }
        Command::Demo => runtime()?.block_on(demo::run()),
        Command::Bench => bench::run(),
    }
}

/// Reads a configuration file and loads every service it names (keys included); and where to
/// serve metrics.
#[allow(clippy::type_complexity)]
fn load(
    path: &std::path::Path,
) -> anyhow::Result<(
    Vec<service::ServerService>,
    Vec<service::ClientService>,
    Option<String>,
)> {
    let file = config::File::read(path)?;
    file.check_values()?;
    let servers = file
        .servers
        .into_iter()
        .enumerate()
        .map(|(i, s)| service::ServerService::load(s, &format!("server{}", i + 1)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let clients = file
        .clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| service::ClientService::load(c, &format!("client{}", i + 1)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((servers, clients, file.metrics))
}

/// Parses a configuration file's text as `handfast run` does (without reading key files); for
/// the configuration fuzzer.
///
/// # Errors
/// Whatever `handfast run` would report for this text.
#[doc(hidden)]
pub fn parse_config(text: &str) -> anyhow::Result<usize> {
    let file = config::File::parse(text, std::path::Path::new("fuzz.toml"))?;
    file.check_values()?;
    Ok(file.servers.len() + file.clients.len())
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
