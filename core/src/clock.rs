//! The one source of "now" for everything silin does: the timestamps of
//! edits and envelopes, certificate validity, token expiry, and which day is
//! "today" for a visit, a report or a default date.
//!
//! Every reader of time takes a [`Clock`] instead of asking the system, so a
//! test (or an office replaying a day) can pin the day, and a suite run under
//! a shifted system clock (faketime) exercises the same code paths the field
//! does. A store carries the clock it was opened with; sessions, bundles,
//! certificates and the hub take the store's.

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveTime, TimeZone};
use std::sync::Arc;
use std::time::Instant;

/// The environment variable the command line reads a pinned "now" from.
pub const NOW_ENV: &str = "SILIN_NOW";

#[derive(Debug, thiserror::Error)]
#[error("{var}={value:?} is not a time: write RFC 3339 with an offset (2026-11-29T09:30:00+08:00) or a day (2026-11-29, taken as 09:00 local time)")]
pub struct ClockError {
    pub var: &'static str,
    pub value: String,
}

#[derive(Clone)]
enum Source {
    /// The device's clock and time zone.
    System,
    /// Starts at a given instant and advances with the monotonic clock, so
    /// timestamps still order and time-outs still fire.
    From {
        at: DateTime<FixedOffset>,
        started: Instant,
    },
}

/// What time it is, for one store or one process. Cheap to clone.
#[derive(Clone)]
pub struct Clock(Arc<Source>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Source::System => f.write_str("Clock::System"),
            Source::From { at, .. } => write!(f, "Clock::From({at})"),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl Clock {
    pub fn system() -> Clock {
        Clock(Arc::new(Source::System))
    }

    /// A clock that reads `at` now and runs on from there in real time.
    pub fn starting_at(at: DateTime<FixedOffset>) -> Clock {
        Clock(Arc::new(Source::From {
            at,
            started: Instant::now(),
        }))
    }

    /// The clock named by `SILIN_NOW` when it is set, else the system's.
    pub fn from_env() -> Result<Clock, ClockError> {
        match std::env::var(NOW_ENV) {
            Ok(v) if !v.trim().is_empty() => Clock::parse(&v).ok_or(ClockError {
                var: NOW_ENV,
                value: v,
            }),
            _ => Ok(Clock::system()),
        }
    }

    /// Parses RFC 3339, or a bare day taken as 09:00 in the local time zone
    /// (mid-morning: far from midnight whatever the zone, like a lead's
    /// first round).
    pub fn parse(s: &str) -> Option<Clock> {
        let s = s.trim();
        if let Ok(at) = DateTime::parse_from_rfc3339(s) {
            return Some(Clock::starting_at(at));
        }
        let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        let local = Local
            .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(9, 0, 0)?))
            .earliest()?;
        Some(Clock::starting_at(local.fixed_offset()))
    }

    pub fn now(&self) -> DateTime<FixedOffset> {
        match &*self.0 {
            Source::System => Local::now().fixed_offset(),
            Source::From { at, started } => {
                let elapsed = chrono::Duration::from_std(started.elapsed())
                    .unwrap_or(chrono::Duration::zero());
                *at + elapsed
            }
        }
    }

    /// Seconds since the Unix epoch.
    pub fn timestamp(&self) -> i64 {
        self.now().timestamp()
    }

    /// The calendar day where the device is (its offset, not UTC): a lead's
    /// 23:30 visit in UTC+8 belongs to that evening's report.
    pub fn today(&self) -> NaiveDate {
        self.now().date_naive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_day_reads_as_that_day_and_runs_on() {
        let c = Clock::parse("2028-02-29T23:59:59+08:00").unwrap();
        assert_eq!(c.today(), NaiveDate::from_ymd_opt(2028, 2, 29).unwrap());
        let t = c.timestamp();
        assert!(c.timestamp() >= t);
        assert_eq!(c.now().offset().local_minus_utc(), 8 * 3600);
    }

    #[test]
    fn a_bare_day_is_mid_morning_local() {
        let c = Clock::parse("2026-12-31").unwrap();
        assert_eq!(c.today(), NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
    }

    #[test]
    fn nonsense_is_refused() {
        for s in ["", "yesterday", "2026-02-30", "2026-11-29T09:30:00"] {
            assert!(Clock::parse(s).is_none(), "{s}");
        }
    }
}
