#![no_main]
//! Public key lines, allow files and private key files.
use handfast_noise::{PrivateKey, PublicKey, TrustSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(k) = PublicKey::parse_line(text) {
        // What parses prints back to something that parses to the same key.
        let again = PublicKey::parse_line(&k.to_string()).expect("round trip");
        assert_eq!(again.as_bytes(), k.as_bytes());
    }
    let _ = TrustSet::parse(text, "fuzz.allow");
    if let Ok(k) = PrivateKey::parse(text, "fuzz.key") {
        let again = PrivateKey::parse(&k.to_file_string(), "again").expect("round trip");
        assert_eq!(again.public_key("").as_bytes(), k.public_key("").as_bytes());
    }
});
