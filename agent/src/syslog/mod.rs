//! Catalog messages out to syslog destinations.
//!
//! This replaces the `syslog` crate rather than wrapping it; docs/syslog.md says why. The
//! layering is: [`envmon_core::render_line`] makes the message line,
//! [`envmon_core::frame::FrameHeader`] the frame, [`destination::Destination`] queues it
//! (bounded, never blocking the caller) and a [`transport::Transport`] delivers it.

pub mod destination;
pub mod transport;
pub mod uri;

pub use destination::{Backoff, Destination, DestinationStats, QUEUE_CAPACITY};
pub use uri::SyslogUri;

use chrono::{DateTime, FixedOffset};
use envmon_core::{
    Level, Prefix, RenderError, catalog,
    frame::{Facility, FrameFormat, FrameHeader},
    render_line,
};
use std::{
    error::Error,
    fmt, io,
    time::{Duration, Instant},
};

/// The syslog layer's error.
#[derive(Debug)]
pub enum SyslogError {
    /// A destination's worker thread could not be started.
    Spawn {
        /// The destination.
        uri: SyslogUri,
        /// Why.
        source: io::Error,
    },
}

impl fmt::Display for SyslogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyslogError::Spawn { uri, .. } => write!(f, "syslog {uri}: cannot start its sender"),
        }
    }
}

impl Error for SyslogError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            SyslogError::Spawn { source, .. } => Some(source),
        }
    }
}

/// What the syslog layer needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct SyslogConfig {
    /// Where frames go; each gets its own queue and worker.
    pub destinations: Vec<SyslogUri>,
    /// RFC 3164 or RFC 5424.
    pub format: FrameFormat,
    /// The facility (local4 by default).
    pub facility: Facility,
    /// The HOSTNAME field (left out of RFC 3164 frames to a local socket).
    pub hostname: String,
    /// `%FTD-` or `%ASA-`.
    pub prefix: Prefix,
    /// Retry timing.
    pub backoff: Backoff,
}

/// Frames a test's syslog received, as text, in order.
#[cfg(test)]
pub(crate) type Received = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A syslog for tests: `config`'s framing, every destination delivering into memory.
#[cfg(test)]
pub(crate) fn in_memory(config: &SyslogConfig) -> (Syslog, Received) {
    #[derive(Clone)]
    struct Memory(Received);
    impl transport::Transport for Memory {
        fn send(&mut self, frame: &[u8]) -> io::Result<()> {
            let text = String::from_utf8_lossy(frame).into_owned();
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(text);
            Ok(())
        }
        fn reset(&mut self) {}
    }
    let received = Received::default();
    let memory = Memory(std::sync::Arc::clone(&received));
    let syslog = Syslog::start_with(config, move |_| Box::new(memory.clone()))
        .unwrap_or_else(|e| panic!("{e}"));
    (syslog, received)
}

/// The running syslog output: one [`Destination`] per URI.
pub struct Syslog {
    /// This instance (a SEL line's ticket is this instance's).
    instance: u64,
    /// The last SEL ticket issued.
    sel_issued: std::sync::atomic::AtomicU64,
    prefix: Prefix,
    network: FrameHeader,
    local: FrameHeader,
    destinations: Vec<Destination>,
}

impl Syslog {
    /// Starts a worker per destination. Nothing connects yet: a receiver that is down now is
    /// retried when the first frame is sent.
    pub fn start(config: &SyslogConfig) -> Result<Self, SyslogError> {
        Self::start_with(config, transport::for_uri)
    }

