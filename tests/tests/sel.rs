//! The BMC's event log against ipmi_sim: entries the simulator logs and entries added with
//! Add SEL Entry arrive as SEL lines once each, in order; a restart repeats and misses
//! nothing; a cleared SEL keeps working; a 3,000-entry backlog is read in bounded steps; a
//! processor Thermal Trip logged before envmon starts gives 735023 exactly once.

use envmon_tests::{Agent, Bmc, envmon_bin, sel_lines, wait_for};
use std::{path::Path, process::Command, time::Duration};

const WAIT: Duration = Duration::from_secs(30);

/// A system event record for Add SEL Entry (the BMC sets ID and timestamp).
fn event(sensor_type: u8, number: u8, event_type: u8, offset: u8) -> [u8; 16] {
    envmon_core::sel::system_event_record(0, sensor_type, number, event_type, offset)
}

fn start(bmc: &Bmc, dir: &Path) -> (Agent, std::path::PathBuf) {
    start_with(bmc, dir, &[])
}

/// [`start`] with `extra` flags.
fn start_with(bmc: &Bmc, dir: &Path, extra: &[&str]) -> (Agent, std::path::PathBuf) {
    let out = dir.join("syslog.log");
    let a = bmc.agent(dir, &format!("file://{}", out.display()), extra);
    (a, out)
}

/// Waits (up to [`WAIT`]) for a SEL line containing `needle`; whether one came.
fn sel_line(out: &Path, needle: &str) -> bool {
    wait_for(WAIT, || {
        sel_lines(out)
            .iter()
            .any(|l| l.contains(needle))
            .then_some(())
    })
    .is_some()
}

/// The record IDs of the SEL lines so far.
fn ids(out: &Path) -> Vec<String> {
    sel_lines(out)
        .iter()
        .filter_map(|l| {
            let at = l.find("SEL: record 0x")?;
            l.get(at + 12..at + 18).map(str::to_string)
        })
        .collect()
}

fn wait_ids(out: &Path, n: usize) -> Vec<String> {
    wait_for(WAIT, || {
        let i = ids(out);
        (i.len() >= n).then_some(i)
    })
    .unwrap_or_else(|| ids(out))
}

/// The BMC's own record IDs, in order (ipmitool's view).
fn bmc_ids(bmc: &Bmc) -> Vec<String> {
    bmc.ipmitool(&["sel", "list"])
        .lines()
        .filter_map(|l| {
            let id = l.split('|').next()?.trim();
            u16::from_str_radix(id, 16)
                .ok()
                .map(|n| format!("0x{n:04x}"))
        })
        .collect()
}

#[test]
fn entries_arrive_once_in_order_across_a_restart_and_a_clear() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let (mut a, out) = start(&bmc, dir.path());
    // What the simulator logged at its start (supplies present) arrives first.
    let at_start = bmc_ids(&bmc);
    assert!(!at_start.is_empty());
    assert_eq!(wait_ids(&out, at_start.len()), at_start);
    // A threshold event from the simulator (CPU0 beyond its warm and critical thresholds)
    // and entries added with Add SEL Entry.
    bmc.set(1, 93);
    bmc.add_sel(&[event(0x08, 0x0a, 0x6f, 0x01), event(0x05, 0x20, 0x6f, 0x00)]);
    let logged = bmc_ids(&bmc);
    assert!(logged.len() >= at_start.len() + 4, "{logged:?}");
    assert_eq!(wait_ids(&out, logged.len()), logged, "each once, in order");
    let lines = sel_lines(&out);
    assert!(
        lines.iter().any(|l| l.starts_with("%FTD-3-SEL: ")
            && l.contains("Power Supply #0x0a \"PSU2 Status\": Failure detected Asserted")),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l.contains("Physical Security #0x20")));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"CPU0 Temp\": Upper Critical going high Asserted")),
        "a threshold event the simulator logged: {lines:#?}"
    );
    // A restart: nothing repeated, and what was added meanwhile arrives.
    assert_eq!(a.stop(), Some(0));
    bmc.add_sel(&[event(0x0c, 0x40, 0x6f, 0x01)]);
    let (mut b, _) = start(&bmc, dir.path());
    let after = bmc_ids(&bmc);
    assert_eq!(wait_ids(&out, after.len()), after);
    b.wait_sweeps(12);
    assert_eq!(ids(&out), after, "nothing repeated");
    // Cleared: new entries still arrive.
    bmc.ipmitool(&["sel", "clear"]);
    bmc.add_sel(&[event(0x08, 0x09, 0x6f, 0x03)]);
    let cleared = wait_for(WAIT, || {
        sel_lines(&out)
            .iter()
            .any(|l| {
                l.contains("Power Supply #0x09 \"PSU1 Status\": Power Supply AC lost Asserted")
            })
            .then_some(())
    });
    assert!(cleared.is_some(), "{:#?}\n{}", sel_lines(&out), b.stderr());
    assert_eq!(b.stop(), Some(0));
}

