//! envmon against the simulated appliance's BMC (ipmi_sim over RMCP+ on loopback): value
//! files drive the sensors, and exactly the right syslog lines arrive, one per transition.

use envmon_tests::{Agent, BMC_PASSWORD, Bmc, envmon_bin, message_lines, wait_for};
use std::{path::Path, process::Command, time::Duration};

const WAIT: Duration = Duration::from_secs(30);

// Sensor numbers of sim/run-bmc.
const CPU0: u8 = 1;
const FAN1: u8 = 7;
const PSU2: u8 = 10;
const V12: u8 = 13;

fn expect(file: &Path, seen: &mut Vec<String>, want: &[&str]) {
    envmon_tests::expect_lines(file, seen, want, WAIT);
}

fn agent(bmc: &Bmc, dir: &Path, board: &str) -> (Agent, std::path::PathBuf) {
    let out = dir.join("syslog.log");
    let state = dir.join("state");
    let args = [
        "--ipmi",
        &bmc.uri(),
        "--board",
        board,
        "--interval-ms",
        "150",
        "--state-dir",
        state.to_str().unwrap(),
        "--syslog",
        &format!("file://{}", out.display()),
        "--hostname",
        "sim",
    ];
    let a = Agent::start(
        &args,
        &[
            ("ENVMON_IPMI_PASSWORD", BMC_PASSWORD),
            ("ENVMON_LOG", "info"),
        ],
        &dir.join("envmon.log"),
    );
    (a, out)
}

#[test]
fn transitions_give_exactly_one_message_each_and_survive_a_bmc_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut bmc = Bmc::start(&dir.path().join("bmc"));
    let (mut a, out) = agent(&bmc, dir.path(), "sim-appliance");
    let mut seen = Vec::new();

    // The agent is monitoring once it has bound the board's items.
    let bound = wait_for(WAIT, || {
        a.stderr()
            .contains("monitoring board sim-appliance")
            .then_some(())
    });
    assert!(bound.is_some(), "{}", a.stderr());

    bmc.set(FAN1, 10); // 500 RPM < 1000
    expect(
        &out,
        &mut seen,
        &["%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected"],
    );
    bmc.set(FAN1, 100);
    expect(&out, &mut seen, &["%FTD-1-735001: IPMI: Cooling Fan 1: OK"]);

    bmc.set(CPU0, 80);
    expect(&out, &mut seen, &["%FTD-4-735015: CPU 0: Temp: 80 C, Warm"]);
    bmc.set(CPU0, 92);
    expect(
        &out,
        &mut seen,
        &["%FTD-1-735007: IPMI: CPU 0: Temp: 92 C, Critical"],
    );
    bmc.set(CPU0, 40);
    expect(&out, &mut seen, &["%FTD-1-735020: CPU 0: Temp: 40 C OK"]);

    bmc.set(PSU2, 3); // present + failure
    expect(
        &out,
        &mut seen,
        &[
            "%FTD-1-735004: IPMI: Power Supply 2: Failure Detected",
            "%FTD-1-735006: IPMI: Power Supply Unit Redundancy Lost",
        ],
    );
    bmc.set(PSU2, 1);
    expect(
        &out,
        &mut seen,
        &[
            "%FTD-1-735003: IPMI: Power Supply 2: OK",
            "%FTD-1-735005: IPMI: Power Supply Unit Redundancy OK",
        ],
    );

    bmc.set(V12, 220); // 13.2 V > 12.6
    expect(
        &out,
        &mut seen,
        &["%FTD-1-735014: Voltage Channel 1: Voltage Critical"],
    );
    bmc.set(V12, 200);
    expect(
        &out,
        &mut seen,
        &["%FTD-1-735013: Voltage Channel 1: Voltage OK"],
    );

    // The BMC dies: 735010 (once, rate limited), and envmon keeps running.
    bmc.kill();
    expect(
        &out,
        &mut seen,
        &[
            "%FTD-3-735010: IPMI: Environment Monitoring has failed to update one or more of its records.",
        ],
    );
    // It comes back: readings are correct again without restarting envmon.
    bmc.restart();
    let back = wait_for(WAIT, || {
        (a.stderr().matches("connected to the BMC").count() >= 2).then_some(())
    });
    assert!(back.is_some(), "{}", a.stderr());
    bmc.set(CPU0, 93);
    expect(
        &out,
        &mut seen,
        &["%FTD-1-735007: IPMI: CPU 0: Temp: 93 C, Critical"],
    );

    // Nothing repeated while steady: ten sweeps, five debounce periods.
    a.wait_sweeps(10);
    assert_eq!(message_lines(&out), seen, "no line repeated");
    assert_eq!(a.stop(), Some(0), "clean exit on SIGTERM: {}", a.stderr());
}

#[test]
fn no_bmc_at_start_gives_735009_and_monitoring_starts_when_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let port = envmon_tests::free_port();
    let out = dir.path().join("syslog.log");
    let uri = format!("rmcp://admin@127.0.0.1:{port}");
    let state = dir.path().join("state");
    let mut a = Agent::start(
        &[
            "--ipmi",
            &uri,
            "--board",
            "sim-appliance",
            "--interval-ms",
            "100",
            "--state-dir",
            state.to_str().unwrap(),
            "--syslog",
            &format!("file://{}", out.display()),
        ],
        &[("ENVMON_IPMI_PASSWORD", BMC_PASSWORD)],
        &dir.path().join("envmon.log"),
    );
    let mut seen = Vec::new();
    expect(
        &out,
        &mut seen,
        &[
            "%FTD-2-735009: IPMI: Environment Monitoring has failed initialization and configuration. Environment Monitoring is not running.",
        ],
    );
    // The BMC appears on that port: the agent (still running) starts monitoring.
    let bmc_dir = dir.path().join("bmc");
    let mut bmc = Bmc::start_on(&bmc_dir, port);
    bmc.set(FAN1, 5);
    expect(
        &out,
        &mut seen,
        &["%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected"],
    );
    assert_eq!(a.stop(), Some(0));
    bmc.kill();
}

