//! UDP proxies in front of a BMC (rewriting or losing datagrams) and the seeded RNG they use.

use super::*;

/// Which way a datagram goes through a [`UdpProxy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Client to BMC.
    ToBmc,
    /// BMC to client.
    ToClient,
}

/// A UDP proxy on loopback in front of a BMC: every datagram goes through a function that
/// says what to send on instead (nothing, the datagram, or any other datagrams). Stops on
/// drop.
pub struct UdpProxy {
    /// The port clients send to.
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl UdpProxy {
    /// Forwards 127.0.0.1:`port` (chosen here) to 127.0.0.1:`target` through `f`.
    pub fn start(
        target: u16,
        mut f: impl FnMut(Way, &[u8]) -> Vec<Vec<u8>> + Send + 'static,
    ) -> UdpProxy {
        use std::sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        };
        let port = free_port();
        let front = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").unwrap();
        back.connect(("127.0.0.1", target)).unwrap();
        front
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        back.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut client = None;
            let mut buf = [0u8; 4096];
            while !stop2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = front.recv_from(&mut buf) {
                    client = Some(from);
                    for d in f(Way::ToBmc, &buf[..n]) {
                        let _ = back.send(&d);
                    }
                }
                if let (Ok(n), Some(c)) = (back.recv(&mut buf), client) {
                    for d in f(Way::ToClient, &buf[..n]) {
                        let _ = front.send_to(&d, c);
                    }
                }
            }
        });
        UdpProxy {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A seeded xorshift64* generator: the same seed, the same run.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next 64 bits.
    pub fn bits(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in 0..1.
    pub fn unit(&mut self) -> f64 {
        (self.bits() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number below `n` (> 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.bits() % n as u64) as usize
    }
}

/// What a [`LinkProxy`] does to each datagram, each way: held for a delay drawn from
/// `delay_ms` (so datagrams overtake each other: reordering comes with a delay range), or
/// lost with probability `loss`. Seeded: the same seed, the same run.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// The delay range, milliseconds (inclusive).
    pub delay_ms: (u64, u64),
    /// The fraction lost (0 to 1).
    pub loss: f64,
    /// The RNG's seed.
    pub seed: u64,
}

/// The one seeded slow and lossy link of the test library: a UDP proxy on loopback in front
/// of a BMC that delays, loses and reorders datagrams both ways as its [`Link`] says, each
/// datagram on its own timer (a slow datagram does not hold up the next). Stops on drop.
pub struct LinkProxy {
    /// The port clients send to.
    pub port: u16,
    /// Datagrams lost so far.
    pub dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Datagrams that went from the client to the BMC.
    pub to_bmc: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl LinkProxy {
    /// Forwards 127.0.0.1:`port` (chosen here) to 127.0.0.1:`target` over `link`.
    pub fn start(target: u16, link: Link) -> LinkProxy {
        use std::{
            cmp::Reverse,
            collections::BinaryHeap,
            sync::{
                Arc,
                atomic::{AtomicBool, AtomicU64, Ordering},
            },
            time::Instant,
        };
        let port = free_port();
        let front = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").unwrap();
        back.connect(("127.0.0.1", target)).unwrap();
        front.set_nonblocking(true).unwrap();
        back.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (dropped, to_bmc) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (stop2, dropped2, to_bmc2) = (stop.clone(), dropped.clone(), to_bmc.clone());
        let thread = thread::spawn(move || {
            let mut rng = Rng::new(link.seed);
            let (lo, hi) = (link.delay_ms.0, link.delay_ms.1.max(link.delay_ms.0));
            // (release time, order, to the BMC?, datagram)
            type Held = Reverse<(Instant, u64, bool, Vec<u8>)>;
            let mut held: BinaryHeap<Held> = BinaryHeap::new();
            let mut order = 0u64;
            let mut client = None;
            let mut buf = [0u8; 4096];
            while !stop2.load(Ordering::Relaxed) {
                let mut busy = false;
                let mut hold = |held: &mut BinaryHeap<_>, to_bmc: bool, d: &[u8], rng: &mut Rng| {
                    if rng.unit() < link.loss {
                        dropped2.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    let delay = lo + rng.bits() % (hi - lo + 1);
                    order += 1;
                    let at = Instant::now() + Duration::from_millis(delay);
                    held.push(Reverse((at, order, to_bmc, d.to_vec())));
                };
                if let Ok((n, from)) = front.recv_from(&mut buf) {
                    client = Some(from);
                    to_bmc2.fetch_add(1, Ordering::Relaxed);
                    hold(&mut held, true, &buf[..n], &mut rng);
                    busy = true;
                }
                if let Ok(n) = back.recv(&mut buf) {
                    hold(&mut held, false, &buf[..n], &mut rng);
                    busy = true;
                }
                while held.peek().is_some_and(|Reverse(h)| h.0 <= Instant::now()) {
                    let Some(Reverse((_, _, up, d))) = held.pop() else {
                        break;
                    };
                    if up {
                        let _ = back.send(&d);
                    } else if let Some(c) = client {
                        let _ = front.send_to(&d, c);
                    }
                }
                if !busy {
                    thread::sleep(Duration::from_micros(200));
                }
            }
        });
        LinkProxy {
            port,
            dropped,
            to_bmc,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A [`LinkProxy`] that only loses a fraction of the datagrams, both ways.
pub struct LossyProxy {
    /// The port clients send to.
    pub port: u16,
    /// Datagrams dropped so far.
    pub dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
    _proxy: LinkProxy,
}

impl LossyProxy {
    /// Forwards 127.0.0.1:`port` (chosen here) to 127.0.0.1:`target`, dropping `loss` (0-1)
    /// of the datagrams in each direction.
    pub fn start(target: u16, loss: f64, seed: u64) -> LossyProxy {
        let proxy = LinkProxy::start(
            target,
            Link {
                delay_ms: (0, 0),
                loss,
                seed,
            },
        );
        LossyProxy {
            port: proxy.port,
            dropped: proxy.dropped.clone(),
            _proxy: proxy,
        }
    }
}
