//! `silin office import-list`: a feedback list from the county (who has not
//! had a dose, whose test is pending, whom a notice must reach) becomes
//! notification tasks in the cells of the members it names.
//!
//! The list is read by content, not by its name: XLSX (a zip, "PK"), or CSV
//! in UTF-8 (with or without a BOM) or else GB18030, as Chinese office
//! spreadsheets save it. Columns are found by their header (Chinese by
//! default; `--column FIELD=HEADER` names others). Each row is matched to
//! exactly one member: by resident ID, else name + phone, else name +
//! village; anything else is rejected with the reason, never guessed.
//!
//! Idempotent: the list's id is a SHA-256 of its kind and normalised rows
//! (so the same list saved as CSV or XLSX is one list), and each task's id
//! is derived from (list id, row key); a task already in the cell is not
//! added again. All or nothing: with any rejected row nothing is created
//! unless `--accept-partial`; either way every rejected row goes to a
//! report file.
//!
//! One transaction: every cell's tasks and the office's record of the list
//! (with its audit entry) are written together, or — when anything fails,
//! or the process is cut off — none of them; on a SQLite hub through
//! `Store::edit_cells_then`, on a PostgreSQL hub through
//! `PgStorage::edit_cells_then` ([`Hub`]).

use crate::output::CliError;
use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};
use silin_core::cell::CellDoc;
use silin_core::model::Household;
use silin_core::model::{check_phone, check_resident_id};
use silin_core::store::Store;
use silin_hub::lists::ListInfo;
use silin_hub::pg::PgStorage;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// What a list asks the leads to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Vaccination,
    Test,
    Notice,
}

impl Kind {
    pub fn parse(s: &str) -> Result<Kind, CliError> {
        match s {
            "vaccination" => Ok(Kind::Vaccination),
            "test" => Ok(Kind::Test),
            "notice" => Ok(Kind::Notice),
            other => Err(CliError::Usage(format!(
                "--kind {other:?} is not a list kind; use vaccination, test or notice"
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Vaccination => "vaccination",
            Kind::Test => "test",
            Kind::Notice => "notice",
        }
    }
}

/// A column the import reads, and the headers it is known by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Name,
    IdNumber,
    Phone,
    Village,
    Status,
    Due,
    Text,
}

impl Field {
    const ALL: [Field; 7] = [
        Field::Name,
        Field::IdNumber,
        Field::Phone,
        Field::Village,
        Field::Status,
        Field::Due,
        Field::Text,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::IdNumber => "id_number",
            Field::Phone => "phone",
            Field::Village => "village",
            Field::Status => "status",
            Field::Due => "due",
            Field::Text => "text",
        }
    }

    /// Headers recognised without `--column`, compared after trimming and
    /// lower-casing.
    fn defaults(self) -> &'static [&'static str] {
        match self {
            Field::Name => &["姓名", "名字", "name"],
            Field::IdNumber => &[
                "身份证号",
                "身份证号码",
                "公民身份号码",
                "身份证",
                "证件号码",
                "id_number",
            ],
            Field::Phone => &[
                "手机号",
                "手机号码",
                "联系电话",
                "电话",
                "手机",
                "联系方式",
                "phone",
            ],
            Field::Village => &[
                "村",
                "所在村",
                "村（社区）",
                "村(社区)",
                "村/社区",
                "village",
            ],
            Field::Status => &["状态", "接种状态", "检测状态", "情况", "说明", "status"],
            Field::Due => &["截止日期", "截止时间", "到期日期", "期限", "due"],
            Field::Text => &["通知内容", "内容", "事项", "text"],
        }
    }

    fn label(self) -> &'static str {
        self.defaults()[0]
    }
}

/// The command's arguments, as parsed by clap.
pub struct ImportArgs<'a> {
    pub file: &'a Path,
    pub kind: Kind,
    pub accept_partial: bool,
    pub report: Option<&'a Path>,
    /// `FIELD=HEADER` overrides.
    pub columns: &'a [String],
    /// Title of every task (a notice's text), instead of the kind's.
    pub title: Option<&'a str>,
    pub today: NaiveDate,
    pub now: chrono::DateTime<chrono::FixedOffset>,
    pub progress: bool,
}

