//! Pure: the model as a monitoring plugin sees it (the Monitoring Plugins Development
//! Guidelines, as Nagios, Icinga and Checkmk run `check_ipmi_sensor`): a status (exit 0 OK,
//! 1 WARNING, 2 CRITICAL, 3 UNKNOWN), one line naming what is wrong, and performance data
//! for every reading with its warning and critical ranges. What `envmon check` prints.
//!
//! Which state is which status is the table [`STATUS_OF`], in one place.

use super::{Environment, Item, Monitoring, PciStatus, PsuRedundancy, Shown};
use envmon_core::engine::{Limits, State};
use std::fmt::Write;

/// A plugin's status (the exit code is its value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything watched is fine.
    Ok = 0,
    /// Something needs a look (warm, a reading missing, redundancy lost).
    Warning = 1,
    /// Something failed or is too hot.
    Critical = 2,
    /// The state cannot be told (no agent, no source, monitoring failed).
    Unknown = 3,
}

impl Status {
    /// How bad it is, for the worst of several: OK, UNKNOWN, WARNING, CRITICAL (the
    /// monitoring plugins' `max_state_alt`: a critical part is said over what cannot be
    /// told).
    pub fn rank(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Unknown => 1,
            Status::Warning => 2,
            Status::Critical => 3,
        }
    }

    /// The name the status line starts with.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// An item's status by what it shows: the rule a reviewer checks. Absent and not-fitted
/// parts are not watched (no status of their own); an unreadable one is a warning (the agent
/// cannot tell, and monitoring is degraded).
pub const STATUS_OF: &[(Shown, Status)] = &[
    (Shown::Is(State::Ok), Status::Ok),
    (Shown::Is(State::Warm), Status::Warning),
    (Shown::Is(State::Critical), Status::Critical),
    (Shown::Is(State::Shutdown), Status::Critical),
    (Shown::Is(State::Failed), Status::Critical),
    (Shown::Is(State::Unavailable), Status::Warning),
    (Shown::Absent, Status::Ok),
    (Shown::NotFitted, Status::Ok),
];

fn status_of(shown: Shown) -> Status {
    STATUS_OF
        .iter()
        .find(|(s, _)| *s == shown)
        .map_or(Status::Unknown, |(_, st)| *st)
}

/// What `envmon check` says: its status and its one line (status, what is wrong, and the
/// performance data after `|`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The status (the exit code).
    pub status: Status,
    /// The line printed.
    pub line: String,
}

/// A verdict of UNKNOWN for `why` (no agent, no source).
pub fn unknown(why: &str) -> Verdict {
    Verdict {
        status: Status::Unknown,
        line: format!("ENVMON UNKNOWN - {}", one_line(why)),
    }
}

