//! The office dashboard and exports on a PostgreSQL hub: a real `silin hub
//! serve --postgres` process over a real PostgreSQL, its cells brought in by
//! a county device enrolled there, spoken to over plain HTTP as a browser
//! would — and a SQLite hub of the same county beside it, which must show
//! the same figures and write the same sheets.

#[path = "../../hub/tests/support/pg.rs"]
mod pg_support;
mod support;

use serde_json::Value;
use silin_core::{Clock, Store, StoreOptions};
use silin_hub::client;
use support::{form_field as field, masked, resident_id, Hub, Office, DAY, NOW};

/// The county on both hubs.
struct Twins {
    office: Office,
    db: pg_support::FreshDatabase,
    sqlite: Hub,
    pg: Hub,
    list_id: String,
    notice: String,
    ids: Vec<String>,
}

const VILLAGE: &str = "两当县/城关镇/西坡村";
/// [`VILLAGE`], as a query string carries it.
const VILLAGE_QUERY: &str =
    "%E4%B8%A4%E5%BD%93%E5%8E%BF%2F%E5%9F%8E%E5%85%B3%E9%95%87%2F%E8%A5%BF%E5%9D%A1%E6%9D%91";

/// `silin --json ARGS` against no store (the PostgreSQL commands), with
/// `stdin`; must succeed.
fn pg_json(o: &Office, args: &[&str], stdin: Option<&str>) -> Value {
    o.json_in("none.db", args, stdin)
}