#[derive(Debug, Serialize)]
pub struct Rejected {
    pub row: usize,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct ImportOutcome {
    pub list_id: String,
    pub rows: usize,
    pub matched: usize,
    pub tasks_created: usize,
    pub rejected: Vec<Rejected>,
    /// Where the report of rejected rows was written.
    pub report: String,
    /// False when rejected rows stopped the import (nothing created).
    pub imported: bool,
    /// The list as the office's register records it, and each matched
    /// row's task (row number, cell id, task id).
    #[serde(skip)]
    pub list: ListInfo,
    #[serde(skip)]
    pub tasks: Vec<(usize, String, String)>,
}

/// One row of the list: its number as the spreadsheet shows it, and its
/// cells.
struct Row {
    number: usize,
    cells: Vec<String>,
}

/// A list as read: the header row and the data rows after it.
struct Sheet {
    header: Vec<String>,
    rows: Vec<Row>,
}

/// The hub a list is imported into: its cells, read for matching, and the
/// one transaction that adds the tasks and records the list.
pub trait Hub {
    /// Every cell as (id, region path).
    fn cells(&self) -> Result<Vec<(String, String)>, CliError>;
    /// A cell's households with their members, and the ids of the tasks
    /// it holds: one read of the cell for matching and for knowing which
    /// of a list's tasks it has already.
    fn read(&self, cell: &str) -> Result<CellForList, CliError>;
    /// Runs `edit` on each of `cells` and records the list with its tasks
    /// (row number, cell id, task id) and its audit entry: all in one
    /// transaction, or nothing.
    fn write(
        &self,
        cells: &[String],
        edit: &mut dyn FnMut(&str, &mut CellDoc) -> silin_core::Result<()>,
        list: &ListInfo,
        tasks: &[(usize, String, String)],
    ) -> Result<(), CliError>;
}

/// What a list's import reads of a cell.
pub struct CellForList {
    pub households: Vec<Household>,
    pub tasks: HashSet<String>,
}

impl CellForList {
    fn of(d: &mut CellDoc) -> silin_core::Result<CellForList> {
        Ok(CellForList {
            households: d.households()?,
            tasks: d.tasks()?.into_iter().map(|t| t.id).collect(),
        })
    }
}

/// A SQLite hub: the store, with the register in its own tables
/// ([`silin_hub::lists`]).
pub struct SqliteHub<'a> {
    pub store: &'a Store,
}

impl Hub for SqliteHub<'_> {
    fn cells(&self) -> Result<Vec<(String, String)>, CliError> {
        Ok(self
            .store
            .cells(&[])?
            .into_iter()
            .map(|c| (c.id, c.path.to_string()))
            .collect())
    }

    fn read(&self, cell: &str) -> Result<CellForList, CliError> {
        Ok(self.store.with_doc(cell, CellForList::of)?)
    }

    fn write(
        &self,
        cells: &[String],
        edit: &mut dyn FnMut(&str, &mut CellDoc) -> silin_core::Result<()>,
        list: &ListInfo,
        tasks: &[(usize, String, String)],
    ) -> Result<(), CliError> {
        // Laid out only now: a refused list leaves the file as it was.
        silin_hub::lists::Lists::open(self.store).map_err(crate::users_error)?;
        self.store.edit_cells_then(cells, edit, |conn| {
            silin_hub::lists::record_in(conn, self.store.path(), list, tasks)
                .map_err(crate::users_error)
        })
    }
}

/// A PostgreSQL hub: the shared database, register in layout 4's tables.
pub struct PgHub<'a> {
    pub storage: &'a PgStorage,
}

