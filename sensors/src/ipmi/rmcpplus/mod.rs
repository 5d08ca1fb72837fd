//! RMCP+ (IPMI 2.0 LAN, cipher suite 3: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128), written
//! for a link that loses datagrams and a BMC that forgets sessions. It replaces ipmi-rs's
//! RMCP+ layer, which does not check that a reply answers the request (a duplicated or late
//! datagram shifts every later reading onto the next sensor), panics when a send fails, and
//! stops at sequence number wrap.
//!
//! - Every request has a deadline (`attempts` x `attempt_timeout`); a lost request or reply
//!   is sent again (same request sequence, new session sequence number) until then.
//! - A reply is taken only when it is authentic (HMAC-SHA1-96 over the session header and
//!   payload), decrypts, is new (its session sequence number was not seen and is not older
//!   than the last [`SEQ_WINDOW`]: [`SeqWindow`]), and answers this request: its request
//!   sequence, command and NetFn match. Anything else (a late reply to an earlier request, a
//!   duplicate, an old authentic reply played again) is discarded, counted, and the wait
//!   goes on. Without the window, a reply replayed 64 requests later (the request sequence
//!   is 6 bits) answers a Get Sensor Reading of another sensor, and its reading is taken.
//! - Node busy (C0h) and command timeout (C3h) are asked again after a short pause, within
//!   the same deadline.
//! - A session idle for longer than [`IDLE_REOPEN`] is opened again before the next request
//!   (BMCs close idle sessions after 30-60 s), so a long poll interval needs no reconnect
//!   and raises nothing.
//!
//! The packet building and checking are pure functions (tested below); [`RmcpPlus`] does the
//! UDP I/O around them.

use crate::ipmi::command::{CloseSession, Command, SetSessionPrivilege};
use crate::ipmi::{
    IpmiError, IpmiErrorKind, Request, Transport,
    rto::{LossMeter, Rto, RtoBounds, Window},
};
use std::{
    fs::File,
    io::Read,
    net::{ToSocketAddrs, UdpSocket},
    time::{Duration, Instant},
};

mod crypto;
mod frame;
mod window;

use crypto::err;
use crypto::seal_with;
pub use crypto::{Keys, Rakp, open};
use frame::{
    ADMIN, OPEN_SESSION_REQ, OPEN_SESSION_RSP, RAKP1, RAKP2, RAKP3, RAKP4, ipmb_reply_owned,
    ipmb_request_into,
};
pub use frame::{ipmb_response, presession, presession_payload};
pub use window::{SEQ_WINDOW, SeqWindow};

/// A session idle longer than this is opened again before the next request.
pub const IDLE_REOPEN: Duration = Duration::from_secs(20);

/// How patient a session is.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// The retransmission timer's bounds (see [`super::rto`]).
    pub rto: RtoBounds,
    /// Transmissions per request before it is given up (each waits the timer in force).
    pub attempts: u32,
    /// Requests in flight at once in [`Transport::call_many`] (at most [`MAX_WINDOW`]).
    pub window: usize,
    /// A session idle this long is opened again before the next request.
    pub idle_reopen: Duration,
    /// The most one step of session setup (Open Session, RAKP 1, RAKP 3) waits in all: a
    /// BMC that does not answer costs a connection attempt this long, not the whole backoff.
    pub setup_budget: Duration,
}

/// The largest window: half the 16 session sequence numbers behind the highest that IPMI
/// v2.0 (section 6.12.13) has a BMC accept out of order, so requests overtaken on the way
/// are never refused as too old.
pub const MAX_WINDOW: usize = 8;

/// The default window (see docs/performance.md for the measurement and the reasoning).
pub const DEFAULT_WINDOW: usize = 8;

/// Transmissions of a Close Session (half a second each at most): at 35% loss each way
/// all six go unanswered once in 26 closes, and then the next session closes it.
const CLOSE_ATTEMPTS: u32 = 6;

/// Sessions remembered for closing later (a BMC has a handful of slots).
const MAX_UNCLOSED: usize = 8;

/// Transmissions of one request whose replies are still taken (the rest are forgotten):
/// the last three tries when each goes twice on a lossy link. At most 8 requests in flight
/// keep 48 of the 64 request sequence numbers.
const KEPT_TRANSMISSIONS: usize = 6;

/// The session setup budget after a batch the BMC answered nothing of (see
/// `RmcpPlus::reactivate_quickly`).
const QUICK_SETUP: Duration = Duration::from_secs(1);

/// A pause before a request the BMC said it was too busy for (C0h, C3h) is sent again.
const BUSY_PAUSE: Duration = Duration::from_millis(50);

impl Default for Patience {
    fn default() -> Self {
        Patience {
            rto: RtoBounds::default(),
            attempts: 6,
            window: DEFAULT_WINDOW,
            idle_reopen: IDLE_REOPEN,
            setup_budget: Duration::from_secs(4),
        }
    }
}

/// Commands whose repetition undoes the first (a second reservation cancels the first): only
/// the reply to the newest transmission is taken.
fn newest_only(netfn: u8, cmd: u8) -> bool {
    matches!(
        (netfn, cmd),
        (0x0A, 0x22) | (0x0A, 0x42) | (0x04, 0x22) // Reserve SDR Repository, SEL, Device SDR
    )
}

/// One request on its way (its data borrowed from the batch: a flight allocates nothing).
struct Flight<'a> {
    /// Its place in the batch.
    index: usize,
    netfn: u8,
    cmd: u8,
    ipmb_data: &'a [u8],
    /// Its transmissions, (request sequence number, when), the newest last.
    sent: heapless::Vec<(u8, Instant), KEPT_TRANSMISSIONS>,
    /// When the newest transmission is given up on.
    due: Instant,
    /// Transmissions after a timeout or none (a busy BMC's asked-again ones not counted).
    tries: u32,
    busy: u32,
    started: Instant,
}

