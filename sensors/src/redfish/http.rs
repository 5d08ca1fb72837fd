//! Redfish over HTTP: one GET per resource behind [`Fetch`], envmon's own small client.
//!
//! Why not a crate: what a BMC's web server may do to an agent running as root is the
//! point here, and every limit must be envmon's: the header at most 16 KiB, the body at most
//! [`MAX_BODY`] (with or without `Content-Length`, chunked or to the end of the connection,
//! as sushy-static's HTTP/1.0 answers), the whole answer within one deadline (a server that
//! stalls mid-body, or trickles a byte a second, is cut off), at most three redirects and
//! only to `/redfish/v1` paths of the same service, `401`/`403` an authentication error,
//! `503`/`429` with their `Retry-After` kept for the caller's backoff. GETs share one kept-
//! alive connection (one TLS handshake) when the service allows it; a POST goes on its own.
//! With a user and password the client logs in to the service's sessions once
//! ([`super::session`]).
//!
//! `https://` goes through rustls ([`super::tls`]): a CA file, a pinned fingerprint, or,
//! asked for by name, no verification.

use super::files::MAX_BODY;
use super::session::{self, SESSIONS, Secret, SessionState, Token};
use super::{Fetch, RfError, RfErrorKind};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl std::fmt::Debug for HttpFetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No credentials in any output.
        f.debug_struct("HttpFetch")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("https", &self.is_https())
            .field("requests", &self.requests)
            .finish()
    }
}

/// The largest response header read.
pub const MAX_HEADER: usize = 16 * 1024;
/// Redirects followed, at most.
pub const MAX_REDIRECTS: usize = 3;

/// GETs in flight at once ([`Fetch::get_many`]), each on a connection of its own: a few,
/// as a BMC's small web server serves (the connections kept open are as many).
pub const IN_FLIGHT: usize = 3;

/// One connection: plain, or TLS over it.
/// What says the process is stopping (the agent's SIGTERM), set once: a request in
/// progress then ends at its next read (within [`READ_SLICE`]) rather than at its deadline.
static STOPPING: std::sync::OnceLock<fn() -> bool> = std::sync::OnceLock::new();

/// The longest one read of the socket waits before the deadline and the stop are checked.
const READ_SLICE: Duration = Duration::from_millis(250);

/// Makes every request end at its next read once `stopping` says so (set once per process).
pub fn set_stop_check(stopping: fn() -> bool) {
    let _ = STOPPING.set(stopping);
}

thread_local! {
    /// Set while a session is deleted at the end: that request is not cut by the stop.
    static ENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The time left before `until`: none once the process is stopping.
fn left(until: Instant) -> Duration {
    if !ENDING.with(std::cell::Cell::get) && STOPPING.get().is_some_and(|f| f()) {
        Duration::ZERO
    } else {
        until.saturating_duration_since(Instant::now())
    }
}

enum Conn {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<TlsConn>),
}

#[cfg(feature = "tls")]
/// A TLS connection driven a record at a time, so that every wait is the caller's: a read
/// is at most one read of the socket (a service trickling a record cannot hold the client
/// past its deadline, as a rustls `StreamOwned` read, looping until a whole record came,
/// could).
struct TlsConn {
    tls: rustls::ClientConnection,
    sock: TcpStream,
}

#[cfg(feature = "tls")]
impl TlsConn {
    /// The handshake, within `until` (a read at a time, the deadline checked between).
    fn handshake(&mut self, until: Instant, at: &str) -> Result<(), RfError> {
        let io = |e: std::io::Error| RfError::new(RfErrorKind::Io, format!("{at}: TLS: {e}"));
        while self.tls.is_handshaking() {
            if self.tls.wants_write() {
                self.tls.write_tls(&mut self.sock).map_err(io)?;
                continue;
            }
            let left = left(until);
            if left.is_zero() {
                return Err(RfError::new(
                    RfErrorKind::Timeout,
                    format!("{at}: the TLS handshake did not end in time"),
                ));
            }
            self.sock
                .set_read_timeout(Some(left.min(READ_SLICE)))
                .map_err(io)?;
            match self.tls.read_tls(&mut self.sock) {
                Ok(0) => {
                    return Err(RfError::new(
                        RfErrorKind::Io,
                        format!("{at}: the connection closed during the TLS handshake"),
                    ));
                }
                Ok(_) => {
                    self.tls
                        .process_new_packets()
                        .map_err(|e| RfError::new(RfErrorKind::Io, format!("{at}: TLS: {e}")))?;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(io(e)),
            }
        }
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.sock).map_err(io)?;
        }
        Ok(())
    }
}

impl Conn {
    /// Nothing is waiting on the connection (no bytes, no end): it can carry a request.
    fn is_quiet(&self) -> bool {
        // TLS: a record waiting below is bytes on the socket too.
        let sock = self.socket();
        if sock.set_nonblocking(true).is_err() {
            return false;
        }
        let mut b = [0u8; 1];
        let quiet =
            matches!(sock.peek(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        sock.set_nonblocking(false).is_ok() && quiet
    }

    fn socket(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            #[cfg(feature = "tls")]
            Conn::Tls(t) => &t.sock,
        }
    }
}

impl Read for Conn {
    /// At most one read of the socket: plaintext when a record completed, `WouldBlock` when
    /// only part of one came (the caller checks its deadline and reads again).
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(feature = "tls")]
        let t = match self {
            Conn::Plain(s) => return s.read(buf),
            Conn::Tls(t) => t,
        };
        #[cfg(not(feature = "tls"))]
        let Conn::Plain(s) = self;
        #[cfg(not(feature = "tls"))]
        return s.read(buf);
        #[cfg(feature = "tls")]
        {
            match t.tls.reader().read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                done => return done,
            }
            t.tls.read_tls(&mut t.sock)?;
            t.tls
                .process_new_packets()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            t.tls.reader().read(buf)
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Conn::Tls(t) => {
                let n = t.tls.writer().write(buf)?;
                while t.tls.wants_write() {
                    t.tls.write_tls(&mut t.sock)?;
                }
                Ok(n)
            }
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            Conn::Tls(t) => {
                while t.tls.wants_write() {
                    t.tls.write_tls(&mut t.sock)?;
                }
                t.sock.flush()
            }
        }
    }
}

