#![no_main]
//! Client-side handshake: any bytes from a would-be server, in any chunking.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(&first) = data.first() else { return };
    let mut hs = handfast_fuzz::pass_client(first);
    for chunk in handfast_fuzz::chunks(&data[1..]) {
        if hs.handle_input(chunk).is_err() {
            return;
        }
        let _ = hs.take_output();
    }
    if let Ok(mut ctx) = hs.into_context() {
        let _ = ctx.seal(ctx.level(), b"after handshake");
    }
});
