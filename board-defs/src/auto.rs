//! `--board auto`: a board made from the BMC's SDR repository.
//!
//! Each SDR sensor is decided by the rules in [`crate::classify`]. A monitored sensor gets:
//! - its limits from its thresholds (the live ones when the BMC gives them): upper
//!   non-critical -> warm, upper critical -> critical, upper non-recoverable -> shutdown; a
//!   fan's lower critical (else lower non-recoverable) -> its minimum; a voltage's lower and
//!   upper critical (else non-recoverable) -> its limits. A missing side is never reached,
//!   and a sensor without thresholds is shown and never alarms.
//! - a label an operator can use ([`label_for`]), unique per class;
//! - `optional`: a sensor that never reads (an empty fan header, a second supply not
//!   fitted) is shown as absent and is not a failed update.
//!
//! Power-supply redundancy has two witnesses: a BMC redundancy sensor (class
//! `psu_redundancy`), where there is one, and the count of healthy supplies: `min-psus` is
//! the number of supplies (a 1+1 box loses redundancy at its first failed supply). Lost when
//! either says so, OK only when both agree.
//!
//! Items of an override board (`base = "auto"`) replace the item made for the same sensor
//! (matched by SDR name or number) and are otherwise added.

use crate::{
    Board, Item, Source,
    classify::{Decision, SdrKind, SdrSensor, classify, words},
};
use envmon_core::engine::{Class, Limits, SensorSpec, TempUnit};

/// A sensor's thresholds by rank, whatever names its source gives them (IPMI: non-critical,
/// critical, non-recoverable; Redfish: caution, critical, fatal).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ranks {
    pub upper: [Option<f64>; 3],
    pub lower_critical: Option<f64>,
    pub lower_fatal: Option<f64>,
}

/// The limits of an item of `class` from its source's thresholds: upper non-critical ->
/// warm, critical -> critical, non-recoverable -> shutdown (rising ones only); a fan's lower
/// critical (else non-recoverable) its minimum; a voltage's lower and upper critical (else
/// non-recoverable).
pub(crate) fn limits_of(class: Class, r: Ranks) -> Limits {
    let [unc, uc, unr] = r.upper;
    let (lc, lnr) = (r.lower_critical, r.lower_fatal);
    match class {
        Class::Fan | Class::PsuFan => Limits::Fan {
            min_rpm: lc.or(lnr),
        },
        Class::Voltage => {
            let (low, high) = (lc.or(lnr), uc.or(unr));
            match (low, high) {
                // Crossed limits from a broken source: keep the upper one only.
                (Some(l), Some(h)) if l >= h => Limits::Voltage {
                    low: None,
                    high: Some(h),
                },
                _ => Limits::Voltage { low, high },
            }
        }
        Class::Psu | Class::PsuRedundancy | Class::Backplane => Limits::Discrete,
        _ => {
            // Keep only thresholds that rise, as a board file must.
            let mut last = f64::NEG_INFINITY;
            let mut rising = |t: Option<f64>| t.filter(|v| *v > last).inspect(|v| last = *v);
            let (warm, critical, shutdown) = (rising(unc), rising(uc), rising(unr));
            Limits::Temperature {
                warm,
                critical,
                shutdown,
            }
        }
    }
}

fn limits(class: Class, kind: SdrKind) -> Limits {
    let SdrKind::Threshold {
        unr,
        uc,
        unc,
        lnr,
        lc,
        ..
    } = kind
    else {
        return Limits::Discrete;
    };
    limits_of(
        class,
        Ranks {
            upper: [unc, uc, unr],
            lower_critical: lc,
            lower_fatal: lnr,
        },
    )
}

/// Where `key` (one word, or several separated by spaces) is in `words`: the index of its
/// last word. A key of three letters or more may sit inside a longer word (`VCPU`,
/// `VRMCPU`), a shorter one must be the whole word (`P`, `PS`).
fn find_key(words: &[String], key: &str) -> Option<usize> {
    let parts: Vec<&str> = key.split(' ').collect();
    (0..words.len()).find_map(|i| {
        let fits = parts.iter().enumerate().all(|(j, p)| {
            words
                .get(i + j)
                .is_some_and(|w| w == p || (parts.len() == 1 && p.len() >= 3 && w.contains(p)))
        });
        fits.then_some(i + parts.len() - 1)
    })
}

fn digits(w: &str) -> bool {
    !w.is_empty() && w.chars().all(|c| c.is_ascii_digit())
}

