//! The computer system a Redfish service manages: its UUID (which host it is), its power
//! state, and its `ComputerSystem.Reset` action (the thermal action on a remote host).
//! [`parse`] is pure; [`find`] reads the service through [`Fetch`].

use super::{Fetch, RfError, RfErrorKind, logs::text, map};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::Value;

/// What envmon needs of a `ComputerSystem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    /// The resource (`/redfish/v1/Systems/1`).
    pub path: String,
    /// `UUID`, when the service gives one (text, as sent).
    pub uuid: Option<String>,
    /// `PowerState` (`On`, `Off`, `PoweringOn`, `PoweringOff`, `Paused`), when given.
    pub power_state: Option<String>,
    /// The Reset action's target, when the service offers it.
    pub reset_target: Option<String>,
    /// `ResetType@Redfish.AllowableValues` (empty: not said, every type may be tried).
    pub reset_types: Vec<String>,
    /// `LastResetTime` (RFC 3339, as sent, at most 64 characters): when the system last
    /// booted, for a remote host's boot report.
    pub last_reset: Option<String>,
}

/// At most this many reset types are kept (a service listing more is trimmed).
const MAX_RESET_TYPES: usize = 16;

/// A `ComputerSystem` as far as envmon reads it; a field of the wrong type is absent.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawSystem {
    #[serde(rename = "UUID", deserialize_with = "text")]
    uuid: Option<String>,
    #[serde(rename = "PowerState", deserialize_with = "text")]
    power_state: Option<String>,
    #[serde(rename = "LastResetTime", deserialize_with = "text")]
    last_reset: Option<String>,
    #[serde(rename = "Actions", deserialize_with = "lenient")]
    actions: RawActions,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawActions {
    #[serde(rename = "#ComputerSystem.Reset", deserialize_with = "lenient")]
    reset: RawReset,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawReset {
    #[serde(deserialize_with = "text")]
    target: Option<String>,
    #[serde(
        rename = "ResetType@Redfish.AllowableValues",
        deserialize_with = "texts"
    )]
    types: Vec<String>,
}

/// An object of type `T`, or its default when the service sent something else there.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(d: D) -> Result<T, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(if v.is_object() {
        T::deserialize(v).unwrap_or_default()
    } else {
        T::default()
    })
}

/// The strings of an array (sanitized, bounded, at most [`MAX_RESET_TYPES`]); others left out.
fn texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .take(MAX_RESET_TYPES)
                .map(|s| {
                    let mut s = envmon_core::text::sanitize(s);
                    envmon_core::frame::truncate_at_char(&mut s, 32);
                    s
                })
                .collect()
        })
        .unwrap_or_default())
}

/// A `ComputerSystem` resource read at `path`.
pub fn parse(v: &Value, path: &str) -> Result<System, RfError> {
    // Only an object is a resource (serde would also take an array as the struct's fields).
    if !v.is_object() {
        return Err(RfError::new(RfErrorKind::WrongType("ComputerSystem"), path));
    }
    let raw = RawSystem::deserialize(v)
        .map_err(|_| RfError::new(RfErrorKind::WrongType("ComputerSystem"), path))?;
    Ok(System {
        path: path.to_string(),
        uuid: raw.uuid,
        power_state: raw.power_state,
        reset_target: raw
            .actions
            .reset
            .target
            .filter(|t| t.starts_with("/redfish/v1") && t.len() <= 512),
        reset_types: raw.actions.reset.types,
        last_reset: raw.last_reset.filter(|t| t.len() <= 64),
    })
}

impl System {
    /// Whether the service offers `reset_type` (when it lists none, any may be tried).
    pub fn offers(&self, reset_type: &str) -> bool {
        self.reset_types.is_empty() || self.reset_types.iter().any(|t| t == reset_type)
    }

    /// Whether the power state says the system is off.
    pub fn is_off(&self) -> Option<bool> {
        self.power_state.as_deref().map(|s| s == "Off")
    }
}

/// The service's computer systems (their paths), from `/redfish/v1/Systems`.
fn members(fetch: &mut dyn Fetch) -> Result<Vec<String>, RfError> {
    let root = fetch.get("/redfish/v1")?;
    let Some(systems) = map::link(&root, "Systems", "/redfish/v1")? else {
        return Ok(Vec::new());
    };
    map::members(&fetch.get(&systems)?, &systems)
}

