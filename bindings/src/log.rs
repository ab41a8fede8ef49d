//! The library's log, handed to the app: silin's tracing events (sync
//! sessions, hub syncs, refusals) go to the app's `Logger` — Logcat on
//! Android, os_log on iOS — at the level the app chose. Only silin's own
//! events pass (not those of the libraries under it), and silin's events
//! carry ids, counts and kinds of failure, never a person's data.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Once, RwLock};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// How much the log says, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// An app's log sink, as the UDL declares it.
pub trait Logger: Send + Sync {
    fn log(
        &self,
        level: LogLevel,
        target: String,
        message: String,
    ) -> Result<(), crate::ObserverError>;
}

static SINK: RwLock<Option<Arc<dyn Logger>>> = RwLock::new(None);
/// The most verbose level passed on: 0 none, 1 error … 5 trace.
static MAX: AtomicU8 = AtomicU8::new(0);
static INSTALL: Once = Once::new();

thread_local! {
    /// Set while an app's logger runs, so that silin calls it makes do not
    /// log into it again.
    static IN_LOGGER: Cell<bool> = const { Cell::new(false) };
}

fn rank(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

fn level_rank(level: LogLevel) -> u8 {
    match level {
        LogLevel::Error => 1,
        LogLevel::Warn => 2,
        LogLevel::Info => 3,
        LogLevel::Debug => 4,
        LogLevel::Trace => 5,
    }
}

fn to_level(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        Level::TRACE => LogLevel::Trace,
    }
}

/// Sends silin's events at `level` and above to `logger`. The last call
/// wins.
pub fn set_logger(logger: Box<dyn Logger>, level: LogLevel) {
    install(Some(Arc::from(logger)), level);
}

/// `None` stops logging.
pub(crate) fn install(sink: Option<Arc<dyn Logger>>, level: LogLevel) {
    let on = sink.is_some();
    *SINK.write().unwrap_or_else(|p| p.into_inner()) = sink;
    MAX.store(if on { level_rank(level) } else { 0 }, Ordering::SeqCst);
    INSTALL.call_once(|| {
        // Fails only when the process set another global subscriber (a
        // Rust host of this library); its choice stands.
        let _ = tracing::dispatcher::set_global_default(tracing::Dispatch::new(Forward));
    });
    tracing::callsite::rebuild_interest_cache();
}

fn is_silins(target: &str) -> bool {
    target.starts_with("silin")
}

struct Forward;

/// An event's fields as one line: the message, then `name=value` pairs.
#[derive(Default)]
struct Line {
    message: String,
    fields: String,
}

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

impl Subscriber for Forward {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if is_silins(meta.target()) {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        is_silins(meta.target()) && rank(meta.level()) <= MAX.load(Ordering::Relaxed)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // silin's events stand alone; spans are not carried to the app.
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        if IN_LOGGER.with(Cell::get) {
            return;
        }
        let Some(sink) = SINK.read().unwrap_or_else(|p| p.into_inner()).clone() else {
            return;
        };
        let mut line = Line::default();
        event.record(&mut line);
        line.message.push_str(&line.fields);
        IN_LOGGER.with(|c| c.set(true));
        // A logger that throws loses that line, nothing else.
        let _ = sink.log(
            to_level(meta.level()),
            meta.target().to_string(),
            line.message,
        );
        IN_LOGGER.with(|c| c.set(false));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
