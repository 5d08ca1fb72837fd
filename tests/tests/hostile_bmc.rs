//! A hostile BMC: a proxy in front of ipmi_sim rewrites what the BMC sends back. It replays
//! old authentic replies, duplicates them, truncates them, pads them past any MTU, replaces
//! them with garbage (behind a valid RMCP+ header), flips bits, or swallows everything.
//!
//! What must hold: the agent never takes a reply that is not the answer to its request (no
//! reading lands on the wrong sensor, so a healthy box stays silent and `show environment`
//! shows the BMC's values), it keeps one session through replies it can retry past, every
//! discarded datagram is counted (`envmon_ipmi_replies_discarded_total`), and when the BMC
//! goes silent it reports 735010 once, reconnects when it speaks again and reports the
//! transition that happened meanwhile, once.
//!
//! Wrong completion codes cannot be injected here (replies are authenticated): the daemon's
//! unit tests drive them through the in-memory BMC (`daemon::tests`).

use envmon_tests::{Agent, Bmc, Rng, UdpProxy, Way, expect_lines, message_lines};
use serde_json::Value;
use std::{
    collections::VecDeque,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU8, AtomicU64, Ordering},
    },
    time::Duration,
};

const WAIT: Duration = Duration::from_secs(30);
const FAN1: u8 = 7;

/// What the proxy does to the BMC's datagrams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Mode {
    Pass,
    /// Before each reply, the authentic reply of 64 datagrams ago: the request sequence
    /// (6 bits) has come round to the same value, and the command is the same.
    Replay,
    /// Every reply twice.
    Duplicate,
    /// A tenth of the replies cut short.
    Truncate,
    /// A tenth of the replies followed by 2,000 bytes.
    Oversize,
    /// A tenth of the replies replaced by random bytes behind their own RMCP+ header.
    Garbage,
    /// A tenth of the replies with one bit flipped.
    Flip,
    /// Nothing comes back.
    Silent,
}

const MODES: [Mode; 8] = [
    Mode::Pass,
    Mode::Replay,
    Mode::Duplicate,
    Mode::Truncate,
    Mode::Oversize,
    Mode::Garbage,
    Mode::Flip,
    Mode::Silent,
];

/// One reply damaged the way `mode` says.
fn damage(mode: Mode, d: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = d.to_vec();
    match mode {
        Mode::Truncate => v.truncate(rng.below(d.len())),
        Mode::Oversize => v.extend((0..2000).map(|_| rng.bits() as u8)),
        Mode::Garbage => {
            // Its own RMCP+ header, then random bytes.
            v.truncate(16);
            let n = 1 + rng.below(300);
            v.extend((0..n).map(|_| rng.bits() as u8));
        }
        _ => {
            let at = 4 + rng.below(v.len().saturating_sub(4).max(1));
            if let Some(b) = v.get_mut(at) {
                *b ^= 1 << rng.below(8);
            }
        }
    }
    v
}

struct Hostile {
    proxy: UdpProxy,
    mode: Arc<AtomicU8>,
    /// Datagrams the proxy made up or changed.
    tampered: Arc<AtomicU64>,
}

impl Hostile {
    fn start(target: u16) -> Hostile {
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let tampered = Arc::new(AtomicU64::new(0));
        let (m, t) = (Arc::clone(&mode), Arc::clone(&tampered));
        let mut rng = Rng::new(0xbad_b3c);
        let mut past: VecDeque<Vec<u8>> = VecDeque::with_capacity(64);
        let proxy = UdpProxy::start(target, move |way, d| {
            if way == Way::ToBmc {
                return vec![d.to_vec()];
            }
            let old = (past.len() == 64).then(|| past.pop_front()).flatten();
            past.push_back(d.to_vec());
            let mode = MODES[usize::from(m.load(Ordering::Relaxed))];
            let tenth = rng.below(10) == 0;
            let count = || {
                t.fetch_add(1, Ordering::Relaxed);
            };
            match mode {
                Mode::Pass => vec![d.to_vec()],
                Mode::Replay => match old {
                    Some(o) => {
                        count();
                        vec![o, d.to_vec()]
                    }
                    None => vec![d.to_vec()],
                },
                Mode::Duplicate => {
                    count();
                    vec![d.to_vec(), d.to_vec()]
                }
                Mode::Silent => {
                    count();
                    vec![]
                }
                _ if !tenth => vec![d.to_vec()],
                damaging => {
                    count();
                    vec![damage(damaging, d, &mut rng)]
                }
            }
        });
        Hostile {
            proxy,
            mode,
            tampered,
        }
    }

    fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::Relaxed);
    }

    fn tampered(&self) -> u64 {
        self.tampered.load(Ordering::Relaxed)
    }
}

fn agent(proxy_port: u16, dir: &Path, out: &Path) -> Agent {
    let uri = format!("rmcp://admin@127.0.0.1:{proxy_port}");
    let syslog = format!("file://{}", out.display());
    envmon_tests::sim_agent(
        &[],
        &envmon_tests::envmon_bin(),
        &uri,
        dir,
        &syslog,
        &[],
        &[],
    )
}

