//! The one typed model of what the agent knows: [`Environment`], built after every sweep and
//! read by every output (the `show environment` table and JSON, `show metrics`, the metrics
//! file, the SNMP view).
//!
//! JSON appears only where bytes leave the process: the socket serializes an `Environment`
//! with serde, and `envmon show` deserializes it back into the same type. Fields are declared
//! in alphabetical order because that is the order of the keys on the wire
//! (docs/contract.md §4; the JSON has always had sorted keys).

pub mod layout;
pub mod metrics;
pub mod plugin;
pub mod status;

use envmon_core::engine::{Class, Limits, ShutdownKind, State, TempUnit};
pub use envmon_core::pci::PciStatus;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::Arc;

/// A value that is written on the wire as its name (states, classes, monitoring).
pub trait Named: Copy + 'static {
    /// Every value, in the order the outputs list them.
    const ALL: &'static [Self];
    /// What kind of value it is, for errors.
    const WHAT: &'static str;
    /// Its name on the wire.
    fn name(self) -> &'static str;
    /// The value a name stands for.
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }
}

/// Serde by name for any [`Named`] value: `#[serde(with = "named")]`.
mod named {
    use super::Named;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<T: Named, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.name())
    }

    pub fn deserialize<'de, T: Named, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let name = String::deserialize(d)?;
        T::from_name(&name).ok_or_else(|| D::Error::custom(format!("unknown {} '{name}'", T::WHAT)))
    }
}

/// Monitoring as `show environment` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Monitoring {
    /// Sweeping, and the last sweep updated every record.
    Running,
    /// Sweeping with gaps: some records not updated, or the BMC lost for now.
    Degraded,
    /// Not monitoring: no BMC or no usable sensor yet.
    Failed,
}

impl Named for Monitoring {
    const ALL: &'static [Self] = &[
        Monitoring::Running,
        Monitoring::Degraded,
        Monitoring::Failed,
    ];
    const WHAT: &'static str = "monitoring state";
    fn name(self) -> &'static str {
        match self {
            Monitoring::Running => "running",
            Monitoring::Degraded => "degraded",
            Monitoring::Failed => "failed",
        }
    }
}

/// An item's state as `show environment` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Optional and never read, with evidence that its part is not there.
    Absent,
    /// Found by `--board auto`, never read while the source answered cleanly, and unable to
    /// call for a thermal shutdown: taken for a part this server does not have (watched:
    /// monitored once it reads).
    NotFitted,
    /// Judged (or unavailable).
    Is(State),
}

impl Shown {
    /// The judged states, in the order the metrics' stateset lists them.
    pub const STATES: [State; 6] = [
        State::Ok,
        State::Warm,
        State::Critical,
        State::Shutdown,
        State::Failed,
        State::Unavailable,
    ];
}

impl Named for Shown {
    const ALL: &'static [Self] = &[
        Shown::Is(State::Ok),
        Shown::Is(State::Warm),
        Shown::Is(State::Critical),
        Shown::Is(State::Shutdown),
        Shown::Is(State::Failed),
        Shown::Is(State::Unavailable),
        Shown::Absent,
        Shown::NotFitted,
    ];
    const WHAT: &'static str = "state";
    /// `absent`, `not_fitted`, or the state's name.
    fn name(self) -> &'static str {
        match self {
            Shown::Absent => "absent",
            Shown::NotFitted => "not_fitted",
            Shown::Is(s) => s.name(),
        }
    }
}

/// Power-supply redundancy as `show environment` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PsuRedundancy {
    /// The board has none (no redundancy sensor, no `min-psus`), or not evaluated yet.
    NotApplicable,
    /// Enough supplies work.
    Ok,
    /// Redundancy is lost.
    Lost,
}

impl PsuRedundancy {
    /// From "is it lost" (`None`: not checked or not evaluated yet).
    pub fn from_lost(lost: Option<bool>) -> PsuRedundancy {
        match lost {
            None => PsuRedundancy::NotApplicable,
            Some(true) => PsuRedundancy::Lost,
            Some(false) => PsuRedundancy::Ok,
        }
    }
}

