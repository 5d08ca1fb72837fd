//! The metrics, pure: [`families`] turns the model and the counters into metric families,
//! and two encoders write them: [`openmetrics`] for `show metrics`, [`prometheus`] (text
//! format 0.0.4) for node_exporter's textfile collector. Both encode the same families, so
//! the file is never made by re-parsing the other text (docs/prometheus.md).

use crate::config::MetricsNames;
use crate::model::{
    Environment, Item, Monitoring, Named, PowerItem, PsuRedundancy, SdrFacts, Shown, SyslogStatus,
};
use envmon_core::engine::{State, TempUnit};
use envmon_sensors::ipmi::info::sensor_type_name;
use std::fmt::Write as _;

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value that goes up and down.
    Gauge,
    /// A count that only goes up (its sample is `NAME_total`).
    Counter,
    /// One sample per possible state, 1 for the current one (a gauge in Prometheus text).
    StateSet,
}

/// A sample's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A whole number.
    Int(u64),
    /// A measurement (`NaN` when not finite).
    Float(f64),
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Int(n) => write!(f, "{n}"),
            Number::Float(v) if v.is_finite() => write!(f, "{v}"),
            Number::Float(_) => f.write_str("NaN"),
        }
    }
}

/// One sample: its labels (in order) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Label names and values, unescaped.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: Number,
}

/// Counters the agent keeps for metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Sweeps done.
    pub sweeps: u64,
    /// Duration of the last sweep, seconds.
    pub last_sweep_seconds: f64,
    /// IPMI commands of the last sweep.
    pub last_sweep_commands: u64,
    /// IPMI commands sent in all: SDR reads at connection, sweeps and re-validation.
    pub ipmi_commands: u64,
    /// Sweeps that hit a transport error, and connection attempts that failed.
    pub ipmi_errors: u64,
    /// Duration of the last SEL step (check, batch of new entries), seconds.
    pub last_sel_seconds: f64,
    /// Query-socket connections refused (peer not allowed).
    pub socket_refused: u64,
    /// Datagrams from the BMC discarded: not authentic, replayed, duplicated, or answering
    /// another request.
    pub ipmi_replies_discarded: u64,
    /// IPMI requests sent again because their reply did not come within the retransmission
    /// timer.
    pub ipmi_retransmissions: u64,
    /// RMCP+ sessions opened with the BMC.
    pub ipmi_sessions: u64,
    /// SNMP notifications the master took.
    pub agentx_notifications: u64,
    /// SNMP notifications not sent (no master, the queue full, or refused).
    pub agentx_notifications_dropped: u64,
}

/// One metric family.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Name (without `_total`).
    pub name: &'static str,
    /// Type.
    pub kind: Kind,
    /// OpenMetrics unit, if any.
    pub unit: Option<&'static str>,
    /// Help text.
    pub help: &'static str,
    /// Samples.
    pub samples: Vec<Sample>,
}

fn family(name: &'static str, kind: Kind, help: &'static str) -> Family {
    Family {
        name,
        kind,
        unit: None,
        help,
        samples: Vec::new(),
    }
}

fn one(name: &'static str, kind: Kind, help: &'static str, value: Number) -> Family {
    Family {
        samples: vec![Sample {
            labels: Vec::new(),
            value,
        }],
        ..family(name, kind, help)
    }
}

