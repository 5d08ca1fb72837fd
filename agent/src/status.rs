//! What the agent knows, published for the socket: an immutable snapshot per sweep.
//!
//! The poll loop builds a [`Snapshot`] after every tick and swaps it in; the socket only
//! clones the `Arc`, so a client can never slow the loop down.

use crate::{shutdown::Record, syslog::DestinationStats};
use envmon_core::engine::{Class, Limits, State};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex, PoisonError};

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

impl Monitoring {
    /// `running`, `degraded`, `failed`.
    pub fn name(self) -> &'static str {
        match self {
            Monitoring::Running => "running",
            Monitoring::Degraded => "degraded",
            Monitoring::Failed => "failed",
        }
    }
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
    /// SNMP notifications the master took.
    pub agentx_notifications: u64,
    /// SNMP notifications not sent (no master, the queue full, or refused).
    pub agentx_notifications_dropped: u64,
}

/// Adds the final counters of a destination that SIGHUP replaced to `retired` (summed per
/// URI), so that its sent and dropped frames stay counted.
pub fn retire(retired: &mut Vec<DestinationStats>, st: DestinationStats) {
    match retired.iter_mut().find(|r| r.uri == st.uri) {
        Some(r) => {
            r.sent += st.sent;
            r.dropped += st.dropped;
            r.failures += st.failures;
        }
        None => retired.push(DestinationStats {
            queued: 0,
            connected: false,
            ..st
        }),
    }
}

/// The running destinations' counters with the retired ones added: a URI still in use sums
/// both, a URI no longer in use is listed with its final counts (counters never go back).
pub fn with_retired(
    mut current: Vec<DestinationStats>,
    retired: &[DestinationStats],
) -> Vec<DestinationStats> {
    for r in retired {
        match current.iter_mut().find(|c| c.uri == r.uri) {
            Some(c) => {
                c.sent += r.sent;
                c.dropped += r.dropped;
                c.failures += r.failures;
            }
            None => current.push(r.clone()),
        }
    }
    current
}

/// The metrics in the Prometheus text format (0.0.4), which node_exporter's textfile
/// collector reads, from the OpenMetrics text: the same families and samples, with a
/// counter's TYPE and HELP on its `_total` sample name, statesets as gauges, and no UNIT
/// lines or `# EOF`. `host`, when given, is added to every sample as a `host` label, so
/// that one node_exporter can serve the files of several agents.
pub fn prometheus_text(openmetrics: &str, host: Option<&str>) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = line
            .strip_prefix("# TYPE ")
            .map(|r| ("# TYPE ", r))
            .or_else(|| line.strip_prefix("# HELP ").map(|r| ("# HELP ", r)));
        match meta {
            Some((kind, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let name = if counters.contains(&name) {
                    format!("{name}_total")
                } else {
                    name.to_string()
                };
                let tail = if tail == "stateset" { "gauge" } else { tail };
                out.push_str(&format!("{kind}{name} {tail}\n"));
            }
            None => {
                match (host, line.starts_with('#')) {
                    (Some(h), false) => {
                        let label = format!("host=\"{}\"", escape_label(h));
                        match line.split_once('{') {
                            Some((name, rest)) => {
                                out.push_str(&format!("{name}{{{label},{rest}"));
                            }
                            None => match line.split_once(' ') {
                                Some((name, value)) => {
                                    out.push_str(&format!("{name}{{{label}}} {value}"));
                                }
                                None => out.push_str(line),
                            },
                        }
                    }
                    _ => out.push_str(line),
                }
                out.push('\n');
            }
        }
    }
    out
}

/// One published view of the agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The `show environment` JSON.
    pub environment: Value,
    /// The `show metrics` OpenMetrics text, ending in `# EOF\n`.
    pub metrics: String,
    /// The monitored items, typed, for the SNMP subagent (empty when it is off).
    pub sensors: Vec<SensorRow>,
}

/// An item's state as `show environment` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Optional and never read.
    Absent,
    /// Judged (or unavailable).
    Is(State),
}

/// One monitored item, as the MIBs need it (built by the monitor each sweep).
#[derive(Debug, Clone, PartialEq)]
pub struct SensorRow {
    /// Board item id.
    pub id: String,
    /// Label (`0`, `1`, `PSU2`).
    pub label: String,
    /// Class.
    pub class: Class,
    /// Limits (thresholds).
    pub limits: Limits,
    /// Last value (none while unavailable or absent).
    pub value: Option<f64>,
    /// State.
    pub shown: Shown,
    /// Milliseconds since the last reading.
    pub age_ms: Option<u64>,
}