/// A Redfish service over HTTP or HTTPS. A clone is a second client of the same service
/// (its credentials and TLS trust, its own request count).
#[derive(Clone)]
pub struct HttpFetch {
    host: String,
    port: u16,
    /// TLS (https), or none (http).
    #[cfg(feature = "tls")]
    tls: Option<Arc<rustls::ClientConfig>>,
    /// `Basic ...`, or none.
    authorization: Option<String>,
    /// The whole request, connect to the last byte.
    deadline: Duration,
    requests: u64,
    /// The agent's turn budget, shared by every clone: no request ends after it.
    budget: Budget,
    /// Called before each request (the agent's watchdog heart: a long discovery is
    /// progress).
    progress: Option<Arc<dyn Fn() + Send + Sync>>,
    /// The service's address, looked up within each request's deadline.
    resolver: super::resolve::Resolver,
    /// The connections kept open between GETs (HTTP/1.1 keep-alive), shared by every clone:
    /// at most [`IN_FLIGHT`] (one per request in flight; one TLS handshake each).
    idle: Arc<std::sync::Mutex<Vec<Conn>>>,
    /// Held while logging in: clones on other threads wait for the one login.
    login_gate: Arc<std::sync::Mutex<()>>,
    /// Connections opened so far, by this client and its clones.
    connections: Arc<std::sync::atomic::AtomicU64>,
    /// The user and password for a session login (none: no authentication).
    login: Option<(String, String)>,
    /// The session, shared by the clones (deleted when the last one goes).
    session: Arc<std::sync::Mutex<SessionState>>,
}

/// The latest time any request of a client and of its clones may end (the agent's time
/// budget for one turn of its loop: what does not answer by then is unread this turn);
/// none: each request's own deadline only. Clones of one handle share it.
#[derive(Clone, Debug, Default)]
pub struct Budget(Arc<std::sync::Mutex<Option<Instant>>>);

impl Budget {
    /// Sets (or lifts, with `None`) the time no request may end after.
    pub fn set(&self, until: Option<Instant>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = until;
    }

    /// The time no request may end after, if one is set.
    pub fn until(&self) -> Option<Instant> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A request's end: `now + deadline`, or the budget's end when sooner.
    fn cap(&self, deadline: Duration) -> Instant {
        let own = Instant::now() + deadline;
        self.until().map_or(own, |u| u.min(own))
    }
}

/// Base64 (RFC 4648, with padding) of `bytes`, for HTTP Basic authentication.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What came back.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// `Location`, if any.
    pub location: Option<String>,
    /// `Retry-After` in seconds, if any.
    pub retry_after: Option<u64>,
    /// The body, at most [`super::files::MAX_BODY`] bytes.
    pub body: Vec<u8>,
    /// The connection can carry the next request: HTTP/1.1 without `Connection: close`, a
    /// sized body, and nothing after it.
    pub reusable: bool,
    /// `X-Auth-Token`, if any (a session login's answer).
    pub auth_token: Option<Secret>,
}

fn timeout(at: &str) -> RfError {
    RfError::new(RfErrorKind::Timeout, at)
}

/// Reads more into `buf` before `until`; false at the end of the stream.
fn fill(s: &mut Conn, buf: &mut Vec<u8>, until: Instant, at: &str) -> Result<bool, RfError> {
    let left = left(until);
    if left.is_zero() {
        return Err(timeout(at));
    }
    s.socket()
        .set_read_timeout(Some(left.min(READ_SLICE)))
        .map_err(|e| RfError::new(RfErrorKind::Io, format!("{at}: {e}")))?;
    let mut chunk = [0u8; 8192];
    match s.read(&mut chunk) {
        Ok(0) => Ok(false),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(true)
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            if self::left(until).is_zero() {
                Err(timeout(at))
            } else {
                Ok(true)
            }
        }
        // A TLS stream that ends without close_notify is an end like another here: the
        // body's length decides whether anything is missing.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(RfError::new(RfErrorKind::Io, format!("{at}: {e}"))),
    }
}

/// The header's fields: status, then (lowercase name, value).
fn parse_head(head: &str, at: &str) -> Result<(u16, Vec<(String, String)>), RfError> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/1."))
        .ok_or_else(|| RfError::new(RfErrorKind::NotJson, format!("{at}: not an HTTP answer")))?;
    let fields = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, fields))
}

impl HttpFetch {
    /// A service at `host:port`, with `user` and `password` for a session login, or Basic
    /// authentication where the service has no sessions (none: no authentication, as the
    /// Redfish host interface or a test emulator may allow).
    pub fn new(host: &str, port: u16, credentials: Option<(&str, &str)>) -> HttpFetch {
        HttpFetch {
            host: host.to_string(),
            port,
            #[cfg(feature = "tls")]
            tls: None,
            authorization: credentials
                .map(|(u, p)| format!("Basic {}", base64(format!("{u}:{p}").as_bytes()))),
            deadline: Duration::from_secs(10),
            requests: 0,
            budget: Budget::default(),
            progress: None,
            resolver: super::resolve::Resolver::new(host, port),
            idle: Arc::default(),
            login_gate: Arc::default(),
            connections: Arc::default(),
            login: credentials.map(|(u, p)| (u.to_string(), p.to_string())),
            session: Arc::default(),
        }
    }

    /// Logins to the service's session service so far (by this client and its clones).
    pub fn logins(&self) -> u64 {
        self.session().logins
    }

