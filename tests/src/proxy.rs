//! UDP proxies in front of a BMC (rewriting or losing datagrams) and the seeded RNG they use.

use super::*;
use std::io::{Read, Write};

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

/// What an [`HttpProxy`] does with each request.
#[derive(Debug, Clone, Copy)]
pub enum HttpMode {
    /// Passes it to the service and the answer back.
    Pass,
    /// Answers `401 Unauthorized` itself (a password rotated on the BMC).
    Refuse,
    /// Answers requests whose path contains the text with this status itself (a resource
    /// that fails); passes the others.
    Fail(&'static str, u16),
    /// Passes requests and rewrites the body of the answers to those whose path contains
    /// the text: `edit(n, body)`, `n` counting those answers from 0 since the mode was set (a
    /// sensor that glitches, a reading that changes).
    Edit(&'static str, fn(u64, &str) -> String),
    /// Answers every request this many milliseconds late (a slow BMC).
    Delay(u64),
    /// Answers requests whose path contains the text `503 Service Unavailable` with
    /// `Retry-After` of this many seconds itself (a busy resource); passes the others.
    Busy(&'static str, u64),
}

/// A controllable Redfish service: an HTTP proxy on loopback in front of a real one
/// (sushy-static), whose mode the test switches. Each client connection is served on a
/// thread of its own: one request per connection, or, when started with
/// [`HttpProxy::keeping`], as many as the client sends (HTTP/1.1 keep-alive towards the
/// client; sushy-static is asked one request per connection as before). It answers
/// `$expand` itself ([`crate::expand`]; sushy-static answers any query string 404) unless told
/// not to ([`HttpProxy::without_expand`]). Counts the client's connections. Stops on drop.
pub struct HttpProxy {
    /// The port clients connect to.
    pub port: u16,
    /// Client connections accepted so far.
    pub connections: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Client requests answered so far.
    pub requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Its Redfish sessions, when it asks for them ([`HttpProxy::require_sessions`]).
    pub sessions: std::sync::Arc<std::sync::Mutex<ProxySessions>>,
    connect_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    expand: std::sync::Arc<std::sync::atomic::AtomicBool>,
    mode: std::sync::Arc<std::sync::Mutex<HttpMode>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

/// The Redfish sessions of an [`HttpProxy`] that asks for them: a login (POST to
/// `/redfish/v1/SessionService/Sessions`) gives a token; every other request needs a live
/// one (else 401); a DELETE of the session ends it.
#[derive(Debug, Default)]
pub struct ProxySessions {
    /// Asking for sessions (off: requests pass without a token).
    pub required: bool,
    /// Live tokens.
    pub live: Vec<String>,
    /// Logins so far.
    pub logins: u64,
    /// Sessions deleted by their client so far.
    pub logouts: u64,
}

/// A client connection, plain or TLS.
trait Duplex: Read + Write + Send {}
impl<T: Read + Write + Send> Duplex for T {}

/// A TLS server configuration of a certificate and its PKCS #8 key, both DER (as
/// [`crate::certificates`] writes them beside the PEM files).
pub fn tls_server(cert_der: &std::path::Path, key_der: &std::path::Path) -> TlsServer {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let cert = CertificateDer::from(std::fs::read(cert_der).unwrap());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(std::fs::read(key_der).unwrap()));
    // ring, as the agent's client (sensors' tls.rs; its post-quantum successor is aws-lc).
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    std::sync::Arc::new(config)
}

/// What [`HttpProxy::tls`] serves TLS with.
pub type TlsServer = std::sync::Arc<rustls::ServerConfig>;

/// What one client connection of an [`HttpProxy`] shares with the others.
#[derive(Clone)]
struct ProxyShared {
    target: u16,
    keep: bool,
    /// TLS towards the client, or none.
    tls: Option<TlsServer>,
    sessions: std::sync::Arc<std::sync::Mutex<ProxySessions>>,
    mode: std::sync::Arc<std::sync::Mutex<HttpMode>>,
    /// Answers edited so far (`HttpMode::Edit` counts them), reset by another mode.
    edits: std::sync::Arc<std::sync::Mutex<u64>>,
    /// Milliseconds each new connection waits before its first answer (a BMC's TLS
    /// handshake on its small CPU).
    connect_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Whether it expands answers (`$expand`, [`crate::expand`]); off, it passes the query on
    /// and its root says nothing of `ExpandQuery`.
    expand: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Client requests answered so far.
    requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HttpProxy {
    /// Forwards 127.0.0.1:`port` (chosen here) to 127.0.0.1:`target`, one request per
    /// connection.
    pub fn start(target: u16) -> HttpProxy {
        HttpProxy::serve(target, false, None)
    }

    /// [`HttpProxy::start`], keeping each client connection open for its next requests.
    pub fn keeping(target: u16) -> HttpProxy {
        HttpProxy::serve(target, true, None)
    }

    /// [`HttpProxy::start`] or [`HttpProxy::keeping`] (`keep`), serving its clients over
    /// TLS ([`tls_server`]).
    pub fn tls(target: u16, keep: bool, tls: TlsServer) -> HttpProxy {
        HttpProxy::serve(target, keep, Some(tls))
    }

    fn serve(target: u16, keep: bool, tls: Option<TlsServer>) -> HttpProxy {
        use std::sync::{Arc, Mutex, atomic::AtomicBool, atomic::AtomicU64, atomic::Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = ProxyShared {
            target,
            keep,
            tls,
            mode: Arc::new(Mutex::new(HttpMode::Pass)),
            sessions: Arc::default(),
            edits: Arc::new(Mutex::new(0)),
            connect_ms: Arc::new(AtomicU64::new(0)),
            expand: Arc::new(AtomicBool::new(true)),
            requests: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let connections = Arc::new(AtomicU64::new(0));
        let (sh, count) = (shared.clone(), Arc::clone(&connections));
        let thread = thread::spawn(move || {
            while !sh.stop.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                count.fetch_add(1, Ordering::Relaxed);
                let sh = sh.clone();
                thread::spawn(move || sh.connection(client));
            }
        });
        HttpProxy {
            port,
            connections,
            requests: shared.requests,
            connect_ms: shared.connect_ms,
            expand: shared.expand,
            sessions: shared.sessions,
            mode: shared.mode,
            stop: shared.stop,
            thread: Some(thread),
        }
    }

    /// Makes each new connection wait `ms` before its first answer (what a TLS handshake
    /// costs on a BMC's CPU), from now on.
    pub fn set_connect_delay(&self, ms: u64) {
        self.connect_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Makes it a service that does not expand, from now on: a query goes on to
    /// sushy-static (which answers 404) and the root says nothing of `ExpandQuery`.
    pub fn without_expand(&self) {
        self.expand
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Asks for Redfish sessions from now on ([`ProxySessions`]).
    pub fn require_sessions(&self) {
        self.session_state().required = true;
    }

    /// Ends every session (as a BMC restart or a session timeout does).
    pub fn expire_sessions(&self) {
        self.session_state().live.clear();
    }

    /// The sessions' state.
    pub fn session_state(&self) -> std::sync::MutexGuard<'_, ProxySessions> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Switches what it does with the next requests (an `Edit` set anew counts from 0
    /// once another mode was in between).
    pub fn set(&self, mode: HttpMode) {
        *self
            .mode
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = mode;
    }
}

impl ProxyShared {
    /// Serves one client connection: its requests until it closes (or one, without
    /// keep-alive).
    fn connection(&self, tcp: TcpStream) {
        let _ = tcp.set_nonblocking(false);
        let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
        let handshake = self.connect_ms.load(std::sync::atomic::Ordering::Relaxed);
        if handshake > 0 {
            thread::sleep(Duration::from_millis(handshake));
        }
        // TLS (its handshake at the first read), or plain.
        let mut client: Box<dyn Duplex> = match &self.tls {
            None => Box::new(tcp),
            Some(config) => match rustls::ServerConnection::new(std::sync::Arc::clone(config)) {
                Ok(c) => Box::new(rustls::StreamOwned::new(c, tcp)),
                Err(_) => return,
            },
        };
        loop {
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 65536 {
                match client.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let answer = self.session(&req).unwrap_or_else(|| self.answer(&req));
            let closing = String::from_utf8_lossy(&req)
                .to_ascii_lowercase()
                .contains("\r\nconnection: close");
            let sent = client.write_all(&answer).and_then(|()| client.flush());
            if sent.is_err() || !self.keep || closing {
                return;
            }
            if self.stop.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
        }
    }

    /// The answer of the session service, when sessions are asked for: a login, a logout,
    /// or a 401 for a request without a live token; none to pass the request on.
    fn session(&self, req: &[u8]) -> Option<Vec<u8>> {
        let text = String::from_utf8_lossy(req);
        let mut st = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !st.required {
            return None;
        }
        let mut words = text.split(' ');
        let (method, path) = (
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default(),
        );
        let token = text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-auth-token")
                .then(|| v.trim().to_string())
        });
        let answer = |head: String| Some(format!("{head}Content-Length: 0\r\n\r\n").into_bytes());
        if method == "POST" && path == "/redfish/v1/SessionService/Sessions" {
            st.logins += 1;
            let n = st.logins;
            st.live.push(format!("token-{n}"));
            return answer(format!(
                "HTTP/1.1 201 Created\r\nX-Auth-Token: token-{n}\r\n\
                 Location: /redfish/v1/SessionService/Sessions/{n}\r\n"
            ));
        }
        let Some(t) = token.filter(|t| st.live.contains(t)) else {
            return answer("HTTP/1.1 401 Unauthorized\r\n".into());
        };
        if method == "DELETE" && path.starts_with("/redfish/v1/SessionService/Sessions/") {
            st.live.retain(|l| *l != t);
            st.logouts += 1;
            return answer("HTTP/1.1 204 No Content\r\n".into());
        }
        None
    }

    /// The answer to one request, as the mode says.
    fn answer(&self, req: &[u8]) -> Vec<u8> {
        let now = *self
            .mode
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let line = String::from_utf8_lossy(req);
        let path = line.split(' ').nth(1).unwrap_or_default().to_string();
        let (status, retry) = match now {
            HttpMode::Refuse => (Some(401), None),
            HttpMode::Fail(text, status) if path.contains(text) => (Some(status), None),
            HttpMode::Busy(text, secs) if path.contains(text) => (Some(503), Some(secs)),
            _ => (None, None),
        };
        let close = if self.keep {
            ""
        } else {
            "Connection: close\r\n"
        };
        if let Some(status) = status {
            let retry = retry.map_or(String::new(), |s| format!("Retry-After: {s}\r\n"));
            return format!("HTTP/1.1 {status} Refused\r\n{retry}Content-Length: 0\r\n{close}\r\n")
                .into_bytes();
        }
        if let HttpMode::Delay(ms) = now {
            thread::sleep(Duration::from_millis(ms));
        }
        let (bare, query) = path.split_once('?').unwrap_or((path.as_str(), ""));
        let expanding = self.expand.load(std::sync::atomic::Ordering::Relaxed);
        if let Some((levels, links)) = crate::expand::expand_query(query).filter(|_| expanding) {
            return self.expanded(bare, levels, links, now, close);
        }
        let mut answer = self.upstream(req);
        if !expanding && bare.trim_end_matches('/') == "/redfish/v1" {
            answer = edited(&answer, crate::expand::without_expand);
        }
        answer = self.edit(&path, answer, now);
        if self.keep {
            answer = kept(&answer);
        }
        answer
    }

    /// The service's answer to `req` (sushy-static is asked one request per connection,
    /// whatever the client does).
    fn upstream(&self, req: &[u8]) -> Vec<u8> {
        let Ok(mut up) = TcpStream::connect(("127.0.0.1", self.target)) else {
            return Vec::new();
        };
        let _ = up.set_read_timeout(Some(Duration::from_secs(5)));
        let mut upstream = req.to_vec();
        if let Some(at) = upstream.windows(4).position(|w| w == b"\r\n\r\n") {
            upstream.splice(at + 2..at + 2, b"Connection: close\r\n".iter().copied());
        }
        let _ = up.write_all(&upstream);
        let mut answer = Vec::new();
        let _ = up.read_to_end(&mut answer);
        answer
    }

    /// `answer` to a request for `path`, rewritten as an `Edit` mode says.
    fn edit(&self, path: &str, answer: Vec<u8>, now: HttpMode) -> Vec<u8> {
        let mut edits = self
            .edits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let edit: Option<fn(u64, &str) -> String> = match now {
            HttpMode::Edit(text, edit) if path.contains(text) => Some(edit),
            HttpMode::Edit(..) => None,
            _ => {
                *edits = 0;
                None
            }
        };
        let Some(edit) = edit else {
            return answer;
        };
        let n = *edits;
        *edits += 1;
        edited(&answer, |body| edit(n, body))
    }

    /// The resource at `path` expanded `levels` deep ([`crate::expand`]), each resource in
    /// it read from the service (and rewritten as an `Edit` mode says).
    fn expanded(&self, path: &str, levels: u8, links: bool, now: HttpMode, close: &str) -> Vec<u8> {
        let mut get = |p: &str| {
            // A resource the mode fails is left a link (as a BMC leaves out what it cannot
            // read).
            if matches!(now, HttpMode::Fail(text, _) | HttpMode::Busy(text, _) if p.contains(text))
            {
                return None;
            }
            let req = format!("GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            let answer = self.edit(p, self.upstream(req.as_bytes()), now);
            let end = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
            if !(answer.starts_with(b"HTTP/1.0 200") || answer.starts_with(b"HTTP/1.1 200")) {
                return None;
            }
            serde_json::from_slice::<serde_json::Value>(&answer[end + 4..]).ok()
        };
        let Some(mut v) = get(path) else {
            return format!("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n{close}\r\n")
                .into_bytes();
        };
        crate::expand::expand(&mut v, levels, links, &mut get);
        let body = v.to_string();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             {close}\r\n{body}",
            body.len()
        )
        .into_bytes()
    }
}

/// An answer made fit to keep the connection: HTTP/1.1, its length said, no
/// `Connection: close`.
fn kept(answer: &[u8]) -> Vec<u8> {
    let out = edited(answer, str::to_string);
    let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") else {
        return out;
    };
    let head = String::from_utf8_lossy(&out[..end]);
    let mut lines: Vec<String> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(str::to_string)
        .collect();
    if let Some(first) = lines.first_mut() {
        *first = first.replacen("HTTP/1.0", "HTTP/1.1", 1);
    }
    let mut bytes = format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes();
    bytes.extend_from_slice(&out[end + 4..]);
    bytes
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An HTTP/1.x answer with its body rewritten by `edit` and its length said again (a chunked
/// or unparsable answer is passed as it is).
fn edited(answer: &[u8], edit: impl FnOnce(&str) -> String) -> Vec<u8> {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return answer.to_vec();
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    if head.to_ascii_lowercase().contains("transfer-encoding") {
        return answer.to_vec();
    }
    let body = edit(&String::from_utf8_lossy(&answer[end + 4..]));
    let mut out: Vec<String> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
        .map(str::to_string)
        .collect();
    out.push(format!("Content-Length: {}", body.len()));
    format!("{}\r\n\r\n{body}", out.join("\r\n")).into_bytes()
}
