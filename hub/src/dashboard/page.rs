//! The dashboard's HTML: server-rendered pages (no script), one stylesheet
//! compiled in, the trend chart as inline SVG. Every value from the store
//! is escaped.

use super::counts::{Shown, ShownCounts};
use super::i18n::Lang;
use super::{ListSummary, NoticeCell, NoticeSummary, Overview, TrendDay, Viewer};
use crate::lists::ListInfo;
use crate::users::UserRole;
use axum::response::Html;
use chrono::NaiveDate;
use silin_core::identity::Role;
use silin_core::privacy::shown_resident_id;
use silin_core::register::Notice;
use silin_core::store::{MissingReport, TaskProgress, TaskState};
use std::fmt::Write;

pub fn html(body: String) -> Html<String> {
    Html(body)
}

/// Text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query-string value.
fn url(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn shell(lang: Lang, viewer: Option<&Viewer>, body: &str) -> String {
    let other = lang.other();
    let mut head = format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"/assets/style.css\"></head><body>\
         <header><h1>{}</h1><nav>",
        lang.html(),
        lang.t("title"),
        lang.t("title"),
    );
    let _ = write!(
        head,
        "<a id=\"lang\" href=\"/lang?to={}\">{}</a> ",
        other.code(),
        lang.t("switch")
    );
    if let Some(v) = viewer {
        let _ = write!(
            head,
            "<span id=\"user\">{}</span> <form method=\"post\" action=\"/logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button id=\"logout\">{}</button></form>",
            esc(&v.user),
            esc(&v.csrf),
            lang.t("logout")
        );
    }
    head.push_str("</nav></header><main>");
    head.push_str(body);
    head.push_str("</main></body></html>");
    head
}

pub fn message(lang: Lang, text: &str) -> String {
    shell(
        lang,
        None,
        &format!(
            "<section><p class=\"error\">{}</p><p><a href=\"/\">{}</a></p></section>",
            esc(text),
            lang.t("back")
        ),
    )
}

pub fn login(lang: Lang, csrf: &str, message: Option<&'static str>) -> String {
    let note = match message {
        Some(m) => format!("<p class=\"error\" id=\"login-error\">{}</p>", lang.t(m)),
        None => format!("<p>{}</p>", lang.t("login_needed")),
    };
    shell(
        lang,
        None,
        &format!(
            "<form class=\"login\" method=\"post\" action=\"/login\">{note}\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <label for=\"name\">{}</label><input id=\"name\" name=\"name\" autocomplete=\"username\" required>\
             <label for=\"password\">{}</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button id=\"login\" type=\"submit\">{}</button></form>",
            esc(csrf),
            lang.t("user"),
            lang.t("password"),
            lang.t("login")
        ),
    )
}

fn num(n: impl std::fmt::Display, col: &str) -> String {
    format!("<td class=\"n\" data-col=\"{col}\">{n}</td>")
}

/// A count as the viewer may see it ([`ShownCounts`]): the number, or `*`
/// when it is withheld.
fn count(n: Shown) -> String {
    match n {
        Some(n) => n.to_string(),
        None => esc(&silin_core::privacy::suppressed_label()),
    }
}