    fn session(&self) -> std::sync::MutexGuard<'_, SessionState> {
        self.session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Logs in when the service has sessions and none is open (see [`super::session`]):
    /// the token then goes with every request; a service without sessions (404, 405, 501)
    /// gets Basic authentication from now on. A refusal (401, 403) is the request's error.
    fn ensure_session(&mut self, until: Instant) -> Result<(), RfError> {
        let Some((user, password)) = &self.login else {
            return Ok(());
        };
        let gate = Arc::clone(&self.login_gate);
        let _one_login = gate
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        {
            let st = self.session();
            if st.token.is_some() || st.basic {
                return Ok(());
            }
        }
        let body = serde_json::json!({"UserName": user, "Password": password}).to_string();
        let r = self.exchange("POST", SESSIONS, Some(body.as_bytes()), until)?;
        let mut st = self.session();
        match r.status {
            200 | 201 => {
                let Some(value) = r.auth_token.and_then(|t| session::usable_token(&t.0)) else {
                    // A login without a usable token: Basic from now on.
                    st.basic = true;
                    return Ok(());
                };
                // The session's resource: `Location`, else the body's `@odata.id`.
                let at = r
                    .location
                    .as_deref()
                    .and_then(session::session_path)
                    .or_else(|| {
                        let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
                        session::session_path(v.get("@odata.id")?.as_str()?)
                    });
                if at.is_none() {
                    log::warn!(
                        "Redfish {}: the session login did not say the session's resource: \
                         it cannot be deleted at the end",
                        self.host
                    );
                }
                st.closer = at.is_some().then(|| self.closer());
                st.token = Some(Token {
                    value,
                    at: at.unwrap_or_default(),
                });
                st.logins += 1;
                Ok(())
            }
            // A refusal of the user or password, or a busy service (its Retry-After kept):
            // the request's error; asked again at the next request.
            s @ (401 | 403 | 429 | 503) => {
                let mut e = RfError::new(RfErrorKind::Status(s), SESSIONS);
                e.retry_after = r.retry_after.map(Duration::from_secs);
                Err(e)
            }
            // No sessions (404, 405, 501) or a session service that fails: Basic.
            _ => {
                st.basic = true;
                Ok(())
            }
        }
    }

    /// `request`, and after a 401 to the session's token (it expired, the BMC restarted)
    /// once more after a new login (at most one such login per
    /// [`session::RELOGIN_EVERY`]; the old session deleted first). A 401 means the request
    /// was not carried out: sending it again is not sending it twice.
    fn with_session<T>(
        &mut self,
        until: Instant,
        mut request: impl FnMut(&mut HttpFetch) -> Result<T, RfError>,
    ) -> Result<T, RfError> {
        self.ensure_session(until)?;
        let used = self.token_value();
        match request(self) {
            Err(e) if e.kind == RfErrorKind::Status(401) => {
                let Some((old, close)) = self.session().after_refusal() else {
                    // Another thread's GET met the same end and logs in again (or just
                    // did): with its new token, once more.
                    self.ensure_session(until)?;
                    return match self.token_value() {
                        Some(t) if Some(&t) != used.as_ref() => request(self),
                        _ => Err(e),
                    };
                };
                if let Some(close) = close {
                    close(&old);
                }
                self.ensure_session(until)?;
                request(self)
            }
            r => r,
        }
    }

    /// The session's token now, if any (to tell a new one from the one a request used).
    fn token_value(&self) -> Option<session::Secret> {
        self.session()
            .token
            .as_ref()
            .map(|t| session::Secret(t.value.clone()))
    }

    /// What deletes the session at the end: a client of its own (the token only, a
    /// connection of its own), its DELETE bounded to 2 s and not cut by the stop.
    fn closer(&self) -> session::Closer {
        let plain = HttpFetch {
            login: None,
            authorization: None,
            session: Arc::default(),
            idle: Arc::default(),
            progress: None,
            budget: Budget::default(),
            ..self.clone()
        };
        Box::new(move |t: &Token| {
            let mut plain = plain;
            plain.session().token = Some(Token {
                value: t.value.clone(),
                at: t.at.clone(),
            });
            ENDING.with(|e| e.set(true));
            let until = Instant::now() + Duration::from_secs(2);
            match plain.exchange("DELETE", &t.at, None, until) {
                Ok(r) if (200..300).contains(&r.status) => {
                    log::debug!("Redfish: session {} deleted", t.at);
                }
                Ok(r) => log::warn!("Redfish: deleting session {}: HTTP {}", t.at, r.status),
                Err(e) => log::warn!("Redfish: deleting session {}: {e}", t.at),
            }
            ENDING.with(|e| e.set(false));
        })
    }

