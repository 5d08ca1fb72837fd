//! Pure: one Redfish resource (parsed JSON) to the sensors it holds. The new resources
//! (`Sensor`, `Fan`, `PowerSupply`) give one each; the deprecated `Thermal` and `Power` give
//! their members (`Temperatures`, `Fans`, `Voltages`, `PowerSupplies`, `Redundancy`), each
//! named by its own `@odata.id` (a JSON pointer into the resource) or, where the service
//! leaves it out, by the resource's id and the member's place.
//!
//! A value of the wrong JSON type is an error naming the field (a number sent as a string is
//! not read as a number); an absent optional field is `None`.

use super::{RfError, RfErrorKind, RfResource, RfSensor, RfThresholds};
use serde_json::Value;

/// Names longer than this are cut (at a character).
pub const NAME_MAX: usize = 64;
/// Members read of one array (a hostile service's million-element array is cut here).
pub const MEMBERS_MAX: usize = 512;

fn wrong(field: &'static str, at: &str) -> RfError {
    RfError::new(RfErrorKind::WrongType(field), at)
}

/// An optional number.
fn num(v: &Value, field: &'static str, at: &str) -> Result<Option<f64>, RfError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64().filter(|x| x.is_finite())),
        Some(_) => Err(wrong(field, at)),
    }
}

/// An optional string, sanitized and bounded.
fn text(v: &Value, field: &'static str, at: &str) -> Result<Option<String>, RfError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let mut s = envmon_core::text::sanitize(s);
            envmon_core::frame::truncate_at_char(&mut s, NAME_MAX);
            Ok(Some(s))
        }
        Some(_) => Err(wrong(field, at)),
    }
}

/// An optional object.
fn object<'a>(v: &'a Value, field: &'static str, at: &str) -> Result<Option<&'a Value>, RfError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(o @ Value::Object(_)) => Ok(Some(o)),
        Some(_) => Err(wrong(field, at)),
    }
}

/// An optional array (at most [`MEMBERS_MAX`] members).
fn array<'a>(v: &'a Value, field: &'static str, at: &str) -> Result<&'a [Value], RfError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(&a[..a.len().min(MEMBERS_MAX)]),
        Some(_) => Err(wrong(field, at)),
    }
}

/// The resource's own `@odata.id` (required).
pub fn odata_id(v: &Value, at: &str) -> Result<String, RfError> {
    match v.get("@odata.id") {
        Some(Value::String(s)) => Ok(envmon_core::text::sanitize(s)),
        Some(_) => Err(wrong("@odata.id", at)),
        None => Err(RfError::new(RfErrorKind::Missing("@odata.id"), at)),
    }
}

/// A link: `{"@odata.id": "..."}` under `field`, if present.
pub fn link(v: &Value, field: &'static str, at: &str) -> Result<Option<String>, RfError> {
    object(v, field, at)?.map(|o| odata_id(o, at)).transpose()
}

/// A collection's members' links.
pub fn members(v: &Value, at: &str) -> Result<Vec<String>, RfError> {
    array(v, "Members", at)?
        .iter()
        .map(|m| odata_id(m, at))
        .collect()
}

/// `Status.State` and `Status.Health`.
fn status(v: &Value, at: &str) -> Result<(Option<String>, Option<String>), RfError> {
    match object(v, "Status", at)? {
        Some(s) => Ok((text(s, "State", at)?, text(s, "Health", at)?)),
        None => Ok((None, None)),
    }
}

/// A new-style `Thresholds` object: `{"UpperCaution": {"Reading": 42}, ...}`.
fn thresholds(v: &Value, at: &str) -> Result<RfThresholds, RfError> {
    let Some(t) = object(v, "Thresholds", at)? else {
        return Ok(RfThresholds::default());
    };
    let one = |field: &'static str| -> Result<Option<f64>, RfError> {
        match object(t, field, at)? {
            Some(o) => num(o, "Reading", at),
            None => Ok(None),
        }
    };
    Ok(RfThresholds {
        upper_caution: one("UpperCaution")?,
        upper_critical: one("UpperCritical")?,
        upper_fatal: one("UpperFatal")?,
        lower_caution: one("LowerCaution")?,
        lower_critical: one("LowerCritical")?,
        lower_fatal: one("LowerFatal")?,
    })
}

