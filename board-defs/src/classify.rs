//! Which SDR sensor is which class: the rules, as data, in one table ([`RULES`]).
//!
//! A rule matches on what the SDR says (owner, sensor type, event/reading type, entity,
//! units) and on words of the sensor's name for what the entity cannot tell (a PCH
//! temperature on the system board entity, a CPU regulator on a power module). The first rule
//! that matches decides: a class, or "not monitored" with the rule's reason. `envmon board
//! explain` prints the rule that decided each record.
//!
//! Names are compared as words: upper-cased, split at anything not a letter or digit and
//! between letters and digits (`Vcpu1VRM Temp` is `VCPU 1 VRM TEMP`), after HPE's leading
//! `NN-` index is dropped. A rule's word of three letters or more matches inside a name word
//! (vendors glue words: Supermicro's `VmemABVRM`, `VRMCpu1`), except the few in [`WHOLE`];
//! shorter ones (`PS`, `SB`, `VR`) match whole words only. Words separated by a space match
//! consecutive name words (`P S` is HPE's `P/S 1`), and `P#` stands for a `P` followed by a
//! number (`BB P1 VR Temp`).

use envmon_core::engine::Class;

/// IPMI sensor type codes (IPMI 2.0 table 42-3).
pub mod sensor_type {
    /// Temperature.
    pub const TEMPERATURE: u8 = 0x01;
    /// Voltage.
    pub const VOLTAGE: u8 = 0x02;
    /// Current.
    pub const CURRENT: u8 = 0x03;
    /// Fan.
    pub const FAN: u8 = 0x04;
    /// Power supply (discrete: presence, failure, AC lost, ...).
    pub const POWER_SUPPLY: u8 = 0x08;
    /// Power unit (redundancy, power off, AC lost of the whole unit).
    pub const POWER_UNIT: u8 = 0x09;
    /// Other units-based sensor (usage percentages, airflow, power).
    pub const OTHER_UNITS: u8 = 0x0B;
}

/// IPMI entity IDs (IPMI 2.0 table 43-13, and the DCMI codes 0x40-0x42).
pub mod entity {
    /// Processor.
    pub const PROCESSOR: u8 = 0x03;
    /// Disk or disk bay.
    pub const DISK: u8 = 0x04;
    /// System management module (the BMC).
    pub const MANAGEMENT_MODULE: u8 = 0x06;
    /// System board.
    pub const SYSTEM_BOARD: u8 = 0x07;
    /// Memory module.
    pub const MEMORY_MODULE: u8 = 0x08;
    /// Power supply.
    pub const POWER_SUPPLY: u8 = 0x0A;
    /// Add-in card.
    pub const ADD_IN_CARD: u8 = 0x0B;
    /// Processor board.
    pub const PROCESSOR_BOARD: u8 = 0x0F;
    /// Power unit / power domain.
    pub const POWER_UNIT: u8 = 0x13;
    /// Power module / DC-to-DC converter.
    pub const POWER_MODULE: u8 = 0x14;
    /// System chassis.
    pub const SYSTEM_CHASSIS: u8 = 0x17;
    /// Drive backplane.
    pub const DRIVE_BACKPLANE: u8 = 0x1A;
    /// Fan / cooling device.
    pub const FAN: u8 = 0x1D;
    /// Memory device.
    pub const MEMORY_DEVICE: u8 = 0x20;
    /// External environment.
    pub const EXTERNAL_ENVIRONMENT: u8 = 0x27;
    /// I/O module (the IO hub).
    pub const IO_MODULE: u8 = 0x2C;
    /// Processor / I/O module.
    pub const PROCESSOR_IO_MODULE: u8 = 0x2D;
    /// Air inlet.
    pub const AIR_INLET: u8 = 0x37;
    /// Air inlet (DCMI).
    pub const AIR_INLET_DCMI: u8 = 0x40;
    /// Processor (DCMI).
    pub const PROCESSOR_DCMI: u8 = 0x41;
    /// Baseboard (DCMI).
    pub const BASEBOARD_DCMI: u8 = 0x42;
}