    /// The same service over HTTPS, trusted as `config` says ([`super::tls::client_config`]).
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, config: Arc<rustls::ClientConfig>) -> HttpFetch {
        self.tls = Some(config);
        self
    }

    /// The service is reached over TLS.
    fn is_https(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Calls `f` before each request of this client and of its clones made from now on
    /// (none: no more).
    pub fn set_progress(&mut self, f: Option<Arc<dyn Fn() + Send + Sync>>) {
        self.progress = f;
    }

    /// The turn budget this client and its clones share ([`Budget`]).
    pub fn budget(&self) -> Budget {
        self.budget.clone()
    }

    /// Each request's deadline (connect to the last byte).
    pub fn with_deadline(mut self, d: Duration) -> HttpFetch {
        self.deadline = d;
        self
    }

    /// Connections opened so far by this client and its clones (keep-alive: one while the
    /// service keeps it open).
    pub fn connections(&self) -> u64 {
        self.connections.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One request (`method`, `path`, a JSON `body`), done by `until` (connect, TLS
    /// handshake, request and answer: one deadline). A GET goes on the connection kept from
    /// the last one when there is one (asked once more on a new connection when the service
    /// had closed it: nothing came back), and leaves it open for the next when the answer
    /// allows; a POST (the one request that changes anything) goes on a connection of its
    /// own and is never sent twice.
    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        until: Instant,
    ) -> Result<Response, RfError> {
        self.requests += 1;
        if let Some(f) = &self.progress {
            f();
        }
        let get = method == "GET";
        let kept = get
            .then(|| {
                self.idle
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .pop()
            })
            .flatten();
        // A kept connection with anything waiting on it (bytes, or its end) is not the
        // place of the next answer.
        let kept = kept.filter(Conn::is_quiet);
        let (mut s, reused) = match kept {
            Some(s) => (s, true),
            None => (self.connect(path, until)?, false),
        };
        let r = match self.round_trip(&mut s, method, path, body, until) {
            Err((_, false)) if reused => {
                s = self.connect(path, until)?;
                self.round_trip(&mut s, method, path, body, until)
            }
            r => r,
        }
        .map_err(|(e, _)| e)?;
        if get && r.reusable {
            let mut idle = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if idle.len() < IN_FLIGHT {
                idle.push(s);
            }
        }
        Ok(r)
    }

    /// The request on `s` and its answer; an error says whether any byte came back.
    fn round_trip(
        &self,
        s: &mut Conn,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        until: Instant,
    ) -> Result<Response, (RfError, bool)> {
        self.send_request(s, method, path, body)
            .map_err(|e| (e, false))?;
        // What came so far, each read parsed once (pure: Incoming).
        let mut buf = Vec::new();
        let mut ended = false;
        let mut incoming = Incoming::default();
        loop {
            match incoming.feed(&buf, ended, path) {
                Ok(Parsed::Complete(r)) => return Ok(r),
                Ok(Parsed::Incomplete) => {}
                Err(e) => return Err((e, !buf.is_empty())),
            }
            ended = !fill(s, &mut buf, until, path).map_err(|e| (e, !buf.is_empty()))?;
        }
    }

    /// A connection to the service (TLS when configured, its handshake done), within `until`.
    fn connect(&self, path: &str, until: Instant) -> Result<Conn, RfError> {
        // The name, looked up within the deadline (the system's resolver takes none).
        let addr = self.resolver.address(until)?;
        let io = |e: std::io::Error| RfError::new(RfErrorKind::Io, format!("{path}: {e}"));
        let left = left(until);
        if left.is_zero() {
            return Err(timeout(path));
        }
        self.connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tcp = TcpStream::connect_timeout(&addr, left).map_err(|e| {
            self.resolver.forget(); // looked up again: the service may have moved
            io(e)
        })?;
        tcp.set_write_timeout(Some(left)).map_err(io)?;
        tcp.set_read_timeout(Some(left)).map_err(io)?;
        #[cfg(not(feature = "tls"))]
        return Ok(Conn::Plain(tcp));
        #[cfg(feature = "tls")]
        Ok(match &self.tls {
            None => Conn::Plain(tcp),
            Some(config) => {
                let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| RfError::new(RfErrorKind::Io, format!("{}: {e}", self.host)))?;
                let tls = rustls::ClientConnection::new(config.clone(), name)
                    .map_err(|e| RfError::new(RfErrorKind::Io, format!("TLS: {e}")))?;
                let mut t = TlsConn { tls, sock: tcp };
                t.handshake(until, path)?;
                Conn::Tls(Box::new(t))
            }
        })
    }

    /// The request's lines (the authorization, never printed, among them).
    fn send_request(
        &self,
        s: &mut Conn,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(), RfError> {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nAccept: application/json\r\n\
             User-Agent: envmon\r\n",
            self.host, self.port
        );
        if method != "GET" {
            req.push_str("Connection: close\r\n");
        }
        // The session's token; Basic only where the service has no sessions (or no login
        // was asked: a Basic header as given).
        let st = self.session();
        if let Some(t) = &st.token {
            req.push_str(&format!("X-Auth-Token: {}\r\n", t.value));
        } else if let Some(a) = self.authorization.as_ref().filter(|_| st.basic) {
            req.push_str(&format!("Authorization: {a}\r\n"));
        }
        drop(st);
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body.unwrap_or_default());
        s.write_all(&bytes)
            .and_then(|()| s.flush())
            .map_err(|e| RfError::new(RfErrorKind::Io, format!("{path}: {e}")))
    }
}

/// How a response's body ends: chunked, after `length` bytes, or with the connection.
#[derive(Debug, Clone, Copy)]
struct Framing {
    chunked: bool,
    length: Option<u64>,
}

/// A response parsed from the bytes received so far.
#[derive(Debug)]
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// The whole response.
    Complete(Response),
}

/// Parses what the service sent so far (`bytes`; `ended`: the connection closed after them),
/// pure and bounded: the header at most [`MAX_HEADER`] bytes, the body at most
/// [`super::files::MAX_BODY`] (sized, chunked or to the end of the connection), every size
/// the service gives checked before any arithmetic. `at` names the resource in errors. The
/// same as an [`Incoming`] fed all of it at once.
pub fn parse_response(bytes: &[u8], ended: bool, at: &str) -> Result<Parsed, RfError> {
    Incoming::default().feed(bytes, ended, at)
}

/// The longest chunk-size line read (hex digits and extensions).
const MAX_CHUNK_LINE: usize = 1024;

/// An answer being read, each byte parsed once: the header's end searched only in what is
/// new, the header parsed once, a chunked body decoded chunk by chunk as they come. A
/// service trickling its answer (1-byte chunks) costs work in proportion to its bytes, not
/// their square. Pure: the caller keeps the bytes and feeds all of them so far each time.
#[derive(Debug, Default)]
pub struct Incoming {
    /// How far the search for the header's end has looked.
    scanned: usize,
    head: Option<Head>,
    /// A chunked body: what is decoded so far and where the next chunk starts.
    decoded: Vec<u8>,
    next: usize,
}

/// What the header said.
#[derive(Debug)]
struct Head {
    status: u16,
    location: Option<String>,
    retry_after: Option<u64>,
    framing: Framing,
    /// Where the body starts.
    body_at: usize,
    /// HTTP/1.1 without `Connection: close`.
    keep: bool,
    /// `X-Auth-Token`, if any.
    auth_token: Option<Secret>,
}

impl Incoming {
    /// Parses `bytes` (everything received so far: the bytes fed before and what came
    /// since; `ended`: the connection closed after them).
    pub fn feed(&mut self, bytes: &[u8], ended: bool, at: &str) -> Result<Parsed, RfError> {
        let head = match self.head.take() {
            Some(h) => h,
            None => match self.find_head(bytes, ended, at)? {
                Some(h) => h,
                None => return Ok(Parsed::Incomplete),
            },
        };
        match self.body(bytes, &head, ended, at) {
            Ok(Some(body)) => {
                // Exactly the sized answer came: the connection is where the next one starts.
                let reusable = head.keep
                    && !head.framing.chunked
                    && head.framing.length.and_then(|n| usize::try_from(n).ok())
                        == Some(bytes.len().saturating_sub(head.body_at));
                Ok(Parsed::Complete(Response {
                    status: head.status,
                    location: head.location,
                    retry_after: head.retry_after,
                    body,
                    reusable: reusable && !ended,
                    auth_token: head.auth_token,
                }))
            }
            // Not yet (or wrong): the header is kept, nothing copied.
            other => {
                self.head = Some(head);
                other.map(|_| Parsed::Incomplete)
            }
        }
    }

