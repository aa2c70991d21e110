#![no_main]
//! A server with the real Noise mechanism: hellos and Noise messages as a stranger sends them.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut hs = handfast_fuzz::noise_server();
    for chunk in handfast_fuzz::chunks(data) {
        if hs.handle_input(chunk).is_err() {
            return;
        }
        let _ = hs.take_output();
    }
});