/// Text made one line (a plugin's output is read up to its first newline), without `|`
/// (where the engine splits the performance data off).
fn one_line(s: &str) -> String {
    s.replace('|', "/")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The verdict on `env`: the worst status of its items, PCI links, supply redundancy and
/// monitoring; the line names every item, link or condition not OK, the worst first.
pub fn verdict(env: &Environment) -> Verdict {
    let mut wrong: Vec<(Status, String)> = Vec::new();
    for i in &env.sensors {
        let st = status_of(i.state);
        if st != Status::Ok {
            wrong.push((st, said(i)));
        }
    }
    for p in &env.pci {
        let st = match p.state {
            PciStatus::Absent => Status::Critical,
            PciStatus::Degraded => Status::Warning,
            PciStatus::Ok | PciStatus::Missing => Status::Ok,
        };
        if st != Status::Ok {
            wrong.push((st, format!("PCI {} {}", p.id, p.state.name())));
        }
    }
    if env.psu_redundancy == PsuRedundancy::Lost {
        wrong.push((Status::Warning, "power supply redundancy lost".into()));
    }
    for u in &env.unwatched {
        wrong.push((Status::Warning, format!("not watched: {u}")));
    }
    match env.monitoring {
        Monitoring::Failed => wrong.push((Status::Unknown, "monitoring failed".into())),
        Monitoring::Degraded => wrong.push((Status::Warning, "monitoring degraded".into())),
        Monitoring::Running => {}
    }
    wrong.sort_by_key(|w| std::cmp::Reverse(w.0.rank()));
    let status = wrong
        .iter()
        .map(|w| w.0)
        .max_by_key(|s| s.rank())
        .unwrap_or(Status::Ok);
    let watched = env
        .sensors
        .iter()
        .filter(|i| !matches!(i.state, Shown::Absent | Shown::NotFitted))
        .count();
    let text = if wrong.is_empty() {
        format!(
            "{watched} items ok{}",
            env.board
                .as_deref()
                .map_or(String::new(), |b| format!(" (board {b})"))
        )
    } else {
        wrong
            .iter()
            .map(|w| w.1.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    // A stale view (a loop stuck since) is UNKNOWN whatever it says: what it said then
    // follows, and its old readings are no performance data.
    let (status, text, perf) = match env.stale_line() {
        Some(stale) if wrong.is_empty() => (Status::Unknown, stale, String::new()),
        Some(stale) => (
            Status::Unknown,
            stale + "; it said then: " + &text,
            String::new(),
        ),
        None => (status, text, perfdata(env)),
    };
    let mut line = format!("ENVMON {} - {}", status.name(), one_line(&text));
    if !perf.is_empty() {
        line.push_str(" | ");
        line.push_str(&perf);
    }
    Verdict { status, line }
}

/// An item not OK, for the line: `cpu0-temp critical 96 C`, `fan2 failed`.
fn said(i: &Item) -> String {
    let name = match i.state {
        Shown::Is(s) => s.name(),
        other => super::Named::name(other),
    };
    match i.value {
        Some(v) if &*i.unit != "-" => format!("{} {name} {} {}", i.id, number(v), i.unit),
        _ => format!("{} {name}", i.id),
    }
}

/// A number as short as it is exact (`37`, `12.06`).
fn number(v: f64) -> String {
    format!("{v}")
}

/// The guidelines' unit of measurement for an item's unit: only `%` is one (`C`, `RPM` and
/// `V` are not: none is written, as `check_ipmi_sensor` writes none).
fn uom(unit: &str) -> &'static str {
    if unit == "%" { "%" } else { "" }
}

/// A range (`low:high`, `~:high`, `low:`), or nothing when neither side is set.
fn range(low: Option<f64>, high: Option<f64>) -> String {
    match (low, high) {
        (None, None) => String::new(),
        (Some(l), Some(h)) => format!("{}:{}", number(l), number(h)),
        (None, Some(h)) => format!("~:{}", number(h)),
        (Some(l), None) => format!("{}:", number(l)),
    }
}

/// An item's warning and critical ranges (outside them is the alert): a temperature warns
/// above warm and is critical above critical (or shutdown, without a critical); a fan is
/// critical below its minimum; a voltage critical outside low..high.
fn ranges(l: &Limits) -> (String, String) {
    match *l {
        Limits::Temperature {
            warm,
            critical,
            shutdown,
        } => (range(None, warm), range(None, critical.or(shutdown))),
        Limits::Fan { min_rpm } => (String::new(), range(min_rpm, None)),
        Limits::Voltage { low, high } => (String::new(), range(low, high)),
        Limits::Discrete => (String::new(), String::new()),
    }
}

/// A label as the guidelines allow it: quoted when it has a space (a `'` or `=` in it
/// becomes `_`).
fn label(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c == '\'' || c == '=' { '_' } else { c })
        .collect();
    if s.contains(' ') { format!("'{s}'") } else { s }
}

/// Performance data for every reading (items by id, power figures by name):
/// `label=value[UOM];warn;crit;;`; an item that reads nothing now is `U` (undetermined), a
/// discrete one (no value ever) and an absent one are left out.
pub fn perfdata(env: &Environment) -> String {
    let mut out = String::new();
    for i in &env.sensors {
        let value = match (i.value, i.state) {
            (Some(v), _) => number(v),
            (None, Shown::Is(State::Unavailable)) if &*i.unit != "-" => "U".into(),
            _ => continue,
        };
        let (warn, crit) = ranges(&i.limits);
        let sep = if out.is_empty() { "" } else { " " };
        let _ = write!(
            out,
            "{sep}{}={value}{};{warn};{crit};;",
            label(&i.id),
            uom(&i.unit)
        );
    }
    for p in &env.power {
        let Some(v) = p.value else { continue };
        let sep = if out.is_empty() { "" } else { " " };
        let _ = write!(out, "{sep}{}={};;;;", label(&p.name), number(v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(items: Vec<Item>) -> Environment {
        let view = super::super::BoardView {
            name: "demo".into(),
            sensors: items,
            pci: Vec::new(),
            psu_redundancy: PsuRedundancy::NotApplicable,
            unwatched: Vec::new(),
        };
        Environment::new(Some(view), Monitoring::Running, 1000)
    }

    fn item(id: &str, state: Shown, value: Option<f64>, unit: &str, limits: Limits) -> Item {
        Item {
            age_ms: Some(10),
            class: envmon_core::engine::Class::CpuTemp,
            id: id.into(),
            label: "0".into(),
            limits,
            source: super::super::ItemSource {
                board: "ipmi:X".into(),
                number: None,
                sdr: None,
            },
            sdr: None,
            state,
            unit: unit.into(),
            value,
            why: None,
        }
    }

    fn link(id: &str, state: PciStatus) -> super::super::PciLink {
        super::super::PciLink {
            address: None,
            device: "d".into(),
            expected_speed: None,
            expected_width: None,
            id: id.into(),
            required: true,
            speed: None,
            state,
            vendor: "v".into(),
            width: None,
        }
    }

    fn temp(state: State, v: f64) -> Item {
        item(
            "cpu0-temp",
            Shown::Is(state),
            Some(v),
            "C",
            Limits::Temperature {
                warm: Some(75.0),
                critical: Some(90.0),
                shutdown: Some(100.0),
            },
        )
    }

    fn fan(state: State, v: Option<f64>) -> Item {
        item(
            "fan2",
            Shown::Is(state),
            v,
            "RPM",
            Limits::Fan {
                min_rpm: Some(2000.0),
            },
        )
    }

    /// The golden lines: OK, WARNING, CRITICAL with the worst first, perfdata with ranges.
    #[test]
    fn each_state_gives_its_status_and_line() {
        let ok = verdict(&env(vec![
            temp(State::Ok, 41.0),
            fan(State::Ok, Some(5400.0)),
        ]));
        assert_eq!(ok.status, Status::Ok);
        assert_eq!(
            ok.line,
            "ENVMON OK - 2 items ok (board demo) | cpu0-temp=41;~:75;~:90;; fan2=5400;;2000:;;"
        );
        let warm = verdict(&env(vec![temp(State::Warm, 80.5)]));
        assert_eq!(warm.status, Status::Warning);
        assert!(
            warm.line
                .starts_with("ENVMON WARNING - cpu0-temp warm 80.5 C | ")
        );
        let bad = verdict(&env(vec![
            temp(State::Warm, 80.0),
            fan(State::Failed, None),
        ]));
        assert_eq!(bad.status, Status::Critical);
        assert_eq!(
            bad.line,
            "ENVMON CRITICAL - fan2 failed, cpu0-temp warm 80 C | cpu0-temp=80;~:75;~:90;;"
        );
        let mut gone = env(vec![fan(State::Ok, Some(5000.0))]);
        gone.monitoring = Monitoring::Failed;
        assert_eq!(verdict(&gone).status, Status::Unknown);
        // Degraded is a warning that says so; a critical part outranks what cannot be told.
        let mut gaps = env(vec![temp(State::Ok, 41.0), fan(State::Unavailable, None)]);
        gaps.monitoring = Monitoring::Degraded;
        assert_eq!(
            verdict(&gaps).line,
            "ENVMON WARNING - fan2 unavailable, monitoring degraded | cpu0-temp=41;~:75;~:90;; \
             fan2=U;;2000:;;"
        );
        let mut both = env(vec![fan(State::Failed, Some(0.0))]);
        both.monitoring = Monitoring::Failed;
        assert_eq!(verdict(&both).status, Status::Critical);
        // A PCI device missing, a link short.
        let mut pci = env(vec![]);
        pci.pci = vec![
            link("nic0", PciStatus::Absent),
            link("nic1", PciStatus::Degraded),
        ];
        let v = verdict(&pci);
        assert_eq!(v.status, Status::Critical);
        assert!(
            v.line
                .starts_with("ENVMON CRITICAL - PCI nic0 absent, PCI nic1 degraded")
        );
        assert_eq!(
            unknown("a|b").line,
            "ENVMON UNKNOWN - a/b",
            "no | in the text"
        );
        assert!(
            unknown("no agent\nanswers")
                .line
                .ends_with("no agent answers")
        );
    }

    /// Issue 35: a view the agent published long ago (its loop stuck) is UNKNOWN however
    /// healthy it looks; one within three sweeps and a minute is judged as it is.
    #[test]
    fn a_stale_view_is_unknown() {
        let mut fresh = env(vec![temp(State::Ok, 41.0)]);
        fresh.age_ms = Some(3 * 1000 + 60_000);
        assert_eq!(verdict(&fresh).status, Status::Ok);
        let mut old = fresh.clone();
        old.age_ms = Some(312_000);
        let v = verdict(&old);
        assert_eq!(v.status, Status::Unknown);
        assert_eq!(
            v.line,
            "ENVMON UNKNOWN - the agent's view is 312 s old (it sweeps every 1 s): its loop \
             has published nothing since; see its log",
            "no perfdata of old readings"
        );
        // A stale critical is UNKNOWN too (UNKNOWN ranks under CRITICAL otherwise), what it
        // said then after.
        let mut hot = env(vec![temp(State::Critical, 92.0)]);
        hot.age_ms = Some(312_000);
        let v = verdict(&hot);
        assert_eq!(v.status, Status::Unknown);
        assert!(
            v.line
                .ends_with("see its log; it said then: cpu0-temp critical 92 C"),
            "{}",
            v.line
        );
    }

    #[test]
    fn every_shown_state_has_a_status() {
        for s in <Shown as super::super::Named>::ALL {
            assert!(STATUS_OF.iter().any(|(x, _)| x == s), "{s:?}");
        }
        assert_eq!(range(Some(10.8), Some(13.2)), "10.8:13.2");
        assert_eq!(label("PS1 Input Power"), "'PS1 Input Power'");
        assert_eq!(label("a'b=c"), "a_b_c");
    }
}