fn metric(a: &Agent, name: &str) -> u64 {
    a.metric(name)
        .unwrap_or_else(|| panic!("{name} not in the metrics: {}", a.metrics())) as u64
}

/// `id -> value` of every sensor `show environment` shows.
fn values(a: &Agent) -> Vec<(String, Option<f64>)> {
    let env: Value = envmon_agent::ask(&a.socket(), "show environment").unwrap();
    env["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_string(), s["value"].as_f64()))
        .collect()
}

#[test]
fn a_hostile_bmc_never_puts_a_reading_on_the_wrong_sensor_and_loses_no_transition() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let hostile = Hostile::start(bmc.port);
    let out = dir.path().join("syslog.log");
    let mut a = agent(hostile.proxy.port, dir.path(), &out);
    a.wait_sweeps(5);
    let healthy = values(&a);
    assert!(
        healthy
            .iter()
            .any(|(id, v)| id == "fan1" && *v == Some(5000.0)),
        "{healthy:?}"
    );
    assert_eq!(message_lines(&out), Vec::<String>::new(), "a healthy box");
    let discarded = "envmon_ipmi_replies_discarded_total";

    // Every mode a session survives (between Pass and Silent).
    for &mode in &MODES[1..MODES.len() - 1] {
        let (tampered, before) = (hostile.tampered(), metric(&a, discarded));
        hostile.set(mode);
        // Enough sweeps (15 datagrams each) for replies of 64 datagrams back to come round.
        a.wait_sweeps(12);
        hostile.set(Mode::Pass);
        let log = a.stderr();
        assert_eq!(
            message_lines(&out),
            Vec::<String>::new(),
            "{mode:?}: a healthy box stays silent: {log}"
        );
        assert_eq!(values(&a), healthy, "{mode:?}: every reading on its sensor");
        assert_eq!(
            log.matches("connected to the BMC").count(),
            1,
            "{mode:?}: one session throughout: {log}"
        );
        let (tampered, counted) = (
            hostile.tampered() - tampered,
            metric(&a, discarded) - before,
        );
        eprintln!("{mode:?}: {tampered} datagrams tampered, {counted} discarded");
        assert!(tampered > 0, "{mode:?}: the proxy did something");
        // A truncated or garbled datagram may not reach the agent whole, but every one that
        // did and was refused is counted; a duplicate or replay is one more datagram.
        assert!(counted > 0, "{mode:?}: discards counted");
        assert!(counted <= tampered + 64, "{mode:?}: {counted} > {tampered}");
    }

    // The BMC goes silent; a fan fails meanwhile. 735010 once, then the failure, once, when
    // the BMC answers again.
    hostile.set(Mode::Silent);
    let want_lost = [
        "%FTD-3-735010: IPMI: Environment Monitoring has failed to update one or more of its records.",
    ];
    let mut seen = Vec::new();
    expect_lines(&out, &mut seen, &want_lost, WAIT);
    bmc.set(FAN1, 10);
    hostile.set(Mode::Pass);
    expect_lines(
        &out,
        &mut seen,
        &["%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected"],
        WAIT,
    );
    a.wait_sweeps(10);
    assert_eq!(message_lines(&out), seen, "each once");
    assert_eq!(a.stop(), Some(0), "{}", a.stderr());
}

/// SIGTERM in the middle of a sweep: a slow BMC (every reply 150 ms late: two seconds a
/// sweep) and a fan that fails. The signal comes as soon as the agent has judged the fan
/// failed, while the rest of that sweep is still being read. The sweep finishes, its
/// message is sent and flushed, then the agent exits cleanly, in bounded time.
#[test]
fn sigterm_during_a_sweep_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let slow = UdpProxy::start(bmc.port, |way, d| {
        if way == Way::ToClient {
            std::thread::sleep(Duration::from_millis(150));
        }
        vec![d.to_vec()]
    });
    let out = dir.path().join("syslog.log");
    let mut a = agent(slow.port, dir.path(), &out);
    a.wait_sweeps(2);
    bmc.set(FAN1, 10);
    let judged = envmon_tests::wait_for(WAIT, || {
        a.stderr().contains("fan1: ok -> failed").then_some(())
    });
    assert!(judged.is_some(), "{}", a.stderr());
    let sent_at_signal = message_lines(&out);
    let started = std::time::Instant::now();
    assert_eq!(a.stop(), Some(0), "{}", a.stderr());
    eprintln!(
        "stopped {:?} after SIGTERM; lines at the signal: {sent_at_signal:?}",
        started.elapsed()
    );
    assert_eq!(
        message_lines(&out),
        ["%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected"],
        "the sweep's message was sent before the exit: {}",
        a.stderr()
    );
    assert!(!a.socket().exists(), "the socket file is removed");
}
