//! Crash safety: a writer recording visits with `Durability::Full` is
//! killed with SIGKILL at random moments, over and over, on one store.
//! After every kill the store opens, `check` finds nothing wrong, and every
//! visit the writer acknowledged (printed after `record_visit` returned) is
//! in the cell.
//!
//! CRASH_CYCLES sets the number of kills (default 100); CRASH_SEED replays
//! a run.

use rand::{Rng, SeedableRng};
use silin_core::{Store, StoreOptions};
use std::collections::HashSet;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

#[test]
fn acknowledged_visits_survive_sigkill() {
    let cycles = env_u64("CRASH_CYCLES").unwrap_or(100);
    let seed = env_u64("CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    eprintln!("crash test: {cycles} cycles, CRASH_SEED={seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::Builder::new()
        .prefix("crash")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let db = dir.path().join("store.db");
    let started = Instant::now();

    let mut acknowledged: HashSet<String> = HashSet::new();
    let mut killed_at_start = 0;
    for cycle in 0..cycles {
        // Sometimes right at start (during open, migrations, cell set-up),
        // otherwise 5–80 ms into the write loop.
        let delay = if rng.random_ratio(1, 8) {
            killed_at_start += 1;
            Duration::ZERO
        } else {
            Duration::from_millis(rng.random_range(5..=80))
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash-writer"))
            .arg(&db)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            stdout.read_to_end(&mut bytes).unwrap();
            bytes
        });
        std::thread::sleep(delay);
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("cycle {cycle}: the writer stopped by itself ({status}): {err}");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let bytes = reader.join().unwrap();
        // Only whole lines are acknowledgements.
        let text = String::from_utf8(bytes).unwrap();
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        let this_cycle: Vec<&str> = complete.lines().collect();
        acknowledged.extend(this_cycle.iter().map(|s| s.to_string()));

        let store = Store::open(&db, StoreOptions::default())
            .unwrap_or_else(|e| panic!("cycle {cycle} (seed {seed}): store does not open: {e}"));
        let report = store.check().unwrap();
        assert!(
            report.ok && report.repaired.is_empty(),
            "cycle {cycle} (seed {seed}): {report:?}"
        );
        let cells = store.cells(&[]).unwrap();
        if acknowledged.is_empty() {
            assert!(cells.len() <= 1);
            continue;
        }
        assert_eq!(cells.len(), 1, "cycle {cycle}: the writer reuses its cell");
        let view = store.cell(&cells[0].id).unwrap();
        let stored: HashSet<&str> = view.visits.iter().map(|v| v.id.as_str()).collect();
        let lost: Vec<&String> = acknowledged
            .iter()
            .filter(|id| !stored.contains(id.as_str()))
            .collect();
        assert!(
            lost.is_empty(),
            "cycle {cycle} (seed {seed}): {} acknowledged visits lost, e.g. {:?}",
            lost.len(),
            lost.first()
        );
        // Each kill can leave at most one committed visit unacknowledged.
        assert!(
            stored.len() <= acknowledged.len() + cycle as usize + 1,
            "cycle {cycle}: {} visits stored, {} acknowledged",
            stored.len(),
            acknowledged.len()
        );
        assert!(store.projections_match_docs().unwrap());
    }
    eprintln!(
        "crash test: {} acknowledged visits over {cycles} kills ({killed_at_start} at start) in {:.1?}",
        acknowledged.len(),
        started.elapsed()
    );
    // The kills must have landed among writes, or the test proved nothing.
    assert!(
        acknowledged.len() as u64 >= cycles / 2,
        "only {} visits acknowledged in {cycles} cycles",
        acknowledged.len()
    );
}