impl Flight<'_> {
    fn answers(&self, rq_seq: u8, netfn: u8, cmd: u8) -> Option<Instant> {
        if netfn != self.netfn | 1 || cmd != self.cmd {
            return None;
        }
        let newest = self.sent.last().map(|s| s.0);
        if newest_only(self.netfn, self.cmd) && newest != Some(rq_seq) {
            return None;
        }
        self.sent.iter().find(|s| s.0 == rq_seq).map(|s| s.1)
    }
}

/// An RMCP+ session to a BMC.
pub struct RmcpPlus {
    sock: UdpSocket,
    what: String,
    login: Login,
    patience: Patience,
    keys: Keys,
    sids: Sids,
    /// Whether the BMC holds a session of ours (to close before another is opened).
    active: bool,
    seq: Sequence,
    rto: Rto,
    window: Window,
    /// The link's loss, as seen: above a share, each transmission goes twice.
    loss: LossMeter,
    last_used: Instant,
    counts: Counts,
    /// Sessions of ours the BMC may still hold: their Close Session got no answer.
    unclosed: Vec<[u8; 4]>,
    random: File,
}

/// The session's IDs: ours (the remote console's) and the BMC's.
struct Sids {
    console: [u8; 4],
    bmc: [u8; 4],
}

/// Who logs in: the user name (at most 16 bytes) and password (Kuid, at most 20).
struct Login {
    user: Vec<u8>,
    password: Vec<u8>,
}

/// The session's sequence numbers: ours (the session sequence out), the BMC's (the replay
/// window in), and the IPMB request sequence (6 bits).
struct Sequence {
    out: u32,
    inbound: SeqWindow,
    rq: u8,
}

/// What the transport counts over its life ([`Transport`]'s counters).
#[derive(Default)]
struct Counts {
    commands: u64,
    sessions: u64,
    discarded: u64,
    retransmissions: u64,
}

fn random_bytes<const N: usize>(f: &mut File) -> Result<[u8; N], IpmiError> {
    let mut b = [0u8; N];
    f.read_exact(&mut b)
        .map_err(|e| err(IpmiErrorKind::Connect, format!("/dev/urandom: {e}")))?;
    Ok(b)
}

impl RmcpPlus {
    /// Opens a session as `user` (administrator privilege).
    pub fn connect(
        host: &str,
        port: u16,
        user: &str,
        password: &str,
        patience: Patience,
    ) -> Result<RmcpPlus, IpmiError> {
        let what = format!("rmcp://{user}@{host}:{port}");
        let connect = |e: std::io::Error| err(IpmiErrorKind::Connect, format!("{what}: {e}"));
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(connect)?
            .next()
            .ok_or_else(|| err(IpmiErrorKind::Connect, format!("{what}: no address")))?;
        let bind = if addr.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let sock = UdpSocket::bind(bind).map_err(connect)?;
        sock.connect(addr).map_err(connect)?;
        let random = File::open("/dev/urandom").map_err(connect)?;
        let password = password.as_bytes();
        let mut s = RmcpPlus {
            sock,
            what,
            login: Login {
                user: user.as_bytes().iter().copied().take(16).collect(),
                password: password[..password.len().min(20)].to_vec(),
            },
            patience,
            keys: Keys {
                k1: [0; 20],
                aes: [0; 16],
            },
            sids: Sids {
                console: [0; 4],
                bmc: [0; 4],
            },
            active: false,
            seq: Sequence {
                out: 1,
                inbound: SeqWindow::default(),
                rq: 0,
            },
            rto: Rto::new(patience.rto),
            window: Window::new(patience.window.min(MAX_WINDOW)),
            loss: LossMeter::default(),
            last_used: Instant::now(),
            counts: Counts::default(),
            unclosed: Vec::new(),
            random,
        };
        s.activate()?;
        Ok(s)
    }

    /// One pre-session exchange: `payload(tag)` sent, again while no reply comes, each
    /// transmission under a new message tag (the reply echoes it: the round trip is timed
    /// exactly), until [`Patience::attempts`] transmissions have waited their timer.
    fn exchange(
        &mut self,
        ptype: u8,
        payload: impl Fn(u8) -> Vec<u8>,
        rtype: u8,
    ) -> Result<Vec<u8>, IpmiError> {
        let mut buf = [0u8; 512];
        let mut sent: Vec<(u8, Instant)> = Vec::new();
        let mut heard = Heard::default();
        let give_up = Instant::now() + self.patience.setup_budget;
        for _ in 0..self.patience.attempts {
            if Instant::now() >= give_up {
                break;
            }
            let tag = random_bytes::<1>(&mut self.random)?[0];
            if !sent.is_empty() {
                self.counts.retransmissions += 1;
            }
            sent.push((tag, Instant::now()));
            let packet = presession(ptype, &payload(tag));
            self.send(&packet)?;
            let until = (Instant::now() + self.rto.current()).min(give_up);
            while let Some(n) = self.recv_until(&mut buf, until, &mut heard.refused)? {
                let p = presession_payload(&buf[..n], rtype);
                let at = p
                    .and_then(|p| p.first())
                    .and_then(|t| sent.iter().find(|s| s.0 == *t).map(|s| s.1));
                if let (Some(p), Some(at)) = (p, at) {
                    self.rto.sample(at.elapsed());
                    return Ok(p.to_vec());
                }
                heard.note(&buf[..n], &packet, p.is_some());
                self.counts.discarded += 1;
            }
            self.rto.backoff();
        }
        Err(err(
            IpmiErrorKind::Connect,
            format!("{}: {}", self.what, heard.why(ptype, sent.len())),
        ))
    }

