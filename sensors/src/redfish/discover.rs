//! From the service root to every chassis' sensors, through [`Fetch`]. For each chassis the
//! new resources come first (`Sensors`, `ThermalSubsystem/Fans`, `PowerSubsystem/
//! PowerSupplies` and its redundancy groups); the deprecated `Thermal` and `Power` give only
//! the kinds the new ones lack (DMTF's public tower has both, with members that disagree; a
//! Gigabyte MegaRAC lists only power in `Sensors` and its temperatures only in `Thermal`). A
//! `Sensor` that a `Fan` reads from (`SpeedPercent.DataSourceUri`) is that fan, listed once.
//!
//! A member that does not answer or does not map is left out with a note naming it; the
//! root, the chassis collection and a chassis itself must answer.

use super::map;
use super::{Fetch, RfError, RfErrorKind, RfResource, RfSensor};

/// What discovery found.
#[derive(Debug, Default)]
pub struct Discovered {
    /// The sensors, chassis by chassis, in the service's order.
    pub sensors: Vec<RfSensor>,
    /// Members left out, and why.
    pub notes: Vec<String>,
    /// What the service's root says it can do ([`super::plan::features`]): the sweeps'
    /// reader asks for several resources in one GET where it expands.
    pub features: super::plan::Features,
}

/// The kinds the deprecated resources are taken for when the new ones lack them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Temperature,
    Fan,
    Voltage,
    Supply,
    Redundancy,
    Other,
}

fn kind(s: &RfSensor) -> Kind {
    match (s.resource, s.reading_type.as_deref()) {
        (RfResource::PowerSupply, _) => Kind::Supply,
        (RfResource::SupplyRedundancy, _) => Kind::Redundancy,
        (RfResource::Fan | RfResource::ThermalFan, _) => Kind::Fan,
        (_, Some("Rotational")) => Kind::Fan,
        (_, Some("Temperature")) => Kind::Temperature,
        (_, Some("Voltage")) => Kind::Voltage,
        _ => Kind::Other,
    }
}

/// The members of the collection at `uri`, fetched `batch` at a time ([`Fetch::get_many`])
/// and each mapped by `one`; failures noted.
fn each<F: Fetch, T>(
    f: &mut F,
    uri: &str,
    batch: usize,
    notes: &mut Vec<String>,
    mut one: impl FnMut(&serde_json::Value) -> Result<T, RfError>,
) -> Vec<T> {
    let list = match f.get(uri).and_then(|c| map::members(&c, uri)) {
        Ok(l) => l,
        Err(e) => {
            notes.push(e.to_string());
            return Vec::new();
        }
    };
    // The members a few at a time (as many in flight as the client has and the service
    // allows), each mapped before the next are asked: bounded memory.
    let mut out = Vec::new();
    for chunk in list.chunks(batch.max(1)) {
        let paths: Vec<&str> = chunk.iter().map(String::as_str).collect();
        for got in f.get_many(&paths) {
            match got.and_then(|v| one(&v)) {
                Ok(t) => out.push(t),
                Err(e) => notes.push(e.to_string()),
            }
        }
    }
    out
}

/// A linked resource, or a note.
fn linked<F: Fetch>(
    f: &mut F,
    from: &serde_json::Value,
    field: &'static str,
    at: &str,
    notes: &mut Vec<String>,
) -> Option<(String, serde_json::Value)> {
    let uri = match map::link(from, field, at) {
        Ok(u) => u?,
        Err(e) => {
            notes.push(e.to_string());
            return None;
        }
    };
    match f.get(&uri) {
        Ok(v) => Some((uri, v)),
        Err(e) => {
            notes.push(e.to_string());
            None
        }
    }
}

