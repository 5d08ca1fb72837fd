//! The agent's own diagnostics, through the `log` facade, to standard error.
//!
//! These are separate from catalog messages: a diagnostic says what envmon itself is doing
//! (a receiver went away, a file is bad); a catalog message says what the hardware is doing
//! and goes to syslog. `ENVMON_LOG` sets the level: off, error, warn, info (default), debug,
//! trace.

use log::{LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = record.level().as_str().to_ascii_lowercase();
            let _ = writeln!(
                std::io::stderr().lock(),
                "envmon: {level}: {}",
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

/// Installs the logger once; later calls do nothing. The level comes from `ENVMON_LOG`.
pub fn init() {
    let requested = std::env::var("ENVMON_LOG").ok();
    let level = requested
        .as_deref()
        .map(|v| v.parse::<LevelFilter>())
        .unwrap_or(Ok(LevelFilter::Info));
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(*level.as_ref().unwrap_or(&LevelFilter::Info));
        if level.is_err() {
            log::warn!(
                "ENVMON_LOG={:?} is not a level (off, error, warn, info, debug, trace); using info",
                requested.unwrap_or_default()
            );
        }
    }
}