fn last_part(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The overview. For a login that sees counts only: the village and group
/// table without links, the trend and the lists' counts, small counts and
/// those that would give them away shown as `*`; no people, devices or
/// notices.
pub fn overview(lang: Lang, viewer: &Viewer, o: &Overview) -> String {
    let counts_only = viewer.role.sees_counts_only();
    let shown = ShownCounts::of(o, counts_only);
    let mut b = String::new();
    let day = o.day.to_string();
    if counts_only {
        let _ = write!(
            b,
            "<p id=\"counts-only\">{}</p>",
            esc(lang.t("counts_only_note"))
        );
    }
    let _ = write!(
        b,
        "<form class=\"date\" method=\"get\" action=\"/\"><label for=\"date\">{}</label> \
         <input id=\"date\" name=\"date\" type=\"date\" value=\"{day}\"> <button>{}</button></form>",
        lang.t("date"),
        lang.t("show")
    );

    // Zero reports by village, each village's groups under it.
    let _ = write!(
        b,
        "<section><h2>{} {day}</h2><div class=\"scroll\"><table id=\"villages\"><thead><tr>\
         <th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th>\
         <th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th>\
         </tr></thead><tbody>",
        lang.t("zero_report"),
        lang.t("village"),
        lang.t("cells"),
        lang.t("reported"),
        lang.t("missing"),
        lang.t("arrivals"),
        lang.t("abnormal"),
        lang.t("door_knocks"),
        lang.t("calls"),
        lang.t("errands"),
    );
    // The figures in `ROW_COLUMNS` order.
    let row = |b: &mut String, r: &silin_core::rollup::RollupRow, s: &[Shown; 10], class: &str| {
        let missing_class = if r.missing > 0 { "missing" } else { "ok" };
        // The drill-down names leads and phones: no link where it is refused.
        let name = if counts_only {
            format!(
                "<span title=\"{}\">{}</span>",
                esc(&r.path),
                esc(last_part(&r.path))
            )
        } else {
            format!(
                "<a title=\"{}\" href=\"/cells?path={}&amp;date={day}\">{}</a>",
                esc(&r.path),
                url(&r.path),
                esc(last_part(&r.path))
            )
        };
        let _ = write!(
            b,
            "<tr class=\"{class}\" data-path=\"{}\"><td>{name}</td>{}{}<td class=\"n {missing_class}\" data-col=\"missing\">{}</td>{}{}{}{}{}</tr>",
            esc(&r.path),
            num(count(s[0]), "cells"),
            num(count(s[1]), "reported"),
            count(s[2]),
            num(count(s[4]), "arrivals"),
            num(count(s[5]), "abnormal"),
            num(count(s[7]), "door_knocks"),
            num(count(s[8]), "calls"),
            num(count(s[9]), "errands"),
        );
    };
    for (v, vs) in o.villages.iter().zip(&shown.villages) {
        row(&mut b, v, vs, "village");
        let prefix = format!("{}/", v.path);
        for (g, gs) in o
            .groups
            .iter()
            .zip(&shown.groups)
            .filter(|(g, _)| g.path.starts_with(&prefix))
        {
            row(&mut b, g, gs, "group");
        }
    }
    if o.villages.is_empty() {
        let _ = write!(b, "<tr><td colspan=\"9\">{}</td></tr>", lang.t("none"));
    }
    b.push_str("</tbody></table></div></section>");

    if !counts_only {
        b.push_str(&notices_section(lang, &day, &o.notices));
    }

    // The 14-day trend.
    let _ = write!(
        b,
        "<section><h2>{}</h2>{}</section>",
        lang.t("trend"),
        trend_svg(lang, &o.trend, &shown.trend)
    );
    if counts_only {
        b.push_str(&lists_section(lang, &o.lists, &shown.lists, true));
        return shell(lang, Some(viewer), &b);
    }

    // Home monitoring.
    let _ = write!(
        b,
        "<section><h2>{} ({})</h2><div class=\"scroll\"><table id=\"monitoring\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th class=\"n\">{}</th></tr></thead><tbody>",
        lang.t("monitoring"),
        o.monitored.len(),
        lang.t("name"),
        lang.t("cell"),
        lang.t("phone"),
        lang.t("until"),
        lang.t("days_left"),
    );
    for m in &o.monitored {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{} <small>{}</small></td><td>{}</td><td>{}</td>{}</tr>",
            esc(&m.name),
            esc(&m.cell_name),
            esc(&m.path),
            esc(m.phone.as_deref().unwrap_or("")),
            m.until,
            num(m.days_left, "days_left"),
        );
    }
    if o.monitored.is_empty() {
        let _ = write!(b, "<tr><td colspan=\"5\">{}</td></tr>", lang.t("none"));
    }
    b.push_str("</tbody></table></div></section>");

    b.push_str(&lists_section(lang, &o.lists, &shown.lists, false));

    // Sync freshness.
    let _ = write!(
        b,
        "<section><h2>{}</h2><form class=\"date\" method=\"get\" action=\"/\"><input type=\"hidden\" name=\"date\" value=\"{day}\"><label for=\"stale\">{}</label> <input id=\"stale\" name=\"stale\" type=\"number\" min=\"1\" max=\"365\" value=\"{}\"> <button>{}</button></form><div class=\"scroll\"><table id=\"devices\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th class=\"n\">{}</th></tr></thead><tbody>",
        lang.t("sync"),
        lang.t("stale"),
        o.stale,
        lang.t("show"),
        lang.t("device"),
        lang.t("role"),
        lang.t("scope"),
        lang.t("last_sync"),
        lang.t("days_since"),
    );
    for f in &o.devices {
        let (p, days) = (&f.peer, f.days_since);
        let class = if days >= o.stale { "stale" } else { "" };
        let seen = chrono::DateTime::from_timestamp(p.last_seen, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let _ = write!(
            b,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{seen}</td>{}</tr>",
            esc(&p.device_id),
            p.role.as_str(),
            esc(&p.scope.join(", ")),
            num(days, "days_since"),
        );
    }
    if o.devices.is_empty() {
        let _ = write!(b, "<tr><td colspan=\"5\">{}</td></tr>", lang.t("none"));
    }
    b.push_str("</tbody></table></div></section>");
    shell(lang, Some(viewer), &b)
}

/// When a notice was posted, short: month, day and time on the clock
/// that posted it (as written when it does not read).
fn posted(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| t.format("%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// Reached of all households, with a bar (a `<progress>`: no script and
/// no inline style, which the pages' CSP refuses).
fn reach(n: &NoticeSummary) -> String {
    format!(
        "<td class=\"n\" data-col=\"reach\"><span data-col=\"reached\">{}</span>/<span data-col=\"households\">{}</span></td>\
         <td class=\"n\"><progress value=\"{}\" max=\"{}\"></progress> <span data-col=\"coverage\">{}%</span></td>",
        n.reached,
        n.households,
        n.reached.min(n.households),
        n.households.max(1),
        n.percent(),
    )
}

/// The notices of the last days: each one's reach, and the cells where
/// nobody is marked yet (the drill-down names their leads). The figures
/// come right after the title, so a phone shows them without scrolling.
fn notices_section(lang: Lang, day: &str, notices: &[NoticeSummary]) -> String {
    let mut b = format!(
        "<section id=\"notices-section\"><h2>{}</h2><div class=\"scroll\"><table id=\"notices\"><thead><tr>\
         <th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th>{}</th><th>{}</th>\
         </tr></thead><tbody>",
        lang.t("notices"),
        lang.t("notice"),
        lang.t("reached_of"),
        lang.t("coverage"),
        lang.t("unmarked_cells"),
        lang.t("posted"),
        lang.t("region"),
    );
    for n in notices {
        let unmarked_class = if n.unmarked_cells > 0 {
            "missing"
        } else {
            "ok"
        };
        let _ = write!(
            b,
            "<tr data-notice=\"{}\"><td><a href=\"/notice?id={}&amp;date={day}\">{}</a></td>{}\
             <td class=\"n {unmarked_class}\" data-col=\"unmarked_cells\">{}</td><td title=\"{}\">{}</td><td title=\"{}\">{}</td></tr>",
            esc(&n.notice_id),
            url(&n.notice_id),
            esc(&n.title),
            reach(n),
            n.unmarked_cells,
            esc(&n.at),
            esc(&posted(&n.at)),
            esc(&n.region),
            esc(last_part(&n.region)),
        );
    }
    if notices.is_empty() {
        let _ = write!(b, "<tr><td colspan=\"6\">{}</td></tr>", lang.t("none"));
    }
    b.push_str("</tbody></table></div></section>");
    b
}

/// One notice: its text, its reach, and every cell it went to with the
/// lead to call where nobody is marked yet.
pub fn notice(
    lang: Lang,
    viewer: &Viewer,
    day: NaiveDate,
    n: &Notice,
    summary: &NoticeSummary,
    cells: &[NoticeCell],
) -> String {
    let mut b = format!(
        "<section><h2>{} · {}</h2><p><a href=\"/?date={day}\">{}</a></p>\
         <p class=\"notice-text\">{}</p><p><small>{} {} · {} {} · {}</small></p>\
         <div class=\"scroll\"><table id=\"notice-total\"><thead><tr><th class=\"n\">{}</th><th class=\"n\">{}</th>\
         <th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr></thead><tbody><tr>{}{}{}{}{}</tr></tbody></table></div>",
        lang.t("notice"),
        esc(&n.title),
        lang.t("back"),
        esc(&n.text),
        lang.t("region"),
        esc(&n.region),
        lang.t("posted"),
        esc(&posted(&n.at)),
        esc(&n.from),
        lang.t("reached_of"),
        lang.t("coverage"),
        lang.t("read"),
        lang.t("relayed"),
        lang.t("cells"),
        lang.t("unmarked_cells"),
        reach(summary),
        num(summary.read, "read"),
        num(summary.relayed, "relayed"),
        num(summary.cells, "cells"),
        num(summary.unmarked_cells, "unmarked_cells"),
    );
    // Whom to call first, then the counts: on a phone the status, the
    // lead and the phone fit on the screen.
    let _ = write!(
        b,
        "<div class=\"scroll\"><table id=\"notice-cells\"><thead><tr><th>{}</th><th>{}</th><th class=\"n\">{}</th>\
         <th>{}</th><th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th>{}</th></tr></thead><tbody>",
        lang.t("cell"),
        lang.t("status"),
        lang.t("not_reached"),
        lang.t("lead"),
        lang.t("lead_phone"),
        lang.t("households"),
        lang.t("read"),
        lang.t("relayed"),
        lang.t("group"),
    );
    for c in cells {
        let r = &c.coverage;
        let reached = r.read + r.relayed;
        let (class, label) = if super::unmarked(r) {
            ("missing", lang.t("no_mark"))
        } else if reached >= r.households {
            ("ok", lang.t("all_reached"))
        } else {
            ("", lang.t("partly_reached"))
        };
        let path = c.cell.path.to_string();
        let _ = write!(
            b,
            "<tr data-cell=\"{}\"><td title=\"{}\">{}</td><td class=\"{class}\" data-col=\"status\">{label}</td>{}\
             <td>{}</td><td data-col=\"lead_phone\">{}</td>{}{}{}<td title=\"{}\">{}</td></tr>",
            esc(&c.cell.cell_id),
            esc(&path),
            esc(&c.cell.name),
            num((r.households - reached).max(0), "not_reached"),
            esc(c.cell.lead.as_deref().unwrap_or("")),
            esc(c.cell.lead_phone.as_deref().unwrap_or("")),
            num(r.households, "households"),
            num(r.read, "read"),
            num(r.relayed, "relayed"),
            esc(&path),
            esc(&path.split('/').skip(2).collect::<Vec<_>>().join("/")),
        );
    }
    if cells.is_empty() {
        let _ = write!(b, "<tr><td colspan=\"9\">{}</td></tr>", lang.t("none"));
    }
    b.push_str("</tbody></table></div></section>");
    shell(lang, Some(viewer), &b)
}

/// Tasks per list: each list's total, done and open, as `shown`.
fn lists_section(
    lang: Lang,
    lists: &[ListSummary],
    shown: &[[Shown; 3]],
    counts_only: bool,
) -> String {
    let mut b = format!(
        "<section><h2>{}</h2><div class=\"scroll\"><table id=\"lists\"><thead><tr><th>{}</th><th>{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th><th class=\"n\">{}</th></tr></thead><tbody>",
        lang.t("tasks"),
        lang.t("list"),
        lang.t("kind"),
        lang.t("total"),
        lang.t("done"),
        lang.t("open"),
        lang.t("completion"),
    );
    for (l, s) in lists.iter().zip(shown) {
        b.push_str(&list_row(lang, l, s, counts_only));
    }
    if lists.is_empty() {
        let _ = write!(b, "<tr><td colspan=\"6\">{}</td></tr>", lang.t("none"));
    }
    b.push_str("</tbody></table></div></section>");
    b
}

/// One list's counts (`shown`: total, done, open); for a login that sees
/// counts only, without the link to its tasks, withheld counts as `*`,
/// and no completion rate where the done or the total count is withheld
/// (the rate and the other would give it).
fn list_row(lang: Lang, l: &ListSummary, shown: &[Shown; 3], counts_only: bool) -> String {
    let [total, done, open] = *shown;
    let pct = match (done, total) {
        (Some(d), Some(t)) => format!("{}%", (d * 100).checked_div(t).unwrap_or(0)),
        _ => "—".into(),
    };
    let title = if counts_only {
        esc(&l.title)
    } else {
        format!(
            "<a href=\"/list?id={}\">{}</a>",
            url(&l.list_id),
            esc(&l.title)
        )
    };
    format!(
        "<tr data-list=\"{}\"><td>{title}</td><td>{}</td>{}{}{}{}</tr>",
        esc(&l.list_id),
        esc(&kind_label(lang, &l.kind)),
        num(count(total), "total"),
        num(count(done), "done"),
        num(count(open), "open"),
        num(pct, "completion"),
    )
}

fn kind_label(lang: Lang, kind: &str) -> String {
    match (lang, kind) {
        (Lang::Zh, "vaccination") => "疫苗接种".into(),
        (Lang::Zh, "test") => "核酸检测".into(),
        (Lang::Zh, "notice") => "通知".into(),
        (_, other) => other.into(),
    }
}

/// Reported and missing cells per day as bars (reported in green, missing
/// in red above it), with the day under every other bar; `shown` is each
/// day's reported and missing as the viewer may see them. A withheld count
/// is drawn grey at the threshold's height, 5 (its true height would give
/// it away), and titled `*`.
fn trend_svg(lang: Lang, days: &[TrendDay], shown: &[[Shown; 2]]) -> String {
    let (w, h, pad) = (560.0_f64, 160.0_f64, 20.0_f64);
    let threshold = silin_core::privacy::SMALL_COUNT_MAX + 1;
    // (height drawn, label, withheld)
    let bar_of = |n: Shown| match n {
        Some(n) => (n, n.to_string(), false),
        None => (
            threshold,
            esc(&silin_core::privacy::suppressed_label()),
            true,
        ),
    };
    let max = shown
        .iter()
        .map(|[r, m]| bar_of(*r).0 + bar_of(*m).0)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let n = days.len().max(1) as f64;
    let slot = (w - 2.0 * pad) / n;
    let bar = slot * 0.7;
    let mut s = format!(
        "<svg id=\"trend\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        lang.t("trend")
    );
    let base = h - pad;
    let scale = (h - 2.0 * pad) / max;
    let grey = "#8a96a3";
    for (i, (t, [r, m])) in days.iter().zip(shown).enumerate() {
        let d = &t.date;
        let (reported, reported_label, reported_hidden) = bar_of(*r);
        let (missing, missing_label, missing_hidden) = bar_of(*m);
        let x = pad + i as f64 * slot + (slot - bar) / 2.0;
        let rh = reported as f64 * scale;
        let mh = missing as f64 * scale;
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{rh:.1}\" fill=\"{}\"><title>{d} {}: {reported_label}</title></rect>",
            base - rh,
            if reported_hidden { grey } else { "#2e7d4f" },
            lang.t("reported"),
        );
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{mh:.1}\" fill=\"{}\"><title>{d} {}: {missing_label}</title></rect>",
            base - rh - mh,
            if missing_hidden { grey } else { "#c62828" },
            lang.t("missing"),
        );
        if i % 2 == 0 || i + 1 == days.len() {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + bar / 2.0,
                h - 6.0,
                d.format("%m-%d")
            );
        }
    }
    let _ = write!(
        s,
        "<line x1=\"{pad}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#8a96a3\"/></svg>",
        w - pad
    );
    s
}

