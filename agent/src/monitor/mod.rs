//! The monitor: a board's items bound to their SDR entries, judged sweep by sweep.
//!
//! The judging is the core's pure engine (with every [`Checks`] on: the SDR's sensor range,
//! physical ranges, unconfirmed jumps, flap damping); this module binds items to sensors, runs
//! one Get Sensor Reading per bound item per sweep, and collects the messages to send.
//!
//! Fail loud (docs/board-format.md, "Absent, unavailable, unwatched"):
//! - An item is `absent` only on evidence that its part is not there ([`Presence`]): a
//!   presence sensor of its entity says so, or the BMC does not scan a sensor whose SDR says
//!   to ignore it while its entity is absent. An item that never reads without such evidence
//!   is `unavailable`, a failed update (735010, once).
//! - The board is unwatched, and monitoring degraded, while no CPU temperature (or, where the
//!   board has one, no chassis ambient) reads: 735010 once, and `show environment` says why.

pub mod presence;

use crate::model::{
    BoardView, Item, ItemSource, Named, PciLink, PsuRedundancy, SdrFacts, Shown, Transition,
    Trigger,
};
pub use crate::monitor::presence::Presence;
use crate::monitor::presence::{cpu_named, may_be_unfitted, presence_sensor};
use envmon_board_defs::{Board, Source};
use envmon_core::engine::{
    Checks, Class, Damping, Emission, Limits, Notice, Reading, Redundancy, SensorState, State,
    TempUnit, UpdateFailures, format_reading, message_for, shutdown_for, shutdown_threshold,
    supply_count_says_lost, transition_threshold,
};
use envmon_core::pci::{PciState, check as pci_check};
use envmon_sensors::{
    ipmi::{IpmiError, IpmiSource, Transport, sdr::SdrEntry},
    local::LocalReader,
    redfish::reader::RedfishReader,
    sysfs,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// 735010 at most once a minute while sweeps keep failing.
const UPDATE_FAILURE_INTERVAL_MS: u64 = 60_000;

/// Copies of each confirming read sent at once over a transport that pipelines (RMCP+): at
/// 35% loss each way one copy's round trip fails 58% of the time, three at once 20%.
const CONFIRM_COPIES: usize = 3;

/// Times a confirming read the link lost is asked again before it counts as not
/// confirming (each try is a whole [`Transport::call_first`], retransmissions included).
const CONFIRM_TRIES: usize = 3;

/// The line of a board with no CPU temperature sensor at all (for good: no recovery).
const NO_CPU_SENSOR: &str =
    "the board has no CPU temperature sensor: envmon cannot shut down for CPU heat";

/// The least time within which confirming reads the link lost are asked again.
const CONFIRM_RETRY_MS: u64 = 3_000;

/// One confirming read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reread {
    /// A plausible value.
    Value(f64),
    /// An answer without a plausible value (no reading, out of range, saturated).
    NoValue,
    /// The link or session lost it.
    NoAnswer,
}

/// One sweep's outcome.
#[derive(Debug, Default)]
pub struct Sweep {
    /// Messages to send, in order.
    pub emissions: Vec<Emission>,
    /// Items that could not be read this sweep.
    pub unread: usize,
    /// The link or the session failed ([`IpmiError::needs_new_session`]): reconnect before
    /// the next sweep. The rest of the sweep's IPMI items read as unreadable.
    pub transport_error: Option<IpmiError>,
    /// A sensor entered its shutdown rank: the thermal shutdown it calls for (the first one),
    /// to be confirmed with [`Monitor::confirm`] before it is acted on.
    pub shutdown: Option<Trigger>,
    /// Committed transitions, each with its item as the model shows it after the sweep.
    pub transitions: Vec<Transition>,
    /// What flap damping did, a line each (sent after the emissions).
    pub notices: Vec<String>,
    /// What the sweep's time budget left for the next sweep: Redfish resources not
    /// fetched, or the BMC's items after the protection not read.
    pub left: usize,
}

/// A record 735010 counts as not updated (one failure each, said once).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Record {
    /// The board item at this position.
    Item(usize),
    /// No CPU temperature reads.
    UnwatchedCpu,
    /// The board has no CPU temperature at all: degraded, said once in envmon's own line,
    /// never a 735010 (nothing stopped; see [`Monitor::check_watched`]).
    NoCpuSensor,
    /// No chassis ambient reads.
    UnwatchedAmbient,
    /// The PCI scan failed.
    PciScan,
}

/// How the one irreversible act is confirmed (`shutdown-confirm-readings`,
/// `shutdown-confirm-ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirm {
    /// Fresh readings that must all be at or past the threshold (at least 1).
    pub readings: u32,
    /// The time they span at least.
    pub over: std::time::Duration,
}

/// Where an item's readings come from.
enum Binding {
    /// A BMC sensor (None: not in the SDR repository), and the sensor that says whether its
    /// entity is present, if the BMC has one.
    Ipmi(Option<SdrEntry>, Option<Box<SdrEntry>>),
    /// The board's own buses.
    Local(LocalReader),
    /// A Redfish sensor, by its URI (read through the monitor's [`RedfishReader`]).
    Redfish(String),
}

impl Binding {
    /// The SDR entry of a bound BMC sensor.
    fn entry(&self) -> Option<&SdrEntry> {
        match self {
            Binding::Ipmi(Some(e), _) => Some(e),
            _ => None,
        }
    }
}

/// A sensor of a CPU's parts whose own entity has no presence sensor (a regulator or a rail
/// on the system board entity: Quanta's `Temp_VR_CPU1`, Cisco's `PV_VCCP_CPU2`) takes the
/// presence sensor of that CPU: the CPU temperature item whose label is the number the
/// sensor's name gives (the same number `--board auto` labels CPU items with).
fn borrow_cpu_presence(board: &Board, slots: &mut [Slot]) {
    let cpus: Vec<(String, Box<SdrEntry>)> = board
        .items
        .iter()
        .zip(slots.iter())
        .filter(|(i, _)| i.spec.class == Class::CpuTemp)
        .filter_map(|(i, s)| match &s.binding {
            Binding::Ipmi(Some(_), Some(p)) => Some((i.spec.label.clone(), p.clone())),
            _ => None,
        })
        .collect();
    for (item, slot) in board.items.iter().zip(slots.iter_mut()) {
        if item.spec.class == Class::CpuTemp {
            continue;
        }
        if let Binding::Ipmi(Some(entry), presence @ None) = &mut slot.binding {
            let named = cpu_named(entry);
            if let Some((_, p)) = named.and_then(|n| cpus.iter().find(|(l, _)| *l == n)) {
                *presence = Some(p.clone());
            }
        }
    }
}

/// What the model keeps of an SDR record beyond name and number (ipmi_exporter's labels).
pub fn sdr_facts(e: &SdrEntry) -> SdrFacts {
    SdrFacts {
        record_id: e.record_id,
        sensor_type: e.sensor_type,
        unit: if e.reading_type == envmon_sensors::ipmi::sdr::THRESHOLD_READING {
            envmon_sensors::ipmi::info::unit_name(e.base_unit, e.percentage)
        } else {
            None
        },
    }
}

/// What the monitor keeps of one board item (the slot's index is the item's position).
struct Slot {
    binding: Binding,
    state: SensorState,
    presence: Presence,
    /// The SDR entries of its `also` flags (a supply's failure flags).
    flags: Vec<SdrEntry>,
    /// The unit its source reads in where it is not the class's (a Redfish fan that gives
    /// only `SpeedPercent`: `%`).
    unit: Option<&'static str>,
    /// Its names as the model shows them, made once (a sweep's view copies no string).
    text: std::cell::OnceCell<ItemText>,
}

/// An item's names in the model, shared by every view of it.
struct ItemText {
    id: Arc<str>,
    label: Arc<str>,
    board: Arc<str>,
    sdr: Option<Arc<str>>,
    unit: Arc<str>,
}

/// A board being monitored.
pub struct Monitor {
    board: Board,
    /// One per board item, in the board's order.
    slots: Vec<Slot>,
    sysfs_root: PathBuf,
    pci: Vec<PciState>,
    damping: Option<Damping>,
    /// The Redfish service the Redfish items read from (none: they are unreadable).
    redfish: Option<RedfishReader>,
    /// An item whose shutdown was not confirmed: asked again while it stays at its shutdown
    /// state.
    rearmed: Option<usize>,
    redundancy: Redundancy,
    update_failures: UpdateFailures<Record>,
    unwatched: Vec<String>,
    /// The items said (in envmon's own line) to be not fitted, by position.
    said_not_fitted: BTreeSet<usize>,
    /// The unwatched lines said since monitoring last recovered.
    said_unwatched: BTreeSet<String>,
    /// envmon's own lines to send with the next sweep (what binding found: thresholds the
    /// sensor cannot reach), and those already sent (said once, whatever rebinds).
    pending: Vec<String>,
    said: BTreeSet<String>,
}

/// One read of an item.
#[derive(Debug, Clone, Copy)]
struct Read {
    reading: Reading,
    /// The BMC said it does not scan the sensor.
    not_scanning: bool,
    /// The source answered for this item (a reading or a clean "no reading"), as opposed to
    /// not answering at all.
    answered: bool,
}

impl Read {
    fn none() -> Read {
        Read {
            reading: Reading::Unreadable,
            not_scanning: false,
            answered: false,
        }
    }
}

/// The SDR entry an IPMI source names (the one rule: binding, `board explain` and `board
/// dump` use it). Numbers are unique only per owner, and envmon reads the BMC's own sensors:
/// a number matches the BMC's (owner 0x20, LUN 0) sensor, never a record of system software
/// that reuses it.
pub fn find_sdr<'a>(source: &Source, sdrs: &'a [SdrEntry]) -> Option<&'a SdrEntry> {
    let bmc_owned = |e: &SdrEntry| e.owner_id == 0x20 && e.owner_lun == 0;
    match source {
        Source::IpmiName(n) => sdrs
            .iter()
            .find(|e| e.name == *n && bmc_owned(e))
            .or_else(|| sdrs.iter().find(|e| e.name == *n)),
        Source::IpmiNumber(n) => sdrs.iter().find(|e| e.number == *n && bmc_owned(e)),
        _ => None,
    }
}

