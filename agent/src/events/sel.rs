//! The BMC's event log, carried to syslog: every [`CHECK_EVERY`] sweeps one Get SEL Info;
//! when something was added, only the new entries are read (at most [`BUDGET`] per sweep, so
//! a 3,000-entry backlog never stalls a sweep) and each becomes one SEL line. The cursor
//! (last record forwarded, the SEL's add and erase stamps) is kept in the state dir,
//! written atomically, so a restart neither repeats nor misses entries and a cleared SEL is
//! read again from its start. docs/sel.md has the line format.
//!
//! The SEL is paced by its sinks: it is read no further than every syslog destination has
//! room for ([`Syslog::sel_room`]), its lines go in a lane of their own after the catalog
//! messages and are never dropped, and the saved cursor moves only past entries whose line
//! every destination took ([`SelWatcher::commit`]). While a TCP receiver is down the entries
//! wait in the BMC.
//!
//! At start-up, a processor Thermal Trip among the entries envmon had not seen is a
//! hardware shutdown that happened while it was not running: 735023 once, and a reason
//! record (source `sel`), unless envmon reported a shutdown of its own at this start. Without
//! a cursor (a first start, or a cursor lost) a trip is reported only if it can have caused
//! this boot ([`core_sel::trip_caused_this_boot`]), and the record of trips reported keeps any
//! trip from being reported twice (docs/sel.md).
//!
//! A cursor that is missing while the state dir shows envmon looked at this SEL before, or
//! one that is corrupt, is *lost*: the SEL is not forwarded a second time (one line says how
//! many entries were skipped; they stay in the BMC). A batch is forwarded only after a
//! cursor could be written (the saved one, again); while it cannot (a full state dir)
//! nothing is forwarded and the batch is read again later. A crash (not a stop: the exit delivers and saves)
//! between a line's delivery and the next save sends that line again after the restart. Threshold crossings of one sensor are bounded
//! ([`SEL_LINES_PER_SENSOR`] per [`SEL_WINDOW_MS`]); the rest are counted in one line.

use crate::model::SelStatus;
use crate::{config::SelMode, syslog::Syslog};
use envmon_core::{
    Level,
    sel::{self as core_sel, SelCursor, SelInfo, SelPlan, SelRecord},
};
use envmon_sensors::ipmi::{IpmiError, Transport, sel};
use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

/// Sweeps between two Get SEL Info (the first sweep checks at once).
pub const CHECK_EVERY: u64 = 5;
/// Entries read in one sweep at most.
pub const BUDGET: usize = 64;
/// The longest one sweep's SEL read goes on (a slow link reads fewer entries a sweep; the
/// sensors are not held up by a backlog: 64 entries at 1 s a round trip would be a minute).
pub const STEP_TIME: std::time::Duration = std::time::Duration::from_secs(1);
const CURSOR_FILE: &str = "sel-cursor.v1";
/// Written with the first cursor: envmon has looked at this SEL before (a cursor missing
/// while this is there was lost, not never made).
const SEEN_FILE: &str = "sel-seen.v1";
const ARCHIVE_FILE: &str = "sel-archive.log";
/// SEL lines of one sensor's threshold crossings per window.
pub const SEL_LINES_PER_SENSOR: u16 = 4;
/// The window of [`SEL_LINES_PER_SENSOR`], milliseconds.
pub const SEL_WINDOW_MS: u64 = 300_000;

/// How this start found the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// A valid cursor: read on from it.
    Resume,
    /// No cursor and no sign envmon looked before: forward what the SEL holds.
    First,
    /// Missing or corrupt while envmon looked before: forward nothing already there.
    Lost,
}

/// A hardware thermal trip to report at this start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootTrip {
    /// `sel:0xNNNN`.
    pub entry: String,
    /// When, as the SEL says.
    pub at: String,
    /// Its identity in the record of trips reported.
    pub identity: String,
}

