//! `silin_core::sync::seal::open` on arbitrary bytes, with a device key
//! that is among the recipients of nothing the fuzzer has seen: never
//! panics, and opens nothing it did not seal. What this key seals to itself
//! opens to the same bytes, and to another key it does not open.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silin_core::identity::KeyPair;
use silin_core::sync::seal;

fuzz_target!(|data: &[u8]| {
    let me = KeyPair::from_seed(&[7; 32]);
    if seal::open(data, &me).is_ok() {
        // Forging a seal needs the ephemeral secret or our key.
        panic!("opened a file nobody sealed to this key");
    }
    let _ = seal::recipients(data);
    let sealed = seal::seal(data, &[me.public_key()]).expect("seal to one valid key");
    assert_eq!(seal::open(&sealed, &me).expect("open own seal"), data);
    let other = KeyPair::from_seed(&[8; 32]);
    assert!(seal::open(&sealed, &other).is_err());
});