impl Hub for PgHub<'_> {
    fn cells(&self) -> Result<Vec<(String, String)>, CliError> {
        Ok(self.storage.cell_paths()?)
    }

    fn read(&self, cell: &str) -> Result<CellForList, CliError> {
        Ok(self.storage.read_cell(cell, CellForList::of)?)
    }

    fn write(
        &self,
        cells: &[String],
        edit: &mut dyn FnMut(&str, &mut CellDoc) -> silin_core::Result<()>,
        list: &ListInfo,
        tasks: &[(usize, String, String)],
    ) -> Result<(), CliError> {
        self.storage.edit_cells_then(cells, edit, |tx| {
            silin_hub::pg::record_list(tx, list, tasks).map_err(|e| match e {
                silin_hub::pg::RecordError::BadTime(_) => CliError::Usage(e.to_string()),
                e => CliError::Io(std::io::Error::other(e.to_string())),
            })
        })
    }
}

/// Reads, matches, and (unless rows were rejected and partial imports are
/// not accepted) imports the list: its tasks and its record in `hub` in one
/// transaction.
pub fn import_list(hub: &dyn Hub, args: &ImportArgs) -> Result<ImportOutcome, CliError> {
    let overrides = parse_overrides(args.columns)?;
    let bytes = std::fs::read(args.file).map_err(|e| {
        CliError::Usage(format!("cannot read the list {}: {e}", args.file.display()))
    })?;
    let sheet = read_sheet(args.file, &bytes)?;
    let columns = find_columns(&sheet.header, &overrides, args.file)?;
    if args.kind == Kind::Notice && args.title.is_none() && !columns.contains_key(&Field::Text) {
        return Err(CliError::Usage(format!(
            "a notice list needs the notice's text: a {} column in {}, or --title TEXT",
            Field::Text.label(),
            args.file.display()
        )));
    }
    let list_id = list_id(args.kind, args.title, &sheet);
    let report_path = args
        .report
        .map(Path::to_path_buf)
        .unwrap_or_else(|| default_report_path(args.file));

    let bar = progress(args.progress, sheet.rows.len() as u64, "matching rows");
    let index = MemberIndex::build(hub)?;
    let mut rejected = Vec::new();
    let mut planned: Vec<Planned> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for row in &sheet.rows {
        if let Some(b) = &bar {
            b.inc(1);
        }
        let get = |f: Field| {
            columns
                .get(&f)
                .and_then(|&i| row.cells.get(i))
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
        };
        match plan_row(&index, args, &get) {
            Ok(mut p) => {
                p.row = row.number;
                if let Some(first) = seen.get(&p.member_id) {
                    rejected.push(Rejected {
                        row: row.number,
                        reason: format!(
                            "the same member as row {first}: a list names each person once"
                        ),
                    });
                    continue;
                }
                seen.insert(p.member_id.clone(), row.number);
                planned.push(p);
            }
            Err(reason) => rejected.push(Rejected {
                row: row.number,
                reason,
            }),
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    write_report(&report_path, &sheet, &rejected)?;
    let mut outcome = ImportOutcome {
        list_id: list_id.clone(),
        rows: sheet.rows.len(),
        matched: planned.len(),
        tasks_created: 0,
        rejected,
        report: report_path.display().to_string(),
        imported: false,
        list: ListInfo {
            list_id: list_id.clone(),
            kind: args.kind.as_str().to_string(),
            title: args
                .title
                .unwrap_or(match args.kind {
                    Kind::Vaccination => "接种提醒",
                    Kind::Test => "核酸检测提醒",
                    Kind::Notice => "通知",
                })
                .to_string(),
            file: args
                .file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            rows: sheet.rows.len() as i64,
            imported: args.now.to_rfc3339(),
        },
        tasks: planned
            .iter()
            .map(|p| (p.row, p.cell_id.clone(), task_id(&list_id, &p.row_key)))
            .collect(),
    };
    if !outcome.rejected.is_empty() && !args.accept_partial {
        return Ok(outcome);
    }

    // One transaction for the whole list: every cell's new tasks and the
    // office's record of the list (with its audit entry) land together, or
    // nothing does. Cells that already hold all their tasks (a list
    // imported again) are not touched.
    let mut by_cell: BTreeMap<&str, Vec<(String, &Planned)>> = BTreeMap::new();
    for p in &planned {
        by_cell
            .entry(p.cell_id.as_str())
            .or_default()
            .push((task_id(&list_id, &p.row_key), p));
    }
    let to_edit: Vec<String> = by_cell
        .iter()
        .filter(|(cell, tasks)| {
            let held = index.tasks.get(**cell);
            tasks
                .iter()
                .any(|(id, _)| !held.is_some_and(|h| h.contains(id)))
        })
        .map(|(cell, _)| cell.to_string())
        .collect();
    let bar = progress(args.progress, to_edit.len() as u64, "creating tasks");
    let mut created = 0;
    hub.write(
        &to_edit,
        &mut |cell, d| {
            for (id, p) in by_cell.get(cell).into_iter().flatten() {
                if d.task(id).is_ok() {
                    continue;
                }
                d.add_task(
                    id,
                    &p.title,
                    Some(&p.household_id),
                    Some(&p.member_id),
                    p.due,
                    args.now,
                )?;
                created += 1;
            }
            if let Some(b) = &bar {
                b.inc(1);
            }
            Ok(())
        },
        &outcome.list,
        &outcome.tasks,
    )?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    outcome.tasks_created = created;
    outcome.imported = true;
    Ok(outcome)
}

fn progress(on: bool, len: u64, what: &str) -> Option<indicatif::ProgressBar> {
    on.then(|| {
        let b = indicatif::ProgressBar::new(len);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
        {
            b.set_style(style);
        }
        b.set_message(what.to_string());
        b
    })
}

/// `<FILE>.rejected.csv`, beside the list.
pub fn default_report_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".rejected.csv");
    file.with_file_name(name)
}

