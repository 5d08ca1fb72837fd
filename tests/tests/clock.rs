//! The wall clock jumping under the agent: back 3 hours, forward 5, back and forth by 10
//! (an NTP step, an operator's `date -s`, an RTC that was wrong at boot). libfaketime moves
//! CLOCK_REALTIME of the agent alone, read from a file on every call; the monotonic clock
//! stays true, as it does on a real box.
//!
//! What must hold: debounce still takes its two sweeps (one message per transition, not
//! zero and not two), the 735010 rate limit (one a minute) is not reset by a jump forward,
//! `show environment`'s ages stay the time since the reading (not hours, not negative), and
//! the frames carry the wall clock as it now is (that is what a syslog timestamp is: proof
//! too that the clock really moved for the agent).

use chrono::{Duration as Span, Local, NaiveTime, Timelike};
use envmon_tests::{Agent, Bmc, expect_lines, message_lines, wait_for};
use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

const WAIT: Duration = Duration::from_secs(30);
const FAN1: u8 = 7;

/// Debian's libfaketime (scripts/install-deps installs it).
fn libfaketime() -> PathBuf {
    let found = fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|d| d.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists());
    found.unwrap_or_else(|| panic!("no libfaketime: apt-get install libfaketime"))
}

/// The agent's clock offset, as libfaketime reads it ("+0", "-3h", ...).
struct Clock(PathBuf);

impl Clock {
    fn set(&self, offset: &str) {
        let tmp = self.0.with_extension("tmp");
        fs::write(&tmp, format!("{offset}\n")).unwrap();
        fs::rename(&tmp, &self.0).unwrap();
    }
}

/// The time of day in an RFC 3164 line (`<PRI>Mmm dd HH:MM:SS host ...`).
fn time_of(line: &str) -> NaiveTime {
    let stamp = line.split('>').nth(1).and_then(|r| r.get(7..15));
    stamp
        .and_then(|s| NaiveTime::parse_from_str(s, "%H:%M:%S").ok())
        .unwrap_or_else(|| panic!("no RFC 3164 time in {line}"))
}

/// Checks that the last line containing `id` carries the wall clock moved by `hours`.
fn stamped(out: &Path, id: &str, hours: i64) {
    let text = fs::read_to_string(out).unwrap();
    let line = text.lines().rev().find(|l| l.contains(id)).unwrap();
    let want = (Local::now() + Span::hours(hours)).time();
    let got = time_of(line);
    let diff = (want.num_seconds_from_midnight() as i64 - got.num_seconds_from_midnight() as i64)
        .rem_euclid(86_400);
    let diff = diff.min(86_400 - diff);
    assert!(
        diff <= 120,
        "{line}: stamped {got}, the agent's clock should read about {want}"
    );
}

/// Every sensor's age (time since its last reading).
fn ages(a: &Agent) -> Vec<Option<u64>> {
    let env: envmon_agent::model::Environment =
        envmon_agent::ask(&a.socket(), "show environment").unwrap();
    env.sensors.iter().map(|s| s.age_ms).collect()
}

/// Every sensor's age: present and below `max_ms`.
fn ages_below(a: &Agent, max_ms: u64) {
    let got = ages(a);
    assert!(
        got.iter().all(|age| age.is_some_and(|ms| ms <= max_ms)),
        "ages {got:?}"
    );
}

#[test]
fn wall_clock_jumps_change_no_debounce_rate_limit_or_age() {
    let dir = tempfile::tempdir().unwrap();
    let mut bmc = Bmc::start(&dir.path().join("bmc"));
    let out = dir.path().join("syslog.log");
    let clock = Clock(dir.path().join("clock"));
    clock.set("+0");
    let lib = libfaketime();
    let syslog = format!("file://{}", out.display());
    let mut a = envmon_tests::sim_agent(
        &[],
        &envmon_tests::envmon_bin(),
        &bmc.uri(),
        dir.path(),
        &syslog,
        &[],
        &[
            ("LD_PRELOAD", lib.to_str().unwrap()),
            ("FAKETIME_TIMESTAMP_FILE", clock.0.to_str().unwrap()),
            ("FAKETIME_NO_CACHE", "1"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    a.wait_sweeps(3);
    ages_below(&a, 2_000);
    let mut seen = Vec::new();

    // Back three hours, then a fan fails: reported once, stamped three hours back.
    clock.set("-3h");
    a.wait_sweeps(3);
    ages_below(&a, 2_000);
    bmc.set(FAN1, 10);
    let failed = "%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected";
    expect_lines(&out, &mut seen, &[failed], WAIT);
    stamped(&out, "735002", -3);

    // Forward five hours (eight from there), and the fan recovers.
    clock.set("+5h");
    a.wait_sweeps(3);
    ages_below(&a, 2_000);
    bmc.set(FAN1, 100);
    expect_lines(
        &out,
        &mut seen,
        &["%FTD-1-735001: IPMI: Cooling Fan 1: OK"],
        WAIT,
    );
    stamped(&out, "735001", 5);
    a.wait_sweeps(10);
    assert_eq!(message_lines(&out), seen, "each transition once");

    // The BMC dies: one 735010. The clock jumps back and forth by ten hours while it stays
    // dead: still one (the limit is one a minute, on the monotonic clock). The last
    // readings age as time passes: never backwards, never by the jump.
    bmc.kill();
    let lost = "%FTD-3-735010: IPMI: Environment Monitoring has failed to update one or more of its records.";
    expect_lines(&out, &mut seen, &[lost], WAIT);
    let mut last = ages(&a);
    for offset in ["-10h", "+10h", "-10h", "+10h"] {
        clock.set(offset);
        a.wait_sweeps(5);
        let now = ages(&a);
        for (before, after) in last.iter().zip(&now) {
            let (Some(b), Some(n)) = (before, after) else {
                panic!("a reading lost its age: {last:?} -> {now:?}");
            };
            assert!(b <= n && *n < 120_000, "at {offset}: {last:?} -> {now:?}");
        }
        last = now;
    }
    assert_eq!(message_lines(&out), seen, "735010 once: {}", a.stderr());
    // The sensors are unavailable, with no age; back with the BMC, their ages are short.
    bmc.restart();
    let back = wait_for(WAIT, || {
        (a.stderr().matches("connected to the BMC").count() >= 2).then_some(())
    });
    assert!(back.is_some(), "{}", a.stderr());
    a.wait_sweeps(3);
    ages_below(&a, 2_000);
    assert_eq!(a.stop(), Some(0), "{}", a.stderr());
}
