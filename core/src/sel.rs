//! The BMC's System Event Log (SEL), pure: what Get SEL Info and Get SEL Entry answer, what
//! an entry means (IPMI 2.0 sections 31-32, tables 42-1 to 42-3), the syslog text of an
//! entry, and where reading resumes after a restart or a clear.
//!
//! SEL lines are not catalog messages: they are the BMC's record, forwarded. They go to
//! syslog with the RFC 5424 MSGID `SEL` and, in RFC 3164, the fixed prefix `%FTD-<level>-SEL:`
//! (docs/sel.md). They never fake a 735xxx transition.

use crate::Level;
use std::fmt;

/// What is wrong with an answer about the SEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelError(pub String);

impl fmt::Display for SelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SelError {}

/// Get SEL Info's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelInfo {
    /// Entries in the SEL.
    pub entries: u16,
    /// Free space in bytes (0xFFFF: 65535 or more).
    pub free_bytes: u16,
    /// Most recent addition (seconds since 1970, or 0xFFFFFFFF: none).
    pub add_timestamp: u32,
    /// Most recent erase (a clear changes it).
    pub erase_timestamp: u32,
    /// Events were dropped because the SEL was full.
    pub overflow: bool,
}

impl SelInfo {
    /// Decodes the response data (version, entries, free space, add and erase stamps,
    /// operation support).
    pub fn decode(d: &[u8]) -> Result<SelInfo, SelError> {
        if d.len() < 14 {
            return Err(SelError(format!(
                "Get SEL Info answer is {} bytes, expected 14",
                d.len()
            )));
        }
        let u16_at = |i: usize| u16::from_le_bytes([d[i], d[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
        Ok(SelInfo {
            entries: u16_at(1),
            free_bytes: u16_at(3),
            add_timestamp: u32_at(5),
            erase_timestamp: u32_at(9),
            overflow: d[13] & 0x80 != 0,
        })
    }

    /// Percent used, given the bytes of `entries` 16-byte entries and the free space.
    pub fn percent_used(&self) -> u8 {
        let used = u32::from(self.entries) * 16;
        let total = used + u32::from(self.free_bytes);
        if total == 0 {
            return 0;
        }
        u8::try_from(used * 100 / total).unwrap_or(100)
    }
}

/// One SEL entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelRecord {
    /// A system event record (type 02h).
    System(SystemEvent),
    /// An OEM record with a timestamp (types C0h-DFh): manufacturer and 6 OEM bytes.
    OemTimestamped {
        /// Record ID.
        id: u16,
        /// Record type.
        record_type: u8,
        /// Seconds since 1970 (small values: since the BMC's initialization).
        timestamp: u32,
        /// Manufacturer ID (3 bytes) and the OEM data.
        data: [u8; 9],
    },
    /// An OEM record without timestamp (types E0h-FFh).
    OemNonTimestamped {
        /// Record ID.
        id: u16,
        /// Record type.
        record_type: u8,
        /// The 13 OEM bytes.
        data: [u8; 13],
    },
    /// A record type the specification does not define.
    Unknown {
        /// Record ID.
        id: u16,
        /// Record type.
        record_type: u8,
    },
}

impl SelRecord {
    /// The record ID.
    pub fn id(&self) -> u16 {
        match self {
            SelRecord::System(e) => e.id,
            SelRecord::OemTimestamped { id, .. }
            | SelRecord::OemNonTimestamped { id, .. }
            | SelRecord::Unknown { id, .. } => *id,
        }
    }
}

/// A system event record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemEvent {
    /// Record ID.
    pub id: u16,
    /// Seconds since 1970 (below 0x20000000: since the BMC's initialization).
    pub timestamp: u32,
    /// Generator ID (slave address or software ID, and channel/LUN).
    pub generator: u16,
    /// Sensor type (table 42-3).
    pub sensor_type: u8,
    /// Sensor number.
    pub sensor_number: u8,
    /// A deassertion (the condition ended).
    pub deassertion: bool,
    /// Event/reading type code (table 42-1).
    pub event_type: u8,
    /// Event data 1-3.
    pub data: [u8; 3],
}

impl SystemEvent {
    /// The event offset (event data 1, low nibble).
    pub fn offset(&self) -> u8 {
        self.data[0] & 0x0f
    }

