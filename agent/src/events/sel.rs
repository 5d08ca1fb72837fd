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

use super::delivery::{BUDGET, BootTrip};
use super::delivery::{Cursor, Delivery, Files, Start};
/// The longest one sweep's SEL read goes on (a slow link reads fewer entries a sweep; the
/// sensors are not held up by a backlog: 64 entries at 1 s a round trip would be a minute).
pub const STEP_TIME: std::time::Duration = std::time::Duration::from_secs(1);
/// The SEL's cursor files (docs/sel.md).
const FILES: Files = Files {
    cursor: "sel-cursor.v1",
    seen: "sel-seen.v1",
    what: "SEL",
};
const ARCHIVE_FILE: &str = "sel-archive.log";
/// SEL lines of one sensor's threshold crossings per window.
pub const SEL_LINES_PER_SENSOR: u16 = 4;
/// The window of [`SEL_LINES_PER_SENSOR`], milliseconds.
pub const SEL_WINDOW_MS: u64 = 300_000;

impl Cursor for SelCursor {
    fn encode(&self) -> String {
        core_sel::encode_cursor(self)
    }
    fn decode(text: &str) -> Result<Self, String> {
        core_sel::decode_cursor(text).map_err(|e| e.to_string())
    }
}

/// What was forwarded: entries in all, and per syslog level (0-7).
#[derive(Debug, Default)]
struct Counts {
    forwarded: u64,
    severities: [u64; 8],
}

/// The fill warnings said (each once per crossing).
#[derive(Debug, Default)]
struct Fill {
    warned: bool,
    full: bool,
}

/// The SEL watcher of one agent.
#[derive(Debug)]
pub struct SelWatcher {
    state_dir: PathBuf,
    /// The cursor, the tickets of lines in flight, when to look (shared with the Redfish
    /// logs: delivery.rs).
    delivery: Delivery<SelCursor>,
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
    /// Said once per wait: the SEL waits for a destination.
    waiting: bool,
    damper: core_sel::SelDamper,
    started: std::time::Instant,
    counts: Counts,
    fill: Fill,
    progress: BacklogProgress,
}

/// How often a terminal is told how far a SEL backlog is (issue 35: a cold backlog of
/// thousands of entries is read a batch per sweep for minutes).
pub const BACKLOG_PROGRESS_MS: u64 = 10_000;

/// What the log says of a SEL backlog (one read over many sweeps): its start and its end,
/// a line each, and on a terminal how far it is every [`BACKLOG_PROGRESS_MS`]. Whole log
/// lines, so they never break into the agent's other lines. A SEL read in one batch says
/// nothing. The counts are of lines queued for syslog, not of entries read (a lost
/// cursor's start-up pass reads entries it does not forward).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacklogProgress {
    /// While a backlog is read: when it began (ms), when its progress was last said, and
    /// the lines forwarded before it began.
    since: Option<(u64, u64, u64)>,
    /// Whether the agent's log goes to a terminal (asked once, at start).
    terminal: bool,
}

impl BacklogProgress {
    /// The progress of a log that goes to a terminal or not.
    pub fn new(terminal: bool) -> BacklogProgress {
        BacklogProgress {
            since: None,
            terminal,
        }
    }

