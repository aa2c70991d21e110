//! The ceiling: the bare AEAD from aws-lc-rs, the library handfast uses (on this hardware it
//! is also the fastest AES-256-GCM and, by far, the fastest GMAC among the Rust crypto crates).

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

#[derive(Clone, Copy)]
pub(crate) enum Op {
    /// Encrypt + decrypt the message.
    Gcm,
    /// Authenticate the message as associated data, both ways (AES-GMAC).
    Gmac,
}

/// Seal + open per second of a `size`-byte message.
pub(crate) fn rate(size: usize, op: Op, time: Duration) -> anyhow::Result<f64> {
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &[7; 32]).map_err(|_| anyhow::anyhow!("key"))?,
    );
    let mut buf = vec![0x42u8; size];
    let mut i = 0u64;
    crate::per_second(time, || {
        i += 1;
        let nonce = || {
            let mut b = [0u8; 12];
            b[4..].copy_from_slice(&i.to_be_bytes());
            Nonce::assume_unique_for_key(b)
        };
        let bad = |_| anyhow::anyhow!("aead");
        match op {
            Op::Gcm => {
                let tag = key
                    .seal_in_place_separate_tag(nonce(), Aad::from(&[0u8; 4]), &mut buf)
                    .map_err(bad)?;
                key.open_in_place_separate_tag(
                    nonce(),
                    Aad::from(&[0u8; 4]),
                    tag.as_ref(),
                    &mut buf,
                )
                .map_err(bad)?;
            }
            Op::Gmac => {
                let tag = key
                    .seal_in_place_separate_tag(nonce(), Aad::from(&buf[..]), &mut [])
                    .map_err(bad)?;
                key.open_in_place_separate_tag(nonce(), Aad::from(&buf[..]), tag.as_ref(), &mut [])
                    .map_err(bad)?;
            }
        }
        black_box(&buf);
        Ok(())
    })
}
