//! One syslog destination: a bounded frame queue and the worker thread that drains it.
//!
//! The caller never blocks: `push` takes a short lock and returns. When the queue is full the
//! oldest frame is dropped and counted. The worker takes one frame at a time; a frame that
//! fails goes back to the front of the queue (or, if the queue filled meanwhile, is the
//! oldest and is dropped and counted), the transport is reset, and the worker backs off
//! (doubling up to a maximum) before retrying. So every frame is either delivered or counted
//! in `dropped`, never silently lost.
//!
//! SEL lines have a lane of their own ([`SEL_LANE`]), sent after the catalog frames and never
//! dropped: each carries a ticket, and the destination says which it delivered last, so the
//! SEL cursor moves only past lines every destination took.

use super::transport::Transport;
use super::uri::SyslogUri;
use heapless::Deque;
use std::{
    io,
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// Frames one destination holds while its receiver is away.
pub const QUEUE_CAPACITY: usize = 256;

/// SEL lines one destination holds. The SEL is read only as far as every destination has
/// room ([`Destination::sel_room`]), so this lane never overflows: while a receiver is away
/// the entries wait in the BMC, not here.
pub const SEL_LANE: usize = 256;

/// Retry timing after a failed send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait between attempts.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

/// Counters of one destination, as the socket and metrics will show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationStats {
    /// The destination URI.
    pub uri: String,
    /// Frames waiting (including one being sent).
    pub queued: usize,
    /// Frames delivered.
    pub sent: u64,
    /// Frames dropped because the queue was full (or left over at shutdown).
    pub dropped: u64,
    /// Failed send attempts.
    pub failures: u64,
    /// Whether the last attempt succeeded.
    pub connected: bool,
}

struct State {
    frames: Deque<Box<[u8]>, QUEUE_CAPACITY>,
    /// SEL lines with their tickets (sent after the catalog frames, never dropped).
    sel: Deque<(u64, Box<[u8]>), SEL_LANE>,
    /// The ticket of the SEL line being sent.
    sel_in_flight: Option<u64>,
    /// The newest SEL ticket delivered (written, or handed to the socket).
    sel_delivered: u64,
    in_flight: bool,
    /// Reopen the transport before the next frame (SIGHUP).
    reopen: bool,
    closing: bool,
    exited: bool,
    sent: u64,
    dropped: u64,
    failures: u64,
    connected: bool,
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `done` holds or `deadline` passes; returns whether `done` holds.
    fn wait_until(&self, deadline: Instant, done: impl Fn(&State) -> bool) -> bool {
        let mut st = self.lock();
        loop {
            if done(&st) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = self
                .cond
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A destination and its worker.
pub struct Destination {
    uri: SyslogUri,
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl Destination {
    /// Starts the worker for `uri`, sending through `transport`.
    pub fn spawn(
        uri: SyslogUri,
        transport: Box<dyn Transport>,
        backoff: Backoff,
    ) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                frames: Deque::new(),
                sel: Deque::new(),
                sel_in_flight: None,
                sel_delivered: 0,
                in_flight: false,
                reopen: false,
                closing: false,
                exited: false,
                sent: 0,
                dropped: 0,
                failures: 0,
                connected: false,
            }),
            cond: Condvar::new(),
        });
        let worker = {
            let shared = Arc::clone(&shared);
            let uri = uri.clone();
            thread::Builder::new()
                .name(format!("syslog {uri}"))
                .spawn(move || run(&shared, transport, &uri, backoff))?
        };
        Ok(Destination {
            uri,
            shared,
            worker: Some(worker),
        })
    }

    /// The destination's URI.
    pub fn uri(&self) -> &SyslogUri {
        &self.uri
    }

    /// Queues a frame without blocking; when the queue is full the oldest frame is dropped.
    pub fn push(&self, frame: Box<[u8]>) {
        let mut st = self.shared.lock();
        if st.frames.is_full() {
            st.frames.pop_front();
            st.dropped += 1;
        }
        // Cannot fail: there is room after the pop above.
        let _ = st.frames.push_back(frame);
        drop(st);
        self.shared.cond.notify_all();
    }

    /// Room for SEL lines now.
    pub fn sel_room(&self) -> usize {
        let st = self.shared.lock();
        SEL_LANE - st.sel.len() - usize::from(st.sel_in_flight.is_some())
    }

    /// Queues a SEL line under `ticket` (increasing); `false`, and nothing queued, when the
    /// lane is full (the caller asks [`Destination::sel_room`] first).
    pub fn push_sel(&self, ticket: u64, frame: Box<[u8]>) -> bool {
        let queued = self.shared.lock().sel.push_back((ticket, frame)).is_ok();
        self.shared.cond.notify_all();
        queued
    }

    /// The newest SEL ticket this destination delivered; every older one was delivered too.
    pub fn sel_delivered(&self) -> u64 {
        self.shared.lock().sel_delivered
    }

    /// Makes the worker reopen its file or connection before the next frame (SIGHUP, as
    /// after log rotation).
    pub fn reopen(&self) {
        self.shared.lock().reopen = true;
    }

    /// Waits until every queued frame (SEL lines too) has been delivered or `deadline`
    /// passes.
    pub fn flush(&self, deadline: Instant) -> bool {
        self.shared.wait_until(deadline, |st| {
            st.frames.is_empty() && !st.in_flight && st.sel.is_empty() && st.sel_in_flight.is_none()
        })
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> DestinationStats {
        let st = self.shared.lock();
        DestinationStats {
            uri: self.uri.to_string(),
            queued: st.frames.len()
                + usize::from(st.in_flight)
                + st.sel.len()
                + usize::from(st.sel_in_flight.is_some()),
            sent: st.sent,
            dropped: st.dropped,
            failures: st.failures,
            connected: st.connected,
        }
    }

    /// Delivers what it can until `deadline`, then stops the worker. Frames still queued then
    /// are counted as dropped. Returns the final counters.
    pub fn close(mut self, deadline: Instant) -> DestinationStats {
        self.flush(deadline);
        self.shared.lock().closing = true;
        self.shared.cond.notify_all();
        // A worker blocked in a send is given until the deadline (at least a moment) to
        // notice; one still blocked after that is left to end with the process.
        let grace = deadline.max(Instant::now() + Duration::from_millis(100));
        if self.shared.wait_until(grace, |st| st.exited) {
            if let Some(w) = self.worker.take() {
                let _ = w.join();
            }
        }
        self.stats()
    }
}

