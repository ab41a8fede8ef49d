//! `silin office export rollup|missing|tasks`: the township office's daily
//! sheets, as CSV (UTF-8 with a byte-order mark, so a spreadsheet program
//! opens the Chinese headers as such) or XLSX, with Chinese headers.
//!
//! - `rollup`: the day's zero-report rollup at one level, with the
//!   door-knock rounds, calls and errands of the day ([`silin_core::rollup`]).
//! - `missing`: the cells without the day's report, with the lead's name
//!   and phone to call.
//! - `tasks`: each imported feedback list's completion (tasks, done, open;
//!   tasks of no imported list — a lead's own, or every task on a device,
//!   which never holds the office's list register — as 其他任务), then one
//!   row per task with the member and their resident ID, masked unless the
//!   store's role may see it in full ([`silin_core::privacy`]).
//!
//! CSV and XLSX hold the same cells: a spreadsheet program converting the
//! XLSX to CSV gives the CSV back (a test checks it with LibreOffice).
//!
//! The sheets are read through [`OfficeReads`], so a SQLite hub's store and
//! a PostgreSQL hub's database ([`run_postgres`]) give the same sheet.

use crate::output::{CliError, Out};
use chrono::NaiveDate;
use silin_core::identity::Role;
use silin_core::model::Level;
use silin_core::privacy::shown_resident_id;
use silin_core::store::TaskState;
use silin_hub::lists::ListInfo;
use silin_hub::reads::OfficeReads;
use std::path::Path;

/// Which sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Rollup,
    Missing,
    Tasks,
}

impl What {
    pub fn parse(s: &str) -> Result<What, CliError> {
        match s {
            "rollup" => Ok(What::Rollup),
            "missing" => Ok(What::Missing),
            "tasks" => Ok(What::Tasks),
            other => Err(CliError::Usage(format!(
                "{other:?} is not an export; use rollup, missing or tasks"
            ))),
        }
    }

    /// The worksheet's name in the XLSX.
    fn sheet_name(self) -> &'static str {
        match self {
            What::Rollup => "零报告汇总",
            What::Missing => "未报告联户",
            What::Tasks => "任务完成情况",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, CliError> {
        match s {
            "csv" => Ok(Format::Csv),
            "xlsx" => Ok(Format::Xlsx),
            other => Err(CliError::Usage(format!(
                "--format {other:?} is not an export format; use csv or xlsx"
            ))),
        }
    }
}

/// One cell of a sheet.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Number(i64),
    Empty,
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<Option<String>> for Value {
    fn from(s: Option<String>) -> Value {
        s.map(Value::Text).unwrap_or(Value::Empty)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Number(n)
    }
}

/// A sheet: its lines in order (headers, data, blank separators) and how
/// many of them are data.
#[derive(Debug, Default)]
pub struct Sheet {
    pub lines: Vec<Line>,
    pub data_rows: usize,
}

#[derive(Debug)]
pub struct Line {
    pub values: Vec<Value>,
    pub header: bool,
}

impl Sheet {
    fn header(&mut self, names: &[&str]) {
        self.lines.push(Line {
            values: names.iter().map(|&n| n.into()).collect(),
            header: true,
        });
    }

    fn row(&mut self, values: Vec<Value>) {
        self.lines.push(Line {
            values,
            header: false,
        });
        self.data_rows += 1;
    }

