//! handfast: seal_in_place + open_in_place, and full mutual handshakes, in memory, with
//! either mechanism: Noise XX (the default) or X.509 (ECDSA P-256 certificates, the same kind
//! as the rustls comparison).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use handfast::mechanism::Mechanism;
use handfast::{
    CipherSuite, ClientConfig, Handshake, Limits, Opened, ProtectionLevel, SecurityContext,
    ServerConfig,
};
use handfast_noise::{NoiseMechanism, PrivateKey, TrustSet};

/// A client and a server configuration that trust each other.
pub(crate) type Pair = (Arc<ClientConfig>, Arc<ServerConfig>);

/// Which mechanism authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mech {
    Noise,
    X509,
}

pub(crate) fn configs(mech: Mech) -> anyhow::Result<Pair> {
    let (cm, sm): (Arc<dyn Mechanism>, Arc<dyn Mechanism>) = match mech {
        Mech::Noise => {
            let (sk, ck) = (
                PrivateKey::from_seed([1; 32]),
                PrivateKey::from_seed([2; 32]),
            );
            (
                Arc::new(NoiseMechanism::new(
                    ck.clone(),
                    TrustSet::from([sk.public_key("s")]),
                )),
                Arc::new(NoiseMechanism::new(
                    sk,
                    TrustSet::from([ck.public_key("c")]),
                )),
            )
        }
        Mech::X509 => crate::tls::x509_mechanisms()?,
    };
    let mut limits = Limits::default();
    limits.max_record_len = 256 * 1024;
    limits.max_handshake_message = 16 * 1024;
    let mut c = ClientConfig::new(cm).with_level(ProtectionLevel::Integrity);
    c.suites = vec![CipherSuite::Aes256Gcm];
    c.limits = limits.clone();
    let mut s = ServerConfig::new(sm).with_min_level(ProtectionLevel::Integrity);
    s.limits = limits;
    Ok((Arc::new(c), Arc::new(s)))
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
pub(crate) fn rate(
    mech: Mech,
    size: usize,
    level: ProtectionLevel,
    time: Duration,
) -> anyhow::Result<f64> {
    let (c, s) = configs(mech)?;
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
pub(crate) fn handshakes(mech: Mech, time: Duration) -> f64 {
    let Ok((c, s)) = configs(mech) else {
        return 0.0;
    };
    let mut n = 0u64;
    crate::per_second(time, || {
        n += 1;
        black_box(connect(&c, &s, n)?);
        Ok(())
    })
    .unwrap_or(0.0)
}