fn parse_overrides(entries: &[String]) -> Result<Vec<(Field, String)>, CliError> {
    entries
        .iter()
        .map(|e| {
            let (field, header) = e.split_once('=').unwrap_or((e, ""));
            let field = Field::ALL
                .into_iter()
                .find(|f| f.as_str() == field.trim())
                .ok_or_else(|| {
                    CliError::Usage(format!(
                        "--column {e:?}: the field is one of {}; write it like name=户主姓名",
                        Field::ALL.map(Field::as_str).join(", ")
                    ))
                })?;
            if header.trim().is_empty() {
                return Err(CliError::Usage(format!(
                    "--column {e:?} names no header; write it like {}=户主姓名",
                    field.as_str()
                )));
            }
            Ok((field, header.trim().to_string()))
        })
        .collect()
}

fn norm_header(h: &str) -> String {
    h.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}' || c == '*')
        .to_lowercase()
}

/// The column of each field the header has.
fn find_columns(
    header: &[String],
    overrides: &[(Field, String)],
    file: &Path,
) -> Result<BTreeMap<Field, usize>, CliError> {
    let normed: Vec<String> = header.iter().map(|h| norm_header(h)).collect();
    let mut out = BTreeMap::new();
    for field in Field::ALL {
        let named: Vec<String> = match overrides.iter().find(|(f, _)| *f == field) {
            Some((_, h)) => vec![norm_header(h)],
            None => field.defaults().iter().map(|h| norm_header(h)).collect(),
        };
        let at = named
            .iter()
            .find_map(|n| normed.iter().position(|h| h == n));
        match at {
            Some(i) => {
                out.insert(field, i);
            }
            None if overrides.iter().any(|(f, _)| *f == field) => {
                return Err(CliError::Usage(format!(
                    "{} has no column headed {:?} (from --column); its headers are: {}",
                    file.display(),
                    named[0],
                    header.join(", ")
                )))
            }
            None => {}
        }
    }
    if !out.contains_key(&Field::Name) && !out.contains_key(&Field::IdNumber) {
        return Err(CliError::Usage(format!(
            "{} has neither a {} nor a {} column (its headers: {}); name them with --column name=HEADER or --column id_number=HEADER",
            file.display(),
            Field::Name.label(),
            Field::IdNumber.label(),
            header.join(", ")
        )));
    }
    Ok(out)
}

