//! The AgentX session: on its own thread, it connects to the master, opens a session,
//! registers envmon's subtrees, answers Get, GetNext and GetBulk from the published snapshot,
//! refuses sets, pings the master, sends notifications, and starts over (with backoff) when
//! the master goes away. The poll loop never waits for it: it reads snapshots through an
//! `Arc` and hands over transitions through a bounded channel (`try_send`; a full channel
//! drops the notification, counted).
//!
//! A walk sees one snapshot: the view is rebuilt from a newer snapshot only when a walk
//! starts (a GetNext or GetBulk from an OID that is no row of the view), after a second
//! without requests, or for a client that only gets, when the view is ten seconds old.

use super::{
    AgentxAddr,
    answer::{answer, may_refresh},
    mib::{self, Inputs, Mib, Notifications, Transition},
    pdu::{self, Ids, PARSE_ERROR, Pdu},
};
use crate::model::status::{Published, Snapshot};

use std::{
    io::{self, Read, Write},
    net::TcpStream,
    os::unix::net::UnixStream,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// Transitions waiting to be sent.
pub const QUEUE: usize = 256;
/// A ping this often; no answer within [`ANSWER`] ends the session.
const PING_EVERY: Duration = Duration::from_secs(10);
/// How long an answer to Open, Register or Ping may take.
const ANSWER: Duration = Duration::from_secs(5);
/// Reconnect delays: doubling from the first to the last.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(4));
/// A view is replaced only after this long without requests (a walk is not split).
const WALK_GAP: Duration = Duration::from_secs(1);

/// What the subagent is set up with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The master.
    pub addr: AgentxAddr,
    /// Serve CISCO-ENVMON-MIB.
    pub envmon_view: bool,
    /// Notifications sent.
    pub notifications: Notifications,
    /// Sweep interval.
    pub interval_ms: u64,
}

/// Counters of the subagent.
#[derive(Debug, Default)]
pub struct Stats {
    /// Sessions registered with a master.
    pub sessions: AtomicU64,
    /// Requests answered.
    pub requests: AtomicU64,
    /// Notifications sent.
    pub notifications: AtomicU64,
    /// Notifications dropped (no master, or the queue full).
    pub dropped: AtomicU64,
}

/// The running subagent: hand it transitions; dropping it stops its thread.
pub struct Subagent {
    events: SyncSender<Transition>,
    /// The notifications sent, and whether the ENVMON view is on.
    wanted: (Notifications, bool),
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Counters.
    pub stats: Arc<Stats>,
}

impl Subagent {
    /// Starts the thread.
    pub fn start(config: Config, published: Arc<Published>) -> io::Result<Subagent> {
        let (tx, rx) = sync_channel(QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let (s, st) = (Arc::clone(&stop), Arc::clone(&stats));
        let wanted = (config.notifications, config.envmon_view);
        let thread = thread::Builder::new()
            .name("agentx".into())
            .spawn(move || run(&config, &published, &rx, &s, &st))?;
        Ok(Subagent {
            events: tx,
            wanted,
            stop,
            thread: Some(thread),
            stats,
        })
    }

    /// Queues a transition for notification, when any is sent; never blocks.
    pub fn changed(&self, c: Transition) {
        let (on, envmon_view) = self.wanted;
        if !(on.threshold || on.envmon && envmon_view) {
            return;
        }
        match self.events.try_send(c) {
            Ok(()) => {}
            Err(TrySendError::Full(c) | TrySendError::Disconnected(c)) => {
                let lost = mib::notifications(&c, on, envmon_view).len();
                self.stats.dropped.fetch_add(lost as u64, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Subagent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A connection to the master.
enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn connect(addr: &AgentxAddr) -> io::Result<Conn> {
        let c = match addr {
            AgentxAddr::Unix(p) => Conn::Unix(UnixStream::connect(p)?),
            AgentxAddr::Tcp(h, port) => {
                use std::net::ToSocketAddrs;
                let a = (h.as_str(), *port)
                    .to_socket_addrs()?
                    .next()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
                Conn::Tcp(TcpStream::connect_timeout(&a, ANSWER)?)
            }
        };
        let t = Some(Duration::from_millis(200));
        match &c {
            Conn::Unix(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(Some(ANSWER))?;
            }
            Conn::Tcp(s) => {
                s.set_read_timeout(t)?;
                s.set_write_timeout(Some(ANSWER))?;
                s.set_nodelay(true)?;
            }
        }
        Ok(c)
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }

    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.write_all(b),
            Conn::Tcp(s) => s.write_all(b),
        }
    }
}

/// Why a session ended.
#[derive(Debug)]
enum End {
    Stop,
    Io(io::Error),
    Protocol(String),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Stop => f.write_str("stopping"),
            End::Io(e) => write!(f, "{e}"),
            End::Protocol(why) => f.write_str(why),
        }
    }
}

impl From<io::Error> for End {
    fn from(e: io::Error) -> End {
        End::Io(e)
    }
}

/// Reads PDUs off a connection, whole, one at a time.
struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    /// The next whole PDU, or `None` when none arrived within the read timeout.
    fn next(&mut self, conn: &mut Conn) -> Result<Option<Vec<u8>>, End> {
        let mut chunk = [0u8; 4096];
        loop {
            if self.buf.len() >= pdu::HEADER {
                let head: [u8; pdu::HEADER] = self.buf[..pdu::HEADER]
                    .try_into()
                    .map_err(|_| End::Protocol("header".into()))?;
                let len = pdu::payload_len(&head).map_err(|e| End::Protocol(e.to_string()))?;
                if self.buf.len() >= pdu::HEADER + len {
                    let rest = self.buf.split_off(pdu::HEADER + len);
                    return Ok(Some(std::mem::replace(&mut self.buf, rest)));
                }
            }
            match conn.read(&mut chunk) {
                Ok(0) => return Err(End::Io(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(End::Io(e)),
            }
        }
    }
}

/// The master's sysUpTime, as last reported, and when.
#[derive(Debug, Clone, Copy)]
struct Uptime {
    cs: u32,
    at: Instant,
}

impl Uptime {
    fn now_cs(&self) -> u32 {
        let add = (self.at.elapsed().as_millis() / 10).min(u128::from(u32::MAX)) as u32;
        self.cs.wrapping_add(add)
    }
}

/// One session's state.
struct Session<'a> {
    config: &'a Config,
    /// The thread is told to stop: a wait for the master ends.
    stop: &'a AtomicBool,
    published: &'a Published,
    stats: &'a Stats,
    conn: Conn,
    reader: Reader,
    id: u32,
    packet: u32,
    uptime: Uptime,
    view: Mib,
    view_of: Option<Arc<Snapshot>>,
    view_built: Instant,
    last_request: Instant,
}

impl Session<'_> {
    fn next_packet(&mut self) -> u32 {
        self.packet = self.packet.wrapping_add(1);
        self.packet
    }

