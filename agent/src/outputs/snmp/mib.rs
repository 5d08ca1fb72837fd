//! What envmon serves over SNMP, as data: the published sensors turned into a sorted table
//! of (OID, value) rows, and transitions turned into notifications. Pure: no I/O, no clock
//! (the master's sysUpTime comes in as a number).
//!
//! Served (docs/snmp.md has the tables and the state mapping):
//! - ENTITY-MIB entPhysicalTable (1.3.6.1.2.1.47.1.1.1): the chassis (index 1) and one
//!   sensor entity per monitored item (index = its position in the board + 2, stable for the
//!   same board across restarts and reloads);
//! - ENTITY-SENSOR-MIB entPhySensorTable (1.3.6.1.2.1.99.1.1);
//! - CISCO-ENTITY-SENSOR-EXT-MIB ceSensorExtThresholdTable and its global notification
//!   switch (1.3.6.1.4.1.9.9.745.1);
//! - CISCO-ENVMON-MIB status tables (1.3.6.1.4.1.9.9.13.1), a compatibility view that can
//!   be turned off.

use envmon_core::engine::{Class, Limits, State, transition_threshold};

use super::pdu::{Range, vb};
pub use crate::config::Notifications;
use crate::model::layout::{self, EnvmonTable};
pub use crate::model::{Item, PowerItem, Shown, Transition};
use agentx::encodings::{OctetString, Value, VarBind};

/// ENTITY-MIB entPhysicalTable.
pub const ENT_PHYSICAL_TABLE: [u32; 10] = [1, 3, 6, 1, 2, 1, 47, 1, 1, 1];
/// ENTITY-SENSOR-MIB entPhySensorTable.
pub const ENT_PHY_SENSOR_TABLE: [u32; 9] = [1, 3, 6, 1, 2, 1, 99, 1, 1];
/// CISCO-ENTITY-SENSOR-EXT-MIB objects (the threshold table and the global switch).
pub const CE_SENSOR_EXT_OBJECTS: [u32; 10] = [1, 3, 6, 1, 4, 1, 9, 9, 745, 1];
/// CISCO-ENVMON-MIB objects.
pub const CISCO_ENVMON_OBJECTS: [u32; 10] = [1, 3, 6, 1, 4, 1, 9, 9, 13, 1];
/// snmpTrapOID.0.
pub const SNMP_TRAP_OID: [u32; 11] = [1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0];
/// ceSensorExtThresholdNotification.
pub const CE_THRESHOLD_NOTIFICATION: [u32; 11] = [1, 3, 6, 1, 4, 1, 9, 9, 745, 0, 1];

/// The chassis' entPhysicalIndex.
pub const CHASSIS_INDEX: u32 = 1;

/// Everything a MIB view is built from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Board name.
    pub board: &'a str,
    /// Items, in board order.
    pub sensors: &'a [Item],
    /// The BMC's power, current and energy sensors (served after the items).
    pub power: &'a [PowerItem],
    /// Sweep interval (entPhySensorValueUpdateRate).
    pub interval_ms: u64,
    /// The master's sysUpTime now, centiseconds (for entPhySensorValueTimeStamp).
    pub uptime_cs: u32,
    /// Serve CISCO-ENVMON-MIB.
    pub envmon_view: bool,
    /// Threshold notifications are on (ceSensorExtThresholdNotifEnable).
    pub threshold_notifications: bool,
}

/// The entPhysicalIndex of the item at `position` in the board.
pub fn entity_index(position: usize) -> u32 {
    u32::try_from(position).unwrap_or(u32::MAX - 2) + 2
}

/// The item's description (entPhysicalDescr/Name, ENVMON descr: at most 32 characters).
pub fn describe(row: &Item) -> String {
    let (before, after) = layout::view(row.class).descr;
    let label = if row.class == Class::PsuRedundancy {
        ""
    } else {
        &*row.label
    };
    let mut d = format!("{before}{label}{after}");
    // 32 bytes, cut at a character boundary (a label of multi-byte characters once cut
    // inside one and panicked the agent).
    envmon_core::frame::truncate_at_char(&mut d, 32);
    d
}

/// entPhySensorType, scale (units(9)), precision, and the factor to the served integer. A
/// fan read in percent (a Redfish `SpeedPercent`) is other(1) in `%`, not rpm(10).
fn sensor_kind_of(row: &Item) -> (i32, i32, f64, &'static str) {
    match (&row.limits, &*row.unit) {
        (Limits::Fan { .. }, "%") => (1, 0, 1.0, "%"),
        (limits, _) => sensor_kind(limits),
    }
}

