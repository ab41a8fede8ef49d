//! SQLCipher's cryptography without OpenSSL (feature `rust-crypto`).
//!
//! Android gives apps no libcrypto, and OpenSSL built into the library costs
//! about 3.9 MB of the 6 MB budget (doc/BENCHMARKS.md, "Size"). SQLCipher
//! needs only AES-256-CBC, HMAC and PBKDF2-HMAC over SHA-1, SHA-256 and
//! SHA-512, and random bytes: this module gives it those from RustCrypto's
//! `aes`, `cbc`, `hmac`, `pbkdf2`, `sha1` and `sha2`, and `getrandom`.
//!
//! How SQLCipher reaches them: the SQLCipher that libsqlite3-sys bundles
//! (4.6.1) chooses its crypto provider at compile time and has no hook for a
//! provider of one's own. Its CommonCrypto provider is the smallest (a page
//! of C over eight CommonCrypto calls), so the `rust-crypto` build compiles
//! SQLCipher with `SQLCIPHER_CRYPTO_CC` against the headers in
//! `src/crypto_provider/include/`: not Apple's, but declarations of exactly
//! those calls, forwarded to the four functions below. SQLCipher's own
//! provider code decides the cipher, the HMAC and the key derivation, as it
//! does on iOS, so the files are the ones the OpenSSL build writes
//! (`tests/crypto_provider.rs` reads one back each way). `.ci/android-size`
//! sets the C flags; `PRAGMA cipher_provider_version` names this provider.
//!
//! Each function checks its pointers and lengths, returns 0 on success and
//! -1 otherwise, and cannot unwind into C (any panic is caught).

use std::panic::{catch_unwind, AssertUnwindSafe};

use aes::cipher::{Array, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use aes::Aes256;
use cbc::{Decryptor, Encryptor};
use hmac::digest::block_api::EagerHash;
use hmac::{Hmac, KeyInit, Mac};

/// The hash under an HMAC or a PBKDF2, numbered as the headers number
/// CommonCrypto's `kCCHmacAlg*` and `kCCPRFHmacAlg*`.
const SHA1: i32 = 0;
const SHA256: i32 = 1;
const SHA512: i32 = 2;

const OK: i32 = 0;
const FAILED: i32 = -1;

/// The size of AES's block and CBC's IV.
const BLOCK: usize = 16;

/// Runs `f`, turning a panic into a failure: nothing unwinds into C.
fn guarded(f: impl FnOnce() -> Option<()>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Some(())) => OK,
        _ => FAILED,
    }
}

/// `len` bytes at `ptr` as a slice; `None` for a null pointer with bytes
/// behind it or a length no slice can have (a negative C `int` turned
/// `size_t` is one). An empty input may come as a null pointer.
///
/// # Safety
/// When not null, `ptr` must point at `len` readable bytes that nothing
/// writes while the slice lives.
unsafe fn input<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if len > isize::MAX as usize {
        return None;
    }
    if len == 0 {
        return Some(&[]);
    }
    if ptr.is_null() {
        return None;
    }
    // SAFETY: not null, and the caller promises `len` readable bytes.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// As [`input`], for `len` writable bytes.
