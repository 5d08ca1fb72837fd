//! Syslog receivers that misbehave: a TCP receiver that accepts and never reads, one that
//! resets every connection, and a unix socket that disappears (and is replaced by something
//! that is not a socket). What must hold: emitting never blocks the caller (the poll loop),
//! memory stays bounded (the queue), every frame is either delivered whole or counted as
//! dropped, and delivery resumes by itself once the receiver behaves.

use envmon_agent::syslog::{Backoff, QUEUE_CAPACITY, Syslog, SyslogConfig, SyslogUri};
use envmon_core::{
    Prefix,
    frame::{Facility, FrameFormat},
};
use envmon_tests::wait_for;
use std::{
    io::{ErrorKind, Read},
    net::{TcpListener, TcpStream},
    os::unix::net::UnixDatagram,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

const WAIT: Duration = Duration::from_secs(30);

fn start(dest: SyslogUri) -> Syslog {
    Syslog::start(&SyslogConfig {
        destinations: vec![dest],
        format: FrameFormat::Rfc3164,
        facility: Facility::Local4,
        hostname: "envmon-test-host".into(),
        prefix: Prefix::Ftd,
        backoff: Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
        },
    })
    .unwrap()
}

/// Emits `735001` for fan `from..to` on another thread and returns how long that took, or
/// fails if it takes longer than `bound` (an emit that blocks on the receiver would).
fn emit_all(s: &Arc<Syslog>, from: usize, to: usize, bound: Duration) -> Duration {
    let (tx, rx) = mpsc::channel();
    let s = Arc::clone(s);
    thread::spawn(move || {
        let t = Instant::now();
        for i in from..to {
            s.emit(735001, &[&i.to_string()]).unwrap();
        }
        let _ = tx.send(t.elapsed());
    });
    rx.recv_timeout(bound)
        .unwrap_or_else(|_| panic!("emitting {} frames took over {bound:?}", to - from))
}

