//! Prometheus, the way operators run it: envmon's `--metrics-file` read by Debian's
//! prometheus-node-exporter (textfile collector), and the alert rules in dist/prometheus/
//! unit-tested with promtool (Debian's prometheus package).

use envmon_tests::{Bmc, repo_root, wait_for};
use std::{
    fs,
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    process::Command,
    time::Duration,
};

const WAIT: Duration = Duration::from_secs(30);
const FAN1: u8 = 7;

fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let o = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool (apt-get install prometheus; scripts/install-deps does)");
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    (o.status.success(), text)
}

#[test]
fn the_alert_rules_pass_their_tests_and_a_broken_rule_fails_them() {
    let dist = repo_root().join("dist/prometheus");
    let (ok, out) = promtool(&["check", "rules", "envmon.rules.yml"], &dist);
    assert!(ok, "{out}");
    let (ok, out) = promtool(&["test", "rules", "envmon.rules.test.yml"], &dist);
    assert!(ok, "{out}");
    // Broken on purpose: the fan alert no longer looks at chassis fans.
    let dir = tempfile::tempdir().unwrap();
    let rules = fs::read_to_string(dist.join("envmon.rules.yml")).unwrap();
    let broken = rules.replace(r#"class=~"fan|psu_fan""#, r#"class="psu_fan""#);
    assert_ne!(broken, rules);
    fs::write(dir.path().join("envmon.rules.yml"), broken).unwrap();
    fs::copy(
        dist.join("envmon.rules.test.yml"),
        dir.path().join("envmon.rules.test.yml"),
    )
    .unwrap();
    let (ok, out) = promtool(&["test", "rules", "envmon.rules.test.yml"], dir.path());
    assert!(!ok, "a broken rule passed: {out}");
    assert!(out.contains("EnvmonFanFailed"), "{out}");
}

struct NodeExporter {
    _daemon: envmon_tests::fleet::Daemon,
    port: u16,
}

impl NodeExporter {
    fn start(textfiles: &Path, log: &Path) -> NodeExporter {
        let (d, port) = envmon_tests::fleet::node_exporter(textfiles, log);
        let n = NodeExporter { _daemon: d, port };
        let up = wait_for(WAIT, || n.scrape());
        assert!(up.is_some(), "node_exporter did not answer on {port}");
        n
    }

    fn scrape(&self) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        body.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
    }
}

#[test]
fn node_exporter_serves_the_metrics_file() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let textfiles = dir.path().join("textfile");
    fs::create_dir_all(&textfiles).unwrap();
    let file = textfiles.join("envmon.prom");
    let a = bmc.agent(
        dir.path(),
        "stderr",
        &[
            "--metrics-file",
            file.to_str().unwrap(),
            "--hostname",
            "fw-prom",
            "--metrics-names",
            "both",
        ],
    );
    a.wait_sweeps(3);
    // The file is the Prometheus text format, as promtool reads it.
    let (ok, out) = {
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("promtool check metrics < {}", file.display()))
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    // The one lint promtool finds is in ipmi_exporter's own name, which envmon keeps so that
    // the queries written for it work (docs/prometheus.md).
    let lints: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(
        ok || lints
            == [
                "ipmi_sel_logs_count non-histogram and non-summary metrics should not have \"_count\" suffix"
            ],
        "{out}"
    );
    let node = NodeExporter::start(&textfiles, &dir.path().join("node_exporter.log"));
    let m = node.scrape().unwrap();
    assert!(m.contains("node_textfile_scrape_error 0"), "{m}");
    // node_exporter sorts labels by name.
    assert!(
        m.contains(
            r#"envmon_sensor_value{class="cpu_temp",host="fw-prom",id="cpu0-temp",unit="C"} 40"#
        ),
        "{m}"
    );
    assert!(m.contains("# TYPE envmon_sweeps_total counter"), "{m}");
    assert!(m.contains(r#"envmon_psu_redundancy{envmon_psu_redundancy="ok",host="fw-prom"} 1"#));
    assert!(m.contains(r#"node_textfile_mtime_seconds{file=""#), "{m}");
    // And ipmi_exporter's names beside envmon's (`--metrics-names both`), the power sensor
    // and the BMC's figures among them.
    assert!(
        m.contains(r#"ipmi_power_watts{host="fw-prom",id="15",name="Pwr Consumption"} 180"#),
        "{m}"
    );
    assert!(m.contains(r#"envmon_power_sensor_value{host="fw-prom",name="Pwr Consumption",number="15",unit="W"} 180"#), "{m}");
    assert!(
        m.contains(r#"ipmi_up{collector="dcmi",host="fw-prom"} 0"#),
        "{m}"
    );
    // A fan fails: the next scrapes show it.
    bmc.set(FAN1, 10);
    let failed = r#"envmon_sensor_state{class="fan",envmon_sensor_state="failed",host="fw-prom",id="fan1",unit="RPM"} 1"#;
    let seen = wait_for(WAIT, || node.scrape().filter(|m| m.contains(failed)));
    assert!(seen.is_some(), "{:?}", node.scrape());
    // No temp file is left beside it for the collector to trip on.
    let names: Vec<String> = fs::read_dir(&textfiles)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.ends_with(".prom") || n == "envmon.prom"),
        "{names:?}"
    );
}

/// Issue 35: docs/socket.md said `show metrics > envmon.prom` feeds node_exporter's textfile
/// collector; node_exporter (Debian's 1.5) rejects that OpenMetrics text (its `stateset`).
/// `show metrics --format prometheus` is the form it reads: tested as the docs now write it.
#[test]
fn show_metrics_in_the_prometheus_format_feeds_the_textfile_collector() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let textfiles = dir.path().join("textfile");
    fs::create_dir_all(&textfiles).unwrap();
    let a = bmc.agent(dir.path(), "stderr", &["--hostname", "fw-show"]);
    a.wait_sweeps(3);
    let show = |extra: &[&str]| {
        let o = Command::new(envmon_tests::envmon_bin())
            .args(["--socket", a.socket().to_str().unwrap(), "show", "metrics"])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let file = textfiles.join("envmon.prom");
    fs::write(&file, show(&[])).unwrap();
    let node = NodeExporter::start(&textfiles, &dir.path().join("node_exporter.log"));
    let m = node.scrape().unwrap();
    assert!(
        m.contains("node_textfile_scrape_error 1"),
        "the OpenMetrics form is rejected: {m}"
    );
    fs::write(&file, show(&["--format", "prometheus"])).unwrap();
    let m = wait_for(WAIT, || {
        node.scrape()
            .filter(|m| m.contains("node_textfile_scrape_error 0"))
    })
    .expect("node_exporter never read the Prometheus form");
    assert!(
        m.contains(
            r#"envmon_sensor_value{class="cpu_temp",host="fw-show",id="cpu0-temp",unit="C"} 40"#
        ),
        "{m}"
    );
}