    /// Sends `bytes` and waits for the response to `packet` (answering requests meanwhile).
    fn call(&mut self, bytes: &[u8], packet: u32) -> Result<u16, End> {
        self.conn.write_all(bytes)?;
        let until = Instant::now() + ANSWER;
        while Instant::now() < until {
            if self.stop.load(Ordering::Relaxed) {
                return Err(End::Stop);
            }
            let Some(p) = self.reader.next(&mut self.conn)? else {
                continue;
            };
            match pdu::decode(&p) {
                Ok(Pdu::Response {
                    ids,
                    uptime_cs,
                    error,
                }) if ids.packet == packet => {
                    self.uptime = Uptime {
                        cs: uptime_cs,
                        at: Instant::now(),
                    };
                    if ids.session != 0 {
                        self.id = ids.session;
                    }
                    return Ok(error);
                }
                Ok(other) => self.handle(other)?,
                Err(e) => self.refuse(&p, &e)?,
            }
        }
        Err(End::Protocol(format!(
            "no answer in {} s",
            ANSWER.as_secs()
        )))
    }

    fn refuse(&mut self, p: &[u8], e: &pdu::PduError) -> Result<(), End> {
        log::warn!("AgentX: {e}");
        // Answer what can be answered (the ids are in the header), so the master moves on.
        if let Ok(h) = agentx::pdu::Header::from_bytes(p) {
            let ids = Ids {
                session: h.session_id,
                transaction: h.transaction_id,
                packet: h.packet_id,
            };
            self.conn
                .write_all(&pdu::response(ids, PARSE_ERROR, 0, vec![]))?;
        }
        Ok(())
    }

    /// The view for a request: the one in use, or one from a newer snapshot when no walk is
    /// going on (see [`may_refresh`]).
    fn refresh_view(&mut self, p: &Pdu) {
        let latest = self.published.latest();
        let newer = match (&latest, &self.view_of) {
            (Some(l), Some(v)) => !Arc::ptr_eq(l, v),
            (Some(_), None) => true,
            (None, _) => false,
        };
        let idle = self.last_request.elapsed() >= WALK_GAP;
        if newer && may_refresh(&self.view, p, idle, self.view_built.elapsed()) {
            if let Some(s) = latest {
                self.view = Mib::build(&Inputs {
                    board: s.environment.board.as_deref().unwrap_or(""),
                    sensors: &s.environment.sensors,
                    power: &s.environment.power,
                    interval_ms: self.config.interval_ms,
                    uptime_cs: self.uptime.now_cs(),
                    envmon_view: self.config.envmon_view,
                    threshold_notifications: self.config.notifications.threshold,
                });
                self.view_of = Some(s);
                self.view_built = Instant::now();
            }
        }
        self.last_request = Instant::now();
    }