/// Whether an item counts as absent: optional, never read, and there is evidence that its
/// part is not there.
fn absent(item: &envmon_board_defs::Item, st: &SensorState, p: &Presence) -> bool {
    item.optional && st.updated_ms.is_none() && matches!(p, Presence::Absent(_))
}

/// Whether an item is taken for not fitted: never read, and [`Presence::NotFitted`].
fn not_fitted(st: &SensorState, p: &Presence) -> bool {
    st.updated_ms.is_none() && matches!(p, Presence::NotFitted(_))
}

/// The state `show environment` shows: `absent` on evidence; `not fitted` as
/// [`Presence::NotFitted`] says; `unavailable` for an item that has not read yet (unknown is
/// never shown as ok).
fn shown(item: &envmon_board_defs::Item, st: &SensorState, p: &Presence) -> Shown {
    if absent(item, st, p) {
        Shown::Absent
    } else if not_fitted(st, p) {
        Shown::NotFitted
    } else if st.updated_ms.is_none() {
        Shown::Is(State::Unavailable)
    } else {
        Shown::Is(st.shown(&item.spec))
    }
}

/// Why an item is shown as it is, when it is not simply read: the evidence of its absence,
/// the fault that keeps it from being judged, or flap damping.
fn why(
    item: &envmon_board_defs::Item,
    st: &SensorState,
    p: &Presence,
    bound: bool,
) -> Option<String> {
    match (shown(item, st, p), p) {
        (Shown::Absent, Presence::Absent(e)) | (Shown::NotFitted, Presence::NotFitted(e)) => {
            Some(e.clone())
        }
        (Shown::Is(State::Unavailable), _) if !bound => {
            Some("matches no sensor in the SDR repository".into())
        }
        (Shown::Is(State::Unavailable), _) => Some(
            st.fault
                .map_or_else(|| "no reading yet".to_string(), |f| f.to_string()),
        ),
        _ if st.is_held() => Some("flapping: held at this state (damped)".into()),
        _ => st
            .fault
            .filter(|f| !matches!(f, envmon_core::engine::Fault::NoReading))
            .map(|f| f.to_string()),
    }
}

fn bind(
    item: &envmon_board_defs::Item,
    sdrs: &[SdrEntry],
    root: &Path,
    notes: &mut Vec<String>,
) -> Binding {
    if let Some(reader) = LocalReader::new(&item.source, root) {
        return Binding::Local(reader);
    }
    if let Source::Redfish(uri) = &item.source {
        return Binding::Redfish(uri.clone());
    }
    let found = find_sdr(&item.source, sdrs).cloned();
    match &found {
        None => notes.push(format!(
            "item {} ({}) matches no sensor in the SDR repository",
            item.id, item.source
        )),
        Some(e) => notes.extend(unit_note(item, e)),
    }
    let presence = found
        .as_ref()
        .and_then(|e| presence_sensor(e, sdrs))
        .map(|p| Box::new(p.clone()));
    Binding::Ipmi(found, presence)
}

impl Monitor {
    /// Binds every item of `board`: IPMI items to their SDR entries, the others to readers
    /// under `sysfs_root`. Returns the monitor and one note per IPMI item that matches no
    /// sensor (it stays unavailable).
    pub fn new(board: Board, sdrs: &[SdrEntry], sysfs_root: &Path) -> (Monitor, Vec<String>) {
        let mut notes = Vec::new();
        let mut slots: Vec<Slot> = board
            .items
            .iter()
            .zip(bind_flags(&board, sdrs))
            .map(|(i, flags)| Slot {
                binding: bind(i, sdrs, sysfs_root, &mut notes),
                state: SensorState::default(),
                presence: Presence::default(),
                flags,
                unit: None,
                text: std::cell::OnceCell::new(),
            })
            .collect();
        borrow_cpu_presence(&board, &mut slots);
        let pci = vec![PciState::default(); board.pci.len()];
        let monitor = Monitor {
            board,
            slots,
            sysfs_root: sysfs_root.to_path_buf(),
            pci,
            damping: Some(Damping::default()),
            redfish: None,
            rearmed: None,
            redundancy: Redundancy::default(),
            update_failures: UpdateFailures::new(UPDATE_FAILURE_INTERVAL_MS),
            unwatched: Vec::new(),
            said_not_fitted: BTreeSet::new(),
            said_unwatched: BTreeSet::new(),
            pending: Vec::new(),
            said: BTreeSet::new(),
        };
        let mut monitor = monitor;
        monitor.note_thresholds();
        (monitor, notes)
    }

    /// Sets flap damping (None: off).
    pub fn set_damping(&mut self, damping: Option<Damping>) {
        self.damping = damping;
    }

    /// Binds the IPMI items again after the SDR repository changed, keeping every judged
    /// state (so nothing already reported is reported again). Returns notes as
    /// [`Monitor::new`].
    pub fn rebind(&mut self, sdrs: &[SdrEntry]) -> Vec<String> {
        let mut notes = Vec::new();
        let flags = bind_flags(&self.board, sdrs);
        for ((item, slot), flags) in self.board.items.iter().zip(&mut self.slots).zip(flags) {
            slot.flags = flags;
            // Its SDR name may change with the binding: the model's names are made again.
            slot.text = std::cell::OnceCell::new();
            if let Binding::Ipmi(entry, presence) = &mut slot.binding {
                *entry = find_sdr(&item.source, sdrs).cloned();
                *presence = entry
                    .as_ref()
                    .and_then(|e| presence_sensor(e, sdrs))
                    .map(|p| Box::new(p.clone()));
                match entry {
                    None => notes.push(format!(
                        "item {} ({}) matches no sensor in the SDR repository",
                        item.id, item.source
                    )),
                    Some(e) => notes.extend(unit_note(item, e)),
                }
            }
        }
        borrow_cpu_presence(&self.board, &mut self.slots);
        self.note_thresholds();
        notes
    }

    /// Queues the lines of [`Monitor::unreachable_thresholds`] not said yet.
    fn note_thresholds(&mut self) {
        for line in self.unreachable_thresholds() {
            if self.said.insert(line.clone()) {
                self.pending.push(line);
            }
        }
    }

    /// The temperature thresholds at or above the top of what their sensor can read (the
    /// SDR's sensor maximum): a reading there is taken for a saturated sensor (a stuck 0xFF
    /// is no temperature), so the threshold can never be reached. Said once at start, with
    /// the record, in envmon's own line (docs/board-format.md, "Thresholds the sensor
    /// cannot reach"); the lower thresholds still act.
    fn unreachable_thresholds(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (item, slot) in self.board.items.iter().zip(&self.slots) {
            let (Some(e), Some((_, top))) = (slot.binding.entry(), slot_range(item, slot)) else {
                continue;
            };
            let Limits::Temperature {
                warm,
                critical,
                shutdown,
            } = item.spec.limits
            else {
                continue;
            };
            let unit = item.spec.unit.as_str();
            let over: Vec<String> = [
                ("warm", warm),
                ("critical", critical),
                ("shutdown", shutdown),
            ]
            .into_iter()
            .filter_map(|(name, t)| t.filter(|t| *t >= top).map(|t| (name, t)))
            .map(|(name, t)| format!("{name} {}", format_reading(t, unit)))
            .collect();
            if over.is_empty() {
                continue;
            }
            let cannot = if shutdown.is_some_and(|t| t >= top) {
                "envmon cannot power off for it"
            } else {
                "it can never be reached"
            };
            out.push(format!(
                "sensor {} (SDR \"{}\" #0x{:02x}): {} at or above the top of what the sensor \
                 reads ({}): a reading there is taken for a saturated sensor, so {cannot}; set \
                 a lower threshold in a board file",
                item.id,
                e.name,
                e.number,
                over.join(", "),
                format_reading(top, unit)
            ));
        }
        out
    }

    /// Whether there is anything to monitor yet: a bound item or a PCI expectation.
    pub fn active(&self) -> bool {
        self.bound() > 0 || !self.board.pci.is_empty()
    }

    /// Whether any item is read through the BMC.
    pub fn needs_bmc(&self) -> bool {
        self.slots
            .iter()
            .any(|s| matches!(s.binding, Binding::Ipmi(..)))
    }

