//! The systemd notification protocol, spoken directly (no libsystemd): `READY=1` once the
//! agent serves, `WATCHDOG=1` at half of `WATCHDOG_USEC` (sent by [`crate::os::watchdog`] while
//! the poll loop beats, so a stuck loop stops the pings and systemd restarts the agent),
//! `STOPPING=1` on exit.
//! Without `$NOTIFY_SOCKET` every call does nothing.

use std::{
    os::unix::net::{SocketAddr, UnixDatagram},
    time::Duration,
};

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
            Some((UnixDatagram::unbound().ok()?, addr?))
        });
        let for_us = std::env::var("WATCHDOG_PID")
            .map(|p| p.trim() == std::process::id().to_string())
            .unwrap_or(true);
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|us| *us > 0 && for_us && target.is_some())
            .map(|us| Duration::from_micros(us / 2));
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

    /// How often to send `WATCHDOG=1` (half of `WATCHDOG_USEC`), if systemd asks for it.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }
}