    /// As [`Syslog::start`], with the transports made by `make` (tests use fakes).
    pub fn start_with(
        config: &SyslogConfig,
        make: impl Fn(&SyslogUri) -> Box<dyn transport::Transport>,
    ) -> Result<Self, SyslogError> {
        let network = FrameHeader {
            format: config.format,
            facility: config.facility,
            hostname: Some(config.hostname.clone()),
            app_name: "envmon".into(),
            pid: std::process::id(),
        };
        let local = FrameHeader {
            hostname: match config.format {
                FrameFormat::Rfc3164 => None,
                FrameFormat::Rfc5424 => Some(config.hostname.clone()),
            },
            ..network.clone()
        };
        let destinations = config
            .destinations
            .iter()
            .map(|uri| {
                Destination::spawn(uri.clone(), make(uri), config.backoff).map_err(|source| {
                    SyslogError::Spawn {
                        uri: uri.clone(),
                        source,
                    }
                })
            })
            .collect::<Result<_, _>>()?;
        static INSTANCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Syslog {
            instance: INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            sel_issued: std::sync::atomic::AtomicU64::new(0),
            prefix: config.prefix,
            network,
            local,
            destinations,
        })
    }

    /// Renders message `id` with `args`, queues it on every destination stamped with the
    /// current local time, and returns the message line.
    pub fn emit(&self, id: u32, args: &[&str]) -> Result<String, RenderError> {
        let line = render_line(self.prefix, id, args)?;
        let level = catalog::lookup(id).map_or(Level::Alert, |m| m.level);
        self.send_line(level, id, &line, &chrono::Local::now().fixed_offset());
        Ok(line)
    }

    /// [`Syslog::emit`] for a message the engine made; a render error (a bug: the engine only
    /// makes catalog messages) is logged, not returned.
    pub fn emit_emission(&self, e: &envmon_core::engine::Emission) {
        let args: Vec<&str> = e.args.iter().map(String::as_str).collect();
        match render_line(self.prefix, e.id, &args) {
            Ok(line) => {
                let level = catalog::lookup(e.id).map_or(Level::Alert, |m| m.level);
                let at = chrono::Local::now().fixed_offset();
                self.send_frame(level, &e.id.to_string(), &e.sd, &line, &at);
                log::debug!("sent {line}");
            }
            Err(err) => log::error!("cannot render {}: {err}", e.id),
        }
    }

    /// Queues one SEL entry's line (`%FTD-<level>-SEL: TEXT`, RFC 5424 MSGID `SEL`) on every
    /// destination, stamped now. SEL lines are not catalog messages (docs/sel.md).
    pub fn send_sel(&self, level: Level, text: &str) {
        let line = format!("%{}-{}-SEL: {text}", self.prefix.as_str(), level.number());
        self.send_frame(
            level,
            "SEL",
            &[],
            &line,
            &chrono::Local::now().fixed_offset(),
        );
    }

    /// Room for SEL entries' lines now: the least any destination has
    /// ([`destination::SEL_LANE`] each). The SEL is read no further than this.
    pub fn sel_room(&self) -> usize {
        self.destinations
            .iter()
            .map(Destination::sel_room)
            .min()
            .unwrap_or(destination::SEL_LANE)
    }

    /// Queues one SEL entry's line as [`Syslog::send_sel`] does, in the SEL lane of every
    /// destination (after catalog messages, never dropped), and returns its ticket: the
    /// line is delivered everywhere once [`Syslog::sel_delivered`] reaches it. Call only
    /// with [`Syslog::sel_room`] left.
    pub fn send_sel_paced(&self, level: Level, text: &str) -> u64 {
        use std::sync::atomic::Ordering;
        let ticket = self.sel_issued.fetch_add(1, Ordering::Relaxed) + 1;
        let line = format!("%{}-{}-SEL: {text}", self.prefix.as_str(), level.number());
        let at = chrono::Local::now().fixed_offset();
        self.queue_frame(Some(ticket), level, "SEL", &[], &line, &at);
        ticket
    }

    /// The newest SEL ticket every destination delivered (every older one was too).
    pub fn sel_delivered(&self) -> u64 {
        use std::sync::atomic::Ordering;
        self.destinations
            .iter()
            .map(Destination::sel_delivered)
            .min()
            .unwrap_or_else(|| self.sel_issued.load(Ordering::Relaxed))
    }

    /// The newest SEL ticket issued.
    pub fn sel_issued(&self) -> u64 {
        self.sel_issued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Which syslog layer this is (tickets of another, replaced on SIGHUP, mean nothing
    /// here).
    pub fn instance(&self) -> u64 {
        self.instance
    }

    /// Queues one of envmon's own lines (`%FTD-4-ENVMON: TEXT`, RFC 5424 MSGID `ENVMON`,
    /// level warning) on every destination, stamped now. Not a catalog message: what envmon
    /// says about its own judging (a flapping sensor held, then released; docs/syslog.md).
    pub fn send_notice(&self, text: &str) {
        let level = Level::Warning;
        let line = format!(
            "%{}-{}-ENVMON: {text}",
            self.prefix.as_str(),
            level.number()
        );
        self.send_frame(
            level,
            "ENVMON",
            &[],
            &line,
            &chrono::Local::now().fixed_offset(),
        );
    }

    /// Queues an already rendered message line on every destination.
    pub fn send_line(&self, level: Level, id: u32, line: &str, at: &DateTime<FixedOffset>) {
        self.send_frame(level, &id.to_string(), &[], line, at);
    }

    fn send_frame(
        &self,
        level: Level,
        msgid: &str,
        sd: &[(&'static str, String)],
        line: &str,
        at: &DateTime<FixedOffset>,
    ) {
        self.queue_frame(None, level, msgid, sd, line, at);
    }

    /// Queues the frame of `line` (made once per framing) on every destination: in its
    /// catalog queue, or under a ticket in its SEL lane.
    fn queue_frame(
        &self,
        sel_ticket: Option<u64>,
        level: Level,
        msgid: &str,
        sd: &[(&'static str, String)],
        line: &str,
        at: &DateTime<FixedOffset>,
    ) {
        let mut network: Option<Box<[u8]>> = None;
        let mut local: Option<Box<[u8]>> = None;
        for d in &self.destinations {
            let (slot, header) = if d.uri().is_local_socket() {
                (&mut local, &self.local)
            } else {
                (&mut network, &self.network)
            };
            let frame = slot.get_or_insert_with(|| {
                header
                    .format_sd(level, msgid, at, sd, line)
                    .into_bytes()
                    .into_boxed_slice()
            });
            match sel_ticket {
                None => d.push(frame.clone()),
                Some(ticket) => {
                    if !d.push_sel(ticket, frame.clone()) {
                        log::error!("syslog {}: SEL lane full (a bug: room was asked)", d.uri());
                    }
                }
            }
        }
    }

    /// Waits up to `timeout` for every destination to deliver what it holds. Returns whether
    /// all of them did.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.destinations.iter().all(|d| d.flush(deadline))
    }

    /// Reopens every destination's file or connection before its next frame (SIGHUP).
    pub fn reopen(&self) {
        for d in &self.destinations {
            d.reopen();
        }
    }

    /// Counters for every destination.
    pub fn stats(&self) -> Vec<DestinationStats> {
        self.destinations.iter().map(Destination::stats).collect()
    }

    /// Delivers what it can within `timeout`, stops the workers and returns the final counters.
    pub fn close(self, timeout: Duration) -> Vec<DestinationStats> {
        let deadline = Instant::now() + timeout;
        self.destinations
            .into_iter()
            .map(|d| d.close(deadline))
            .collect()
    }
}
