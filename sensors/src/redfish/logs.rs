//! A Redfish service's event logs, read: the entry collections of its systems' log services
//! (Intel's `SEL`, DMTF's `Log1`) and a log's entries in order. Each entry's JSON is
//! deserialized into a typed struct (never indexed by key); a field of the wrong type is
//! taken as absent, and the text is sanitized and bounded here, where it enters. What to do
//! with the entries is decided in `envmon_core::eventlog`.

use super::{Fetch, RfError, RfErrorKind, map};
use envmon_core::eventlog::LogEntry;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The longest text envmon keeps of an entry's field.
pub const TEXT_MAX: usize = 256;

/// A `LogEntry` resource as far as envmon reads it (Redfish `LogEntry` schema).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct RawEntry {
    #[serde(deserialize_with = "text")]
    id: Option<String>,
    #[serde(deserialize_with = "text")]
    message: Option<String>,
    #[serde(deserialize_with = "text")]
    message_id: Option<String>,
    #[serde(deserialize_with = "text")]
    created: Option<String>,
    #[serde(deserialize_with = "text")]
    severity: Option<String>,
    #[serde(deserialize_with = "text")]
    sensor_type: Option<String>,
    #[serde(deserialize_with = "number")]
    sensor_number: Option<u64>,
}

/// A string field: sanitized and cut at [`TEXT_MAX`]; any other type is absent.
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => {
            let mut s = envmon_core::text::sanitize(&s);
            envmon_core::frame::truncate_at_char(&mut s, TEXT_MAX);
            Some(s)
        }
        _ => None,
    })
}

/// A whole-number field; any other type is absent.
fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Value::deserialize(d)?.as_u64())
}

/// An entry from its JSON (a member of the collection or the entry's own resource); none
/// without an `Id` or without anything to say (`Message`, else `MessageId`).
pub fn entry(v: &Value) -> Option<LogEntry> {
    // Only an object is a resource (serde would also take an array as the struct's fields).
    if !v.is_object() {
        return None;
    }
    let raw = RawEntry::deserialize(v).ok()?;
    Some(LogEntry {
        id: raw.id?,
        message: raw.message.or(raw.message_id)?,
        created: raw.created,
        severity: raw.severity,
        sensor_type: raw.sensor_type,
        sensor_number: raw.sensor_number,
    })
}

/// The entry collections of the service's systems' log services, in the service's order.
pub fn find_logs(f: &mut (impl Fetch + ?Sized)) -> Result<Vec<String>, RfError> {
    let root = f.get("/redfish/v1")?;
    let Some(systems) = map::link(&root, "Systems", "/redfish/v1")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for s in map::members(&f.get(&systems)?, &systems)? {
        let sys = f.get(&s)?;
        let Some(services) = map::link(&sys, "LogServices", &s)? else {
            continue;
        };
        for l in map::members(&f.get(&services)?, &services)? {
            let svc = f.get(&l)?;
            if let Some(entries) = map::link(&svc, "Entries", &l)? {
                out.push(entries);
            }
        }
    }
    Ok(out)
}

/// A log's entries in order: the members as the collection embeds them, or, where it only
/// links them, each fetched from the one whose Id is `from_id` on (those before it were
/// forwarded already: not asked for again), while fewer than `limit` are held.
pub fn entries(
    f: &mut (impl Fetch + ?Sized),
    uri: &str,
    from_id: Option<&str>,
    limit: usize,
) -> Result<Vec<LogEntry>, RfError> {
    read(f, uri, from_id, limit).map(|r| r.entries)
}

/// A log as read: its entries from a mark on ([`entries`]) and how many it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRead {
    /// The entries, in order.
    pub entries: Vec<LogEntry>,
    /// How many entries the log holds (`Members@odata.count`, else the members listed).
    pub total: u64,
}

/// [`entries`], with the log's size.
pub fn read(
    f: &mut (impl Fetch + ?Sized),
    uri: &str,
    from_id: Option<&str>,
    limit: usize,
) -> Result<LogRead, RfError> {
    let coll = f.get(uri)?;
    let members = coll
        .get("Members")
        .and_then(Value::as_array)
        .ok_or_else(|| RfError::new(RfErrorKind::Missing("Members"), uri))?;
    let total = coll
        .get("Members@odata.count")
        .and_then(Value::as_u64)
        .unwrap_or(members.len() as u64);
    let linked_mark = |m: &Value| {
        entry(m).is_none()
            && from_id.is_some_and(|k| {
                map::odata_id(m, uri).is_ok_and(|id| id.rsplit('/').next() == Some(k))
            })
    };
    let start = members.iter().position(linked_mark).unwrap_or(0);
    let mut out = Vec::new();
    for m in members.iter().skip(start).take(map::MEMBERS_MAX * 8) {
        match entry(m) {
            Some(e) => out.push(e),
            None => {
                // A link only: the entry's own resource.
                let Ok(id) = map::odata_id(m, uri) else {
                    continue;
                };
                if out.len() > limit {
                    break;
                }
                if let Some(e) = entry(&f.get(&id)?) {
                    out.push(e);
                }
            }
        }
    }
    Ok(LogRead {
        entries: out,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_entry_is_typed_and_its_text_sanitized() {
        let e = entry(
            &json!({"Id": "7", "Message": "CPU1\nThermal %Trip", "Created": 5,
            "Severity": "Critical", "SensorType": "Processor", "SensorNumber": 48}),
        )
        .unwrap();
        assert_eq!(e.id, "7");
        assert!(!e.message.contains(['\n', '%']), "{}", e.message);
        assert_eq!(e.created, None, "a number is not a time");
        assert_eq!(e.sensor_number, Some(48));
        assert!(entry(&json!({"Id": "8"})).is_none(), "nothing to say");
        assert!(entry(&json!({"Id": 8, "Message": "x"})).is_none(), "no Id");
        assert_eq!(
            entry(&json!({"Id": "9", "MessageId": "Event.1.0.X"}))
                .unwrap()
                .message,
            "Event.1.0.X"
        );
        let long = "x".repeat(1000);
        assert_eq!(
            entry(&json!({"Id": "1", "Message": long}))
                .unwrap()
                .message
                .len(),
            TEXT_MAX
        );
        assert!(entry(&json!(["not", "an", "object"])).is_none());
    }
}