#[test]
fn board_auto_classifies_the_sdrs_and_takes_their_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    bmc.set(CPU0, 80); // above the SDR's upper non-critical (75)
    bmc.set(FAN1, 10); // below the SDR's lower critical (20 raw = 1000 RPM)
    // A one-shot command caches the SDRs in a state dir that is there; it makes none.
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let poll = || {
        Command::new(envmon_bin())
            .args(["--ipmi", &bmc.uri(), "--board", "auto"])
            .args(["--state-dir", dir.path().join("state").to_str().unwrap()])
            .args(["poll", "--count", "1", "--json"])
            .env("ENVMON_IPMI_PASSWORD", BMC_PASSWORD)
            .output()
            .unwrap()
    };
    let o = poll();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["board"], "auto");
    assert_eq!(
        v["ipmi_commands_per_sweep"], 14,
        "one Get Sensor Reading per sensor"
    );
    let sensors = v["sensors"].as_array().unwrap();
    assert_eq!(sensors.len(), 14, "every SDR sensor classified");
    let by_id = |id: &str| {
        sensors
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("{id}: {v}"))
    };
    let classes: Vec<(&str, &str)> = [
        ("cpu0-temp", "cpu_temp"),
        ("cpu0-vr-temp", "cpu_vr_temp"),
        ("ambient-temp", "chassis_ambient"),
        ("ioh-temp", "iohub_temp"),
        ("psu1-temp", "psu_temp"),
        ("fan1", "fan"),
        ("psu2-status", "psu"),
        ("psu1-fan", "psu_fan"),
        ("12v", "voltage"),
    ]
    .to_vec();
    for (id, class) in classes {
        assert_eq!(by_id(id)["class"], class, "{id}");
    }
    assert_eq!(by_id("cpu0-temp")["state"], "warm");
    assert_eq!(by_id("cpu0-temp")["value"], 80.0);
    assert_eq!(by_id("fan1")["state"], "failed");
    assert_eq!(by_id("fan1")["value"], 500.0);
    assert_eq!(by_id("12v")["value"], 12.0);
    assert_eq!(by_id("psu2-status")["value"], serde_json::Value::Null);
    assert_eq!(v["psu_redundancy"], "ok");
    assert_eq!(
        (v["monitoring"].as_str(), v["last_shutdown"].is_null()),
        (Some("running"), true),
        "show environment's shape"
    );
    // The SDR cache is in the state dir; a second run reads it instead of the repository.
    // Proof from outside: rename a sensor in the cache only (same length, same repository
    // timestamps); the second run shows the cached name, which the BMC never had.
    let cache = dir.path().join("state/sdr-cache.v1");
    let bytes = std::fs::read(&cache).unwrap();
    let at = bytes
        .windows(9)
        .position(|w| w == b"CPU0 Temp")
        .expect("the cache holds the SDR records");
    let mut doctored = bytes.clone();
    doctored[at + 3] = b'9';
    std::fs::write(&cache, &doctored).unwrap();
    let o = poll();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = v["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(ids.contains(&"cpu9-temp"), "read from the cache: {ids:?}");
    assert_eq!(
        v["sensors"][0]["value"], 80.0,
        "read by number from the BMC"
    );
}

/// `--board auto` on a two-supply BMC without a redundancy sensor: the first failed supply
/// loses redundancy (a 1+1 box), and its recovery regains it.
#[test]
fn auto_two_supplies_lose_redundancy_at_the_first_failure() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let (mut a, out) = agent(&bmc, dir.path(), "auto");
    a.wait_sweeps(3);
    let mut seen = Vec::new();
    bmc.set(PSU2, 3); // present + failure
    expect(
        &out,
        &mut seen,
        &[
            "%FTD-1-735004: IPMI: Power Supply 2: Failure Detected",
            "%FTD-1-735006: IPMI: Power Supply Unit Redundancy Lost",
        ],
    );
    bmc.set(PSU2, 1);
    expect(
        &out,
        &mut seen,
        &[
            "%FTD-1-735003: IPMI: Power Supply 2: OK",
            "%FTD-1-735005: IPMI: Power Supply Unit Redundancy OK",
        ],
    );
    assert_eq!(a.stop(), Some(0));
}

#[test]
fn sighup_reloads_the_configuration_and_a_bad_one_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let out = dir.path().join("syslog.log");
    let cfg = dir.path().join("envmon.toml");
    let config = |prefix: &str| {
        format!(
            "ipmi = \"{}\"\nboard = \"sim-appliance\"\ninterval-ms = 150\nstate-dir = \"{}\"\nsyslog = [\"file://{}\"]\nprefix = \"{prefix}\"\n",
            bmc.uri(),
            dir.path().join("state").display(),
            out.display()
        )
    };
    std::fs::write(&cfg, config("FTD")).unwrap();
    let mut a = Agent::start(
        &["--config", cfg.to_str().unwrap()],
        &[
            ("ENVMON_IPMI_PASSWORD", BMC_PASSWORD),
            ("ENVMON_LOG", "info"),
        ],
        &dir.path().join("envmon.log"),
    );
    let pid = a.pid();
    let hup = || {
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        )
    };
    let mut seen = Vec::new();
    assert!(
        wait_for(WAIT, || a
            .stderr()
            .contains("connected to the BMC")
            .then_some(()))
        .is_some()
    );
    bmc.set(FAN1, 5);
    expect(
        &out,
        &mut seen,
        &["%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected"],
    );

    // A broken file: the agent says why and keeps running as it was.
    std::fs::write(&cfg, "prefix = \"ASA\"\nfacilty = \"local4\"\n").unwrap();
    hup();
    assert!(
        wait_for(WAIT, || a
            .stderr()
            .contains("SIGHUP: keeping the running configuration")
            .then_some(()))
        .is_some()
    );
    assert!(
        a.stderr().contains(":2:1: unknown field `facilty`"),
        "{}",
        a.stderr()
    );
    bmc.set(FAN1, 100);
    expect(&out, &mut seen, &["%FTD-1-735001: IPMI: Cooling Fan 1: OK"]);

    // A good one: the new prefix is used, and the judged states are kept (no repeats).
    std::fs::write(&cfg, config("ASA")).unwrap();
    hup();
    assert!(
        wait_for(WAIT, || a
            .stderr()
            .contains("SIGHUP: configuration reloaded")
            .then_some(()))
        .is_some()
    );
    bmc.set(FAN1, 5);
    expect(
        &out,
        &mut seen,
        &["%ASA-1-735002: IPMI: Cooling Fan 1: Failure Detected"],
    );
    assert_eq!(a.stop(), Some(0));
}

