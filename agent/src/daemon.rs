//! `envmon run`: the poll loop.
//!
//! Connect (bounded retries; 735009 once monitoring cannot start, and keep retrying), read
//! the SDRs (cached), then sweep every `--interval-ms`: one Get Sensor Reading per monitored
//! sensor, messages to syslog. A lost BMC gives 735010 (rate limited) and sensors go
//! unavailable; the loop reconnects and judging resumes from the kept states. Every
//! [`REVALIDATE_EVERY`] sweeps one Get SDR Repository Info checks that the cached SDRs still
//! hold. A sensor entering its shutdown rank runs the thermal shutdown sequence once
//! ([`shutdown`]); at start-up an unreported shutdown is reported. SIGTERM/SIGINT end the
//! loop cleanly; SIGHUP reloads the configuration and board (an
//! invalid new one keeps the old one running and says why).

use crate::{
    bmc,
    cli::syslog_config,
    config::{IpmiUri, Settings, SettingsArgs},
    error::AgentError,
    monitor::Monitor,
    sel::SelWatcher,
    shutdown,
    snmp::{
        mib::Change,
        session::{Config as SubagentConfig, Subagent},
    },
    socket,
    status::{self, Counters, Monitoring, Published, Shown, Snapshot},
    sys,
    syslog::Syslog,
    watchdog::{self, Beating, Heartbeat},
};
use envmon_board_defs::Board;
use envmon_core::engine::Emission;
use envmon_sensors::ipmi::{IpmiError, IpmiSource, Target, Transport, repo, sdr::SdrEntry};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Sweeps between two checks of the SDR repository info.
pub const REVALIDATE_EVERY: u64 = 30;
/// Failed connection attempts before 735009 is sent (the agent keeps trying).
pub const ATTEMPTS_BEFORE_735009: u32 = 3;

/// Opens a connection to the BMC: [`bmc::open`] in the agent, a fake BMC in tests.
pub type Opener = Box<dyn FnMut(&Target) -> Result<Box<dyn Transport>, IpmiError>>;

/// The real connection: the kernel device or an RMCP+ session.
fn open_real() -> Opener {
    Box::new(|t| bmc::open(t).map(|c| Box::new(c) as Box<dyn Transport>))
}

struct Loop {
    settings: Settings,
    syslog: Syslog,
    started: Instant,
    open: Opener,
    source: Option<IpmiSource<Beating<Box<dyn Transport>>>>,
    monitor: Option<Monitor>,
    repo_info: Option<repo::RepoInfo>,
    failed_attempts: u32,
    reported_not_running: bool,
    sweeps: u64,
    /// The thermal shutdown sequence ran in this process (it never runs twice).
    shutdown_done: bool,
    /// The last thermal shutdown, for `show environment`.
    last_shutdown: Option<shutdown::Record>,
    /// Counters for `show metrics`.
    counters: Counters,
    /// Whether the last sweep updated every record.
    last_sweep_complete: bool,
    /// Where snapshots go for the socket.
    published: Arc<Published>,
    /// Clients the socket refused (counted there, published here).
    socket_refusals: Arc<socket::Refusals>,
    /// Beaten at every step that makes progress (the watchdog feeder reads it).
    heart: Heartbeat,
    /// Final counters of syslog destinations replaced by SIGHUP.
    retired_syslog: Vec<crate::syslog::DestinationStats>,
    /// The BMC's event log.
    sel: SelWatcher,
    /// SDR names by sensor number (BMC-owned), for SEL lines.
    sensor_names: Vec<(u8, String)>,
    /// A shutdown of envmon's own was reported at this start (a SEL trip is then not).
    own_boot_report: bool,
    /// Datagrams discarded by BMC connections closed so far.
    discarded_closed: u64,
    /// The SNMP subagent, when `agentx` is set.
    subagent: Option<Subagent>,
    /// Notifications sent and dropped by subagents replaced by SIGHUP.
    agentx_counts: (u64, u64),
    /// The metrics file could not be written last time (logged once per outage).
    metrics_file_failing: bool,
    /// The host name the frames carry (the metrics file's `host` label); set with the
    /// settings, not looked up each sweep.
    host: String,
}

impl Loop {
    fn new(settings: Settings, syslog: Syslog, open: Opener) -> Loop {
        let settings_state_dir = settings.state_dir.clone();
        let host = crate::cli::syslog_config(&settings).hostname;
        Loop {
            settings,
            syslog,
            started: Instant::now(),
            open,
            source: None,
            monitor: None,
            repo_info: None,
            failed_attempts: 0,
            reported_not_running: false,
            sweeps: 0,
            shutdown_done: false,
            last_shutdown: None,
            counters: Counters::default(),
            last_sweep_complete: false,
            published: Arc::new(Published::default()),
            socket_refusals: Arc::default(),
            heart: Heartbeat::default(),
            retired_syslog: Vec::new(),
            sel: SelWatcher::new(&settings_state_dir),
            sensor_names: Vec::new(),
            own_boot_report: false,
            discarded_closed: 0,
            subagent: None,
            agentx_counts: (0, 0),
            metrics_file_failing: false,
            host,
        }
    }