    /// The board.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// Items bound to a sensor (local items always are).
    pub fn bound(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| !matches!(s.binding, Binding::Ipmi(None, _)))
            .count()
    }

    /// Runs one sweep at `now_ms`: one Get Sensor Reading per bound IPMI item (none without
    /// a BMC), one read per local item, and the PCI check. An item that has never read gets
    /// one more read, of its entity's presence sensor, until it reads or is known absent.
    pub fn sweep<T: Transport>(&mut self, src: Option<&mut IpmiSource<T>>, now_ms: u64) -> Sweep {
        self.sweep_within(src, now_ms, None)
    }

    /// [`Monitor::sweep`] within a time budget (`until`): the protection is read first, and
    /// the BMC's other items only while the budget lasts (left for the next sweep
    /// otherwise: [`Sweep::left`]); the Redfish resources past the budget are unread this
    /// sweep and read early at the next.
    pub fn sweep_within<T: Transport>(
        &mut self,
        mut src: Option<&mut IpmiSource<T>>,
        now_ms: u64,
        until: Option<std::time::Instant>,
    ) -> Sweep {
        let mut out = Sweep::default();
        let mut failing = BTreeSet::new();
        self.refresh_redfish(now_ms);
        let bmc_lost = src.is_none() && self.needs_bmc();
        // The protection first: the temperatures that can call for a thermal shutdown are
        // read (one pipelined batch) and judged before the rest, and a sweep that calls for
        // a shutdown leaves the rest for the next one (on a lossy link a batch costs
        // seconds; the shutdown's confirmation should not wait for the fans).
        self.sweep_part(true, src.as_deref_mut(), now_ms, &mut failing, &mut out);
        // Past the budget the BMC is not asked for the rest (the Redfish resources were
        // fetched within it already: those not reached read as unread this sweep).
        let spent = until.is_some_and(|u| std::time::Instant::now() >= u) && src.is_some();
        out.left = self.redfish.as_ref().map_or(0, RedfishReader::behind);
        if out.shutdown.is_none() && !spent {
            self.sweep_part(false, src, now_ms, &mut failing, &mut out);
        } else if spent {
            out.left += self.unprotected();
        }
        self.ask_again(&mut out);
        self.erratic_shutdown(&mut out);
        if self.check_pci(&mut out) {
            failing.insert(Record::PciScan);
        }
        let silent = self.mark_silent_sources(
            (bmc_lost || out.transport_error.is_some())
                && self.has_read(|b| matches!(b, Binding::Ipmi(..))),
        );
        let before = std::mem::take(&mut self.unwatched);
        self.check_watched(silent, &mut failing);
        out.notices.append(&mut self.pending);
        out.notices.extend(self.say_unwatched(&before));
        out.notices.extend(self.say_not_fitted());
        out.unread = failing.len();
        failing.remove(&Record::NoCpuSensor);
        let count = self.supply_count();
        out.emissions
            .extend(self.redundancy.judge(self.redundancy_sensor(), count));
        out.emissions
            .extend(self.update_failures.sweep(&failing, now_ms));
        out
    }

    /// After a sweep in which a source did not answer (the BMC's link or session failed, or
    /// no Redfish resource answered): every item it feeds is unavailable at once, in every
    /// output, rather than showing its last value as current. Returns what did not answer,
    /// as `show environment` says it (empty: every source answered).
    fn mark_silent_sources(&mut self, bmc_lost: bool) -> Vec<String> {
        let redfish_lost = self.redfish.as_ref().is_some_and(|r| !r.answered_any())
            && self.has_read(|b| matches!(b, Binding::Redfish(_)));
        let mut silent = Vec::new();
        if bmc_lost {
            silent.push("the BMC is not answering: its readings are unavailable".to_string());
        }
        if let (true, Some(r)) = (redfish_lost, self.redfish.as_ref()) {
            // A rotated password is said as what it is, with the service's address.
            silent.push(if r.refused() {
                format!(
                    "the Redfish service at {} refuses the user or password (HTTP 401/403): \
                     its readings are unavailable until it accepts them",
                    r.origin()
                )
            } else {
                "the Redfish service is not answering: its readings are unavailable".to_string()
            });
        }
        for slot in &mut self.slots {
            let lost = match slot.binding {
                Binding::Ipmi(Some(_), _) => bmc_lost,
                Binding::Redfish(_) => redfish_lost,
                _ => false,
            };
            if lost {
                slot.state.source_lost();
            }
        }
        silent
    }

    /// Whether an item whose binding `kind` accepts has ever read (a source that never
    /// answered, or is not configured, has not *stopped* answering).
    fn has_read(&self, kind: impl Fn(&Binding) -> bool) -> bool {
        self.slots
            .iter()
            .any(|s| kind(&s.binding) && s.state.updated_ms.is_some())
    }

    /// envmon's own lines for what is unwatched, each said once until monitoring recovers
    /// (a line hidden while the BMC was silent is not said again when it reappears), and one
    /// line when every gap that can close has closed (before this sweep there was one; a
    /// board without a CPU sensor keeps that line for good, and it does not hold the
    /// recovery back).
    fn say_unwatched(&mut self, before: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for w in &self.unwatched {
            if self.said_unwatched.insert(w.clone()) {
                out.push(w.clone());
            }
        }
        let gap = |lines: &[String]| lines.iter().any(|w| w != NO_CPU_SENSOR);
        if gap(before) && !gap(&self.unwatched) {
            out.push("monitoring recovered: every watched part reads again".into());
            self.said_unwatched.retain(|w| w == NO_CPU_SENSOR);
        }
        out
    }

    /// envmon's own line naming the items newly taken for not fitted (said once each, all in
    /// one line), and one per such item that has started to read (monitored from now on).
    fn say_not_fitted(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let mut fresh = Vec::new();
        for (k, (item, slot)) in self.board.items.iter().zip(&self.slots).enumerate() {
            let now = not_fitted(&slot.state, &slot.presence);
            if now && self.said_not_fitted.insert(k) {
                fresh.push(item.id.as_str());
            } else if !now && slot.state.updated_ms.is_some() && self.said_not_fitted.remove(&k) {
                out.push(format!(
                    "sensor {} ({} {}) reads now: monitored from now on",
                    item.id, item.spec.class, item.spec.label
                ));
            }
        }
        if !fresh.is_empty() {
            out.insert(
                0,
                format!(
                    "not fitted (never read, the BMC answering that it has no reading; watched, \
                     and monitored if they read): {}; `envmon board dump` writes a board file \
                     that pins what this server has",
                    fresh.join(", ")
                ),
            );
        }
        out
    }

    /// Judges the item at `position` on this sweep's `reading`: a record not updated is
    /// `failing`; a notice, a transition (its messages, the item as shown after it) and a
    /// shutdown it calls for go into `out` as finished facts.
    fn judge(
        &mut self,
        position: usize,
        reading: Reading,
        now_ms: u64,
        failing: &mut BTreeSet<Record>,
        out: &mut Sweep,
    ) {
        let (Some(item), Some(slot)) =
            (self.board.items.get(position), self.slots.get_mut(position))
        else {
            return;
        };
        let checks = Checks::guarded(slot_range(item, slot), self.damping);
        let unit_of = slot.unit.unwrap_or_else(|| unit(item));
        let st = &mut slot.state;
        let transition = st.step_with(&item.spec, &checks, reading, now_ms);
        // Not updated: no judged value this sweep (an unconfirmed jump did read).
        let updated = st
            .fault
            .is_none_or(|f| matches!(f, envmon_core::engine::Fault::Unconfirmed { .. }));
        if !updated && !absent(item, st, &slot.presence) && !not_fitted(st, &slot.presence) {
            failing.insert(Record::Item(position));
        }
        if let Some(notice) = st.take_notice() {
            let text = notice_text(item, &notice);
            log::warn!("{text}");
            out.notices.push(text);
        }
        let Some(t) = transition else {
            return;
        };
        log::info!("{}: {} -> {}", item.id, t.from, t.to);
        out.emissions
            .extend(message_for(&item.spec, &t).map(|mut e| {
                e.sd = structured_data(item, unit_of, &t);
                e
            }));
        if let (Some(kind), None) = (shutdown_for(&item.spec, &t), &out.shutdown) {
            out.shutdown = Some(trigger(kind, position, item, t.value));
        }
        if let Some(shown) = self.item(position, now_ms) {
            out.transitions.push(Transition {
                position,
                from: Shown::Is(t.from),
                to: Shown::Is(t.to),
                item: shown,
            });
        }
    }

    /// Items that cannot call for a thermal shutdown (read after the protection).
    fn unprotected(&self) -> usize {
        (0..self.slots.len()).filter(|&k| !self.protects(k)).count()
    }

    /// One GET of every Redfish resource the items live in (a sweep's Redfish requests),
    /// those of the protection first.
    fn refresh_redfish(&mut self, now_ms: u64) {
        let Some(r) = self.redfish.as_mut() else {
            return;
        };
        // The items and slots borrowed apart from the reader: no URI copied per sweep.
        let (items, slots) = (&self.board.items, &self.slots);
        let uris = |protection: bool| {
            items
                .iter()
                .zip(slots)
                .filter_map(move |(item, s)| match &s.binding {
                    Binding::Redfish(uri) if protective(item) == protection => Some(uri.as_str()),
                    _ => None,
                })
        };
        r.refresh_urgent_first(uris(true), uris(false), now_ms);
        for e in &r.errors {
            log::debug!("Redfish: {e}");
        }
    }

    /// Reads the board's Redfish items through `reader` from now on.
    pub fn set_redfish(&mut self, reader: RedfishReader) {
        self.redfish = Some(reader);
    }

    /// Whether the last sweep reached the Redfish service (none: the board has no service).
    pub fn redfish_healthy(&self) -> Option<bool> {
        self.redfish.as_ref().map(RedfishReader::healthy)
    }

    /// Whether the item at `position` can call for a thermal shutdown (read first).
    fn protects(&self, position: usize) -> bool {
        self.board.items.get(position).is_some_and(protective)
    }

    /// Reads and judges the items that can call for a thermal shutdown (`protection`), or
    /// the others: their BMC sensors (and failure flags) in one pipelined batch first, then
    /// one item after another.
    fn sweep_part<T: Transport>(
        &mut self,
        protection: bool,
        mut src: Option<&mut IpmiSource<T>>,
        now_ms: u64,
        failing: &mut BTreeSet<Record>,
        out: &mut Sweep,
    ) {
        // A link or session lost by the first part is not asked again by the second.
        if let (Some(src), None) = (src.as_deref_mut(), &out.transport_error) {
            src.prefetch(self.swept_entries(protection));
        }
        for position in 0..self.board.items.len() {
            if self.protects(position) != protection {
                continue;
            }
            let read = self.read_item(position, src.as_deref_mut(), out);
            self.learn_presence(position, read, src.as_deref_mut(), out);
            self.judge(position, read.reading, now_ms, failing, out);
        }
        if let Some(src) = src {
            src.end_prefetch();
        }
    }

    /// The SDR entries a sweep part reads (see [`Monitor::sweep_part`]): each bound item's
    /// sensor and its failure flags.
    fn swept_entries(&self, protection: bool) -> impl Iterator<Item = &SdrEntry> {
        self.slots
            .iter()
            .enumerate()
            .filter(move |(k, _)| self.protects(*k) == protection)
            .flat_map(|(_, s)| s.binding.entry().into_iter().chain(s.flags.iter()))
    }

    /// Whether the item at `position` is judged at its shutdown state.
    pub fn at_shutdown(&self, position: usize) -> bool {
        match (self.board.items.get(position), self.slots.get(position)) {
            (Some(item), Some(slot)) => slot.state.judged(&item.spec) == State::Shutdown,
            _ => false,
        }
    }

    /// Asks for the shutdown of the item at `position` again at the next sweeps while it stays
    /// at its shutdown state (an action that did not take: a BMC that did not power its host
    /// off).
    pub fn ask_again_for(&mut self, position: usize) {
        self.rearmed = Some(position);
    }

    /// The shutdown that was not confirmed is asked for again while its item stays at the
    /// shutdown state and reads; it is forgotten once the item leaves that state.
    fn ask_again(&mut self, out: &mut Sweep) {
        let Some(p) = self.rearmed else {
            return;
        };
        let (Some(item), Some(st)) = (self.board.items.get(p), self.slots.get(p).map(|s| &s.state))
        else {
            self.rearmed = None;
            return;
        };
        // Judged at shutdown and read now (an erratic sensor's judged samples count: its
        // glitches are not a reading that says the part cooled).
        let reads = st.fault.is_none()
            || matches!(st.fault, Some(envmon_core::engine::Fault::Erratic { .. }));
        if st.judged(&item.spec) != State::Shutdown {
            self.rearmed = None;
        } else if out.shutdown.is_none() && reads {
            out.shutdown = envmon_core::engine::ShutdownKind::for_class(item.spec.class)
                .map(|kind| trigger(kind, p, item, st.value));
        }
    }

    /// An erratic sensor whose newest sample jumped past its shutdown threshold: the direct
    /// confirmation decides whether the rise behind the glitches is real. Asked after the
    /// sweep (the rest of the board is read as usual: the candidate is not a committed
    /// shutdown).
    fn erratic_shutdown(&self, out: &mut Sweep) {
        if out.shutdown.is_some() {
            return;
        }
        out.shutdown = self
            .board
            .items
            .iter()
            .zip(&self.slots)
            .enumerate()
            .find_map(|(k, (item, slot))| {
                let kind = envmon_core::engine::ShutdownKind::for_class(item.spec.class)?;
                let v = slot.state.unconfirmed_shutdown(&item.spec)?;
                Some(trigger(kind, k, item, Some(v)))
            });
    }

    /// One read of the item at `position`: its reading (a temperature in the board's unit),
    /// whether the BMC said it does not scan the sensor, and whether the source answered at
    /// all.
    fn read_item<T: Transport>(
        &mut self,
        position: usize,
        src: Option<&mut IpmiSource<T>>,
        out: &mut Sweep,
    ) -> Read {
        let mut read = self.read_source(position, src, out);
        if let (Some(item), Some(slot)) = (self.board.items.get(position), self.slots.get(position))
        {
            read.reading = in_board_unit(item, slot, read.reading);
        }
        read
    }

    /// [`Monitor::read_item`] in the unit its source reads in.
    fn read_source<T: Transport>(
        &mut self,
        position: usize,
        src: Option<&mut IpmiSource<T>>,
        out: &mut Sweep,
    ) -> Read {
        let Some(Slot { binding, flags, .. }) = self.slots.get_mut(position) else {
            return Read::none();
        };
        match binding {
            Binding::Local(reader) => Read {
                reading: reader.read(),
                ..Read::none()
            },
            Binding::Redfish(uri) => match self.redfish.as_ref() {
                Some(r) => Read {
                    reading: r.reading(uri),
                    not_scanning: false,
                    answered: r.answered(uri),
                },
                None => Read::none(),
            },
            Binding::Ipmi(Some(entry), _) => match (src, &out.transport_error) {
                (Some(src), None) => {
                    let (main, not_scanning, answered) = match src.read_scan(entry) {
                        Ok((r, n)) => (r, n, true),
                        Err(e) => {
                            if e.needs_new_session() {
                                out.transport_error = Some(e);
                            }
                            (Reading::Unreadable, false, false)
                        }
                    };
                    Read {
                        reading: with_flags(main, flags, src, out),
                        not_scanning,
                        answered: answered && out.transport_error.is_none(),
                    }
                }
                _ => Read::none(),
            },
            Binding::Ipmi(None, _) => Read::none(),
        }
    }

    /// What this sweep taught about whether the item's part is there (see [`Presence`]).
    fn learn_presence<T: Transport>(
        &mut self,
        position: usize,
        read: Read,
        src: Option<&mut IpmiSource<T>>,
        out: &mut Sweep,
    ) {
        let (Some(item), Some(Slot { state, binding, .. })) =
            (self.board.items.get(position), self.slots.get(position))
        else {
            return;
        };
        let Read {
            reading,
            not_scanning,
            answered,
        } = read;
        // Never read, no evidence either way, the source answering cleanly: not fitted, if
        // the item may be (see [`may_be_unfitted`]).
        let unfitted = |what: &str| {
            (answered && may_be_unfitted(item)).then(|| {
                Presence::NotFitted(format!(
                    "never read since envmon started ({what}); found by --board auto and \
                     taken for a part this server does not have: monitored once it reads"
                ))
            })
        };
        let learned = if reading != Reading::Unreadable {
            Presence::Present
        } else if state.updated_ms.is_some() || !item.optional {
            // It has read before (a part that was there is not "absent" now), or it is required.
            return;
        } else {
            match binding {
                Binding::Local(_) => Presence::Absent(
                    "optional, and its device is not there on the board's bus".into(),
                ),
                Binding::Redfish(uri) => {
                    match self.redfish.as_ref().and_then(|r| r.not_in_use(uri)) {
                        Some(state) => Presence::Absent(format!(
                            "the Redfish service says its State is {state}"
                        )),
                        None => match unfitted("the service gives it no reading") {
                            Some(p) => p,
                            None => return,
                        },
                    }
                }
                Binding::Ipmi(None, _) => return,
                Binding::Ipmi(Some(entry), presence) => {
                    match presence_said(presence.as_deref(), src, out) {
                        Some((true, _)) => Presence::Present,
                        Some((false, name)) => Presence::Absent(format!(
                            "the BMC's presence sensor {name} says its part is absent"
                        )),
                        None if not_scanning && entry.ignore_if_absent => Presence::Absent(
                            "not scanned by the BMC, and its SDR says to ignore it while its \
                             part is absent"
                                .into(),
                        ),
                        None => unfitted(if not_scanning {
                            "the BMC does not scan it"
                        } else {
                            "the BMC answers that it has no reading"
                        })
                        .unwrap_or(Presence::Unknown),
                    }
                }
            }
        };
        if let Some(s) = self.slots.get_mut(position) {
            s.presence = learned;
        }
    }

    /// Whether the board is watched: some CPU temperature reads, and where the board has
    /// chassis ambients, one reads. Each gap is a failing key for 735010 and a line of
    /// `show environment` (and once, envmon's own syslog line). A source that does not
    /// answer (`silent`) is the one line said for it, its parts' gaps following from it. A
    /// board with no CPU temperature at all is degraded and says so, but nothing stopped
    /// working there: no 735010.
    fn check_watched(&mut self, silent: Vec<String>, failing: &mut BTreeSet<Record>) {
        let reads = |class: Class| {
            self.board.items.iter().zip(&self.slots).any(|(i, s)| {
                i.spec.class == class && s.state.value.is_some() && !s.state.is_unavailable()
            })
        };
        let has = |class: Class| self.board.items.iter().any(|i| i.spec.class == class);
        let mut lines = silent;
        let said = !lines.is_empty();
        if !has(Class::CpuTemp) {
            failing.insert(Record::NoCpuSensor);
            lines.push(NO_CPU_SENSOR.into());
        } else if !reads(Class::CpuTemp) {
            failing.insert(Record::UnwatchedCpu);
            if !said {
                lines.push(
                    "no CPU temperature is readable: envmon cannot shut down for CPU heat".into(),
                );
            }
        }
        if has(Class::ChassisAmbient) && !reads(Class::ChassisAmbient) {
            failing.insert(Record::UnwatchedAmbient);
            if !said {
                lines.push("no chassis ambient temperature is readable".into());
            }
        }
        self.unwatched = lines;
    }

    /// What the supplies' count says of redundancy: the supplies judged OK now, and those
    /// never read (unknown, not failed), against the board's need
    /// ([`supply_count_says_lost`]).
    fn supply_count(&self) -> Option<bool> {
        let (mut ok, mut unknown) = (0, 0);
        for (i, s) in self.board.items.iter().zip(&self.slots) {
            if i.spec.class != Class::Psu {
                continue;
            }
            match (s.state.updated_ms, s.state.judged(&i.spec)) {
                (None, _) => unknown += 1,
                (Some(_), State::Ok) => ok += 1,
                (Some(_), _) => {}
            }
        }
        supply_count_says_lost(ok, unknown, self.board.min_psus)
    }

    /// What the BMC's redundancy sensor says: lost or not (None: none, or it has not read).
    fn redundancy_sensor(&self) -> Option<bool> {
        self.board
            .items
            .iter()
            .zip(&self.slots)
            .find(|(i, _)| i.spec.class == Class::PsuRedundancy)
            .filter(|(_, s)| s.state.updated_ms.is_some())
            .map(|(i, s)| s.state.judged(&i.spec) != State::Ok)
    }

    /// Before the one irreversible act: the trigger's sensor read again, directly (not
    /// through a sweep; a Redfish item's resource fetched afresh), `rule.readings` times
    /// over at least `rule.over`, `wait` sleeping between reads (it keeps the watchdog fed)
    /// and `now` the clock. Confirmed when every reading is plausible and at or past the
    /// threshold; otherwise judging goes on, and the shutdown is asked again while the
    /// sensor stays at its shutdown state.
    pub fn confirm<T: Transport>(
        &mut self,
        t: &Trigger,
        mut src: Option<&mut IpmiSource<T>>,
        rule: Confirm,
        wait: &mut dyn FnMut(std::time::Duration),
        now: &dyn Fn() -> u64,
    ) -> bool {
        let n = rule.readings.max(1);
        let gap = rule.over / n.saturating_sub(1).max(1);
        let mut seen = Vec::with_capacity(n as usize);
        // Reads the link lost are asked again only within this budget (a dead BMC must not
        // hold the loop: each try may cost a request's deadline and a session's setup).
        let budget = u64::try_from(rule.over.as_millis())
            .unwrap_or(u64::MAX)
            .max(CONFIRM_RETRY_MS);
        let until = now().saturating_add(budget);
        for k in 0..n {
            if k > 0 {
                wait(gap);
            }
            // A read the link lost is asked again at once (a few times): loss is no
            // evidence about the temperature, and waiting for the next sweep costs seconds.
            let mut v = Reread::NoAnswer;
            for _ in 0..CONFIRM_TRIES {
                v = self.reread(t.position, src.as_deref_mut(), now());
                if v != Reread::NoAnswer || now() >= until {
                    break;
                }
            }
            let v = match v {
                Reread::Value(v) => Some(v),
                Reread::NoValue | Reread::NoAnswer => None,
            };
            seen.push(v);
            if !v.is_some_and(|v| v >= t.threshold) {
                log::warn!(
                    "thermal shutdown for {} not confirmed: reading {} of {n} was {} (threshold \
                     {}); judging goes on",
                    t.sensor,
                    k + 1,
                    v.map_or_else(
                        || "no plausible value".to_string(),
                        |v| format_reading(v, &t.unit)
                    ),
                    format_reading(t.threshold, &t.unit)
                );
                self.rearmed = Some(t.position);
                return false;
            }
        }
        let values: Vec<String> = seen
            .iter()
            .flatten()
            .map(|v| format_reading(*v, &t.unit))
            .collect();
        log::warn!(
            "thermal shutdown for {} confirmed by {n} fresh readings: {}",
            t.sensor,
            values.join(", ")
        );
        true
    }

    /// One direct read of the item at `position`: its value when it reads a plausible
    /// number now. A BMC sensor is asked [`CONFIRM_COPIES`] times at once, the first answer
    /// taken ([`IpmiSource::read_first`]).
    fn reread<T: Transport>(
        &mut self,
        position: usize,
        src: Option<&mut IpmiSource<T>>,
        now_ms: u64,
    ) -> Reread {
        let mut scratch = Sweep::default();
        let binding = self.slots.get(position).map(|s| &s.binding);
        // A Redfish item: a fresh GET of its resource, not the sweep's answer again.
        if let (Some(Binding::Redfish(uri)), Some(r)) = (binding, self.redfish.as_mut()) {
            r.refresh([uri.as_str()], now_ms);
        }
        let reading = match (binding, src) {
            (Some(Binding::Ipmi(Some(entry), _)), Some(src)) => {
                match src.read_first(entry, CONFIRM_COPIES) {
                    // In the board's unit, as a sweep's reading (`read_item`).
                    Ok(r) => match (self.board.items.get(position), self.slots.get(position)) {
                        (Some(item), Some(slot)) => in_board_unit(item, slot, r),
                        _ => r,
                    },
                    Err(e) if e.needs_new_session() => return Reread::NoAnswer,
                    Err(_) => Reading::Unreadable,
                }
            }
            (_, src) => self.read_item(position, src, &mut scratch).reading,
        };
        let (Reading::Value(v), Some(item)) = (reading, self.board.items.get(position)) else {
            return Reread::NoValue;
        };
        let checks = Checks::guarded(
            self.slots.get(position).and_then(|s| slot_range(item, s)),
            None,
        );
        match envmon_core::engine::implausible(&item.spec, &checks, v) {
            None => Reread::Value(v),
            Some(_) => Reread::NoValue,
        }
    }

    /// The PCI expectations against the bus (743000/743004). Returns whether the scan failed
    /// (a record not updated).
    fn check_pci(&mut self, out: &mut Sweep) -> bool {
        if !self.board.pci.is_empty() {
            match sysfs::pci_scan(&self.sysfs_root, &self.board.pci) {
                Ok(found) => {
                    let root = &self.sysfs_root;
                    let names = |v: u16, d: u16| sysfs::pci_names(root, v, d);
                    for ((e, st), dev) in self.board.pci.iter().zip(&mut self.pci).zip(found.iter())
                    {
                        out.emissions.extend(pci_check(e, st, dev.as_ref(), &names));
                    }
                }
                Err(e) => {
                    log::warn!("PCI: {e}");
                    return true;
                }
            }
        }
        false
    }

    /// Takes the units the Redfish service reads its sensors in: a fan that gives only a
    /// percentage (`SpeedPercent` without `SpeedRPM`) is shown and exported in `%`.
    pub fn set_redfish_units(&mut self, sensors: &[envmon_board_defs::redfish::RfSensor]) {
        for (item, slot) in self.board.items.iter().zip(self.slots.iter_mut()) {
            let Binding::Redfish(uri) = &slot.binding else {
                continue;
            };
            // `SpeedPercent` of a `Fan`, `ReadingUnits: Percent` of a deprecated `Thermal` fan.
            let percent = sensors
                .iter()
                .any(|s| s.uri == *uri && s.reading_type.as_deref() == Some("Percent"));
            if percent && matches!(item.spec.limits, Limits::Fan { .. }) {
                slot.unit = Some("%");
                slot.text = std::cell::OnceCell::new();
            }
        }
    }

    /// Whether redundancy is lost (`None`: not checked or not evaluated yet).
    pub fn redundancy_lost(&self) -> Option<bool> {
        self.redundancy.lost()
    }

    /// Why the board is not fully watched, after the last sweep (empty: it is).
    pub fn unwatched(&self) -> &[String] {
        &self.unwatched
    }

    /// The board's part of the model after the last sweep ([`BoardView`]).
    pub fn view(&self, now_ms: u64) -> BoardView {
        BoardView {
            name: self.board.name.clone(),
            sensors: (0..self.slots.len())
                .filter_map(|k| self.item(k, now_ms))
                .collect(),
            pci: self.pci_links(),
            psu_redundancy: PsuRedundancy::from_lost(self.redundancy_lost()),
            unwatched: self.unwatched.clone(),
        }
    }

    /// The item at `position` in the board, as the model shows it.
    fn item(&self, position: usize, now_ms: u64) -> Option<Item> {
        let item = self.board.items.get(position)?;
        let Slot {
            state: st,
            binding,
            presence,
            unit: unit_override,
            text,
            ..
        } = self.slots.get(position)?;
        let shown = shown(item, st, presence);
        let bound = !matches!(binding, Binding::Ipmi(None, _));
        let text = text.get_or_init(|| ItemText {
            id: item.id.as_str().into(),
            label: item.spec.label.as_str().into(),
            board: item.source.to_string().into(),
            sdr: binding.entry().map(|e| e.name.as_str().into()),
            unit: unit_override.unwrap_or_else(|| unit(item)).into(),
        });
        Some(Item {
            age_ms: st.updated_ms.map(|t| now_ms.saturating_sub(t)),
            class: item.spec.class,
            id: text.id.clone(),
            label: text.label.clone(),
            limits: item.spec.limits,
            source: ItemSource {
                board: text.board.clone(),
                number: binding.entry().map(|e| e.number),
                sdr: text.sdr.clone(),
            },
            sdr: binding.entry().map(sdr_facts),
            state: shown,
            why: why(item, st, presence, bound),
            unit: text.unit.clone(),
            value: match shown {
                Shown::Absent | Shown::NotFitted | Shown::Is(State::Unavailable) => None,
                Shown::Is(_) => st.value,
            },
        })
    }

    /// The PCI expectations and what the bus showed at the last sweep.
    fn pci_links(&self) -> Vec<PciLink> {
        use envmon_core::pci::format_speed;
        self.board
            .pci
            .iter()
            .zip(&self.pci)
            .map(|(e, st)| PciLink {
                address: st.seen.as_ref().map(|d| d.address.clone()),
                device: format!("0x{:04x}", e.device),
                expected_speed: e.speed.map(format_speed),
                expected_width: e.width,
                id: e.id.clone(),
                required: e.required,
                speed: st.seen.as_ref().and_then(|d| d.speed).map(format_speed),
                state: st.status(e),
                vendor: format!("0x{:04x}", e.vendor),
                width: st.seen.as_ref().and_then(|d| d.width),
            })
            .collect()
    }

    /// A plain table of the readings (for `envmon poll`).
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<16} {:<16} {:<6} {:>10} {:<4} {}\n",
            "ID", "CLASS", "LABEL", "VALUE", "UNIT", "STATE"
        );
        for (item, slot) in self.board.items.iter().zip(&self.slots) {
            let (st, p) = (&slot.state, &slot.presence);
            let value = match (st.is_unavailable(), st.value) {
                (false, Some(v)) => format!("{v:.2}"),
                _ => "-".into(),
            };
            out.push_str(&format!(
                "{:<16} {:<16} {:<6} {:>10} {:<4} {}\n",
                item.id,
                item.spec.class.name(),
                item.spec.label,
                value,
                slot.unit.unwrap_or_else(|| unit(item)),
                shown(item, st, p).name()
            ));
        }
        out
    }
}

