#![no_main]
//! The stream deframer and record layer: any byte stream after the handshake.
use handfast::vectors::dangerous_context_from_secrets;
use handfast::mechanism::Role;
use handfast::{CipherSuite, Mode, Opened, ProtectionLevel};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    let level = if first & 1 == 0 {
        ProtectionLevel::Integrity
    } else {
        ProtectionLevel::Privacy
    };
    let suite = if first & 2 == 0 {
        CipherSuite::Aes256Gcm
    } else {
        CipherSuite::ChaCha20Poly1305
    };
    let interval = u64::from(first >> 2).max(1);
    let mut ctx = dangerous_context_from_secrets(
        Role::Responder,
        suite,
        Mode::Stream,
        level,
        [1; 32],
        [2; 32],
        interval,
    );
    let mut buf = Vec::new();
    for chunk in handfast_fuzz::chunks(data) {
        buf.extend_from_slice(chunk);
        loop {
            match ctx.next_record_len(&buf) {
                Ok(Some(len)) if buf.len() >= len => {
                    let mut record: Vec<u8> = buf.drain(..len).collect();
                    match ctx.open_in_place(&mut record) {
                        Ok(Opened::Data { payload, .. }) => assert!(payload.len() <= 65_536),
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
                Ok(_) => break,
                Err(_) => return,
            }
        }
        if chunk.first() == Some(&0x41) {
            let _ = ctx.verify(chunk, chunk);
        }
    }
    let _ = ctx.eof();
});
