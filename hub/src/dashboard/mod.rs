//! The township office's dashboard, served by the hub at `/`: today's
//! zero-report status by village and group (drill down to the cells and the
//! lead's phone), how far each notice of the last week reached (households
//! reached of all, cells where no household is marked yet; drill down to
//! each cell's marks and lead), the people under home monitoring with the
//! days left, the open tasks of each imported list, when each device last
//! synced, and a 14-day trend — in Chinese by default, English on request,
//! readable on a phone, with every asset compiled into the binary (no CDN:
//! the office LAN has no internet).
//!
//! Behind an office login: a dashboard user's password (`silin hub user
//! add`, verified against its Argon2id hash), then a session cookie
//! (HttpOnly, SameSite=Strict, Secure when the hub serves TLS). Every POST
//! carries a CSRF token (the session's; before login, a double-submitted
//! cookie). Without a session only the login page is served: nothing
//! personal. Sessions live in this process's memory (a restart logs
//! everyone out).
//!
//! Everything shown is read through [`OfficeReads`]: the SQLite hub's
//! store, or the PostgreSQL hub's database (`silin hub serve --postgres`),
//! the same pages and figures from either.
//!
//! Resident IDs are shown as [`silin_core::privacy`] says for the user's
//! role: masked for the township office, in full for the county.
//!
//! An `analyst` login sees counts only: the overview's figures by village
//! and group, the 14-day trend and each list's done and open tasks (also
//! as JSON at `GET /overview.json`), every count from 1 to
//! [`silin_core::privacy::SMALL_COUNT_MAX`] withheld, and with it the
//! counts beside it that would give it by subtraction ([`counts`]; `*` on
//! the page, `null` and named in `suppressed` in the JSON); no person, cell, lead,
//! device or notice, and no link to them. The drill-downs answer an
//! analyst 403, and the refusal is written to the audit log
//! (`view_refused`).
//!
//! Every view that shows personal data in full — the overview's people
//! under monitoring with their phones, a drill-down's leads and phones (a
//! village's cells, a notice's cells), a list's people — is written to the audit log ([`crate::audit`], action
//! `view_full`, by the logged-in user, or by the signing device for
//! `GET /v1/dashboard`) before it is served; a view that could not be
//! logged is not served. A view that showed no one is not logged.

mod counts;
mod i18n;
mod page;

use crate::audit::{Action, Actor, NewEntry};
use crate::reads::{ListTasks, OfficeReads};
use crate::users::UserRole;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::NaiveDate;
use i18n::Lang;
use serde::{Deserialize, Serialize};
use silin_core::model::{parse_date, Level};
use silin_core::register::{Notice, NoticeCoverage};
use silin_core::store::MissingReport;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a login lasts without use.
const SESSION_IDLE: Duration = Duration::from_secs(8 * 3600);
/// Most sessions held at once; past it the oldest is dropped.
const MAX_SESSIONS: usize = 1000;
/// A device not synced for this many days is flagged (`?stale=N` changes it).
pub const STALE_DAYS: i64 = 3;
/// Days in the trend chart.
pub const TREND_DAYS: i64 = 14;
/// Days of notices the overview lists, ending on its day: a notice goes
/// out by chat in an afternoon, but the leads' marks of who heard it keep
/// coming in for days after. (The section's heading says 7, in i18n.rs.)
pub const NOTICE_DAYS: i64 = 7;

/// Wrong passwords for one name before its logins pause, and how long.
pub const MAX_FAILURES: u32 = 10;
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Password checks at once; more logins at the same moment are asked to
/// try again.
const MAX_CHECKS: usize = 4;
/// Most names whose failures are remembered.
const MAX_FAILURE_NAMES: usize = 10_000;

const SESSION_COOKIE: &str = "silin_session";
const LOGIN_COOKIE: &str = "silin_login";
const LANG_COOKIE: &str = "silin_lang";

/// What the dashboard reads: the hub's storage as the office reads it —
/// its SQLite [`silin_core::Store`] (an `Arc<Store>` is one) or its
/// PostgreSQL database ([`crate::pg::PgStorage`]) — logins and the audit
/// log included.
#[derive(Clone)]
pub struct DashboardSource {
    pub store: Arc<dyn OfficeReads>,
}

impl DashboardSource {
    /// The dashboard over `reads`.
    pub fn new(reads: Arc<dyn OfficeReads>) -> DashboardSource {
        DashboardSource { store: reads }
    }
}

impl std::fmt::Debug for DashboardSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardSource").finish_non_exhaustive()
    }
}

struct Session {
    user: String,
    role: UserRole,
    csrf: String,
    used: Instant,
}

struct Dashboard {
    source: DashboardSource,
    secure: bool,
    sessions: Mutex<HashMap<String, Session>>,
    /// Failed logins per name: (count, first failure of the window).
    failures: Mutex<HashMap<String, (u32, Instant)>>,
    /// Password checks (Argon2, deliberately slow) running at once.
    checking: Arc<tokio::sync::Semaphore>,
}