impl Drop for Destination {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.cond.notify_all();
    }
}

/// A frame the worker is sending.
enum Frame {
    Catalog(Box<[u8]>),
    Sel(u64, Box<[u8]>),
}

impl Frame {
    fn bytes(&self) -> &[u8] {
        match self {
            Frame::Catalog(f) | Frame::Sel(_, f) => f,
        }
    }
}

/// The next frame to send (catalog frames first, then the SEL's lines) and whether to
/// reopen first; `None` once the destination is closing (what is left is counted).
fn next_frame(shared: &Shared, uri: &SyslogUri) -> Option<(Frame, bool)> {
    let mut st = shared.lock();
    loop {
        if st.closing {
            let left = st.frames.len() as u64;
            if left > 0 {
                log::warn!("syslog {uri}: {left} frames not delivered at shutdown");
            }
            if !st.sel.is_empty() {
                log::warn!(
                    "syslog {uri}: {} SEL lines not delivered at shutdown; they stay in the \
                     BMC and are sent after the next start",
                    st.sel.len()
                );
            }
            st.dropped += left;
            st.frames.clear();
            st.sel.clear();
            st.exited = true;
            drop(st);
            shared.cond.notify_all();
            return None;
        }
        if let Some(f) = st.frames.pop_front() {
            st.in_flight = true;
            return Some((Frame::Catalog(f), std::mem::take(&mut st.reopen)));
        }
        if let Some((ticket, f)) = st.sel.pop_front() {
            st.sel_in_flight = Some(ticket);
            return Some((Frame::Sel(ticket, f), std::mem::take(&mut st.reopen)));
        }
        st = shared.cond.wait(st).unwrap_or_else(PoisonError::into_inner);
    }
}

/// A frame was delivered.
fn delivered(shared: &Shared, frame: Frame) {
    let mut st = shared.lock();
    match frame {
        Frame::Catalog(_) => st.in_flight = false,
        Frame::Sel(ticket, _) => {
            st.sel_in_flight = None;
            st.sel_delivered = ticket;
        }
    }
    st.sent += 1;
    st.connected = true;
    drop(st);
    shared.cond.notify_all();
}

