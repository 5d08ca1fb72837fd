//! envmon's sans-IO core.
//!
//! Everything here is a pure function of its inputs: no files, sockets, clocks or
//! environment. The agent crate does the I/O and passes in what it read (including the time).
//!
//! - [`catalog`]: the 735xxx/743xxx messages as data.
//! - [`render`] / [`render_line`]: a message number and its arguments to the exact text line.
//! - [`frame`]: RFC 3164 / RFC 5424 syslog frames around a rendered message.
//! - [`sel`]: the BMC's System Event Log: entries decoded, described and resumed.
//! - [`eventlog`]: a Redfish service's event log: new entries, levels, lines, the boot trip.

pub mod catalog;
pub mod engine;
pub mod eventlog;
pub mod frame;
pub mod host;
pub mod location;
pub mod pci;
mod render;
pub mod sel;
pub mod text;

pub use render::{MAX_ARG_LEN, Prefix, RenderError, render, render_line};

use std::fmt;

/// A message level. Cisco's levels use the syslog severity numbering, so the level is also the
/// severity of the syslog frame that carries the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// 0: system is unusable.
    Emergency = 0,
    /// 1: immediate action needed.
    Alert = 1,
    /// 2: critical condition.
    Critical = 2,
    /// 3: error condition.
    Error = 3,
    /// 4: warning condition.
    Warning = 4,
    /// 5: normal but significant condition.
    Notice = 5,
    /// 6: informational.
    Informational = 6,
    /// 7: debugging.
    Debugging = 7,
}

impl Level {
    /// The numeric level (0-7), as printed in `%FTD-<level>-<id>`.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The syslog severity keyword (`alert`, `crit`, ...), as rsyslog and RFC 5424 name it.
    pub fn keyword(self) -> &'static str {
        match self {
            Level::Emergency => "emerg",
            Level::Alert => "alert",
            Level::Critical => "crit",
            Level::Error => "err",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Informational => "info",
            Level::Debugging => "debug",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}
