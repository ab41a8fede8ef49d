//! Writes visits to a store as fast as it can, printing each visit's id
//! (flushed) only after `record_visit` returned Ok — an acknowledged write.
//! The crash test kills it with SIGKILL at random moments and checks every
//! printed id survived.
//!
//! Usage: crash-writer STORE_PATH [MAX_VISITS]

use chrono::{FixedOffset, TimeZone};
use silin_core::model::{NewHousehold, NewMember, NewVisit, RegionPath, VisitKind};
use silin_core::{Durability, Store, StoreOptions};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crash-writer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: crash-writer STORE_PATH [MAX_VISITS]")?;
    let max: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(u64::MAX);
    let store = Store::open(
        &path,
        StoreOptions {
            durability: Durability::Full,
            ..Default::default()
        },
    )?;
    let cell = match store.cells(&[])?.into_iter().next() {
        Some(c) => c.id,
        None => {
            let region = RegionPath::parse("两当县/城关镇/东关村/一组")?;
            let today = chrono::Local::now().date_naive();
            // Cell, household and member in one transaction: a kill leaves
            // all of them or none.
            store
                .create_cell_with("崩溃测试联户", &region, Some("王建国"), |d| {
                    let hh = silin_core::model::new_id();
                    d.add_household(&hh, NewHousehold::default(), 0)?;
                    let m = NewMember {
                        name: "王秀兰".into(),
                        ..Default::default()
                    };
                    d.add_member(&hh, &silin_core::model::new_id(), m, today, 0)?;
                    Ok(())
                })?
                .0
        }
    };
    let view = store.cell(&cell)?;
    let household = view.households[0].id.clone();
    let member = view.households[0].members[0].id.clone();
    let tz = FixedOffset::east_opt(8 * 3600).ok_or("offset")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut n = 0u64;
    while n < max {
        let at = tz
            .timestamp_opt(1_795_000_000 + n as i64 * 60, 0)
            .single()
            .ok_or("time")?;
        let kind = VisitKind::ALL[n as usize % VisitKind::ALL.len()];
        let mut v = NewVisit::new(kind, at, "王建国");
        match kind {
            VisitKind::HealthCheck => {
                v.member_id = Some(member.clone());
                v.temperature = Some(36.0 + (n % 20) as f64 / 10.0);
            }
            _ => v.household_id = Some(household.clone()),
        }
        v.note = Some(format!("第{n}次"));
        let id = store.record_visit(&cell, v)?;
        // Acknowledge only what is committed.
        writeln!(out, "{id}")?;
        out.flush()?;
        n += 1;
    }
    Ok(())
}
