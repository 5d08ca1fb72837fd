//! `--board auto` for Redfish: the neutral summary of one Redfish sensor ([`RfSensor`], made
//! by the Redfish source from a service's resources) and the rules that classify it
//! ([`RF_RULES`], data beside the IPMI rules of [`crate::classify`]).
//!
//! Redfish says what IPMI leaves to guesswork: a sensor's `PhysicalContext` (CPU, Intake,
//! PowerSupply, VoltageRegulator, SystemBoard, Exhaust), its reading type and units, and the
//! kind of resource it came from (a `Sensor`, a member of the deprecated `Thermal`/`Power`, a
//! `Fan`, a `PowerSupply`). The rules match on those first; name words only settle what the
//! context leaves open (a regulator of a CPU, the IO hub on the system board).

use crate::classify::{
    BMC_WORDS, BOARD_WORDS, CARD_WORDS, CPU_WORDS, EXHAUST_WORDS, INLET_WORDS, MARGIN_WORDS,
    MEMORY_WORDS, NIC_WORDS, PCH_WORDS, PSU_WORDS, STORAGE_WORDS, VR_WORDS, ZONE_WORDS, has_word,
    words,
};
use envmon_core::engine::Class;

/// The kind of Redfish resource a sensor came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RfResource {
    /// A `Sensor` (the `Sensors` collection, or `ThermalMetrics`' temperature readings).
    Sensor,
    /// A member of the deprecated `Thermal` resource's `Temperatures`.
    ThermalTemperature,
    /// A member of the deprecated `Thermal` resource's `Fans`.
    ThermalFan,
    /// A member of the deprecated `Power` resource's `Voltages`.
    PowerVoltage,
    /// A `PowerSupply` (the `PowerSubsystem`), or a member of the deprecated `Power`'s
    /// `PowerSupplies`.
    PowerSupply,
    /// A `Fan` of the `ThermalSubsystem`.
    Fan,
    /// A `Redundancy` group of power supplies (`Power.Redundancy`, `PowerSubsystem`'s
    /// `PowerSupplyRedundancy`).
    SupplyRedundancy,
}

impl RfResource {
    /// Its name in `board explain` and the expected files.
    pub fn name(self) -> &'static str {
        match self {
            RfResource::Sensor => "Sensor",
            RfResource::ThermalTemperature => "Thermal.Temperatures",
            RfResource::ThermalFan => "Thermal.Fans",
            RfResource::PowerVoltage => "Power.Voltages",
            RfResource::PowerSupply => "PowerSupply",
            RfResource::Fan => "Fan",
            RfResource::SupplyRedundancy => "Redundancy",
        }
    }
}

/// A sensor's thresholds as Redfish names them (caution, critical, fatal; upper and lower),
/// in the sensor's units.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RfThresholds {
    /// `UpperCaution` (`UpperThresholdNonCritical`).
    pub upper_caution: Option<f64>,
    /// `UpperCritical` (`UpperThresholdCritical`).
    pub upper_critical: Option<f64>,
    /// `UpperFatal` (`UpperThresholdFatal`).
    pub upper_fatal: Option<f64>,
    /// `LowerCaution` (`LowerThresholdNonCritical`).
    pub lower_caution: Option<f64>,
    /// `LowerCritical` (`LowerThresholdCritical`).
    pub lower_critical: Option<f64>,
    /// `LowerFatal` (`LowerThresholdFatal`).
    pub lower_fatal: Option<f64>,
}

/// What `--board auto` needs of one Redfish sensor.
#[derive(Debug, Clone, PartialEq)]
pub struct RfSensor {
    /// Where it is read: the resource's `@odata.id` (with its JSON pointer for a member of
    /// `Thermal`/`Power`: `/redfish/v1/Chassis/1/Thermal#/Temperatures/0`).
    pub uri: String,
    /// Its `Name` (sanitized).
    pub name: String,
    /// The resource it came from.
    pub resource: RfResource,
    /// What it measures: the `ReadingType` (`Temperature`, `Rotational`, `Percent`,
    /// `Voltage`, `Current`, `Power`, `EnergykWh`, ...), or what the resource implies.
    pub reading_type: Option<String>,
    /// `ReadingUnits` (`Cel`, `RPM`, `%`, `V`, `A`, `W`, `kW.h`).
    pub units: Option<String>,
    /// `PhysicalContext`.
    pub context: Option<String>,
    /// The reading.
    pub reading: Option<f64>,
    /// Its thresholds.
    pub thresholds: RfThresholds,
    /// `Status.State` (`Enabled`, `Absent`, `Disabled`, ...).
    pub state: Option<String>,
    /// `Status.Health` (`OK`, `Warning`, `Critical`).
    pub health: Option<String>,
}

