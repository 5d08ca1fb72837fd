//! A fleet of appliances on this machine, with the tools operators already run: N envmon
//! agents (each on its own fake sysfs tree, no BMC), all sending RFC 5424 over TCP to one
//! rsyslog relay (dist/rsyslog/envmon-relay.conf) in front of an upstream rsyslogd, and
//! writing metrics files that one node_exporter exposes (the `host` label tells the agents
//! apart) to one Prometheus evaluating dist/prometheus/envmon.rules.yml. One fan breaks on
//! the first appliance and one supply on the second; the report says what arrived where.
//! `scripts/fleet [N]` prints it; tests/tests/fleet.rs checks it at N = 5.

use crate::{Agent, Bmc, Rsyslog, free_port, put, repo_root, rmcp_agent, sysfs_agent, wait_for};
use serde_json::Value;
use std::{
    fs,
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The appliances' board: a CPU and a fan on hwmon, two supplies on GPIO lines.
const BOARD: &str = r#"
name = "fleet-box"
min-psus = 2
[[item]]
id = "cpu0-temp"
class = "cpu_temp"
label = "0"
source = "hwmon:coretemp/Package id 0"
warm = 70
critical = 90
[[item]]
id = "fan1"
class = "fan"
label = "1"
source = "hwmon:nct6775/fan1"
min-rpm = 1000
[[item]]
id = "psu1"
class = "psu"
label = "1"
source = "gpio:23"
[[item]]
id = "psu2"
class = "psu"
label = "2"
source = "gpio:24"
"#;

/// A healthy appliance's sysfs tree.
fn tree(root: &Path) {
    put(root, "sys/class/hwmon/hwmon1/name", "coretemp\n");
    put(root, "sys/class/hwmon/hwmon1/temp1_label", "Package id 0\n");
    put(root, "sys/class/hwmon/hwmon1/temp1_input", "45000\n");
    put(root, "sys/class/hwmon/hwmon2/name", "nct6775\n");
    put(root, "sys/class/hwmon/hwmon2/fan1_input", "4200\n");
    put(root, "sys/class/gpio/gpio23/value", "1\n");
    put(root, "sys/class/gpio/gpio24/value", "1\n");
}

/// A child process killed on drop.
/// A daemon of the test, killed when dropped.
pub struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd`, its stdout in `log` (stderr beside it, `.err`).
pub fn daemon(cmd: &mut Command, log: &Path) -> Daemon {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(fs::File::create(log).unwrap())
        .stderr(fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/install-deps installs it)"));
    Daemon(child)
}

fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// An HTTP GET on loopback: the body.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// An instant query's result vector.
pub fn query(prometheus: u16, promql: &str) -> Option<Value> {
    let q: String = promql
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = http_get(prometheus, &format!("/api/v1/query?query={q}"))?;
    let v: Value = serde_json::from_str(&body).ok()?;
    Some(v["data"]["result"].clone())
}

fn scalar(prometheus: u16, promql: &str) -> Option<f64> {
    query(prometheus, promql)?
        .get(0)?
        .get("value")?
        .get(1)?
        .as_str()?
        .parse()
        .ok()
}

/// The rsyslog relay of dist/rsyslog/envmon-relay.conf, forwarding to `upstream_port`,
/// listening on the returned port.
pub fn start_relay(dir: &Path, upstream_port: u16) -> (RsyslogRelay, u16) {
    let work = dir.join("work");
    fs::create_dir_all(&work).unwrap();
    let port = free_port();
    let shipped = fs::read_to_string(repo_root().join("dist/rsyslog/envmon-relay.conf")).unwrap();
    let conf = format!(
        "global(workDirectory=\"{}\")\n{}",
        work.display(),
        shipped
            .replace("UPSTREAM_HOST", "127.0.0.1")
            .replace("UPSTREAM_PORT", &upstream_port.to_string())
            .replace(
                "port=\"601\"",
                &format!("address=\"127.0.0.1\" port=\"{port}\"")
            )
    );
    let conf_path = dir.join("rsyslog.conf");
    fs::write(&conf_path, conf).unwrap();
    let d = daemon(
        Command::new("/usr/sbin/rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(dir.join("pid")),
        &dir.join("rsyslogd.log"),
    );
    let up = wait_for(Duration::from_secs(15), || listening(port).then_some(()));
    assert!(up.is_some(), "the relay did not listen on {port}");
    (RsyslogRelay(d), port)
}

/// A running relay (killed on drop).
pub struct RsyslogRelay(#[allow(dead_code)] Daemon);

/// The syslog-ng relay of dist/syslog-ng/envmon-relay.conf (syslog-ng unpacked under
/// target/syslog-ng by scripts/install-deps: it cannot be installed beside rsyslog),
/// forwarding to `upstream_port`, listening on the returned port.
pub fn start_syslog_ng_relay(dir: &Path, upstream_port: u16) -> (RsyslogRelay, u16) {
    let root = repo_root().join("target/syslog-ng/root");
    let bin = root.join("usr/sbin/syslog-ng");
    assert!(
        bin.exists(),
        "{} is missing: scripts/install-deps unpacks it",
        bin.display()
    );
    let buffer = dir.join("buffer");
    fs::create_dir_all(&buffer).unwrap();
    let port = free_port();
    let shipped = fs::read_to_string(repo_root().join("dist/syslog-ng/envmon-relay.conf")).unwrap();
    let conf = shipped
        .replace("UPSTREAM_HOST", "127.0.0.1")
        .replace("UPSTREAM_PORT", &upstream_port.to_string())
        .replace("BUFFER_DIR", &buffer.to_string_lossy())
        .replace(
            "ip(\"0.0.0.0\") port(601)",
            &format!("ip(\"127.0.0.1\") port({port})"),
        );
    let conf_path = dir.join("syslog-ng.conf");
    fs::write(&conf_path, conf).unwrap();
    let libs = [
        root.join("lib/x86_64-linux-gnu"),
        root.join("usr/lib/x86_64-linux-gnu"),
        root.join("lib/aarch64-linux-gnu"),
        root.join("usr/lib/aarch64-linux-gnu"),
        root.join("usr/lib/syslog-ng"),
    ]
    .iter()
    .map(|p| p.display().to_string())
    .collect::<Vec<_>>()
    .join(":");
    let d = daemon(
        Command::new(&bin)
            .arg("-F")
            .arg("-f")
            .arg(&conf_path)
            .arg(format!(
                "--module-path={}",
                root.join("usr/lib/syslog-ng/3.38").display()
            ))
            .arg(format!("--persist-file={}", dir.join("persist").display()))
            .arg(format!("--pidfile={}", dir.join("pid").display()))
            .arg(format!("--control={}", dir.join("ctl").display()))
            .env("LD_LIBRARY_PATH", libs),
        &dir.join("syslog-ng.log"),
    );
    let up = wait_for(Duration::from_secs(15), || listening(port).then_some(()));
    assert!(up.is_some(), "syslog-ng did not listen on {port}");
    (RsyslogRelay(d), port)
}

/// What the fleet showed.
#[derive(Debug, Clone)]
pub struct Report {
    /// Agents started.
    pub agents: usize,
    /// Agents Prometheus saw (`count(envmon_sweeps_total)`).
    pub agents_seen: usize,
    /// `sum(rate(envmon_sweeps_total[20s]))`.
    pub sweeps_per_second: f64,
    /// CPU time per agent, percent of one core, averaged over the agents.
    pub cpu_percent_per_agent: f64,
    /// Lines the upstream received through the relay, per host.
    pub lines: Vec<(String, Vec<String>)>,
    /// Hosts whose fan alert fired.
    pub fan_alerts: Vec<String>,
    /// Hosts whose supply alert fired.
    pub psu_alerts: Vec<String>,
    /// From the broken fan to its alert firing in Prometheus.
    pub fault_to_alert: Duration,
    /// Each query of dist/grafana/envmon-dashboard.json (the `$host` variable set to all)
    /// and the series it returned.
    pub dashboard: Vec<(String, usize)>,
}

/// The host name of the fleet's one appliance watched over IPMI (the simulated BMC).
pub const IPMI_HOST: &str = "fw-ipmi";

/// The queries of the shipped Grafana dashboard, with `$host` standing for every host.
pub fn dashboard_queries() -> Vec<String> {
    let path = repo_root().join("dist/grafana/envmon-dashboard.json");
    let text = fs::read_to_string(&path).unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    v["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(|e| e.replace("$host", ".*")))
        .collect()
}

/// node_exporter with only its textfile collector, reading `textfiles`; its port.
pub fn node_exporter(textfiles: &Path, log: &Path) -> (Daemon, u16) {
    let port = free_port();
    let d = daemon(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .arg(format!(
                "--collector.textfile.directory={}",
                textfiles.display()
            )),
        log,
    );
    (d, port)
}

/// Prometheus with the configuration `yml`, its data and log under `dir`; its port.
pub fn prometheus(dir: &Path, yml: &str) -> (Daemon, u16) {
    let port = free_port();
    fs::create_dir_all(dir).unwrap_or_default();
    fs::write(dir.join("prometheus.yml"), yml).unwrap_or_default();
    let d = daemon(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}")),
        &dir.join("prometheus.log"),
    );
    (d, port)
}

/// The appliance names: `fw-01` ...
pub fn host(i: usize) -> String {
    format!("fw-{:02}", i + 1)
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0)
}

/// The fleet's `n` appliances on the board's own buses (each its sysfs tree under
/// `dir/HOST/root`), syslog through the relay on `relay_port`, metrics into `textfiles`.
fn start_agents(n: usize, dir: &Path, relay_port: u16, textfiles: &Path) -> Vec<(Agent, PathBuf)> {
    let board = dir.join("board.toml");
    fs::write(&board, BOARD).unwrap();
    let mut agents: Vec<(Agent, PathBuf)> = Vec::new();
    for i in 0..n {
        let name = host(i);
        let own = dir.join(&name);
        let root = own.join("root");
        tree(&root);
        let metrics = textfiles.join(format!("{name}.prom"));
        let a = sysfs_agent(
            &own,
            &root,
            &board,
            500,
            &format!("tcp://127.0.0.1:{relay_port}"),
            &[
                "--syslog-format",
                "rfc5424",
                "--hostname",
                &name,
                "--metrics-file",
                metrics.to_str().unwrap_or_default(),
            ],
        );
        agents.push((a, root));
    }
    agents
}

/// The hosts an alert `name` fires for in Prometheus.
fn firing(prom_port: u16, name: &str) -> Vec<String> {
    let body = http_get(prom_port, "/api/v1/alerts").unwrap_or_default();
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["data"]["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| x["labels"]["alertname"] == name && x["state"] == "firing")
                .filter_map(|x| x["labels"]["host"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Every panel's query of the dashboard and how many series it returns (rates need two
/// samples: a few tries until each returns data).
fn dashboard(prom_port: u16) -> Vec<(String, usize)> {
    let queries = dashboard_queries();
    let answer = |q: &String| {
        let k = query(prom_port, q)
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(0);
        (q.clone(), k)
    };
    wait_for(Duration::from_secs(30), || {
        let d: Vec<(String, usize)> = queries.iter().map(answer).collect();
        d.iter().all(|(_, k)| *k > 0).then_some(d)
    })
    .unwrap_or_else(|| queries.iter().map(answer).collect())
}

/// One appliance more, watched over IPMI (the simulated BMC: power sensor, SEL, BMC
/// figures), so that every panel of the dashboard has data; its syslog stays local.
fn start_ipmi_agent(dir: &Path, textfiles: &Path) -> (Bmc, Agent) {
    let bmc = Bmc::start(&dir.join("ipmi-bmc"));
    let ipmi_metrics = textfiles.join(format!("{IPMI_HOST}.prom"));
    fs::create_dir_all(dir.join(IPMI_HOST)).unwrap_or_default();
    let agent = rmcp_agent(
        &bmc.uri(),
        "sim-appliance",
        &dir.join(IPMI_HOST),
        500,
        &[
            "--hostname",
            IPMI_HOST,
            "--metrics-file",
            ipmi_metrics.to_str().unwrap_or_default(),
        ],
    );
    (bmc, agent)
}

/// Runs the fleet of `n` (at least 2) under `dir`.
pub fn run(n: usize, dir: &Path) -> Report {
    assert!(n >= 2, "a fleet of at least two");
    let mut upstream = Rsyslog::start(&dir.join("upstream"), false);
    let (_relay, relay_port) = start_relay(&dir.join("relay"), upstream.tcp_port);
    let textfiles = dir.join("textfile");
    fs::create_dir_all(&textfiles).unwrap();
    let (_node, node_port) = node_exporter(&textfiles, &dir.join("node_exporter.log"));
    let rules = repo_root().join("dist/prometheus/envmon.rules.yml");
    let (_prometheus, prom_port) = prometheus(
        &dir.join("prometheus"),
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{node_port}']\n",
            rules.display()
        ),
    );
    let agents = start_agents(n, dir, relay_port, &textfiles);
    let _ipmi = start_ipmi_agent(dir, &textfiles);
    let started = Instant::now();
    let ticks0: Vec<u64> = agents.iter().map(|(a, _)| cpu_ticks(a.pid())).collect();
    // Prometheus sees every agent.
    let seen = wait_for(Duration::from_secs(60), || {
        let c = scalar(prom_port, "count(envmon_sweeps_total{host!=\"fw-ipmi\"})")?;
        let ipmi = scalar(prom_port, "count(envmon_power_sensor_value)")?;
        (c as usize == n && ipmi >= 1.0).then_some(c as usize)
    });
    let agents_seen = seen.unwrap_or(0);
    // A fan breaks on the first appliance, a supply on the second.
    let fault = Instant::now();
    put(&agents[0].1, "sys/class/hwmon/hwmon2/fan1_input", "0\n");
    put(&agents[1].1, "sys/class/gpio/gpio24/value", "0\n");
    let firing = |name: &str| firing(prom_port, name);
    let fan = wait_for(Duration::from_secs(120), || {
        let f = firing("EnvmonFanFailed");
        (!f.is_empty()).then_some(f)
    });
    let fault_to_alert = fault.elapsed();
    let psu = wait_for(Duration::from_secs(60), || {
        let f = firing("EnvmonPowerSupplyFailed");
        (!f.is_empty()).then_some(f)
    });
    let sweeps_per_second = scalar(prom_port, "sum(rate(envmon_sweeps_total[20s]))").unwrap_or(0.0);
    let elapsed = started.elapsed().as_secs_f64();
    let ticks: u64 = agents
        .iter()
        .zip(&ticks0)
        .map(|((a, _), t0)| cpu_ticks(a.pid()).saturating_sub(*t0))
        .sum();
    let cpu_percent_per_agent = ticks as f64 / 100.0 / elapsed / n as f64 * 100.0;
    let dashboard = dashboard(prom_port);
    // Every line through the relay, per host (a few sweeps more for any straggler).
    std::thread::sleep(Duration::from_secs(2));
    let received = upstream.received();
    upstream.stop();
    let lines = (0..n)
        .map(|i| {
            let h = host(i);
            let l = received
                .iter()
                .filter(|r| r.hostname == h)
                .map(|r| r.msg.clone())
                .collect();
            (h, l)
        })
        .collect();
    Report {
        agents: n,
        agents_seen,
        sweeps_per_second,
        cpu_percent_per_agent,
        lines,
        fan_alerts: fan.unwrap_or_default(),
        psu_alerts: psu.unwrap_or_default(),
        fault_to_alert,
        dashboard,
    }
}
