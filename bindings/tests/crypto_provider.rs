//! SQLCipher with Rust crypto (feature `rust-crypto`, src/crypto_provider.rs)
//! and with OpenSSL (every other build) write the same files.
//!
//! Each build reads the stores the other wrote (fixtures in
//! tests/crypto_provider/, SQLCipher 4's defaults and its version 3
//! settings, which hash with SHA-1), so the default test run proves that
//! OpenSSL opens what Rust crypto wrote, and the `rust-crypto` run the
//! reverse. The `rust-crypto` build also checks each primitive against
//! published vectors and its refusals of bad arguments. Run that one with
//! `.ci/android-size --test`: it needs SQLCipher's C flags.
//!
//! Fixtures are rewritten (their content is fixed, their salts and IVs
//! random) with
//! `cargo test -p silin-ffi --test crypto_provider -- --ignored write_fixture`
//! in each build.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use silin_ffi as _;

const PASSPHRASE: &str = "silin crypto provider fixture";

/// The two SQLCipher settings a file is checked under: 4 (defaults:
/// PBKDF2-HMAC-SHA512 over 256,000 rounds, HMAC-SHA512, 4 KiB pages) and 3
/// (PBKDF2-HMAC-SHA1 over 64,000 rounds, HMAC-SHA1, 1 KiB pages).
const SETTINGS: [u32; 2] = [4, 3];

fn fixture(writer: &str, compatibility: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/crypto_provider")
        .join(format!("{writer}-v{compatibility}.db"))
}

/// "rust-crypto", "openssl" or "commoncrypto": which crypto this test
/// binary's SQLCipher has.
fn this_build() -> &'static str {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!("PRAGMA key = '{PASSPHRASE}';"))
        .unwrap();
    let provider: String = conn
        .query_row("PRAGMA cipher_provider", [], |r| r.get(0))
        .unwrap();
    match provider.as_str() {
        "openssl" => "openssl",
        // SQLCipher's CommonCrypto provider over the Rust functions.
        "commoncrypto" if cfg!(feature = "rust-crypto") => "rust-crypto",
        // Apple's own CommonCrypto: it reads both fixtures all the same.
        "commoncrypto" => "commoncrypto",
        other => panic!("unexpected SQLCipher provider {other:?}"),
    }
}

fn open(path: &Path, compatibility: u32) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.execute_batch(&format!(
        "PRAGMA cipher_log_level = NONE;\
         PRAGMA key = '{PASSPHRASE}';\
         PRAGMA cipher_compatibility = {compatibility};\
         PRAGMA cipher_log_level = NONE;"
    ))?;
    Ok(conn)
}

/// The rows every fixture holds: enough text to fill several pages.
fn rows() -> Vec<(i64, String)> {
    (0..40)
        .map(|n| {
            (
                n,
                format!("row {n}: {}", "家庭访视 visit ".repeat(n as usize % 7 + 1)),
            )
        })
        .collect()
}

fn read_rows(conn: &Connection) -> rusqlite::Result<Vec<(i64, String)>> {
    let mut stmt = conn.prepare("SELECT n, s FROM visits ORDER BY n")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Reads a copy (opening may leave a journal beside it) of `writer`'s
/// fixture with this build.
fn read_fixture(writer: &str, compatibility: u32) -> Vec<(i64, String)> {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    std::fs::copy(fixture(writer, compatibility), &copy).unwrap();
    let conn = open(&copy, compatibility).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA cipher_integrity_check", [], |r| r.get(0))
        .unwrap_or_else(|_| "ok".into());
    assert_eq!(integrity, "ok", "{writer} v{compatibility}");
    read_rows(&conn).unwrap()
}

#[test]
fn stores_written_with_openssl_and_with_rust_crypto_read_alike() {
    let this = this_build();
    for writer in ["openssl", "rust-crypto"] {
        for compatibility in SETTINGS {
            assert_eq!(
                read_fixture(writer, compatibility),
                rows(),
                "{this} reading what {writer} wrote (settings {compatibility})"
            );
        }
    }
}

#[test]
fn a_wrong_passphrase_is_refused_on_either_file() {
    for writer in ["openssl", "rust-crypto"] {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy.db");
        std::fs::copy(fixture(writer, 4), &copy).unwrap();
        let conn = Connection::open(&copy).unwrap();
        conn.execute_batch("PRAGMA cipher_log_level = NONE; PRAGMA key = 'not it';")
            .unwrap();
        let err = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::NotADatabase),
            "{writer}"
        );
    }
}