    /// Whether this is a processor thermal trip assertion (the hardware's own shutdown).
    pub fn is_thermal_trip(&self) -> bool {
        self.sensor_type == 0x07
            && self.event_type == 0x6f
            && self.offset() == 0x01
            && !self.deassertion
    }
}

/// A system event record as Add SEL Entry takes it (the BMC sets the record ID, and the
/// timestamp when `timestamp` is 0): generator the BMC (0x20), event message revision 04h,
/// event data 2 and 3 unspecified. For tests and tools that add events.
pub fn system_event_record(
    timestamp: u32,
    sensor_type: u8,
    sensor_number: u8,
    event_type: u8,
    offset: u8,
) -> [u8; 16] {
    let mut r = [0u8; 16];
    r[2] = 0x02;
    r[3..7].copy_from_slice(&timestamp.to_le_bytes());
    r[7] = 0x20;
    r[9] = 0x04;
    r[10] = sensor_type;
    r[11] = sensor_number;
    r[12] = event_type;
    r[13] = offset;
    r[14] = 0xff;
    r[15] = 0xff;
    r
}

/// Decodes a Get SEL Entry answer: the next record ID, then one 16-byte record.
pub fn decode_entry(d: &[u8]) -> Result<(u16, SelRecord), SelError> {
    if d.len() < 18 {
        return Err(SelError(format!(
            "Get SEL Entry answer is {} bytes, expected 18",
            d.len()
        )));
    }
    let next = u16::from_le_bytes([d[0], d[1]]);
    let r = &d[2..18];
    let id = u16::from_le_bytes([r[0], r[1]]);
    let record_type = r[2];
    let u32_at = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
    let rec = match record_type {
        0x02 => SelRecord::System(SystemEvent {
            id,
            timestamp: u32_at(3),
            generator: u16::from_le_bytes([r[7], r[8]]),
            sensor_type: r[10],
            sensor_number: r[11],
            deassertion: r[12] & 0x80 != 0,
            event_type: r[12] & 0x7f,
            data: [r[13], r[14], r[15]],
        }),
        0xC0..=0xDF => {
            let mut data = [0u8; 9];
            data.copy_from_slice(&r[7..16]);
            SelRecord::OemTimestamped {
                id,
                record_type,
                timestamp: u32_at(3),
                data,
            }
        }
        0xE0..=0xFF => {
            let mut data = [0u8; 13];
            data.copy_from_slice(&r[3..16]);
            SelRecord::OemNonTimestamped {
                id,
                record_type,
                data,
            }
        }
        _ => SelRecord::Unknown { id, record_type },
    };
    Ok((next, rec))
}

/// The name of a sensor type (table 42-3), for SEL lines.
pub fn sensor_type_name(t: u8) -> &'static str {
    const NAMES: &[(u8, &str)] = &[
        (0x01, "Temperature"),
        (0x02, "Voltage"),
        (0x03, "Current"),
        (0x04, "Fan"),
        (0x05, "Physical Security"),
        (0x06, "Platform Security"),
        (0x07, "Processor"),
        (0x08, "Power Supply"),
        (0x09, "Power Unit"),
        (0x0B, "Other Units"),
        (0x0C, "Memory"),
        (0x0D, "Drive Slot"),
        (0x0F, "System Firmware Progress"),
        (0x10, "Event Logging Disabled"),
        (0x11, "Watchdog 1"),
        (0x12, "System Event"),
        (0x13, "Critical Interrupt"),
        (0x14, "Button"),
        (0x15, "Module/Board"),
        (0x19, "Chip Set"),
        (0x1B, "Cable/Interconnect"),
        (0x1D, "System Boot Initiated"),
        (0x1F, "OS Boot"),
        (0x20, "OS Stop"),
        (0x21, "Slot/Connector"),
        (0x22, "ACPI Power State"),
        (0x23, "Watchdog 2"),
        (0x25, "Entity Presence"),
        (0x28, "Management Subsystem Health"),
        (0x29, "Battery"),
        (0x2B, "Version Change"),
    ];
    NAMES
        .iter()
        .find(|(c, _)| *c == t)
        .map_or(if t >= 0xC0 { "OEM" } else { "Unknown" }, |(_, n)| n)
}

