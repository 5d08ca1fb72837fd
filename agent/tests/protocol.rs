//! The socket protocol, the `show environment` table and the metrics, golden. The replies
//! are made from real sweeps of a real server's SDR repository (a fake BMC serving the Dell
//! R630 capture in sim/corpus, `--board auto`, a fan stopped): what the producer makes is
//! what the goldens see. A second, typed environment (`layout_cases`) holds the states a
//! healthy server never shows (a failed supply, lost redundancy, PCI links short or absent,
//! stale readings) for the table and metrics layouts. `ENVMON_BLESS=1` rewrites the files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use envmon_agent::{
    ShutdownRecord as Record,
    config::MetricsNames,
    environment_table,
    model::Environment,
    model::metrics,
    model::status::{self, Counters, Snapshot},
    respond,
    syslog::DestinationStats,
};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

fn golden(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("ENVMON_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{} differs (ENVMON_BLESS=1 rewrites it):\n{actual}",
        path.display()
    );
}

fn fixed_counters() -> Counters {
    Counters {
        sweeps: 17,
        last_sweep_seconds: 0.0015,
        last_sweep_commands: 10,
        ipmi_commands: 170,
        ipmi_errors: 2,
        last_sel_seconds: 0.004,
        socket_refused: 3,
        ipmi_replies_discarded: 5,
        ipmi_retransmissions: 7,
        ipmi_sessions: 2,
        agentx_notifications: 4,
        agentx_notifications_dropped: 1,
    }
}

fn layout_cases() -> Snapshot {
    let monitor = json!({
        "board": "sim-appliance",
        "psu_redundancy": "lost",
        "pci": [
            {"id": "nic0", "vendor": "0x8086", "device": "0x10d3", "address": "0000:01:00.0", "speed": "2.5 GT/s", "width": 1,
             "expected_speed": "5.0 GT/s", "expected_width": 4, "required": true, "state": "degraded"},
            {"id": "fpga", "vendor": "0x10ee", "device": "0x7021", "address": null, "speed": null, "width": null,
             "expected_speed": null, "expected_width": null, "required": true, "state": "absent"}
        ],
        "sensors": [
            {"id": "cpu0-temp", "label": "0", "class": "cpu_temp", "value": 63.0, "unit": "C", "state": "ok", "age_ms": 120, "source": {"board": "ipmi:cpu0-temp"}},
            {"id": "ambient", "label": "1", "class": "chassis_ambient", "value": 41.0, "unit": "C", "state": "warm", "age_ms": 120, "source": {"board": "ipmi:ambient"}},
            {"id": "iohub-temp", "label": "0", "class": "iohub_temp", "value": null, "unit": "C", "state": "unavailable", "age_ms": null, "source": {"board": "ipmi:iohub-temp"}},
            {"id": "psu1-temp", "label": "1", "class": "psu_temp", "value": 35.5, "unit": "C", "state": "ok", "age_ms": 9000, "source": {"board": "ipmi:psu1-temp"}},
            {"id": "fan1", "label": "1", "class": "fan", "value": 500.0, "unit": "RPM", "state": "failed", "age_ms": 120, "source": {"board": "ipmi:fan1"}},
            {"id": "fan2", "label": "2", "class": "fan", "value": 3850.0, "unit": "RPM", "state": "ok", "age_ms": 120, "source": {"board": "ipmi:fan2"}},
            {"id": "psu1", "label": "1", "class": "psu", "value": null, "unit": "-", "state": "ok", "age_ms": 120, "source": {"board": "ipmi:psu1"}},
            {"id": "psu2", "label": "2", "class": "psu", "value": null, "unit": "-", "state": "failed", "age_ms": 120, "source": {"board": "ipmi:psu2"}},
            {"id": "psu2-fan", "label": "2", "class": "psu_fan", "value": 4500.0, "unit": "RPM", "state": "ok", "age_ms": 120, "source": {"board": "ipmi:psu2-fan"}},
            {"id": "v12", "label": "1", "class": "voltage", "value": 12.06, "unit": "V", "state": "ok", "age_ms": 120, "source": {"board": "ipmi:v12"}}
        ]
    });
    let shutdown = fixed_record();
    let syslog = fixed_syslog();
    let counters = fixed_counters();
    let mut env: Environment = serde_json::from_value(json!({
        "board": monitor["board"], "sensors": monitor["sensors"], "pci": monitor["pci"],
        "psu_redundancy": monitor["psu_redundancy"], "monitoring": "degraded", "interval_ms": 2000,
        "ipmi_commands_per_sweep": counters.last_sweep_commands, "last_shutdown": null,
        "sel": {"entries": 120, "free_bytes": 14080, "percent_used": 12, "last_record_id": 119, "forwarded": 7},
        "syslog": []
    }))
    .unwrap();
    env.last_shutdown = Some(shutdown.shown());
    env.syslog = status::syslog_status(&syslog);
    Snapshot {
        environment: env,
        counters,
        names: MetricsNames::Envmon,
        host: None,
    }
}