///
/// # Safety
/// When not null, `ptr` must point at `len` writable bytes that nothing else
/// reads or writes while the slice lives.
unsafe fn output<'a>(ptr: *mut u8, len: usize) -> Option<&'a mut [u8]> {
    if len > isize::MAX as usize || ptr.is_null() {
        return None;
    }
    // SAFETY: not null, and the caller promises `len` writable bytes.
    Some(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

fn hmac<D: EagerHash>(key: &[u8], parts: [&[u8]; 2], out: &mut [u8]) -> Option<()> {
    let mut mac = <Hmac<D> as KeyInit>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    let tag = mac.finalize().into_bytes();
    // The caller sized `out` for this hash; any other size is refused.
    if out.len() != tag.len() {
        return None;
    }
    out.copy_from_slice(&tag);
    Some(())
}

/// HMAC over `in1` then `in2` (which may be empty) with `key`, the hash
/// chosen by `alg`; writes exactly `out_len` bytes, which must be the hash's
/// size (20, 32 or 64).
///
/// # Safety
/// Each pointer must point at its length's bytes (or be null with length 0).
// The C call's shape: SQLCipher's provider hands over every piece.
#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "C" fn silin_sqlcipher_hmac(
    alg: i32,
    key: *const u8,
    key_len: usize,
    in1: *const u8,
    in1_len: usize,
    in2: *const u8,
    in2_len: usize,
    out: *mut u8,
    out_len: usize,
) -> i32 {
    guarded(|| {
        // SAFETY: the caller's promise, passed on; lengths checked there.
        let (key, in1, in2, out) = unsafe {
            (
                input(key, key_len)?,
                input(in1, in1_len)?,
                input(in2, in2_len)?,
                output(out, out_len)?,
            )
        };
        match alg {
            SHA1 => hmac::<sha1::Sha1>(key, [in1, in2], out),
            SHA256 => hmac::<sha2::Sha256>(key, [in1, in2], out),
            SHA512 => hmac::<sha2::Sha512>(key, [in1, in2], out),
            _ => None,
        }
    })
}

/// PBKDF2 with HMAC over the hash chosen by `alg`: `rounds` iterations
/// (at least 1) of `pass` and `salt`, filling `key_len` bytes of `key`.
///
/// # Safety
/// Each pointer must point at its length's bytes (or be null with length 0,
/// except `key`).
#[allow(clippy::too_many_arguments)]
#[no_mangle]
pub unsafe extern "C" fn silin_sqlcipher_pbkdf2(
    alg: i32,
    pass: *const u8,
    pass_len: usize,
    salt: *const u8,
    salt_len: usize,
    rounds: u32,
    key: *mut u8,
    key_len: usize,
) -> i32 {
    guarded(|| {
        if rounds == 0 || key_len == 0 {
            return None;
        }
        // SAFETY: the caller's promise, passed on; lengths checked there.
        let (pass, salt, key) = unsafe {
            (
                input(pass, pass_len)?,
                input(salt, salt_len)?,
                output(key, key_len)?,
            )
        };
        let derived = match alg {
            SHA1 => pbkdf2::pbkdf2::<Hmac<sha1::Sha1>>(pass, salt, rounds, key),
            SHA256 => pbkdf2::pbkdf2::<Hmac<sha2::Sha256>>(pass, salt, rounds, key),
            SHA512 => pbkdf2::pbkdf2::<Hmac<sha2::Sha512>>(pass, salt, rounds, key),
            _ => return None,
        };
        derived.ok()
    })
}

/// AES-256 in CBC mode without padding: encrypts (`encrypt` not 0) or
/// decrypts `len` bytes, a whole number of 16-byte blocks, from `input_ptr` into
/// `out` (the same buffer, or one that does not overlap it). `key` is
/// `key_len` bytes, which must be 32; `iv` is 16 bytes.
///
/// # Safety
/// `key`, `iv`, `input_ptr` and `out` must point at that many bytes.
#[no_mangle]
pub unsafe extern "C" fn silin_sqlcipher_aes256_cbc(
    encrypt: i32,
    key: *const u8,
    key_len: usize,
    iv: *const u8,
    input_ptr: *const u8,
    out: *mut u8,
    len: usize,
) -> i32 {
    guarded(|| {
        if len % BLOCK != 0 {
            return None;
        }
        // SAFETY: the caller's promise, passed on; lengths checked there.
        let (key, iv) = unsafe { (input(key, key_len)?, input(iv, BLOCK)?) };
        if len == 0 {
            return Some(());
        }
        let (from, to) = (input_ptr as usize, out as usize);
        let in_place = from == to;
        if !in_place && from < to.checked_add(len)? && to < from.checked_add(len)? {
            // Overlapping but not the same buffer: refused, not guessed at.
            return None;
        }
        // SAFETY: the caller's promise of `len` bytes at each; the two
        // slices exist together only when the buffers do not overlap.
        let out = unsafe { output(out, len)? };
        let source = if in_place {
            None
        } else {
            Some(unsafe { input(input_ptr, len)? })
        };
        // `len` is a whole number of blocks, so nothing is left over.
        let (out_blocks, _) = Array::slice_as_chunks_mut(out);
        match (encrypt != 0, source) {
            (true, None) => Encryptor::<Aes256>::new_from_slices(key, iv)
                .ok()?
                .encrypt_blocks(out_blocks),
            (true, Some(source)) => Encryptor::<Aes256>::new_from_slices(key, iv)
                .ok()?
                .encrypt_blocks_b2b(Array::slice_as_chunks(source).0, out_blocks)
                .ok()?,
            (false, None) => Decryptor::<Aes256>::new_from_slices(key, iv)
                .ok()?
                .decrypt_blocks(out_blocks),
            (false, Some(source)) => Decryptor::<Aes256>::new_from_slices(key, iv)
                .ok()?
                .decrypt_blocks_b2b(Array::slice_as_chunks(source).0, out_blocks)
                .ok()?,
        }
        Some(())
    })
}

/// Fills `len` bytes at `buf` from the operating system's random source.
///
/// # Safety
/// `buf` must point at `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn silin_sqlcipher_random(buf: *mut u8, len: usize) -> i32 {
    guarded(|| {
        if len == 0 {
            return Some(());
        }
        // SAFETY: the caller's promise, passed on; length checked there.
        let buf = unsafe { output(buf, len)? };
        getrandom::fill(buf).ok()
    })
}
