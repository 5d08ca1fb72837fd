//! The BMC link: the connection the poll loop reads through, its SDRs, and what its
//! attempts and losses count. It opens a session (through an [`Opener`]), loads the SDRs
//! (cached in the state dir), re-validates the repository, drops the session when it is lost,
//! and decides when 735009 is due. It knows nothing of boards or messages: the loop binds
//! the SDRs it hands out and sends what it says.

use crate::{os::watchdog::Beating, os::watchdog::Heartbeat, source::bmc};
use envmon_sensors::ipmi::{
    IpmiError, IpmiSource, Target, Transport,
    repo::{self, RepoInfo},
    sdr::SdrEntry,
};
use std::{
    path::Path,
    time::{Duration, Instant},
};

/// Failed connection attempts before 735009 is sent (the agent keeps trying).
pub const ATTEMPTS_BEFORE_735009: u32 = 3;

/// How long after the start a missing local IPMI device (`/dev/ipmi0`) is waited for before
/// its absence counts as a failed attempt: at boot the kernel's driver may bind after envmon
/// started (a BMC that answers late, a driver loaded again).
pub const DEVICE_WAIT: Duration = Duration::from_secs(120);
/// How often a missing local device is looked for while it is waited for.
pub const DEVICE_POLL: Duration = Duration::from_millis(500);

/// The wait after the first failed connection attempt; it doubles with each failure.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between connection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The wait before the next connection attempt after `failures` failed ones (at least 1):
/// [`BACKOFF_FIRST`] doubled per failure up to [`BACKOFF_MAX`], then scaled by `jitter`
/// (0..1) into its upper half, so that agents that lost one BMC together do not return in
/// step. Pure.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    let full = BACKOFF_FIRST
        .saturating_mul(1u32 << doublings)
        .min(BACKOFF_MAX);
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// A number in 0..1 for the jitter: xorshift over the clock and the process ID.
fn jitter(state: &mut u64) -> f64 {
    if *state == 0 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        *state = nanos ^ (u64::from(std::process::id()) << 32) | 1;
    }
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

/// Opens a connection to the BMC: [`bmc::open`] in the agent, a fake BMC in tests.
pub type Opener = Box<dyn FnMut(&Target) -> Result<Box<dyn Transport>, IpmiError>>;

/// The real connection: the kernel device or an RMCP+ session.
pub fn open_real() -> Opener {
    Box::new(|t| bmc::open(t).map(|c| Box::new(c) as Box<dyn Transport>))
}

/// The session the loop reads through (each call beats the watchdog's heart).
pub type Source = IpmiSource<Beating<Box<dyn Transport>>>;

/// A new session and its SDRs.
#[derive(Debug)]
pub struct Opened {
    /// The SDR entries.
    pub sdrs: Vec<SdrEntry>,
    /// Whether the repository differs from the one seen before (`None`: first connection).
    pub changed: Option<bool>,
}

/// The counts of closed sessions' transports.
#[derive(Debug, Clone, Copy, Default)]
struct Closed {
    commands: u64,
    discarded: u64,
    retransmissions: u64,
    sessions: u64,
}

/// The BMC link.
pub struct BmcLink {
    open: Opener,
    source: Option<Source>,
    repo_info: Option<RepoInfo>,
    failed_attempts: u32,
    reported_not_running: bool,
    /// What sessions already closed counted.
    closed: Closed,
    /// No connection attempt before this (backoff after failures).
    next_try: Option<Instant>,
    jitter: u64,
    /// Transport errors and failed connection attempts.
    errors: u64,
    /// SDR names by sensor number (BMC-owned), for SEL lines.
    sensor_names: Vec<(u8, String)>,
    /// When the link was made: a missing local device is waited for until `device_wait`
    /// ([`DEVICE_WAIT`]) after it.
    created: Instant,
    device_wait: Duration,
    /// The wait for a missing device was said.
    device_noted: bool,
    /// The local device the last attempt tried, when it was not there.
    absent: Option<std::path::PathBuf>,
}

impl BmcLink {
    /// A link that opens its sessions with `open`.
    pub fn new(open: Opener) -> BmcLink {
        BmcLink {
            open,
            source: None,
            repo_info: None,
            failed_attempts: 0,
            reported_not_running: false,
            closed: Closed::default(),
            next_try: None,
            jitter: 0,
            errors: 0,
            sensor_names: Vec::new(),
            created: Instant::now(),
            device_wait: DEVICE_WAIT,
            device_noted: false,
            absent: None,
        }
    }

