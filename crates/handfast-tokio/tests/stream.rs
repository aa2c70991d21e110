//! The tokio layer over in-memory duplex pipes, with a relay that can alter bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::ErrorKind;
use std::sync::Arc;

use handfast::{ClientConfig, ProtectionLevel, ServerConfig};
use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};
use handfast_tokio::{HandshakeError, Stream, accept, connect};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

fn configs(level: ProtectionLevel) -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let (sk, ck) = (
        PrivateKey::from_seed([1; 32]),
        PrivateKey::from_seed([2; 32]),
    );
    let server = ServerConfig::new(Arc::new(NoiseMechanism::new(
        sk.clone(),
        TrustSet::from([ck.public_key("c")]),
    )))
    .with_min_level(ProtectionLevel::Integrity);
    let client = ClientConfig::new(Arc::new(NoiseMechanism::new(
        ck,
        TrustSet::from([sk.public_key("s")]),
    )))
    .with_level(level);
    (Arc::new(client), Arc::new(server))
}

/// Alters client-to-server bytes in flight, given their offset in the stream.
type Alter = Box<dyn FnMut(usize, &mut Vec<u8>) + Send>;

/// A connected pair, optionally through a relay that applies `alter` to client-to-server bytes
/// (given the running offset).
async fn pair(
    level: ProtectionLevel,
    alter: Option<Alter>,
) -> (Stream<DuplexStream>, Stream<DuplexStream>) {
    let (cc, sc) = configs(level);
    let (c_io, s_io) = match alter {
        None => duplex(1 << 16),
        Some(mut f) => {
            let (c_io, mut relay_c) = duplex(1 << 16);
            let (mut relay_s, s_io) = duplex(1 << 16);
            tokio::spawn(async move {
                let (mut cr, mut cw) = tokio::io::split(&mut relay_c);
                let (mut sr, mut sw) = tokio::io::split(&mut relay_s);
                let up = async {
                    let mut buf = vec![0u8; 4096];
                    let mut offset = 0;
                    loop {
                        let n = cr.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            let _ = sw.shutdown().await;
                            break;
                        }
                        let mut chunk = buf[..n].to_vec();
                        f(offset, &mut chunk);
                        offset += n;
                        if sw.write_all(&chunk).await.is_err() {
                            break;
                        }
                    }
                };
                let down = async {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    let _ = cw.shutdown().await;
                };
                tokio::join!(up, down);
            });
            (c_io, s_io)
        }
    };
    let server = tokio::spawn(async move { accept(s_io, sc).await });
    let client = connect(c_io, cc).await.unwrap();
    (client, server.await.unwrap().unwrap())
}

#[tokio::test]
async fn bytes_round_trip_and_half_close() {
    let (mut c, mut s) = pair(ProtectionLevel::Privacy, None).await;
    assert_eq!(c.context().peer().name(), "s");
    assert_eq!(s.context().peer().name(), "c");
    let data: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    let expected = data.clone();
    let writer = tokio::spawn(async move {
        c.write_all(&data).await.unwrap();
        c.shutdown().await.unwrap();
        // Half-closed: the other direction still flows.
        let mut reply = Vec::new();
        c.read_to_end(&mut reply).await.unwrap();
        reply
    });
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, expected);
    s.write_all(b"done").await.unwrap();
    s.shutdown().await.unwrap();
    assert_eq!(writer.await.unwrap(), b"done");
}

#[tokio::test]
async fn messages_carry_their_level() {
    let (mut c, mut s) = pair(ProtectionLevel::Integrity, None).await;
    assert_eq!(c.context().level(), ProtectionLevel::Integrity);
    c.send(ProtectionLevel::Integrity, b"signed only")
        .await
        .unwrap();
    c.send(ProtectionLevel::Privacy, b"encrypted")
        .await
        .unwrap();
    assert_eq!(
        s.recv().await.unwrap(),
        Some((ProtectionLevel::Integrity, b"signed only".to_vec()))
    );
    assert_eq!(
        s.recv().await.unwrap(),
        Some((ProtectionLevel::Privacy, b"encrypted".to_vec()))
    );
    // An empty message is a message.
    c.send(ProtectionLevel::Integrity, b"").await.unwrap();
    c.send(ProtectionLevel::Integrity, b"after empty")
        .await
        .unwrap();
    assert_eq!(
        s.recv().await.unwrap(),
        Some((ProtectionLevel::Integrity, Vec::new()))
    );
    assert_eq!(
        s.recv().await.unwrap(),
        Some((ProtectionLevel::Integrity, b"after empty".to_vec()))
    );
    c.shutdown().await.unwrap();
    assert_eq!(s.recv().await.unwrap(), None);
}

