//! envmon's board definitions: the TOML format (docs/board-format.md), its validation, the
//! built-in boards, and `--board auto` (a board made from the BMC's SDR repository).
//!
//! Board definitions are checked data. [`parse`] is pure; [`load`] only reads the file it is
//! given. Every error names `file:line:column` and nothing is half-applied.

mod auto;
mod format;

pub use auto::{SdrKind, SdrSensor, auto_board, entity, sensor_type};
pub use format::{BoardError, BoardErrorKind, load, parse};

use envmon_core::engine::SensorSpec;
use std::fmt;

/// Where an item's readings come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// An IPMI sensor found by its SDR name (`ipmi:CPU0 Temp`).
    IpmiName(String),
    /// An IPMI sensor found by its number (`ipmi:#0x30` or `ipmi:#48`).
    IpmiNumber(u8),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::IpmiName(n) => write!(f, "ipmi:{n}"),
            Source::IpmiNumber(n) => write!(f, "ipmi:#0x{n:02x}"),
        }
    }
}

/// One monitored item of a board.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Unique id within the board (`cpu0-temp`), used on the socket.
    pub id: String,
    /// Where its readings come from.
    pub source: Source,
    /// What the engine needs (class, label, limits, hysteresis, debounce, unit).
    pub spec: SensorSpec,
}

/// A validated board definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    /// The board's name.
    pub name: String,
    /// One line about it.
    pub description: String,
    /// `base = "auto"`: the board is made from the BMC's SDRs and this file's items
    /// override or extend it (see [`auto_board`]).
    pub base_auto: bool,
    /// The fewest power supplies that must be OK for redundancy (0: no redundancy check).
    pub min_psus: usize,
    /// The monitored items, in file order.
    pub items: Vec<Item>,
}

/// The boards compiled into envmon: (name, TOML text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("fw-1cpu", include_str!("../boards/fw-1cpu.toml")),
    ("fw-2cpu", include_str!("../boards/fw-2cpu.toml")),
    (
        "sim-appliance",
        include_str!("../boards/sim-appliance.toml"),
    ),
];

/// A built-in board by name, validated.
pub fn builtin(name: &str) -> Option<Result<Board, BoardError>> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, text)| parse(std::path::Path::new(&format!("<builtin:{n}>")), text))
}
