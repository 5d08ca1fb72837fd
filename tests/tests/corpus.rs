//! `--board auto` on real servers' sensor repositories (sim/corpus/*.sdr): the decision for
//! every record matches the table written by hand in sim/corpus/*.expected, no two monitored
//! items share a message subject, and a healthy server watched by `envmon run` against
//! ipmi_sim sends no syslog line at all, and over SNMP (snmpd) shows what `show environment`
//! shows.

use envmon_agent::model::{Environment, Monitoring, Shown};
use envmon_board_defs::{SdrSensor, explain};
use envmon_sensors::ipmi::{fake::FakeBmc, read_live_limits, repo, sdr::parse_record};
use envmon_tests::{Agent, repo_root};
use std::{collections::HashSet, fs, path::Path};

/// The corpus servers, by file stem.
const SERVERS: &[&str] = &[
    "dell-r630",
    "hpe-dl380p-gen8",
    "supermicro-x10dru",
    "cisco-ucs-c200-m2",
    "intel-s2600wtt",
    "quanta-d51",
    "ibm-x3650-m2",
    "gigabyte-fmadio-100g",
    "inspur-m5-gpu",
    "asrockrack-c2750d4i",
    "asrockrack-c3000",
    "dell-c6320",
    "dell-r740xd",
    "quanta-t41",
    "intel-s2600kp",
];