#[test]
fn a_3000_entry_backlog_is_read_without_long_sweeps() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let records: Vec<[u8; 16]> = (0..3000)
        .map(|i| event(0x0c, 0x40 + (i % 8) as u8, 0x6f, (i % 2) as u8))
        .collect();
    bmc.add_sel(&records);
    let total = bmc_ids(&bmc).len();
    assert!(total >= 3000, "{total}");
    let (mut a, out) = start(&bmc, dir.path());
    let sock = a.socket();
    // While the backlog is read, sample the sweep and SEL step durations.
    let mut worst_sel = 0f64;
    let mut worst_sweep = 0f64;
    let done = wait_for(Duration::from_secs(120), || {
        let o = Command::new(envmon_bin())
            .args(["show", "metrics", "--socket"])
            .arg(&sock)
            .output()
            .ok()?;
        let m = String::from_utf8_lossy(&o.stdout).into_owned();
        let value = |name: &str| {
            m.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
        };
        worst_sel = worst_sel.max(value("envmon_sel_step_duration_seconds ").unwrap_or(0.0));
        worst_sweep = worst_sweep.max(value("envmon_sweep_duration_seconds ").unwrap_or(0.0));
        (ids(&out).len() >= total).then_some(())
    });
    assert!(done.is_some(), "{} of {total} forwarded", ids(&out).len());
    let got = ids(&out);
    let mut sorted = got.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len(), "none twice");
    // One batch (64 entries) per sweep: well under a second each on loopback.
    eprintln!(
        "3,000-entry backlog: worst SEL step {worst_sel:.3} s, worst sweep {worst_sweep:.3} s"
    );
    assert!(worst_sel < 2.0, "SEL step {worst_sel} s");
    assert_eq!(a.stop(), Some(0));
}

const TRIP: &str = "%FTD-2-735023: ASA was previously shutdown due to the CPU complex running beyond the maximum thermal operating temperature. The chassis needs to be inspected immediately for ventilation issues.";

/// A trip logged before this boot (the host's boot time is given after it is logged), seen
/// at envmon's first start: 735023 once, a record of source `sel`, and nothing at a second
/// start.
#[test]
fn a_thermal_trip_logged_before_start_gives_735023_once() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    bmc.add_sel(&[event(0x07, 0x01, 0x6f, 0x01)]);
    let root = envmon_tests::booted_now(dir.path());
    let extra = ["--sysfs-root", root.to_str().unwrap()];
    let (mut a, out) = start_with(&bmc, dir.path(), &extra);
    let seen = wait_for(WAIT, || {
        envmon_tests::message_lines(&out)
            .contains(&TRIP.to_string())
            .then_some(())
    });
    assert!(seen.is_some(), "{}", a.stderr());
    a.wait_sweeps(12);
    assert_eq!(envmon_tests::message_lines(&out), [TRIP], "once");
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("state/last-shutdown.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (rec["reason"].as_str(), rec["source"].as_str()),
        (Some("cpu"), Some("sel"))
    );
    assert_eq!(rec["trips"].as_array().map(Vec::len), Some(1), "{rec}");
    assert_eq!(a.stop(), Some(0));
    let (mut b, _) = start_with(&bmc, dir.path(), &extra);
    b.wait_sweeps(12);
    assert_eq!(
        envmon_tests::message_lines(&out),
        [TRIP],
        "a second start: nothing"
    );
    assert_eq!(b.stop(), Some(0));
}

/// A trip logged after this host booted cannot have caused this boot: at a first start it
/// is forwarded as a SEL line, not reported as 735023.
#[test]
fn a_trip_logged_after_this_boot_is_not_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    // This host booted an hour ago; the trip is logged now.
    let root = envmon_tests::booted_ago(dir.path(), 3600);
    bmc.add_sel(&[event(0x07, 0x01, 0x6f, 0x01)]);
    let (mut a, out) = start_with(&bmc, dir.path(), &["--sysfs-root", root.to_str().unwrap()]);
    assert!(sel_line(&out, "Thermal Trip"), "{:?}", sel_lines(&out));
    a.wait_sweeps(12);
    assert!(envmon_tests::message_lines(&out).is_empty(), "no 735023");
    assert!(
        a.stderr().contains("not taken for the cause of this boot"),
        "{}",
        a.stderr()
    );
    assert_eq!(a.stop(), Some(0));
}