/// What the entity's presence sensor says (`true`: there), with its name; `None` when there
/// is none, it says nothing, or the link failed (noted in `out`).
fn presence_said<T: Transport>(
    presence: Option<&SdrEntry>,
    src: Option<&mut IpmiSource<T>>,
    out: &mut Sweep,
) -> Option<(bool, String)> {
    let (Some(p), Some(src), None) = (presence, src, &out.transport_error) else {
        return None;
    };
    match src.presence(p) {
        Ok(said) => said.map(|s| (s, p.name.clone())),
        Err(e) => {
            if e.needs_new_session() {
                out.transport_error = Some(e);
            }
            None
        }
    }
}

/// The sensor range of an IPMI-bound slot (the SDR's minimum and maximum reading), a
/// temperature's in the board's unit.
fn slot_range(item: &envmon_board_defs::Item, slot: &Slot) -> Option<(f64, f64)> {
    let (low, high) = slot.binding.entry()?.range?;
    let c = |v| to_board_unit(item, slot, v);
    Some((c(low), c(high)))
}

/// The unit a slot's temperatures come in: an IPMI threshold sensor's SDR says (base unit
/// degrees C or F); hwmon, the board's I2C drivers and Redfish (`Cel`) read in C. An SDR in
/// another unit is said at binding ([`unit_note`]) and read as it is.
fn source_unit(item: &envmon_board_defs::Item, slot: &Slot) -> TempUnit {
    match slot.binding.entry() {
        Some(e) => sdr_temp_unit(e).unwrap_or(item.spec.unit),
        None => TempUnit::C,
    }
}