/// Event/reading type codes (IPMI 2.0 table 42-1).
pub mod reading_type {
    /// Threshold.
    pub const THRESHOLD: u8 = 0x01;
    /// Generic "digital discrete": state deasserted (offset 0) or asserted (offset 1).
    pub const DIGITAL: u8 = 0x03;
    /// Generic "severity" states (transition to OK, to critical, ...).
    pub const SEVERITY: u8 = 0x07;
    /// Generic "redundancy" states (fully redundant, redundancy lost, ...).
    pub const REDUNDANCY: u8 = 0x0B;
    /// Sensor-specific states.
    pub const SENSOR_SPECIFIC: u8 = 0x6F;
}

/// IPMI base unit codes (IPMI 2.0 table 43-15) that the classes read.
pub mod unit {
    /// Degrees C.
    pub const DEGREES_C: u8 = 1;
    /// Degrees F.
    pub const DEGREES_F: u8 = 2;
    /// Volts.
    pub const VOLTS: u8 = 4;
    /// Revolutions per minute.
    pub const RPM: u8 = 18;
}

/// What a rule asks of the reading type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Any.
    Any,
    /// A threshold sensor with an analog reading.
    Threshold,
    /// This event/reading type code.
    Code(u8),
    /// One of these event/reading type codes.
    Codes(&'static [u8]),
    /// Not a threshold sensor.
    Discrete,
}

/// What a rule asks of a discrete sensor's reading mask (the states it can report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// Any.
    Any,
    /// The SDR states a reading mask and it lacks these offsets (a mask of 0 states
    /// nothing).
    Lacks(u16),
    /// The SDR states an assertion mask and every offset it asserts is among these.
    AssertsOnly(u16),
}

/// What a rule asks of the units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Units {
    /// Any.
    Any,
    /// A percentage (the SDR's percentage flag, or a base unit of percent).
    Percent,
    /// Not one of these base units (and not a percentage).
    NotIn(&'static [u8]),
}

/// One rule: every condition given must hold.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Sensor types (empty: any).
    pub sensor_types: &'static [u8],
    /// The reading type.
    pub reading: Reading,
    /// Entity IDs (empty: any).
    pub entities: &'static [u8],
    /// Name words: each group must have a word in the name (empty: no condition).
    pub words: &'static [&'static [&'static str]],
    /// Units.
    pub units: Units,
    /// The reading mask.
    pub mask: Mask,
    /// The sensor's upper critical (else upper non-critical) threshold must be known and at
    /// most this (degrees C).
    pub max_upper: Option<f64>,
    /// The class, or `None`: not monitored.
    pub class: Option<Class>,
    /// A failure flag of a part: folded into that part's item (a supply's flags into its
    /// `psu` item, made from the flags where the BMC has no status record) instead of an item
    /// of its own.
    pub fold: bool,
    /// Why, in a few words (printed by `board explain`).
    pub why: &'static str,
}

const ANY: Rule = Rule {
    sensor_types: &[],
    reading: Reading::Any,
    entities: &[],
    words: &[],
    units: Units::Any,
    mask: Mask::Any,
    max_upper: None,
    class: None,
    fold: false,
    why: "",
};

/// The highest upper critical threshold an inlet sensor has: servers are rated for intake air
/// up to 35-45 C (ASHRAE A2-A4), and their inlet sensors alarm near there; a board
/// thermistor's critical is 70 C or more.
pub const INLET_UPPER_MAX: f64 = 55.0;

use entity as e;
use sensor_type as t;

pub(crate) const CPU_WORDS: &[&str] = &["CPU", "PROC", "P#", "SOCKET"];
pub(crate) const PSU_WORDS: &[&str] = &["PS", "PSU", "PWS", "POWER SUPPLY", "PWR SUPPLY", "P S"];
const TEMP_UNITS: &[u8] = &[unit::DEGREES_C, unit::DEGREES_F];
/// Why a supply's failure flag is part of its supply (two rules: named for it, or on it).
const SUPPLY_FLAG: &str = "a supply's failure flag (digital asserted, or severity critical: failed): part of that supply's status (735004/735003)";

