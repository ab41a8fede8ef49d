//! A device's own audit log: what a phone did with people's data — a
//! bundle exported, a cell saved out, an erasure followed — chained in its
//! store, kept until a hub says it holds the entries, and found altered
//! when someone edits the rows.

mod common;

use common::*;
use silin_core::audit::DeviceAction;
use silin_core::bundle;
use silin_core::erasure::Subject;
use silin_core::model::{NewHousehold, NewMember};
use silin_core::sync::sync_local;
use silin_core::{Error, Store};

const MARK_NAME: &str = "审计标记人甲";
const MARK_PHONE: &str = "13900001111";

/// A household with one marked member in `cell`; its id.
fn marked_household(store: &Store, cell: &str) -> String {
    let hh = store
        .add_household(
            cell,
            NewHousehold {
                address: Some("审计标记地址".into()),
                door: None,
                phone: Some(MARK_PHONE.into()),
            },
        )
        .unwrap();
    store
        .add_member(
            &hh,
            NewMember {
                name: MARK_NAME.into(),
                phone: Some(MARK_PHONE.into()),
                ..Default::default()
            },
            today(),
        )
        .unwrap();
    hh
}

fn tamper(store: &Store, sql: &str) {
    store
        .with_connection(|c| {
            c.execute_batch(&format!(
                "DROP TRIGGER device_audit_no_update; DROP TRIGGER device_audit_no_delete; {sql}"
            ))?;
            Ok(())
        })
        .unwrap();
}

fn broken_at(store: &Store) -> (i64, String) {
    match store.verify_audit() {
        Err(Error::AuditBroken { seq, problem }) => (seq, problem),
        other => panic!("expected a broken log, got {other:?}"),
    }
}