/// The list's rows, from XLSX or CSV by content.
fn read_sheet(file: &Path, bytes: &[u8]) -> Result<Sheet, CliError> {
    let grid = if bytes.starts_with(b"PK\x03\x04") {
        read_xlsx(file, bytes)?
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(CliError::Usage(format!(
            "{} is an old Excel (.xls) workbook; save it as .xlsx or as CSV and import that",
            file.display()
        )));
    } else {
        read_csv(file, bytes)?
    };
    // The header is the first row naming a name or resident ID column
    // (a title row above it, as office sheets often have, is skipped),
    // else the first non-empty row.
    let known: Vec<String> = [Field::Name, Field::IdNumber]
        .iter()
        .flat_map(|f| f.defaults().iter().map(|h| norm_header(h)))
        .collect();
    let non_empty = |r: &Row| r.cells.iter().any(|c| !c.trim().is_empty());
    let header_at = grid
        .iter()
        .take(20)
        .position(|r| r.cells.iter().any(|c| known.contains(&norm_header(c))))
        .or_else(|| grid.iter().position(non_empty))
        .ok_or_else(|| {
            CliError::Usage(format!("{} has no rows; nothing imported", file.display()))
        })?;
    let mut grid = grid.into_iter().skip(header_at);
    let header = grid.next().map(|r| r.cells).unwrap_or_default();
    let rows = grid.filter(non_empty).collect();
    Ok(Sheet { header, rows })
}

fn read_xlsx(file: &Path, bytes: &[u8]) -> Result<Vec<Row>, CliError> {
    use calamine::{Data, DataType, Reader, Xlsx};
    let bad = |e: &dyn std::fmt::Display| {
        CliError::Usage(format!(
            "{} is not a readable XLSX workbook ({e}); save it again as .xlsx or CSV",
            file.display()
        ))
    };
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).map_err(|e| bad(&e))?;
    let range = book
        .worksheet_range_at(0)
        .ok_or_else(|| bad(&"it has no worksheet"))?
        .map_err(|e| bad(&e))?;
    let first_row = range.start().map_or(0, |(r, _)| r as usize);
    let first_col = range.start().map_or(0, |(_, c)| c as usize);
    Ok(range
        .rows()
        .enumerate()
        .map(|(i, cells)| Row {
            number: first_row + i + 1,
            cells: std::iter::repeat_n(String::new(), first_col)
                .chain(cells.iter().map(|c| {
                    match c {
                        Data::Empty | Data::Error(_) => String::new(),
                        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
                        // Phone numbers and (short-lived) numeric IDs: whole
                        // numbers without a fraction or exponent.
                        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e18 => {
                            format!("{}", *f as i64)
                        }
                        Data::Float(f) => f.to_string(),
                        Data::Int(n) => n.to_string(),
                        Data::Bool(b) => b.to_string(),
                        Data::DateTime(_) => c
                            .as_date()
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| c.to_string()),
                    }
                }))
                .collect(),
        })
        .collect())
}

/// CSV text: UTF-8 (a BOM is dropped), UTF-16 with a BOM (Excel's
/// "Unicode text", tab-separated), else GB18030.
fn decode_text(file: &Path, bytes: &[u8]) -> Result<String, CliError> {
    if let Some((enc, bom)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = enc.decode_without_bom_handling(&bytes[bom..]);
        if !had_errors {
            return Ok(text.into_owned());
        }
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(s.to_string());
    }
    encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|s| s.into_owned())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{} is neither UTF-8 nor GB18030 text, nor an XLSX workbook; save it as CSV (UTF-8) or .xlsx",
                file.display()
            ))
        })
}

fn read_csv(file: &Path, bytes: &[u8]) -> Result<Vec<Row>, CliError> {
    let text = decode_text(file, bytes)?;
    let first_line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let delimiter = [b',', b'\t', b';']
        .into_iter()
        .max_by_key(|d| first_line.matches(*d as char).count())
        .filter(|d| first_line.contains(*d as char))
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            CliError::Usage(format!(
                "{} is not a well-formed CSV list ({e}); nothing imported",
                file.display()
            ))
        })?;
        rows.push(Row {
            number: record
                .position()
                .map_or(rows.len() + 1, |p| p.line() as usize),
            cells: record.iter().map(str::to_string).collect(),
        });
    }
    Ok(rows)
}