/// The deprecated members' thresholds: `UpperThresholdNonCritical`, ...
fn legacy_thresholds(v: &Value, at: &str) -> Result<RfThresholds, RfError> {
    Ok(RfThresholds {
        upper_caution: num(v, "UpperThresholdNonCritical", at)?,
        upper_critical: num(v, "UpperThresholdCritical", at)?,
        upper_fatal: num(v, "UpperThresholdFatal", at)?,
        lower_caution: num(v, "LowerThresholdNonCritical", at)?,
        lower_critical: num(v, "LowerThresholdCritical", at)?,
        lower_fatal: num(v, "LowerThresholdFatal", at)?,
    })
}

/// What a `Sensor` without `ReadingType` measures, by its units.
fn type_of_units(units: &str) -> Option<&'static str> {
    Some(match units {
        "Cel" => "Temperature",
        "RPM" | "{rev}/min" => "Rotational",
        "%" => "Percent",
        "V" => "Voltage",
        "A" => "Current",
        "W" => "Power",
        "kW.h" => "EnergykWh",
        "W.h" => "EnergyWh",
        "J" => "EnergyJoules",
        _ => return None,
    })
}

/// A `Sensor` resource.
pub fn sensor(v: &Value) -> Result<RfSensor, RfError> {
    let at = odata_id(v, "Sensor")?;
    let units = text(v, "ReadingUnits", &at)?;
    let reading_type = text(v, "ReadingType", &at)?
        .or_else(|| units.as_deref().and_then(type_of_units).map(str::to_string));
    let (state, health) = status(v, &at)?;
    Ok(RfSensor {
        name: text(v, "Name", &at)?.unwrap_or_else(|| at.clone()),
        resource: RfResource::Sensor,
        reading_type,
        units,
        context: text(v, "PhysicalContext", &at)?,
        reading: num(v, "Reading", &at)?,
        thresholds: thresholds(v, &at)?,
        state,
        health,
        uri: at,
    })
}

/// A member's URI: its own `@odata.id`, else the resource's and its place.
fn member_uri(m: &Value, parent: &str, list: &str, i: usize) -> Result<String, RfError> {
    match m.get("@odata.id") {
        Some(_) => odata_id(m, parent),
        None => Ok(format!("{parent}#/{list}/{i}")),
    }
}

/// A deprecated `Thermal` resource: its temperatures and fans.
pub fn thermal(v: &Value) -> Result<Vec<RfSensor>, RfError> {
    let at = odata_id(v, "Thermal")?;
    let mut out = Vec::new();
    for (i, m) in array(v, "Temperatures", &at)?.iter().enumerate() {
        let uri = member_uri(m, &at, "Temperatures", i)?;
        let (state, health) = status(m, &uri)?;
        out.push(RfSensor {
            name: text(m, "Name", &uri)?.unwrap_or_else(|| uri.clone()),
            resource: RfResource::ThermalTemperature,
            reading_type: Some("Temperature".into()),
            units: Some("Cel".into()),
            context: text(m, "PhysicalContext", &uri)?,
            reading: num(m, "ReadingCelsius", &uri)?,
            thresholds: legacy_thresholds(m, &uri)?,
            state,
            health,
            uri,
        });
    }
    for (i, m) in array(v, "Fans", &at)?.iter().enumerate() {
        let uri = member_uri(m, &at, "Fans", i)?;
        let (state, health) = status(m, &uri)?;
        let units = text(m, "ReadingUnits", &uri)?;
        let reading_type = match units.as_deref() {
            Some("Percent") => "Percent",
            _ => "Rotational",
        };
        out.push(RfSensor {
            // Older services name fans by `FanName`.
            name: match text(m, "Name", &uri)? {
                Some(n) => n,
                None => text(m, "FanName", &uri)?.unwrap_or_else(|| uri.clone()),
            },
            resource: RfResource::ThermalFan,
            reading_type: Some(reading_type.into()),
            units,
            context: text(m, "PhysicalContext", &uri)?,
            reading: num(m, "Reading", &uri)?,
            thresholds: legacy_thresholds(m, &uri)?,
            state,
            health,
            uri,
        });
    }
    Ok(out)
}

