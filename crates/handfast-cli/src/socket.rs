//! Sockets: binding listeners, tuning tunnel sockets, and ending connections with a reset.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpStream};
use tracing::warn;

use crate::config::Tuning;

/// Pending connections the kernel may queue before `accept` (capped by `net.core.somaxconn`).
/// Generous, so that a flood of strangers does not make honest clients wait for SYN
/// retransmissions.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` (the first address it resolves to), naming it in the error.
pub(crate) async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    let context = || format!("cannot listen on {addr}");
    let resolved = tokio::net::lookup_host(addr)
        .await
        .with_context(context)?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{addr}: resolves to no address"))
        .with_context(context)?;
    let socket = match resolved {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .with_context(context)?;
    socket.set_reuseaddr(true).with_context(context)?;
    socket.bind(resolved).with_context(context)?;
    socket.listen(LISTEN_BACKLOG).with_context(context)
}

/// No Nagle delay; TCP keepalive so that a peer that vanished without FIN or RST is found.
pub(crate) fn tune_tunnel_socket(tcp: &TcpStream, tuning: &Tuning) {
    let _ = tcp.set_nodelay(true);
    if let Some(idle) = tuning.keepalive {
        let ka = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval(Duration::from_secs(10).min(idle))
            .with_retries(3);
        if let Err(e) = socket2::SockRef::from(tcp).set_tcp_keepalive(&ka) {
            warn!("cannot enable TCP keepalive: {e}");
        }
    }
}

/// Resets the connection it holds when dropped, unless disarmed after a clean end.
pub(crate) struct ResetOnDrop {
    pub(crate) tcp: TcpStream,
    pub(crate) armed: bool,
}

impl ResetOnDrop {
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for ResetOnDrop {
    fn drop(&mut self) {
        if self.armed {
            reset_on_close(&self.tcp);
        }
    }
}

/// Closes a TCP connection with a reset (SO_LINGER 0), so the application sees an error, not a
/// clean end of stream.
pub(crate) fn reset(tcp: TcpStream) {
    reset_on_close(&tcp);
    drop(tcp);
}

/// SO_LINGER 0: when the socket is closed, the kernel sends a reset instead of a FIN.
pub(crate) fn reset_on_close(tcp: &TcpStream) {
    #[allow(deprecated)] // set_linger(0) is exactly the reset wanted here.
    let _ = tcp.set_linger(Some(Duration::ZERO));
}