    /// The header, once its end has come (searched only past what was searched before).
    fn find_head(&mut self, bytes: &[u8], ended: bool, at: &str) -> Result<Option<Head>, RfError> {
        let from = self.scanned.saturating_sub(3).min(bytes.len());
        let found = bytes[from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| p + from);
        self.scanned = bytes.len();
        let Some(head_end) = found else {
            if bytes.len() > MAX_HEADER {
                return Err(RfError::new(RfErrorKind::TooLarge, format!("{at}: header")));
            }
            if ended {
                return Err(RfError::new(
                    RfErrorKind::Io,
                    format!("{at}: the connection closed before the header ended"),
                ));
            }
            return Ok(None);
        };
        if head_end > MAX_HEADER {
            return Err(RfError::new(RfErrorKind::TooLarge, format!("{at}: header")));
        }
        let text = String::from_utf8_lossy(&bytes[..head_end]);
        let (status, fields) = parse_head(&text, at)?;
        let http11 = text.starts_with("HTTP/1.1 ");
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let framing = Framing {
            chunked: field("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")),
            length: field("content-length").and_then(|v| v.parse::<u64>().ok()),
        };
        if framing.length.is_some_and(|n| n > MAX_BODY) {
            return Err(RfError::new(RfErrorKind::TooLarge, at));
        }
        self.next = head_end + 4;
        Ok(Some(Head {
            status,
            location: field("location"),
            retry_after: field("retry-after").and_then(|v| v.parse().ok()),
            keep: http11 && !field("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")),
            auth_token: field("x-auth-token").map(Secret),
            framing,
            body_at: head_end + 4,
        }))
    }

    /// The body as the header's framing says it ends; none while incomplete.
    fn body(
        &mut self,
        bytes: &[u8],
        head: &Head,
        ended: bool,
        at: &str,
    ) -> Result<Option<Vec<u8>>, RfError> {
        let raw = bytes.get(head.body_at..).unwrap_or_default();
        let body = if head.framing.chunked {
            self.dechunk(bytes, at)?
        } else if let Some(n) = head.framing.length {
            // n <= MAX_BODY (checked with the header): it fits a usize.
            let n = usize::try_from(n).map_err(|_| RfError::new(RfErrorKind::TooLarge, at))?;
            raw.get(..n).map(<[u8]>::to_vec)
        } else if ended {
            Some(raw.to_vec()) // HTTP/1.0: the body ends with the connection
        } else {
            None
        };
        match body {
            Some(b) if b.len() as u64 > MAX_BODY => Err(RfError::new(RfErrorKind::TooLarge, at)),
            Some(b) => Ok(Some(b)),
            None if raw.len() as u64 > MAX_BODY + 64 => {
                Err(RfError::new(RfErrorKind::TooLarge, at))
            }
            None if ended => Err(RfError::new(
                RfErrorKind::Io,
                format!("{at}: the connection closed inside the body"),
            )),
            None => Ok(None),
        }
    }

    /// Decodes the chunks (`Transfer-Encoding: chunked`) that came since the last call; the
    /// whole body once the last chunk came, none before.
    fn dechunk(&mut self, bytes: &[u8], at: &str) -> Result<Option<Vec<u8>>, RfError> {
        loop {
            let rest = bytes.get(self.next..).unwrap_or_default();
            let window = &rest[..rest.len().min(MAX_CHUNK_LINE + 2)];
            let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
                if rest.len() > MAX_CHUNK_LINE {
                    return Err(RfError::new(
                        RfErrorKind::NotJson,
                        format!("{at}: a bad chunk size"),
                    ));
                }
                return Ok(None);
            };
            let line = std::str::from_utf8(&rest[..end]).unwrap_or("");
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| {
                RfError::new(RfErrorKind::NotJson, format!("{at}: a bad chunk size"))
            })?;
            if size == 0 {
                return Ok(Some(std::mem::take(&mut self.decoded)));
            }
            // A chunk size is the service's: near usize::MAX it must not overflow a sum.
            if size > (MAX_BODY as usize).saturating_sub(self.decoded.len()) {
                return Err(RfError::new(RfErrorKind::TooLarge, at));
            }
            let data = end + 2;
            if rest.len().saturating_sub(data) < size.saturating_add(2) {
                return Ok(None);
            }
            self.decoded.extend_from_slice(&rest[data..data + size]);
            self.next += data + size + 2;
        }
    }
}

/// The path of a redirect's target, if it stays on this service under `/redfish/v1`.
fn redirect_path(location: &str) -> Option<String> {
    super::location_path(location).filter(|p| p.starts_with("/redfish/v1"))
}

impl super::Post for HttpFetch {
    fn post(&mut self, path: &str, body: &serde_json::Value) -> Result<u16, RfError> {
        if !path.starts_with("/redfish/v1") || path.split('/').any(|p| p == "..") {
            return Err(RfError::new(RfErrorKind::BadPath, path));
        }
        let bytes = serde_json::to_vec(body)
            .map_err(|e| RfError::new(RfErrorKind::Io, format!("{path}: {e}")))?;
        let until = self.budget.cap(self.deadline);
        self.with_session(until, |f| {
            let r = f.exchange("POST", path, Some(&bytes), until)?;
            match r.status {
                200..=299 => Ok(r.status),
                s => Err(RfError::new(RfErrorKind::Status(s), path)),
            }
        })
    }
}

