//! PCI expectations against what the bus shows (pure): 743000 for a link slower or narrower
//! than expected, 743004 for a required device that is absent.
//!
//! 743000 is sent once per attribute (speed, width), and again if the actual value changes
//! while still short; a link back at or above what is expected clears it (the guide has no
//! "OK" message). 743004 is sent once while the device stays absent, and again if it comes
//! back and goes away again.

use crate::engine::Emission;

/// How the board names a device.
#[derive(Debug, Clone, PartialEq)]
pub struct PciExpect {
    /// The board's id for it.
    pub id: String,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Its address (`0000:03:00.0`), when the board pins it; else the first device with
    /// these IDs is used.
    pub address: Option<String>,
    /// Whether its absence is reported (743004).
    pub required: bool,
    /// Minimum link speed in GT/s.
    pub speed: Option<f64>,
    /// Minimum link width (lanes).
    pub width: Option<u8>,
}

/// What the bus shows of a device.
#[derive(Debug, Clone, PartialEq)]
pub struct PciObserved {
    /// Its address, `DDDD:BB:DD.F`.
    pub address: String,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Current link speed in GT/s (None when unknown).
    pub speed: Option<f64>,
    /// Current link width (None when unknown).
    pub width: Option<u8>,
}

/// What has been reported for one expectation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PciState {
    absent_reported: bool,
    speed_reported: Option<String>,
    width_reported: Option<u8>,
    /// The device last seen, for `show environment`.
    pub seen: Option<PciObserved>,
}

/// What an expectation's state is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PciStatus {
    /// Present with the expected link.
    Ok,
    /// Present, its link short of what is expected.
    Degraded,
    /// Required and not found.
    Absent,
    /// Not required and not found.
    Missing,
}

impl PciStatus {
    /// Every value.
    pub const ALL: [PciStatus; 4] = [
        PciStatus::Ok,
        PciStatus::Degraded,
        PciStatus::Absent,
        PciStatus::Missing,
    ];

    /// The name on the socket: `ok`, `degraded`, `absent`, `missing`.
    pub fn name(self) -> &'static str {
        match self {
            PciStatus::Ok => "ok",
            PciStatus::Degraded => "degraded",
            PciStatus::Absent => "absent",
            PciStatus::Missing => "missing",
        }
    }
}

impl PciState {
    /// `Ok`, `Degraded` (a link short of what is expected), `Absent` or `Missing` (absent
    /// and not required).
    pub fn status(&self, e: &PciExpect) -> PciStatus {
        match &self.seen {
            None if e.required => PciStatus::Absent,
            None => PciStatus::Missing,
            Some(_) if self.speed_reported.is_some() || self.width_reported.is_some() => {
                PciStatus::Degraded
            }
            Some(_) => PciStatus::Ok,
        }
    }
}

/// Formats a speed as sysfs does: `2.5 GT/s`, `8.0 GT/s`, `16.0 GT/s`.
pub fn format_speed(gts: f64) -> String {
    format!("{gts:.1} GT/s")
}

/// Parses sysfs `current_link_speed` (`8.0 GT/s PCIe`, `2.5 GT/s`); `None` for `Unknown`.
pub fn parse_speed(text: &str) -> Option<f64> {
    let t = text.trim();
    let num = t.split_whitespace().next()?;
    let v: f64 = num.parse().ok()?;
    (v > 0.0 && v.is_finite() && t.contains("GT/s")).then_some(v)
}

/// `8086:1521` to (0x8086, 0x1521).
pub fn parse_ids(text: &str) -> Option<(u16, u16)> {
    let (v, d) = text.split_once(':')?;
    Some((
        u16::from_str_radix(v, 16).ok()?,
        u16::from_str_radix(d, 16).ok()?,
    ))
}

/// Splits `DDDD:BB:DD.F` into (bus, device, function) as the message prints them.
fn bdf(address: &str) -> (String, String, String) {
    let mut parts = address.rsplitn(3, ':');
    let dev_fn = parts.next().unwrap_or("");
    let bus = parts.next().unwrap_or("").to_string();
    let (dev, func) = dev_fn.split_once('.').unwrap_or((dev_fn, ""));
    (bus, dev.to_string(), func.to_string())
}

/// Checks one expectation against the device found for it (`None`: absent). `names` gives
/// the vendor and device names for 743004. Returns the messages to send.
pub fn check(
    e: &PciExpect,
    state: &mut PciState,
    found: Option<&PciObserved>,
    names: &dyn Fn(u16, u16) -> (String, String),
) -> Vec<Emission> {
    let mut out = Vec::new();
    let vid = format!("0x{:04x}", e.vendor);
    let did = format!("0x{:04x}", e.device);
    state.seen = found.cloned();
    let Some(dev) = found else {
        state.speed_reported = None;
        state.width_reported = None;
        if e.required && !state.absent_reported {
            state.absent_reported = true;
            let (vn, dn) = names(e.vendor, e.device);
            out.push(Emission {
                id: 743004,
                args: vec![vid, vn, did, dn],
                sd: Vec::new(),
            });
        }
        return out;
    };
    state.absent_reported = false;
    let (bus, dev_no, func) = bdf(&dev.address);
    let link = |attr: &str, actual: String, expected: String| Emission {
        sd: Vec::new(),
        id: 743000,
        args: vec![
            vid.clone(),
            did.clone(),
            bus.clone(),
            dev_no.clone(),
            func.clone(),
            attr.into(),
            actual,
            expected,
        ],
    };
    match (e.speed, dev.speed) {
        (Some(want), Some(have)) if have + 1e-9 < want => {
            let actual = format_speed(have);
            if state.speed_reported.as_deref() != Some(actual.as_str()) {
                out.push(link("speed", actual.clone(), format_speed(want)));
                state.speed_reported = Some(actual);
            }
        }
        (Some(_), None) => {} // unknown: keep what was reported
        _ => state.speed_reported = None,
    }
    match (e.width, dev.width) {
        (Some(want), Some(have)) if have < want => {
            if state.width_reported != Some(have) {
                out.push(link("width", format!("x{have}"), format!("x{want}")));
                state.width_reported = Some(have);
            }
        }
        (Some(_), None) => {}
        _ => state.width_reported = None,
    }
    out
}

/// The device for an expectation among those found: by address if pinned, else by IDs.
pub fn find<'a>(e: &PciExpect, devices: &'a [PciObserved]) -> Option<&'a PciObserved> {
    devices.iter().find(|d| {
        d.vendor == e.vendor
            && d.device == e.device
            && e.address
                .as_ref()
                .is_none_or(|a| a.eq_ignore_ascii_case(&d.address))
    })
}
