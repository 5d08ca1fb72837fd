//! A Redfish service's event logs (its systems' `LogServices`: Intel's `SEL`, DMTF's `Log1`)
//! carried to syslog as the IPMI SEL is (docs/sel.md, docs/redfish.md): one line per new
//! entry in the SEL lane (paced by the destinations, never dropped), a cursor per log saved
//! only past lines every destination delivered, the whole log at the first start, nothing
//! twice after a lost cursor, and a processor thermal trip logged while envmon was down
//! reported once at the next start (735023).
//!
//! The delivery machine (cursor, tickets, start cases, when to look) is the SEL's
//! ([`super::delivery`]); the entries are read, typed, by sensors' `redfish::logs`; what is
//! new, each line and level, and the boot trip are decided in `envmon_core::eventlog`. This
//! watcher only joins them.

use super::delivery::{BUDGET, BootTrip, Cursor, Delivery, Files, Start};
use crate::{model::SelStatus, syslog::Syslog};
use envmon_core::{
    Level,
    eventlog::{LogEntry, LogMark, boot_trip, level, line, new_entries},
};
use envmon_sensors::redfish::{Fetch, logs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The cursor files in the state dir.
const FILES: Files = Files {
    cursor: "redfish-log-cursor.v1",
    seen: "redfish-log-seen.v1",
    what: "Redfish log",
};

/// The cursor: per log (its entry collection's URI), the last entry forwarded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Marks(BTreeMap<String, LogMark>);

/// A mark as the cursor file writes it (JSON: `{"LOG": {"id": .., "created": ..}}`).
#[derive(Serialize, Deserialize)]
struct MarkFile {
    id: String,
    created: Option<String>,
}

impl Cursor for Marks {
    fn encode(&self) -> String {
        let file: BTreeMap<&String, MarkFile> = self
            .0
            .iter()
            .map(|(log, m)| {
                let f = MarkFile {
                    id: m.id.clone(),
                    created: m.created.clone(),
                };
                (log, f)
            })
            .collect();
        serde_json::to_string(&file).unwrap_or_default()
    }

    fn decode(text: &str) -> Result<Self, String> {
        let file: BTreeMap<String, MarkFile> =
            serde_json::from_str(text).map_err(|e| e.to_string())?;
        Ok(Marks(
            file.into_iter()
                .map(|(log, f)| {
                    let mark = LogMark {
                        id: f.id,
                        created: f.created,
                    };
                    (log, mark)
                })
                .collect(),
        ))
    }
}

fn mark_of(e: &LogEntry) -> LogMark {
    LogMark {
        id: e.id.clone(),
        created: e.created.clone(),
    }
}

/// The event-log watcher of a Redfish agent.
pub struct LogWatcher {
    fetch: Box<dyn Fetch + Send>,
    host_boot: Option<u64>,
    /// The logs' entry collections (found at the first step).
    logs: Option<Vec<String>>,
    delivery: Delivery<Marks>,
    /// The logs' state at this start has been read (the trip decided).
    started: bool,
    /// Entries forwarded by this process.
    pub forwarded: u64,
    trip: Option<BootTrip>,
    /// Each log's size at its last read (`show environment`'s event-log block).
    totals: BTreeMap<String, u64>,
    /// Entries forwarded by this process per syslog level, 0 to 7.
    severities: [u64; 8],
    /// The newest entry's time read so far (seconds since 1970).
    newest_at: Option<u64>,
}

impl std::fmt::Debug for LogWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWatcher")
            .field("logs", &self.logs)
            .field("delivery", &self.delivery)
            .field("forwarded", &self.forwarded)
            .finish()
    }
}

impl LogWatcher {
    /// A watcher over `fetch`, its cursor in `state_dir`.
    pub fn new(fetch: Box<dyn Fetch + Send>, state_dir: &Path, host_boot: Option<u64>) -> Self {
        LogWatcher {
            fetch,
            host_boot,
            logs: None,
            delivery: Delivery::load(state_dir, FILES),
            started: false,
            forwarded: 0,
            trip: None,
            totals: BTreeMap::new(),
            severities: [0; 8],
            newest_at: None,
        }
    }