/// The power supply sensor type's offset 06h: "configuration error" (IPMI 2.0 table 42-3).
const PSU_CONFIGURATION_ERROR: u16 = 6;
/// Words of a failure flag (a flag named for a good state, `AC_OK` or `PWRGD`, is not one).
const FLAG_WORDS: &[&str] = &["FAIL", "FAULT", "LOST", "LOSS", "OVER", "OC", "OT", "OV"];
pub(crate) const PCH_WORDS: &[&str] = &[
    "PCH",
    "IOH",
    "SSB",
    "CHIPSET",
    "IOHUB",
    "SB",
    "NB",
    "LPC",
    "FCH",
    "IOU",
    "SOUTH BRIDGE",
    "NORTH BRIDGE",
];

/// A thermal margin (distance to Tjmax).
pub(crate) const MARGIN_WORDS: &[&str] =
    &["MARGIN", "MRGN", "MGN", "TCONTROL", "TCTL", "DTS", "TJMAX"];
/// Memory.
pub(crate) const MEMORY_WORDS: &[&str] = &["DIMM", "MEM", "MEMORY", "DDR", "HBM"];
/// Exhaust air.
pub(crate) const EXHAUST_WORDS: &[&str] = &["EXHAUST", "OUTLET", "EXIT"];
/// HPE's air zones.
pub(crate) const ZONE_WORDS: &[&str] = &["ZONE"];
/// Storage.
pub(crate) const STORAGE_WORDS: &[&str] = &[
    "HDD",
    "HD",
    "SSD",
    "NVME",
    "DRIVE",
    "DISK",
    "M2",
    "M 2",
    "SAS",
    "RAID",
    "BP",
    "BACKPLANE",
    "HSBP",
];
/// Network adapters.
pub(crate) const NIC_WORDS: &[&str] = &[
    "NIC", "LAN", "OCP", "MEZZ", "NDC", "LOM", "QSFP", "SFP", "X710", "X550", "I350",
];
/// The management controller.
pub(crate) const BMC_WORDS: &[&str] = &["BMC", "IBMC", "ILO", "IDRAC", "CIMC"];
/// Add-in cards and risers.
pub(crate) const CARD_WORDS: &[&str] = &[
    "GPU", "RISER", "PCIE", "PCI", "SLOT", "HBA", "CARD", "FPGA", "RAISER", "I O",
];
/// The air coming in.
pub(crate) const INLET_WORDS: &[&str] = &[
    "INLET", "AMBIENT", "AMB", "INTAKE", "ROOM", "AIR", "FRONT", "FP",
];
/// The board or chassis.
pub(crate) const BOARD_WORDS: &[&str] = &[
    "SYSTEM",
    "SYS",
    "BOARD",
    "MB",
    "BB",
    "CHASSIS",
    "PERIPHERAL",
];
/// Voltage regulators.
pub(crate) const VR_WORDS: &[&str] = &["VR", "VRM", "VRD", "REG", "VCCIN"];