mod thermal_shutdown {
    use super::*;
    use envmon_core::{Prefix, render_line};
    use std::os::unix::fs::PermissionsExt;

    fn line(id: u32, args: &[&str]) -> String {
        render_line(Prefix::Ftd, id, args).unwrap()
    }

    /// A shutdown program that records that it ran, and what syslog held at that moment.
    fn program(dir: &Path) -> String {
        let p = dir.join("shutdown-program");
        std::fs::write(
            &p,
            "#!/bin/sh\ncp \"$TEST_SYSLOG\" \"$TEST_DIR/syslog-when-it-ran\"\necho \"$ENVMON_SHUTDOWN_REASON $ENVMON_SHUTDOWN_SENSOR $ENVMON_SHUTDOWN_READING\" >> \"$TEST_DIR/ran\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p.to_str().unwrap().to_string()
    }

    fn start(bmc: &Bmc, dir: &Path, out: &Path, program: &str, n: usize) -> Agent {
        let state = dir.join("state");
        let action = format!("exec:{program}");
        let syslog = format!("file://{}", out.display());
        let uri = bmc.uri();
        let args = [
            "--ipmi",
            uri.as_str(),
            "--board",
            "sim-appliance",
            "--interval-ms",
            "100",
            "--state-dir",
            state.to_str().unwrap(),
            "--syslog",
            syslog.as_str(),
            "--shutdown-action",
            action.as_str(),
        ];
        let env = [
            ("ENVMON_IPMI_PASSWORD", BMC_PASSWORD),
            ("ENVMON_LOG", "info"),
            ("TEST_SYSLOG", out.to_str().unwrap()),
            ("TEST_DIR", dir.to_str().unwrap()),
        ];
        let a = Agent::start(&args, &env, &dir.join(format!("envmon-{n}.log")));
        assert!(
            wait_for(WAIT, || a
                .stderr()
                .contains("connected to the BMC")
                .then_some(()))
            .is_some(),
            "{}",
            a.stderr()
        );
        a
    }

    /// One thermal-shutdown scenario.
    struct Case {
        sensor: u8,
        hot: u32,
        normal: u32,
        before: Vec<String>,
        shutdown_line: String,
        reason: &'static str,
        item: &'static str,
        /// The report at the next start (the guide has none for the IO hub).
        boot_line: Option<String>,
    }

    /// Drives the sensor beyond its shutdown threshold; checks the sequence, then two restarts.
    fn case(c: Case) {
        let Case {
            sensor,
            hot,
            normal,
            before,
            shutdown_line,
            reason,
            item,
            boot_line,
        } = c;
        let dir = tempfile::tempdir().unwrap();
        let bmc = Bmc::start(&dir.path().join("bmc"));
        let out = dir.path().join("syslog.log");
        let prog = program(dir.path());
        let mut a = start(&bmc, dir.path(), &out, &prog, 1);
        let mut seen = Vec::new();

        bmc.set(sensor, hot);
        let mut want: Vec<String> = before;
        want.push(shutdown_line.clone());
        let want: Vec<&str> = want.iter().map(String::as_str).collect();
        expect(&out, &mut seen, &want);
        // The whole line, not the file the moment it exists.
        let ran = wait_for(WAIT, || {
            std::fs::read_to_string(dir.path().join("ran"))
                .ok()
                .filter(|t| t.ends_with('\n'))
        });
        assert_eq!(
            ran.as_deref(),
            Some(format!("{reason} {item} {hot}\n").as_str())
        );
        // The message was delivered before the program ran.
        let at_run = message_lines(&dir.path().join("syslog-when-it-ran"));
        assert_eq!(at_run.last(), Some(&shutdown_line));
        // The record is in the state dir, not yet reported.
        let rec: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("state/last-shutdown.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            (
                rec["reason"].as_str(),
                rec["sensor"].as_str(),
                rec["reported"].as_bool()
            ),
            (Some(reason), Some(item), Some(false))
        );
        assert_eq!(rec["reading"].as_f64(), Some(f64::from(hot)));
        // Still hot for ten more sweeps: it never runs twice.
        a.wait_sweeps(10);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("ran"))
                .unwrap()
                .lines()
                .count(),
            1
        );
        assert_eq!(message_lines(&out), seen, "nothing more while still hot");
        assert_eq!(a.stop(), Some(0));

        // Next boot: the report, exactly once.
        bmc.set(sensor, normal);
        let mut b = start(&bmc, dir.path(), &out, &prog, 2);
        match &boot_line {
            Some(l) => expect(&out, &mut seen, &[l.as_str()]),
            // No message for the IO hub: the error goes to the log.
            None => assert!(
                b.stderr().contains(&format!(
                    "the previous shutdown was thermal: {item} {reason}"
                )),
                "{}",
                b.stderr()
            ),
        }
        b.wait_sweeps(10);
        assert_eq!(message_lines(&out), seen);
        assert_eq!(b.stop(), Some(0));
        let rec: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dir.path().join("state/last-shutdown.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            rec["reported"].as_bool(),
            Some(true),
            "kept as history, marked reported"
        );

        // A third start says nothing.
        let mut c = start(&bmc, dir.path(), &out, &prog, 3);
        c.wait_sweeps(10);
        assert_eq!(message_lines(&out), seen, "no report on the third start");
        assert_eq!(c.stop(), Some(0));
    }

    #[test]
    fn cpu_735022_then_735023_once() {
        case(Case {
            sensor: CPU0,
            hot: 101,
            normal: 40,
            before: vec![line(735007, &["0", "101", "C"])],
            shutdown_line: line(735022, &["0"]),
            reason: "cpu",
            item: "cpu0-temp",
            boot_line: Some(line(735023, &[])),
        });
    }

    #[test]
    fn cpu_regulator_735027_then_735028_once() {
        case(Case {
            sensor: 2,
            hot: 111,
            normal: 45,
            before: vec![],
            shutdown_line: line(735027, &["0"]),
            reason: "cpu_vr",
            item: "cpu0-vr-temp",
            boot_line: Some(line(735028, &[])),
        });
    }

    #[test]
    fn io_hub_735029_then_a_logged_report_once() {
        case(Case {
            sensor: 4,
            hot: 106,
            normal: 50,
            before: vec![line(735025, &["0", "106", "C"])],
            shutdown_line: line(735029, &[]),
            reason: "iohub",
            item: "iohub-temp",
            boot_line: None,
        });
    }
}

