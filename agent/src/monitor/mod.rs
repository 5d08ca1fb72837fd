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

use crate::model::Trigger;
use crate::model::{BoardView, Item, ItemSource, Named, PciLink, PsuRedundancy, SdrFacts, Shown};
pub use crate::monitor::presence::Presence;
use crate::monitor::presence::{cpu_named, presence_sensor};
use envmon_board_defs::{Board, Source};
use envmon_core::engine::{
    Checks, Class, Damping, Emission, Limits, Notice, Reading, Redundancy, SensorState, State,
    UpdateFailures, message_for, shutdown_for, shutdown_threshold, transition_threshold,
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

/// 735010 at most once a minute while sweeps keep failing.
const UPDATE_FAILURE_INTERVAL_MS: u64 = 60_000;

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
    /// A sensor entered its shutdown rank: the thermal shutdown it calls for (the first one).
    pub shutdown: Option<Trigger>,
    /// Committed transitions: the item's position in the board, from, to.
    pub changes: Vec<(usize, State, State)>,
    /// What flap damping did, per item position (a line each, after the emissions).
    pub notices: Vec<(usize, Notice)>,
}

/// 735010's key for "no CPU temperature reads" (item positions are the other keys).
const UNWATCHED_CPU: usize = usize::MAX;
/// 735010's key for "no chassis ambient reads".
const UNWATCHED_AMBIENT: usize = usize::MAX - 1;
/// 735010's key for "the PCI scan failed".
const PCI_SCAN: usize = usize::MAX - 2;

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