#[tokio::test]
async fn buffered_reads_deliver_lines_and_end_cleanly() {
    use tokio::io::AsyncBufReadExt;
    let (mut c, mut s) = pair(ProtectionLevel::Privacy, None).await;
    c.write_all(b"line one\nline two\n").await.unwrap();
    c.shutdown().await.unwrap();
    let mut line = String::new();
    s.read_line(&mut line).await.unwrap();
    assert_eq!(line, "line one\n");
    line.clear();
    s.read_line(&mut line).await.unwrap();
    assert_eq!(line, "line two\n");
    assert!(
        s.fill_buf().await.unwrap().is_empty(),
        "clean end after the close"
    );
}

#[tokio::test]
async fn write_level_cannot_go_below_negotiated() {
    let (mut c, _s) = pair(ProtectionLevel::Privacy, None).await;
    assert!(c.set_write_level(ProtectionLevel::Integrity).is_err());
    assert!(c.send(ProtectionLevel::Integrity, b"x").await.is_err());
}

#[tokio::test]
async fn cut_stream_is_an_error_not_a_clean_end() {
    let (mut c, mut s) = pair(ProtectionLevel::Privacy, None).await;
    c.write_all(b"partial").await.unwrap();
    c.flush().await.unwrap();
    // Close the transport without the authenticated close.
    c.get_mut().shutdown().await.unwrap();
    let mut got = Vec::new();
    let err = s.read_to_end(&mut got).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    assert_eq!(got, b"partial");
}

#[tokio::test]
async fn tampered_byte_is_an_error_with_an_exact_prefix() {
    // Flip one byte well after the handshake (which is under 400 client-to-server bytes).
    let flip_at = 50_000;
    let alter = Box::new(move |offset: usize, chunk: &mut Vec<u8>| {
        if (offset..offset + chunk.len()).contains(&flip_at) {
            chunk[flip_at - offset] ^= 0x20;
        }
    });
    let (mut c, mut s) = pair(ProtectionLevel::Privacy, Some(alter)).await;
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
    let sent = data.clone();
    tokio::spawn(async move {
        for chunk in data.chunks(10_000) {
            if c.write_all(chunk).await.is_err() {
                break;
            }
        }
        let _ = c.shutdown().await;
    });
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    let err = loop {
        match s.read(&mut buf).await {
            Ok(0) => panic!("clean end after tampering"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(got.len() < sent.len() && got == sent[..got.len()]);
}

#[tokio::test(start_paused = true)]
async fn silent_peer_hits_the_handshake_deadline() {
    let (_cc, sc) = configs(ProtectionLevel::Privacy);
    let (_silent, s_io) = duplex(1024);
    let err = accept(s_io, sc).await.unwrap_err();
    assert!(matches!(err, HandshakeError::Timeout), "{err}");
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), ErrorKind::TimedOut);
}

#[tokio::test]
async fn untrusted_server_is_refused() {
    let (cc, _) = configs(ProtectionLevel::Privacy);
    let stranger = PrivateKey::from_seed([9; 32]);
    let ck = PrivateKey::from_seed([2; 32]);
    let sc = Arc::new(ServerConfig::new(Arc::new(NoiseMechanism::new(
        stranger,
        TrustSet::from([ck.public_key("c")]),
    ))));
    let (c_io, s_io) = duplex(1 << 16);
    let server = tokio::spawn(async move { accept(s_io, sc).await });
    let err = connect(c_io, cc).await.unwrap_err();
    assert!(err.to_string().contains("peer not trusted"), "{err}");
    assert!(server.await.unwrap().is_err());
}

#[tokio::test]
async fn bytes_after_the_authenticated_close_are_an_error() {
    // The relay appends bytes right after the client's close record (privacy close: 0x32,
    // length 16, then the 16-byte tag), in the same chunk.
    let alter = Box::new(|_offset: usize, chunk: &mut Vec<u8>| {
        let n = chunk.len();
        if n >= 20 && chunk[n - 20..n - 16] == [0x32, 0, 0, 16] {
            chunk.extend_from_slice(&[0x22, 0, 0, 20]);
        }
    });
    let (mut c, mut s) = pair(ProtectionLevel::Privacy, Some(alter)).await;
    c.write_all(b"all of it").await.unwrap();
    c.shutdown().await.unwrap();
    let mut got = Vec::new();
    let err = s.read_to_end(&mut got).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    assert!(err.to_string().contains("after close"), "{err}");
    assert_eq!(got, b"all of it");
}

#[tokio::test]
async fn copy_bidirectional_carries_both_ways_and_passes_half_closes_on() {
    let (mut c, mut s) = pair(ProtectionLevel::Privacy, None).await;
    // The server side carries its stream to a plain "service"; the test plays the service.
    let (mut service, mut plain) = duplex(1 << 16);
    let server = tokio::spawn(async move { s.copy_bidirectional(&mut plain, None).await });
    let request: Vec<u8> = (0..300_000u32).map(|i| (i * 13) as u8).collect();
    let sent = request.clone();
    let client = tokio::spawn(async move {
        c.write_all(&sent).await.unwrap();
        c.shutdown().await.unwrap();
        let mut reply = Vec::new();
        c.read_to_end(&mut reply).await.unwrap();
        reply
    });
    // The service reads the whole request (ended by the client's authenticated close, passed
    // on as end of input), then answers and ends its side.
    let mut got = Vec::new();
    service.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, request);
    service.write_all(b"thanks").await.unwrap();
    service.shutdown().await.unwrap();
    assert_eq!(client.await.unwrap(), b"thanks");
    let (carried, result) = server.await.unwrap();
    result.unwrap();
    assert_eq!(carried.from_peer, 300_000);
    assert_eq!(carried.to_peer, 6);
}

