#![no_main]
//! Datagram records: any sequence of datagrams, with the replay window and key epochs.
use handfast::vectors::dangerous_context_from_secrets;
use handfast::mechanism::Role;
use handfast::{CipherSuite, Mode, ProtectionLevel};
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
    let interval = 1024 + u64::from(first >> 1);
    let mut ctx = dangerous_context_from_secrets(
        Role::Initiator,
        CipherSuite::Aes256Gcm,
        Mode::Datagram,
        level,
        [3; 32],
        [4; 32],
        interval,
    );
    for datagram in handfast_fuzz::chunks(data) {
        let _ = ctx.open(datagram);
        if datagram.first() == Some(&0x41) {
            let _ = ctx.verify(b"m", datagram);
        }
    }
});