/// Builds the environment JSON (contract section 4) from the monitor's part and the rest.
pub fn environment(
    monitor: Option<Value>,
    monitoring: Monitoring,
    interval_ms: u64,
    last_shutdown: Option<&Record>,
    syslog: &[DestinationStats],
    counters: &Counters,
    sel: Value,
) -> Value {
    let m =
        monitor.unwrap_or_else(|| json!({"board": null, "sensors": [], "psu_redundancy": "n/a"}));
    json!({
        "board": m["board"],
        "monitoring": monitoring.name(),
        "sensors": m["sensors"],
        "pci": if m["pci"].is_array() { m["pci"].clone() } else { json!([]) },
        "psu_redundancy": m["psu_redundancy"],
        "last_shutdown": last_shutdown.map(|r| match &r.source {
            Some(source) => json!({"reason": r.reason, "at": r.at, "source": source}),
            None => json!({"reason": r.reason, "at": r.at}),
        }),
        "sel": sel,
        "syslog": syslog.iter().map(|s| json!({
            "destination": s.uri, "sent": s.sent, "dropped": s.dropped, "queued": s.queued,
        })).collect::<Vec<_>>(),
        "ipmi_commands_per_sweep": counters.last_sweep_commands,
        "interval_ms": interval_ms,
    })
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "NaN".into()
    }
}

/// The OpenMetrics text for an environment JSON and the counters.
pub fn metrics(env: &Value, counters: &Counters) -> String {
    let mut o = String::new();
    let empty = Vec::new();
    let sensors = env["sensors"].as_array().unwrap_or(&empty);
    let labels = |s: &Value| {
        format!(
            "id=\"{}\",class=\"{}\",unit=\"{}\"",
            escape_label(s["id"].as_str().unwrap_or("")),
            escape_label(s["class"].as_str().unwrap_or("")),
            escape_label(s["unit"].as_str().unwrap_or(""))
        )
    };
    o.push_str("# TYPE envmon_sensor_value gauge\n# HELP envmon_sensor_value Last reading of a sensor (absent while unavailable).\n");
    for s in sensors {
        if let Some(v) = s["value"].as_f64() {
            o.push_str(&format!(
                "envmon_sensor_value{{{}}} {}\n",
                labels(s),
                number(v)
            ));
        }
    }
    o.push_str("# TYPE envmon_sensor_state stateset\n# HELP envmon_sensor_state Judged state of a sensor.\n");
    for s in sensors {
        let state = s["state"].as_str().unwrap_or("");
        for name in [
            "ok",
            "warm",
            "critical",
            "shutdown",
            "failed",
            "unavailable",
        ] {
            o.push_str(&format!(
                "envmon_sensor_state{{{},envmon_sensor_state=\"{name}\"}} {}\n",
                labels(s),
                u8::from(state == name)
            ));
        }
    }
    let monitoring = env["monitoring"].as_str().unwrap_or("failed");
    o.push_str(
        "# TYPE envmon_monitoring stateset\n# HELP envmon_monitoring Whether monitoring runs.\n",
    );
    for name in ["running", "degraded", "failed"] {
        o.push_str(&format!(
            "envmon_monitoring{{envmon_monitoring=\"{name}\"}} {}\n",
            u8::from(monitoring == name)
        ));
    }
    // Power-supply redundancy, where the board has it (min-psus or the BMC's sensor).
    let redundancy = env["psu_redundancy"].as_str().unwrap_or("n/a");
    o.push_str("# TYPE envmon_psu_redundancy stateset\n# HELP envmon_psu_redundancy Power-supply redundancy (no sample where the board has none).\n");
    if redundancy != "n/a" {
        for name in ["ok", "lost"] {
            o.push_str(&format!(
                "envmon_psu_redundancy{{envmon_psu_redundancy=\"{name}\"}} {}\n",
                u8::from(redundancy == name)
            ));
        }
    }
    o.push_str("# TYPE envmon_sweep_duration_seconds gauge\n# UNIT envmon_sweep_duration_seconds seconds\n");
    o.push_str("# HELP envmon_sweep_duration_seconds Duration of the last sweep.\n");
    o.push_str(&format!(
        "envmon_sweep_duration_seconds {}\n",
        number(counters.last_sweep_seconds)
    ));
    for (name, kind, help, value) in [
        ("envmon_sweeps", "counter", "Sweeps done.", counters.sweeps),
        (
            "envmon_ipmi_commands",
            "counter",
            "IPMI commands sent.",
            counters.ipmi_commands,
        ),
        (
            "envmon_ipmi_commands_per_sweep",
            "gauge",
            "IPMI commands of the last sweep.",
            counters.last_sweep_commands,
        ),
        (
            "envmon_ipmi_errors",
            "counter",
            "Lost BMC connections and failed connection attempts.",
            counters.ipmi_errors,
        ),
        (
            "envmon_ipmi_replies_discarded",
            "counter",
            "Datagrams from the BMC discarded: not authentic, replayed, duplicated, or answering another request.",
            counters.ipmi_replies_discarded,
        ),
        (
            "envmon_agentx_notifications",
            "counter",
            "SNMP notifications sent through the AgentX master.",
            counters.agentx_notifications,
        ),
        (
            "envmon_agentx_notifications_dropped",
            "counter",
            "SNMP notifications not sent: no master, the queue full, or refused.",
            counters.agentx_notifications_dropped,
        ),
        (
            "envmon_socket_refused",
            "counter",
            "Query-socket connections refused: the peer is not root, the agent's user or in its group.",
            counters.socket_refused,
        ),
    ] {
        // OpenMetrics: a counter family `x` has the sample `x_total`.
        let sample = if kind == "counter" { "_total" } else { "" };
        o.push_str(&format!(
            "# TYPE {name} {kind}\n# HELP {name} {help}\n{name}{sample} {value}\n"
        ));
    }
    if let Some(sel) = env["sel"].as_object() {
        for (name, kind, help, key) in [
            (
                "envmon_sel_entries",
                "gauge",
                "Entries in the BMC's event log.",
                "entries",
            ),
            (
                "envmon_sel_free_bytes",
                "gauge",
                "Free space in the BMC's event log.",
                "free_bytes",
            ),
            (
                "envmon_sel_percent_used",
                "gauge",
                "How full the BMC's event log is.",
                "percent_used",
            ),
            (
                "envmon_sel_forwarded",
                "counter",
                "SEL entries forwarded to syslog.",
                "forwarded",
            ),
        ] {
            let sample = if kind == "counter" { "_total" } else { "" };
            o.push_str(&format!(
                "# TYPE {name} {kind}\n# HELP {name} {help}\n{name}{sample} {}\n",
                sel.get(key).and_then(Value::as_u64).unwrap_or(0)
            ));
        }
        o.push_str(&format!(
            "# TYPE envmon_sel_step_duration_seconds gauge\n# HELP envmon_sel_step_duration_seconds Duration of the last SEL check and batch.\nenvmon_sel_step_duration_seconds {}\n",
            number(counters.last_sel_seconds)
        ));
    }
    let empty = Vec::new();
    let dests = env["syslog"].as_array().unwrap_or(&empty);
    for (name, key, help) in [
        (
            "envmon_syslog_frames_sent",
            "sent",
            "Syslog frames delivered.",
        ),
        (
            "envmon_syslog_frames_dropped",
            "dropped",
            "Syslog frames dropped (queue full or undeliverable at shutdown).",
        ),
    ] {
        o.push_str(&format!("# TYPE {name} counter\n# HELP {name} {help}\n"));
        for d in dests {
            o.push_str(&format!(
                "{name}_total{{destination=\"{}\"}} {}\n",
                escape_label(d["destination"].as_str().unwrap_or("")),
                d[key].as_u64().unwrap_or(0)
            ));
        }
    }
    o.push_str("# EOF\n");
    o
}