/// [`sensor_kind_of`] by the limits alone.
fn sensor_kind(limits: &Limits) -> (i32, i32, f64, &'static str) {
    match limits {
        Limits::Temperature { .. } => (8, 1, 10.0, "C"),
        Limits::Fan { .. } => (10, 0, 1.0, "RPM"),
        Limits::Voltage { .. } => (4, 3, 1000.0, "V"),
        Limits::Discrete => (12, 0, 1.0, ""),
    }
}

/// The value as ENTITY-SENSOR-MIB serves it (EntitySensorValue: -1e9..1e9).
fn served(row: &Item) -> i32 {
    let (_, _, factor, _) = sensor_kind_of(row);
    match (&row.limits, row.value, row.state) {
        // truthvalue: true(1) while good, false(2) once failed.
        (Limits::Discrete, _, Shown::Is(State::Ok)) => 1,
        (Limits::Discrete, _, _) => 2,
        (_, Some(v), _) => scaled(v, factor),
        (_, None, _) => 0,
    }
}

fn scaled(v: f64, factor: f64) -> i32 {
    let x = (v * factor).round();
    if x.is_nan() {
        0
    } else {
        x.clamp(-1e9, 1e9) as i32
    }
}

/// entPhySensorOperStatus: ok(1), unavailable(2) for an absent or not fitted item,
/// nonoperational(3) for one that stopped reading.
fn oper_status(s: Shown) -> i32 {
    match s {
        Shown::Absent | Shown::NotFitted => 2,
        Shown::Is(State::Unavailable) => 3,
        Shown::Is(_) => 1,
    }
}

/// CiscoEnvMonState: normal(1), warning(2), critical(3), shutdown(4), notPresent(5),
/// notFunctioning(6).
pub fn envmon_state(s: Shown) -> i32 {
    match s {
        Shown::Is(State::Ok) => 1,
        Shown::Is(State::Warm) => 2,
        Shown::Is(State::Critical | State::Failed) => 3,
        Shown::Is(State::Shutdown) => 4,
        Shown::Absent | Shown::NotFitted => 5,
        Shown::Is(State::Unavailable) => 6,
    }
}

/// One threshold row of CISCO-ENTITY-SENSOR-EXT-MIB.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Threshold {
    index: u32,
    value: f64,
    /// minor(10), major(20), critical(30).
    severity: i32,
    /// lessThan(1), greaterThan(3), greaterOrEqual(4).
    relation: i32,
}

impl Threshold {
    fn crossed(&self, v: f64) -> bool {
        match self.relation {
            1 => v < self.value,
            3 => v > self.value,
            _ => v >= self.value,
        }
    }
}

