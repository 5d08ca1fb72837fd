//! `envmon run`: the poll loop, an orchestrator of named parts.
//!
//! Each tick: make sure there is a monitor and, when its items need one, a BMC session
//! ([`BmcLink`]: connect with bounded retries, 735009 once monitoring cannot start, and keep
//! retrying); sweep ([`Monitor`]: one Get Sensor Reading per monitored sensor); hand the
//! messages and transitions to the [`Outputs`] (syslog, SNMP); run the thermal shutdown a
//! sweep calls for ([`ThermalGuard`]); every [`REVALIDATE_EVERY`] sweeps check the SDR
//! repository; then the BMC's event log ([`SelWatcher`]). After each tick the loop publishes
//! the model ([`Environment`]) for the socket, SNMP and the metrics file. A lost BMC gives
//! 735010 (rate limited) and sensors go unavailable; judging resumes from the kept states.
//! SIGTERM/SIGINT end the loop cleanly; SIGHUP reloads the configuration and board (an
//! invalid new one keeps the old one running and says why).

mod pace;

use crate::config::ShutdownAction;
use crate::source::figures::Figures;
use crate::source::host;
use crate::source::rffigures::RfFigures;
use crate::{
    config::{IpmiUri, Settings, SettingsArgs},
    error::AgentError,
    events::shutdown,
    events::{eventlog::LogWatcher, sel::SelWatcher},
    model::status::Counters,
    model::{Environment, Monitoring},
    monitor::{Confirm, Monitor, Sweep},
    os::sys,
    os::watchdog::{self, Heartbeat},
    outputs::Outputs,
    outputs::socket,
    source::link::{BmcLink, Opened, Opener, open_real},
    source::{
        self, Chosen,
        board::{self, Described},
    },
    syslog::Syslog,
};
use envmon_board_defs::Board;
use envmon_core::engine::{Emission, format_reading};
use envmon_core::host::{BmcGuid, HostId, Reach};
use envmon_sensors::power::{Chassis, HostPower, Reset};
use envmon_sensors::redfish::{http::HttpFetch, reader::RedfishReader};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Sweeps between two checks of the SDR repository info.
pub const REVALIDATE_EVERY: u64 = 30;

/// The thermal shutdown: run at most once per process, and the last one for `show`.
#[derive(Debug, Default)]
pub struct ThermalGuard {
    /// The sequence ran in this process (it never runs twice).
    done: bool,
    /// The last thermal shutdown.
    last: Option<shutdown::Record>,
    /// A shutdown of envmon's own was reported at this start (a SEL trip is then not).
    own_boot_report: bool,
    /// A SEL trip whose report could not be recorded yet.
    pending_trip: Option<crate::events::delivery::BootTrip>,
    /// The remote host powered off by this process's action has been seen off (its power
    /// on again is its next boot: reported, and the guard armed again).
    remote_down: bool,
    /// `bmc` actions of this episode that did not read the host's power back off, when the
    /// next may run, and the item that called for them (tried again while it stays at its
    /// shutdown state; the episode ends when it leaves it).
    failed_attempts: u32,
    retry_at: Option<Instant>,
    retry_position: Option<usize>,
}

/// `bmc` actions tried per episode (one that does not power the host off is tried again).
pub const BMC_ATTEMPTS: u32 = 3;
/// The least time between two `bmc` actions of one episode.
pub const BMC_RETRY_EVERY: Duration = Duration::from_secs(30);

impl ThermalGuard {
    /// At start: reports an unreported shutdown of envmon's own (735023/735028).
    pub fn at_boot(syslog: &Syslog, settings: &Settings) -> ThermalGuard {
        // Read once: whether it was still unreported decides about a SEL trip later.
        let rec = shutdown::read_usable_record(&settings.state_dir);
        // A remote host this agent powered off is reported at its own next boot (its power
        // seen on again: remote_power), not at envmon's start.
        let remote_off = rec
            .as_ref()
            .is_some_and(|r| !r.reported && r.host.is_some() && r.host_off == Some(true));
        ThermalGuard {
            done: remote_off,
            pending_trip: None,
            remote_down: remote_off,
            failed_attempts: 0,
            retry_at: None,
            retry_position: None,
            own_boot_report: rec.as_ref().is_some_and(|r| !r.reported),
            last: match rec {
                Some(r) if remote_off => Some(r),
                r => r.and_then(|r| shutdown::report_record(syslog, &settings.state_dir, r)),
            },
        }
    }

    /// Runs the shutdown a sweep calls for, once per process, as `act` says.
    fn run(
        &mut self,
        t: Option<crate::model::Trigger>,
        syslog: &Syslog,
        settings: &Settings,
        act: shutdown::Act<'_>,
    ) {
        let Some(t) = t.filter(|_| !self.done) else {
            return;
        };
        self.done = true;
        log::error!(
            "thermal shutdown: {} at {} (threshold {}), host {}: {}",
            t.sensor,
            format_reading(t.reading, &t.unit),
            format_reading(t.threshold, &t.unit),
            act.host.name(),
            act.action
        );
        let rec = shutdown::perform(syslog, &settings.state_dir, act, &t);
        self.remote_down = rec.host_off == Some(true);
        // A BMC that did not power its host off is asked again (at most BMC_ATTEMPTS times,
        // BMC_RETRY_EVERY apart) while the item stays at its shutdown state.
        if rec.host_off == Some(false) {
            self.failed_attempts += 1;
            self.retry_position = Some(t.position);
            if self.failed_attempts >= BMC_ATTEMPTS {
                let line = format!(
                    "thermal shutdown: the BMC did not power its host off after \
                     {BMC_ATTEMPTS} attempts: not asked again while {} stays past its \
                     threshold",
                    t.sensor
                );
                log::error!("{line}");
                syslog.send_notice(&line);
            } else {
                log::error!(
                    "thermal shutdown: the host is not off; asked again in {} s while {} stays \
                     past its shutdown threshold (attempt {} of {BMC_ATTEMPTS})",
                    BMC_RETRY_EVERY.as_secs(),
                    t.sensor,
                    self.failed_attempts + 1
                );
                self.done = false;
                self.retry_at = Some(Instant::now() + BMC_RETRY_EVERY);
            }
        }
        self.last = Some(rec);
    }

    /// Whether a shutdown may run now (not done, and not waiting to ask a BMC again).
    fn ready(&self) -> bool {
        !self.done && self.retry_at.is_none_or(|at| Instant::now() >= at)
    }

    /// The episode of failed `bmc` actions ends when their item leaves its shutdown state
    /// (`at_shutdown`): the next heat-up gets its attempts again.
    fn episode(&mut self, at_shutdown: impl Fn(usize) -> bool) {
        let Some(p) = self.retry_position else {
            return;
        };
        if at_shutdown(p) {
            return;
        }
        self.failed_attempts = 0;
        self.retry_at = None;
        self.retry_position = None;
        if self
            .last
            .as_ref()
            .is_some_and(|r| r.host_off == Some(false))
        {
            self.done = false;
        }
    }

    /// A hardware trip found in the SEL at start: reported unless envmon's own shutdown was,
    /// or this trip was reported before (the record keeps the trips reported). The record is
    /// written before 735023 is sent: a trip whose report cannot be recorded (a full state
    /// dir) waits, so that no start reports it twice.
    fn sel_trip(
        &mut self,
        trip: crate::events::delivery::BootTrip,
        syslog: &Syslog,
        settings: &Settings,
    ) {
        if self.own_boot_report {
            log::info!(
                "SEL {}: a thermal trip, already reported as envmon's own shutdown",
                trip.entry
            );
            return;
        }
        let reported = shutdown::read_usable_record(&settings.state_dir)
            .is_some_and(|r| r.trips.contains(&trip.identity));
        if reported {
            log::info!("SEL {}: a thermal trip reported before", trip.entry);
            return;
        }
        log::error!(
            "SEL {}: the processor tripped thermally at {} while envmon was not running",
            trip.entry,
            trip.at
        );
        match shutdown::report_hardware_trip(syslog, &settings.state_dir, &trip) {
            Ok(rec) => self.last = Some(rec),
            Err(e) => {
                log::error!(
                    "cannot record the report of {} ({e}): 735023 waits until it can be",
                    trip.entry
                );
                self.pending_trip = Some(trip);
            }
        }
    }