/// What an event's offset means: generic (event types 01h-0Ch) or sensor-specific (6Fh).
pub fn event_name(e: &SystemEvent) -> String {
    const THRESHOLD: [&str; 12] = [
        "Lower Non-critical going low",
        "Lower Non-critical going high",
        "Lower Critical going low",
        "Lower Critical going high",
        "Lower Non-recoverable going low",
        "Lower Non-recoverable going high",
        "Upper Non-critical going low",
        "Upper Non-critical going high",
        "Upper Critical going low",
        "Upper Critical going high",
        "Upper Non-recoverable going low",
        "Upper Non-recoverable going high",
    ];
    let specific: &[&str] = match (e.event_type, e.sensor_type) {
        (0x01, _) => &THRESHOLD,
        (0x03, _) => &["State Deasserted", "State Asserted"],
        (0x07, _) => &[
            "Transition to OK",
            "Transition to Non-Critical from OK",
            "Transition to Critical from less severe",
            "Transition to Non-recoverable from less severe",
            "Transition to Non-Critical from more severe",
            "Transition to Critical from Non-recoverable",
            "Transition to Non-recoverable",
            "Monitor",
            "Informational",
        ],
        (0x08, _) => &["Device Removed/Absent", "Device Inserted/Present"],
        (0x0B, _) => &[
            "Fully Redundant",
            "Redundancy Lost",
            "Redundancy Degraded",
            "Non-redundant: Sufficient Resources from Redundant",
            "Non-redundant: Sufficient Resources from Insufficient",
            "Non-redundant: Insufficient Resources",
            "Redundancy Degraded from Fully Redundant",
            "Redundancy Degraded from Non-redundant",
        ],
        (0x6f, 0x05) => &[
            "General Chassis Intrusion",
            "Drive Bay Intrusion",
            "I/O Card Area Intrusion",
            "Processor Area Intrusion",
            "LAN Leash Lost",
            "Unauthorized Dock",
            "Fan Area Intrusion",
        ],
        (0x6f, 0x07) => &[
            "IERR",
            "Thermal Trip",
            "FRB1/BIST failure",
            "FRB2/Hang in POST failure",
            "FRB3/Processor Startup failure",
            "Configuration Error",
            "SM BIOS Uncorrectable CPU-complex Error",
            "Presence detected",
            "Disabled",
            "Terminator Presence Detected",
            "Throttled",
            "Machine Check Exception",
            "Correctable Machine Check Error",
        ],
        (0x6f, 0x08) => &[
            "Presence detected",
            "Failure detected",
            "Predictive failure",
            "Power Supply AC lost",
            "AC lost or out-of-range",
            "AC out-of-range, but present",
            "Configuration error",
            "Power Supply Inactive",
        ],
        (0x6f, 0x09) => &[
            "Power Off / Power Down",
            "Power Cycle",
            "240VA Power Down",
            "Interlock Power Down",
            "AC lost",
            "Soft Power Control Failure",
            "Power Unit Failure detected",
            "Predictive Failure",
        ],
        (0x6f, 0x0C) => &[
            "Correctable ECC",
            "Uncorrectable ECC",
            "Parity",
            "Memory Scrub Failed",
            "Memory Device Disabled",
            "Correctable ECC logging limit reached",
            "Presence Detected",
            "Configuration Error",
            "Spare",
            "Memory Automatically Throttled",
            "Critical Overtemperature",
        ],
        (0x6f, 0x0D) => &[
            "Drive Present",
            "Drive Fault",
            "Predictive Failure",
            "Hot Spare",
            "Consistency Check In Progress",
            "In Critical Array",
            "In Failed Array",
            "Rebuild In Progress",
            "Rebuild Aborted",
        ],
        (0x6f, 0x10) => &[
            "Correctable Memory Error Logging Disabled",
            "Event Logging Disabled",
            "Log Area Reset/Cleared",
            "All Event Logging Disabled",
            "SEL Full",
            "SEL Almost Full",
        ],
        (0x6f, 0x12) => &[
            "System Reconfigured",
            "OEM System Boot Event",
            "Undetermined system hardware failure",
            "Entry added to Auxiliary Log",
            "PEF Action",
            "Timestamp Clock Synch",
        ],
        (0x6f, 0x23) => &["Timer expired", "Hard Reset", "Power Down", "Power Cycle"],
        _ => &[],
    };
    specific
        .get(usize::from(e.offset()))
        .map_or_else(|| format!("offset 0x{:x}", e.offset()), |s| s.to_string())
}