    /// Starts, restarts or stops the SNMP subagent to match the settings.
    fn start_subagent(&mut self) {
        if let Some(old) = self.subagent.take() {
            use std::sync::atomic::Ordering::Relaxed;
            self.agentx_counts.0 += old.stats.notifications.load(Relaxed);
            self.agentx_counts.1 += old.stats.dropped.load(Relaxed);
        }
        let Some(addr) = self.settings.agentx.clone() else {
            return;
        };
        let config = SubagentConfig {
            addr,
            envmon_view: self.settings.agentx_envmon_mib.0,
            notifications: self.settings.agentx_notifications.0,
            interval_ms: self.settings.interval_ms.0,
        };
        match Subagent::start(config, Arc::clone(&self.published)) {
            Ok(s) => self.subagent = Some(s),
            Err(e) => log::error!("AgentX: cannot start the subagent thread: {e}"),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn send(&self, emissions: &[Emission]) {
        for e in emissions {
            self.syslog.emit_emission(e);
        }
    }

    /// Starts monitoring `board`, bound to these SDRs.
    fn build_monitor(&mut self, board: Board, sdrs: &[SdrEntry]) {
        let (monitor, notes) = Monitor::new(board, sdrs, &self.settings.sysfs_root);
        if !sdrs.is_empty() {
            for n in &notes {
                log::warn!("{n}");
            }
        }
        self.monitor = Some(monitor);
    }

    /// Makes sure there is a monitor, and a BMC connection when its items need one.
    fn connect(&mut self) -> Result<(), String> {
        let target = bmc::target(&self.settings).map_err(|e| e.to_string())?;
        // The board is read only while there is no monitor yet (not every tick of a BMC
        // outage). A board made from the SDRs waits for them.
        let mut waiting_for_sdrs = None;
        if self.monitor.is_none() {
            let named = bmc::named_board(&self.settings.board).map_err(|e| e.to_string())?;
            if bmc::from_sdrs(named.as_ref()) {
                waiting_for_sdrs = Some(named);
            } else {
                self.build_monitor(bmc::resolve_board(named, &[]), &[]);
            }
        }
        if !self.monitor.as_ref().is_none_or(Monitor::needs_bmc) {
            return Ok(());
        }
        let Some(target) = target else {
            return match self.monitor {
                None => Err("--ipmi none, but the board is made from the BMC's SDRs".into()),
                Some(_) => Ok(()), // its IPMI items stay unavailable
            };
        };
        self.heart.beat();
        let conn = (self.open)(&target).map_err(|e| e.to_string());
        self.heart.beat();
        let mut conn = Beating::new(conn?, self.heart.clone());
        let loaded = bmc::load_sdrs(&mut conn, &self.settings.state_dir);
        self.counters.ipmi_commands += conn.commands();
        let (sdrs, info) = match loaded {
            Ok(v) => v,
            Err(e) => {
                self.discarded_closed += conn.discarded();
                return Err(e.to_string());
            }
        };
        self.sensor_names = sdrs
            .iter()
            .filter(|e| e.owner_id == 0x20 && e.owner_lun == 0)
            .map(|e| (e.number, e.name.clone()))
            .collect();
        match self.monitor.as_mut() {
            Some(monitor) if self.repo_info != Some(info) => {
                if self.repo_info.is_some() {
                    log::info!("the SDR repository changed; binding the board's items again");
                }
                for n in monitor.rebind(&sdrs) {
                    log::warn!("{n}");
                }
            }
            Some(_) => {}
            None => {
                self.build_monitor(bmc::resolve_board(waiting_for_sdrs.flatten(), &sdrs), &sdrs)
            }
        }
        if let Some(m) = &self.monitor {
            if !m.active() {
                self.monitor = None;
                self.discarded_closed += conn.discarded();
                return Err("the board has no item that matches a sensor".into());
            }
            if self.repo_info.is_none() {
                log::info!(
                    "monitoring board {} ({} of {} items bound)",
                    m.board().name,
                    m.bound(),
                    m.board().items.len()
                );
            }
        }
        log::info!("connected to the BMC");
        self.repo_info = Some(info);
        self.source = Some(IpmiSource::new(conn));
        Ok(())
    }

    /// Drops the BMC connection, keeping its count of discarded datagrams.
    fn close_source(&mut self) {
        if let Some(s) = self.source.take() {
            self.discarded_closed += s.transport_ref().discarded();
        }
    }

    fn tick(&mut self) {
        let bmc_missing = self.source.is_none()
            && self.settings.ipmi != IpmiUri::None
            && self.monitor.as_ref().is_some_and(Monitor::needs_bmc);
        if self.monitor.is_none() || bmc_missing {
            match self.connect() {
                Ok(()) => {
                    if self.failed_attempts > 0 {
                        log::info!(
                            "the BMC answers again after {} failed attempts",
                            self.failed_attempts
                        );
                    }
                    self.failed_attempts = 0;
                    self.reported_not_running = false;
                }
                Err(e) => {
                    self.failed_attempts += 1;
                    self.counters.ipmi_errors += 1;
                    log::warn!("BMC not available (attempt {}): {e}", self.failed_attempts);
                    let not_started = self.monitor.as_ref().is_none_or(|m| !m.active());
                    if self.failed_attempts >= ATTEMPTS_BEFORE_735009
                        && !self.reported_not_running
                        && not_started
                    {
                        self.reported_not_running = true;
                        self.send(&[Emission {
                            id: 735009,
                            ..Emission::default()
                        }]);
                    }
                }
            }
        }
        let now = self.now_ms();
        // Nothing bound yet (an IPMI board before its BMC answered): monitoring has not
        // started, so there is nothing to sweep.
        let Some(monitor) = self.monitor.as_mut().filter(|m| m.active()) else {
            return;
        };
        let mut source = self.source.as_mut();
        let before = source
            .as_deref_mut()
            .map_or(0, |s| s.transport().commands());
        let started = Instant::now();
        let sweep = monitor.sweep(source.as_deref_mut(), now);
        let used = source
            .as_deref_mut()
            .map_or(0, |s| s.transport().commands())
            - before;
        self.counters.last_sweep_seconds = started.elapsed().as_secs_f64();
        self.counters.last_sweep_commands = used;
        self.counters.ipmi_commands += used;
        self.counters.sweeps += 1;
        self.last_sweep_complete = sweep.unread == 0;
        let revalidate = source
            .as_deref_mut()
            .filter(|_| {
                sweep.transport_error.is_none()
                    && (self.sweeps + 1).is_multiple_of(REVALIDATE_EVERY)
            })
            .map(|s| repo::info(s.transport()));
        // Every command counts in the total, the re-validation's included.
        self.counters.ipmi_commands +=
            source.map_or(0, |s| s.transport().commands()) - before - used;
        log::trace!(
            "sweep {}: {used} IPMI commands, {} unread",
            self.sweeps,
            sweep.unread
        );
        self.send(&sweep.emissions);
        if let (Some(agent), Some(monitor), false) =
            (&self.subagent, &self.monitor, sweep.changes.is_empty())
        {
            for &(position, from, to) in &sweep.changes {
                if let Some(row) = monitor.row(position, now) {
                    agent.changed(Change {
                        position,
                        from: Shown::Is(from),
                        to: Shown::Is(to),
                        row,
                    });
                }
            }
        }
        self.sweeps += 1;
        if let Some(t) = sweep.shutdown.filter(|_| !self.shutdown_done) {
            self.shutdown_done = true;
            log::error!(
                "thermal shutdown: {} at {} {} (threshold {})",
                t.sensor,
                t.reading,
                t.unit,
                t.threshold
            );
            let rec = shutdown::perform(
                &self.syslog,
                &self.settings.state_dir,
                &self.settings.shutdown_action,
                &t,
            );
            self.last_shutdown = Some(rec);
        }
        if let Some(e) = sweep.transport_error {
            self.counters.ipmi_errors += 1;
            log::warn!("lost the BMC: {e}; reconnecting");
            self.close_source();
            return;
        }
        match revalidate {
            Some(Ok(info)) if Some(info) != self.repo_info => {
                // Reconnecting re-reads the SDRs and binds the items again.
                log::info!("the SDR repository changed; reloading it");
                self.close_source();
            }
            Some(Err(e)) => log::warn!("SDR repository info: {e}"),
            _ => {}
        }
        self.sel_step();
    }

    /// After a sweep: the BMC's event log (new entries to syslog, fill warnings, the
    /// hardware trip report once the start-up pass is done). Its commands count in the
    /// total, its time in `last_sel_seconds`.
    fn sel_step(&mut self) {
        let Some(src) = self.source.as_mut() else {
            return;
        };
        let before = src.transport().commands();
        let started = Instant::now();
        let names = &self.sensor_names;
        let name = |n: u8| names.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        let result = self.sel.after_sweep(
            src.transport(),
            &self.syslog,
            self.settings.sel,
            self.settings.sel_warn_percent.0,
            &name,
        );
        self.counters.ipmi_commands += src.transport().commands() - before;
        self.counters.last_sel_seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {}
            Err(e) if e.needs_new_session() => {
                self.counters.ipmi_errors += 1;
                log::warn!("lost the BMC reading the SEL: {e}; reconnecting");
                self.close_source();
            }
            Err(e) => log::warn!("SEL: {e}"),
        }
        if let Some((entry, at)) = self.sel.take_boot_trip() {
            if self.own_boot_report {
                log::info!(
                    "SEL {entry}: a thermal trip, already reported as envmon's own shutdown"
                );
            } else {
                log::error!(
                    "SEL {entry}: the processor tripped thermally at {at} while envmon was not running"
                );
                self.last_shutdown = Some(shutdown::report_hardware_trip(
                    &self.syslog,
                    &self.settings.state_dir,
                    &entry,
                    &at,
                ));
            }
        }
    }

    /// Publishes what the agent knows now, for the socket (and the SNMP subagent), and
    /// writes the metrics file.
    fn publish(&mut self) {
        let monitoring = match (&self.monitor, &self.source) {
            (None, _) => Monitoring::Failed,
            (Some(m), _) if !m.active() => Monitoring::Failed,
            (Some(_), Some(_)) if self.last_sweep_complete => Monitoring::Running,
            _ => Monitoring::Degraded,
        };
        let now = self.now_ms();
        let counters = Counters {
            socket_refused: self.socket_refusals.count(),
            ipmi_replies_discarded: self.discarded_closed
                + self
                    .source
                    .as_ref()
                    .map_or(0, |s| s.transport_ref().discarded()),
            agentx_notifications: self.agentx_counts.0
                + self.subagent.as_ref().map_or(0, |s| {
                    s.stats
                        .notifications
                        .load(std::sync::atomic::Ordering::Relaxed)
                }),
            agentx_notifications_dropped: self.agentx_counts.1
                + self.subagent.as_ref().map_or(0, |s| {
                    s.stats.dropped.load(std::sync::atomic::Ordering::Relaxed)
                }),
            ..self.counters.clone()
        };
        let env = status::environment(
            self.monitor.as_ref().map(|m| m.to_json(now)),
            monitoring,
            self.settings.interval_ms.0,
            self.last_shutdown.as_ref(),
            &status::with_retired(self.syslog.stats(), &self.retired_syslog),
            &counters,
            self.sel.to_json(),
        );
        let metrics = status::metrics(&env, &counters);
        self.write_metrics_file(&metrics);
        let sensors = match (&self.subagent, &self.monitor) {
            (Some(_), Some(m)) => m.rows(now),
            _ => Vec::new(),
        };
        self.published.publish(Snapshot {
            environment: env,
            metrics,
            sensors,
        });
    }

    /// `metrics-file`: the metrics for node_exporter, with the host label; a failure is
    /// logged once, and once more when writing works again.
    fn write_metrics_file(&mut self, metrics: &str) {
        let Some(path) = &self.settings.metrics_file else {
            return;
        };
        let text = status::prometheus_text(metrics, Some(&self.host));
        match (
            shutdown::write_atomic(path, text.as_bytes()),
            self.metrics_file_failing,
        ) {
            (Err(e), false) => {
                log::warn!("metrics file {}: {e}", path.display());
                self.metrics_file_failing = true;
            }
            (Ok(()), true) => {
                log::info!("metrics file {}: written again", path.display());
                self.metrics_file_failing = false;
            }
            _ => {}
        }
    }

    /// SIGHUP: re-reads the configuration and board. Anything invalid keeps the running
    /// configuration (and says why); syslog destinations are replaced only when they changed,
    /// and the BMC connection and judged states only when the BMC, board or state dir did.
    fn reload(&mut self, args: &SettingsArgs) {
        // Whatever else happens: files are reopened (log rotation sends SIGHUP).
        self.syslog.reopen();
        let new = match args.resolve() {
            Ok(n) => n,
            Err(e) => return log::error!("SIGHUP: keeping the running configuration: {e}"),
        };
        let board = match bmc::named_board(&new.board) {
            Ok(b) => b,
            Err(e) => return log::error!("SIGHUP: keeping the running configuration: {e}"),
        };
        if let Err(e) = bmc::target(&new) {
            return log::error!("SIGHUP: keeping the running configuration: {e}");
        }
        let new_syslog = syslog_config(&new);
        if new_syslog != syslog_config(&self.settings) {
            match Syslog::start(&new_syslog) {
                Ok(s) => {
                    let old = std::mem::replace(&mut self.syslog, s);
                    // Drain what the old destinations hold (briefly), and keep their
                    // counters, drops included, in the metrics.
                    for st in old.close(Duration::from_secs(2)) {
                        if st.dropped > 0 {
                            log::warn!("syslog {}: {} frames dropped", st.uri, st.dropped);
                        }
                        status::retire(&mut self.retired_syslog, st);
                    }
                }
                Err(e) => return log::error!("SIGHUP: keeping the running configuration: {e}"),
            }
        }
        let board_changed = match (&board, &self.monitor) {
            (Some(b), Some(m)) => b != m.board(),
            _ => new.board != self.settings.board,
        };
        if board_changed
            || new.ipmi != self.settings.ipmi
            || new.state_dir != self.settings.state_dir
        {
            self.close_source();
            self.monitor = None;
            self.repo_info = None;
            if new.state_dir != self.settings.state_dir {
                self.sel = SelWatcher::new(&new.state_dir);
            }
        } else if new.ipmi_password_file != self.settings.ipmi_password_file {
            self.close_source();
        }
        let snmp_changed = (&new.agentx, new.agentx_envmon_mib, new.agentx_notifications)
            != (
                &self.settings.agentx,
                self.settings.agentx_envmon_mib,
                self.settings.agentx_notifications,
            )
            || new.interval_ms != self.settings.interval_ms;
        self.settings = new;
        self.host = crate::cli::syslog_config(&self.settings).hostname;
        if snmp_changed {
            self.start_subagent();
        }
        log::info!("SIGHUP: configuration reloaded");
    }
}

/// The loop of `envmon run`, `sweeps` times back to back (no sleeping, no socket, no
/// signals), on the BMC `open` gives, with the settings' syslog destinations; `before(i)` is
/// called before sweep `i` (to change values, or to sample the process). For the soak bench
/// (tests/src/bin/soak.rs): what grows per sweep there grows in the agent. Returns the
/// published `show metrics` text at the end.
pub fn soak(
    settings: Settings,
    open: Opener,
    sweeps: u64,
    mut before: impl FnMut(u64),
) -> Result<String, AgentError> {
    let syslog = Syslog::start(&syslog_config(&settings))?;
    let mut l = Loop::new(settings, syslog, open);
    for i in 0..sweeps {
        before(i);
        l.tick();
        l.publish();
    }
    l.syslog.flush(Duration::from_secs(5));
    Ok(l.published
        .latest()
        .map(|s| s.metrics.clone())
        .unwrap_or_default())
}

/// Runs until SIGTERM or SIGINT.
pub fn run(settings: Settings, args: &SettingsArgs) -> Result<(), AgentError> {
    if let Err(e) = sys::not_dumpable() {
        log::warn!("cannot turn core dumps off (the BMC password is in memory): {e}");
    }
    bmc::named_board(&settings.board)?;
    bmc::target(&settings)?;
    let group = match &settings.socket_group {
        None => None,
        Some(g) => Some(
            socket::group_id(
                &std::fs::read_to_string("/etc/group").unwrap_or_default(),
                &g.0,
            )
            .map_err(|e| AgentError::Unavailable(format!("socket-group: {e}")))?,
        ),
    };
    let (listener, access) = socket::bind(&settings.socket, group)?;
    let _socket_file = socket::SocketFile(settings.socket.clone());
    let syslog = Syslog::start(&syslog_config(&settings))?;
    sys::install_signal_handlers();
    let mut l = Loop::new(settings, syslog, open_real());
    l.own_boot_report = matches!(
        shutdown::read_record(&l.settings.state_dir),
        Ok(Some(ref r)) if !r.reported
    );
    l.last_shutdown = shutdown::report_at_boot(&l.syslog, &l.settings.state_dir);
    l.start_subagent();
    l.publish();
    socket::serve(
        listener,
        access,
        Arc::clone(&l.socket_refusals),
        Arc::clone(&l.published),
    )
    .map_err(|e| AgentError::Unavailable(format!("cannot start the socket server: {e}")))?;
    log::info!("envmon {} running", crate::VERSION);
    let notifier = Arc::new(crate::notify::Notifier::from_env());
    notifier.ready();
    l.heart.beat();
    // Pings come from their own thread, as long as the loop keeps beating.
    let feeder = match notifier.watchdog_interval() {
        Some(every) => {
            let n = Arc::clone(&notifier);
            let stuck = watchdog::stuck_after(every * 2);
            Some(
                watchdog::Feeder::spawn(l.heart.clone(), every, stuck, move || n.watchdog())
                    .map_err(|e| {
                        AgentError::Unavailable(format!("cannot start the watchdog thread: {e}"))
                    })?,
            )
        }
        None => None,
    };
    while !sys::stop_requested() {
        l.heart.beat();
        if sys::take_reload() {
            l.reload(args);
        }
        let next = Instant::now() + Duration::from_millis(l.settings.interval_ms.0);
        l.tick();
        l.publish();
        while !sys::stop_requested() && Instant::now() < next {
            l.heart.beat();
            std::thread::sleep(
                Duration::from_millis(20).min(next.saturating_duration_since(Instant::now())),
            );
        }
    }
    drop(feeder);
    log::info!("stopping");
    notifier.stopping();
    let stats = l.syslog.close(Duration::from_secs(5));
    for s in stats.iter().filter(|s| s.dropped > 0) {
        log::warn!("syslog {}: {} frames dropped", s.uri, s.dropped);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::BoardChoice,
        syslog::{Received, SyslogUri, in_memory},
    };
    use envmon_sensors::ipmi::{
        CMD_GET_SENSOR_READING, IpmiErrorKind,
        fake::{FakeBmc, threshold_record},
        repo::{CMD_GET_SDR, CMD_GET_SDR_REPO_INFO},
    };
    use std::{
        path::{Path, PathBuf},
        sync::Mutex,
    };

    /// The message IDs sent so far.
    fn sent(l: &Loop, frames: &Received) -> Vec<u32> {
        assert!(l.syslog.flush(Duration::from_secs(5)));
        frames
            .lock()
            .unwrap()
            .iter()
            .filter_map(|f| {
                let at = f.find(": %FTD-")?;
                f.get(at + 9..at + 15)?.parse().ok()
            })
            .collect()
    }

    const CPU: u8 = 1;
    const FAN: u8 = 7;

    /// A two-sensor BMC and a board for it: CPU0 Temp (40 C, critical 90) and FAN1
    /// (5000 RPM, min 1000).
    fn bmc() -> FakeBmc {
        let bmc = FakeBmc::default();
        {
            let mut s = bmc.state();
            s.records = vec![
                threshold_record(
                    1,
                    CPU,
                    "CPU0 Temp",
                    0x01,
                    (0x03, 1),
                    1,
                    [None, Some(90), Some(75), None, None, None],
                ),
                threshold_record(
                    2,
                    FAN,
                    "FAN1",
                    0x04,
                    (0x1d, 1),
                    50,
                    [None, None, None, None, Some(20), None],
                ),
            ];
            s.add_timestamp = 1000;
        }
        bmc.set(CPU, 40);
        bmc.set(FAN, 100);
        bmc
    }

    fn board(dir: &Path) -> PathBuf {
        let b = dir.join("board.toml");
        std::fs::write(
            &b,
            "name = \"fake\"\n[defaults]\ndebounce = 1\n\
             [[item]]\nid = \"cpu0\"\nclass = \"cpu_temp\"\nlabel = \"0\"\nsource = \"ipmi:CPU0 Temp\"\nwarm = 75\ncritical = 90\n\
             [[item]]\nid = \"fan1\"\nclass = \"fan\"\nlabel = \"1\"\nsource = \"ipmi:FAN1\"\nmin-rpm = 1000\n",
        )
        .unwrap();
        b
    }

    /// A loop on `bmc`, with its state in `dir`; returns it, its frames and the count of
    /// connections opened.
    fn agent(dir: &Path, bmc: &FakeBmc) -> (Loop, Received, Arc<Mutex<u32>>) {
        let mut settings = Settings {
            board: BoardChoice(board(dir).to_string_lossy().into_owned()),
            ipmi: IpmiUri::Device("/dev/fake-ipmi".into()),
            state_dir: dir.join("state"),
            syslog: vec![SyslogUri::Stderr],
            ..Settings::default()
        };
        settings.interval_ms.0 = 100;
        let (syslog, frames) = in_memory(&syslog_config(&settings));
        let opens = Arc::new(Mutex::new(0));
        let (b, o) = (bmc.clone(), Arc::clone(&opens));
        let open: Opener = Box::new(move |_| {
            *o.lock().unwrap() += 1;
            Ok(Box::new(b.transport()) as Box<dyn Transport>)
        });
        (Loop::new(settings, syslog, open), frames, opens)
    }

    #[test]
    fn a_lost_session_is_opened_again_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        let (mut l, frames, opens) = agent(dir.path(), &bmc);
        l.tick();
        assert_eq!(*opens.lock().unwrap(), 1);
        assert_eq!(bmc.count(CMD_GET_SENSOR_READING), 2);
        // The BMC forgot the session: its next answer fails the session layer.
        bmc.state().fail_next.push_back(IpmiError::new(
            IpmiErrorKind::Session,
            "integrity check failed",
        ));
        l.tick();
        assert!(l.source.is_none(), "the session is dropped");
        assert_eq!(
            bmc.count(CMD_GET_SENSOR_READING),
            3,
            "the rest of that sweep waits"
        );
        l.tick();
        assert_eq!(*opens.lock().unwrap(), 2, "reopened by the next tick");
        assert_eq!(
            bmc.count(CMD_GET_SENSOR_READING),
            5,
            "both sensors read again"
        );
        assert_eq!(l.counters.ipmi_errors, 1);
        // One failed sweep: 735010 once, nothing else (no 735009, no sensor message).
        assert_eq!(sent(&l, &frames), vec![735010]);
    }

