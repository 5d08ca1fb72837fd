//! Issue 22: slow and lossy links to the BMC, through the test library's seeded
//! [`LinkProxy`] (delay range, loss, reordering) in front of ipmi_sim.
//!
//! - 100-300 ms each way, and 200-900 ms each way with an empty SDR cache: monitoring runs
//!   within 30 s; over a minute no 735010, a fan failure and its recovery reported once each.
//! - 35% loss each way: never more than one established session of envmon's on the BMC
//!   (asked directly with `ipmitool session info all`).
//! - A silent BMC: one connection attempt per backoff step.
//! - 24 sensors at 200 ms per reply: a sweep takes at most a quarter of 24 round trips.

use envmon_agent::model::{Environment, Monitoring};
use envmon_tests::{Agent, Bmc, EmuBmc, Link, LinkProxy, LossyProxy, message_lines, wait_for};
use std::{
    net::UdpSocket,
    path::Path,
    time::{Duration, Instant},
};

const FAN1: u8 = 7;

/// `envmon run --board BOARD` on the BMC behind `port`, 1 s sweeps, then `extra`.
fn agent(port: u16, dir: &Path, board: &str, extra: &[&str]) -> Agent {
    let uri = format!("rmcp://admin@127.0.0.1:{port}");
    envmon_tests::rmcp_agent(&uri, board, dir, 1000, extra)
}

/// `show environment`, typed (`None` while the socket does not answer).
fn show(a: &Agent) -> Option<Environment> {
    envmon_agent::ask(&a.socket(), "show environment").ok()
}

/// Waits until monitoring runs; returns how long it took.
fn running_within(a: &Agent, limit: Duration) -> Duration {
    let t0 = Instant::now();
    let ran = wait_for(limit, || {
        show(a)
            .filter(|e| e.monitoring == Monitoring::Running)
            .map(|_| ())
    });
    assert!(
        ran.is_some(),
        "not running within {limit:?}: {}",
        a.stderr()
    );
    t0.elapsed()
}

/// A minute of monitoring through `link`: running within 30 s, a fan failure and its
/// recovery each reported once, no 735010.
fn a_minute_through(link: Link) {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let proxy = LinkProxy::start(bmc.port, link);
    let a = agent(proxy.port, dir.path(), "sim-appliance", &["--sel", "off"]);
    let up = running_within(&a, Duration::from_secs(30));
    let started = Instant::now();
    let out = dir.path().join("syslog.log");
    bmc.set(FAN1, 10); // 500 RPM: failed
    let failed = "%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected";
    let ok = "%FTD-1-735001: IPMI: Cooling Fan 1: OK";
    let seen = wait_for(Duration::from_secs(20), || {
        message_lines(&out)
            .iter()
            .any(|l| l == failed)
            .then_some(())
    });
    assert!(seen.is_some(), "{}", a.stderr());
    bmc.set(FAN1, 100);
    let seen = wait_for(Duration::from_secs(20), || {
        message_lines(&out).iter().any(|l| l == ok).then_some(())
    });
    assert!(seen.is_some(), "{}", a.stderr());
    while started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(500));
    }
    let lines = message_lines(&out);
    assert_eq!(
        lines,
        [failed, ok],
        "each once, nothing else: {}",
        a.stderr()
    );
    let m = a.metrics();
    let metric = |name: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(-1.0)
    };
    let (commands, resent, sessions) = (
        metric("envmon_ipmi_commands_total "),
        metric("envmon_ipmi_retransmissions_total "),
        metric("envmon_ipmi_sessions_opened_total "),
    );
    eprintln!(
        "{link:?}: running after {up:?}; {commands} commands, {resent} retransmissions, \
         {sessions} sessions, last sweep {} s",
        metric("envmon_sweep_duration_seconds ")
    );
    assert_eq!(sessions, 1.0, "one session: {}", a.stderr());
    assert!(
        resent <= commands * 0.05,
        "requests are not sent again before their reply could have come: {resent} of \
         {commands}"
    );
}

#[test]
fn a_100_to_300_ms_link_runs_within_30_s_and_reports_each_change_once() {
    a_minute_through(Link {
        delay_ms: (100, 300),
        loss: 0.0,
        seed: 0x51_0e,
    });
}

#[test]
fn a_200_to_900_ms_link_with_an_empty_cache_runs_within_30_s() {
    a_minute_through(Link {
        delay_ms: (200, 900),
        loss: 0.0,
        seed: 0x900,
    });
}

