//! Keeping systemd's watchdog fed while the poll loop is alive, and only then.
//!
//! The loop [`Heartbeat::beat`]s at every step that makes progress: each pass of its sleep,
//! each connection attempt and each IPMI request (through [`Beating`]). A [`Feeder`] thread
//! sends `WATCHDOG=1` every half `WATCHDOG_USEC` as long as the last beat is younger than the
//! stuck limit ([`stuck_after`]). So a BMC that never answers (every request waits its full
//! timeout) keeps the pings coming, while a loop that is really stuck (no beat for longer
//! than any bounded step takes) stops them and systemd restarts the agent.

use envmon_sensors::ipmi::{IpmiError, Transport};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// The longest step of the loop that cannot beat inside it: opening an RMCP+ session (a
/// ping and four session messages, each waiting up to the IPMI timeout) with room to spare.
pub const LONGEST_STEP: Duration = Duration::from_secs(15);

/// How long the loop may go without a beat before it counts as stuck: systemd's own period
/// (`WATCHDOG_USEC`), but never less than [`LONGEST_STEP`].
pub fn stuck_after(watchdog_usec: Duration) -> Duration {
    watchdog_usec.max(LONGEST_STEP)
}

/// Whether to send `WATCHDOG=1` now: the loop beat within `stuck_after`.
pub fn should_feed(since_beat: Duration, stuck_after: Duration) -> bool {
    since_beat < stuck_after
}

/// The loop's sign of life: the time of its last beat, shared with the [`Feeder`].
#[derive(Clone)]
pub struct Heartbeat {
    origin: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            origin: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Heartbeat {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The loop made progress.
    pub fn beat(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Time since the last beat.
    pub fn since_beat(&self) -> Duration {
        let last = self.last_ms.load(Ordering::Relaxed);
        Duration::from_millis(self.now_ms().saturating_sub(last))
    }
}

/// A [`Transport`] that beats before and after each request, so that a long SDR read or a
/// sweep against a slow BMC counts as progress.
pub struct Beating<T> {
    inner: T,
    heart: Heartbeat,
}

impl<T> Beating<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, heart: Heartbeat) -> Self {
        Beating { inner, heart }
    }
}

impl<T: Transport> Transport for Beating<T> {
    fn call(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        self.heart.beat();
        let r = self.inner.call(netfn, cmd, data);
        self.heart.beat();
        r
    }
    fn call_many(
        &mut self,
        requests: &[envmon_sensors::ipmi::Request],
    ) -> Vec<Result<Vec<u8>, IpmiError>> {
        self.heart.beat();
        let r = self.inner.call_many(requests);
        self.heart.beat();
        r
    }
    fn call_first(
        &mut self,
        requests: &[envmon_sensors::ipmi::Request],
    ) -> Result<Vec<u8>, IpmiError> {
        self.heart.beat();
        let r = self.inner.call_first(requests);
        self.heart.beat();
        r
    }
    fn commands(&self) -> u64 {
        self.inner.commands()
    }
    fn discarded(&self) -> u64 {
        self.inner.discarded()
    }
    fn retransmissions(&self) -> u64 {
        self.inner.retransmissions()
    }
    fn sessions(&self) -> u64 {
        self.inner.sessions()
    }
}

/// The thread that sends the pings; stopped (and joined) on drop.
pub struct Feeder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Feeder {
    /// Calls `ping` every `every` while the heartbeat is younger than `stuck_after`.
    pub fn spawn(
        heart: Heartbeat,
        every: Duration,
        stuck_after: Duration,
        mut ping: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Feeder> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let tick = Duration::from_millis(20).min(every);
        let thread = thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                let mut next = Instant::now();
                let mut was_stuck = false;
                while !stopped.load(Ordering::Relaxed) {
                    if Instant::now() >= next {
                        let since = heart.since_beat();
                        if should_feed(since, stuck_after) {
                            ping();
                            was_stuck = false;
                        } else if !was_stuck {
                            was_stuck = true;
                            log::error!(
                                "the poll loop has not moved for {} ms: no more watchdog pings",
                                since.as_millis()
                            );
                        }
                        next = Instant::now() + every;
                    }
                    thread::sleep(tick);
                }
            })?;
        Ok(Feeder {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A wrapper forwards every way of asking (a default method not forwarded would send
    /// RMCP+'s copies-at-once confirming reads one after another: issue 31's review).
    #[test]
    fn beating_forwards_every_transport_method() {
        use envmon_sensors::ipmi::Request;
        #[derive(Default)]
        struct Seen(Vec<&'static str>);
        impl Transport for Seen {
            fn call(&mut self, _: u8, _: u8, _: &[u8]) -> Result<Vec<u8>, IpmiError> {
                self.0.push("call");
                Ok(vec![])
            }
            fn call_many(&mut self, r: &[Request]) -> Vec<Result<Vec<u8>, IpmiError>> {
                self.0.push("call_many");
                r.iter().map(|_| Ok(vec![])).collect()
            }
            fn call_first(&mut self, _: &[Request]) -> Result<Vec<u8>, IpmiError> {
                self.0.push("call_first");
                Ok(vec![])
            }
            fn commands(&self) -> u64 {
                0
            }
        }
        let mut b = Beating::new(Seen::default(), Heartbeat::default());
        let r = [Request::new(0x04, 0x2d, &[1])];
        let _ = b.call(0x04, 0x2d, &[1]);
        let _ = b.call_many(&r);
        let _ = b.call_first(&r);
        assert_eq!(b.inner.0, ["call", "call_many", "call_first"]);
    }

    #[test]
    fn feeds_only_while_the_loop_beats() {
        assert!(should_feed(Duration::from_secs(14), LONGEST_STEP));
        assert!(!should_feed(LONGEST_STEP, LONGEST_STEP));
        assert_eq!(stuck_after(Duration::from_secs(1)), LONGEST_STEP);
        assert_eq!(
            stuck_after(Duration::from_secs(60)),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn a_feeder_stops_pinging_when_the_heartbeat_stops() {
        let heart = Heartbeat::default();
        heart.beat();
        let pings = Arc::new(Mutex::new(Vec::new()));
        let p = Arc::clone(&pings);
        let f = Feeder::spawn(
            heart.clone(),
            Duration::from_millis(10),
            Duration::from_millis(300),
            move || p.lock().unwrap().push(Instant::now()),
        )
        .unwrap();
        // Beating keeps it going for well past the stuck limit...
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(600) {
            heart.beat();
            thread::sleep(Duration::from_millis(5));
        }
        let beating_stopped = Instant::now();
        // ...then, with no beat, pings stop within the limit (and a tick).
        thread::sleep(Duration::from_millis(900));
        drop(f);
        let pings = pings.lock().unwrap();
        assert!(
            pings.iter().filter(|t| **t < beating_stopped).count() >= 5,
            "{} pings while beating",
            pings.len()
        );
        let last = *pings.last().unwrap();
        assert!(
            last < beating_stopped + Duration::from_millis(300 + 200),
            "pinged {:?} after the last beat",
            last - beating_stopped
        );
    }
}