    /// After a batch that forwarded `batch` lines (`more` left to read) of a log of
    /// `entries`, `forwarded` lines in all so far (the batch's included), at `now_ms`: the
    /// line to log, if any (pure).
    pub fn step(
        &mut self,
        (batch, forwarded): (u64, u64),
        more: bool,
        entries: u32,
        now_ms: u64,
    ) -> Option<String> {
        match (self.since, more) {
            (None, false) => None,
            (None, true) => {
                // The backlog began with this batch: its lines count.
                let base = forwarded.saturating_sub(batch);
                self.since = Some((now_ms, now_ms, base));
                Some(format!(
                    "reading a backlog of the BMC's event log (SEL, {entries} entries), a batch \
                     per sweep"
                ))
            }
            (Some((begun, said, base)), true) => {
                let due = now_ms.saturating_sub(said) >= BACKLOG_PROGRESS_MS;
                if !(self.terminal && due) {
                    return None;
                }
                self.since = Some((begun, now_ms, base));
                Some(format!(
                    "SEL backlog: {} entries forwarded so far (of {entries} in the log)",
                    forwarded.saturating_sub(base)
                ))
            }
            (Some((begun, _, base)), false) => {
                self.since = None;
                Some(format!(
                    "SEL backlog read: {} entries forwarded in {} s",
                    forwarded.saturating_sub(base),
                    now_ms.saturating_sub(begun).div_ceil(1000)
                ))
            }
        }
    }
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

impl SelWatcher {
    /// Loads the cursor from `state_dir` (see the module docs for a missing or corrupt one);
    /// `host_boot` is when this host booted, if known.
    pub fn new(state_dir: &Path, host_boot: Option<u64>) -> SelWatcher {
        SelWatcher {
            state_dir: state_dir.to_path_buf(),
            delivery: Delivery::load(state_dir, FILES),
            host_boot,
            sel_now: None,
            info: None,
            backlog: false,
            startup: true,
            witness: core_sel::TripWitness::default(),
            skipped: 0,
            waiting: false,
            damper: core_sel::SelDamper::new(SEL_LINES_PER_SENSOR, SEL_WINDOW_MS),
            started: std::time::Instant::now(),
            counts: Counts::default(),
            fill: Fill::default(),
            progress: BacklogProgress::new(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        }
    }

    /// Moves the saved cursor past every entry whose line all destinations took; after a
    /// syslog layer replaced on SIGHUP, reads again what it took along.
    pub fn commit(&mut self, syslog: &Syslog) {
        if self.delivery.commit(syslog) {
            self.backlog = true;
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
        if !self.delivery.due(self.backlog) {
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
        let plan = match (self.backlog, self.delivery.reading().last_id) {
            (true, Some(last)) => SelPlan::After(last),
            _ => core_sel::plan(self.delivery.reading(), &info),
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
        if !self.delivery.writable() {
            self.backlog = true;
            return Ok(());
        }
        let lines = self.take(&batch, &info, name);
        let before = self.counts.forwarded;
        self.queue(lines, syslog, name);
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let forwarded = self.counts.forwarded;
        let counts = (forwarded.saturating_sub(before), forwarded);
        if let Some(line) = self
            .progress
            .step(counts, batch.more, info.entries.into(), now_ms)
        {
            log::info!("{line}");
        }
        if !batch.more && self.startup {
            self.end_startup(t, syslog);
        }
        self.commit(syslog);
        let forwarded_all = !self.backlog && !self.delivery.in_flight();
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
        let mut cursor = *self.delivery.reading();
        for rec in &batch.records {
            if self.startup {
                self.witness.see(rec);
            }
            cursor.last_id = Some(rec.id());
            let text = if self.delivery.start() == Start::Lost && self.startup {
                self.skipped += 1;
                None
            } else {
                let sensor = match rec {
                    SelRecord::System(e) => name(e.sensor_number),
                    _ => None,
                };
                Some(core_sel::text(rec, sensor.as_deref()))
            };
            lines.push((Some(rec), text, cursor));
        }
        self.backlog = batch.more;
        if !batch.more {
            cursor.add_timestamp = info.add_timestamp;
            cursor.erase_timestamp = info.erase_timestamp;
            cursor.entries = info.entries;
            lines.push((None, None, cursor));
        }
        *self.delivery.reading_mut() = cursor;
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
                    self.counts.forwarded += 1;
                    let level = core_sel::level(rec);
                    if let Some(n) = self.counts.severities.get_mut(usize::from(level.number())) {
                        *n += 1;
                    }
                    syslog.send_sel_paced(level, &text)
                }
                _ => syslog.sel_issued(),
            };
            self.delivery.queued(ticket, cursor);
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
        if self.delivery.start() == Start::Lost && self.skipped > 0 {
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
        if percent >= warn_percent && !self.fill.warned {
            syslog.send_sel(
                Level::Warning,
                &format!(
                    "the SEL is {percent}% full ({} entries, {} bytes free)",
                    info.entries, info.free_bytes
                ),
            );
        }
        self.fill.warned = percent >= warn_percent;
        // No entries and no space is a BMC without a SEL, not a full one.
        let full = info.overflow || (info.free_bytes < 16 && info.entries > 0);
        if full && !self.fill.full {
            syslog.send_sel(
                Level::Error,
                "the SEL is full: the BMC drops new events until it is cleared",
            );
        }
        self.fill.full = full;
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
        self.delivery.restart_at(SelCursor::default());
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
        if self.delivery.start() != Start::Resume {
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

    /// When the protected host booted (seconds since 1970), if known: this machine's boot;
    /// none for a remote host (IPMI does not say when it booted: a trip found without a
    /// cursor is then not taken for its cause).
    pub fn set_host_boot(&mut self, boot: Option<u64>) {
        self.host_boot = boot;
    }

    /// `show environment`'s `sel` block (none before the first check).
    pub fn status(&self) -> Option<SelStatus> {
        self.info.as_ref().map(|i| SelStatus {
            entries: u64::from(i.entries),
            forwarded: self.counts.forwarded,
            free_bytes: Some(u64::from(i.free_bytes)),
            last_record_id: self.delivery.reading().last_id.map(u64::from),
            // IPMI 2.0 §37: stamps up to 0x20000000 count from the BMC's start.
            newest_at: (i.add_timestamp > 0x2000_0000 && i.add_timestamp != u32::MAX)
                .then_some(u64::from(i.add_timestamp)),
            percent_used: Some(u64::from(i.percent_used())),
            severities: self.counts.severities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 35: a backlog says its start and its end once each, and how far it is at most
    /// every 10 s on a terminal only; a SEL read in one batch says nothing.
    #[test]
    fn a_backlog_says_its_start_its_end_and_on_a_terminal_how_far() {
        let mut one = BacklogProgress::new(true);
        assert_eq!(one.step((40, 40), false, 40, 0), None);
        // 100 lines forwarded before the backlog, 64 a sweep in it (its first batch's too).
        let run = |terminal: bool| {
            let mut p = BacklogProgress::new(terminal);
            (0..=30u64)
                .filter_map(|k| p.step((64, 100 + 64 * (k + 1)), k < 30, 3000, k * 1000))
                .collect::<Vec<String>>()
        };
        let quiet = run(false);
        assert_eq!(
            quiet,
            [
                "reading a backlog of the BMC's event log (SEL, 3000 entries), a batch per \
                 sweep",
                "SEL backlog read: 1984 entries forwarded in 30 s"
            ]
        );
        let told = run(true);
        assert_eq!(told.len(), 4, "at 10 s and 20 s: {told:?}");
        assert_eq!(
            told[1],
            "SEL backlog: 704 entries forwarded so far (of 3000 in the log)"
        );
        assert_eq!(told[3], quiet[1]);
    }

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