    /// Opens a session to `target` and loads the SDRs (from the cache in `state_dir` when it
    /// is current). The session is kept only when `accept` takes the SDRs.
    pub fn open(
        &mut self,
        target: &Target,
        state_dir: &Path,
        heart: &Heartbeat,
        accept: impl FnOnce(&Opened) -> Result<(), String>,
    ) -> Result<(), String> {
        heart.beat();
        let conn = (self.open)(target).map_err(|e| e.to_string());
        heart.beat();
        // A local device that is not there is a driver not bound yet (see `failed`).
        self.absent = match (target, &conn) {
            (Target::Device(path), Err(_)) if !path.exists() => Some(path.clone()),
            _ => None,
        };
        let mut conn = Beating::new(conn?, heart.clone());
        let known = self.repo_info;
        let loaded = bmc::load_sdrs(&mut conn, state_dir)
            .map_err(|e| e.to_string())
            .and_then(|(sdrs, info)| {
                let opened = Opened {
                    changed: known.map(|old| old != info),
                    sdrs,
                };
                accept(&opened).map(|()| (opened.sdrs, info))
            });
        let (sdrs, info) = match loaded {
            Ok(v) => v,
            Err(e) => {
                self.retire(&conn);
                return Err(e);
            }
        };
        self.sensor_names = sdrs
            .iter()
            .filter(|e| e.owner_id == 0x20 && e.owner_lun == 0)
            .map(|e| (e.number, e.name.clone()))
            .collect();
        self.repo_info = Some(info);
        self.source = Some(IpmiSource::new(conn));
        Ok(())
    }

    /// Keeps the counts of a session that is going away.
    fn retire(&mut self, t: &impl Transport) {
        self.closed.commands += t.commands();
        self.closed.discarded += t.discarded();
        self.closed.retransmissions += t.retransmissions();
        self.closed.sessions += t.sessions();
    }

    /// Whether a connection attempt may be made now (not within the backoff after a
    /// failure).
    pub fn may_try(&self) -> bool {
        self.next_try.is_none_or(|t| Instant::now() >= t)
    }

    /// Forgets the repository (a new board or BMC: the next session binds from scratch).
    pub fn forget(&mut self) {
        self.close();
        self.repo_info = None;
    }

    /// A connection attempt succeeded: the failure count starts over.
    pub fn succeeded(&mut self) {
        if self.failed_attempts > 0 {
            log::info!(
                "the BMC answers again after {} failed attempts",
                self.failed_attempts
            );
        }
        self.failed_attempts = 0;
        self.reported_not_running = false;
        self.next_try = None;
    }

    /// A connection attempt failed. Returns whether 735009 is due now: after
    /// [`ATTEMPTS_BEFORE_735009`] attempts while monitoring has not started, once per outage.
    /// An attempt that found its local device missing is, within [`DEVICE_WAIT`] of the
    /// start, a driver not bound yet: said once and looked for again every
    /// [`DEVICE_POLL`], not a failed attempt.
    pub fn failed(&mut self, why: &str, not_started: bool) -> bool {
        let waiting = self.created.elapsed() < self.device_wait;
        if let Some(device) = self.absent.take().filter(|_| waiting) {
            if !self.device_noted {
                self.device_noted = true;
                log::info!(
                    "waiting for {}: the kernel's IPMI driver has not bound it yet (735009 if it \
                     is not there {} s after the start)",
                    device.display(),
                    self.device_wait.as_secs()
                );
            }
            self.next_try = Some(Instant::now() + DEVICE_POLL);
            return false;
        }
        self.failed_attempts += 1;
        self.errors += 1;
        let wait = backoff(self.failed_attempts, jitter(&mut self.jitter));
        self.next_try = Some(Instant::now() + wait);
        log::warn!(
            "BMC not available (attempt {}): {why}; next attempt in {} ms",
            self.failed_attempts,
            wait.as_millis()
        );
        let due = self.failed_attempts >= ATTEMPTS_BEFORE_735009
            && !self.reported_not_running
            && not_started;
        if due {
            self.reported_not_running = true;
        }
        due
    }

    /// The session was lost (`e`, met `during` something or in a sweep when empty): it is
    /// dropped and counted; the next tick reconnects.
    pub fn lost(&mut self, during: &str, e: &IpmiError) {
        self.errors += 1;
        log::warn!("lost the BMC{during}: {e}; reconnecting");
        self.close();
    }

    /// Drops the session, keeping its counts.
    pub fn close(&mut self) {
        if let Some(s) = self.source.take() {
            self.retire(s.transport_ref());
        }
    }

    /// The session, while there is one.
    pub fn source(&mut self) -> Option<&mut Source> {
        self.source.as_mut()
    }

    /// Whether a session is open.
    pub fn connected(&self) -> bool {
        self.source.is_some()
    }

