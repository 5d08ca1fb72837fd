//! A Redfish service's event log, decided: which entries are new, their level and line, and
//! whether a processor's thermal trip among them caused this boot. Pure: the agent reads the
//! entries (sensors' `redfish::logs`) and forwards the lines; this is the Redfish
//! counterpart of [`crate::sel`]'s decisions.

use crate::Level;
use crate::sel::{CLOCK_SLACK_SECS, MAX_TRIP_BEFORE_BOOT_SECS};

/// One entry of a Redfish log service, as much as envmon forwards of it (its text already
/// sanitized and bounded where it was read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// `Id`.
    pub id: String,
    /// `Created` (RFC 3339), if given.
    pub created: Option<String>,
    /// `Severity`: `OK`, `Warning`, `Critical`.
    pub severity: Option<String>,
    /// `SensorType` (`Processor`, `Temperature`, ...).
    pub sensor_type: Option<String>,
    /// `SensorNumber`.
    pub sensor_number: Option<u64>,
    /// `Message`.
    pub message: String,
}

/// Where reading a log resumes: the last entry forwarded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogMark {
    /// Its `Id`.
    pub id: String,
    /// Its `Created`.
    pub created: Option<String>,
}

/// The entries after `mark` in the log's order: after the marked entry where the log still
/// holds it; where it does not (cleared, wrapped), those created after it; everything
/// without a mark.
pub fn new_entries<'a>(entries: &'a [LogEntry], mark: Option<&LogMark>) -> &'a [LogEntry] {
    let Some(m) = mark else {
        return entries;
    };
    if let Some(at) = entries.iter().position(|e| e.id == m.id) {
        return &entries[at + 1..];
    }
    let first_newer = entries.iter().position(|e| match (&e.created, &m.created) {
        (Some(c), Some(mc)) => newer(c, mc),
        _ => false,
    });
    first_newer.map_or(&entries[entries.len()..], |at| &entries[at..])
}

/// Whether RFC 3339 time `a` is after `b` (unparsable: no).
fn newer(a: &str, b: &str) -> bool {
    match (
        chrono::DateTime::parse_from_rfc3339(a),
        chrono::DateTime::parse_from_rfc3339(b),
    ) {
        (Ok(a), Ok(b)) => a > b,
        _ => false,
    }
}

/// The syslog level of an entry: 3 a processor thermal trip or a `Critical` entry, 4 a
/// `Warning`, 5 every other.
pub fn level(e: &LogEntry) -> Level {
    if is_trip(e) {
        return Level::Error;
    }
    match e.severity.as_deref() {
        Some("Critical") => Level::Error,
        Some("Warning") => Level::Warning,
        _ => Level::Notice,
    }
}

/// The line of an entry (after `%FTD-<level>-SEL: `).
pub fn line(log: &str, e: &LogEntry) -> String {
    let sensor = match (&e.sensor_type, e.sensor_number) {
        (Some(t), Some(n)) => format!("{t} #{n}: "),
        (Some(t), None) => format!("{t}: "),
        _ => String::new(),
    };
    format!(
        "redfish {log} entry {} at {}: {sensor}{} ({})",
        e.id,
        e.created.as_deref().unwrap_or("-"),
        e.message,
        e.severity.as_deref().unwrap_or("-")
    )
}

/// An RFC 3339 time (a log entry's `Created`, a system's `LastResetTime`) as seconds since
/// 1970; none when it is not one, or before 1970.
pub fn epoch_seconds(text: &str) -> Option<u64> {
    let t = chrono::DateTime::parse_from_rfc3339(text.trim()).ok()?;
    u64::try_from(t.timestamp()).ok()
}

/// Whether an entry is a processor's hardware thermal trip.
pub fn is_trip(e: &LogEntry) -> bool {
    e.sensor_type.as_deref() == Some("Processor")
        && e.message.to_ascii_lowercase().contains("thermal trip")
}

fn is_boot(e: &LogEntry) -> bool {
    e.sensor_type
        .as_deref()
        .is_some_and(|t| t.to_ascii_lowercase().contains("boot"))
}