/// Issue 20: a SEL cursor deleted, or corrupted, after a trip was reported and the SEL
/// forwarded: the next start reports no trip again and forwards no entry again (one line
/// says how many it skipped); entries logged afterwards are forwarded.
#[test]
fn a_lost_cursor_repeats_neither_735023_nor_the_sel() {
    for damage in ["deleted", "corrupted"] {
        let dir = tempfile::tempdir().unwrap();
        let bmc = Bmc::start(&dir.path().join("bmc"));
        bmc.add_sel(&[event(0x07, 0x01, 0x6f, 0x01)]);
        let root = envmon_tests::booted_now(dir.path());
        let extra = ["--sysfs-root", root.to_str().unwrap()];
        let (mut a, out) = start_with(&bmc, dir.path(), &extra);
        let n = bmc_ids(&bmc).len();
        let first = wait_ids(&out, n);
        a.wait_sweeps(12);
        assert_eq!(envmon_tests::message_lines(&out), [TRIP], "{damage}");
        assert_eq!(a.stop(), Some(0));
        let cursor = dir.path().join("state/sel-cursor.v1");
        match damage {
            "deleted" => std::fs::remove_file(&cursor).unwrap(),
            _ => std::fs::write(&cursor, "\u{0}garbage{{{\n").unwrap(),
        }
        let (mut b, _) = start_with(&bmc, dir.path(), &extra);
        let skipped = sel_line(&out, "the SEL cursor was lost");
        assert!(skipped, "{damage}: {:?}", sel_lines(&out));
        b.wait_sweeps(12);
        assert_eq!(
            envmon_tests::message_lines(&out),
            [TRIP],
            "{damage}: no second 735023"
        );
        assert_eq!(ids(&out), first, "{damage}: no entry forwarded twice");
        // What is logged from now on is forwarded.
        bmc.add_sel(&[event(0x04, 0x30, 0x6f, 0x00)]);
        let after = wait_ids(&out, first.len() + 1);
        assert_eq!(after.len(), first.len() + 1, "{damage}");
        assert_eq!(b.stop(), Some(0));
    }
}

/// Issue 22: 3,000 entries while the TCP relay is down for 30 s. The SEL waits (it is read
/// no further than the destination has room, its entries stay in the BMC), a fan failure
/// meanwhile goes before the SEL's lines, and after the relay comes back every entry
/// arrives, once, in order. Before, 2,746 of 3,002 were dropped and never resent.
#[test]
fn a_relay_down_for_30_s_loses_no_sel_entry() {
    use envmon_tests::Rsyslog;
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let mut relay = Rsyslog::start(&dir.path().join("relay"), false);
    let records: Vec<[u8; 16]> = (0..3000)
        .map(|i| event(0x0c, 0x40 + (i % 8) as u8, 0x6f, (i % 2) as u8))
        .collect();
    bmc.add_sel(&records);
    let want = bmc_ids(&bmc);
    assert!(want.len() >= 3000, "{}", want.len());
    relay.stop();
    let tcp = format!("tcp://127.0.0.1:{}", relay.tcp_port);
    let a = bmc.agent(dir.path(), &tcp, &[]);
    let down = std::time::Instant::now();
    a.wait_sweeps(5);
    bmc.set(7, 10); // FAN1 fails while the relay is down
    while down.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let m = a.metrics();
    let metric = |name: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
    };
    let forwarded = metric("envmon_sel_forwarded_total ").unwrap_or(-1.0);
    let dropped = m
        .lines()
        .filter(|l| l.starts_with("envmon_syslog_frames_dropped_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    eprintln!("relay down 30 s: {forwarded} SEL entries queued, {dropped} frames dropped");
    assert!(
        forwarded <= envmon_agent::syslog::destination::SEL_LANE as f64,
        "read no further than the destination has room: {forwarded}"
    );
    relay.restart();
    // The fan's threshold event is in the SEL too now.
    let want = bmc_ids(&bmc);
    let got = wait_for(Duration::from_secs(180), || {
        let r = relay.received();
        (r.iter()
            .filter(|l| l.msg.contains("-SEL: record 0x"))
            .count()
            >= want.len())
        .then_some(r)
    })
    .unwrap_or_else(|| relay.received());
    let sel: Vec<String> = got
        .iter()
        .filter_map(|l| {
            let at = l.msg.find("SEL: record 0x")?;
            l.msg.get(at + 12..at + 18).map(str::to_string)
        })
        .collect();
    let mut twice = sel.clone();
    twice.sort();
    let twice: Vec<&String> = twice
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| &w[0])
        .collect();
    assert_eq!(
        sel.len(),
        want.len(),
        "every entry, once (twice: {twice:?}): {}",
        a.stderr()
    );
    assert_eq!(sel, want, "in order");
    let fan = got
        .iter()
        .position(|l| l.msg.contains("735002"))
        .expect("the fan failure arrived");
    let first_sel = got
        .iter()
        .position(|l| l.msg.contains("-SEL: "))
        .unwrap_or(0);
    assert!(
        fan < first_sel + 3,
        "the catalog message goes before the SEL's backlog: at {fan}, SEL from {first_sel}"
    );
    assert_eq!(dropped, 0.0, "nothing dropped");
}