/// A supply or a redundancy group: state and health only.
fn part(m: &Value, uri: String, resource: RfResource) -> Result<RfSensor, RfError> {
    let (state, health) = status(m, &uri)?;
    Ok(RfSensor {
        name: text(m, "Name", &uri)?.unwrap_or_else(|| uri.clone()),
        resource,
        reading_type: None,
        units: None,
        context: None,
        reading: None,
        thresholds: RfThresholds::default(),
        state,
        health,
        uri,
    })
}

/// A deprecated `Power` resource: its voltages, supplies and redundancy groups.
pub fn power(v: &Value) -> Result<Vec<RfSensor>, RfError> {
    let at = odata_id(v, "Power")?;
    let mut out = Vec::new();
    for (i, m) in array(v, "Voltages", &at)?.iter().enumerate() {
        let uri = member_uri(m, &at, "Voltages", i)?;
        let (state, health) = status(m, &uri)?;
        out.push(RfSensor {
            name: text(m, "Name", &uri)?.unwrap_or_else(|| uri.clone()),
            resource: RfResource::PowerVoltage,
            reading_type: Some("Voltage".into()),
            units: Some("V".into()),
            context: text(m, "PhysicalContext", &uri)?,
            reading: num(m, "ReadingVolts", &uri)?,
            thresholds: legacy_thresholds(m, &uri)?,
            state,
            health,
            uri,
        });
    }
    for (i, m) in array(v, "PowerSupplies", &at)?.iter().enumerate() {
        let uri = member_uri(m, &at, "PowerSupplies", i)?;
        out.push(part(m, uri, RfResource::PowerSupply)?);
    }
    for (i, m) in array(v, "Redundancy", &at)?.iter().enumerate() {
        let uri = member_uri(m, &at, "Redundancy", i)?;
        out.push(part(m, uri, RfResource::SupplyRedundancy)?);
    }
    Ok(out)
}

/// A `PowerSubsystem`'s redundancy groups (`PowerSupplyRedundancy`).
pub fn redundancy_groups(v: &Value, at: &str) -> Result<Vec<RfSensor>, RfError> {
    array(v, "PowerSupplyRedundancy", at)?
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let uri = member_uri(m, at, "PowerSupplyRedundancy", i)?;
            let mut group = part(m, uri.clone(), RfResource::SupplyRedundancy)?;
            if group.name == uri {
                // A RedundantGroup has no Name of its own.
                group.name = format!("Power supply redundancy {}", i + 1);
            }
            Ok(group)
        })
        .collect()
}

/// A `PowerSupply` resource (the `PowerSubsystem`'s).
pub fn power_supply(v: &Value) -> Result<RfSensor, RfError> {
    let at = odata_id(v, "PowerSupply")?;
    part(v, at, RfResource::PowerSupply)
}

/// A `Fan` resource (the `ThermalSubsystem`'s): RPM where the service gives it, else the
/// percentage; the sensor behind it (`SpeedPercent.DataSourceUri`) returned beside.
pub fn fan(v: &Value) -> Result<(RfSensor, Option<String>), RfError> {
    let at = odata_id(v, "Fan")?;
    let (state, health) = status(v, &at)?;
    let speed = object(v, "SpeedPercent", &at)?;
    let rpm = match speed {
        Some(s) => num(s, "SpeedRPM", &at)?,
        None => None,
    };
    let percent = match speed {
        Some(s) => num(s, "Reading", &at)?,
        None => None,
    };
    let source = match speed {
        Some(s) => text(s, "DataSourceUri", &at)?,
        None => None,
    };
    let (reading_type, units, reading) = match (rpm, percent) {
        (Some(r), _) => ("Rotational", "RPM", Some(r)),
        (None, p) => ("Percent", "%", p),
    };
    Ok((
        RfSensor {
            name: text(v, "Name", &at)?.unwrap_or_else(|| at.clone()),
            resource: RfResource::Fan,
            reading_type: Some(reading_type.into()),
            units: Some(units.into()),
            context: text(v, "PhysicalContext", &at)?,
            reading,
            thresholds: RfThresholds::default(),
            state,
            health,
            uri: at,
        },
        source,
    ))
}

