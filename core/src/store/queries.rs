//! The store's queries: answered from the projection tables alone, so a
//! list of a county's members under monitoring loads no document. Values
//! come back typed; a value the tables should never hold is a damaged
//! projection, repaired by `silin check`.

use super::{CellRow, Store};
use crate::error::{Error, Result};
use crate::identity::Scope;
use crate::model::*;
use crate::rollup::{roll_up_in, CellDay, RollupRow};
use chrono::NaiveDate;
use rusqlite::OptionalExtension;
use serde::Serialize;

/// A member as the query tables know it (no document load needed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberSummary {
    pub cell_id: String,
    pub household_id: String,
    pub member_id: String,
    pub name: String,
    pub phone: Option<String>,
    pub residence: Residence,
    pub monitoring_since: Option<NaiveDate>,
    pub monitoring_until: Option<NaiveDate>,
    pub vulnerable: Vec<Vulnerability>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisitSummary {
    pub cell_id: String,
    pub visit_id: String,
    /// The recorder's local date.
    pub day: NaiveDate,
    pub kind: VisitKind,
    pub member_id: Option<String>,
    pub abnormal: bool,
}

/// A value of the query tables read back as its type; anything else is a
/// damaged projection (rebuilt from the documents by `silin check`).
fn stored<T: std::str::FromStr>(cell_id: &str, what: &str, text: &str) -> Result<T> {
    text.parse().map_err(|_| Error::Damaged {
        doc: cell_id.to_string(),
        reason: format!("the query tables hold an unknown {what} {text:?}; run `silin check`"),
    })
}

fn stored_day(cell_id: &str, what: &str, text: Option<String>) -> Result<Option<NaiveDate>> {
    text.map(|t| stored::<NaiveDate>(cell_id, what, &t))
        .transpose()
}

/// The cells of `scope` among the rows of a `cells` table, which `read`
/// gives in any order: the one rule for a store's [`Store::cells`] and a
/// hub's on PostgreSQL, which differ only in the SQL. `scope` holds region
/// path prefixes, cell ids or `*`, read as a certificate's scope is
/// ([`Scope::covers`]); empty, it names every cell. It is checked before
/// `read` runs. The cells come by path, name and id, compared byte-wise
/// as SQLite compares text; a path that does not parse is a damaged query
/// table.
pub fn cells_in_scope(
    scope: &[String],
    read: impl FnOnce() -> Result<Vec<CellRow>>,
) -> Result<Vec<CellInfo>> {
    let scope = if scope.is_empty() {
        Scope::everything()
    } else {
        Scope::parse(scope).map_err(|e| {
            ValidationError::new("scope", format!("region paths, cell ids or * ({e})"))
        })?
    };
    let mut rows = read()?;
    rows.retain(|r| scope.covers(&r.id, &r.path));
    rows.sort_by(|a, b| (&a.path, &a.name, &a.id).cmp(&(&b.path, &b.name, &b.id)));
    rows.into_iter()
        .map(|r| {
            let path = RegionPath::parse(&r.path).map_err(|e| Error::Damaged {
                doc: r.id.clone(),
                reason: e.to_string(),
            })?;
            Ok(CellInfo {
                id: r.id,
                name: r.name,
                path,
                lead: r.lead,
            })
        })
        .collect()
}

