//! `silin_core::identity::Certificate::decode` on arbitrary bytes: never
//! panics, and what it accepts survives an encode/decode round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silin_core::identity::Certificate;

fuzz_target!(|data: &[u8]| {
    let Ok(cert) = Certificate::decode(data) else {
        return;
    };
    let bytes = cert.encode();
    assert_eq!(
        Certificate::decode(&bytes).as_ref(),
        Ok(&cert),
        "decode(encode(x)) != x"
    );
});
