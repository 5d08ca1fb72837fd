//! A Redfish service's event log (its systems' `LogServices`: Intel's `SEL`, DMTF's `Log1`)
//! carried to syslog as the IPMI SEL is (docs/sel.md, docs/redfish.md): one line per new
//! entry in the SEL lane (paced by the destinations, never dropped), a cursor per log saved
//! only past lines every destination delivered, the whole log at the first start, nothing
//! twice after a lost cursor, and a processor thermal trip logged while envmon was down
//! reported once at the next start (735023).
//!
//! The decisions are pure ([`new_entries`], [`level`], [`line`], [`boot_trip`]); the watcher
//! does the I/O through a [`Fetch`].

use crate::syslog::Syslog;
use envmon_core::Level;
use envmon_sensors::redfish::{Fetch, RfError, RfErrorKind, map};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

/// The cursor file in the state dir.
pub const CURSOR_FILE: &str = "redfish-log-cursor.v1";
/// Written with the first cursor: envmon has read this service's logs.
pub const SEEN_FILE: &str = "redfish-log-seen.v1";
/// Sweeps between two looks at the logs.
pub const CHECK_EVERY: u64 = 5;
/// Entries read in one step, at most (a backlog goes on at the next).
pub const BUDGET: usize = 64;

/// One log entry, as much as envmon forwards of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `Id`.
    pub id: String,
    /// `Created` (RFC 3339), if given.
    pub created: Option<String>,
    /// `Severity`: `OK`, `Warning`, `Critical`.
    pub severity: Option<String>,
    /// `SensorType` (`Processor`, `Temperature`, ...).
    pub sensor_type: Option<String>,
    /// `SensorNumber`.
    pub sensor_number: Option<u64>,
    /// `Message`.
    pub message: String,
}

fn text(v: &Value, field: &str) -> Option<String> {
    v.get(field).and_then(Value::as_str).map(|s| {
        let mut s = envmon_core::text::sanitize(s);
        envmon_core::frame::truncate_at_char(&mut s, 256);
        s
    })
}

/// An entry from its JSON (a member of the collection or the entry's own resource); none
/// without an `Id` or without anything to say.
pub fn entry(v: &Value) -> Option<Entry> {
    let id = text(v, "Id")?;
    let message = text(v, "Message").or_else(|| text(v, "MessageId"))?;
    Some(Entry {
        id,
        created: text(v, "Created"),
        severity: text(v, "Severity"),
        sensor_type: text(v, "SensorType"),
        sensor_number: v.get("SensorNumber").and_then(Value::as_u64),
        message,
    })
}

/// Where reading a log resumes: the last entry forwarded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// Its `Id`.
    pub id: String,
    /// Its `Created`.
    pub created: Option<String>,
}

/// The entries after `mark` in the log's order: after the marked entry where the log still
/// holds it; where it does not (cleared, wrapped), those created after it; everything
/// without a mark.
pub fn new_entries<'a>(entries: &'a [Entry], mark: Option<&Mark>) -> &'a [Entry] {
    let Some(m) = mark else {
        return entries;
    };
    if let Some(at) = entries.iter().position(|e| e.id == m.id) {
        return &entries[at + 1..];
    }
    let first_newer = entries.iter().position(|e| match (&e.created, &m.created) {
        (Some(c), Some(mc)) => newer(c, mc),
        _ => false,
    });
    first_newer.map_or(&entries[entries.len()..], |at| &entries[at..])
}

/// Whether RFC 3339 time `a` is after `b` (unparsable: no).
fn newer(a: &str, b: &str) -> bool {
    match (
        chrono::DateTime::parse_from_rfc3339(a),
        chrono::DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(a), Ok(b)) => a > b,
        _ => false,
    }
}

/// The syslog level of an entry: 3 a processor thermal trip or a `Critical` entry, 4 a
/// `Warning`, 5 every other.
pub fn level(e: &Entry) -> Level {
    if is_trip(e) {
        return Level::Error;
    }
    match e.severity.as_deref() {
        Some("Critical") => Level::Error,
        Some("Warning") => Level::Warning,
        _ => Level::Notice,
    }
}

/// The line of an entry (after `%FTD-<level>-SEL: `).
pub fn line(log: &str, e: &Entry) -> String {
    let sensor = match (&e.sensor_type, e.sensor_number) {
        (Some(t), Some(n)) => format!("{t} #{n}: "),
        (Some(t), None) => format!("{t}: "),
        _ => String::new(),
    };
    format!(
        "redfish {log} entry {} at {}: {sensor}{} ({})",
        e.id,
        e.created.as_deref().unwrap_or("-"),
        e.message,
        e.severity.as_deref().unwrap_or("-")
    )
}

