//! The monitor: a board's items bound to their SDR entries, judged sweep by sweep.
//!
//! The judging is the core's pure engine; this module only binds items to sensors, runs one
//! Get Sensor Reading per bound item per sweep, and collects the messages to send.

use crate::model::{BoardView, Item, ItemSource, Named, PciLink, PsuRedundancy, Shown};
use crate::shutdown::Trigger;
use envmon_board_defs::{Board, Source};
use envmon_core::engine::{
    Class, Emission, Limits, Reading, Redundancy, SensorState, State, UpdateFailures, message_for,
    shutdown_for, shutdown_threshold, transition_threshold,
};
use envmon_core::pci::{PciState, check as pci_check};
use envmon_sensors::{
    ipmi::{IpmiError, IpmiSource, Transport, sdr::SdrEntry},
    local::LocalReader,
    sysfs,
};
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
}

/// Where an item's readings come from.
enum Binding {
    /// A BMC sensor (None: not in the SDR repository).
    Ipmi(Option<SdrEntry>),
    /// The board's own buses.
    Local(LocalReader),
}

/// A board being monitored.
pub struct Monitor {
    board: Board,
    bindings: Vec<Binding>,
    sysfs_root: PathBuf,
    pci: Vec<PciState>,
    states: Vec<SensorState>,
    redundancy: Redundancy,
    update_failures: UpdateFailures,
}

/// The SDR entry an IPMI source names. Numbers are unique only per owner, and envmon reads
/// the BMC's own sensors: a number matches the BMC's (owner 0x20, LUN 0) sensor, never a
/// record of system software that reuses it.
fn find<'a>(source: &Source, sdrs: &'a [SdrEntry]) -> Option<&'a SdrEntry> {
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

/// Whether an item counts as absent: optional, and it has never read.
fn absent(item: &envmon_board_defs::Item, st: &SensorState) -> bool {
    item.optional && st.updated_ms.is_none()
}