/// Who is logged in, for one request.
#[derive(Clone)]
pub(crate) struct Viewer {
    pub user: String,
    pub role: UserRole,
    pub csrf: String,
}

/// `GET /v1/dashboard?date=D&stale=N`: the overview as JSON, for programs
/// (mount it behind the hub's signed office reads). No route without a
/// source: a hub given none serves no dashboard.
pub fn api_router(source: Option<DashboardSource>) -> Router {
    let Some(source) = source else {
        return Router::new();
    };
    Router::new()
        .route("/v1/dashboard", get(api_overview))
        .with_state(source)
}

fn api_error(status: StatusCode, kind: &str, message: String) -> Response {
    (
        status,
        axum::Json(crate::api::ErrorBody {
            error: kind.into(),
            message,
        }),
    )
        .into_response()
}

async fn api_overview(
    State(source): State<DashboardSource>,
    headers: HeaderMap,
    Query(q): Query<IndexQuery>,
) -> Response {
    let day = match q.date.as_deref().filter(|d| !d.trim().is_empty()) {
        None => source.store.clock().today(),
        Some(d) => match parse_date("date", d) {
            Ok(d) => d,
            Err(e) => return api_error(StatusCode::BAD_REQUEST, "bad_request", e.to_string()),
        },
    };
    let stale = match q.stale.as_deref().map(str::parse::<i64>) {
        None => STALE_DAYS,
        Some(Ok(n)) if (1..=365).contains(&n) => n,
        Some(_) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "stale must be a number of days, 1 to 365".into(),
            )
        }
    };
    let actor = signed_reader(&headers);
    let read = move || {
        let o = overview(&source, day, stale, Reach::People)?;
        log_overview(&source, actor, &o)?;
        Ok::<_, String>(o)
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(o)) => no_store(axum::Json(o).into_response()),
        Ok(Err(e)) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store",
            format!("the hub could not read its store: {e}"),
        ),
        Err(_) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store",
            "reading the store failed".into(),
        ),
    }
}

/// Who read `GET /v1/dashboard`: the device whose certificate signed the
/// request (the hub's `office_reads` layer checked it before this runs),
/// else the hub machine itself (an unsigned read from a trusted address).
fn signed_reader(headers: &HeaderMap) -> Actor {
    headers
        .get(crate::api::CERTIFICATE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| hex::decode(h).ok())
        .and_then(|b| silin_core::identity::Certificate::decode(&b).ok())
        .map_or(Actor::Office, |c| Actor::device(&c.device_id, c.role))
}

