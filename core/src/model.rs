//! Domain types of a cell register and the rules their fields obey.
//!
//! Everything that enters a cell document passes through a constructor or
//! parser here first, so a bad value is refused with a [`ValidationError`]
//! naming the field and the rule before anything is written.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A value that broke a field's rule. `field` is the name the user typed or
/// the API parameter; `rule` says what a valid value looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {rule}")]
pub struct ValidationError {
    pub field: String,
    pub rule: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

pub type VResult<T> = Result<T, ValidationError>;

/// Lowest and highest body temperature (°C) a thermometer reading may have;
/// outside this range the reading is a typo, not a fever.
pub const TEMPERATURE_MIN: f64 = 34.0;
pub const TEMPERATURE_MAX: f64 = 43.0;
/// Temperature at or above which a health check counts as abnormal.
pub const FEVER_THRESHOLD: f64 = 37.3;
/// Fewest and most parts a region path may have: a county and township at
/// least; at most county/township/community/compound/building/unit. How
/// deep a branch's cells sit is data ([`crate::region::Hierarchy`]): four
/// in the countryside (county/township/village/group).
pub const MIN_REGION_DEPTH: usize = 2;
pub const MAX_REGION_DEPTH: usize = 6;

/// First two digits of a resident ID number: the province-level region
/// (GB/T 2260) where it was issued. 71 (Taiwan), 81 and 82 (Hong Kong,
/// Macao) appear on residence permits.
pub const PROVINCE_CODES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

/// Checks an 18-character resident ID number: 17 digits, a province code
/// in the first two, a real birth date in positions 7–14 that is not in
/// the future, and a check character computed with ISO 7064 MOD 11-2 ('X'
/// stands for 10; a lowercase 'x' is taken as 'X'). The parts are checked
/// in that order so the message names the part that is wrong: a mistyped
/// birth date also breaks the check character, and the date is the more
/// useful thing to say.
pub fn check_resident_id(id: &str, today: NaiveDate) -> VResult<String> {
    let field = "id_number";
    let id = id.trim().to_ascii_uppercase();
    if id.len() != 18 || !id.is_ascii() {
        return Err(ValidationError::new(
            field,
            "a resident ID number has 18 characters (17 digits and a check digit or X)",
        ));
    }
    let bytes = id.as_bytes();
    if !bytes[..17].iter().all(u8::is_ascii_digit) {
        return Err(ValidationError::new(
            field,
            "the first 17 characters of a resident ID number are digits",
        ));
    }
    let province = (bytes[0] - b'0') * 10 + (bytes[1] - b'0');
    if !PROVINCE_CODES.contains(&province) {
        return Err(ValidationError::new(
            field,
            format!(
                "digits 1–2 ({}) are not a province code (11–82); re-read the number from the card",
                &id[..2]
            ),
        ));
    }
    let birth = parse_compact_date(&id[6..14]).map_err(|why| {
        ValidationError::new(
            field,
            format!(
                "digits 7–14 ({}) must be a real birth date (YYYYMMDD): {why}",
                &id[6..14]
            ),
        )
    })?;
    if birth > today || birth.year() < 1880 {
        return Err(ValidationError::new(
            field,
            "the birth date in digits 7–14 is in the future or before 1880",
        ));
    }
    let expected = resident_id_check_char(&id[..17]);
    if bytes[17] as char != expected {
        return Err(ValidationError::new(
            field,
            format!("check digit is wrong (expected {expected}); re-read the number from the card"),
        ));
    }
    Ok(id)
}

/// A YYYYMMDD date, or what is wrong with it.
fn parse_compact_date(s: &str) -> Result<NaiveDate, String> {
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|d| d.parse::<u32>().ok());
    match (num(0..4), num(4..6), num(6..8)) {
        (Some(y), Some(m), Some(d)) if s.len() == 8 => calendar_date(y as i32, m, d),
        _ => Err("it is not 8 digits".into()),
    }
}

/// The date `year-month-day`, or a sentence naming what does not exist
/// ("there is no month 13", "February has 28 days in 2026").
fn calendar_date(year: i32, month: u32, day: u32) -> Result<NaiveDate, String> {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    if !(1..=12).contains(&month) {
        return Err(format!("there is no month {month}; months run 01–12"));
    }
    if day == 0 {
        return Err("there is no day 0; days start at 01".into());
    }
    let first = NaiveDate::from_ymd_opt(year, month, 1)
        .ok_or_else(|| format!("the year {year} is out of range"))?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    let days = next.map_or(31, |n| (n - first).num_days() as u32);
    match first.with_day(day) {
        Some(d) => Ok(d),
        None => {
            let name = MONTHS[month as usize - 1];
            // Only February's length depends on the year.
            Err(if month == 2 {
                format!("{name} has {days} days in {year}")
            } else {
                format!("{name} has {days} days")
            })
        }
    }
}

/// The ISO 7064 MOD 11-2 check character for the first 17 digits of a
/// resident ID number. `body` must be 17 ASCII digits.
pub fn resident_id_check_char(body: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b.wrapping_sub(b'0')) * w)
        .sum();
    CHECK[(sum % 11) as usize]
}