/// The state `show environment` shows: `absent` for an optional item that never read.
fn shown(item: &envmon_board_defs::Item, st: &SensorState) -> Shown {
    if absent(item, st) {
        Shown::Absent
    } else {
        Shown::Is(st.shown(&item.spec))
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
    let found = find(&item.source, sdrs).cloned();
    if found.is_none() {
        notes.push(format!(
            "item {} ({}) matches no sensor in the SDR repository",
            item.id, item.source
        ));
    }
    Binding::Ipmi(found)
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
        let states = vec![SensorState::default(); board.items.len()];
        let pci = vec![PciState::default(); board.pci.len()];
        let monitor = Monitor {
            board,
            bindings,
            sysfs_root: sysfs_root.to_path_buf(),
            pci,
            states,
            redundancy: Redundancy::default(),
            update_failures: UpdateFailures::new(UPDATE_FAILURE_INTERVAL_MS),
        };
        (monitor, notes)
    }

    /// Binds the IPMI items again after the SDR repository changed, keeping every judged
    /// state (so nothing already reported is reported again). Returns notes as
    /// [`Monitor::new`].
    pub fn rebind(&mut self, sdrs: &[SdrEntry]) -> Vec<String> {
        let mut notes = Vec::new();
        for (item, binding) in self.board.items.iter().zip(&mut self.bindings) {
            if let Binding::Ipmi(entry) = binding {
                *entry = find(&item.source, sdrs).cloned();
                if entry.is_none() {
                    notes.push(format!(
                        "item {} ({}) matches no sensor in the SDR repository",
                        item.id, item.source
                    ));
                }
            }
        }
        notes
    }

    /// Whether there is anything to monitor yet: a bound item or a PCI expectation.
    pub fn active(&self) -> bool {
        self.bound() > 0 || !self.board.pci.is_empty()
    }

    /// Whether any item is read through the BMC.
    pub fn needs_bmc(&self) -> bool {
        self.bindings.iter().any(|b| matches!(b, Binding::Ipmi(_)))
    }

    /// The board.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// Items bound to a sensor (local items always are).
    pub fn bound(&self) -> usize {
        self.bindings
            .iter()
            .filter(|b| !matches!(b, Binding::Ipmi(None)))
            .count()
    }

    /// Runs one sweep at `now_ms`: one Get Sensor Reading per bound IPMI item (none without
    /// a BMC), one read per local item, and the PCI check.
    pub fn sweep<T: Transport>(
        &mut self,
        mut src: Option<&mut IpmiSource<T>>,
        now_ms: u64,
    ) -> Sweep {
        let mut out = Sweep::default();
        for (position, ((item, binding), state)) in self
            .board
            .items
            .iter()
            .zip(&mut self.bindings)
            .zip(&mut self.states)
            .enumerate()
        {
            let reading = match binding {
                Binding::Local(reader) => reader.read(),
                Binding::Ipmi(Some(entry)) => match (src.as_deref_mut(), &out.transport_error) {
                    (Some(src), None) => match src.read(entry) {
                        Ok(r) => r,
                        Err(e) => {
                            if e.needs_new_session() {
                                out.transport_error = Some(e);
                            }
                            Reading::Unreadable
                        }
                    },
                    _ => Reading::Unreadable,
                },
                Binding::Ipmi(None) => Reading::Unreadable,
            };
            // An optional item that has never read is absent, not a failed update.
            if reading == Reading::Unreadable && !absent(item, state) {
                out.unread += 1;
            }
            if let Some(t) = state.step(&item.spec, reading, now_ms) {
                log::info!("{}: {} -> {}", item.id, t.from, t.to);
                out.changes.push((position, t.from, t.to));
                out.emissions
                    .extend(message_for(&item.spec, &t).map(|mut e| {
                        e.sd = structured_data(item, &t);
                        e
                    }));
                if let (Some(kind), None) = (shutdown_for(&item.spec, &t), &out.shutdown) {
                    out.shutdown = Some(Trigger {
                        kind,
                        sensor: item.id.clone(),
                        label: item.spec.label.clone(),
                        reading: t.value.unwrap_or(f64::NAN),
                        threshold: shutdown_threshold(&item.spec).unwrap_or(f64::NAN),
                        unit: item.spec.unit.as_str().into(),
                    });
                }
            }
        }
        self.check_pci(&mut out);
        if self.board.min_psus > 0 && !self.has_redundancy_sensor() {
            let ok = self
                .board
                .items
                .iter()
                .zip(&self.states)
                .filter(|(i, s)| i.spec.class == Class::Psu && s.judged(&i.spec) == State::Ok)
                .count();
            out.emissions
                .extend(self.redundancy.update(ok, self.board.min_psus));
        }
        out.emissions
            .extend(self.update_failures.sweep(out.unread == 0, now_ms));
        out
    }

    /// The PCI expectations against the bus (743000/743004); a scan that fails counts as an
    /// item not read.
    fn check_pci(&mut self, out: &mut Sweep) {
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
                    out.unread += 1;
                }
            }
        }
    }

    /// Whether the board has the BMC's redundancy sensor (which then says when redundancy
    /// is lost, instead of counting supplies).
    fn has_redundancy_sensor(&self) -> bool {
        self.board
            .items
            .iter()
            .any(|i| i.spec.class == Class::PsuRedundancy)
    }

    /// Whether redundancy is lost (`None`: not checked or not evaluated yet).
    pub fn redundancy_lost(&self) -> Option<bool> {
        let sensor = self
            .board
            .items
            .iter()
            .zip(&self.states)
            .find(|(i, _)| i.spec.class == Class::PsuRedundancy);
        match sensor {
            Some((_, st)) if st.updated_ms.is_none() => None,
            Some((i, st)) => Some(st.judged(&i.spec) != State::Ok),
            None if self.board.min_psus == 0 => None,
            None => self.redundancy.lost(),
        }
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
        }
    }

    /// The item at `position` in the board, as the model shows it.
    pub fn item(&self, position: usize, now_ms: u64) -> Option<Item> {
        let item = self.board.items.get(position)?;
        let st = self.states.get(position)?;
        let binding = self.bindings.get(position)?;
        let shown = shown(item, st);
        Some(Item {
            age_ms: st.updated_ms.map(|t| now_ms.saturating_sub(t)),
            class: item.spec.class,
            id: item.id.clone(),
            label: item.spec.label.clone(),
            limits: item.spec.limits,
            source: ItemSource {
                board: item.source.to_string(),
                number: match binding {
                    Binding::Ipmi(Some(e)) => Some(e.number),
                    _ => None,
                },
                sdr: match binding {
                    Binding::Ipmi(Some(e)) => Some(e.name.clone()),
                    _ => None,
                },
            },
            state: shown,
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
        for (item, st) in self.board.items.iter().zip(&self.states) {
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
                shown(item, st).name()
            ));
        }
        out
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