pub fn cells(
    lang: Lang,
    viewer: &Viewer,
    path: &str,
    day: NaiveDate,
    cells: &[(MissingReport, bool)],
) -> String {
    let mut b = format!(
        "<section><h2>{} · {day}</h2><p><a href=\"/?date={day}\">{}</a></p><div class=\"scroll\"><table id=\"cells\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        esc(path),
        lang.t("back"),
        lang.t("cell"),
        lang.t("group"),
        lang.t("status"),
        lang.t("lead"),
        lang.t("lead_phone"),
    );
    for (c, reported) in cells {
        let (class, label) = if *reported {
            ("ok", lang.t("yes"))
        } else {
            ("missing", lang.t("no"))
        };
        let _ = write!(
            b,
            "<tr data-cell=\"{}\"><td>{}</td><td>{}</td><td class=\"{class}\" data-col=\"status\">{label}</td><td>{}</td><td data-col=\"lead_phone\">{}</td></tr>",
            esc(&c.cell_id),
            esc(&c.name),
            esc(last_part(&c.path.to_string())),
            esc(c.lead.as_deref().unwrap_or("")),
            esc(c.lead_phone.as_deref().unwrap_or("")),
        );
    }
    if cells.is_empty() {
        let _ = write!(b, "<tr><td colspan=\"5\">{}</td></tr>", lang.t("none"));
    }
    b.push_str("</tbody></table></div></section>");
    shell(lang, Some(viewer), &b)
}