/// A SHA-256 of the kind, the title and the list's normalised rows (header
/// and cells, trimmed): one list, whatever file format or encoding it came in.
fn list_id(kind: Kind, title: Option<&str>, sheet: &Sheet) -> String {
    let mut h = Sha256::new();
    h.update(b"silin office list v1\0");
    h.update(kind.as_str().as_bytes());
    h.update(b"\0");
    h.update(title.unwrap_or("").trim().as_bytes());
    for row in std::iter::once(&sheet.header).chain(sheet.rows.iter().map(|r| &r.cells)) {
        h.update(b"\x1e");
        let cells: Vec<&str> = row.iter().map(|c| c.trim()).collect();
        let end = cells
            .iter()
            .rposition(|c| !c.is_empty())
            .map_or(0, |i| i + 1);
        for c in &cells[..end] {
            h.update(c.as_bytes());
            h.update(b"\x1f");
        }
    }
    hex(&h.finalize()[..16])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The task id of a list's row: a UUID (version 8, RFC 9562's custom
/// layout) from a SHA-256 of (list id, row key), so that importing the list
/// again names the same task.
pub fn task_id(list_id: &str, row_key: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"silin office task v1\0");
    h.update(list_id.as_bytes());
    h.update(b"\0");
    h.update(row_key.as_bytes());
    let digest = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// A matched row, ready to become a task.
struct Planned {
    /// The row's number in the list.
    row: usize,
    row_key: String,
    cell_id: String,
    household_id: String,
    member_id: String,
    title: String,
    due: Option<NaiveDate>,
}

/// One member as the matcher sees it.
struct Entry {
    cell_id: String,
    household_id: String,
    member_id: String,
    name: String,
    id_number: Option<String>,
    phones: Vec<String>,
    village: Option<String>,
}

/// Every member of the store, by resident ID and by name; and the tasks
/// each cell holds, read in the same pass.
struct MemberIndex {
    entries: Vec<Entry>,
    by_id: HashMap<String, Vec<usize>>,
    by_name: HashMap<String, Vec<usize>>,
    tasks: HashMap<String, HashSet<String>>,
}

impl MemberIndex {
    fn build(hub: &dyn Hub) -> Result<MemberIndex, CliError> {
        let mut entries = Vec::new();
        let mut tasks = HashMap::new();
        for (cell, path) in hub.cells()? {
            // The village is the third part of county/township/village/group.
            let village = path.split('/').nth(2).map(str::to_string);
            let read = hub.read(&cell)?;
            tasks.insert(cell.clone(), read.tasks);
            for h in read.households {
                for m in h.members {
                    let mut phones: Vec<String> = m.phone.iter().cloned().collect();
                    phones.extend(h.phone.iter().cloned());
                    entries.push(Entry {
                        cell_id: cell.clone(),
                        household_id: h.id.clone(),
                        member_id: m.id,
                        name: m.name.trim().to_string(),
                        id_number: m.id_number.map(|i| i.trim().to_ascii_uppercase()),
                        phones,
                        village: village.clone(),
                    });
                }
            }
        }
        let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            if let Some(id) = &e.id_number {
                by_id.entry(id.clone()).or_default().push(i);
            }
            by_name.entry(e.name.clone()).or_default().push(i);
        }
        Ok(MemberIndex {
            entries,
            by_id,
            by_name,
            tasks,
        })
    }
}

