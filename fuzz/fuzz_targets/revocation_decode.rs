//! `silin_core::identity::decode_revocations` (the list every opening
//! message and bundle carries) and `Revocation::decode` on arbitrary bytes:
//! never panic; what they accept survives an encode/decode round trip, and
//! checking its signature against an office key never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silin_core::identity::{self, KeyPair, Revocation};

fuzz_target!(|data: &[u8]| {
    if let Ok(rev) = Revocation::decode(data) {
        assert_eq!(
            Revocation::decode(&rev.encode()).as_ref(),
            Ok(&rev),
            "decode(encode(x)) != x"
        );
    }
    let Ok(list) = identity::decode_revocations(data) else {
        return;
    };
    assert!(list.len() <= identity::MAX_REVOCATIONS);
    assert_eq!(
        identity::decode_revocations(&identity::encode_revocations(&list)).as_ref(),
        Ok(&list),
        "decode(encode(x)) != x"
    );
    let office = KeyPair::from_seed(&[42; 32]).public_key();
    for rev in &list {
        let _ = rev.signed_by(&office);
    }
});
