//! What the agent publishes: an immutable [`Snapshot`] per sweep, and the counters behind
//! its metrics.
//!
//! The poll loop builds a snapshot after every tick and swaps it in; the socket and the SNMP
//! subagent only clone the `Arc`, so a client can never slow the loop down.

use crate::model::{Environment, SyslogStatus};
use crate::syslog::DestinationStats;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use super::metrics::Counters;

/// Adds the final counters of a destination that SIGHUP replaced to `retired` (summed per
/// URI), so that its sent and dropped frames stay counted.
pub fn retire(retired: &mut Vec<DestinationStats>, st: DestinationStats) {
    match retired.iter_mut().find(|r| r.uri == st.uri) {
        Some(r) => {
            r.sent += st.sent;
            r.dropped += st.dropped;
            r.failures += st.failures;
        }
        None => retired.push(DestinationStats {
            queued: 0,
            connected: false,
            ..st
        }),
    }
}

/// The running destinations' counters with the retired ones added: a URI still in use sums
/// both, a URI no longer in use is listed with its final counts (counters never go back).
pub fn with_retired(
    mut current: Vec<DestinationStats>,
    retired: &[DestinationStats],
) -> Vec<DestinationStats> {
    for r in retired {
        match current.iter_mut().find(|c| c.uri == r.uri) {
            Some(c) => {
                c.sent += r.sent;
                c.dropped += r.dropped;
                c.failures += r.failures;
            }
            None => current.push(r.clone()),
        }
    }
    current
}

/// One published view of the agent: the model and its metric families, written as text
/// when asked (`show metrics`: OpenMetrics, or the Prometheus text node_exporter reads).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// What the agent knows (`show environment`, the SNMP view).
    pub environment: Environment,
    /// The agent's counters of the same moment.
    pub counters: Counters,
    /// The metric names asked for (`metrics-names`).
    pub names: crate::config::MetricsNames,
    /// The `host` label of the Prometheus text (`--hostname`), as the metrics file has it.
    pub host: Option<String>,
}

impl Snapshot {
    /// Its metric families, built when asked for (a quiet sweep publishes the model, not
    /// its hundreds of metric samples: issue 36).
    pub fn families(&self) -> Vec<super::metrics::Family> {
        super::metrics::families(&self.environment, &self.counters, self.names)
    }

    /// The OpenMetrics text (`show metrics`), ending in `# EOF\n`.
    pub fn openmetrics(&self) -> String {
        super::metrics::openmetrics(&self.families())
    }

    /// The Prometheus text 0.0.4 (`show metrics --format prometheus`): what the metrics
    /// file holds, for node_exporter's textfile collector.
    pub fn prometheus(&self) -> String {
        super::metrics::prometheus(&self.families(), self.host.as_deref())
    }
}

/// The syslog destinations as the model shows them.
pub fn syslog_status(stats: &[DestinationStats]) -> Vec<SyslogStatus> {
    stats
        .iter()
        .map(|s| SyslogStatus {
            destination: s.uri.clone(),
            dropped: s.dropped,
            queued: u64::try_from(s.queued).unwrap_or(u64::MAX),
            sent: s.sent,
        })
        .collect()
}

/// Where the loop publishes and the socket reads.
#[derive(Debug, Default)]
pub struct Published {
    /// The latest snapshot and when it was published.
    current: Mutex<Option<(Arc<Snapshot>, Instant)>>,
}

impl Published {
    /// Swaps in a new snapshot.
    pub fn publish(&self, s: Snapshot) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Arc::new(s), Instant::now()));
    }

    /// The latest snapshot, if any.
    pub fn latest(&self) -> Option<Arc<Snapshot>> {
        self.latest_aged().map(|(s, _)| s)
    }

    /// The latest snapshot and its age (how long ago the loop published it).
    pub fn latest_aged(&self) -> Option<(Arc<Snapshot>, Duration)> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|(s, at)| (Arc::clone(s), at.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(uri: &str, sent: u64, dropped: u64, queued: usize) -> DestinationStats {
        DestinationStats {
            uri: uri.into(),
            queued,
            sent,
            dropped,
            failures: 0,
            connected: true,
        }
    }

    #[test]
    fn destinations_replaced_by_sighup_stay_counted() {
        let mut retired = Vec::new();
        // Two SIGHUPs: udp replaced twice, its frames left undelivered each time.
        retire(&mut retired, st("udp://a:514", 5, 3, 0));
        retire(&mut retired, st("udp://a:514", 1, 2, 0));
        retire(&mut retired, st("tcp://b:601", 7, 0, 4));
        let now = with_retired(
            vec![st("udp://a:514", 10, 0, 1), st("file:///x", 2, 0, 0)],
            &retired,
        );
        assert_eq!(
            now,
            vec![
                st("udp://a:514", 16, 5, 1),
                st("file:///x", 2, 0, 0),
                DestinationStats {
                    connected: false,
                    ..st("tcp://b:601", 7, 0, 0)
                },
            ]
        );
    }
}
