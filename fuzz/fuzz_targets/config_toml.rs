#![no_main]
//! The `handfast run` configuration file.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = handfast_cli::parse_config(text);
});