impl Store {
    pub fn has_cell(&self, cell_id: &str) -> Result<bool> {
        Ok(self
            .lock()
            .conn
            .query_row("SELECT 1 FROM docs WHERE id = ?1", [cell_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Cells named by `scope` — region path prefixes, cell ids or `*`, read
    /// as a certificate's scope is ([`Scope::covers`]) — or every cell when
    /// it is empty; by path, name and id ([`cells_in_scope`]).
    pub fn cells(&self, scope: &[String]) -> Result<Vec<CellInfo>> {
        cells_in_scope(scope, || {
            let inner = self.lock();
            let mut s = inner
                .conn
                .prepare_cached("SELECT id, name, path, lead FROM cells")?;
            let rows = s.query_map([], |r| {
                Ok(CellRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    path: r.get(2)?,
                    lead: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    pub fn cell_of_household(&self, household_id: &str) -> Result<String> {
        check_id("household", household_id)?;
        self.lock()
            .conn
            .query_row(
                "SELECT cell_id FROM households WHERE id = ?1",
                [household_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::not_found("household", household_id))
    }

    /// (cell id, household id) of a member.
    pub fn cell_of_member(&self, member_id: &str) -> Result<(String, String)> {
        check_id("member", member_id)?;
        self.lock()
            .conn
            .query_row(
                "SELECT cell_id, household_id FROM members WHERE id = ?1",
                [member_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?
            .ok_or_else(|| Error::not_found("member", member_id))
    }

    fn member_query(
        &self,
        where_clause: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<MemberSummary>> {
        let inner = self.lock();
        let mut s = inner.conn.prepare(&format!(
            "SELECT cell_id, household_id, id, name, phone, residence, monitoring_since, monitoring_until, vulnerable
             FROM members WHERE {where_clause} ORDER BY cell_id, name, id"
        ))?;
        type Row = (
            String,
            String,
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            String,
        );
        let rows = s.query_map(args, |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (cell_id, household_id, member_id, name, phone, residence, since, until, vul): Row =
                row?;
            out.push(MemberSummary {
                residence: stored(&cell_id, "residence", &residence)?,
                monitoring_since: stored_day(&cell_id, "monitoring date", since)?,
                monitoring_until: stored_day(&cell_id, "monitoring date", until)?,
                vulnerable: vul
                    .split(',')
                    .filter(|v| !v.is_empty())
                    .map(|v| stored(&cell_id, "vulnerability", v))
                    .collect::<Result<_>>()?,
                cell_id,
                household_id,
                member_id,
                name,
                phone,
            });
        }
        Ok(out)
    }

    /// Members under home monitoring on `day`.
    pub fn under_monitoring(&self, day: NaiveDate) -> Result<Vec<MemberSummary>> {
        let d = day.to_string();
        self.member_query(
            "monitoring_until IS NOT NULL AND monitoring_until >= ?1
             AND (monitoring_since IS NULL OR monitoring_since <= ?1)",
            &[&d],
        )
    }

    /// Members whose monitoring ends on `day` (to be released today).
    pub fn monitoring_ends(&self, day: NaiveDate) -> Result<Vec<MemberSummary>> {
        let d = day.to_string();
        self.member_query("monitoring_until = ?1", &[&d])
    }

    /// Members with any vulnerability flag (errands, closer watching).
    pub fn vulnerable_members(&self) -> Result<Vec<MemberSummary>> {
        self.member_query("vulnerable != ''", &[])
    }

    /// Cells that have not filed the report for `day`.
    pub fn cells_missing_report(&self, day: NaiveDate) -> Result<Vec<CellInfo>> {
        let reported: std::collections::HashSet<String> = {
            let inner = self.lock();
            let mut s = inner
                .conn
                .prepare_cached("SELECT cell_id FROM reports WHERE date = ?1")?;
            let ids = s
                .query_map([day.to_string()], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            ids
        };
        Ok(self
            .cells(&[])?
            .into_iter()
            .filter(|c| !reported.contains(&c.id))
            .collect())
    }

    /// Visits recorded on `day` (the recorder's local date), in every cell.
    pub fn visits_on(&self, day: NaiveDate) -> Result<Vec<VisitSummary>> {
        let inner = self.lock();
        let mut s = inner.conn.prepare_cached(
            "SELECT cell_id, id, day, kind, member_id, abnormal FROM visits WHERE day = ?1 ORDER BY cell_id, id",
        )?;
        let rows = s.query_map([day.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, bool>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (cell_id, visit_id, day, kind, member_id, abnormal) = row?;
            out.push(VisitSummary {
                day: stored(&cell_id, "visit day", &day)?,
                kind: stored(&cell_id, "visit kind", &kind)?,
                cell_id,
                visit_id,
                member_id,
                abnormal,
            });
        }
        Ok(out)
    }

    /// Report status of every cell for `day`, the input of a rollup.
    pub fn cell_days(&self, day: NaiveDate) -> Result<Vec<CellDay>> {
        let inner = self.lock();
        let mut s = inner.conn.prepare_cached(
            "SELECT c.id, c.path, r.arrivals, r.abnormal, r.under_monitoring
             FROM cells c LEFT JOIN reports r ON r.cell_id = c.id AND r.date = ?1",
        )?;
        let rows = s.query_map([day.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, path, arrivals, abnormal, under) = row?;
            out.push(CellDay::from_stored(&id, &path, arrivals, abnormal, under)?);
        }
        Ok(out)
    }

    pub fn rollup(&self, day: NaiveDate, level: Level) -> Result<Vec<RollupRow>> {
        let hierarchy = self.hierarchy()?;
        Ok(roll_up_in(&hierarchy, level, &self.cell_days_counted(day)?))
    }
}