/// Which member a row names, and the task it becomes; or why not.
fn plan_row<'a>(
    index: &MemberIndex,
    args: &ImportArgs,
    get: &impl Fn(Field) -> Option<&'a str>,
) -> Result<Planned, String> {
    let name = get(Field::Name).map(|n| n.split_whitespace().collect::<String>());
    let id = get(Field::IdNumber)
        .map(|i| check_resident_id(i, args.today))
        .transpose()
        .map_err(|e| format!("bad resident ID: {}", e.rule))?;
    let phone = get(Field::Phone)
        .map(check_phone)
        .transpose()
        .map_err(|e| format!("bad phone number: {}", e.rule))?;
    let village = get(Field::Village).map(str::to_string);
    let due = get(Field::Due).map(parse_due).transpose()?;

    let (entry, row_key) = match_member(
        index,
        name.as_deref(),
        id.as_deref(),
        phone.as_deref(),
        village.as_deref(),
    )?;
    let shown = name.clone().unwrap_or_else(|| entry.name.clone());
    let status = get(Field::Status);
    let title = match args.kind {
        Kind::Notice => {
            let text = get(Field::Text)
                .or(args.title)
                .ok_or("the row has no notice text")?;
            format!("通知：{text}（{shown}）")
        }
        Kind::Vaccination => with_status(
            format!("{}：{shown}", args.title.unwrap_or("接种提醒")),
            status,
        ),
        Kind::Test => with_status(
            format!("{}：{shown}", args.title.unwrap_or("核酸检测提醒")),
            status,
        ),
    };
    Ok(Planned {
        row: 0,
        row_key,
        cell_id: entry.cell_id.clone(),
        household_id: entry.household_id.clone(),
        member_id: entry.member_id.clone(),
        title: clip(&title, 200),
        due,
    })
}

fn with_status(title: String, status: Option<&str>) -> String {
    match status {
        Some(s) => format!("{title}（{s}）"),
        None => title,
    }
}

/// At most `max` characters (a task title's limit).
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

fn parse_due(s: &str) -> Result<NaiveDate, String> {
    let s = s.trim();
    let s = s.split([' ', 'T']).next().unwrap_or(s);
    for f in ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Ok(d);
        }
    }
    Err(format!("due date {s:?} is not a date like 2026-12-01"))
}

/// The one member a row names, by resident ID, else name + phone, else
/// name + village; and the row's key (what makes it the same row in
/// another import of the list).
fn match_member<'i>(
    index: &'i MemberIndex,
    name: Option<&str>,
    id: Option<&str>,
    phone: Option<&str>,
    village: Option<&str>,
) -> Result<(&'i Entry, String), String> {
    let entries = &index.entries;
    if let Some(id) = id {
        let hits = index.by_id.get(id).map(Vec::as_slice).unwrap_or_default();
        match hits {
            [one] => {
                let e = &entries[*one];
                if let Some(n) = name.filter(|n| *n != e.name) {
                    return Err(format!(
                        "the member with this resident ID is named {}, not {n}: check the row",
                        e.name
                    ));
                }
                return Ok((e, format!("id:{id}")));
            }
            [] => {}
            many => {
                return Err(format!(
                    "{} members have this resident ID in the register: correct the register first",
                    many.len()
                ))
            }
        }
    }
    // Without a resident ID match, only members with no resident ID on
    // record may be matched by name: one whose recorded ID differs is
    // someone else.
    let key_of_row = |what: &str, v: &str| match (id, name) {
        (Some(id), _) => format!("id:{id}"),
        (None, Some(n)) => format!("{what}:{n}|{v}"),
        (None, None) => String::new(),
    };
    let Some(name) = name else {
        return Err(match id {
            Some(_) => "no member with this resident ID".into(),
            None => "the row has no name and no resident ID".into(),
        });
    };
    let named: Vec<&Entry> = index
        .by_name
        .get(name)
        .map(|v| v.iter().map(|&i| &entries[i]).collect())
        .unwrap_or_default();
    let candidates: Vec<&Entry> = named
        .iter()
        .copied()
        .filter(|e| id.is_none() || e.id_number.is_none())
        .collect();
    let no_id = if id.is_some() {
        "no member with this resident ID, and "
    } else {
        ""
    };
    if let Some(p) = phone {
        let hits: Vec<&Entry> = candidates
            .iter()
            .copied()
            .filter(|e| e.phones.iter().any(|q| q == p))
            .collect();
        match hits.as_slice() {
            [one] => return Ok((one, key_of_row("name-phone", p))),
            [] => {}
            many => {
                return Err(format!(
                    "{}{} members named {name} with this phone: add the resident ID",
                    no_id,
                    many.len()
                ))
            }
        }
    }
    if let Some(v) = village {
        let hits: Vec<&Entry> = candidates
            .iter()
            .copied()
            .filter(|e| e.village.as_deref() == Some(v))
            .collect();
        match hits.as_slice() {
            [one] => return Ok((one, key_of_row("name-village", v))),
            [] => {}
            many => {
                return Err(format!(
                    "{}{} members named {name} in {v}: add the resident ID",
                    no_id,
                    many.len()
                ))
            }
        }
    }
    Err(match (id, phone, village) {
        (Some(_), _, _) => "no member with this resident ID".into(),
        (None, None, None) if named.len() > 1 => format!(
            "{} members named {name} and no phone or village to tell them apart: add the resident ID",
            named.len()
        ),
        (None, None, None) => {
            format!("a name alone is not enough to find {name}: add the resident ID, phone or village")
        }
        (None, Some(_), None) => format!("no member named {name} with this phone"),
        (None, None, Some(v)) => format!("no member named {name} in {v}"),
        (None, Some(_), Some(v)) => {
            format!("no member named {name} with this phone or in {v}")
        }
    })
}