impl Named for PsuRedundancy {
    const ALL: &'static [Self] = &[
        PsuRedundancy::NotApplicable,
        PsuRedundancy::Ok,
        PsuRedundancy::Lost,
    ];
    const WHAT: &'static str = "redundancy";
    fn name(self) -> &'static str {
        match self {
            PsuRedundancy::NotApplicable => "n/a",
            PsuRedundancy::Ok => "ok",
            PsuRedundancy::Lost => "lost",
        }
    }
}

impl Named for Class {
    const ALL: &'static [Self] = &Class::ALL;
    const WHAT: &'static str = "class";
    fn name(self) -> &'static str {
        Class::name(self)
    }
}

impl Named for PciStatus {
    const ALL: &'static [Self] = &PciStatus::ALL;
    const WHAT: &'static str = "PCI state";
    fn name(self) -> &'static str {
        PciStatus::name(self)
    }
}

/// An item's thresholds on the wire (issue 35: `envmon check` gives each reading's warning
/// and critical ranges over the socket): `{"critical":90,"shutdown":100,"warm":80}`,
/// `{"min_rpm":2000}`, `{"high":13.2,"low":10.8}`; not on the wire when it has none.
mod wire_limits {
    use envmon_core::engine::Limits;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// The thresholds any class may have, each written only when set (sorted keys).
    /// Unknown keys are ignored (a newer agent's threshold, read by an older client).
    #[derive(Debug, Default, Serialize, Deserialize)]
    struct Wire {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        critical: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        high: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        low: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_rpm: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shutdown: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        warm: Option<f64>,
    }

    /// Whether the item has no threshold to write.
    pub fn none(l: &Limits) -> bool {
        matches!(
            l,
            Limits::Discrete
                | Limits::Fan { min_rpm: None }
                | Limits::Voltage {
                    low: None,
                    high: None
                }
                | Limits::Temperature {
                    warm: None,
                    critical: None,
                    shutdown: None
                }
        )
    }

    pub fn serialize<S: Serializer>(l: &Limits, s: S) -> Result<S::Ok, S::Error> {
        let w = match *l {
            Limits::Temperature {
                warm,
                critical,
                shutdown,
            } => Wire {
                warm,
                critical,
                shutdown,
                ..Wire::default()
            },
            Limits::Fan { min_rpm } => Wire {
                min_rpm,
                ..Wire::default()
            },
            Limits::Voltage { low, high } => Wire {
                low,
                high,
                ..Wire::default()
            },
            Limits::Discrete => Wire::default(),
        };
        w.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Limits, D::Error> {
        let w = Wire::deserialize(d)?;
        Ok(if w.warm.or(w.critical).or(w.shutdown).is_some() {
            Limits::Temperature {
                warm: w.warm,
                critical: w.critical,
                shutdown: w.shutdown,
            }
        } else if w.min_rpm.is_some() {
            Limits::Fan { min_rpm: w.min_rpm }
        } else if w.low.or(w.high).is_some() {
            Limits::Voltage {
                low: w.low,
                high: w.high,
            }
        } else {
            Limits::Discrete
        })
    }
}

/// An item without thresholds (one whose JSON has no `limits`).
fn no_limits() -> Limits {
    Limits::Discrete
}

/// Where an item reads from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemSource {
    /// The board's source (`ipmi:CPU0 Temp`, `hwmon:coretemp/temp1`).
    pub board: Arc<str>,
    /// For an IPMI item bound to an SDR record: its sensor number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u8>,
    /// For an IPMI item bound to an SDR record: its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdr: Option<Arc<str>>,
}

/// What the SDR record of an IPMI item says beyond its name and number: what the
/// ipmi_exporter-compatible families need (not on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdrFacts {
    /// Its record ID (ipmi_exporter's `id` label: FreeIPMI's record ID).
    pub record_id: u16,
    /// Its sensor type code (the `type` label of the generic families, by FreeIPMI's name).
    pub sensor_type: u8,
    /// The unit `ipmimonitoring` prints for it (`C`, `RPM`, `V`, `%`, ...), if any.
    pub unit: Option<&'static str>,
}

