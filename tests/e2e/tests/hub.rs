//! The township hub as the office runs it: a real `silin hub serve` process
//! on loopback, devices driven through the real `silin` binary.
//!
//! The acceptance scenario: a lead and a grid worker edit the same cell
//! offline, sync phone to phone, the grid worker syncs with the hub, a second
//! grid worker pulls — all replicas identical. A bundle carried from a lead
//! to the hub gives the same result; re-importing it changes nothing. A
//! lead's store never receives another cell through the hub, and a revoked
//! device is refused.
//!
//! The `silin` binary is the workspace's (built by `cargo test --workspace`,
//! or `cargo build -p silin-cli`); `SILIN_BIN` overrides it.

use serde_json::Value;
use silin_core::{Store, StoreOptions};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOWNSHIP: &str = "两当县/城关镇";

fn silin_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SILIN_BIN") {
        return p.into();
    }
    // target/<profile>/deps/hub-<hash> → target/<profile>/silin
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = profile_dir.join(format!("silin{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "no silin binary at {}: run `cargo build -p silin-cli` (or the workspace's tests), or set SILIN_BIN",
        bin.display()
    );
    bin
}

struct Office {
    dir: tempfile::TempDir,
    bin: PathBuf,
}

impl Office {
    fn new() -> Office {
        Office {
            dir: tempfile::tempdir().unwrap(),
            bin: silin_bin(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn db(&self, device: &str) -> String {
        self.path(&format!("{device}.db")).display().to_string()
    }

    fn raw(&self, device: &str, args: &[&str]) -> Output {
        Command::new(&self.bin)
            .arg("--store")
            .arg(self.db(device))
            .args(args)
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap()
    }

    /// `silin --store DEVICE.db --json ARGS`: must succeed; the one JSON value.
    fn json(&self, device: &str, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.raw(device, &a);
        assert!(
            out.status.success(),
            "{device}: silin {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "silin {args:?}: not one JSON value ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    fn str(&self, device: &str, args: &[&str], field: &str) -> String {
        let v = self.json(device, args);
        v[field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field} in {v}"))
            .to_string()
    }

    /// Must fail with `code`; returns the one-line message.
    fn fails(&self, device: &str, code: i32, args: &[&str]) -> String {
        let out = self.raw(device, args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "silin {args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
        err
    }

    /// A device with a store, enrolled through the hub with a fresh token.
    fn enrol(&self, hub: &HubProcess, device: &str, role: &str, scope: &str) -> String {
        let id = self.str(device, &["init", "--name", device], "device_id");
        let token = self.str(
            "hub",
            &[
                "hub",
                "token",
                "--db",
                &self.db("hub"),
                "--role",
                role,
                "--scope",
                scope,
            ],
            "token",
        );
        let out = self.json(device, &["enroll", "--hub", &hub.url, "--token", &token]);
        assert_eq!(out["device_id"], id.as_str());
        assert_eq!(out["role"], role);
        assert_eq!(out["scope"], serde_json::json!([scope]));
        assert!(out["expires"].as_str().is_some_and(|e| e.len() >= 10));
        id
    }

    fn sync(&self, device: &str, hub: &HubProcess) -> Value {
        let v = self.json(device, &["sync", "--hub", &hub.url]);
        for f in [
            "docs_sent",
            "docs_received",
            "bytes_up",
            "bytes_down",
            "round_trips",
        ] {
            assert!(v[f].as_u64().is_some(), "sync output lacks {f}: {v}");
        }
        v
    }

    fn show(&self, device: &str, cell: &str) -> Value {
        self.json(device, &["cell", "show", "--cell", cell])
    }

    fn cells(&self, device: &str) -> Vec<String> {
        let v = self.json(device, &["cells"]);
        let mut ids: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["cell_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }

    /// The cell's heads in a device's file, read through silin-core.
    fn heads(&self, device: &str, cell: &str) -> Vec<String> {
        let store = keyed(&self.db(device));
        let mut h: Vec<String> = store
            .heads(cell)
            .unwrap()
            .iter()
            .map(|h| h.to_string())
            .collect();
        h.sort();
        h
    }

    /// Every replica holds the same cell: same view (households, members,
    /// visits, reports, conflicts) and same heads.
    fn assert_identical(&self, cell: &str, devices: &[&str]) {
        let (first, rest) = devices.split_first().unwrap();
        let view = self.show(first, cell);
        let heads = self.heads(first, cell);
        for d in rest {
            assert_eq!(self.show(d, cell), view, "{d} and {first} differ on {cell}");
            assert_eq!(self.heads(d, cell), heads, "{d} and {first}: other heads");
        }
    }
}

/// `silin hub serve` as a child process.
struct HubProcess {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    url: String,
}

impl HubProcess {
    fn start(office: &Office) -> HubProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(office.path("hub.log"))
            .unwrap();
        let mut child = Command::new(&office.bin)
            .args(["--json", "hub", "serve", "--listen", "127.0.0.1:0", "--db"])
            .arg(office.db("hub"))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let log = std::fs::read_to_string(office.path("hub.log")).unwrap_or_default();
            panic!("hub did not start ({e}): {line:?}\n{log}")
        });
        let url = v["url"].as_str().unwrap().to_string();
        assert!(v["device_id"].as_str().is_some());
        let hub = HubProcess {
            child,
            _stdout: stdout,
            url,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match silin_hub::client::health(&hub.url) {
                Ok(h) if h.ok => break,
                r if Instant::now() > deadline => panic!("hub not healthy: {r:?}"),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        hub
    }

    /// SIGTERM: the hub finishes what is in flight and exits 0.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "hub exited with {status} on SIGTERM");
                return;
            }
            assert!(Instant::now() < deadline, "hub did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn lead_and_grid_workers_converge_through_phone_sync_the_hub_and_bundles() {
    let o = Office::new();
    let hub = HubProcess::start(&o);

    // A grid worker registers a cell (and its neighbour) and brings them to
    // the hub.
    o.enrol(&hub, "gw1", "grid_worker", TOWNSHIP);
    let cell = o.str(
        "gw1",
        &[
            "cell",
            "create",
            "--name",
            "东关村一组",
            "--path",
            &format!("{TOWNSHIP}/东关村/一组"),
        ],
        "cell_id",
    );
    let neighbour = o.str(
        "gw1",
        &[
            "cell",
            "create",
            "--name",
            "东关村二组",
            "--path",
            &format!("{TOWNSHIP}/东关村/二组"),
        ],
        "cell_id",
    );
    let household = o.str(
        "gw1",
        &[
            "household",
            "add",
            "--cell",
            &cell,
            "--address",
            "东关村3号",
            "--phone",
            "13800000001",
        ],
        "household_id",
    );
    let member = o.str(
        "gw1",
        &[
            "member",
            "add",
            "--household",
            &household,
            "--name",
            "王秀英",
            "--birth-year",
            "1948",
            "--vulnerable",
            "elderly,alone",
        ],
        "member_id",
    );
    assert_eq!(o.sync("gw1", &hub)["docs_sent"], 2);

    // The lead enrols over its own cell and pulls it.
    o.enrol(&hub, "lead", "lead", &cell);
    assert_eq!(o.sync("lead", &hub)["docs_received"], 1);
    assert_eq!(o.cells("lead"), vec![cell.clone()]);

    // Both edit the cell offline, the same member field included.
    o.json(
        "lead",
        &[
            "visit",
            "record",
            "--cell",
            &cell,
            "--kind",
            "health_check",
            "--member",
            &member,
            "--temperature",
            "36.6",
        ],
    );
    o.json(
        "lead",
        &["report", "submit", "--cell", &cell, "--date", "2026-11-29"],
    );
    o.json(
        "lead",
        &["member", "set", "--member", &member, "phone=13700000001"],
    );
    o.json(
        "gw1",
        &[
            "visit",
            "record",
            "--cell",
            &cell,
            "--kind",
            "call",
            "--note",
            "电话随访",
        ],
    );
    o.json(
        "gw1",
        &["member", "set", "--member", &member, "phone=13700000002"],
    );

    // Phone to phone (the app carries the bytes; here both files are local).
    {
        let lead = keyed(&o.db("lead"));
        let gw1 = keyed(&o.db("gw1"));
        silin_core::sync::sync_local(&lead, &gw1).unwrap();
    }
    o.assert_identical(&cell, &["lead", "gw1"]);
    let merged = o.show("lead", &cell);
    assert!(
        !merged["conflicts"].as_array().unwrap().is_empty(),
        "the concurrent phone edits should show as a conflict: {merged}"
    );

    // The grid worker syncs with the hub; a second grid worker pulls.
    o.sync("gw1", &hub);
    let gw2 = o.enrol(&hub, "gw2", "grid_worker", TOWNSHIP);
    assert_eq!(o.sync("gw2", &hub)["docs_received"], 2);
    o.assert_identical(&cell, &["lead", "gw1", "gw2", "hub"]);
    o.assert_identical(&neighbour, &["gw1", "gw2", "hub"]);

    // The lead syncs again: nothing new for it, and never the neighbour.
    assert_eq!(o.sync("lead", &hub)["docs_received"], 0);
    assert_eq!(o.cells("lead"), vec![cell.clone()]);

    // The lead works offline for a day and sends a bundle with the grid
    // worker's car. The office stops the hub to import it (a store file has
    // one writing process at a time), then serves again.
    o.json(
        "lead",
        &[
            "visit",
            "record",
            "--cell",
            &cell,
            "--kind",
            "door_knock",
            "--note",
            "第二天入户",
        ],
    );
    o.json(
        "lead",
        &[
            "report",
            "submit",
            "--cell",
            &cell,
            "--date",
            "2026-11-30",
            "--arrivals",
            "1",
        ],
    );
    let bundle = o.path("lead.bundle").display().to_string();
    assert_eq!(
        o.json("lead", &["bundle", "export", "--out", &bundle])["docs"],
        1
    );
    hub.stop();
    let first = o.json("hub", &["bundle", "import", &bundle]);
    assert_eq!(
        (first["docs"].as_u64(), first["changed"].as_u64()),
        (Some(1), Some(1))
    );
    let again = o.json("hub", &["bundle", "import", &bundle]);
    assert_eq!(again["changed"], 0, "re-importing a bundle changes nothing");
    o.assert_identical(&cell, &["lead", "hub"]);

    let hub = HubProcess::start(&o);
    assert_eq!(o.sync("gw2", &hub)["docs_received"], 1);
    o.sync("gw1", &hub);
    assert_eq!(o.sync("lead", &hub)["docs_received"], 0);
    o.assert_identical(&cell, &["lead", "gw1", "gw2", "hub"]);
    assert_eq!(o.cells("lead"), vec![cell.clone()]);
    let rollup = o.json(
        "hub",
        &["rollup", "--date", "2026-11-30", "--level", "village"],
    );
    assert_eq!(rollup[0]["reported"], 1);
    assert_eq!(rollup[0]["arrivals"], 1);

    // The office revokes the second grid worker: the hub refuses it.
    let revoked = o.json(
        "hub",
        &["hub", "revoke", "--db", &o.db("hub"), "--device", &gw2],
    );
    assert_eq!(
        (revoked["device_id"].as_str(), revoked["revoked"].as_bool()),
        (Some(gw2.as_str()), Some(true))
    );
    let err = o.fails("gw2", 2, &["sync", "--hub", &hub.url]);
    assert!(err.contains("revoked"), "{err}");

    // Once stopped, the hub is unreachable: exit 1, naming the URL.
    let url = hub.url.clone();
    hub.stop();
    let err = o.fails("gw1", 1, &["sync", "--hub", &url]);
    assert!(err.contains(&url), "{err}");
}

/// A store `silin` made, opened in this process with the key it wrote
/// beside the store (stores are encrypted at rest by default).
fn keyed(path: &str) -> Store {
    let path = std::path::Path::new(path);
    let key = silin_hub::store_key::of_store(path).unwrap();
    Store::open(
        path,
        StoreOptions {
            key,
            ..Default::default()
        },
    )
    .unwrap()
}