/// The syslog level of an entry: failures and hardware trips are errors, a threshold
/// crossed the bad way (critical or non-recoverable) is a warning, everything else notice.
pub fn level(rec: &SelRecord) -> Level {
    let SelRecord::System(e) = rec else {
        return Level::Notice;
    };
    if e.deassertion {
        return Level::Notice;
    }
    match (e.event_type, e.sensor_type, e.offset()) {
        (0x6f, 0x07, 0x00 | 0x01) | (0x6f, 0x08, 0x01 | 0x03) | (0x6f, 0x0C, 0x01 | 0x0A) => {
            Level::Error
        }
        (0x6f, 0x09, 0x06) | (0x6f, 0x0D, 0x01) | (0x0B, _, 0x01 | 0x03..=0x05) => Level::Error,
        (0x01, _, 0x02 | 0x04 | 0x09 | 0x0B) => Level::Warning,
        _ => Level::Notice,
    }
}

/// A timestamp as SEL lines print it: RFC 3339 UTC, or seconds since the BMC's
/// initialization for the small values the specification reserves for that.
pub fn format_timestamp(ts: u32) -> String {
    if ts == 0xFFFF_FFFF || ts == 0 {
        return "-".into();
    }
    if ts < 0x2000_0000 {
        return format!("+{ts}s");
    }
    chrono::DateTime::from_timestamp(i64::from(ts), 0).map_or_else(
        || "-".into(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// The text of an entry's syslog line (after the `%FTD-<level>-SEL: ` prefix), one line,
/// printable: `sensor_name` is the SDR's name for the event's sensor, when known.
pub fn text(rec: &SelRecord, sensor_name: Option<&str>) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| if c.is_control() || c == '"' { '?' } else { c })
            .take(32)
            .collect()
    };
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    match rec {
        SelRecord::System(e) => {
            let name = sensor_name.map_or_else(String::new, |n| format!(" \"{}\"", clean(n)));
            format!(
                "record 0x{:04x} at {}: {} #0x{:02x}{name}: {} {} (event type 0x{:02x}, data {})",
                e.id,
                format_timestamp(e.timestamp),
                sensor_type_name(e.sensor_type),
                e.sensor_number,
                event_name(e),
                if e.deassertion {
                    "Deasserted"
                } else {
                    "Asserted"
                },
                e.event_type,
                hex(&e.data)
            )
        }
        SelRecord::OemTimestamped {
            id,
            record_type,
            timestamp,
            data,
        } => format!(
            "record 0x{id:04x} at {}: OEM record 0x{record_type:02x}, manufacturer {}, data {}",
            format_timestamp(*timestamp),
            hex(&data[..3]),
            hex(&data[3..])
        ),
        SelRecord::OemNonTimestamped {
            id,
            record_type,
            data,
        } => format!(
            "record 0x{id:04x}: OEM record 0x{record_type:02x}, data {}",
            hex(data)
        ),
        SelRecord::Unknown { id, record_type } => {
            format!("record 0x{id:04x}: unknown record type 0x{record_type:02x}")
        }
    }
}

