//! Encryption at rest: with a key, no planted name or phone number reaches
//! the file (database, WAL or shared memory) in the clear; a wrong key or no
//! key is `WrongKey` and leaves the file exactly as it was; the right key
//! opens everything again.

mod common;

use common::*;
use silin_core::model::*;
use silin_core::{Error, Store, StoreKey, StoreOptions};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

const RAW_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe";
const OTHER_RAW_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cff";
const PASSPHRASE: &str = "四邻联防 correct horse 2026";
const OTHER_PASSPHRASE: &str = "四邻联防 correct horse 2027";

const CELLS: usize = 5;
const PER_CELL: usize = 200;

/// 1,000 distinct three-character names (9 bytes of UTF-8 each) and
/// 1,000 distinct mobile numbers.
fn planted() -> Vec<(String, String)> {
    let surnames: Vec<char> = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗".chars().collect();
    let first: Vec<char> = "建秀国英明华玉兰桂芳".chars().collect();
    let second: Vec<char> = "强敏霞军平".chars().collect();
    let mut out = Vec::new();
    for s in &surnames {
        for f in &first {
            for g in &second {
                let i = out.len();
                out.push((
                    format!("{s}{f}{g}"),
                    format!("139{:08}", 27_000_000 + i * 7919),
                ));
            }
        }
    }
    assert_eq!(out.len(), CELLS * PER_CELL);
    assert_eq!(
        out.iter().map(|(n, _)| n).collect::<HashSet<_>>().len(),
        out.len()
    );
    out
}

fn options(key: Option<&str>) -> StoreOptions {
    StoreOptions {
        key: key.map(StoreKey::new),
        ..Default::default()
    }
}

/// Writes every planted member: most in batches (a household with its
/// members), some one action each.
fn fill(s: &Store) -> Vec<String> {
    let people = planted();
    let mut cells = Vec::new();
    for (c, chunk) in people.chunks(PER_CELL).enumerate() {
        let cell = s
            .create_cell(
                &format!("联户{c}"),
                &path(&format!("两当县/城关镇/东关村/{c}组")),
                None,
            )
            .unwrap();
        let (batched, single) = chunk.split_at(PER_CELL - 10);
        for household in batched.chunks(5) {
            s.edit_batch(&cell, |d| {
                let hh = new_id();
                d.add_household(&hh, NewHousehold::default(), 1)?;
                for (name, phone) in household {
                    let m = NewMember {
                        name: name.clone(),
                        phone: Some(phone.clone()),
                        ..Default::default()
                    };
                    d.add_member(&hh, &new_id(), m, today(), 1)?;
                }
                Ok(())
            })
            .unwrap();
        }
        let hh = s.add_household(&cell, NewHousehold::default()).unwrap();
        for (name, phone) in single {
            let m = NewMember {
                name: name.clone(),
                phone: Some(phone.clone()),
                ..Default::default()
            };
            s.add_member(&hh, m, today()).unwrap();
        }
        cells.push(cell);
    }
    cells
}

/// The store's files: database, WAL and shared memory (those that exist).
fn files(db: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{}{suffix}", db.display());
        if let Ok(bytes) = std::fs::read(&p) {
            out.insert(p, bytes);
        }
    }
    out
}

/// Every file in the store's directory, by name.
fn dir_contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// Which planted strings (names and phones) occur anywhere in the files.
fn found(db: &Path) -> HashSet<String> {
    let people = planted();
    let names: HashSet<&[u8]> = people.iter().map(|(n, _)| n.as_bytes()).collect();
    let phones: HashSet<&[u8]> = people.iter().map(|(_, p)| p.as_bytes()).collect();
    let mut out = HashSet::new();
    for bytes in files(db).values() {
        for w in bytes.windows(9) {
            if names.contains(w) {
                out.insert(String::from_utf8(w.to_vec()).unwrap());
            }
        }
        for w in bytes.windows(11) {
            if phones.contains(w) {
                out.insert(String::from_utf8(w.to_vec()).unwrap());
            }
        }
    }
    out
}

