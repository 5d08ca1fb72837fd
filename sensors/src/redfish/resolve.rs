//! Name resolution within a request's deadline (issue 33).
//!
//! The system's resolver (`getaddrinfo`) takes no deadline: a BMC named by a host name whose
//! DNS server does not answer held the request (and the loop) for as long as the resolver
//! liked. Here the lookup runs on a thread of its own and the request waits for it only
//! until its deadline; a lookup still running is not started again (at most one thread per
//! client), and its answer is taken by the next request. An answer is kept for
//! [`KEEP_FOR`], then looked up again in the background while it is still used; it is
//! forgotten when the service does not answer there. An address literal needs no lookup.

use super::{RfError, RfErrorKind};
use std::{
    net::{IpAddr, SocketAddr, ToSocketAddrs},
    sync::{Arc, Mutex, PoisonError, mpsc},
    time::{Duration, Instant},
};

/// How long a looked-up address is used before it is looked up again.
pub const KEEP_FOR: Duration = Duration::from_secs(300);

/// What looks a name up (the system's resolver, or a test's).
pub type Lookup = fn(&str, u16) -> std::io::Result<Vec<SocketAddr>>;

/// The system's resolver.
fn system(host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
    (host, port).to_socket_addrs().map(Iterator::collect)
}

/// A lookup's answer: the first address, or why there is none.
type Answer = Result<SocketAddr, String>;

#[derive(Default)]
struct State {
    /// The last address found and when.
    known: Option<(SocketAddr, Instant)>,
    /// A lookup still running.
    pending: Option<mpsc::Receiver<Answer>>,
}

/// One service's address, looked up within deadlines; clones share it.
#[derive(Clone)]
pub struct Resolver {
    host: String,
    port: u16,
    lookup: Lookup,
    /// How long an answer is used before it is looked up again ([`KEEP_FOR`]).
    keep: Duration,
    state: Arc<Mutex<State>>,
}

impl Resolver {
    /// `host:port` through the system's resolver.
    pub fn new(host: &str, port: u16) -> Resolver {
        Resolver::with(host, port, system)
    }

