//! envmon's AgentX subagent in a real snmpd (Debian's net-snmp 5.9, on loopback), the
//! simulated appliance's BMC behind it, snmptrapd receiving the notifications. Numeric OIDs
//! only (Debian ships no ENTITY or Cisco MIB files).

use envmon_tests::{
    Bmc, message_lines, repo_root,
    snmp::{Snmpd, Snmptrapd},
    wait_for,
};
use serde_json::Value;
use std::{
    fs,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

const WAIT: Duration = Duration::from_secs(30);
const CPU0: u8 = 1;

const ENT_PHYSICAL: &str = "1.3.6.1.2.1.47.1.1.1";
const ENT_SENSOR: &str = "1.3.6.1.2.1.99.1.1";
const SENSOR_VALUE: &str = "1.3.6.1.2.1.99.1.1.1.4";
/// Sensors served: the simulated appliance's 14 items and its BMC's power sensor.
const SERVED: usize = 15;
const CE_EXT: &str = "1.3.6.1.4.1.9.9.745.1";
const ENVMON: &str = "1.3.6.1.4.1.9.9.13.1";
const CE_THRESHOLD_TRAP: &str = "1.3.6.1.4.1.9.9.745.0.1";
const ENVMON_TEMP_TRAP: &str = "1.3.6.1.4.1.9.9.13.3.0.7";

/// `OID = TYPE: value` lines into (OID without the leading dot, value text).
fn pairs(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter_map(|l| {
            let (o, v) = l.split_once(" = ")?;
            let v = v.split_once(": ").map_or(v, |(_, x)| x);
            Some((
                o.trim_start_matches('.').to_string(),
                v.trim_matches('"').to_string(),
            ))
        })
        .collect()
}

fn value_at(walk: &[(String, String)], oid: &str) -> Option<String> {
    walk.iter().find(|(o, _)| o == oid).map(|(_, v)| v.clone())
}

/// The walk of every subtree envmon serves, without the value timestamps (they move).
fn served(snmpd: &Snmpd, bulk: bool) -> Vec<String> {
    let mut all = Vec::new();
    for t in [ENT_PHYSICAL, ENT_SENSOR, CE_EXT, ENVMON] {
        let lines = if bulk {
            snmpd.bulkwalk(t)
        } else {
            snmpd.walk(t)
        };
        all.extend(
            lines
                .into_iter()
                .filter(|l| !l.starts_with(".1.3.6.1.2.1.99.1.1.1.7.")),
        );
    }
    all
}

/// Compares with `tests/tests/golden/NAME`, or writes it with ENVMON_BLESS=1.
fn golden(name: &str, got: &str) {
    let path = repo_root().join("tests/tests/golden").join(name);
    if std::env::var("ENVMON_BLESS").as_deref() == Ok("1") {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, got).unwrap();
    }
    let want = fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(got, want, "{} (ENVMON_BLESS=1 rewrites it)", path.display());
}

