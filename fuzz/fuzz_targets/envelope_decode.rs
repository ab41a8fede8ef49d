//! `silin_core::sync::envelope::decode` on arbitrary bytes: never panics,
//! and what it accepts survives an encode/decode round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silin_core::sync::envelope;

fuzz_target!(|data: &[u8]| {
    let Ok(env) = envelope::decode(data) else {
        return;
    };
    let bytes = env.encode();
    assert_eq!(
        envelope::decode(&bytes).as_ref(),
        Ok(&env),
        "decode(encode(x)) != x"
    );
});