/// A sensor of a CPU's parts whose own entity has no presence sensor (a regulator or a rail
/// on the system board entity: Quanta's `Temp_VR_CPU1`, Cisco's `PV_VCCP_CPU2`) takes the
/// presence sensor of that CPU: the CPU temperature item whose label is the number the
/// sensor's name gives (the same number `--board auto` labels CPU items with).
fn borrow_cpu_presence(board: &Board, bindings: &mut [Binding]) {
    let cpus: Vec<(String, Box<SdrEntry>)> = board
        .items
        .iter()
        .zip(bindings.iter())
        .filter(|(i, _)| i.spec.class == Class::CpuTemp)
        .filter_map(|(i, b)| match b {
            Binding::Ipmi(Some(_), Some(p)) => Some((i.spec.label.clone(), p.clone())),
            _ => None,
        })
        .collect();
    for (item, binding) in board.items.iter().zip(bindings.iter_mut()) {
        if item.spec.class == Class::CpuTemp {
            continue;
        }
        if let Binding::Ipmi(Some(entry), presence @ None) = binding {
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

/// A board being monitored.
pub struct Monitor {
    board: Board,
    bindings: Vec<Binding>,
    sysfs_root: PathBuf,
    pci: Vec<PciState>,
    states: Vec<SensorState>,
    presence: Vec<Presence>,
    /// Per item, the SDR entries of its `also` flags (a supply's failure flags).
    flags: Vec<Vec<SdrEntry>>,
    damping: Option<Damping>,
    /// The Redfish service the Redfish items read from (none: they are unreadable).
    redfish: Option<RedfishReader>,
    /// An item whose shutdown was not confirmed: asked again while it stays at its shutdown
    /// state.
    rearmed: Option<usize>,
    redundancy: Redundancy,
    update_failures: UpdateFailures,
    unwatched: Vec<String>,
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

/// The state `show environment` shows: `absent` on evidence; `unavailable` for an item that
/// has not read yet (unknown is never shown as ok).
fn shown(item: &envmon_board_defs::Item, st: &SensorState, p: &Presence) -> Shown {
    if absent(item, st, p) {
        Shown::Absent
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
        (Shown::Absent, Presence::Absent(e)) => Some(e.clone()),
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
    if found.is_none() {
        notes.push(format!(
            "item {} ({}) matches no sensor in the SDR repository",
            item.id, item.source
        ));
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
        let bindings = board
            .items
            .iter()
            .map(|i| bind(i, sdrs, sysfs_root, &mut notes))
            .collect();
        let mut bindings: Vec<Binding> = bindings;
        borrow_cpu_presence(&board, &mut bindings);
        let states = vec![SensorState::default(); board.items.len()];
        let presence = vec![Presence::default(); board.items.len()];
        let flags = bind_flags(&board, sdrs);
        let pci = vec![PciState::default(); board.pci.len()];
        let monitor = Monitor {
            board,
            bindings,
            sysfs_root: sysfs_root.to_path_buf(),
            pci,
            states,
            presence,
            flags,
            damping: Some(Damping::default()),
            redfish: None,
            rearmed: None,
            redundancy: Redundancy::default(),
            update_failures: UpdateFailures::new(UPDATE_FAILURE_INTERVAL_MS),
            unwatched: Vec::new(),
        };
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
        for (item, binding) in self.board.items.iter().zip(&mut self.bindings) {
            if let Binding::Ipmi(entry, presence) = binding {
                *entry = find_sdr(&item.source, sdrs).cloned();
                *presence = entry
                    .as_ref()
                    .and_then(|e| presence_sensor(e, sdrs))
                    .map(|p| Box::new(p.clone()));
                if entry.is_none() {
                    notes.push(format!(
                        "item {} ({}) matches no sensor in the SDR repository",
                        item.id, item.source
                    ));
                }
            }
        }
        borrow_cpu_presence(&self.board, &mut self.bindings);
        self.flags = bind_flags(&self.board, sdrs);
        notes
    }

    /// Whether there is anything to monitor yet: a bound item or a PCI expectation.
    pub fn active(&self) -> bool {
        self.bound() > 0 || !self.board.pci.is_empty()
    }

    /// Whether any item is read through the BMC.
    pub fn needs_bmc(&self) -> bool {
        self.bindings.iter().any(|b| matches!(b, Binding::Ipmi(..)))
    }

    /// The board.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// Items bound to a sensor (local items always are).
    pub fn bound(&self) -> usize {
        self.bindings
            .iter()
            .filter(|b| !matches!(b, Binding::Ipmi(None, _)))
            .count()
    }

    /// Runs one sweep at `now_ms`: one Get Sensor Reading per bound IPMI item (none without
    /// a BMC), one read per local item, and the PCI check. An item that has never read gets
    /// one more read, of its entity's presence sensor, until it reads or is known absent.
    pub fn sweep<T: Transport>(
        &mut self,
        mut src: Option<&mut IpmiSource<T>>,
        now_ms: u64,
    ) -> Sweep {
        let mut out = Sweep::default();
        let mut failing = BTreeSet::new();
        if let Some(src) = src.as_deref_mut() {
            src.prefetch(self.swept_entries());
        }
        self.refresh_redfish(now_ms);
        for position in 0..self.board.items.len() {
            let (reading, not_scanning) = self.read_item(position, src.as_deref_mut(), &mut out);
            self.learn_presence(
                position,
                reading,
                not_scanning,
                src.as_deref_mut(),
                &mut out,
            );
            let (Some(item), Some(state), Some(presence)) = (
                self.board.items.get(position),
                self.states.get_mut(position),
                self.presence.get(position),
            ) else {
                continue;
            };
            let checks = Checks::guarded(
                match self.bindings.get(position) {
                    Some(Binding::Ipmi(Some(e), _)) => e.range,
                    _ => None,
                },
                self.damping,
            );
            let transition = state.step_with(&item.spec, &checks, reading, now_ms);
            // Not updated: no judged value this sweep (an unconfirmed jump did read).
            let updated = state
                .fault
                .is_none_or(|f| matches!(f, envmon_core::engine::Fault::Unconfirmed { .. }));
            if !updated && !absent(item, state, presence) {
                failing.insert(position);
            }
            if let Some(notice) = state.take_notice() {
                out.notices.push((position, notice));
            }
            if let Some(t) = transition {
                log::info!("{}: {} -> {}", item.id, t.from, t.to);
                out.changes.push((position, t.from, t.to));
                out.emissions
                    .extend(message_for(&item.spec, &t).map(|mut e| {
                        e.sd = structured_data(item, &t);
                        e
                    }));
                if let (Some(kind), None) = (shutdown_for(&item.spec, &t), &out.shutdown) {
                    out.shutdown = Some(trigger(kind, position, item, t.value));
                }
            }
        }
        if let Some(src) = src {
            src.end_prefetch();
        }
        self.ask_again(&mut out);
        if self.check_pci(&mut out) {
            failing.insert(PCI_SCAN);
        }
        self.check_watched(&mut failing);
        out.unread = failing.len();
        let count = (self.board.min_psus > 0).then(|| self.healthy_psus() < self.board.min_psus);
        out.emissions
            .extend(self.redundancy.judge(self.redundancy_sensor(), count));
        out.emissions
            .extend(self.update_failures.sweep(&failing, now_ms));
        out
    }

    /// One GET of every Redfish resource the items live in (a sweep's Redfish requests).
    fn refresh_redfish(&mut self, now_ms: u64) {
        let Some(r) = self.redfish.as_mut() else {
            return;
        };
        r.refresh(
            self.bindings.iter().filter_map(|b| match b {
                Binding::Redfish(uri) => Some(uri.as_str()),
                _ => None,
            }),
            now_ms,
        );
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

    /// The SDR entries a sweep reads: each bound item's sensor and its failure flags.
    fn swept_entries(&self) -> impl Iterator<Item = &SdrEntry> {
        let main = self.bindings.iter().filter_map(|b| match b {
            Binding::Ipmi(Some(e), _) => Some(e),
            _ => None,
        });
        main.chain(self.flags.iter().flatten())
    }

    /// The shutdown that was not confirmed is asked for again while its item stays at the
    /// shutdown state and reads; it is forgotten once the item leaves that state.
    fn ask_again(&mut self, out: &mut Sweep) {
        let Some(p) = self.rearmed else {
            return;
        };
        let (Some(item), Some(st)) = (self.board.items.get(p), self.states.get(p)) else {
            self.rearmed = None;
            return;
        };
        if st.judged(&item.spec) != State::Shutdown {
            self.rearmed = None;
        } else if out.shutdown.is_none() && st.fault.is_none() {
            out.shutdown = envmon_core::engine::ShutdownKind::for_class(item.spec.class)
                .map(|kind| trigger(kind, p, item, st.value));
        }
    }

    /// The shutdown for the item at `position` was not confirmed (see [`Monitor::reread`]).
    pub fn unconfirmed(&mut self, position: usize) {
        self.rearmed = Some(position);
    }

    /// One read of the item at `position`: its reading, and whether the BMC said it does not
    /// scan the sensor.
    fn read_item<T: Transport>(
        &mut self,
        position: usize,
        src: Option<&mut IpmiSource<T>>,
        out: &mut Sweep,
    ) -> (Reading, bool) {
        match self.bindings.get_mut(position) {
            Some(Binding::Local(reader)) => (reader.read(), false),
            Some(Binding::Redfish(uri)) => (
                self.redfish
                    .as_ref()
                    .map_or(Reading::Unreadable, |r| r.reading(uri)),
                false,
            ),
            Some(Binding::Ipmi(Some(entry), _)) => match (src, &out.transport_error) {
                (Some(src), None) => {
                    let main = match src.read_scan(entry) {
                        Ok(r) => r,
                        Err(e) => {
                            if e.needs_new_session() {
                                out.transport_error = Some(e);
                            }
                            (Reading::Unreadable, false)
                        }
                    };
                    let flags = self.flags.get(position).map_or(&[][..], Vec::as_slice);
                    (with_flags(main.0, flags, src, out), main.1)
                }
                _ => (Reading::Unreadable, false),
            },
            Some(Binding::Ipmi(None, _)) | None => (Reading::Unreadable, false),
        }
    }

    /// What this sweep taught about whether the item's part is there (see [`Presence`]).
    fn learn_presence<T: Transport>(
        &mut self,
        position: usize,
        reading: Reading,
        not_scanning: bool,
        src: Option<&mut IpmiSource<T>>,
        out: &mut Sweep,
    ) {
        let (Some(item), Some(state), Some(binding)) = (
            self.board.items.get(position),
            self.states.get(position),
            self.bindings.get(position),
        ) else {
            return;
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
                        None => return,
                    }
                }
                Binding::Ipmi(None, _) => return,
                Binding::Ipmi(Some(entry), presence) => {
                    let said = match (presence, src, &out.transport_error) {
                        (Some(p), Some(src), None) => match src.presence(p) {
                            Ok(said) => said.map(|s| (s, p.name.clone())),
                            Err(e) => {
                                if e.needs_new_session() {
                                    out.transport_error = Some(e);
                                }
                                None
                            }
                        },
                        _ => None,
                    };
                    match said {
                        Some((true, _)) => Presence::Present,
                        Some((false, name)) => Presence::Absent(format!(
                            "the BMC's presence sensor {name} says its part is absent"
                        )),
                        None if not_scanning && entry.ignore_if_absent => Presence::Absent(
                            "not scanned by the BMC, and its SDR says to ignore it while its \
                             part is absent"
                                .into(),
                        ),
                        None => Presence::Unknown,
                    }
                }
            }
        };
        if let Some(p) = self.presence.get_mut(position) {
            *p = learned;
        }
    }

    /// Whether the board is watched: some CPU temperature reads (or the board has none to
    /// read, which is itself unwatched), and where the board has chassis ambients, one
    /// reads. Each gap is a failing key for 735010 and a line of `show environment`.
    fn check_watched(&mut self, failing: &mut BTreeSet<usize>) {
        self.unwatched.clear();
        let reads = |class: Class| {
            self.board
                .items
                .iter()
                .zip(&self.states)
                .any(|(i, s)| i.spec.class == class && s.value.is_some() && !s.is_unavailable())
        };
        let has = |class: Class| self.board.items.iter().any(|i| i.spec.class == class);
        if !reads(Class::CpuTemp) {
            failing.insert(UNWATCHED_CPU);
            self.unwatched.push(if has(Class::CpuTemp) {
                "no CPU temperature is readable: envmon cannot shut down for CPU heat".into()
            } else {
                "the board has no CPU temperature: envmon cannot shut down for CPU heat".into()
            });
        }
        if has(Class::ChassisAmbient) && !reads(Class::ChassisAmbient) {
            failing.insert(UNWATCHED_AMBIENT);
            self.unwatched
                .push("no chassis ambient temperature is readable".into());
        }
    }

    /// Supplies judged OK now.
    fn healthy_psus(&self) -> usize {
        self.board
            .items
            .iter()
            .zip(&self.states)
            .filter(|(i, s)| {
                i.spec.class == Class::Psu
                    && s.updated_ms.is_some()
                    && s.judged(&i.spec) == State::Ok
            })
            .count()
    }

    /// What the BMC's redundancy sensor says: lost or not (None: none, or it has not read).
    fn redundancy_sensor(&self) -> Option<bool> {
        self.board
            .items
            .iter()
            .zip(&self.states)
            .find(|(i, _)| i.spec.class == Class::PsuRedundancy)
            .filter(|(_, s)| s.updated_ms.is_some())
            .map(|(i, s)| s.judged(&i.spec) != State::Ok)
    }

    /// Directly re-reads the item at `position` (not through a sweep: for the confirmation
    /// before a shutdown): its value when it reads a plausible number now, else `None`.
    pub fn reread<T: Transport>(
        &mut self,
        position: usize,
        src: Option<&mut IpmiSource<T>>,
        now_ms: u64,
    ) -> Option<f64> {
        let mut scratch = Sweep::default();
        // A Redfish item: a fresh GET of its resource, not the sweep's answer again.
        if let (Some(Binding::Redfish(uri)), Some(r)) =
            (self.bindings.get(position), self.redfish.as_mut())
        {
            r.refresh([uri.as_str()], now_ms);
        }
        let (reading, _) = self.read_item(position, src, &mut scratch);
        let (Reading::Value(v), Some(item)) = (reading, self.board.items.get(position)) else {
            return None;
        };
        let sensor_range = match self.bindings.get(position) {
            Some(Binding::Ipmi(Some(e), _)) => e.range,
            _ => None,
        };
        let checks = Checks::guarded(sensor_range, None);
        envmon_core::engine::implausible(&item.spec, &checks, v)
            .is_none()
            .then_some(v)
    }

    /// The line that says what flap damping did to the item at `position` (docs/syslog.md,
    /// "Flapping sensors").
    pub fn notice_text(&self, position: usize, notice: &Notice) -> Option<String> {
        let item = self.board.items.get(position)?;
        Some(match notice {
            Notice::Damped {
                changes,
                window_ms,
                held,
                quiet_ms,
            } => format!(
                "sensor {} ({} {}) is flapping: {changes} changes in {} s; held at {held} until \
                 it is steady for {} s",
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
        })
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
            sensors: (0..self.states.len())
                .filter_map(|k| self.item(k, now_ms))
                .collect(),
            pci: self.pci_links(),
            psu_redundancy: PsuRedundancy::from_lost(self.redundancy_lost()),
            unwatched: self.unwatched.clone(),
        }
    }

    /// The item at `position` in the board, as the model shows it.
    pub fn item(&self, position: usize, now_ms: u64) -> Option<Item> {
        let item = self.board.items.get(position)?;
        let st = self.states.get(position)?;
        let binding = self.bindings.get(position)?;
        let presence = self.presence.get(position)?;
        let shown = shown(item, st, presence);
        let bound = !matches!(binding, Binding::Ipmi(None, _));
        Some(Item {
            age_ms: st.updated_ms.map(|t| now_ms.saturating_sub(t)),
            class: item.spec.class,
            id: item.id.clone(),
            label: item.spec.label.clone(),
            limits: item.spec.limits,
            source: ItemSource {
                board: item.source.to_string(),
                number: match binding {
                    Binding::Ipmi(Some(e), _) => Some(e.number),
                    _ => None,
                },
                sdr: match binding {
                    Binding::Ipmi(Some(e), _) => Some(e.name.clone()),
                    _ => None,
                },
            },
            sdr: match binding {
                Binding::Ipmi(Some(e), _) => Some(sdr_facts(e)),
                _ => None,
            },
            state: shown,
            why: why(item, st, presence, bound),
            unit: unit(item).to_string(),
            value: match shown {
                Shown::Absent | Shown::Is(State::Unavailable) => None,
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
        for ((item, st), p) in self
            .board
            .items
            .iter()
            .zip(&self.states)
            .zip(&self.presence)
        {
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
                unit(item),
                shown(item, st, p).name()
            ));
        }
        out
    }
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
    sd.push(("unit", unit(item).to_string()));
    if let Some((_, th)) = transition_threshold(&item.spec.limits, t.from, t.to, t.value) {
        sd.push(("threshold", number(th)));
    }
    sd.push(("state", t.to.name().to_string()));
    sd
}

fn unit(item: &envmon_board_defs::Item) -> &'static str {
    match item.spec.limits {
        Limits::Temperature { .. } => item.spec.unit.as_str(),
        Limits::Fan { .. } => "RPM",
        Limits::Voltage { .. } => "V",
        Limits::Discrete => "-",
    }
}