/// The number that follows the first of `keys` in the name (`FAN1A` -> `1`, `PS 2` -> `2`),
/// with what marks a rotor of a dual-rotor fan appended when `rotor` (`Fan1A` -> `1A`,
/// `FAN1_TACH2` -> `1-2`). A fan lettered instead of numbered (`FANA`) gives its letter.
pub(crate) fn number_after(words: &[String], keys: &[&str], rotor: bool) -> Option<String> {
    let (key, mut at) = keys.iter().find_map(|k| Some((*k, find_key(words, k)?)))?;
    // One word between the key and its number names a group (`Fan_SSD0` -> `SSD0`), unless
    // it only says "system" (`Fan_SYS0` -> `0`).
    let mut group = "";
    if rotor && !words.get(at + 1).is_some_and(|w| digits(w)) {
        if let (Some(g), Some(n)) = (words.get(at + 1), words.get(at + 2)) {
            if digits(n) && g.chars().all(|c| c.is_ascii_uppercase()) {
                if !matches!(g.as_str(), "SYS" | "SYSTEM" | "CHASSIS") {
                    group = g;
                }
                at += 1;
            }
        }
    }
    let Some(n) = words.get(at + 1).filter(|w| digits(w)) else {
        // "FAN_A": a letter of its own after the key (Dell's FAN_A..FAN_F after FAN_1..9).
        if let Some(letter) = words
            .get(at + 1)
            .filter(|w| rotor && w.len() == 1 && w.chars().all(|c| c.is_ascii_uppercase()))
        {
            return Some(letter.clone());
        }
        // "FANA": the letter after the key.
        let w = words.get(at)?;
        let rest = w.strip_suffix(|c: char| c.is_ascii_uppercase())?;
        return (rotor && rest.ends_with(key) && w.len() == rest.len() + 1)
            .then(|| w[rest.len()..].to_string());
    };
    let mut label = n.trim_start_matches('0').to_string();
    if label.is_empty() {
        label.push('0');
    }
    label.insert_str(0, group);
    if rotor {
        match words.get(at + 2).map(String::as_str) {
            Some(l @ ("A" | "B" | "C" | "D")) => label.push_str(l),
            Some(w @ ("TACH" | "ROTOR" | "R")) => {
                if let Some(r) = words.get(at + 3).filter(|w| digits(w)) {
                    label.push('-');
                    label.push_str(r);
                } else if w == "R" {
                    // Inspur's `FAN0_R_Speed`: the rear rotor (`FAN0_F_Speed` the front).
                    label.push_str("-R");
                }
            }
            Some(w @ ("FRONT" | "REAR" | "IN" | "OUT" | "F")) => {
                label.push('-');
                label.push_str(&w[..1]);
            }
            // Quanta's `Fan_SYS0_1`: the fan's second rotor.
            Some(r) if digits(r) => {
                label.push('-');
                label.push_str(r);
            }
            _ => {}
        }
    }
    Some(label)
}

/// The label a sensor's messages print, from its name where the name numbers the part
/// (`FAN1A` -> `1A`, `02-CPU 1` -> `1`, `PS2 Status` -> `2`), else from the entity instance
/// for the entities that number parts (processors, power supplies), else `None` (the board
/// numbers it in SDR order).
pub fn label_for(class: Class, s: &SdrSensor) -> Option<String> {
    let w = words(&s.name);
    let instance = || Some((s.entity_instance & 0x7f).to_string());
    const CPU: &[&str] = &["CPU", "PROC", "P", "SOCKET"];
    const PSU: &[&str] = &["PSU", "PS", "PWS", "SUPPLY", "P S"];
    let from_entity = |entities: &[u8]| {
        if entities.contains(&s.entity_id) {
            instance()
        } else {
            None
        }
    };
    use crate::classify::entity as e;
    match class {
        Class::Fan => number_after(&w, &["FAN"], true),
        Class::PsuFan => number_after(&w, PSU, false)
            .or_else(|| from_entity(&[e::POWER_SUPPLY]))
            .map(|psu| match number_after(&w, &["FAN"], true) {
                Some(fan) => format!("{psu}-{fan}"),
                None => psu,
            }),
        Class::CpuTemp | Class::CpuVrTemp => {
            number_after(&w, CPU, false).or_else(|| from_entity(&[e::PROCESSOR, e::PROCESSOR_DCMI]))
        }
        Class::Psu | Class::PsuTemp => {
            number_after(&w, PSU, false).or_else(|| from_entity(&[e::POWER_SUPPLY]))
        }
        _ => None,
    }
}

/// The longest item ID `--board auto` makes from a sensor's name.
pub const MAX_AUTO_ID: usize = 28;

