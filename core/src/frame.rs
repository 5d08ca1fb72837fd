//! Syslog frames (RFC 3164 and RFC 5424) around a rendered message line.
//!
//! Pure formatting: the caller passes the time (with its UTC offset), the host name and the
//! PID. Transport framing (octet counting, trailing newline) is the transport's business.

use crate::Level;
use chrono::{DateTime, FixedOffset};
use std::{fmt, str::FromStr};

/// The longest frame envmon produces, in bytes. Catalog lines are far shorter; a longer frame
/// is cut at a character boundary so that every queue slot and datagram stays bounded.
pub const MAX_FRAME_LEN: usize = 2048;

/// A syslog facility (RFC 5424 section 6.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(missing_docs)]
pub enum Facility {
    Kern = 0,
    User = 1,
    Mail = 2,
    Daemon = 3,
    Auth = 4,
    Syslog = 5,
    Lpr = 6,
    News = 7,
    Uucp = 8,
    Cron = 9,
    Authpriv = 10,
    Ftp = 11,
    Ntp = 12,
    Audit = 13,
    Alert = 14,
    Clock = 15,
    Local0 = 16,
    Local1 = 17,
    Local2 = 18,
    Local3 = 19,
    #[default]
    Local4 = 20,
    Local5 = 21,
    Local6 = 22,
    Local7 = 23,
}

const FACILITY_NAMES: [(Facility, &str); 24] = [
    (Facility::Kern, "kern"),
    (Facility::User, "user"),
    (Facility::Mail, "mail"),
    (Facility::Daemon, "daemon"),
    (Facility::Auth, "auth"),
    (Facility::Syslog, "syslog"),
    (Facility::Lpr, "lpr"),
    (Facility::News, "news"),
    (Facility::Uucp, "uucp"),
    (Facility::Cron, "cron"),
    (Facility::Authpriv, "authpriv"),
    (Facility::Ftp, "ftp"),
    (Facility::Ntp, "ntp"),
    (Facility::Audit, "audit"),
    (Facility::Alert, "alert"),
    (Facility::Clock, "clock"),
    (Facility::Local0, "local0"),
    (Facility::Local1, "local1"),
    (Facility::Local2, "local2"),
    (Facility::Local3, "local3"),
    (Facility::Local4, "local4"),
    (Facility::Local5, "local5"),
    (Facility::Local6, "local6"),
    (Facility::Local7, "local7"),
];

impl Facility {
    /// The facility code (0-23).
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The facility's name, as in `--facility local4`.
    pub fn name(self) -> &'static str {
        FACILITY_NAMES
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("?", |(_, n)| n)
    }
}

impl fmt::Display for Facility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Facility {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        let wanted = lower.strip_prefix("log_").unwrap_or(&lower);
        FACILITY_NAMES
            .iter()
            .find(|(_, n)| *n == wanted)
            .map(|(f, _)| *f)
            .ok_or_else(|| {
                format!("unknown facility '{s}' (expected one of kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, audit, alert, clock, local0-local7)")
            })
    }
}

/// The frame layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FrameFormat {
    /// BSD syslog: `<PRI>Mmm dd hh:mm:ss [HOST ]envmon[PID]: MSG`, local time, no year.
    #[default]
    Rfc3164,
    /// `<PRI>1 TIMESTAMP HOST envmon PID MSGID - MSG`, microseconds and UTC offset.
    Rfc5424,
}

impl FromStr for FrameFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "rfc3164" => Ok(FrameFormat::Rfc3164),
            "rfc5424" => Ok(FrameFormat::Rfc5424),
            _ => Err(format!(
                "unknown syslog format '{s}' (expected rfc3164 or rfc5424)"
            )),
        }
    }
}

impl fmt::Display for FrameFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameFormat::Rfc3164 => "rfc3164",
            FrameFormat::Rfc5424 => "rfc5424",
        })
    }
}

/// Checks a host name for the HOSTNAME field: 1-255 printable ASCII characters, no spaces.
pub fn check_hostname(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err(format!(
            "host name must be 1 to 255 characters, got {}",
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!(
            "host name '{}' has {:?}: only printable ASCII without spaces is allowed",
            name.escape_default(),
            c
        ));
    }
    Ok(())
}

