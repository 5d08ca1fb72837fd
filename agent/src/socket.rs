//! The local query socket (contract section 4).
//!
//! A Unix stream socket, mode 0660, in a directory created 0750. One line per request (at most
//! [`MAX_REQUEST`] bytes with its newline), one JSON line per reply, many requests per
//! connection. Each connection has its own small thread, with an idle timeout and a write
//! timeout, so a slow or stuck client holds only itself; at most [`MAX_CLIENTS`] at once
//! (more are told `busy` and closed). A request past the cap is told `request_too_long`
//! and the connection ends cleanly. Replies come from the latest published snapshot, so
//! the poll loop never waits for a client.

use crate::{error::AgentError, status::Published, status::Snapshot};
use serde_json::json;
use std::{
    fs,
    io::{Read, Write},
    os::unix::{
        fs::{DirBuilderExt, PermissionsExt},
        net::{UnixListener, UnixStream},
    },
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::Duration,
};

/// The longest request, newline included.
pub const MAX_REQUEST: usize = 1024;
/// Connections served at once.
pub const MAX_CLIENTS: usize = 512;
/// A connection that sends nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that does not read its reply for this long is dropped.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const HANDLER_STACK: usize = 64 * 1024;
/// After a request past the cap, what the client still sends is read and dropped, up to
/// this much, so that the close is an orderly end of stream and not a reset.
pub const MAX_DRAIN: usize = 4 << 20;
/// ... and for at most this long between two reads.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

fn error(code: &str, message: &str) -> String {
    json!({"error": {"code": code, "message": message}}).to_string()
}

/// The reply to one request line (without its newline). Pure.
pub fn respond(request: &[u8], snapshot: Option<&Snapshot>) -> String {
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
    let version = || json!({"name": "envmon", "version": crate::VERSION}).to_string();
    match (words.as_slice(), snapshot) {
        (["show", "version"], _) => version(),
        (["show", "environment"], Some(s)) => s.environment.to_string(),
        (["show", "metrics"], Some(s)) => json!({"metrics": s.metrics}).to_string(),
        (["show", "environment" | "metrics"], None) => {
            error("not_ready", "the agent has not published its state yet")
        }
        _ => {
            let shown: String = text.trim().chars().take(64).collect();
            error(
                "unknown_command",
                &format!(
                    "unknown command '{shown}' (expected show environment, show version or show metrics)"
                ),
            )
        }
    }
}

/// Binds the socket. A stale socket file is replaced only when no live agent answers on it;
/// a live one is an error (exit 69).
pub fn bind(path: &Path) -> Result<UnixListener, AgentError> {
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
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(unavailable(format!(
                "{}: another envmon is running on this socket",
                path.display()
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
    fs::set_permissions(path, fs::Permissions::from_mode(0o660))
        .map_err(|e| unavailable(format!("{}: cannot set its mode: {e}", path.display())))?;
    Ok(listener)
}

/// Removes the socket file when dropped (at agent exit).
pub struct SocketFile(pub PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Serves the socket on a background thread until the process ends.
pub fn serve(listener: UnixListener, published: Arc<Published>) -> std::io::Result<()> {
    let active = Arc::new(AtomicUsize::new(0));
    thread::Builder::new()
        .name("socket".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut stream) = conn else { continue };
                if active.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
                    active.fetch_sub(1, Ordering::SeqCst);
                    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
                    let _ = writeln!(stream, "{}", error("busy", "too many clients; try again"));
                    continue;
                }
                let (published, active) = (Arc::clone(&published), Arc::clone(&active));
                let spawned = thread::Builder::new()
                    .name("socket client".into())
                    .stack_size(HANDLER_STACK)
                    .spawn(move || {
                        handle(stream, &published);
                        active.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    log::warn!("socket: cannot start a client thread");
                }
            }
        })?;
    Ok(())
}

/// Replies `request_too_long`, ends the reply stream, and reads what the client still sends
/// (bounded), so that the client sees the error line and then an end of stream. A client
/// that keeps sending past [`MAX_DRAIN`] is closed anyway (it may see a reset).
fn refuse_long_request(mut stream: UnixStream) {
    let msg = format!("a request is at most {MAX_REQUEST} bytes with its newline");
    if writeln!(stream, "{}", error("request_too_long", &msg)).is_err() {
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

fn handle(mut stream: UnixStream, published: &Published) {
    if stream.set_read_timeout(Some(IDLE_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(MAX_REQUEST);
    let mut chunk = [0u8; 512];
    loop {
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).take(nl).collect();
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            let reply = respond(line, published.latest().as_deref());
            if stream
                .write_all(reply.as_bytes())
                .and_then(|()| stream.write_all(b"\n"))
                .is_err()
            {
                return; // the client does not read: drop it
            }
        }
        if buf.len() >= MAX_REQUEST {
            // Past the cap without a newline: say so, then close cleanly.
            return refuse_long_request(stream);
        }
        match stream.read(&mut chunk[..(MAX_REQUEST - buf.len()).min(512)]) {
            Ok(0) | Err(_) => return, // closed, idle timeout, or error
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