fn thresholds(limits: &Limits) -> Vec<Threshold> {
    let t = |index, value: Option<f64>, severity, relation| {
        value.map(|value| Threshold {
            index,
            value,
            severity,
            relation,
        })
    };
    match *limits {
        Limits::Temperature {
            warm,
            critical,
            shutdown,
        } => [
            t(1, warm, 10, 4),
            t(2, critical, 20, 4),
            t(3, shutdown, 30, 4),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Limits::Fan { min_rpm } => t(1, min_rpm, 30, 1).into_iter().collect(),
        Limits::Voltage { low, high } => [t(1, low, 30, 1), t(2, high, 30, 3)]
            .into_iter()
            .flatten()
            .collect(),
        Limits::Discrete => Vec::new(),
    }
}

fn text(s: &str) -> Value {
    Value::OctetString(OctetString(s.to_string()))
}

fn oid_of(prefix: &[u32], tail: &[u32]) -> Vec<u32> {
    let mut o = Vec::with_capacity(prefix.len() + tail.len());
    o.extend_from_slice(prefix);
    o.extend_from_slice(tail);
    o
}

/// The served view: rows sorted by OID.
#[derive(Debug, Clone, Default)]
pub struct Mib {
    rows: Vec<(Vec<u32>, Value)>,
}

/// CISCO-ENVMON-MIB's status-table rows of the item at entity index `idx`.
fn envmon_rows(row: &Item, idx: u32, descr: &str) -> Vec<(Vec<u32>, Value)> {
    let env = |table: u32, col: u32, idx: u32| oid_of(&CISCO_ENVMON_OBJECTS, &[table, 1, col, idx]);
    let mut rows = Vec::new();
    let state = Value::Integer(envmon_state(row.state));
    let value = row.value.unwrap_or(0.0);
    match layout::view(row.class).envmon {
        Some(EnvmonTable::Voltage) => {
            rows.push((env(2, 2, idx), text(descr)));
            rows.push((env(2, 3, idx), Value::Integer(scaled(value, 1000.0))));
            if let Limits::Voltage { low, high } = row.limits {
                if let Some(l) = low {
                    rows.push((env(2, 4, idx), Value::Integer(scaled(l, 1000.0))));
                }
                if let Some(h) = high {
                    rows.push((env(2, 5, idx), Value::Integer(scaled(h, 1000.0))));
                }
            }
            rows.push((env(2, 6, idx), Value::Integer(0)));
            rows.push((env(2, 7, idx), state));
        }
        Some(EnvmonTable::Temperature) => {
            rows.push((env(3, 2, idx), text(descr)));
            rows.push((
                env(3, 3, idx),
                Value::Gauge32(scaled(value, 1.0).max(0) as u32),
            ));
            if let Limits::Temperature {
                critical, shutdown, ..
            } = row.limits
            {
                if let Some(t) = shutdown.or(critical) {
                    rows.push((env(3, 4, idx), Value::Integer(scaled(t, 1.0))));
                }
            }
            rows.push((env(3, 5, idx), Value::Integer(0)));
            rows.push((env(3, 6, idx), state));
        }
        Some(EnvmonTable::Fan) => {
            rows.push((env(4, 2, idx), text(descr)));
            rows.push((env(4, 3, idx), state));
        }
        Some(EnvmonTable::Supply) => {
            rows.push((env(5, 2, idx), text(descr)));
            rows.push((env(5, 3, idx), state));
            rows.push((env(5, 4, idx), Value::Integer(1))); // unknown source
        }
        None => {}
    }
    rows
}

/// A power figure's entPhysicalTable and entPhySensorTable rows: watts(6), amperes(5) or
/// other(1) for joules, in tenths; no thresholds (they are not judged), no ENVMON row.
fn power_rows(p: &PowerItem, idx: u32, i: &Inputs) -> Vec<(Vec<u32>, Value)> {
    let ent = |col: u32| oid_of(&ENT_PHYSICAL_TABLE, &[1, col, idx]);
    let sen = |col: u32| oid_of(&ENT_PHY_SENSOR_TABLE, &[1, col, idx]);
    let mut descr = p.name.clone();
    envmon_core::frame::truncate_at_char(&mut descr, 32);
    let kind = match p.unit.as_str() {
        "W" => 6,
        "A" => 5,
        _ => 1,
    };
    vec![
        (ent(2), text(&descr)),
        (ent(3), Value::ObjectIdentifier(super::pdu::oid(&[0, 0]))),
        (ent(4), Value::Integer(CHASSIS_INDEX as i32)),
        (ent(5), Value::Integer(8)), // sensor
        (
            ent(6),
            Value::Integer(i32::try_from(idx).unwrap_or(i32::MAX) - 1),
        ),
        (ent(7), text(&descr)),
        (ent(14), text(&format!("power-{}", p.number))),
        (ent(16), Value::Integer(2)),
        (sen(1), Value::Integer(kind)),
        (sen(2), Value::Integer(9)), // units
        (sen(3), Value::Integer(1)),
        (
            sen(4),
            Value::Integer(p.value.map_or(0, |v| scaled(v, 10.0))),
        ),
        (
            sen(5),
            Value::Integer(if p.value.is_some() { 1 } else { 3 }),
        ),
        (sen(6), text(&p.unit)),
        (sen(7), Value::TimeTicks(0)),
        (
            sen(8),
            Value::Gauge32(u32::try_from(i.interval_ms).unwrap_or(u32::MAX)),
        ),
    ]
}

/// The rows of the item `row` at position `k`: its ENTITY-MIB entry, its
/// ENTITY-SENSOR-MIB value, its CISCO-ENTITY-SENSOR-EXT-MIB thresholds and, with the
/// envmon view, its CISCO-ENVMON-MIB status.
fn item_rows(rows: &mut Vec<(Vec<u32>, Value)>, row: &Item, k: usize, i: &Inputs) {
    let ent = |col: u32, idx: u32| oid_of(&ENT_PHYSICAL_TABLE, &[1, col, idx]);
    let sen = |col: u32, idx: u32| oid_of(&ENT_PHY_SENSOR_TABLE, &[1, col, idx]);
    let ext = |col: u32, idx: u32, t: u32| oid_of(&CE_SENSOR_EXT_OBJECTS, &[1, 1, col, idx, t]);
    let on_off = |on: bool| Value::Integer(if on { 1 } else { 2 });
    let idx = entity_index(k);
    let descr = describe(row);
    rows.push((ent(2, idx), text(&descr)));
    rows.push((
        ent(3, idx),
        Value::ObjectIdentifier(super::pdu::oid(&[0, 0])),
    ));
    rows.push((ent(4, idx), Value::Integer(CHASSIS_INDEX as i32)));
    rows.push((ent(5, idx), Value::Integer(8))); // sensor
    rows.push((ent(6, idx), Value::Integer(k as i32 + 1)));
    rows.push((ent(7, idx), text(&descr)));
    rows.push((ent(14, idx), text(&row.id)));
    rows.push((ent(16, idx), Value::Integer(2)));

    let (kind, precision, factor, units) = sensor_kind_of(row);
    let stamp = row.age_ms.map_or(0, |a| {
        i.uptime_cs
            .saturating_sub((a / 10).min(u64::from(u32::MAX)) as u32)
    });
    rows.push((sen(1, idx), Value::Integer(kind)));
    rows.push((sen(2, idx), Value::Integer(9))); // units
    rows.push((sen(3, idx), Value::Integer(precision)));
    rows.push((sen(4, idx), Value::Integer(served(row))));
    rows.push((sen(5, idx), Value::Integer(oper_status(row.state))));
    rows.push((sen(6, idx), text(units)));
    rows.push((sen(7, idx), Value::TimeTicks(stamp as i32)));
    rows.push((
        sen(8, idx),
        Value::Gauge32(u32::try_from(i.interval_ms).unwrap_or(u32::MAX)),
    ));

    for t in thresholds(&row.limits) {
        let crossed = row.value.is_some_and(|v| t.crossed(v));
        rows.push((ext(2, idx, t.index), Value::Integer(t.severity)));
        rows.push((ext(3, idx, t.index), Value::Integer(t.relation)));
        rows.push((
            ext(4, idx, t.index),
            Value::Integer(scaled(t.value, factor)),
        ));
        rows.push((ext(5, idx, t.index), on_off(crossed)));
        rows.push((ext(6, idx, t.index), on_off(i.threshold_notifications)));
    }

    if i.envmon_view {
        rows.extend(envmon_rows(row, idx, &descr));
    }
}

impl Mib {
    /// Builds the view.
    pub fn build(i: &Inputs) -> Mib {
        let mut rows = Vec::with_capacity(16 + i.sensors.len() * 24);
        let ent = |col: u32, idx: u32| oid_of(&ENT_PHYSICAL_TABLE, &[1, col, idx]);
        let chassis = format!("Appliance chassis ({})", i.board);
        rows.push((ent(2, CHASSIS_INDEX), text(&chassis)));
        rows.push((
            ent(3, CHASSIS_INDEX),
            Value::ObjectIdentifier(super::pdu::oid(&[0, 0])),
        ));
        rows.push((ent(4, CHASSIS_INDEX), Value::Integer(0)));
        rows.push((ent(5, CHASSIS_INDEX), Value::Integer(3))); // chassis
        rows.push((ent(6, CHASSIS_INDEX), Value::Integer(-1)));
        rows.push((ent(7, CHASSIS_INDEX), text("chassis")));
        rows.push((ent(14, CHASSIS_INDEX), text(i.board)));
        rows.push((ent(16, CHASSIS_INDEX), Value::Integer(2)));
        let on_off = |on: bool| Value::Integer(if on { 1 } else { 2 });
        rows.push((
            oid_of(&CE_SENSOR_EXT_OBJECTS, &[2, 1, 0]),
            on_off(i.threshold_notifications),
        ));
        if i.envmon_view {
            rows.push((oid_of(&CISCO_ENVMON_OBJECTS, &[1, 0]), Value::Integer(14))); // other
        }
        for (k, row) in i.sensors.iter().enumerate() {
            // Temperatures in degrees C, as the MIBs serve them (a board in F converts).
            item_rows(&mut rows, &row.in_celsius(), k, i);
        }
        for (k, p) in i.power.iter().enumerate() {
            rows.extend(power_rows(p, entity_index(i.sensors.len() + k), i));
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        Mib { rows }
    }

    /// Every row, sorted.
    pub fn rows(&self) -> &[(Vec<u32>, Value)] {
        &self.rows
    }

    /// Get: the value of exactly `oid`.
    pub fn get(&self, oid: &[u32]) -> Value {
        match self.rows.binary_search_by(|(o, _)| o.as_slice().cmp(oid)) {
            Ok(i) => self.rows[i].1.clone(),
            Err(_) => Value::NoSuchObject,
        }
    }

    /// GetNext within a range: the first row after its start (or at it, when included) and
    /// before its end. `None`: endOfMibView.
    pub fn next(&self, r: &Range) -> Option<(Vec<u32>, Value)> {
        let from = self.rows.partition_point(|(o, _)| {
            let o = o.as_slice();
            if r.include {
                o < r.start.as_slice()
            } else {
                o <= r.start.as_slice()
            }
        });
        let (o, v) = self.rows.get(from)?;
        if !r.end.is_empty() && o.as_slice() >= r.end.as_slice() {
            return None;
        }
        Some((o.clone(), v.clone()))
    }
}

/// The subtrees envmon registers with the master.
pub fn subtrees(envmon_view: bool) -> Vec<Vec<u32>> {
    let mut t = vec![
        ENT_PHYSICAL_TABLE.to_vec(),
        ENT_PHY_SENSOR_TABLE.to_vec(),
        CE_SENSOR_EXT_OBJECTS.to_vec(),
    ];
    if envmon_view {
        t.push(CISCO_ENVMON_OBJECTS.to_vec());
    }
    t
}

/// The threshold a transition of `item` from `from` to `to` reached or cleared, if it is
/// about one (the engine decides which: `transition_threshold`, the same one the RFC 5424
/// frame names).
fn threshold_of(from: Shown, to: Shown, item: &Item) -> Option<Threshold> {
    let (Shown::Is(from), Shown::Is(to)) = (from, to) else {
        return None;
    };
    let (index, _) = transition_threshold(&item.limits, from, to, item.value)?;
    thresholds(&item.limits)
        .into_iter()
        .find(|t| t.index == index)
}

/// The notifications a change sends (each a varbind list from snmpTrapOID.0 on).
pub fn notifications(c: &Transition, on: Notifications, envmon_view: bool) -> Vec<Vec<VarBind>> {
    let mut out = Vec::new();
    let idx = entity_index(c.position);
    // Temperatures in degrees C, as the MIBs serve them (a board in F converts).
    let item = c.item.in_celsius();
    let descr = describe(&item);
    if on.threshold {
        if let Some(t) = threshold_of(c.from, c.to, &item) {
            let (kind, _, factor, _) = sensor_kind_of(&item);
            out.push(vec![
                vb(
                    &SNMP_TRAP_OID,
                    Value::ObjectIdentifier(super::pdu::oid(&CE_THRESHOLD_NOTIFICATION)),
                ),
                vb(&oid_of(&ENT_PHYSICAL_TABLE, &[1, 7, idx]), text(&descr)),
                vb(&oid_of(&ENT_PHYSICAL_TABLE, &[1, 2, idx]), text(&descr)),
                vb(
                    &oid_of(&ENT_PHY_SENSOR_TABLE, &[1, 4, idx]),
                    Value::Integer(served(&item)),
                ),
                vb(
                    &oid_of(&ENT_PHY_SENSOR_TABLE, &[1, 1, idx]),
                    Value::Integer(kind),
                ),
                vb(
                    &oid_of(&CE_SENSOR_EXT_OBJECTS, &[1, 1, 4, idx, t.index]),
                    Value::Integer(scaled(t.value, factor)),
                ),
            ]);
        }
    }
    if on.envmon && envmon_view && c.from != c.to {
        let env = |table: u32, col: u32| oid_of(&CISCO_ENVMON_OBJECTS, &[table, 1, col, idx]);
        let trap = |n: u32| {
            vb(
                &SNMP_TRAP_OID,
                Value::ObjectIdentifier(super::pdu::oid(&[1, 3, 6, 1, 4, 1, 9, 9, 13, 3, 0, n])),
            )
        };
        let state = Value::Integer(envmon_state(c.to));
        let value = item.value.unwrap_or(0.0);
        match layout::view(item.class).envmon {
            Some(EnvmonTable::Voltage) => out.push(vec![
                trap(6),
                vb(&env(2, 2), text(&descr)),
                vb(&env(2, 3), Value::Integer(scaled(value, 1000.0))),
                vb(&env(2, 7), state),
            ]),
            Some(EnvmonTable::Temperature) => out.push(vec![
                trap(7),
                vb(&env(3, 2), text(&descr)),
                vb(&env(3, 3), Value::Gauge32(scaled(value, 1.0).max(0) as u32)),
                vb(&env(3, 6), state),
            ]),
            Some(EnvmonTable::Fan) => out.push(vec![
                trap(8),
                vb(&env(4, 2), text(&descr)),
                vb(&env(4, 3), state),
            ]),
            Some(EnvmonTable::Supply) => out.push(vec![
                trap(9),
                vb(&env(5, 2), text(&descr)),
                vb(&env(5, 3), state),
            ]),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The view of `rows` and `power` at the master's uptime `uptime_cs`: board `b`, a 2 s
    /// interval, the envmon view on, threshold notifications off.
    fn mib(rows: &[Item], power: &[PowerItem], uptime_cs: u32) -> Mib {
        Mib::build(&Inputs {
            board: "b",
            sensors: rows,
            power,
            interval_ms: 2000,
            uptime_cs,
            envmon_view: true,
            threshold_notifications: false,
        })
    }

    fn cpu(value: f64, shown: Shown) -> Item {
        Item {
            id: "cpu0-temp".into(),
            label: "0".into(),
            class: Class::CpuTemp,
            limits: Limits::Temperature {
                warm: Some(75.0),
                critical: Some(90.0),
                shutdown: Some(100.0),
            },
            value: Some(value),
            state: shown,
            age_ms: Some(120),
            why: None,
            source: crate::model::ItemSource {
                board: "ipmi:CPU0 Temp".into(),
                number: Some(1),
                sdr: Some("CPU0 Temp".into()),
            },
            sdr: None,
            unit: "C".into(),
        }
    }

    #[test]
    fn a_power_sensor_is_served_in_watts_after_the_items() {
        let rows = [cpu(40.0, Shown::Is(State::Ok))];
        let power = [PowerItem {
            name: "PSU1 Power".into(),
            number: 0x20,
            sdr: None,
            status: "ok".into(),
            unit: "W".into(),
            uri: None,
            value: Some(212.5),
        }];
        let m = mib(&rows, &power, 0);
        let idx = entity_index(1);
        let sen = |col: u32| oid_of(&ENT_PHY_SENSOR_TABLE, &[1, col, idx]);
        assert_eq!(m.get(&sen(1)), Value::Integer(6), "watts(6)");
        assert_eq!(m.get(&sen(3)), Value::Integer(1), "tenths");
        assert_eq!(m.get(&sen(4)), Value::Integer(2125));
        let descr = oid_of(&ENT_PHYSICAL_TABLE, &[1, 2, idx]);
        assert_eq!(m.get(&descr), text("PSU1 Power"));
    }

    #[test]
    fn get_next_walks_in_oid_order_within_ranges() {
        let rows = [cpu(40.0, Shown::Is(State::Ok))];
        let m = mib(&rows, &[], 100_000);
        let sorted = m.rows().windows(2).all(|w| w[0].0 < w[1].0);
        assert!(sorted);
        // Walk everything from the root: every row once, in order, then the end.
        let mut at = Range {
            start: vec![1, 3],
            include: false,
            end: vec![],
        };
        let mut n = 0;
        while let Some((o, _)) = m.next(&at) {
            n += 1;
            at.start = o;
        }
        assert_eq!(n, m.rows().len());
        // An included start is answered itself; an end bounds the answer.
        let value = oid_of(&ENT_PHY_SENSOR_TABLE, &[1, 4, 2]);
        let r = Range {
            start: value.clone(),
            include: true,
            end: vec![],
        };
        assert_eq!(m.next(&r), Some((value.clone(), Value::Integer(400))));
        let r = Range {
            start: value.clone(),
            include: false,
            end: oid_of(&ENT_PHY_SENSOR_TABLE, &[1, 5]),
        };
        assert_eq!(m.next(&r), None);
        assert_eq!(m.get(&value), Value::Integer(400));
        assert_eq!(m.get(&[1, 3, 6]), Value::NoSuchObject);
        // The timestamp is the master's uptime less the reading's age.
        assert_eq!(
            m.get(&oid_of(&ENT_PHY_SENSOR_TABLE, &[1, 7, 2])),
            Value::TimeTicks(100_000 - 12)
        );
    }

    #[test]
    fn a_cpu_going_critical_sends_the_critical_threshold_once_and_its_clearing() {
        let on = Notifications {
            threshold: true,
            envmon: true,
        };
        let up = Transition {
            position: 0,
            from: Shown::Is(State::Warm),
            to: Shown::Is(State::Critical),
            item: cpu(92.0, Shown::Is(State::Critical)),
        };
        let n = notifications(&up, on, true);
        assert_eq!(n.len(), 2, "threshold and ENVMON temperature");
        let last = n[0].last().unwrap();
        assert_eq!(last.name.to_string(), "1.3.6.1.4.1.9.9.745.1.1.1.4.2.2");
        assert_eq!(last.data, Value::Integer(900));
        assert_eq!(n[1][3].data, Value::Integer(3), "critical");
        let down = Transition {
            from: Shown::Is(State::Critical),
            to: Shown::Is(State::Ok),
            ..up.clone()
        };
        assert_eq!(
            threshold_of(down.from, down.to, &down.item).map(|t| t.index),
            Some(2),
            "the one cleared"
        );
        let gone = Transition {
            to: Shown::Is(State::Unavailable),
            ..up
        };
        let n = notifications(&gone, on, true);
        assert_eq!(n.len(), 1, "no threshold for an unreadable sensor");
        assert_eq!(n[0][3].data, Value::Integer(6), "notFunctioning");
        assert!(notifications(&gone, Notifications::default(), true).is_empty());
    }

    /// Issue 35: a board in F is served in degrees C, as celsius(8) and CISCO-ENVMON-MIB
    /// say: 194 F (critical at 194 F, 90 C) is 90.0 C in the table and in the notification.
    #[test]
    fn a_board_in_fahrenheit_is_served_in_celsius() {
        let f = Item {
            limits: Limits::Temperature {
                warm: Some(167.0),
                critical: Some(194.0),
                shutdown: Some(212.0),
            },
            unit: "F".into(),
            ..cpu(194.0, Shown::Is(State::Critical))
        };
        let rows = [f.clone()];
        let m = mib(&rows, &[], 0);
        let idx = entity_index(0);
        let sen = |col: u32| oid_of(&ENT_PHY_SENSOR_TABLE, &[1, col, idx]);
        assert_eq!(m.get(&sen(4)), Value::Integer(900), "tenths of C");
        assert_eq!(m.get(&sen(6)), text("C"));
        let ext = |t: u32| oid_of(&CE_SENSOR_EXT_OBJECTS, &[1, 1, 4, idx, t]);
        assert_eq!(m.get(&ext(2)), Value::Integer(900), "critical, in C");
        let env = |col: u32| oid_of(&CISCO_ENVMON_OBJECTS, &[3, 1, col, idx]);
        assert_eq!(m.get(&env(3)), Value::Gauge32(90));
        assert_eq!(m.get(&env(4)), Value::Integer(100), "shutdown 212 F");
        let up = Transition {
            position: 0,
            from: Shown::Is(State::Warm),
            to: Shown::Is(State::Critical),
            item: f,
        };
        let on = Notifications {
            threshold: true,
            envmon: true,
        };
        let n = notifications(&up, on, true);
        assert_eq!(n[0][3].data, Value::Integer(900));
        assert_eq!(
            n[0].last().map(|v| v.data.clone()),
            Some(Value::Integer(900))
        );
        assert_eq!(n[1][2].data, Value::Gauge32(90));
    }

    #[test]
    fn a_description_of_multi_byte_characters_is_cut_at_a_character() {
        for label in [
            "ÄÖÜ",
            "温度センサー温度センサー温度センサー",
            "é".repeat(40).as_str(),
        ] {
            let row = Item {
                label: label.into(),
                ..cpu(40.0, Shown::Is(State::Ok))
            };
            let d = describe(&row);
            assert!(d.len() <= 32, "{d}");
            assert!(d.starts_with("CPU "), "{d}");
        }
    }
}
