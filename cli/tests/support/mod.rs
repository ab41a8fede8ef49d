//! What several command tests share: running the real `silin` binary on
//! stores in a temporary directory at a pinned "now", a small county with
//! marker personal data planted in it, and a real `silin hub serve` process
//! spoken to over plain HTTP with a dashboard login. (`mod support;` in a
//! test file; not every file uses every part.)
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

/// "Now" for every command (the injected clock, `SILIN_NOW`).
pub const NOW: &str = "2026-11-29T10:00:00+08:00";
pub const DAY: &str = "2026-11-29";

/// A valid resident ID of Liangdang county with this birth day and serial.
pub fn resident_id(birth: &str, serial: &str) -> String {
    let body = format!("621228{birth}{serial}");
    format!("{body}{}", silin_core::model::resident_id_check_char(&body))
}

/// The store at `path` opened in this process at [`NOW`], with the key
/// `silin` made for it (stores are encrypted at rest by default).
pub fn open_store(path: &std::path::Path) -> silin_core::Store {
    silin_core::Store::open(
        path,
        silin_core::StoreOptions {
            key: silin_hub::store_key::of_store(path).unwrap(),
            clock: silin_core::Clock::parse(NOW).unwrap(),
            ..Default::default()
        },
    )
    .unwrap()
}

/// A plain SQLite connection to the store at `path`, keyed with the key
/// `silin` made for it: for looking at its tables as an attacker or a
/// slip would.
pub fn sql(path: &std::path::Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    if let Ok(hex) = std::fs::read_to_string(silin_hub::store_key::beside(path)) {
        c.execute_batch(&format!("PRAGMA key = \"x'{}'\";", hex.trim()))
            .unwrap();
    }
    c
}

/// A temporary directory of stores and files, and the command run on them.
pub struct Office {
    pub dir: tempfile::TempDir,
}