/// The SEL watcher of one agent.
#[derive(Debug)]
pub struct SelWatcher {
    state_dir: PathBuf,
    cursor: SelCursor,
    start: Start,
    /// When this host booted (seconds since 1970), if known.
    host_boot: Option<u64>,
    /// The BMC's SEL clock when the start-up pass ended (asked only when a trip needs it).
    sel_now: Option<u32>,
    info: Option<SelInfo>,
    /// A batch ended with more to read: read on at the next sweep.
    backlog: bool,
    /// Still reading what was logged before this start.
    startup: bool,
    /// The latest thermal trip seen while `startup`, and what followed it.
    witness: core_sel::TripWitness,
    /// Entries not forwarded because the cursor was lost.
    skipped: u64,
    /// The cursor could not be saved at the last try (forwarding waits).
    unsaved: bool,
    /// The cursor on disk: past entries every syslog destination took.
    saved: SelCursor,
    /// Entries read and queued, not yet delivered everywhere: the SEL ticket each waits for
    /// and the cursor past it, oldest first.
    pending: std::collections::VecDeque<(u64, SelCursor)>,
    /// The syslog layer the tickets are of (one replaced on SIGHUP took its lines along).
    syslog_instance: Option<u64>,
    /// Said once per wait: the SEL waits for a destination.
    waiting: bool,
    damper: core_sel::SelDamper,
    started: std::time::Instant,
    sweeps: u64,
    forwarded: u64,
    /// Entries forwarded per syslog level (0-7).
    severities: [u64; 8],
    warned: bool,
    warned_full: bool,
}

