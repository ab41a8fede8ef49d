//! The hub's PostgreSQL database against a real PostgreSQL server: laying
//! out an empty database, starting again over a laid-out one, hub processes
//! starting together, refusing databases it must not touch, and saying what
//! is wrong with a connection string instead of panicking.
#![cfg(feature = "server")]

#[path = "support/pg.rs"]
mod pg_support;

use pg_support::{fresh_database, FreshDatabase};
use silin_hub::pg::{PgError, PgStorage, LAYOUT};
use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

/// Everything a hub keeps, as the SQLite store and the hub's user table
/// keep it, plus the bookkeeping of migrations and sync sessions.
const TABLES: [&str; 25] = [
    "audit_device",
    "cells",
    "chunks",
    "docs",
    "enrol_tokens",
    "enrolled",
    "erasure_orders",
    "households",
    "hub_retention",
    "hub_sessions",
    "hub_users",
    "members",
    "meta",
    "office_list_tasks",
    "office_lists",
    "peers",
    "region_levels",
    "reports",
    "revoked",
    "schema_migrations",
    "seen_sessions",
    "snapshots",
    "sync_states",
    "tasks",
    "visits",
];

fn storage(db: &FreshDatabase) -> PgStorage {
    PgStorage::connect(db.url(), 2).expect("the test database accepts connections")
}

