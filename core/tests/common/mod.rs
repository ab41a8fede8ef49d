//! Helpers shared by the store's acceptance tests.
#![allow(dead_code)]

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone};
use rusqlite::types::Value;
use silin_core::model::*;
use silin_core::{Durability, Store, StoreOptions};
use std::path::Path;

pub fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
}

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// A local (UTC+8) timestamp on `d` at `h:mi`.
pub fn at(d: NaiveDate, h: u32, mi: u32) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .from_local_datetime(&d.and_hms_opt(h, mi, 0).unwrap())
        .unwrap()
}

pub fn path(s: &str) -> RegionPath {
    RegionPath::parse(s).unwrap()
}

/// A valid resident ID number from its first 17 digits.
pub fn resident_id(body: &str) -> String {
    format!("{body}{}", resident_id_check_char(body))
}

pub fn open(p: &Path) -> Store {
    Store::open(p, StoreOptions::default()).unwrap()
}

pub fn open_fast(p: &Path) -> Store {
    Store::open(
        p,
        StoreOptions {
            durability: Durability::Normal,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Every row of every table of the SQLite file, read through a separate
/// connection: what the file holds, not what the store believes.
pub fn dump_tables(p: &Path) -> Vec<(String, Vec<Vec<Value>>)> {
    let conn = rusqlite::Connection::open_with_flags(p, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let mut s = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
            let n = s.column_count();
            let mut rows = s
                .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
                .unwrap()
                .collect::<Result<Vec<Vec<Value>>, _>>()
                .unwrap();
            rows.sort_by_cached_key(|r| format!("{r:?}"));
            (t, rows)
        })
        .collect()
}

/// Every member of a view, in household order.
pub fn members(v: &CellView) -> Vec<&Member> {
    v.households.iter().flat_map(|h| &h.members).collect()
}
