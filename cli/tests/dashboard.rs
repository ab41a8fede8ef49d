//! The office dashboard served by a real `silin hub serve` process on
//! loopback, spoken to over plain HTTP as a browser would: nothing personal
//! without a login; the login's password, cookie and CSRF rules; the day's
//! village table agreeing with the rollup API; the drill-down to a cell's
//! lead and phone; home monitoring with days left; a list's completion;
//! when each device last synced; each notice of the week's reach and the
//! cells nobody has marked; resident IDs as each role may see them; both
//! languages.

mod support;

use serde_json::Value;
use silin_core::model::{NewVisit, VisitKind};
use silin_core::Clock;
use support::{form_field as field, masked, resident_id, Hub, Office, DAY, NOW};

/// What the test register holds, to look for on the pages.
struct Register {
    office: Office,
    personal: Vec<String>,
    ids: Vec<String>,
    list_id: String,
    /// The cells: 一组第1联户 in 东关村, 一组第3联户 in 西坡村.
    cells: [String; 2],
}

fn register() -> Register {
    let o = Office::new();
    o.json("hub.db", &["init", "--name", "城关镇办公室"]);
    let a = o.id(
        &[
            "cell",
            "create",
            "--name",
            "一组第1联户",
            "--path",
            "两当县/城关镇/东关村/一组",
            "--lead",
            "王建国",
        ],
        "cell_id",
    );
    let b = o.id(
        &[
            "cell",
            "create",
            "--name",
            "一组第3联户",
            "--path",
            "两当县/城关镇/西坡村/一组",
            "--lead",
            "赵强",
        ],
        "cell_id",
    );
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
    o.id(
        &["member", "add", "--household", &ha, "--name", "王建国"],
        "member_id",
    );
    let fang = o.id(
        &[
            "member",
            "add",
            "--household",
            &ha,
            "--name",
            "王芳",
            "--id-number",
            &ids[0],
        ],
        "member_id",
    );
    o.id(
        &[
            "member",
            "add",
            "--household",
            &hb,
            "--name",
            "赵强",
            "--phone",
            "13700000013",
        ],
        "member_id",
    );
    o.id(
        &[
            "member",
            "add",
            "--household",
            &hb,
            "--name",
            "赵丽",
            "--id-number",
            &ids[1],
        ],
        "member_id",
    );
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
    let list = o.path("名单.csv");
    std::fs::write(
        &list,
        format!("姓名,身份证号\n王芳,{}\n赵丽,{}\n", ids[0], ids[1]),
    )
    .unwrap();
    let imported = o.json(
        "hub.db",
        &[
            "office",
            "import-list",
            list.to_str().unwrap(),
            "--kind",
            "vaccination",
        ],
    );
    let list_id = imported["list_id"].as_str().unwrap().to_string();
    o.json_in(
        "hub.db",
        &["hub", "user", "add", "--name", "clerk"],
        Some("township-pass-1\n"),
    );
    o.json_in(
        "hub.db",
        &["hub", "user", "add", "--name", "county", "--role", "county"],
        Some("county-pass-12\n"),
    );
    let personal = [
        "一组第1联户",
        "一组第3联户",
        "王建国",
        "赵强",
        "王芳",
        "赵丽",
        "13912345678",
        "13700000013",
        &a,
        &b,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Register {
        office: o,
        personal,
        ids,
        list_id,
        cells: [a, b],
    }
}

/// The text of `<... data-col="col">` in the element whose `attr` is
/// `value` (a table row: `data-path` of a village or group, `data-notice`,
/// `data-cell`).
fn col_in(html: &str, attr: &str, value: &str, col: &str) -> String {
    let at = html
        .find(&format!("{attr}=\"{value}\""))
        .unwrap_or_else(|| panic!("no {attr} {value}"));
    let row = &html[at..];
    let row = &row[..row.find("</tr>").unwrap()];
    let at = row
        .find(&format!("data-col=\"{col}\">"))
        .unwrap_or_else(|| panic!("no {col} in {row}"));
    let rest = &row[at + col.len() + 12..];
    rest[..rest.find('<').unwrap()].to_string()
}

/// The text of `<td ... data-col="col">` in the row whose `data-path` is
/// `path`.
fn cell_in_row(html: &str, path: &str, col: &str) -> String {
    col_in(html, "data-path", path, col)
}

#[test]
fn without_a_login_the_dashboard_serves_nothing_personal() {
    let r = register();
    let hub = Hub::start(&r.office, "hub.db");
    let village =
        "%E4%B8%A4%E5%BD%93%E5%8E%BF%2F%E5%9F%8E%E5%85%B3%E9%95%87%2F%E4%B8%9C%E5%85%B3%E6%9D%91";
    let mut pages = vec![
        hub.get("/", ""),
        hub.get(&format!("/?date={DAY}"), ""),
        hub.get(&format!("/cells?path={village}&date={DAY}"), ""),
        hub.get(&format!("/list?id={}", r.list_id), ""),
        hub.get(&format!("/notice?id={}&date={DAY}", r.list_id), ""),
        hub.get("/lang?to=en", ""),
        hub.get("/cells", "silin_session=0123456789abcdef"),
        hub.get("/", "silin_session=forged"),
    ];
    // A login with a wrong password, or without the form's token.
    let page = hub.get("/", "");
    let csrf = field(&page.body, "csrf");
    let cookie = format!("silin_login={}", page.cookie("silin_login").unwrap());
    let wrong = hub.send(
        "POST",
        "/login",
        &cookie,
        Some(&format!("csrf={csrf}&name=clerk&password=wrong-password")),
    );
    assert_eq!(wrong.status, 401);
    assert!(wrong.set_cookie("silin_session").is_none());
    let forged = hub.send(
        "POST",
        "/login",
        "",
        Some("csrf=abc&name=clerk&password=township-pass-1"),
    );
    assert_eq!(forged.status, 403, "no login without the form's token");
    assert!(forged.set_cookie("silin_session").is_none());
    let garbled = hub.send("POST", "/login", &cookie, Some("%%%"));
    assert_eq!(garbled.status, 400);
    pages.extend([wrong, forged, garbled]);
    for p in &pages {
        assert!(
            matches!(p.status, 200 | 303 | 400 | 401 | 403),
            "{}",
            p.status
        );
        for s in r.personal.iter().chain(&r.ids) {
            assert!(!p.body.contains(s.as_str()), "{s} shown without a login");
        }
        for id in &r.ids {
            assert!(!p.body.contains(&masked(id)));
        }
        if p.status == 303 {
            assert_eq!(p.header("location"), Some("/"));
        }
    }
    assert!(pages[0].body.contains("id=\"login\""));
    assert_eq!(pages[0].header("cache-control"), Some("no-store"));
    // The stylesheet is in the binary, served by the hub itself.
    let css = hub.get("/assets/style.css", "");
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert!(!pages[0].body.contains("http://") && !pages[0].body.contains("https://"));
}

#[test]
fn an_office_login_sees_the_day_the_rollup_api_gives_and_drills_down() {
    let r = register();
    let o = &r.office;
    let hub = Hub::start(o, "hub.db");
    // A grid worker's phone syncs, so the hub has a device to show.
    let token = o.json(
        "hub.db",
        &[
            "hub",
            "token",
            "--role",
            "grid_worker",
            "--scope",
            "两当县/城关镇/东关村",
        ],
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let worker = o.json("worker.db", &["init", "--name", "网格员"])["device_id"]
        .as_str()
        .unwrap()
        .to_string();
    o.json(
        "worker.db",
        &["enroll", "--hub", &hub.url(), "--token", &token],
    );
    o.json("worker.db", &["sync", "--hub", &hub.url()]);

    // The session cookie is out of scripts' reach, sent to this site only,
    // and not marked Secure on plain HTTP (loopback).
    let login = hub.login_reply("clerk", "township-pass-1");
    assert_eq!(login.status, 303, "{}", login.body);
    let set = login.set_cookie("silin_session").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    let session = format!("silin_session={}", login.cookie("silin_session").unwrap());
    let home = hub.get("/", &session);
    assert_eq!(home.status, 200);
    assert!(home.body.contains("<html lang=\"zh-CN\""));
    assert!(home.body.contains("今日零报告"));

    // The village table is the rollup API's.
    let api = hub.get(&format!("/v1/rollup?date={DAY}&level=village"), "");
    let rows: Value = serde_json::from_str(&api.body).unwrap();
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
    assert_eq!(
        cell_in_row(&home.body, "两当县/城关镇/西坡村", "missing"),
        "1"
    );
    assert_eq!(
        cell_in_row(&home.body, "两当县/城关镇/东关村/一组", "door_knocks"),
        "1"
    );

    // Programs get the same figures as JSON (from the hub machine here; a
    // request from elsewhere is signed by an office device, like the rollup).
    let json = hub.get(&format!("/v1/dashboard?date={DAY}"), "");
    assert_eq!(json.status, 200, "{}", json.body);
    let json: Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(json["villages"], rows);
    assert_eq!(json["day"], DAY);
    assert_eq!(json["monitored"][0]["name"], "王芳");
    assert_eq!(json["monitored"][0]["days_left"], 6);
    assert_eq!(json["lists"][0]["total"], 2);
    assert_eq!(json["devices"][0]["device_id"], worker.as_str());
    assert_eq!(json["devices"][0]["days_since"], 0);
    assert_eq!(json["trend"].as_array().unwrap().len(), 14);
    assert_eq!(json["trend"][13]["reported"], 1);
    assert!(!serde_json::to_string(&json).unwrap().contains(&r.ids[0]));
    assert_eq!(hub.get("/v1/dashboard?date=soon", "").status, 400);

    // Drill down: the village's cells, the lead and the phone to call.
    let village =
        "%E4%B8%A4%E5%BD%93%E5%8E%BF%2F%E5%9F%8E%E5%85%B3%E9%95%87%2F%E8%A5%BF%E5%9D%A1%E6%9D%91";
    let cells = hub.get(&format!("/cells?path={village}&date={DAY}"), &session);
    assert_eq!(cells.status, 200);
    assert!(cells.body.contains("一组第3联户"));
    assert!(cells.body.contains("赵强"));
    assert!(cells.body.contains("data-col=\"lead_phone\">13700000013<"));
    assert!(cells.body.contains("未报告"));

    // Home monitoring: 王芳 until 2026-12-05, six days left on the 29th.
    let monitoring = &home.body[home.body.find("id=\"monitoring\"").unwrap()..];
    let monitoring = &monitoring[..monitoring.find("</table>").unwrap()];
    assert!(monitoring.contains("王芳") && monitoring.contains("2026-12-05"));
    assert!(monitoring.contains("data-col=\"days_left\">6<"));

    // The list's completion, and the device that synced today.
    let lists = &home.body[home.body.find("id=\"lists\"").unwrap()..];
    assert!(lists.contains(&format!("data-list=\"{}\"", r.list_id)));
    assert!(lists.contains("data-col=\"total\">2<") && lists.contains("data-col=\"open\">2<"));
    let devices = &home.body[home.body.find("id=\"devices\"").unwrap()..];
    assert!(devices.contains(&worker) && devices.contains("grid_worker"));
    assert!(devices.contains("data-col=\"days_since\">0<"));

    // No resident ID anywhere on these pages, for either role.
    let county = hub.login("county", "county-pass-12");
    for s in [&session, &county] {
        for page in [
            hub.get("/", s),
            hub.get(&format!("/cells?path={village}&date={DAY}"), s),
        ] {
            for id in &r.ids {
                assert!(!page.body.contains(id.as_str()) && !page.body.contains(&masked(id)));
            }
        }
    }
    // A list's tasks: masked for the township office, in full for the county.
    let office_list = hub.get(&format!("/list?id={}", r.list_id), &session);
    let county_list = hub.get(&format!("/list?id={}", r.list_id), &county);
    for id in &r.ids {
        assert!(
            office_list.body.contains(&masked(id)),
            "{}",
            office_list.body
        );
        assert!(!office_list.body.contains(id.as_str()));
        assert!(county_list.body.contains(id.as_str()));
    }

    // English on request, kept in a cookie.
    let en = hub.get("/lang?to=en", &session);
    assert_eq!(en.status, 303);
    let lang = format!("{session}; silin_lang={}", en.cookie("silin_lang").unwrap());
    let english = hub.get("/", &lang);
    assert!(english.body.contains("<html lang=\"en\""));
    assert!(english.body.contains("Zero reports of the day"));

    // Bad input is a page saying what was wrong, never a crash.
    let bad = hub.get("/?date=2026-02-30", &session);
    assert_eq!(bad.status, 400);
    assert_eq!(hub.get("/?stale=many", &session).status, 400);
    assert_eq!(hub.get("/cells", &session).status, 400);
    assert_eq!(hub.get("/list?id=nope", &session).status, 404);

    // Logout needs the session's token; then the session is gone.
    let csrf = field(&home.body, "csrf");
    let refused = hub.send("POST", "/logout", &session, Some("csrf=forged"));
    assert_eq!(refused.status, 403);
    assert_eq!(hub.get("/", &session).status, 200);
    assert!(hub.get("/", &session).body.contains("id=\"logout\""));
    let out = hub.send("POST", "/logout", &session, Some(&format!("csrf={csrf}")));
    assert_eq!(out.status, 303);
    let after = hub.get("/", &session);
    assert!(after.body.contains("id=\"login\"") && !after.body.contains("王芳"));
}

#[test]
fn a_task_the_lead_closes_offline_shows_done_in_the_export_and_the_dashboard() {
    let r = register();
    let o = &r.office;
    let hub = Hub::start(o, "hub.db");
    // The lead of 一组第3联户 enrols and takes the cell, with 赵丽's task.
    let token = o.json(
        "hub.db",
        &["hub", "token", "--role", "lead", "--scope", &r.cells[1]],
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    o.json("lead.db", &["init", "--name", "赵强的手机"]);
    o.json(
        "lead.db",
        &["enroll", "--hub", &hub.url(), "--token", &token],
    );
    o.json("lead.db", &["sync", "--hub", &hub.url()]);

    // Offline, the lead knocks on 赵丽's door and records it against the task.
    {
        let clock = Clock::parse(NOW).unwrap();
        let phone = support::open_store(&o.path("lead.db"));
        let view = phone.cell(&r.cells[1]).unwrap();
        let li = view
            .households
            .iter()
            .flat_map(|h| &h.members)
            .find(|m| m.name == "赵丽")
            .unwrap()
            .id
            .clone();
        let task = view
            .tasks
            .iter()
            .find(|t| t.member_id.as_deref() == Some(li.as_str()))
            .unwrap()
            .id
            .clone();
        let mut v = NewVisit::new(VisitKind::DoorKnock, clock.now(), "赵强");
        v.member_id = Some(li);
        v.task_id = Some(task);
        phone.record_visit(&r.cells[1], v).unwrap();
    }
    // Back in signal, the phone syncs.
    o.json("lead.db", &["sync", "--hub", &hub.url()]);

    // The office's export shows the task done, by a door knock, today.
    let file = o.path("tasks.csv");
    o.json(
        "hub.db",
        &[
            "office",
            "export",
            "tasks",
            "--date",
            DAY,
            "--format",
            "csv",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    let csv = std::fs::read_to_string(&file).unwrap();
    let row = csv.lines().find(|l| l.contains(",赵丽,")).unwrap();
    assert!(row.ends_with(",已完成,入户,2026-11-29"), "{row}");
    let summary = csv.lines().nth(1).unwrap();
    assert!(summary.ends_with(",2,1,1,0,0"), "{summary}");

    // So does the dashboard: one of the list's two tasks done.
    let session = hub.login("clerk", "township-pass-1");
    let home = hub.get("/", &session);
    let lists = &home.body[home.body.find("id=\"lists\"").unwrap()..];
    assert!(lists.contains("data-col=\"done\">1<") && lists.contains("data-col=\"open\">1<"));
    assert!(lists.contains("data-col=\"completion\">50%<"));
    let list = hub.get(&format!("/list?id={}", r.list_id), &session);
    let li_row = &list.body[list.body.find("赵丽").unwrap()..];
    let li_row = &li_row[..li_row.find("</tr>").unwrap()];
    assert!(li_row.contains("已完成"), "{li_row}");
}

#[test]
fn ten_wrong_passwords_pause_that_names_logins() {
    let r = register();
    let hub = Hub::start(&r.office, "hub.db");
    let attempt = |password: &str| {
        let page = hub.get("/", "");
        let csrf = field(&page.body, "csrf");
        let cookie = format!("silin_login={}", page.cookie("silin_login").unwrap());
        hub.send(
            "POST",
            "/login",
            &cookie,
            Some(&format!("csrf={csrf}&name=clerk&password={password}")),
        )
    };
    for _ in 0..10 {
        assert_eq!(attempt("not-the-password").status, 401);
    }
    let paused = attempt("township-pass-1");
    assert_eq!(paused.status, 429);
    assert!(paused.set_cookie("silin_session").is_none());
    assert!(paused.body.contains("15"), "says how long: {}", paused.body);
    // Another name is not held up.
    hub.login("county", "county-pass-12");
}

/// The id of the household of `cell` whose phone is `phone`.
fn household(o: &Office, cell: &str, phone: &str) -> String {
    let view = o.json("hub.db", &["cell", "show", "--cell", cell]);
    view["households"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["phone"] == phone)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_office_sees_how_far_each_notice_of_the_week_reached_and_whom_to_call() {
    let r = register();
    let o = &r.office;
    let [a, b] = &r.cells;
    // The hub serves while the office sends notices and leads' marks come
    // in: each from another program, committed to the same file.
    let hub = Hub::start(o, "hub.db");
    let ha = household(o, a, "13912345678");
    let a2 = o.id(
        &["household", "add", "--cell", a, "--phone", "13900000099"],
        "household_id",
    );
    let send = |now: &str, region: &str, title: &str| {
        o.json_at(
            "hub.db",
            now,
            &[
                "notice",
                "send",
                "--region",
                region,
                "--title",
                title,
                "--text",
                "请转告全户",
            ],
            None,
        )["notice_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Three weeks ago: not one of this week's.
    let old = send("2026-11-10T09:00:00+08:00", "两当县/城关镇", "秋季防火");
    // This morning, to the whole township (two cells, three households),
    // and at ten to 东关村 only (one cell, two households).
    let meeting = send(
        "2026-11-29T08:30:00+08:00",
        "两当县/城关镇",
        "今晚八点村委会开会",
    );
    let doses = send(NOW, "两当县/城关镇/东关村", "明日上午疫苗接种");
    let mark = |notice: &str, household: &str, status: &str| {
        o.json(
            "hub.db",
            &[
                "notice",
                "mark",
                "--cell",
                a,
                "--notice",
                notice,
                "--household",
                household,
                "--status",
                status,
            ],
        );
    };
    mark(&meeting, &ha, "read");
    mark(&doses, &ha, "read");
    mark(&doses, &a2, "relayed");

    let session = hub.login("clerk", "township-pass-1");
    let home = hub.get("/", &session);
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains("近7天通知送达情况"),
        "Chinese by default"
    );
    let section = &home.body[home.body.find("id=\"notices\"").unwrap()..];
    let section = &section[..section.find("</table>").unwrap()];
    // Newest first; the old one is not this week's.
    let (d, m) = (
        section.find(&format!("data-notice=\"{doses}\"")).unwrap(),
        section.find(&format!("data-notice=\"{meeting}\"")).unwrap(),
    );
    assert!(d < m, "newest first");
    assert!(!section.contains(&old) && !section.contains("秋季防火"));
    let shown = |id: &str, col: &str| col_in(section, "data-notice", id, col);
    assert_eq!(shown(&meeting, "reached"), "1");
    assert_eq!(shown(&meeting, "households"), "3");
    assert_eq!(shown(&meeting, "coverage"), "33%");
    assert_eq!(shown(&meeting, "unmarked_cells"), "1");
    assert_eq!(shown(&doses, "reached"), "2");
    assert_eq!(shown(&doses, "households"), "2");
    assert_eq!(shown(&doses, "coverage"), "100%");
    assert_eq!(shown(&doses, "unmarked_cells"), "0");
    assert!(section.contains("今晚八点村委会开会") && section.contains("08:30"));

    // The same figures as JSON, and as `silin notice reach` counts them.
    let json: Value =
        serde_json::from_str(&hub.get(&format!("/v1/dashboard?date={DAY}"), "").body).unwrap();
    let notices = json["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert_eq!(notices[0]["notice_id"], doses.as_str());
    assert_eq!(notices[0]["read"], 1);
    assert_eq!(notices[0]["relayed"], 1);
    assert_eq!(notices[0]["cells"], 1);
    assert_eq!(notices[1]["notice_id"], meeting.as_str());
    assert_eq!(notices[1]["region"], "两当县/城关镇");
    assert_eq!(notices[1]["cells"], 2);
    let reach = o.json("hub.db", &["notice", "reach"]);
    for n in notices {
        let rows: Vec<&Value> = reach
            .as_array()
            .unwrap()
            .iter()
            .filter(|row| row["notice_id"] == n["notice_id"])
            .collect();
        let sum = |k: &str| rows.iter().map(|row| row[k].as_i64().unwrap()).sum::<i64>();
        assert_eq!(n["households"], sum("households"));
        assert_eq!(n["reached"], sum("read") + sum("relayed"));
        assert_eq!(n["cells"], rows.len());
    }

    // Drill down: the cell nobody has marked first, with its lead to call.
    let link = format!("/notice?id={meeting}&amp;date={DAY}");
    assert!(section.contains(&link), "{section}");
    let page = hub.get(&link.replace("&amp;", "&"), &session);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("今晚八点村委会开会") && page.body.contains("请转告全户"));
    let cells = &page.body[page.body.find("id=\"notice-cells\"").unwrap()..];
    assert!(
        cells.find(&format!("data-cell=\"{b}\"")).unwrap()
            < cells.find(&format!("data-cell=\"{a}\"")).unwrap(),
        "the unmarked cell first"
    );
    let cell = |id: &str, col: &str| col_in(cells, "data-cell", id, col);
    assert_eq!(cell(b, "status"), "未标记");
    assert_eq!(cell(b, "lead_phone"), "13700000013");
    assert_eq!(cell(b, "not_reached"), "1");
    assert_eq!(cell(a, "households"), "2");
    assert_eq!(cell(a, "read"), "1");
    assert_eq!(cell(a, "relayed"), "0");
    assert_eq!(cell(a, "not_reached"), "1");
    assert_eq!(cell(a, "status"), "部分送达");
    assert!(cells.contains("赵强"));
    let total = &page.body[page.body.find("id=\"notice-total\"").unwrap()..];
    assert!(
        total.contains("data-col=\"reached\">1<") && total.contains("data-col=\"households\">3<")
    );
    // It named the leads and their phones: logged, by the user.
    let log = o.json("hub.db", &["audit"]);
    let entry = log.as_array().unwrap().last().unwrap().clone();
    assert_eq!(entry["action"], "view_full");
    assert_eq!(entry["actor"]["name"], "clerk");
    assert_eq!(entry["target"], format!("page=notice notice={meeting}"));
    assert_eq!(entry["detail"]["leads"], 2);
    assert_eq!(entry["detail"]["phones"], 2);

    // Three weeks back, the old notice is that week's, and nobody heard it.
    let back = hub.get("/?date=2026-11-12", &session);
    let section = &back.body[back.body.find("id=\"notices\"").unwrap()..];
    let section = &section[..section.find("</table>").unwrap()];
    assert!(section.contains("秋季防火") && !section.contains(&meeting));
    assert_eq!(col_in(section, "data-notice", &old, "unmarked_cells"), "2");
    assert_eq!(col_in(section, "data-notice", &old, "coverage"), "0%");

    // English on request.
    let en = hub.get("/lang?to=en", &session);
    let lang = format!("{session}; silin_lang={}", en.cookie("silin_lang").unwrap());
    let english = hub.get("/", &lang);
    assert!(english.body.contains("Notices of the last 7 days"));
    assert!(english.body.contains("Cells with no mark yet"));
    let english = hub.get(&link.replace("&amp;", "&"), &lang);
    assert!(english.body.contains("no mark yet") && english.body.contains("partly reached"));

    // A notice the hub does not hold; no id at all; no login.
    assert_eq!(hub.get("/notice?id=nope", &session).status, 404);
    assert_eq!(hub.get("/notice", &session).status, 400);
    let anonymous = hub.get(&link.replace("&amp;", "&"), "");
    assert_eq!(anonymous.status, 303);
    assert!(!anonymous.body.contains("赵强") && !anonymous.body.contains("今晚八点"));
}

/// A `silin hub user add` login of `role`.
fn login_of(o: &Office, name: &str, role: &str, password: &str) {
    let v = o.json_in(
        "hub.db",
        &["hub", "user", "add", "--name", name, "--role", role],
        Some(&format!("{password}\n")),
    );
    assert_eq!(v["role"], role);
}

#[test]
fn an_analyst_sees_counts_only_with_small_ones_suppressed_and_no_drill_down() {
    // support's County: one cell in 东关村/一组 whose lead, members, phones
    // and resident ID are markers. It reports one person abnormal and
    // records a door knock: counts of 1, to be suppressed.
    let county = support::County::new();
    let o = &county.office;
    o.json(
        "hub.db",
        &[
            "report",
            "submit",
            "--cell",
            &county.cell,
            "--date",
            DAY,
            "--abnormal",
            "1",
        ],
    );
    o.json(
        "hub.db",
        &[
            "visit",
            "record",
            "--cell",
            &county.cell,
            "--kind",
            "door_knock",
        ],
    );
    // 二组: six cells, five of which report two arrivals each: counts of 5
    // and more, and one missing report, withheld — and with it the counts
    // it could be worked out from.
    for i in 1..=6 {
        let cell = o.id(
            &[
                "cell",
                "create",
                "--name",
                &format!("二组第{i}联户"),
                "--path",
                "两当县/城关镇/东关村/二组",
            ],
            "cell_id",
        );
        if i <= 5 {
            o.json(
                "hub.db",
                &[
                    "report",
                    "submit",
                    "--cell",
                    &cell,
                    "--date",
                    DAY,
                    "--arrivals",
                    "2",
                ],
            );
        }
    }
    // A list naming the marker member (one task, open), and a notice.
    let list = o.path("名单.csv");
    std::fs::write(
        &list,
        format!(
            "姓名,身份证号\n{},{}\n",
            support::MARKER_MEMBER,
            county.id_number
        ),
    )
    .unwrap();
    let list_id = o.json(
        "hub.db",
        &[
            "office",
            "import-list",
            list.to_str().unwrap(),
            "--kind",
            "test",
        ],
    )["list_id"]
        .as_str()
        .unwrap()
        .to_string();
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
    login_of(o, "clerk", "office", "township-pass-1");
    login_of(o, "zhao", "county", "county-pass-12");
    login_of(o, "qian", "analyst", "counts-only-34");
    let hub = Hub::start(o, "hub.db");
    let analyst = hub.login("qian", "counts-only-34");
    let office = hub.login("clerk", "township-pass-1");
    let county_login = hub.login("zhao", "county-pass-12");

    let group1 = "两当县/城关镇/东关村/一组";
    let group2 = "两当县/城关镇/东关村/二组";
    let village = "两当县/城关镇/东关村";
    let suppressed = "*";

    // The analyst's overview: the counts, 1 to 4 as "*", 0 as it is, and
    // every count that would give a withheld one by subtraction as "*":
    // 二组's 6 cells (the village's 7 less 一组's 1), 二组's and the
    // village's reported (their cells less the missing 1).
    let home = hub.get(&format!("/?date={DAY}"), &analyst);
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("id=\"counts-only\""));
    for (path, col, want) in [
        (group1, "cells", suppressed),
        (group1, "reported", suppressed),
        (group1, "missing", "0"),
        (group1, "abnormal", suppressed),
        (group1, "door_knocks", suppressed),
        (group1, "arrivals", "0"),
        (group2, "cells", suppressed),
        (group2, "reported", suppressed),
        (group2, "missing", suppressed),
        (group2, "arrivals", "10"),
        (village, "cells", "7"),
        (village, "reported", suppressed),
        (village, "missing", suppressed),
        (village, "abnormal", suppressed),
        (village, "arrivals", "10"),
    ] {
        assert_eq!(cell_in_row(&home.body, path, col), want, "{path} {col}");
    }
    // The list's counts, without its completion rate (it would give the
    // done count) and without a link to its tasks.
    let lists = &home.body[home.body.find("id=\"lists\"").unwrap()..];
    assert_eq!(col_in(lists, "data-list", &list_id, "total"), suppressed);
    assert_eq!(col_in(lists, "data-list", &list_id, "done"), "0");
    assert_eq!(col_in(lists, "data-list", &list_id, "open"), suppressed);
    assert_eq!(col_in(lists, "data-list", &list_id, "completion"), "—");
    // The trend: today's one missing cell withheld (drawn at the
    // threshold, not at its height), and the 6 reported with it (the
    // village's 7 cells less 6 would give it).
    let trend = &home.body[home.body.find("id=\"trend\"").unwrap()..];
    assert!(
        trend.contains(&format!("{DAY} 已报告: {suppressed}<")),
        "{trend}"
    );
    assert!(
        trend.contains(&format!("{DAY} 未报告: {suppressed}<")),
        "{trend}"
    );
    // No way down to people: no links, no people, devices or notices.
    for absent in [
        "href=\"/cells",
        "href=\"/list",
        "href=\"/notice",
        "id=\"monitoring\"",
        "id=\"devices\"",
        "id=\"notices\"",
        "冬季防火",
    ] {
        assert!(
            !home.body.contains(absent),
            "{absent} on the analyst's page"
        );
    }

    // The same counts as JSON: null and named in `suppressed`.
    let json = hub.get(&format!("/overview.json?date={DAY}"), &analyst);
    assert_eq!(json.status, 200, "{}", json.body);
    assert_eq!(json.header("cache-control"), Some("no-store"));
    let v: Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(v["counts_only"], true);
    assert_eq!(v["small_count_max"], 4);
    let row = |rows: &Value, path: &str| -> Value {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"] == path)
            .unwrap_or_else(|| panic!("no {path} in {rows}"))
            .clone()
    };
    let g1 = row(&v["groups"], group1);
    assert_eq!(g1["cells"], Value::Null);
    assert_eq!(g1["abnormal"], Value::Null);
    assert_eq!(g1["missing"], 0);
    assert_eq!(g1["arrivals"], 0);
    let named: Vec<&str> = g1["suppressed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        named,
        ["cells", "reported", "abnormal", "door_knocks"],
        "{g1}"
    );
    let g2 = row(&v["groups"], group2);
    assert_eq!(g2["cells"], Value::Null);
    assert_eq!(g2["reported"], Value::Null);
    assert_eq!(g2["missing"], Value::Null);
    assert_eq!(g2["arrivals"], 10);
    assert_eq!(row(&v["villages"], village)["cells"], 7);
    let today = &v["trend"][13];
    assert_eq!(today["date"].as_str(), Some(DAY));
    assert_eq!(today["reported"], Value::Null);
    assert_eq!(today["missing"], Value::Null);
    assert_nothing_recoverable(&v);
    assert_eq!(v["lists"][0]["total"], Value::Null);
    assert_eq!(v["lists"][0]["done"], 0);
    assert!(v.get("monitored").is_none() && v.get("devices").is_none());

    // Drill-downs refused: 403 with a page saying why, and each refusal in
    // the audit log.
    let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let refused = [
        format!("/cells?path={}&date={DAY}", enc(group1)),
        format!("/list?id={list_id}"),
        format!("/notice?id={notice}&date={DAY}"),
    ];
    let mut reachable = vec![home, json];
    for path in &refused {
        let r = hub.get(path, &analyst);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(r.body.contains("审计日志"), "{}", r.body);
        reachable.push(r);
    }
    let en = hub.get("/lang?to=en", &analyst);
    let english = format!("{analyst}; silin_lang={}", en.cookie("silin_lang").unwrap());
    let r = hub.get(&refused[0], &english);
    assert_eq!(r.status, 403);
    assert!(r.body.contains("counts only"), "{}", r.body);
    reachable.extend([
        r,
        hub.get("/", &english),
        hub.get("/overview.json", &analyst),
    ]);
    let log = o.json("hub.db", &["audit"]);
    let refusals: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "view_refused")
        .collect();
    assert_eq!(refusals.len(), 4, "{log}");
    for e in &refusals {
        assert_eq!(e["actor"]["kind"], "user");
        assert_eq!(e["actor"]["name"], "qian");
    }
    assert!(refusals[1]["target"].as_str().unwrap().contains(&list_id));
    // Nothing the analyst reached was logged as a view in full.
    assert!(!log
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["action"] == "view_full" && e["actor"]["name"] == "qian"));

    // No marker, masked ID, cell name or cell id on anything the analyst
    // reached.
    let mut hidden = county.markers();
    hidden.extend([
        support::masked(&county.id_number),
        county.cell.clone(),
        "一组第1联户".into(),
        "二组第1联户".into(),
    ]);
    for r in &reachable {
        for m in &hidden {
            assert!(!r.body.contains(m.as_str()), "{m} shown to the analyst");
        }
    }

    // The masking matrix of the dashboard's logins: what each role's
    // overview, drill-down to cells and list show.
    // (role's session, exact counts, drill-downs served, ID as shown in the list)
    let id = county.id_number.clone();
    let rows: [(&str, &str, bool, bool, Option<String>); 3] = [
        ("office", &office, true, true, Some(support::masked(&id))),
        ("county", &county_login, true, true, Some(id.clone())),
        ("analyst", &analyst, false, false, None),
    ];
    for (role, session, exact, drills, shown_id) in rows {
        let home = hub.get(&format!("/?date={DAY}"), session);
        assert_eq!(home.status, 200);
        let want = if exact { "1" } else { suppressed };
        for col in ["cells", "abnormal", "door_knocks"] {
            assert_eq!(cell_in_row(&home.body, group1, col), want, "{role} {col}");
        }
        let json: Value =
            serde_json::from_str(&hub.get(&format!("/overview.json?date={DAY}"), session).body)
                .unwrap();
        let g1 = row(&json["groups"], group1);
        assert_eq!(
            g1["abnormal"],
            if exact { 1.into() } else { Value::Null },
            "{role}"
        );
        assert_eq!(json["counts_only"], !exact, "{role}");
        // The people under monitoring and the devices: only for roles that
        // see people.
        assert_eq!(home.body.contains("id=\"monitoring\""), drills, "{role}");
        let cells = hub.get(&refused[0], session);
        assert_eq!(cells.status, if drills { 200 } else { 403 }, "{role}");
        assert_eq!(
            cells.body.contains(support::MARKER_LEAD),
            drills,
            "{role}: the lead on the drill-down"
        );
        let list = hub.get(&refused[1], session);
        assert_eq!(list.status, if drills { 200 } else { 403 }, "{role}");
        match &shown_id {
            Some(shown) => {
                assert!(list.body.contains(shown.as_str()), "{role}: {}", list.body);
                if shown != &id {
                    assert!(!list.body.contains(&id), "{role}");
                }
            }
            None => {
                assert!(!list.body.contains(&id) && !list.body.contains(&support::masked(&id)));
            }
        }
    }
}

/// The sums a viewer of `/overview.json` can see the counts hold to, and
/// the counts: each count named `villages/PATH/COLUMN`,
/// `groups/PATH/COLUMN`, `trend/DATE/COLUMN` or `lists/ID/COLUMN`, `None`
/// where it is withheld; the day's cells (not in the JSON, but its
/// villages' added up) as `day/cells`, unknown. The sums: a row's cells
/// are its reported plus its missing; a village's figure in each column
/// is its groups'; the day's reported, missing and cells in the trend are
/// its villages'; a list's total is its done plus its open.
type Sums = Vec<(String, Vec<String>)>;

fn counts_and_sums(v: &Value) -> (std::collections::BTreeMap<String, Option<i64>>, Sums) {
    const COLUMNS: [&str; 10] = [
        "cells",
        "reported",
        "missing",
        "zero",
        "arrivals",
        "abnormal",
        "under_monitoring",
        "door_knocks",
        "calls",
        "errands",
    ];
    let mut counts = std::collections::BTreeMap::new();
    let mut sums: Sums = Vec::new();
    // An item's counts, checking that its nulls are the ones it names.
    fn take(
        counts: &mut std::collections::BTreeMap<String, Option<i64>>,
        kind: &str,
        key: &str,
        item: &Value,
        cols: &[&str],
    ) {
        let named: Vec<&str> = item["suppressed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        for col in cols {
            let n = item[*col].as_i64();
            assert_eq!(n.is_none(), named.contains(col), "{kind} {key} {col}");
            counts.insert(format!("{kind}/{key}/{col}"), n);
        }
    }
    let rows = |kind: &str| v[kind].as_array().unwrap().clone();
    let (villages, groups) = (rows("villages"), rows("groups"));
    for (kind, items) in [("villages", &villages), ("groups", &groups)] {
        for r in items {
            let path = r["path"].as_str().unwrap();
            take(&mut counts, kind, path, r, &COLUMNS);
            let k = |c: &str| format!("{kind}/{path}/{c}");
            sums.push((k("cells"), vec![k("reported"), k("missing")]));
        }
    }
    let path = |r: &Value| r["path"].as_str().unwrap().to_string();
    for village in villages.iter().map(path) {
        let mine: Vec<String> = groups
            .iter()
            .map(path)
            .filter(|g| {
                let longest = villages
                    .iter()
                    .map(path)
                    .filter(|v| g == v || g.starts_with(&format!("{v}/")))
                    .max_by_key(String::len);
                longest.as_deref() == Some(village.as_str())
            })
            .collect();
        if mine.is_empty() {
            continue;
        }
        for col in COLUMNS {
            sums.push((
                format!("villages/{village}/{col}"),
                mine.iter().map(|g| format!("groups/{g}/{col}")).collect(),
            ));
        }
    }
    let day = v["day"].as_str().unwrap();
    for t in v["trend"].as_array().unwrap() {
        let date = t["date"].as_str().unwrap();
        take(&mut counts, "trend", date, t, &["reported", "missing"]);
        if date == day {
            counts.insert("day/cells".into(), None);
            let k = |c: &str| format!("trend/{date}/{c}");
            sums.push(("day/cells".into(), vec![k("reported"), k("missing")]));
            for (total, col) in [
                ("day/cells".to_string(), "cells"),
                (k("reported"), "reported"),
                (k("missing"), "missing"),
            ] {
                sums.push((
                    total,
                    villages
                        .iter()
                        .map(|r| format!("villages/{}/{col}", path(r)))
                        .collect(),
                ));
            }
        }
    }
    for l in v["lists"].as_array().unwrap() {
        let id = l["list_id"].as_str().unwrap();
        take(&mut counts, "lists", id, l, &["total", "done", "open"]);
        let k = |c: &str| format!("lists/{id}/{c}");
        sums.push((k("total"), vec![k("done"), k("open")]));
    }
    (counts, sums)
}

/// Rank of integer rows (fraction-free elimination, each row kept
/// divided by its entries' greatest common divisor).
fn rank(mut rows: Vec<Vec<i128>>) -> usize {
    let cols = rows.first().map_or(0, Vec::len);
    let mut r = 0;
    for c in 0..cols {
        let Some(p) = (r..rows.len()).find(|&i| rows[i][c] != 0) else {
            continue;
        };
        rows.swap(r, p);
        let pivot = rows[r].clone();
        for row in rows.iter_mut().skip(r + 1) {
            let (a, b) = (pivot[c], row[c]);
            if b != 0 {
                for (x, &y) in row.iter_mut().zip(&pivot) {
                    *x = *x * a - y * b;
                }
                let g = row.iter().fold(0i128, |g, &x| {
                    let (mut g, mut x) = (g.abs(), x.abs());
                    while x != 0 {
                        (g, x) = (x, g % x);
                    }
                    g
                });
                if g > 1 {
                    row.iter_mut().for_each(|x| *x /= g);
                }
            }
        }
        r += 1;
    }
    r
}

/// That no count the overview JSON withholds can be worked out from the
/// counts it shows: not by one sum with one count missing, not by a chain
/// of them (each count worked out used in the next), not by any
/// combination of the sums at once, and not because the withheld parts of
/// a shown total could only all be 1 (a withheld count is never 0).
fn assert_nothing_recoverable(v: &Value) {
    let (counts, sums) = counts_and_sums(v);
    let withheld: Vec<&String> = counts
        .iter()
        .filter(|(k, n)| n.is_none() && k.as_str() != "day/cells")
        .map(|(k, _)| k)
        .collect();
    // Subtraction, over and over.
    let mut known = counts.clone();
    loop {
        let mut more = false;
        for (total, parts) in &sums {
            let unknown: Vec<&String> = std::iter::once(total)
                .chain(parts)
                .filter(|k| known[*k].is_none())
                .collect();
            if unknown.len() != 1 {
                continue;
            }
            let parts_sum = |skip: &String| -> i64 {
                parts
                    .iter()
                    .filter(|p| *p != skip)
                    .map(|p| known[p].unwrap())
                    .sum()
            };
            let value = if unknown[0] == total {
                parts_sum(total)
            } else {
                known[total].unwrap() - parts_sum(unknown[0])
            };
            known.insert(unknown[0].clone(), Some(value));
            more = true;
        }
        if !more {
            break;
        }
    }
    for k in &withheld {
        assert_eq!(known[*k], None, "{k} worked out by subtraction from {v}");
    }
    // All ones under a shown total.
    for (total, parts) in &sums {
        let hidden: Vec<&String> = parts.iter().filter(|p| known[*p].is_none()).collect();
        if let (Some(t), true) = (known[total], hidden.len() >= 2) {
            let shown: i64 = parts.iter().filter_map(|p| known[p]).sum();
            assert_ne!(
                t - shown,
                hidden.len() as i64,
                "{hidden:?} can only all be 1 in {v}"
            );
        }
    }
    // Any combination of the sums: a withheld count is given when its unit
    // row is in the span of the sums' rows over the unknowns.
    let unknown: Vec<&String> = counts
        .iter()
        .filter(|(_, n)| n.is_none())
        .map(|(k, _)| k)
        .collect();
    let col = |k: &String| unknown.iter().position(|u| *u == k);
    let rows: Vec<Vec<i128>> = sums
        .iter()
        .map(|(total, parts)| {
            let mut row = vec![0i128; unknown.len()];
            if let Some(c) = col(total) {
                row[c] -= 1;
            }
            for p in parts {
                if let Some(c) = col(p) {
                    row[c] += 1;
                }
            }
            row
        })
        .collect();
    let before = rank(rows.clone());
    for k in &withheld {
        let mut with = rows.clone();
        let mut unit = vec![0i128; unknown.len()];
        unit[col(k).unwrap()] = 1;
        with.push(unit);
        assert!(rank(with) > before, "{k} given by the sums together in {v}");
    }
}

/// `n` cells in `path`, the first `reported` of which report for [`DAY`]
/// with `arrivals` and `abnormal` each.
fn cells_reporting(
    o: &Office,
    path: &str,
    n: usize,
    reported: usize,
    arrivals: &str,
    abnormal: &[usize],
) {
    for i in 0..n {
        let cell = o.id(
            &[
                "cell",
                "create",
                "--name",
                &format!("{}第{i}联户", path.rsplit('/').next().unwrap()),
                "--path",
                path,
            ],
            "cell_id",
        );
        if i < reported {
            let abnormal = if abnormal.contains(&i) { "1" } else { "0" };
            o.json(
                "hub.db",
                &[
                    "report",
                    "submit",
                    "--cell",
                    &cell,
                    "--date",
                    DAY,
                    "--arrivals",
                    arrivals,
                    "--abnormal",
                    abnormal,
                ],
            );
        }
    }
}

#[test]
fn an_analyst_cannot_work_out_a_withheld_count_from_the_counts_beside_it() {
    // 东关村: 一组 five cells, one not reporting, one person abnormal;
    // 二组 six cells, all reporting, two arrivals each. 西坡村/一组: five
    // cells, all reporting, one person abnormal in each of two.
    let o = Office::new();
    o.json("hub.db", &["init", "--name", "城关镇办公室"]);
    let (east1, east2, west1) = (
        "两当县/城关镇/东关村/一组",
        "两当县/城关镇/东关村/二组",
        "两当县/城关镇/西坡村/一组",
    );
    let (east, west) = ("两当县/城关镇/东关村", "两当县/城关镇/西坡村");
    cells_reporting(&o, east1, 5, 4, "0", &[0]);
    cells_reporting(&o, east2, 6, 6, "2", &[]);
    cells_reporting(&o, west1, 5, 5, "0", &[1, 2]);
    login_of(&o, "clerk", "office", "township-pass-1");
    login_of(&o, "zhao", "county", "county-pass-12");
    login_of(&o, "qian", "analyst", "counts-only-34");
    let hub = Hub::start(&o, "hub.db");
    let overview = |name: &str, password: &str| -> Value {
        let session = hub.login(name, password);
        let r = hub.get(&format!("/overview.json?date={DAY}"), &session);
        assert_eq!(r.status, 200, "{}", r.body);
        serde_json::from_str(&r.body).unwrap()
    };
    let figure = |v: &Value, kind: &str, path: &str, col: &str| -> Value {
        v[kind]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"] == path)
            .unwrap_or_else(|| panic!("no {path} in {v}"))[col]
            .clone()
    };

    // The office and the county: every count exact, nothing withheld.
    for (name, password) in [("clerk", "township-pass-1"), ("zhao", "county-pass-12")] {
        let v = overview(name, password);
        assert_eq!(v["counts_only"], false, "{name}");
        for (kind, path, col, want) in [
            ("groups", east1, "cells", 5),
            ("groups", east1, "reported", 4),
            ("groups", east1, "missing", 1),
            ("groups", east1, "abnormal", 1),
            ("groups", east2, "cells", 6),
            ("groups", east2, "reported", 6),
            ("groups", east2, "arrivals", 12),
            ("groups", west1, "abnormal", 2),
            ("villages", east, "cells", 11),
            ("villages", east, "reported", 10),
            ("villages", east, "missing", 1),
            ("villages", west, "reported", 5),
        ] {
            assert_eq!(figure(&v, kind, path, col), want, "{name} {path} {col}");
        }
        let today = &v["trend"][13];
        assert_eq!(
            (today["reported"].as_i64(), today["missing"].as_i64()),
            (Some(15), Some(1)),
            "{name}"
        );
        for kind in ["villages", "groups", "trend"] {
            for r in v[kind].as_array().unwrap() {
                assert_eq!(r["suppressed"], serde_json::json!([]), "{name} {r}");
            }
        }
    }

    // The analyst: the small counts withheld, and beside them enough that
    // none can be worked out.
    let v = overview("qian", "counts-only-34");
    assert_eq!(v["counts_only"], true);
    for (kind, path, col) in [
        ("groups", east1, "reported"),
        ("groups", east1, "missing"),
        ("groups", east1, "abnormal"),
        ("groups", west1, "abnormal"),
        ("villages", east, "missing"),
        ("villages", east, "abnormal"),
        ("villages", west, "abnormal"),
    ] {
        assert_eq!(
            figure(&v, kind, path, col),
            Value::Null,
            "small {path} {col}"
        );
    }
    // Counts of 5 and more withheld beside them: 东关村's 10 reported (its
    // 11 cells less the missing 1) and the day's 15 in the trend (its 16
    // cells, the villages', less the missing 1).
    assert_eq!(figure(&v, "villages", east, "reported"), Value::Null);
    assert_eq!(v["trend"][13]["reported"], Value::Null);
    // Zero, and counts no sum ties to a small one, as they are.
    assert_eq!(figure(&v, "groups", east2, "missing"), 0);
    assert_eq!(figure(&v, "groups", east2, "arrivals"), 12);
    assert_eq!(figure(&v, "villages", west, "reported"), 5);
    assert_nothing_recoverable(&v);
}