    fn handle(&mut self, p: Pdu) -> Result<(), End> {
        match &p {
            Pdu::Close(_) => return Err(End::Protocol("the master closed the session".into())),
            Pdu::Get(..) | Pdu::GetNext(..) | Pdu::GetBulk { .. } => self.refresh_view(&p),
            Pdu::Other(_, t) => log::debug!("AgentX: PDU type {t} from the master"),
            _ => {}
        }
        if let Some(r) = answer(&self.view, &p) {
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            self.conn.write_all(&r)?;
        }
        Ok(())
    }

    fn notify(&mut self, c: &Transition) -> Result<(), End> {
        for vbs in mib::notifications(c, self.config.notifications, self.config.envmon_view) {
            let packet = self.next_packet();
            let bytes = pdu::notify(self.id, packet, vbs);
            match self.call(&bytes, packet)? {
                0 => {
                    self.stats.notifications.fetch_add(1, Ordering::Relaxed);
                }
                e => {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    log::warn!("AgentX: the master refused a notification (error {e})");
                }
            }
        }
        Ok(())
    }
}

fn open_session<'a>(
    config: &'a Config,
    published: &'a Published,
    stats: &'a Stats,
    stop: &'a AtomicBool,
) -> Result<Session<'a>, End> {
    let conn = Conn::connect(&config.addr)?;
    let mut s = Session {
        config,
        stop,
        published,
        stats,
        conn,
        reader: Reader { buf: Vec::new() },
        id: 0,
        packet: 0,
        uptime: Uptime {
            cs: 0,
            at: Instant::now(),
        },
        view: Mib::default(),
        view_of: None,
        view_built: Instant::now(),
        last_request: Instant::now() - WALK_GAP,
    };
    let packet = s.next_packet();
    match s.call(
        &pdu::open(packet, 5, "envmon environment monitoring"),
        packet,
    )? {
        0 => {}
        e => return Err(End::Protocol(format!("Open refused (error {e})"))),
    }
    for tree in mib::subtrees(config.envmon_view) {
        let packet = s.next_packet();
        let e = s.call(&pdu::register(s.id, packet, &tree), packet)?;
        if e != 0 {
            let oid: Vec<String> = tree.iter().map(u32::to_string).collect();
            return Err(End::Protocol(format!(
                "Register {} refused (error {e})",
                oid.join(".")
            )));
        }
    }
    Ok(s)
}

fn serve(s: &mut Session, events: &Receiver<Transition>) -> Result<(), End> {
    let mut last_ping = Instant::now();
    loop {
        if s.stop.load(Ordering::Relaxed) {
            let packet = s.next_packet();
            let _ = s.conn.write_all(&pdu::close(s.id, packet));
            return Err(End::Stop);
        }
        if let Some(p) = s.reader.next(&mut s.conn)? {
            match pdu::decode(&p) {
                Ok(p) => s.handle(p)?,
                Err(e) => s.refuse(&p, &e)?,
            }
            continue;
        }
        while let Ok(c) = events.try_recv() {
            s.notify(&c)?;
        }
        if last_ping.elapsed() >= PING_EVERY {
            let packet = s.next_packet();
            let bytes = pdu::ping(s.id, packet);
            s.call(&bytes, packet)?;
            last_ping = Instant::now();
        }
    }
}

/// The thread: sessions until told to stop.
fn run(
    config: &Config,
    published: &Published,
    events: &Receiver<Transition>,
    stop: &AtomicBool,
    stats: &Stats,
) {
    let mut delay = BACKOFF.0;
    let mut reported = false;
    while !stop.load(Ordering::Relaxed) {
        let ended = match open_session(config, published, stats, stop) {
            Ok(mut s) => {
                stats.sessions.fetch_add(1, Ordering::Relaxed);
                log::info!("AgentX: registered with the master at {}", config.addr);
                reported = false;
                delay = BACKOFF.0;
                serve(&mut s, events)
            }
            Err(e) => Err(e),
        };
        match ended {
            Err(End::Stop) | Ok(()) => break,
            Err(e) => {
                if !reported {
                    log::warn!("AgentX: master {}: {e}; trying again", config.addr);
                    reported = true;
                }
            }
        }
        // Transitions while there is no master are not sent (counted).
        let until = Instant::now() + delay;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            match events.recv_timeout(Duration::from_millis(50)) {
                Ok(c) => {
                    let lost = mib::notifications(&c, config.notifications, config.envmon_view);
                    stats
                        .dropped
                        .fetch_add(lost.len() as u64, Ordering::Relaxed);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        delay = (delay * 2).min(BACKOFF.1);
    }
}