/// One Redfish rule: every condition given must hold.
#[derive(Debug, Clone, Copy)]
pub struct RfRule {
    /// Resource kinds (empty: any).
    pub resources: &'static [RfResource],
    /// Reading types (empty: any).
    pub reading_types: &'static [&'static str],
    /// Physical contexts (empty: any; `-` matches a sensor without one).
    pub contexts: &'static [&'static str],
    /// Name words: each group must have a word in the name (empty: no condition).
    pub words: &'static [&'static [&'static str]],
    /// The class, or `None`: not monitored.
    pub class: Option<Class>,
    /// A power, current or energy figure: shown and exported, never judged.
    pub power: bool,
    /// Why, in a few words.
    pub why: &'static str,
}

const ANY: RfRule = RfRule {
    resources: &[],
    reading_types: &[],
    contexts: &[],
    words: &[],
    class: None,
    power: false,
    why: "",
};

use RfResource as R;

const TEMPERATURES: &[RfResource] = &[R::Sensor, R::ThermalTemperature];
const TEMP: &[&str] = &["Temperature"];

/// The rules, first match wins: what `--board auto` monitors on a Redfish service and why
/// everything else is left out.
pub const RF_RULES: &[RfRule] = &[
    RfRule {
        resources: &[R::PowerSupply],
        class: Some(Class::Psu),
        why: "a power supply: its State says present or absent, its Health failed or not",
        ..ANY
    },
    RfRule {
        resources: &[R::SupplyRedundancy],
        class: Some(Class::PsuRedundancy),
        why: "the service's power-supply redundancy group",
        ..ANY
    },
    // Temperatures. Names first, as for IPMI (the same word lists): a context can be wrong
    // (Gigabyte's MegaRAC puts every temperature in Intake) or missing (Intel's has none).
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[MARGIN_WORDS],
        why: "a thermal margin (distance to Tjmax), not a temperature",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[MEMORY_WORDS],
        why: "memory (DIMM or memory regulator): no catalog message",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[STORAGE_WORDS],
        why: "storage: no catalog message",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[NIC_WORDS],
        why: "network adapter: no catalog message",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[BMC_WORDS],
        why: "the management controller: no catalog message",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[CARD_WORDS],
        why: "add-in card or riser: no catalog message",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[ZONE_WORDS],
        why: "the air of a zone near a part (HPE's \"... Zone\"), not the part",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[&["PKGTMP"]],
        why: "a CPU's package temperature beside its CPU sensor (HPE): the CPU is watched once",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[VR_WORDS, CPU_WORDS],
        class: Some(Class::CpuVrTemp),
        why: "a voltage regulator named for a CPU",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[VR_WORDS],
        why: "a voltage regulator not tied to a CPU: no catalog message",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[PCH_WORDS],
        class: Some(Class::IohubTemp),
        why: "the IO hub (PCH, IOH, SSB, chipset)",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[EXHAUST_WORDS],
        why: "exhaust air (hotter than what comes in): not the chassis ambient",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[INLET_WORDS],
        contexts: &["Intake", "Room", "Chassis", "-"],
        class: Some(Class::ChassisAmbient),
        why: "the air coming in (by name, in the Intake, Room or Chassis context or none)",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[INLET_WORDS],
        why: "the inlet of a part (a supply's, the board's), not the chassis'",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[PSU_WORDS],
        class: Some(Class::PsuTemp),
        why: "a power supply's temperature (by name)",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[CPU_WORDS],
        class: Some(Class::CpuTemp),
        why: "a CPU temperature (by name, whatever the context says)",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        words: &[BOARD_WORDS],
        why: "a board or system thermistor: not the air coming in",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        contexts: &["CPU"],
        class: Some(Class::CpuTemp),
        why: "a temperature in the CPU context",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        contexts: &["Intake", "Room"],
        class: Some(Class::ChassisAmbient),
        why: "the air coming in (Intake context)",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        contexts: &["PowerSupply"],
        class: Some(Class::PsuTemp),
        why: "a temperature in the PowerSupply context",
        ..ANY
    },
    RfRule {
        resources: TEMPERATURES,
        reading_types: TEMP,
        why: "a temperature the catalog has no message for (exhaust, board, battery, other parts)",
        ..ANY
    },
    // Fans: a supply's own, then the chassis'.
    RfRule {
        resources: &[R::Fan, R::ThermalFan, R::Sensor],
        reading_types: &["Rotational", "Percent"],
        contexts: &["PowerSupply"],
        class: Some(Class::PsuFan),
        why: "a fan in the PowerSupply context",
        ..ANY
    },
    RfRule {
        resources: &[R::Fan, R::ThermalFan],
        class: Some(Class::Fan),
        why: "a chassis fan",
        ..ANY
    },
    RfRule {
        resources: &[R::Sensor],
        reading_types: &["Rotational"],
        class: Some(Class::Fan),
        why: "a fan speed sensor the service lists without a Fan resource",
        ..ANY
    },
    RfRule {
        resources: &[R::Sensor],
        reading_types: &["Percent"],
        why: "a percentage (fan duty, utilisation): no catalog message",
        ..ANY
    },
    // Voltages.
    RfRule {
        resources: &[R::PowerVoltage, R::Sensor],
        reading_types: &["Voltage"],
        class: Some(Class::Voltage),
        why: "a voltage rail",
        ..ANY
    },
    // Power figures: read and shown, never judged.
    RfRule {
        resources: &[R::Sensor],
        reading_types: &["Power", "Current", "EnergykWh", "EnergyJoules", "EnergyWh"],
        power: true,
        why: "power, current or energy: shown and exported, no catalog message",
        ..ANY
    },
    RfRule {
        why: "a reading the catalog has no message for",
        ..ANY
    },
];

