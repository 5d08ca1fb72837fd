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

/// A [`UdpProxy`] that loses a fraction of the datagrams, both ways (seeded: the same run
/// loses the same datagrams).
pub struct LossyProxy {
    /// The port clients send to.
    pub port: u16,
    _proxy: UdpProxy,
    /// Datagrams dropped so far.
    pub dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl LossyProxy {
    /// Forwards 127.0.0.1:`port` (chosen here) to 127.0.0.1:`target`, dropping `loss` (0-1)
    /// of the datagrams in each direction.
    pub fn start(target: u16, loss: f64, seed: u64) -> LossyProxy {
        use std::sync::{
            Arc,
            atomic::{AtomicU64, Ordering},
        };
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&dropped);
        let mut rng = Rng::new(seed);
        let proxy = UdpProxy::start(target, move |_, d| {
            if rng.unit() < loss {
                counted.fetch_add(1, Ordering::Relaxed);
                vec![]
            } else {
                vec![d.to_vec()]
            }
        });
        LossyProxy {
            port: proxy.port,
            _proxy: proxy,
            dropped,
        }
    }
}
