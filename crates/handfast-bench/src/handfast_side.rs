//! handfast: seal_in_place + open_in_place, and full mutual handshakes, in memory.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use handfast::{
    CipherSuite, ClientConfig, Handshake, Limits, Opened, ProtectionLevel, SecurityContext,
    ServerConfig,
};
use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};

fn configs() -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let (sk, ck) = (
        PrivateKey::from_seed([1; 32]),
        PrivateKey::from_seed([2; 32]),
    );
    let mut limits = Limits::default();
    limits.max_record_len = 256 * 1024;
    let server = NoiseMechanism::new(sk.clone(), TrustSet::from([ck.public_key("c")]));
    let client = NoiseMechanism::new(ck, TrustSet::from([sk.public_key("s")]));
    let mut c = ClientConfig::new(Arc::new(client)).with_level(ProtectionLevel::Integrity);
    c.suites = vec![CipherSuite::Aes256Gcm];
    c.limits = limits.clone();
    let mut s = ServerConfig::new(Arc::new(server)).with_min_level(ProtectionLevel::Integrity);
    s.limits = limits;
    (Arc::new(c), Arc::new(s))
}

fn connect(
    c: &Arc<ClientConfig>,
    s: &Arc<ServerConfig>,
    seed: u64,
) -> anyhow::Result<(SecurityContext, SecurityContext)> {
    let now = Instant::now();
    let mut e = [0u8; 32];
    e[..8].copy_from_slice(&seed.to_be_bytes());
    let mut ch = Handshake::client(c.clone(), e, now)?;
    e[8] = 1;
    let mut sh = Handshake::server(s.clone(), e, now)?;
    while !(ch.is_complete() && sh.is_complete()) {
        sh.handle_input(&ch.take_output())?;
        ch.handle_input(&sh.take_output())?;
    }
    Ok((ch.into_context()?, sh.into_context()?))
}

/// Seal + open per second of a `size`-byte message at `level`.
pub(crate) fn rate(size: usize, level: ProtectionLevel, time: Duration) -> anyhow::Result<f64> {
    let (c, s) = configs();
    let (mut c, mut s) = connect(&c, &s, 0)?;
    let sizes = c.sizes();
    let mut buf = vec![0x42u8; sizes.header + size + sizes.trailer];
    crate::per_second(time, || {
        c.seal_in_place(level, &mut buf)?;
        match s.open_in_place(&mut buf)? {
            Opened::Data { payload, .. } => {
                black_box(payload);
                Ok(())
            }
            _ => anyhow::bail!("unexpected close"),
        }
    })
}

/// Complete mutual handshakes per second (both sides, one thread).
pub(crate) fn handshakes(time: Duration) -> f64 {
    let (c, s) = configs();
    let mut n = 0u64;
    crate::per_second(time, || {
        n += 1;
        black_box(connect(&c, &s, n)?);
        Ok(())
    })
    .unwrap_or(0.0)
}
