//! Where what the agent knows goes: syslog (messages), the published snapshot (the socket
//! and the SNMP subagent read it), the SNMP subagent (transitions as notifications) and the
//! metrics file. The loop hands over emissions, transitions and a model each tick; this part
//! owns the destinations, their restarts on SIGHUP and the counters they keep.

pub mod snmp;
pub mod socket;

use crate::{
    config::Settings,
    model::metrics,
    model::status::{self, Counters, Published, Snapshot},
    model::{Environment, Transition},
    os::files,
    syslog::{DestinationStats, Syslog},
};
use envmon_core::engine::Emission;
use snmp::session::{Config as SubagentConfig, Subagent};
use std::{
    path::PathBuf,
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

/// The metrics file (`metrics-file`): written after each publish; a failure is logged once,
/// and once more when writing works again.
struct MetricsFile {
    path: PathBuf,
    failing: bool,
}

/// The outputs.
pub struct Outputs {
    syslog: Syslog,
    /// Final counters of syslog destinations replaced by SIGHUP.
    retired_syslog: Vec<DestinationStats>,
    subagent: Option<Subagent>,
    /// Notifications sent and dropped by subagents replaced by SIGHUP.
    retired_agentx: (u64, u64),
    published: Arc<Published>,
    socket_refusals: Arc<socket::Refusals>,
    metrics_file: Option<MetricsFile>,
    /// The host name the frames carry (the metrics file's `host` label).
    host: String,
    names: crate::config::MetricsNames,
}

impl Outputs {
    /// The outputs of `settings`, sending through `syslog`. The subagent starts with
    /// [`Outputs::start_subagent`].
    pub fn new(settings: &Settings, syslog: Syslog) -> Outputs {
        Outputs {
            syslog,
            retired_syslog: Vec::new(),
            subagent: None,
            retired_agentx: (0, 0),
            published: Arc::new(Published::default()),
            socket_refusals: Arc::default(),
            metrics_file: settings.metrics_file.clone().map(|path| MetricsFile {
                path,
                failing: false,
            }),
            host: settings.syslog_config().hostname,
            names: settings.metrics_names,
        }
    }

    /// The syslog layer.
    pub fn syslog(&self) -> &Syslog {
        &self.syslog
    }

    /// Where snapshots are published (the socket and the subagent read them).
    pub fn published(&self) -> &Arc<Published> {
        &self.published
    }

    /// Clients the socket refused (counted there, published here).
    pub fn socket_refusals(&self) -> &Arc<socket::Refusals> {
        &self.socket_refusals
    }

    /// Sends messages.
    pub fn send(&self, emissions: &[Emission]) {
        for e in emissions {
            self.syslog.emit_emission(e);
        }
    }

    /// One of envmon's own lines (flap damping): `%FTD-4-ENVMON: TEXT` (docs/syslog.md).
    pub fn notice(&self, text: &str) {
        self.syslog.send_notice(text);
    }

    /// Hands committed transitions to the SNMP subagent (when it runs).
    pub fn transitions(&self, changes: impl IntoIterator<Item = Transition>) {
        let Some(agent) = &self.subagent else {
            return;
        };
        for t in changes {
            agent.changed(t);
        }
    }

    /// Starts, restarts or stops the SNMP subagent to match `settings`.
    pub fn start_subagent(&mut self, settings: &Settings) {
        if let Some(old) = self.subagent.take() {
            self.retired_agentx.0 += old.stats.notifications.load(Relaxed);
            self.retired_agentx.1 += old.stats.dropped.load(Relaxed);
        }
        let Some(addr) = settings.agentx.clone() else {
            return;
        };
        let config = SubagentConfig {
            addr,
            envmon_view: settings.agentx_envmon_mib.0,
            notifications: settings.agentx_notifications.0,
            interval_ms: settings.interval_ms.0,
        };
        match Subagent::start(config, Arc::clone(&self.published)) {
            Ok(s) => self.subagent = Some(s),
            Err(e) => log::error!("AgentX: cannot start the subagent thread: {e}"),
        }
    }

    /// SIGHUP: the new settings' syslog destinations (only when they changed: the old ones
    /// are drained briefly and their counters kept), host name, metrics file and subagent.
    /// A syslog layer that cannot start keeps everything as it was.
    pub fn reload(&mut self, old: &Settings, new: &Settings) -> Result<(), String> {
        let new_syslog = new.syslog_config();
        if new_syslog != old.syslog_config() {
            let s = Syslog::start(&new_syslog).map_err(|e| e.to_string())?;
            let replaced = std::mem::replace(&mut self.syslog, s);
            for st in replaced.close(Duration::from_secs(2)) {
                if st.dropped > 0 {
                    log::warn!("syslog {}: {} frames dropped", st.uri, st.dropped);
                }
                status::retire(&mut self.retired_syslog, st);
            }
        }
        self.host = new_syslog.hostname;
        self.names = new.metrics_names;
        if new.metrics_file != old.metrics_file {
            self.metrics_file = new.metrics_file.clone().map(|path| MetricsFile {
                path,
                failing: false,
            });
        }
        let snmp_changed = (&new.agentx, new.agentx_envmon_mib, new.agentx_notifications)
            != (&old.agentx, old.agentx_envmon_mib, old.agentx_notifications)
            || new.interval_ms != old.interval_ms;
        if snmp_changed {
            self.start_subagent(new);
        }
        Ok(())
    }

    /// Completes `env` and `counters` with what the outputs know (syslog destinations,
    /// refused clients, notifications), publishes them and writes the metrics file.
    pub fn publish(&mut self, mut env: Environment, mut counters: Counters) {
        env.syslog = status::syslog_status(&status::with_retired(
            self.syslog.stats(),
            &self.retired_syslog,
        ));
        counters.socket_refused = self.socket_refusals.count();
        let live = self.subagent.as_ref().map_or((0, 0), |s| {
            (
                s.stats.notifications.load(Relaxed),
                s.stats.dropped.load(Relaxed),
            )
        });
        counters.agentx_notifications = self.retired_agentx.0 + live.0;
        counters.agentx_notifications_dropped = self.retired_agentx.1 + live.1;
        if let Some(file) = &mut self.metrics_file {
            let families = metrics::families(&env, &counters, self.names);
            let text = metrics::prometheus(&families, Some(&self.host));
            match (
                files::write_atomic(&file.path, text.as_bytes()),
                file.failing,
            ) {
                (Err(e), false) => {
                    log::warn!("metrics file {}: {e}", file.path.display());
                    file.failing = true;
                }
                (Ok(()), true) => {
                    log::info!("metrics file {}: written again", file.path.display());
                    file.failing = false;
                }
                _ => {}
            }
        }
        self.published.publish(Snapshot {
            environment: env,
            counters,
            names: self.names,
            host: Some(self.host.clone()),
        });
    }

    /// Waits up to `wait` for the queued frames to go out; true when all did.
    pub fn flush(&self, wait: Duration) -> bool {
        self.syslog.flush(wait)
    }

    /// Stops: the subagent, then syslog (draining up to `wait`); drops are logged.
    pub fn close(mut self, wait: Duration) {
        self.subagent = None;
        for s in self.syslog.close(wait).iter().filter(|s| s.dropped > 0) {
            log::warn!("syslog {}: {} frames dropped", s.uri, s.dropped);
        }
    }
}