/// The temperature unit a threshold SDR reads in, if it reads one.
fn sdr_temp_unit(e: &SdrEntry) -> Option<TempUnit> {
    use envmon_sensors::ipmi::sdr::{THRESHOLD_READING, UNIT_DEGREES_C, UNIT_DEGREES_F};
    match (e.reading_type, e.base_unit, e.percentage) {
        (THRESHOLD_READING, UNIT_DEGREES_C, false) => Some(TempUnit::C),
        (THRESHOLD_READING, UNIT_DEGREES_F, false) => Some(TempUnit::F),
        _ => None,
    }
}

/// A value of the item's source in the board's unit: a temperature converted (a board in F
/// over a sensor in C, or the reverse), any other value as it is.
fn to_board_unit(item: &envmon_board_defs::Item, slot: &Slot, v: f64) -> f64 {
    match item.spec.limits {
        Limits::Temperature { .. } => source_unit(item, slot).convert(v, item.spec.unit),
        _ => v,
    }
}

/// A reading in the board's unit (see [`to_board_unit`]).
fn in_board_unit(item: &envmon_board_defs::Item, slot: &Slot, reading: Reading) -> Reading {
    match reading {
        Reading::Value(v) => Reading::Value(to_board_unit(item, slot, v)),
        other => other,
    }
}