/// The role whose masking rule a dashboard login follows. An analyst is
/// refused every page that shows a resident ID; were one shown, it would be
/// masked, as for the township office.
pub(crate) fn role_of(role: UserRole) -> Role {
    match role {
        UserRole::Office | UserRole::Analyst => Role::Office,
        UserRole::County => Role::County,
    }
}

pub fn list(lang: Lang, viewer: &Viewer, info: &ListInfo, tasks: &[TaskProgress]) -> String {
    let role = role_of(viewer.role);
    let mut b = format!(
        "<section><h2>{} · {}</h2><p><a href=\"/\">{}</a></p><div class=\"scroll\"><table id=\"tasks\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        esc(&info.title),
        esc(&info.file),
        lang.t("back"),
        lang.t("cell"),
        lang.t("name"),
        lang.t("resident_id"),
        lang.t("task"),
        lang.t("status"),
    );
    for t in tasks {
        let state = match t.state {
            TaskState::Done => lang.t("done"),
            TaskState::Open => lang.t("open"),
            TaskState::Cancelled => "—",
        };
        let _ = write!(
            b,
            "<tr><td>{} <small>{}</small></td><td>{}</td><td data-col=\"resident_id\">{}</td><td>{}</td><td>{state}</td></tr>",
            esc(&t.cell_name),
            esc(&t.path.to_string()),
            esc(t.member_name.as_deref().unwrap_or("")),
            esc(&t
                .resident_id
                .as_deref()
                .map(|id| shown_resident_id(id, role))
                .unwrap_or_default()),
            esc(&t.title),
        );
    }
    b.push_str("</tbody></table></div></section>");
    shell(lang, Some(viewer), &b)
}
