//! The delivery machine of an event log carried to syslog, once for every log (the BMC's
//! SEL, a Redfish service's logs): how a start found its cursor ([`Start`]), when to look
//! ([`CHECK_EVERY`], [`BUDGET`]), the cursor where reading is and the one saved, and the
//! lines in flight: each queued line's SEL-lane ticket and the cursor past it. The saved
//! cursor moves only past lines every destination delivered ([`Delivery::commit`]); a
//! syslog layer replaced on SIGHUP took its undelivered lines along, so reading goes back to
//! the saved cursor and they are read again, not lost. A cursor that cannot be written (a
//! full state dir) holds forwarding until it can be. What each log reads, and how its lines
//! read, stay with the log (sel.rs, eventlog.rs).

use crate::syslog::Syslog;
use std::{
    collections::VecDeque,
    fs,
    path::{Path, PathBuf},
};

/// Sweeps between two looks at a log (the first sweep looks at once).
pub const CHECK_EVERY: u64 = 5;
/// Entries read in one sweep at most.
pub const BUDGET: usize = 64;

/// How this start found the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A valid cursor: read on from it.
    Resume,
    /// No cursor and no sign envmon looked before: forward what the log holds.
    First,
    /// Missing or corrupt while envmon looked before: forward nothing already there.
    Lost,
}

/// A hardware thermal trip to report at this start, from either log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootTrip {
    /// `sel:0xNNNN` or `redfish:LOG/ID`.
    pub entry: String,
    /// When, as the log says.
    pub at: String,
    /// Its identity in the record of trips reported.
    pub identity: String,
}

/// A log's cursor as the state dir keeps it.
pub trait Cursor: Clone + PartialEq + Default {
    /// The file's text.
    fn encode(&self) -> String;
    /// From the file's text; `Err` says what is wrong (the cursor is then lost).
    fn decode(text: &str) -> Result<Self, String>;
}

/// The files of one log's cursor and how messages name the log.
#[derive(Debug, Clone, Copy)]
pub struct Files {
    /// The cursor file in the state dir.
    pub cursor: &'static str,
    /// Written with the first cursor: envmon has read this log before (a cursor missing
    /// while this is there was lost, not never made).
    pub seen: &'static str,
    /// The log, in messages: `SEL`, `Redfish log`.
    pub what: &'static str,
}

/// One log's delivery state.
#[derive(Debug)]
pub struct Delivery<C: Cursor> {
    files: Files,
    state_dir: PathBuf,
    start: Start,
    /// Where reading is (moves as lines are queued).
    reading: C,
    /// The cursor on disk: past lines every destination took.
    saved: C,
    /// Lines queued and not yet delivered everywhere: the ticket each waits for and the
    /// cursor past it, oldest first.
    pending: VecDeque<(u64, C)>,
    /// The syslog layer the tickets are of.
    syslog_instance: Option<u64>,
    /// The cursor could not be saved at the last try (forwarding waits).
    unsaved: bool,
    sweeps: u64,
}

impl<C: Cursor> Delivery<C> {
    /// Loads the cursor from `state_dir`: valid (resume), missing with no sign of an earlier
    /// look (first), or missing while envmon looked before, or corrupt (lost).
    pub fn load(state_dir: &Path, files: Files) -> Self {
        let seen_before = state_dir.join(files.seen).exists();
        let (cursor, start) = match fs::read_to_string(state_dir.join(files.cursor)) {
            Ok(text) => match C::decode(&text) {
                Ok(c) => (c, Start::Resume),
                Err(e) => {
                    log::warn!(
                        "{}: {e}; the cursor is lost: what the {} holds now is not forwarded \
                         again",
                        files.cursor,
                        files.what
                    );
                    (C::default(), Start::Lost)
                }
            },
            Err(_) if seen_before => {
                log::warn!(
                    "{} is missing but envmon has read this {} before: what it holds now is \
                     not forwarded again",
                    files.cursor,
                    files.what
                );
                (C::default(), Start::Lost)
            }
            Err(_) => (C::default(), Start::First),
        };
        Delivery {
            files,
            state_dir: state_dir.to_path_buf(),
            start,
            saved: cursor.clone(),
            reading: cursor,
            pending: VecDeque::new(),
            syslog_instance: None,
            unsaved: false,
            sweeps: 0,
        }
    }

