//! The lead's day at the command line: arrivals recorded at the door, the
//! dose and test histories, errands, handovers, the office's policy, the
//! alerts a day raises, and the day screen itself (`silin day`).

use super::{date_arg, device_label, int_arg, now, open_existing, Cli};
use crate::output::{CliError, Out};
use clap::Subcommand;
use silin_core::model::*;
use silin_core::register::*;

#[derive(Subcommand)]
pub enum ArrivalCmd {
    /// Record who arrived, from where, at what risk level: in one step from
    /// the door. Home monitoring follows from the office's policy.
    Record {
        /// The household they arrived at.
        #[arg(long)]
        household: String,
        /// Someone already in the register …
        #[arg(long, conflicts_with = "name")]
        member: Option<String>,
        /// … or a new person's name (added to the household).
        #[arg(long)]
        name: Option<String>,
        /// The new person's phone.
        #[arg(long, requires = "name")]
        phone: Option<String>,
        /// The new person's resident ID number.
        #[arg(long, requires = "name")]
        id_number: Option<String>,
        /// returning (a resident coming home) or visitor.
        #[arg(long, default_value = "returning")]
        kind: String,
        /// Where they came from, as they name it.
        #[arg(long)]
        from: String,
        /// low, medium or high, as the office rates that place today.
        #[arg(long)]
        risk: String,
        /// car, bus, train, plane or other.
        #[arg(long)]
        means: Option<String>,
        /// The day they arrived, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum HistoryCmd {
    /// Add a vaccine dose to a member's history.
    Dose {
        /// The member's id.
        #[arg(long)]
        member: String,
        /// Which dose (1, 2, 3 …), if known.
        #[arg(long)]
        number: Option<String>,
        /// The day given, YYYY-MM-DD, if known.
        #[arg(long)]
        date: Option<String>,
        /// The vaccine, as on the card.
        #[arg(long)]
        vaccine: Option<String>,
    },
    /// Add a test and its result to a member's history.
    Test {
        /// The member's id.
        #[arg(long)]
        member: String,
        /// The day taken, YYYY-MM-DD (default today).
        #[arg(long)]
        date: Option<String>,
        /// pcr, antigen or antibody.
        #[arg(long)]
        kind: String,
        /// negative, positive or pending.
        #[arg(long)]
        result: String,
    },
}

#[derive(Subcommand)]
pub enum ErrandCmd {
    /// Record an errand asked for by (or for) a household.
    Request {
        /// The household's id.
        #[arg(long)]
        household: String,
        /// The member it is for.
        #[arg(long)]
        member: Option<String>,
        /// What to do, e.g. 代购降压药.
        #[arg(long)]
        request: String,
        /// By when, YYYY-MM-DD.
        #[arg(long)]
        due: Option<String>,
    },
    /// Mark an errand done (records the errand visit with it).
    Done {
        /// The cell's id.
        #[arg(long)]
        cell: String,
        /// The errand's id.
        #[arg(long)]
        errand: String,
        /// A free note (default: the request).
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum LeadCmd {
    /// Hand the cell to one of its members (grid worker or office).
    HandOver {
        /// The cell's id.
        #[arg(long)]
        cell: String,
        /// The member's id.
        #[arg(long)]
        member: String,
    },
}

#[derive(Subcommand)]
pub enum NoticeCmd {
    /// Send a notice to every cell of a region held in this store (the
    /// office, on the hub); each cell receives it on its next sync.
    Send {
        /// The region, a path prefix such as 两当县/城关镇/东关村.
        #[arg(long)]
        region: String,
        /// The notice's title.
        #[arg(long)]
        title: String,
        /// What to tell every household.
        #[arg(long)]
        text: String,
    },
    /// Mark a notice read by, or relayed to, a household (the lead).
    Mark {
        /// The cell's id.
        #[arg(long)]
        cell: String,
        /// The notice's id.
        #[arg(long)]
        notice: String,
        /// The household's id.
        #[arg(long)]
        household: String,
        /// read or relayed.
        #[arg(long)]
        status: String,
    },
    /// Each notice's reach, cell by cell: households, read, relayed.
    Reach,
}

pub fn notice(cli: &Cli, out: &Out, cmd: &NoticeCmd) -> Result<(), CliError> {
    let store = open_existing(cli)?;
    match cmd {
        NoticeCmd::Send {
            region,
            title,
            text,
        } => {
            let (id, cells) = store.post_notice(region, title, text, &device_label(&store))?;
            out.print(
                &serde_json::json!({ "notice_id": id, "cells": cells.len() }),
                || format!("notice {id} sent to {} cells", cells.len()),
            )
        }
        NoticeCmd::Mark {
            cell,
            notice,
            household,
            status,
        } => {
            store.mark_notice(cell, notice, household, status.parse()?)?;
            out.print(
                &serde_json::json!({ "notice_id": notice, "household_id": household }),
                || format!("{household}: {status}"),
            )
        }
        NoticeCmd::Reach => {
            let rows = store.notice_coverage(&[])?;
            out.print(&rows, || {
                rows.iter()
                    .map(|r| {
                        format!(
                            "{} {}: {} households, {} read, {} relayed",
                            r.notice_id, r.cell_id, r.households, r.read, r.relayed
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}

/// Records an arrival; prints the member's id.
pub fn arrival(cli: &Cli, out: &Out, cmd: &ArrivalCmd) -> Result<(), CliError> {
    let ArrivalCmd::Record {
        household,
        member,
        name,
        phone,
        id_number,
        kind,
        from,
        risk,
        means,
        date,
    } = cmd;
    let person = match (member, name) {
        (Some(m), None) => Arriving::Member(m.clone()),
        (None, Some(n)) => Arriving::New(NewMember {
            name: n.clone(),
            phone: phone.clone(),
            id_number: id_number.clone(),
            ..Default::default()
        }),
        _ => return Err(CliError::Usage(
            "name who arrived: --member ID for someone in the register, or --name for a new person"
                .into(),
        )),
    };
    let store = open_existing(cli)?;
    let id = store.record_arrival(NewArrival {
        household_id: household.clone(),
        person,
        kind: kind.parse()?,
        from: from.clone(),
        risk: risk.parse()?,
        date: date_arg("date", date)?,
        means: means.as_deref().map(str::parse).transpose()?,
        by: device_label(&store),
        at: now(),
    })?;
    let m = store.member(&id)?;
    out.print(
        &serde_json::json!({
            "member_id": id,
            "monitoring_until": m.monitoring.until.map(|d| d.to_string()),
        }),
        || match m.monitoring.until {
            Some(u) => format!("{id}: home monitoring until {u}"),
            None => format!("{id}: no home monitoring"),
        },
    )
}

pub fn history(cli: &Cli, out: &Out, cmd: &HistoryCmd) -> Result<(), CliError> {
    let store = open_existing(cli)?;
    let by = device_label(&store);
    let (key, id) = match cmd {
        HistoryCmd::Dose {
            member,
            number,
            date,
            vaccine,
        } => (
            "dose_id",
            store.add_dose(NewDose {
                member_id: member.clone(),
                number: number
                    .as_deref()
                    .map(|n| int_arg("number", n))
                    .transpose()?,
                date: date.as_deref().map(|d| parse_date("date", d)).transpose()?,
                kind: vaccine.clone(),
                by,
            })?,
        ),
        HistoryCmd::Test {
            member,
            date,
            kind,
            result,
        } => (
            "test_id",
            store.add_test(NewTest {
                member_id: member.clone(),
                date: date_arg("date", date)?,
                kind: kind.parse()?,
                result: result.parse()?,
                by,
            })?,
        ),
    };
    out.print(&serde_json::json!({ key: id }), || id.clone())
}

pub fn errand(cli: &Cli, out: &Out, cmd: &ErrandCmd) -> Result<(), CliError> {
    let store = open_existing(cli)?;
    match cmd {
        ErrandCmd::Request {
            household,
            member,
            request,
            due,
        } => {
            let id = store.request_errand(NewErrand {
                household_id: household.clone(),
                member_id: member.clone(),
                request: request.clone(),
                due: due.as_deref().map(|d| parse_date("due", d)).transpose()?,
                at: now(),
            })?;
            out.print(&serde_json::json!({ "errand_id": id }), || id.clone())
        }
        ErrandCmd::Done { cell, errand, note } => {
            let visit = store.complete_errand(cell, errand, &device_label(&store), note.clone())?;
            out.print(
                &serde_json::json!({ "errand_id": errand, "visit_id": visit }),
                || format!("errand {errand} done (visit {visit})"),
            )
        }
    }
}

pub fn lead(cli: &Cli, out: &Out, cmd: &LeadCmd) -> Result<(), CliError> {
    let LeadCmd::HandOver { cell, member } = cmd;
    let store = open_existing(cli)?;
    let id = store.hand_over(cell, member, &device_label(&store))?;
    out.print(
        &serde_json::json!({ "cell_id": cell, "member_id": member }),
        || format!("{cell} handed over ({id})"),
    )
}

/// `silin policy set --cell ID KEY=VALUE...`: the office's policy.
pub fn policy(cli: &Cli, out: &Out, cell: &str, assignments: &[String]) -> Result<(), CliError> {
    let store = open_existing(cli)?;
    let mut parsed = Vec::new();
    for a in assignments {
        let (k, v) = a.split_once('=').ok_or_else(|| {
            ValidationError::new(a, "write settings as KEY=VALUE, e.g. high_days=14")
        })?;
        parsed.push((k.trim().to_string(), int_arg(k.trim(), v)?));
    }
    // Every setting checked before any is written.
    let mut check = store.with_doc(cell, |d| Ok(d.policy()))?;
    for (k, v) in &parsed {
        check.set(k, *v)?;
    }
    for (k, v) in &parsed {
        store.set_policy(cell, k, *v)?;
    }
    let policy = store.with_doc(cell, |d| Ok(d.policy()))?;
    out.print(&policy, || {
        policy
            .entries()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// `silin alerts --cell ID`: raises the day's alerts and reminders.
pub fn alerts(cli: &Cli, out: &Out, cell: &str) -> Result<(), CliError> {
    let store = open_existing(cli)?;
    let ids = store.raise_alerts(cell)?;
    out.print(&serde_json::json!({ "tasks": ids }), || {
        format!("{} task(s) raised", ids.len())
    })
}

/// `silin day --cell ID`: the lead's day screen.
pub fn day(
    cli: &Cli,
    out: &Out,
    cell: &str,
    date: &Option<String>,
    not_called_days: &str,
) -> Result<(), CliError> {
    let store = open_existing(cli)?;
    let date = date_arg("date", date)?;
    let days = int_arg("not_called_days", not_called_days)?;
    let day = store.lead_day(cell, date, days)?;
    out.print(&day, || human_day(&day))
}

fn human_day(d: &LeadDay) -> String {
    let mut lines = vec![format!("{} — {}", d.cell_id, d.date)];
    if let Some(l) = &d.lead {
        lines.push(format!(
            "lead: {} {}",
            l.name,
            l.phone.as_deref().unwrap_or("")
        ));
    }
    for c in &d.due {
        lines.push(format!(
            "check due: {} {}/{} ({} days left)",
            c.name,
            c.done,
            c.required,
            c.days_left()
        ));
    }
    for c in &d.missed {
        lines.push(format!(
            "missed: {} {} {}/{}",
            c.name, c.day, c.done, c.required
        ));
    }
    for t in &d.open_tasks {
        lines.push(format!("task ({}): {}", t.kind, t.title));
    }
    for a in &d.away {
        lines.push(format!(
            "call: {} {} (last {})",
            a.name,
            a.phone.as_deref().unwrap_or(""),
            a.last_called
                .map_or_else(|| "never".to_string(), |d| d.to_string())
        ));
    }
    for e in &d.errands {
        lines.push(format!("errand: {}", e.request));
    }
    let r = &d.draft;
    lines.push(format!(
        "report draft: arrivals {} under monitoring {} abnormal {} errands {}{}",
        r.arrivals,
        r.under_monitoring,
        r.abnormal,
        r.errands,
        match &d.report {
            Some(f) => match &f.flag {
                Some(flag) => format!(" — filed, flagged: {flag}"),
                None => " — filed".to_string(),
            },
            None => " — not filed".to_string(),
        }
    ));
    lines.join("\n")
}