    /// The logs as the model shows them (the SEL's block: entries, forwarded, levels, the
    /// newest entry's time; a Redfish log says no free space or fill level). None before the
    /// first read.
    pub fn status(&self) -> Option<SelStatus> {
        (!self.totals.is_empty()).then(|| SelStatus {
            entries: self.totals.values().sum(),
            forwarded: self.forwarded,
            free_bytes: None,
            last_record_id: None,
            newest_at: self.newest_at,
            percent_used: None,
            severities: self.severities,
        })
    }

    /// After a sweep: every `CHECK_EVERY` sweeps (and at the first), the logs' new entries
    /// to syslog, as many as the destinations have room for.
    pub fn after_sweep(&mut self, syslog: &Syslog) {
        self.commit(syslog);
        self.step(syslog);
        self.commit(syslog);
    }

    /// The logs' entry collections, found once.
    fn logs(&mut self) -> Option<Vec<String>> {
        if self.logs.is_none() {
            match logs::find_logs(&mut *self.fetch) {
                Ok(l) => {
                    log::info!("Redfish event logs: {}", l.join(", "));
                    self.logs = Some(l);
                }
                Err(e) => log::warn!("Redfish event logs: {e}"),
            }
        }
        self.logs.clone()
    }

    fn step(&mut self, syslog: &Syslog) {
        if !self.delivery.due(!self.started) {
            return;
        }
        if self.delivery.unsaved() && self.delivery.in_flight() {
            return; // nothing more until the cursor can be written
        }
        let Some(logs) = self.logs() else {
            return;
        };
        let mut unseen = Vec::new();
        for log in &logs {
            let mark = self.delivery.reading().0.get(log).cloned();
            let from = mark.as_ref().map(|m| m.id.as_str());
            let entries = match logs::read(&mut *self.fetch, log, from, 4 * BUDGET) {
                Ok(r) => {
                    self.totals.insert(log.clone(), r.total);
                    r.entries
                }
                Err(e) => {
                    log::warn!("Redfish event log: {e}");
                    continue;
                }
            };
            let newest = entries
                .iter()
                .filter_map(|e| envmon_core::eventlog::epoch_seconds(e.created.as_deref()?))
                .max();
            self.newest_at = self.newest_at.max(newest);
            let fresh = new_entries(&entries, mark.as_ref());
            if !self.started {
                unseen.extend(fresh.iter().cloned().map(|e| (log.clone(), e)));
                if self.delivery.start() == Start::Lost {
                    self.skip(syslog, log, &entries, fresh.len());
                    continue;
                }
            }
            let room = syslog.sel_room().min(BUDGET);
            for e in fresh.iter().take(room) {
                let ticket = syslog.send_sel_paced(level(e), &line(log, e));
                if let Some(n) = self.severities.get_mut(usize::from(level(e).number())) {
                    *n += 1;
                }
                let mut marks = self.delivery.reading().clone();
                marks.0.insert(log.clone(), mark_of(e));
                self.delivery.queued(ticket, marks);
                self.forwarded += 1;
            }
        }
        if !self.started {
            self.started = true;
            self.trip = self.find_trip(&unseen);
        }
    }

    /// A lost cursor: what `log` holds now is not forwarded again (one line says how many).
    fn skip(&mut self, syslog: &Syslog, log: &str, entries: &[LogEntry], fresh: usize) {
        let Some(last) = entries.last() else {
            return;
        };
        let mut marks = self.delivery.reading().clone();
        marks.0.insert(log.to_string(), mark_of(last));
        self.delivery.queued(syslog.sel_issued(), marks);
        syslog.send_sel(
            Level::Warning,
            &format!(
                "the Redfish log cursor was lost: {fresh} entries of {log} logged before this \
                 start are not forwarded again (they remain in the log)"
            ),
        );
    }