    /// After a remote host's thermal action: the host's power as its BMC reads it. Seen off,
    /// then on again, is the host's next boot: the record is reported then (735023/735028
    /// once, as a local shutdown is at envmon's next start) and the guard is armed again, so
    /// that a host that heats up again is protected again.
    fn remote_power(&mut self, on: Option<bool>, syslog: &Syslog, settings: &Settings) {
        let remote = self
            .last
            .as_ref()
            .is_some_and(|r| r.host.is_some() && !r.reported && r.source.is_none());
        if !self.done || !remote {
            return;
        }
        match on {
            Some(false) => self.remote_down = true,
            Some(true) if self.remote_down => {
                log::warn!("the remote host is powered on again after its thermal shutdown");
                if let Some(rec) = self.last.take() {
                    self.last = shutdown::report_record(syslog, &settings.state_dir, rec);
                }
                self.done = false;
                self.remote_down = false;
                self.failed_attempts = 0;
                self.retry_at = None;
                self.retry_position = None;
            }
            _ => {}
        }
    }

    /// A trip whose report could not be recorded, tried again.
    fn retry_trip(&mut self, syslog: &Syslog, settings: &Settings) {
        if let Some(trip) = self.pending_trip.take() {
            self.sel_trip(trip, syslog, settings);
        }
    }
}

struct Loop {
    settings: Settings,
    started: Instant,
    /// Beaten at every step that makes progress (the watchdog feeder reads it).
    heart: Heartbeat,
    link: BmcLink,
    monitor: Option<Monitor>,
    /// The BMC's figures of the current session or service (none before the first).
    figures: Option<SourceFigures>,
    /// A Redfish service's event logs (`--redfish`, unless `sel = "off"`).
    rflog: Option<crate::events::eventlog::LogWatcher>,
    outputs: Outputs,
    sel: SelWatcher,
    thermal: ThermalGuard,
    /// Sweep counters (the link's and the outputs' are added at publish).
    counters: Counters,
    /// Whether the last sweep updated every record.
    last_sweep_complete: bool,
    /// The protected host, its action, and what acts on it.
    host: HostGuard,
    /// Each turn's time budget for reading the source.
    pace: pace::Pace,
}

/// The host the thermal action protects, as decided so far, and what acts on it.
struct HostGuard {
    /// The protected host and its thermal action.
    protection: Protection,
    /// A client of the Redfish service, for its system.
    rf: Option<HttpFetch>,
    /// The Redfish system the service manages (its UUID and Reset action), once read.
    rf_system: Option<envmon_sensors::redfish::system::System>,
    /// A refusal found after the start (the BMC's GUID against `poweroff`): the loop ends
    /// with it.
    fatal: Option<AgentError>,
    /// What the BMC said of its system's GUID (none: not asked yet on this source).
    guid: Option<BmcGuid>,
}

/// The figures beside the board's items, of an IPMI BMC or a Redfish service.
enum SourceFigures {
    Ipmi(Figures),
    Redfish(Box<RfFigures>),
}

impl SourceFigures {
    fn bmc(&self) -> Option<crate::model::BmcInfo> {
        match self {
            SourceFigures::Ipmi(f) => f.bmc(),
            SourceFigures::Redfish(f) => f.bmc(),
        }
    }

    fn power(&self) -> Vec<crate::model::PowerItem> {
        match self {
            SourceFigures::Ipmi(f) => f.power(),
            SourceFigures::Redfish(f) => f.power(),
        }
    }

    /// The host's power as last read (none: not said, or powering on or off).
    fn host_on(&self) -> Option<bool> {
        match self {
            SourceFigures::Ipmi(f) => f.host_on(),
            SourceFigures::Redfish(f) => f.host_on(),
        }
    }
}

/// The host the thermal action protects and the action for it.
#[derive(Debug, Clone)]
pub struct Protection {
    /// Which host, on what evidence.
    pub id: HostId,
    /// The action; `None` until the BMC's GUID decides (`poweroff` on an unknown host).
    pub action: Option<ShutdownAction>,
}

/// The protected host of the settings given what the BMC said (`asked`: it was asked), and
/// the action for it; refused as a usage error (`shutdown::resolve_action`).
pub fn protection(
    settings: &Settings,
    bmc: BmcGuid,
    asked: bool,
) -> Result<Protection, AgentError> {
    let id = host::identify_with(settings, bmc);
    let reach = host::reach(settings);
    let may_come =
        !asked && reach == Reach::Network && host::this_machine(&settings.sysfs_root).is_some();
    let action = shutdown::resolve_action(
        &id,
        settings.shutdown_action.as_ref(),
        reach != Reach::OwnBuses,
        may_come,
    )
    .map_err(AgentError::Usage)?;
    Ok(Protection { id, action })
}

impl Protection {
    /// As the model shows it.
    pub fn shown(&self) -> crate::model::Protection {
        crate::model::Protection {
            action: self.action.as_ref().map_or_else(
                || "decided when the BMC answers".into(),
                ToString::to_string,
            ),
            evidence: self.id.evidence.clone(),
            host: self.id.host.name().into(),
        }
    }
}

impl Loop {
    /// Before the exit: what is queued is delivered (5 s at most), and the SEL cursor saved
    /// past what was.
    fn finish(&mut self) {
        self.outputs.flush(Duration::from_secs(5));
        self.sel.commit(self.outputs.syslog());
        if let Some(w) = self.rflog.as_mut() {
            w.commit(self.outputs.syslog());
        }
    }