/// Where reading resumed last: persisted in the state dir so that a restart neither repeats
/// nor misses entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SelCursor {
    /// The last record forwarded (`None`: nothing yet).
    pub last_id: Option<u16>,
    /// The SEL's add timestamp when the cursor was saved.
    pub add_timestamp: u32,
    /// The SEL's erase timestamp when the cursor was saved (a clear changes it).
    pub erase_timestamp: u32,
    /// The SEL's entry count when the cursor was saved: stamps have one-second steps, so
    /// entries added in the second of the last check show only in the count.
    pub entries: u16,
}

/// What to do after a Get SEL Info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelPlan {
    /// Nothing was added.
    Nothing,
    /// Read on from the record after `last_id`.
    After(u16),
    /// Read from the first record: a first run, or the SEL was cleared (its erase stamp
    /// changed) since the cursor was saved.
    FromStart,
}

/// Decides where to read, from the cursor and the SEL's info. Pure.
pub fn plan(cursor: &SelCursor, info: &SelInfo) -> SelPlan {
    if info.entries == 0 {
        return SelPlan::Nothing;
    }
    match cursor.last_id {
        Some(_) if info.erase_timestamp != cursor.erase_timestamp => SelPlan::FromStart,
        Some(_) if info.add_timestamp == cursor.add_timestamp && info.entries == cursor.entries => {
            SelPlan::Nothing
        }
        Some(id) => SelPlan::After(id),
        None => SelPlan::FromStart,
    }
}

/// The cursor file: one line, `envmon-sel-cursor v1 LAST ADD ERASE ENTRIES` (LAST `-` for
/// none).
pub fn encode_cursor(c: &SelCursor) -> String {
    let last = c.last_id.map_or_else(|| "-".into(), |id| id.to_string());
    format!(
        "envmon-sel-cursor v1 {last} {} {} {}\n",
        c.add_timestamp, c.erase_timestamp, c.entries
    )
}

/// Reads the cursor file; an error names what is wrong.
pub fn decode_cursor(text: &str) -> Result<SelCursor, SelError> {
    let bad = || SelError(format!("not a SEL cursor: {:?}", text.trim()));
    let f: Vec<&str> = text.split_whitespace().collect();
    let [magic, version, last, add, erase, entries] = f[..] else {
        return Err(bad());
    };
    if magic != "envmon-sel-cursor" || version != "v1" {
        return Err(bad());
    }
    Ok(SelCursor {
        last_id: match last {
            "-" => None,
            n => Some(n.parse().map_err(|_| bad())?),
        },
        add_timestamp: add.parse().map_err(|_| bad())?,
        erase_timestamp: erase.parse().map_err(|_| bad())?,
        entries: entries.parse().map_err(|_| bad())?,
    })
}

/// Whether a SEL entry says the host booted (sensor types 1Dh "system boot / restart
/// initiated" and 1Fh "OS boot", asserted).
pub fn is_boot_event(e: &SystemEvent) -> bool {
    matches!(e.sensor_type, 0x1D | 0x1F) && !e.deassertion
}

/// The latest processor thermal trip among the entries read, and whether a boot was logged
/// after it. Fed every entry in SEL order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TripWitness {
    /// The latest trip: (record ID, SEL timestamp).
    pub trip: Option<(u16, u32)>,
    /// A boot event was logged after it.
    pub boot_after: bool,
}

impl TripWitness {
    /// Takes one entry, in SEL order.
    pub fn see(&mut self, rec: &SelRecord) {
        if let SelRecord::System(e) = rec {
            if e.is_thermal_trip() {
                *self = TripWitness {
                    trip: Some((e.id, e.timestamp)),
                    boot_after: false,
                };
            } else if is_boot_event(e) && self.trip.is_some() {
                self.boot_after = true;
            }
        }
    }
}

/// How far apart the BMC's and the host's clocks may run (seconds) when a trip's age is
/// compared with this boot's.
pub const CLOCK_SLACK_SECS: u64 = 120;