    /// `host:port` through `lookup`.
    pub fn with(host: &str, port: u16, lookup: Lookup) -> Resolver {
        Resolver {
            host: host.to_string(),
            port,
            lookup,
            keep: KEEP_FOR,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// The same, an answer used for `keep` before it is looked up again.
    pub fn keeping(mut self, keep: Duration) -> Resolver {
        self.keep = keep;
        self
    }

    /// The address, by `until`: an address literal at once, a recent answer at once,
    /// otherwise the lookup's answer if it comes in time (an error naming the host if not).
    pub fn address(&self, until: Instant) -> Result<SocketAddr, RfError> {
        let literal = self.host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((addr, at)) = st.known {
            if at.elapsed() < self.keep {
                return Ok(addr);
            }
            // Old: looked up again in the background, the old address used meanwhile (a
            // resolver that is slow or down now does not stop a service that answers).
            match st.pending.take().map(|rx| (rx.try_recv(), rx)) {
                Some((Ok(Ok(new)), _)) => st.known = Some((new, Instant::now())),
                Some((Err(mpsc::TryRecvError::Empty), rx)) => st.pending = Some(rx),
                // Failed: the old address for another while.
                Some((Ok(Err(_)) | Err(mpsc::TryRecvError::Disconnected), _)) => {
                    st.known = Some((addr, Instant::now()));
                }
                None => st.pending = Some(self.start()),
            }
            return Ok(st.known.map_or(addr, |(a, _)| a));
        }
        let rx = match st.pending.take() {
            Some(rx) => rx,
            None => self.start(),
        };
        // Waited for without the lock (another clone's request is not held by this one).
        drop(st);
        let left = until.saturating_duration_since(Instant::now());
        let answer = rx.recv_timeout(left);
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match answer {
            Ok(Ok(addr)) => {
                st.known = Some((addr, Instant::now()));
                Ok(addr)
            }
            Ok(Err(e)) => Err(RfError::new(RfErrorKind::Io, format!("{}: {e}", self.host))),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                st.pending = Some(rx);
                Err(RfError::new(
                    RfErrorKind::Timeout,
                    format!(
                        "{}: the name was not resolved within the request's deadline",
                        self.host
                    ),
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(RfError::new(
                RfErrorKind::Io,
                format!("{}: the name lookup failed", self.host),
            )),
        }
    }

    /// Forgets the address (the service did not answer there: look it up again).
    pub fn forget(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .known = None;
    }

    /// Starts a lookup on a thread of its own; its answer comes through the receiver.
    fn start(&self) -> mpsc::Receiver<Answer> {
        let (tx, rx) = mpsc::channel();
        let (host, port, lookup) = (self.host.clone(), self.port, self.lookup);
        let spawned = std::thread::Builder::new()
            .name("resolve".into())
            .spawn(move || {
                let answer = match lookup(&host, port) {
                    Ok(addrs) => addrs.into_iter().next().ok_or_else(|| "no address".into()),
                    Err(e) => Err(e.to_string()),
                };
                let _ = tx.send(answer);
            });
        if let Err(e) = spawned {
            // The receiver then reports the lookup as failed.
            log::warn!("cannot start a name lookup: {e}");
        }
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

    /// A DNS server that never answers (for 3 s).
    fn silent(_: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        LOOKUPS.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(3));
        Ok(vec![SocketAddr::from(([10, 0, 0, 5], port))])
    }

    fn failing(_: &str, _: u16) -> std::io::Result<Vec<SocketAddr>> {
        Err(std::io::Error::other("no such host"))
    }

    #[test]
    fn a_silent_resolver_ends_at_the_deadline_and_runs_once() {
        let r = Resolver::with("bmc.example", 443, silent);
        let started = Instant::now();
        let e = r
            .address(Instant::now() + Duration::from_millis(200))
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2), "{e}");
        assert_eq!(e.kind, RfErrorKind::Timeout);
        assert!(e.to_string().contains("bmc.example"), "{e}");
        // The next request waits for the same lookup rather than starting another.
        let addr = r.address(Instant::now() + Duration::from_secs(10)).unwrap();
        assert_eq!(addr, SocketAddr::from(([10, 0, 0, 5], 443)));
        assert_eq!(LOOKUPS.load(Ordering::SeqCst), 1);
        // Kept: no lookup for the next requests.
        assert_eq!(r.clone().address(Instant::now()).unwrap(), addr);
        assert_eq!(LOOKUPS.load(Ordering::SeqCst), 1);
    }

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    /// The first lookup answers 10.0.0.7 at once; the later ones fail after 1 s.
    fn then_down(_: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        if CALLS.fetch_add(1, Ordering::SeqCst) == 0 {
            return Ok(vec![SocketAddr::from(([10, 0, 0, 7], port))]);
        }
        std::thread::sleep(Duration::from_secs(1));
        Err(std::io::Error::other("the DNS server is down"))
    }

    #[test]
    fn an_old_answer_is_used_while_it_is_looked_up_again() {
        let r = Resolver::with("bmc.example", 443, then_down).keeping(Duration::ZERO);
        let far = || Instant::now() + Duration::from_secs(5);
        let first = r.address(far()).unwrap();
        // Old at once: the same address, at once, while the lookup runs (and fails).
        let started = Instant::now();
        assert_eq!(r.address(far()).unwrap(), first);
        assert_eq!(r.address(far()).unwrap(), first);
        assert!(started.elapsed() < Duration::from_millis(500));
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(
            r.address(far()).unwrap(),
            first,
            "kept after the failed lookup"
        );
        assert_eq!(CALLS.load(Ordering::SeqCst), 2, "one lookup at a time");
    }

    #[test]
    fn literals_need_no_lookup_and_failures_name_the_host() {
        let r = Resolver::with("127.0.0.1", 8000, failing);
        assert_eq!(
            r.address(Instant::now()).unwrap(),
            SocketAddr::from(([127, 0, 0, 1], 8000))
        );
        let v6 = Resolver::with("[::1]", 443, failing);
        assert!(v6.address(Instant::now()).unwrap().is_ipv6());
        let e = Resolver::with("nowhere.example", 443, failing)
            .address(Instant::now() + Duration::from_secs(5))
            .unwrap_err();
        assert_eq!(e.kind, RfErrorKind::Io);
        assert_eq!(e.to_string(), "nowhere.example: no such host");
    }
}