#[test]
fn snmpd_serves_the_sensors_walks_bulkwalks_traps_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let trapd = Snmptrapd::start(&dir.path().join("trapd"));
    let mut snmpd = Snmpd::start(&dir.path().join("snmpd"), trapd.port, false);
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let out = dir.path().join("syslog.log");
    let master = snmpd.master();
    let a = bmc.agent(
        dir.path(),
        &format!("file://{}", out.display()),
        &[
            "--agentx",
            &master,
            "--agentx-notifications",
            "threshold,envmon",
            "--sel",
            "off",
        ],
    );
    let registered = wait_for(WAIT, || {
        (snmpd.walk(SENSOR_VALUE).len() == SERVED).then_some(())
    });
    assert!(registered.is_some(), "{}\n{}", a.stderr(), snmpd.log());

    // Every table holds the simulated BMC's sensors with the values `show environment`
    // shows: entPhySensorValue / 10^precision, found through the entity's alias (the id).
    a.wait_sweeps(2);
    let env: Value = envmon_agent::ask(&a.socket(), "show environment").unwrap();
    let walk = pairs(&served(&snmpd, false));
    let sensors = env["sensors"].as_array().unwrap();
    for (k, s) in sensors.iter().enumerate() {
        let idx = k + 2;
        let alias = value_at(&walk, &format!("{ENT_PHYSICAL}.1.14.{idx}"));
        assert_eq!(alias.as_deref(), s["id"].as_str(), "entity {idx}");
        let precision: i32 = value_at(&walk, &format!("{ENT_SENSOR}.1.3.{idx}"))
            .and_then(|v| v.parse().ok())
            .unwrap();
        let served: f64 = value_at(&walk, &format!("{SENSOR_VALUE}.{idx}"))
            .and_then(|v| v.parse().ok())
            .unwrap();
        match s["value"].as_f64() {
            Some(v) => assert_eq!(served / 10f64.powi(precision), v, "{}", s["id"]),
            None => assert_eq!(served, 1.0, "{}: a discrete sensor, true", s["id"]),
        }
    }
    // The whole view, golden (the values at the simulator's start).
    golden("snmpwalk.txt", &(served(&snmpd, false).join("\n") + "\n"));
    // snmpbulkwalk sees the same.
    assert_eq!(served(&snmpd, true), served(&snmpd, false));

    // A value changed in ipmi_sim shows in a later walk.
    bmc.set(CPU0, 80);
    let warm = wait_for(WAIT, || {
        let w = pairs(&snmpd.walk(ENVMON));
        (value_at(&w, &format!("{ENVMON}.3.1.6.2")).as_deref() == Some("2")).then_some(w)
    })
    .expect("CPU 0 warm in CISCO-ENVMON-MIB");
    assert_eq!(
        value_at(&warm, &format!("{ENVMON}.3.1.3.2")).as_deref(),
        Some("80")
    );
    assert_eq!(
        value_at(
            &pairs(&snmpd.walk(SENSOR_VALUE)),
            &format!("{SENSOR_VALUE}.2")
        )
        .as_deref(),
        Some("800")
    );

    // The CPU goes critical: the threshold notification, with its varbinds, exactly once
    // per transition (warm, then critical), and the ENVMON one as often.
    bmc.set(CPU0, 95);
    let critical = "\
.1.3.6.1.2.1.47.1.1.1.1.7.2 = STRING: \"CPU 0 Temp\"\t\
.1.3.6.1.2.1.47.1.1.1.1.2.2 = STRING: \"CPU 0 Temp\"\t\
.1.3.6.1.2.1.99.1.1.1.4.2 = INTEGER: 950\t\
.1.3.6.1.2.1.99.1.1.1.1.2 = INTEGER: 8\t\
.1.3.6.1.4.1.9.9.745.1.1.1.4.2.2 = INTEGER: 900";
    let got = wait_for(WAIT, || {
        let r = trapd.received(CE_THRESHOLD_TRAP);
        (r.len() >= 2).then_some(r)
    })
    .unwrap_or_else(|| panic!("{:?}", trapd.received(CE_THRESHOLD_TRAP)));
    assert_eq!(got[1], critical);
    assert!(
        got[0].ends_with(".1.3.6.1.4.1.9.9.745.1.1.1.4.2.1 = INTEGER: 750"),
        "{}",
        got[0]
    );
    a.wait_sweeps(10);
    assert_eq!(
        trapd.received(CE_THRESHOLD_TRAP).len(),
        2,
        "once per transition"
    );
    let temp = trapd.received(ENVMON_TEMP_TRAP);
    assert_eq!(temp.len(), 2, "{temp:?}");
    assert!(
        temp[1].ends_with(".1.3.6.1.4.1.9.9.13.1.3.1.6.2 = INTEGER: 3"),
        "{}",
        temp[1]
    );
    // Counted: two threshold and two ENVMON notifications taken by the master.
    let metrics = a.metrics();
    assert!(
        metrics.contains("\nenvmon_agentx_notifications_total 4\n"),
        "{metrics}"
    );
    assert!(metrics.contains("\nenvmon_agentx_notifications_dropped_total 0\n"));
    assert_eq!(
        message_lines(&out),
        [
            "%FTD-4-735015: CPU 0: Temp: 80 C, Warm",
            "%FTD-1-735007: IPMI: CPU 0: Temp: 95 C, Critical"
        ]
    );

    // A client walking without pause does not hold up the poll loop.
    let stop = Arc::new(AtomicBool::new(false));
    let walks = Arc::new(AtomicU64::new(0));
    let walker = {
        let (stop, walks, port) = (Arc::clone(&stop), Arc::clone(&walks), snmpd.port);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let o = std::process::Command::new("snmpbulkwalk")
                    .args(["-v2c", "-c", "public", "-On"])
                    .arg(format!("127.0.0.1:{port}"))
                    .arg(ENT_PHYSICAL)
                    .env("MIBS", "")
                    .output();
                if o.is_ok_and(|o| o.stdout.len() > 1000) {
                    walks.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let before = a.sweeps().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let after = a.sweeps().unwrap();
    stop.store(true, Ordering::Relaxed);
    walker.join().unwrap();
    let n = walks.load(Ordering::Relaxed);
    eprintln!("{n} walks in 3 s; sweeps {before} -> {after}");
    assert!(n >= 3, "the client walked");
    assert!(after >= before + 10, "sweeps went on: {before} -> {after}");

    // snmpd restarts: envmon registers again within seconds, by itself.
    let restarted = Instant::now();
    snmpd.restart();
    let back = wait_for(WAIT, || {
        (snmpd.walk(SENSOR_VALUE).len() == SERVED).then_some(())
    });
    assert!(back.is_some(), "{}", a.stderr());
    eprintln!(
        "registered again {:?} after the restart",
        restarted.elapsed()
    );
    assert!(restarted.elapsed() < Duration::from_secs(10));
    // And notifications still go out through the new master.
    bmc.set(CPU0, 40);
    let cleared = wait_for(WAIT, || {
        let r = trapd.received(CE_THRESHOLD_TRAP);
        (r.len() == 3).then_some(r)
    })
    .unwrap_or_else(|| panic!("{:?}", trapd.received(CE_THRESHOLD_TRAP)));
    assert!(
        cleared[2].contains(".1.3.6.1.2.1.99.1.1.1.4.2 = INTEGER: 400"),
        "{}",
        cleared[2]
    );
    assert!(cleared[2].ends_with(".1.3.6.1.4.1.9.9.745.1.1.1.4.2.2 = INTEGER: 900"));
}

#[test]
fn a_tcp_master_and_no_envmon_view() {
    let dir = tempfile::tempdir().unwrap();
    let trapd = Snmptrapd::start(&dir.path().join("trapd"));
    let snmpd = Snmpd::start(&dir.path().join("snmpd"), trapd.port, true);
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let master = snmpd.master();
    assert!(master.starts_with("tcp:"));
    let a = bmc.agent(
        dir.path(),
        "stderr",
        &["--agentx", &master, "--agentx-envmon-mib", "off"],
    );
    let up = wait_for(WAIT, || {
        (snmpd.walk(SENSOR_VALUE).len() == SERVED).then_some(())
    });
    assert!(up.is_some(), "{}\n{}", a.stderr(), snmpd.log());
    let envmon = snmpd.walk(ENVMON);
    assert!(
        envmon.iter().all(|l| l.contains("No Such Object")),
        "the ENVMON view is off: {envmon:?}"
    );
    // Indexes stay: the same alias at each index after a reload and after a restart.
    let aliases = || snmpd.walk(&format!("{ENT_PHYSICAL}.1.14"));
    let before = aliases();
    assert_eq!(before.len(), SERVED + 1, "{before:?}");
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &a.pid().to_string()])
        .status();
    a.wait_sweeps(3);
    assert_eq!(aliases(), before, "after SIGHUP");
    let mut a = a;
    assert_eq!(a.stop(), Some(0));
    let a = bmc.agent(
        dir.path(),
        "stderr",
        &["--agentx", &master, "--agentx-envmon-mib", "off"],
    );
    let again = wait_for(WAIT, || (aliases().len() == SERVED + 1).then(aliases));
    assert_eq!(again, Some(before), "after a restart: {}", a.stderr());
    // Sets are refused: everything is read-only.
    let o = std::process::Command::new("snmpset")
        .args(["-v2c", "-c", "public", "-On"])
        .arg(format!("127.0.0.1:{}", snmpd.port))
        .args([&format!("{SENSOR_VALUE}.2"), "i", "1"])
        .env("MIBS", "")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success(), "{said}");
    // No notification was asked for: a CPU going critical (its syslog line is there) sends
    // none, and none is counted as dropped either.
    bmc.set(CPU0, 95);
    let sent = wait_for(WAIT, || a.stderr().contains("735007").then_some(()));
    assert!(sent.is_some(), "{}", a.stderr());
    a.wait_sweeps(5);
    assert!(trapd.received(CE_THRESHOLD_TRAP).is_empty());
    assert!(trapd.received(ENVMON_TEMP_TRAP).is_empty());
    let metrics = a.metrics();
    assert!(
        metrics.contains("\nenvmon_agentx_notifications_total 0\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("\nenvmon_agentx_notifications_dropped_total 0\n"),
        "{metrics}"
    );
}