/// A session to `bmc` and its SDRs, loaded as the daemon loads them (`bmc::load_sdrs`: the
/// repository, then the live thresholds), with a cache dir of its own.
fn connect(
    bmc: &envmon_sensors::ipmi::fake::FakeBmc,
) -> (
    envmon_sensors::ipmi::fake::FakeTransport,
    Vec<envmon_sensors::ipmi::sdr::SdrEntry>,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut t = bmc.transport();
    let (sdrs, _) = envmon_agent::load_sdrs(&mut t, dir.path()).unwrap();
    (t, sdrs)
}

/// A snapshot made as the daemon makes one: four sweeps of the Dell R630's SDR repository
/// (`--board auto`) with its first chassis fan stopped, the BMC's figures (its power
/// sensors; DCMI, which this in-memory BMC has and ipmi_sim has not), the model of those
/// sweeps, fixed counters, a shutdown record, a syslog destination and a SEL status.
fn swept_snapshot() -> Snapshot {
    swept_snapshot_named(MetricsNames::Envmon)
}

fn swept_snapshot_named(names: MetricsNames) -> Snapshot {
    use envmon_agent::{Monitor, model::Monitoring};
    use envmon_sensors::ipmi::{IpmiSource, fake::FakeBmc};
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("sim/corpus/dell-r630.sdr")).unwrap();
    let bmc = FakeBmc::from_corpus(&text).unwrap();
    let (t, sdrs) = connect(&bmc);
    let board = envmon_agent::resolve_board(None, &sdrs);
    let (mut m, _) = Monitor::new(board, &sdrs, std::path::Path::new("/nonexistent"));
    // The first chassis fan (sim/corpus/dell-r630.expected: sensor 0x30) stops.
    bmc.set(0x30, 0);
    bmc.state().dcmi_watts = Some(182);
    let mut src = IpmiSource::new(t);
    let mut figures = envmon_agent::Figures::new(&sdrs);
    for now in [0, 2000, 4000, 6000] {
        m.sweep(Some(&mut src), now);
        if figures.due(now) {
            figures.read(src.transport(), now);
        }
    }
    let mut env = Environment::new(Some(m.view(6120)), Monitoring::Running, 2000);
    env.bmc = figures.bmc();
    env.power = figures.power();
    env.ipmi_commands_per_sweep = 10;
    env.last_shutdown = Some(fixed_record().shown());
    env.protection = Some(envmon_agent::model::Protection {
        action: "poweroff".into(),
        evidence: "the kernel's IPMI device is this machine's own BMC".into(),
        host: "local".into(),
    });
    env.sel = Some(envmon_agent::model::SelStatus {
        entries: 120,
        forwarded: 7,
        free_bytes: Some(14080),
        last_record_id: Some(119),
        newest_at: Some(1_795_000_000),
        percent_used: Some(12),
        severities: [0, 0, 0, 2, 1, 4, 0, 0],
    });
    env.syslog = status::syslog_status(&fixed_syslog());
    Snapshot {
        environment: env,
        counters: fixed_counters(),
        names,
        host: None,
    }
}

fn fixed_record() -> Record {
    Record {
        version: 1,
        reason: "cpu".into(),
        sensor: "cpu0-temp".into(),
        label: "0".into(),
        reading: Some(101.0),
        threshold: Some(100.0),
        unit: "C".into(),
        at: "2026-11-22T16:00:00.000000+00:00".into(),
        reported: true,
        source: None,
        host: None,
        outcome: Vec::new(),
        host_off: None,
        trips: Vec::new(),
    }
}

fn fixed_syslog() -> [DestinationStats; 1] {
    [DestinationStats {
        uri: "udp://127.0.0.1:514".into(),
        queued: 0,
        sent: 42,
        dropped: 3,
        failures: 1,
        connected: true,
    }]
}

#[test]
fn swept_environment_table_and_metrics() {
    let snap = swept_snapshot();
    let env = &snap.environment;
    // What the sweeps made, not what a fixture says: the stopped fan is failed, every
    // other item read (or is absent), and the table and metrics say so.
    let fan = env
        .sensors
        .iter()
        .find(|s| s.source.number == Some(0x30))
        .unwrap();
    assert_eq!(
        fan.state,
        envmon_agent::model::Shown::Is(envmon_core::engine::State::Failed),
        "{fan:?}"
    );
    let table = environment_table(env);
    assert!(table.contains("Failure Detected"), "{table}");
    golden("show-environment-swept.txt", &table);
    golden("metrics-swept.txt", &snap.openmetrics());
}