#[tokio::test]
async fn copy_bidirectional_reports_a_tampered_record_as_a_failure_of_the_protected_side() {
    let flip_at = 40_000;
    let alter = Box::new(move |offset: usize, chunk: &mut Vec<u8>| {
        if (offset..offset + chunk.len()).contains(&flip_at) {
            chunk[flip_at - offset] ^= 0x01;
        }
    });
    let (mut c, mut s) = pair(ProtectionLevel::Integrity, Some(alter)).await;
    let (mut service, mut plain) = duplex(1 << 20);
    let server = tokio::spawn(async move { s.copy_bidirectional(&mut plain, None).await });
    tokio::spawn(async move {
        let _ = c.write_all(&vec![7u8; 100_000]).await;
        let _ = c.shutdown().await;
        // Keep the client's end open until the server has failed.
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    });
    let (carried, result) = server.await.unwrap();
    assert!(
        matches!(result, Err(handfast_tokio::CopyError::Secure(ref e)) if e.kind() == ErrorKind::InvalidData),
        "{result:?}"
    );
    // Exactly the verified prefix reached the service: less than the flipped byte's offset.
    let mut got = vec![0u8; carried.from_peer as usize];
    service.read_exact(&mut got).await.unwrap();
    assert!(got.len() < flip_at && got.iter().all(|&b| b == 7));
}

/// Vectored writes gather several slices into one record, at most the largest message: the
/// reader gets the exact concatenation, and a write of more than a call's worth of records
/// reports how much it took.
#[tokio::test]
async fn vectored_writes_gather_slices_into_records() {
    for level in [ProtectionLevel::Integrity, ProtectionLevel::Privacy] {
        vectored(level).await;
    }
}

async fn vectored(level: ProtectionLevel) {
    use std::io::IoSlice;
    let (mut c, mut s) = pair(level, None).await;
    assert!(tokio::io::AsyncWrite::is_write_vectored(&c));
    let max = c.context().sizes().max_message;
    let parts: Vec<Vec<u8>> = vec![
        b"frame header ".to_vec(),
        vec![],
        vec![7u8; max],
        b"tail".to_vec(),
        vec![9u8; 5 * max + 3],
    ];
    let expected: Vec<u8> = parts.concat();
    let writer = tokio::spawn(async move {
        let mut offset = 0;
        let total: usize = parts.iter().map(Vec::len).sum();
        while offset < total {
            // Rebuild the slices from what is left, as a caller of write_vectored does.
            let mut skip = offset;
            let mut slices = Vec::new();
            for p in &parts {
                if skip >= p.len() {
                    skip -= p.len();
                    continue;
                }
                slices.push(IoSlice::new(&p[skip..]));
                skip = 0;
            }
            let n = c.write_vectored(&slices).await.unwrap();
            // Each call gathers across the slices as much as its records take: tokio's
            // default, one slice at a time, would return 13 first.
            let most = max * handfast_tokio::RECORDS_PER_WRITE;
            assert_eq!(n, (total - offset).min(most));
            offset += n;
        }
        assert_eq!(c.write_vectored(&[IoSlice::new(&[])]).await.unwrap(), 0);
        c.shutdown().await.unwrap();
        // After shutdown, a write is refused.
        let e = c
            .write_vectored(&[IoSlice::new(b"late")])
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
    });
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    writer.await.unwrap();
    assert!(got == expected);
}