/// The IPMI link on a lossy network: 5% of the datagrams lost each way in front of the BMC.
/// A minute of 100 ms sweeps: no 735010, no reconnection, every transition reported, once.
#[test]
fn a_lossy_link_loses_no_session_and_no_transition() {
    use envmon_tests::LossyProxy;
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let proxy = LossyProxy::start(bmc.port, 0.05, 0x5eed);
    let out = dir.path().join("syslog.log");
    let uri = format!("rmcp://admin@127.0.0.1:{}", proxy.port);
    let mut a = Agent::start(
        &[
            "--ipmi",
            &uri,
            "--board",
            "sim-appliance",
            "--interval-ms",
            "100",
            "--state-dir",
            dir.path().join("state").to_str().unwrap(),
            "--syslog",
            &format!("file://{}", out.display()),
            "--sel",
            "off",
            // Six changes within a minute are the point here, not flapping.
            "--flap-damping",
            "off",
        ],
        &[
            ("ENVMON_IPMI_PASSWORD", BMC_PASSWORD),
            ("ENVMON_LOG", "info"),
        ],
        &dir.path().join("envmon.log"),
    );
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    let mut round = 0;
    while started.elapsed() < Duration::from_secs(60) {
        round += 1;
        bmc.set(FAN1, 10); // 500 RPM: failed
        expect(
            &out,
            &mut seen,
            &["%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected"],
        );
        bmc.set(FAN1, 100);
        expect(&out, &mut seen, &["%FTD-1-735001: IPMI: Cooling Fan 1: OK"]);
        a.wait_sweeps(20);
    }
    let log = a.stderr();
    assert_eq!(
        log.matches("connected to the BMC").count(),
        1,
        "no reconnection in {round} rounds: {log}"
    );
    assert!(!message_lines(&out).iter().any(|l| l.contains("735010")));
    let lost = proxy.dropped.load(std::sync::atomic::Ordering::Relaxed);
    assert!(lost > 50, "the link really lost datagrams: {lost}");
    eprintln!("{round} rounds of two transitions in 60 s; {lost} datagrams lost");
    assert_eq!(a.stop(), Some(0));
}

/// `envmon run` of the simulated appliance on the BMC at `uri` over RMCP+ (300 ms sweeps,
/// no SEL), with `extra` flags, everything under `dir`; its syslog file.
fn rmcp_agent(uri: &str, dir: &Path, extra: &[&str]) -> (Agent, std::path::PathBuf) {
    let out = dir.join("syslog.log");
    let (state, syslog) = (dir.join("state"), format!("file://{}", out.display()));
    let mut args = vec![
        "--ipmi",
        uri,
        "--board",
        "sim-appliance",
        "--interval-ms",
        "300",
        "--state-dir",
        state.to_str().unwrap(),
        "--syslog",
        syslog.as_str(),
        "--sel",
        "off",
    ];
    args.extend_from_slice(extra);
    let env = [
        ("ENVMON_IPMI_PASSWORD", BMC_PASSWORD),
        ("ENVMON_LOG", "info"),
    ];
    (Agent::start(&args, &env, &dir.join("envmon.log")), out)
}

/// Issue 31: a BMC that dies is seen at once. Over RMCP+ at a 300 ms interval: 735010
/// within two request deadlines of the death (a deadline: six transmissions under a timer of
/// 200 ms backing off to 800 ms, 3.8 s), and `show environment` then shows no reading as
/// current (every item unavailable, the BMC named as not answering, `degraded`); envmon's
/// own line says so once. When the BMC is back: "monitoring recovered" once, no catalog
/// line. Prints both times for docs/performance.md.
#[test]
fn a_dead_bmc_is_seen_at_once_and_its_return_said_once() {
    use envmon_agent::model::{Environment, Monitoring, Shown};
    let dir = tempfile::tempdir().unwrap();
    let mut bmc = Bmc::start(&dir.path().join("bmc"));
    let (a, out) = rmcp_agent(&bmc.uri(), dir.path(), &[]);
    a.wait_sweeps(5);
    let show = || -> Environment {
        let o = Command::new(envmon_bin())
            .args(["show", "environment", "--json", "--socket"])
            .arg(a.socket())
            .output()
            .unwrap();
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {o:?}"))
    };
    assert_eq!(show().monitoring, Monitoring::Running);
    let died = std::time::Instant::now();
    bmc.kill();
    let seen = wait_for(Duration::from_secs(30), || {
        message_lines(&out)
            .iter()
            .any(|l| l.contains("-735010:"))
            .then(|| died.elapsed())
    })
    .unwrap_or_else(|| panic!("no 735010: {}", a.stderr()));
    let env = show();
    eprintln!("BMC killed: 735010 after {:.1} s", seen.as_secs_f64());
    assert!(seen < Duration::from_millis(7600), "{seen:?}");
    assert_eq!(env.monitoring, Monitoring::Degraded);
    assert!(
        env.sensors
            .iter()
            .all(|x| x.value.is_none()
                && x.state == Shown::Is(envmon_core::engine::State::Unavailable)),
        "{:?}",
        env.sensors
    );
    assert_eq!(
        env.unwatched,
        ["the BMC is not answering: its readings are unavailable"]
    );
    let back = std::time::Instant::now();
    bmc.restart();
    let recovered = "%FTD-4-ENVMON: monitoring recovered: every watched part reads again";
    let again = wait_for(Duration::from_secs(60), || {
        envmon_tests::notice_lines(&out)
            .iter()
            .any(|l| l == recovered)
            .then(|| back.elapsed())
    })
    .unwrap_or_else(|| panic!("not recovered: {}", a.stderr()));
    eprintln!("BMC back: recovery said after {:.1} s", again.as_secs_f64());
    a.wait_sweeps(5);
    assert_eq!(
        envmon_tests::notice_lines(&out),
        [
            "%FTD-4-ENVMON: the BMC is not answering: its readings are unavailable",
            recovered
        ]
    );
    assert_eq!(
        message_lines(&out),
        [
            "%FTD-3-735010: IPMI: Environment Monitoring has failed to update one or more of its records."
        ]
    );
    assert_eq!(show().monitoring, Monitoring::Running);
}