    /// How this start found the cursor.
    pub fn start(&self) -> Start {
        self.start
    }

    /// Counts a sweep; whether the log is looked at this one: every [`CHECK_EVERY`] sweeps
    /// from the first, or whenever `now` (a backlog, a first look) says so.
    pub fn due(&mut self, now: bool) -> bool {
        let due = self.sweeps.is_multiple_of(CHECK_EVERY) || now;
        self.sweeps += 1;
        due
    }

    /// Where reading is.
    pub fn reading(&self) -> &C {
        &self.reading
    }

    /// Where reading is, to move it (a batch read past lines it forwards none of).
    pub fn reading_mut(&mut self) -> &mut C {
        &mut self.reading
    }

    /// Whether lines wait for delivery.
    pub fn in_flight(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether the last save failed (forwarding waits until one succeeds).
    pub fn unsaved(&self) -> bool {
        self.unsaved
    }

    /// A line (or an entry without one) queued with `ticket`: reading is now at `cursor`,
    /// which is saved once the ticket is delivered.
    pub fn queued(&mut self, ticket: u64, cursor: C) {
        self.reading = cursor.clone();
        self.pending.push_back((ticket, cursor));
    }

    /// Whether a cursor can be written now (the saved one, again): lines go out only then,
    /// so that a restart repeats nothing.
    pub fn writable(&mut self) -> bool {
        let saved = self.saved.clone();
        self.save(saved)
    }

    /// Saves `cursor` (and, the first time, the sign that envmon has read this log).
    /// Returns whether it was saved.
    pub fn save(&mut self, cursor: C) -> bool {
        let written = crate::os::files::write_cursor(
            &self.state_dir.join(self.files.cursor),
            cursor.encode().as_bytes(),
            &self.state_dir.join(self.files.seen),
            format!("envmon has read this {}\n", self.files.what).as_bytes(),
        );
        match written {
            Ok(()) => {
                if self.unsaved {
                    log::info!(
                        "the {} cursor is saved again: forwarding goes on",
                        self.files.what
                    );
                }
                self.unsaved = false;
                self.saved = cursor;
                true
            }
            Err(e) => {
                if !self.unsaved {
                    log::warn!(
                        "cannot save the {} cursor in {}: {e}; the {} is not forwarded until \
                         it can be (its entries stay where they are)",
                        self.files.what,
                        self.state_dir.display(),
                        self.files.what
                    );
                }
                self.unsaved = true;
                false
            }
        }
    }

    /// Starts again from `cursor` (a log cleared by envmon): nothing in flight, saved.
    pub fn restart_at(&mut self, cursor: C) {
        self.pending.clear();
        self.reading = cursor.clone();
        self.save(cursor);
    }

    /// Moves the saved cursor past every line all destinations delivered. Returns true when
    /// the syslog layer was replaced with lines in flight: reading went back to the saved
    /// cursor (the caller reads on from there).
    pub fn commit(&mut self, syslog: &Syslog) -> bool {
        let mut rewound = false;
        if self.syslog_instance != Some(syslog.instance()) {
            if !self.pending.is_empty() {
                log::info!(
                    "syslog destinations replaced: {} {} lines not yet delivered are read again",
                    self.pending.len(),
                    self.files.what
                );
                self.pending.clear();
                self.reading = self.saved.clone();
                rewound = true;
            }
            self.syslog_instance = Some(syslog.instance());
        }
        let delivered = syslog.sel_delivered();
        let mut newest = None;
        while let Some((ticket, _)) = self.pending.front() {
            if *ticket > delivered {
                break;
            }
            newest = self.pending.pop_front().map(|(_, c)| c);
        }
        if let Some(c) = newest {
            if !self.save(c.clone()) {
                // Asked again at the next commit (with whatever was delivered by then).
                self.pending.push_front((0, c));
            }
        }
        rewound
    }
}