/// A body's JSON (at most [`super::files::MAX_BODY`] bytes; serde_json stops nesting at
/// 128 levels).
pub fn parse(body: &[u8], at: &str) -> Result<Value, RfError> {
    if body.len() as u64 > super::files::MAX_BODY {
        return Err(RfError::new(RfErrorKind::TooLarge, at));
    }
    serde_json::from_slice(body)
        .map_err(|e| RfError::new(RfErrorKind::NotJson, format!("{at}: {e}")))
}

/// Any resource envmon reads sensors from, by its `@odata.type`: a `Sensor`, `Fan` or
/// `PowerSupply` gives one, `Thermal` and `Power` their members, a `PowerSubsystem` its
/// redundancy groups; anything else none.
pub fn resource(v: &Value) -> Result<Vec<RfSensor>, RfError> {
    let at = odata_id(v, "resource")?;
    let kind = text(v, "@odata.type", &at)?.unwrap_or_default();
    let name = kind
        .trim_start_matches('#')
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string();
    Ok(match name.as_str() {
        "Sensor" => vec![sensor(v)?],
        "Fan" => vec![fan(v)?.0],
        "PowerSupply" => vec![power_supply(v)?],
        "Thermal" => thermal(v)?,
        "Power" => power(v)?,
        "PowerSubsystem" => redundancy_groups(v, &at)?,
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sensor_and_its_thresholds() {
        let s = sensor(&json!({
            "@odata.id": "/redfish/v1/Chassis/T/Sensors/CPU1Temp", "Name": "CPU #1 Temperature",
            "PhysicalContext": "CPU", "Reading": 37, "ReadingUnits": "Cel",
            "Status": {"State": "Enabled", "Health": "OK"},
            "Thresholds": {"UpperCaution": {"Reading": 42}, "UpperCritical": {"Reading": 45},
                           "UpperFatal": {"Reading": 50}}
        }))
        .unwrap();
        assert_eq!(
            s.reading_type.as_deref(),
            Some("Temperature"),
            "from its units"
        );
        assert_eq!(s.reading, Some(37.0));
        assert_eq!(
            (
                s.thresholds.upper_caution,
                s.thresholds.upper_critical,
                s.thresholds.upper_fatal
            ),
            (Some(42.0), Some(45.0), Some(50.0))
        );
    }

    #[test]
    fn wrong_types_are_errors_naming_the_field() {
        let e = sensor(&json!({"@odata.id": "/x", "Reading": "37"})).unwrap_err();
        assert_eq!(e.kind, RfErrorKind::WrongType("Reading"));
        assert_eq!(e.to_string(), "/x: Reading has the wrong type");
        let e = sensor(&json!({"Name": "no id"})).unwrap_err();
        assert_eq!(e.kind, RfErrorKind::Missing("@odata.id"));
        let e = thermal(&json!({"@odata.id": "/t", "Temperatures": {"0": {}}})).unwrap_err();
        assert_eq!(e.kind, RfErrorKind::WrongType("Temperatures"));
        let e = sensor(&json!({"@odata.id": "/x", "Status": "OK"})).unwrap_err();
        assert_eq!(e.kind, RfErrorKind::WrongType("Status"));
    }

    #[test]
    fn legacy_members_are_named_by_their_place() {
        let t = thermal(&json!({
            "@odata.id": "/redfish/v1/Chassis/1/Thermal",
            "Temperatures": [{"Name": "CPU1 Temp", "ReadingCelsius": 41, "UpperThresholdCritical": 45}],
            "Fans": [{"FanName": "Fan 1", "Reading": 35, "ReadingUnits": "Percent",
                      "Status": {"State": "Absent"}}]
        }))
        .unwrap();
        assert_eq!(t[0].uri, "/redfish/v1/Chassis/1/Thermal#/Temperatures/0");
        assert_eq!(t[0].thresholds.upper_critical, Some(45.0));
        assert_eq!(t[1].name, "Fan 1");
        assert_eq!(t[1].reading_type.as_deref(), Some("Percent"));
        assert_eq!(t[1].state.as_deref(), Some("Absent"));
    }

    #[test]
    fn names_are_sanitized_and_bounded() {
        let long = "\u{e9}".repeat(100);
        let s = sensor(&json!({"@odata.id": "/x", "Name": format!("A\n<11>%FTD{long}")})).unwrap();
        assert!(!s.name.contains('\n') && !s.name.contains('%') && !s.name.contains('<'));
        assert!(s.name.len() <= NAME_MAX);
    }
}