/// The rules, first match wins. A reviewer reads this table to know what `--board auto`
/// monitors and why everything else is left out.
pub const RULES: &[Rule] = &[
    // Temperatures.
    Rule {
        sensor_types: &[t::TEMPERATURE],
        reading: Reading::Discrete,
        why: "a thermal state bit (trip, hot): no catalog message (temperatures are judged from values)",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        units: Units::Percent,
        why: "a thermal margin in percent, not a temperature",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[MARGIN_WORDS],
        why: "a thermal margin (distance to Tjmax), not a temperature",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        reading: Reading::Threshold,
        units: Units::NotIn(TEMP_UNITS),
        why: "a temperature sensor whose unit is not degrees",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[MEMORY_WORDS],
        why: "memory (DIMM or memory regulator): no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[STORAGE_WORDS],
        why: "storage: no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[NIC_WORDS],
        why: "network adapter: no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[BMC_WORDS],
        why: "the management controller: no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[CARD_WORDS],
        why: "add-in card or riser: no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[ZONE_WORDS],
        why: "the air of a zone near a part (HPE's \"... Zone\"), not the part; the inlet is the chassis ambient",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[VR_WORDS, CPU_WORDS],
        class: Some(Class::CpuVrTemp),
        why: "a voltage regulator named for a CPU",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[&["VR", "VRM", "VRD", "REG"], PCH_WORDS],
        why: "a chipset regulator: no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[&["VR", "VRM", "VRD", "REG", "VCCIN"]],
        entities: &[e::PROCESSOR, e::PROCESSOR_DCMI, e::POWER_MODULE],
        class: Some(Class::CpuVrTemp),
        why: "a voltage regulator of a processor or power module entity",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[&["VR", "VRM", "VRD", "REG"]],
        why: "a voltage regulator not tied to a CPU: no catalog message",
        ..ANY
    },
    // Entities that say what the name did not.
    Rule {
        sensor_types: &[t::TEMPERATURE],
        entities: &[e::MEMORY_MODULE, e::MEMORY_DEVICE],
        why: "memory: no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        entities: &[e::DISK, e::DRIVE_BACKPLANE],
        why: "storage: no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        entities: &[e::ADD_IN_CARD],
        why: "add-in card: no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[PCH_WORDS],
        class: Some(Class::IohubTemp),
        why: "the IO hub (PCH, IOH, SSB, chipset)",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[PSU_WORDS],
        class: Some(Class::PsuTemp),
        why: "a power supply's temperature (by name)",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        entities: &[e::POWER_SUPPLY],
        class: Some(Class::PsuTemp),
        why: "a power supply entity's temperature",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        entities: &[e::POWER_MODULE],
        class: Some(Class::CpuVrTemp),
        why: "a power module (DC-DC converter) entity: the CPU regulator",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[CPU_WORDS],
        class: Some(Class::CpuTemp),
        why: "a CPU temperature (by name)",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[&["TR", "THERMISTOR"]],
        why: "an external thermistor header: what it measures is the installer's, not known",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        entities: &[e::PROCESSOR, e::PROCESSOR_DCMI],
        words: &[BOARD_WORDS],
        why: "named for the board though on the processor entity (ASRock Rack puts every temperature on 3.0): not a CPU",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        entities: &[e::PROCESSOR, e::PROCESSOR_DCMI],
        class: Some(Class::CpuTemp),
        why: "a processor entity's temperature",
        ..ANY
    },
    // The chassis ambient is the air coming in, chosen on evidence: its name, the air-inlet
    // entity, or inlet-like thresholds. Exhaust air and board thermistors read hotter than
    // the intake and are left out (735008's "ambient" would be wrong about them).
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[EXHAUST_WORDS],
        why: "exhaust air (hotter than what comes in): not the chassis ambient",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[INLET_WORDS],
        class: Some(Class::ChassisAmbient),
        why: "the air coming in (by name: inlet, ambient, the front where rack servers take their air): the chassis ambient",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        entities: &[e::AIR_INLET, e::AIR_INLET_DCMI, e::EXTERNAL_ENVIRONMENT],
        class: Some(Class::ChassisAmbient),
        why: "an air inlet entity's temperature: the chassis ambient",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[BOARD_WORDS],
        max_upper: Some(INLET_UPPER_MAX),
        class: Some(Class::ChassisAmbient),
        why: "a chassis or board temperature with inlet-like thresholds (upper critical at most 55 C): the chassis ambient",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        entities: &[e::SYSTEM_CHASSIS, e::SYSTEM_BOARD, e::BASEBOARD_DCMI],
        max_upper: Some(INLET_UPPER_MAX),
        class: Some(Class::ChassisAmbient),
        why: "a chassis or board entity's temperature with inlet-like thresholds: the chassis ambient",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        words: &[&[
            "SYSTEM",
            "SYS",
            "BOARD",
            "MB",
            "BB",
            "PERIPHERAL",
            "CHASSIS",
        ]],
        why: "a board temperature (a thermistor on the board, hotter than the air coming in): no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        entities: &[e::SYSTEM_CHASSIS, e::SYSTEM_BOARD, e::BASEBOARD_DCMI],
        why: "a chassis or board temperature without inlet-like thresholds: no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::TEMPERATURE],
        why: "a temperature of a part the catalog has no message for",
        ..ANY
    },
    // Fans.
    Rule {
        sensor_types: &[t::FAN],
        reading: Reading::Code(reading_type::REDUNDANCY),
        why: "fan redundancy: the catalog has no message for it",
        ..ANY
    },
    Rule {
        sensor_types: &[t::FAN],
        reading: Reading::Code(reading_type::DIGITAL),
        words: &[PSU_WORDS, &["FAIL", "FAULT"]],
        class: Some(Class::PsuFan),
        why: "a power supply's fan failure bit (735012/735011)",
        ..ANY
    },
    Rule {
        sensor_types: &[t::FAN],
        reading: Reading::Code(reading_type::DIGITAL),
        words: &[&["FAIL", "FAULT"]],
        class: Some(Class::Fan),
        why: "a fan failure bit (735002/735001)",
        ..ANY
    },
    Rule {
        sensor_types: &[t::FAN],
        reading: Reading::Discrete,
        why: "a fan presence or other state: no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::FAN],
        units: Units::Percent,
        why: "fan speed in percent: 735001/735002 judge RPM",
        ..ANY
    },
    Rule {
        sensor_types: &[t::FAN],
        units: Units::NotIn(&[unit::RPM]),
        why: "a fan sensor whose unit is not RPM (duty cycle, airflow)",
        ..ANY
    },
    Rule {
        sensor_types: &[t::FAN],
        words: &[PSU_WORDS],
        class: Some(Class::PsuFan),
        why: "a power supply's fan (by name)",
        ..ANY
    },
    Rule {
        sensor_types: &[t::FAN],
        entities: &[e::POWER_SUPPLY],
        class: Some(Class::PsuFan),
        why: "a power supply entity's fan",
        ..ANY
    },
    Rule {
        sensor_types: &[t::FAN],
        class: Some(Class::Fan),
        why: "a chassis fan",
        ..ANY
    },
    // Voltages.
    Rule {
        sensor_types: &[t::VOLTAGE],
        reading: Reading::Discrete,
        why: "a power-good or voltage state bit: no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::VOLTAGE],
        units: Units::NotIn(&[unit::VOLTS]),
        why: "a voltage sensor whose unit is not volts",
        ..ANY
    },
    Rule {
        sensor_types: &[t::VOLTAGE],
        class: Some(Class::Voltage),
        why: "a voltage rail",
        ..ANY
    },
    // Power supplies.
    Rule {
        sensor_types: &[t::POWER_SUPPLY, t::POWER_UNIT],
        reading: Reading::Code(reading_type::REDUNDANCY),
        class: Some(Class::PsuRedundancy),
        why: "the BMC's power-supply redundancy sensor (735006/735005)",
        ..ANY
    },
    Rule {
        sensor_types: &[t::POWER_SUPPLY],
        reading: Reading::Code(reading_type::SENSOR_SPECIFIC),
        mask: Mask::Lacks(1 << 0),
        why: "a supply-typed record that cannot report presence (a mismatch or configuration record): not one supply",
        ..ANY
    },
    Rule {
        sensor_types: &[t::POWER_SUPPLY],
        reading: Reading::Code(reading_type::SENSOR_SPECIFIC),
        mask: Mask::AssertsOnly(1 << PSU_CONFIGURATION_ERROR),
        why: "a supply-typed record that asserts only a configuration error (Dell's PSU Mismatch): not one supply",
        ..ANY
    },
    Rule {
        sensor_types: &[t::POWER_SUPPLY],
        reading: Reading::Code(reading_type::SENSOR_SPECIFIC),
        class: Some(Class::Psu),
        why: "a power supply's presence and failure states",
        ..ANY
    },
    Rule {
        sensor_types: &[t::POWER_SUPPLY],
        reading: Reading::Codes(&[reading_type::DIGITAL, reading_type::SEVERITY]),
        words: &[FLAG_WORDS, PSU_WORDS],
        class: Some(Class::Psu),
        fold: true,
        why: SUPPLY_FLAG,
        ..ANY
    },
    Rule {
        sensor_types: &[t::POWER_SUPPLY],
        reading: Reading::Codes(&[reading_type::DIGITAL, reading_type::SEVERITY]),
        entities: &[
            e::SYSTEM_BOARD,
            e::BASEBOARD_DCMI,
            e::SYSTEM_CHASSIS,
            e::PROCESSOR_BOARD,
        ],
        why: "a supply-typed fault flag of the board that names no supply (IBM's VT Fault): not one supply",
        ..ANY
    },
    Rule {
        sensor_types: &[t::POWER_SUPPLY],
        reading: Reading::Codes(&[reading_type::DIGITAL, reading_type::SEVERITY]),
        words: &[FLAG_WORDS],
        class: Some(Class::Psu),
        fold: true,
        why: SUPPLY_FLAG,
        ..ANY
    },
    Rule {
        sensor_types: &[t::POWER_SUPPLY],
        why: "a power supply reading other than its states (power, current)",
        ..ANY
    },
    Rule {
        sensor_types: &[t::POWER_UNIT],
        why: "power unit states (power off, AC lost of the unit): no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::CURRENT],
        why: "current or power: no catalog message",
        ..ANY
    },
    Rule {
        sensor_types: &[t::OTHER_UNITS],
        why: "usage, airflow or power (other units): no catalog message",
        ..ANY
    },
    Rule {
        why: "a sensor type the catalog has no message for",
        ..ANY
    },
];