/// A master that misbehaves (a fake one on a unix socket): a reply that is not AgentX, a
/// request whose body does not decode, a PDU announcing a megabyte. The subagent refuses
/// each as it should (ends the session and connects again, or answers parseError and goes
/// on), answers the good request in between, and the poll loop never notices.
#[test]
fn a_hostile_master_is_refused_and_the_subagent_carries_on() {
    use envmon_agent::snmp::pdu::{self, HEADER, Ids, Pdu};
    use std::{
        io::{Read, Write},
        os::unix::net::{UnixListener, UnixStream},
    };
    fn read_pdu(s: &mut UnixStream) -> Option<Vec<u8>> {
        let mut head = [0u8; HEADER];
        s.read_exact(&mut head).ok()?;
        let n = pdu::payload_len(&head).ok()?;
        let mut body = vec![0u8; n];
        s.read_exact(&mut body).ok()?;
        let mut all = head.to_vec();
        all.extend(body);
        Some(all)
    }
    fn ids_of(p: &[u8]) -> Ids {
        match pdu::decode(p) {
            Ok(Pdu::Other(ids, _)) => ids,
            other => panic!("not an Open or Register: {other:?}"),
        }
    }
    fn header(t: u8, payload: &[u8], declared: u32) -> Vec<u8> {
        let mut v = vec![1, t, 0, 0];
        for x in [7u32, 1, 1, declared] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.extend_from_slice(payload);
        v
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("master.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let mut a = bmc.agent(
        dir.path(),
        "stderr",
        &["--agentx", &format!("unix:{}", sock.display())],
    );
    let accept = || {
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s
    };
    // 1. The answer to Open is not AgentX (version 9): the subagent hangs up.
    let mut s = accept();
    let open = read_pdu(&mut s).expect("an Open");
    assert_eq!(open[1], 1, "Open");
    let mut bad = header(18, &[0; 8], 8);
    bad[0] = 9;
    s.write_all(&bad).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "it hung up without another word");

    // 2. It comes back; Open and the Registers are answered.
    let mut s = accept();
    let open = read_pdu(&mut s).expect("an Open again");
    s.write_all(&pdu::response(
        Ids {
            session: 7,
            ..ids_of(&open)
        },
        0,
        0,
        vec![],
    ))
    .unwrap();
    for _ in 0..4 {
        let reg = read_pdu(&mut s).expect("a Register");
        assert_eq!(reg[1], 3, "Register");
        s.write_all(&pdu::response(ids_of(&reg), 0, 0, vec![]))
            .unwrap();
    }
    // A GetNext whose OID claims 200 sub-identifiers and has none: parseError, and on.
    let mut body = vec![200u8, 0, 0, 0];
    body.extend_from_slice(&[0; 4]);
    s.write_all(&header(6, &body, body.len() as u32)).unwrap();
    let r = read_pdu(&mut s).expect("an answer");
    assert!(
        matches!(pdu::decode(&r), Ok(Pdu::Response { error: 266, .. })),
        "{:?}",
        pdu::decode(&r)
    );
    // A good GetNext gets the first entity row.
    let mut body = vec![7u8, 0, 0, 0];
    for x in [1u32, 3, 6, 1, 2, 1, 47] {
        body.extend_from_slice(&x.to_le_bytes());
    }
    body.extend_from_slice(&[0; 4]);
    s.write_all(&header(6, &body, body.len() as u32)).unwrap();
    let r = read_pdu(&mut s).expect("an answer");
    assert!(matches!(
        pdu::decode(&r),
        Ok(Pdu::Response { error: 0, .. })
    ));
    let text = String::from_utf8_lossy(&r).to_string();
    assert!(text.contains("Appliance chassis"), "{text:?}");
    // 3. A PDU announcing a megabyte: refused before any of it is read; hang up, come back.
    s.write_all(&header(6, &[], 1 << 20)).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let mut s = accept();
    assert_eq!(
        read_pdu(&mut s).map(|p| p[1]),
        Some(1),
        "an Open, third time"
    );
    drop(s);
    // The poll loop went on throughout, and the agent stops cleanly.
    a.wait_sweeps(5);
    assert!(!a.stderr().contains("panicked"), "{}", a.stderr());
    assert_eq!(a.stop(), Some(0), "{}", a.stderr());
}
