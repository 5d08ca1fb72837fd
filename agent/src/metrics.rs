//! The metrics, pure: [`families`] turns the model and the counters into metric families,
//! and two encoders write them: [`openmetrics`] for `show metrics`, [`prometheus`] (text
//! format 0.0.4) for node_exporter's textfile collector. Both encode the same families, so
//! the file is never made by re-parsing the other text (docs/prometheus.md).

use crate::model::{Environment, Monitoring, Named, PsuRedundancy, Shown, SyslogStatus};
use crate::status::Counters;
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
            ("id", s.id.clone()),
            ("class", s.class.name().to_string()),
            ("unit", s.unit.clone()),
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
        for (name, kind, help, value) in [
            (
                "envmon_sel_entries",
                Gauge,
                "Entries in the BMC's event log.",
                sel.entries,
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
                sel.forwarded,
            ),
        ] {
            out.push(one(name, kind, help, Number::Int(value)));
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

/// The families of the model and the counters, in the order they are written.
pub fn families(env: &Environment, counters: &Counters) -> Vec<Family> {
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
    out.extend(syslog_families(env));
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
