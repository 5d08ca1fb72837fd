//! The local query socket (docs/contract.md §4).
//!
//! A Unix stream socket, mode 0660, in a directory created 0750. One line per request (at most
//! [`MAX_REQUEST`] bytes with its newline), one JSON line per reply, many requests per
//! connection. Each connection has its own small thread, with an idle timeout, a deadline
//! for each request line once it has begun ([`REQUEST_DEADLINE`]: a client trickling bytes
//! is cut) and a write timeout, so a slow or stuck client holds only itself. Every client
//! gets in (issue 35: 512 slow clients of one user kept an operator out): a user holds at
//! most [`MAX_PER_USER`] connections, its oldest closed for its newest, and when all
//! [`MAX_CLIENTS`] are taken the oldest of the user holding the most is closed
//! ([`victim`]). A request past the cap is told `request_too_long` and the connection ends
//! cleanly. Replies come from the latest published snapshot, so the poll loop never waits
//! for a client.
//!
//! Who may ask: the socket file is owned by the agent's user and the `socket-group`
//! (default: the agent's own group), mode 0660; and each connection's peer credentials
//! (`SO_PEERCRED`, `SO_PEERGROUPS`) are checked against the same rule ([`Access`]), so a
//! socket whose mode was widened, or whose descriptor was handed on, still answers only
//! them. A refused client is told `forbidden`; each refused user is logged once.

use crate::{
    error::AgentError,
    model::status::Published,
    model::status::Snapshot,
    model::{Environment, ErrorBody, ErrorReply, MetricsReply, VersionReply},
    os::sys::{PeerCreds, peer_credentials},
};
use std::{
    collections::HashSet,
    fs,
    io::{self, Read, Write},
    os::unix::{
        fs::{DirBuilderExt, MetadataExt, PermissionsExt},
        net::{UnixListener, UnixStream},
    },
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::Duration,
};

/// The longest request, newline included.
pub const MAX_REQUEST: usize = 1024;
/// Connections served at once.
pub const MAX_CLIENTS: usize = 512;
/// Connections one user holds at once (its oldest is closed for its newest).
pub const MAX_PER_USER: usize = 256;
/// A connection that sends nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request line is whole this long after its first byte, or the connection is closed.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// How long in all a connection may keep its thread waiting for its client to read its
/// replies: past it the client is dropped (one that pipelines requests and reads its
/// replies slowly holds its thread no longer). Only replies that waited ([`PROMPT`]) are
/// charged, so a client that reads is never dropped for it, however long it stays.
pub const WRITE_BUDGET: Duration = Duration::from_secs(5);
/// A reply written within this long did not wait on its reader (a descheduled thread
/// included): it costs nothing of [`WRITE_BUDGET`].
pub const PROMPT: Duration = Duration::from_millis(100);
const HANDLER_STACK: usize = 64 * 1024;
/// After a request past the cap, what the client still sends is read and dropped, up to
/// this much, so that the close is an orderly end of stream and not a reset.
pub const MAX_DRAIN: usize = 4 << 20;
/// ... and for at most this long between two reads.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

fn error(code: &str, message: &str) -> String {
    to_line(&ErrorReply {
        error: ErrorBody {
            code: code.into(),
            message: message.into(),
        },
    })
}

/// A reply as one JSON line. The model's types always serialize (string keys, no
/// fallible `Serialize`); should one ever fail, the client gets an error reply.
fn to_line<T: serde::Serialize>(reply: &T) -> String {
    serde_json::to_string(reply).unwrap_or_else(|e| {
        log::error!("cannot encode a reply: {e}");
        r#"{"error":{"code":"internal","message":"the reply could not be encoded"}}"#.into()
    })
}

