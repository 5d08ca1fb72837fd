//! The systemd notification protocol, spoken directly (no libsystemd): `READY=1` once the
//! agent serves, `WATCHDOG=1` at a quarter of `WATCHDOG_USEC` (sent by [`crate::os::watchdog`] while
//! the poll loop beats, so a stuck loop stops the pings and systemd restarts the agent),
//! `STOPPING=1` on exit.
//! Without `$NOTIFY_SOCKET` every call does nothing.

use std::{
    os::unix::net::{SocketAddr, UnixDatagram},
    time::Duration,
};

/// The longest a notification waits for room in the listener's queue.
pub const SEND_TIMEOUT: Duration = Duration::from_millis(500);

/// Where notifications go, if anywhere.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

fn address(spec: &str) -> Option<SocketAddr> {
    match spec.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes()).ok()
        }
        None if spec.starts_with('/') => SocketAddr::from_pathname(spec).ok(),
        None => None,
    }
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the environment.
    pub fn from_env() -> Notifier {
        let target = std::env::var("NOTIFY_SOCKET").ok().and_then(|spec| {
            let addr = address(&spec);
            if addr.is_none() {
                log::warn!("NOTIFY_SOCKET={spec:?} is not a socket address; not notifying");
            }
            let sock = UnixDatagram::unbound().ok()?;
            // A listener that does not read (its queue full) must not hold the agent: a
            // notification waits at most this long, then is dropped (said in the log).
            sock.set_write_timeout(Some(SEND_TIMEOUT)).ok()?;
            Some((sock, addr?))
        });
        let for_us = std::env::var("WATCHDOG_PID")
            .map(|p| p.trim() == std::process::id().to_string())
            .unwrap_or(true);
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|us| *us > 0 && for_us && target.is_some())
            .map(Duration::from_micros);
        Notifier { target, watchdog }
    }

    fn send(&self, msg: &str) {
        if let Some((sock, addr)) = &self.target {
            if let Err(e) = sock.send_to_addr(msg.as_bytes(), addr) {
                log::warn!("NOTIFY_SOCKET: {e}");
            }
        }
    }

    /// `READY=1`.
    pub fn ready(&self) {
        self.send("READY=1\nSTATUS=monitoring");
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) {
        self.send("STOPPING=1");
    }

    /// How often to send `WATCHDOG=1`, if systemd asks for it: a quarter of
    /// `WATCHDOG_USEC` (no gap between pings longer than a third of it).
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 4)
    }

    /// systemd's `WATCHDOG_USEC`, if it asks for pings.
    pub fn watchdog_usec(&self) -> Option<Duration> {
        self.watchdog
    }
}