impl Fetch for HttpFetch {
    fn get(&mut self, path: &str) -> Result<serde_json::Value, RfError> {
        let path = path.split('#').next().unwrap_or_default();
        if !path.starts_with("/redfish/v1") || path.split('/').any(|p| p == "..") {
            return Err(RfError::new(RfErrorKind::BadPath, path));
        }
        // One deadline for the GET, its redirects included (not a fresh one per hop), and
        // never past the turn's budget.
        let until = self.budget.cap(self.deadline);
        self.with_session(until, |f| f.get_within(path, until))
    }
    /// Up to [`IN_FLIGHT`] GETs at once, each on a clone of its own (on a thread of its
    /// own, the session shared: logged in first, once).
    fn get_many(&mut self, paths: &[&str]) -> Vec<Result<serde_json::Value, RfError>> {
        let workers = IN_FLIGHT.min(paths.len());
        if workers < 2 {
            return paths.iter().map(|p| self.get(p)).collect();
        }
        if let Err(e) = self.ensure_session(self.budget.cap(self.deadline)) {
            return paths.iter().map(|_| Err(e.clone())).collect();
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let out = std::sync::Mutex::new(vec![None; paths.len()]);
        let work = |f: &mut HttpFetch| loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(p) = paths.get(i) else {
                return f.requests;
            };
            let got = f.get(p);
            if let Some(slot) = out
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get_mut(i)
            {
                *slot = Some(got);
            }
        };
        let helpers: Vec<HttpFetch> = (1..workers)
            .map(|_| HttpFetch {
                requests: 0,
                ..self.clone()
            })
            .collect();
        let helped: u64 = std::thread::scope(|scope| {
            let running: Vec<_> = helpers
                .into_iter()
                .filter_map(|mut f| {
                    std::thread::Builder::new()
                        .name("envmon-redfish".into())
                        .stack_size(1024 * 1024)
                        .spawn_scoped(scope, move || work(&mut f))
                        .ok()
                })
                .collect();
            // This thread takes its share (all of them, if no thread could start).
            work(self);
            running.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        self.requests += helped;
        out.into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.unwrap_or_else(|| Err(RfError::new(RfErrorKind::Io, paths[i].to_string())))
            })
            .collect()
    }
    fn in_flight(&self) -> usize {
        IN_FLIGHT
    }
    fn requests(&self) -> u64 {
        self.requests
    }
    fn left(&self) -> Option<Duration> {
        self.budget.until().map(left)
    }
    fn origin(&self) -> String {
        let scheme = if self.is_https() { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

impl HttpFetch {
    /// One GET of `path` and its redirects, by `until`.
    fn get_within(&mut self, path: &str, until: Instant) -> Result<serde_json::Value, RfError> {
        let mut at = path.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let r = self.exchange("GET", &at, None, until)?;
            match r.status {
                200 => return super::map::parse(&r.body, &at),
                301 | 302 | 303 | 307 | 308 => {
                    at = r
                        .location
                        .as_deref()
                        .and_then(redirect_path)
                        .ok_or_else(|| {
                            RfError::new(RfErrorKind::BadPath, format!("{at}: redirected away"))
                        })?;
                }
                s @ (429 | 503) => {
                    let mut e = RfError::new(RfErrorKind::Status(s), at.clone());
                    e.retry_after = r.retry_after.map(Duration::from_secs);
                    return Err(e);
                }
                s => return Err(RfError::new(RfErrorKind::Status(s), at)),
            }
        }
        Err(RfError::new(
            RfErrorKind::BadPath,
            format!("{path}: more than {MAX_REDIRECTS} redirects"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{Parsed, parse_response};

    fn parse(bytes: &[u8], ended: bool) -> Result<Option<(u16, Vec<u8>)>, RfError> {
        parse_response(bytes, ended, "/redfish/v1").map(|p| match p {
            Parsed::Complete(r) => Some((r.status, r.body)),
            Parsed::Incomplete => None,
        })
    }

    /// Issue 33 (part): the response parser is pure and total: every framing, every cut,
    /// every size the service gives, checked; never a panic (and a fuzz target over it).
    #[test]
    fn responses_parse_whole_or_not_yet_or_fail_with_why() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse(ok, false).unwrap(), Some((200, b"{}".to_vec())));
        for cut in 0..ok.len() {
            assert_eq!(parse(&ok[..cut], false).unwrap(), None, "cut at {cut}");
            assert!(parse(&ok[..cut], true).is_err(), "closed at {cut}");
        }
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n1\r\n}\r\n0\r\n\r\n";
        assert_eq!(parse(chunked, false).unwrap(), Some((200, b"{}".to_vec())));
        let to_end = b"HTTP/1.0 503 Busy\r\nRetry-After: 5\r\n\r\nbusy";
        assert_eq!(parse(to_end, false).unwrap(), None);
        assert_eq!(parse(to_end, true).unwrap(), Some((503, b"busy".to_vec())));
        // The issue's chunk size near u64::MAX: an error, not an overflow.
        let huge = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nfffffffffffffffe\r\nx";
        assert_eq!(parse(huge, false).unwrap_err().kind, RfErrorKind::TooLarge);
        let long = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n";
        assert!(
            parse(long, false).is_ok(),
            "an unparsable length is no length"
        );
        let big = b"HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n";
        assert_eq!(parse(big, false).unwrap_err().kind, RfErrorKind::TooLarge);
        let mut header = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        header.resize(MAX_HEADER + 10, b'a');
        assert_eq!(
            parse(&header, false).unwrap_err().kind,
            RfErrorKind::TooLarge
        );
        assert!(parse(b"SSH-2.0-OpenSSH\r\n\r\n", false).is_err());
    }

    use super::*;
    use std::net::TcpListener;

    #[test]
    fn base64_is_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"admin:password"), "YWRtaW46cGFzc3dvcmQ=");
    }

