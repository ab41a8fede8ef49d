//! A cell's projection rows in PostgreSQL, kept equal to
//! [`CellRows::from_doc`] of the document version `docs` records: written
//! in the transaction that writes the document, under its row lock.
//!
//! A writer that knows the rows of the version it locked (its cached copy
//! was the one written last, by this process) writes only what changed; one
//! that does not (it had to reload) replaces them all. Rows keyed by an id
//! of their own (households, members, tasks) move to this cell when another
//! cell holds that id, as the SQLite store's `INSERT OR REPLACE` moves them.
//! Every table is at most two statements over arrays, whatever the number
//! of rows; statements carry their parameter types, so each is one round
//! trip (no separate prepare).

use postgres::types::{ToSql, Type};
use postgres::Transaction;
use silin_core::store::{CellRows, HouseholdRow, MemberRow, ReportRow, TaskRow, VisitRow};
use std::collections::{BTreeMap, BTreeSet};

type Params<'a> = [(&'a (dyn ToSql + Sync), Type)];

/// Keeps the last of each run of rows with equal keys: the rows come
/// sorted, and a hostile document may name one id twice. SQLite's
/// `INSERT OR REPLACE` keeps the last one written; so does this.
pub(super) fn last_of<T, K: PartialEq>(rows: &[T], key: impl Fn(&T) -> K) -> Vec<&T> {
    let mut out: Vec<&T> = Vec::with_capacity(rows.len());
    for r in rows {
        match out.last_mut() {
            Some(last) if key(*last) == key(r) => *last = r,
            _ => out.push(r),
        }
    }
    out
}

/// What turns `old` into `new`: the rows whose key is gone, and the rows to
/// write (new, or changed under the same key).
fn changes<'a, T: PartialEq, K: Ord>(
    old: &'a [T],
    new: &'a [T],
    key: impl Fn(&T) -> K,
) -> (Vec<&'a T>, Vec<&'a T>) {
    let new = last_of(new, &key);
    let before: BTreeMap<K, &T> = last_of(old, &key)
        .into_iter()
        .map(|r| (key(r), r))
        .collect();
    let kept: BTreeSet<K> = new.iter().map(|r| key(r)).collect();
    let gone = before
        .iter()
        .filter(|(k, _)| !kept.contains(*k))
        .map(|(_, r)| *r)
        .collect();
    let put = new
        .into_iter()
        .filter(|r| before.get(&key(r)) != Some(r))
        .collect();
    (gone, put)
}

fn texts<'a, T>(rows: &[&'a T], f: impl Fn(&'a T) -> &'a str) -> Vec<&'a str> {
    rows.iter().map(|r| f(r)).collect()
}

fn maybe<'a, T>(rows: &[&'a T], f: impl Fn(&'a T) -> Option<&'a str>) -> Vec<Option<&'a str>> {
    rows.iter().map(|r| f(r)).collect()
}

/// Brings `cell_id`'s projection rows from `old` — what the tables hold for
/// the version this transaction locked, or `None` when the caller does not
/// know — to `new`.
pub(super) fn write(
    tx: &mut Transaction<'_>,
    cell_id: &str,
    old: Option<&CellRows>,
    new: &CellRows,
) -> Result<(), postgres::Error> {
    let id = (&cell_id as &(dyn ToSql + Sync), Type::TEXT);
    let none = CellRows::default();
    let old = match old {
        Some(old) => old,
        None => {
            tx.execute_typed(
                "WITH h AS (DELETE FROM households WHERE cell_id = $1),
                      m AS (DELETE FROM members WHERE cell_id = $1),
                      v AS (DELETE FROM visits WHERE cell_id = $1),
                      r AS (DELETE FROM reports WHERE cell_id = $1),
                      t AS (DELETE FROM tasks WHERE cell_id = $1)
                 DELETE FROM cells WHERE id = $1",
                std::slice::from_ref(&id),
            )?;
            &none
        }
    };
    if old.cell != new.cell {
        match &new.cell {
            Some(c) => {
                tx.execute_typed(
                    "INSERT INTO cells (id, name, path, lead) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO UPDATE
                         SET name = EXCLUDED.name, path = EXCLUDED.path, lead = EXCLUDED.lead",
                    &[
                        id.clone(),
                        (&c.name, Type::TEXT),
                        (&c.path, Type::TEXT),
                        (&c.lead, Type::TEXT),
                    ],
                )?;
            }
            None => {
                tx.execute_typed("DELETE FROM cells WHERE id = $1", std::slice::from_ref(&id))?;
            }
        }
    }
    households(tx, &id, &old.households, &new.households)?;
    members(tx, &id, &old.members, &new.members)?;
    visits(tx, &id, &old.visits, &new.visits)?;
    reports(tx, &id, &old.reports, &new.reports)?;
    tasks(tx, &id, &old.tasks, &new.tasks)?;
    Ok(())
}