/// The decision for one Redfish sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RfDecision {
    /// The class, or `None`.
    pub class: Option<Class>,
    /// A power figure.
    pub power: bool,
    /// Why.
    pub why: &'static str,
}

fn matches(r: &RfRule, s: &RfSensor, w: &[String]) -> bool {
    let in_list = |list: &[&str], v: Option<&str>| {
        list.is_empty()
            || match v {
                Some(v) => list.contains(&v),
                None => list.contains(&"-"),
            }
    };
    (r.resources.is_empty() || r.resources.contains(&s.resource))
        && (r.reading_types.is_empty()
            || s.reading_type
                .as_deref()
                .is_some_and(|t| r.reading_types.contains(&t)))
        && in_list(r.contexts, s.context.as_deref())
        && r.words
            .iter()
            .all(|group| group.iter().any(|g| has_word(w, g)))
}

/// Decides one Redfish sensor: the first matching rule of [`RF_RULES`].
pub fn classify_redfish(s: &RfSensor) -> RfDecision {
    let w = words(&s.name);
    RF_RULES.iter().find(|r| matches(r, s, &w)).map_or(
        RfDecision {
            class: None,
            power: false,
            why: "no rule",
        },
        |r| RfDecision {
            class: r.class,
            power: r.power,
            why: r.why,
        },
    )
}

/// The limits of a Redfish sensor of `class`: caution, critical and fatal are IPMI's
/// non-critical, critical and non-recoverable ([`crate::auto::limits_of`]).
fn rf_limits(class: Class, t: &RfThresholds) -> envmon_core::engine::Limits {
    crate::auto::limits_of(
        class,
        crate::auto::Ranks {
            upper: [t.upper_caution, t.upper_critical, t.upper_fatal],
            lower_critical: t.lower_critical,
            lower_fatal: t.lower_fatal,
        },
    )
}

/// The label a Redfish sensor's messages print: the number its name gives the part (`CPU1
/// Temp` -> `1`, `Fan Bay 2` -> `2`, `PS1 Temperature` -> `1`), else none (numbered in
/// discovery order).
fn rf_label(class: Class, name: &str) -> Option<String> {
    use crate::auto::number_after;
    let w = words(name);
    const CPU: &[&str] = &["CPU", "PROC", "P", "SOCKET"];
    const PSU: &[&str] = &["PSU", "PS", "PWS", "SUPPLY", "P S"];
    match class {
        Class::Fan => number_after(&w, &["BAY"], true).or_else(|| number_after(&w, &["FAN"], true)),
        Class::PsuFan => number_after(&w, PSU, false),
        Class::CpuTemp | Class::CpuVrTemp => number_after(&w, CPU, false),
        Class::Psu | Class::PsuTemp => {
            number_after(&w, PSU, false).or_else(|| number_after(&w, &["BAY"], false))
        }
        _ => None,
    }
}