    /// A server that answers each connection with the next of `answers` (raw bytes, then
    /// the connection closed, or held open for 3 s when `stall`).
    fn server(answers: Vec<(Vec<u8>, bool)>) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for (bytes, stall) in answers {
                let Ok((mut s, _)) = l.accept() else { return };
                let mut req = [0u8; 4096];
                let _ = s.read(&mut req);
                let _ = s.write_all(&bytes);
                if stall {
                    // Holds the connection open, sending nothing more.
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_secs(3));
                        drop(s);
                    });
                }
            }
        });
        port
    }

    /// [`server`], keeping each request's text.
    fn recording(answers: Vec<Vec<u8>>) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = Arc::clone(&seen);
        std::thread::spawn(move || {
            for bytes in answers {
                let Ok((mut s, _)) = l.accept() else { return };
                let mut req = [0u8; 4096];
                let n = s.read(&mut req).unwrap_or(0);
                kept.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&req[..n]).into_owned());
                let _ = s.write_all(&bytes);
            }
        });
        (port, seen)
    }

    /// Issue 34 (part): a session service that fails (500) means Basic on every request; a
    /// login whose answer has the token but no `Location` takes the session's resource from
    /// the body, sends the token, and deletes that session at the end.
    #[test]
    fn logins_that_fail_or_say_little_are_handled() {
        let ok = b"HTTP/1.0 200 OK\r\n\r\n{\"@odata.id\":\"/redfish/v1\"}".to_vec();
        let (port, seen) = recording(vec![
            b"HTTP/1.0 500 Oops\r\n\r\n".to_vec(),
            ok.clone(),
            ok.clone(),
        ]);
        let mut f = HttpFetch::new("127.0.0.1", port, Some(("admin", "pw")));
        f.get("/redfish/v1").unwrap();
        f.get("/redfish/v1").unwrap();
        let reqs = seen.lock().unwrap().clone();
        assert!(reqs[0].starts_with("POST /redfish/v1/SessionService/Sessions"));
        assert!(
            reqs[1].contains("Authorization: Basic") && reqs[2].contains("Authorization: Basic")
        );
        assert_eq!(f.logins(), 0);
        let login = b"HTTP/1.0 201 Created\r\nX-Auth-Token: t0k\r\n\r\n{\"@odata.id\":\"/redfish/v1/SessionService/Sessions/9\"}".to_vec();
        let bye = b"HTTP/1.0 204 No Content\r\n\r\n".to_vec();
        let (port, seen) = recording(vec![login, ok, bye]);
        let mut f = HttpFetch::new("127.0.0.1", port, Some(("admin", "pw")));
        f.get("/redfish/v1").unwrap();
        assert_eq!(f.logins(), 1);
        drop(f);
        let reqs = seen.lock().unwrap().clone();
        assert!(reqs[1].contains("X-Auth-Token: t0k") && !reqs[1].contains("Authorization"));
        assert!(
            reqs[2].starts_with("DELETE /redfish/v1/SessionService/Sessions/9 ")
                && reqs[2].contains("X-Auth-Token: t0k"),
            "{reqs:?}"
        );
    }

    /// A server that, on each connection, reads the request, then trickles `first` and one
    /// byte of `then` every 100 ms for 10 s (or until the client goes).
    #[cfg(feature = "tls")]
    fn trickling(first: Vec<u8>, then: u8) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut req = [0u8; 4096];
            let _ = s.read(&mut req);
            let _ = s.write_all(&first);
            for _ in 0..100 {
                std::thread::sleep(Duration::from_millis(100));
                if s.write_all(&[then]).is_err() {
                    return;
                }
            }
        });
        port
    }

    /// Issue 33 (part): a TLS server trickling its handshake (a record header announcing
    /// 16 KiB, then a byte every 100 ms) held the client past its deadline (rustls' stream
    /// loops until a whole record came); now the handshake ends at the request's deadline.
    #[test]
    #[cfg(feature = "tls")]
    fn a_trickled_tls_handshake_ends_at_the_deadline() {
        let port = trickling(vec![0x16, 0x03, 0x03, 0x40, 0x00], 0);
        let config = super::super::tls::client_config(&super::super::tls::Trust::Insecure).unwrap();
        let started = Instant::now();
        let e = HttpFetch::new("127.0.0.1", port, None)
            .with_tls(config)
            .with_deadline(Duration::from_millis(800))
            .get("/redfish/v1")
            .unwrap_err();
        let took = started.elapsed();
        assert_eq!(e.kind, RfErrorKind::Timeout, "{e}");
        assert!(took < Duration::from_millis(2500), "{took:?}");
    }

    /// Issue 33 (part): each redirect hop had a deadline of its own (36 s for one GET); the
    /// hops now share the request's one.
    #[test]
    fn redirects_share_one_deadline() {
        let hop = |to: &str| -> (Vec<u8>, bool) {
            (
                format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\n\r\n")
                    .into_bytes(),
                false,
            )
        };
        // Each answer after 400 ms: three hops and the resource are 1.6 s, past 1 s.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let answers = vec![
            hop("/redfish/v1/a"),
            hop("/redfish/v1/b"),
            hop("/redfish/v1/c"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec(),
                false,
            ),
        ];
        std::thread::spawn(move || {
            for (bytes, _) in answers {
                let Ok((mut s, _)) = l.accept() else { return };
                let mut req = [0u8; 4096];
                let _ = s.read(&mut req);
                std::thread::sleep(Duration::from_millis(400));
                let _ = s.write_all(&bytes);
            }
        });
        let e = HttpFetch::new("127.0.0.1", port, None)
            .with_deadline(Duration::from_millis(1000))
            .get("/redfish/v1")
            .unwrap_err();
        assert_eq!(e.kind, RfErrorKind::Timeout, "{e}");
    }

    fn get(port: u16, path: &str) -> Result<serde_json::Value, RfError> {
        HttpFetch::new("127.0.0.1", port, None)
            .with_deadline(Duration::from_millis(800))
            .get(path)
    }

    /// A server answering `answers` requests on each connection it accepts (HTTP/1.1,
    /// sized JSON), then closing it; it serves `conns` connections.
    fn keeping_server(answers: usize, conns: usize) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for _ in 0..conns {
                let Ok((mut s, _)) = l.accept() else { return };
                for _ in 0..answers {
                    let mut req = Vec::new();
                    let mut b = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut b) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => req.extend_from_slice(&b[..n]),
                        }
                    }
                    let body = br#"{"@odata.id":"/redfish/v1"}"#;
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    let _ = s.write_all(head.as_bytes());
                    let _ = s.write_all(body);
                }
            }
        });
        port
    }

    /// Issue 34 (part): GETs share one connection while the service keeps it open, and a
    /// connection the service closed after its answer is replaced at the next GET (asked
    /// again on a new one: nothing came back), with no error.
    #[test]
    fn gets_keep_their_connection_and_a_closed_one_is_replaced() {
        let port = keeping_server(3, 1);
        let mut f = HttpFetch::new("127.0.0.1", port, None);
        for _ in 0..3 {
            f.get("/redfish/v1").unwrap();
        }
        assert_eq!(f.connections(), 1, "three GETs, one connection");
        let port = keeping_server(1, 3);
        let mut f = HttpFetch::new("127.0.0.1", port, None);
        let mut clone = f.clone();
        for _ in 0..3 {
            f.get("/redfish/v1").unwrap();
        }
        clone.get("/redfish/v1").unwrap_err();
        // 1 + 2 replaced + the clone's (the shared one was closed; the server is gone).
        assert_eq!(
            f.connections(),
            4,
            "each closed connection replaced; clones share"
        );
    }

    /// Issue 33 (4): a chunk size near `u64::MAX` after a first chunk overflowed a sum (a
    /// panic, an abort in the shipping profile): now it is a body too large, and a size that
    /// is merely more than what came is "not all there yet".
    /// A chunked body `raw` parsed: the body, none while incomplete.
    fn dechunk(raw: &[u8], at: &str) -> Result<Option<Vec<u8>>, RfError> {
        let mut bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        bytes.extend_from_slice(raw);
        parse_response(&bytes, false, at).map(|p| match p {
            Parsed::Complete(r) => Some(r.body),
            Parsed::Incomplete => None,
        })
    }

    /// Issue 33 (3): an answer read a piece at a time is parsed once per byte (a service
    /// trickling 1-byte chunks burnt 92% of a core re-parsing everything after each read);
    /// cut anywhere, fed piece by piece, it gives what it gives whole.
    #[test]
    fn an_answer_fed_in_pieces_is_the_answer_whole() {
        use super::Incoming;
        let mut chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nRetry-After: 5\r\n\r\n".to_vec();
        for b in br#"{"@odata.id":"/redfish/v1"}"# {
            chunked.extend_from_slice(b"1\r\n");
            chunked.push(*b);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let sized = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec();
        let bad =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n".to_vec();
        let whole = |b: &[u8]| format!("{:?}", parse_response(b, false, "/x"));
        for answer in [&chunked, &sized, &bad] {
            for step in [1, 2, 7] {
                let mut inc = Incoming::default();
                let mut last = String::new();
                for end in (step..answer.len() + step).step_by(step) {
                    let end = end.min(answer.len());
                    last = format!("{:?}", inc.feed(&answer[..end], false, "/x"));
                    if !last.starts_with("Ok(Incomplete") {
                        break;
                    }
                }
                assert_eq!(last, whole(answer), "fed {step} bytes at a time");
            }
        }
        assert!(whole(&chunked).contains("retry_after: Some(5)"));
    }

    #[test]
    fn a_huge_chunk_size_is_an_error_not_a_panic() {
        let e = dechunk(b"3\r\nabc\r\nfffffffffffffffe\r\nxyz", "/x").unwrap_err();
        assert_eq!(e.kind, RfErrorKind::TooLarge);
        assert!(matches!(dechunk(b"3\r\nab", "/x"), Ok(None)));
        assert_eq!(
            dechunk(b"3\r\nabc\r\n0\r\n\r\n", "/x").unwrap(),
            Some(b"abc".to_vec())
        );
    }

    #[test]
    fn bodies_chunked_sized_or_to_the_end_are_read() {
        let json = br#"{"@odata.id":"/redfish/v1"}"#;
        let sized = [
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", json.len()).into_bytes(),
            json.to_vec(),
        ]
        .concat();
        let chunked = [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            format!("{:x}\r\n", 10).into_bytes(),
            json[..10].to_vec(),
            b"\r\n".to_vec(),
            format!("{:x}\r\n", json.len() - 10).into_bytes(),
            json[10..].to_vec(),
            b"\r\n0\r\n\r\n".to_vec(),
        ]
        .concat();
        let to_end = [b"HTTP/1.0 200 OK\r\n\r\n".to_vec(), json.to_vec()].concat();
        let port = server(vec![(sized, false), (chunked, false), (to_end, false)]);
        for _ in 0..3 {
            assert_eq!(
                get(port, "/redfish/v1").unwrap()["@odata.id"],
                "/redfish/v1"
            );
        }
    }

    #[test]
    fn hostile_answers_are_bounded_errors() {
        let huge = [
            b"HTTP/1.0 200 OK\r\n\r\n".to_vec(),
            vec![b' '; (MAX_BODY + 100) as usize],
        ]
        .concat();
        let claims = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n{".to_vec();
        let stall = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\":".to_vec();
        let loop_ =
            b"HTTP/1.1 302 Found\r\nLocation: /redfish/v1/Chassis\r\nContent-Length: 0\r\n\r\n"
                .to_vec();
        let away =
            b"HTTP/1.1 302 Found\r\nLocation: http://evil.example/x\r\nContent-Length: 0\r\n\r\n"
                .to_vec();
        let auth = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".to_vec();
        let busy =
            b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n"
                .to_vec();
        let wrong = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec();
        let mut answers = vec![(huge, false), (claims, false), (stall, true)];
        answers.extend(std::iter::repeat_n((loop_, false), MAX_REDIRECTS + 1));
        answers.extend([(away, false), (auth, false), (busy, false), (wrong, false)]);
        let port = server(answers);
        let kind = |r: Result<serde_json::Value, RfError>| r.unwrap_err().kind;
        assert_eq!(kind(get(port, "/redfish/v1")), RfErrorKind::TooLarge);
        assert_eq!(kind(get(port, "/redfish/v1")), RfErrorKind::TooLarge);
        let started = Instant::now();
        assert_eq!(kind(get(port, "/redfish/v1")), RfErrorKind::Timeout);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the deadline cut the stall"
        );
        let e = get(port, "/redfish/v1").unwrap_err();
        assert!(e.to_string().contains("redirects"), "{e}");
        assert_eq!(kind(get(port, "/redfish/v1")), RfErrorKind::BadPath);
        assert_eq!(kind(get(port, "/redfish/v1")), RfErrorKind::Status(401));
        let e = get(port, "/redfish/v1").unwrap_err();
        assert_eq!(
            (e.kind.clone(), e.retry_after),
            (RfErrorKind::Status(503), Some(Duration::from_secs(7)))
        );
        assert_eq!(kind(get(port, "/redfish/v1")), RfErrorKind::NotJson);
        // Paths outside the service are never asked for.
        assert_eq!(kind(get(port, "/etc/passwd")), RfErrorKind::BadPath);
        assert_eq!(kind(get(port, "/redfish/v1/../../x")), RfErrorKind::BadPath);
    }
}