/// Checks an 11-digit mainland mobile number (starts with 1, second digit 3–9).
pub fn check_phone(phone: &str) -> VResult<String> {
    let p: String = phone.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let ok = p.len() == 11
        && p.bytes().all(|b| b.is_ascii_digit())
        && p.starts_with('1')
        && matches!(p.as_bytes()[1], b'3'..=b'9');
    if ok {
        Ok(p)
    } else {
        Err(ValidationError::new(
            "phone",
            "a mobile number has 11 digits and starts with 13–19",
        ))
    }
}

pub fn check_temperature(t: f64) -> VResult<f64> {
    if t.is_finite() && (TEMPERATURE_MIN..=TEMPERATURE_MAX).contains(&t) {
        Ok((t * 10.0).round() / 10.0)
    } else {
        Err(ValidationError::new(
            "temperature",
            format!("a body temperature is between {TEMPERATURE_MIN} and {TEMPERATURE_MAX} °C"),
        ))
    }
}

pub fn check_birth_year(year: i64, today: NaiveDate) -> VResult<i64> {
    if (1880..=i64::from(today.year())).contains(&year) {
        Ok(year)
    } else {
        Err(ValidationError::new(
            "birth_year",
            format!("a birth year is between 1880 and {}", today.year()),
        ))
    }
}

/// A date written YYYY-MM-DD. A date that does not exist is refused with
/// what is wrong with it, not only the format.
pub fn parse_date(field: &str, s: &str) -> VResult<NaiveDate> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d);
    }
    let parts: Vec<&str> = s.split('-').collect();
    let numbers: Option<Vec<u32>> = match parts.as_slice() {
        [y, m, d]
            if y.len() == 4
                && (1..=2).contains(&m.len())
                && (1..=2).contains(&d.len())
                && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            parts.iter().map(|p| p.parse().ok()).collect()
        }
        _ => None,
    };
    let why = match numbers.as_deref() {
        Some(&[y, m, d]) => match calendar_date(y as i32, m, d) {
            // Parsed after all (e.g. a form chrono did not take).
            Ok(date) => return Ok(date),
            Err(why) => format!("{s} is not a date: {why}"),
        },
        _ => "a date is written YYYY-MM-DD".to_string(),
    };
    Err(ValidationError::new(field, why))
}

pub fn check_count(field: &str, n: i64) -> VResult<i64> {
    if (0..=100_000).contains(&n) {
        Ok(n)
    } else {
        Err(ValidationError::new(
            field,
            "a count is between 0 and 100000",
        ))
    }
}

/// Free text (names, notes, addresses): trimmed, bounded, no control characters.
pub fn check_text(field: &str, s: &str, max_chars: usize, required: bool) -> VResult<String> {
    let t = s.trim();
    if required && t.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if t.chars().count() > max_chars {
        return Err(ValidationError::new(
            field,
            format!("at most {max_chars} characters"),
        ));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(t.to_string())
}

/// One part of a region path, in its one spelling: NFC (so that a composed
/// and a decomposed, or a compatibility and a unified, form of a name are
/// the same region), without control or invisible formatting characters,
/// and without characters that look like the `/` separator. Scope and
/// rollups compare paths as strings, so two spellings of one village would
/// be two villages.
pub fn region_part(p: &str) -> VResult<String> {
    use unicode_normalization::UnicodeNormalization;
    let p = check_text("path", p, 64, true)?;
    if let Some(c) = p.chars().find(|c| is_invisible(*c) || is_slash_like(*c)) {
        return Err(ValidationError::new(
            "path",
            format!(
                "region names must not contain U+{:04X} (invisible, or looks like the / between parts); type the name plainly",
                c as u32
            ),
        ));
    }
    Ok(p.nfc().collect())
}

/// Characters that render as nothing or reorder text: a name holding one
/// looks the same as a name without it.
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180E
            | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
            | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB | 0xE0000..=0xE0FFF)
}

fn is_slash_like(c: char) -> bool {
    matches!(
        c,
        '\\' | '\u{2044}'
            | '\u{2215}'
            | '\u{2571}'
            | '\u{29F8}'
            | '\u{FF0F}'
            | '\u{FF3C}'
            | '\u{3033}'
    )
}

/// A cell's place in the hierarchy above it: county/township/village/group
/// in the countryside, county/township/community/building/unit in the
/// county seat. How many levels a branch has and what they are called is
/// data ([`crate::region::Hierarchy`]); a path only knows its parts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RegionPath(Vec<String>);

impl RegionPath {
    pub fn parse(s: &str) -> VResult<RegionPath> {
        let parts: Vec<String> = s.trim().split('/').map(|p| p.trim().to_string()).collect();
        if !(MIN_REGION_DEPTH..=MAX_REGION_DEPTH).contains(&parts.len())
            || parts.iter().any(String::is_empty)
        {
            return Err(ValidationError::new(
                "path",
                format!(
                    "a region path has {MIN_REGION_DEPTH} to {MAX_REGION_DEPTH} non-empty parts, county first: county/township/village/group, or county/township/community/building/unit"
                ),
            ));
        }
        let parts = parts
            .iter()
            .map(|p| region_part(p))
            .collect::<VResult<Vec<String>>>()?;
        Ok(RegionPath(parts))
    }