/// A stateset's samples: one per name, 1 where `is` holds.
fn states<T: Named + PartialEq>(
    base: &[(&'static str, String)],
    label: &'static str,
    values: impl IntoIterator<Item = T>,
    current: T,
) -> Vec<Sample> {
    values
        .into_iter()
        .map(|v| {
            let mut labels = base.to_vec();
            labels.push((label, v.name().to_string()));
            Sample {
                labels,
                value: Number::Int(u64::from(v == current)),
            }
        })
        .collect()
}

/// The sensor families: values (none while unavailable) and states.
fn sensor_families(env: &Environment) -> [Family; 2] {
    let labels = |s: &crate::model::Item| {
        vec![
            ("id", s.id.to_string()),
            ("class", s.class.name().to_string()),
            ("unit", s.unit.to_string()),
        ]
    };
    let mut value = family(
        "envmon_sensor_value",
        Kind::Gauge,
        "Last reading of a sensor (absent while unavailable).",
    );
    let mut state = family(
        "envmon_sensor_state",
        Kind::StateSet,
        "Judged state of a sensor.",
    );
    for s in &env.sensors {
        if let Some(v) = s.value {
            value.samples.push(Sample {
                labels: labels(s),
                value: Number::Float(v),
            });
        }
        state.samples.extend(states(
            &labels(s),
            "envmon_sensor_state",
            Shown::STATES.map(Shown::Is),
            s.state,
        ));
    }
    [value, state]
}

/// The counters' families, in the order `show metrics` has always listed them.
fn counter_families(c: &Counters) -> Vec<Family> {
    use Kind::{Counter, Gauge};
    let mut out = vec![Family {
        unit: Some("seconds"),
        ..one(
            "envmon_sweep_duration_seconds",
            Gauge,
            "Duration of the last sweep.",
            Number::Float(c.last_sweep_seconds),
        )
    }];
    for (name, kind, help, value) in [
        ("envmon_sweeps", Counter, "Sweeps done.", c.sweeps),
        (
            "envmon_ipmi_commands",
            Counter,
            "IPMI commands sent.",
            c.ipmi_commands,
        ),
        (
            "envmon_ipmi_commands_per_sweep",
            Gauge,
            "IPMI commands of the last sweep.",
            c.last_sweep_commands,
        ),
        (
            "envmon_ipmi_errors",
            Counter,
            "Lost BMC connections and failed connection attempts.",
            c.ipmi_errors,
        ),
        (
            "envmon_ipmi_replies_discarded",
            Counter,
            "Datagrams from the BMC discarded: not authentic, replayed, duplicated, or answering another request.",
            c.ipmi_replies_discarded,
        ),
        (
            "envmon_ipmi_retransmissions",
            Counter,
            "IPMI requests sent again because their reply did not come within the retransmission timer.",
            c.ipmi_retransmissions,
        ),
        (
            "envmon_ipmi_sessions_opened",
            Counter,
            "RMCP+ sessions opened with the BMC (each closed before the next is opened).",
            c.ipmi_sessions,
        ),
        (
            "envmon_agentx_notifications",
            Counter,
            "SNMP notifications sent through the AgentX master.",
            c.agentx_notifications,
        ),
        (
            "envmon_agentx_notifications_dropped",
            Counter,
            "SNMP notifications not sent: no master, the queue full, or refused.",
            c.agentx_notifications_dropped,
        ),
        (
            "envmon_socket_refused",
            Counter,
            "Query-socket connections refused: the peer is not root, the agent's user or in its group.",
            c.socket_refused,
        ),
    ] {
        out.push(one(name, kind, help, Number::Int(value)));
    }
    out
}

/// The SEL's families (none before the first check).
fn sel_families(env: &Environment, counters: &Counters) -> Vec<Family> {
    let mut out = Vec::new();
    if let Some(sel) = &env.sel {
        use Kind::{Counter, Gauge};
        // A Redfish log says no free space or fill level: those samples are left out.
        for (name, kind, help, value) in [
            (
                "envmon_sel_entries",
                Gauge,
                "Entries in the BMC's event log.",
                Some(sel.entries),
            ),
            (
                "envmon_sel_free_bytes",
                Gauge,
                "Free space in the BMC's event log.",
                sel.free_bytes,
            ),
            (
                "envmon_sel_percent_used",
                Gauge,
                "How full the BMC's event log is.",
                sel.percent_used,
            ),
            (
                "envmon_sel_forwarded",
                Counter,
                "SEL entries forwarded to syslog.",
                Some(sel.forwarded),
            ),
        ] {
            if let Some(value) = value {
                out.push(one(name, kind, help, Number::Int(value)));
            }
        }
        out.push(one(
            "envmon_sel_step_duration_seconds",
            Gauge,
            "Duration of the last SEL check and batch.",
            Number::Float(counters.last_sel_seconds),
        ));
    }
    out
}

/// The syslog destinations' families.
fn syslog_families(env: &Environment) -> [Family; 2] {
    let per_destination = |name, help, value: fn(&SyslogStatus) -> u64| Family {
        samples: env
            .syslog
            .iter()
            .map(|d| Sample {
                labels: vec![("destination", d.destination.clone())],
                value: Number::Int(value(d)),
            })
            .collect(),
        ..family(name, Kind::Counter, help)
    };
    [
        per_destination(
            "envmon_syslog_frames_sent",
            "Syslog frames delivered.",
            |d| d.sent,
        ),
        per_destination(
            "envmon_syslog_frames_dropped",
            "Syslog frames dropped (queue full or undeliverable at shutdown).",
            |d| d.dropped,
        ),
    ]
}

/// The BMC's own figures and its power sensors, envmon's names.
fn bmc_families(env: &Environment) -> Vec<Family> {
    let mut power = family(
        "envmon_power_sensor_value",
        Kind::Gauge,
        "Last reading of a power, current or energy sensor of the BMC (absent while it does not read).",
    );
    power.samples = env
        .power
        .iter()
        .filter_map(|p| {
            Some(Sample {
                labels: vec![
                    ("name", p.name.clone()),
                    ("number", p.number.to_string()),
                    ("unit", p.unit.clone()),
                ],
                value: Number::Float(p.value?),
            })
        })
        .collect();
    let bmc = env.bmc.as_ref();
    let mut dcmi = family(
        "envmon_dcmi_power_watts",
        Kind::Gauge,
        "The system's power draw by DCMI Get Power Reading (absent where the BMC has no DCMI).",
    );
    dcmi.samples
        .extend(bmc.and_then(|b| b.dcmi_watts).map(|w| Sample {
            labels: Vec::new(),
            value: Number::Float(w),
        }));
    let mut info = family(
        "envmon_bmc_info",
        Kind::Gauge,
        "The BMC's manufacturer and firmware revision (Get Device ID), value 1.",
    );
    info.samples.extend(bmc.map(|b| Sample {
        labels: vec![
            ("firmware", b.firmware.clone()),
            ("manufacturer", b.manufacturer.clone()),
        ],
        value: Number::Int(1),
    }));
    let mut chassis = family(
        "envmon_chassis_power_on",
        Kind::Gauge,
        "Whether the chassis is powered on (Get Chassis Status).",
    );
    chassis.samples.extend(
        bmc.and_then(|b| b.chassis_power.as_deref())
            .map(|p| Sample {
                labels: Vec::new(),
                value: Number::Int(u64::from(p == "on")),
            }),
    );
    vec![power, dcmi, info, chassis]
}

/// Syslog level names, by number (0-7): the `severity` label of SEL counts.
const LEVEL_NAMES: [&str; 8] = [
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "info",
    "debug",
];

/// The SEL's figures beyond envmon_sel_entries and friends: by severity, the newest entry.
fn sel_more_families(env: &Environment) -> Vec<Family> {
    let Some(sel) = &env.sel else {
        return Vec::new();
    };
    let mut by = family(
        "envmon_sel_forwarded_by_severity",
        Kind::Counter,
        "SEL entries forwarded to syslog since the agent started, by syslog severity.",
    );
    by.samples = LEVEL_NAMES
        .iter()
        .zip(sel.severities)
        .map(|(name, n)| Sample {
            labels: vec![("severity", (*name).to_string())],
            value: Number::Int(n),
        })
        .collect();
    let mut newest = family(
        "envmon_sel_newest_entry_timestamp_seconds",
        Kind::Gauge,
        "When the newest SEL entry was added, by the BMC's clock (absent when it counts from its own start).",
    );
    newest.samples.extend(sel.newest_at.map(|t| Sample {
        labels: Vec::new(),
        value: Number::Int(t),
    }));
    vec![by, newest]
}

/// The families of the model and the counters, in the order they are written, with the
/// names `names` asks for.
pub fn families(env: &Environment, counters: &Counters, names: MetricsNames) -> Vec<Family> {
    let mut out = Vec::new();
    if names.envmon() {
        out.extend(envmon_families(env, counters));
    }
    if names.ipmi_exporter() {
        out.extend(exporter_families(env, counters));
    }
    out
}

/// envmon's own families.
fn envmon_families(env: &Environment, counters: &Counters) -> Vec<Family> {
    let mut out: Vec<Family> = sensor_families(env).into();
    let mut monitoring = family(
        "envmon_monitoring",
        Kind::StateSet,
        "Whether monitoring runs.",
    );
    monitoring.samples = states(
        &[],
        "envmon_monitoring",
        Monitoring::ALL.iter().copied(),
        env.monitoring,
    );
    out.push(monitoring);
    // Power-supply redundancy, where the board has it (min-psus or the BMC's sensor).
    let mut redundancy = family(
        "envmon_psu_redundancy",
        Kind::StateSet,
        "Power-supply redundancy (no sample where the board has none).",
    );
    if env.psu_redundancy != PsuRedundancy::NotApplicable {
        redundancy.samples = states(
            &[],
            "envmon_psu_redundancy",
            [PsuRedundancy::Ok, PsuRedundancy::Lost],
            env.psu_redundancy,
        );
    }
    out.push(redundancy);
    out.extend(counter_families(counters));
    out.extend(sel_families(env, counters));
    out.extend(sel_more_families(env));
    out.extend(bmc_families(env));
    out.extend(syslog_families(env));
    out
}

/// ipmi_exporter's sensor families: (value family, its unit scale, state family). Which
/// family a sensor goes to follows its collector (v1.6.1, collector_ipmi.go): by the unit
/// `ipmimonitoring` prints, fans in percent by their type, the rest generic.
const EXPORTER_FAMILIES: [(&str, &str, &str, &str); 6] = [
    (
        "RPM",
        "ipmi_fan_speed_rpm",
        "ipmi_fan_speed_state",
        "Fan speed in rotations per minute.",
    ),
    (
        "C",
        "ipmi_temperature_celsius",
        "ipmi_temperature_state",
        "Temperature reading in degree Celsius.",
    ),
    (
        "A",
        "ipmi_current_amperes",
        "ipmi_current_state",
        "Current reading in Amperes.",
    ),
    (
        "V",
        "ipmi_voltage_volts",
        "ipmi_voltage_state",
        "Voltage reading in Volts.",
    ),
    (
        "W",
        "ipmi_power_watts",
        "ipmi_power_state",
        "Power reading in Watts.",
    ),
    (
        "%",
        "ipmi_fan_speed_ratio",
        "ipmi_fan_speed_state",
        "Fan speed as a proportion of the maximum speed.",
    ),
];

/// One sensor as ipmi_exporter sees it: its `id`, `name`, FreeIPMI unit and type, value and
/// severity (0 nominal, 1 warning, 2 critical, NaN for N/A).
struct ExporterSensor {
    id: String,
    name: String,
    unit: Option<&'static str>,
    type_name: &'static str,
    value: f64,
    severity: f64,
}

/// The severity ipmi_exporter gives a state: envmon's judgment, read as FreeIPMI's default
/// interpretation reads a threshold sensor (freeipmi_interpret_sensor.conf): past a
/// non-critical threshold is still `Nominal` (0), past a critical or non-recoverable one
/// `Critical` (2). envmon's `warm` shows in `envmon_sensor_state` (docs/prometheus.md).
fn severity(state: Shown) -> f64 {
    match state {
        Shown::Is(State::Ok | State::Warm) => 0.0,
        Shown::Is(State::Critical | State::Shutdown | State::Failed) => 2.0,
        Shown::Is(State::Unavailable) | Shown::Absent | Shown::NotFitted => f64::NAN,
    }
}

/// An item as the exporter writes it; none for an item that does not read (absent, or
/// unavailable), which `ipmimonitoring` leaves out of its list (its state stays in
/// `envmon_sensor_state`). A discrete item reads no value: NaN, as the exporter writes it.
fn exporter_item(i: &Item) -> Option<ExporterSensor> {
    let value = match i.state {
        Shown::Absent | Shown::NotFitted | Shown::Is(State::Unavailable) => return None,
        Shown::Is(_) => i.value.unwrap_or(f64::NAN),
    };
    Some(match i.sdr {
        Some(SdrFacts {
            record_id,
            sensor_type,
            unit,
        }) => ExporterSensor {
            id: record_id.to_string(),
            name: i.source.sdr.as_deref().unwrap_or(&i.id).to_string(),
            unit,
            type_name: sensor_type_name(sensor_type),
            // In the record's unit, as `ipmimonitoring` prints it (a board in F over a
            // sensor in C converts back).
            value: match (i.temp_unit(), unit.and_then(TempUnit::parse)) {
                (Some(board), Some(sdr)) => board.convert(value, sdr),
                _ => value,
            },
            severity: severity(i.state),
        },
        // An item of the board's own buses: no record, so its board id stands for both; a
        // temperature in C, for the `_celsius` family.
        None => {
            let c = i.in_celsius();
            ExporterSensor {
                id: i.id.to_string(),
                name: i.id.to_string(),
                unit: EXPORTER_FAMILIES
                    .iter()
                    .map(|(u, ..)| *u)
                    .find(|u| *u == &*c.unit),
                type_name: i.class.name(),
                value: c.value.unwrap_or(f64::NAN),
                severity: severity(i.state),
            }
        }
    })
}

fn exporter_power(p: &PowerItem) -> Option<ExporterSensor> {
    let facts = p.sdr;
    p.value?;
    Some(ExporterSensor {
        id: facts.map_or_else(|| p.number.to_string(), |f| f.record_id.to_string()),
        name: p.name.clone(),
        // A Redfish figure has no record: its unit picks the family, as for the items.
        unit: match facts {
            Some(f) => f.unit,
            None => EXPORTER_FAMILIES
                .iter()
                .map(|(u, ..)| *u)
                .find(|u| *u == p.unit),
        },
        type_name: sensor_type_name(facts.map_or(0, |f| f.sensor_type)),
        value: p.value.unwrap_or(f64::NAN),
        // Non-critical is nominal to FreeIPMI, as for the items.
        severity: match p.status.as_str() {
            "ok" | "warning" => 0.0,
            "critical" => 2.0,
            _ => f64::NAN,
        },
    })
}

/// ipmi_exporter's families (its docs/metrics.md, as v1.6.1 writes them).
fn exporter_families(env: &Environment, counters: &Counters) -> Vec<Family> {
    let mut sensors: Vec<ExporterSensor> = env.sensors.iter().filter_map(exporter_item).collect();
    sensors.extend(env.power.iter().filter_map(exporter_power));
    // One series per record, as the exporter has (a record two items name is written once).
    let mut seen = std::collections::BTreeSet::new();
    sensors.retain(|s| seen.insert(s.id.clone()));
    let mut out: Vec<Family> = Vec::new();
    let mut push = |name: &'static str, help: &'static str, labels, value| {
        let at = match out.iter().position(|f| f.name == name) {
            Some(at) => at,
            None => {
                out.push(family(name, Kind::Gauge, help));
                out.len() - 1
            }
        };
        if let Some(f) = out.get_mut(at) {
            f.samples.push(Sample {
                labels,
                value: Number::Float(value),
            });
        }
    };
    for s in &sensors {
        let typed = EXPORTER_FAMILIES
            .iter()
            .find(|(u, ..)| Some(*u) == s.unit)
            .filter(|(u, ..)| *u != "%" || s.type_name.eq_ignore_ascii_case("fan"));
        let id_name = vec![("id", s.id.clone()), ("name", s.name.clone())];
        match typed {
            Some((unit, value_family, state_family, help)) => {
                // A percentage as a ratio (divided: 35 % is 0.35, not 0.35000000000000003).
                let divisor = if *unit == "%" { 100.0 } else { 1.0 };
                push(value_family, help, id_name.clone(), s.value / divisor);
                push(
                    state_family,
                    "Reported state of a sensor (0=nominal, 1=warning, 2=critical).",
                    id_name,
                    s.severity,
                );
            }
            None => {
                let mut labels = id_name;
                labels.push(("type", s.type_name.to_string()));
                push(
                    "ipmi_sensor_value",
                    "Generic data read from an IPMI sensor of unknown type, relying on labels for context.",
                    labels.clone(),
                    s.value,
                );
                push(
                    "ipmi_sensor_state",
                    "Indicates the severity of the state reported by an IPMI sensor (0=nominal, 1=warning, 2=critical).",
                    labels,
                    s.severity,
                );
            }
        }
    }
    out.extend(exporter_bmc_families(env, counters));
    out
}

/// ipmi_exporter's `ipmi_up` per collector, scrape duration, BMC, chassis, DCMI and SEL.
fn exporter_bmc_families(env: &Environment, counters: &Counters) -> Vec<Family> {
    let bmc = env.bmc.as_ref();
    let sensors_up = bmc.is_some() && env.monitoring != Monitoring::Failed;
    let mut up = family(
        "ipmi_up",
        Kind::Gauge,
        "'1' if a scrape of the IPMI device was successful, '0' otherwise.",
    );
    for (collector, ok) in [
        ("ipmi", sensors_up),
        ("dcmi", bmc.is_some_and(|b| b.dcmi_watts.is_some())),
        ("bmc", bmc.is_some()),
        ("chassis", bmc.is_some_and(|b| b.chassis_power.is_some())),
        ("sel", bmc.is_some() && env.sel.is_some()),
    ] {
        up.samples.push(Sample {
            labels: vec![("collector", collector.to_string())],
            value: Number::Int(u64::from(ok)),
        });
    }
    let mut out = vec![
        up,
        one(
            "ipmi_scrape_duration_seconds",
            Kind::Gauge,
            "Returns how long the scrape took to complete in seconds.",
            Number::Float(counters.last_sweep_seconds),
        ),
    ];
    if let Some(b) = bmc {
        out.push(Family {
            samples: vec![Sample {
                labels: vec![
                    ("firmware_revision", b.firmware.clone()),
                    ("manufacturer_id", b.manufacturer.clone()),
                    // Get System Info's BIOS version is not read: N/A, as the exporter
                    // writes it where the BMC does not say.
                    ("system_firmware_version", "N/A".to_string()),
                ],
                value: Number::Int(1),
            }],
            ..family(
                "ipmi_bmc_info",
                Kind::Gauge,
                "Constant metric with value '1' providing details about the BMC.",
            )
        });
        if let Some(p) = &b.chassis_power {
            out.push(one(
                "ipmi_chassis_power_state",
                Kind::Gauge,
                "Current power state (1=on, 0=off).",
                Number::Int(u64::from(p == "on")),
            ));
        }
        if let Some(w) = b.dcmi_watts {
            out.push(one(
                "ipmi_dcmi_power_consumption_watts",
                Kind::Gauge,
                "Current power consumption in Watts.",
                Number::Float(w),
            ));
        }
        out.extend(env.sel.as_ref().map_or_else(Vec::new, exporter_sel));
    }
    out
}

/// ipmi_exporter's SEL families (the free space only where the log says it: IPMI's).
fn exporter_sel(sel: &crate::model::SelStatus) -> Vec<Family> {
    let mut out = vec![one(
        "ipmi_sel_logs_count",
        Kind::Gauge,
        "Current number of log entries in the SEL.",
        Number::Int(sel.entries),
    )];
    if let Some(free) = sel.free_bytes {
        out.push(one(
            "ipmi_sel_free_space_bytes",
            Kind::Gauge,
            "Current free space remaining for new SEL entries.",
            Number::Int(free),
        ));
    }
    out
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes `name{labels} value`, with `host` first among the labels when given.
fn sample_line(out: &mut String, name: &str, s: &Sample, host: Option<&str>) {
    let labels: Vec<String> = host
        .map(|h| ("host", h.to_string()))
        .iter()
        .chain(&s.labels)
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {}", s.value);
    } else {
        let _ = writeln!(out, "{name}{{{}}} {}", labels.join(","), s.value);
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Gauge => "gauge",
        Kind::Counter => "counter",
        Kind::StateSet => "stateset",
    }
}

/// The OpenMetrics text (`show metrics`), ending in `# EOF`.
pub fn openmetrics(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families {
        let _ = writeln!(out, "# TYPE {} {}", f.name, kind_name(f.kind));
        if let Some(u) = f.unit {
            let _ = writeln!(out, "# UNIT {} {u}", f.name);
        }
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let sample = match f.kind {
            Kind::Counter => format!("{}_total", f.name),
            _ => f.name.to_string(),
        };
        for s in &f.samples {
            sample_line(&mut out, &sample, s, None);
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The Prometheus text format 0.0.4 that node_exporter's textfile collector reads: a
/// counter's TYPE and HELP on its `_total` name, statesets as gauges, no UNIT, no `# EOF`.
/// `host`, when given, is the first label of every sample, so that one node_exporter can
/// serve the files of several agents.
pub fn prometheus(families: &[Family], host: Option<&str>) -> String {
    let mut out = String::new();
    for f in families {
        let (name, kind) = match f.kind {
            Kind::Counter => (format!("{}_total", f.name), "counter"),
            Kind::Gauge => (f.name.to_string(), "gauge"),
            Kind::StateSet => (f.name.to_string(), "gauge"),
        };
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "# HELP {name} {}", f.help);
        for s in &f.samples {
            sample_line(&mut out, &name, s, host);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use envmon_core::engine::{Class, Limits};

    fn cpu_in_f(sdr: Option<SdrFacts>) -> Item {
        Item {
            age_ms: Some(5),
            class: Class::CpuTemp,
            id: "cpu0".into(),
            label: "0".into(),
            limits: Limits::Temperature {
                warm: Some(167.0),
                critical: None,
                shutdown: None,
            },
            source: crate::model::ItemSource {
                board: "ipmi:CPU0 Temp".into(),
                number: Some(1),
                sdr: Some("CPU0 Temp".into()),
            },
            sdr,
            state: Shown::Is(State::Ok),
            unit: "F".into(),
            value: Some(104.0),
            why: None,
        }
    }

    /// Issue 35: ipmi_exporter's values are in the unit its family or the record says: a
    /// board in F over a record in C gives 40 (`_celsius`), over a record in F 104 (the
    /// generic family, as FreeIPMI prints it), and over the board's own buses 40 (`_celsius`).
    #[test]
    fn a_board_in_fahrenheit_exports_in_the_records_unit() {
        let facts = |unit| SdrFacts {
            record_id: 1,
            sensor_type: 1,
            unit: Some(unit),
        };
        let c = exporter_item(&cpu_in_f(Some(facts("C")))).unwrap();
        assert_eq!((c.unit, c.value), (Some("C"), 40.0));
        let f = exporter_item(&cpu_in_f(Some(facts("F")))).unwrap();
        assert_eq!((f.unit, f.value), (Some("F"), 104.0));
        let own = exporter_item(&cpu_in_f(None)).unwrap();
        assert_eq!((own.unit, own.value), (Some("C"), 40.0));
    }
}