/// The longest a thermal trip found without a cursor may precede this boot and still be
/// taken for its cause (a host powered off by a trip is started again within days; a trip
/// older than that in a long log is history).
pub const MAX_TRIP_BEFORE_BOOT_SECS: u64 = 7 * 86_400;

/// The clocks a trip's time is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clocks {
    /// The BMC's clock now (Get SEL Time), on the SEL's scale.
    pub sel_now: Option<u32>,
    /// How long this host has been up, seconds.
    pub host_uptime: Option<u64>,
}

/// Whether a thermal trip found without a cursor (a first start, or a cursor lost) can have
/// caused this boot: no boot was logged after it (else it caused an earlier boot), and by the
/// BMC's own clock it is older than this host's uptime (within [`CLOCK_SLACK_SECS`]). The
/// age is taken on one clock, the BMC's (its SEL time now less the trip's), so it holds for
/// BMCs whose clock counts from their own start too, as long as the BMC was not restarted
/// since (then "now" is below the trip's time and nothing can be told). `Err` says why not.
/// With a cursor the question does not arise: a trip among the entries logged since envmon
/// last ran happened while it was not running.
pub fn trip_caused_this_boot(w: &TripWitness, clocks: Clocks) -> Result<(), String> {
    let Some((_, ts)) = w.trip else {
        return Err("no thermal trip".into());
    };
    if w.boot_after {
        return Err("a later boot is logged after it".into());
    }
    let (Some(now), Some(uptime)) = (clocks.sel_now, clocks.host_uptime) else {
        return Err("the BMC's clock or this host's uptime is unknown".into());
    };
    let same_scale = (ts < 0x2000_0000) == (now < 0x2000_0000);
    let Some(age) = now.checked_sub(ts).filter(|_| same_scale) else {
        return Err("the BMC's clock was set or restarted since: its age is unknown".into());
    };
    if u64::from(age) + CLOCK_SLACK_SECS < uptime {
        return Err(format!(
            "it is {age} s old by the BMC's clock and this host has been up {uptime} s: it \
             happened after this boot"
        ));
    }
    if u64::from(age) > uptime.saturating_add(MAX_TRIP_BEFORE_BOOT_SECS) {
        return Err(format!(
            "it happened {} days before this boot: history, not this boot's cause",
            (u64::from(age) - uptime) / 86_400
        ));
    }
    Ok(())
}

/// A trip's identity for the record of trips reported: its record ID and SEL timestamp
/// (record IDs are reused after a clear, timestamps make them unique).
pub fn trip_identity(id: u16, timestamp: u32) -> String {
    format!("sel:0x{id:04x}@{timestamp:08x}")
}

/// Rate bound of SEL lines per sensor: at most `max` lines of one sensor per `window_secs`
/// (the BMC logs every crossing of a flapping sensor); the rest are counted and said in one
/// line when the sensor's window ends. They stay in the BMC's SEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelDamper {
    max: u16,
    window_ms: u64,
    /// Per sensor number: (window start, lines sent in it, lines held back).
    sensors: Vec<(u8, u64, u16, u32)>,
}

impl SelDamper {
    /// At most `max` lines per sensor per `window_ms`.
    pub fn new(max: u16, window_ms: u64) -> SelDamper {
        SelDamper {
            max,
            window_ms,
            sensors: Vec::new(),
        }
    }

    /// Whether the line of an entry about `sensor` is sent at `now_ms`.
    pub fn allow(&mut self, sensor: u8, now_ms: u64) -> bool {
        let (max, window) = (self.max, self.window_ms);
        let at = match self.sensors.iter().position(|s| s.0 == sensor) {
            Some(i) => i,
            None => {
                self.sensors.push((sensor, now_ms, 0, 0));
                self.sensors.len() - 1
            }
        };
        let Some(s) = self.sensors.get_mut(at) else {
            return true;
        };
        if now_ms.saturating_sub(s.1) >= window && s.3 == 0 {
            *s = (sensor, now_ms, 0, 0);
        }
        if s.2 < max {
            s.2 += 1;
            true
        } else {
            s.3 = s.3.saturating_add(1);
            false
        }
    }