/// The sessions ipmi_sim holds (`ipmitool session info all`, asked directly, so ipmitool's
/// own session is one of them): (established, pending). An established session has a user
/// (id not 0); a pending one was opened (Open Session) and never activated: every Open
/// Session whose reply was lost leaves one, which the BMC drops after its timeout (ipmi_sim
/// counts them as active and does not tell a retransmission from a new request).
fn sessions_on(bmc: &Bmc) -> (u32, u32) {
    let text = bmc.ipmitool(&["session", "info", "all"]);
    let users = text
        .lines()
        .filter_map(|l| l.split_once("user id"))
        .filter_map(|(_, v)| v.trim_start_matches([' ', ':']).trim().parse::<u32>().ok());
    users.fold((0, 0), |(est, pend), u| {
        if u == 0 {
            (est, pend + 1)
        } else {
            (est + 1, pend)
        }
    })
}

#[test]
fn at_35_percent_loss_no_more_than_one_session_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let proxy = LossyProxy::start(bmc.port, 0.35, 0x35);
    let a = agent(proxy.port, dir.path(), "sim-appliance", &["--sel", "off"]);
    running_within(&a, Duration::from_secs(60));
    let before = a.sweeps().unwrap_or(0);
    let started = Instant::now();
    let (mut most, mut most_pending, mut asked) = (0, 0, 0);
    while started.elapsed() < Duration::from_secs(45) {
        let (established, pending) = sessions_on(&bmc);
        most = most.max(established);
        most_pending = most_pending.max(pending);
        asked += 1;
        std::thread::sleep(Duration::from_millis(700));
    }
    let m = a.metrics();
    eprintln!(
        "35% loss: at most {most} established sessions (ipmitool's own included) and \
         {most_pending} pending in {asked} looks; {}",
        m.lines()
            .filter(
                |l| (l.starts_with("envmon_ipmi_") || l.starts_with("envmon_sweep"))
                    && !l.starts_with("#")
            )
            .collect::<Vec<_>>()
            .join("; ")
    );
    assert!(asked >= 20);
    assert!(
        most <= 2,
        "envmon's established sessions and ipmitool's: {most}"
    );
    // Sweeps of 2-7 s at this loss (a lost session costs its deadline and a new one).
    let swept = a.sweeps().unwrap_or(0) - before;
    assert!(swept >= 3, "{swept} sweeps in 45 s: {}", a.stderr());
}

#[test]
fn a_silent_bmc_gets_one_attempt_per_backoff_step() {
    let dir = tempfile::tempdir().unwrap();
    let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    hole.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let port = hole.local_addr().unwrap().port();
    let a = agent(port, dir.path(), "sim-appliance", &[]);
    // Each attempt opens with a new console session ID (payload bytes 4..8 of Open
    // Session): the start of each attempt, by arrival.
    let mut attempts: Vec<([u8; 4], Instant)> = Vec::new();
    let mut datagrams = 0;
    let started = Instant::now();
    let mut buf = [0u8; 512];
    while started.elapsed() < Duration::from_secs(40) {
        if let Ok(n) = hole.recv(&mut buf) {
            datagrams += 1;
            let open_session = n >= 24 && buf[5] & 0x3f == 0x10;
            if let Some(sid) = open_session.then(|| [buf[20], buf[21], buf[22], buf[23]]) {
                if !attempts.iter().any(|(s, _)| *s == sid) {
                    attempts.push((sid, Instant::now()));
                }
            }
        }
    }
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].1 - w[0].1).collect();
    eprintln!(
        "a silent BMC, 40 s: {datagrams} datagrams, {} attempts, gaps {gaps:?}",
        attempts.len()
    );
    // An attempt waits its setup budget (4 s), then the backoff: 1, 2, 4, 8, 16 s, each
    // jittered into its upper half.
    for (k, g) in gaps.iter().enumerate() {
        let least = Duration::from_secs(1 << k.min(5)).min(Duration::from_secs(30)) / 2;
        assert!(*g >= least, "attempt {} came {g:?} after the last", k + 2);
    }
    assert!(
        (3..=7).contains(&attempts.len()),
        "{} attempts in 40 s",
        attempts.len()
    );
    assert!(datagrams <= attempts.len() * 4, "{datagrams} datagrams");
    let log = a.stderr();
    assert!(
        log.contains("735009") || log.contains("next attempt in"),
        "{log}"
    );
}