/// When this host booted, seconds since 1970: `btime` of `ROOT/proc/stat` (the root is
/// `--sysfs-root`, so tests can give a boot time). `None` when it cannot be read.
pub fn host_boot(root: &Path) -> Option<u64> {
    let text = fs::read_to_string(root.join("proc/stat")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// When a trip happened, RFC 3339 (docs/thermal-shutdown.md): its SEL timestamp when the
/// BMC's clock is set; for one that counts from the BMC's start, now less its age on the
/// BMC's clock (`sel_now`); without that, the time of this report.
fn trip_time(ts: u32, sel_now: Option<u32>) -> String {
    if ts >= 0x2000_0000 {
        return core_sel::format_timestamp(ts);
    }
    // The BMC's clock on the same scale as the trip's (since its start), and past it.
    let age = sel_now
        .filter(|now| *now < 0x2000_0000)
        .and_then(|now| now.checked_sub(ts));
    if age.is_none() {
        log::info!("the trip's time counts from the BMC's start: taking the time of this report");
    }
    let at = chrono::Utc::now() - chrono::Duration::seconds(i64::from(age.unwrap_or(0)));
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn cursor_path(state_dir: &Path) -> PathBuf {
    state_dir.join(CURSOR_FILE)
}

impl SelWatcher {
    /// Loads the cursor from `state_dir` (see the module docs for a missing or corrupt one);
    /// `host_boot` is when this host booted, if known.
    pub fn new(state_dir: &Path, host_boot: Option<u64>) -> SelWatcher {
        let seen_before = state_dir.join(SEEN_FILE).exists();
        let (cursor, start) = match fs::read_to_string(cursor_path(state_dir)) {
            Ok(text) => match core_sel::decode_cursor(&text) {
                Ok(c) => (c, Start::Resume),
                Err(e) => {
                    log::warn!(
                        "{CURSOR_FILE}: {e}; the cursor is lost: what the SEL holds now is not \
                         forwarded again"
                    );
                    (SelCursor::default(), Start::Lost)
                }
            },
            Err(_) if seen_before => {
                log::warn!(
                    "{CURSOR_FILE} is missing but envmon has read this SEL before: what it \
                     holds now is not forwarded again"
                );
                (SelCursor::default(), Start::Lost)
            }
            Err(_) => (SelCursor::default(), Start::First),
        };
        SelWatcher {
            state_dir: state_dir.to_path_buf(),
            cursor,
            saved: cursor,
            pending: std::collections::VecDeque::new(),
            syslog_instance: None,
            waiting: false,
            start,
            host_boot,
            sel_now: None,
            info: None,
            backlog: false,
            startup: true,
            witness: core_sel::TripWitness::default(),
            skipped: 0,
            unsaved: false,
            damper: core_sel::SelDamper::new(SEL_LINES_PER_SENSOR, SEL_WINDOW_MS),
            started: std::time::Instant::now(),
            sweeps: 0,
            forwarded: 0,
            severities: [0; 8],
            warned: false,
            warned_full: false,
        }
    }

    /// Saves `cursor` (and, the first time, the sign that envmon has read this SEL).
    /// Returns whether it was saved.
    fn save(&mut self, cursor: SelCursor) -> bool {
        let text = core_sel::encode_cursor(&cursor);
        let saved = crate::os::files::write_cursor(
            &cursor_path(&self.state_dir),
            text.as_bytes(),
            &self.state_dir.join(SEEN_FILE),
            b"envmon has read this BMC's SEL\n",
        );
        match saved {
            Ok(()) => {
                if self.unsaved {
                    log::info!("the SEL cursor is saved again: forwarding goes on");
                }
                self.unsaved = false;
                self.saved = cursor;
                true
            }
            Err(e) => {
                if !self.unsaved {
                    log::warn!(
                        "cannot save the SEL cursor in {}: {e}; the SEL is not forwarded until \
                         it can be (its entries stay in the BMC)",
                        self.state_dir.display()
                    );
                }
                self.unsaved = true;
                false
            }
        }
    }

    /// Moves the saved cursor past every entry whose line all destinations took. A syslog
    /// layer replaced since (SIGHUP) took the undelivered lines along: reading goes back to
    /// the saved cursor, so they are read and sent again, not lost.
    pub fn commit(&mut self, syslog: &Syslog) {
        if self.syslog_instance != Some(syslog.instance()) {
            if !self.pending.is_empty() {
                log::info!(
                    "syslog destinations replaced: {} SEL entries not yet delivered are read again",
                    self.pending.len()
                );
                self.pending.clear();
                self.cursor = self.saved;
                self.backlog = true;
            }
            self.syslog_instance = Some(syslog.instance());
        }
        let delivered = syslog.sel_delivered();
        let mut newest = None;
        while let Some(&(ticket, cursor)) = self.pending.front() {
            if ticket > delivered {
                break;
            }
            newest = Some(cursor);
            self.pending.pop_front();
        }
        if let Some(c) = newest {
            if !self.save(c) {
                // Asked again at the next commit (with whatever was delivered by then).
                self.pending.push_front((0, c));
            }
        }
    }

    fn archive(&self, lines: &[String]) -> std::io::Result<()> {
        fs::create_dir_all(&self.state_dir)?;
        let mut f = crate::os::files::open_append(&self.state_dir.join(ARCHIVE_FILE))?;
        for l in lines {
            writeln!(f, "{l}")?;
        }
        f.sync_all()
    }

    /// Runs after a sweep: checks the SEL when due, forwards new entries, warns about its
    /// fill level, clears it when asked to. `name` gives an event's sensor name. Errors are
    /// the transport's (the caller decides about the session); a completion code about the
    /// SEL (a BMC without one) is logged and stops nothing else.
    pub fn after_sweep(
        &mut self,
        t: &mut impl Transport,
        syslog: &Syslog,
        mode: SelMode,
        warn_percent: u8,
        name: &dyn Fn(u8) -> Option<String>,
    ) -> Result<(), IpmiError> {
        if mode == SelMode::Off {
            return Ok(());
        }
        self.commit(syslog);
        let due = self.sweeps.is_multiple_of(CHECK_EVERY) || self.backlog;
        self.sweeps += 1;
        if !due {
            return Ok(());
        }
        let info = sel::info(t)?;
        self.info = Some(info);
        self.fill_warnings(&info, syslog, warn_percent);
        let room = syslog.sel_room();
        if room == 0 {
            if !self.waiting {
                log::warn!(
                    "the SEL waits for a syslog destination that takes nothing now (its \
                     entries stay in the BMC)"
                );
            }
            self.waiting = true;
            self.backlog = true;
            return Ok(());
        }
        if std::mem::take(&mut self.waiting) {
            log::info!("syslog takes SEL lines again: forwarding goes on");
        }
        let plan = match (self.backlog, self.cursor.last_id) {
            (true, Some(last)) => SelPlan::After(last),
            _ => core_sel::plan(&self.cursor, &info),
        };
        let budget = sel::Budget {
            entries: BUDGET.min(room),
            time: STEP_TIME,
        };
        let batch = sel::read_new(t, plan, budget)?;
        if batch.restarted {
            log::warn!(
                "the SEL no longer holds the last entry forwarded; reading it from its start"
            );
        }
        // Lines go out only when a cursor can be saved now: a state dir too full for it
        // forwards nothing (the batch is read again later), so a restart repeats nothing.
        let saved = self.saved;
        if !self.save(saved) {
            self.backlog = true;
            return Ok(());
        }
        let lines = self.take(&batch, &info, name);
        self.queue(lines, syslog, name);
        if !batch.more && self.startup {
            self.end_startup(t, syslog);
        }
        self.commit(syslog);
        let forwarded_all = !self.backlog && self.pending.is_empty();
        if mode == SelMode::Clear && forwarded_all && info.percent_used() >= warn_percent {
            self.clear(t, syslog, &info, name)?;
        }
        Ok(())
    }

    /// Takes a batch: each entry with its line (none for a lost cursor's start-up pass) and
    /// the cursor past it; the read position moves past the batch (the saved cursor moves
    /// when the lines are delivered: [`SelWatcher::commit`]).
    fn take<'b>(
        &mut self,
        batch: &'b sel::Batch,
        info: &SelInfo,
        name: &dyn Fn(u8) -> Option<String>,
    ) -> Vec<(Option<&'b SelRecord>, Option<String>, SelCursor)> {
        let mut lines = Vec::with_capacity(batch.records.len() + 1);
        for rec in &batch.records {
            if self.startup {
                self.witness.see(rec);
            }
            self.cursor.last_id = Some(rec.id());
            let text = if self.start == Start::Lost && self.startup {
                self.skipped += 1;
                None
            } else {
                let sensor = match rec {
                    SelRecord::System(e) => name(e.sensor_number),
                    _ => None,
                };
                Some(core_sel::text(rec, sensor.as_deref()))
            };
            lines.push((Some(rec), text, self.cursor));
        }
        self.backlog = batch.more;
        if !batch.more {
            self.cursor.add_timestamp = info.add_timestamp;
            self.cursor.erase_timestamp = info.erase_timestamp;
            self.cursor.entries = info.entries;
            lines.push((None, None, self.cursor));
        }
        lines
    }

    /// Queues a batch's lines in the SEL lane: a flapping sensor's threshold crossings
    /// bounded ([`SEL_LINES_PER_SENSOR`] per [`SEL_WINDOW_MS`]), the rest counted and said
    /// when its window ends. Each entry's cursor waits for its line's delivery (an entry
    /// without a line, for the lines before it).
    fn queue(
        &mut self,
        lines: Vec<(Option<&SelRecord>, Option<String>, SelCursor)>,
        syslog: &Syslog,
        name: &dyn Fn(u8) -> Option<String>,
    ) {
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        for (rec, text, cursor) in lines {
            let crossing = match rec {
                Some(SelRecord::System(e)) if e.event_type == 0x01 && !self.startup => {
                    Some(e.sensor_number)
                }
                _ => None,
            };
            let ticket = match (rec, text) {
                (Some(rec), Some(text))
                    if crossing.is_none_or(|n| self.damper.allow(n, now_ms)) =>
                {
                    self.forwarded += 1;
                    let level = core_sel::level(rec);
                    if let Some(n) = self.severities.get_mut(usize::from(level.number())) {
                        *n += 1;
                    }
                    syslog.send_sel_paced(level, &text)
                }
                _ => syslog.sel_issued(),
            };
            self.pending.push_back((ticket, cursor));
        }
        for (sensor, held) in self.damper.ended(now_ms) {
            let who = name(sensor).unwrap_or_else(|| format!("sensor 0x{sensor:02x}"));
            syslog.send_sel(
                Level::Notice,
                &format!(
                    "{held} more threshold entries of {who} in {} s not forwarded (flapping); \
                     they remain in the SEL",
                    SEL_WINDOW_MS / 1000
                ),
            );
        }
    }

    /// The start-up pass is over: the BMC's clock for a trip found without a cursor, and for
    /// a lost cursor the line saying how many entries were not forwarded again.
    fn end_startup(&mut self, t: &mut impl Transport, syslog: &Syslog) {
        self.startup = false;
        if self.witness.trip.is_some() {
            self.sel_now = sel::time(t)
                .inspect_err(|e| log::warn!("Get SEL Time: {e}"))
                .ok();
        }
        if self.start == Start::Lost && self.skipped > 0 {
            syslog.send_sel(
                Level::Warning,
                &format!(
                    "the SEL cursor was lost: {} entries logged before this start are not \
                     forwarded again (they remain in the SEL)",
                    self.skipped
                ),
            );
        }
    }

    /// Past the warning level (and again when full), one SEL line each time the level is
    /// crossed upwards.
    fn fill_warnings(&mut self, info: &SelInfo, syslog: &Syslog, warn_percent: u8) {
        let percent = info.percent_used();
        if percent >= warn_percent && !self.warned {
            syslog.send_sel(
                Level::Warning,
                &format!(
                    "the SEL is {percent}% full ({} entries, {} bytes free)",
                    info.entries, info.free_bytes
                ),
            );
        }
        self.warned = percent >= warn_percent;
        // No entries and no space is a BMC without a SEL, not a full one.
        let full = info.overflow || (info.free_bytes < 16 && info.entries > 0);
        if full && !self.warned_full {
            syslog.send_sel(
                Level::Error,
                "the SEL is full: the BMC drops new events until it is cleared",
            );
        }
        self.warned_full = full;
    }

    /// Archives the whole SEL (appended to the archive file, synced), then clears it. Only
    /// once everything in it was forwarded. This one sweep reads the whole SEL: it is rare
    /// and asked for.
    fn clear(
        &mut self,
        t: &mut impl Transport,
        syslog: &Syslog,
        info: &SelInfo,
        name: &dyn Fn(u8) -> Option<String>,
    ) -> Result<(), IpmiError> {
        let all = sel::read_new(
            t,
            SelPlan::FromStart,
            sel::Budget::entries(usize::from(info.entries) + 16),
        )?;
        let lines: Vec<String> = all
            .records
            .iter()
            .map(|rec| {
                let sensor = match rec {
                    SelRecord::System(e) => name(e.sensor_number),
                    _ => None,
                };
                core_sel::text(rec, sensor.as_deref())
            })
            .collect();
        if let Err(e) = self.archive(&lines) {
            log::error!("cannot archive the SEL: {e}; not clearing it");
            return Ok(());
        }
        sel::clear(t)?;
        log::info!(
            "archived {} SEL entries in {} and cleared the SEL",
            lines.len(),
            self.state_dir.join(ARCHIVE_FILE).display()
        );
        syslog.send_sel(
            Level::Notice,
            &format!(
                "the SEL was cleared by envmon ({} entries archived in the state dir)",
                lines.len()
            ),
        );
        self.cursor = SelCursor::default();
        self.save(self.cursor);
        Ok(())
    }

    /// Once the start-up pass is done: the hardware trip to report, if any, taken (so it is
    /// asked about once). Without a cursor only a trip that can have caused this boot.
    pub fn take_boot_trip(&mut self) -> Option<BootTrip> {
        if self.startup {
            return None;
        }
        let w = std::mem::take(&mut self.witness);
        let (id, ts) = w.trip?;
        if self.start != Start::Resume {
            let uptime = self.host_boot.and_then(|boot| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_secs();
                now.checked_sub(boot)
            });
            let clocks = core_sel::Clocks {
                sel_now: self.sel_now,
                host_uptime: uptime,
            };
            if let Err(why) = core_sel::trip_caused_this_boot(&w, clocks) {
                log::info!(
                    "SEL sel:0x{id:04x}: a thermal trip, not taken for the cause of this boot: \
                     {why}"
                );
                return None;
            }
        }
        Some(BootTrip {
            entry: format!("sel:0x{id:04x}"),
            at: trip_time(ts, self.sel_now),
            identity: core_sel::trip_identity(id, ts),
        })
    }

    /// `show environment`'s `sel` block (none before the first check).
    pub fn status(&self) -> Option<SelStatus> {
        self.info.as_ref().map(|i| SelStatus {
            entries: u64::from(i.entries),
            forwarded: self.forwarded,
            free_bytes: u64::from(i.free_bytes),
            last_record_id: self.cursor.last_id.map(u64::from),
            // IPMI 2.0 §37: stamps up to 0x20000000 count from the BMC's start.
            newest_at: (i.add_timestamp > 0x2000_0000 && i.add_timestamp != u32::MAX)
                .then_some(u64::from(i.add_timestamp)),
            percent_used: u64::from(i.percent_used()),
            severities: self.severities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 21: a trip's time is RFC 3339 even when the BMC counts from its own start.
    #[test]
    fn a_trips_time_is_rfc_3339() {
        let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).map(|t| t.timestamp());
        assert_eq!(trip_time(1_800_000_000, None), "2027-01-15T08:00:00Z");
        let hour_ago = parse(&trip_time(0x100, Some(0x100 + 3600))).unwrap();
        let now = chrono::Utc::now().timestamp();
        assert!((now - 3600 - hour_ago).abs() <= 5, "{hour_ago} vs {now}");
        assert!(
            parse(&trip_time(0x100, None)).is_ok(),
            "unknown age: the report's time"
        );
    }
}