/// Whether an entry is a processor's hardware thermal trip.
pub fn is_trip(e: &Entry) -> bool {
    e.sensor_type.as_deref() == Some("Processor")
        && e.message.to_ascii_lowercase().contains("thermal trip")
}

fn is_boot(e: &Entry) -> bool {
    e.sensor_type
        .as_deref()
        .is_some_and(|t| t.to_ascii_lowercase().contains("boot"))
}

/// The thermal trip that caused this boot among `unseen` entries (the ones envmon had not
/// forwarded before this start), if one did: the latest trip, with no boot logged after it,
/// and (where the host's boot time is known, seconds since 1970) not after this boot.
pub fn boot_trip(unseen: &[Entry], host_boot: Option<u64>) -> Option<&Entry> {
    let at = unseen.iter().rposition(is_trip)?;
    let trip = &unseen[at];
    if unseen[at + 1..].iter().any(is_boot) {
        return None;
    }
    let before_boot = match (host_boot, trip.created.as_deref()) {
        (Some(boot), Some(c)) => chrono::DateTime::parse_from_rfc3339(c)
            .is_ok_and(|t| u64::try_from(t.timestamp()).is_ok_and(|t| t <= boot)),
        _ => true,
    };
    before_boot.then_some(trip)
}

/// How this start began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    First,
    Resume,
    Lost,
}

/// The event-log watcher of a Redfish agent.
pub struct LogWatcher {
    fetch: Box<dyn Fetch + Send>,
    state_dir: PathBuf,
    host_boot: Option<u64>,
    /// The logs' entry collections (found at the first step).
    logs: Option<Vec<String>>,
    /// Where reading is (moves as lines are queued) and what is saved.
    marks: BTreeMap<String, Mark>,
    saved: BTreeMap<String, Mark>,
    /// Lines queued and not yet delivered: (ticket, log, its mark).
    pending: VecDeque<(u64, String, Mark)>,
    start: Start,
    /// The logs' state at this start has been read (the trip decided).
    started: bool,
    syslog_instance: Option<u64>,
    sweeps: u64,
    /// Entries forwarded by this process.
    pub forwarded: u64,
    trip: Option<crate::events::sel::BootTrip>,
    unsaved: bool,
}

impl std::fmt::Debug for LogWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWatcher")
            .field("logs", &self.logs)
            .field("marks", &self.marks)
            .field("forwarded", &self.forwarded)
            .finish()
    }
}

fn cursor_path(dir: &Path) -> PathBuf {
    dir.join(CURSOR_FILE)
}

impl LogWatcher {
    /// A watcher over `fetch`, its cursor in `state_dir`.
    pub fn new(fetch: Box<dyn Fetch + Send>, state_dir: &Path, host_boot: Option<u64>) -> Self {
        let seen = state_dir.join(SEEN_FILE).exists();
        let (marks, start) = match std::fs::read_to_string(cursor_path(state_dir)) {
            Ok(t) => match serde_json::from_str::<BTreeMap<String, Mark>>(&t) {
                Ok(m) => (m, Start::Resume),
                Err(e) => {
                    log::warn!(
                        "{CURSOR_FILE}: {e}; the cursor is lost: what the logs hold now is not forwarded again"
                    );
                    (BTreeMap::new(), Start::Lost)
                }
            },
            Err(_) if seen => {
                log::warn!(
                    "{CURSOR_FILE} is missing but envmon has read these logs before: what they hold now is not forwarded again"
                );
                (BTreeMap::new(), Start::Lost)
            }
            Err(_) => (BTreeMap::new(), Start::First),
        };
        LogWatcher {
            fetch,
            state_dir: state_dir.to_path_buf(),
            host_boot,
            logs: None,
            saved: marks.clone(),
            marks,
            pending: VecDeque::new(),
            start,
            started: false,
            syslog_instance: None,
            sweeps: 0,
            forwarded: 0,
            trip: None,
            unsaved: false,
        }
    }

    /// The entry collections of the systems' log services.
    fn find_logs(&mut self) -> Result<Vec<String>, RfError> {
        let f = &mut self.fetch;
        let root = f.get("/redfish/v1")?;
        let Some(systems) = map::link(&root, "Systems", "/redfish/v1")? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for s in map::members(&f.get(&systems)?, &systems)? {
            let sys = f.get(&s)?;
            let Some(services) = map::link(&sys, "LogServices", &s)? else {
                continue;
            };
            for l in map::members(&f.get(&services)?, &services)? {
                let svc = f.get(&l)?;
                if let Some(entries) = map::link(&svc, "Entries", &l)? {
                    out.push(entries);
                }
            }
        }
        Ok(out)
    }