/// An item ID from a sensor's name: its words (ASCII letters and digits), lower case, joined
/// by `-`, as many whole words as fit in [`MAX_AUTO_ID`] (a first word longer than that is
/// cut); `-2`, `-3`... where it is taken.
pub(crate) fn id_for(name: &str, taken: &[Item]) -> String {
    let mut base = String::new();
    for word in name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_ascii_lowercase();
        if base.is_empty() {
            base = word.chars().take(MAX_AUTO_ID).collect();
        } else if base.len() + 1 + word.len() <= MAX_AUTO_ID {
            base.push('-');
            base.push_str(&word);
        } else {
            break;
        }
    }
    let base = if base.is_empty() {
        "sensor".to_string()
    } else {
        base
    };
    let mut id = base.clone();
    let mut n = 2;
    while taken.iter().any(|i| i.id == id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    id
}

fn matches(source: &Source, s: &SdrSensor) -> bool {
    match source {
        Source::IpmiName(n) => *n == s.name,
        Source::IpmiNumber(n) => *n == s.number && s.owner_id == 0x20 && s.owner_lun == 0,
        _ => false,
    }
}

/// One SDR sensor and what `--board auto` made of it (for `envmon board explain`).
#[derive(Debug, Clone, PartialEq)]
pub struct Explained {
    /// The sensor.
    pub sensor: SdrSensor,
    /// The rule's decision.
    pub decision: Decision,
    /// The item made for it (its id), if monitored; an override board's item counts.
    pub item: Option<String>,
}

/// Makes a label unique within its class: the label asked for when it is free, else the
/// next free `LABEL-N`; sensors without a label of their own are numbered 1, 2, ... in SDR
/// order.
pub(crate) fn unique_label(class: Class, wanted: Option<String>, items: &[Item]) -> String {
    let taken = |l: &str| {
        items
            .iter()
            .any(|i| i.spec.class == class && i.spec.label == l)
    };
    match wanted {
        Some(l) if !taken(&l) => l,
        Some(l) => (2..)
            .map(|n| format!("{l}-{n}"))
            .find(|c| !taken(c))
            .unwrap_or(l),
        None => (1..)
            .map(|n| n.to_string())
            .find(|c| !taken(c))
            .unwrap_or_default(),
    }
}

fn item_for(s: &SdrSensor, class: Class, items: &[Item]) -> Item {
    let limits = limits(class, s.kind);
    // The SDR's own unit: its thresholds are in it (degrees F: IPMI base unit 2).
    let unit = if s.base_unit == 2 {
        TempUnit::F
    } else {
        TempUnit::C
    };
    let default_hysteresis = match (limits, unit) {
        (Limits::Fan { .. }, _) => 100.0,
        (Limits::Voltage { .. } | Limits::Discrete, _) => 0.0,
        // 2 degrees C either way.
        (Limits::Temperature { .. }, TempUnit::C) => 2.0,
        (Limits::Temperature { .. }, TempUnit::F) => 3.6,
    };
    let hysteresis = s
        .hysteresis
        .filter(|h| h.is_finite() && *h > 0.0)
        .unwrap_or(default_hysteresis);
    Item {
        id: id_for(&s.name, items),
        source: Source::IpmiNumber(s.number),
        optional: true,
        discovered: true,
        also: Vec::new(),
        spec: SensorSpec {
            class,
            label: unique_label(class, label_for(class, s), items),
            limits,
            hysteresis,
            debounce: 2,
            unavailable_after: 3,
            unit,
        },
    }
}

/// Folds a supply's failure flag into the `psu` item of the same supply (by label: the
/// number its name or entity gives), adding one where the BMC has no status record for that
/// supply; returns the item's id.
fn fold_flag(s: &SdrSensor, items: &mut Vec<Item>) -> String {
    let label = label_for(Class::Psu, s);
    let same = items.iter_mut().find(|i| {
        i.spec.class == Class::Psu
            && Some(&i.spec.label) == label.as_ref()
            && i.also.len() < crate::MAX_ALSO
    });
    if let Some(item) = same {
        item.also.push(Source::IpmiNumber(s.number));
        return item.id.clone();
    }
    let it = item_for(s, Class::Psu, items);
    let id = it.id.clone();
    items.push(it);
    id
}

