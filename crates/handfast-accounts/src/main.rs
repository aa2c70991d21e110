//! `accounts`: the example service's server and a client, with keys from `handfast keygen`.
//!
//! ```sh
//! accounts server --listen 127.0.0.1:50051 --key server.key --allow clients.allow
//! accounts client --connect 127.0.0.1:50051 --key teller.key --server-key server.key.pub \
//!     transfer alice bob 250
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use handfast::{ClientConfig, ProtectionLevel, ServerConfig};
use handfast_accounts::messages::{BalanceRequest, TransferRequest};
use handfast_accounts::{AccountsClient, AccountsServer, Bank};
use handfast_noise::{NoiseMechanism, PrivateKey, PublicKey, TrustSet};
use tokio_stream::StreamExt as _;

#[derive(Parser)]
#[command(name = "accounts", about = "An example gRPC service over handfast")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Accounts service.
    Server {
        /// Address to listen on.
        #[arg(long, value_name = "ADDR")]
        listen: String,
        /// This server's private key (`handfast keygen`).
        #[arg(long, value_name = "PATH")]
        key: PathBuf,
        /// The clients allowed: public key lines, each named by its comment (name one `teller`
        /// to let it transfer).
        #[arg(long, value_name = "PATH")]
        allow: PathBuf,
    },
    /// Call the service.
    Client {
        /// The server.
        #[arg(long, value_name = "ADDR")]
        connect: String,
        /// This client's private key.
        #[arg(long, value_name = "PATH")]
        key: PathBuf,
        /// The server's public key file (pinned).
        #[arg(long, value_name = "PATH")]
        server_key: PathBuf,
        /// The connection's level: privacy (default) or integrity.
        #[arg(long, default_value_t = ProtectionLevel::Privacy)]
        level: ProtectionLevel,
        #[command(subcommand)]
        call: Call,
    },
}

#[derive(Subcommand)]
enum Call {
    /// GetBalance ACCOUNT (allowed at integrity).
    Balance { account: String },
    /// Transfer FROM TO CENTS (privacy, teller only).
    Transfer {
        from: String,
        to: String,
        cents: i64,
    },
    /// Statement ACCOUNT (a stream).
    Statement { account: String },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<tonic::Status>() {
                Some(s) => eprintln!("accounts: {:?}: {}", s.code(), s.message()),
                None => eprintln!("accounts: error: {e:#}"),
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Server { listen, key, allow } => {
            let mechanism = NoiseMechanism::new(PrivateKey::load(&key)?, TrustSet::load(&allow)?);
            let config = Arc::new(
                ServerConfig::new(Arc::new(mechanism)).with_min_level(ProtectionLevel::Integrity),
            );
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            tracing::info!("accounts: serving on {}", listener.local_addr()?);
            let incoming = handfast_tonic::server::incoming(listener, config, Default::default());
            tonic::transport::Server::builder()
                .layer(handfast_accounts::policy().layer())
                .add_service(AccountsServer::new(Bank::default()))
                .serve_with_incoming(incoming)
                .await?;
        }
        Command::Client {
            connect,
            key,
            server_key,
            level,
            call,
        } => {
            let server = PublicKey::load(&server_key)?;
            let mechanism = NoiseMechanism::new(PrivateKey::load(&key)?, TrustSet::from([server]));
            let config = Arc::new(ClientConfig::new(Arc::new(mechanism)).with_level(level));
            let channel = handfast_tonic::client::connect(&connect, config)
                .await
                .with_context(|| format!("cannot reach {connect}"))?;
            let mut client = AccountsClient::new(channel);
            match call {
                Call::Balance { account } => {
                    let b = client
                        .get_balance(BalanceRequest { account })
                        .await?
                        .into_inner();
                    println!(
                        "{}: {}.{:02} (the server saw {:?} at {})",
                        b.account,
                        b.cents / 100,
                        b.cents % 100,
                        b.caller,
                        b.level
                    );
                }
                Call::Transfer { from, to, cents } => {
                    let r = client
                        .transfer(TransferRequest { from, to, cents })
                        .await?
                        .into_inner();
                    println!("transfer {} by {}: {} left", r.id, r.teller, r.from_cents);
                }
                Call::Statement { account } => {
                    let mut entries = client
                        .statement(BalanceRequest { account })
                        .await?
                        .into_inner();
                    while let Some(e) = entries.next().await {
                        let e = e?;
                        println!("{:>3} {:>10} {}", e.seq, e.cents, e.note);
                    }
                }
            }
        }
    }
    Ok(())
}