/// A frame failed: it goes back to the front of its queue (a catalog frame is dropped and
/// counted if the queue filled meanwhile; a SEL line's place was kept), then the worker
/// waits `delay` (or until closing).
fn failed(shared: &Shared, frame: Frame, delay: Duration) {
    let mut st = shared.lock();
    st.failures += 1;
    st.connected = false;
    match frame {
        Frame::Catalog(f) => {
            st.in_flight = false;
            if st.frames.is_full() {
                st.dropped += 1;
            } else {
                let _ = st.frames.push_front(f);
            }
        }
        Frame::Sel(ticket, f) => {
            st.sel_in_flight = None;
            let _ = st.sel.push_front((ticket, f));
        }
    }
    shared.cond.notify_all();
    let until = Instant::now() + delay;
    while !st.closing {
        let now = Instant::now();
        if now >= until {
            break;
        }
        st = shared
            .cond
            .wait_timeout(st, until - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

fn run(shared: &Shared, mut transport: Box<dyn Transport>, uri: &SyslogUri, backoff: Backoff) {
    let mut delay = backoff.initial;
    let mut outage_since: Option<Instant> = None;
    while let Some((frame, reopen)) = next_frame(shared, uri) {
        shared.cond.notify_all();
        if reopen {
            transport.reset();
        }
        match transport.send(frame.bytes()) {
            Ok(()) => {
                delivered(shared, frame);
                if let Some(since) = outage_since.take() {
                    log::info!(
                        "syslog {uri}: delivering again after {} ms",
                        since.elapsed().as_millis()
                    );
                }
                delay = backoff.initial;
            }
            Err(err) => {
                transport.reset();
                if outage_since.is_none() {
                    outage_since = Some(Instant::now());
                    log::warn!(
                        "syslog {uri}: {err}; holding up to {QUEUE_CAPACITY} frames and retrying"
                    );
                }
                failed(shared, frame, delay);
                delay = (delay * 2).min(backoff.max);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A transport whose receiver can be taken down and brought back, recording what arrives.
    #[derive(Clone, Default)]
    struct Fake {
        inner: Arc<Mutex<FakeState>>,
    }
    #[derive(Default)]
    struct FakeState {
        down: bool,
        received: Vec<Vec<u8>>,
        resets: usize,
    }
    impl Transport for Fake {
        fn send(&mut self, frame: &[u8]) -> io::Result<()> {
            let mut s = self.inner.lock().unwrap();
            if s.down {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "receiver down",
                ));
            }
            s.received.push(frame.to_vec());
            Ok(())
        }
        fn reset(&mut self) {
            self.inner.lock().unwrap().resets += 1;
        }
    }

    const FAST: Backoff = Backoff {
        initial: Duration::from_millis(1),
        max: Duration::from_millis(5),
    };

    fn frame(i: usize) -> Box<[u8]> {
        format!("frame {i}").into_bytes().into_boxed_slice()
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    fn uri() -> SyslogUri {
        SyslogUri::Stderr
    }

    #[test]
    fn delivers_in_order() {
        let fake = Fake::default();
        let d = Destination::spawn(uri(), Box::new(fake.clone()), FAST).unwrap();
        for i in 0..50 {
            d.push(frame(i));
        }
        assert!(d.flush(deadline()));
        let got = fake.inner.lock().unwrap().received.clone();
        assert_eq!(got, (0..50).map(|i| frame(i).to_vec()).collect::<Vec<_>>());
        let st = d.close(deadline());
        assert_eq!((st.sent, st.dropped, st.queued), (50, 0, 0));
    }

    #[test]
    fn outage_keeps_the_newest_frames_and_counts_the_rest() {
        let fake = Fake::default();
        fake.inner.lock().unwrap().down = true;
        let d = Destination::spawn(uri(), Box::new(fake.clone()), FAST).unwrap();
        let extra = 37;
        let total = QUEUE_CAPACITY + extra;
        for i in 0..total {
            d.push(frame(i));
        }
        // Let the worker fail a few times against the full queue before the receiver returns.
        assert!(d.shared.wait_until(deadline(), |st| st.failures >= 3));
        fake.inner.lock().unwrap().down = false;
        assert!(d.flush(deadline()));
        let st = d.stats();
        let s = fake.inner.lock().unwrap();
        assert!(s.resets >= 3, "each failure resets the transport");
        assert_eq!(st.sent as usize + st.dropped as usize, total, "{st:?}");
        assert_eq!(st.dropped as usize, extra, "{st:?}");
        let want: Vec<Vec<u8>> = (extra..total).map(|i| frame(i).to_vec()).collect();
        assert_eq!(
            s.received, want,
            "the newest QUEUE_CAPACITY frames, in order"
        );
    }

    #[test]
    fn push_never_blocks_on_a_stuck_transport() {
        /// A transport that blocks in send until the test lets it go.
        struct Stuck(Arc<Mutex<()>>);
        impl Transport for Stuck {
            fn send(&mut self, _: &[u8]) -> io::Result<()> {
                let _g = self.0.lock().unwrap();
                Ok(())
            }
            fn reset(&mut self) {}
        }
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let d =
            Arc::new(Destination::spawn(uri(), Box::new(Stuck(Arc::clone(&gate))), FAST).unwrap());
        let (tx, rx) = mpsc::channel();
        d.push(frame(0));
        assert!(
            d.shared
                .wait_until(deadline(), |st| st.in_flight && st.frames.is_empty())
        );
        let d2 = Arc::clone(&d);
        thread::spawn(move || {
            for i in 1..(QUEUE_CAPACITY * 4) {
                d2.push(frame(i));
            }
            tx.send(()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("push blocked behind a stuck transport");
        let st = d.stats();
        // One frame is in the stuck send; the queue holds the newest QUEUE_CAPACITY.
        assert_eq!(st.queued, QUEUE_CAPACITY + 1);
        assert_eq!(st.dropped as usize, QUEUE_CAPACITY * 4 - QUEUE_CAPACITY - 1);
        drop(held);
        assert!(d.flush(deadline()));
    }

    #[test]
    fn close_counts_undeliverable_frames_as_dropped() {
        let fake = Fake::default();
        fake.inner.lock().unwrap().down = true;
        let d = Destination::spawn(uri(), Box::new(fake), FAST).unwrap();
        for i in 0..10 {
            d.push(frame(i));
        }
        let st = d.close(Instant::now() + Duration::from_millis(50));
        assert_eq!((st.sent, st.dropped, st.queued), (0, 10, 0));
    }
}
