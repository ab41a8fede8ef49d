//! The store's copy of the hierarchy's level names ([`crate::region`]):
//! set by the office, read by rollups and by cell creation.

use super::Store;
use crate::error::{Error, Result};
use crate::region::Hierarchy;
use rusqlite::Connection;

impl Store {
    /// Names `prefix`'s level and those below it (e.g. `两当县/城关镇/城关社区` →
    /// community, building, unit). Replaces the branch's names if it had
    /// some. Refused, with nothing written, when the names are malformed
    /// or would make a level's name mean two depths.
    pub fn set_region_levels(&self, prefix: &str, names: &[String]) -> Result<Hierarchy> {
        let mut inner = self.lock();
        inner.write(|inner| {
            let key = Hierarchy::branch_key(prefix)?;
            let h = read_hierarchy(&inner.conn)?.with_branch(&key, names)?;
            h.check_cells_fit(cells_under(&inner.conn, &key)?)?;
            let json = h.stored_names(&key).ok_or_else(|| Error::Damaged {
                doc: "region_levels".into(),
                reason: format!("branch {key} was not added"),
            })?;
            inner.conn.execute(
                "INSERT INTO region_levels (prefix, names) VALUES (?1, ?2)
                 ON CONFLICT (prefix) DO UPDATE SET names = excluded.names",
                rusqlite::params![key, json],
            )?;
            Ok(h)
        })
    }

    /// The hierarchy as this store knows it: the countryside's four levels
    /// and every branch the office has named.
    pub fn hierarchy(&self) -> Result<Hierarchy> {
        read_hierarchy(&self.lock().conn)
    }
}

/// Cells under branch `key`: id and stored path.
fn cells_under(conn: &Connection, key: &str) -> Result<Vec<(String, String)>> {
    let mut s = conn.prepare_cached("SELECT id, path FROM cells WHERE substr(path, 1, ?2) = ?1")?;
    let under = format!("{key}/");
    let rows = s
        .query_map(
            rusqlite::params![under, under.chars().count() as i64],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn read_hierarchy(conn: &Connection) -> Result<Hierarchy> {
    let mut s = conn.prepare_cached("SELECT prefix, names FROM region_levels ORDER BY prefix")?;
    let rows = s
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Hierarchy::from_stored(rows)
}
