//! envmon's board definitions: the TOML format (docs/board-format.md), its validation, the
//! built-in boards, and `--board auto` (a board made from the BMC's SDR repository).
//!
//! Board definitions are checked data. [`parse`] is pure; [`load`] only reads the file it is
//! given. Every error names `file:line:column` and nothing is half-applied.

mod auto;
pub mod classify;
mod dump;
mod format;
pub mod redfish;

pub use auto::{Explained, auto_board, explain, label_for};
pub use classify::{
    Decision, RULES, SdrKind, SdrSensor, classify, entity, reading_type, sensor_type,
};
pub use dump::to_toml;
pub use envmon_core::pci::PciExpect;
pub use format::{
    BoardError, BoardErrorKind, MAX_FILE_BYTES, load, parse, read_text_bounded, source_positions,
};

use envmon_core::engine::SensorSpec;
use std::fmt;

/// Where an item's readings come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// An IPMI sensor found by its SDR name (`ipmi:CPU0 Temp`).
    IpmiName(String),
    /// An IPMI sensor found by its number (`ipmi:#0x30` or `ipmi:#48`).
    IpmiNumber(u8),
    /// A hwmon channel, found by the chip's name and the channel's label (or its channel
    /// name, `temp1`, `fan2`, `in0`, when it has no label): `hwmon:coretemp/Package id 0`.
    Hwmon {
        /// The chip's `name`.
        chip: String,
        /// The channel's `*_label`, or its channel name.
        label: String,
    },
    /// A chip on an I2C bus: `i2c:1/0x48/lm75`, `i2c:1/0x58/pmbus:temp|fan|status`.
    I2c {
        /// Bus number (`/dev/i2c-N`).
        bus: u8,
        /// 7-bit address.
        address: u8,
        /// Driver and channel.
        driver: I2cDriver,
    },
    /// A GPIO line (`gpio:23`): good when active (see the item's `active-low`).
    Gpio {
        /// The line number.
        line: u32,
        /// The line is active when low.
        active_low: bool,
    },
    /// A network interface's carrier (`net:eth1`).
    Net(String),
    /// A sensor of a Redfish service, by its URI (`redfish:/redfish/v1/Chassis/1/Sensors/T`;
    /// a member of the deprecated resources with its pointer, `.../Thermal#/Temperatures/0`).
    Redfish(String),
}

/// The I2C drivers envmon has, with the channel read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum I2cDriver {
    /// LM75/TMP75-class temperature sensor.
    Lm75,
    /// PMBus power supply: READ_TEMPERATURE_1.
    PmbusTemp,
    /// PMBus power supply: READ_FAN_SPEED_1.
    PmbusFan,
    /// PMBus power supply: STATUS_WORD fault bits.
    PmbusStatus,
}

impl I2cDriver {
    /// The name in source strings.
    pub fn name(self) -> &'static str {
        match self {
            I2cDriver::Lm75 => "lm75",
            I2cDriver::PmbusTemp => "pmbus:temp",
            I2cDriver::PmbusFan => "pmbus:fan",
            I2cDriver::PmbusStatus => "pmbus:status",
        }
    }
}

impl Source {
    /// Whether this source is read through the BMC.
    pub fn is_ipmi(&self) -> bool {
        matches!(self, Source::IpmiName(_) | Source::IpmiNumber(_))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::IpmiName(n) => write!(f, "ipmi:{n}"),
            Source::IpmiNumber(n) => write!(f, "ipmi:#0x{n:02x}"),
            Source::Hwmon { chip, label } => write!(f, "hwmon:{chip}/{label}"),
            Source::I2c {
                bus,
                address,
                driver,
            } => write!(f, "i2c:{bus}/0x{address:02x}/{}", driver.name()),
            Source::Gpio { line, .. } => write!(f, "gpio:{line}"),
            Source::Net(iface) => write!(f, "net:{iface}"),
            Source::Redfish(uri) => write!(f, "redfish:{uri}"),
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
    /// Not fitted on every unit (an empty fan header, a second supply): until it has read
    /// once it is shown as absent and is not a failed update.
    pub optional: bool,
    /// Found by `--board auto` in the source's records, not declared in a board file: one
    /// that never reads where the source answers cleanly, and that cannot call for a thermal
    /// shutdown, is *not fitted* rather than a failed update (docs/board-format.md).
    pub discovered: bool,
    /// What the engine needs (class, label, limits, hysteresis, debounce, unit).
    pub spec: SensorSpec,
    /// A supply's failure flags read with it (`psu` items only, IPMI sources): any of them
    /// asserted fails the supply, as its own status would (docs/board-format.md).
    pub also: Vec<Source>,
}

/// The most flags one supply item reads besides its source.
pub const MAX_ALSO: usize = 8;

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
    /// The PCI devices expected on the bus.
    pub pci: Vec<envmon_core::pci::PciExpect>,
}

/// Capacities of the per-source tables (heapless in the sensors crate); `envmon board check`
/// refuses a board that needs more.
pub mod capacity {
    /// hwmon channels.
    pub const HWMON: usize = 64;
    /// I2C items.
    pub const I2C: usize = 32;
    /// GPIO lines.
    pub const GPIO: usize = 64;
    /// Network interfaces.
    pub const NET: usize = 16;
    /// PCI expectations.
    pub const PCI: usize = 32;
}

/// The boards compiled into envmon: (name, TOML text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("fw-1cpu", include_str!("../boards/fw-1cpu.toml")),
    ("fw-2cpu", include_str!("../boards/fw-2cpu.toml")),
    (
        "fw-1cpu-mixed",
        include_str!("../boards/fw-1cpu-mixed.toml"),
    ),
    (
        "sim-appliance",
        include_str!("../boards/sim-appliance.toml"),
    ),
    ("virt-arm64", include_str!("../boards/virt-arm64.toml")),
];

/// A built-in board by name, validated.
pub fn builtin(name: &str) -> Option<Result<Board, BoardError>> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(n, text)| parse(std::path::Path::new(&format!("<builtin:{n}>")), text))
}