/// What binding says of a temperature item whose threshold SDR reads in no temperature
/// unit (a board whose `source` names a voltage or a fan): its readings are judged as they
/// are, against thresholds in degrees.
fn unit_note(item: &envmon_board_defs::Item, e: &SdrEntry) -> Option<String> {
    if !matches!(item.spec.limits, Limits::Temperature { .. })
        || e.reading_type != envmon_sensors::ipmi::sdr::THRESHOLD_READING
        || sdr_temp_unit(e).is_some()
    {
        return None;
    }
    let unit = envmon_sensors::ipmi::info::unit_name(e.base_unit, e.percentage)
        .map_or_else(|| format!("base unit {}", e.base_unit), str::to_string);
    Some(format!(
        "item {} ({}) is a temperature in {}, but its sensor \"{}\" reads in {unit}, not in \
         degrees C or F: its readings are judged as they are; check the item's source",
        item.id,
        item.source,
        item.spec.unit.as_str(),
        e.name
    ))
}

/// Per item, the SDR entries its `also` sources name (those found).
fn bind_flags(board: &Board, sdrs: &[SdrEntry]) -> Vec<Vec<SdrEntry>> {
    board
        .items
        .iter()
        .map(|i| {
            i.also
                .iter()
                .filter_map(|s| find_sdr(s, sdrs).cloned())
                .collect()
        })
        .collect()
}

/// A supply's reading with its failure flags: any flag failed fails it; otherwise its own
/// status speaks (and, where it has none that reads, the flags all reading fine do).
fn with_flags<T: Transport>(
    main: Reading,
    flags: &[SdrEntry],
    src: &mut IpmiSource<T>,
    out: &mut Sweep,
) -> Reading {
    if flags.is_empty() || out.transport_error.is_some() {
        return main;
    }
    let mut all_good = true;
    for f in flags {
        match src.read(f) {
            Ok(Reading::Bad) => return Reading::Bad,
            Ok(Reading::Good) => {}
            Ok(_) => all_good = false,
            Err(e) => {
                if e.needs_new_session() {
                    out.transport_error = Some(e);
                }
                return Reading::Unreadable;
            }
        }
    }
    match main {
        Reading::Unreadable if all_good => Reading::Good,
        other => other,
    }
}

/// Whether `item` can call for a thermal shutdown (its class has one: read first).
fn protective(item: &envmon_board_defs::Item) -> bool {
    envmon_core::engine::ShutdownKind::for_class(item.spec.class).is_some()
}

/// The thermal shutdown of `item` at `position`, reading `value`.
fn trigger(
    kind: envmon_core::engine::ShutdownKind,
    position: usize,
    item: &envmon_board_defs::Item,
    value: Option<f64>,
) -> Trigger {
    Trigger {
        kind,
        position,
        sensor: item.id.clone(),
        label: item.spec.label.clone(),
        reading: value.unwrap_or(f64::NAN),
        threshold: shutdown_threshold(&item.spec).unwrap_or(f64::NAN),
        unit: item.spec.unit.as_str().into(),
    }
}

/// What an RFC 5424 frame about `item`'s transition carries (docs/syslog.md): the sensor,
/// its class and label, the value and unit, the threshold reached or cleared, the state.
fn structured_data(
    item: &envmon_board_defs::Item,
    unit_of: &str,
    t: &envmon_core::engine::Transition,
) -> Vec<(&'static str, String)> {
    let number = |v: f64| {
        let r = (v * 1000.0).round() / 1000.0;
        format!("{r}")
    };
    let mut sd = vec![
        ("sensor", item.id.clone()),
        ("class", item.spec.class.name().to_string()),
        ("label", item.spec.label.clone()),
    ];
    if let Some(v) = t.value {
        sd.push(("value", number(v)));
    }
    sd.push(("unit", unit_of.to_string()));
    if let Some((_, th)) = transition_threshold(&item.spec.limits, t.from, t.to, t.value) {
        sd.push(("threshold", number(th)));
    }
    sd.push(("state", t.to.name().to_string()));
    sd
}

/// The line that says what flap damping did to `item` (docs/syslog.md, "Flapping
/// sensors").
fn notice_text(item: &envmon_board_defs::Item, notice: &Notice) -> String {
    match notice {
        Notice::Damped {
            changes,
            window_ms,
            held,
            quiet_ms,
        } => format!(
            "sensor {} ({} {}) is flapping: {changes} changes in {} s; held at {held} until it \
             is steady for {} s",
            item.id,
            item.spec.class,
            item.spec.label,
            window_ms / 1000,
            quiet_ms / 1000
        ),
        Notice::Released { held } => format!(
            "sensor {} ({} {}) is steady again: no longer held at {held}",
            item.id, item.spec.class, item.spec.label
        ),
    }
}