/// The reply to one request line (without its newline), from the latest snapshot
/// published `age` ago (`show environment` says it: `age_ms`). Pure.
pub fn respond(request: &[u8], snapshot: Option<&Snapshot>, age: Duration) -> String {
    let Ok(text) = std::str::from_utf8(request) else {
        return error("bad_request", "the request is not UTF-8 text");
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return error(
            "empty_request",
            "send one of: show environment, show version, show metrics",
        );
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\t' && c != '\r')
    {
        return error("bad_request", "the request has control characters");
    }
    match (words.as_slice(), snapshot) {
        (["show", "version"], _) => to_line(&VersionReply {
            name: "envmon".into(),
            version: crate::VERSION.into(),
        }),
        (["show", "environment"], Some(s)) => to_line(&Environment {
            age_ms: Some(u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
            ..s.environment.clone()
        }),
        (["show", "metrics"] | ["show", "metrics", "openmetrics"], Some(s)) => {
            to_line(&MetricsReply {
                metrics: s.openmetrics(),
            })
        }
        (["show", "metrics", "prometheus"], Some(s)) => to_line(&MetricsReply {
            metrics: s.prometheus(),
        }),
        (["show", "environment" | "metrics", ..], None) => {
            error("not_ready", "the agent has not published its state yet")
        }
        _ => {
            let shown =
                envmon_core::text::sanitize(&text.trim().chars().take(64).collect::<String>());
            error(
                "unknown_command",
                &format!(
                    "unknown command '{shown}' (expected show environment, show version or show metrics)"
                ),
            )
        }
    }
}

/// Who may use the socket: root, the agent's own user, and members of its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The agent's user (the socket file's owner).
    pub uid: u32,
    /// The socket's group (`socket-group`, or the agent's own group).
    pub gid: u32,
}

impl Access {
    /// Whether this peer may ask. Pure.
    pub fn allows(&self, peer: &PeerCreds) -> bool {
        peer.uid == 0
            || peer.uid == self.uid
            || peer.gid == self.gid
            || peer.groups.contains(&self.gid)
    }
}

/// The most refused users logged one by one; past it, one line says more were refused.
pub const MAX_LOGGED_REFUSALS: usize = 256;

/// Refused connections: counted, and each user logged once (bounded).
#[derive(Debug, Default)]
pub struct Refusals {
    logged: Mutex<HashSet<u32>>,
    count: AtomicU64,
}

impl Refusals {
    /// Counts a refusal of `uid`; true when this user should be logged (the first time,
    /// within [`MAX_LOGGED_REFUSALS`] users).
    pub fn note(&self, uid: u32) -> bool {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        if logged.len() > MAX_LOGGED_REFUSALS {
            return false;
        }
        if logged.len() == MAX_LOGGED_REFUSALS {
            logged.insert(u32::MAX);
            log::warn!("socket: more than {MAX_LOGGED_REFUSALS} users refused; no more are logged");
            return false;
        }
        logged.insert(uid)
    }

    /// Connections refused so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// A group's ID from /etc/group text (`name:password:gid:members`), by name or number. Pure.
pub fn group_id(etc_group: &str, group: &str) -> Result<u32, String> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    etc_group
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            Some((f.next()?, f.nth(1)?))
        })
        .find(|(name, _)| *name == group)
        .and_then(|(_, gid)| gid.trim().parse::<u32>().ok())
        .ok_or_else(|| format!("no group '{group}' in /etc/group"))
}

/// What a file type is, for an error.
fn kind_of(t: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else if t.is_fifo() {
        "a FIFO"
    } else {
        "a device or other special file"
    }
}

/// The socket's directory must not be writable by others (they could plant or swap the
/// path), unless it is sticky (only a file's owner may remove or rename it there).
fn check_socket_dir(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let meta = fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mode = meta.mode();
    let others_write = mode & 0o022 != 0;
    let sticky = mode & 0o1000 != 0;
    if others_write && !sticky {
        return Err(format!(
            "{}: the socket directory is writable by {} (mode {:04o}) and not sticky: another \
             user could replace the socket; make it 0755 or 0750",
            dir.display(),
            if mode & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            },
            mode & 0o7777
        ));
    }
    Ok(())
}

