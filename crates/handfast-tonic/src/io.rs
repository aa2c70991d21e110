//! A handfast session as the byte stream tonic serves or calls over.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::Caller;

/// An authenticated connection: a handfast stream over TCP, with who is on the other end.
pub struct Connection {
    stream: handfast_tokio::Stream<TcpStream>,
    caller: Caller,
    /// The server's place for an authenticated connection, released when it closes.
    _place: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Connection {
    pub(crate) fn new(
        stream: handfast_tokio::Stream<TcpStream>,
        place: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> Self {
        let ctx = stream.context();
        let caller = Caller {
            identity: std::sync::Arc::new(ctx.peer().clone()),
            level: ctx.level(),
            mechanism: ctx.mechanism().1,
            remote: stream.get_ref().peer_addr().ok(),
        };
        Self {
            stream,
            caller,
            _place: place,
        }
    }

    /// The peer and the level.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

impl tonic::transport::server::Connected for Connection {
    type ConnectInfo = Caller;

    fn connect_info(&self) -> Caller {
        self.caller.clone()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