/// Decides every SDR sensor and builds the board: the items and, per sensor, why.
pub fn explain(sdrs: &[SdrSensor], overrides: Option<&Board>) -> (Board, Vec<Explained>) {
    let mut items: Vec<Item> = Vec::new();
    let mut explained = Vec::with_capacity(sdrs.len());
    // Sensors whose name carries their label first, so that numbered-in-order ones take
    // the labels left free.
    let mut pending: Vec<(usize, Class)> = Vec::new();
    // Failure flags, folded into their part's item once every item is made.
    let mut folds: Vec<usize> = Vec::new();
    for s in sdrs {
        let decision = classify(s);
        let over = overrides.and_then(|b| b.items.iter().find(|i| matches(&i.source, s)));
        let item = match (over, decision.class) {
            (Some(o), _) => {
                items.push(o.clone());
                Some(o.id.clone())
            }
            (None, Some(_)) if decision.fold => {
                folds.push(explained.len());
                None
            }
            (None, Some(class)) if label_for(class, s).is_some() => {
                let it = item_for(s, class, &items);
                let id = it.id.clone();
                items.push(it);
                Some(id)
            }
            (None, Some(class)) => {
                pending.push((explained.len(), class));
                None
            }
            (None, None) => None,
        };
        explained.push(Explained {
            sensor: s.clone(),
            decision,
            item,
        });
    }
    for (at, class) in pending {
        let s = &explained[at].sensor;
        let it = item_for(s, class, &items);
        explained[at].item = Some(it.id.clone());
        items.push(it);
    }
    for at in folds {
        let s = &explained[at].sensor;
        explained[at].item = Some(fold_flag(s, &mut items));
    }
    // SDR order for the items, whatever order they were labelled in.
    let order = |i: &Item| {
        explained
            .iter()
            .position(|e| e.item.as_deref() == Some(i.id.as_str()))
            .unwrap_or(usize::MAX)
    };
    items.sort_by_key(order);
    (board_of(items, sdrs, overrides), explained)
}

/// The auto board of `items` (in SDR order): the overrides' items that match no sensor
/// added, their name, description, PCI and supply count taken; else supplies counted.
fn board_of(mut items: Vec<Item>, sdrs: &[SdrSensor], overrides: Option<&Board>) -> Board {
    if let Some(o) = overrides {
        for extra in &o.items {
            if !sdrs.iter().any(|s| matches(&extra.source, s)) {
                items.push(extra.clone());
            }
        }
    }
    // Supplies are counted even where the BMC has a redundancy sensor: both witnesses
    // speak (a sensor that has not caught up does not hide a failed supply).
    let psus = items.iter().filter(|i| i.spec.class == Class::Psu).count();
    let min_psus = match overrides {
        Some(o) => o.min_psus,
        None if psus >= 2 => psus,
        None => 0,
    };
    Board {
        base_auto: true,
        name: overrides.map_or_else(|| "auto".to_string(), |o| o.name.clone()),
        description: overrides.map_or_else(
            || "discovered from the BMC's SDR repository".to_string(),
            |o| o.description.clone(),
        ),
        min_psus,
        items,
        pci: overrides.map(|o| o.pci.clone()).unwrap_or_default(),
    }
}

/// Builds a board from SDR sensors, then applies `overrides`. Returns the board and one note
/// per SDR sensor that was not monitored (saying why) and per override item that matches no
/// sensor.
pub fn auto_board(sdrs: &[SdrSensor], overrides: Option<&Board>) -> (Board, Vec<String>) {
    let (board, explained) = explain(sdrs, overrides);
    let mut notes: Vec<String> = explained
        .iter()
        .filter(|e| e.item.is_none())
        .map(|e| {
            format!(
                "sensor {} (#0x{:02x}) not monitored: {}",
                e.sensor.name, e.sensor.number, e.decision.why
            )
        })
        .collect();
    if let Some(o) = overrides {
        for extra in o
            .items
            .iter()
            .filter(|x| !sdrs.iter().any(|s| matches(&x.source, s)))
        {
            notes.push(format!(
                "board item {} ({}) matches no SDR sensor",
                extra.id, extra.source
            ));
        }
    }
    (board, notes)
}

#[cfg(test)]
mod tests {

    /// Issue 32: IDs are made of whole words (`power-supply--2-input-voltag` before).
    #[test]
    fn ids_are_whole_words_within_the_limit() {
        let id = |n: &str| id_for(n, &[]);
        assert_eq!(
            id("Power Supply #2 Input Voltage"),
            "power-supply-2-input-voltage"
        );
        assert_eq!(
            id("Power Supply #1 12V Output Current"),
            "power-supply-1-12v-output"
        );
        assert_eq!(id("CPU1 VR-Temp"), "cpu1-vr-temp");
        assert_eq!(id("__"), "sensor");
        assert_eq!(
            id("Averyveryveryverylongsinglewordsensorname"),
            "averyveryveryverylongsinglew"
        );
        for n in [
            "Power reading for the Chassis",
            "Front Panel Intake Temperature",
        ] {
            assert!(
                id(n).len() <= MAX_AUTO_ID && !id(n).ends_with('-'),
                "{}",
                id(n)
            );
        }
    }

