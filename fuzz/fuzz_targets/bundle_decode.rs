//! `silin_core::bundle::decode` on arbitrary bytes: never panics; what it
//! accepts is exactly a bundle envelope, and survives an encode/decode
//! round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silin_core::bundle;
use silin_core::sync::envelope::{self, Body};

fuzz_target!(|data: &[u8]| {
    let Ok(items) = bundle::decode(data) else {
        return;
    };
    // A bundle is one envelope: the envelope decoder must agree with it.
    let env =
        envelope::decode(data).expect("bundle::decode accepted what envelope::decode refuses");
    assert_eq!(
        env.body,
        Body::Bundle {
            items: items.clone(),
            revocations: env.body.revocations().to_vec(),
            orders: env.body.orders().to_vec(),
        },
        "bundle::decode and envelope::decode disagree"
    );
    // Re-encoding carries the same documents.
    let again = bundle::decode(&env.encode()).expect("a re-encoded bundle does not decode");
    assert_eq!(again, items, "decode(encode(x)) != x");
});
