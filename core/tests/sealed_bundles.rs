//! Sealed bundles, as a grid worker carries them: a file on a memory card
//! that only the devices it is for can open. The worker seals a cell to
//! the devices it has met that may hold it — the lead of that cell and the
//! hub, not a grid worker of another village, not a revoked phone — and
//! nobody else reads a name in it. A file sealed to someone else, or with
//! a byte changed, is refused with nothing written. Real SQLite files.

mod common;

use common::*;
use silin_core::identity::Role;
use silin_core::model::{NewHousehold, NewMember};
use silin_core::sync::seal::{self, SealError};
use silin_core::sync::{bundle, sync_local, SyncError};

const MARKER: &str = "封存标记丙";

fn export(store: &silin_core::Store, cells: &[&str], sealing: bundle::Sealing) -> Vec<u8> {
    bundle::export(
        store,
        &bundle::ExportOptions {
            cells: cells.iter().map(|c| c.to_string()).collect(),
            sealing,
            ..Default::default()
        },
    )
    .unwrap()
    .0
}

#[test]
fn a_bundle_sealed_to_the_devices_met_opens_for_them_and_nobody_else() {
    let c = county();
    let dir = c._dir.path();
    // Another village's grid worker, and a phone the office later revokes.
    let stranger = open_fast(&dir.join("stranger.db"));
    enrol(&stranger, &office(), Role::GridWorker, &["县/镇/远村"]);
    let lost = open_fast(&dir.join("lost.db"));
    enrol(&lost, &office(), Role::Lead, &[&c.cell]);
    // The worker meets the hub, the lead, the stranger and the lost phone.
    sync_local(&c.worker, &c.hub).unwrap();
    sync_local(&c.lead, &c.worker).unwrap();
    // The stranger's scope holds nothing of the worker's village.
    let _ = sync_local(&stranger, &c.worker);
    sync_local(&lost, &c.worker).unwrap();
    c.worker
        .record_revocations(&[office().revoke(&lost.device_id(), now())])
        .unwrap();

    // Offline, the worker registers a person and seals the cell.
    let hh = c
        .worker
        .add_household(
            &c.cell,
            NewHousehold {
                address: Some("村东 5 号".into()),
                door: None,
                phone: None,
            },
        )
        .unwrap();
    let member = c
        .worker
        .add_member(
            &hh,
            NewMember {
                name: MARKER.into(),
                ..Default::default()
            },
            today(),
        )
        .unwrap();
    let sealed = export(&c.worker, &[&c.cell], bundle::Sealing::KnownPeers);
    assert!(seal::is_sealed(&sealed));
    // The lead and the hub may hold the cell; the stranger may not and
    // the lost phone is revoked.
    assert_eq!(seal::recipients(&sealed), Some(2));
    assert!(!sealed.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()));

    for opener in [&c.lead, &c.hub] {
        let out = bundle::import(opener, &sealed).unwrap();
        assert_eq!(out.docs, 1);
        assert!(opener.member(&member).is_ok());
    }
    for other in [&stranger, &lost] {
        let before = dump_tables(other.path());
        let err = bundle::import(other, &sealed).unwrap_err();
        assert!(
            matches!(
                err,
                SyncError::Seal(SealError::NotForThisDevice { recipients: 2 })
            ),
            "{err}"
        );
        assert_eq!(dump_tables(other.path()), before, "nothing written");
    }

    // A changed byte anywhere: refused, nothing written.
    let mut bad = export(&c.worker, &[&c.cell], bundle::Sealing::KnownPeers);
    let middle = bad.len() / 2;
    bad[middle] ^= 0x20;
    let fresh = open_fast(&dir.join("fresh-lead.db"));
    enrol(&fresh, &office(), Role::Lead, &[&c.cell]);
    let err = bundle::import(&c.lead, &bad).unwrap_err();
    assert!(matches!(err, SyncError::Seal(SealError::Broken)), "{err}");

    // Named recipients: only devices met and not revoked.
    let to_lead = export(
        &c.worker,
        &[&c.cell],
        bundle::Sealing::To(vec![c.lead.device_id()]),
    );
    assert_eq!(seal::recipients(&to_lead), Some(1));
    assert!(bundle::import(&c.hub, &to_lead).is_err());
    assert!(bundle::import(&c.lead, &to_lead).is_ok());
    let named = |id: String| {
        bundle::export(
            &c.worker,
            &bundle::ExportOptions {
                cells: vec![c.cell.clone()],
                sealing: bundle::Sealing::To(vec![id]),
                ..Default::default()
            },
        )
        .unwrap_err()
    };
    assert!(matches!(
        named(fresh.device_id()),
        SyncError::Seal(SealError::UnknownRecipient(_))
    ));
    assert!(matches!(
        named(lost.device_id()),
        SyncError::Seal(SealError::RecipientRevoked(_))
    ));
    // A device that has met nobody who may hold the cell is told so.
    let err = bundle::export(
        &fresh,
        &bundle::ExportOptions {
            sealing: bundle::Sealing::KnownPeers,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, SyncError::Seal(SealError::NoKnownRecipient)),
        "{err}"
    );

    // A plain bundle, asked for, still reads as before.
    let plain = export(&c.worker, &[&c.cell], bundle::Sealing::Plain);
    assert!(!seal::is_sealed(&plain));
    assert!(plain.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()));
}