    use super::*;

    fn sensor(name: &str, entity: (u8, u8)) -> SdrSensor {
        SdrSensor {
            owner_id: 0x20,
            owner_lun: 0,
            number: 1,
            name: name.into(),
            sensor_type: 0x01,
            reading_type: 0x01,
            entity_id: entity.0,
            entity_instance: entity.1,
            base_unit: 1,
            percentage: false,
            kind: SdrKind::Discrete,
            hysteresis: None,
            reading_mask: 0,
            assertion_mask: 0,
        }
    }

    /// Issue 35: a temperature found on the BMC keeps its record's unit (its thresholds
    /// are in it): degrees F (base unit 2) gives an item in F, degrees C one in C.
    #[test]
    fn a_found_temperature_keeps_its_records_unit() {
        let mut s = sensor("CPU1 Temp", (0x03, 1));
        s.kind = SdrKind::Threshold {
            unr: None,
            uc: Some(90.0),
            unc: Some(80.0),
            lnr: None,
            lc: None,
            lnc: None,
        };
        let c = item_for(&s, Class::CpuTemp, &[]).spec;
        assert_eq!((c.unit, c.hysteresis), (TempUnit::C, 2.0));
        s.base_unit = 2;
        let f = item_for(&s, Class::CpuTemp, &[]).spec;
        assert_eq!(
            (f.unit, f.hysteresis),
            (TempUnit::F, 3.6),
            "2 C of hysteresis in F"
        );
    }

    #[test]
    fn labels_an_operator_recognises() {
        let l = |class, name: &str, entity| label_for(class, &sensor(name, entity));
        let none = (0x07, 1);
        assert_eq!(
            l(Class::Fan, "W793_FAN1_TACH1", none).as_deref(),
            Some("1-1")
        );
        assert_eq!(
            l(Class::Fan, "W793_FAN3_TACH2", none).as_deref(),
            Some("3-2")
        );
        assert_eq!(l(Class::Fan, "Fan1A", none).as_deref(), Some("1A"));
        assert_eq!(l(Class::Fan, "FANA", none).as_deref(), Some("A"));
        assert_eq!(l(Class::Fan, "FAN_A", none).as_deref(), Some("A"));
        assert_eq!(l(Class::Fan, "Fan_SYS0_1", none).as_deref(), Some("0-1"));
        assert_eq!(l(Class::Fan, "FAN0_R_Speed", none).as_deref(), Some("0-R"));
        assert_eq!(l(Class::Fan, "FAN0_F_Speed", none).as_deref(), Some("0-F"));
        assert_eq!(l(Class::Fan, "Fan_SYS0", none).as_deref(), Some("0"));
        assert_eq!(l(Class::Fan, "Fan_SSD1", none).as_deref(), Some("SSD1"));
        assert_eq!(l(Class::CpuTemp, "02-CPU 1", none).as_deref(), Some("1"));
        assert_eq!(l(Class::CpuTemp, "Temp_CPU0", none).as_deref(), Some("0"));
        assert_eq!(
            l(Class::CpuVrTemp, "Vcpu2VRM Temp", none).as_deref(),
            Some("2")
        );
        assert_eq!(
            l(Class::CpuVrTemp, "BB P1 VR Temp", none).as_deref(),
            Some("1")
        );
        assert_eq!(l(Class::CpuVrTemp, "17-VR P2", none).as_deref(), Some("2"));
        assert_eq!(l(Class::CpuTemp, "Temp", (0x03, 2)).as_deref(), Some("2"));
        assert_eq!(l(Class::Psu, "PS2 Status", none).as_deref(), Some("2"));
        assert_eq!(
            l(Class::PsuTemp, "15-P/S 1 Inlet", none).as_deref(),
            Some("1")
        );
        assert_eq!(l(Class::Psu, "Power Supply 2", none).as_deref(), Some("2"));
        assert_eq!(l(Class::PsuFan, "PSU1_FAN_1", none).as_deref(), Some("1-1"));
        assert_eq!(
            l(Class::Voltage, "12V", none),
            None,
            "numbered in SDR order"
        );
    }
}