    fn send(&self, packet: &[u8]) -> Result<(), IpmiError> {
        match self.sock.send(packet) {
            Ok(_) => Ok(()),
            // A port unreachable from an earlier datagram, a route gone: the attempt is
            // lost; the next one, or the deadline, decides.
            Err(e) => {
                log::debug!("{}: send: {e}", self.what);
                Ok(())
            }
        }
    }

    /// Waits for one datagram until `until`; `None` when the time is up. An ICMP port
    /// unreachable on the way sets `refused`.
    fn recv_until(
        &self,
        buf: &mut [u8],
        until: Instant,
        refused: &mut bool,
    ) -> Result<Option<usize>, IpmiError> {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let _ = self.sock.set_read_timeout(Some(left));
            match self.sock.recv(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                // ECONNREFUSED from an ICMP unreachable: nothing to read; wait on.
                Err(e) => {
                    *refused |= e.kind() == std::io::ErrorKind::ConnectionRefused;
                    std::thread::sleep(Duration::from_millis(10).min(left));
                }
            }
        }
    }

    /// Closes the session the BMC holds for us, if any (Close Session, [`CLOSE_ATTEMPTS`]
    /// transmissions, half a second each at most; without an answer it is closed from the
    /// next session, at its first request and at every one after until it is): BMCs have a handful of session slots, and an operator's own ipmitool must
    /// find one free.
    fn close_session(&mut self) {
        if !self.active {
            return;
        }
        self.active = false;
        let saved = (self.patience, self.rto);
        self.patience.attempts = CLOSE_ATTEMPTS;
        self.rto = Rto::new(RtoBounds {
            initial: self.rto.current().min(Duration::from_millis(500)),
            min: Duration::from_millis(1),
            max: Duration::from_millis(500),
        });
        let closed = self.batch(&[CloseSession(self.sids.bmc).request()]);
        (self.patience, self.rto) = saved;
        match closed.first() {
            Some(Err(e)) if e.kind == IpmiErrorKind::Transport => {
                // Closed from the next session (an administrator may close any session).
                log::debug!("{}: Close Session: {e}; closing it later", self.what);
                if self.unclosed.len() < MAX_UNCLOSED {
                    self.unclosed.push(self.sids.bmc);
                }
            }
            Some(Err(e)) => log::debug!("{}: Close Session: {e}", self.what),
            Some(Ok(_)) => log::debug!("{}: session closed", self.what),
            None => {}
        }
    }

    /// Closes, from this session, the sessions whose Close Session got no answer. One that
    /// the BMC no longer knows answers with a completion code: it is gone too.
    fn close_unclosed(&mut self) {
        let ids = std::mem::take(&mut self.unclosed);
        let requests: Vec<Request> = ids.iter().map(|sid| CloseSession(*sid).request()).collect();
        for (sid, r) in ids.into_iter().zip(self.batch(&requests)) {
            match r {
                Err(e) if e.kind == IpmiErrorKind::Transport => self.unclosed.push(sid),
                r => log::debug!("{}: earlier session closed: {:?}", self.what, r.err()),
            }
        }
    }

    /// Open Session, RAKP 1-4, then administrator privilege. A session still open is closed
    /// first.
    fn activate(&mut self) -> Result<(), IpmiError> {
        self.close_session();
        self.sids.console = random_bytes(&mut self.random)?;
        if self.sids.console == [0; 4] {
            self.sids.console = [1, 0, 0, 0];
        }
        let bmc_sid = self.open_session()?;
        let rakp = self.rakp12(bmc_sid)?;
        self.rakp34(&rakp)?;
        self.keys = rakp.keys();
        self.sids.bmc = bmc_sid;
        self.active = true;
        self.seq.out = 1;
        self.seq.inbound = SeqWindow::default();
        self.last_used = Instant::now();
        let privilege = SetSessionPrivilege(ADMIN).request();
        if let Err(e) = self.request(privilege.netfn, privilege.cmd, &privilege.data) {
            self.close_session();
            return Err(self.fail(&format!("privilege: {e}")));
        }
        self.counts.sessions += 1;
        if !self.unclosed.is_empty() {
            self.close_unclosed();
        }
        Ok(())
    }

    /// After a batch that got no answer at all: the BMC restarted (it drops datagrams of a
    /// session it forgot) or died. A restarted BMC answers session setup at once, a dead one
    /// never, so the new session gets a short budget ([`QUICK_SETUP`]), and the old one is
    /// not closed now (its Close Session would go unanswered the same way): it is remembered
    /// and closed from the next session. A dead BMC then costs one request's deadline and
    /// this budget, not a close and a whole setup as well.
    fn reactivate_quickly(&mut self) -> Result<(), IpmiError> {
        if self.active {
            self.active = false;
            if self.unclosed.len() < MAX_UNCLOSED {
                self.unclosed.push(self.sids.bmc);
            }
        }
        let saved = self.patience.setup_budget;
        self.patience.setup_budget = saved.min(QUICK_SETUP);
        let r = self.activate();
        self.patience.setup_budget = saved;
        r
    }

    /// A session setup failure, naming the BMC.
    fn fail(&self, what: &str) -> IpmiError {
        err(IpmiErrorKind::Connect, format!("{}: {what}", self.what))
    }

    /// Open Session (cipher suite 3, administrator): the BMC's session ID.
    fn open_session(&mut self) -> Result<[u8; 4], IpmiError> {
        let console_sid = self.sids.console;
        let open_req = |tag: u8| {
            let mut m = vec![tag, ADMIN, 0, 0];
            m.extend_from_slice(&console_sid);
            m.extend_from_slice(&[0x00, 0, 0, 0x08, 0x01, 0, 0, 0]); // RAKP-HMAC-SHA1
            m.extend_from_slice(&[0x01, 0, 0, 0x08, 0x01, 0, 0, 0]); // HMAC-SHA1-96
            m.extend_from_slice(&[0x02, 0, 0, 0x08, 0x01, 0, 0, 0]); // AES-CBC-128
            m
        };
        let r = self.exchange(OPEN_SESSION_REQ, open_req, OPEN_SESSION_RSP)?;
        if r.get(1) != Some(&0) {
            let code = r.get(1).copied().unwrap_or(0xff);
            return Err(self.fail(&format!(
                "open session refused (status 0x{code:02x}: {})",
                setup_status(code)
            )));
        }
        r.get(8..12)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| err(IpmiErrorKind::Connect, "short Open Session Response"))
    }

    /// RAKP 1 and 2: our random number and name out, the BMC's random number, GUID and proof
    /// back; the proof checked.
    fn rakp12(&mut self, bmc_sid: [u8; 4]) -> Result<Rakp, IpmiError> {
        let rm = random_bytes::<16>(&mut self.random)?;
        let role = 0x10 | ADMIN; // name-only lookup, administrator
        let user = self.login.user.clone();
        let rakp1 = |tag: u8| {
            let mut m = vec![tag, 0, 0, 0];
            m.extend_from_slice(&bmc_sid);
            m.extend_from_slice(&rm);
            m.extend_from_slice(&[role, 0, 0, user.len() as u8]);
            m.extend_from_slice(&user);
            m
        };
        let r2 = self.exchange(RAKP1, rakp1, RAKP2)?;
        if r2.get(1) != Some(&0) {
            let code = r2.get(1).copied().unwrap_or(0xff);
            return Err(self.fail(&format!(
                "RAKP 2 refused (status 0x{code:02x}: {})",
                setup_status(code)
            )));
        }
        let part = |range: std::ops::Range<usize>| r2.get(range).map(<[u8]>::to_vec);
        let (Some(rc), Some(guid), Some(code)) = (part(8..24), part(24..40), part(40..60)) else {
            return Err(err(IpmiErrorKind::Connect, "short RAKP 2"));
        };
        let rakp = Rakp {
            kuid: self.login.password.clone(),
            console_sid: self.sids.console,
            bmc_sid,
            rm,
            rc: rc.try_into().unwrap_or([0; 16]),
            guid: guid.try_into().unwrap_or([0; 16]),
            role,
            user: self.login.user.clone(),
        };
        if code != rakp.rakp2_code() {
            return Err(self.fail(
                "authentication failed: the password is wrong (the BMC's RAKP 2 proof does not \
                 match it; ENVMON_IPMI_PASSWORD or --ipmi-password-file)",
            ));
        }
        Ok(rakp)
    }

    /// RAKP 3 and 4: our proof out, the BMC's integrity check back.
    fn rakp34(&mut self, rakp: &Rakp) -> Result<(), IpmiError> {
        let (code3, bmc_sid) = (rakp.rakp3_code(), rakp.bmc_sid);
        let rakp3 = |tag: u8| {
            let mut m = vec![tag, 0, 0, 0];
            m.extend_from_slice(&bmc_sid);
            m.extend_from_slice(&code3);
            m
        };
        // RAKP 4 lost on the way: the BMC has activated the session on RAKP 3 and answers a
        // repeated RAKP 3 no more. The session is tried as it is (a reply to the privilege
        // request is authentic only if the BMC derived the same keys), and closed if it
        // does not answer: a lost datagram costs neither a new handshake nor a session
        // slot left open on the BMC.
        match self.exchange(RAKP3, rakp3, RAKP4) {
            Ok(r4) if r4.get(1) != Some(&0) || r4.get(8..20) != Some(&rakp.rakp4_check()[..]) => {
                Err(self.fail("RAKP 4 check failed"))
            }
            Ok(_) => Ok(()),
            Err(_) => {
                log::debug!("{}: no RAKP 4; trying the session", self.what);
                Ok(())
            }
        }
    }

    /// One request (see [`RmcpPlus::batch`]).
    fn request(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        self.batch(&[Request::new(netfn, cmd, data)])
            .pop()
            .unwrap_or_else(|| Err(err(IpmiErrorKind::Transport, "no request")))
    }

    /// A request sequence number no transmission in flight uses.
    fn next_rq_seq(&mut self, flights: &[Flight<'_>]) -> u8 {
        for _ in 0..64 {
            self.seq.rq = (self.seq.rq + 1) & 0x3f;
            let rq = self.seq.rq;
            if !flights.iter().any(|f| f.sent.iter().any(|s| s.0 == rq)) {
                return rq;
            }
        }
        self.seq.rq
    }

    /// Sends `f` (again), twice while the link loses many round trips ([`LossMeter`]): each
    /// copy a transmission of its own (the flight takes a reply to either).
    fn transmit(&mut self, f: &mut Flight<'_>, flights: &[Flight<'_>]) -> Result<(), IpmiError> {
        self.transmit_once(f, flights)?;
        // Not a command whose repetition undoes the first (only its newest reply counts).
        if self.loss.duplicate() && !newest_only(f.netfn, f.cmd) {
            self.counts.retransmissions += 1;
            self.transmit_once(f, flights)?;
        }
        Ok(())
    }

    /// Sends `f` once: a new request sequence number and session sequence number.
    fn transmit_once(
        &mut self,
        f: &mut Flight<'_>,
        flights: &[Flight<'_>],
    ) -> Result<(), IpmiError> {
        let rq = self.next_rq_seq(flights);
        let iv = random_bytes::<16>(&mut self.random)?;
        let seq = self.seq.out;
        self.seq.out = self.seq.out.checked_add(1).unwrap_or(1);
        if self.seq.out == u32::MAX {
            return Err(err(
                IpmiErrorKind::Session,
                "session sequence numbers used up",
            ));
        }
        // The IPMB frame written straight into the sealed message (one allocation).
        let sealed = seal_with(&self.keys, self.sids.bmc, seq, iv, |p| {
            ipmb_request_into(p, f.netfn, f.cmd, rq, f.ipmb_data)
        });
        self.send(&sealed)?;
        if f.sent.is_full() {
            f.sent.remove(0);
        }
        let now = Instant::now();
        // Room was made above: the push cannot fail.
        let _ = f.sent.push((rq, now));
        f.due = now + self.rto.current();
        Ok(())
    }

    /// Requests with up to the window in flight, each sent again when its timer expires
    /// (a new request sequence number each time, so a reply says which transmission it
    /// answers), until its reply or [`Patience::attempts`] transmissions. Results in order.
    fn batch(&mut self, requests: &[Request]) -> Vec<Result<Vec<u8>, IpmiError>> {
        self.batch_until(requests, false)
    }

    /// [`RmcpPlus::batch`]; with `first` (copies of one request, at most [`MAX_WINDOW`]),
    /// every request is in flight at once and the batch ends at the first answer (a reply or
    /// a completion code): the other flights are given up (their late replies are discarded
    /// as answering nothing) and fail as not needed.
    fn batch_until(
        &mut self,
        requests: &[Request],
        first: bool,
    ) -> Vec<Result<Vec<u8>, IpmiError>> {
        let mut results: Vec<Option<Result<Vec<u8>, IpmiError>>> = vec![None; requests.len()];
        let mut flights: Vec<Flight<'_>> = Vec::new();
        let mut next = 0;
        let mut buf = [0u8; 1024];
        loop {
            // Copies of one request (`first`) all go at once, whatever the window: they are
            // there to beat loss, and a window shrunk by that loss would send them in turn.
            while (first || flights.len() < self.window.size()) && next < requests.len() {
                let r = &requests[next];
                let now = Instant::now();
                let mut f = Flight {
                    index: next,
                    netfn: r.netfn,
                    cmd: r.cmd,
                    ipmb_data: &r.data,
                    sent: heapless::Vec::new(),
                    due: now,
                    tries: 1,
                    busy: 0,
                    started: now,
                };
                next += 1;
                if let Err(e) = self.transmit(&mut f, &flights) {
                    results[f.index] = Some(Err(e));
                    continue;
                }
                flights.push(f);
            }
            let Some(until) = flights.iter().map(|f| f.due).min() else {
                break;
            };
            match self.recv_until(&mut buf, until, &mut false) {
                Ok(Some(n)) => {
                    if let Some((i, r)) = self.take_reply(&buf[..n], &mut flights) {
                        results[i] = Some(r);
                        if first {
                            let e = err(IpmiErrorKind::Transport, "not needed: answered");
                            for f in flights.drain(..) {
                                results[f.index] = Some(Err(e.clone()));
                            }
                            next = requests.len();
                        }
                    }
                }
                Ok(None) => {
                    if let Some(e) = self.expire(&mut flights, &mut results) {
                        // The BMC is silent: what is in flight or not sent yet fails with
                        // this request (a dead BMC costs one request's deadline, not one
                        // per request).
                        for f in flights.drain(..) {
                            results[f.index] = Some(Err(e.clone()));
                        }
                        for r in results.iter_mut().skip(next) {
                            *r = Some(Err(e.clone()));
                        }
                        next = requests.len();
                    }
                }
                Err(e) => {
                    for f in flights.drain(..) {
                        results[f.index] = Some(Err(e.clone()));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(err(IpmiErrorKind::Transport, "not sent"))))
            .collect()
    }

    /// A datagram: the result of the flight it answers, if it is an authentic, new reply to
    /// one of them (else it is counted as discarded). A busy BMC's reply sends the request
    /// again after a pause, up to three times.
    fn take_reply(
        &mut self,
        packet: &[u8],
        flights: &mut Vec<Flight<'_>>,
    ) -> Option<(usize, Result<Vec<u8>, IpmiError>)> {
        let Some((seq_in, reply)) = open(&self.keys, self.sids.console, packet) else {
            self.counts.discarded += 1;
            return None; // not ours, forged, or of an old session
        };
        if !self.seq.inbound.accept(seq_in) {
            self.counts.discarded += 1;
            return None; // authentic, but seen before: a duplicate or a replay
        }
        let found = ipmb_reply_owned(reply).and_then(|r| {
            flights
                .iter()
                .enumerate()
                .find_map(|(at, f)| Some((at, f.answers(r.rq_seq, r.netfn, r.cmd)?)))
                .map(|(at, sent)| (at, sent, r))
        });
        let Some((at, sent, r)) = found else {
            self.counts.discarded += 1;
            return None; // a late reply to a request already answered
        };
        self.rto.sample(sent.elapsed());
        self.window.replied();
        self.loss.replied();
        self.last_used = Instant::now();
        if matches!(r.cc, 0xC0 | 0xC3) && flights[at].busy < 3 {
            let mut f = flights.remove(at);
            f.busy += 1;
            std::thread::sleep(BUSY_PAUSE);
            if let Err(e) = self.transmit(&mut f, flights) {
                return Some((f.index, Err(e)));
            }
            flights.push(f);
            return None;
        }
        let f = flights.remove(at);
        Some((
            f.index,
            match r.cc {
                0x00 => Ok(r.data),
                cc => Err(err(
                    IpmiErrorKind::Completion(cc),
                    format!("{}: netfn 0x{:02x} cmd 0x{:02x}", self.what, f.netfn, f.cmd),
                )),
            },
        ))
    }

    /// The flights whose timer expired: sent again, or given up after the last attempt. The
    /// timer backs off and the window halves once per expiry of a silent BMC. Returns the
    /// error of a request given up while the BMC is silent: the whole batch is given up.
    fn expire(
        &mut self,
        flights: &mut Vec<Flight<'_>>,
        results: &mut [Option<Result<Vec<u8>, IpmiError>>],
    ) -> Option<IpmiError> {
        let now = Instant::now();
        let (expired, waiting): (Vec<Flight<'_>>, Vec<Flight<'_>>) =
            flights.drain(..).partition(|f| f.due <= now);
        *flights = waiting;
        if expired.is_empty() {
            return None;
        }
        // Two whole timers without a reply: on a lossy link one can pass by chance.
        let silent = self.last_used.elapsed() >= self.rto.current() * 2;
        // Silence (no reply for two whole timers) is a BMC or link that cannot keep up: the
        // timer backs off and fewer requests go at once. Losses among replies that still
        // come are a lossy link: sent again at once, at the same pace.
        if silent {
            self.rto.backoff();
            self.window.timed_out();
        } else {
            for _ in &expired {
                self.loss.lost();
            }
        }
        let mut given_up = None;
        for mut f in expired {
            if f.tries >= self.patience.attempts {
                let e = err(
                    IpmiErrorKind::Transport,
                    format!(
                        "{}: netfn 0x{:02x} cmd 0x{:02x}: no answer within {} ms ({} \
                         transmissions)",
                        self.what,
                        f.netfn,
                        f.cmd,
                        f.started.elapsed().as_millis(),
                        f.tries
                    ),
                );
                if silent {
                    given_up = Some(e.clone());
                }
                results[f.index] = Some(Err(e));
                continue;
            }
            f.tries += 1;
            self.counts.retransmissions += 1;
            match self.transmit(&mut f, flights) {
                Ok(()) => flights.push(f),
                Err(e) => results[f.index] = Some(Err(e)),
            }
        }
        given_up
    }
}

impl RmcpPlus {
    /// Sessions opened so far (the first one included).
    pub fn sessions(&self) -> u64 {
        self.counts.sessions
    }

    /// The retransmission timer now.
    pub fn rto(&self) -> Duration {
        self.rto.current()
    }
}

impl Transport for RmcpPlus {
    fn call(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        self.call_many(&[Request::new(netfn, cmd, data)])
            .pop()
            .unwrap_or_else(|| Err(err(IpmiErrorKind::Transport, "no request")))
    }

    fn call_many(&mut self, requests: &[Request]) -> Vec<Result<Vec<u8>, IpmiError>> {
        self.counts.commands += requests.len() as u64;
        if self.last_used.elapsed() > self.patience.idle_reopen {
            // The BMC may have closed an idle session: open a new one, quietly.
            log::debug!(
                "{}: idle for {:?}; opening a new session",
                self.what,
                self.last_used.elapsed()
            );
            if let Err(e) = self.activate() {
                return requests.iter().map(|_| Err(e.clone())).collect();
            }
        }
        if !self.unclosed.is_empty() {
            self.close_unclosed();
        }
        let mut out = self.batch(requests);
        // Requests that got no answer are asked once more, all within this call: on this
        // session while it answers others (a lossy link, not a lost session), else on a new
        // one (the BMC restarted or dropped it).
        let lost: Vec<usize> = (0..out.len())
            .filter(|&i| matches!(&out[i], Err(e) if e.kind == IpmiErrorKind::Transport))
            .collect();
        if let Some(&first) = lost.first() {
            let answering = lost.len() < out.len();
            if !answering {
                if let Err(e) = &out[first] {
                    log::debug!("{e}; trying a new session");
                }
                if self.reactivate_quickly().is_err() {
                    return out;
                }
            }
            let again: Vec<Request> = lost.iter().map(|&i| requests[i].clone()).collect();
            for (i, r) in lost.into_iter().zip(self.batch(&again)) {
                out[i] = r;
            }
        }
        out
    }

    fn call_first(&mut self, requests: &[Request]) -> Result<Vec<u8>, IpmiError> {
        let answer = |out: Vec<Result<Vec<u8>, IpmiError>>| {
            let mut lost = None;
            for r in out {
                match r {
                    Err(e) if e.kind == IpmiErrorKind::Transport => lost = lost.or(Some(e)),
                    answered => return Ok(answered),
                }
            }
            Err(lost.unwrap_or_else(|| err(IpmiErrorKind::Transport, "no request")))
        };
        // The session's upkeep as for any batch: idle reopening, sessions left to close; a
        // session given up by an earlier call (asked again at once, as a confirming read
        // is) is opened again first, quickly.
        self.counts.commands += requests.len() as u64;
        if !self.active {
            self.reactivate_quickly()?;
        } else if self.last_used.elapsed() > self.patience.idle_reopen {
            self.activate()?;
        }
        if !self.unclosed.is_empty() {
            self.close_unclosed();
        }
        match answer(self.batch_until(requests, true)) {
            Ok(answered) => answered,
            // Not one copy answered: the session may be gone (a BMC restart); a new one,
            // once, as for any batch.
            Err(e) => {
                log::debug!("{e}; trying a new session");
                self.reactivate_quickly()?;
                answer(self.batch_until(requests, true)).and_then(|r| r)
            }
        }
    }
    fn commands(&self) -> u64 {
        self.counts.commands
    }
    fn discarded(&self) -> u64 {
        self.counts.discarded
    }
    fn retransmissions(&self) -> u64 {
        self.counts.retransmissions
    }
    fn sessions(&self) -> u64 {
        self.counts.sessions
    }
}

impl Drop for RmcpPlus {
    fn drop(&mut self) {
        if self.active && !self.unclosed.is_empty() {
            self.close_unclosed();
        }
        self.close_session();
    }
}

/// The RMCP+ session setup status codes (IPMI 2.0 table 13-15) a BMC refuses with, each with
/// what to do: the one place that says them.
pub const SETUP_STATUS: &[(u8, &str)] = &[
    (
        0x01,
        "the BMC is out of resources for a session: too many open; close some",
    ),
    (0x04, NO_SUITE),
    (0x05, NO_SUITE),
    (0x09, "the role asked (administrator) is not valid here"),
    (
        0x0a,
        "the user may not have the administrator role: give it that privilege on the LAN channel",
    ),
    (
        0x0b,
        "the BMC has no session left at the administrator role: close some",
    ),
    (0x0d, "unknown user name: check the user in the URI"),
    (0x0f, "the password is wrong (the BMC's check of it failed)"),
    (0x10, NO_SUITE),
    (0x11, NO_SUITE),
    (0x12, "the BMC refused a parameter of the request"),
];

const NO_SUITE: &str = "no cipher suite in common: envmon speaks suite 3 (HMAC-SHA1, \
                        HMAC-SHA1-96, AES-CBC-128); enable it on the BMC";

/// What a setup status code says ([`SETUP_STATUS`]).
pub fn setup_status(code: u8) -> &'static str {
    SETUP_STATUS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("see IPMI 2.0 table 13-15", |(_, why)| why)
}

/// What came back while a session was being set up, when no setup reply did: what the
/// error then says (issue 35: a closed port, a silent one, an echo and junk all read "no
/// answer to session setup").
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Heard {
    /// An ICMP port unreachable came back: nothing listens on the port.
    pub refused: bool,
    /// Datagrams that were what envmon sent (an echo service).
    pub echoes: u32,
    /// Datagrams that are not RMCP+ session setup replies.
    pub foreign: u32,
    /// Setup replies to none of the requests sent (stale, or another client's).
    pub stale: u32,
}

impl Heard {
    /// Notes one datagram that answered nothing: `ours` is the request last sent,
    /// `setup_reply` whether it parsed as the awaited kind of setup reply.
    pub fn note(&mut self, datagram: &[u8], ours: &[u8], setup_reply: bool) {
        if datagram == ours {
            self.echoes += 1;
        } else if setup_reply {
            self.stale += 1;
        } else {
            self.foreign += 1;
        }
    }

    /// Why the setup failed, with the next step (pure).
    pub fn why(&self, ptype: u8, sent: usize) -> String {
        if self.echoes > 0 {
            return format!(
                "not an RMCP+ BMC: the port echoes what is sent ({} datagrams); is the port \
                 the BMC's (623)?",
                self.echoes
            );
        }
        if self.foreign > 0 {
            return format!(
                "not an RMCP+ BMC: {} datagrams came back that are not RMCP+ session setup \
                 replies (another service on the port, or an IPMI 1.5-only BMC)",
                self.foreign
            );
        }
        if self.refused {
            return "connection refused: nothing listens on that UDP port (ICMP port \
                    unreachable); is the BMC's LAN channel on, and the port its RMCP+ port \
                    (623)?"
                .into();
        }
        format!(
            "no answer to session setup (payload 0x{ptype:02x}, {sent} transmissions): the \
             BMC is down, unreachable, or not at this address and port"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frame::{BMC_ADDR, RQ_ADDR, checksum};

    fn keys() -> Keys {
        Rakp {
            kuid: b"secret".to_vec(),
            console_sid: [1, 2, 3, 4],
            bmc_sid: [5, 6, 7, 8],
            rm: [9; 16],
            rc: [10; 16],
            guid: [11; 16],
            role: 0x14,
            user: b"admin".to_vec(),
        }
        .keys()
    }

    /// A reply as the BMC would seal it: to our session ID.
    fn bmc_reply(k: &Keys, seq: u32, ipmb: &[u8]) -> Vec<u8> {
        seal_with(k, [1, 2, 3, 4], seq, [7; 16], |p| p.extend_from_slice(ipmb))
    }

    fn response(rq_seq: u8, netfn: u8, cmd: u8, cc: u8, data: &[u8]) -> Vec<u8> {
        let head = [RQ_ADDR, (netfn | 1) << 2];
        let mut m = head.to_vec();
        m.push(checksum(&head));
        m.extend_from_slice(&[BMC_ADDR, rq_seq << 2, cmd, cc]);
        m.extend_from_slice(data);
        let c = checksum(&m[3..]);
        m.push(c);
        m
    }

    /// Issue 35: a closed port, a silent one, an echo service and a service answering junk
    /// each give an error saying which (before, all four read "no answer to session setup").
    #[test]
    fn a_port_that_is_not_a_bmc_says_what_it_is() {
        use std::net::UdpSocket;
        let patience = Patience {
            setup_budget: Duration::from_millis(600),
            attempts: 3,
            ..Patience::default()
        };
        let try_port =
            |port: u16| match RmcpPlus::connect("127.0.0.1", port, "admin", "pw", patience) {
                Ok(_) => panic!("a session on {port}"),
                Err(e) => e,
            };
        // A server answering each datagram with `answer(datagram)`, for a while.
        let server = |answer: fn(&[u8]) -> Option<Vec<u8>>| {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = sock.local_addr().unwrap().port();
            sock.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            std::thread::spawn(move || {
                let mut buf = [0u8; 512];
                let end = Instant::now() + Duration::from_secs(3);
                while Instant::now() < end {
                    if let Ok((n, from)) = sock.recv_from(&mut buf) {
                        if let Some(a) = answer(&buf[..n]) {
                            let _ = sock.send_to(&a, from);
                        }
                    }
                }
            });
            port
        };
        let closed = {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap().port()
        };
        let e = try_port(closed);
        assert_eq!(e.kind, IpmiErrorKind::Connect);
        assert!(e.detail.contains("connection refused"), "{e}");
        let e = try_port(server(|_| None));
        assert!(e.detail.contains("no answer to session setup"), "{e}");
        let e = try_port(server(|d| Some(d.to_vec())));
        assert!(e.detail.contains("echoes what is sent"), "{e}");
        let e = try_port(server(|_| {
            Some(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec())
        }));
        assert!(e.detail.contains("not RMCP+ session setup replies"), "{e}");
        assert!(
            e.detail.starts_with("rmcp://admin@127.0.0.1:"),
            "names where: {e}"
        );
        assert!(setup_status(0x11).contains("cipher suite"));
        assert!(setup_status(0x0d).contains("unknown user"));
        assert!(setup_status(0x77).contains("table 13-15"));
    }

    #[test]
    fn sealed_messages_open_and_are_multiples_of_four() {
        let k = keys();
        for len in [7, 8, 15, 16, 17, 40] {
            let ipmb = vec![0xAB; len];
            let p = seal_with(&k, [5, 6, 7, 8], 9, [3; 16], |p| p.extend_from_slice(&ipmb));
            assert_eq!((p.len() - 4 - 12) % 4, 0, "integrity pad for {len}");
            let reply = bmc_reply(&k, 33, &ipmb);
            assert_eq!(open(&k, [1, 2, 3, 4], &reply), Some((33, ipmb)));
        }
    }

    #[test]
    fn forged_foreign_or_stale_replies_are_refused() {
        let k = keys();
        let r = response(5, 0x04, 0x2D, 0, &[40, 0xC0]);
        let mut p = bmc_reply(&k, 1, &r);
        assert!(open(&k, [9, 9, 9, 9], &p).is_none(), "another session");
        let last = p.len() - 1;
        p[last] ^= 1;
        assert!(open(&k, [1, 2, 3, 4], &p).is_none(), "a bad auth code");
        let mut q = bmc_reply(&k, 1, &r);
        q[20] ^= 0x40;
        assert!(
            open(&k, [1, 2, 3, 4], &q).is_none(),
            "a flipped payload bit"
        );
        for cut in [0, 10, 20, q.len() - 13] {
            assert!(open(&k, [1, 2, 3, 4], &q[..cut]).is_none(), "cut at {cut}");
        }
        // The reply to request 5 does not answer request 6, nor another command.
        assert_eq!(ipmb_response(&r, 0x04, 0x2D, 5), Some((0, vec![40, 0xC0])));
        assert_eq!(ipmb_response(&r, 0x04, 0x2D, 6), None);
        assert_eq!(ipmb_response(&r, 0x0A, 0x2D, 5), None);
        assert_eq!(ipmb_response(&r, 0x04, 0x2F, 5), None);
        let mut bad = r.clone();
        bad[7] ^= 1;
        assert_eq!(ipmb_response(&bad, 0x04, 0x2D, 5), None, "checksum");
    }

    #[test]
    fn the_sequence_window_takes_each_number_once_and_nothing_too_old() {
        let mut w = SeqWindow::default();
        assert!(!w.accept(0), "0 is not a session number");
        assert!(w.accept(1));
        assert!(!w.accept(1), "a duplicate");
        assert!(w.accept(3));
        assert!(w.accept(2), "late, within the window, not seen");
        assert!(!w.accept(2));
        assert!(w.accept(100), "a gap (lost messages) is fine");
        assert!(!w.accept(100 - SEQ_WINDOW), "older than the window");
        assert!(w.accept(100 - SEQ_WINDOW + 1), "the window's last slot");
        assert!(!w.accept(100 - SEQ_WINDOW + 1));
        // A replay of 64 messages ago, the case that puts a reading on the wrong sensor.
        for s in 101..=164 {
            assert!(w.accept(s));
        }
        assert!(!w.accept(100));
        // The window moves with the highest number: far ahead forgets everything behind.
        assert!(w.accept(u32::MAX));
        assert!(!w.accept(u32::MAX));
        assert!(!w.accept(164));
        assert!(w.accept(u32::MAX - 1));
    }

    #[test]
    fn requests_carry_checksums_the_bmc_checks() {
        let mut m = Vec::new();
        ipmb_request_into(&mut m, 0x0A, 0x40, 3, &[]);
        assert_eq!(m, [0x20, 0x28, 0xB8, 0x81, 0x0C, 0x40, 0x33]);
        assert_eq!(checksum(&m[..2]), m[2]);
        assert_eq!(checksum(&m[3..6]), m[6]);
    }
}
