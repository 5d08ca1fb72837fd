//! `--board auto`: a board made from the BMC's SDR repository.
//!
//! Sensors are classified by IPMI sensor type and entity ID (IPMI 2.0 tables 42-3 and 43-13);
//! thresholds come from the SDR: upper non-critical -> warm, upper critical -> critical,
//! upper non-recoverable -> shutdown; a fan's lower critical -> its minimum; a voltage's lower
//! and upper critical -> its limits. Items of an override board replace the item made for the
//! same sensor (matched by SDR name or number) and are otherwise added.

use crate::{Board, Item, Source};
use envmon_core::engine::{Class, Limits, SensorSpec, TempUnit};

/// IPMI sensor type codes envmon classifies.
pub mod sensor_type {
    /// Temperature.
    pub const TEMPERATURE: u8 = 0x01;
    /// Voltage.
    pub const VOLTAGE: u8 = 0x02;
    /// Fan.
    pub const FAN: u8 = 0x04;
    /// Power supply (discrete: presence, failure, AC lost, ...).
    pub const POWER_SUPPLY: u8 = 0x08;
}

/// IPMI entity IDs envmon classifies.
pub mod entity {
    /// Processor.
    pub const PROCESSOR: u8 = 0x03;
    /// System board.
    pub const SYSTEM_BOARD: u8 = 0x07;
    /// Power supply.
    pub const POWER_SUPPLY: u8 = 0x0A;
    /// Power module / DC-to-DC converter (the CPU voltage regulator).
    pub const POWER_MODULE: u8 = 0x14;
    /// System chassis.
    pub const SYSTEM_CHASSIS: u8 = 0x17;
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

/// What `--board auto` needs of one SDR: a neutral summary, independent of the IPMI library.
#[derive(Debug, Clone, PartialEq)]
pub struct SdrSensor {
    /// Sensor number.
    pub number: u8,
    /// ID string.
    pub name: String,
    /// Sensor type code.
    pub sensor_type: u8,
    /// Entity ID.
    pub entity_id: u8,
    /// Entity instance.
    pub entity_instance: u8,
    /// Threshold or discrete.
    pub kind: SdrKind,
}

fn classify(s: &SdrSensor) -> Result<(Class, Limits), String> {
    use SdrKind::{Discrete, Threshold};
    match (s.sensor_type, s.kind) {
        (sensor_type::TEMPERATURE, Threshold { unr, uc, unc, .. }) => {
            let class = match s.entity_id {
                entity::PROCESSOR | entity::PROCESSOR_DCMI => Class::CpuTemp,
                entity::POWER_MODULE => Class::CpuVrTemp,
                entity::POWER_SUPPLY => Class::PsuTemp,
                entity::IO_MODULE | entity::PROCESSOR_IO_MODULE => Class::IohubTemp,
                entity::SYSTEM_CHASSIS
                | entity::EXTERNAL_ENVIRONMENT
                | entity::AIR_INLET
                | entity::AIR_INLET_DCMI
                | entity::SYSTEM_BOARD
                | entity::BASEBOARD_DCMI => Class::ChassisAmbient,
                e => return Err(format!("temperature of entity 0x{e:02x} has no class")),
            };
            if unc.is_none() && uc.is_none() && unr.is_none() {
                return Err("temperature without readable upper thresholds".into());
            }
            // Keep only thresholds that rise, as a board file must.
            let mut last = f64::NEG_INFINITY;
            let mut rising = |t: Option<f64>| t.filter(|v| *v > last).inspect(|v| last = *v);
            let (warm, critical, shutdown) = (rising(unc), rising(uc), rising(unr));
            Ok((
                class,
                Limits::Temperature {
                    warm,
                    critical,
                    shutdown,
                },
            ))
        }
        (sensor_type::FAN, Threshold { lc, .. }) => {
            let class = if s.entity_id == entity::POWER_SUPPLY {
                Class::PsuFan
            } else {
                Class::Fan
            };
            let min = lc.ok_or("fan without a readable lower critical threshold")?;
            Ok((class, Limits::Fan { min_rpm: min }))
        }
        (sensor_type::VOLTAGE, Threshold { lc, uc, .. }) => match (lc, uc) {
            (Some(low), Some(high)) if low < high => {
                Ok((Class::Voltage, Limits::Voltage { low, high }))
            }
            _ => Err("voltage without readable lower and upper critical thresholds".into()),
        },
        (sensor_type::POWER_SUPPLY, Discrete) => Ok((Class::Psu, Limits::Discrete)),
        (t, _) => Err(format!("sensor type 0x{t:02x} is not monitored")),
    }
}

/// The label messages print: the first number in the SDR name (`FAN2` -> `2`), else the
/// entity instance.
fn label(s: &SdrSensor) -> String {
    let digits: String = s
        .name
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    if digits.is_empty() {
        (s.entity_instance & 0x7f).to_string()
    } else {
        digits
    }
}

fn id_for(name: &str, taken: &[Item]) -> String {
    let mut base: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    base.truncate(28);
    let base = if base.trim_matches('-').is_empty() {
        "sensor".to_string()
    } else {
        base
    };
    let mut id = base.clone();
    let mut n = 2;
    while taken.iter().any(|i| i.id == id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

fn matches(source: &Source, s: &SdrSensor) -> bool {
    match source {
        Source::IpmiName(n) => *n == s.name,
        Source::IpmiNumber(n) => *n == s.number,
        _ => false,
    }
}

/// Builds a board from SDR sensors, then applies `overrides`. Returns the board and one note
/// per SDR sensor that was not monitored, saying why.
pub fn auto_board(sdrs: &[SdrSensor], overrides: Option<&Board>) -> (Board, Vec<String>) {
    let mut items: Vec<Item> = Vec::new();
    let mut notes = Vec::new();
    for s in sdrs {
        if let Some(o) = overrides.and_then(|b| b.items.iter().find(|i| matches(&i.source, s))) {
            items.push(o.clone());
            continue;
        }
        match classify(s) {
            Ok((class, limits)) => {
                let hysteresis = match limits {
                    Limits::Fan { .. } => 100.0,
                    Limits::Voltage { .. } => 0.0,
                    _ => 2.0,
                };
                let id = id_for(&s.name, &items);
                items.push(Item {
                    id,
                    source: Source::IpmiNumber(s.number),
                    spec: SensorSpec {
                        class,
                        label: label(s),
                        limits,
                        hysteresis,
                        debounce: 2,
                        unavailable_after: 3,
                        unit: TempUnit::C,
                    },
                });
            }
            Err(why) => notes.push(format!(
                "sensor {} (#{}) not monitored: {why}",
                s.name, s.number
            )),
        }
    }
    if let Some(o) = overrides {
        for extra in &o.items {
            if !sdrs.iter().any(|s| matches(&extra.source, s)) {
                notes.push(format!(
                    "board item {} ({}) matches no SDR sensor",
                    extra.id, extra.source
                ));
                items.push(extra.clone());
            }
        }
    }
    let psus = items.iter().filter(|i| i.spec.class == Class::Psu).count();
    let min_psus = match overrides {
        Some(o) => o.min_psus,
        None if psus >= 2 => psus - 1,
        None => 0,
    };
    let board = Board {
        base_auto: true,
        name: overrides.map_or_else(|| "auto".to_string(), |o| o.name.clone()),
        description: overrides.map_or_else(
            || "discovered from the BMC's SDR repository".to_string(),
            |o| o.description.clone(),
        ),
        min_psus,
        items,
        pci: overrides.map(|o| o.pci.clone()).unwrap_or_default(),
    };
    (board, notes)
}