/// Issue 31: a real rise past the shutdown threshold over a link that loses 35% of the
/// datagrams each way (seeded) powers off within 10 s of the crossing: the confirming reads
/// go as three copies at once, the first answer taken, and a lost one is asked again at once.
/// 735007 is said once on the way (critical and shutdown share it), never "Warm" past
/// critical. Prints the time for docs/performance.md.
#[test]
fn a_rise_over_a_lossy_link_powers_off_within_10_s_of_the_crossing() {
    use envmon_tests::LossyProxy;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let proxy = LossyProxy::start(bmc.port, 0.35, 0x0031);
    let ran = dir.path().join("ran");
    let program = dir.path().join("power-off");
    std::fs::write(
        &program,
        format!("#!/bin/sh\ndate +%s.%N > {}\n", ran.display()),
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let uri = format!("rmcp://admin@127.0.0.1:{}", proxy.port);
    let action = format!("exec:{}", program.display());
    let (a, out) = rmcp_agent(&uri, dir.path(), &["--shutdown-action", &action]);
    let connected = wait_for(Duration::from_secs(60), || {
        a.stderr().contains("connected to the BMC").then_some(())
    });
    assert!(connected.is_some(), "{}", a.stderr());
    a.wait_sweeps(5);
    // A first session attempt the link defeated said 735009; nothing else before the rise.
    let mut seen = message_lines(&out);
    assert!(seen.iter().all(|l| l.contains("-735009:")), "{seen:?}");
    bmc.set(CPU0, 95);
    expect(
        &out,
        &mut seen,
        &["%FTD-1-735007: IPMI: CPU 0: Temp: 95 C, Critical"],
    );
    let crossing = std::time::Instant::now();
    bmc.set(CPU0, 101);
    let off = wait_for(Duration::from_secs(60), || {
        ran.exists().then(|| crossing.elapsed())
    });
    let off = off.unwrap_or_else(|| panic!("no power-off: {}", a.stderr()));
    let lost = proxy.dropped.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!(
        "35% loss each way ({lost} datagrams lost): the power-off {:.1} s after the crossing",
        off.as_secs_f64()
    );
    assert!(off < Duration::from_secs(10), "{off:?}: {}", a.stderr());
    let lines = message_lines(&out);
    assert_eq!(
        lines.iter().filter(|l| l.contains("-735007:")).count(),
        1,
        "735007 once: {lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("-735015:")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("-735022:")), "{lines:?}");
}

/// envmon's RMCP+ session against ipmi_sim: an idle session is opened again before the next
/// request, quietly; a session the BMC forgot (it restarted) is opened again inside the call.
#[test]
fn rmcp_sessions_reopen_after_idling_and_after_a_bmc_restart() {
    use envmon_sensors::ipmi::{
        Transport,
        rmcpplus::{Patience, RmcpPlus},
    };
    let dir = tempfile::tempdir().unwrap();
    let mut bmc = Bmc::start(&dir.path().join("bmc"));
    let patience = Patience {
        idle_reopen: Duration::from_millis(600),
        ..Patience::default()
    };
    let mut s = RmcpPlus::connect("127.0.0.1", bmc.port, "admin", BMC_PASSWORD, patience).unwrap();
    let device_id = |s: &mut RmcpPlus| s.call(0x06, 0x01, &[]).map(|d| d.len());
    assert!(device_id(&mut s).unwrap() >= 11);
    assert_eq!(s.sessions(), 1);
    std::thread::sleep(Duration::from_millis(800));
    assert!(device_id(&mut s).is_ok(), "after idling");
    assert_eq!(s.sessions(), 2, "a new session, no error");
    bmc.restart();
    assert!(
        device_id(&mut s).is_ok(),
        "the BMC restarted: the call opened a new session"
    );
    assert_eq!(s.sessions(), 3);
    let wrong = RmcpPlus::connect("127.0.0.1", bmc.port, "admin", "wrong", Patience::default());
    assert!(wrong.is_err(), "a wrong password is refused");
}

/// Issue 20: the chassis ambient flipping 25 <-> 55 C every second for 30 s (the BMC logs a
/// threshold event at each crossing too). Flap damping bounds the lines: four changes, then
/// the worse state (critical) and one line saying the sensor is damped; the BMC's SEL lines
/// of that sensor at most four. Measured here: the lines of the 30 s, printed.
#[test]
fn a_flapping_ambient_gives_a_bounded_number_of_lines() {
    const AMBIENT: u8 = 3;
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let out = dir.path().join("syslog.log");
    let a = bmc.agent(dir.path(), &format!("file://{}", out.display()), &[]);
    a.wait_sweeps(5);
    let before = envmon_tests::sel_lines(&out).len();
    for i in 0..30 {
        bmc.set(AMBIENT, if i % 2 == 0 { 55 } else { 25 });
        std::thread::sleep(Duration::from_millis(500));
    }
    a.wait_sweeps(20);
    let lines = envmon_tests::syslog_lines_but_sel(&out);
    let sel: Vec<String> = envmon_tests::sel_lines(&out)
        .into_iter()
        .skip(before)
        .filter(|l| l.contains("Ambient Temp"))
        .collect();
    eprintln!(
        "30 s of 25 <-> 55 C: {} catalog/envmon lines, {} SEL lines of the sensor:\n{}\n{}",
        lines.len(),
        sel.len(),
        lines.join("\n"),
        sel.join("\n")
    );
    let catalog = lines.iter().filter(|l| l.contains("-735")).count();
    let damped = lines
        .iter()
        .filter(|l| l.contains("-ENVMON: sensor ambient") && l.contains("is flapping"))
        .count();
    assert!(catalog <= 5, "{lines:?}");
    assert_eq!(damped, 1, "{lines:?}");
    assert!(
        lines.last().is_some_and(|l| l.contains("is flapping")),
        "the damped line follows the worse state's: {lines:?}"
    );
    assert!(sel.len() <= 4, "{sel:?}");
    assert_eq!(lines.len(), catalog + damped, "nothing else: {lines:?}");
}

/// Issue 32: envmon watching another machine's BMC (`--host remote`). The host the BMC
/// manages is a stand-in process (ipmi_sim's `startcmd`: the chassis is on while it runs).
mod remote_host {
    use super::*;
    use envmon_tests::{NO_SYS_BOOT, poweroff_stand_in, script};

    /// The stand-in host: writes its PID, then sleeps (ipmi_sim ends it at power down).
    fn stand_in(dir: &Path) -> std::path::PathBuf {
        let p = dir.join("host.sh");
        script(
            &p,
            &format!(
                "echo $$ > '{}'\nexec sleep 600\n",
                dir.join("host.pid").display()
            ),
        );
        p
    }

    /// Whether the process runs: there and not a zombie (a child ipmi_sim has not reaped
    /// yet has ended).
    fn alive(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
            .ok()
            .and_then(|s| Some(s.rsplit_once(") ")?.1.starts_with('Z')))
            .is_some_and(|zombie| !zombie)
    }

    fn chassis_power(bmc: &Bmc) -> String {
        bmc.ipmitool(&["chassis", "power", "status"])
            .trim()
            .to_string()
    }

    /// `envmon run` through setpriv without CAP_SYS_BOOT and with a `poweroff` stand-in first
    /// on PATH: were the local action ever run, reboot(2) would fail and the stand-in would
    /// record it (this machine is never powered off, whatever the code does).
    fn agent_without_sys_boot(bmc: &Bmc, dir: &Path, extra: &[&str]) -> Agent {
        let path = poweroff_stand_in(dir);
        let syslog = format!("file://{}", dir.join("syslog.log").display());
        let state = dir.join("state");
        let uri = bmc.uri();
        let mut args = vec![
            "--ipmi",
            uri.as_str(),
            "--board",
            "sim-appliance",
            "--interval-ms",
            "150",
            "--state-dir",
            state.to_str().unwrap(),
            "--syslog",
            syslog.as_str(),
        ];
        args.extend_from_slice(extra);
        let env = [
            ("ENVMON_IPMI_PASSWORD", BMC_PASSWORD),
            ("ENVMON_LOG", "info"),
            ("PATH", path.as_str()),
        ];
        Agent::start_as(
            &NO_SYS_BOOT,
            &envmon_bin(),
            &args,
            &env,
            &dir.join("envmon.log"),
        )
    }

    /// A CPU past its shutdown threshold on the remote host: 735022, then the BMC powers its
    /// host down (ipmi_sim refuses the soft shutdown without a VM: power down at once), the
    /// stand-in ends, the chassis reads off, the outcome is said and recorded; this machine's
    /// power-off never runs.
    #[test]
    fn a_hot_remote_host_is_powered_off_through_its_bmc_and_never_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        let host = stand_in(dir.path());
        let bmc = Bmc::start_managing(&dir.path().join("bmc"), &host);
        let pid = wait_for(WAIT, || {
            std::fs::read_to_string(dir.path().join("host.pid")).ok()
        })
        .expect("the stand-in host did not start");
        assert!(alive(&pid));
        assert_eq!(chassis_power(&bmc), "Chassis Power is on");
        let a = agent_without_sys_boot(&bmc, dir.path(), &["--host", "remote"]);
        a.wait_sweeps(3);
        let env: serde_json::Value = envmon_agent::ask(&a.socket(), "show environment").unwrap();
        assert_eq!(env["protection"]["host"], "remote", "{env}");
        assert_eq!(env["protection"]["action"], "bmc", "{env}");
        bmc.set(CPU0, 105);
        let out = dir.path().join("syslog.log");
        let lines = || std::fs::read_to_string(&out).unwrap_or_default();
        wait_for(WAIT, || {
            lines()
                .contains("power down: the host's power is off")
                .then_some(())
        })
        .unwrap_or_else(|| panic!("{}\n{}", lines(), a.stderr()));
        assert!(lines().contains("%FTD-1-735022"), "{}", lines());
        assert_eq!(chassis_power(&bmc), "Chassis Power is off");
        let gone = wait_for(Duration::from_secs(10), || (!alive(&pid)).then_some(()));
        assert!(gone.is_some(), "the stand-in host still runs");
        let record = std::fs::read_to_string(dir.path().join("state/last-shutdown.json")).unwrap();
        assert!(record.contains("\"host\": \"remote\""), "{record}");
        assert!(
            record.contains("Chassis Control power down (00h) accepted"),
            "{record}"
        );
        assert!(
            !dir.path().join("local-poweroff-ran").exists(),
            "this machine's power-off ran: {}",
            a.stderr()
        );
        // envmon keeps running: this machine is fine.
        let env: serde_json::Value = envmon_agent::ask(&a.socket(), "show environment").unwrap();
        assert_eq!(env["last_shutdown"]["host"], "remote", "{env}");
        // The host comes back, cooled (powered on through its BMC: ipmi_sim starts the
        // stand-in again): that is its next boot, so its shutdown is reported then (735023,
        // once), and it is protected again: a second rise powers it off again.
        std::fs::remove_file(dir.path().join("host.pid")).unwrap();
        bmc.set(CPU0, 40);
        bmc.ipmitool(&["chassis", "power", "on"]);
        let back = wait_for(WAIT, || {
            std::fs::read_to_string(dir.path().join("host.pid")).ok()
        })
        .expect("the stand-in host did not start again");
        let count = |what: &str| lines().matches(what).count();
        wait_for(WAIT, || (count("735023") == 1).then_some(())).unwrap_or_else(|| {
            panic!(
                "no 735023 when the host came back:\n{}\n{}",
                lines(),
                a.stderr()
            )
        });
        // The record is marked reported once 735023 is delivered.
        let record = || std::fs::read_to_string(dir.path().join("state/last-shutdown.json"));
        let reported = wait_for(Duration::from_secs(10), || {
            record().ok().filter(|r| r.contains("\"reported\": true"))
        });
        assert!(reported.is_some(), "{:?}", record());
        bmc.set(CPU0, 105);
        wait_for(WAIT, || {
            (count("power down: the host's power is off") == 2).then_some(())
        })
        .unwrap_or_else(|| panic!("not protected again:\n{}\n{}", lines(), a.stderr()));
        assert_eq!(count("%FTD-1-735022"), 2, "{}", lines());
        assert_eq!(count("735023"), 1, "{}", lines());
        // envmon restarted while the host is off: nothing reported at its start; the host's
        // power on is its boot, reported then.
        let mut a = a;
        assert_eq!(a.stop(), Some(0));
        let a = agent_without_sys_boot(&bmc, dir.path(), &["--host", "remote"]);
        a.wait_sweeps(3);
        assert_eq!(count("735023"), 1, "not at envmon's start: {}", lines());
        bmc.set(CPU0, 40);
        bmc.ipmitool(&["chassis", "power", "on"]);
        wait_for(WAIT, || (count("735023") == 2).then_some(())).unwrap_or_else(|| {
            panic!("no 735023 at the host's boot:\n{}\n{}", lines(), a.stderr())
        });
        let gone = wait_for(Duration::from_secs(10), || (!alive(&back)).then_some(()));
        assert!(
            gone.is_some(),
            "the stand-in host still runs after the second action"
        );
        assert!(!dir.path().join("local-poweroff-ran").exists());
    }

    /// `poweroff` where the host is another machine, or not known to be this one, is refused
    /// at start with why (exit 2); where the BMC's GUID is this machine's SMBIOS UUID (a
    /// sysfs root that says so), `auto` finds the host local and poweroff stands.
    #[test]
    fn poweroff_for_a_host_not_known_to_be_this_one_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let run = |extra: &[&str]| {
            let state = dir.path().join("state");
            let ipmi = if extra.contains(&"--ipmi") {
                Vec::new()
            } else {
                vec!["--ipmi", "rmcp://admin@127.0.0.1:1"]
            };
            let o = Command::new(envmon_bin())
                .args(["run", "--board", "sim-appliance"])
                .args(ipmi)
                .args(["--state-dir", state.to_str().unwrap(), "--syslog", "stderr"])
                .args(["--socket", dir.path().join("s.sock").to_str().unwrap()])
                .args(extra)
                .env("ENVMON_IPMI_PASSWORD", BMC_PASSWORD)
                .output()
                .unwrap();
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        };
        let (code, err) = run(&["--host", "remote", "--shutdown-action", "poweroff"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("another machine") && err.contains("shutdown-action = bmc"),
            "{err}"
        );
        // auto, and this machine's UUID cannot be read (an empty sysfs root): no evidence
        // can ever come.
        let empty = dir.path().join("empty-sys");
        std::fs::create_dir_all(&empty).unwrap();
        let (code, err) = run(&[
            "--shutdown-action",
            "poweroff",
            "--sysfs-root",
            empty.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("not known to be this one"), "{err}");
        // bmc with no BMC at all.
        let (code, err) = run(&["--ipmi", "none", "--shutdown-action", "bmc"]);
        assert!(
            code == Some(2) && err.contains("no BMC to act through"),
            "{code:?} {err}"
        );
    }

    /// The BMC's GUID against this machine's UUID, after the session opens: a different one
    /// refuses `poweroff` (the agent ends, exit 2, saying both); the same one (in any of the
    /// three byte orders: the sim's is sent in RFC 4122 order, the UUID here is IPMI's
    /// reversed one) makes the host local.
    #[test]
    fn the_bmcs_guid_decides_whether_the_host_is_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = Bmc::start(&dir.path().join("bmc"));
        let sys = |uuid: &str| {
            let root = dir.path().join(uuid);
            let at = root.join("sys/class/dmi/id");
            std::fs::create_dir_all(&at).unwrap();
            std::fs::write(at.join("product_uuid"), format!("{uuid}\n")).unwrap();
            root
        };
        let other = sys("11111111-2222-3333-4444-555555555555");
        std::fs::create_dir_all(dir.path().join("a")).unwrap();
        std::fs::create_dir_all(dir.path().join("b")).unwrap();
        let mut a = agent_without_sys_boot(
            &bmc,
            &dir.path().join("a"),
            &[
                "--shutdown-action",
                "poweroff",
                "--sysfs-root",
                other.to_str().unwrap(),
            ],
        );
        let code = wait_for(WAIT, || a.exit_code()).unwrap_or_else(|| panic!("{}", a.stderr()));
        assert_eq!(code, 2, "{}", a.stderr());
        assert!(
            a.stderr().contains(
                "the BMC's system GUID a1234567-89ab-cdef-a123-456789abcdef is not this \
                 machine's SMBIOS UUID 11111111-2222-3333-4444-555555555555"
            ),
            "{}",
            a.stderr()
        );
        let same = sys("efcdab89-6745-23a1-efcd-ab89674523a1");
        let a = agent_without_sys_boot(
            &bmc,
            &dir.path().join("b"),
            &[
                "--shutdown-action",
                "poweroff",
                "--sysfs-root",
                same.to_str().unwrap(),
            ],
        );
        a.wait_sweeps(2);
        let env: serde_json::Value = envmon_agent::ask(&a.socket(), "show environment").unwrap();
        assert_eq!(env["protection"]["host"], "local", "{env}");
        assert_eq!(env["protection"]["action"], "poweroff", "{env}");
    }
}

/// A board file NAME.toml under `dir`: after `head` (defaults), one CPU 0 temperature
/// `cpu0-temp` read from `source` (its line is the 6th with no `head`), with `limits`.
fn cpu_board(dir: &Path, name: &str, head: &str, source: &str, limits: &str) -> std::path::PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            "name = \"{name}\"\n{head}[[item]]\nid = \"cpu0-temp\"\nclass = \"cpu_temp\"\n\
             label = \"0\"\nsource = \"{source}\"\n{limits}"
        ),
    )
    .unwrap();
    p
}