#[test]
fn a_store_written_now_reads_back_after_reopening() {
    for compatibility in SETTINGS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        write_store(&path, compatibility);
        assert_eq!(
            read_rows(&open(&path, compatibility).unwrap()).unwrap(),
            rows()
        );
    }
}

fn write_store(path: &Path, compatibility: u32) {
    let conn = open(path, compatibility).unwrap();
    conn.execute_batch("CREATE TABLE visits (n INTEGER PRIMARY KEY, s TEXT NOT NULL);")
        .unwrap();
    for (n, s) in rows() {
        conn.execute("INSERT INTO visits VALUES (?1, ?2)", (n, s))
            .unwrap();
    }
}

#[test]
#[ignore = "rewrites this build's fixtures in tests/crypto_provider/"]
fn write_fixture() {
    let this = this_build();
    for compatibility in SETTINGS {
        let path = fixture(this, compatibility);
        let _ = std::fs::remove_file(&path);
        write_store(&path, compatibility);
    }
}

/// The four functions SQLCipher's provider calls, through the C ABI it uses.
#[cfg(feature = "rust-crypto")]
mod primitives {
    use super::*;

    extern "C" {
        fn silin_sqlcipher_hmac(
            alg: i32,
            key: *const u8,
            key_len: usize,
            in1: *const u8,
            in1_len: usize,
            in2: *const u8,
            in2_len: usize,
            out: *mut u8,
            out_len: usize,
        ) -> i32;
        fn silin_sqlcipher_pbkdf2(
            alg: i32,
            pass: *const u8,
            pass_len: usize,
            salt: *const u8,
            salt_len: usize,
            rounds: u32,
            key: *mut u8,
            key_len: usize,
        ) -> i32;
        fn silin_sqlcipher_aes256_cbc(
            encrypt: i32,
            key: *const u8,
            key_len: usize,
            iv: *const u8,
            input: *const u8,
            out: *mut u8,
            len: usize,
        ) -> i32;
        fn silin_sqlcipher_random(buf: *mut u8, len: usize) -> i32;
    }

    const SHA1: i32 = 0;
    const SHA256: i32 = 1;
    const SHA512: i32 = 2;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn hmac(alg: i32, key: &[u8], in1: &[u8], in2: &[u8], out_len: usize) -> Option<Vec<u8>> {
        let mut out = vec![0; out_len];
        let rc = unsafe {
            silin_sqlcipher_hmac(
                alg,
                key.as_ptr(),
                key.len(),
                in1.as_ptr(),
                in1.len(),
                in2.as_ptr(),
                in2.len(),
                out.as_mut_ptr(),
                out.len(),
            )
        };
        (rc == 0).then_some(out)
    }

    fn pbkdf2(alg: i32, pass: &[u8], salt: &[u8], rounds: u32, len: usize) -> Option<Vec<u8>> {
        let mut out = vec![0; len];
        let rc = unsafe {
            silin_sqlcipher_pbkdf2(
                alg,
                pass.as_ptr(),
                pass.len(),
                salt.as_ptr(),
                salt.len(),
                rounds,
                out.as_mut_ptr(),
                out.len(),
            )
        };
        (rc == 0).then_some(out)
    }

