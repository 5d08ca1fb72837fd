//! The computer system a Redfish service manages: its UUID (which host it is), its power
//! state, and its `ComputerSystem.Reset` action (the thermal action on a remote host).
//! [`parse`] is pure; [`find`] reads the service through [`Fetch`].

use super::{Fetch, RfError, RfErrorKind};
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
}

/// At most this many reset types are kept (a service listing more is trimmed).
const MAX_RESET_TYPES: usize = 16;

/// A `ComputerSystem` resource read at `path`.
pub fn parse(v: &Value, path: &str) -> Result<System, RfError> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    if !v.is_object() {
        return Err(RfError::new(RfErrorKind::WrongType("ComputerSystem"), path));
    }
    let reset = v.pointer("/Actions/#ComputerSystem.Reset");
    let reset_target = reset
        .and_then(|r| r.get("target"))
        .and_then(Value::as_str)
        .filter(|t| t.starts_with("/redfish/v1") && t.len() <= 512)
        .map(str::to_string);
    let reset_types = reset
        .and_then(|r| r.get("ResetType@Redfish.AllowableValues"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .take(MAX_RESET_TYPES)
                .map(|s| s.chars().take(32).collect())
                .collect()
        })
        .unwrap_or_default();
    Ok(System {
        path: path.to_string(),
        uuid: text("UUID").map(|u| u.chars().take(64).collect()),
        power_state: text("PowerState").map(|p| p.chars().take(32).collect()),
        reset_target,
        reset_types,
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
    let Some(systems) = root.pointer("/Systems/@odata.id").and_then(Value::as_str) else {
        return Ok(Vec::new());
    };
    let c = fetch.get(systems)?;
    Ok(c.get("Members")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|x| x.get("@odata.id").and_then(Value::as_str))
                .take(64)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default())
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