/// What `--board auto` needs of one SDR: a neutral summary, independent of the IPMI library.
#[derive(Debug, Clone, PartialEq)]
pub struct SdrSensor {
    /// Sensor owner (0x20: the BMC).
    pub owner_id: u8,
    /// Sensor owner LUN.
    pub owner_lun: u8,
    /// Sensor number.
    pub number: u8,
    /// ID string.
    pub name: String,
    /// Sensor type code.
    pub sensor_type: u8,
    /// Event/reading type code.
    pub reading_type: u8,
    /// Entity ID.
    pub entity_id: u8,
    /// Entity instance.
    pub entity_instance: u8,
    /// Base unit code (0 when the record has none).
    pub base_unit: u8,
    /// The SDR's percentage flag.
    pub percentage: bool,
    /// Threshold or discrete.
    pub kind: SdrKind,
    /// Hysteresis in the sensor's unit, when the BMC gives one.
    pub hysteresis: Option<f64>,
    /// Discrete sensors: the states it can report (the SDR's reading mask; 0: not stated).
    pub reading_mask: u16,
    /// Discrete sensors: the SDR's assertion event mask (offsets 0-14); 0 for threshold
    /// sensors or a record that states none.
    pub assertion_mask: u16,
}

/// Whether a sensor reports a value against thresholds or discrete states.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SdrKind {
    /// A threshold sensor with its readable thresholds, converted to the sensor's unit.
    Threshold {
        /// Upper non-recoverable.
        unr: Option<f64>,
        /// Upper critical.
        uc: Option<f64>,
        /// Upper non-critical.
        unc: Option<f64>,
        /// Lower non-recoverable.
        lnr: Option<f64>,
        /// Lower critical.
        lc: Option<f64>,
        /// Lower non-critical.
        lnc: Option<f64>,
    },
    /// A discrete (state) sensor.
    Discrete,
}

