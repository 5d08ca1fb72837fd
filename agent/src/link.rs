//! The BMC link: the connection the poll loop reads through, its SDRs, and what its
//! attempts and losses count. It opens a session (through an [`Opener`]), loads the SDRs
//! (cached in the state dir), re-validates the repository, drops the session when it is lost,
//! and decides when 735009 is due. It knows nothing of boards or messages: the loop binds
//! the SDRs it hands out and sends what it says.

use crate::{bmc, watchdog::Beating, watchdog::Heartbeat};
use envmon_sensors::ipmi::{
    IpmiError, IpmiSource, Target, Transport,
    repo::{self, RepoInfo},
    sdr::SdrEntry,
};
use std::path::Path;

/// Failed connection attempts before 735009 is sent (the agent keeps trying).
pub const ATTEMPTS_BEFORE_735009: u32 = 3;

/// Opens a connection to the BMC: [`bmc::open`] in the agent, a fake BMC in tests.
pub type Opener = Box<dyn FnMut(&Target) -> Result<Box<dyn Transport>, IpmiError>>;

/// The real connection: the kernel device or an RMCP+ session.
pub fn open_real() -> Opener {
    Box::new(|t| bmc::open(t).map(|c| Box::new(c) as Box<dyn Transport>))
}

/// The session the loop reads through (each call beats the watchdog's heart).
pub type Source = IpmiSource<Beating<Box<dyn Transport>>>;

/// A new session and its SDRs.
#[derive(Debug)]
pub struct Opened {
    /// The SDR entries.
    pub sdrs: Vec<SdrEntry>,
    /// Whether the repository differs from the one seen before (`None`: first connection).
    pub changed: Option<bool>,
}

/// The BMC link.
pub struct BmcLink {
    open: Opener,
    source: Option<Source>,
    repo_info: Option<RepoInfo>,
    failed_attempts: u32,
    reported_not_running: bool,
    /// IPMI commands and datagrams discarded by sessions already closed.
    closed: (u64, u64),
    /// Transport errors and failed connection attempts.
    errors: u64,
    /// SDR names by sensor number (BMC-owned), for SEL lines.
    sensor_names: Vec<(u8, String)>,
}

impl BmcLink {
    /// A link that opens its sessions with `open`.
    pub fn new(open: Opener) -> BmcLink {
        BmcLink {
            open,
            source: None,
            repo_info: None,
            failed_attempts: 0,
            reported_not_running: false,
            closed: (0, 0),
            errors: 0,
            sensor_names: Vec::new(),
        }
    }

    /// Opens a session to `target` and loads the SDRs (from the cache in `state_dir` when it
    /// is current). The session is kept only when `accept` takes the SDRs.
    pub fn open(
        &mut self,
        target: &Target,
        state_dir: &Path,
        heart: &Heartbeat,
        accept: impl FnOnce(&Opened) -> Result<(), String>,
    ) -> Result<(), String> {
        heart.beat();
        let conn = (self.open)(target).map_err(|e| e.to_string());
        heart.beat();
        let mut conn = Beating::new(conn?, heart.clone());
        let known = self.repo_info;
        let loaded = bmc::load_sdrs(&mut conn, state_dir)
            .map_err(|e| e.to_string())
            .and_then(|(sdrs, info)| {
                let opened = Opened {
                    changed: known.map(|old| old != info),
                    sdrs,
                };
                accept(&opened).map(|()| (opened.sdrs, info))
            });
        let (sdrs, info) = match loaded {
            Ok(v) => v,
            Err(e) => {
                self.retire(&conn);
                return Err(e);
            }
        };
        self.sensor_names = sdrs
            .iter()
            .filter(|e| e.owner_id == 0x20 && e.owner_lun == 0)
            .map(|e| (e.number, e.name.clone()))
            .collect();
        self.repo_info = Some(info);
        self.source = Some(IpmiSource::new(conn));
        Ok(())
    }

    /// Keeps the counts of a session that is going away.
    fn retire(&mut self, t: &impl Transport) {
        self.closed.0 += t.commands();
        self.closed.1 += t.discarded();
    }

    /// Forgets the repository (a new board or BMC: the next session binds from scratch).
    pub fn forget(&mut self) {
        self.close();
        self.repo_info = None;
    }

    /// A connection attempt succeeded: the failure count starts over.
    pub fn succeeded(&mut self) {
        if self.failed_attempts > 0 {
            log::info!(
                "the BMC answers again after {} failed attempts",
                self.failed_attempts
            );
        }
        self.failed_attempts = 0;
        self.reported_not_running = false;
    }

    /// A connection attempt failed. Returns whether 735009 is due now: after
    /// [`ATTEMPTS_BEFORE_735009`] attempts while monitoring has not started, once per outage.
    pub fn failed(&mut self, why: &str, not_started: bool) -> bool {
        self.failed_attempts += 1;
        self.errors += 1;
        log::warn!(
            "BMC not available (attempt {}): {why}",
            self.failed_attempts
        );
        let due = self.failed_attempts >= ATTEMPTS_BEFORE_735009
            && !self.reported_not_running
            && not_started;
        if due {
            self.reported_not_running = true;
        }
        due
    }

    /// The session was lost (`e`, met `during` something or in a sweep when empty): it is
    /// dropped and counted; the next tick reconnects.
    pub fn lost(&mut self, during: &str, e: &IpmiError) {
        self.errors += 1;
        log::warn!("lost the BMC{during}: {e}; reconnecting");
        self.close();
    }

    /// Drops the session, keeping its counts.
    pub fn close(&mut self) {
        if let Some(s) = self.source.take() {
            self.retire(s.transport_ref());
        }
    }

    /// The session, while there is one.
    pub fn source(&mut self) -> Option<&mut Source> {
        self.source.as_mut()
    }

    /// Whether a session is open.
    pub fn connected(&self) -> bool {
        self.source.is_some()
    }

    /// Checks the SDR repository info against the one the items are bound to; a changed
    /// repository drops the session (reconnecting re-reads the SDRs and binds again).
    pub fn revalidate(&mut self) {
        let Some(src) = self.source.as_mut() else {
            return;
        };
        match repo::info(src.transport()) {
            Ok(info) if Some(info) != self.repo_info => {
                log::info!("the SDR repository changed; reloading it");
                self.close();
            }
            Ok(_) => {}
            Err(e) => log::warn!("SDR repository info: {e}"),
        }
    }

    /// IPMI commands sent in all, by every session.
    pub fn commands(&self) -> u64 {
        self.closed.0
            + self
                .source
                .as_ref()
                .map_or(0, |s| s.transport_ref().commands())
    }

    /// Datagrams discarded in all, by every session.
    pub fn discarded(&self) -> u64 {
        self.closed.1
            + self
                .source
                .as_ref()
                .map_or(0, |s| s.transport_ref().discarded())
    }

    /// Lost sessions and failed connection attempts.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// The session and the SDR names of the BMC's own sensors by number (for SEL lines).
    pub fn session_and_names(&mut self) -> Option<(&mut Source, &[(u8, String)])> {
        let names = self.sensor_names.as_slice();
        self.source.as_mut().map(|s| (s, names))
    }
}
