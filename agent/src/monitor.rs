//! The monitor: a board's items bound to their SDR entries, judged sweep by sweep.
//!
//! The judging is the core's pure engine; this module only binds items to sensors, runs one
//! Get Sensor Reading per bound item per sweep, and collects the messages to send.

use crate::shutdown::Trigger;
use envmon_board_defs::{Board, Source};
use envmon_core::engine::{
    Class, Emission, Limits, Reading, Redundancy, SensorState, State, UpdateFailures, message_for,
    shutdown_for, shutdown_threshold,
};
use envmon_sensors::ipmi::{IpmiError, IpmiErrorKind, IpmiSource, Transport, sdr::SdrEntry};
use serde_json::{Value, json};

/// 735010 at most once a minute while sweeps keep failing.
const UPDATE_FAILURE_INTERVAL_MS: u64 = 60_000;

/// One sweep's outcome.
#[derive(Debug, Default)]
pub struct Sweep {
    /// Messages to send, in order.
    pub emissions: Vec<Emission>,
    /// Items that could not be read this sweep.
    pub unread: usize,
    /// The transport failed (the BMC is gone): reconnect before the next sweep.
    pub transport_error: Option<IpmiError>,
    /// A sensor entered its shutdown rank: the thermal shutdown it calls for (the first one).
    pub shutdown: Option<Trigger>,
}

/// A board being monitored.
pub struct Monitor {
    board: Board,
    bindings: Vec<Option<SdrEntry>>,
    states: Vec<SensorState>,
    redundancy: Redundancy,
    update_failures: UpdateFailures,
}

fn find<'a>(source: &Source, sdrs: &'a [SdrEntry]) -> Option<&'a SdrEntry> {
    sdrs.iter().find(|e| match source {
        Source::IpmiName(n) => e.name == *n,
        Source::IpmiNumber(n) => e.number == *n,
    })
}

impl Monitor {
    /// Binds every item of `board` to its SDR entry. Returns the monitor and one note per
    /// item that matches no sensor (it stays unavailable).
    pub fn new(board: Board, sdrs: &[SdrEntry]) -> (Monitor, Vec<String>) {
        let mut notes = Vec::new();
        let bindings: Vec<Option<SdrEntry>> = board
            .items
            .iter()
            .map(|item| {
                let found = find(&item.source, sdrs).cloned();
                if found.is_none() {
                    notes.push(format!(
                        "item {} ({}) matches no sensor in the SDR repository",
                        item.id, item.source
                    ));
                }
                found
            })
            .collect();
        let states = vec![SensorState::default(); board.items.len()];
        let monitor = Monitor {
            board,
            bindings,
            states,
            redundancy: Redundancy::default(),
            update_failures: UpdateFailures::new(UPDATE_FAILURE_INTERVAL_MS),
        };
        (monitor, notes)
    }

    /// Binds the items again after the SDR repository changed, keeping every judged state
    /// (so nothing already reported is reported again). Returns notes as [`Monitor::new`].
    pub fn rebind(&mut self, sdrs: &[SdrEntry]) -> Vec<String> {
        let mut notes = Vec::new();
        for (item, binding) in self.board.items.iter().zip(&mut self.bindings) {
            *binding = find(&item.source, sdrs).cloned();
            if binding.is_none() {
                notes.push(format!(
                    "item {} ({}) matches no sensor in the SDR repository",
                    item.id, item.source
                ));
            }
        }
        notes
    }

    /// The board.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// Items bound to a sensor.
    pub fn bound(&self) -> usize {
        self.bindings.iter().flatten().count()
    }

    /// Runs one sweep at `now_ms`: one Get Sensor Reading per bound item.
    pub fn sweep<T: Transport>(&mut self, src: &mut IpmiSource<T>, now_ms: u64) -> Sweep {
        let mut out = Sweep::default();
        for ((item, binding), state) in self
            .board
            .items
            .iter()
            .zip(&self.bindings)
            .zip(&mut self.states)
        {
            let reading = match (binding, &out.transport_error) {
                (Some(entry), None) => match src.read(entry) {
                    Ok(r) => r,
                    Err(e) => {
                        if matches!(e.kind, IpmiErrorKind::Transport | IpmiErrorKind::Connect) {
                            out.transport_error = Some(e);
                        }
                        Reading::Unreadable
                    }
                },
                _ => Reading::Unreadable,
            };
            if reading == Reading::Unreadable {
                out.unread += 1;
            }
            if let Some(t) = state.step(&item.spec, reading, now_ms) {
                log::info!("{}: {} -> {}", item.id, t.from, t.to);
                out.emissions.extend(message_for(&item.spec, &t));
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
        if self.board.min_psus > 0 {
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

    /// A sweep without a BMC: every item is unreadable this time (735010, rate limited;
    /// sensors go unavailable after their failure count). Returns the messages to send.
    pub fn sweep_unreadable(&mut self, now_ms: u64) -> Vec<Emission> {
        for (item, state) in self.board.items.iter().zip(&mut self.states) {
            // Unreadable samples never commit a transition.
            let _ = state.step(&item.spec, Reading::Unreadable, now_ms);
        }
        self.update_failures
            .sweep(false, now_ms)
            .into_iter()
            .collect()
    }

    /// Whether redundancy is lost (`None`: not checked or not evaluated yet).
    pub fn redundancy_lost(&self) -> Option<bool> {
        if self.board.min_psus == 0 {
            None
        } else {
            self.redundancy.lost()
        }
    }

    /// The readings as the socket's `show environment` JSON shows them.
    pub fn to_json(&self, now_ms: u64) -> Value {
        let sensors: Vec<Value> = self
            .board
            .items
            .iter()
            .zip(&self.states)
            .map(|(item, st)| {
                json!({
                    "id": item.id,
                    "label": item.spec.label,
                    "class": item.spec.class.name(),
                    "value": if st.is_unavailable() { None } else { st.value },
                    "unit": unit(item),
                    "state": st.shown(&item.spec).name(),
                    "age_ms": st.updated_ms.map(|t| now_ms.saturating_sub(t)),
                })
            })
            .collect();
        json!({
            "board": self.board.name,
            "sensors": sensors,
            "psu_redundancy": match self.redundancy_lost() {
                None => "n/a",
                Some(true) => "lost",
                Some(false) => "ok",
            },
        })
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
                st.shown(&item.spec).name()
            ));
        }
        out
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
