//! envmon's `--metrics-names ipmi_exporter` side by side with the real one: Debian's
//! `prometheus-ipmi-exporter` (1.6.1, remote mode, FreeIPMI underneath, `opensesspriv` for
//! ipmi_sim) and envmon watch the same ipmi_sim — the simulated appliance, then every server
//! of sim/corpus — and their series are compared family by family: for every sensor envmon
//! reports, the exporter has the same series (name and labels) with the same value (within
//! 0.006, FreeIPMI prints two decimals, finer than any of these sensors' steps) and the same
//! severity; `ipmi_up` per collector, BMC info, chassis power and SEL figures agree. What the
//! exporter has and envmon leaves out is listed (docs/prometheus.md says why).
//!
//! Then a real Prometheus scrapes both (envmon's file through node_exporter's textfile
//! collector, as the fleet does) and the queries of `QUERIES` — dashboard panels and alert
//! expressions written for ipmi_exporter — return the same series over each.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use envmon_sensors::ipmi::fake::FakeBmc;
use envmon_tests::fleet::{Daemon, daemon, http_get, query};
use envmon_tests::{Agent, BMC_PASSWORD, BMC_USER, Bmc, EmuBmc, free_port, repo_root, wait_for};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The corpus servers, by file stem.
const SERVERS: &[&str] = &[
    "cisco-ucs-c200-m2",
    "dell-r630",
    "hpe-dl380p-gen8",
    "intel-s2600wtt",
    "quanta-d51",
    "supermicro-x10dru",
];

/// A series: its name and labels (without `host`, which envmon adds).
type Key = (String, BTreeMap<String, String>);

/// Parses the Prometheus text format: every sample.
fn parse(text: &str) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value.parse().unwrap_or(f64::NAN);
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let mut map = BTreeMap::new();
        let mut rest = labels;
        while let Some((k, v)) = rest.split_once("=\"") {
            // The value runs to the next unescaped quote.
            let mut end = 0;
            let bytes = v.as_bytes();
            while end < bytes.len()
                && !(bytes[end] == b'"' && (end == 0 || bytes[end - 1] != b'\\'))
            {
                end += 1;
            }
            map.insert(
                k.trim_start_matches(',').to_string(),
                v[..end].replace("\\\"", "\""),
            );
            rest = &v[(end + 1).min(v.len())..];
        }
        map.remove("host");
        out.insert((name.to_string(), map), value);
    }
    out
}

