//! `--board auto` on real servers' sensor repositories (sim/corpus/*.sdr): the decision for
//! every record matches the table written by hand in sim/corpus/*.expected, no two monitored
//! items share a message subject, and a healthy server watched by `envmon run` against
//! ipmi_sim sends no syslog line at all.

use envmon_board_defs::{SdrSensor, explain};
use envmon_sensors::ipmi::{fake::FakeBmc, read_live_limits, repo, sdr::parse_record};
use envmon_tests::repo_root;
use std::{collections::HashSet, fs};

/// The corpus servers, by file stem.
const SERVERS: &[&str] = &[
    "dell-r630",
    "hpe-dl380p-gen8",
    "supermicro-x10dru",
    "cisco-ucs-c200-m2",
    "intel-s2600wtt",
    "quanta-d51",
];

fn corpus(server: &str) -> FakeBmc {
    let path = repo_root().join(format!("sim/corpus/{server}.sdr"));
    let text = fs::read_to_string(&path).unwrap();
    FakeBmc::from_corpus(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The SDR sensors as envmon sees them over the wire: records read in chunks, parsed, live
/// thresholds asked for.
fn sensors(bmc: &FakeBmc) -> Vec<SdrSensor> {
    let mut t = bmc.transport();
    let mut out = Vec::new();
    for raw in repo::read_all(&mut t).unwrap() {
        if let Ok(Some(mut e)) = parse_record(&raw) {
            read_live_limits(&mut t, &mut e).unwrap();
            out.push(e.to_sdr_sensor());
        }
    }
    out
}

/// One line per sensor record: `0xNN NAME => class LABEL` or `0xNN NAME => -`.
fn decisions(server: &str) -> Vec<String> {
    let sensors = sensors(&corpus(server));
    let (board, explained) = explain(&sensors, None);
    explained
        .iter()
        .map(|x| {
            let item = x
                .item
                .as_ref()
                .and_then(|id| board.items.iter().find(|i| i.id == *id));
            let decision = match item {
                Some(i) => format!("{} {}", i.spec.class, i.spec.label),
                None => "-".into(),
            };
            format!("0x{:02x} {} => {decision}", x.sensor.number, x.sensor.name)
        })
        .collect()
}

/// The decisions written down by hand in sim/corpus/SERVER.expected (`0xNN | name | class
/// label or - | reason`), in SDR order.
fn expected(server: &str) -> Vec<String> {
    let path = repo_root().join(format!("sim/corpus/{server}.expected"));
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split(" | ").collect();
            assert_eq!(f.len(), 4, "{}: {l}", path.display());
            format!("{} {} => {}", f[0], f[1], f[2])
        })
        .collect()
}

#[test]
fn every_record_of_every_server_is_decided_as_written_down() {
    for s in SERVERS {
        let got = decisions(s);
        let want = expected(s);
        let diff: Vec<String> = got
            .iter()
            .zip(&want)
            .filter(|(g, w)| g != w)
            .map(|(g, w)| format!("  got  {g}\n  want {w}"))
            .collect();
        assert!(
            diff.is_empty() && got.len() == want.len(),
            "{s}: {} records, {} expected\n{}",
            got.len(),
            want.len(),
            diff.join("\n")
        );
    }
}

#[test]
fn no_two_monitored_items_share_a_message_subject() {
    for s in SERVERS {
        let (board, _) = explain(&sensors(&corpus(s)), None);
        let mut seen = HashSet::new();
        for i in &board.items {
            assert!(
                seen.insert((i.spec.class, i.spec.label.clone())),
                "{s}: two items are {} {}",
                i.spec.class,
                i.spec.label
            );
        }
        assert!(!board.items.is_empty(), "{s}: nothing monitored");
    }
}

/// Each server, as ipmi_sim serves it, watched by `envmon run --board auto` for a dozen
/// sweeps: not one syslog line (no 735010 for absent sensors, no false alarm), and
/// `monitoring: running`.
#[test]
fn a_healthy_server_watched_by_envmon_run_sends_nothing() {
    use envmon_tests::{Agent, BMC_PASSWORD, EmuBmc};
    for s in SERVERS {
        let dir = tempfile::tempdir().unwrap();
        let bmc = EmuBmc::start(&dir.path().join("bmc"), &corpus(s));
        let out = dir.path().join("syslog.log");
        let a = Agent::start(
            &[
                "--ipmi",
                &bmc.uri(),
                "--board",
                "auto",
                "--interval-ms",
                "100",
                "--state-dir",
                dir.path().join("state").to_str().unwrap(),
                "--syslog",
                &format!("file://{}", out.display()),
            ],
            &[("ENVMON_IPMI_PASSWORD", BMC_PASSWORD)],
            &dir.path().join("envmon.log"),
        );
        a.wait_sweeps(12);
        let o = std::process::Command::new(envmon_tests::envmon_bin())
            .args(["show", "environment", "--json", "--socket"])
            .arg(a.socket())
            .output()
            .unwrap();
        let env: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let lines = fs::read_to_string(&out).unwrap_or_default();
        assert!(
            lines.is_empty(),
            "{s}: syslog lines on a healthy box:\n{lines}"
        );
        assert_eq!(env["monitoring"], "running", "{s}: {env}\n{}", a.stderr());
        let sensors = env["sensors"].as_array().unwrap();
        let (board, _) = explain(&sensors_of(s), None);
        assert_eq!(sensors.len(), board.items.len(), "{s}");
        assert!(
            sensors
                .iter()
                .all(|x| matches!(x["state"].as_str(), Some("ok" | "absent"))),
            "{s}: {env}"
        );
    }
}

fn sensors_of(server: &str) -> Vec<SdrSensor> {
    sensors(&corpus(server))
}