/// One monitored item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Milliseconds since the last reading (none before the first).
    pub age_ms: Option<u64>,
    /// Class.
    #[serde(with = "named")]
    pub class: Class,
    /// Board item id.
    pub id: Arc<str>,
    /// Label (`0`, `1`, `PSU2`).
    pub label: Arc<str>,
    /// Thresholds (not on the wire when it has none).
    #[serde(
        default = "no_limits",
        with = "wire_limits",
        skip_serializing_if = "wire_limits::none"
    )]
    pub limits: Limits,
    /// Where it reads from.
    pub source: ItemSource,
    /// Its SDR record's facts (IPMI items bound to a record; not on the wire).
    #[serde(skip)]
    pub sdr: Option<SdrFacts>,
    /// State.
    #[serde(with = "named")]
    pub state: Shown,
    /// Unit: `C`/`F`, `RPM`, `V`, or `-` for a discrete item.
    pub unit: Arc<str>,
    /// Last value (none while unavailable or absent).
    pub value: Option<f64>,
    /// Why it is shown so, when it is not simply read: the evidence of its absence, the fault
    /// that keeps it from being judged (`implausible reading 255 (outside -55 to 150)`), or
    /// flap damping. Not on the wire when there is nothing to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl Item {
    /// A temperature item's unit (`C` or `F`); none for any other item.
    pub fn temp_unit(&self) -> Option<TempUnit> {
        match self.limits {
            Limits::Temperature { .. } => Some(TempUnit::parse(&self.unit).unwrap_or_default()),
            _ => None,
        }
    }

    /// The item with a temperature's value and thresholds in degrees C, for the outputs
    /// whose unit is fixed (ENTITY-SENSOR-MIB's celsius(8), CISCO-ENVMON-MIB's
    /// temperatures, ipmi_exporter's `_celsius` family); any other item as it is, not copied.
    pub fn in_celsius(&self) -> Cow<'_, Item> {
        let (
            Some(TempUnit::F),
            Limits::Temperature {
                warm,
                critical,
                shutdown,
            },
        ) = (self.temp_unit(), self.limits)
        else {
            return Cow::Borrowed(self);
        };
        let c = |v: Option<f64>| v.map(|v| TempUnit::F.convert(v, TempUnit::C));
        Cow::Owned(Item {
            value: c(self.value),
            limits: Limits::Temperature {
                warm: c(warm),
                critical: c(critical),
                shutdown: c(shutdown),
            },
            unit: Arc::from(TempUnit::C.as_str()),
            ..self.clone()
        })
    }
}

/// One PCI expectation and what the bus shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PciLink {
    /// Where it was found.
    pub address: Option<String>,
    /// Device ID, `0x10d3`.
    pub device: String,
    /// The speed the board expects (`5.0 GT/s`).
    pub expected_speed: Option<String>,
    /// The width the board expects.
    pub expected_width: Option<u8>,
    /// The board's id.
    pub id: String,
    /// Whether its absence is reported.
    pub required: bool,
    /// Its link speed.
    pub speed: Option<String>,
    /// State.
    #[serde(with = "named")]
    pub state: PciStatus,
    /// Vendor ID, `0x8086`.
    pub vendor: String,
    /// Its link width.
    pub width: Option<u8>,
}

/// The board's part of the model: what the monitor knows after a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardView {
    /// Board name.
    pub name: String,
    /// Items, in board order.
    pub sensors: Vec<Item>,
    /// PCI expectations, in board order.
    pub pci: Vec<PciLink>,
    /// Power-supply redundancy.
    pub psu_redundancy: PsuRedundancy,
    /// Why the board is not fully watched (no CPU temperature reads, ...); empty when it is.
    pub unwatched: Vec<String>,
}

/// A power, current or energy reading of one of the BMC's sensors: shown, exported and served
/// over SNMP, never judged into catalog messages (the catalog has none for it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerItem {
    /// Its SDR name.
    pub name: String,
    /// Its sensor number.
    pub number: u8,
    /// Its SDR record's facts (not on the wire).
    #[serde(skip)]
    pub sdr: Option<SdrFacts>,
    /// What its thresholds say of the reading: `ok`, `warning` or `critical` (the severity
    /// ipmi_exporter exports); `unavailable` while it does not read.
    pub status: String,
    /// `W`, `A` or `J` (a Redfish service's energy also `Wh` or `kWh`).
    pub unit: String,
    /// The Redfish sensor's URI (none for an IPMI sensor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The last reading (none while it does not read).
    pub value: Option<f64>,
}