/// `envmon --ipmi BMC --board BOARD --state-dir DIR/state ARGS...` with the BMC's password,
/// the state dir made first.
fn one_shot(bmc: &Bmc, dir: &Path, board: &Path, args: &[&str]) -> std::process::Output {
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    Command::new(envmon_bin())
        .args(["--ipmi", &bmc.uri(), "--board", board.to_str().unwrap()])
        .args(["--state-dir", state.to_str().unwrap()])
        .args(args)
        .env("ENVMON_IPMI_PASSWORD", BMC_PASSWORD)
        .output()
        .unwrap()
}

/// Issue 35: a board naming a sensor the BMC does not have (a typo) makes `poll` fail at the
/// item's `source` line (exit 78) after printing what it read; before, it warned and exited 0.
#[test]
fn poll_fails_on_a_board_item_the_bmc_does_not_have() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let board = cpu_board(dir.path(), "typo", "", "ipmi:CPU0 Tmp", "warm = 75\n");
    let o = one_shot(&bmc, dir.path(), &board, &["poll"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(78), "{err}");
    assert!(
        err.contains("typo.toml:6:10: item cpu0-temp (ipmi:CPU0 Tmp)"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("unavailable"));
}

/// Issue 35: `board check --sdr` binds a board to SDRs offline: a dump `ipmitool sdr dump`
/// wrote of the simulated BMC finds the typo'd name at its `source` line (exit 78), passes
/// the right one, and envmon's own SDR cache serves as well as the dump.
#[test]
fn board_check_binds_a_board_to_an_sdr_dump_offline() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let dump = dir.path().join("sdr.bin");
    bmc.ipmitool(&["sdr", "dump", dump.to_str().unwrap()]);
    let board = |name: &str, source: &str| cpu_board(dir.path(), name, "", source, "warm = 75\n");
    let (typo, right) = (
        board("typo", "ipmi:CPU0 Tmp"),
        board("right", "ipmi:CPU0 Temp"),
    );
    let check = |sdr: &std::path::Path, b: &std::path::Path| {
        Command::new(envmon_bin())
            .args(["board", "check", b.to_str().unwrap(), "--sdr"])
            .arg(sdr)
            .output()
            .unwrap()
    };
    let o = check(&dump, &typo);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(78), "{err}");
    assert!(
        err.contains(
            "typo.toml:6:10: item cpu0-temp (ipmi:CPU0 Tmp): no sensor named \"CPU0 Tmp\""
        ),
        "{err}"
    );
    let o = check(&dump, &right);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("IPMI items bound to the SDRs given: 1"));
    // A `base = "auto"` file's own items are checked too; a Redfish item is not an SDR's.
    let auto_typo = dir.path().join("auto.toml");
    std::fs::write(
        &auto_typo,
        std::fs::read_to_string(&typo).unwrap().replacen(
            "name = \"typo\"\n",
            "name = \"auto-typo\"\nbase = \"auto\"\n",
            1,
        ),
    )
    .unwrap();
    assert_eq!(check(&dump, &auto_typo).status.code(), Some(78));
    let mixed = dir.path().join("mixed.toml");
    std::fs::write(
        &mixed,
        std::fs::read_to_string(&right).unwrap()
            + "[[item]]\nid = \"inlet\"\nclass = \"chassis_ambient\"\nlabel = \"1\"\n\
               source = \"redfish:/redfish/v1/Chassis/1/Sensors/Inlet\"\n",
    )
    .unwrap();
    let o = check(&dump, &mixed);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Without --sdr the typo passes, as before: offline, nothing names the BMC's sensors.
    let o = Command::new(envmon_bin())
        .args(["board", "check", typo.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success());
    // envmon's own cache, written by a poll into a state dir.
    let o = one_shot(&bmc, dir.path(), &right, &["poll"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = check(&dir.path().join("state/sdr-cache.v1"), &typo);
    assert_eq!(o.status.code(), Some(78));
    // A cut dump is refused, naming the file.
    let bytes = std::fs::read(&dump).unwrap();
    let cut = dir.path().join("cut.bin");
    std::fs::write(&cut, &bytes[..bytes.len() - 3]).unwrap();
    let o = check(&cut, &right);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cut.bin: SDR record 0x") && err.contains("cut short at byte"),
        "{err}"
    );
}

/// A client of the BMC's VM port that goes away before ipmi_sim greets it (a port probe, a
/// guest that powered off) does not kill the BMC: sim/run-bmc ignores SIGPIPE (issue 36:
/// the demo's own probe of that port killed the BMC on a busy machine).
#[test]
fn a_vm_client_that_hangs_up_at_once_leaves_the_bmc_running() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start_for_vm(&dir.path().join("bmc"));
    let vm = bmc.vm_port.unwrap();
    for _ in 0..5 {
        let s = std::net::TcpStream::connect(("127.0.0.1", vm)).unwrap();
        drop(s);
    }
    std::thread::sleep(Duration::from_millis(500));
    // Still there: the VM port takes a connection, and the BMC answers over RMCP+.
    std::net::TcpStream::connect(("127.0.0.1", vm)).expect("the VM port is gone");
    let out = bmc.ipmitool(&["mc", "info"]);
    assert!(out.contains("Device ID"), "{out}");
}