/// The fan numbers of the complete octet-counted frames in `bytes` (RFC 6587), in order; a
/// frame cut short at the end of the stream (a write that timed out) is left out.
fn fans_in(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(sp) = rest.iter().position(|&b| b == b' ') {
        let Some(len) = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
        else {
            panic!("not octet counting: {:?}", String::from_utf8_lossy(rest));
        };
        let Some(frame) = rest.get(sp + 1..sp + 1 + len) else {
            break; // cut short
        };
        let text = String::from_utf8_lossy(frame);
        let fan = text
            .split("Cooling Fan ")
            .nth(1)
            .and_then(|t| t.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not one of ours: {text}"));
        out.push(fan);
        rest = &rest[sp + 1 + len..];
    }
    out
}

/// A TCP receiver: accepts every connection and, while `reading` is off, reads nothing.
/// Keeps each connection's bytes. With `reset_every`, closes each connection once it has
/// read that many frames from it (whatever else is on the way is lost, as when a relay
/// restarts: the kernel answers with a reset).
struct Receiver {
    port: u16,
    reading: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(reading: bool, reset_every: Option<usize>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let reading = Arc::new(AtomicBool::new(reading));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, st, sp) = (
            Arc::clone(&reading),
            Arc::clone(&streams),
            Arc::clone(&stop),
        );
        let thread = thread::spawn(move || {
            let mut open: Vec<(usize, TcpStream)> = Vec::new();
            let mut buf = vec![0u8; 65536];
            while !sp.load(Ordering::Relaxed) {
                if let Ok((s, _)) = listener.accept() {
                    s.set_nonblocking(true).unwrap();
                    let mut all = st.lock().unwrap();
                    all.push(Vec::new());
                    open.push((all.len() - 1, s));
                }
                if r.load(Ordering::Relaxed) {
                    open.retain_mut(|(i, s)| {
                        loop {
                            match s.read(&mut buf) {
                                Ok(0) => break false,
                                Ok(n) => {
                                    let mut all = st.lock().unwrap();
                                    all[*i].extend_from_slice(&buf[..n]);
                                    if reset_every.is_some_and(|k| fans_in(&all[*i]).len() >= k) {
                                        break false;
                                    }
                                }
                                Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
                                Err(_) => break false,
                            }
                        }
                    });
                }
                thread::sleep(Duration::from_millis(2));
            }
        });
        Receiver {
            port,
            reading,
            streams,
            stop,
            thread: Some(thread),
        }
    }

    fn uri(&self) -> SyslogUri {
        SyslogUri::Tcp {
            host: "127.0.0.1".into(),
            port: self.port,
        }
    }

    fn connections(&self) -> usize {
        self.streams.lock().unwrap().len()
    }

    /// Each connection's complete frames.
    fn fans(&self) -> Vec<Vec<usize>> {
        self.streams
            .lock()
            .unwrap()
            .iter()
            .map(|b| fans_in(b))
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every frame delivered whole at most once (a frame cut short by a write timeout is sent
/// again whole on the next connection), in order on each connection, and the counters add
/// up: delivered + dropped = emitted.
fn check_accounting(per_conn: &[Vec<usize>], sent: u64, dropped: u64, total: usize) {
    let mut all: Vec<usize> = Vec::new();
    for (i, c) in per_conn.iter().enumerate() {
        assert!(
            c.windows(2).all(|w| w[0] < w[1]),
            "connection {i}: out of order"
        );
        all.extend(c);
    }
    let delivered = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), delivered, "a frame delivered twice");
    assert_eq!(delivered as u64, sent, "sent = frames received whole");
    assert_eq!(sent + dropped, total as u64, "sent + dropped = emitted");
}

#[test]
fn a_tcp_receiver_that_never_reads_blocks_nothing_and_every_frame_is_counted() {
    let r = Receiver::start(false, None);
    let s = Arc::new(start(r.uri()));
    // Frames go out in batches until the kernel's buffers are full and the sender's write
    // stalls (no progress for 300 ms): a few MB on loopback.
    let batch = 2_000;
    let mut total = 0;
    loop {
        emit_all(&s, total, total + batch, WAIT);
        total += batch;
        let before = s.stats().remove(0);
        thread::sleep(Duration::from_millis(300));
        if s.stats().remove(0).sent == before.sent && before.queued > 0 {
            break;
        }
        assert!(total < 2_000_000, "the receiver took {total} frames");
    }
    // Then ten times the queue more: they cannot all wait.
    let took = emit_all(&s, total, total + 10 * QUEUE_CAPACITY, WAIT);
    total += 10 * QUEUE_CAPACITY;
    eprintln!("the sender stalled after {total} frames; emitting the last batch took {took:?}");
    let st = s.stats().remove(0);
    assert!(
        st.queued <= QUEUE_CAPACITY + 1,
        "the queue and the one in flight: {st:?}"
    );
    assert!(st.dropped > 0, "the queue overflowed: {st:?}");
    // The receiver starts reading: the queue drains by itself.
    r.reading.store(true, Ordering::Relaxed);
    assert!(s.flush(WAIT), "not drained: {:?}", s.stats());
    let s = Arc::into_inner(s).unwrap();
    let st = s.close(WAIT).remove(0);
    // The last bytes reach the reader.
    let per_conn = wait_for(WAIT, || {
        let f = r.fans();
        (f.iter().map(Vec::len).sum::<usize>() as u64 == st.sent).then_some(f)
    })
    .unwrap_or_else(|| r.fans());
    eprintln!(
        "{} connections; sent {}, dropped {}, failures {}",
        r.connections(),
        st.sent,
        st.dropped,
        st.failures
    );
    check_accounting(&per_conn, st.sent, st.dropped, total);
    // The newest frames are the ones kept.
    assert_eq!(per_conn.iter().flatten().max(), Some(&(total - 1)));
}

#[test]
fn a_unix_socket_that_disappears_then_comes_back_loses_only_what_overflowed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let rx = UnixDatagram::bind(&path).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let s = Arc::new(start(SyslogUri::Unix(path.clone())));
    s.emit(735005, &[]).unwrap();
    assert!(rx.recv(&mut [0u8; 2048]).is_ok(), "warm-up frame");

    // The daemon goes away and its socket with it; then something that is not a socket
    // takes the path (a file), then nothing again.
    drop(rx);
    std::fs::remove_file(&path).unwrap();
    let extra = 44;
    let total = QUEUE_CAPACITY + extra;
    emit_all(&s, 0, total / 2, WAIT);
    std::fs::write(&path, "not a socket").unwrap();
    emit_all(&s, total / 2, total, WAIT);
    let settled = wait_for(WAIT, || {
        let st = s.stats().remove(0);
        (st.queued == QUEUE_CAPACITY && st.failures > 1).then_some(st)
    })
    .unwrap_or_else(|| panic!("never settled: {:?}", s.stats()));
    assert_eq!(settled.dropped as usize, extra, "{settled:?}");
    std::fs::remove_file(&path).unwrap();

    // A new daemon binds the path: the newest QUEUE_CAPACITY frames arrive, in order, once.
    let rx = UnixDatagram::bind(&path).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let reader = thread::spawn(move || {
        let mut fans = Vec::new();
        let mut buf = [0u8; 2048];
        while let Ok(n) = rx.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let fan = text
                .split("Cooling Fan ")
                .nth(1)
                .and_then(|t| t.split(':').next())
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("{text}"));
            fans.push(fan);
            if fans.len() == QUEUE_CAPACITY {
                break;
            }
        }
        fans
    });
    assert!(s.flush(WAIT), "not drained: {:?}", s.stats());
    let fans = reader.join().unwrap();
    assert_eq!(fans, (extra..total).collect::<Vec<_>>());
    let s = Arc::into_inner(s).unwrap();
    let st = s.close(WAIT).remove(0);
    assert_eq!(
        (st.sent as usize, st.dropped as usize),
        (1 + QUEUE_CAPACITY, extra)
    );
}

