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
    shutdown, socket,
    status::{self, Counters, Monitoring, Published, Snapshot},
    sys,
    syslog::Syslog,
    watchdog::{self, Beating, Heartbeat},
};
use envmon_board_defs::Board;
use envmon_core::engine::Emission;
use envmon_sensors::ipmi::{Connected, IpmiSource, Transport, repo, sdr::SdrEntry};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Sweeps between two checks of the SDR repository info.
pub const REVALIDATE_EVERY: u64 = 30;
/// Failed connection attempts before 735009 is sent (the agent keeps trying).
pub const ATTEMPTS_BEFORE_735009: u32 = 3;

struct Loop {
    settings: Settings,
    syslog: Syslog,
    started: Instant,
    source: Option<IpmiSource<Beating<Connected>>>,
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
    /// Beaten at every step that makes progress (the watchdog feeder reads it).
    heart: Heartbeat,
    /// Final counters of syslog destinations replaced by SIGHUP.
    retired_syslog: Vec<crate::syslog::DestinationStats>,
}

impl Loop {
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
        let conn = bmc::open(&target).map_err(|e| e.to_string());
        self.heart.beat();
        let mut conn = Beating::new(conn?, self.heart.clone());
        let (sdrs, info) =
            bmc::load_sdrs(&mut conn, &self.settings.state_dir).map_err(|e| e.to_string())?;
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
                            args: vec![],
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
            .filter(|_| {
                sweep.transport_error.is_none()
                    && (self.sweeps + 1).is_multiple_of(REVALIDATE_EVERY)
            })
            .map(|s| repo::info(s.transport()));
        log::trace!(
            "sweep {}: {used} IPMI commands, {} unread",
            self.sweeps,
            sweep.unread
        );
        self.send(&sweep.emissions);
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
            self.source = None;
            return;
        }
        match revalidate {
            Some(Ok(info)) if Some(info) != self.repo_info => {
                // Reconnecting re-reads the SDRs and binds the items again.
                log::info!("the SDR repository changed; reloading it");
                self.source = None;
            }
            Some(Err(e)) => log::warn!("SDR repository info: {e}"),
            _ => {}
        }
    }

    /// Publishes what the agent knows now, for the socket.
    fn publish(&self) {
        let monitoring = match (&self.monitor, &self.source) {
            (None, _) => Monitoring::Failed,
            (Some(m), _) if !m.active() => Monitoring::Failed,
            (Some(_), Some(_)) if self.last_sweep_complete => Monitoring::Running,
            _ => Monitoring::Degraded,
        };
        let now = self.now_ms();
        let env = status::environment(
            self.monitor.as_ref().map(|m| m.to_json(now)),
            monitoring,
            self.settings.interval_ms.0,
            self.last_shutdown.as_ref(),
            &status::with_retired(self.syslog.stats(), &self.retired_syslog),
            &self.counters,
        );
        let metrics = status::metrics(&env, &self.counters);
        self.published.publish(Snapshot {
            environment: env,
            metrics,
        });
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
            self.source = None;
            self.monitor = None;
            self.repo_info = None;
        } else if new.ipmi_password_file != self.settings.ipmi_password_file {
            self.source = None;
        }
        self.settings = new;
        log::info!("SIGHUP: configuration reloaded");
    }
}

/// Runs until SIGTERM or SIGINT.
pub fn run(settings: Settings, args: &SettingsArgs) -> Result<(), AgentError> {
    bmc::named_board(&settings.board)?;
    bmc::target(&settings)?;
    let listener = socket::bind(&settings.socket)?;
    let _socket_file = socket::SocketFile(settings.socket.clone());
    let syslog = Syslog::start(&syslog_config(&settings))?;
    sys::install_signal_handlers();
    let mut l = Loop {
        settings,
        syslog,
        started: Instant::now(),
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
        heart: Heartbeat::default(),
        retired_syslog: Vec::new(),
    };
    l.last_shutdown = shutdown::report_at_boot(&l.syslog, &l.settings.state_dir);
    l.publish();
    socket::serve(listener, Arc::clone(&l.published))
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