impl Office {
    pub fn new() -> Office {
        Office {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `silin --store STORE ARGS...` with "now" at `now`, with `stdin` on
    /// standard input.
    pub fn run_at(&self, store: &str, now: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_silin"))
            .arg("--store")
            .arg(self.path(store))
            .args(args)
            .env("SILIN_NOW", now)
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            // A command refused before it reads its input closes the pipe.
            let _ = input.write_all(s.as_bytes());
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// `silin --store STORE ARGS...`, with `stdin` on standard input.
    pub fn run_in(&self, store: &str, args: &[&str], stdin: Option<&str>) -> Output {
        self.run_at(store, NOW, args, stdin)
    }

    pub fn run(&self, store: &str, args: &[&str]) -> Output {
        self.run_in(store, args, None)
    }

    /// `silin --json ...` with "now" at `now` (something done on another
    /// day), which must succeed; its one JSON value.
    pub fn json_at(&self, store: &str, now: &str, args: &[&str], stdin: Option<&str>) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.run_at(store, now, &a, stdin);
        assert!(
            out.status.success(),
            "silin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `silin --json ...`, which must succeed; its one JSON value.
    pub fn json_in(&self, store: &str, args: &[&str], stdin: Option<&str>) -> Value {
        self.json_at(store, NOW, args, stdin)
    }

    pub fn json(&self, store: &str, args: &[&str]) -> Value {
        self.json_in(store, args, None)
    }

    /// A string field of a command's JSON, run on the hub's store.
    pub fn id(&self, args: &[&str], field: &str) -> String {
        self.json("hub.db", args)[field]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Expects exit `code` and one line on stderr; returns (stdout, stderr).
    pub fn fails(&self, store: &str, code: i32, args: &[&str]) -> (String, String) {
        self.fails_in(store, code, args, None)
    }

    /// [`Office::fails`] with `stdin` on standard input.
    pub fn fails_in(
        &self,
        store: &str,
        code: i32,
        args: &[&str],
        stdin: Option<&str>,
    ) -> (String, String) {
        let out = self.run_in(store, args, stdin);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "silin {args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
        assert!(!err.contains("panicked"), "{err}");
        (String::from_utf8_lossy(&out.stdout).to_string(), err)
    }
}

/// Marker personal data: a name, phones and an ID number that must never
/// show up where only counts belong.
pub const MARKER_LEAD: &str = "审计标记甲";
pub const MARKER_MEMBER: &str = "审计标记乙";
pub const MARKER_PHONE: &str = "13987654321";
pub const MARKER_LEAD_PHONE: &str = "13987654320";
pub const MARKER_BIRTH: &str = "19800101";
pub const MARKER_SERIAL: &str = "777";

/// A hub store ("hub.db") with one cell in 两当县/城关镇/东关村/一组 led by
/// [`MARKER_LEAD`] (phone [`MARKER_LEAD_PHONE`]), whose household (phone
/// [`MARKER_PHONE`]) has [`MARKER_MEMBER`] with the marker resident ID,
/// and no report for [`DAY`].
pub struct County {
    pub office: Office,
    pub cell: String,
    /// [`MARKER_MEMBER`]'s member id.
    pub member: String,
    pub id_number: String,
    /// The global flags the hub's store was made with (`--unencrypted` or
    /// none); a lead's phone is made with the same.
    flags: Vec<&'static str>,
}

impl County {
    pub fn new() -> County {
        County::made_with(&[])
    }

    /// The county on a hub store made `--unencrypted`, for tests that look
    /// for bytes in its files (which encryption at rest would hide).
    pub fn unencrypted() -> County {
        County::made_with(&["--unencrypted"])
    }

    fn made_with(flags: &[&'static str]) -> County {
        let o = Office::new();
        let mut init = flags.to_vec();
        init.extend(["init", "--name", "城关镇办公室"]);
        o.json("hub.db", &init);
        let cell = o.id(
            &[
                "cell",
                "create",
                "--name",
                "一组第1联户",
                "--path",
                "两当县/城关镇/东关村/一组",
                "--lead",
                MARKER_LEAD,
            ],
            "cell_id",
        );
        let h = o.id(
            &["household", "add", "--cell", &cell, "--phone", MARKER_PHONE],
            "household_id",
        );
        o.id(
            &[
                "member",
                "add",
                "--household",
                &h,
                "--name",
                MARKER_LEAD,
                "--phone",
                MARKER_LEAD_PHONE,
            ],
            "member_id",
        );
        let id_number = resident_id(MARKER_BIRTH, MARKER_SERIAL);
        let member = o.id(
            &[
                "member",
                "add",
                "--household",
                &h,
                "--name",
                MARKER_MEMBER,
                "--id-number",
                &id_number,
            ],
            "member_id",
        );
        County {
            office: o,
            cell,
            member,
            id_number,
            flags: flags.to_vec(),
        }
    }

    /// A lead's phone ("lead.db", encrypted or not as the hub's store is)
    /// enrolled at `hub` for the county's cell: the office issues a
    /// one-time lead token on the hub's store, the phone is made with
    /// `silin init` and enrols with the token. Its device id.
    pub fn enrolled_lead(&self, hub: &Hub) -> String {
        let o = &self.office;
        let token = o.id(
            &["hub", "token", "--role", "lead", "--scope", &self.cell],
            "token",
        );
        let mut init = self.flags.clone();
        init.push("init");
        let device = o.json("lead.db", &init)["device_id"]
            .as_str()
            .unwrap()
            .to_string();
        o.json(
            "lead.db",
            &["enroll", "--hub", &hub.url(), "--token", &token],
        );
        device
    }

    /// Every marker, to look for.
    pub fn markers(&self) -> Vec<String> {
        vec![
            MARKER_LEAD.into(),
            MARKER_MEMBER.into(),
            MARKER_PHONE.into(),
            MARKER_LEAD_PHONE.into(),
            self.id_number.clone(),
            // The ID's birth day and serial alone, as a masked or cut copy
            // would still carry them.
            format!("{MARKER_BIRTH}{MARKER_SERIAL}"),
        ]
    }
}

/// A resident ID as the township office sees it: the first four and last
/// four characters, the birth date and serial starred out.
pub fn masked(id: &str) -> String {
    format!("{}**********{}", &id[..4], &id[14..])
}

/// A running `silin hub serve` on loopback over `store`, stopped on drop.
pub struct Hub {
    child: Child,
    pub addr: String,
}

impl Hub {
    pub fn start(o: &Office, store: &str) -> Hub {
        let mut c = Command::new(env!("CARGO_BIN_EXE_silin"));
        c.arg("--store").arg(o.path(store)).args([
            "--json",
            "hub",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ]);
        Hub::spawn(c)
    }

    /// A running `silin hub serve --postgres URL --office-key KEY` on
    /// loopback at [`NOW`], stopped on drop.
    pub fn start_postgres(url: &str, office_key: &std::path::Path) -> Hub {
        let mut c = Command::new(env!("CARGO_BIN_EXE_silin"));
        c.args(["--json", "hub", "serve", "--listen", "127.0.0.1:0"])
            .args(["--postgres", url, "--office-key"])
            .arg(office_key);
        Hub::spawn(c)
    }

    /// Runs `command` at [`NOW`] and reads the address it listens on.
    fn spawn(mut command: Command) -> Hub {
        let mut child = command
            .env("SILIN_NOW", NOW)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        Hub {
            child,
            addr: v["listen"].as_str().unwrap().to_string(),
        }
    }

    /// `http://ADDR`, for devices to enrol and sync with.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One HTTP/1.1 request, its `form` sent urlencoded.
    pub fn send(&self, method: &str, path: &str, cookies: &str, form: Option<&str>) -> Reply {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let body = form.unwrap_or("");
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if !cookies.is_empty() {
            req.push_str(&format!("Cookie: {cookies}\r\n"));
        }
        if form.is_some() {
            req.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head
            .lines()
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap();
        Reply {
            status,
            head: head.to_string(),
            body: body.to_string(),
        }
    }

    /// One HTTP/1.1 request: (status, raw head, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        cookies: &str,
        form: Option<&str>,
    ) -> (u16, String, String) {
        let r = self.send(method, path, cookies, form);
        (r.status, r.head, r.body)
    }

    pub fn get(&self, path: &str, cookies: &str) -> Reply {
        self.send("GET", path, cookies, None)
    }

    /// Posts the login form as `name`, with the form's token and cookie;
    /// the hub's answer (303 and a session cookie when the password is
    /// right).
    pub fn login_reply(&self, name: &str, password: &str) -> Reply {
        let page = self.get("/", "");
        let csrf = form_field(&page.body, "csrf");
        let login = page.cookie("silin_login").unwrap();
        self.send(
            "POST",
            "/login",
            &format!("silin_login={login}"),
            Some(&format!("csrf={csrf}&name={name}&password={password}")),
        )
    }

    /// Logs in to the dashboard as `name`; the session cookie to send.
    pub fn login(&self, name: &str, password: &str) -> String {
        let r = self.login_reply(name, password);
        assert_eq!(r.status, 303, "{}", r.body);
        format!("silin_session={}", r.cookie("silin_session").unwrap())
    }
}

/// A hub's answer to one request.
pub struct Reply {
    pub status: u16,
    /// The status line and headers, as sent.
    pub head: String,
    pub body: String,
}

impl Reply {
    /// The values of header `name`, in order.
    pub fn headers(&self, name: &str) -> Vec<&str> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers(name).into_iter().next()
    }

    /// The whole `Set-Cookie` header that sets cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}=");
        self.headers("set-cookie")
            .into_iter()
            .find(|v| v.starts_with(&prefix))
    }

    /// The value a `Set-Cookie` header gives cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let c = self.set_cookie(name)?;
        Some(c.split(';').next()?.split_once('=')?.1.to_string())
    }
}

/// The value of the hidden input `name` in a page's form.
pub fn form_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker).unwrap() + marker.len();
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