/// Binds the socket. A stale socket file is replaced only when no live agent answers on it;
/// a live one is an error (exit 69). With `group`, the file is given to that group.
/// Returns the listener and who may use it.
pub fn bind(path: &Path, group: Option<u32>) -> Result<(UnixListener, Access), AgentError> {
    let unavailable = |what: String| AgentError::Unavailable(what);
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir)
            .map_err(|e| {
                unavailable(format!(
                    "{}: cannot create the socket directory: {e}",
                    dir.display()
                ))
            })?;
    }
    check_socket_dir(path).map_err(unavailable)?;
    if let Ok(meta) = fs::symlink_metadata(path) {
        // Only ever a socket is removed (never a file someone keeps there, never what a
        // symbolic link points at), and only when no live agent answers on it.
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(unavailable(format!(
                "{}: is {}, not a socket: envmon removes nothing else (choose another \
                 --socket path)",
                path.display(),
                kind_of(&meta.file_type())
            )));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(unavailable(format!(
                "{}: another envmon is running on this socket",
                path.display()
            )));
        }
        if meta.uid() != crate::os::sys::euid() {
            return Err(unavailable(format!(
                "{}: a stale socket of uid {}, not envmon's: not removed",
                path.display(),
                meta.uid()
            )));
        }
        fs::remove_file(path).map_err(|e| {
            unavailable(format!(
                "{}: cannot remove the stale socket: {e}",
                path.display()
            ))
        })?;
        log::info!("replaced the stale socket {}", path.display());
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| unavailable(format!("{}: cannot bind: {e}", path.display())))?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(|e| {
            unavailable(format!(
                "{}: cannot give it to group {gid}: {e}",
                path.display()
            ))
        })?;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(0o660))
        .map_err(|e| unavailable(format!("{}: cannot set its mode: {e}", path.display())))?;
    // The file is the agent's: its owner and group are the rule.
    let meta = fs::metadata(path)
        .map_err(|e| unavailable(format!("{}: cannot stat it: {e}", path.display())))?;
    let access = Access {
        uid: meta.uid(),
        gid: meta.gid(),
    };
    Ok((listener, access))
}