    fn blank(&mut self) {
        self.lines.push(Line {
            values: Vec::new(),
            header: false,
        });
    }
}

/// What the export reads.
pub struct ExportArgs {
    pub what: What,
    pub date: NaiveDate,
    pub level: Level,
    /// The level as the clerk named it (village, building…).
    pub level_name: String,
    /// The role the resident IDs are shown for.
    pub role: Role,
}

/// Logs a written export in the hub's audit log, right after the file
/// was written (an export writes nothing to the store): by the office,
/// the sheet, day, level and format as its target, the rows and bytes
/// written and how many resident IDs it holds in full as its detail.
pub fn log(
    store: &dyn OfficeReads,
    args: &ExportArgs,
    format: Format,
    sheet: &Sheet,
    bytes: usize,
) -> Result<(), CliError> {
    use silin_hub::audit::{Action, Actor, NewEntry};
    let what = match args.what {
        What::Rollup => "rollup",
        What::Missing => "missing",
        What::Tasks => "tasks",
    };
    let format = match format {
        Format::Csv => "csv",
        Format::Xlsx => "xlsx",
    };
    let level = &args.level_name;
    let full_ids =
        args.what == What::Tasks && silin_core::privacy::may_see_full_resident_id(args.role);
    let entry = NewEntry::new(
        Actor::Office,
        Action::Export,
        format!(
            "sheet={what} date={} level={level} format={format}",
            args.date
        ),
    )
    .count("rows", sheet.data_rows)
    .count("bytes", bytes)
    .count("ids_in_full", if full_ids { sheet.data_rows } else { 0 });
    store.record(&entry).map_err(crate::audit::audit_error)
}

/// The sheet `args` asks for.
pub fn sheet(store: &dyn OfficeReads, args: &ExportArgs) -> Result<Sheet, CliError> {
    match args.what {
        What::Rollup => rollup(store, args),
        What::Missing => missing(store, args),
        What::Tasks => tasks(store, args),
    }
}

fn rollup(store: &dyn OfficeReads, args: &ExportArgs) -> Result<Sheet, CliError> {
    let mut s = Sheet::default();
    s.header(&[
        "日期",
        "地区",
        "联户数",
        "已报告",
        "未报告",
        "零报告",
        "新到达人数",
        "异常人数",
        "居家监测人数",
        "入户走访",
        "电话联系",
        "代办服务",
    ]);
    let date = args.date.to_string();
    for r in store.rollup(args.date, args.level)? {
        s.row(vec![
            date.as_str().into(),
            r.path.into(),
            r.cells.into(),
            r.reported.into(),
            r.missing.into(),
            r.zero.into(),
            r.arrivals.into(),
            r.abnormal.into(),
            r.under_monitoring.into(),
            r.door_knocks.into(),
            r.calls.into(),
            r.errands.into(),
        ]);
    }
    Ok(s)
}

fn missing(store: &dyn OfficeReads, args: &ExportArgs) -> Result<Sheet, CliError> {
    let mut s = Sheet::default();
    s.header(&[
        "日期",
        "地区",
        "联户名称",
        "联户长",
        "联户长电话",
        "联户编号",
    ]);
    let date = args.date.to_string();
    for m in store.missing_reports(args.date)? {
        s.row(vec![
            date.as_str().into(),
            m.path.to_string().into(),
            m.name.into(),
            m.lead.into(),
            m.lead_phone.into(),
            m.cell_id.into(),
        ]);
    }
    Ok(s)
}

fn kind_label(kind: &str) -> String {
    match kind {
        "vaccination" => "疫苗接种".into(),
        "test" => "核酸检测".into(),
        "notice" => "通知".into(),
        "other" => "其他".into(),
        other => other.into(),
    }
}

fn state_label(state: TaskState) -> &'static str {
    match state {
        TaskState::Open => "未完成",
        TaskState::Done => "已完成",
        TaskState::Cancelled => "已取消",
    }
}

fn closed_label(kind: &str) -> String {
    match kind {
        "door_knock" => "入户".into(),
        "call" => "电话".into(),
        "notify" => "通知".into(),
        other => other.into(),
    }
}

fn tasks(store: &dyn OfficeReads, args: &ExportArgs) -> Result<Sheet, CliError> {
    let mut per_list = Vec::new();
    let mut listed = std::collections::HashSet::new();
    for (list, ids) in store.lists().map_err(list_error)? {
        let progress = store.task_progress(&ids)?;
        listed.extend(ids);
        per_list.push((list, progress));
    }
    // Tasks of no list this store imported: a lead's errands, or (on a
    // device) every task, since the list register stays at the office.
    let others: Vec<(String, String)> = store
        .all_tasks()?
        .into_iter()
        .filter(|t| !listed.contains(t))
        .collect();
    if !others.is_empty() {
        per_list.push((
            ListInfo {
                list_id: String::new(),
                kind: "other".into(),
                title: "其他任务".into(),
                file: String::new(),
                rows: 0,
                imported: String::new(),
            },
            store.task_progress(&others)?,
        ));
    }
    let mut s = Sheet::default();
    s.header(&[
        "名单编号",
        "类型",
        "名单标题",
        "文件",
        "导入日期",
        "任务数",
        "已完成",
        "未完成",
        "已取消",
        "逾期未完成",
    ]);
    for (list, progress) in &per_list {
        let count = |st: TaskState| progress.iter().filter(|p| p.state == st).count() as i64;
        let overdue = progress
            .iter()
            .filter(|p| p.state == TaskState::Open && p.due.is_some_and(|d| d < args.date))
            .count() as i64;
        s.row(vec![
            list.list_id.as_str().into(),
            kind_label(&list.kind).into(),
            list.title.as_str().into(),
            list.file.as_str().into(),
            list.imported.get(..10).unwrap_or("").into(),
            (progress.len() as i64).into(),
            count(TaskState::Done).into(),
            count(TaskState::Open).into(),
            count(TaskState::Cancelled).into(),
            overdue.into(),
        ]);
    }
    s.blank();
    s.header(&[
        "名单编号",
        "地区",
        "联户名称",
        "任务",
        "姓名",
        "身份证号",
        "截止日期",
        "状态",
        "完成方式",
        "完成日期",
    ]);
    for (list, progress) in &per_list {
        for p in progress {
            let (how, when) = match &p.closed_by {
                Some((kind, at)) if p.state == TaskState::Done => (
                    Value::from(closed_label(kind)),
                    Value::from(at.get(..10).unwrap_or("")),
                ),
                _ => (Value::Empty, Value::Empty),
            };
            s.row(vec![
                list.list_id.as_str().into(),
                p.path.to_string().into(),
                p.cell_name.as_str().into(),
                p.title.as_str().into(),
                p.member_name.clone().into(),
                p.resident_id
                    .as_deref()
                    .map(|id| shown_resident_id(id, args.role))
                    .into(),
                p.due.map(|d| d.to_string()).into(),
                state_label(p.state).into(),
                how,
                when,
            ]);
        }
    }
    Ok(s)
}