/// Writes every rejected row (its number, the reason, and its cells under
/// the list's own header) as CSV with a BOM, so a spreadsheet opens the
/// Chinese text right. Written even when empty, so an older report is
/// never mistaken for this import's.
fn write_report(path: &Path, sheet: &Sheet, rejected: &[Rejected]) -> Result<(), CliError> {
    let by_number: HashMap<usize, &Row> = sheet.rows.iter().map(|r| (r.number, r)).collect();
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(Vec::new());
    let io = |e: csv::Error| CliError::Io(std::io::Error::other(e.to_string()));
    let mut header = vec!["行号".to_string(), "原因".to_string()];
    header.extend(sheet.header.iter().cloned());
    w.write_record(&header).map_err(io)?;
    for r in rejected {
        let mut record = vec![r.row.to_string(), r.reason.clone()];
        if let Some(row) = by_number.get(&r.row) {
            record.extend(row.cells.iter().cloned());
        }
        w.write_record(&record).map_err(io)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| CliError::Io(std::io::Error::other(e.to_string())))?;
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend(body);
    crate::output::write_file_atomically(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_are_uuids_fixed_by_list_and_row() {
        let a = task_id("00ff", "id:11010519491231002X");
        assert_eq!(a, task_id("00ff", "id:11010519491231002X"));
        assert_ne!(a, task_id("00fe", "id:11010519491231002X"));
        assert_ne!(a, task_id("00ff", "name-phone:王芳|13800000000"));
        assert!(silin_core::model::check_id("task", &a).is_ok(), "{a}");
        assert_eq!(&a[14..15], "8");
    }

    #[test]
    fn gb18030_and_bom_csv_decode_to_the_same_text() {
        let text = "姓名,身份证号\n王芳,11010519491231002X\n";
        let (gb, _, _) = encoding_rs::GB18030.encode(text);
        let p = Path::new("x.csv");
        assert_eq!(decode_text(p, &gb).unwrap(), text);
        let mut bom = b"\xef\xbb\xbf".to_vec();
        bom.extend(text.as_bytes());
        assert_eq!(decode_text(p, &bom).unwrap(), text);
        assert!(decode_text(p, &[0xff, 0xff, 0x81, 0x20]).is_err());
    }

    #[test]
    fn due_dates_in_office_spellings() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        for s in [
            "2026-12-01",
            "2026/12/1",
            "2026年12月1日",
            "2026-12-01 00:00:00",
        ] {
            assert_eq!(parse_due(s).unwrap(), d, "{s}");
        }
        assert!(parse_due("next week").is_err());
    }
}