/// The percent base unit (IPMI 2.0 table 43-15, code 0 is "unspecified").
const PERCENT_UNIT: u8 = 0xFE;

/// The words of a sensor name (see the module docs).
pub fn words(name: &str) -> Vec<String> {
    let upper = name.trim().to_ascii_uppercase();
    // HPE: "02-CPU 1", "17-VR P1": a leading index and a dash.
    let upper = match upper.split_once('-') {
        Some((n, rest)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => {
            rest.to_string()
        }
        _ => upper,
    };
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut last_digit = None;
    for c in upper.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            last_digit = None;
            continue;
        }
        let digit = c.is_ascii_digit();
        if last_digit.is_some_and(|d| d != digit) && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        cur.push(c);
        last_digit = Some(digit);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    // "P" followed by a number: a processor socket.
    let sockets: Vec<String> = out
        .windows(2)
        .filter(|w| w[0] == "P" && w[1].chars().all(|c| c.is_ascii_digit()))
        .map(|_| "P#".to_string())
        .collect();
    out.extend(sockets);
    out
}

/// Rule words that match whole name words only (inside longer words they mean something
/// else: `PLANAR` is not a `LAN`).
pub const WHOLE: &[&str] = &["LAN", "AIR", "SAS", "ROOM", "SYS", "AMB", "REG", "DTS"];

/// Whether `want` (one word, or several separated by spaces) is in `words`.
pub(crate) fn has_word(words: &[String], want: &str) -> bool {
    let parts: Vec<&str> = want.split(' ').collect();
    if parts.len() > 1 {
        return words
            .windows(parts.len())
            .any(|w| w.iter().zip(&parts).all(|(a, b)| a == b));
    }
    if want == "P#" {
        return words.iter().any(|w| w == "P#");
    }
    // Short words must match whole (SB, NB, PS, FP, MB, BB, BP, M2, VR): "SB" is not "SBE".
    let inside = want.len() >= 3 && !WHOLE.contains(&want);
    words
        .iter()
        .filter(|w| *w != "P#")
        .any(|w| w == want || (inside && w.contains(want)))
}