/// The computer system the service manages: `None` when it lists none, an error when it
/// lists several (which one is hot cannot be told from the chassis' sensors alone) or the
/// one it lists cannot be read.
pub fn find(fetch: &mut dyn Fetch) -> Result<Option<System>, RfError> {
    let m = members(fetch)?;
    match m.as_slice() {
        [] => Ok(None),
        [one] => parse(&fetch.get(one)?, one).map(Some),
        _ => Err(RfError::new(
            RfErrorKind::Io,
            format!(
                "/redfish/v1/Systems: {} systems: envmon acts on a service that manages one",
                m.len()
            ),
        )),
    }
}

/// The manager (the BMC) as far as envmon shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Manager {
    /// `Manufacturer`, when given.
    #[serde(rename = "Manufacturer", deserialize_with = "text")]
    pub manufacturer: Option<String>,
    /// `Model`, when given.
    #[serde(rename = "Model", deserialize_with = "text")]
    pub model: Option<String>,
    /// `FirmwareVersion`, when given.
    #[serde(rename = "FirmwareVersion", deserialize_with = "text")]
    pub firmware: Option<String>,
}

/// A `Manager` resource read at `path` (fields of the wrong type absent).
pub fn parse_manager(v: &Value, path: &str) -> Result<Manager, RfError> {
    if !v.is_object() {
        return Err(RfError::new(RfErrorKind::WrongType("Manager"), path));
    }
    Manager::deserialize(v).map_err(|_| RfError::new(RfErrorKind::WrongType("Manager"), path))
}

/// The service's first manager (the BMC), from `/redfish/v1/Managers`; none without one.
pub fn find_manager(fetch: &mut dyn Fetch) -> Result<Option<Manager>, RfError> {
    let root = fetch.get("/redfish/v1")?;
    let Some(managers) = map::link(&root, "Managers", "/redfish/v1")? else {
        return Ok(None);
    };
    let members = map::members(&fetch.get(&managers)?, &managers)?;
    match members.first() {
        Some(m) => parse_manager(&fetch.get(m)?, m).map(Some),
        None => Ok(None),
    }
}

/// The system read again (its power state now).
pub fn reread(fetch: &mut dyn Fetch, path: &str) -> Result<System, RfError> {
    parse(&fetch.get(path)?, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reset_action_uuid_and_power_state_are_read_and_bad_ones_left_out() {
        let v: Value = serde_json::json!({
            "UUID": "27946b59-9e44-4fa7-8e91-f3527a1ef094",
            "PowerState": "On",
            "Actions": {"#ComputerSystem.Reset": {
                "target": "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "GracefulShutdown", 7]
            }}
        });
        let s = parse(&v, "/redfish/v1/Systems/1").unwrap();
        assert_eq!(
            s.uuid.as_deref(),
            Some("27946b59-9e44-4fa7-8e91-f3527a1ef094")
        );
        assert_eq!(s.is_off(), Some(false));
        assert!(s.offers("GracefulShutdown") && !s.offers("Nmi"));
        assert_eq!(s.reset_types.len(), 3);
        let odd = serde_json::json!({"UUID": 5, "PowerState": ["On"], "Actions": "none"});
        let s = parse(&odd, "/redfish/v1/Systems/1").unwrap();
        assert_eq!((s.uuid, s.power_state, s.reset_target), (None, None, None));
        let m = parse_manager(
            &serde_json::json!({"Model": "Joo Janta 200", "FirmwareVersion": 4, "Manufacturer": "Contoso"}),
            "/redfish/v1/Managers/BMC",
        )
        .unwrap();
        assert_eq!(m.model.as_deref(), Some("Joo Janta 200"));
        assert_eq!(
            (m.firmware, m.manufacturer.as_deref()),
            (None, Some("Contoso"))
        );
        let foreign = serde_json::json!({"Actions": {"#ComputerSystem.Reset": {
            "target": "http://elsewhere/x"}}});
        let s = parse(&foreign, "/redfish/v1/Systems/1").unwrap();
        assert_eq!(
            s.reset_target, None,
            "a target off the service is not followed"
        );
        assert!(s.offers("ForceOff"), "no list: any may be tried");
        assert!(parse(&serde_json::json!([1]), "/x").is_err());
    }
}