/// `--board auto` on a Redfish service: an item per sensor the rules monitor (power figures
/// are not items: they are shown, never judged), labelled, with its limits; `min-psus` is
/// the number of supplies when there are two or more. Returns the board and a note per
/// sensor left out.
pub fn auto_board_redfish(sensors: &[RfSensor]) -> (crate::Board, Vec<String>) {
    use crate::auto::{id_for, unique_label};
    use crate::{Board, Item, Source};
    use envmon_core::engine::{Limits, SensorSpec, TempUnit};
    let mut items: Vec<Item> = Vec::new();
    let mut notes = Vec::new();
    let mut pending = Vec::new();
    for (at, s) in sensors.iter().enumerate() {
        let d = classify_redfish(s);
        let Some(class) = d.class else {
            if !d.power {
                notes.push(format!(
                    "sensor {} ({}) not monitored: {}",
                    s.name, s.uri, d.why
                ));
            }
            continue;
        };
        pending.push((at, class, rf_label(class, &s.name)));
    }
    // Sensors whose name carries their label first, then the others numbered in order.
    pending.sort_by_key(|(at, _, label)| (label.is_none(), *at));
    let mut made: Vec<(usize, Item)> = Vec::new();
    for (at, class, label) in pending {
        let Some(s) = sensors.get(at) else { continue };
        let limits = rf_limits(class, &s.thresholds);
        let taken: Vec<Item> = made.iter().map(|(_, i)| i.clone()).collect();
        let item = Item {
            id: id_for(&s.name, &taken),
            source: Source::Redfish(s.uri.clone()),
            optional: true,
            discovered: true,
            also: Vec::new(),
            spec: SensorSpec {
                class,
                label: unique_label(class, label, &taken),
                hysteresis: match limits {
                    Limits::Fan { .. } => 100.0,
                    Limits::Temperature { .. } => 2.0,
                    _ => 0.0,
                },
                limits,
                debounce: 2,
                unavailable_after: 3,
                unit: TempUnit::C,
            },
        };
        made.push((at, item));
    }
    made.sort_by_key(|(at, _)| *at);
    items.extend(made.into_iter().map(|(_, i)| i));
    // Supplies fitted: an empty bay (`State: Absent`) is no supply to be redundant with.
    let psus = sensors
        .iter()
        .filter(|s| classify_redfish(s).class == Some(Class::Psu))
        .filter(|s| s.state.as_deref() != Some("Absent"))
        .count();
    let board = Board {
        base_auto: true,
        name: "auto".into(),
        description: "discovered from the Redfish service".into(),
        min_psus: if psus >= 2 { psus } else { 0 },
        items,
        pci: Vec::new(),
    };
    (board, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, context: Option<&str>) -> RfSensor {
        RfSensor {
            uri: "/redfish/v1/Chassis/1/Sensors/T".into(),
            name: name.into(),
            resource: RfResource::Sensor,
            reading_type: Some("Temperature".into()),
            units: Some("Cel".into()),
            context: context.map(str::to_string),
            reading: Some(30.0),
            thresholds: RfThresholds::default(),
            state: Some("Enabled".into()),
            health: Some("OK".into()),
        }
    }

    #[test]
    fn context_first_then_words() {
        let c = |name, ctx| classify_redfish(&temp(name, ctx)).class;
        assert_eq!(c("CPU #1 Temperature", Some("CPU")), Some(Class::CpuTemp));
        assert_eq!(c("Intake", Some("Intake")), Some(Class::ChassisAmbient));
        assert_eq!(c("Exhaust", Some("Exhaust")), None);
        assert_eq!(
            c("CPU1 VR Temp", Some("VoltageRegulator")),
            Some(Class::CpuVrTemp)
        );
        assert_eq!(c("DIMM VR Temp", Some("VoltageRegulator")), None);
        assert_eq!(c("PCH Temp", Some("SystemBoard")), Some(Class::IohubTemp));
        assert_eq!(c("Proc 1 Temp", None), Some(Class::CpuTemp));
        assert_eq!(c("BB Inlet Temp", None), Some(Class::ChassisAmbient));
        assert_eq!(c("Board Temp", None), None);
    }

    #[test]
    fn the_auto_board_takes_labels_and_limits_from_the_service() {
        let mut cpu = temp("CPU #1 Temperature", Some("CPU"));
        cpu.thresholds = RfThresholds {
            upper_caution: Some(42.0),
            upper_critical: Some(45.0),
            upper_fatal: Some(50.0),
            ..RfThresholds::default()
        };
        let fan = RfSensor {
            uri: "/redfish/v1/Chassis/1/ThermalSubsystem/Fans/Bay2".into(),
            name: "Fan Bay 2".into(),
            resource: RfResource::Fan,
            reading_type: Some("Rotational".into()),
            thresholds: RfThresholds {
                lower_critical: Some(300.0),
                ..RfThresholds::default()
            },
            ..cpu.clone()
        };
        let (board, notes) = auto_board_redfish(&[cpu, fan, temp("DIMM #1 Temperature", None)]);
        assert_eq!(board.items.len(), 2);
        assert_eq!(notes.len(), 1, "{notes:?}");
        let (c, f) = (&board.items[0], &board.items[1]);
        assert_eq!((c.spec.label.as_str(), f.spec.label.as_str()), ("1", "2"));
        assert_eq!(
            c.spec.limits,
            envmon_core::engine::Limits::Temperature {
                warm: Some(42.0),
                critical: Some(45.0),
                shutdown: Some(50.0)
            }
        );
        assert_eq!(
            f.spec.limits,
            envmon_core::engine::Limits::Fan {
                min_rpm: Some(300.0)
            }
        );
        assert_eq!(
            f.source.to_string(),
            "redfish:/redfish/v1/Chassis/1/ThermalSubsystem/Fans/Bay2"
        );
    }
}