    fn new(settings: Settings, syslog: Syslog, open: Opener) -> Loop {
        let protection = protection(&settings, BmcGuid::NotAsked, false).unwrap_or_else(|e| {
            // preflight refused these settings before: a soak or a test keeps going, safely.
            log::error!("{e}");
            Protection {
                id: host::identify_with(&settings, BmcGuid::NotAsked),
                action: Some(ShutdownAction::None),
            }
        });
        let mut l = Loop {
            host: HostGuard {
                protection,
                rf: None,
                rf_system: None,
                fatal: None,
                guid: None,
            },
            // The protected host's boot is set below (`set_host_boot`).
            sel: SelWatcher::new(&settings.state_dir, None),
            outputs: Outputs::new(&settings, syslog),
            settings,
            started: Instant::now(),
            heart: Heartbeat::default(),
            link: BmcLink::new(open),
            monitor: None,
            figures: None,
            rflog: None,
            thermal: ThermalGuard::default(),
            counters: Counters::default(),
            last_sweep_complete: false,
            pace: pace::Pace::new(pace::TURN_BUDGET),
        };
        // The boot the event logs measure trips against: the start's protected host's.
        l.set_host_boot();
        l
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Makes sure there is a monitor, and a BMC connection when its items need one. The
    /// source and the board come from the one start-up path (`source::choose`,
    /// `board::build`, `board::bind`) that every command takes.
    fn connect(&mut self) -> Result<(), String> {
        let target = match source::choose(&self.settings).map_err(|e| e.to_string())? {
            Chosen::Redfish(fetch) => return self.connect_redfish(fetch),
            Chosen::Ipmi(t) => Some(t),
            Chosen::Nothing => None,
        };
        // The board is read only while there is no monitor yet (not every tick of a BMC
        // outage). A board made from the SDRs waits for them.
        let mut waiting_for_sdrs = None;
        if self.monitor.is_none() {
            let named = board::named_board(&self.settings.board).map_err(|e| e.to_string())?;
            if board::from_source(named.as_ref()) {
                waiting_for_sdrs = Some(named);
            } else {
                let b = board::build(named, Described::Nothing, &self.settings)
                    .map_err(|e| e.to_string())?;
                let (m, _) = board::bind(b, Described::Nothing, &self.settings, None);
                self.monitor = Some(m);
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
        let (monitor, settings) = (&mut self.monitor, &self.settings);
        let mut figures = None;
        self.link
            .open(&target, &settings.state_dir, &self.heart, |o: &Opened| {
                figures = Some(Figures::new(&o.sdrs));
                adopt(monitor, waiting_for_sdrs, o, settings)
            })?;
        self.figures = figures.map(SourceFigures::Ipmi);
        log::info!("connected to the BMC");
        // Asked at every session: the address may answer for another BMC now.
        let asked = self
            .link
            .source()
            .map(|src| host::ipmi_guid(src.transport()));
        match asked {
            Some(Ok(guid)) => self.decide(guid),
            Some(Err(e)) => log::warn!("{e}: asked again at the next session"),
            None => {}
        }
        Ok(())
    }

    /// The Redfish system (its UUID and Reset action), found once the service answers for
    /// it; a failed read is tried again (after a sweep, and before an action).
    fn find_system(&mut self) {
        if self.host.rf_system.is_some() {
            return;
        }
        let Some(fetch) = self.host.rf.as_mut() else {
            return;
        };
        match envmon_sensors::redfish::system::find(fetch) {
            Ok(Some(system)) => {
                self.decide(host::redfish_guid(Some(&system)));
                self.host.rf_system = Some(system);
                self.set_host_boot();
            }
            Ok(None) if self.host.guid.is_none() => {
                log::warn!("Redfish: the service lists no computer system: no Reset action");
                self.decide(BmcGuid::None);
            }
            Ok(None) => {}
            Err(e) => log::warn!("Redfish: {e}: the system is read again after the sweep"),
        }
    }

    /// The protected host once the BMC has said its GUID (or that it has none), said once;
    /// a `poweroff` the evidence does not allow ends the loop ([`Loop::fatal`]).
    fn decide(&mut self, guid: BmcGuid) {
        if self.host.guid == Some(guid) {
            return;
        }
        self.host.guid = Some(guid);
        match protection(&self.settings, guid, true) {
            Ok(p) => {
                if p.id.contradicted {
                    log::warn!("--host {}: {}", self.settings.host, p.id.evidence);
                }
                log::info!(
                    "protected host: {} ({}); thermal action: {}",
                    p.id.host.name(),
                    p.id.evidence,
                    p.action
                        .as_ref()
                        .map_or_else(String::new, ToString::to_string)
                );
                self.host.protection = p;
                self.set_host_boot();
            }
            Err(e) => self.host.fatal = Some(e),
        }
    }

    /// The protected host's boot time for the event logs' boot report: this machine's, or
    /// for a remote host its Redfish system's `LastResetTime` (IPMI does not say it: none).
    fn set_host_boot(&mut self) {
        let boot = match self.host.protection.id.host {
            envmon_core::host::Host::Remote => self
                .host
                .rf_system
                .as_ref()
                .and_then(|s| s.last_reset.as_deref())
                .and_then(envmon_core::eventlog::epoch_seconds),
            _ => crate::events::sel::host_boot(&self.settings.sysfs_root),
        };
        self.sel.set_host_boot(boot);
        if let Some(w) = self.rflog.as_mut() {
            w.set_host_boot(boot);
        }
    }

    /// `--redfish`: discovers the service and builds the monitor of its board (`auto`, or a
    /// board file naming `redfish:` sources); each sweep then reads the service. A service
    /// that does not answer here counts toward 735009 as a BMC does.
    fn connect_redfish(&mut self, mut fetch: HttpFetch) -> Result<(), String> {
        if self.monitor.is_some() {
            return Ok(());
        }
        // Each request of the discovery is progress (a slow service's takes many); after it
        // only the loop's turns feed the watchdog (each turn within its budget).
        let heart = self.heart.clone();
        fetch.set_progress(Some(Arc::new(move || heart.beat())));
        self.heart.beat();
        let found = envmon_sensors::redfish::discover::discover(&mut fetch);
        fetch.set_progress(None);
        let found = found.map_err(|e| {
            use envmon_sensors::redfish::Fetch;
            format!("Redfish {}: {e}", fetch.origin())
        })?;
        self.heart.beat();
        for n in &found.notes {
            log::warn!("Redfish: {n}");
        }
        let described = Described::Redfish(&found.sensors);
        let named = board::named_board(&self.settings.board).map_err(|e| e.to_string())?;
        let b = board::build(named, described, &self.settings).map_err(|e| e.to_string())?;
        if self.settings.sel != crate::config::SelMode::Off {
            // The same client (password and TLS trust read once), counting on its own.
            self.rflog = Some(crate::events::eventlog::LogWatcher::new(
                Box::new(fetch.clone()),
                &self.settings.state_dir,
                None,
            ));
        }
        self.set_host_boot();
        // The system the service manages: which host it is, and its Reset action.
        self.host.rf = Some(fetch.clone());
        // Every clone shares the turn's budget.
        self.pace.redfish = Some(fetch.budget());
        self.find_system();
        // The system the host guard found is not looked for again.
        self.figures = Some(SourceFigures::Redfish(Box::new(RfFigures::new(
            Box::new(fetch.clone()),
            RedfishReader::new(Box::new(fetch.clone())).with_features(found.features),
            &found.sensors,
            self.host.rf_system.as_ref().map(|s| s.path.clone()),
        ))));
        let reader = RedfishReader::new(Box::new(fetch)).with_features(found.features);
        let (m, _) = board::bind(b, described, &self.settings, Some(reader));
        if !m.active() {
            return Err("the board has no item that matches a Redfish sensor".into());
        }
        log::info!(
            "monitoring board {} over Redfish ({} items)",
            m.board().name,
            m.bound()
        );
        self.monitor = Some(m);
        Ok(())
    }

    /// Connects when monitoring needs it; a failed attempt counts toward 735009.
    fn ensure_connected(&mut self) {
        let bmc_missing = !self.link.connected()
            && self.settings.ipmi != IpmiUri::None
            && self.monitor.as_ref().is_some_and(Monitor::needs_bmc);
        if self.monitor.is_some() && !bmc_missing {
            return;
        }
        if !self.link.may_try() {
            return; // backing off after a failed attempt
        }
        match self.connect() {
            Ok(()) => self.link.succeeded(),
            Err(e) => {
                let not_started = self.monitor.as_ref().is_none_or(|m| !m.active());
                if self.link.failed(&e, not_started) {
                    self.outputs.send(&[Emission {
                        id: 735009,
                        ..Emission::default()
                    }]);
                }
            }
        }
    }

    /// One sweep of the monitor, timed and counted. `None` while nothing is bound yet (an
    /// IPMI board before its BMC answered): monitoring has not started.
    fn sweep(&mut self, until: Option<Instant>) -> Option<Sweep> {
        let now = self.now_ms();
        let monitor = self.monitor.as_mut().filter(|m| m.active())?;
        let before = self.link.commands();
        let started = Instant::now();
        let until = self.pace.for_ipmi(until);
        let sweep = monitor.sweep_within(self.link.source(), now, until);
        let used = self.link.commands() - before;
        self.counters.last_sweep_seconds = started.elapsed().as_secs_f64();
        self.counters.last_sweep_commands = used;
        self.counters.sweeps += 1;
        self.last_sweep_complete = sweep.unread == 0;
        log::trace!(
            "sweep {}: {used} IPMI commands, {} unread",
            self.counters.sweeps,
            sweep.unread
        );
        Some(sweep)
    }

    fn tick(&mut self) {
        self.ensure_connected();
        // The turn's budget bounds the source's reads, not the confirmation and the action.
        let until = self.pace.start();
        let sweep = self.sweep(until);
        self.pace.hold(None);
        let Some(sweep) = sweep else {
            return;
        };
        let ipmi = self.link.source().is_some();
        if let Some(line) = self.pace.after_sweep(sweep.left, ipmi) {
            log::warn!("{line}");
        }
        self.outputs.send(&sweep.emissions);
        self.outputs.transitions(sweep.transitions);
        for text in &sweep.notices {
            self.outputs.notice(text);
        }
        let confirmed = sweep.shutdown.filter(|t| self.confirm_shutdown(t));
        if confirmed.is_some() {
            self.act(confirmed);
        }
        if let Some(e) = sweep.transport_error {
            return self.link.lost("", &e);
        }
        if self.counters.sweeps.is_multiple_of(REVALIDATE_EVERY) {
            self.link.revalidate();
        }
        // The figures, the system and the event logs within what is left of the turn's
        // budget; a turn that spent it leaves them for the next (which gives them their own).
        let extras = self.pace.extras(until);
        let fresh = extras && self.read_figures();
        if extras && self.host.guid.is_none() {
            self.find_system();
        }
        // The host's power as read now (a figure read before the action says nothing).
        let on = self
            .figures
            .as_ref()
            .filter(|_| fresh)
            .and_then(SourceFigures::host_on);
        self.thermal
            .remote_power(on, self.outputs.syslog(), &self.settings);
        if let Some(m) = self.monitor.as_ref() {
            self.thermal.episode(|p| m.at_shutdown(p));
        }
        if extras {
            self.sel_step();
            self.rflog_step();
        }
        self.pace.hold(None);
    }

    /// The thermal action for a confirmed trigger, on the protected host: `bmc` through the
    /// IPMI session or the Redfish system's Reset action.
    fn act(&mut self, confirmed: Option<crate::model::Trigger>) {
        // Not decided yet cannot happen with readings in hand (the GUID is asked at connect);
        // if it does, the BMC is the one that can act on the hot host.
        let action = self
            .host
            .protection
            .action
            .clone()
            .unwrap_or(ShutdownAction::Bmc);
        if action == ShutdownAction::Bmc {
            self.find_system(); // a system not read yet is read now
        }
        let heart = self.heart.clone();
        let mut pause = |d: Duration| pause(d, &heart);
        let grace = Duration::from_millis(self.settings.shutdown_grace_ms.0);
        let host = self.host.protection.id.host;
        let syslog = self.outputs.syslog();
        let mut chassis;
        let mut reset;
        let rf = (&mut self.host.rf, &self.host.rf_system);
        let bmc: Option<&mut dyn HostPower> = match (rf, self.link.source()) {
            _ if action != ShutdownAction::Bmc => None,
            ((Some(fetch), Some(system)), _) => {
                reset = Reset {
                    fetch,
                    system: system.clone(),
                };
                Some(&mut reset)
            }
            ((None, _), Some(src)) => {
                chassis = Chassis(src.transport());
                Some(&mut chassis)
            }
            _ => None,
        };
        let act = shutdown::Act {
            action: &action,
            host,
            bmc,
            grace,
            pause: &mut pause,
        };
        let position = confirmed.as_ref().map(|t| t.position);
        self.thermal.run(confirmed, syslog, &self.settings, act);
        // Not off and to be asked again: the monitor raises the trigger again while the
        // item stays at its shutdown state.
        if let (Some(p), false) = (position, self.thermal.done) {
            if let Some(m) = self.monitor.as_mut() {
                m.ask_again_for(p);
            }
        }
    }

    /// The BMC's figures, when due (a batch of their own, after the sweep). Whether they were
    /// read now.
    fn read_figures(&mut self) -> bool {
        let now = self.now_ms();
        match (self.figures.as_mut(), self.link.source()) {
            (Some(SourceFigures::Ipmi(f)), Some(src)) if f.due(now) => {
                f.read(src.transport(), now);
                true
            }
            // A service the sweep found silent is not asked more (each GET would wait).
            (Some(SourceFigures::Redfish(f)), _)
                if f.due(now)
                    && self.monitor.as_ref().and_then(Monitor::redfish_healthy) != Some(false) =>
            {
                f.read(now);
                true
            }
            _ => false,
        }
    }

    /// Before the one irreversible act: the monitor confirms the trigger with fresh,
    /// direct readings (`shutdown-confirm-readings` over `shutdown-confirm-ms`; see
    /// [`Monitor::confirm`]), the heart beating while it waits.
    fn confirm_shutdown(&mut self, t: &crate::model::Trigger) -> bool {
        if !self.thermal.ready() {
            // Waiting to ask the BMC again: this item (any at its shutdown state calls for
            // the same host) is asked for again after the wait.
            if self.thermal.retry_at.is_some() && !self.thermal.done {
                if let Some(m) = self.monitor.as_mut() {
                    m.ask_again_for(t.position);
                }
            }
            return false;
        }
        let rule = Confirm {
            readings: u32::from(self.settings.shutdown_confirm_readings.0),
            over: Duration::from_millis(self.settings.shutdown_confirm_ms.0),
        };
        let (started, heart) = (self.started, &self.heart);
        let Some(m) = self.monitor.as_mut() else {
            return false;
        };
        let now = || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        m.confirm(t, self.link.source(), rule, &mut |d| pause(d, heart), &now)
    }

    /// After a sweep: the BMC's event log (new entries to syslog, fill warnings, the
    /// hardware trip report once the start-up pass is done). Its time is `last_sel_seconds`.
    fn sel_step(&mut self) {
        let started = Instant::now();
        let Some((src, names)) = self.link.session_and_names() else {
            return;
        };
        let name = |n: u8| names.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        let result = self.sel.after_sweep(
            src.transport(),
            self.outputs.syslog(),
            self.settings.sel,
            self.settings.sel_warn_percent.0,
            &name,
        );
        self.counters.last_sel_seconds = started.elapsed().as_secs_f64();
        match result {
            Ok(()) => {}
            Err(e) if e.needs_new_session() => self.link.lost(" reading the SEL", &e),
            Err(e) => log::warn!("SEL: {e}"),
        }
        self.thermal
            .retry_trip(self.outputs.syslog(), &self.settings);
        if let Some(trip) = self.sel.take_boot_trip() {
            self.thermal
                .sel_trip(trip, self.outputs.syslog(), &self.settings);
        }
    }

    /// A Redfish service's event logs after the sweep, and a thermal trip they show.
    fn rflog_step(&mut self) {
        let Some(w) = self.rflog.as_mut() else {
            return;
        };
        w.after_sweep(self.outputs.syslog());
        let trip = w.take_boot_trip();
        self.thermal
            .retry_trip(self.outputs.syslog(), &self.settings);
        if let Some(trip) = trip {
            self.thermal
                .sel_trip(trip, self.outputs.syslog(), &self.settings);
        }
    }

    /// Publishes what the agent knows now (the model, for the socket, SNMP and the metrics
    /// file).
    fn publish(&mut self) {
        let monitoring = match &self.monitor {
            None => Monitoring::Failed,
            Some(m) if !m.active() => Monitoring::Failed,
            // A board of the board's own buses only has no BMC to lose.
            Some(m)
                if (self.link.connected()
                    || m.redfish_healthy() == Some(true)
                    || (!m.needs_bmc() && m.redfish_healthy().is_none()))
                    && self.last_sweep_complete =>
            {
                Monitoring::Running
            }
            Some(_) => Monitoring::Degraded,
        };
        let now = self.now_ms();
        // The figures of a lost session or a silent service are not shown as if current.
        let answering = self.link.connected()
            || self.monitor.as_ref().and_then(Monitor::redfish_healthy) == Some(true);
        let figures = self.figures.as_ref().filter(|_| answering);
        let env = Environment {
            bmc: figures.and_then(SourceFigures::bmc),
            power: figures.map(SourceFigures::power).unwrap_or_default(),
            ipmi_commands_per_sweep: self.counters.last_sweep_commands,
            last_shutdown: self.thermal.last.as_ref().map(shutdown::Record::shown),
            protection: Some(self.host.protection.shown()),
            sel: self
                .sel
                .status()
                .or_else(|| self.rflog.as_ref().and_then(LogWatcher::status)),
            ..Environment::new(
                self.monitor.as_ref().map(|m| m.view(now)),
                monitoring,
                self.settings.interval_ms.0,
            )
        };
        self.outputs.publish(env, self.counters());
    }

    /// The counters of the sweeps and the link (the outputs add theirs when publishing).
    fn counters(&self) -> Counters {
        Counters {
            ipmi_commands: self.link.commands(),
            ipmi_errors: self.link.errors(),
            ipmi_replies_discarded: self.link.discarded(),
            ipmi_retransmissions: self.link.retransmissions(),
            ipmi_sessions: self.link.sessions(),
            ..self.counters.clone()
        }
    }

    /// SIGHUP: re-reads the configuration and board. Anything invalid keeps the running
    /// configuration (and says why); syslog destinations are replaced only when they changed,
    /// and the BMC connection and judged states only when the BMC, board or state dir did.
    fn reload(&mut self, args: &SettingsArgs) {
        // Whatever else happens: files are reopened (log rotation sends SIGHUP).
        self.outputs.syslog().reopen();
        let keep = |e: &dyn std::fmt::Display| {
            log::error!("SIGHUP: keeping the running configuration: {e}");
        };
        let new = match args.resolve() {
            Ok(n) => n,
            Err(e) => return keep(&e),
        };
        // The same checks as a start: every setting applies, or none does.
        let board = match preflight(&new).and_then(|b| {
            if (&new.socket, &new.socket_group)
                != (&self.settings.socket, &self.settings.socket_group)
            {
                return Err(AgentError::Usage(
                    "socket and socket-group are bound at start: restart envmon to change them"
                        .into(),
                ));
            }
            if new.state_dir != self.settings.state_dir {
                make_state_dir(&new)?;
            }
            // The host as the BMC already said it, when the source stays the same.
            if let Some(guid) = self
                .host
                .guid
                .filter(|_| !source::changed(&self.settings, &new))
            {
                protection(&new, guid, true)?;
            }
            Ok(b)
        }) {
            Ok(b) => b,
            Err(e) => return keep(&e),
        };
        if let Err(e) = self.outputs.reload(&self.settings, &new) {
            return keep(&e);
        }
        let board_changed = match (&board, &self.monitor) {
            (Some(b), Some(m)) => b != m.board(),
            _ => new.board != self.settings.board,
        };
        self.apply(&new, board_changed);
        self.settings = new;
        // The protected host (decided again by `apply`) and its boot, from the new root.
        self.set_host_boot();
        log::info!("SIGHUP: configuration reloaded");
    }

    /// A reload's settings, checked, applied to the loop's parts: a new source, board, state
    /// dir or sysfs root starts monitoring afresh (what was delivered saved first); else
    /// only what changed is touched.
    fn apply(&mut self, new: &Settings, board_changed: bool) {
        let old = &self.settings;
        if board_changed
            || source::changed(old, new)
            || new.state_dir != old.state_dir
            || new.sysfs_root != old.sysfs_root
        {
            // What was delivered is saved before the watchers go.
            self.sel.commit(self.outputs.syslog());
            if let Some(w) = self.rflog.as_mut() {
                w.commit(self.outputs.syslog());
            }
            self.link.forget();
            self.monitor = None;
            self.rflog = None;
            self.figures = None;
            if new.state_dir != old.state_dir {
                self.sel = SelWatcher::new(&new.state_dir, None);
            }
            // Another source may manage another host: asked again at its session.
            self.host.guid = None;
            self.host.rf = None;
            self.host.rf_system = None;
        } else {
            if new.ipmi_password_file != old.ipmi_password_file {
                self.link.close();
            }
            if let Some(m) = self.monitor.as_mut() {
                m.set_damping(new.flap_damping.0);
            }
        }
        // --host and --shutdown-action apply at once (checked by the reload).
        let guid = self.host.guid.unwrap_or(BmcGuid::NotAsked);
        if let Ok(p) = protection(new, guid, self.host.guid.is_some()) {
            self.host.protection = p;
        }
    }
}

/// The checks a start and a reload both make, in the same order: the board (built-in or a
/// valid file), the one source (two are refused; password files and TLS trust read), the
/// directories envmon will write into. Returns the named board.
fn preflight(settings: &Settings) -> Result<Option<Board>, AgentError> {
    let named = board::named_board(&settings.board)?;
    source::choose(settings)?;
    source::redfish::warn_if_insecure(settings);
    protection(settings, BmcGuid::NotAsked, false)?;
    check_dirs(settings)?;
    Ok(named)
}

/// Makes the state dir (0750) when it is not there: `envmon run` keeps its state; one-shot
/// commands create nothing.
fn make_state_dir(settings: &Settings) -> Result<(), AgentError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(&settings.state_dir)
        .map_err(|e| {
            AgentError::Unavailable(format!(
                "{}: cannot make the state dir: {e}",
                settings.state_dir.display()
            ))
        })
}

/// The directories envmon will write into, checked before it starts (files.rs: the state dir
/// strictly, the metrics file's and file syslog destinations' as shared directories).
fn check_dirs(settings: &Settings) -> Result<(), AgentError> {
    use crate::os::files::{DirUse, check_dir};
    let parent = |p: &std::path::Path| {
        p.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map_or_else(
                || std::path::PathBuf::from("."),
                std::path::Path::to_path_buf,
            )
    };
    let mut dirs = vec![(settings.state_dir.clone(), DirUse::State)];
    dirs.extend(
        settings
            .metrics_file
            .as_deref()
            .map(|f| (parent(f), DirUse::Shared)),
    );
    dirs.extend(settings.syslog.iter().filter_map(|d| match d {
        crate::syslog::SyslogUri::File(p) => Some((parent(p), DirUse::Shared)),
        _ => None,
    }));
    for (dir, purpose) in dirs {
        check_dir(&dir, purpose, sys::euid())
            .map_err(|e| AgentError::Unavailable(format!("refusing to write there: {e}")))?;
    }
    Ok(())
}

/// Sleeps `d` in short steps, beating the heart (the watchdog stays fed).
fn pause(d: Duration, heart: &Heartbeat) {
    let until = Instant::now() + d;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        heart.beat();
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
    heart.beat();
}

/// Takes a new session's SDRs: binds the items again when the repository changed (keeping
/// every judged state), or builds the monitor of a board made from them. Refused when the
/// board then has nothing to monitor.
fn adopt(
    monitor: &mut Option<Monitor>,
    waiting_for_sdrs: Option<Option<Board>>,
    o: &Opened,
    settings: &Settings,
) -> Result<(), String> {
    match monitor.as_mut() {
        Some(m) if o.changed != Some(false) => {
            if o.changed == Some(true) {
                log::info!("the SDR repository changed; binding the board's items again");
            }
            for n in m.rebind(&o.sdrs) {
                log::warn!("{n}");
            }
        }
        Some(_) => {}
        None => {
            let described = Described::Sdrs(&o.sdrs);
            let b = board::build(waiting_for_sdrs.flatten(), described, settings)
                .map_err(|e| e.to_string())?;
            let (m, notes) = board::bind(b, described, settings, None);
            for n in &notes {
                log::warn!("{n}");
            }
            *monitor = Some(m);
        }
    }
    let Some(m) = monitor.as_ref() else {
        return Ok(());
    };
    if !m.active() {
        *monitor = None;
        return Err("the board has no item that matches a sensor".into());
    }
    if o.changed.is_none() {
        log::info!(
            "monitoring board {} ({} of {} items bound)",
            m.board().name,
            m.bound(),
            m.board().items.len()
        );
    }
    Ok(())
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
    make_state_dir(&settings)?;
    let syslog = Syslog::start(&settings.syslog_config())?;
    let mut l = Loop::new(settings, syslog, open);
    for i in 0..sweeps {
        before(i);
        l.tick();
        l.publish();
    }
    l.outputs.flush(Duration::from_secs(5));
    Ok(l.outputs
        .published()
        .latest()
        .map(|s| s.openmetrics())
        .unwrap_or_default())
}

/// The socket's group ID, when `socket-group` names one.
fn socket_group(settings: &Settings) -> Result<Option<u32>, AgentError> {
    let Some(g) = &settings.socket_group else {
        return Ok(None);
    };
    let etc_group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    socket::group_id(&etc_group, &g.0)
        .map(Some)
        .map_err(|e| AgentError::Unavailable(format!("socket-group: {e}")))
}

/// The thread that pings systemd's watchdog while the loop beats, when systemd asks for it.
fn feeder(
    notifier: &Arc<crate::os::notify::Notifier>,
    heart: &Heartbeat,
) -> Result<Option<watchdog::Feeder>, AgentError> {
    let Some(every) = notifier.watchdog_interval() else {
        return Ok(None);
    };
    let n = Arc::clone(notifier);
    let stuck = watchdog::stuck_after(notifier.watchdog_usec().unwrap_or(every * 4));
    watchdog::Feeder::spawn(heart.clone(), every, stuck, move || n.watchdog())
        .map(Some)
        .map_err(|e| AgentError::Unavailable(format!("cannot start the watchdog thread: {e}")))
}

/// Runs until SIGTERM or SIGINT.
pub fn run(settings: Settings, args: &SettingsArgs) -> Result<(), AgentError> {
    if let Err(e) = sys::not_dumpable() {
        log::warn!("cannot turn core dumps off (the BMC password is in memory): {e}");
    }
    preflight(&settings)?;
    make_state_dir(&settings)?;
    let (listener, access) = socket::bind(&settings.socket, socket_group(&settings)?)?;
    let _socket_file = socket::SocketFile(settings.socket.clone());
    let syslog = Syslog::start(&settings.syslog_config())?;
    sys::install_signal_handlers();
    // A Redfish request in progress ends at SIGTERM rather than at its deadline.
    envmon_sensors::redfish::http::set_stop_check(sys::stop_requested);
    let mut l = Loop::new(settings, syslog, open_real());
    l.thermal = ThermalGuard::at_boot(l.outputs.syslog(), &l.settings);
    l.outputs.start_subagent(&l.settings);
    l.publish();
    socket::serve(
        listener,
        access,
        Arc::clone(l.outputs.socket_refusals()),
        Arc::clone(l.outputs.published()),
    )
    .map_err(|e| AgentError::Unavailable(format!("cannot start the socket server: {e}")))?;
    log::info!("envmon {} running", crate::VERSION);
    let notifier = Arc::new(crate::os::notify::Notifier::from_env());
    l.pace.budget = pace::turn_budget(notifier.watchdog_usec());
    notifier.ready();
    l.heart.beat();
    // Pings come from their own thread, as long as the loop keeps beating.
    let feeder = feeder(&notifier, &l.heart)?;
    // A refusal found after the start ends the loop as SIGTERM does, and is the exit's error.
    let mut refused = None;
    while !sys::stop_requested() {
        l.heart.beat();
        if sys::take_reload() {
            l.reload(args);
        }
        let next = Instant::now() + Duration::from_millis(l.settings.interval_ms.0);
        l.tick();
        if let Some(e) = l.host.fatal.take() {
            l.outputs.notice(&format!("stopping: {e}"));
            refused = Some(e);
            break;
        }
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
    l.finish();
    l.outputs.close(Duration::from_secs(5));
    refused.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::BoardChoice,
        model::Shown,
        syslog::{Received, SyslogUri, in_memory},
    };
    use envmon_core::engine::State;
    use envmon_sensors::ipmi::{IpmiError, Transport};
    use envmon_sensors::ipmi::{
        IpmiErrorKind,
        command::{Command, GetSdr, GetSdrRepoInfo, GetSensorReading},
        fake::{FakeBmc, threshold_record},
    };
    use std::{
        path::{Path, PathBuf},
        sync::Mutex,
    };

    /// The message IDs sent so far.
    fn sent(l: &Loop, frames: &Received) -> Vec<u32> {
        assert!(l.outputs.flush(Duration::from_secs(5)));
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
        make_state_dir(&settings).unwrap();
        let (syslog, frames) = in_memory(&settings.syslog_config());
        let opens = Arc::new(Mutex::new(0));
        let (b, o) = (bmc.clone(), Arc::clone(&opens));
        let open: Opener = Box::new(move |_| {
            *o.lock().unwrap() += 1;
            Ok(Box::new(b.transport()) as Box<dyn Transport>)
        });
        (Loop::new(settings, syslog, open), frames, opens)
    }

    /// A loop on `bmc` with `settings` (its state dir made, as `run` makes it) and its
    /// frames, every connection a new transport to the same fake BMC.
    fn loop_on(settings: Settings, bmc: &FakeBmc) -> (Loop, Received) {
        make_state_dir(&settings).unwrap();
        let (syslog, frames) = in_memory(&settings.syslog_config());
        let t = bmc.clone();
        let open: Opener = Box::new(move |_| Ok(Box::new(t.transport()) as Box<dyn Transport>));
        (Loop::new(settings, syslog, open), frames)
    }

    /// Settings for a fake in-band BMC, the state under `dir`, syslog kept in memory.
    fn fake_settings(dir: &Path) -> Settings {
        Settings {
            ipmi: IpmiUri::Device("/dev/fake-ipmi".into()),
            state_dir: dir.join("state"),
            syslog: vec![SyslogUri::Stderr],
            ..Settings::default()
        }
    }

    /// Issue 33 (3): a turn whose budget is spent after the protection leaves the BMC's
    /// other items for the next sweep, which reads them whatever its budget: every item is
    /// read at least every other sweep, the CPU every sweep.
    #[test]
    fn a_spent_budget_leaves_the_fans_for_the_next_sweep_never_two() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        let (mut l, _frames, _) = agent(dir.path(), &bmc);
        l.pace.budget = Duration::from_nanos(1);
        let mut per_tick = Vec::new();
        for _ in 0..4 {
            let before = bmc.count(GetSensorReading::CMD);
            l.tick();
            per_tick.push(bmc.count(GetSensorReading::CMD) - before);
        }
        assert_eq!(per_tick, [1, 2, 1, 2], "CPU, then CPU and fan, ...");
        l.pace.budget = Duration::from_secs(10);
        l.tick();
        l.tick();
        assert_eq!(bmc.count(GetSensorReading::CMD), 6 + 4);
    }

    #[test]
    fn a_lost_session_is_opened_again_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        let (mut l, frames, opens) = agent(dir.path(), &bmc);
        l.tick();
        assert_eq!(*opens.lock().unwrap(), 1);
        assert_eq!(bmc.count(GetSensorReading::CMD), 2);
        // The BMC forgot the session: its next answer fails the session layer.
        bmc.state().fail_next.push_back(IpmiError::new(
            IpmiErrorKind::Session,
            "integrity check failed",
        ));
        l.tick();
        assert!(!l.link.connected(), "the session is dropped");
        assert_eq!(
            bmc.count(GetSensorReading::CMD),
            3,
            "the rest of that sweep waits"
        );
        l.tick();
        assert_eq!(*opens.lock().unwrap(), 2, "reopened by the next tick");
        assert_eq!(
            bmc.count(GetSensorReading::CMD),
            5,
            "both sensors read again"
        );
        assert_eq!(l.counters().ipmi_errors, 1);
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
        assert_eq!(bmc.count(GetSensorReading::CMD), 200);
        let snap = l.outputs.published().latest().unwrap();
        let env = &snap.environment;
        assert_eq!(env.monitoring, Monitoring::Degraded);
        assert_eq!(env.sensors.len(), 2);
        for s in &env.sensors {
            assert_eq!(
                (s.state, s.value),
                (Shown::Is(State::Unavailable), None),
                "{s:?}"
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
        assert_eq!(bmc.count(GetSdrRepoInfo::CMD), 2);
        let sent_to_bmc = u64::try_from(bmc.state().log.len()).unwrap();
        assert_eq!(
            l.counters().ipmi_commands,
            sent_to_bmc,
            "every command counted"
        );
        assert_eq!(
            l.counters().last_sweep_commands,
            2,
            "a sweep is one read per sensor"
        );
        // The CPU goes warm, then the repository changes (a sensor added): the items are
        // bound again and judged states kept, so nothing is said twice.
        bmc.set(CPU, 80);
        l.tick();
        assert!(
            sent(&l, &frames).is_empty(),
            "a jump of 40 C waits for a second reading"
        );
        l.tick();
        assert_eq!(sent(&l, &frames), vec![735015], "CPU warm");
        {
            let mut s = bmc.state();
            let extra = threshold_record(3, 9, "Inlet", 0x01, (0x40, 1), 1, [None; 6]);
            s.records.push(extra);
            s.add_timestamp = 2000;
        }
        let sdr_reads = bmc.count(GetSdr::CMD);
        for _ in 0..REVALIDATE_EVERY {
            l.tick();
        }
        assert_eq!(*opens.lock().unwrap(), 2, "reconnected to reload the SDRs");
        assert!(
            bmc.count(GetSdr::CMD) > sdr_reads,
            "the new repository was read"
        );
        assert_eq!(sent(&l, &frames), vec![735015], "nothing repeated");
        let m = l.monitor.as_ref().unwrap().view(l.now_ms());
        assert_eq!(m.sensors[0].state, Shown::Is(State::Warm), "{m:?}");
    }

    #[test]
    fn a_second_run_reads_the_sdrs_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        let (mut first, _, _) = agent(dir.path(), &bmc);
        first.tick();
        let reads = bmc.count(GetSdr::CMD);
        assert!(reads >= 2, "the first run reads the repository");
        drop(first);
        let (mut second, _, _) = agent(dir.path(), &bmc);
        second.tick();
        assert_eq!(
            bmc.count(GetSdr::CMD),
            reads,
            "no Get SDR: the cache is current"
        );
        assert_eq!(second.monitor.as_ref().unwrap().bound(), 2);
        // A changed repository is read again.
        bmc.state().add_timestamp = 3000;
        let (mut third, _, _) = agent(dir.path(), &bmc);
        third.tick();
        assert!(bmc.count(GetSdr::CMD) > reads);
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
        assert!(l.outputs.flush(Duration::from_secs(5)));
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
        for _ in 0..crate::events::delivery::CHECK_EVERY * 2 {
            l.tick();
        }
        assert_eq!(sel_ids(&l, &frames).len(), 5);
        assert!(
            frames.lock().unwrap().iter().any(|f| f
                .contains("Temperature #0x01 \"CPU0 Temp\": Upper Critical going high Asserted")),
            "the sensor's SDR name"
        );
        assert_eq!(l.sel.status().unwrap().forwarded, 5);
        // A restart forwards nothing already forwarded, then what is new.
        l.finish();
        drop(l);
        let (mut l, frames, _) = agent(dir.path(), &bmc);
        l.tick();
        assert!(sel_ids(&l, &frames).is_empty(), "nothing repeated");
        bmc.add_sel(sel_event(0x05, 0x20, 0x6f, 0));
        for _ in 0..crate::events::delivery::CHECK_EVERY {
            l.tick();
        }
        assert_eq!(sel_ids(&l, &frames), ["0x0006"]);
        // A cleared SEL (new erase stamp, IDs from 1 again): new entries still arrive.
        bmc.clear_sel();
        bmc.add_sel(sel_event(0x08, 0x09, 0x6f, 3));
        for _ in 0..crate::events::delivery::CHECK_EVERY {
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
            let before = bmc.count(envmon_sensors::ipmi::command::GetSelEntry::CMD);
            l.tick();
            per_tick.push(bmc.count(envmon_sensors::ipmi::command::GetSelEntry::CMD) - before);
        }
        let ids = sel_ids(&l, &frames);
        assert_eq!(ids.len(), 300, "all, once");
        assert_eq!(ids.first().map(String::as_str), Some("0x0001"));
        assert_eq!(ids.last().map(String::as_str), Some("0x012c"));
        assert!(
            per_tick
                .iter()
                .all(|n| *n <= crate::events::delivery::BUDGET + 1),
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
        l.finish();
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
        // Its time is RFC 3339, as the docs promise (never "+1012s").
        assert!(
            chrono::DateTime::parse_from_rfc3339(&rec.at).is_ok(),
            "{}",
            rec.at
        );
        for _ in 0..crate::events::delivery::CHECK_EVERY {
            l.tick();
        }
        assert_eq!(sent(&l, &frames), vec![735023], "once");
        l.finish();
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
        let before = bmc.count(envmon_sensors::ipmi::command::GetSelInfo::CMD);
        off.tick();
        assert_eq!(
            bmc.count(envmon_sensors::ipmi::command::GetSelInfo::CMD),
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
        // Cleared only once every line was delivered (the in-memory syslog's worker runs
        // beside the ticks): ticks until then, bounded.
        let archived = dir.path().join("state/sel-archive.log");
        for _ in 0..100 {
            l.tick();
            l.outputs.flush(Duration::from_secs(1));
            if archived.exists() {
                break;
            }
        }
        let archive = std::fs::read_to_string(&archived).unwrap();
        assert_eq!(archive.lines().count(), 900, "every entry archived");
        assert!(
            archive
                .lines()
                .next()
                .unwrap()
                .starts_with("record 0x0001 ")
        );
        assert!(bmc.state().sel.is_empty(), "then cleared");
        assert!(bmc.count(envmon_sensors::ipmi::command::ClearSel::CMD) >= 1);
    }

    /// Issue 20: before the irreversible act, fresh readings of the sensor itself. A sweep
    /// that enters the shutdown state while a direct re-read says otherwise runs nothing (and
    /// says nothing more); the next sweep, still at the shutdown state, asks again, and three
    /// readings past the threshold run it.
    /// A board file of one CPU temperature (warm 75, critical 90, shutdown 95) under `dir`.
    fn cpu_board(dir: &Path) -> BoardChoice {
        let b = dir.join("board.toml");
        std::fs::write(
            &b,
            "name = \"fake\"\n[defaults]\ndebounce = 1\n\
             [[item]]\nid = \"cpu0\"\nclass = \"cpu_temp\"\nlabel = \"0\"\nsource = \"ipmi:CPU0 Temp\"\nwarm = 75\ncritical = 90\nshutdown = 95\n",
        )
        .unwrap();
        BoardChoice(b.to_string_lossy().into_owned())
    }

    /// A loop on `bmc` watching one CPU temperature (shutdown 95 C, debounce 1), the thermal
    /// action `none`, no wait between confirming reads.
    fn cpu_loop(dir: &Path, bmc: &FakeBmc) -> (Loop, Received) {
        let mut settings = Settings {
            board: cpu_board(dir),
            shutdown_action: Some(crate::config::ShutdownAction::None),
            ..fake_settings(dir)
        };
        settings.shutdown_confirm_ms.0 = 0;
        loop_on(settings, bmc)
    }

    #[test]
    fn a_shutdown_runs_only_when_fresh_readings_confirm_it() {
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        let (mut l, frames) = cpu_loop(dir.path(), &bmc);
        l.tick();
        bmc.set(CPU, 96);
        l.tick(); // a jump of 56 C: waits for a second reading
        // The sweep's reading confirms it (shutdown state); the first re-read agrees, the
        // second does not.
        bmc.state()
            .next_readings
            .push((CPU, [96, 96, 60].into_iter().collect()));
        l.tick();
        assert_eq!(sent(&l, &frames), vec![735007], "critical, no 735022");
        assert!(!l.thermal.done);
        // Still there at the next sweep: asked again, confirmed by three readings.
        l.tick();
        assert_eq!(sent(&l, &frames), vec![735007, 735022]);
        assert!(l.thermal.done);
        let rec = shutdown::read_record(&dir.path().join("state"))
            .unwrap()
            .unwrap();
        assert_eq!(rec.reason, "cpu");
    }

    /// Issue 32 (review): a BMC that does not power its host off is asked again, at most
    /// BMC_ATTEMPTS times and BMC_RETRY_EVERY apart, while the CPU stays past its threshold;
    /// this machine is never powered off.
    #[test]
    fn a_bmc_that_does_not_power_its_host_off_is_asked_again_a_bounded_number_of_times() {
        use envmon_sensors::ipmi::fake::FakePower;
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        bmc.state().power_control = FakePower::Refused;
        let mut settings = Settings {
            board: cpu_board(dir.path()),
            host: crate::config::HostChoice(envmon_core::host::Declared::Remote),
            ..fake_settings(dir.path())
        };
        settings.shutdown_confirm_ms.0 = 0;
        settings.shutdown_grace_ms.0 = 0;
        let (mut l, frames) = loop_on(settings, &bmc);
        assert_eq!(l.host.protection.action, Some(ShutdownAction::Bmc));
        let controls = || {
            bmc.state()
                .log
                .iter()
                .filter(|(n, c)| (*n, *c) == (0x00, 0x02))
                .count()
        };
        l.tick();
        let heat = |l: &mut Loop| {
            bmc.set(CPU, 96);
            bmc.state()
                .next_readings
                .push((CPU, [96, 96, 96, 96].into_iter().collect()));
            for _ in 0..3 {
                l.tick();
            }
        };
        heat(&mut l);
        assert_eq!(controls(), 1, "one power down, then a pause");
        assert!(!l.thermal.done && !l.thermal.ready());
        for attempt in 2..=BMC_ATTEMPTS as usize {
            l.thermal.retry_at = Some(Instant::now()); // the pause is over
            l.tick();
            assert_eq!(controls(), attempt);
        }
        assert!(l.thermal.done, "no more after {BMC_ATTEMPTS} attempts");
        l.thermal.retry_at = Some(Instant::now());
        l.tick();
        assert_eq!(controls(), BMC_ATTEMPTS as usize);
        assert!(!bmc.state().power_off);
        assert_eq!(
            sent(&l, &frames).iter().filter(|i| **i == 735022).count(),
            BMC_ATTEMPTS as usize
        );
        // The CPU cools: the episode ends. The next heat-up gets its attempts again.
        bmc.set(CPU, 40);
        l.tick();
        l.tick(); // a jump of 56 C: judged at its second reading
        assert!(!l.thermal.done && l.thermal.ready(), "armed again");
        heat(&mut l);
        assert_eq!(controls(), BMC_ATTEMPTS as usize + 1);
    }

    /// Issue 33: a CPU whose every other reading is a glitch (105 C, 25 C, ...) is said
    /// (735010, `erratic`) and the agent degraded, not silent and running; the direct reads
    /// decide whether it acts.
    #[test]
    fn a_cpu_that_keeps_jumping_is_said_and_degrades_monitoring() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // The sweeps see 105 and 25 in turn; the direct reads of a 105 sweep read 105: the
        // rise behind the glitches is confirmed and acted on (735022).
        let (l, frames) = jumping_cpu(a.path(), |bmc, i| {
            bmc.set(CPU, if i % 2 == 0 { 105 } else { 25 });
        });
        assert_erratic(&l, &frames);
        assert!(
            sent(&l, &frames).contains(&735022),
            "{:?}",
            sent(&l, &frames)
        );
        // Every read alternates, the direct ones too: they do not agree, nothing is done.
        let (l, frames) = jumping_cpu(b.path(), |bmc, i| {
            if i == 0 {
                let turns = (0..400)
                    .map(|k| if k % 2 == 0 { 105 } else { 25 })
                    .collect();
                bmc.state().next_readings.push((CPU, turns));
            }
        });
        assert_erratic(&l, &frames);
        assert!(
            !sent(&l, &frames).contains(&735022),
            "{:?}",
            sent(&l, &frames)
        );
    }

    /// Issue 33: a loop on a CPU sensor whose readings `set(bmc, tick)` makes jump, over 12
    /// sweeps (thermal action `none`, no wait between confirming reads).
    fn jumping_cpu(dir: &Path, set: impl Fn(&FakeBmc, usize)) -> (Loop, Received) {
        let bmc = bmc();
        let (mut l, frames) = cpu_loop(dir, &bmc);
        l.tick();
        for i in 0..12 {
            set(&bmc, i);
            l.tick();
            l.publish();
        }
        (l, frames)
    }

    /// The jumping CPU is said (735010), monitoring `degraded`, its reason shown.
    fn assert_erratic(l: &Loop, frames: &Received) {
        assert!(sent(l, frames).contains(&735010), "{:?}", sent(l, frames));
        let env = l.outputs.published().latest().unwrap().environment.clone();
        assert_eq!(env.monitoring, Monitoring::Degraded);
        let cpu = env.sensors.iter().find(|i| &*i.id == "cpu0").unwrap();
        assert!(
            cpu.why
                .as_deref()
                .unwrap_or_default()
                .starts_with("erratic: "),
            "{cpu:?}"
        );
    }

    /// Issue 31 (part): a supply that never read is unknown, not failed: two supplies the
    /// board needs, one of which the BMC never gives a reading for, raise no 735006 from the
    /// missing data; the one that reads failing does.
    #[test]
    fn a_supply_that_never_read_is_unknown_not_failed() {
        let bmc = FakeBmc::from_corpus(
            "S 0x01|CPU1 Temp|0x01|0x01|3.1|C|90,85,80,-,-,-|45\n\
             S 0x50|PSU 1|0x08|0x6f|10.1|-|-,-,-,-,-,-|0x0001\n\
             S 0x51|PSU 2|0x08|0x6f|10.2|-|-,-,-,-,-,-|0x0001\n",
        )
        .unwrap();
        bmc.state().states.retain(|(n, _)| *n != 0x51);
        let dir = tempfile::tempdir().unwrap();
        let (mut l, frames) = loop_on(fake_settings(dir.path()), &bmc);
        for _ in 0..5 {
            l.tick();
        }
        let board = l.monitor.as_ref().unwrap().board();
        assert_eq!(board.min_psus, 2, "both supplies make the need");
        let ids = sent(&l, &frames);
        assert!(
            !ids.contains(&735006),
            "missing data is no redundancy loss: {ids:?}"
        );
        // PSU 1 fails (its failure offset): now a supply really failed.
        bmc.state()
            .states
            .iter_mut()
            .filter(|(n, _)| *n == 0x50)
            .for_each(|(_, st)| *st = 0x0003);
        for _ in 0..3 {
            l.tick();
        }
        let ids = sent(&l, &frames);
        assert!(ids.contains(&735004) && ids.contains(&735006), "{ids:?}");
    }

    /// Issue 20: a supply's failure flags are its status. Modelled on a public listing of a
    /// real BMC (canonical/hardware-observer-operator#449: `PSU 1` says only "Presence
    /// detected", its failures are the separate severity sensors `PSU 1 Failure`,
    /// `PSU 1 PF Failure`, `PSU 1 IN Failure`), with a second supply that has flags only.
    #[test]
    fn a_supplys_failure_flags_fail_it() {
        let bmc = FakeBmc::from_corpus(
            "S 0x01|CPU1 Temp|0x01|0x01|3.1|C|90,85,80,-,-,-|45\n\
             S 0x50|PSU 1|0x08|0x6f|10.1|-|-,-,-,-,-,-|0x0001\n\
             S 0x51|PSU 1 Failure|0x08|0x07|10.1|-|-,-,-,-,-,-|0x0001\n\
             S 0x52|PSU 1 PF Failure|0x08|0x07|10.1|-|-,-,-,-,-,-|0x0001\n\
             S 0x53|PSU 1 IN Failure|0x08|0x07|10.1|-|-,-,-,-,-,-|0x0001\n\
             S 0x58|PSU 2 Failure|0x08|0x03|10.2|-|-,-,-,-,-,-|0x0001\n\
             S 0x59|PSU 2 AC Lost|0x08|0x03|10.2|-|-,-,-,-,-,-|0x0001\n",
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (mut l, frames) = loop_on(fake_settings(dir.path()), &bmc);
        for _ in 0..3 {
            l.tick();
        }
        let m = l.monitor.as_ref().unwrap();
        let psus: Vec<(String, usize)> = m
            .board()
            .items
            .iter()
            .filter(|i| i.spec.class == envmon_core::engine::Class::Psu)
            .map(|i| (i.spec.label.clone(), i.also.len()))
            .collect();
        assert_eq!(psus, [("1".to_string(), 3), ("2".to_string(), 1)]);
        assert!(sent(&l, &frames).is_empty(), "healthy");
        // PSU 1's "PF Failure" goes to critical; its own record still says "present".
        bmc.state()
            .states
            .iter_mut()
            .filter(|(n, _)| *n == 0x52)
            .for_each(|(_, st)| *st = 1 << 2);
        for _ in 0..3 {
            l.tick();
        }
        assert_eq!(sent(&l, &frames), vec![735004, 735006]);
        // PSU 2 (flags only) loses its input.
        bmc.state()
            .states
            .iter_mut()
            .filter(|(n, _)| *n == 0x59)
            .for_each(|(_, st)| *st = 1 << 1);
        for _ in 0..3 {
            l.tick();
        }
        assert_eq!(sent(&l, &frames), vec![735004, 735006, 735004]);
    }

    /// Issue 30: a reload takes the start's path and checks. A state dir others may write
    /// into is refused at start, so it is refused on SIGHUP too (the old state dir stays);
    /// a private one is made and taken; a moved socket cannot apply and is refused.
    #[test]
    fn a_reload_is_checked_as_a_start_is() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        let (mut l, _frames, _) = agent(dir.path(), &bmc);
        l.tick();
        let board = board(dir.path());
        let conf = dir.path().join("envmon.toml");
        let args = SettingsArgs {
            config: Some(conf.clone()),
            ..SettingsArgs::default()
        };
        let write_conf = |state: &Path, socket: &str| {
            std::fs::write(
                &conf,
                format!(
                    "board = \"{}\"\nipmi = \"file:///dev/fake-ipmi\"\nsyslog = [\"stderr\"]\n\
                     state-dir = \"{}\"\nsocket = \"{socket}\"\n",
                    board.display(),
                    state.display()
                ),
            )
            .unwrap();
        };
        let socket = l.settings.socket.display().to_string();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        write_conf(&open, &socket);
        l.reload(&args);
        assert_eq!(l.settings.state_dir, dir.path().join("state"), "refused");
        let private = dir.path().join("state2");
        write_conf(&private, "/run/elsewhere.sock");
        l.reload(&args);
        assert_eq!(
            l.settings.state_dir,
            dir.path().join("state"),
            "a moved socket"
        );
        write_conf(&private, &socket);
        l.reload(&args);
        assert_eq!(l.settings.state_dir, private, "taken");
        assert!(private.is_dir(), "made as a start makes it");
        l.tick();
        assert!(l.monitor.is_some(), "monitoring goes on");
    }

    /// Issue 21: an SDR name that carries a forged message (`FAN1\n%FTD-1-7350...`) reaches no
    /// output as one: every frame holds exactly one `%FTD-`, its own, and the model's names
    /// hold no `%`, `<` or line break.
    #[test]
    fn a_forged_sdr_name_forges_nothing() {
        const FORGED: u8 = 3;
        let dir = tempfile::tempdir().unwrap();
        let bmc = bmc();
        {
            let mut s = bmc.state();
            s.records
                .push(envmon_sensors::ipmi::fake::forged_fan_record(3, FORGED));
        }
        bmc.set(FORGED, 100);
        bmc.add_sel(sel_event(0x04, FORGED, 0x01, 0x00));
        let (mut l, frames) = loop_on(fake_settings(dir.path()), &bmc);
        for _ in 0..3 {
            l.tick();
        }
        bmc.set(FORGED, 5); // 250 RPM: failed
        for _ in 0..3 {
            l.tick();
        }
        assert!(l.outputs.flush(Duration::from_secs(5)));
        let frames = frames.lock().unwrap();
        assert!(frames.iter().any(|f| f.contains("-SEL: ")), "{frames:?}");
        assert!(frames.iter().any(|f| f.contains("-735002: ")), "{frames:?}");
        for f in frames.iter() {
            assert_eq!(f.matches("%FTD-").count(), 1, "{f}");
            assert!(!f.trim_end().contains('\n'), "{f}");
        }
        let env = l.monitor.as_ref().unwrap().view(0);
        for x in &env.sensors {
            let sdr = x.source.sdr.clone().unwrap_or_default();
            assert!(!sdr.contains(['%', '<', '\n']), "{sdr}");
        }
    }
}