    /// Sensors whose window ended with lines held back: (sensor number, how many), each
    /// once; their windows start again.
    pub fn ended(&mut self, now_ms: u64) -> Vec<(u8, u32)> {
        let window = self.window_ms;
        let mut out = Vec::new();
        for s in &mut self.sensors {
            if s.3 > 0 && now_ms.saturating_sub(s.1) >= window {
                out.push((s.0, s.3));
                *s = (s.0, now_ms, 0, 0);
            }
        }
        self.sensors.retain(|s| s.2 > 0 || s.3 > 0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_at(id: u16, ts: u32, sensor_type: u8, offset: u8) -> SelRecord {
        SelRecord::System(SystemEvent {
            id,
            timestamp: ts,
            generator: 0x20,
            sensor_type,
            sensor_number: 1,
            deassertion: false,
            event_type: 0x6f,
            data: [offset, 0xff, 0xff],
        })
    }

    #[test]
    fn a_trip_is_this_boots_cause_only_before_it_and_with_no_boot_after() {
        let trip = event_at(7, 1_799_990_000, 0x07, 0x01);
        let mut w = TripWitness::default();
        w.see(&event_at(1, 1_700_000_000, 0x1D, 0x01));
        w.see(&trip);
        assert_eq!(w.trip, Some((7, 1_799_990_000)));
        let clocks = |now: u32, up: u64| Clocks {
            sel_now: Some(now),
            host_uptime: Some(up),
        };
        // 10,000 s old; up 600 s: before this boot.
        assert_eq!(
            trip_caused_this_boot(&w, clocks(1_800_000_000, 600)),
            Ok(())
        );
        assert!(
            trip_caused_this_boot(&w, Clocks::default()).is_err(),
            "unknown clocks"
        );
        // Up a day: the trip (10,000 s ago) came after this boot.
        assert!(trip_caused_this_boot(&w, clocks(1_800_000_000, 86_400)).is_err());
        // The BMC's clock went back (reset): nothing can be told.
        assert!(trip_caused_this_boot(&w, clocks(1_000, 10)).is_err());
        // Issue 33 (5): 60 days before this boot is history, not its cause.
        let why = trip_caused_this_boot(&w, clocks(1_799_990_000 + 60 * 86_400, 600));
        assert!(
            matches!(&why, Err(w) if w.contains("59 days before")),
            "{why:?}"
        );
        // A BMC that counts from its own start: the same rule on its scale.
        let mut rel = TripWitness::default();
        rel.see(&event_at(2, 0x100, 0x07, 0x01));
        assert_eq!(trip_caused_this_boot(&rel, clocks(0x1000, 60)), Ok(()));
        assert!(trip_caused_this_boot(&rel, clocks(0x1000, 7200)).is_err());
        // A boot logged after the trip: it caused that boot, not this one.
        w.see(&event_at(8, 1_799_995_000, 0x1D, 0x01));
        assert!(trip_caused_this_boot(&w, clocks(1_800_000_000, 600)).is_err());
        assert_eq!(trip_identity(2, 0x100), "sel:0x0002@00000100");
    }

    #[test]
    fn sel_lines_of_a_flapping_sensor_are_bounded_then_summed_up() {
        let mut d = SelDamper::new(4, 300_000);
        let sent = (0..30u64).filter(|i| d.allow(0x30, i * 1000)).count();
        assert_eq!(sent, 4);
        assert!(d.allow(0x31, 5_000), "another sensor has its own bound");
        assert!(d.ended(100_000).is_empty(), "window not over");
        assert_eq!(d.ended(300_000), [(0x30, 26)], "once");
        assert!(d.ended(301_000).is_empty());
        assert!(d.allow(0x30, 302_000), "a new window");
    }

    /// A system event entry as Get SEL Entry answers it (next ID first).
    fn entry(next: u16, id: u16, ts: u32, st: u8, num: u8, dir_type: u8, data: [u8; 3]) -> Vec<u8> {
        let mut d = next.to_le_bytes().to_vec();
        d.extend_from_slice(&id.to_le_bytes());
        d.push(0x02);
        d.extend_from_slice(&ts.to_le_bytes());
        d.extend_from_slice(&[0x20, 0x00, 0x04, st, num, dir_type]);
        d.extend_from_slice(&data);
        d
    }

    #[test]
    fn a_thermal_trip_decodes_and_reads_as_an_error() {
        let d = entry(
            0x0005,
            0x0004,
            1_764_000_000,
            0x07,
            0x01,
            0x6f,
            [0x01, 0xff, 0xff],
        );
        let (next, rec) = decode_entry(&d).unwrap();
        assert_eq!(next, 5);
        let SelRecord::System(e) = &rec else {
            panic!("{rec:?}")
        };
        assert!(e.is_thermal_trip());
        assert_eq!(level(&rec), Level::Error);
        assert_eq!(
            text(&rec, Some("CPU0 Status")),
            "record 0x0004 at 2025-11-24T16:00:00Z: Processor #0x01 \"CPU0 Status\": Thermal Trip Asserted (event type 0x6f, data 01ffff)"
        );
    }

    #[test]
    fn thresholds_deassertions_oem_and_garbage() {
        let d = entry(0xffff, 7, 0x100, 0x01, 0x03, 0x81, [0x59, 0x5a, 0x50]);
        let (_, rec) = decode_entry(&d).unwrap();
        assert_eq!(level(&rec), Level::Notice, "a deassertion");
        assert!(
            text(&rec, None).contains("Temperature #0x03: Upper Critical going high Deasserted")
        );
        assert!(
            text(&rec, None).contains("at +256s"),
            "since BMC initialization"
        );
        let mut oem = entry(0xffff, 9, 0, 0, 0, 0, [0; 3]);
        oem[4] = 0xE1;
        let (_, rec) = decode_entry(&oem).unwrap();
        assert!(matches!(rec, SelRecord::OemNonTimestamped { id: 9, .. }));
        for short in [&d[..0], &d[..17]] {
            assert!(decode_entry(short).is_err());
        }
        assert!(SelInfo::decode(&[0x51, 1]).is_err());
        // A name with control characters and quotes is made printable.
        let (_, rec) = decode_entry(&entry(0xffff, 7, 0, 0x04, 1, 0x01, [0x02, 0, 0])).unwrap();
        assert!(text(&rec, Some("FAN\n\"1\"")).contains("\"FAN??1?\""));
    }

    #[test]
    fn the_plan_reads_new_entries_once_and_detects_a_clear() {
        let info = SelInfo {
            entries: 3,
            free_bytes: 100,
            add_timestamp: 50,
            erase_timestamp: 10,
            overflow: false,
        };
        assert_eq!(plan(&SelCursor::default(), &info), SelPlan::FromStart);
        let seen = SelCursor {
            last_id: Some(3),
            add_timestamp: 50,
            erase_timestamp: 10,
            entries: 3,
        };
        assert_eq!(plan(&seen, &info), SelPlan::Nothing);
        let added = SelInfo {
            add_timestamp: 60,
            ..info
        };
        assert_eq!(plan(&seen, &added), SelPlan::After(3));
        let same_second = SelInfo { entries: 4, ..info };
        assert_eq!(
            plan(&seen, &same_second),
            SelPlan::After(3),
            "added in the same second"
        );
        let cleared = SelInfo {
            erase_timestamp: 70,
            ..added
        };
        assert_eq!(plan(&seen, &cleared), SelPlan::FromStart);
        let empty = SelInfo {
            entries: 0,
            ..cleared
        };
        assert_eq!(plan(&seen, &empty), SelPlan::Nothing);
        assert_eq!(decode_cursor(&encode_cursor(&seen)), Ok(seen));
        for bad in [
            "",
            "envmon-sel-cursor v2 1 2 3",
            "envmon-sel-cursor v1 x 2 3",
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
        assert_eq!(info.percent_used(), 32);
    }
}
