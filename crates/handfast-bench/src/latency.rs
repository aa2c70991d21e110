//! Time to first reply of a fresh connection over a link that delays every byte by `D` each
//! way: the pieces `bench/latency.sh` puts together (plain threads and sockets, no runtime).
//!
//! - `echo`: a TCP echo service;
//! - `delay`: a TCP relay that holds each chunk `D` before passing it on, in both directions
//!   (a link with latency and no bandwidth limit; the relay's own connection set-up is local,
//!   so the TCP handshake across the "link" costs nothing, as with a warm path);
//! - `first-reply`: connects to an address, sends a line, and times the first byte back.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// `echo --listen ADDR`
pub(crate) fn echo(listen: &str) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).with_context(|| format!("bind {listen}"))?;
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        thread::spawn(move || {
            let _ = conn.set_nodelay(true);
            let mut buf = [0u8; 16 * 1024];
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 || conn.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = conn.shutdown(Shutdown::Write);
        });
    }
    Ok(())
}

/// `delay --listen ADDR --connect ADDR --delay-ms D`
pub(crate) fn delay(listen: &str, connect: &str, delay: Duration) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).with_context(|| format!("bind {listen}"))?;
    for conn in listener.incoming() {
        let Ok(a) = conn else { continue };
        let connect = connect.to_owned();
        thread::spawn(move || {
            let Ok(b) = TcpStream::connect(&connect) else {
                return;
            };
            for s in [&a, &b] {
                let _ = s.set_nodelay(true);
            }
            let (a2, b2) = match (a.try_clone(), b.try_clone()) {
                (Ok(a2), Ok(b2)) => (a2, b2),
                _ => return,
            };
            let up = thread::spawn(move || pipe(a, b2, delay));
            pipe(b, a2, delay);
            let _ = up.join();
        });
    }
    Ok(())
}

/// Copies `from` to `to`, each chunk `delay` after it was read; the end of input follows the
/// last chunk after the same delay.
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = thread::spawn(move || {
        for (due, chunk) in rx {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if chunk.is_empty() {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            if to.write_all(&chunk).is_err() {
                return;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).unwrap_or(0);
        if tx
            .send((Instant::now() + delay, buf[..n].to_vec()))
            .is_err()
            || n == 0
        {
            break;
        }
    }
    drop(tx);
    let _ = writer.join();
}

/// `first-reply --connect ADDR`: milliseconds from connect to the first byte of the reply.
pub(crate) fn first_reply(connect: &str) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut s = TcpStream::connect(connect).with_context(|| format!("connect {connect}"))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(b"ping\n")?;
    let mut byte = [0u8; 1];
    let n = s.read(&mut byte).context("reading the reply")?;
    anyhow::ensure!(n == 1, "connection closed before a reply");
    let ms = start.elapsed().as_secs_f64() * 1e3;
    let _ = s.shutdown(Shutdown::Both);
    Ok(ms)
}