/// Writes the sheet `args` asks for to `file` in `format` (whole or not at
/// all), logs it in the hub's audit log, and says how many rows and bytes
/// it wrote: `silin office export` on either hub.
pub fn write(
    out: &Out,
    store: &dyn OfficeReads,
    args: &ExportArgs,
    format: Format,
    file: &Path,
) -> Result<(), CliError> {
    let sheet = sheet(store, args)?;
    let bytes = match format {
        Format::Csv => to_csv(&sheet),
        Format::Xlsx => to_xlsx(&sheet, args.what)?,
    };
    crate::output::write_file_atomically(file, &bytes)?;
    log(store, args, format, &sheet, bytes.len())?;
    out.print(
        &serde_json::json!({ "rows": sheet.data_rows, "bytes": bytes.len() }),
        || {
            format!(
                "wrote {} rows ({} bytes) to {}",
                sheet.data_rows,
                bytes.len(),
                file.display()
            )
        },
    )
}

/// `silin office export WHAT --postgres URL`: [`write`] from a PostgreSQL
/// hub's database. The export is the hub machine's office's, as on a
/// SQLite hub's own store: resident IDs as the township office sees them,
/// logged by the office. `level` is read with the database's level names.
pub fn run_postgres(
    out: &Out,
    url: &str,
    what: What,
    date: NaiveDate,
    level: &str,
    format: Format,
    file: &Path,
) -> Result<(), CliError> {
    let storage = crate::pg::open(url, 1)?;
    let level_name = level.trim().to_string();
    let level = OfficeReads::hierarchy(&storage)?.level(level)?;
    let args = ExportArgs {
        what,
        date,
        level,
        level_name,
        role: Role::Office,
    };
    write(out, &storage, &args, format, file)
}

fn list_error(e: silin_hub::users::UserError) -> CliError {
    CliError::Io(std::io::Error::other(format!(
        "reading the office's list register: {e}"
    )))
}

/// The sheet as CSV: a UTF-8 byte-order mark, then RFC 4180 lines (CRLF,
/// fields quoted when they hold a comma, a quote or a line break).
pub fn to_csv(sheet: &Sheet) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    for line in &sheet.lines {
        let fields: Vec<String> = line
            .values
            .iter()
            .map(|v| match v {
                Value::Text(t) => csv_field(t),
                Value::Number(n) => n.to_string(),
                Value::Empty => String::new(),
            })
            .collect();
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    }
    out.into_bytes()
}

fn csv_field(t: &str) -> String {
    if t.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", t.replace('"', "\"\""))
    } else {
        t.to_string()
    }
}

/// The sheet as an XLSX workbook of one worksheet: text as text (IDs and
/// phone numbers keep every digit), counts as numbers, headers bold.
pub fn to_xlsx(sheet: &Sheet, what: What) -> Result<Vec<u8>, CliError> {
    use rust_xlsxwriter::{Format as CellFormat, Workbook};
    let fail = |e: rust_xlsxwriter::XlsxError| {
        CliError::Io(std::io::Error::other(format!("writing the XLSX: {e}")))
    };
    let mut book = Workbook::new();
    let bold = CellFormat::new().set_bold();
    let ws = book.add_worksheet();
    ws.set_name(what.sheet_name()).map_err(fail)?;
    for (r, line) in sheet.lines.iter().enumerate() {
        let r = u32::try_from(r).map_err(|_| {
            CliError::Usage("the export has more rows than a worksheet holds".into())
        })?;
        for (c, v) in line.values.iter().enumerate() {
            // Sheets here have a dozen columns at most.
            let c = c as u16;
            match (v, line.header) {
                (Value::Text(t), true) => {
                    ws.write_string_with_format(r, c, t, &bold).map_err(fail)?;
                }
                (Value::Text(t), false) => {
                    ws.write_string(r, c, t).map_err(fail)?;
                }
                (Value::Number(n), _) => {
                    ws.write_number(r, c, *n as f64).map_err(fail)?;
                }
                (Value::Empty, _) => {}
            }
        }
    }
    ws.autofit();
    book.save_to_buffer().map_err(fail)
}