/// Where the loop publishes and the socket reads.
#[derive(Debug, Default)]
pub struct Published {
    current: Mutex<Option<Arc<Snapshot>>>,
}

impl Published {
    /// Swaps in a new snapshot.
    pub fn publish(&self, s: Snapshot) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(s));
    }

    /// The latest snapshot, if any.
    pub fn latest(&self) -> Option<Arc<Snapshot>> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(uri: &str, sent: u64, dropped: u64, queued: usize) -> DestinationStats {
        DestinationStats {
            uri: uri.into(),
            queued,
            sent,
            dropped,
            failures: 0,
            connected: true,
        }
    }

    #[test]
    fn destinations_replaced_by_sighup_stay_counted() {
        let mut retired = Vec::new();
        // Two SIGHUPs: udp replaced twice, its frames left undelivered each time.
        retire(&mut retired, st("udp://a:514", 5, 3, 0));
        retire(&mut retired, st("udp://a:514", 1, 2, 0));
        retire(&mut retired, st("tcp://b:601", 7, 0, 4));
        let now = with_retired(
            vec![st("udp://a:514", 10, 0, 1), st("file:///x", 2, 0, 0)],
            &retired,
        );
        assert_eq!(
            now,
            vec![
                st("udp://a:514", 16, 5, 1),
                st("file:///x", 2, 0, 0),
                DestinationStats {
                    connected: false,
                    ..st("tcp://b:601", 7, 0, 0)
                },
            ]
        );
    }
}