/// What stays the same for every frame a process sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameHeader {
    /// RFC 3164 or RFC 5424.
    pub format: FrameFormat,
    /// The facility (local4 by default).
    pub facility: Facility,
    /// The HOSTNAME field. `None` leaves it out of RFC 3164 frames (as the C library does for
    /// /dev/log, where the daemon adds it) and prints `-` in RFC 5424.
    pub hostname: Option<String>,
    /// APP-NAME / TAG: `envmon`.
    pub app_name: String,
    /// PROCID.
    pub pid: u32,
}

/// The SD-ID of envmon's structured data: `envmon@32473`. 32473 is the Private Enterprise
/// Number IANA reserves for documentation (RFC 5612); an organisation shipping envmon under
/// its own number changes it here (docs/syslog.md).
pub const SD_ID: &str = "envmon@32473";

/// `[envmon@32473 name="value" ...]`, or `-` for none.
fn structured_data(sd: &[(&str, String)]) -> String {
    if sd.is_empty() {
        return "-".into();
    }
    let mut out = format!("[{SD_ID}");
    for (name, value) in sd {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            if matches!(c, '"' | '\\' | ']') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push(']');
    out
}

impl FrameHeader {
    /// The PRI value for a message of this level.
    pub fn pri(&self, level: Level) -> u8 {
        self.facility.code() * 8 + level.number()
    }

    /// Formats one frame. `msgid` is the RFC 5424 MSGID (the message number, or `SEL`); `line` is the full
    /// message line from [`crate::render_line`]. The result is at most [`MAX_FRAME_LEN`] bytes.
    pub fn format(
        &self,
        level: Level,
        msgid: &str,
        at: &DateTime<FixedOffset>,
        line: &str,
    ) -> String {
        self.format_sd(level, msgid, at, &[], line)
    }

    /// [`FrameHeader::format`] with RFC 5424 structured data: one element, [`SD_ID`], with
    /// `sd`'s parameters in order (values escaped as RFC 5424 section 6.3.3 says). None
    /// (`-`) when `sd` is empty; RFC 3164 frames are the same with or without it.
    pub fn format_sd(
        &self,
        level: Level,
        msgid: &str,
        at: &DateTime<FixedOffset>,
        sd: &[(&str, String)],
        line: &str,
    ) -> String {
        let pri = self.pri(level);
        let mut out = match self.format {
            FrameFormat::Rfc3164 => {
                let stamp = at.format("%b %e %H:%M:%S");
                match &self.hostname {
                    Some(h) => {
                        format!("<{pri}>{stamp} {h} {}[{}]: {line}", self.app_name, self.pid)
                    }
                    None => format!("<{pri}>{stamp} {}[{}]: {line}", self.app_name, self.pid),
                }
            }
            FrameFormat::Rfc5424 => {
                let stamp = at.format("%Y-%m-%dT%H:%M:%S%.6f%:z");
                let host = self.hostname.as_deref().unwrap_or("-");
                format!(
                    "<{pri}>1 {stamp} {host} {} {} {msgid} {} {line}",
                    self.app_name,
                    self.pid,
                    structured_data(sd)
                )
            }
        };
        truncate_at_char(&mut out, MAX_FRAME_LEN);
        out
    }
}

/// Cuts `s` to at most `max` bytes, never inside a character.
pub fn truncate_at_char(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap()
    }

    fn header(format: FrameFormat, hostname: Option<&str>) -> FrameHeader {
        FrameHeader {
            format,
            facility: Facility::Local4,
            hostname: hostname.map(str::to_string),
            app_name: "envmon".into(),
            pid: 4242,
        }
    }

    const LINE: &str = "%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected";

    #[test]
    fn rfc3164_network_frame_has_hostname_and_space_padded_day() {
        let h = header(FrameFormat::Rfc3164, Some("fw1"));
        let t = at("2026-11-02T05:09:01+01:00");
        assert_eq!(
            h.format(Level::Alert, "735002", &t, LINE),
            "<161>Nov  2 05:09:01 fw1 envmon[4242]: %FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected"
        );
    }

    #[test]
    fn rfc3164_local_frame_omits_hostname() {
        let h = header(FrameFormat::Rfc3164, None);
        let t = at("2026-11-22T15:09:01+00:00");
        assert_eq!(
            h.format(
                Level::Warning,
                "735018",
                &t,
                "%FTD-4-735018: Power Supply 1: Temp: 70 C, Critical"
            ),
            "<164>Nov 22 15:09:01 envmon[4242]: %FTD-4-735018: Power Supply 1: Temp: 70 C, Critical"
        );
    }

    #[test]
    fn rfc5424_frame_matches_contract_example() {
        let h = header(FrameFormat::Rfc5424, Some("HOSTNAME"));
        let t = at("2026-11-22T15:09:01.123456+00:00");
        assert_eq!(
            h.format(Level::Alert, "735002", &t, LINE),
            "<161>1 2026-11-22T15:09:01.123456+00:00 HOSTNAME envmon 4242 735002 - %FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected"
        );
    }

    #[test]
    fn rfc5424_structured_data_names_the_sensor_and_3164_stays_as_it_was() {
        let sd = [
            ("sensor", "cpu0-temp".to_string()),
            ("class", "cpu_temp".to_string()),
            ("label", "0".to_string()),
            ("value", "95".to_string()),
            ("unit", "C".to_string()),
            ("threshold", "90".to_string()),
            ("state", "critical".to_string()),
        ];
        let t = at("2026-11-22T15:09:01.123456+00:00");
        let line = "%FTD-1-735007: IPMI: CPU 0: Temp: 95 C, Critical";
        assert_eq!(
            header(FrameFormat::Rfc5424, Some("fw1")).format_sd(
                Level::Alert,
                "735007",
                &t,
                &sd,
                line
            ),
            "<161>1 2026-11-22T15:09:01.123456+00:00 fw1 envmon 4242 735007 \
             [envmon@32473 sensor=\"cpu0-temp\" class=\"cpu_temp\" label=\"0\" value=\"95\" unit=\"C\" \
             threshold=\"90\" state=\"critical\"] %FTD-1-735007: IPMI: CPU 0: Temp: 95 C, Critical"
        );
        let h = header(FrameFormat::Rfc3164, Some("fw1"));
        assert_eq!(
            h.format_sd(Level::Alert, "735007", &t, &sd, line),
            h.format(Level::Alert, "735007", &t, line)
        );
        // Values are escaped: a quote, a backslash and a bracket.
        let odd = [("sensor", r#"a"b\c]d"#.to_string())];
        assert!(
            header(FrameFormat::Rfc5424, None)
                .format_sd(Level::Alert, "1", &t, &odd, "x")
                .contains(r#"[envmon@32473 sensor="a\"b\\c\]d"] x"#)
        );
    }

    #[test]
    fn rfc5424_keeps_negative_offset_and_nil_hostname() {
        let h = header(FrameFormat::Rfc5424, None);
        let t = at("2026-01-03T23:59:59.000007-05:30");
        assert_eq!(
            h.format(Level::Critical, "735009", &t, "x"),
            "<162>1 2026-01-03T23:59:59.000007-05:30 - envmon 4242 735009 - x"
        );
    }

    #[test]
    fn pri_combines_facility_and_level() {
        let mut h = header(FrameFormat::Rfc3164, None);
        assert_eq!(h.pri(Level::Alert), 161);
        assert_eq!(h.pri(Level::Warning), 164);
        h.facility = Facility::Kern;
        assert_eq!(h.pri(Level::Emergency), 0);
        h.facility = Facility::Local7;
        assert_eq!(h.pri(Level::Debugging), 191);
    }

    #[test]
    fn facility_names_round_trip_and_reject_unknown() {
        for (f, n) in FACILITY_NAMES {
            assert_eq!(n.parse::<Facility>(), Ok(f));
            assert_eq!(f.name(), n);
        }
        assert_eq!("LOG_LOCAL4".parse::<Facility>(), Ok(Facility::Local4));
        assert!("local8".parse::<Facility>().unwrap_err().contains("local8"));
    }

    #[test]
    fn oversized_frame_is_cut_at_a_char_boundary() {
        let h = header(FrameFormat::Rfc3164, Some("h"));
        let line = "é".repeat(MAX_FRAME_LEN);
        let f = h.format(Level::Alert, "1", &at("2026-01-01T00:00:00Z"), &line);
        assert!(f.len() <= MAX_FRAME_LEN && f.len() >= MAX_FRAME_LEN - 1);
        assert!(f.ends_with('é'));
    }

    #[test]
    fn hostname_check_rejects_spaces_and_empty() {
        assert!(check_hostname("fw-1.example").is_ok());
        assert!(check_hostname("").is_err());
        assert!(check_hostname("a b").is_err());
        assert!(check_hostname(&"a".repeat(256)).is_err());
    }
}
