//! `silin region levels`: the hierarchy's level names per branch
//! ([`silin_core::region`]), on an office's or a SQLite hub's store or a
//! PostgreSQL hub's database. With `--prefix` and `--levels` it names a
//! branch's levels (the county seat's communities: community, building,
//! unit); without, it lists the branches named so far.

use crate::output::{CliError, Out};
use serde::Serialize;
use silin_core::region::Hierarchy;
use silin_core::Store;

/// Where the hierarchy is kept.
pub enum Place<'a> {
    Sqlite(&'a Store),
    Postgres(&'a str),
}

#[derive(Serialize)]
struct Branch<'a> {
    prefix: &'a str,
    levels: &'a [String],
}

/// Names `prefix`'s levels when both are given, then prints every branch.
pub fn levels(
    out: &Out,
    place: Place,
    prefix: Option<&str>,
    levels: Option<&str>,
) -> Result<(), CliError> {
    let names: Option<Vec<String>> =
        levels.map(|l| l.split(',').map(|n| n.trim().to_string()).collect());
    let h = match (prefix, names, place) {
        (Some(p), Some(n), Place::Sqlite(store)) => store.set_region_levels(p, &n)?,
        (Some(p), Some(n), Place::Postgres(url)) => crate::pg::set_region_levels(url, p, &n)?,
        (None, None, Place::Sqlite(store)) => store.hierarchy()?,
        (None, None, Place::Postgres(url)) => crate::pg::hierarchy(url)?,
        _ => {
            return Err(CliError::Usage(
                "give --prefix and --levels together to name a branch's levels, or neither to list them".into(),
            ))
        }
    };
    print(out, &h)
}

fn print(out: &Out, h: &Hierarchy) -> Result<(), CliError> {
    let branches: Vec<Branch> = h
        .branches()
        .map(|(prefix, levels)| Branch { prefix, levels })
        .collect();
    out.print(&serde_json::json!({ "branches": branches }), || {
        let mut s = format!(
            "everywhere else: {}",
            silin_core::region::DEFAULT_LEVELS.join("/")
        );
        for b in &branches {
            s.push_str(&format!("\n{}: {}", b.prefix, b.levels.join("/")));
        }
        s
    })
}