/// The exporter's configuration: remote mode on the simulator, every collector.
fn exporter(dir: &Path) -> (Daemon, u16) {
    fs::create_dir_all(dir).unwrap();
    let config = dir.join("ipmi_remote.yml");
    fs::write(
        &config,
        format!(
            "modules:\n  default:\n    user: \"{BMC_USER}\"\n    pass: \"{BMC_PASSWORD}\"\n    \
             privilege: \"admin\"\n    driver: \"LAN_2_0\"\n    timeout: 20000\n    \
             collectors: [ipmi, dcmi, bmc, chassis, sel]\n    workaround_flags: [\"opensesspriv\"]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let d = daemon(
        Command::new("prometheus-ipmi-exporter")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--freeipmi.path=/usr/sbin"),
        &dir.join("exporter.log"),
    );
    let up = wait_for(Duration::from_secs(20), || http_get(port, "/").map(|_| ()));
    assert!(up.is_some(), "ipmi_exporter did not listen on {port}");
    (d, port)
}

fn scrape(port: u16, bmc_port: u16) -> BTreeMap<Key, f64> {
    let body = http_get(
        port,
        &format!("/ipmi?target=127.0.0.1:{bmc_port}&module=default"),
    )
    .unwrap_or_default();
    parse(&body)
}

/// envmon on the BMC at `uri`, both names, its metrics file in `dir`.
fn envmon(uri: &str, board: &str, dir: &Path) -> (Agent, std::path::PathBuf) {
    let file = dir.join("textfile/envmon.prom");
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    let a = envmon_tests::rmcp_agent(
        uri,
        board,
        dir,
        500,
        &[
            "--metrics-names",
            "both",
            "--metrics-file",
            file.to_str().unwrap(),
        ],
    );
    (a, file)
}

/// envmon's series once it swept enough to judge (debounce), read the SEL and the BMC's
/// figures.
fn envmon_series(file: &Path) -> BTreeMap<Key, f64> {
    wait_for(Duration::from_secs(60), || {
        let m = parse(&fs::read_to_string(file).ok()?);
        let sweeps = m
            .iter()
            .find(|((n, _), _)| n == "envmon_sweeps_total")
            .map(|(_, v)| *v);
        let ready = sweeps.is_some_and(|s| s >= 8.0)
            && m.keys().any(|(n, _)| n == "ipmi_bmc_info")
            && m.keys().any(|(n, _)| n == "ipmi_sel_logs_count")
            && m.keys()
                .any(|(n, l)| n == "ipmi_up" && l.get("collector").is_some_and(|c| c == "ipmi"))
            && m.iter().any(|((n, l), v)| {
                n == "ipmi_up" && l.get("collector").is_some_and(|c| c == "ipmi") && *v == 1.0
            });
        ready.then_some(m)
    })
    .unwrap_or_else(|| {
        panic!(
            "envmon wrote no complete metrics file at {}",
            file.display()
        )
    })
}

const SENSOR_FAMILIES: &[&str] = &[
    "ipmi_temperature_celsius",
    "ipmi_temperature_state",
    "ipmi_fan_speed_rpm",
    "ipmi_fan_speed_ratio",
    "ipmi_fan_speed_state",
    "ipmi_voltage_volts",
    "ipmi_voltage_state",
    "ipmi_current_amperes",
    "ipmi_current_state",
    "ipmi_power_watts",
    "ipmi_power_state",
    "ipmi_sensor_value",
    "ipmi_sensor_state",
];

/// The BMC-wide families compared whole (no NaN in them).
const BMC_FAMILIES: &[&str] = &[
    "ipmi_up",
    "ipmi_bmc_info",
    "ipmi_chassis_power_state",
    "ipmi_dcmi_power_consumption_watts",
    "ipmi_sel_logs_count",
    "ipmi_sel_free_space_bytes",
];

#[derive(Debug, Default)]
struct Comparison {
    families: usize,
    series: usize,
    values_equal: usize,
    /// Exporter series envmon does not write (sensor name), per family.
    exporter_only: Vec<String>,
    /// Differences with a known reason.
    explained: Vec<String>,
    mismatches: Vec<String>,
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 0.006
}

/// Record IDs of sensors with a negative threshold: ipmi_sim compares raw bytes unsigned, so
/// it sets their "below lower threshold" bits at any reading (-5 is 251 to it), and
/// FreeIPMI, which trusts those bits, says critical where envmon, judging the value
/// against the thresholds itself, says ok.
fn signed_thresholds(bmc: &FakeBmc) -> Vec<String> {
    bmc.state()
        .records
        .iter()
        .filter_map(|r| envmon_sensors::ipmi::sdr::parse_record(r).ok().flatten())
        .filter(|e| e.thresholds.iter().flatten().any(|t| *t < 0.0))
        .map(|e| e.record_id.to_string())
        .collect()
}

fn compare(
    envmon: &BTreeMap<Key, f64>,
    exporter: &BTreeMap<Key, f64>,
    signed: &[String],
) -> Comparison {
    let mut c = Comparison::default();
    let mut families = std::collections::BTreeSet::new();
    for family in SENSOR_FAMILIES.iter().chain(BMC_FAMILIES) {
        let ours: Vec<(&Key, &f64)> = envmon.iter().filter(|((n, _), _)| n == family).collect();
        let theirs: Vec<(&Key, &f64)> = exporter.iter().filter(|((n, _), _)| n == family).collect();
        if ours.is_empty() && theirs.is_empty() {
            continue;
        }
        families.insert(*family);
        for (key, v) in &ours {
            c.series += 1;
            match exporter.get(*key) {
                Some(w) if same(**v, *w) => c.values_equal += 1,
                Some(w)
                    if family.ends_with("_state")
                        && **v == 0.0
                        && *w == 2.0
                        && key.1.get("id").is_some_and(|id| signed.contains(id)) =>
                {
                    c.explained.push(format!(
                        "{family}{{{}}}: critical to FreeIPMI by ipmi_sim's unsigned comparison of a negative threshold; ok to envmon",
                        key.1.get("name").cloned().unwrap_or_default()
                    ));
                }
                Some(w) => c
                    .mismatches
                    .push(format!("{key:?}: envmon {v}, exporter {w}")),
                None => c
                    .mismatches
                    .push(format!("{key:?}: envmon {v}, not in the exporter's")),
            }
        }
        let sensor = SENSOR_FAMILIES.contains(family);
        for (key, w) in theirs {
            if envmon.contains_key(key) {
                continue;
            }
            if sensor {
                c.exporter_only.push(format!(
                    "{family}{{{}}}",
                    key.1.get("name").cloned().unwrap_or_default()
                ));
            } else {
                c.mismatches
                    .push(format!("{key:?}: exporter {w}, not in envmon's"));
            }
        }
    }
    c.families = families.len();
    c
}

fn side_by_side(
    bmc_port: u16,
    uri: &str,
    board: &str,
    dir: &Path,
    exporter_port: u16,
    signed: &[String],
) -> Comparison {
    let (mut agent, file) = envmon(uri, board, dir);
    let ours = envmon_series(&file);
    let theirs = wait_for(Duration::from_secs(60), || {
        let m = scrape(exporter_port, bmc_port);
        m.iter()
            .any(|((n, l), v)| {
                n == "ipmi_up" && l.get("collector").is_some_and(|c| c == "ipmi") && *v == 1.0
            })
            .then_some(m)
    })
    .unwrap_or_else(|| panic!("ipmi_exporter never read the BMC on {bmc_port}"));
    agent.stop();
    compare(&ours, &theirs, signed)
}

fn corpus(server: &str) -> FakeBmc {
    let path = repo_root().join("sim/corpus").join(format!("{server}.sdr"));
    FakeBmc::from_corpus(&fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn every_corpus_server_as_ipmi_exporter_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_exporter, port) = exporter(&dir.path().join("exporter"));
    let mut failures = Vec::new();
    for server in SERVERS {
        let d = dir.path().join(server);
        let fake = corpus(server);
        let bmc = EmuBmc::start_with(&d.join("bmc"), &fake, true);
        let c = side_by_side(
            bmc.port,
            &bmc.uri(),
            "auto",
            &d,
            port,
            &signed_thresholds(&fake),
        );
        eprintln!(
            "{server}: {} families, {} series, {} equal; explained: {:?}; exporter only: {} {:?}",
            c.families,
            c.series,
            c.values_equal,
            c.explained,
            c.exporter_only.len(),
            c.exporter_only
        );
        if !c.mismatches.is_empty() || c.series == 0 {
            failures.push(format!("{server}: {:#?}", c.mismatches));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Panels and alert expressions written for ipmi_exporter's names, `$sel` standing for the
/// dashboard's target selector.
const QUERIES: &[&str] = &[
    "ipmi_up{$sel}",
    "ipmi_temperature_celsius{$sel}",
    "max by (name) (ipmi_temperature_celsius{$sel})",
    "ipmi_fan_speed_rpm{$sel}",
    "ipmi_voltage_volts{$sel}",
    "ipmi_power_watts{$sel}",
    "ipmi_temperature_state{$sel} > 0",
    "ipmi_fan_speed_state{$sel} == 2",
    "ipmi_voltage_state{$sel} > 0",
    "ipmi_sensor_state{$sel} > 0",
    "count(ipmi_temperature_state{$sel} == 0)",
    "ipmi_chassis_power_state{$sel} == 0",
    "ipmi_bmc_info{$sel}",
    "ipmi_sel_logs_count{$sel}",
    "ipmi_sel_free_space_bytes{$sel} < 1024",
    "ipmi_up{$sel} == 0",
];

/// A query's series without the labels that tell the two jobs apart, with their values.
fn series_of(prom: u16, q: &str, job: &str) -> Option<BTreeMap<BTreeMap<String, String>, f64>> {
    let result = query(prom, &q.replace("$sel", &format!("job=\"{job}\"")))?;
    let mut out = BTreeMap::new();
    for r in result.as_array()? {
        let mut labels: BTreeMap<String, String> = r["metric"]
            .as_object()?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        for k in ["job", "instance", "host"] {
            labels.remove(k);
        }
        let v: f64 = r["value"][1].as_str()?.parse().unwrap_or(f64::NAN);
        out.insert(labels, v);
    }
    Some(out)
}

#[test]
fn the_appliance_side_by_side_and_through_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let (_exporter, port) = exporter(&dir.path().join("exporter"));
    let bmc = Bmc::start(&dir.path().join("bmc"));
    // A fan below its lower critical threshold and a CPU past its upper non-critical one:
    // critical for both; the CPU is nominal to FreeIPMI's default interpretation (a
    // non-critical threshold is not a warning there) and warm in envmon's own family.
    bmc.set(7, 5);
    bmc.set(1, 80);
    let d = dir.path().join("agent");
    let (_agent, file) = envmon(&bmc.uri(), "sim-appliance", &d);
    let ours = envmon_series(&file);
    let theirs = wait_for(Duration::from_secs(60), || {
        let m = scrape(port, bmc.port);
        (!m.is_empty()).then_some(m)
    })
    .unwrap();
    let c = compare(&ours, &theirs, &[]);
    eprintln!("{c:#?}");
    assert!(c.mismatches.is_empty(), "{:#?}", c.mismatches);
    let state = |name: &str, family: &str| {
        ours.iter()
            .find(|((n, l), _)| n == family && l.get("name").is_some_and(|x| x == name))
            .map(|(_, v)| *v)
    };
    assert_eq!(state("FAN1", "ipmi_fan_speed_state"), Some(2.0));
    assert_eq!(state("CPU0 Temp", "ipmi_temperature_state"), Some(0.0));
    assert_eq!(
        ours.get(&(
            "envmon_sensor_state".to_string(),
            [
                ("id", "cpu0-temp"),
                ("class", "cpu_temp"),
                ("unit", "C"),
                ("envmon_sensor_state", "warm")
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        )),
        Some(&1.0)
    );

    // Prometheus: envmon's file through node_exporter, and the exporter's scrape.
    let (_node, node_port) = envmon_tests::fleet::node_exporter(
        file.parent().unwrap(),
        &dir.path().join("node_exporter.log"),
    );
    let (_prometheus, prom_port) = envmon_tests::fleet::prometheus(
        &dir.path().join("prometheus"),
        &format!(
            "global:\n  scrape_interval: 2s\n  evaluation_interval: 2s\nscrape_configs:\n  \
             - job_name: envmon\n    static_configs:\n      - targets: ['127.0.0.1:{node_port}']\n  \
             - job_name: ipmi\n    scrape_timeout: 2s\n    metrics_path: /ipmi\n    params:\n      \
             module: [default]\n      target: ['127.0.0.1:{}']\n    static_configs:\n      \
             - targets: ['127.0.0.1:{port}']\n",
            bmc.port
        ),
    );
    let seen = wait_for(Duration::from_secs(60), || {
        let both = ["envmon", "ipmi"].map(|j| {
            series_of(prom_port, "ipmi_up{$sel,collector=\"ipmi\"} == 1", j)
                .is_some_and(|s| !s.is_empty())
        });
        (both == [true, true]).then_some(())
    });
    assert!(seen.is_some(), "Prometheus never saw both");
    let mut differ = Vec::new();
    let mut nonempty = 0;
    for q in QUERIES {
        let a = series_of(prom_port, q, "envmon").unwrap();
        let b = series_of(prom_port, q, "ipmi").unwrap();
        let equal = a.len() == b.len()
            && a.iter()
                .all(|(k, v)| b.get(k).is_some_and(|w| same(*v, *w)));
        nonempty += usize::from(!a.is_empty());
        eprintln!(
            "{q}: {} series over envmon, {} over ipmi_exporter",
            a.len(),
            b.len()
        );
        if !equal {
            differ.push(format!("{q}:\n envmon {a:?}\n ipmi_exporter {b:?}"));
        }
    }
    assert!(differ.is_empty(), "{differ:#?}");
    assert!(nonempty >= 10, "the queries return data: {nonempty}");
}