    /// A log's entries in order: the members as the collection embeds them, or, where it
    /// only links them, each fetched from the marked one on (the ones before it were
    /// forwarded already: not asked for again), at most `4 * BUDGET` a step.
    fn entries(&mut self, uri: &str, mark: Option<&Mark>) -> Result<Vec<Entry>, RfError> {
        let coll = self.fetch.get(uri)?;
        let members = coll
            .get("Members")
            .and_then(Value::as_array)
            .ok_or_else(|| RfError::new(RfErrorKind::Missing("Members"), uri))?;
        let linked_mark = |m: &Value| {
            entry(m).is_none()
                && mark.is_some_and(|k| {
                    map::odata_id(m, uri)
                        .is_ok_and(|id| id.rsplit('/').next() == Some(k.id.as_str()))
                })
        };
        let start = members.iter().position(linked_mark).unwrap_or(0);
        let mut out = Vec::new();
        for m in members.iter().skip(start).take(map::MEMBERS_MAX * 8) {
            match entry(m) {
                Some(e) => out.push(e),
                None => {
                    // A link only: the entry's own resource.
                    let Ok(id) = map::odata_id(m, uri) else {
                        continue;
                    };
                    if out.len() > 4 * BUDGET {
                        break;
                    }
                    if let Some(e) = entry(&self.fetch.get(&id)?) {
                        out.push(e);
                    }
                }
            }
        }
        Ok(out)
    }

    /// After a sweep: every `CHECK_EVERY` sweeps (and at the first), the logs' new entries
    /// to syslog, as many as the destinations have room for.
    pub fn after_sweep(&mut self, syslog: &Syslog) {
        self.commit(syslog);
        self.step(syslog);
        self.commit(syslog);
    }

    fn step(&mut self, syslog: &Syslog) {
        self.sweeps += 1;
        if self.started && !(self.sweeps - 1).is_multiple_of(CHECK_EVERY) {
            return;
        }
        if self.unsaved && !self.pending.is_empty() {
            return; // nothing more until the cursor can be written
        }
        let logs = match &self.logs {
            Some(l) => l.clone(),
            None => match self.find_logs() {
                Ok(l) => {
                    log::info!("Redfish event logs: {}", l.join(", "));
                    self.logs = Some(l.clone());
                    l
                }
                Err(e) => {
                    log::warn!("Redfish event logs: {e}");
                    return;
                }
            },
        };
        let mut unseen_all = Vec::new();
        for log in &logs {
            let mark = self.marks.get(log).cloned();
            let entries = match self.entries(log, mark.as_ref()) {
                Ok(e) => e,
                Err(e) => {
                    log::warn!("Redfish event log: {e}");
                    continue;
                }
            };
            let fresh = new_entries(&entries, self.marks.get(log)).to_vec();
            if !self.started {
                unseen_all.extend(fresh.iter().cloned().map(|e| (log.clone(), e)));
                if self.start == Start::Lost {
                    // Nothing twice: what the log holds now is not forwarded.
                    if let Some(last) = entries.last() {
                        let m = Mark {
                            id: last.id.clone(),
                            created: last.created.clone(),
                        };
                        self.marks.insert(log.clone(), m.clone());
                        self.pending
                            .push_back((syslog.sel_issued(), log.clone(), m));
                        syslog.send_sel(
                            Level::Warning,
                            &format!(
                                "the Redfish log cursor was lost: {} entries of {log} logged before this start are not forwarded again (they remain in the log)",
                                fresh.len()
                            ),
                        );
                    }
                    continue;
                }
            }
            let room = syslog.sel_room().min(BUDGET);
            for e in fresh.iter().take(room) {
                let ticket = syslog.send_sel_paced(level(e), &line(log, e));
                let m = Mark {
                    id: e.id.clone(),
                    created: e.created.clone(),
                };
                self.marks.insert(log.clone(), m.clone());
                self.pending.push_back((ticket, log.clone(), m));
                self.forwarded += 1;
            }
        }
        if !self.started {
            self.started = true;
            let unseen: Vec<Entry> = unseen_all.iter().map(|(_, e)| e.clone()).collect();
            if let Some(t) = boot_trip(&unseen, self.host_boot) {
                let log = unseen_all
                    .iter()
                    .find(|(_, e)| e == t)
                    .map_or("", |(l, _)| l.as_str());
                self.trip = Some(crate::events::sel::BootTrip {
                    entry: format!("redfish:{log}/{}", t.id),
                    at: t.created.clone().unwrap_or_else(|| "-".into()),
                    identity: format!(
                        "redfish:{log}/{}@{}",
                        t.id,
                        t.created.as_deref().unwrap_or("-")
                    ),
                });
            }
        }
    }

    /// A thermal trip that caused this boot, once (see [`boot_trip`]).
    pub fn take_boot_trip(&mut self) -> Option<crate::events::sel::BootTrip> {
        self.trip.take()
    }