    fn cbc(encrypt: bool, key: &[u8], iv: &[u8; 16], input: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0; input.len()];
        let rc = unsafe {
            silin_sqlcipher_aes256_cbc(
                encrypt as i32,
                key.as_ptr(),
                key.len(),
                iv.as_ptr(),
                input.as_ptr(),
                out.as_mut_ptr(),
                input.len(),
            )
        };
        (rc == 0).then_some(out)
    }

    #[test]
    fn sqlcipher_uses_the_rust_functions() {
        // Built with the feature but without .ci/android-size's C flags,
        // SQLCipher would still be on OpenSSL.
        assert_eq!(this_build(), "rust-crypto", "build with .ci/android-size");
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA key = 'x';").unwrap();
        let version: String = conn
            .query_row("PRAGMA cipher_provider_version", [], |r| r.get(0))
            .unwrap();
        assert!(version.contains("rust-crypto"), "{version}");
    }

    #[test]
    fn hmac_matches_published_vectors() {
        // RFC 2202 (SHA-1) and RFC 4231 (SHA-2), test case 2.
        let (key, data) = (b"Jefe", b"what do ya want for nothing?");
        let cases = [
            (SHA1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
            (
                SHA256,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                SHA512,
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554
                 9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
        ];
        for (alg, expected) in cases {
            let expected = unhex(expected);
            assert_eq!(
                hmac(alg, key, data, b"", expected.len()),
                Some(expected.clone())
            );
            // SQLCipher hashes a page and then its number: two pieces.
            let (a, b) = data.split_at(9);
            assert_eq!(hmac(alg, key, a, b, expected.len()), Some(expected));
        }
    }

    #[test]
    fn pbkdf2_matches_published_vectors() {
        // RFC 6070 (SHA-1); the same inputs with SHA-256 and SHA-512.
        let cases = [
            (SHA1, 1, "0c60c80f961f0e71f3a9b524af6012062fe037a6"),
            (SHA1, 2, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"),
            (SHA1, 4096, "4b007901b765489abead49d926f721d065a429c1"),
            (
                SHA256,
                1,
                "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b",
            ),
            (
                SHA256,
                4096,
                "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a",
            ),
            (
                SHA512,
                1,
                "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252
                 c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce",
            ),
        ];
        for (alg, rounds, expected) in cases {
            let expected = unhex(expected);
            assert_eq!(
                pbkdf2(alg, b"password", b"salt", rounds, expected.len()),
                Some(expected),
                "alg {alg}, {rounds} rounds"
            );
        }
    }

    #[test]
    fn aes256_cbc_matches_nist_vectors() {
        // NIST SP 800-38A, F.2.5 and F.2.6 (CBC-AES256).
        let key = unhex("603deb1015ca71be2b73aef0857d7781 1f352c073b6108d72d9810a30914dff4");
        let iv: [u8; 16] = unhex("000102030405060708090a0b0c0d0e0f")
            .try_into()
            .unwrap();
        let plain = unhex(
            "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
             30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710",
        );
        let cipher = unhex(
            "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d
             39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b",
        );
        assert_eq!(cbc(true, &key, &iv, &plain), Some(cipher.clone()));
        assert_eq!(cbc(false, &key, &iv, &cipher), Some(plain.clone()));

        // In place, as well as buffer to buffer.
        let mut buf = plain.clone();
        let rc = unsafe {
            silin_sqlcipher_aes256_cbc(
                1,
                key.as_ptr(),
                32,
                iv.as_ptr(),
                buf.as_ptr(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        assert_eq!((rc, &buf), (0, &cipher));
    }

    #[test]
    fn bad_arguments_are_refused_not_guessed_at() {
        let key = [7u8; 32];
        let iv = [9u8; 16];
        let page = [1u8; 64];
        // The key must be AES-256's; whole blocks only.
        assert_eq!(cbc(true, &key[..31], &iv, &page), None);
        assert_eq!(cbc(true, &key, &iv, &page[..63]), None);
        // Overlapping buffers that are not the same one.
        let mut buf = [0u8; 80];
        let rc = unsafe {
            silin_sqlcipher_aes256_cbc(
                1,
                key.as_ptr(),
                32,
                iv.as_ptr(),
                buf.as_ptr(),
                buf.as_mut_ptr().add(16),
                64,
            )
        };
        assert_eq!(rc, -1);
        // Null pointers with bytes behind them; a negative C int as size_t.
        let mut out = [0u8; 64];
        let rc = unsafe {
            silin_sqlcipher_aes256_cbc(
                1,
                key.as_ptr(),
                32,
                std::ptr::null(),
                page.as_ptr(),
                out.as_mut_ptr(),
                64,
            )
        };
        assert_eq!(rc, -1);
        let rc = unsafe {
            silin_sqlcipher_hmac(
                SHA512,
                key.as_ptr(),
                usize::MAX,
                page.as_ptr(),
                64,
                std::ptr::null(),
                0,
                out.as_mut_ptr(),
                64,
            )
        };
        assert_eq!(rc, -1);
        assert_eq!(
            unsafe { silin_sqlcipher_random(std::ptr::null_mut(), 16) },
            -1
        );
        // An unknown hash, an output of the wrong size, no rounds.
        assert_eq!(hmac(7, &key, &page, b"", 64), None);
        assert_eq!(hmac(SHA512, &key, &page, b"", 32), None);
        assert_eq!(pbkdf2(SHA512, b"p", b"salt", 0, 32), None);
        assert_eq!(pbkdf2(9, b"p", b"salt", 1, 32), None);
    }

    #[test]
    fn random_bytes_differ_between_calls() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        unsafe {
            assert_eq!(silin_sqlcipher_random(a.as_mut_ptr(), a.len()), 0);
            assert_eq!(silin_sqlcipher_random(b.as_mut_ptr(), b.len()), 0);
        }
        assert_ne!(a, b);
        assert_ne!(a, [0; 32]);
    }
}
