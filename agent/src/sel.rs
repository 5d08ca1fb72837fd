//! The BMC's event log, carried to syslog: every [`CHECK_EVERY`] sweeps one Get SEL Info;
//! when something was added, only the new entries are read (at most [`BUDGET`] per sweep, so
//! a 3,000-entry backlog never stalls a sweep) and each becomes one SEL line. The cursor
//! (last record forwarded, the SEL's add and erase stamps) is kept in the state dir,
//! written atomically after each batch, so a restart neither repeats nor misses entries and
//! a cleared SEL is read again from its start. docs/sel.md has the line format.
//!
//! At start-up, a processor Thermal Trip among the entries envmon had not seen is a
//! hardware shutdown that happened while it was not running: 735023 once, and a reason
//! record (source `sel`), unless envmon reported a shutdown of its own at this start.

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
const CURSOR_FILE: &str = "sel-cursor.v1";
const ARCHIVE_FILE: &str = "sel-archive.log";

/// The SEL watcher of one agent.
#[derive(Debug)]
pub struct SelWatcher {
    state_dir: PathBuf,
    cursor: SelCursor,
    /// No cursor was found: this is envmon's first look at this BMC's SEL.
    first_run: bool,
    info: Option<SelInfo>,
    /// A batch ended with more to read: read on at the next sweep.
    backlog: bool,
    /// Still reading what was logged before this start.
    startup: bool,
    /// The latest thermal trip seen while `startup`: (entry, its time).
    trip: Option<(String, String)>,
    sweeps: u64,
    forwarded: u64,
    warned: bool,
    warned_full: bool,
}

fn cursor_path(state_dir: &Path) -> PathBuf {
    state_dir.join(CURSOR_FILE)
}

impl SelWatcher {
    /// Loads the cursor from `state_dir` (a missing or unreadable one starts afresh, saying
    /// why when it was unreadable).
    pub fn new(state_dir: &Path) -> SelWatcher {
        let (cursor, first_run) = match fs::read_to_string(cursor_path(state_dir)) {
            Ok(text) => match core_sel::decode_cursor(&text) {
                Ok(c) => (c, false),
                Err(e) => {
                    log::warn!("{}: {e}; reading the SEL from its start", CURSOR_FILE);
                    (SelCursor::default(), true)
                }
            },
            Err(_) => (SelCursor::default(), true),
        };
        SelWatcher {
            state_dir: state_dir.to_path_buf(),
            cursor,
            first_run,
            info: None,
            backlog: false,
            startup: true,
            trip: None,
            sweeps: 0,
            forwarded: 0,
            warned: false,
            warned_full: false,
        }
    }

    fn save(&self) {
        let text = core_sel::encode_cursor(&self.cursor);
        if let Err(e) = crate::files::write_atomic(&cursor_path(&self.state_dir), text.as_bytes()) {
            log::warn!(
                "cannot save the SEL cursor in {}: {e}",
                self.state_dir.display()
            );
        }
    }

    fn archive(&self, lines: &[String]) -> std::io::Result<()> {
        fs::create_dir_all(&self.state_dir)?;
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state_dir.join(ARCHIVE_FILE))?;
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
        let due = self.sweeps.is_multiple_of(CHECK_EVERY) || self.backlog;
        self.sweeps += 1;
        if !due {
            return Ok(());
        }
        let info = sel::info(t)?;
        self.info = Some(info);
        self.fill_warnings(&info, syslog, warn_percent);
        let plan = match (self.backlog, self.cursor.last_id) {
            (true, Some(last)) => SelPlan::After(last),
            _ => core_sel::plan(&self.cursor, &info),
        };
        let batch = sel::read_new(t, plan, BUDGET)?;
        if batch.restarted {
            log::warn!(
                "the SEL no longer holds the last entry forwarded; reading it from its start"
            );
        }
        for rec in &batch.records {
            let sensor = match rec {
                SelRecord::System(e) => name(e.sensor_number),
                _ => None,
            };
            let text = core_sel::text(rec, sensor.as_deref());
            syslog.send_sel(core_sel::level(rec), &text);
            self.forwarded += 1;
            if let SelRecord::System(e) = rec {
                if e.is_thermal_trip() && self.startup {
                    self.trip = Some((
                        format!("sel:0x{:04x}", e.id),
                        core_sel::format_timestamp(e.timestamp),
                    ));
                }
            }
            self.cursor.last_id = Some(rec.id());
        }
        self.backlog = batch.more;
        if !batch.more {
            self.cursor.add_timestamp = info.add_timestamp;
            self.cursor.erase_timestamp = info.erase_timestamp;
            self.cursor.entries = info.entries;
            self.startup = false;
        }
        if !batch.records.is_empty() || !batch.more {
            self.save();
        }
        if mode == SelMode::Clear && !self.backlog && info.percent_used() >= warn_percent {
            self.clear(t, syslog, &info, name)?;
        }
        Ok(())
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
        let all = sel::read_new(t, SelPlan::FromStart, usize::from(info.entries) + 16)?;
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
        self.save();
        Ok(())
    }

    /// Once the start-up pass is done: the hardware trip to report, if any, taken (so it is
    /// reported once).
    pub fn take_boot_trip(&mut self) -> Option<(String, String)> {
        if self.startup {
            return None;
        }
        if self.first_run && self.trip.is_some() {
            log::info!("first look at this SEL: reporting its latest thermal trip");
        }
        self.trip.take()
    }

    /// `show environment`'s `sel` block (none before the first check).
    pub fn status(&self) -> Option<SelStatus> {
        self.info.as_ref().map(|i| SelStatus {
            entries: u64::from(i.entries),
            forwarded: self.forwarded,
            free_bytes: u64::from(i.free_bytes),
            last_record_id: self.cursor.last_id.map(u64::from),
            percent_used: u64::from(i.percent_used()),
        })
    }
}