/// A relay that closes every connection after 50 frames, with more on the way. The sender
/// notices before its next frame (or its write fails), counts the failure and connects
/// again; frames it had handed to the kernel after the relay's last read are lost without
/// an error anywhere: plain TCP syslog (RFC 6587) has no acknowledgement. The test measures
/// that loss and holds it to what was in flight at each close.
#[test]
fn a_tcp_receiver_that_resets_is_reconnected_and_the_loss_is_only_what_was_in_flight() {
    let every = 50;
    let r = Receiver::start(true, Some(every));
    let s = start(r.uri());
    let total = 1_000;
    for i in 0..total {
        s.emit(735001, &[&i.to_string()]).unwrap();
        thread::sleep(Duration::from_millis(1));
    }
    assert!(s.flush(WAIT), "not drained: {:?}", s.stats());
    let st = s.close(WAIT).remove(0);
    let per_conn = wait_for(Duration::from_secs(2), || {
        let f = r.fans();
        (f.iter().map(Vec::len).sum::<usize>() as u64 == st.sent).then_some(f)
    })
    .unwrap_or_else(|| r.fans());
    let delivered: usize = per_conn.iter().map(Vec::len).sum();
    let lost = st.sent as usize - delivered;
    eprintln!(
        "{} connections, {} failures noticed; sent {}, delivered {delivered}, lost in flight {lost}, dropped {}",
        per_conn.len(),
        st.failures,
        st.sent,
        st.dropped
    );
    assert!(
        per_conn.len() >= total / every,
        "it connected again each time"
    );
    assert_eq!(st.sent + st.dropped, total as u64);
    // A connection loses only its tail: the frames in flight when the relay closed it. A gap
    // inside one can only be the queue overflowing (paced at 1 ms, it does not unless this
    // machine stalls the sender for 256 ms), and is counted as dropped.
    let conns: Vec<&Vec<usize>> = per_conn.iter().filter(|c| !c.is_empty()).collect();
    let gap = |a: usize, b: usize| b - a - 1;
    let inside: usize = conns
        .iter()
        .flat_map(|c| c.windows(2).map(|w| gap(w[0], w[1])))
        .sum();
    let at_resets: usize = conns
        .windows(2)
        .map(|w| gap(w[0][w[0].len() - 1], w[1][0]))
        .sum();
    assert!(inside as u64 <= st.dropped, "a gap inside a connection");
    assert_eq!(conns[0][0], 0, "the first frame arrived");
    assert_eq!(
        conns[conns.len() - 1].last(),
        Some(&(total - 1)),
        "and the last"
    );
    assert_eq!(
        (inside + at_resets) as u64,
        lost as u64 + st.dropped,
        "lost only at a reset"
    );
}