#[test]
fn a_phones_export_save_and_erasure_are_chained_in_its_own_log_with_ids_and_counts_only() {
    let c = county();
    sync_local(&c.lead, &c.hub).unwrap();
    let gone = marked_household(&c.lead, &c.cell);
    sync_local(&c.lead, &c.hub).unwrap();
    assert!(c.lead.audit_entries().unwrap().is_empty());

    // A plain bundle of the lead's one cell, then the cell saved out.
    let (bytes, docs) = bundle::export(
        &c.lead,
        &bundle::ExportOptions {
            sealing: bundle::Sealing::Plain,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(docs, 1);
    let saved = c.lead.export_doc(&c.cell).unwrap();

    // The office erases the household; the lead follows at its next sync.
    c.hub
        .issue_erasure(
            &office().key,
            &c.cell,
            vec![Subject::Household(gone)],
            "申请 7",
        )
        .unwrap();
    sync_local(&c.lead, &c.hub).unwrap();
    assert_eq!(c.lead.cell(&c.cell).unwrap().households.len(), 0);

    let e = c.lead.audit_entries().unwrap();
    let actions: Vec<_> = e.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            DeviceAction::BundleExport,
            DeviceAction::CellSave,
            DeviceAction::ErasureFollowed
        ]
    );
    let target = format!("cell={}", c.cell);
    assert!(e.iter().all(|e| e.target == target), "{e:?}");
    assert_eq!(e[0].detail["docs"], 1);
    assert_eq!(e[0].detail["recipients"], 0);
    assert_eq!(e[0].detail["bytes"], bytes.len() as i64);
    assert_eq!(e[1].detail["bytes"], saved.len() as i64);
    assert_eq!(e[2].detail["epoch"], 1);
    assert_eq!(e[2].detail["orders"], 1);
    // Chained from the genesis hash, in sequence.
    assert_eq!(e[0].prev_hash, silin_core::audit::GENESIS);
    assert_eq!(e[1].prev_hash, e[0].hash);
    assert_eq!(e[2].prev_hash, e[1].hash);
    assert_eq!(e.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    // The hub here keeps no device entries (no keeper: a plain store), so
    // nothing was acknowledged and nothing is marked sent.
    assert!(e.iter().all(|e| !e.sent));
    let v = c.lead.verify_audit().unwrap();
    assert_eq!((v.entries, v.unsent), (3, 3));
    assert_eq!(v.head.as_deref(), Some(e[2].hash.as_str()));

    // Not a name, phone or address in the rows.
    let rows = format!(
        "{:?}",
        dump_tables(c.lead.path())
            .into_iter()
            .filter(|(t, _)| t.starts_with("device_audit"))
            .collect::<Vec<_>>()
    );
    assert!(rows.contains(&c.cell), "{rows}");
    for marker in [MARK_NAME, MARK_PHONE, "审计标记地址"] {
        assert!(!rows.contains(marker), "{marker} in {rows}");
    }
}

#[test]
fn the_log_refuses_edits_and_a_changed_removed_or_reordered_entry_is_found() {
    let c = county();
    sync_local(&c.lead, &c.hub).unwrap();
    for _ in 0..3 {
        c.lead.export_doc(&c.cell).unwrap();
    }
    c.lead.verify_audit().unwrap();
    for sql in [
        "UPDATE device_audit SET detail = '{\"bytes\":1}' WHERE seq = 1",
        "DELETE FROM device_audit WHERE seq = 3",
    ] {
        let e = c
            .lead
            .with_connection(|c| Ok(c.execute(sql, []).map(|_| ())))
            .unwrap()
            .unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
    }
    // Marked sent never moves back.
    c.lead
        .with_connection(|c| {
            c.execute(
                "INSERT INTO device_audit_sent (one, upto) VALUES (1, 2)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
    let back = c
        .lead
        .with_connection(|c| {
            Ok(c.execute("UPDATE device_audit_sent SET upto = 1", [])
                .map(|_| ()))
        })
        .unwrap();
    assert!(back.is_err());
    c.lead.verify_audit().unwrap();

    tamper(
        &c.lead,
        "UPDATE device_audit SET detail = '{\"bytes\":1}' WHERE seq = 2",
    );
    let (seq, problem) = broken_at(&c.lead);
    assert_eq!(seq, 2);
    assert!(problem.contains("wrong hash"), "{problem}");
}

#[test]
fn a_removed_middle_entry_and_swapped_entries_are_found() {
    let c = county();
    sync_local(&c.lead, &c.hub).unwrap();
    for _ in 0..3 {
        c.lead.export_doc(&c.cell).unwrap();
    }
    tamper(&c.lead, "DELETE FROM device_audit WHERE seq = 2");
    let (seq, problem) = broken_at(&c.lead);
    assert_eq!(seq, 3);
    assert!(problem.contains("wrong sequence number"), "{problem}");

    let d = county();
    sync_local(&d.lead, &d.hub).unwrap();
    for _ in 0..3 {
        d.lead.export_doc(&d.cell).unwrap();
    }
    tamper(
        &d.lead,
        "UPDATE device_audit SET seq = -2 WHERE seq = 2;
         UPDATE device_audit SET seq = 2 WHERE seq = 3;
         UPDATE device_audit SET seq = 3 WHERE seq = -2;",
    );
    let (seq, problem) = broken_at(&d.lead);
    assert_eq!(seq, 2);
    assert!(problem.contains("broken link"), "{problem}");
}

#[test]
fn a_phone_to_phone_session_carries_on_and_marks_nothing_sent() {
    let c = county();
    sync_local(&c.worker, &c.hub).unwrap();
    c.worker.export_doc(&c.cell).unwrap();
    // The worker meets the lead: the lead keeps no device entries and
    // acknowledges none; the session syncs the cell as ever.
    sync_local(&c.worker, &c.lead).unwrap();
    assert_eq!(
        c.lead.heads(&c.cell).unwrap(),
        c.worker.heads(&c.cell).unwrap()
    );
    sync_local(&c.lead, &c.worker).unwrap();
    assert!(c.worker.audit_entries().unwrap().iter().all(|e| !e.sent));
    assert!(c.lead.audit_entries().unwrap().is_empty());
    // A bundle carries none either: importing it logs nothing.
    let (bytes, _) = bundle::export(
        &c.worker,
        &bundle::ExportOptions {
            cells: vec![c.cell.clone()],
            sealing: bundle::Sealing::Plain,
            ..Default::default()
        },
    )
    .unwrap();
    bundle::import(&c.lead, &bytes).unwrap();
    assert!(c.lead.audit_entries().unwrap().is_empty());
    assert_eq!(c.worker.audit_entries().unwrap().len(), 2);
}

#[test]
fn marking_sent_never_goes_past_the_last_entry_or_back() {
    let c = county();
    sync_local(&c.lead, &c.hub).unwrap();
    c.lead.export_doc(&c.cell).unwrap();
    c.lead.export_doc(&c.cell).unwrap();
    c.lead.mark_audit_sent(1).unwrap();
    assert_eq!(c.lead.audit_to_send().unwrap().len(), 1);
    c.lead.mark_audit_sent(99).unwrap();
    assert!(c.lead.audit_to_send().unwrap().is_empty());
    c.lead.export_doc(&c.cell).unwrap();
    // A later entry is unsent though an acknowledgement once named 99.
    let unsent = c.lead.audit_to_send().unwrap();
    assert_eq!(unsent.iter().map(|e| e.seq).collect::<Vec<_>>(), [3]);
    c.lead.mark_audit_sent(0).unwrap();
    assert_eq!(c.lead.verify_audit().unwrap().unsent, 1);
}

#[test]
fn a_layout_8_store_opened_by_this_build_gains_an_empty_log_and_keeps_its_cells() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("phone.db");
    let cell = {
        let s = open_fast(&p);
        let cell = s
            .create_cell("一组", &path("县/镇/村/组"), Some("王建国"))
            .unwrap();
        // Back to the file layout 8 left: no audit tables.
        s.with_connection(|c| {
            c.execute_batch(
                "DROP TABLE device_audit; DROP TABLE device_audit_sent;
                 PRAGMA user_version = 8;",
            )?;
            Ok(())
        })
        .unwrap();
        cell
    };
    let s = open_fast(&p);
    let layout: i64 = s
        .with_connection(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(layout, silin_core::store::LAYOUT);
    assert_eq!(layout, 9);
    assert!(s.audit_entries().unwrap().is_empty());
    assert_eq!(s.cell(&cell).unwrap().cell.name, "一组");
    s.export_doc(&cell).unwrap();
    assert_eq!(s.verify_audit().unwrap().entries, 1);
}