    pub fn from_parts(parts: Vec<String>) -> VResult<RegionPath> {
        RegionPath::parse(&parts.join("/"))
    }

    pub fn parts(&self) -> &[String] {
        &self.0
    }

    pub fn depth(&self) -> usize {
        self.0.len()
    }

    /// The path cut to `level`; a path shorter than that is whole, so a
    /// cell always rolls up somewhere.
    pub fn prefix(&self, level: Level) -> String {
        self.0[..level.depth().min(self.0.len())].join("/")
    }
}

impl fmt::Display for RegionPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

/// A rollup level above the cell: a depth in the hierarchy (1 = county).
/// Its name depends on the branch ([`crate::region::Hierarchy`]): depth 3
/// is a village in the countryside and a community in the county seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Level(u8);

// Named like the variants they replaced: the levels every branch shares.
#[allow(non_upper_case_globals)]
impl Level {
    pub const County: Level = Level(1);
    pub const Township: Level = Level(2);
    pub const Village: Level = Level(3);
    pub const Group: Level = Level(4);
    /// The countryside's levels, county first.
    pub const ALL: [Level; 4] = [Level::County, Level::Township, Level::Village, Level::Group];

    /// The level at `depth` (1 = county), if a path can be that deep.
    pub fn at(depth: usize) -> Option<Level> {
        (1..=MAX_REGION_DEPTH)
            .contains(&depth)
            .then_some(Level(depth as u8))
    }

    pub fn depth(self) -> usize {
        usize::from(self.0)
    }
}

impl TryFrom<u8> for Level {
    type Error = String;
    fn try_from(d: u8) -> Result<Level, String> {
        Level::at(usize::from(d)).ok_or_else(|| format!("a level is 1 to {MAX_REGION_DEPTH}"))
    }
}

impl From<Level> for u8 {
    fn from(l: Level) -> u8 {
        l.0
    }
}

