//! tonic channels whose connections are handfast sessions.
//!
//! ```no_run
//! # async fn run(config: std::sync::Arc<handfast::ClientConfig>) -> Result<(), Box<dyn std::error::Error>> {
//! let channel = handfast_tonic::client::connect("db.example.net:50051", config).await?;
//! // let mut accounts = AccountsClient::new(channel);
//! # let _ = channel; Ok(())
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use handfast::ClientConfig;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::io::Connection;

/// Connects a tonic channel to `addr` (`host:port`, or `[v6]:port`) over handfast with
/// `config`: the server is authenticated, and this client too, before any request is sent.
/// Which server is accepted is the mechanism's decision (the pinned key, the allowed SPIFFE ID
/// or DNS name): the host in `addr` is only where to connect.
///
/// # Errors
/// An address that does not parse, or a connection or handshake that fails (the first
/// connection is made before this returns).
pub async fn connect(
    addr: &str,
    config: Arc<ClientConfig>,
) -> Result<Channel, tonic::transport::Error> {
    endpoint(addr)?
        .connect_with_connector(Connector::new(config))
        .await
}

/// The endpoint for `addr` (`host:port`), to set timeouts and the like before connecting with
/// a [`Connector`].
///
/// # Errors
/// An address that does not parse.
pub fn endpoint(addr: &str) -> Result<Endpoint, tonic::transport::Error> {
    // The scheme is tonic's; the bytes are handfast's.
    Endpoint::from_shared(format!("http://{addr}"))
}

/// Makes handfast connections for a tonic [`Endpoint`] (`connect_with_connector`, or
/// `connect_with_connector_lazy`).
#[derive(Clone, Debug)]
pub struct Connector {
    config: Arc<ClientConfig>,
}

impl Connector {
    /// Connections authenticated with `config`.
    pub fn new(config: Arc<ClientConfig>) -> Self {
        Self { config }
    }
}

/// Why a connection could not be made.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<Connection>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let config = self.config.clone();
        Box::pin(async move {
            let host = uri.host().ok_or("the address has no host")?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port = uri.port_u16().ok_or("the address has no port")?;
            let tcp = TcpStream::connect((host, port)).await?;
            tcp.set_nodelay(true)?;
            let stream = handfast_tokio::connect(tcp, config).await?;
            Ok(TokioIo::new(Connection::new(stream, None)))
        })
    }
}