/// The BMC itself: who made it, its firmware, the chassis' power, DCMI's power reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BmcInfo {
    /// `on` or `off` (Get Chassis Status); none when the BMC does not say.
    pub chassis_power: Option<String>,
    /// DCMI Get Power Reading's current watts; none where the BMC has no DCMI.
    pub dcmi_watts: Option<f64>,
    /// Firmware revision as `bmc-info` prints it (`9.08`).
    pub firmware: String,
    /// Manufacturer as `bmc-info` prints it (`Dell Inc. (674)`); a Redfish manager's
    /// `Manufacturer`.
    pub manufacturer: String,
    /// A Redfish manager's `Model` (IPMI gives none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// The last thermal shutdown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastShutdown {
    /// When (RFC 3339).
    pub at: String,
    /// Why: `cpu`, `cpu_vr`, `iohub`.
    pub reason: String,
    /// `sel` when it was the hardware's own trip, found in the BMC's event log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The host shut down when not this machine (`remote`, `unknown`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// The host the thermal action protects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Protection {
    /// The thermal action (`poweroff`, `bmc`, `exec:/path`, `none`).
    pub action: String,
    /// What the decision rests on.
    pub evidence: String,
    /// `local` (this machine), `remote` (the BMC's host, another machine) or `unknown`.
    pub host: String,
}

/// The BMC's event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelStatus {
    /// Entries in it.
    pub entries: u64,
    /// Entries forwarded to syslog by this process.
    pub forwarded: u64,
    /// Free bytes (IPMI; a Redfish log does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
    /// The last record forwarded.
    pub last_record_id: Option<u64>,
    /// The newest entry's time (Get SEL Info's last addition, seconds since 1970); none when
    /// the BMC has none or counts from its own start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_at: Option<u64>,
    /// How full it is (IPMI; a Redfish log does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent_used: Option<u64>,
    /// Entries forwarded by this process per syslog level, 0 (emergency) to 7 (debug).
    #[serde(default)]
    pub severities: [u64; 8],
}

/// One syslog destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyslogStatus {
    /// Its URI.
    pub destination: String,
    /// Frames dropped.
    pub dropped: u64,
    /// Frames waiting.
    pub queued: u64,
    /// Frames delivered.
    pub sent: u64,
}

/// What the agent knows: `show environment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// Milliseconds since the agent published this view, at the socket's answer (none in a
    /// one-shot command's own view). A loop that stopped publishing shows here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_ms: Option<u64>,
    /// The BMC itself (none without one, or before it answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bmc: Option<BmcInfo>,
    /// Board name (none before a board is chosen).
    pub board: Option<String>,
    /// The poll interval.
    pub interval_ms: u64,
    /// IPMI commands of the last sweep.
    pub ipmi_commands_per_sweep: u64,
    /// The last thermal shutdown.
    pub last_shutdown: Option<LastShutdown>,
    /// Monitoring.
    #[serde(with = "named")]
    pub monitoring: Monitoring,
    /// PCI expectations.
    pub pci: Vec<PciLink>,
    /// The host the thermal action protects, on what evidence, and the action (none before
    /// the agent decided it: one-shot commands).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<Protection>,
    /// Power, current and energy readings of the BMC's sensors (not on the wire when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub power: Vec<PowerItem>,
    /// Power-supply redundancy.
    #[serde(with = "named")]
    pub psu_redundancy: PsuRedundancy,
    /// The BMC's event log (none before the first check, or without one).
    pub sel: Option<SelStatus>,
    /// Items, in board order.
    pub sensors: Vec<Item>,
    /// Syslog destinations.
    pub syslog: Vec<SyslogStatus>,
    /// Why the board is not fully watched (monitoring is then degraded); not on the wire when
    /// empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unwatched: Vec<String>,
}

impl Environment {
    /// The model before a board is known (or with `board`'s view).
    pub fn new(board: Option<BoardView>, monitoring: Monitoring, interval_ms: u64) -> Environment {
        let (name, sensors, pci, psu_redundancy, unwatched) = match board {
            Some(b) => (
                Some(b.name),
                b.sensors,
                b.pci,
                b.psu_redundancy,
                b.unwatched,
            ),
            None => (
                None,
                Vec::new(),
                Vec::new(),
                PsuRedundancy::NotApplicable,
                Vec::new(),
            ),
        };
        Environment {
            age_ms: None,
            bmc: None,
            board: name,
            interval_ms,
            ipmi_commands_per_sweep: 0,
            last_shutdown: None,
            monitoring,
            pci,
            power: Vec::new(),
            protection: None,
            psu_redundancy,
            sel: None,
            sensors,
            syslog: Vec::new(),
            unwatched,
        }
    }
}