/// Logs a view that showed personal data in full; `shown` is how many
/// people (or cells with a lead's phone) it showed, and nothing is logged
/// when that is none.
fn log_view(
    source: &DashboardSource,
    actor: Actor,
    target: String,
    shown: (&'static str, usize),
    detail: &[(&'static str, usize)],
) -> Result<(), String> {
    if shown.1 == 0 {
        return Ok(());
    }
    let mut entry = NewEntry::new(actor, Action::ViewFull, target).count(shown.0, shown.1);
    for (k, n) in detail {
        entry = entry.count(k, *n);
    }
    source.store.record(&entry).map_err(|e| {
        format!("the view could not be written to the audit log, so it is not shown: {e}")
    })
}

/// The overview shows the people under monitoring, with their phones.
fn log_overview(source: &DashboardSource, actor: Actor, o: &Overview) -> Result<(), String> {
    log_view(
        source,
        actor,
        format!("page=overview date={}", o.day),
        ("people", o.monitored.len()),
        &[(
            "phones",
            o.monitored.iter().filter(|m| m.phone.is_some()).count(),
        )],
    )
}

/// The dashboard's routes; none without a source (a hub given none
/// serves no dashboard). `tls` marks the cookies Secure.
pub fn router(source: Option<DashboardSource>, tls: bool) -> Router {
    let Some(source) = source else {
        return Router::new();
    };
    let dash = Arc::new(Dashboard {
        source,
        secure: tls,
        sessions: Mutex::new(HashMap::new()),
        failures: Mutex::new(HashMap::new()),
        checking: Arc::new(tokio::sync::Semaphore::new(MAX_CHECKS)),
    });
    Router::new()
        .route("/", get(index))
        .route("/cells", get(cells))
        .route("/list", get(list))
        .route("/notice", get(notice))
        .route("/overview.json", get(overview_json))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/lang", get(lang))
        .route("/assets/style.css", get(style))
        .with_state(dash)
}

fn random_token() -> String {
    use rand::{RngCore, SeedableRng};
    let mut b = [0u8; 32];
    rand::rngs::StdRng::from_os_rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn lang_of(headers: &HeaderMap) -> Lang {
    Lang::parse(cookie(headers, LANG_COOKIE))
}

/// Constant-time comparison of two tokens.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Dashboard {
    fn set_cookie(&self, name: &str, value: &str, max_age: Option<u64>, http_only: bool) -> String {
        let mut c = format!("{name}={value}; Path=/; SameSite=Strict");
        if http_only {
            c.push_str("; HttpOnly");
        }
        if self.secure {
            c.push_str("; Secure");
        }
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        c
    }

    fn viewer(&self, headers: &HeaderMap) -> Option<Viewer> {
        let token = cookie(headers, SESSION_COOKIE)?;
        let mut sessions = self.sessions.lock().ok()?;
        let now = Instant::now();
        sessions.retain(|_, s| now.duration_since(s.used) < SESSION_IDLE);
        let s = sessions.get_mut(token)?;
        s.used = now;
        Some(Viewer {
            user: s.user.clone(),
            role: s.role,
            csrf: s.csrf.clone(),
        })
    }

    /// Whether `name` failed [`MAX_FAILURES`] times within [`LOCKOUT`].
    fn locked(&self, name: &str) -> bool {
        let Ok(mut failures) = self.failures.lock() else {
            return true;
        };
        failures.retain(|_, (_, first)| first.elapsed() < LOCKOUT);
        failures.get(name).is_some_and(|(n, _)| *n >= MAX_FAILURES)
    }

    fn count_login(&self, name: &str, ok: bool) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if ok {
            failures.remove(name);
        } else if failures.len() < MAX_FAILURE_NAMES || failures.contains_key(name) {
            failures
                .entry(name.to_string())
                .or_insert((0, Instant::now()))
                .0 += 1;
        }
    }

    fn start_session(&self, user: String, role: UserRole) -> Option<String> {
        let token = random_token();
        let mut sessions = self.sessions.lock().ok()?;
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(
            token.clone(),
            Session {
                user,
                role,
                csrf: random_token(),
                used: Instant::now(),
            },
        );
        Some(token)
    }

    /// The login page, with a fresh login CSRF cookie.
    fn login_page(
        &self,
        lang: Lang,
        message: Option<&'static str>,
        status: StatusCode,
    ) -> Response {
        let csrf = random_token();
        let mut resp = (status, page::html(page::login(lang, &csrf, message))).into_response();
        if let Ok(v) = HeaderValue::from_str(&self.set_cookie(LOGIN_COOKIE, &csrf, None, true)) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        no_store(resp)
    }
}

/// Pages hold personal data: never cached.
fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut().insert(
        header::HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    resp.headers_mut().insert(
        header::HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    resp
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn failed(lang: Lang, what: String) -> Response {
    no_store(
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            page::html(page::message(lang, &what)),
        )
            .into_response(),
    )
}

fn bad_request(lang: Lang, what: String) -> Response {
    no_store(
        (
            StatusCode::BAD_REQUEST,
            page::html(page::message(lang, &what)),
        )
            .into_response(),
    )
}

/// Runs store reads off the async threads.
async fn read<T: Send + 'static>(
    lang: Lang,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(failed(
            lang,
            format!("the hub could not read its store: {e}"),
        )),
        Err(_) => Err(failed(lang, "reading the store failed".into())),
    }
}

/// `?date=`, else today on the hub's clock; a bad day is a page saying so.
fn day_param(
    store: &dyn OfficeReads,
    date: Option<&str>,
    lang: Lang,
) -> Result<NaiveDate, Box<Response>> {
    match date.filter(|d| !d.trim().is_empty()) {
        None => Ok(store.clock().today()),
        Some(d) => parse_date("date", d).map_err(|e| Box::new(bad_request(lang, e.to_string()))),
    }
}

/// What every page behind the login starts from.
struct PageStart {
    lang: Lang,
    source: DashboardSource,
    viewer: Viewer,
    /// `?date=`, else today on the hub's clock.
    day: NaiveDate,
}

impl Dashboard {
    /// The start every page behind the login shares, checked in this
    /// order: the logged-in viewer (else what `anonymous` answers: the
    /// login page on the overview, a redirect to it elsewhere), and the day
    /// from `date` (a bad day is a page saying so). A page without a day
    /// passes `None` and leaves `day` unused.
    fn start(
        &self,
        headers: &HeaderMap,
        date: Option<&str>,
        anonymous: impl FnOnce(Lang) -> Response,
    ) -> Result<PageStart, Box<Response>> {
        let lang = lang_of(headers);
        let Some(viewer) = self.viewer(headers) else {
            return Err(Box::new(anonymous(lang)));
        };
        let day = day_param(&*self.source.store, date, lang)?;
        Ok(PageStart {
            lang,
            source: self.source.clone(),
            viewer,
            day,
        })
    }
}

impl Dashboard {
    /// The start of a drill-down, a page that names people:
    /// [`Dashboard::start`] (without a login, a redirect to the overview),
    /// then the page's own parameter — `param` gives it with the audit
    /// target naming what was asked for, or the page answering a missing
    /// one — then the analyst's refusal: a login that sees counts only is
    /// answered 403 with a page saying so, and the refusal is written to
    /// the audit log (`view_refused`, by the login, at that target). A
    /// refusal that could not be logged is still a refusal.
    async fn drill_down<T>(
        &self,
        headers: &HeaderMap,
        date: Option<&str>,
        param: impl FnOnce(Lang, NaiveDate) -> Result<(T, String), Box<Response>>,
    ) -> Result<(PageStart, T), Box<Response>> {
        let start = self.start(headers, date, |_| redirect("/"))?;
        let (value, target) = param(start.lang, start.day)?;
        if !start.viewer.role.sees_counts_only() {
            return Ok((start, value));
        }
        let entry = NewEntry::new(
            Actor::User {
                name: start.viewer.user.clone(),
            },
            Action::ViewRefused,
            target,
        );
        let source = start.source.clone();
        let logged = tokio::task::spawn_blocking(move || source.store.record(&entry)).await;
        if !matches!(logged, Ok(Ok(()))) {
            tracing::warn!("a refused dashboard view could not be written to the audit log");
        }
        let lang = start.lang;
        Err(Box::new(no_store(
            (
                StatusCode::FORBIDDEN,
                page::html(page::message(lang, lang.t("counts_only_refused"))),
            )
                .into_response(),
        )))
    }
}

#[derive(Deserialize)]
struct IndexQuery {
    date: Option<String>,
    stale: Option<String>,
}

async fn index(
    State(dash): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Query(q): Query<IndexQuery>,
) -> Response {
    let start = dash.start(&headers, q.date.as_deref(), |lang| {
        dash.login_page(lang, None, StatusCode::OK)
    });
    let PageStart {
        lang,
        source,
        viewer,
        day,
    } = match start {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let stale = match q.stale.as_deref().map(str::parse::<i64>) {
        None => STALE_DAYS,
        Some(Ok(n)) if (1..=365).contains(&n) => n,
        Some(_) => return bad_request(lang, "stale must be a number of days, 1 to 365".into()),
    };
    let actor = Actor::User {
        name: viewer.user.clone(),
    };
    let reach = Reach::of(viewer.role);
    let data = read(lang, move || {
        let o = overview(&source, day, stale, reach)?;
        log_overview(&source, actor, &o)?;
        Ok(o)
    })
    .await;
    match data {
        Ok(o) => no_store(page::html(page::overview(lang, &viewer, &o)).into_response()),
        Err(r) => r,
    }
}

/// Everything the overview shows (and `GET /v1/dashboard` answers).
#[derive(Serialize)]
pub(crate) struct Overview {
    pub day: NaiveDate,
    pub villages: Vec<silin_core::rollup::RollupRow>,
    pub groups: Vec<silin_core::rollup::RollupRow>,
    pub monitored: Vec<silin_core::store::Monitored>,
    pub lists: Vec<ListSummary>,
    pub devices: Vec<Freshness>,
    /// Devices not synced for this many days are stale.
    pub stale: i64,
    pub trend: Vec<TrendDay>,
    /// The notices posted in the [`NOTICE_DAYS`] up to `day`, newest first.
    pub notices: Vec<NoticeSummary>,
}

/// How far one notice reached, over every cell it went to.
#[derive(Debug, Serialize)]
pub(crate) struct NoticeSummary {
    pub notice_id: String,
    pub title: String,
    /// The region it was sent to.
    pub region: String,
    pub from: String,
    /// When it was posted, RFC 3339 on the office's clock.
    pub at: String,
    pub cells: usize,
    /// Households in those cells.
    pub households: i64,
    pub read: i64,
    pub relayed: i64,
    /// Households marked read or relayed.
    pub reached: i64,
    /// Cells with households of which none is marked yet: the leads to call.
    pub unmarked_cells: usize,
}

impl NoticeSummary {
    fn of(n: &Notice, rows: &[NoticeCoverage]) -> NoticeSummary {
        let read = rows.iter().map(|r| r.read).sum();
        let relayed = rows.iter().map(|r| r.relayed).sum();
        NoticeSummary {
            notice_id: n.id.clone(),
            title: n.title.clone(),
            region: n.region.clone(),
            from: n.from.clone(),
            at: n.at.clone(),
            cells: rows.len(),
            households: rows.iter().map(|r| r.households).sum(),
            read,
            relayed,
            reached: read + relayed,
            unmarked_cells: rows.iter().filter(|r| unmarked(r)).count(),
        }
    }

    /// Reached households as a whole percentage of all (100 at most: a
    /// household marked and then removed from its cell still counts as
    /// reached).
    pub fn percent(&self) -> i64 {
        (self.reached * 100)
            .checked_div(self.households)
            .unwrap_or(0)
            .min(100)
    }
}

/// A cell that has households and no mark on any of them yet.
pub(crate) fn unmarked(r: &NoticeCoverage) -> bool {
    r.households > 0 && r.read + r.relayed == 0
}

/// The day a notice was posted, on the clock that posted it. The office's
/// store writes RFC 3339; a time that does not read is no day at all.
fn posted_on(n: &Notice) -> Option<NaiveDate> {
    chrono::DateTime::parse_from_rfc3339(&n.at)
        .ok()
        .map(|t| t.date_naive())
}

/// Every notice the hub holds, with its reach cell by cell
/// ([`OfficeReads::notices`]), oldest first.
fn notices_of(store: &dyn OfficeReads) -> Result<Vec<(Notice, Vec<NoticeCoverage>)>, String> {
    store.notices().map_err(|e| e.to_string())
}

/// The notices posted in the [`NOTICE_DAYS`] up to and including `day`,
/// newest first.
fn recent_notices(store: &dyn OfficeReads, day: NaiveDate) -> Result<Vec<NoticeSummary>, String> {
    let first = day - chrono::Duration::days(NOTICE_DAYS - 1);
    let mut out: Vec<NoticeSummary> = notices_of(store)?
        .iter()
        .filter(|(n, _)| posted_on(n).is_some_and(|d| first <= d && d <= day))
        .map(|(n, rows)| NoticeSummary::of(n, rows))
        .collect();
    out.reverse();
    Ok(out)
}

/// A device and the whole days since its last sync.
#[derive(Serialize)]
pub(crate) struct Freshness {
    #[serde(flatten)]
    pub peer: silin_core::store::PeerSeen,
    pub days_since: i64,
}

/// Reported and missing cells of one day.
#[derive(Serialize)]
pub(crate) struct TrendDay {
    pub date: NaiveDate,
    pub reported: i64,
    pub missing: i64,
}

#[derive(Serialize)]
pub(crate) struct ListSummary {
    pub list_id: String,
    pub kind: String,
    pub title: String,
    pub total: usize,
    pub done: usize,
    pub open: usize,
}

fn lists_of(source: &DashboardSource) -> Result<ListTasks, String> {
    source.store.lists().map_err(|e| e.to_string())
}

/// What an overview is read for: everything, or the counts only (an
/// analyst's: the people under monitoring, the devices and the notices
/// are not even read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    People,
    Counts,
}

impl Reach {
    fn of(role: UserRole) -> Reach {
        if role.sees_counts_only() {
            Reach::Counts
        } else {
            Reach::People
        }
    }
}

fn overview(
    source: &DashboardSource,
    day: NaiveDate,
    stale: i64,
    reach: Reach,
) -> Result<Overview, String> {
    use silin_core::store::TaskState;
    let store = &*source.store;
    let e = |e: silin_core::Error| e.to_string();
    let people = reach == Reach::People;
    let villages = store.rollup(day, Level::Village).map_err(e)?;
    let groups = store.rollup(day, Level::Group).map_err(e)?;
    let monitored = if people {
        store.monitored_on(day).map_err(e)?
    } else {
        Vec::new()
    };
    let mut lists = Vec::new();
    for (l, tasks) in lists_of(source)? {
        let progress = store.task_progress(&tasks).map_err(e)?;
        let count = |s: TaskState| progress.iter().filter(|p| p.state == s).count();
        lists.push(ListSummary {
            list_id: l.list_id,
            kind: l.kind,
            title: l.title,
            total: progress.len(),
            done: count(TaskState::Done),
            open: count(TaskState::Open),
        });
    }
    let now = store.clock().timestamp();
    let devices = if people {
        store
            .peers_seen()
            .map_err(e)?
            .into_iter()
            .map(|peer| Freshness {
                days_since: (now - peer.last_seen).max(0) / 86400,
                peer,
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut trend = Vec::new();
    for back in (0..TREND_DAYS).rev() {
        let d = day - chrono::Duration::days(back);
        let rows = store.rollup(d, Level::County).map_err(e)?;
        let (reported, missing) = rows
            .iter()
            .fold((0, 0), |(r, m), row| (r + row.reported, m + row.missing));
        trend.push(TrendDay {
            date: d,
            reported,
            missing,
        });
    }
    let notices = if people {
        recent_notices(store, day)?
    } else {
        Vec::new()
    };
    Ok(Overview {
        day,
        villages,
        groups,
        monitored,
        lists,
        devices,
        stale,
        trend,
        notices,
    })
}

#[derive(Deserialize)]
struct CellsQuery {
    path: Option<String>,
    date: Option<String>,
}

async fn cells(
    State(dash): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Query(q): Query<CellsQuery>,
) -> Response {
    let start = dash
        .drill_down(&headers, q.date.as_deref(), |lang, day| {
            let Some(path) = q.path.filter(|p| !p.trim().is_empty()) else {
                return Err(Box::new(bad_request(
                    lang,
                    "add ?path=REGION (a village or group path)".into(),
                )));
            };
            let target = format!("page=cells path={path} date={day}");
            Ok((path, target))
        })
        .await;
    let (
        PageStart {
            lang,
            source,
            viewer,
            day,
        },
        path,
    ) = match start {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let scope = vec![path.clone()];
    let actor = Actor::User {
        name: viewer.user.clone(),
    };
    let data = read(lang, move || {
        let store = &*source.store;
        let cells = store.cells_with_leads(&scope).map_err(|e| e.to_string())?;
        log_view(
            &source,
            actor,
            format!("page=cells path={} date={day}", scope.join(",")),
            (
                "leads",
                cells
                    .iter()
                    .filter(|c| c.lead.is_some() || c.lead_phone.is_some())
                    .count(),
            ),
            &[
                ("cells", cells.len()),
                (
                    "phones",
                    cells.iter().filter(|c| c.lead_phone.is_some()).count(),
                ),
            ],
        )?;
        let missing: std::collections::HashSet<String> = store
            .missing_reports(day)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|c| c.cell_id)
            .collect();
        Ok(cells
            .into_iter()
            .map(|c| {
                let reported = !missing.contains(&c.cell_id);
                (c, reported)
            })
            .collect::<Vec<_>>())
    })
    .await;
    match data {
        Ok(cells) => {
            no_store(page::html(page::cells(lang, &viewer, &path, day, &cells)).into_response())
        }
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct ListQuery {
    id: Option<String>,
}

async fn list(
    State(dash): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    // A list has no day.
    let start = dash
        .drill_down(&headers, None, |lang, _| {
            let Some(id) = q.id else {
                return Err(Box::new(bad_request(lang, "add ?id=LIST_ID".into())));
            };
            let target = format!("page=list list={id}");
            Ok((id, target))
        })
        .await;
    let (
        PageStart {
            lang,
            source,
            viewer,
            ..
        },
        id,
    ) = match start {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let actor = Actor::User {
        name: viewer.user.clone(),
    };
    let full_ids = silin_core::privacy::may_see_full_resident_id(page::role_of(viewer.role));
    let data = read(lang, move || {
        let Some((info, tasks)) = lists_of(&source)?
            .into_iter()
            .find(|(l, _)| l.list_id == id)
        else {
            return Ok(None);
        };
        let progress = source
            .store
            .task_progress(&tasks)
            .map_err(|e| e.to_string())?;
        let ids = progress.iter().filter(|t| t.resident_id.is_some()).count();
        log_view(
            &source,
            actor,
            format!("page=list list={}", info.list_id),
            (
                "people",
                progress.iter().filter(|t| t.member_name.is_some()).count(),
            ),
            &[
                ("tasks", progress.len()),
                ("ids_in_full", if full_ids { ids } else { 0 }),
            ],
        )?;
        Ok(Some((info, progress)))
    })
    .await;
    match data {
        Ok(Some((info, progress))) => {
            no_store(page::html(page::list(lang, &viewer, &info, &progress)).into_response())
        }
        Ok(None) => no_store(
            (
                StatusCode::NOT_FOUND,
                page::html(page::message(lang, "no such list on this hub")),
            )
                .into_response(),
        ),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct NoticeQuery {
    id: Option<String>,
    date: Option<String>,
}

/// One cell a notice went to: its reach there, and whom to call about it.
pub(crate) struct NoticeCell {
    pub cell: MissingReport,
    pub coverage: NoticeCoverage,
}

/// `GET /notice?id=NOTICE&date=D`: one notice's reach cell by cell, the
/// cells with no household marked first, each with its lead and phone
/// (logged as a view in full). `date` is the overview to go back to.
async fn notice(
    State(dash): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let start = dash
        .drill_down(&headers, q.date.as_deref(), |lang, _| {
            let Some(id) = q.id.filter(|i| !i.trim().is_empty()) else {
                return Err(Box::new(bad_request(lang, "add ?id=NOTICE_ID".into())));
            };
            let target = format!("page=notice notice={id}");
            Ok((id, target))
        })
        .await;
    let (
        PageStart {
            lang,
            source,
            viewer,
            day,
        },
        id,
    ) = match start {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let actor = Actor::User {
        name: viewer.user.clone(),
    };
    let data = read(lang, move || {
        let store = &*source.store;
        let Some((n, rows)) = notices_of(store)?.into_iter().find(|(n, _)| n.id == id) else {
            return Ok(None);
        };
        let mut leads: HashMap<String, MissingReport> = store
            .cells_with_leads(&[])
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|c| (c.cell_id.clone(), c))
            .collect();
        let summary = NoticeSummary::of(&n, &rows);
        let mut cells: Vec<NoticeCell> = rows
            .into_iter()
            .filter_map(|coverage| {
                Some(NoticeCell {
                    cell: leads.remove(&coverage.cell_id)?,
                    coverage,
                })
            })
            .collect();
        // Whom to call first: no mark at all, then the least reached.
        cells.sort_by(|a, b| {
            let key = |c: &NoticeCell| {
                let r = &c.coverage;
                (
                    !unmarked(r),
                    r.read + r.relayed - r.households,
                    c.cell.path.to_string(),
                    c.cell.name.clone(),
                )
            };
            key(a).cmp(&key(b))
        });
        log_view(
            &source,
            actor,
            format!("page=notice notice={}", n.id),
            (
                "leads",
                cells
                    .iter()
                    .filter(|c| c.cell.lead.is_some() || c.cell.lead_phone.is_some())
                    .count(),
            ),
            &[
                ("cells", cells.len()),
                (
                    "phones",
                    cells.iter().filter(|c| c.cell.lead_phone.is_some()).count(),
                ),
            ],
        )?;
        Ok(Some((n, summary, cells)))
    })
    .await;
    match data {
        Ok(Some((n, summary, cells))) => no_store(
            page::html(page::notice(lang, &viewer, day, &n, &summary, &cells)).into_response(),
        ),
        Ok(None) => no_store(
            (
                StatusCode::NOT_FOUND,
                page::html(page::message(lang, lang.t("no_notice"))),
            )
                .into_response(),
        ),
        Err(r) => r,
    }
}

/// A JSON object of `fields` and the named counts as the viewer may see
/// them ([`counts::ShownCounts`]): a number, or `null` for a withheld one,
/// whose name is then listed in the object's `suppressed` (empty when none
/// is).
fn counts_json(
    fields: serde_json::Map<String, serde_json::Value>,
    names: &[&'static str],
    shown: &[counts::Shown],
) -> serde_json::Value {
    let mut o = fields;
    let mut suppressed = Vec::new();
    for (name, v) in names.iter().zip(shown) {
        if v.is_none() {
            suppressed.push(*name);
        }
        o.insert((*name).into(), serde_json::json!(v));
    }
    o.insert("suppressed".into(), serde_json::json!(suppressed));
    serde_json::Value::Object(o)
}

fn rollup_json(r: &silin_core::rollup::RollupRow, shown: &[counts::Shown]) -> serde_json::Value {
    let mut fields = serde_json::Map::new();
    fields.insert("path".into(), r.path.clone().into());
    fields.insert("level".into(), r.level.clone().into());
    counts_json(fields, &counts::ROW_COLUMNS, shown)
}

/// The overview's counts (no person, cell, device or notice) as the
/// viewer's role may see them.
fn counts_of(o: &Overview, counts_only: bool) -> serde_json::Value {
    let shown = counts::ShownCounts::of(o, counts_only);
    serde_json::json!({
        "day": o.day,
        "counts_only": counts_only,
        "small_count_max": if counts_only { Some(silin_core::privacy::SMALL_COUNT_MAX) } else { None },
        "villages": o.villages.iter().zip(&shown.villages).map(|(r, s)| rollup_json(r, s)).collect::<Vec<_>>(),
        "groups": o.groups.iter().zip(&shown.groups).map(|(r, s)| rollup_json(r, s)).collect::<Vec<_>>(),
        "trend": o.trend.iter().zip(&shown.trend).map(|(t, s)| {
            let mut f = serde_json::Map::new();
            f.insert("date".into(), serde_json::json!(t.date));
            counts_json(f, &["reported", "missing"], s)
        }).collect::<Vec<_>>(),
        "lists": o.lists.iter().zip(&shown.lists).map(|(l, s)| {
            let mut f = serde_json::Map::new();
            f.insert("list_id".into(), l.list_id.clone().into());
            f.insert("kind".into(), l.kind.clone().into());
            f.insert("title".into(), l.title.clone().into());
            counts_json(f, &["total", "done", "open"], s)
        }).collect::<Vec<_>>(),
    })
}

/// `GET /overview.json?date=D`: the overview's counts for the logged-in
/// user — by village and group, the 14-day trend, each list's tasks —
/// exact for the office and the county; for an analyst, small ones
/// withheld and those that would give them away ([`counts`]). No person is in it, so it is not audited. Without a login:
/// 401.
async fn overview_json(
    State(dash): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Query(q): Query<IndexQuery>,
) -> Response {
    let start = dash.start(&headers, q.date.as_deref(), |_| {
        no_store(api_error(
            StatusCode::UNAUTHORIZED,
            "login",
            "log in to the dashboard first (POST /login)".into(),
        ))
    });
    let PageStart {
        source,
        viewer,
        day,
        ..
    } = match start {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let counts_only = viewer.role.sees_counts_only();
    match tokio::task::spawn_blocking(move || overview(&source, day, STALE_DAYS, Reach::Counts))
        .await
    {
        Ok(Ok(o)) => no_store(axum::Json(counts_of(&o, counts_only)).into_response()),
        Ok(Err(e)) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store",
            format!("the hub could not read its store: {e}"),
        ),
        Err(_) => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store",
            "reading the store failed".into(),
        ),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
    csrf: String,
}

async fn login(
    State(dash): State<Arc<Dashboard>>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = lang_of(&headers);
    let source = dash.source.clone();
    let Ok(Form(f)) = form else {
        return dash.login_page(lang, Some("login_expired"), StatusCode::BAD_REQUEST);
    };
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !same(expected, &f.csrf) {
        return dash.login_page(lang, Some("login_expired"), StatusCode::FORBIDDEN);
    }
    let name = f.name.trim().to_string();
    if dash.locked(&name) {
        return dash.login_page(lang, Some("login_locked"), StatusCode::TOO_MANY_REQUESTS);
    }
    let Ok(permit) = dash.checking.clone().try_acquire_owned() else {
        return dash.login_page(lang, Some("login_busy"), StatusCode::SERVICE_UNAVAILABLE);
    };
    let checked = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            source.store.verify_login(&name, &f.password)
        })
        .await
    };
    if let Ok(Ok(found)) = &checked {
        dash.count_login(&name, found.is_some());
    }
    match checked {
        Ok(Ok(Some(role))) => {
            let Some(token) = dash.start_session(name, role) else {
                return failed(lang, "the dashboard's sessions are unavailable".into());
            };
            let mut r = redirect("/");
            let cookies = [
                dash.set_cookie(SESSION_COOKIE, &token, None, true),
                dash.set_cookie(LOGIN_COOKIE, "", Some(0), true),
            ];
            for c in cookies {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    r.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            r
        }
        Ok(Ok(None)) => dash.login_page(lang, Some("login_failed"), StatusCode::UNAUTHORIZED),
        Ok(Err(e)) => failed(lang, format!("checking the login failed: {e}")),
        Err(_) => failed(lang, "checking the login failed".into()),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: String,
}

async fn logout(
    State(dash): State<Arc<Dashboard>>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let lang = lang_of(&headers);
    let Some(viewer) = dash.viewer(&headers) else {
        return redirect("/");
    };
    let Ok(Form(f)) = form else {
        return bad_request(
            lang,
            "the logout form is missing its token; reload the page".into(),
        );
    };
    if !same(&viewer.csrf, &f.csrf) {
        return no_store(
            (
                StatusCode::FORBIDDEN,
                page::html(page::message(
                    lang,
                    "the form's token does not match; reload the page",
                )),
            )
                .into_response(),
        );
    }
    if let (Some(token), Ok(mut sessions)) =
        (cookie(&headers, SESSION_COOKIE), dash.sessions.lock())
    {
        sessions.remove(token);
    }
    let mut r = redirect("/");
    if let Ok(v) = HeaderValue::from_str(&dash.set_cookie(SESSION_COOKIE, "", Some(0), true)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
struct LangQuery {
    to: Option<String>,
}

/// Switches the language (a preference cookie) and goes back to the
/// overview.
async fn lang(State(dash): State<Arc<Dashboard>>, Query(q): Query<LangQuery>) -> Response {
    let to = Lang::parse(q.to.as_deref());
    let mut r = redirect("/");
    if let Ok(v) =
        HeaderValue::from_str(&dash.set_cookie(LANG_COOKIE, to.code(), Some(365 * 86400), false))
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("style.css"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A dashboard over a new store in `dir`.
    fn dashboard(dir: &tempfile::TempDir, secure: bool) -> Dashboard {
        let store = silin_core::Store::open(dir.path().join("hub.db"), Default::default()).unwrap();
        Dashboard {
            source: DashboardSource::new(Arc::new(store)),
            secure,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            checking: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    fn request(addr: std::net::SocketAddr, head: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn cookies_are_http_only_same_site_strict_and_secure_over_tls() {
        let dir = tempfile::tempdir().unwrap();
        for tls in [false, true] {
            let dash = dashboard(&dir, tls);
            let c = dash.set_cookie(SESSION_COOKIE, "t", None, true);
            assert!(
                c.contains("HttpOnly") && c.contains("SameSite=Strict"),
                "{c}"
            );
            assert_eq!(c.contains("; Secure"), tls, "{c}");
        }
    }

    #[test]
    fn ten_wrong_passwords_pause_a_names_logins_and_a_right_one_clears_them() {
        let dir = tempfile::tempdir().unwrap();
        let dash = dashboard(&dir, false);
        for _ in 0..MAX_FAILURES - 1 {
            dash.count_login("clerk", false);
        }
        assert!(!dash.locked("clerk"));
        dash.count_login("clerk", true);
        for _ in 0..MAX_FAILURES {
            dash.count_login("clerk", false);
        }
        assert!(dash.locked("clerk"));
        assert!(!dash.locked("other"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hub_given_no_source_serves_no_dashboard() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = router(None, false).merge(api_router(None));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let answers = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for path in ["/", "/cells?path=x", "/list?id=x", "/v1/dashboard"] {
                out.push(request(
                    addr,
                    &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
                ));
            }
            out.push(request(
                addr,
                "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 31\r\n\r\ncsrf=a&name=clerk&password=abcd",
            ));
            out
        })
        .await
        .unwrap();
        for a in answers {
            assert!(a.starts_with("HTTP/1.1 404"), "{a}");
        }
    }
}