/// Issue 35: a board in degrees F (`unit = "F"`, thresholds in F) over a BMC whose SDR reads
/// in degrees C: the reading is converted, not relabelled. CPU 0 at 40 C is 104 F (ok under
/// a warm of 167 F = 75 C); at 92 C it is 197.6 F, critical (194 F = 90 C), as in C.
#[test]
fn a_board_in_fahrenheit_converts_the_readings() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let board = cpu_board(
        dir.path(),
        "f",
        "[defaults]\nunit = \"F\"\ndebounce = 1\n",
        "ipmi:CPU0 Temp",
        "warm = 167\ncritical = 194\nshutdown = 212\n",
    );
    let poll = || {
        let o = one_shot(&bmc, dir.path(), &board, &["poll", "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let cpu = v["sensors"][0].clone();
        (
            cpu["value"].as_f64(),
            cpu["state"].as_str().map(str::to_string),
            cpu["unit"].clone(),
        )
    };
    assert_eq!(poll(), (Some(104.0), Some("ok".into()), "F".into()));
    bmc.set(CPU0, 92);
    let (value, state, _) = poll();
    assert!(value.is_some_and(|v| (v - 197.6).abs() < 1e-6), "{value:?}");
    assert_eq!(state.as_deref(), Some("critical"));
}