    /// Saves the marks past every line all destinations delivered. A syslog layer replaced
    /// since (SIGHUP) took undelivered lines along: reading goes back to the saved marks.
    pub fn commit(&mut self, syslog: &Syslog) {
        if self.syslog_instance != Some(syslog.instance()) {
            if !self.pending.is_empty() {
                self.pending.clear();
                self.marks = self.saved.clone();
            }
            self.syslog_instance = Some(syslog.instance());
        }
        let delivered = syslog.sel_delivered();
        let mut next = self.saved.clone();
        let mut moved = false;
        while let Some((ticket, log, mark)) = self.pending.front() {
            if *ticket > delivered {
                break;
            }
            next.insert(log.clone(), mark.clone());
            moved = true;
            self.pending.pop_front();
        }
        if !moved {
            return;
        }
        let text = serde_json::to_string(&next).unwrap_or_default();
        let saved = crate::os::files::write_cursor(
            &cursor_path(&self.state_dir),
            text.as_bytes(),
            &self.state_dir.join(SEEN_FILE),
            b"envmon has read these Redfish logs\n",
        );
        match saved {
            Ok(()) => {
                self.saved = next;
                self.unsaved = false;
            }
            Err(e) => {
                if !self.unsaved {
                    log::warn!(
                        "cannot save the Redfish log cursor in {}: {e}; nothing more is read until it can be",
                        self.state_dir.display()
                    );
                }
                self.unsaved = true;
                // Asked again at the next commit.
                for (log, mark) in next {
                    if self.saved.get(&log) != Some(&mark) {
                        self.pending.push_front((0, log, mark));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, created: &str, ty: &str, msg: &str) -> Entry {
        Entry {
            id: id.into(),
            created: Some(created.into()),
            severity: Some("OK".into()),
            sensor_type: Some(ty.into()),
            sensor_number: None,
            message: msg.into(),
        }
    }

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
        let all = w.entries(log, None).unwrap();
        assert_eq!(all.len(), 5);
        let mark = Mark {
            id: "3".into(),
            created: Some("2026-01-03T00:00:00Z".into()),
        };
        let before = w.fetch.requests();
        let from_mark = w.entries(log, Some(&mark)).unwrap();
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

    #[test]
    fn new_entries_follow_the_mark_or_the_time() {
        let log = [
            e("1", "2026-01-01T00:00:00Z", "Fan", "a"),
            e("2", "2026-01-02T00:00:00Z", "Fan", "b"),
            e("3", "2026-01-03T00:00:00Z", "Fan", "c"),
        ];
        assert_eq!(new_entries(&log, None).len(), 3);
        let m = Mark {
            id: "2".into(),
            created: Some("2026-01-02T00:00:00Z".into()),
        };
        assert_eq!(new_entries(&log, Some(&m))[0].id, "3");
        // The log was cleared and refilled: its ids start again; the times tell.
        let refilled = [
            e("1", "2026-01-01T12:00:00Z", "Fan", "old?"),
            e("2", "2026-01-04T00:00:00Z", "Fan", "new"),
        ];
        let gone = Mark {
            id: "9".into(),
            created: Some("2026-01-03T00:00:00Z".into()),
        };
        let fresh = new_entries(&refilled, Some(&gone));
        assert_eq!((fresh.len(), fresh[0].id.as_str()), (1, "2"));
    }

    #[test]
    fn a_trip_is_this_boots_cause_only_without_a_later_boot_and_before_this_boot() {
        let trip = e(
            "5",
            "2026-03-01T10:00:00Z",
            "Processor",
            "CPU1 Thermal Trip - Asserted",
        );
        let boot = e("6", "2026-03-01T10:05:00Z", "System Boot Initiated", "boot");
        let later = e("7", "2026-03-01T10:06:00Z", "Fan", "x");
        let booted_at = chrono::DateTime::parse_from_rfc3339("2026-03-01T10:03:00Z")
            .unwrap()
            .timestamp() as u64;
        assert!(boot_trip(&[trip.clone(), later.clone()], Some(booted_at)).is_some());
        assert!(boot_trip(&[trip.clone(), boot], Some(booted_at)).is_none());
        assert!(
            boot_trip(std::slice::from_ref(&trip), Some(booted_at - 3600)).is_none(),
            "after this boot"
        );
        assert_eq!(level(&trip), Level::Error);
        assert_eq!(
            line("/redfish/v1/Systems/1/LogServices/SEL/Entries", &later),
            "redfish /redfish/v1/Systems/1/LogServices/SEL/Entries entry 7 at 2026-03-01T10:06:00Z: Fan: x (OK)"
        );
    }
}