/// Removes the socket file when dropped (at agent exit).
pub struct SocketFile(pub PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Checks the peer: its user when allowed; a refused one is told `forbidden` (and logged
/// once per user).
fn admit(stream: &mut UnixStream, access: Access, refusals: &Refusals) -> Option<u32> {
    let peer = match peer_credentials(stream) {
        Ok(p) if access.allows(&p) => return Some(p.uid),
        Ok(p) => p,
        Err(e) => {
            log::warn!("socket: cannot read a client's credentials: {e}");
            return None;
        }
    };
    if refusals.note(peer.uid) {
        log::warn!(
            "socket: refused uid {} (gid {}, pid {}): not root, the agent's user or in group {}",
            peer.uid,
            peer.gid,
            peer.pid,
            access.gid
        );
    }
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let msg = format!(
        "only root, uid {} and group {} may ask",
        access.uid, access.gid
    );
    let _ = writeln!(stream, "{}", error("forbidden", &msg));
    None
}

/// Which open connection closes for a new one of `uid` (pure): `open` holds the users of
/// the open connections, oldest first. The oldest of `uid`'s own when it holds
/// [`MAX_PER_USER`]; else, when all [`MAX_CLIENTS`] are taken, the oldest of the user
/// holding the most; else none.
pub fn victim(open: &[u32], uid: u32) -> Option<usize> {
    let count = |u: u32| open.iter().filter(|x| **x == u).count();
    if count(uid) >= MAX_PER_USER {
        return open.iter().position(|x| *x == uid);
    }
    if open.len() < MAX_CLIENTS {
        return None;
    }
    let most = open.iter().copied().max_by_key(|u| count(*u))?;
    open.iter().position(|x| *x == most)
}

/// The open connections, oldest first: each one's number, user and stream (shared with
/// its thread: no second descriptor per client).
#[derive(Default)]
struct Clients {
    next: u64,
    open: Vec<(u64, u32, Arc<UnixStream>)>,
}

impl Clients {
    /// Takes in a connection of `uid` (closing the [`victim`], if any); its number. `None`
    /// only if the bound would be passed (`victim` makes room first: this keeps the bound
    /// whatever it decides).
    fn take(&mut self, uid: u32, stream: &Arc<UnixStream>) -> Option<u64> {
        let users: Vec<u32> = self.open.iter().map(|c| c.1).collect();
        if let Some(k) = victim(&users, uid) {
            let (_, _, old) = self.open.remove(k);
            // Its thread sees the end of the stream and leaves.
            let _ = old.shutdown(std::net::Shutdown::Both);
        }
        if self.open.len() >= MAX_CLIENTS {
            return None;
        }
        self.next += 1;
        self.open.push((self.next, uid, Arc::clone(stream)));
        Some(self.next)
    }

    /// Forgets connection `id` (its thread has left).
    fn gone(&mut self, id: u64) {
        self.open.retain(|c| c.0 != id);
    }
}

/// A client's place in [`Clients`], given up when its thread leaves (however it leaves).
struct Place(Arc<Mutex<Clients>>, u64);

impl Drop for Place {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .gone(self.1);
    }
}

/// Serves the socket on a background thread until the process ends, to the peers `access`
/// allows; refusals are counted in `refusals`.
pub fn serve(
    listener: UnixListener,
    access: Access,
    refusals: Arc<Refusals>,
    published: Arc<Published>,
) -> std::io::Result<()> {
    let clients = Arc::new(Mutex::new(Clients::default()));
    thread::Builder::new()
        .name("socket".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let mut stream = match conn {
                    Ok(s) => s,
                    // Out of descriptors, or the like: no busy loop while it lasts.
                    Err(_) => {
                        thread::sleep(Duration::from_millis(50));
                        continue;
                    }
                };
                let Some(uid) = admit(&mut stream, access, &refusals) else {
                    continue;
                };
                let stream = Arc::new(stream);
                let id = clients
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take(uid, &stream);
                let Some(id) = id else {
                    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
                    let _ = writeln!(&*stream, "{}", error("busy", "cannot serve a client now"));
                    continue;
                };
                let place = Place(Arc::clone(&clients), id);
                let published = Arc::clone(&published);
                let spawned = thread::Builder::new()
                    .name("socket client".into())
                    .stack_size(HANDLER_STACK)
                    .spawn(move || {
                        let _place = place;
                        handle(&stream, &published);
                    });
                if spawned.is_err() {
                    // The closure, and the place in it, are dropped: the place is given up.
                    log::warn!("socket: cannot start a client thread");
                }
            }
        })?;
    Ok(())
}