fn matches(rule: &Rule, s: &SdrSensor, words: &[String]) -> bool {
    let threshold = matches!(s.kind, SdrKind::Threshold { .. });
    let reading_ok = match rule.reading {
        Reading::Any => true,
        Reading::Threshold => threshold,
        Reading::Code(c) => s.reading_type == c,
        Reading::Codes(cs) => cs.contains(&s.reading_type),
        Reading::Discrete => !threshold,
    };
    let percent = s.percentage || s.base_unit == PERCENT_UNIT;
    let units_ok = match rule.units {
        Units::Any => true,
        Units::Percent => percent,
        Units::NotIn(list) => threshold && !percent && !list.contains(&s.base_unit),
    };
    (rule.sensor_types.is_empty() || rule.sensor_types.contains(&s.sensor_type))
        && reading_ok
        && (rule.entities.is_empty() || rule.entities.contains(&s.entity_id))
        && rule
            .words
            .iter()
            .all(|group| group.iter().any(|w| has_word(words, w)))
        && units_ok
        && match rule.mask {
            Mask::Any => true,
            Mask::Lacks(bits) => s.reading_mask != 0 && s.reading_mask & bits == 0,
            Mask::AssertsOnly(bits) => s.assertion_mask != 0 && s.assertion_mask & !bits == 0,
        }
        && rule
            .max_upper
            .is_none_or(|max| upper(s).is_some_and(|u| u <= max))
}

/// A threshold sensor's upper critical threshold, else its upper non-critical one.
fn upper(s: &SdrSensor) -> Option<f64> {
    match s.kind {
        SdrKind::Threshold { uc, unc, .. } => uc.or(unc),
        SdrKind::Discrete => None,
    }
}

/// The decision for one SDR sensor: its class (or none) and the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The class, or `None`: not monitored.
    pub class: Option<Class>,
    /// Folded into its part's item (see [`Rule::fold`]).
    pub fold: bool,
    /// Why.
    pub why: &'static str,
}

/// Decides one sensor: records envmon cannot read directly, then the first matching rule.
pub fn classify(s: &SdrSensor) -> Decision {
    if s.owner_id != 0x20 || s.owner_lun != 0 {
        return Decision {
            class: None,
            fold: false,
            why: "owned by another controller or by system software: not read by envmon",
        };
    }
    let w = words(&s.name);
    RULES.iter().find(|r| matches(r, s, &w)).map_or(
        Decision {
            class: None,
            fold: false,
            why: "no rule",
        },
        |r| Decision {
            class: r.class,
            fold: r.fold,
            why: r.why,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_words() {
        assert_eq!(words("Vcpu1VRM Temp"), ["VCPU", "1", "VRM", "TEMP"]);
        assert_eq!(words("02-CPU 1"), ["CPU", "1"]);
        assert_eq!(words("BB P1 VR Temp"), ["BB", "P", "1", "VR", "TEMP", "P#"]);
        assert_eq!(
            words("W793_FAN1_TACH1"),
            ["W", "793", "FAN", "1", "TACH", "1"]
        );
        assert_eq!(words("P1-DIMMA~D VR"), ["P", "1", "DIMMA", "D", "VR", "P#"]);
    }

    #[test]
    fn short_words_match_whole_and_long_ones_inside() {
        let w = words("SBE Log Disabled");
        assert!(!has_word(&w, "SB"));
        assert!(has_word(&words("VmemABVRM Temp"), "MEM"));
        assert!(has_word(&words("VRMCpu1 Temp"), "CPU"));
        assert!(!has_word(&words("Planar Temp"), "LAN"));
        assert!(has_word(&words("15-P/S 1 Inlet"), "P S"));
        assert!(has_word(&words("P1-DIMMA~D VR"), "DIMM"));
        assert!(has_word(&words("Power Supply 1"), "POWER SUPPLY"));
        assert!(!has_word(&words("PCH Temp"), "P#"));
    }
}