    /// Checks the SDR repository info against the one the items are bound to; a changed
    /// repository drops the session (reconnecting re-reads the SDRs and binds again).
    pub fn revalidate(&mut self) {
        let Some(src) = self.source.as_mut() else {
            return;
        };
        match repo::info(src.transport()) {
            Ok(info) if Some(info) != self.repo_info => {
                log::info!("the SDR repository changed; reloading it");
                self.close();
            }
            Ok(_) => {}
            Err(e) => log::warn!("SDR repository info: {e}"),
        }
    }

    /// A count of every session: the closed ones' and the open one's.
    fn total(&self, closed: u64, open: impl Fn(&dyn Transport) -> u64) -> u64 {
        closed + self.source.as_ref().map_or(0, |s| open(s.transport_ref()))
    }

    /// IPMI commands sent in all, by every session.
    pub fn commands(&self) -> u64 {
        self.total(self.closed.commands, |t| t.commands())
    }

    /// Datagrams discarded in all, by every session.
    pub fn discarded(&self) -> u64 {
        self.total(self.closed.discarded, |t| t.discarded())
    }

    /// Requests sent again in all (their reply did not come in time).
    pub fn retransmissions(&self) -> u64 {
        self.total(self.closed.retransmissions, |t| t.retransmissions())
    }

    /// Sessions opened with the BMC in all. A connection whose SDRs were refused counts
    /// too; a failed attempt's session is not counted (it was never whole).
    pub fn sessions(&self) -> u64 {
        self.total(self.closed.sessions, |t| t.sessions())
    }

    /// Lost sessions and failed connection attempts.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The session and the SDR names of the BMC's own sensors by number (for SEL lines).
    pub fn session_and_names(&mut self) -> Option<(&mut Source, &[(u8, String)])> {
        let names = self.sensor_names.as_slice();
        self.source.as_mut().map(|s| (s, names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envmon_sensors::ipmi::IpmiErrorKind;

    #[test]
    fn connection_attempts_back_off_to_thirty_seconds_with_jitter() {
        let s = Duration::from_secs;
        // Full waits (jitter 1): 1, 2, 4, 8, 16, 30, 30 s.
        let full: Vec<Duration> = (1..=7).map(|n| backoff(n, 1.0)).collect();
        assert_eq!(full, [s(1), s(2), s(4), s(8), s(16), s(30), s(30)]);
        // Jitter takes it into the upper half, never below.
        assert_eq!(backoff(6, 0.0), s(15));
        assert_eq!(backoff(1, 0.5), Duration::from_millis(750));
        assert_eq!(backoff(u32::MAX, 1.0), s(30));
        let mut state = 0;
        let xs: Vec<f64> = (0..100).map(|_| jitter(&mut state)).collect();
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
        assert!(xs.windows(2).any(|w| w[0] != w[1]));
    }

    /// A local device that is not there yet is waited for (no attempt counted, no 735009)
    /// until DEVICE_WAIT after the start; after that its absence counts like any failure. A
    /// device that is there but fails, and an RMCP+ target, count from the first attempt.
    #[test]
    fn a_missing_device_is_waited_for_then_counts() {
        let fails = || -> Opener {
            Box::new(|_| Err(IpmiError::new(IpmiErrorKind::Connect, "cannot open")))
        };
        let heart = Heartbeat::default();
        let dir = std::env::temp_dir();
        let attempt = |link: &mut BmcLink, target: &Target| {
            assert!(link.open(target, &dir, &heart, |_| Ok(())).is_err());
            link.failed("cannot open", true)
        };
        let missing = Target::Device("/nonexistent/ipmi0".into());
        let mut link = BmcLink::new(fails());
        for _ in 0..10 {
            assert!(!attempt(&mut link, &missing));
        }
        assert_eq!(link.failed_attempts, 0);
        let wait = link
            .next_try
            .map(|t| t.saturating_duration_since(Instant::now()));
        assert!(wait.is_some_and(|w| w <= DEVICE_POLL), "{wait:?}");
        // Past the wait (the wait shortened: an Instant cannot go back before the boot):
        // three attempts make 735009, once.
        link.device_wait = Duration::ZERO;
        let due: Vec<bool> = (0..4).map(|_| attempt(&mut link, &missing)).collect();
        assert_eq!(due, [false, false, true, false]);
        // A device that is there but fails, or a BMC over the network, counts at once.
        let there = Target::Device(dir.clone());
        let rmcp = Target::Rmcp {
            host: "127.0.0.1".into(),
            port: 9,
            user: "admin".into(),
            password: String::new(),
            window: 1,
        };
        for target in [there, rmcp] {
            let mut link = BmcLink::new(fails());
            let due: Vec<bool> = (0..3).map(|_| attempt(&mut link, &target)).collect();
            assert_eq!(due, [false, false, true]);
        }
    }
}