/// Deletes this cell's rows of `table` whose `key` column is one of `gone`.
fn delete(
    tx: &mut Transaction<'_>,
    id: &(&(dyn ToSql + Sync), Type),
    table: &str,
    key: &str,
    gone: &[&str],
) -> Result<(), postgres::Error> {
    if !gone.is_empty() {
        tx.execute_typed(
            &format!("DELETE FROM {table} WHERE cell_id = $1 AND {key} = ANY($2)"),
            &[id.clone(), (&gone, Type::TEXT_ARRAY)],
        )?;
    }
    Ok(())
}

fn households(
    tx: &mut Transaction<'_>,
    id: &(&(dyn ToSql + Sync), Type),
    old: &[HouseholdRow],
    new: &[HouseholdRow],
) -> Result<(), postgres::Error> {
    let (gone, put) = changes(old, new, |h| h.id.clone());
    delete(tx, id, "households", "id", &texts(&gone, |h| &h.id))?;
    if put.is_empty() {
        return Ok(());
    }
    let params: &Params<'_> = &[
        id.clone(),
        (&texts(&put, |h| &h.id), Type::TEXT_ARRAY),
        (&maybe(&put, |h| h.address.as_deref()), Type::TEXT_ARRAY),
        (&maybe(&put, |h| h.phone.as_deref()), Type::TEXT_ARRAY),
    ];
    tx.execute_typed(
        "INSERT INTO households (id, cell_id, address, phone)
         SELECT t.id, $1, t.address, t.phone
         FROM unnest($2::text[], $3::text[], $4::text[]) AS t(id, address, phone)
         ON CONFLICT (id) DO UPDATE SET cell_id = EXCLUDED.cell_id,
             address = EXCLUDED.address, phone = EXCLUDED.phone",
        params,
    )?;
    Ok(())
}

fn members(
    tx: &mut Transaction<'_>,
    id: &(&(dyn ToSql + Sync), Type),
    old: &[MemberRow],
    new: &[MemberRow],
) -> Result<(), postgres::Error> {
    let (gone, put) = changes(old, new, |m| m.id.clone());
    delete(tx, id, "members", "id", &texts(&gone, |m| &m.id))?;
    if put.is_empty() {
        return Ok(());
    }
    let per_day: Vec<i64> = put.iter().map(|m| m.checks_per_day).collect();
    let params: &Params<'_> = &[
        id.clone(),
        (&texts(&put, |m| &m.id), Type::TEXT_ARRAY),
        (&texts(&put, |m| &m.household_id), Type::TEXT_ARRAY),
        (&texts(&put, |m| &m.name), Type::TEXT_ARRAY),
        (&maybe(&put, |m| m.phone.as_deref()), Type::TEXT_ARRAY),
        (&texts(&put, |m| &m.residence), Type::TEXT_ARRAY),
        (
            &maybe(&put, |m| m.monitoring_since.as_deref()),
            Type::TEXT_ARRAY,
        ),
        (
            &maybe(&put, |m| m.monitoring_until.as_deref()),
            Type::TEXT_ARRAY,
        ),
        (&texts(&put, |m| &m.vulnerable), Type::TEXT_ARRAY),
        (&maybe(&put, |m| m.check_since.as_deref()), Type::TEXT_ARRAY),
        (&maybe(&put, |m| m.check_until.as_deref()), Type::TEXT_ARRAY),
        (&per_day, Type::INT8_ARRAY),
    ];
    tx.execute_typed(
        "INSERT INTO members (id, cell_id, household_id, name, phone, residence,
             monitoring_since, monitoring_until, vulnerable,
             check_since, check_until, checks_per_day)
         SELECT t.id, $1, t.household_id, t.name, t.phone, t.residence,
             t.since, t.until, t.vulnerable, t.check_since, t.check_until, t.per_day
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
             $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int8[])
             AS t(id, household_id, name, phone, residence, since, until, vulnerable,
                  check_since, check_until, per_day)
         ON CONFLICT (id) DO UPDATE SET cell_id = EXCLUDED.cell_id,
             household_id = EXCLUDED.household_id, name = EXCLUDED.name,
             phone = EXCLUDED.phone, residence = EXCLUDED.residence,
             monitoring_since = EXCLUDED.monitoring_since,
             monitoring_until = EXCLUDED.monitoring_until,
             vulnerable = EXCLUDED.vulnerable,
             check_since = EXCLUDED.check_since,
             check_until = EXCLUDED.check_until,
             checks_per_day = EXCLUDED.checks_per_day",
        params,
    )?;
    Ok(())
}