/// How old a published view may be before it is stale: three sweep intervals, plus a
/// minute for the loop's longest bounded steps (a session's setup against a dead BMC, a
/// thermal shutdown's confirming reads).
pub const STALE_SLACK_MS: u64 = 60_000;

impl Environment {
    /// The view's age when it is stale (older than three sweeps and [`STALE_SLACK_MS`]): the
    /// agent's loop has published nothing since, and the states in it may no longer hold.
    pub fn stale(&self) -> Option<u64> {
        let limit = self
            .interval_ms
            .saturating_mul(3)
            .saturating_add(STALE_SLACK_MS);
        self.age_ms.filter(|age| *age > limit)
    }

    /// The line that says a view is stale (see [`Environment::stale`]).
    pub fn stale_line(&self) -> Option<String> {
        self.stale().map(|age| {
            format!(
                "the agent's view is {} s old (it sweeps every {} s): its loop has published \
                 nothing since; see its log",
                age / 1000,
                self.interval_ms.div_ceil(1000)
            )
        })
    }
}

/// A committed transition of the item at `position` in the board, and the item as it is
/// after it (the SNMP subagent's notifications are made from these).
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The item's position in the board.
    pub position: usize,
    /// From.
    pub from: Shown,
    /// To.
    pub to: Shown,
    /// The item after the transition.
    pub item: Item,
}

/// The reply to `show version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionReply {
    /// `envmon`.
    pub name: String,
    /// The agent's version.
    pub version: String,
}

/// The reply to `show metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsReply {
    /// The OpenMetrics text.
    pub metrics: String,
}

/// What an error reply carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable code: `bad_request`, `empty_request`, `unknown_command`, `not_ready`,
    /// `forbidden`, `busy`, `request_too_long` (docs/contract.md §4).
    pub code: String,
    /// For a person.
    pub message: String,
}

/// An error reply: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// The error.
    pub error: ErrorBody,
}

/// What a sweep found that calls for the thermal shutdown (the sweep's fact; the events
/// layer acts on it once the monitor confirmed it).
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// Which part.
    pub kind: ShutdownKind,
    /// The item's position in the board (to read it again before acting).
    pub position: usize,
    /// The board item.
    pub sensor: String,
    /// Its label.
    pub label: String,
    /// The reading.
    pub reading: f64,
    /// The threshold.
    pub threshold: f64,
    /// `C` or `F`.
    pub unit: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Named + PartialEq + std::fmt::Debug>() {
        for &v in T::ALL {
            assert_eq!(T::from_name(v.name()), Some(v), "{v:?}");
        }
        let mut names: Vec<&str> = T::ALL.iter().map(|v| v.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), T::ALL.len(), "{} names are unique", T::WHAT);
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_errors() {
        round_trip::<Shown>();
        round_trip::<Monitoring>();
        round_trip::<PsuRedundancy>();
        round_trip::<Class>();
        round_trip::<PciStatus>();
        assert_eq!(
            Shown::ALL.len(),
            Shown::STATES.len() + 2,
            "every state, and absent"
        );
        let mut d = serde_json::Deserializer::from_str("\"melted\"");
        let e = named::deserialize::<Shown, _>(&mut d).unwrap_err();
        assert!(e.to_string().contains("unknown state 'melted'"), "{e}");
    }

    #[test]
    fn the_wire_has_sorted_keys_and_reads_back() {
        let env = Environment {
            sensors: vec![Item {
                age_ms: Some(5),
                class: Class::Fan,
                id: "fan1".into(),
                label: "1".into(),
                limits: Limits::Discrete,
                source: ItemSource {
                    board: "ipmi:FAN1".into(),
                    number: Some(7),
                    sdr: Some("FAN1".into()),
                },
                sdr: None,
                state: Shown::Is(State::Failed),
                unit: "RPM".into(),
                value: Some(500.0),
                why: None,
            }],
            ..Environment::new(None, Monitoring::Degraded, 2000)
        };
        let text = serde_json::to_string(&env).unwrap();
        // serde_json's map sorts keys: the same text through it means declaration order is
        // alphabetical everywhere.
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value.to_string(), text);
        assert_eq!(serde_json::from_str::<Environment>(&text).unwrap(), env);
    }
}