    /// A board whose every sensor is unreadable (the BMC answers "reading unavailable" for
    /// all of them, for 100 sweeps): each sensor is `unavailable` with no value, monitoring
    /// is degraded, 735010 is sent once (rate limited), no threshold message, and each
    /// sweep still asks each sensor once, no more.
    #[test]
    fn a_board_whose_every_sensor_is_unreadable_is_degraded_not_stuck() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        bmc.state().readings.clear();
        let (mut l, frames, opens) = agent(dir.path(), &bmc);
        for _ in 0..100 {
            l.tick();
        }
        l.publish();
        assert_eq!(
            *opens.lock().unwrap(),
            1,
            "the session is fine: no reconnecting"
        );
        assert_eq!(bmc.count(CMD_GET_SENSOR_READING), 200);
        let snap = l.published.latest().unwrap();
        let env = &snap.environment;
        assert_eq!(env["monitoring"], "degraded");
        let sensors = env["sensors"].as_array().unwrap();
        assert_eq!(sensors.len(), 2);
        for s in sensors {
            assert_eq!(
                (s["state"].as_str(), s["value"].is_null()),
                (Some("unavailable"), true),
                "{s}"
            );
        }
        assert_eq!(sent(&l, &frames), vec![735010]);
    }

    #[test]
    fn insufficient_privilege_reopens_but_a_sensor_error_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        let (mut l, _frames, opens) = agent(dir.path(), &bmc);
        l.tick();
        for (cc, reopens) in [(0xCB, false), (0xC3, false), (0xD4, true)] {
            let before = *opens.lock().unwrap();
            bmc.state()
                .fail_next
                .push_back(IpmiError::new(IpmiErrorKind::Completion(cc), "reading"));
            l.tick();
            l.tick();
            assert_eq!(*opens.lock().unwrap() > before, reopens, "0x{cc:02x}");
        }
        bmc.state()
            .fail_next
            .push_back(IpmiError::new(IpmiErrorKind::Malformed, "short reply"));
        let before = *opens.lock().unwrap();
        l.tick();
        l.tick();
        assert_eq!(
            *opens.lock().unwrap(),
            before,
            "one bad answer keeps the session"
        );
    }

    #[test]
    fn the_repository_is_revalidated_every_30_sweeps_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        let (mut l, frames, opens) = agent(dir.path(), &bmc);
        for _ in 0..REVALIDATE_EVERY {
            l.tick();
        }
        // One at connection, one at sweep 30.
        assert_eq!(bmc.count(CMD_GET_SDR_REPO_INFO), 2);
        let sent_to_bmc = u64::try_from(bmc.state().log.len()).unwrap();
        assert_eq!(
            l.counters.ipmi_commands, sent_to_bmc,
            "every command counted"
        );
        assert_eq!(
            l.counters.last_sweep_commands, 2,
            "a sweep is one read per sensor"
        );
        // The CPU goes warm, then the repository changes (a sensor added): the items are
        // bound again and judged states kept, so nothing is said twice.
        bmc.set(CPU, 80);
        l.tick();
        assert_eq!(sent(&l, &frames), vec![735015], "CPU warm");
        {
            let mut s = bmc.state();
            let extra = threshold_record(3, 9, "Inlet", 0x01, (0x40, 1), 1, [None; 6]);
            s.records.push(extra);
            s.add_timestamp = 2000;
        }
        let sdr_reads = bmc.count(CMD_GET_SDR);
        for _ in 0..REVALIDATE_EVERY {
            l.tick();
        }
        assert_eq!(*opens.lock().unwrap(), 2, "reconnected to reload the SDRs");
        assert!(
            bmc.count(CMD_GET_SDR) > sdr_reads,
            "the new repository was read"
        );
        assert_eq!(sent(&l, &frames), vec![735015], "nothing repeated");
        let m = l.monitor.as_ref().unwrap().to_json(l.now_ms());
        assert_eq!(m["sensors"][0]["state"], "warm", "{m}");
    }

    #[test]
    fn a_second_run_reads_the_sdrs_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        let (mut first, _, _) = agent(dir.path(), &bmc);
        first.tick();
        let reads = bmc.count(CMD_GET_SDR);
        assert!(reads >= 2, "the first run reads the repository");
        drop(first);
        let (mut second, _, _) = agent(dir.path(), &bmc);
        second.tick();
        assert_eq!(
            bmc.count(CMD_GET_SDR),
            reads,
            "no Get SDR: the cache is current"
        );
        assert_eq!(second.monitor.as_ref().unwrap().bound(), 2);
        // A changed repository is read again.
        bmc.state().add_timestamp = 3000;
        let (mut third, _, _) = agent(dir.path(), &bmc);
        third.tick();
        assert!(bmc.count(CMD_GET_SDR) > reads);
    }

    /// A system event record for the fake BMC's SEL (stamped 2027-01-15T08:00:00Z).
    fn sel_event(sensor_type: u8, number: u8, event_type: u8, offset: u8) -> [u8; 16] {
        envmon_core::sel::system_event_record(
            1_800_000_000,
            sensor_type,
            number,
            event_type,
            offset,
        )
    }

    /// The SEL record IDs forwarded so far, in order.
    fn sel_ids(l: &Loop, frames: &Received) -> Vec<String> {
        assert!(l.syslog.flush(Duration::from_secs(5)));
        frames
            .lock()
            .unwrap()
            .iter()
            .filter_map(|f| {
                let at = f.find("-SEL: record 0x")?;
                f.get(at + 13..at + 19).map(str::to_string)
            })
            .collect()
    }

    #[test]
    fn sel_entries_are_forwarded_once_in_order_across_restarts_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        for off in 0..3 {
            bmc.add_sel(sel_event(0x08, 0x09, 0x6f, off));
        }
        let (mut l, frames, _) = agent(dir.path(), &bmc);
        l.tick();
        assert_eq!(sel_ids(&l, &frames), ["0x0001", "0x0002", "0x0003"]);
        let text = frames.lock().unwrap().join("\n");
        assert!(
            text.contains("%FTD-3-SEL: record 0x0002 at 2027-01-15T08:00:00Z: Power Supply #0x09: Failure detected Asserted"),
            "{text}"
        );
        // Two more, seen at the next check (every CHECK_EVERY sweeps), once each.
        bmc.add_sel(sel_event(0x01, CPU, 0x01, 0x09));
        bmc.add_sel(sel_event(0x01, CPU, 0x01, 0x09));
        for _ in 0..crate::sel::CHECK_EVERY * 2 {
            l.tick();
        }
        assert_eq!(sel_ids(&l, &frames).len(), 5);
        assert!(
            frames.lock().unwrap().iter().any(|f| f
                .contains("Temperature #0x01 \"CPU0 Temp\": Upper Critical going high Asserted")),
            "the sensor's SDR name"
        );
        assert_eq!(l.sel.to_json()["forwarded"], 5);
        // A restart forwards nothing already forwarded, then what is new.
        drop(l);
        let (mut l, frames, _) = agent(dir.path(), &bmc);
        l.tick();
        assert!(sel_ids(&l, &frames).is_empty(), "nothing repeated");
        bmc.add_sel(sel_event(0x05, 0x20, 0x6f, 0));
        for _ in 0..crate::sel::CHECK_EVERY {
            l.tick();
        }
        assert_eq!(sel_ids(&l, &frames), ["0x0006"]);
        // A cleared SEL (new erase stamp, IDs from 1 again): new entries still arrive.
        bmc.clear_sel();
        bmc.add_sel(sel_event(0x08, 0x09, 0x6f, 3));
        for _ in 0..crate::sel::CHECK_EVERY {
            l.tick();
        }
        assert_eq!(sel_ids(&l, &frames), ["0x0006", "0x0001"]);
    }

    #[test]
    fn a_large_backlog_is_read_in_bounded_batches() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        for i in 0..300u16 {
            bmc.add_sel(sel_event(0x0C, 0x40, 0x6f, (i % 2) as u8));
        }
        let (mut l, frames, _) = agent(dir.path(), &bmc);
        let mut per_tick = Vec::new();
        for _ in 0..10 {
            let before = bmc.count(envmon_sensors::ipmi::sel::CMD_GET_SEL_ENTRY);
            l.tick();
            per_tick.push(bmc.count(envmon_sensors::ipmi::sel::CMD_GET_SEL_ENTRY) - before);
        }
        let ids = sel_ids(&l, &frames);
        assert_eq!(ids.len(), 300, "all, once");
        assert_eq!(ids.first().map(String::as_str), Some("0x0001"));
        assert_eq!(ids.last().map(String::as_str), Some("0x012c"));
        assert!(
            per_tick.iter().all(|n| *n <= crate::sel::BUDGET + 1),
            "at most one batch per sweep: {per_tick:?}"
        );
    }

    #[test]
    fn a_hardware_thermal_trip_logged_while_down_is_reported_once_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        bmc.add_sel(sel_event(0x12, 0x30, 0x6f, 0x00));
        let (mut l, frames, _) = agent(dir.path(), &bmc);
        l.tick();
        assert!(sent(&l, &frames).is_empty(), "no trip: no report");
        drop(l);
        // While envmon was down the processor tripped (the box went dark).
        bmc.add_sel(sel_event(0x07, 0x31, 0x6f, 0x01));
        let (mut l, frames, _) = agent(dir.path(), &bmc);
        l.tick();
        assert_eq!(sent(&l, &frames), vec![735023]);
        let rec = shutdown::read_record(&dir.path().join("state"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                rec.reason.as_str(),
                rec.source.as_deref(),
                rec.sensor.as_str(),
                rec.reported
            ),
            ("cpu", Some("sel"), "sel:0x0002", true)
        );
        for _ in 0..crate::sel::CHECK_EVERY {
            l.tick();
        }
        assert_eq!(sent(&l, &frames), vec![735023], "once");
        drop(l);
        let (mut l, frames, _) = agent(dir.path(), &bmc);
        l.tick();
        assert!(sent(&l, &frames).is_empty(), "a second start says nothing");
    }

    #[test]
    fn the_fill_level_is_warned_about_once_and_off_means_off() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        // 16,000 bytes in all: 850 entries are 85%.
        for _ in 0..850 {
            bmc.add_sel(sel_event(0x0C, 0x40, 0x6f, 0));
        }
        let (mut l, frames, _) = agent(dir.path(), &bmc);
        for _ in 0..30 {
            l.tick();
        }
        let warnings = frames
            .lock()
            .unwrap()
            .iter()
            .filter(|f| f.contains("%FTD-4-SEL: the SEL is 85% full"))
            .count();
        assert_eq!(warnings, 1);
        let dir2 = tempfile::tempdir().unwrap();
        let (mut off, frames, _) = agent(dir2.path(), &bmc);
        off.settings.sel = crate::config::SelMode::Off;
        let before = bmc.count(envmon_sensors::ipmi::sel::CMD_GET_SEL_INFO);
        off.tick();
        assert_eq!(
            bmc.count(envmon_sensors::ipmi::sel::CMD_GET_SEL_INFO),
            before
        );
        assert!(sel_ids(&off, &frames).is_empty());
    }

    #[test]
    fn the_opt_in_clear_archives_every_entry_before_clearing() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        for i in 0..900u16 {
            bmc.add_sel(sel_event(0x0C, 0x40, 0x6f, (i % 3) as u8));
        }
        let (mut l, _frames, _) = agent(dir.path(), &bmc);
        l.settings.sel = crate::config::SelMode::Clear;
        for _ in 0..20 {
            l.tick();
        }
        let archive = std::fs::read_to_string(dir.path().join("state/sel-archive.log")).unwrap();
        assert_eq!(archive.lines().count(), 900, "every entry archived");
        assert!(
            archive
                .lines()
                .next()
                .unwrap()
                .starts_with("record 0x0001 ")
        );
        assert!(bmc.state().sel.is_empty(), "then cleared");
        assert!(bmc.count(envmon_sensors::ipmi::sel::CMD_CLEAR_SEL) >= 1);
    }
}