/// Declares a closed set of string-valued choices, with parsing that names
/// the allowed values on failure.
macro_rules! choice {
    ($(#[$m:meta])* $name:ident, $field:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The values as typed, in the order of [`Self::ALL`].
            pub const NAMES: &'static [&'static str] = &[$($text),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> VResult<Self> {
                match s.trim() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ValidationError::new(
                        $field,
                        format!("one of {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use choice;

choice!(
    /// Kinds of contact a lead or grid worker logs.
    VisitKind, "kind" {
        DoorKnock => "door_knock",
        HealthCheck => "health_check",
        Call => "call",
        Errand => "errand",
        Notify => "notify",
    }
);

choice!(Residence, "residence" {
    Resident => "resident",
    Away => "away",
    Returned => "returned",
    // Not a resident: someone staying with the household after arriving.
    Visitor => "visitor",
});

choice!(Sex, "sex" {
    Male => "male",
    Female => "female",
    Unknown => "unknown",
});

choice!(TestResult, "test_result" {
    Negative => "negative",
    Positive => "positive",
    Pending => "pending",
});

choice!(TaskStatus, "status" {
    Open => "open",
    Done => "done",
    Cancelled => "cancelled",
});

choice!(
    /// Reasons a member needs errands run or closer watching.
    Vulnerability, "vulnerable" {
        Elderly => "elderly",
        Disabled => "disabled",
        Mobility => "mobility",
        Alone => "alone",
        Chronic => "chronic",
    }
);

/// Parses a comma-separated list of vulnerability flags ("elderly,alone").
pub fn parse_vulnerabilities(s: &str) -> VResult<Vec<Vulnerability>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let v: Vulnerability = part.parse()?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out.sort_by_key(|v| v.as_str());
    Ok(out)
}

/// Where a returnee came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Arrival {
    pub from: Option<String>,
    pub risk_area: bool,
    pub date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Monitoring {
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

impl Monitoring {
    pub fn active_on(&self, day: NaiveDate) -> bool {
        match (self.since, self.until) {
            (Some(s), Some(u)) => s <= day && day <= u,
            (None, Some(u)) => day <= u,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vaccination {
    pub doses: i64,
    pub last: Option<NaiveDate>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LastTest {
    pub date: Option<NaiveDate>,
    pub result: Option<TestResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub household_id: String,
    pub name: String,
    pub sex: Sex,
    pub birth_year: Option<i64>,
    /// Sensitive: shown only to roles that may see it.
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub relation: Option<String>,
    pub residence: Residence,
    pub arrival: Arrival,
    pub monitoring: Monitoring,
    pub vaccination: Vaccination,
    pub test: LastTest,
    pub vulnerable: Vec<Vulnerability>,
    /// Where a resident living away is now (layout 2).
    pub away_at: Option<String>,
    /// Referred to a doctor or hospital, until cleared (layout 2).
    pub referred: bool,
}

/// Fields of a new member; everything but the name may be left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewMember {
    pub name: String,
    pub sex: Option<Sex>,
    pub birth_year: Option<i64>,
    pub id_number: Option<String>,
    pub phone: Option<String>,
    pub relation: Option<String>,
    pub residence: Option<Residence>,
    pub vulnerable: Vec<Vulnerability>,
}

impl NewMember {
    /// Validates and normalises every field; the first bad one is reported.
    pub fn validated(mut self, today: NaiveDate) -> VResult<NewMember> {
        self.name = check_text("name", &self.name, 64, true)?;
        if let Some(y) = self.birth_year {
            check_birth_year(y, today)?;
        }
        if let Some(id) = self.id_number.take().filter(|s| !s.trim().is_empty()) {
            let id = check_resident_id(&id, today)?;
            // The card is the authority on the birth year.
            let card_year: i64 = id[6..10].parse().unwrap_or_default(); // ok: digits checked above
            if let Some(y) = self.birth_year {
                if y != card_year {
                    return Err(ValidationError::new(
                        "birth_year",
                        format!("does not match the resident ID number ({card_year})"),
                    ));
                }
            }
            self.birth_year = Some(card_year);
            if self.sex.is_none() {
                // The 17th digit is odd for men and even for women.
                let d = id.as_bytes()[16] - b'0';
                self.sex = Some(if d % 2 == 1 { Sex::Male } else { Sex::Female });
            }
            self.id_number = Some(id);
        }
        if let Some(p) = self.phone.take().filter(|s| !s.trim().is_empty()) {
            self.phone = Some(check_phone(&p)?);
        }
        if let Some(r) = self.relation.take() {
            self.relation = Some(check_text("relation", &r, 32, false)?).filter(|s| !s.is_empty());
        }
        Ok(self)
    }
}

/// One settable member field and its new value, already validated. Each maps
/// to exactly one key in the document, so concurrent edits of different
/// fields never conflict.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberEdit {
    Name(String),
    Sex(Sex),
    BirthYear(Option<i64>),
    IdNumber(Option<String>),
    Phone(Option<String>),
    Relation(Option<String>),
    Residence(Residence),
    ArrivalFrom(Option<String>),
    ArrivalRiskArea(bool),
    ArrivalDate(Option<NaiveDate>),
    MonitoringSince(Option<NaiveDate>),
    MonitoringUntil(Option<NaiveDate>),
    VaccinationDoses(i64),
    VaccinationLast(Option<NaiveDate>),
    TestDate(Option<NaiveDate>),
    TestResult(Option<TestResult>),
    Vulnerable(Vulnerability, bool),
    AwayAt(Option<String>),
    Referred(bool),
}

choice!(
    /// The member fields `FIELD=VALUE` edits may set.
    MemberField, "field" {
        Name => "name",
        Sex => "sex",
        BirthYear => "birth_year",
        IdNumber => "id_number",
        Phone => "phone",
        Relation => "relation",
        Residence => "residence",
        ArrivalFrom => "arrival_from",
        ArrivalRiskArea => "arrival_risk_area",
        ArrivalDate => "arrival_date",
        MonitoringSince => "monitoring_since",
        MonitoringUntil => "monitoring_until",
        VaccinationDoses => "vaccination_doses",
        VaccinationLast => "vaccination_last",
        TestDate => "test_date",
        TestResult => "test_result",
        Vulnerable => "vulnerable",
        AwayAt => "away_at",
        Referred => "referred",
    }
);

impl MemberField {
    /// What a value looks like, for help text. An exhaustive match, so a
    /// new field cannot be added without one.
    pub fn value_hint(self) -> String {
        let one_of = |names: &[&str]| format!("one of {}", names.join(", "));
        match self {
            MemberField::Name => "the member's name".into(),
            MemberField::Sex => one_of(Sex::NAMES),
            MemberField::BirthYear => "a year like 1956".into(),
            MemberField::IdNumber => "an 18-character resident ID number".into(),
            MemberField::Phone => "an 11-digit mobile number".into(),
            MemberField::Relation => "relation to the head of household, like 户主".into(),
            MemberField::Residence => one_of(Residence::NAMES),
            MemberField::ArrivalFrom => "where a returnee came from".into(),
            MemberField::ArrivalRiskArea => "true or false".into(),
            MemberField::VaccinationDoses => "a number of doses, 0–10".into(),
            MemberField::ArrivalDate
            | MemberField::MonitoringSince
            | MemberField::MonitoringUntil
            | MemberField::VaccinationLast
            | MemberField::TestDate => "a date, YYYY-MM-DD".into(),
            MemberField::TestResult => one_of(TestResult::NAMES),
            MemberField::Vulnerable => format!(
                "comma-separated, from {} (sets exactly those)",
                Vulnerability::NAMES.join(", ")
            ),
            MemberField::AwayAt => "where a resident living away is now".into(),
            MemberField::Referred => "true once referred to a doctor, false when cleared".into(),
        }
    }
}

/// Names accepted by [`MemberEdit::parse_assignment`], for help text and
/// errors: the one list, taken from [`MemberField`], which the parser
/// matches exhaustively.
pub const MEMBER_FIELDS: &[&str] = MemberField::NAMES;

impl MemberEdit {
    /// Checks (and normalises) an edit built by hand rather than parsed, so
    /// `edit_member` cannot write a value its parser would refuse.
    pub fn validated(self, today: NaiveDate) -> VResult<MemberEdit> {
        let text = |field: &str, v: Option<String>, max: usize| -> VResult<Option<String>> {
            Ok(match v {
                Some(s) => Some(check_text(field, &s, max, false)?).filter(|s| !s.is_empty()),
                None => None,
            })
        };
        Ok(match self {
            MemberEdit::Name(n) => MemberEdit::Name(check_text("name", &n, 64, true)?),
            MemberEdit::BirthYear(Some(y)) => {
                MemberEdit::BirthYear(Some(check_birth_year(y, today)?))
            }
            MemberEdit::IdNumber(Some(id)) => {
                MemberEdit::IdNumber(Some(check_resident_id(&id, today)?))
            }
            MemberEdit::Phone(Some(p)) => MemberEdit::Phone(Some(check_phone(&p)?)),
            MemberEdit::Relation(r) => MemberEdit::Relation(text("relation", r, 32)?),
            MemberEdit::ArrivalFrom(f) => MemberEdit::ArrivalFrom(text("arrival_from", f, 128)?),
            MemberEdit::AwayAt(f) => MemberEdit::AwayAt(text("away_at", f, 128)?),
            MemberEdit::VaccinationDoses(d) if !(0..=10).contains(&d) => {
                return Err(ValidationError::new(
                    "vaccination_doses",
                    "a number of doses, 0–10",
                ))
            }
            other => other,
        })
    }

    /// Parses `FIELD=VALUE` as typed at the command line or sent by an app.
    /// An empty value clears an optional field. `vulnerable=elderly,alone`
    /// sets exactly those flags (and clears the others).
    pub fn parse_assignment(s: &str, today: NaiveDate) -> VResult<Vec<MemberEdit>> {
        let (field, value) = s.split_once('=').ok_or_else(|| {
            ValidationError::new(s, "write edits as FIELD=VALUE, e.g. residence=returned")
        })?;
        let field = field.trim();
        let value = value.trim();
        let opt = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let opt_date = |f: &str| -> VResult<Option<NaiveDate>> {
            if value.is_empty() {
                Ok(None)
            } else {
                parse_date(f, value).map(Some)
            }
        };
        let Ok(known) = field.parse::<MemberField>() else {
            return Err(ValidationError::new(
                field,
                format!(
                    "unknown member field; use one of {}",
                    MEMBER_FIELDS.join(", ")
                ),
            ));
        };
        let edit = match known {
            MemberField::Name => MemberEdit::Name(check_text("name", value, 64, true)?),
            MemberField::Sex => MemberEdit::Sex(value.parse()?),
            MemberField::BirthYear => MemberEdit::BirthYear(match value {
                "" => None,
                v => Some(check_birth_year(
                    v.parse()
                        .map_err(|_| ValidationError::new("birth_year", "a year like 1956"))?,
                    today,
                )?),
            }),
            MemberField::IdNumber => MemberEdit::IdNumber(match value {
                "" => None,
                v => Some(check_resident_id(v, today)?),
            }),
            MemberField::Phone => MemberEdit::Phone(match value {
                "" => None,
                v => Some(check_phone(v)?),
            }),
            MemberField::Relation => {
                MemberEdit::Relation(opt(&check_text("relation", value, 32, false)?))
            }
            MemberField::Residence => MemberEdit::Residence(value.parse()?),
            MemberField::ArrivalFrom => {
                MemberEdit::ArrivalFrom(opt(&check_text("arrival_from", value, 128, false)?))
            }
            MemberField::ArrivalRiskArea => MemberEdit::ArrivalRiskArea(parse_bool(field, value)?),
            MemberField::AwayAt => {
                MemberEdit::AwayAt(opt(&check_text("away_at", value, 128, false)?))
            }
            MemberField::Referred => MemberEdit::Referred(parse_bool(field, value)?),
            MemberField::ArrivalDate => MemberEdit::ArrivalDate(opt_date(field)?),
            MemberField::MonitoringSince => MemberEdit::MonitoringSince(opt_date(field)?),
            MemberField::MonitoringUntil => MemberEdit::MonitoringUntil(opt_date(field)?),
            MemberField::VaccinationDoses => MemberEdit::VaccinationDoses(
                value
                    .parse::<i64>()
                    .ok()
                    .filter(|d| (0..=10).contains(d))
                    .ok_or_else(|| ValidationError::new(field, "a number of doses, 0–10"))?,
            ),
            MemberField::VaccinationLast => MemberEdit::VaccinationLast(opt_date(field)?),
            MemberField::TestDate => MemberEdit::TestDate(opt_date(field)?),
            MemberField::TestResult => MemberEdit::TestResult(match value {
                "" => None,
                v => Some(v.parse()?),
            }),
            MemberField::Vulnerable => {
                let set = parse_vulnerabilities(value)?;
                return Ok(Vulnerability::ALL
                    .iter()
                    .map(|v| MemberEdit::Vulnerable(*v, set.contains(v)))
                    .collect());
            }
        };
        Ok(vec![edit])
    }
}

fn parse_bool(field: &str, v: &str) -> VResult<bool> {
    match v {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" | "" => Ok(false),
        _ => Err(ValidationError::new(field, "true or false")),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Household {
    pub id: String,
    pub address: Option<String>,
    pub door: Option<String>,
    pub phone: Option<String>,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewHousehold {
    pub address: Option<String>,
    pub door: Option<String>,
    pub phone: Option<String>,
}

impl NewHousehold {
    pub fn validated(self) -> VResult<NewHousehold> {
        Ok(NewHousehold {
            address: self
                .address
                .map(|a| check_text("address", &a, 128, false))
                .transpose()?
                .filter(|s| !s.is_empty()),
            door: self
                .door
                .map(|a| check_text("door", &a, 32, false))
                .transpose()?
                .filter(|s| !s.is_empty()),
            phone: self
                .phone
                .filter(|p| !p.trim().is_empty())
                .map(|p| check_phone(&p))
                .transpose()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    pub id: String,
    pub kind: VisitKind,
    pub household_id: Option<String>,
    pub member_id: Option<String>,
    /// RFC 3339 timestamp with offset.
    pub at: String,
    pub by: String,
    pub temperature: Option<f64>,
    pub symptoms: Option<String>,
    pub outcome: Option<String>,
    pub note: Option<String>,
    pub task_id: Option<String>,
}

impl Visit {
    /// The calendar day of `at`, as written (the recorder's local day).
    pub fn day(&self) -> &str {
        self.at.get(..10).unwrap_or("")
    }

    pub fn is_abnormal(&self) -> bool {
        is_abnormal(self.temperature, self.symptoms.as_deref())
    }
}

/// A check is abnormal with a fever or with any symptom written down.
fn is_abnormal(temperature: Option<f64>, symptoms: Option<&str>) -> bool {
    temperature.is_some_and(|t| t >= FEVER_THRESHOLD) || symptoms.is_some_and(|s| !s.is_empty())
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewVisit {
    pub kind: VisitKind,
    pub household_id: Option<String>,
    pub member_id: Option<String>,
    pub at: chrono::DateTime<chrono::FixedOffset>,
    pub by: String,
    pub temperature: Option<f64>,
    pub symptoms: Option<String>,
    pub outcome: Option<String>,
    pub note: Option<String>,
    pub task_id: Option<String>,
}

impl NewVisit {
    pub fn new(kind: VisitKind, at: chrono::DateTime<chrono::FixedOffset>, by: &str) -> NewVisit {
        NewVisit {
            kind,
            household_id: None,
            member_id: None,
            at,
            by: by.to_string(),
            temperature: None,
            symptoms: None,
            outcome: None,
            note: None,
            task_id: None,
        }
    }

    pub fn is_abnormal(&self) -> bool {
        is_abnormal(self.temperature, self.symptoms.as_deref())
    }

    pub fn validated(mut self) -> VResult<NewVisit> {
        self.by = check_text("by", &self.by, 64, false)?;
        if let Some(t) = self.temperature {
            self.temperature = Some(check_temperature(t)?);
        }
        if self.kind == VisitKind::HealthCheck && self.member_id.is_none() {
            return Err(ValidationError::new(
                "member",
                "a health check is of one member; name the member checked",
            ));
        }
        for (field, v) in [
            ("symptoms", &mut self.symptoms),
            ("outcome", &mut self.outcome),
            ("note", &mut self.note),
        ] {
            if let Some(s) = v.take() {
                *v = Some(check_text(field, &s, 500, false)?).filter(|s| !s.is_empty());
            }
        }
        for (field, v) in [
            ("household", &self.household_id),
            ("member", &self.member_id),
            ("task", &self.task_id),
        ] {
            if let Some(id) = v {
                check_id(field, id)?;
            }
        }
        Ok(self)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub date: NaiveDate,
    pub by: String,
    pub at: String,
    pub arrivals: i64,
    pub under_monitoring: i64,
    pub abnormal: i64,
    pub errands: i64,
    pub note: Option<String>,
    /// How the counts differ from the day's log when it was filed, for the
    /// office (layout 2); None when they agree.
    #[serde(default)]
    pub flag: Option<String>,
}

impl Report {
    /// A zero report: nobody arrived and nothing abnormal.
    pub fn is_zero(&self) -> bool {
        self.arrivals == 0 && self.abnormal == 0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewReport {
    pub date: NaiveDate,
    pub by: String,
    pub at: chrono::DateTime<chrono::FixedOffset>,
    pub arrivals: i64,
    /// None: count from the register (members whose monitoring covers the date).
    pub under_monitoring: Option<i64>,
    pub abnormal: i64,
    /// None: count errand visits recorded that day.
    pub errands: Option<i64>,
    pub note: Option<String>,
}

impl NewReport {
    pub fn validated(mut self) -> VResult<NewReport> {
        check_count("arrivals", self.arrivals)?;
        check_count("abnormal", self.abnormal)?;
        if let Some(n) = self.under_monitoring {
            check_count("under_monitoring", n)?;
        }
        if let Some(n) = self.errands {
            check_count("errands", n)?;
        }
        self.by = check_text("by", &self.by, 64, false)?;
        if let Some(n) = self.note.take() {
            self.note = Some(check_text("note", &n, 500, false)?).filter(|s| !s.is_empty());
        }
        Ok(self)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub title: String,
    pub household_id: Option<String>,
    pub member_id: Option<String>,
    pub due: Option<NaiveDate>,
    pub status: TaskStatus,
    pub created: String,
    #[serde(default = "list_kind")]
    pub kind: crate::register::TaskKind,
    /// What raised it, so it is raised once ("missed:MEMBER:DAY").
    #[serde(default)]
    pub source: Option<String>,
}

fn list_kind() -> crate::register::TaskKind {
    crate::register::TaskKind::List
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellInfo {
    pub id: String,
    pub name: String,
    pub path: RegionPath,
    pub lead: Option<String>,
}

/// A key with more than one concurrent value after a merge. `values` holds
/// every value, the one the document shows (the winner) first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub path: String,
    pub values: Vec<String>,
}

/// The whole register of a cell, as read from its document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellView {
    pub cell: CellInfo,
    pub schema: i64,
    pub households: Vec<Household>,
    pub visits: Vec<Visit>,
    pub reports: Vec<Report>,
    pub tasks: Vec<Task>,
    pub conflicts: Vec<Conflict>,
}

/// Ids are UUIDs (v7 for the ones we make); anything else is refused before a
/// lookup so a typo reads as a typo, not as "not found".
pub fn check_id(field: &str, id: &str) -> VResult<()> {
    uuid::Uuid::parse_str(id).map(|_| ()).map_err(|_| {
        ValidationError::new(
            field,
            "an id looks like 0190f1c4-7e8a-7c3b-9d2e-5a1b2c3d4e5f",
        )
    })
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
    }

    #[test]
    fn resident_ids_are_checked_by_mod_11_2_and_birth_date() {
        let good = [
            "11010519491231002X",
            "440524188001010014",
            "110101199003074477",
        ];
        for id in good {
            assert!(check_resident_id(id, today()).is_ok(), "{id} should pass");
        }
        let lower_x = "11010519491231002x";
        assert_eq!(
            check_resident_id(lower_x, today()).unwrap(),
            "11010519491231002X"
        );
        let bad = [
            ("110105194912310021", "check digit"),
            ("11010519491231002", "18 characters"),
            ("1101051949123100211", "18 characters"),
            ("11010519491331002X", "there is no month 13"),
            ("110105194902300021", "February has 28 days in 1949"),
            ("000000194912310021", "province"),
            ("991005194912310021", "province"),
            ("11010A19491231002X", "digits"),
            ("110105194913310021", "birth date"),
            ("11010520300101001X", "future"),
            ("", "18 characters"),
        ];
        for (id, why) in bad {
            let e = check_resident_id(id, today()).expect_err(id);
            assert_eq!(e.field, "id_number");
            assert!(
                e.rule.contains(why),
                "{id}: {} should mention {why}",
                e.rule
            );
        }
    }

    #[test]
    fn an_impossible_birth_date_is_named_before_the_check_digit() {
        // The check digit of this number is right for its (impossible) body.
        let body = "11010519490230002";
        let id = format!("{body}{}", resident_id_check_char(body));
        let e = check_resident_id(&id, today()).unwrap_err();
        assert!(e.rule.contains("February has 28 days"), "{}", e.rule);
        // And a wrong check digit on it still speaks of the date first.
        let e = check_resident_id("110105194902300021", today()).unwrap_err();
        assert!(e.rule.contains("birth date"), "{}", e.rule);
    }

    #[test]
    fn every_province_code_is_accepted_and_no_other() {
        for p in 0..100u8 {
            let body = format!("{p:02}0105194912310{}", "02");
            let id = format!("{body}{}", resident_id_check_char(&body));
            let ok = check_resident_id(&id, today()).is_ok();
            assert_eq!(ok, PROVINCE_CODES.contains(&p), "{id}");
        }
    }

    #[test]
    fn impossible_dates_say_what_is_wrong() {
        let cases = [
            ("2026-02-30", "February has 28 days in 2026"),
            ("2028-02-30", "February has 29 days in 2028"),
            ("2026-04-31", "April has 30 days"),
            ("2026-13-01", "there is no month 13"),
            ("2026-00-10", "there is no month 0"),
            ("2026-01-32", "January has 31 days"),
            ("2026-01-00", "there is no day 0"),
            ("29/11/2026", "YYYY-MM-DD"),
            ("2026-1-x", "YYYY-MM-DD"),
            ("", "YYYY-MM-DD"),
        ];
        for (s, why) in cases {
            let e = parse_date("date", s).unwrap_err();
            assert_eq!(e.field, "date");
            assert!(e.rule.contains(why), "{s}: {} should say {why}", e.rule);
        }
        assert_eq!(
            parse_date("date", " 2028-02-29 ").unwrap(),
            NaiveDate::from_ymd_opt(2028, 2, 29).unwrap()
        );
    }

    #[test]
    fn every_listed_member_field_is_one_the_parser_knows() {
        for f in MEMBER_FIELDS {
            match MemberEdit::parse_assignment(&format!("{f}="), today()) {
                Err(e) => assert!(!e.rule.contains("unknown member field"), "{f}: {e}"),
                Ok(edits) => assert!(!edits.is_empty(), "{f}"),
            }
            assert!(!f.parse::<MemberField>().unwrap().value_hint().is_empty());
        }
    }

    #[test]
    fn phones_have_eleven_digits_starting_13_to_19() {
        for p in ["13812345678", "199 1234 5678", "150-1234-5678"] {
            assert!(check_phone(p).is_ok(), "{p}");
        }
        for p in [
            "12812345678",
            "1381234567",
            "138123456789",
            "1381234567a",
            "",
            "+8613812345678",
        ] {
            assert_eq!(check_phone(p).unwrap_err().field, "phone", "{p}");
        }
    }

    #[test]
    fn temperatures_outside_34_to_43_are_refused() {
        for t in [34.0, 36.5, 37.3, 43.0] {
            assert!(check_temperature(t).is_ok(), "{t}");
        }
        for t in [33.9, 43.1, -1.0, 98.6, f64::NAN, f64::INFINITY] {
            assert_eq!(
                check_temperature(t).unwrap_err().field,
                "temperature",
                "{t}"
            );
        }
        assert_eq!(check_temperature(36.54).unwrap(), 36.5);
    }

    #[test]
    fn region_paths_have_two_to_six_parts() {
        assert!(RegionPath::parse("两当县/城关镇/东关村/一组").is_ok());
        assert!(RegionPath::parse("两当县/城关镇/城关社区/3号楼/2单元").is_ok());
        for p in ["a", "a/b/c/d/e/f/g", "a//c/d", "", "a/b/c/ "] {
            assert_eq!(RegionPath::parse(p).unwrap_err().field, "path", "{p:?}");
        }
        let p = RegionPath::parse("c/t/v/g").unwrap();
        assert_eq!(p.prefix(Level::Township), "c/t");
        assert_eq!(p.prefix(Level::Group), "c/t/v/g");
        // A shorter path rolls up whole at a deeper level.
        assert_eq!(p.prefix(Level::at(5).unwrap()), "c/t/v/g");
        assert_eq!(Level::at(0), None);
        assert_eq!(Level::at(7), None);
    }

    #[test]
    fn a_region_has_one_spelling() {
        // Decomposed and composed é; a CJK compatibility ideograph and its
        // unified form: each pair is one region.
        let composed = RegionPath::parse("c/t/Caf\u{e9}/g").unwrap();
        assert_eq!(RegionPath::parse("c/t/Cafe\u{301}/g").unwrap(), composed);
        let unified = RegionPath::parse("c/t/\u{5169}当/g").unwrap();
        assert_eq!(RegionPath::parse("c/t/\u{F978}当/g").unwrap(), unified);
        // Invisible characters and look-alike separators are refused, with
        // the character named.
        for bad in [
            "c/t/东关\u{200B}村/g",
            "c/t/东关\u{202E}村/g",
            "c/t/东关\u{FEFF}村/g",
            "c/t/东关\u{FF0F}村/g",
            "c/t/东关\u{2215}村/g",
            "c/t/东关\u{2044}村/g",
            "c/t/东关\\村/g",
        ] {
            let e = RegionPath::parse(bad).unwrap_err();
            assert!(e.rule.contains("U+"), "{bad:?}: {}", e.rule);
        }
    }

    #[test]
    fn member_id_number_sets_birth_year_and_sex() {
        let m = NewMember {
            name: "王芳".into(),
            id_number: Some("11010519491231002X".into()),
            ..Default::default()
        }
        .validated(today())
        .unwrap();
        assert_eq!(m.birth_year, Some(1949));
        assert_eq!(m.sex, Some(Sex::Female));
        let clash = NewMember {
            name: "王芳".into(),
            id_number: Some("11010519491231002X".into()),
            birth_year: Some(1950),
            ..Default::default()
        }
        .validated(today());
        assert_eq!(clash.unwrap_err().field, "birth_year");
    }

    #[test]
    fn member_assignments_parse_or_name_the_field() {
        let e = MemberEdit::parse_assignment("residence=returned", today()).unwrap();
        assert_eq!(e, vec![MemberEdit::Residence(Residence::Returned)]);
        let e = MemberEdit::parse_assignment("monitoring_until=", today()).unwrap();
        assert_eq!(e, vec![MemberEdit::MonitoringUntil(None)]);
        assert_eq!(
            MemberEdit::parse_assignment("residence=gone", today())
                .unwrap_err()
                .field,
            "residence"
        );
        assert_eq!(
            MemberEdit::parse_assignment("colour=red", today())
                .unwrap_err()
                .field,
            "colour"
        );
        assert!(MemberEdit::parse_assignment("phone", today()).is_err());
        assert_eq!(
            MemberEdit::parse_assignment("vulnerable=elderly,alone", today())
                .unwrap()
                .iter()
                .filter(|e| matches!(e, MemberEdit::Vulnerable(_, true)))
                .count(),
            2
        );
    }
}