fn assert_all_there(s: &Store, cells: &[String]) {
    let mut seen = Vec::new();
    for c in cells {
        for m in members(&s.cell(c).unwrap()) {
            seen.push((m.name.clone(), m.phone.clone().unwrap()));
        }
    }
    seen.sort();
    let mut want = planted();
    want.sort();
    assert_eq!(seen, want);
}

#[test]
fn an_unencrypted_store_shows_the_planted_strings() {
    // The control: proves the search finds what is there in the clear.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("plain.db");
    let s = Store::open(&db, options(None)).unwrap();
    fill(&s);
    assert_eq!(
        found(&db).len(),
        2 * CELLS * PER_CELL,
        "while open (db + wal)"
    );
    drop(s);
    assert_eq!(found(&db).len(), 2 * CELLS * PER_CELL, "after close");

    // A key for a plaintext store is refused and changes nothing.
    let before = dir_contents(dir.path());
    assert!(matches!(
        Store::open(&db, options(Some(RAW_KEY))),
        Err(Error::WrongKey)
    ));
    assert!(
        dir_contents(dir.path()) == before,
        "a refused key changed the files"
    );
}

fn encrypted_store_keeps_secrets(key: &str, wrong: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("secret.db");
    let s = Store::open(&db, options(Some(key))).unwrap();
    let cells = fill(&s);
    assert!(
        files(&db).contains_key(&format!("{}-wal", db.display())),
        "WAL checked while open"
    );
    let leaked = found(&db);
    assert!(
        leaked.is_empty(),
        "plaintext in the open store's files: {leaked:?}"
    );
    drop(s);
    let leaked = found(&db);
    assert!(
        leaked.is_empty(),
        "plaintext in the closed store's files: {leaked:?}"
    );

    // Wrong key, or none: a typed error, and not one byte changes.
    let before = dir_contents(dir.path());
    for attempt in [Some(wrong), None, Some("")] {
        match Store::open(&db, options(attempt)) {
            Err(Error::WrongKey) => {}
            other => panic!("key {attempt:?}: expected WrongKey, got {other:?}"),
        }
        assert!(
            dir_contents(dir.path()) == before,
            "key {attempt:?} changed or deleted files"
        );
    }

    // The right key opens everything again.
    let s = Store::open(&db, options(Some(key))).unwrap();
    assert_all_there(&s, &cells);
    assert!(s.check().unwrap().ok);
    assert_eq!(s.cells(&[]).unwrap().len(), CELLS);
    drop(s);
    assert!(found(&db).is_empty());
}

#[test]
fn a_raw_key_keeps_names_and_phones_out_of_the_files() {
    encrypted_store_keeps_secrets(RAW_KEY, OTHER_RAW_KEY);
}

#[test]
fn a_passphrase_keeps_names_and_phones_out_of_the_files() {
    encrypted_store_keeps_secrets(PASSPHRASE, OTHER_PASSPHRASE);
}

#[test]
fn a_raw_key_and_a_passphrase_of_the_same_text_are_different_keys() {
    // 64 hex digits are the key itself; anything else goes through the KDF,
    // so the hex text as a passphrase (here: upper case is still hex, so
    // add a space) must not open the store.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let s = Store::open(&db, options(Some(RAW_KEY))).unwrap();
    let cell = s.create_cell("一组", &path("c/t/v/g"), None).unwrap();
    drop(s);
    let before = dir_contents(dir.path());
    let as_passphrase = format!("{RAW_KEY} ");
    assert!(matches!(
        Store::open(&db, options(Some(&as_passphrase))),
        Err(Error::WrongKey)
    ));
    assert!(dir_contents(dir.path()) == before);
    let upper = RAW_KEY.to_ascii_uppercase();
    let s = Store::open(&db, options(Some(&upper))).unwrap();
    assert_eq!(s.cell(&cell).unwrap().cell.name, "一组");
}