/// 24 threshold sensors on a BMC 100 ms away each way (200 ms a reply).
fn twenty_four_sensors() -> envmon_sensors::ipmi::fake::FakeBmc {
    use envmon_sensors::ipmi::fake::{FakeBmc, threshold_record};
    let fake = FakeBmc::default();
    {
        let mut s = fake.state();
        for n in 1..=24u8 {
            // Two CPU temperatures, ten rails, twelve fans.
            let (name, stype, entity, m, t) = match n {
                1..=2 => (
                    format!("CPU{n} Temp"),
                    0x01,
                    (0x03, n),
                    1,
                    [None, Some(95), Some(85), None, None, None],
                ),
                3..=12 => (
                    format!("P12V_{n}"),
                    0x02,
                    (0x07, n),
                    1,
                    [None, Some(14), None, None, Some(10), None],
                ),
                _ => (
                    format!("FAN{}", n - 12),
                    0x04,
                    (0x1d, n - 12),
                    50,
                    [None, None, None, None, Some(10), None],
                ),
            };
            s.records.push(threshold_record(
                u16::from(n),
                n,
                &name,
                stype,
                entity,
                m,
                t,
            ));
        }
    }
    for n in 1..=24u8 {
        fake.set(
            n,
            match n {
                1..=2 => 40,
                3..=12 => 12,
                _ => 100,
            },
        );
    }
    fake
}

#[test]
fn a_sweep_of_24_sensors_at_200_ms_a_reply_takes_a_quarter_of_24_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = EmuBmc::start(&dir.path().join("bmc"), &twenty_four_sensors());
    let proxy = LinkProxy::start(
        bmc.port,
        Link {
            delay_ms: (100, 100),
            loss: 0.0,
            seed: 24,
        },
    );
    let a = agent(proxy.port, dir.path(), "auto", &["--sel", "off"]);
    running_within(&a, Duration::from_secs(60));
    a.wait_sweeps(a.sweeps().unwrap_or(0) + 3);
    let m = a.metrics();
    let get = |name: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let sweep = get("envmon_sweep_duration_seconds ").unwrap();
    let commands = get("envmon_ipmi_commands_per_sweep ").unwrap();
    let sequential = commands * 0.2;
    eprintln!(
        "24 sensors, 200 ms a reply: {commands} commands, sweep {sweep} s, {sequential} s one after another"
    );
    assert_eq!(commands, 24.0);
    assert!(
        sweep <= sequential / 4.0,
        "{sweep} s, {sequential} s sequential"
    );
}

/// A SEL backlog over a slow link does not hold the sensors up: one sweep reads the SEL for
/// about a second at most (`sel::STEP_TIME`), not 64 entries at whatever they cost. With 300
/// entries waiting behind a 100-300 ms link a fan failure is still reported within seconds.
#[test]
fn a_sel_backlog_over_a_slow_link_does_not_hold_up_the_sensors() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let records: Vec<[u8; 16]> = (0..300)
        .map(|i| envmon_core::sel::system_event_record(0, 0x0c, 0x40 + (i % 8) as u8, 0x6f, 0))
        .collect();
    bmc.add_sel(&records);
    let proxy = LinkProxy::start(
        bmc.port,
        Link {
            delay_ms: (100, 300),
            loss: 0.0,
            seed: 0x5e1,
        },
    );
    let a = agent(proxy.port, dir.path(), "sim-appliance", &[]);
    running_within(&a, Duration::from_secs(30));
    let out = dir.path().join("syslog.log");
    bmc.set(FAN1, 10);
    let failed = "%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected";
    let t0 = Instant::now();
    let mut worst_sel = 0f64;
    let reported = wait_for(Duration::from_secs(30), || {
        let m = a.metrics();
        let sel = m
            .lines()
            .find_map(|l| l.strip_prefix("envmon_sel_step_duration_seconds "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        worst_sel = worst_sel.max(sel);
        message_lines(&out)
            .iter()
            .any(|l| l == failed)
            .then_some(())
    });
    let took = t0.elapsed();
    let forwarded = envmon_tests::sel_lines(&out).len();
    eprintln!(
        "300 SEL entries behind 100-300 ms: fan failure reported after {took:?}, worst SEL \
         step {worst_sel:.2} s, {forwarded} entries forwarded by then"
    );
    assert!(reported.is_some(), "{}", a.stderr());
    assert!(worst_sel < 3.0, "a SEL step of {worst_sel} s");
    assert!(took < Duration::from_secs(10), "reported after {took:?}");
    assert!(forwarded < 300, "the backlog is still being read");
}