/// Two villages' cells on a SQLite hub ("hub.db"): 王建国's in 东关村 with
/// a report and a door knock, 王芳 under home monitoring; 赵强's in 西坡村,
/// no report. A notice to the township, one household marked. Then a
/// PostgreSQL hub given the SQLite hub's office key, and a county device
/// enrolled there with one of its tokens, which pulls every cell from the
/// SQLite hub and pushes it to the PostgreSQL one. Then the same list
/// imported into both, and the same three logins added to both. `None`
/// (SKIPPED) without a PostgreSQL.
fn twins() -> Option<Twins> {
    let db = pg_support::fresh_database()?;
    let o = Office::new();
    o.json("hub.db", &["init", "--name", "城关镇办公室"]);
    let cell = |name: &str, path: &str, lead: &str| {
        o.id(
            &[
                "cell", "create", "--name", name, "--path", path, "--lead", lead,
            ],
            "cell_id",
        )
    };
    let a = cell("一组第1联户", "两当县/城关镇/东关村/一组", "王建国");
    let b = cell("一组第3联户", "两当县/城关镇/西坡村/一组", "赵强");
    let ha = o.id(
        &["household", "add", "--cell", &a, "--phone", "13912345678"],
        "household_id",
    );
    let hb = o.id(
        &["household", "add", "--cell", &b, "--phone", "13700000003"],
        "household_id",
    );
    let ids = vec![
        resident_id("19850312", "002"),
        resident_id("19920918", "006"),
    ];
    let member = |h: &str, extra: &[&str]| {
        let mut args = vec!["member", "add", "--household", h];
        args.extend_from_slice(extra);
        o.id(&args, "member_id")
    };
    member(&ha, &["--name", "王建国"]);
    let fang = member(&ha, &["--name", "王芳", "--id-number", &ids[0]]);
    member(&hb, &["--name", "赵强", "--phone", "13700000013"]);
    member(&hb, &["--name", "赵丽", "--id-number", &ids[1]]);
    o.json(
        "hub.db",
        &[
            "member",
            "set",
            "--member",
            &fang,
            "residence=returned",
            "monitoring_since=2026-11-26",
            "monitoring_until=2026-12-05",
        ],
    );
    o.json("hub.db", &["report", "submit", "--cell", &a, "--date", DAY]);
    o.json(
        "hub.db",
        &["visit", "record", "--cell", &a, "--kind", "door_knock"],
    );
    let notice = o.json(
        "hub.db",
        &[
            "notice",
            "send",
            "--region",
            "两当县/城关镇",
            "--title",
            "冬季防火",
            "--text",
            "请转告全户",
        ],
    )["notice_id"]
        .as_str()
        .unwrap()
        .to_string();
    o.json(
        "hub.db",
        &[
            "notice",
            "mark",
            "--cell",
            &a,
            "--notice",
            &notice,
            "--household",
            &ha,
            "--status",
            "read",
        ],
    );

    // The SQLite hub makes the office key; the PostgreSQL hub is given it.
    let sqlite = Hub::start(&o, "hub.db");
    let key = o.path("hub.db.office-key");
    let pg = Hub::start_postgres(db.url(), &key);
    let token = pg_json(
        &o,
        &["hub", "token", "--postgres", db.url(), "--office-key"]
            .into_iter()
            .chain([key.to_str().unwrap()])
            .chain(["--role", "county", "--scope", "两当县"])
            .collect::<Vec<_>>(),
        None,
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let device = Store::open(
        o.path("county.db"),
        StoreOptions {
            clock: Clock::parse(NOW).unwrap(),
            ..Default::default()
        },
    )
    .unwrap();
    let enrolled = client::enroll(&device, &pg.url(), &token).unwrap();
    assert_eq!(enrolled.role, "county");
    client::sync(&device, &sqlite.url()).unwrap();
    assert_eq!(device.cells(&[]).unwrap().len(), 2);
    let pushed = client::sync(&device, &pg.url()).unwrap();
    assert_eq!(pushed.docs_sent, 2, "{pushed:?}");

    // The same list into both (the SQLite hub stopped while its store is
    // written), and the same logins.
    drop(sqlite);
    let list = o.path("名单.csv");
    std::fs::write(
        &list,
        format!("姓名,身份证号\n王芳,{}\n赵丽,{}\n", ids[0], ids[1]),
    )
    .unwrap();
    let list = list.to_str().unwrap();
    let import = ["office", "import-list", list, "--kind", "vaccination"];
    let list_id = o.json("hub.db", &import)["list_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut pg_import = import.to_vec();
    pg_import.extend(["--postgres", db.url()]);
    assert_eq!(pg_json(&o, &pg_import, None)["list_id"], list_id.as_str());
    for (name, role, password) in [
        ("clerk", "office", "township-pass-1"),
        ("zhao", "county", "county-pass-12"),
        ("qian", "analyst", "counts-only-34"),
    ] {
        let add = ["hub", "user", "add", "--name", name, "--role", role];
        let stdin = format!("{password}\n");
        o.json_in("hub.db", &add, Some(&stdin));
        let mut pg_add = add.to_vec();
        pg_add.extend(["--postgres", db.url()]);
        pg_json(&o, &pg_add, Some(&stdin));
    }
    let sqlite = Hub::start(&o, "hub.db");
    Some(Twins {
        office: o,
        db,
        sqlite,
        pg,
        list_id,
        notice,
        ids,
    })
}

/// The text of `<td ... data-col="col">` in the row whose `data-path` is
/// `path`.
fn cell_in_row(html: &str, path: &str, col: &str) -> String {
    let at = html
        .find(&format!("data-path=\"{path}\""))
        .unwrap_or_else(|| panic!("no row {path}"));
    let row = &html[at..];
    let row = &row[..row.find("</tr>").unwrap()];
    let at = row
        .find(&format!("data-col=\"{col}\">"))
        .unwrap_or_else(|| panic!("no {col} in {row}"));
    let rest = &row[at + col.len() + 12..];
    rest[..rest.find('<').unwrap()].to_string()
}

fn json(r: &support::Reply) -> Value {
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

#[test]
fn the_postgres_hub_serves_the_office_dashboard_of_the_cells_synced_into_it() {
    let Some(t) = twins() else {
        return;
    };
    let (o, hub) = (&t.office, &t.pg);
    let personal = [
        "一组第1联户",
        "一组第3联户",
        "王建国",
        "赵强",
        "王芳",
        "赵丽",
        "13912345678",
        "13700000013",
    ];

    // Without a login: the login page, redirects and 401, nothing personal.
    let anonymous = [
        hub.get("/", ""),
        hub.get(&format!("/?date={DAY}"), ""),
        hub.get(&format!("/cells?path={VILLAGE_QUERY}&date={DAY}"), ""),
        hub.get(&format!("/list?id={}", t.list_id), ""),
        hub.get(&format!("/notice?id={}&date={DAY}", t.notice), ""),
        hub.get(&format!("/overview.json?date={DAY}"), ""),
        hub.get("/", "silin_session=forged"),
    ];
    assert!(anonymous[0].body.contains("id=\"login\""));
    assert_eq!(anonymous[2].status, 303);
    assert_eq!(anonymous[5].status, 401);
    for p in &anonymous {
        for s in personal.iter().map(|s| s.to_string()).chain(t.ids.clone()) {
            assert!(!p.body.contains(&s), "{s} shown without a login");
        }
    }
    let wrong = hub.login_reply("clerk", "wrong-password");
    assert_eq!(wrong.status, 401);
    assert!(wrong.set_cookie("silin_session").is_none());

    // The office's login: the village table is the rollup API's.
    let office = hub.login("clerk", "township-pass-1");
    let home = hub.get(&format!("/?date={DAY}"), &office);
    assert_eq!(home.status, 200, "{}", home.body);
    let rows = json(&hub.get(&format!("/v1/rollup?date={DAY}&level=village"), ""));
    assert_eq!(rows.as_array().unwrap().len(), 2);
    for row in rows.as_array().unwrap() {
        let path = row["path"].as_str().unwrap();
        for col in [
            "cells",
            "reported",
            "missing",
            "arrivals",
            "abnormal",
            "door_knocks",
            "calls",
            "errands",
        ] {
            assert_eq!(
                cell_in_row(&home.body, path, col),
                row[col].to_string(),
                "{path} {col}"
            );
        }
    }
    assert_eq!(cell_in_row(&home.body, VILLAGE, "missing"), "1");
    assert_eq!(
        cell_in_row(&home.body, "两当县/城关镇/东关村/一组", "door_knocks"),
        "1"
    );
    // Home monitoring, the notice's reach, the list and the county device.
    assert!(home.body.contains("王芳"));
    assert!(home.body.contains("冬季防火"));
    assert!(home.body.contains(&format!("data-list=\"{}\"", t.list_id)));
    let v = json(&hub.get(&format!("/v1/dashboard?date={DAY}"), ""));
    assert_eq!(v["monitored"][0]["days_left"], 6);
    assert_eq!(v["notices"][0]["reached"], 1);
    assert_eq!(v["notices"][0]["unmarked_cells"], 1);
    assert_eq!(v["lists"][0]["total"], 2);
    assert_eq!(v["devices"][0]["role"], "county");

    // Drill down: the village's cell, its lead and the phone to call.
    let cells = hub.get(&format!("/cells?path={VILLAGE_QUERY}&date={DAY}"), &office);
    assert_eq!(cells.status, 200, "{}", cells.body);
    assert!(cells.body.contains("一组第3联户"));
    assert!(cells.body.contains("赵强"));
    assert!(cells.body.contains("data-col=\"lead_phone\">13700000013<"));
    assert!(cells.body.contains("未报告"));
    // A notice's cells, the one nobody marked first; a list's people with
    // their IDs masked for the township office, in full for the county.
    let notice = hub.get(&format!("/notice?id={}&date={DAY}", t.notice), &office);
    assert_eq!(notice.status, 200, "{}", notice.body);
    assert!(notice.body.find("一组第3联户") < notice.body.find("一组第1联户"));
    assert!(notice.body.contains("data-col=\"lead_phone\">13912345678<"));
    let list = hub.get(&format!("/list?id={}", t.list_id), &office);
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains(&masked(&t.ids[0])));
    assert!(!list.body.contains(&t.ids[0]));
    let county = hub.login("zhao", "county-pass-12");
    let list = hub.get(&format!("/list?id={}", t.list_id), &county);
    assert!(list.body.contains(&t.ids[0]));

    // The analyst: counts only, no way down to anyone.
    let analyst = hub.login("qian", "counts-only-34");
    let home = hub.get(&format!("/?date={DAY}"), &analyst);
    assert_eq!(home.status, 200);
    assert!(home.body.contains("id=\"counts-only\""));
    for absent in personal.iter().chain(&[
        "href=\"/cells",
        "href=\"/list",
        "id=\"monitoring\"",
        "id=\"devices\"",
        "冬季防火",
    ]) {
        assert!(!home.body.contains(absent), "{absent} shown to an analyst");
    }
    let counts = json(&hub.get(&format!("/overview.json?date={DAY}"), &analyst));
    assert_eq!(counts["counts_only"], true);
    assert_eq!(counts["groups"][0]["cells"], Value::Null);
    for path in [
        format!("/cells?path={VILLAGE_QUERY}&date={DAY}"),
        format!("/list?id={}", t.list_id),
        format!("/notice?id={}&date={DAY}", t.notice),
    ] {
        let r = hub.get(&path, &analyst);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        for s in personal {
            assert!(!r.body.contains(s), "{s} on a refused page");
        }
    }

    // Every view in full and every refusal is in the database's audit
    // log, and the chain holds.
    let log = pg_json(o, &["audit", "--postgres", t.db.url()], None);
    let count = |action: &str, who: &str| {
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == action && e["actor"]["name"] == who)
            .count()
    };
    assert_eq!(count("view_refused", "qian"), 3, "{log}");
    assert!(count("view_full", "clerk") >= 4, "{log}");
    assert_eq!(count("view_full", "qian"), 0, "{log}");
    let verified = pg_json(o, &["audit", "--postgres", t.db.url(), "--verify"], None);
    assert_eq!(verified["ok"], true);

    // Logging out ends the session.
    let page = hub.get("/", &office);
    let csrf = field(&page.body, "csrf");
    let out = hub.send("POST", "/logout", &office, Some(&format!("csrf={csrf}")));
    assert_eq!(out.status, 303);
    assert!(hub.get("/", &office).body.contains("id=\"login\""));
}

#[test]
fn a_sqlite_hub_and_a_postgres_hub_of_one_county_give_the_same_figures() {
    let Some(t) = twins() else {
        return;
    };
    // Every figure and row of GET /v1/dashboard, apart from the devices
    // each hub has seen (the county device synced with both, at different
    // moments; the SQLite hub's own store is no peer of it).
    let dashboard = |hub: &Hub| {
        let mut v = json(&hub.get(&format!("/v1/dashboard?date={DAY}"), ""));
        v.as_object_mut().unwrap().remove("devices");
        v
    };
    let (sqlite, pg) = (dashboard(&t.sqlite), dashboard(&t.pg));
    assert_eq!(sqlite, pg);
    assert_eq!(pg["villages"].as_array().unwrap().len(), 2);
    assert_eq!(pg["monitored"].as_array().unwrap().len(), 1);
    assert_eq!(pg["notices"].as_array().unwrap().len(), 1);
    assert_eq!(pg["lists"][0]["total"], 2);
    // The other days of the trend, too.
    for day in ["2026-11-16", "2026-11-28", "2026-12-01"] {
        let get =
            |hub: &Hub| json(&hub.get(&format!("/v1/dashboard?date={day}"), ""))["trend"].clone();
        assert_eq!(get(&t.sqlite), get(&t.pg), "{day}");
    }
    // The analyst's counts, small ones suppressed alike.
    let counts = |hub: &Hub| {
        let analyst = hub.login("qian", "counts-only-34");
        json(&hub.get(&format!("/overview.json?date={DAY}"), &analyst))
    };
    assert_eq!(counts(&t.sqlite), counts(&t.pg));
    // A drill-down's table: the same cells, leads and phones.
    let table = |hub: &Hub| {
        let office = hub.login("clerk", "township-pass-1");
        let page = hub.get(&format!("/cells?path={VILLAGE_QUERY}&date={DAY}"), &office);
        let at = page.body.find("<table id=\"cells\"").unwrap();
        page.body[at..at + page.body[at..].find("</table>").unwrap()].to_string()
    };
    assert_eq!(table(&t.sqlite), table(&t.pg));
}

#[test]
fn a_postgres_hub_exports_the_same_sheets_as_the_sqlite_hub() {
    let Some(t) = twins() else {
        return;
    };
    let o = &t.office;
    for (what, level) in [
        ("rollup", "village"),
        ("rollup", "group"),
        ("missing", "village"),
        ("tasks", "village"),
    ] {
        for format in ["csv", "xlsx"] {
            let file = |hub: &str| o.path(&format!("{what}-{level}-{hub}.{format}"));
            let args = |out: &std::path::Path| {
                [
                    "office", "export", what, "--date", DAY, "--level", level, "--format", format,
                    "--out",
                ]
                .into_iter()
                .map(String::from)
                .chain([out.to_str().unwrap().to_string()])
                .collect::<Vec<_>>()
            };
            let sqlite_args = args(&file("sqlite"));
            let sqlite_args: Vec<&str> = sqlite_args.iter().map(String::as_str).collect();
            let wrote = o.json("hub.db", &sqlite_args);
            let mut pg_args = args(&file("pg"));
            pg_args.extend(["--postgres".into(), t.db.url().into()]);
            let pg_args: Vec<&str> = pg_args.iter().map(String::as_str).collect();
            let pg_wrote = pg_json(o, &pg_args, None);
            assert_eq!(pg_wrote["rows"], wrote["rows"], "{what} {level} {format}");
            let (a, b) = (
                std::fs::read(file("sqlite")).unwrap(),
                std::fs::read(file("pg")).unwrap(),
            );
            if format == "csv" {
                assert_eq!(
                    String::from_utf8(a).unwrap(),
                    String::from_utf8(b).unwrap(),
                    "{what} {level}"
                );
            } else {
                assert!(!b.is_empty());
            }
        }
    }
    // The tasks sheet names both people, IDs masked for the office.
    let tasks = std::fs::read_to_string(o.path("tasks-village-pg.csv")).unwrap();
    assert!(tasks.contains("王芳") && tasks.contains(&masked(&t.ids[0])));
    assert!(!tasks.contains(&t.ids[0]));
    // Each export is in the database's audit log, by the office.
    let log = pg_json(o, &["audit", "--postgres", t.db.url()], None);
    let exports = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "export" && e["actor"]["kind"] == "office")
        .count();
    assert_eq!(exports, 8, "{log}");
}