/// Replies `request_too_long`, ends the reply stream, and reads what the client still sends
/// (bounded), so that the client sees the error line and then an end of stream. A client
/// that keeps sending past [`MAX_DRAIN`] is closed anyway (it may see a reset).
fn refuse_long_request(mut stream: &UnixStream, budget: Duration) {
    let msg = format!("a request is at most {MAX_REQUEST} bytes with its newline");
    let line = error("request_too_long", &msg) + "\n";
    // Within what is left of the write budget, as every reply.
    if write_by(stream, line.as_bytes(), std::time::Instant::now() + budget).is_err() {
        return;
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    if stream.set_read_timeout(Some(DRAIN_TIMEOUT)).is_err() {
        return;
    }
    let mut chunk = [0u8; 4096];
    let mut drained = 0;
    while drained < MAX_DRAIN {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

fn handle(stream: &UnixStream, published: &Published) {
    answer(stream, published, WRITE_BUDGET);
}

/// Answers the requests of one connection; the time spent waiting for the client to read
/// its replies comes out of `budget`.
fn answer(mut stream: &UnixStream, published: &Published, mut budget: Duration) {
    if stream.set_read_timeout(Some(IDLE_TIMEOUT)).is_err() {
        return;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(MAX_REQUEST);
    let mut chunk = [0u8; 512];
    // When the request line being read began (its first byte).
    let mut begun: Option<std::time::Instant> = None;
    loop {
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).take(nl).collect();
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            begun = None;
            let latest = published.latest_aged();
            let mut reply = match &latest {
                Some((s, age)) => respond(line, Some(s), *age),
                None => respond(line, None, Duration::ZERO),
            };
            reply.push('\n');
            let start = std::time::Instant::now();
            if write_by(stream, reply.as_bytes(), start + budget).is_err() {
                return; // the client does not read its replies in time: drop it
            }
            let spent = start.elapsed();
            if spent > PROMPT {
                budget = budget.saturating_sub(spent);
            }
        }
        if buf.len() >= MAX_REQUEST {
            // Past the cap without a newline: say so, then close cleanly.
            return refuse_long_request(stream, budget);
        }
        // Idle between requests for at most IDLE_TIMEOUT; a request begun is whole within
        // REQUEST_DEADLINE (a client sending a byte now and then holds nothing for long).
        begun = if buf.is_empty() {
            None
        } else {
            begun.or_else(|| Some(std::time::Instant::now()))
        };
        let wait = match begun {
            None => IDLE_TIMEOUT,
            Some(t) => match REQUEST_DEADLINE.checked_sub(t.elapsed()) {
                Some(left) if !left.is_zero() => left,
                _ => return,
            },
        };
        if stream.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        match stream.read(&mut chunk[..(MAX_REQUEST - buf.len()).min(512)]) {
            Ok(0) | Err(_) => return, // closed, idle timeout, deadline, or error
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Writes all of `bytes` by `deadline`, each write waiting no longer than what is left:
/// `TimedOut` once it has passed, however the client trickles its reads.
fn write_by(
    mut stream: &UnixStream,
    mut bytes: &[u8],
    deadline: std::time::Instant,
) -> io::Result<()> {
    while !bytes.is_empty() {
        let left = deadline
            .checked_duration_since(std::time::Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(io::ErrorKind::TimedOut)?;
        stream.set_write_timeout(Some(left))?;
        match stream.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = bytes.get(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 35: a client that pipelines requests and reads its replies slowly is dropped
    /// once its thread has waited the connection's write budget in all. Before, each write
    /// waited up to 5 s of its own, so a client reading just fast enough held the thread for
    /// as long as it liked: here it would read all 40 replies.
    #[test]
    fn a_slow_reader_of_pipelined_replies_is_cut_at_the_write_budget() {
        let big = crate::model::Environment {
            unwatched: vec!["x".repeat(100); 400],
            ..crate::model::Environment::new(None, crate::model::Monitoring::Failed, 2000)
        };
        let published = Published::default();
        published.publish(Snapshot {
            environment: big,
            counters: Default::default(),
            names: Default::default(),
            host: None,
        });
        let (ours, theirs) = UnixStream::pair().unwrap();
        let server =
            std::thread::spawn(move || answer(&ours, &published, Duration::from_millis(500)));
        let mut theirs = theirs;
        theirs
            .write_all("show environment\n".repeat(40).as_bytes())
            .unwrap();
        theirs
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // 16 KiB every 50 ms (about 320 KiB/s), for at most 30 s.
        let (mut lines, mut closed) = (0, false);
        let mut b = vec![0u8; 16 << 10];
        for _ in 0..600 {
            std::thread::sleep(Duration::from_millis(50));
            match theirs.read(&mut b) {
                Ok(0) | Err(_) => {
                    closed = true;
                    break;
                }
                Ok(n) => lines += b[..n].iter().filter(|&&c| c == b'\n').count(),
            }
        }
        server.join().unwrap();
        assert!(
            closed && lines < 40,
            "closed {closed}, {lines} replies read"
        );
    }

    /// Issue 21: a regular file (or a symbolic link, or a directory) at the socket path is
    /// not removed: bind refuses, naming what is there, and the file survives.
    #[test]
    fn only_a_stale_socket_is_ever_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("envmon.sock");
        fs::write(&path, b"someone's data").unwrap();
        let e = bind(&path, None).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("a regular file, not a socket"), "{e}");
        assert_eq!(fs::read(&path).unwrap(), b"someone's data");
        fs::remove_file(&path).unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let e = bind(&path, None).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("a symbolic link"), "{e}");
        assert_eq!(fs::read(&target).unwrap(), b"keep");
        fs::remove_file(&path).unwrap();
        // A stale socket of our own is replaced.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(bind(&path, None).is_ok());
    }

    #[test]
    fn a_socket_directory_others_can_write_is_refused_unless_sticky() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let e = bind(&open.join("s.sock"), None)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("writable by everyone"), "{e}");
        fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(
            bind(&open.join("s.sock"), None).is_ok(),
            "sticky, like /tmp"
        );
    }

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> PeerCreds {
        PeerCreds {
            pid: 1,
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    #[test]
    fn root_the_agents_user_and_the_group_may_ask() {
        let a = Access { uid: 110, gid: 120 };
        assert!(a.allows(&peer(0, 0, &[])), "root");
        assert!(a.allows(&peer(110, 5, &[])), "the agent's user");
        assert!(a.allows(&peer(1000, 120, &[])), "primary group");
        assert!(
            a.allows(&peer(1000, 1000, &[27, 120])),
            "supplementary group"
        );
        assert!(!a.allows(&peer(1000, 1000, &[27])), "anyone else");
        assert!(!a.allows(&peer(65534, 65534, &[])));
    }

    /// Issue 35: every client gets in. A user at its bound gives up its own oldest; a full
    /// socket closes the oldest of the user holding the most, never another's.
    #[test]
    fn the_oldest_of_the_greediest_user_makes_room() {
        let attacker = 1000;
        let mut open = vec![attacker; MAX_PER_USER];
        assert_eq!(victim(&open, attacker), Some(0), "its own oldest");
        assert_eq!(victim(&open, 0), None, "room for root");
        open.insert(0, 0);
        open.extend(std::iter::repeat_n(2000, MAX_CLIENTS - open.len()));
        assert_eq!(open.len(), MAX_CLIENTS);
        assert_eq!(
            victim(&open, 0),
            Some(1),
            "the attacker's oldest, not root's"
        );
        assert_eq!(victim(&[0, 0, 5], 7), None);
    }

    #[test]
    fn each_refused_user_is_logged_once_and_the_set_is_bounded() {
        let r = Refusals::default();
        assert!(r.note(1000));
        assert!(!r.note(1000), "the same user again");
        assert!(r.note(1001));
        for uid in 2000..2000 + 2 * MAX_LOGGED_REFUSALS as u32 {
            r.note(uid);
        }
        assert!(!r.note(99_999), "past the bound nobody new is logged");
        assert_eq!(r.count(), 3 + 2 * MAX_LOGGED_REFUSALS as u64 + 1);
        let logged = r.logged.lock().unwrap().len();
        assert_eq!(logged, MAX_LOGGED_REFUSALS + 1, "bounded");
    }

    #[test]
    fn groups_by_name_or_number() {
        let etc = "root:x:0:\nadm:x:4:syslog\nenvmon-ops:x:998:alice,bob\nbroken\n";
        assert_eq!(group_id(etc, "envmon-ops"), Ok(998));
        assert_eq!(group_id(etc, "adm"), Ok(4));
        assert_eq!(group_id(etc, "1234"), Ok(1234));
        assert!(
            group_id(etc, "wheel")
                .unwrap_err()
                .contains("no group 'wheel'")
        );
        assert!(group_id(etc, "broken").is_err());
    }
}