/// The latest thermal trip among `unseen` entries (the ones envmon had not forwarded before
/// this start), if any, and whether it caused this boot (`Err`: why not). The same rule as
/// the SEL's ([`crate::sel::trip_caused_this_boot`]): no boot logged after it; not after
/// this boot (`host_boot`, seconds since 1970, within [`CLOCK_SLACK_SECS`]); and, when
/// envmon did not run up to it (`resumed` false: a first start, or a lost cursor), its
/// time and this boot's known and the trip at most [`MAX_TRIP_BEFORE_BOOT_SECS`] before
/// the boot: an old trip in a long log is history, not this boot's cause. With a cursor
/// (`resumed`) the entries are those logged while envmon was not running.
pub fn boot_trip(
    unseen: &[LogEntry],
    host_boot: Option<u64>,
    resumed: bool,
) -> Option<Result<&LogEntry, String>> {
    let at = unseen.iter().rposition(is_trip)?;
    let trip = &unseen[at];
    if unseen[at + 1..].iter().any(is_boot) {
        return Some(Err("a later boot is logged after it".into()));
    }
    let created = trip.created.as_deref().and_then(epoch_seconds);
    let verdict = match (host_boot, created) {
        (Some(boot), Some(t)) if t.saturating_sub(boot) > CLOCK_SLACK_SECS => {
            Err(format!("it was logged {} s after this boot", t - boot))
        }
        (Some(boot), Some(t)) if !resumed && boot.saturating_sub(t) > MAX_TRIP_BEFORE_BOOT_SECS => {
            Err(format!(
                "it was logged {} days before this boot: history, not this boot's cause",
                (boot - t) / 86_400
            ))
        }
        _ if resumed => Ok(trip),
        (Some(_), Some(_)) => Ok(trip),
        (None, _) => Err("this host's boot time is unknown".into()),
        (_, None) => Err("the entry has no time".into()),
    };
    Some(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, created: &str, ty: &str, msg: &str) -> LogEntry {
        LogEntry {
            id: id.into(),
            created: Some(created.into()),
            severity: Some("OK".into()),
            sensor_type: Some(ty.into()),
            sensor_number: None,
            message: msg.into(),
        }
    }

    #[test]
    fn new_entries_follow_the_mark_or_the_time() {
        let log = [
            e("1", "2026-01-01T00:00:00Z", "Fan", "a"),
            e("2", "2026-01-02T00:00:00Z", "Fan", "b"),
            e("3", "2026-01-03T00:00:00Z", "Fan", "c"),
        ];
        assert_eq!(new_entries(&log, None).len(), 3);
        let m = LogMark {
            id: "2".into(),
            created: Some("2026-01-02T00:00:00Z".into()),
        };
        assert_eq!(new_entries(&log, Some(&m))[0].id, "3");
        // The log was cleared and refilled: its ids start again; the times tell.
        let refilled = [
            e("1", "2026-01-01T12:00:00Z", "Fan", "old?"),
            e("2", "2026-01-04T00:00:00Z", "Fan", "new"),
        ];
        let gone = LogMark {
            id: "9".into(),
            created: Some("2026-01-03T00:00:00Z".into()),
        };
        let fresh = new_entries(&refilled, Some(&gone));
        assert_eq!((fresh.len(), fresh[0].id.as_str()), (1, "2"));
    }

    #[test]
    fn a_trip_is_this_boots_cause_only_without_a_later_boot_and_before_this_boot() {
        let trip = e(
            "5",
            "2026-03-01T10:00:00Z",
            "Processor",
            "CPU1 Thermal Trip - Asserted",
        );
        let boot = e("6", "2026-03-01T10:05:00Z", "System Boot Initiated", "boot");
        let later = e("7", "2026-03-01T10:06:00Z", "Fan", "x");
        let booted_at = chrono::DateTime::parse_from_rfc3339("2026-03-01T10:03:00Z")
            .unwrap()
            .timestamp() as u64;
        let taken = |unseen: &[LogEntry], boot: Option<u64>, resumed: bool| {
            boot_trip(unseen, boot, resumed).map(|r| r.map(|t| t.id.clone()))
        };
        let one = std::slice::from_ref(&trip);
        for resumed in [false, true] {
            assert_eq!(
                taken(&[trip.clone(), later.clone()], Some(booted_at), resumed),
                Some(Ok("5".into()))
            );
            assert!(matches!(
                taken(&[trip.clone(), boot.clone()], Some(booted_at), resumed),
                Some(Err(_))
            ));
            assert!(
                matches!(taken(one, Some(booted_at - 3600), resumed), Some(Err(w)) if w.contains("after this boot")),
            );
        }
        assert_eq!(
            taken(std::slice::from_ref(&later), Some(booted_at), false),
            None,
            "no trip"
        );
        // Issue 33 (5): at a first start a trip 60 days before this boot is history; the
        // same found with a cursor (logged while envmon was down) is this boot's cause.
        let sixty_days = booted_at + 60 * 86_400;
        let why = taken(one, Some(sixty_days), false);
        assert!(
            matches!(&why, Some(Err(w)) if w.contains("60 days before")),
            "{why:?}"
        );
        assert_eq!(taken(one, Some(sixty_days), true), Some(Ok("5".into())));
        // Without this boot's time (a remote host that does not say it) nothing is taken at
        // a first start.
        assert!(matches!(taken(one, None, false), Some(Err(w)) if w.contains("unknown")));
        assert_eq!(taken(one, None, true), Some(Ok("5".into())));
        assert_eq!(level(&trip), Level::Error);
        assert_eq!(
            line("/redfish/v1/Systems/1/LogServices/SEL/Entries", &later),
            "redfish /redfish/v1/Systems/1/LogServices/SEL/Entries entry 7 at 2026-03-01T10:06:00Z: Fan: x (OK)"
        );
    }
}