    /// The thermal trip among the entries unseen at this start that caused this boot.
    fn find_trip(&self, unseen: &[(String, LogEntry)]) -> Option<BootTrip> {
        let entries: Vec<LogEntry> = unseen.iter().map(|(_, e)| e.clone()).collect();
        let resumed = self.delivery.start() == Start::Resume;
        let t = match boot_trip(&entries, self.host_boot, resumed)? {
            Ok(t) => t,
            Err(why) => {
                log::info!(
                    "Redfish event log: a thermal trip, not taken for the cause of this boot: \
                     {why}"
                );
                return None;
            }
        };
        let log = unseen
            .iter()
            .find(|(_, e)| e == t)
            .map_or("", |(l, _)| l.as_str());
        Some(BootTrip {
            entry: format!("redfish:{log}/{}", t.id),
            at: t.created.clone().unwrap_or_else(|| "-".into()),
            identity: format!(
                "redfish:{log}/{}@{}",
                t.id,
                t.created.as_deref().unwrap_or("-")
            ),
        })
    }

    /// When the protected host booted (seconds since 1970), if known: this machine's boot, or
    /// the remote system's `LastResetTime` (the trip is measured against the host it was
    /// about).
    pub fn set_host_boot(&mut self, boot: Option<u64>) {
        self.host_boot = boot;
    }

    /// A thermal trip that caused this boot, once (see `envmon_core::eventlog::boot_trip`).
    pub fn take_boot_trip(&mut self) -> Option<BootTrip> {
        self.trip.take()
    }

    /// Saves the marks past every line all destinations delivered; after a syslog layer
    /// replaced on SIGHUP, reading goes back to the saved marks.
    pub fn commit(&mut self, syslog: &Syslog) {
        self.delivery.commit(syslog);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envmon_sensors::redfish::RfError;
    use serde_json::Value;

    /// A log whose collection only links its entries, counting what is asked for.
    struct Linked {
        asked: Vec<String>,
    }

    impl Fetch for Linked {
        fn get(&mut self, path: &str) -> Result<Value, RfError> {
            self.asked.push(path.to_string());
            let base = "/redfish/v1/Systems/1/LogServices/SEL/Entries";
            if path == base {
                let members: Vec<Value> = (1..=5)
                    .map(|i| serde_json::json!({"@odata.id": format!("{base}/{i}")}))
                    .collect();
                return Ok(serde_json::json!({"@odata.id": base, "Members": members}));
            }
            let id = path.rsplit('/').next().unwrap_or_default();
            Ok(
                serde_json::json!({"@odata.id": path, "Id": id, "Message": format!("entry {id}"),
                "Created": format!("2026-01-0{id}T00:00:00Z")}),
            )
        }
        fn requests(&self) -> u64 {
            self.asked.len() as u64
        }
    }

    #[test]
    fn linked_entries_before_the_mark_are_not_asked_for_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWatcher::new(Box::new(Linked { asked: Vec::new() }), dir.path(), None);
        let log = "/redfish/v1/Systems/1/LogServices/SEL/Entries";
        let all = logs::entries(&mut *w.fetch, log, None, 4 * BUDGET).unwrap();
        assert_eq!(all.len(), 5);
        let mark = LogMark {
            id: "3".into(),
            created: Some("2026-01-03T00:00:00Z".into()),
        };
        let before = w.fetch.requests();
        let from_mark = logs::entries(&mut *w.fetch, log, Some("3"), 4 * BUDGET).unwrap();
        assert_eq!(
            w.fetch.requests() - before,
            4,
            "the collection, then entries 3, 4, 5"
        );
        let fresh: Vec<&str> = new_entries(&from_mark, Some(&mark))
            .iter()
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(fresh, ["4", "5"]);
    }

    /// The cursor file keeps the format of the releases before the shared machine.
    #[test]
    fn the_cursor_file_reads_and_writes_as_before() {
        let text = r#"{"/redfish/v1/Systems/1/LogServices/SEL/Entries":{"id":"7","created":null}}"#;
        let m = Marks::decode(text).unwrap();
        assert_eq!(m.encode(), text);
        assert!(Marks::decode("{").is_err());
    }
}