fn tables(db: &FreshDatabase) -> BTreeSet<String> {
    db.client()
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn recorded(db: &FreshDatabase) -> Vec<(i64, i64)> {
    db.client()
        .query(
            "SELECT version, applied_at FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn sqlstate(e: &postgres::Error) -> Option<&postgres::error::SqlState> {
    e.code()
}

#[test]
fn an_empty_database_is_laid_out_with_everything_a_hub_keeps() {
    let Some(db) = fresh_database() else { return };
    let s = storage(&db);
    assert_eq!(s.layout().unwrap(), 0);
    let m = s.migrate().unwrap();
    assert_eq!(m.layout, LAYOUT);
    assert_eq!(m.applied, (1..=LAYOUT).collect::<Vec<_>>());
    assert_eq!(s.layout().unwrap(), LAYOUT);
    let want: BTreeSet<String> = TABLES.iter().map(|t| t.to_string()).collect();
    assert_eq!(tables(&db), want);
    let rec = recorded(&db);
    assert_eq!(rec.len() as i64, LAYOUT);
    // By the server's clock: the hub processes' clocks may disagree.
    let now: i64 = db
        .client()
        .query_one("SELECT extract(epoch FROM now())::bigint", &[])
        .unwrap()
        .get(0);
    assert!(
        rec.iter().all(|&(_, at)| (0..60).contains(&(now - at))),
        "{rec:?} at {now}"
    );

    // A document row starts at version 1 and keeps its bytes as given.
    let mut c = db.client();
    let heads: &[u8] = &[0, 1, 2, 255];
    c.execute(
        "INSERT INTO docs (id, heads, snapshot_bytes) VALUES ('cell-a', $1, 0)",
        &[&heads],
    )
    .unwrap();
    let row = c
        .query_one("SELECT heads, version, chunk_count FROM docs", &[])
        .unwrap();
    assert_eq!(row.get::<_, Vec<u8>>(0), heads);
    assert_eq!(row.get::<_, i64>(1), 1);
    assert_eq!(row.get::<_, i64>(2), 0);
}

#[test]
fn two_writers_cannot_take_the_same_chunk_number() {
    let Some(db) = fresh_database() else { return };
    storage(&db).migrate().unwrap();
    let mut c = db.client();
    c.batch_execute(
        "INSERT INTO docs (id, heads, snapshot_bytes) VALUES ('a', '', 0), ('b', '', 0);
         INSERT INTO chunks (doc_id, seq, bytes) VALUES ('a', 1, 'x');",
    )
    .unwrap();
    let e = c
        .execute(
            "INSERT INTO chunks (doc_id, seq, bytes) VALUES ('a', 1, 'y')",
            &[],
        )
        .expect_err("a second chunk 1 of document a");
    assert_eq!(
        sqlstate(&e),
        Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
    );
    // Numbers are per document.
    c.execute(
        "INSERT INTO chunks (doc_id, seq, bytes) VALUES ('b', 1, 'y')",
        &[],
    )
    .unwrap();
}

#[test]
fn a_documents_rows_go_with_it_and_never_outlive_it() {
    let Some(db) = fresh_database() else { return };
    storage(&db).migrate().unwrap();
    let mut c = db.client();
    // In any order within one transaction: checked at commit.
    c.batch_execute(
        "BEGIN;
         INSERT INTO chunks (doc_id, seq, bytes) VALUES ('a', 1, 'x');
         INSERT INTO cells (id, name, path) VALUES ('a', 'one', 'county/town/village/1');
         INSERT INTO visits (cell_id, day, id, kind, abnormal) VALUES ('a', '2025-03-01', 'v1', 'routine', false);
         INSERT INTO docs (id, heads, snapshot_bytes) VALUES ('a', '', 1);
         INSERT INTO snapshots (id, snapshot) VALUES ('a', 's');
         INSERT INTO sync_states (peer, doc_id, state) VALUES ('phone', 'a', 'st');
         COMMIT;",
    )
    .unwrap();
    c.execute("DELETE FROM docs WHERE id = 'a'", &[]).unwrap();
    for t in ["snapshots", "chunks", "cells", "visits"] {
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM {t}"), &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{t} kept rows of a deleted document");
    }
    // A sync state may name a document the hub does not keep.
    let n: i64 = c
        .query_one("SELECT count(*) FROM sync_states", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 1);

    let e = c
        .batch_execute("INSERT INTO chunks (doc_id, seq, bytes) VALUES ('gone', 1, 'x')")
        .expect_err("a chunk of no document");
    assert_eq!(
        sqlstate(&e),
        Some(&postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
    );
}

#[test]
fn migrating_again_changes_nothing() {
    let Some(db) = fresh_database() else { return };
    let s = storage(&db);
    s.migrate().unwrap();
    let rec = recorded(&db);
    db.client()
        .execute(
            "INSERT INTO meta (key, value) VALUES ('device_id', 'hub-1')",
            &[],
        )
        .unwrap();

    let again = s.migrate().unwrap();
    assert_eq!(again.layout, LAYOUT);
    assert!(again.applied.is_empty(), "{again:?}");
    // A process started later sees the same.
    let later = storage(&db).migrate().unwrap();
    assert!(later.applied.is_empty(), "{later:?}");
    assert_eq!(recorded(&db), rec);
    let kept: Vec<u8> = db
        .client()
        .query_one("SELECT value FROM meta WHERE key = 'device_id'", &[])
        .unwrap()
        .get(0);
    assert_eq!(kept, b"hub-1");
}

#[test]
fn hub_processes_starting_together_lay_the_database_out_once() {
    let Some(db) = fresh_database() else { return };
    const PROCESSES: usize = 4;
    // A pool each, as separate processes would have.
    let hubs: Vec<PgStorage> = (0..PROCESSES).map(|_| storage(&db)).collect();
    let start = Arc::new(Barrier::new(PROCESSES));
    let threads: Vec<_> = hubs
        .into_iter()
        .map(|s| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                s.migrate()
            })
        })
        .collect();
    let mut applied = Vec::new();
    for t in threads {
        let m = t.join().unwrap().expect("every process starts");
        assert_eq!(m.layout, LAYOUT);
        applied.extend(m.applied);
    }
    applied.sort();
    assert_eq!(
        applied,
        (1..=LAYOUT).collect::<Vec<_>>(),
        "each step applied by exactly one process"
    );
    assert_eq!(recorded(&db).len() as i64, LAYOUT);
    let want: BTreeSet<String> = TABLES.iter().map(|t| t.to_string()).collect();
    assert_eq!(tables(&db), want);
}

#[test]
fn a_database_laid_out_by_a_newer_hub_is_refused() {
    let Some(db) = fresh_database() else { return };
    let s = storage(&db);
    s.migrate().unwrap();
    db.client()
        .execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)",
            &[&(LAYOUT + 1)],
        )
        .unwrap();
    let before = tables(&db);
    let e = s.migrate().expect_err("a newer layout");
    assert!(
        matches!(e, PgError::Newer { found, known } if found == LAYOUT + 1 && known == LAYOUT),
        "{e:?}"
    );
    assert!(e.to_string().contains("newer silin hub"), "{e}");
    assert_eq!(tables(&db), before);
    assert_eq!(recorded(&db).last().map(|r| r.0), Some(LAYOUT + 1));
}