fn corpus(server: &str) -> FakeBmc {
    let path = repo_root().join(format!("sim/corpus/{server}.sdr"));
    let text = fs::read_to_string(&path).unwrap();
    FakeBmc::from_corpus(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The SDR sensors as envmon sees them over the wire: records read in chunks, parsed, live
/// thresholds asked for.
fn sensors(bmc: &FakeBmc) -> Vec<SdrSensor> {
    entries(bmc).iter().map(|e| e.to_sdr_sensor()).collect()
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

/// `envmon run --board BOARD` on `bmc` (100 ms sweeps), state in `state`, syslog into `out`,
/// stderr into `log`.
fn watch(bmc: &envmon_tests::EmuBmc, board: &str, state: &Path, out: &Path, log: &Path) -> Agent {
    watch_with(bmc, board, state, out, log, &[])
}

/// [`watch`] with `extra` flags.
fn watch_with(
    bmc: &envmon_tests::EmuBmc,
    board: &str,
    state: &Path,
    out: &Path,
    log: &Path,
    extra: &[&str],
) -> Agent {
    let (uri, syslog) = (bmc.uri(), format!("file://{}", out.display()));
    let mut args = vec![
        "--ipmi",
        uri.as_str(),
        "--board",
        board,
        "--interval-ms",
        "100",
        "--state-dir",
        state.to_str().unwrap(),
        "--syslog",
        syslog.as_str(),
    ];
    args.extend_from_slice(extra);
    Agent::start(
        &args,
        &[("ENVMON_IPMI_PASSWORD", envmon_tests::BMC_PASSWORD)],
        log,
    )
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
    let mut wrong = Vec::new();
    for s in SERVERS {
        let got = decisions(s);
        let want = expected(s);
        let diff: Vec<String> = got
            .iter()
            .zip(&want)
            .filter(|(g, w)| g != w)
            .map(|(g, w)| format!("  got  {g}\n  want {w}"))
            .collect();
        if !diff.is_empty() || got.len() != want.len() {
            wrong.push(format!(
                "{s}: {} records, {} expected\n{}",
                got.len(),
                want.len(),
                diff.join("\n")
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
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

/// What a healthy server's SDR leaves open (issue 20: absent only on evidence; issue 31:
/// what never read is not a failure): the items that never read with nothing saying their
/// part is absent, which `--board auto` takes for not fitted (shown so, named once in
/// envmon's own line, no 735010), and whether the board has no CPU temperature to watch
/// (degraded, said once in envmon's own line, no 735010).
const GAPS: &[(&str, &[&str], bool)] = &[
    // Fan headers the listing shows as "na"; Supermicro's SDR has no fan presence sensors
    // and does not mark them "ignore if absent".
    (
        "supermicro-x10dru",
        &["fan3", "fan4", "fan5", "fan6", "fan9"],
        false,
    ),
    // The DIMM regulators and SSD fans of the empty side do not read; nothing names their
    // CPU or says they are absent.
    (
        "quanta-d51",
        &["volt-vr-dimm-ef", "volt-vr-dimm-gh", "fan-ssd0", "fan-ssd1"],
        false,
    ),
    // No CPU temperature at all (only thermal margins): envmon cannot shut down for CPU heat.
    ("intel-s2600wtt", &[], true),
    // Thermal margins only, as its sibling above.
    ("intel-s2600kp", &[], true),
    // Only "CPU n OverTemp" state bits, no CPU temperature (IBM's IMM).
    ("ibm-x3650-m2", &[], true),
    // Empty fan headers, "N/A" in the listing; nothing in the SDR says so.
    (
        "asrockrack-c2750d4i",
        &["frnt-fan1", "frnt-fan2", "cpu-fan2"],
        false,
    ),
    ("asrockrack-c3000", &["rear-fan1"], false),
];

/// Each server, as ipmi_sim serves it, watched by `envmon run --board auto` for a dozen
/// sweeps: not one catalog line (a healthy server is silent); every item that never read is
/// absent on evidence or not fitted ([`GAPS`]), the not fitted ones named in one line of
/// envmon's own; `running`, except a board without a CPU temperature ([`GAPS`]): `degraded`,
/// with one line of envmon's own saying so.
#[test]
fn a_healthy_server_watched_by_envmon_run_is_silent() {
    for s in SERVERS {
        let dir = tempfile::tempdir().unwrap();
        let (_bmc, a, out) = watch_auto(dir.path(), &corpus(s));
        let env = show(&a);
        let (unfitted, no_cpu) = GAPS
            .iter()
            .find(|(name, _, _)| name == s)
            .map_or((&[][..], false), |(_, u, w)| (*u, *w));
        let shown = |state: Shown| -> Vec<&str> {
            env.sensors
                .iter()
                .filter(|x| x.state == state)
                .map(|x| &*x.id)
                .collect()
        };
        assert_eq!(shown(Shown::NotFitted), unfitted, "{s}: {:?}", env.sensors);
        assert!(
            shown(Shown::Is(envmon_core::engine::State::Unavailable)).is_empty(),
            "{s}: {:?}",
            env.sensors
        );
        assert_eq!(
            !env.unwatched.is_empty(),
            no_cpu,
            "{s}: {:?}",
            env.unwatched
        );
        let lines = envmon_tests::message_lines(&out);
        assert!(
            lines.is_empty(),
            "{s}: catalog lines on a healthy box: {lines:?}"
        );
        let mut said = Vec::new();
        if !unfitted.is_empty() {
            said.push(format!(
                "%FTD-4-ENVMON: not fitted (never read, the BMC answering that it has no \
                 reading; watched, and monitored if they read): {}; `envmon board dump` writes \
                 a board file that pins what this server has",
                unfitted.join(", ")
            ));
        }
        if no_cpu {
            said.push(
                "%FTD-4-ENVMON: the board has no CPU temperature sensor: envmon cannot shut \
                 down for CPU heat"
                    .into(),
            );
        }
        assert_eq!(
            envmon_tests::notice_lines(&out),
            said,
            "{s}: said once each"
        );
        let want = if no_cpu {
            Monitoring::Degraded
        } else {
            Monitoring::Running
        };
        assert_eq!(env.monitoring, want, "{s}\n{}", a.stderr());
        let (board, _) = explain(&sensors_of(s), None);
        let ids = |v: Vec<&str>| v.join(" ");
        assert_eq!(
            ids(env.sensors.iter().map(|x| &*x.id).collect()),
            ids(board.items.iter().map(|i| i.id.as_str()).collect()),
            "{s}"
        );
        assert!(
            env.sensors.iter().all(|x| matches!(
                x.state,
                Shown::Is(envmon_core::engine::State::Ok) | Shown::Absent | Shown::NotFitted
            )),
            "{s}: {:?}",
            env.sensors
        );
        // Every absent or not fitted item says on what evidence, or why.
        for x in env
            .sensors
            .iter()
            .filter(|x| matches!(x.state, Shown::Absent | Shown::NotFitted))
        {
            assert!(x.why.is_some(), "{s} {}: {:?} without a why", x.id, x.state);
        }
    }
}

/// The SDR entries of a corpus server as envmon reads them (live thresholds asked for).
fn entries(bmc: &FakeBmc) -> Vec<envmon_sensors::ipmi::sdr::SdrEntry> {
    let mut t = bmc.transport();
    let mut out = Vec::new();
    for raw in repo::read_all(&mut t).unwrap() {
        if let Ok(Some(mut e)) = parse_record(&raw) {
            read_live_limits(&mut t, &mut e).unwrap();
            out.push(e);
        }
    }
    out
}

/// The raw byte whose value `ok` accepts (the first from the bottom, or from the top when
/// `from_top`), by the record's conversion.
fn raw_for(
    e: &envmon_sensors::ipmi::sdr::SdrEntry,
    ok: impl Fn(f64) -> bool,
    from_top: bool,
) -> Option<u8> {
    let conv = e.conversion.as_ref()?;
    let fits = |r: &u8| conv.apply(*r).is_some_and(&ok);
    if from_top {
        (0..=254u8).rev().find(fits)
    } else {
        (0..=254u8).find(fits)
    }
}

/// Issue 31: on every corpus server (as ipmi_sim serves it, `--board auto`), the failures of
/// parts that are fitted and read: a fan that stops, a supply that fails, a CPU that runs
/// past critical, each reported once with its own catalog line (a supply's failure may lose
/// redundancy: 735006 once with it), and nothing else. Each kind is tried where the server
/// has one that can say it (a fan with a lower threshold, a supply with a status record, a
/// CPU temperature with a critical threshold).
#[test]
fn each_servers_fitted_parts_that_fail_are_reported_once() {
    use envmon_board_defs::Source;
    use envmon_core::engine::{Class, Limits};
    let wait = std::time::Duration::from_secs(30);
    let mut tried = (0, 0, 0);
    for s in SERVERS {
        let fake = corpus(s);
        let sdrs = entries(&fake);
        let (board, _) = explain(&sensors_of(s), None);
        let dir = tempfile::tempdir().unwrap();
        let (bmc, a, out) = watch_auto(dir.path(), &fake);
        let healthy = show(&a);
        let reads = |id: &str| {
            healthy
                .sensors
                .iter()
                .any(|x| &*x.id == id && x.state == Shown::Is(envmon_core::engine::State::Ok))
        };
        let entry = |i: &envmon_board_defs::Item| match i.source {
            Source::IpmiNumber(n) => sdrs
                .iter()
                .find(|e| e.number == n && e.owner_id == 0x20 && e.owner_lun == 0),
            _ => None,
        };
        let mut seen = Vec::new();
        // A fan that stops: below its lower threshold.
        let fan = board.items.iter().find_map(|i| match i.spec.limits {
            Limits::Fan { min_rpm: Some(m) } if i.spec.class == Class::Fan && reads(&i.id) => {
                Some((
                    i,
                    entry(i)?,
                    raw_for(entry(i)?, |v| v >= 0.0 && v < m - 1.0, true)?,
                ))
            }
            _ => None,
        });
        if let Some((i, e, raw)) = fan {
            bmc.set(e.number, u32::from(raw));
            let line = format!(
                "%FTD-1-735002: IPMI: Cooling Fan {}: Failure Detected",
                i.spec.label
            );
            envmon_tests::expect_lines(&out, &mut seen, &[line.as_str()], wait);
            tried.0 += 1;
        }
        // A supply that fails: its status says present and failed.
        let psu = board.items.iter().find_map(|i| {
            let e = entry(i)?;
            (i.spec.class == Class::Psu && e.reading_type == 0x6f && reads(&i.id)).then_some((i, e))
        });
        if let Some((i, e)) = psu {
            bmc.set(e.number, 0b11);
            let line = format!(
                "%FTD-1-735004: IPMI: Power Supply {}: Failure Detected",
                i.spec.label
            );
            let got = wait_for_lines(&out, seen.len() + 1, wait);
            let lost = "%FTD-1-735006: IPMI: Power Supply Unit Redundancy Lost";
            a.wait_sweeps(5);
            let mut want = seen.clone();
            want.push(line);
            let now = envmon_tests::message_lines(&out);
            if now.len() > want.len() {
                want.push(lost.into());
            }
            assert_eq!(now, want, "{s}: {got:?}");
            seen = now;
            tried.1 += 1;
        }
        // A CPU past critical (below its shutdown threshold, within its sensor's range).
        let cpu = board.items.iter().find_map(|i| match i.spec.limits {
            Limits::Temperature {
                critical: Some(c),
                shutdown,
                ..
            } if i.spec.class == Class::CpuTemp && reads(&i.id) => {
                let e = entry(i)?;
                let top = e.range.map_or(f64::MAX, |r| r.1);
                let below = shutdown.unwrap_or(f64::MAX).min(top);
                Some((i, e, raw_for(e, |v| v >= c + 1.0 && v < below, false)?))
            }
            _ => None,
        });
        if let Some((i, e, raw)) = cpu {
            bmc.set(e.number, u32::from(raw));
            let got = wait_for_lines(&out, seen.len() + 1, wait);
            let line = got.last().cloned().unwrap_or_default();
            assert!(
                line.starts_with(&format!(
                    "%FTD-1-735007: IPMI: CPU {}: Temp: ",
                    i.spec.label
                )) && line.ends_with(" C, Critical"),
                "{s}: {got:?}"
            );
            seen.push(line);
            tried.2 += 1;
        }
        a.wait_sweeps(10);
        assert_eq!(
            envmon_tests::message_lines(&out),
            seen,
            "{s}: each once, nothing more"
        );
    }
    // Each kind said on several servers of the corpus.
    eprintln!(
        "fans, supplies, CPUs failed on: {tried:?} of {} servers",
        SERVERS.len()
    );
    assert!(tried.0 >= 5 && tried.1 >= 5 && tried.2 >= 5, "{tried:?}");
}

/// The catalog lines of `out` once there are at least `n` (all of them then).
fn wait_for_lines(out: &Path, n: usize, wait: std::time::Duration) -> Vec<String> {
    envmon_tests::wait_for(wait, || {
        let l = envmon_tests::message_lines(out);
        (l.len() >= n).then_some(l)
    })
    .unwrap_or_else(|| envmon_tests::message_lines(out))
}

/// `fake` served by ipmi_sim and watched by `envmon run --board auto` for a dozen sweeps,
/// everything under `dir`: the BMC (kept running), the agent, its syslog file.
fn watch_auto(dir: &Path, fake: &FakeBmc) -> (envmon_tests::EmuBmc, Agent, std::path::PathBuf) {
    let bmc = envmon_tests::EmuBmc::start(&dir.join("bmc"), fake);
    let out = dir.join("syslog.log");
    let a = watch(
        &bmc,
        "auto",
        &dir.join("state"),
        &out,
        &dir.join("envmon.log"),
    );
    a.wait_sweeps(12);
    (bmc, a, out)
}

/// `show environment --json` of a running agent, typed.
fn show(a: &Agent) -> Environment {
    let o = std::process::Command::new(envmon_tests::envmon_bin())
        .args(["show", "environment", "--json", "--socket"])
        .arg(a.socket())
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {o:?}"))
}

fn sensors_of(server: &str) -> Vec<SdrSensor> {
    sensors(&corpus(server))
}

/// A BMC that has its own redundancy sensor (Quanta D51's "PSU Redundancy", generic 0Bh
/// states) is one witness of redundancy, the count of healthy supplies the other: the
/// sensor saying "lost" is 735006 alone (never a supply failure); one of the two supplies
/// failing while the sensor still says "fully redundant" is 735004 and 735006; OK again only
/// when both agree.
#[test]
fn redundancy_is_lost_when_the_bmc_sensor_or_the_supplies_say_so() {
    use envmon_tests::{EmuBmc, expect_lines};
    const REDUNDANCY: u8 = 0xe4;
    const PSU1: u8 = 0xe0;
    let dir = tempfile::tempdir().unwrap();
    let bmc = EmuBmc::start(&dir.path().join("bmc"), &corpus("quanta-d51"));
    let out = dir.path().join("syslog.log");
    let a = watch(
        &bmc,
        "auto",
        &dir.path().join("state"),
        &out,
        &dir.path().join("envmon.log"),
    );
    a.wait_sweeps(3);
    // Quanta's healthy auto board is silent (its unread parts are not fitted: GAPS).
    let wait = std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    assert!(envmon_tests::message_lines(&out).is_empty());
    bmc.set(REDUNDANCY, 1 << 1); // redundancy lost
    expect_lines(
        &out,
        &mut seen,
        &["%FTD-1-735006: IPMI: Power Supply Unit Redundancy Lost"],
        wait,
    );
    bmc.set(REDUNDANCY, 1 << 0); // fully redundant
    expect_lines(
        &out,
        &mut seen,
        &["%FTD-1-735005: IPMI: Power Supply Unit Redundancy OK"],
        wait,
    );
    // One supply fails; the BMC's sensor has not caught up (still "fully redundant").
    bmc.set(PSU1, 0b11); // present, failure detected
    expect_lines(
        &out,
        &mut seen,
        &[
            "%FTD-1-735004: IPMI: Power Supply 1: Failure Detected",
            "%FTD-1-735006: IPMI: Power Supply Unit Redundancy Lost",
        ],
        wait,
    );
    bmc.set(PSU1, 0b01); // present, healthy
    expect_lines(
        &out,
        &mut seen,
        &[
            "%FTD-1-735003: IPMI: Power Supply 1: OK",
            "%FTD-1-735005: IPMI: Power Supply Unit Redundancy OK",
        ],
        wait,
    );
    a.wait_sweeps(10);
    assert_eq!(envmon_tests::message_lines(&out), seen, "nothing more");
}

/// `board explain` and `board dump` on a real server's reproduction (Dell R630): explain
/// lists every sensor record with its decision; the dump passes `board check` and, given to
/// `--board FILE`, monitors exactly what `--board auto` does.
#[test]
fn explain_and_dump_on_a_real_server_and_the_dump_runs_unchanged() {
    use envmon_tests::{BMC_PASSWORD, EmuBmc, envmon_bin};
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let fake = corpus("dell-r630");
    let bmc = EmuBmc::start(&dir.path().join("bmc"), &fake);
    let state = dir.path().join("state");
    let envmon = |args: &[&str]| {
        let o = Command::new(envmon_bin())
            .args(["--ipmi", &bmc.uri(), "--state-dir", state.to_str().unwrap()])
            .args(args)
            .env("ENVMON_IPMI_PASSWORD", BMC_PASSWORD)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let (board, explained) = explain(&sensors(&fake), None);
    let table = envmon(&["board", "explain"]);
    assert!(
        table.contains(&format!(
            "{} records: {} monitored, {} left out",
            explained.len(),
            board.items.len(),
            explained.len() - board.items.len()
        )),
        "{table}"
    );
    assert!(
        table.contains("fan 1A") && table.contains("a chassis fan"),
        "{table}"
    );
    assert!(table.contains("psu_redundancy"), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&envmon(&["board", "explain", "--json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), explained.len());

    let dumped = dir.path().join("r630.toml");
    fs::write(&dumped, envmon(&["board", "dump"])).unwrap();
    // One-shot commands create nothing (issue 21): the state dir was not there and is not.
    assert!(
        !state.exists(),
        "board explain/dump made {}",
        state.display()
    );
    let check = Command::new(envmon_bin())
        .args(["board", "check"])
        .arg(&dumped)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    // The same box watched with the dump and with auto: the same items and states.
    let watch = |board: &str, name: &str| {
        let out = dir.path().join(format!("{name}.log"));
        let a = watch(
            &bmc,
            board,
            &state,
            &out,
            &dir.path().join(format!("{name}.stderr")),
        );
        a.wait_sweeps(5);
        let o = Command::new(envmon_bin())
            .args(["show", "environment", "--json", "--socket"])
            .arg(a.socket())
            .output()
            .unwrap();
        let env: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(fs::read_to_string(&out).unwrap_or_default(), "", "{name}");
        env["sensors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| format!("{} {} {} {}", s["id"], s["class"], s["label"], s["state"]))
            .collect::<Vec<_>>()
    };
    let from_auto = watch("auto", "auto");
    let from_dump = watch(dumped.to_str().unwrap(), "dump");
    assert_eq!(from_auto, from_dump);
    assert_eq!(from_auto.len(), board.items.len());
}

/// SNMP on real servers' repositories (`--board auto`, through Debian's snmpd): every walk
/// comes back in increasing OID order, one sensor entity per item `show environment` shows,
/// each with its id as alias, a description within CISCO-ENVMON-MIB's 32 characters, the
/// value `show environment` shows (to the served precision), and `absent` items as
/// unavailable(2) / notPresent(5).
#[test]
fn every_server_is_served_over_snmp_as_show_environment_shows_it() {
    use envmon_tests::{
        EmuBmc,
        snmp::{Snmpd, Snmptrapd},
        wait_for,
    };
    let dir = tempfile::tempdir().unwrap();
    let trapd = Snmptrapd::start(&dir.path().join("trapd"));
    let snmpd = Snmpd::start(&dir.path().join("snmpd"), trapd.port, false);
    let oid = |l: &str| -> Vec<u32> {
        l.split(" = ")
            .next()
            .unwrap_or("")
            .trim_start_matches('.')
            .split('.')
            .filter_map(|x| x.parse().ok())
            .collect()
    };
    let value = |walk: &[String], o: &str| -> Option<String> {
        walk.iter()
            .find(|l| l.starts_with(&format!(".{o} = ")))
            .and_then(|l| {
                l.split_once(": ")
                    .map(|(_, v)| v.trim_matches('"').to_string())
            })
    };
    for s in SERVERS {
        let d = dir.path().join(s);
        let bmc = EmuBmc::start(&d.join("bmc"), &corpus(s));
        let master = snmpd.master();
        let mut a = watch_with(
            &bmc,
            "auto",
            &d.join("state"),
            &d.join("syslog.log"),
            &d.join("envmon.log"),
            &["--agentx", &master],
        );
        a.wait_sweeps(5);
        let env: Environment = envmon_agent::ask(&a.socket(), "show environment").unwrap();
        let sensors = env.sensors;
        // The items, then the BMC's power sensors (watts, amperes), one entity each.
        let n = sensors.len() + env.power.len();
        let values = wait_for(std::time::Duration::from_secs(30), || {
            let w = snmpd.walk("1.3.6.1.2.1.99.1.1.1.4");
            (w.len() == n).then_some(w)
        })
        .unwrap_or_else(|| panic!("{s}: {n} sensors not served: {}", a.stderr()));
        let mut walk = values;
        for t in [
            "1.3.6.1.2.1.47.1.1.1",
            "1.3.6.1.2.1.99.1.1",
            "1.3.6.1.4.1.9.9.745.1",
            "1.3.6.1.4.1.9.9.13.1",
        ] {
            let w = snmpd.walk(t);
            assert!(
                w.windows(2).all(|p| oid(&p[0]) < oid(&p[1])),
                "{s}: {t} not in increasing OID order"
            );
            walk.extend(w);
        }
        for (k, x) in sensors.iter().enumerate() {
            let idx = k + 2;
            let id = &*x.id;
            let at = |o: String| value(&walk, &o);
            assert_eq!(
                at(format!("1.3.6.1.2.1.47.1.1.1.1.14.{idx}")).as_deref(),
                Some(id)
            );
            let descr = at(format!("1.3.6.1.2.1.47.1.1.1.1.2.{idx}")).unwrap();
            assert!(
                !descr.is_empty() && descr.len() <= 32,
                "{s} {id}: {descr:?}"
            );
            let prec: i32 = at(format!("1.3.6.1.2.1.99.1.1.1.3.{idx}"))
                .unwrap()
                .parse()
                .unwrap();
            let served: f64 = at(format!("1.3.6.1.2.1.99.1.1.1.4.{idx}"))
                .unwrap()
                .parse()
                .unwrap();
            let oper = at(format!("1.3.6.1.2.1.99.1.1.1.5.{idx}")).unwrap();
            match (x.state, x.value) {
                (Shown::Absent | Shown::NotFitted, _) => assert_eq!(oper, "2", "{s} {id}"),
                (Shown::Is(envmon_core::engine::State::Unavailable), _) => {
                    assert_eq!(oper, "3", "{s} {id}: nonoperational")
                }
                (_, Some(v)) => {
                    let step = 10f64.powi(-prec);
                    assert!(
                        (served * step - v).abs() <= step / 2.0 + 1e-9,
                        "{s} {id}: served {served} (precision {prec}), shown {v}"
                    );
                    assert_eq!(oper, "1", "{s} {id}");
                }
                (_, None) => assert_eq!(oper, "1", "{s} {id}: a discrete sensor"),
            }
            if matches!(x.state, Shown::Absent | Shown::NotFitted) {
                for table in 2..=5 {
                    let col = if table == 2 {
                        7
                    } else if table == 3 {
                        6
                    } else {
                        3
                    };
                    if let Some(st) = at(format!("1.3.6.1.4.1.9.9.13.1.{table}.1.{col}.{idx}")) {
                        assert_eq!(st, "5", "{s} {id}: notPresent");
                    }
                }
            }
        }
        for (k, p) in env.power.iter().enumerate() {
            let idx = sensors.len() + k + 2;
            let at = |o: String| value(&walk, &o);
            let kind = at(format!("1.3.6.1.2.1.99.1.1.1.1.{idx}"));
            let want = match p.unit.as_str() {
                "W" => "6",
                "A" => "5",
                _ => "1",
            };
            assert_eq!(
                kind.as_deref(),
                Some(want),
                "{s} {}: entPhySensorType",
                p.name
            );
            if let Some(v) = p.value {
                let served: f64 = at(format!("1.3.6.1.2.1.99.1.1.1.4.{idx}"))
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(
                    (served / 10.0 - v).abs() <= 0.05 + 1e-9,
                    "{s} {}: {served} vs {v}",
                    p.name
                );
            }
        }
        let absent = sensors.iter().filter(|x| x.state == Shown::Absent).count();
        eprintln!(
            "{s}: {n} sensors ({absent} absent), {} rows served",
            walk.len()
        );
        assert_eq!(a.stop(), Some(0));
    }
}

/// `corpus(server)` with every temperature sensor silent (not scanning).
fn without_temperatures(server: &str) -> FakeBmc {
    let bmc = corpus(server);
    {
        let mut st = bmc.state();
        let temps: Vec<u8> = st
            .records
            .iter()
            .filter(|r| matches!(r.get(3), Some(0x01 | 0x02)) && r.get(12) == Some(&0x01))
            .filter_map(|r| r.get(7).copied())
            .collect();
        st.readings.retain(|(n, _)| !temps.contains(n));
        st.not_scanning.extend(temps);
    }
    bmc
}

const LINE_735010: &str =
    "%FTD-3-735010: IPMI: Environment Monitoring has failed to update one or more of its records.";

/// Issue 20: every temperature of a server unreadable is never "running": each corpus
/// server is degraded, says that no CPU temperature is readable, and sends 735010 once.
#[test]
fn every_temperature_unreadable_leaves_no_server_running() {
    for s in SERVERS {
        let dir = tempfile::tempdir().unwrap();
        let (_bmc, a, out) = watch_auto(dir.path(), &without_temperatures(s));
        let env = show(&a);
        assert_eq!(
            env.monitoring,
            Monitoring::Degraded,
            "{s}: {:?}",
            env.sensors
        );
        assert!(
            env.unwatched.iter().any(|u| u.contains("CPU temperature")),
            "{s}: {:?}",
            env.unwatched
        );
        assert_eq!(
            envmon_tests::message_lines(&out),
            [LINE_735010],
            "{s}: once"
        );
    }
}

/// Issue 20: a CPU temperature that never reads, on a CPU its presence sensor says is
/// there (Dell R630's "Presence" 25h of entity 3.1), is unavailable, never absent: 735010
/// once and degraded. The same through a board file that names the sensor.
#[test]
fn a_cpu_sensor_that_never_reads_is_unavailable_and_said_once() {
    use envmon_tests::EmuBmc;
    const CPU1: u8 = 0x0e;
    let fake = corpus("dell-r630");
    {
        let mut st = fake.state();
        st.readings.retain(|(n, _)| *n != CPU1);
        st.not_scanning.push(CPU1);
    }
    let dir = tempfile::tempdir().unwrap();
    let board = dir.path().join("board.toml");
    fs::write(
        &board,
        "name = \"r630-cpus\"\n\
         [[item]]\nid = \"cpu1\"\nclass = \"cpu_temp\"\nlabel = \"1\"\nsource = \"ipmi:#0x0e\"\ncritical = 83\nshutdown = 100\n\
         [[item]]\nid = \"cpu2\"\nclass = \"cpu_temp\"\nlabel = \"2\"\nsource = \"ipmi:#0x0f\"\ncritical = 83\nshutdown = 100\n",
    )
    .unwrap();
    let bmc = EmuBmc::start(&dir.path().join("bmc"), &fake);
    for (which, board) in [("auto", "auto"), ("file", board.to_str().unwrap())] {
        let run = dir.path().join(which);
        fs::create_dir_all(&run).unwrap();
        let out = run.join("syslog.log");
        let a = watch(
            &bmc,
            board,
            &run.join("state"),
            &out,
            &run.join("envmon.log"),
        );
        a.wait_sweeps(12);
        let env = show(&a);
        let cpu = env
            .sensors
            .iter()
            .find(|x| x.source.number == Some(CPU1))
            .unwrap();
        assert_eq!(
            cpu.state,
            Shown::Is(envmon_core::engine::State::Unavailable),
            "{which}: {cpu:?}"
        );
        assert!(cpu.why.is_some(), "{which}: says why");
        assert_eq!(env.monitoring, Monitoring::Degraded, "{which}");
        assert_eq!(
            envmon_tests::message_lines(&out),
            [LINE_735010],
            "{which}: once"
        );
    }
}

/// Issue 20: a CPU sensor stuck at raw 0xFF (Dell's "Temp": 127 C, the top of its range and
/// its own upper non-recoverable threshold) for 10 s is a sensor fault: no 735007, no
/// 735022, no power-off; one 735010; `show environment` says why.
#[test]
fn a_stuck_0xff_is_one_fault_report_and_never_a_power_off() {
    use envmon_tests::EmuBmc;
    const CPU1: u8 = 0x0e;
    let dir = tempfile::tempdir().unwrap();
    let bmc = EmuBmc::start(&dir.path().join("bmc"), &corpus("dell-r630"));
    let out = dir.path().join("syslog.log");
    let marker = dir.path().join("powered-off");
    let script = dir.path().join("poweroff.sh");
    fs::write(
        &script,
        format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let a = watch_with(
        &bmc,
        "auto",
        &dir.path().join("state"),
        &out,
        &dir.path().join("envmon.log"),
        &["--shutdown-action", &format!("exec:{}", script.display())],
    );
    a.wait_sweeps(3);
    bmc.set(CPU1, 0xff);
    // Stuck for 10 s (100 sweeps), as in the issue.
    std::thread::sleep(std::time::Duration::from_secs(10));
    a.wait_sweeps(3);
    let env = show(&a);
    let cpu = env
        .sensors
        .iter()
        .find(|x| x.source.number == Some(CPU1))
        .unwrap();
    assert_eq!(
        cpu.state,
        Shown::Is(envmon_core::engine::State::Unavailable)
    );
    assert!(
        cpu.why.as_deref().unwrap_or("").contains("saturated"),
        "{cpu:?}"
    );
    assert!(!marker.exists(), "powered off by a stuck sensor");
    assert_eq!(
        envmon_tests::message_lines(&out),
        [LINE_735010],
        "one fault report"
    );
}

/// Issue 35: `board check --sdr` on each real server, offline: the server's records as a
/// dump (`ipmitool sdr dump` writes whole records one after another), and the auto board of
/// them as a board file. Every IPMI item binds (a dumped board passes its own server's
/// dump); one item's source misspelt is refused at its line (exit 78).
#[test]
fn board_check_binds_each_servers_auto_board_to_its_dump() {
    use envmon_tests::envmon_bin;
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    for server in SERVERS {
        let fake = corpus(server);
        let dump = dir.path().join(format!("{server}.bin"));
        fs::write(&dump, fake.state().records.concat()).unwrap();
        let (board, _) = envmon_board_defs::auto_board(&sensors(&fake), None);
        let text = envmon_board_defs::to_toml(&board, "", |_| None);
        let check = |name: &str, text: &str| {
            let file = dir.path().join(name);
            fs::write(&file, text).unwrap();
            Command::new(envmon_bin())
                .args(["board", "check"])
                .arg(&file)
                .arg("--sdr")
                .arg(&dump)
                .output()
                .unwrap()
        };
        let o = check(&format!("{server}.toml"), &text);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{server}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            out.contains(&format!(
                "IPMI items bound to the SDRs given: {}",
                board.items.len()
            )),
            "{server}: {out}"
        );
        let first = board
            .items
            .first()
            .map(|i| i.source.to_string())
            .unwrap_or_default();
        let typo = text.replacen(
            &format!("source = \"{first}\""),
            "source = \"ipmi:No Such Sensor\"",
            1,
        );
        assert_ne!(typo, text, "{server}: {first} is in the file");
        let o = check(&format!("{server}-typo.toml"), &typo);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(78), "{server}: {err}");
        assert!(
            err.contains("no sensor named \"No Such Sensor\""),
            "{server}: {err}"
        );
    }
}