/// The same sweeps under ipmi_exporter's names (`--metrics-names ipmi_exporter`), as the
/// textfile collector reads them: its families, `id`/`name`(/`type`) labels, severities,
/// NaN for what does not read, DCMI, BMC, chassis and SEL figures.
#[test]
fn swept_metrics_under_ipmi_exporter_names() {
    let snap = swept_snapshot_named(MetricsNames::IpmiExporter);
    let env = &snap.environment;
    let families = metrics::families(env, &fixed_counters(), MetricsNames::IpmiExporter);
    let text = metrics::prometheus(&families, Some("fw1"));
    assert!(!text.contains("envmon_"), "only the exporter's names");
    // The stopped fan (record of sensor 0x30, "Fan1A") is critical, 0 RPM.
    let fan = env
        .sensors
        .iter()
        .find(|s| s.source.number == Some(0x30))
        .unwrap();
    let id = fan.sdr.unwrap().record_id;
    assert!(
        text.contains(&format!(
            "ipmi_fan_speed_state{{host=\"fw1\",id=\"{id}\",name=\"Fan1A\"}} 2\n"
        )),
        "{text}"
    );
    assert!(text.contains("ipmi_dcmi_power_consumption_watts{host=\"fw1\"} 182\n"));
    assert!(
        text.contains("ipmi_power_watts{host=\"fw1\",id=\""),
        "Pwr Consumption"
    );
    assert!(
        text.contains("ipmi_current_amperes{host=\"fw1\",id=\""),
        "Current 1"
    );
    // An absent fan is left out, as ipmimonitoring leaves out a sensor that does not read;
    // a discrete sensor has no value (NaN) and a state.
    assert!(!text.contains("name=\"Fan2A\""));
    assert!(text.contains("name=\"PS Redundancy\",type=\"Power Supply\"} NaN\n"));
    golden("metrics-ipmi-exporter.prom", &text);
    let both = metrics::families(env, &fixed_counters(), MetricsNames::Both);
    assert_eq!(
        both.len(),
        families.len() + metrics::families(env, &fixed_counters(), MetricsNames::Envmon).len()
    );
}