#[test]
fn another_programs_database_is_refused_untouched() {
    let Some(db) = fresh_database() else { return };
    db.client()
        .batch_execute("CREATE TABLE orders (id bigint PRIMARY KEY)")
        .unwrap();
    let e = storage(&db)
        .migrate()
        .expect_err("another program's tables");
    assert!(
        matches!(&e, PgError::NotOurs { tables, .. } if tables == &["orders".to_string()]),
        "{e:?}"
    );
    assert!(e.to_string().contains("database of its own"), "{e}");
    assert_eq!(tables(&db), BTreeSet::from(["orders".to_string()]));

    // Another tool's migration table of the same name, with text versions.
    let Some(db) = fresh_database() else { return };
    db.client()
        .batch_execute(
            "CREATE TABLE schema_migrations (version text PRIMARY KEY);
             INSERT INTO schema_migrations VALUES ('20240101000000');",
        )
        .unwrap();
    let e = storage(&db)
        .migrate()
        .expect_err("a foreign schema_migrations");
    assert!(matches!(e, PgError::NotOurs { .. }), "{e:?}");
}

#[test]
fn a_malformed_url_says_how_to_write_one() {
    for url in [
        "postgresql://postgres@127.0.0.1:notaport/silin",
        "host=127.0.0.1 port=5432 sslmode=sometimes",
        "host='unterminated",
    ] {
        let e = PgStorage::connect(url, 2).expect_err(url);
        assert!(matches!(e, PgError::BadUrl { .. }), "{url}: {e:?}");
        assert!(e.to_string().contains("dbname=DBNAME"), "{e}");
    }
}

#[test]
fn an_unreachable_server_is_named_without_its_password() {
    // Nothing listens on port 1; loopback refuses at once.
    let e = PgStorage::connect(
        "host=127.0.0.1 port=1 user=hub password=s3cret dbname=silin connect_timeout=5",
        2,
    )
    .expect_err("nothing listens on port 1");
    assert!(
        matches!(&e, PgError::Connect { target, .. } if target == "hub@127.0.0.1:1/silin"),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.starts_with("cannot reach PostgreSQL at hub@127.0.0.1:1/silin: "),
        "{msg}"
    );
    assert!(msg.contains("check the --postgres URL"), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");
}

#[test]
fn a_missing_database_is_named_with_the_servers_reason() {
    let Some(db) = fresh_database() else { return };
    let url = db.url().replace(db.name(), "silin_no_such_database");
    let e = PgStorage::connect(&url, 2).expect_err("no such database");
    assert!(matches!(e, PgError::Connect { .. }), "{e:?}");
    assert!(e.to_string().contains("does not exist"), "{e}");
}

#[test]
fn a_database_of_layout_2_takes_analyst_logins_and_keeps_its_own() {
    let Some(db) = fresh_database() else { return };
    // The database as a hub of layout 2 left it, with an office login.
    let mut c = db.client();
    c.batch_execute(
        "CREATE TABLE schema_migrations (version bigint PRIMARY KEY, applied_at bigint NOT NULL)",
    )
    .unwrap();
    c.batch_execute(include_str!("../sql/pg/001_layout.sql"))
        .unwrap();
    c.batch_execute(include_str!("../sql/pg/002_region_levels.sql"))
        .unwrap();
    c.batch_execute("INSERT INTO schema_migrations VALUES (1, 0), (2, 0)")
        .unwrap();
    let hash = silin_hub::users::hash_password("correct horse").unwrap();
    c.execute(
        "INSERT INTO hub_users VALUES ('zhang', 'office', $1, '2026-11-01T08:00:00+08:00')",
        &[&hash],
    )
    .unwrap();
    let refused = c
        .execute(
            "INSERT INTO hub_users VALUES ('qian', 'analyst', $1, '2026-11-01T08:00:00+08:00')",
            &[&hash],
        )
        .unwrap_err();
    assert_eq!(
        sqlstate(&refused),
        Some(&postgres::error::SqlState::CHECK_VIOLATION)
    );

    let s = storage(&db);
    let m = s.migrate().unwrap();
    assert_eq!(m.applied, (3..=LAYOUT).collect::<Vec<_>>());
    let users = s.users();
    use silin_hub::users::UserRole;
    assert_eq!(
        users.verify("zhang", "correct horse").unwrap(),
        Some(UserRole::Office)
    );
    users
        .add(
            "qian",
            UserRole::Analyst,
            "counts only please",
            "2026-11-29T08:00:00+08:00",
        )
        .unwrap();
    assert_eq!(
        users.verify("qian", "counts only please").unwrap(),
        Some(UserRole::Analyst)
    );
    // No other role gets in.
    let refused = c
        .execute(
            "INSERT INTO hub_users VALUES ('x', 'lead', 'h', '2026-11-29T08:00:00+08:00')",
            &[],
        )
        .unwrap_err();
    assert_eq!(
        sqlstate(&refused),
        Some(&postgres::error::SqlState::CHECK_VIOLATION)
    );
}
