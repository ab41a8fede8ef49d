//! A real PostgreSQL for tests, each test in a database of its own.
//!
//! The server is the one `SILIN_TEST_POSTGRES` names (tests/run starts the
//! throwaway cluster and sets it); without it, the first test that asks runs
//! `.ci/postgres start` itself (the cluster then stays up for the next run;
//! `.ci/postgres stop` stops it). Where no PostgreSQL can be started at all,
//! tests say SKIPPED on stderr and pass, unless `SILIN_REQUIRE_POSTGRES` is
//! set (CI sets it): then they fail.
//!
//! Use from a test file with `#[path = "support/pg.rs"] mod pg_support;`.
#![allow(dead_code)]

use postgres::config::Host;
use postgres::{Client, Config, NoTls};
use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The connection string of the test server, or `None` (with a SKIPPED
/// line on stderr) when there is none to be had.
pub fn test_database() -> Option<String> {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    match URL.get_or_init(find_server) {
        Ok(url) => Some(url.clone()),
        Err(reason) => {
            if std::env::var_os("SILIN_REQUIRE_POSTGRES").is_some() {
                panic!("PostgreSQL could not start and SILIN_REQUIRE_POSTGRES is set: {reason}");
            }
            // Past the test harness's capture, which would hide it on a
            // test that passes.
            let test = std::thread::current().name().unwrap_or("?").to_string();
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {test}: PostgreSQL could not start: {reason}"
            );
            None
        }
    }
}

fn find_server() -> Result<String, String> {
    if let Ok(url) = std::env::var("SILIN_TEST_POSTGRES") {
        if !url.trim().is_empty() {
            return Ok(url);
        }
    }
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = manifest.parent().unwrap_or(manifest).join(".ci/postgres");
    let script = script.display();
    let out = Command::new("bash")
        .arg(script.to_string())
        .arg("start")
        .output()
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || url.is_empty() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .last()
            .unwrap_or("no message")
            .trim()
            .to_string();
        return Err(format!("{script} start failed ({}): {last}", out.status));
    }
    Ok(url)
}

/// A database made for one test and dropped when it is dropped, so tests
/// run side by side never see each other's tables.
pub struct FreshDatabase {
    admin: Config,
    name: String,
    url: String,
}

/// A new empty database on the test server, or `None` (SKIPPED) when there
/// is no server.
pub fn fresh_database() -> Option<FreshDatabase> {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let url = test_database()?;
    let admin: Config = url
        .parse()
        .unwrap_or_else(|e| panic!("SILIN_TEST_POSTGRES {url:?}: {e}"));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "silin_t_{}_{}_{nanos}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    );
    let mut c = admin
        .connect(NoTls)
        .unwrap_or_else(|e| panic!("test PostgreSQL at {url:?}: {e}"));
    // template0: nobody is ever connected to it, so databases made at the
    // same moment by other tests cannot collide on it.
    c.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    let url = with_dbname(&admin, &name);
    Some(FreshDatabase { admin, name, url })
}

impl FreshDatabase {
    /// Its connection string (key=value form).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A plain client on it, for a test to look inside.
    pub fn client(&self) -> Client {
        self.url
            .parse::<Config>()
            .and_then(|c| c.connect(NoTls))
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.name))
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        // FORCE: a pool the test left open must not keep the database.
        let dropped = self.admin.connect(NoTls).and_then(|mut c| {
            c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
        });
        if let Err(e) = dropped {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// The server of `base` with database `name`, as a key=value string.
fn with_dbname(base: &Config, name: &str) -> String {
    let quote = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut parts = Vec::new();
    let hosts: Vec<String> = base
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(s) => s.clone(),
            Host::Unix(p) => p.display().to_string(),
        })
        .collect();
    if !hosts.is_empty() {
        parts.push(format!("host={}", quote(&hosts.join(","))));
    }
    let ports: Vec<String> = base.get_ports().iter().map(|p| p.to_string()).collect();
    if !ports.is_empty() {
        parts.push(format!("port={}", ports.join(",")));
    }
    if let Some(user) = base.get_user() {
        parts.push(format!("user={}", quote(user)));
    }
    if let Some(pw) = base.get_password() {
        parts.push(format!("password={}", quote(&String::from_utf8_lossy(pw))));
    }
    parts.push(format!("dbname={name}"));
    parts.join(" ")
}