/// One chassis' sensors.
fn chassis<F: Fetch>(f: &mut F, uri: &str, out: &mut Discovered) -> Result<(), RfError> {
    let c = f.get(uri)?;
    let batch = if out.features.one_at_a_time {
        1
    } else {
        f.in_flight()
    };
    let notes = &mut out.notes;
    let mut new: Vec<RfSensor> = Vec::new();
    if let Some(s) = map::link(&c, "Sensors", uri)? {
        new.extend(each(f, &s, batch, notes, map::sensor));
    }
    let mut fan_sources = Vec::new();
    if let Some((t, ts)) = linked(f, &c, "ThermalSubsystem", uri, notes) {
        if let Some(fans) = map::link(&ts, "Fans", &t)? {
            for (s, source) in each(f, &fans, batch, notes, map::fan) {
                new.push(s);
                fan_sources.extend(source);
            }
        }
    }
    if let Some((p, ps)) = linked(f, &c, "PowerSubsystem", uri, notes) {
        if let Some(supplies) = map::link(&ps, "PowerSupplies", &p)? {
            new.extend(each(f, &supplies, batch, notes, map::power_supply));
        }
        new.extend(map::redundancy_groups(&ps, &p)?);
    }
    new.retain(|s| !(s.resource == RfResource::Sensor && fan_sources.contains(&s.uri)));
    let have: Vec<Kind> = new.iter().map(kind).collect();
    // Temperatures are taken per place: a deprecated one whose PhysicalContext no new
    // temperature has (a `Sensors` collection listing only the supplies' temperatures) is
    // kept, not hidden (issue 33).
    let temps_at: Vec<Option<String>> = new
        .iter()
        .filter(|s| kind(s) == Kind::Temperature)
        .map(|s| s.context.clone())
        .collect();
    let mut old = Vec::new();
    if let Some((_, t)) = linked(f, &c, "Thermal", uri, notes) {
        old.extend(map::thermal(&t)?);
    }
    if let Some((_, p)) = linked(f, &c, "Power", uri, notes) {
        old.extend(map::power(&p)?);
    }
    old.retain(|s| match kind(s) {
        Kind::Temperature => !temps_at.contains(&s.context),
        k => !have.contains(&k),
    });
    out.sensors.extend(new);
    out.sensors.extend(old);
    Ok(())
}

/// The chassis read at most (a service listing more is read up to here, and says so).
pub const MAX_CHASSIS: usize = 16;
/// The sensors kept at most (the board's items and the sweep's requests are bounded by it).
pub const MAX_SENSORS: usize = 512;

/// Every chassis' sensors, from the service root: at most [`MAX_CHASSIS`] chassis and
/// [`MAX_SENSORS`] sensors, a note saying what was left out.
pub fn discover<F: Fetch>(f: &mut F) -> Result<Discovered, RfError> {
    let root = f.get("/redfish/v1")?;
    let coll = map::link(&root, "Chassis", "/redfish/v1")?
        .ok_or_else(|| RfError::new(RfErrorKind::Missing("Chassis"), "/redfish/v1"))?;
    let list = map::members(&f.get(&coll)?, &coll)?;
    let mut out = Discovered {
        features: super::plan::features(&root),
        ..Discovered::default()
    };
    if list.len() > MAX_CHASSIS {
        out.notes.push(format!(
            "{coll}: {} chassis; the first {MAX_CHASSIS} are read (envmon's bound)",
            list.len()
        ));
    }
    for c in list.iter().take(MAX_CHASSIS) {
        chassis(f, c, &mut out)?;
        if out.sensors.len() > MAX_SENSORS {
            out.notes.push(format!(
                "more than {MAX_SENSORS} sensors: those past it (from {c} on) are left out \
                 (envmon's bound)"
            ));
            out.sensors.truncate(MAX_SENSORS);
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod bounds {
    use super::*;

    /// A service of `n` chassis, each with one temperature in its `Thermal`.
    struct Many(usize, u64);

    impl Fetch for Many {
        fn get(&mut self, path: &str) -> Result<serde_json::Value, RfError> {
            self.1 += 1;
            let id = |p: &str| serde_json::json!({"@odata.id": p});
            Ok(match path {
                "/redfish/v1" => serde_json::json!({"@odata.id": "/redfish/v1",
                    "Chassis": id("/redfish/v1/Chassis")}),
                "/redfish/v1/Chassis" => serde_json::json!({"@odata.id": path,
                    "Members": (0..self.0).map(|k| id(&format!("/redfish/v1/Chassis/{k}")))
                        .collect::<Vec<_>>()}),
                p if p.ends_with("/Thermal") => serde_json::json!({"@odata.id": p,
                    "Temperatures": [{"MemberId": "0", "Name": "Temp", "ReadingCelsius": 30}]}),
                p => serde_json::json!({"@odata.id": p, "Thermal": id(&format!("{p}/Thermal"))}),
            })
        }
        fn requests(&self) -> u64 {
            self.1
        }
    }

    /// Issue 33 (part): 512 chassis made 3,072 items and 1,024 GETs a sweep; now at most
    /// MAX_CHASSIS are read, and a note says so.
    #[test]
    fn chassis_and_sensors_are_bounded_and_the_bound_is_said() {
        let mut f = Many(512, 0);
        let d = discover(&mut f).unwrap();
        assert_eq!(d.sensors.len(), MAX_CHASSIS);
        assert!(
            f.requests() <= 2 + 2 * MAX_CHASSIS as u64,
            "{}",
            f.requests()
        );
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("512 chassis; the first 16")),
            "{:?}",
            d.notes
        );
        let d = discover(&mut Many(3, 0)).unwrap();
        assert_eq!((d.sensors.len(), d.notes.len()), (3, 0));
    }
}