#[test]
fn golden_replies_for_every_request() {
    let snap = swept_snapshot();
    let requests: [&[u8]; 10] = [
        b"show environment",
        b"show version",
        b"show metrics",
        b"  show   environment \r",
        b"",
        b"   ",
        b"\xff\xfe\x00garbage",
        b"show sensors",
        b"reboot now",
        b"show\x07environment",
    ];
    let mut out = String::new();
    for r in requests {
        let reply = respond(r, Some(&snap), Duration::from_millis(1500));
        serde_json::from_str::<serde_json::Value>(&reply).expect("every reply is one JSON line");
        assert!(!reply.contains('\n'), "one line");
        out.push_str(&format!(
            "> {}\n< {reply}\n",
            String::from_utf8_lossy(r).escape_debug()
        ));
    }
    let version = respond(b"show version", Some(&snap), Duration::ZERO);
    assert_eq!(
        version,
        format!(
            "{{\"name\":\"envmon\",\"version\":\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )
    );
    out = out.replace(env!("CARGO_PKG_VERSION"), "VERSION");
    golden("protocol.txt", &out);
}

#[test]
fn before_the_first_snapshot_only_version_answers() {
    assert!(respond(b"show environment", None, Duration::ZERO).contains("not_ready"));
    assert!(respond(b"show version", None, Duration::ZERO).contains("\"version\""));
}

#[test]
fn golden_environment_table() {
    golden(
        "show-environment.txt",
        &environment_table(&layout_cases().environment),
    );
}

/// Issue 35: the socket says how old its view is, and a view older than three sweeps and a
/// minute (a stuck loop) says so in the table's second line; a fresh one says nothing.
#[test]
fn a_stale_view_says_so_and_a_fresh_one_does_not() {
    let snap = layout_cases();
    let reply = respond(b"show environment", Some(&snap), Duration::from_secs(312));
    let env: Environment = serde_json::from_str(&reply).unwrap();
    assert_eq!(env.age_ms, Some(312_000));
    let table = environment_table(&env);
    let second = table.lines().nth(1).unwrap_or_default();
    assert!(
        second.starts_with("Stale: the agent's view is 312 s old (it sweeps every 2 s)"),
        "{table}"
    );
    let fresh = respond(b"show environment", Some(&snap), Duration::from_secs(2));
    let env: Environment = serde_json::from_str(&fresh).unwrap();
    assert!(!environment_table(&env).contains("Stale"));
}

#[test]
fn golden_metrics_end_in_eof() {
    let m = layout_cases().openmetrics();
    assert!(m.ends_with("# EOF\n"));
    assert!(
        !m.contains("iohub-temp\",class=\"iohub_temp\",unit=\"C\"} "),
        "no value while unavailable"
    );
    golden("metrics.txt", &m);
}

fn prometheus(host: Option<&str>) -> String {
    let s = layout_cases();
    // The counters are not in the snapshot: the same ones as fixed_snapshot's.
    let counters = fixed_counters();
    metrics::prometheus(
        &metrics::families(&s.environment, &counters, MetricsNames::Envmon),
        host,
    )
}

/// The same metrics as the textfile collector reads them (Prometheus text 0.0.4).
#[test]
fn golden_prometheus_text_for_node_exporter() {
    let p = prometheus(None);
    assert!(!p.contains("# EOF") && !p.contains("# UNIT") && !p.contains("stateset"));
    assert!(p.contains(
        "# TYPE envmon_sweeps_total counter\n# HELP envmon_sweeps_total Sweeps done.\nenvmon_sweeps_total 17\n"
    ));
    golden("metrics.prom", &p);
    // With the host label, on every sample and only there.
    let h = prometheus(Some("fw1"));
    assert!(
        h.contains("\nenvmon_sweeps_total{host=\"fw1\"} 17\n"),
        "{h}"
    );
    assert!(h.contains("envmon_sensor_value{host=\"fw1\",id=\"cpu0-temp\","));
    let samples = |t: &str| t.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(h.matches("host=\"fw1\"").count(), samples(&h));
    assert_eq!(samples(&h), samples(&p));
}

/// `Monitor::view`'s items, the part of `show environment` the monitor makes, from real
/// sweeps of a fake BMC: values, states (warm, failed, absent, unavailable), units, ages and sources,
/// golden.
#[test]
fn monitor_json_from_sweeps_of_a_fake_bmc() {
    use envmon_agent::Monitor;
    use envmon_sensors::ipmi::{
        IpmiSource,
        fake::{FakeBmc, threshold_record, with_r_exp},
    };
    let board = envmon_board_defs::parse(
        std::path::Path::new("golden-board.toml"),
        "name = \"golden\"\n[defaults]\ndebounce = 1\nunavailable-after = 2\n\
         [[item]]\nid = \"cpu0-temp\"\nclass = \"cpu_temp\"\nlabel = \"0\"\nsource = \"ipmi:CPU0 Temp\"\nwarm = 75\ncritical = 90\n\
         [[item]]\nid = \"fan1\"\nclass = \"fan\"\nlabel = \"1\"\nsource = \"ipmi:FAN1\"\nmin-rpm = 1000\n\
         [[item]]\nid = \"v12\"\nclass = \"voltage\"\nlabel = \"1\"\nsource = \"ipmi:12V\"\nlow = 11.4\nhigh = 12.6\n\
         [[item]]\nid = \"ambient\"\nclass = \"chassis_ambient\"\nlabel = \"1\"\nsource = \"ipmi:Ambient Temp\"\nwarm = 40\noptional = true\n\
         [[item]]\nid = \"iohub-temp\"\nclass = \"iohub_temp\"\nlabel = \"0\"\nsource = \"ipmi:IOH Temp\"\ncritical = 95\n",
    )
    .unwrap();
    let bmc = FakeBmc::default();
    bmc.state().records = vec![
        threshold_record(1, 1, "CPU0 Temp", 0x01, (0x03, 1), 1, [None; 6]),
        threshold_record(2, 7, "FAN1", 0x04, (0x1d, 1), 50, [None; 6]),
        with_r_exp(
            threshold_record(3, 13, "12V", 0x02, (0x07, 1), 6, [None; 6]),
            -2,
        ),
        threshold_record(4, 3, "Ambient Temp", 0x01, (0x17, 1), 1, [None; 6]),
    ];
    bmc.set(1, 80); // warm
    bmc.set(7, 10); // 500 RPM: failed
    bmc.set(13, 201); // 12.06 V: ok
    // Ambient Temp has no reading and is optional, but nothing says its part is absent (no
    // presence sensor, scanning on): unavailable, with why. IOH Temp is not in the
    // repository at all: unavailable, with why.
    let (t, sdrs) = connect(&bmc);
    let (mut m, notes) = Monitor::new(board, &sdrs, std::path::Path::new("/"));
    assert_eq!(notes.len(), 1, "{notes:?}");
    let mut src = IpmiSource::new(t);
    for now in [0, 100, 200] {
        m.sweep(Some(&mut src), now);
    }
    let json = serde_json::to_string_pretty(&m.view(250).sensors).unwrap() + "\n";
    golden("monitor.json", &json);
}