fn unit(item: &envmon_board_defs::Item) -> &'static str {
    match item.spec.limits {
        Limits::Temperature { .. } => item.spec.unit.as_str(),
        Limits::Fan { .. } => "RPM",
        Limits::Voltage { .. } => "V",
        Limits::Discrete => "-",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envmon_sensors::ipmi::command::{Command as _, GetSensorReading as Gsr};
    use envmon_sensors::ipmi::fake::{FakeBmc, FakeTransport, threshold_record};

    const CPU: u8 = 1;

    fn sweep(
        m: &mut Monitor,
        bmc: &FakeBmc,
        src: &mut IpmiSource<FakeTransport>,
        raw: u8,
        now: u64,
    ) -> Sweep {
        bmc.set(CPU, raw);
        m.sweep(Some(src), now)
    }

    /// A monitor of `board` (a board file's text) over a BMC with one CPU temperature
    /// (number [`CPU`], 1 C per count) reading `raw` and one fan (`FAN1`, 5000 RPM); its
    /// source.
    fn cpu_monitor(bmc: &FakeBmc, board: &str, raw: u8) -> (Monitor, IpmiSource<FakeTransport>) {
        bmc.state().records = vec![
            threshold_record(1, CPU, "CPU0 Temp", 0x01, (0x03, 1), 1, [None; 6]),
            threshold_record(2, 7, "FAN1", 0x04, (0x1d, 1), 50, [None; 6]),
        ];
        bmc.set(CPU, raw);
        bmc.set(7, 100);
        monitor_of(bmc, board)
    }

    /// A monitor of `board` (a board file's text) over the records `bmc` holds, every item
    /// bound; its source.
    fn monitor_of(bmc: &FakeBmc, board: &str) -> (Monitor, IpmiSource<FakeTransport>) {
        let sdrs = load(bmc);
        let board = envmon_board_defs::parse(Path::new("b.toml"), board).unwrap();
        let (m, notes) = Monitor::new(board, &sdrs, Path::new("/nonexistent"));
        assert!(notes.is_empty(), "{notes:?}");
        (m, IpmiSource::new(bmc.transport()))
    }

    /// Issue 30: a sweep hands back finished facts (each transition with its item as shown
    /// after it; the trigger of a shutdown), and the monitor confirms the trigger itself:
    /// unconfirmed, it is asked again at the next sweep while the sensor stays there.
    #[test]
    fn a_sweep_returns_finished_facts_and_the_monitor_confirms_its_trigger() {
        let bmc = FakeBmc::default();
        let (mut m, mut src) = cpu_monitor(
            &bmc,
            "name = \"b\"\n[defaults]\ndebounce = 1\n[[item]]\nid = \"cpu0\"\n\
             class = \"cpu_temp\"\nlabel = \"0\"\nsource = \"ipmi:CPU0 Temp\"\nwarm = 75\n\
             critical = 90\nshutdown = 95\n",
            40,
        );
        let src = &mut src;
        sweep(&mut m, &bmc, src, 40, 0);
        // 80 C twice (a jump waits for a second reading): warm, the item shown warm.
        sweep(&mut m, &bmc, src, 80, 1000);
        let s = sweep(&mut m, &bmc, src, 80, 2000);
        let t: Vec<(usize, Shown, Shown, Shown)> = s
            .transitions
            .iter()
            .map(|t| (t.position, t.from, t.to, t.item.state))
            .collect();
        let warm = Shown::Is(State::Warm);
        assert_eq!(t, [(0, Shown::Is(State::Ok), warm, warm)]);
        assert_eq!(s.transitions[0].item.value, Some(80.0));
        // 96 C: the shutdown state (at once, or after a second reading if it is a jump).
        let trigger = sweep(&mut m, &bmc, src, 96, 3000)
            .shutdown
            .or_else(|| sweep(&mut m, &bmc, src, 96, 4000).shutdown)
            .expect("the shutdown state calls for a shutdown");
        assert_eq!((trigger.position, trigger.threshold), (0, 95.0));
        let rule = Confirm {
            readings: 3,
            over: std::time::Duration::ZERO,
        };
        let mut waited = 0;
        bmc.state()
            .next_readings
            .push((CPU, [96, 60].into_iter().collect()));
        let confirmed = m.confirm(
            &trigger,
            Some(&mut *src),
            rule,
            &mut |_| waited += 1,
            &|| 5000,
        );
        assert!(!confirmed, "the second fresh reading is 60 C");
        assert_eq!(waited, 1);
        let again = sweep(&mut m, &bmc, src, 96, 6000);
        assert_eq!(again.shutdown.map(|t| t.position), Some(0), "asked again");
        let confirmed = m.confirm(&trigger, Some(&mut *src), rule, &mut |_| {}, &|| 7000);
        assert!(confirmed, "three fresh readings at 96 C");
    }

    /// The SDR entries of `bmc`, as the agent loads them.
    fn load(bmc: &FakeBmc) -> Vec<SdrEntry> {
        let dir = tempfile::tempdir().unwrap();
        let mut t = bmc.transport();
        crate::source::bmc::load_sdrs(&mut t, dir.path()).unwrap().0
    }

    /// An auto board on a BMC with a CPU temperature (1) and two fans (2, 3), `fan` not
    /// scanning; its monitor and source.
    fn auto_with_silent_fan(
        bmc: &FakeBmc,
        cpu: bool,
    ) -> (Monitor, IpmiSource<FakeTransport>, Vec<SdrEntry>) {
        let mut records = vec![
            threshold_record(2, 2, "FAN2", 0x04, (0x1d, 2), 50, [None; 6]),
            threshold_record(3, 3, "FAN3", 0x04, (0x1d, 3), 50, [None; 6]),
        ];
        if cpu {
            records.push(threshold_record(
                1,
                CPU,
                "CPU0 Temp",
                0x01,
                (0x03, 1),
                1,
                [None; 6],
            ));
        }
        bmc.state().records = records;
        bmc.set(CPU, 40);
        bmc.set(2, 100);
        bmc.state().not_scanning.push(3);
        let sdrs = load(bmc);
        let sensors: Vec<_> = sdrs.iter().map(SdrEntry::to_sdr_sensor).collect();
        let (board, _) = envmon_board_defs::auto_board(&sensors, None);
        let (m, _) = Monitor::new(board, &sdrs, Path::new("/nonexistent"));
        (m, IpmiSource::new(bmc.transport()), sdrs)
    }

    fn state_of(m: &Monitor, id: &str) -> Shown {
        m.view(0)
            .sensors
            .iter()
            .find(|x| &*x.id == id)
            .map(|x| x.state)
            .unwrap_or_else(|| panic!("no item {id}"))
    }

    fn ids(s: &Sweep) -> Vec<u32> {
        s.emissions.iter().map(|e| e.id).collect()
    }

    /// Issue 31: what `--board auto` found and never read, the BMC answering cleanly, is not
    /// fitted: shown so, named once in envmon's own line, no 735010, the board running. It
    /// is watched: once it reads it is monitored (said once), and when it stops after that
    /// it is a failed update (735010).
    #[test]
    fn what_never_read_on_an_auto_board_is_not_fitted_and_watched() {
        let bmc = FakeBmc::default();
        let (mut m, mut src, _) = auto_with_silent_fan(&bmc, true);
        let first = m.sweep(Some(&mut src), 0);
        assert_eq!(state_of(&m, "fan3"), Shown::NotFitted);
        assert!(ids(&first).is_empty(), "{:?}", first.emissions);
        assert_eq!(first.unread, 0);
        assert_eq!(first.notices.len(), 1, "{:?}", first.notices);
        assert!(first.notices[0].starts_with("not fitted") && first.notices[0].contains("fan3"));
        for k in 1..4 {
            let s = m.sweep(Some(&mut src), k * 1000);
            assert!(
                ids(&s).is_empty() && s.notices.is_empty(),
                "said once: {s:?}"
            );
        }
        // It starts to read: monitored from now on.
        bmc.state().not_scanning.clear();
        bmc.set(3, 100);
        let s = m.sweep(Some(&mut src), 5000);
        assert_eq!(state_of(&m, "fan3"), Shown::Is(State::Ok));
        assert_eq!(s.notices.len(), 1);
        assert!(s.notices[0].contains("reads now"), "{:?}", s.notices);
        // It stops: a record that read and stopped is a failed update.
        bmc.state().not_scanning.push(3);
        let mut seen = Vec::new();
        for k in 6..10 {
            seen.extend(ids(&m.sweep(Some(&mut src), k * 1000)));
        }
        assert_eq!(seen, [735010]);
    }

    /// Issue 31: a board file's item that never reads stays loud (735010): it is what the
    /// box has. The same for an auto board's CPU temperature (the protection rests on it).
    #[test]
    fn declared_items_and_cpu_temperatures_that_never_read_stay_loud() {
        let bmc = FakeBmc::default();
        let (mut m, mut src, sdrs) = auto_with_silent_fan(&bmc, true);
        bmc.state().not_scanning.push(CPU);
        let s = m.sweep(Some(&mut src), 0);
        assert_eq!(ids(&s), [735010]);
        assert_eq!(state_of(&m, "cpu0-temp"), Shown::Is(State::Unavailable));
        let board = envmon_board_defs::parse(
            Path::new("b.toml"),
            "name = \"b\"\n[[item]]\nid = \"fan3\"\nclass = \"fan\"\nlabel = \"3\"\n\
             source = \"ipmi:FAN3\"\noptional = true\n",
        )
        .unwrap();
        let (mut m, _) = Monitor::new(board, &sdrs, Path::new("/nonexistent"));
        let s = m.sweep(Some(&mut src), 0);
        assert_eq!(state_of(&m, "fan3"), Shown::Is(State::Unavailable));
        assert!(ids(&s).contains(&735010), "{:?}", s.emissions);
    }

    /// Issue 31: a BMC that stops answering is seen at the sweep that finds it: every
    /// reading unavailable at once (no old value shown as current), the BMC named as not
    /// answering (once in envmon's own line), 735010 in the same sweep; when readings return,
    /// "monitoring recovered" once and no catalog line.
    #[test]
    fn a_silent_bmc_is_seen_at_once_and_its_return_said_once() {
        use envmon_sensors::ipmi::{IpmiError, IpmiErrorKind};
        let bmc = FakeBmc::default();
        let (mut m, mut src, _) = auto_with_silent_fan(&bmc, true);
        m.sweep(Some(&mut src), 0);
        m.sweep(Some(&mut src), 1000);
        assert_eq!(state_of(&m, "cpu0-temp"), Shown::Is(State::Ok));
        bmc.state()
            .fail_next
            .extend((0..8).map(|_| IpmiError::new(IpmiErrorKind::Transport, "no answer")));
        let dead = m.sweep(Some(&mut src), 2000);
        assert!(dead.transport_error.is_some());
        assert_eq!(ids(&dead), [735010]);
        assert_eq!(state_of(&m, "cpu0-temp"), Shown::Is(State::Unavailable));
        assert_eq!(state_of(&m, "fan2"), Shown::Is(State::Unavailable));
        assert!(m.view(0).sensors.iter().all(|x| x.value.is_none()));
        assert_eq!(
            dead.notices,
            ["the BMC is not answering: its readings are unavailable"]
        );
        assert_eq!(m.unwatched(), dead.notices.as_slice());
        // The link closed: sweeps without a source say nothing more.
        for k in 3..6 {
            let s = m.sweep(None::<&mut IpmiSource<FakeTransport>>, k * 1000);
            assert!(ids(&s).is_empty() && s.notices.is_empty(), "{s:?}");
        }
        bmc.state().fail_next.clear();
        let back = m.sweep(Some(&mut src), 6000);
        assert!(ids(&back).is_empty(), "{:?}", back.emissions);
        assert_eq!(
            back.notices,
            ["monitoring recovered: every watched part reads again"]
        );
        assert_eq!(state_of(&m, "cpu0-temp"), Shown::Is(State::Ok));
        assert_eq!(back.unread, 0);
    }

    /// Issue 31: a board without any CPU temperature is degraded and says so once in
    /// envmon's own line, but sends no 735010 (nothing stopped working).
    #[test]
    fn a_board_without_a_cpu_temperature_says_so_once_and_sends_no_735010() {
        let bmc = FakeBmc::default();
        let (mut m, mut src, _) = auto_with_silent_fan(&bmc, false);
        let mut lines = Vec::new();
        for k in 0..4 {
            let s = m.sweep(Some(&mut src), k * 1000);
            assert!(ids(&s).is_empty(), "{:?}", s.emissions);
            assert!(s.unread > 0, "degraded");
            lines.extend(s.notices);
        }
        assert_eq!(lines.len(), 2, "the line and fan3's not fitted: {lines:?}");
        assert_eq!(
            lines[0],
            "the board has no CPU temperature sensor: envmon cannot shut down for CPU heat"
        );
    }

    /// Issue 31: a threshold at or above the top of what the sensor reads (a CPU whose SDR
    /// range ends at its shutdown threshold: every reading there is "saturated") is said
    /// once at start, with the record, in envmon's own line; binding again says nothing more.
    #[test]
    fn a_threshold_the_sensor_cannot_reach_is_said_once_at_start() {
        let bmc = FakeBmc::default();
        let mut cpu = threshold_record(1, CPU, "CPU0 Temp", 0x01, (0x03, 1), 1, [None; 6]);
        cpu[34] = 100; // sensor maximum reading (byte 35): 100 C
        bmc.state().records = vec![cpu];
        bmc.set(CPU, 40);
        let sdrs = load(&bmc);
        let board = envmon_board_defs::parse(
            Path::new("b.toml"),
            "name = \"b\"\n[[item]]\nid = \"cpu0\"\nclass = \"cpu_temp\"\nlabel = \"0\"\n\
             source = \"ipmi:CPU0 Temp\"\nwarm = 75\ncritical = 90\nshutdown = 100\n",
        )
        .unwrap();
        let (mut m, _) = Monitor::new(board, &sdrs, Path::new("/nonexistent"));
        let mut src = IpmiSource::new(bmc.transport());
        let first = m.sweep(Some(&mut src), 0);
        assert_eq!(
            first.notices,
            [
                "sensor cpu0 (SDR \"CPU0 Temp\" #0x01): shutdown 100 C at or above the top of what \
              the sensor reads (100 C): a reading there is taken for a saturated sensor, so \
              envmon cannot power off for it; set a lower threshold in a board file"
            ]
        );
        m.rebind(&sdrs);
        assert!(m.sweep(Some(&mut src), 1000).notices.is_empty());
    }

    /// A board in F (`F_BOARD`: 75, 90 and 95 C) over an SDR in C with its maximum at
    /// `top` C; the monitor and its source.
    fn f_monitor(bmc: &FakeBmc, top: u8, shutdown_f: u32) -> (Monitor, IpmiSource<FakeTransport>) {
        let mut cpu = threshold_record(1, CPU, "CPU0 Temp", 0x01, (0x03, 1), 1, [None; 6]);
        cpu[34] = top; // sensor maximum reading (byte 35)
        bmc.state().records = vec![cpu];
        bmc.set(CPU, 40);
        monitor_of(
            bmc,
            &format!(
                "name = \"b\"\n[defaults]\ndebounce = 1\nunit = \"F\"\n[[item]]\nid = \"cpu0\"\n\
                 class = \"cpu_temp\"\nlabel = \"0\"\nsource = \"ipmi:CPU0 Temp\"\n\
                 warm = 167\ncritical = 194\nshutdown = {shutdown_f}\n"
            ),
        )
    }

    /// Issue 35: a board in F over a sensor in C judges the converted reading (40 C is
    /// 104 F, ok; 80 C is 176 F, warm), and the shutdown's confirming re-reads are converted
    /// too: three fresh readings of 96 C (204.8 F) confirm a shutdown at 203 F (95 C).
    #[test]
    fn a_board_in_fahrenheit_judges_and_confirms_converted_readings() {
        let bmc = FakeBmc::default();
        let (mut m, mut src) = f_monitor(&bmc, 255, 203);
        let src = &mut src;
        sweep(&mut m, &bmc, src, 40, 0);
        let view = m.item(0, 0).unwrap();
        assert_eq!(
            (view.value, view.state, &*view.unit),
            (Some(104.0), Shown::Is(State::Ok), "F")
        );
        sweep(&mut m, &bmc, src, 80, 1000);
        let s = sweep(&mut m, &bmc, src, 80, 2000);
        assert_eq!(s.transitions.len(), 1, "{:?}", s.transitions);
        assert_eq!(s.transitions[0].item.value, Some(176.0));
        assert_eq!(s.transitions[0].to, Shown::Is(State::Warm));
        let trigger = sweep(&mut m, &bmc, src, 96, 3000)
            .shutdown
            .or_else(|| sweep(&mut m, &bmc, src, 96, 4000).shutdown)
            .expect("96 C is over a shutdown at 203 F");
        assert_eq!(trigger.threshold, 203.0);
        let rule = Confirm {
            readings: 3,
            over: std::time::Duration::ZERO,
        };
        assert!(m.confirm(&trigger, Some(&mut *src), rule, &mut |_| {}, &|| 5000));
    }

    /// Issue 35: the sensor's range is converted with its readings: a shutdown at 203 F is
    /// under a top of 100 C (212 F), so nothing is said; one at 212 F is at the top.
    #[test]
    fn a_threshold_the_sensor_cannot_reach_is_found_in_the_boards_unit() {
        let bmc = FakeBmc::default();
        let (mut m, mut src) = f_monitor(&bmc, 100, 203);
        assert!(m.sweep(Some(&mut src), 0).notices.is_empty());
        let (mut m, mut src) = f_monitor(&bmc, 100, 212);
        let notices = m.sweep(Some(&mut src), 0).notices;
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(
            notices[0]
                .contains("shutdown 212 F at or above the top of what the sensor reads (212 F)"),
            "{notices:?}"
        );
    }

    /// Issue 35: an SDR in F under a board in C converts the other way (104 F is 40 C), and
    /// a temperature item bound to a sensor that reads no temperature is said at binding.
    #[test]
    fn an_sdr_in_fahrenheit_converts_and_a_sensor_in_volts_is_said() {
        let bmc = FakeBmc::default();
        let mut cpu = threshold_record(1, CPU, "CPU0 Temp", 0x01, (0x03, 1), 1, [None; 6]);
        cpu[21] = envmon_sensors::ipmi::sdr::UNIT_DEGREES_F; // base unit (byte 22)
        let volts = threshold_record(2, 9, "P12V", 0x02, (0x14, 1), 1, [None; 6]);
        bmc.state().records = vec![cpu, volts];
        bmc.set(CPU, 104);
        bmc.set(9, 12);
        let sdrs = load(&bmc);
        let board = envmon_board_defs::parse(
            Path::new("b.toml"),
            "name = \"b\"\n[[item]]\nid = \"cpu0\"\nclass = \"cpu_temp\"\nlabel = \"0\"\n\
             source = \"ipmi:CPU0 Temp\"\nwarm = 75\n[[item]]\nid = \"inlet\"\n\
             class = \"chassis_ambient\"\nlabel = \"0\"\nsource = \"ipmi:P12V\"\nwarm = 40\n",
        )
        .unwrap();
        let (mut m, notes) = Monitor::new(board, &sdrs, Path::new("/nonexistent"));
        assert_eq!(
            notes,
            [
                "item inlet (ipmi:P12V) is a temperature in C, but its sensor \"P12V\" reads in V, \
              not in degrees C or F: its readings are judged as they are; check the item's source"
            ]
        );
        let mut src = IpmiSource::new(bmc.transport());
        m.sweep(Some(&mut src), 0);
        assert_eq!(m.item(0, 0).and_then(|i| i.value), Some(40.0));
        assert_eq!(m.item(1, 0).and_then(|i| i.value), Some(12.0));
    }

    /// The model's names are made once per item, and again when the item is bound again:
    /// an item shown while unbound (no SDR yet) shows the SDR's name once bound.
    #[test]
    fn the_view_names_the_sdr_after_a_late_binding() {
        let bmc = FakeBmc::default();
        let board = "name = \"b\"\n[[item]]\nid = \"cpu0\"\nclass = \"cpu_temp\"\n\
                     label = \"0\"\nsource = \"ipmi:CPU0 Temp\"\nwarm = 75\ncritical = 90\n";
        let (mut m, _) = cpu_monitor(&bmc, board, 40);
        m.rebind(&[]);
        assert_eq!(m.view(0).sensors[0].source.sdr, None);
        m.rebind(&load(&bmc));
        let after = m.view(0);
        assert_eq!(after.sensors[0].source.sdr.as_deref(), Some("CPU0 Temp"));
        assert_eq!(after.sensors[0].source.number, Some(CPU));
        // Shared, not copied: two views of one binding hold the same string.
        let again = m.view(0);
        assert!(Arc::ptr_eq(&after.sensors[0].id, &again.sensors[0].id));
    }

    /// Issue 31: the temperatures that can call for a thermal shutdown are read first, in
    /// their own batch, and a sweep that calls for a shutdown leaves the other items for the
    /// next sweep (the confirmation does not wait for them).
    #[test]
    fn the_protection_is_read_first_and_a_shutdown_does_not_wait_for_the_rest() {
        let bmc = FakeBmc::default();
        let (mut m, mut src) = cpu_monitor(
            &bmc,
            "name = \"b\"\n[defaults]\ndebounce = 1\n[[item]]\nid = \"cpu0\"\n\
             class = \"cpu_temp\"\nlabel = \"0\"\nsource = \"ipmi:CPU0 Temp\"\nwarm = 75\n\
             critical = 90\nshutdown = 95\n[[item]]\nid = \"fan1\"\nclass = \"fan\"\n\
             label = \"1\"\nsource = \"ipmi:FAN1\"\nmin-rpm = 1000\n",
            85,
        );
        let src = &mut src;
        let fan_reads = |bmc: &FakeBmc| {
            bmc.state()
                .log
                .iter()
                .filter(|c| **c == (Gsr::NETFN, Gsr::CMD))
                .count()
        };
        for k in 0..3 {
            assert!(sweep(&mut m, &bmc, src, 85, k * 1000).shutdown.is_none());
        }
        let before = fan_reads(&bmc);
        let s = sweep(&mut m, &bmc, src, 97, 3000);
        assert!(s.shutdown.is_some(), "{s:?}");
        assert_eq!(fan_reads(&bmc) - before, 1, "the CPU only: the fan waits");
        let before = fan_reads(&bmc);
        sweep(&mut m, &bmc, src, 85, 4000);
        assert_eq!(fan_reads(&bmc) - before, 2, "both again");
    }

    /// Review of issue 31: on a board without a CPU sensor (its line stays for good) a BMC
    /// outage still ends with "monitoring recovered"; and a gap said before an outage is not
    /// said again after it.
    #[test]
    fn recovery_is_said_on_a_board_that_stays_partly_unwatched() {
        use envmon_sensors::ipmi::{IpmiError, IpmiErrorKind};
        // What is said over sweeps a second apart, the BMC silent in the second.
        let said_over = |bmc: &FakeBmc, m: &mut Monitor, src: &mut IpmiSource<_>, n: u64| {
            let mut said = Vec::new();
            for k in 0..n {
                if k == 1 {
                    bmc.state().fail_next.extend(
                        (0..8).map(|_| IpmiError::new(IpmiErrorKind::Transport, "no answer")),
                    );
                }
                said.extend(m.sweep(Some(&mut *src), k * 1000).notices);
                bmc.state().fail_next.clear();
            }
            said
        };
        let bmc = FakeBmc::default();
        let (mut m, mut src, _) = auto_with_silent_fan(&bmc, false);
        let said = said_over(&bmc, &mut m, &mut src, 4);
        let want = [
            NO_CPU_SENSOR,
            "the BMC is not answering: its readings are unavailable",
            "monitoring recovered: every watched part reads again",
        ];
        let got: Vec<&str> = said
            .iter()
            .map(String::as_str)
            .filter(|l| !l.starts_with("not fitted"))
            .collect();
        assert_eq!(got, want);
        // A CPU that does not read, then an outage, then the BMC back with the CPU still
        // unreadable: the CPU line once, no recovery.
        let bmc = FakeBmc::default();
        let (mut m, mut src, _) = auto_with_silent_fan(&bmc, true);
        bmc.state().not_scanning.push(CPU);
        let said = said_over(&bmc, &mut m, &mut src, 3);
        let cpu = said
            .iter()
            .filter(|l| l.starts_with("no CPU temperature is readable"))
            .count();
        assert_eq!(cpu, 1, "{said:?}");
        assert!(!said.iter().any(|l| l.contains("recovered")), "{said:?}");
    }
}