fn visits(
    tx: &mut Transaction<'_>,
    id: &(&(dyn ToSql + Sync), Type),
    old: &[VisitRow],
    new: &[VisitRow],
) -> Result<(), postgres::Error> {
    let (gone, put) = changes(old, new, |v| (v.day.clone(), v.id.clone()));
    if !gone.is_empty() {
        tx.execute_typed(
            "DELETE FROM visits WHERE cell_id = $1
                 AND (day, id) IN (SELECT * FROM unnest($2::text[], $3::text[]))",
            &[
                id.clone(),
                (&texts(&gone, |v| &v.day), Type::TEXT_ARRAY),
                (&texts(&gone, |v| &v.id), Type::TEXT_ARRAY),
            ],
        )?;
    }
    if put.is_empty() {
        return Ok(());
    }
    let abnormal: Vec<bool> = put.iter().map(|v| v.abnormal).collect();
    let params: &Params<'_> = &[
        id.clone(),
        (&texts(&put, |v| &v.day), Type::TEXT_ARRAY),
        (&texts(&put, |v| &v.id), Type::TEXT_ARRAY),
        (&texts(&put, |v| &v.kind), Type::TEXT_ARRAY),
        (&maybe(&put, |v| v.member_id.as_deref()), Type::TEXT_ARRAY),
        (&abnormal, Type::BOOL_ARRAY),
    ];
    tx.execute_typed(
        "INSERT INTO visits (cell_id, day, id, kind, member_id, abnormal)
         SELECT $1, t.day, t.id, t.kind, t.member_id, t.abnormal
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bool[])
             AS t(day, id, kind, member_id, abnormal)
         ON CONFLICT (cell_id, day, id) DO UPDATE SET kind = EXCLUDED.kind,
             member_id = EXCLUDED.member_id, abnormal = EXCLUDED.abnormal",
        params,
    )?;
    Ok(())
}

fn reports(
    tx: &mut Transaction<'_>,
    id: &(&(dyn ToSql + Sync), Type),
    old: &[ReportRow],
    new: &[ReportRow],
) -> Result<(), postgres::Error> {
    let (gone, put) = changes(old, new, |r| r.date.clone());
    delete(tx, id, "reports", "date", &texts(&gone, |r| &r.date))?;
    if put.is_empty() {
        return Ok(());
    }
    let count = |f: fn(&ReportRow) -> i64| -> Vec<i64> { put.iter().map(|r| f(r)).collect() };
    let params: &Params<'_> = &[
        id.clone(),
        (&texts(&put, |r| &r.date), Type::TEXT_ARRAY),
        (&count(|r| r.arrivals), Type::INT8_ARRAY),
        (&count(|r| r.under_monitoring), Type::INT8_ARRAY),
        (&count(|r| r.abnormal), Type::INT8_ARRAY),
        (&count(|r| r.errands), Type::INT8_ARRAY),
    ];
    tx.execute_typed(
        "INSERT INTO reports (cell_id, date, arrivals, under_monitoring, abnormal, errands)
         SELECT $1, t.date, t.arrivals, t.under_monitoring, t.abnormal, t.errands
         FROM unnest($2::text[], $3::int8[], $4::int8[], $5::int8[], $6::int8[])
             AS t(date, arrivals, under_monitoring, abnormal, errands)
         ON CONFLICT (cell_id, date) DO UPDATE SET arrivals = EXCLUDED.arrivals,
             under_monitoring = EXCLUDED.under_monitoring, abnormal = EXCLUDED.abnormal,
             errands = EXCLUDED.errands",
        params,
    )?;
    Ok(())
}

fn tasks(
    tx: &mut Transaction<'_>,
    id: &(&(dyn ToSql + Sync), Type),
    old: &[TaskRow],
    new: &[TaskRow],
) -> Result<(), postgres::Error> {
    let (gone, put) = changes(old, new, |t| t.id.clone());
    delete(tx, id, "tasks", "id", &texts(&gone, |t| &t.id))?;
    if put.is_empty() {
        return Ok(());
    }
    let params: &Params<'_> = &[
        id.clone(),
        (&texts(&put, |t| &t.id), Type::TEXT_ARRAY),
        (&texts(&put, |t| &t.title), Type::TEXT_ARRAY),
        (&texts(&put, |t| &t.status), Type::TEXT_ARRAY),
        (&maybe(&put, |t| t.due.as_deref()), Type::TEXT_ARRAY),
        (&maybe(&put, |t| t.member_id.as_deref()), Type::TEXT_ARRAY),
    ];
    tx.execute_typed(
        "INSERT INTO tasks (id, cell_id, title, status, due, member_id)
         SELECT t.id, $1, t.title, t.status, t.due, t.member_id
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
             AS t(id, title, status, due, member_id)
         ON CONFLICT (id) DO UPDATE SET cell_id = EXCLUDED.cell_id,
             title = EXCLUDED.title, status = EXCLUDED.status, due = EXCLUDED.due,
             member_id = EXCLUDED.member_id",
        params,
    )?;
    Ok(())
}
