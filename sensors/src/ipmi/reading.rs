//! Get Sensor Reading responses to engine readings (pure).
//!
//! Response data (after the completion code): byte 0 the raw reading; byte 1 flags (bit 6
//! scanning enabled, bit 5 reading/state unavailable); bytes 2-3, when present, the threshold
//! status or the discrete state bits 0-14. ipmi-rs keeps those state bits private, so they
//! are decoded here.

use super::sdr::{SdrEntry, THRESHOLD_READING};
use envmon_core::engine::Reading;

/// Sensor type code of power supplies.
pub const POWER_SUPPLY: u8 = 0x08;

/// Power-supply state bits (sensor-specific offsets, IPMI 2.0 table 42-3).
pub mod psu_bits {
    /// Presence detected.
    pub const PRESENCE: u16 = 1 << 0;
    /// Power supply failure detected.
    pub const FAILURE: u16 = 1 << 1;
    /// Predictive failure (reported, not a failure yet).
    pub const PREDICTIVE: u16 = 1 << 2;
    /// Input lost (AC/DC).
    pub const INPUT_LOST: u16 = 1 << 3;
    /// Input lost or out of range.
    pub const INPUT_LOST_OR_OUT_OF_RANGE: u16 = 1 << 4;
    /// Input out of range but present.
    pub const INPUT_OUT_OF_RANGE: u16 = 1 << 5;
    /// Configuration error.
    pub const CONFIG_ERROR: u16 = 1 << 6;
}

/// Whether a power supply with these state bits is working: present and no failure, input
/// or configuration problem (a predictive failure alone still works).
pub fn psu_ok(states: u16) -> bool {
    use psu_bits::*;
    let bad = FAILURE | INPUT_LOST | INPUT_LOST_OR_OUT_OF_RANGE | INPUT_OUT_OF_RANGE | CONFIG_ERROR;
    states & PRESENCE != 0 && states & bad == 0
}

/// Event/reading type: generic digital discrete (deasserted / asserted).
pub const DIGITAL: u8 = 0x03;
/// Event/reading type: generic redundancy.
pub const REDUNDANCY: u8 = 0x0B;
/// Event/reading type: generic severity (0 transition to OK, 1 and 4 to non-critical, 2, 3,
/// 5 and 6 to critical or non-recoverable, 7 monitor, 8 informational).
pub const SEVERITY: u8 = 0x07;

/// Severity offsets that mean failed: critical or non-recoverable (2, 3, 5, 6).
pub const SEVERITY_FAILED: u16 = (1 << 2) | (1 << 3) | (1 << 5) | (1 << 6);

/// Redundancy offsets (IPMI 2.0 table 42-2, generic 0Bh) that mean redundancy is gone:
/// 1 redundancy lost, 3 non-redundant (sufficient resources from redundant), 4 non-redundant
/// (sufficient from insufficient), 5 non-redundant (insufficient resources). Fully redundant
/// (0) and the degraded states (2, 6, 7: still redundant, with less margin) are good.
pub const REDUNDANCY_LOST: u16 = (1 << 1) | (1 << 3) | (1 << 4) | (1 << 5);

/// A redundancy sensor's states; no state asserted says nothing.
pub fn redundancy(states: u16) -> Reading {
    if states & REDUNDANCY_LOST != 0 {
        Reading::Bad
    } else if states & 0xff != 0 {
        Reading::Good
    } else {
        Reading::Unreadable
    }
}

/// Whether a Get Sensor Reading response is well formed and says the sensor is not scanned.
pub fn not_scanning(data: &[u8]) -> bool {
    matches!(data.get(..2), Some([_, flags]) if flags & 0x40 == 0)
}

/// Sensor type codes that report an entity's presence (IPMI 2.0 table 42-3).
pub mod presence_types {
    /// Processor (sensor-specific offset 7: presence detected).
    pub const PROCESSOR: u8 = 0x07;
    /// Power supply (sensor-specific offset 0: presence detected).
    pub const POWER_SUPPLY: u8 = 0x08;
    /// Entity presence (sensor-specific offset 0 present, 1 absent).
    pub const ENTITY_PRESENCE: u8 = 0x25;
}

/// Event/reading type: generic "device removed/absent" (offset 0) / "device inserted/present"
/// (offset 1) (IPMI 2.0 table 42-2, code 08h).
pub const AVAILABILITY: u8 = 0x08;

/// Whether `entry` can say if its entity is there: an entity presence sensor, a processor's or
/// a supply's sensor-specific states (when its reading mask, if stated, has the presence
/// offset), or any sensor of the generic device present/absent type.
pub fn is_presence_sensor(entry: &SdrEntry) -> bool {
    use presence_types::*;
    let can = |bit: u16| entry.reading_mask == 0 || entry.reading_mask & bit != 0;
    match (entry.sensor_type, entry.reading_type) {
        (ENTITY_PRESENCE, SENSOR_SPECIFIC) => true,
        (PROCESSOR, SENSOR_SPECIFIC) => can(1 << 7),
        (POWER_SUPPLY, SENSOR_SPECIFIC) => can(1 << 0),
        (_, AVAILABILITY) => true,
        _ => false,
    }
}

/// Event/reading type: sensor-specific.
pub const SENSOR_SPECIFIC: u8 = 0x6F;

/// What a presence sensor's reply says: `Some(true)` present, `Some(false)` absent, `None`
/// nothing (no reply data, not scanning, reading unavailable, or no state asserted where the
/// sensor has an explicit "absent" state).
pub fn presence(entry: &SdrEntry, data: &[u8]) -> Option<bool> {
    use presence_types::*;
    let flags = *data.get(1)?;
    if flags & 0x40 == 0 || flags & 0x20 != 0 || !is_presence_sensor(entry) {
        return None;
    }
    let states =
        u16::from(*data.get(2)?) | (u16::from(data.get(3).copied().unwrap_or(0) & 0x7f) << 8);
    let two_state = |present: u16, absent: u16| match (states & present != 0, states & absent != 0)
    {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    };
    match (entry.sensor_type, entry.reading_type) {
        (ENTITY_PRESENCE, SENSOR_SPECIFIC) => two_state(1 << 0, 1 << 1),
        (_, AVAILABILITY) => two_state(1 << 1, 1 << 0),
        (PROCESSOR, _) => Some(states & (1 << 7) != 0),
        (POWER_SUPPLY, _) => Some(states & (1 << 0) != 0),
        _ => None,
    }
}

/// Decodes a Get Sensor Reading response for `entry`.
pub fn decode(entry: &SdrEntry, data: &[u8]) -> Reading {
    let (Some(&raw), Some(&flags)) = (data.first(), data.get(1)) else {
        return Reading::Unreadable;
    };
    let scanning = flags & 0x40 != 0;
    let unavailable = flags & 0x20 != 0;
    if !scanning || unavailable {
        return Reading::Unreadable;
    }
    if entry.reading_type == THRESHOLD_READING {
        return match entry.conversion.and_then(|c| c.apply(raw)) {
            Some(v) => Reading::Value(v),
            None => Reading::Unreadable,
        };
    }
    let Some(&low) = data.get(2) else {
        return Reading::Unreadable;
    };
    let states = u16::from(low) | (u16::from(data.get(3).copied().unwrap_or(0) & 0x7f) << 8);
    match (entry.reading_type, entry.sensor_type) {
        (REDUNDANCY, _) => redundancy(states),
        // A failure bit (`PS1 Fan Fail`): asserted is a failure.
        (DIGITAL, _) if states & 0b10 != 0 => Reading::Bad,
        (DIGITAL, _) if states & 0b01 != 0 => Reading::Good,
        // Neither: a sensor that cannot report "deasserted" (its reading mask lacks offset
        // 0; many support only "asserted") says it is not asserted.
        (DIGITAL, _) if entry.reading_mask & 0b01 == 0 => Reading::Good,
        (DIGITAL, _) => Reading::Unreadable,
        // A failure flag with severity states (`PSU 1 Failure`: "transition to OK").
        (SEVERITY, _) if states & SEVERITY_FAILED != 0 => Reading::Bad,
        (SEVERITY, _) if states & 0x1ff != 0 => Reading::Good,
        (SEVERITY, _) => Reading::Unreadable,
        (_, POWER_SUPPLY) if psu_ok(states) => Reading::Good,
        (_, POWER_SUPPLY) => Reading::Bad,
        // Other discrete sensors are not monitored by any class.
        _ => Reading::Unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipmi::sdr::Conversion;

    fn threshold() -> SdrEntry {
        SdrEntry {
            record_id: 1,
            owner_id: 0x20,
            owner_lun: 0,
            number: 1,
            name: "FAN1".into(),
            sensor_type: 0x04,
            reading_type: THRESHOLD_READING,
            entity_id: 0x1d,
            entity_instance: 1,
            conversion: Some(Conversion {
                format: 0,
                linearization: 0,
                m: 50,
                b: 0,
                b_exp: 0,
                r_exp: 0,
            }),
            thresholds: [None; 6],
            base_unit: 18,
            ..SdrEntry::default()
        }
    }

    fn psu() -> SdrEntry {
        SdrEntry {
            sensor_type: POWER_SUPPLY,
            reading_type: 0x6f,
            conversion: None,
            ..threshold()
        }
    }

    #[test]
    fn threshold_readings_are_converted() {
        assert_eq!(
            decode(&threshold(), &[100, 0xC0, 0x00]),
            Reading::Value(5000.0)
        );
        assert_eq!(
            decode(&threshold(), &[0, 0x40]),
            Reading::Value(0.0),
            "a real 0 stays 0"
        );
    }

    #[test]
    fn unavailable_or_not_scanning_is_unreadable_never_zero() {
        assert_eq!(
            decode(&threshold(), &[0, 0x60, 0]),
            Reading::Unreadable,
            "unavailable bit"
        );
        assert_eq!(
            decode(&threshold(), &[100, 0x80, 0]),
            Reading::Unreadable,
            "scanning off"
        );
        assert_eq!(decode(&threshold(), &[100]), Reading::Unreadable, "short");
        assert_eq!(decode(&threshold(), &[]), Reading::Unreadable, "empty");
    }

    #[test]
    fn power_supply_states() {
        let p = psu();
        assert_eq!(decode(&p, &[0, 0xC0, 0x01, 0x80]), Reading::Good);
        assert_eq!(
            decode(&p, &[0, 0xC0, 0x05, 0x80]),
            Reading::Good,
            "predictive only"
        );
        assert_eq!(decode(&p, &[0, 0xC0, 0x03, 0x80]), Reading::Bad, "failure");
        assert_eq!(
            decode(&p, &[0, 0xC0, 0x09, 0x80]),
            Reading::Bad,
            "input lost"
        );
        assert_eq!(
            decode(&p, &[0, 0xC0, 0x41, 0x80]),
            Reading::Bad,
            "config error"
        );
        assert_eq!(decode(&p, &[0, 0xC0, 0x00, 0x80]), Reading::Bad, "absent");
        assert_eq!(
            decode(&p, &[0, 0xC0]),
            Reading::Unreadable,
            "no state bytes"
        );
    }
}

#[cfg(test)]
mod discrete_tests {
    use super::*;

    #[test]
    fn presence_sensors_say_present_absent_or_nothing() {
        let p = |t: u8, rt: u8, mask: u16, states: u16, flags: u8| {
            let e = discrete(t, rt);
            let e = SdrEntry {
                reading_mask: mask,
                assertion_mask: 0,
                ..e
            };
            presence(&e, &[0, flags, states as u8, (states >> 8) as u8])
        };
        // Entity presence (25h): offset 0 present, 1 absent.
        assert_eq!(p(0x25, 0x6f, 0b11, 0b01, 0x40), Some(true));
        assert_eq!(p(0x25, 0x6f, 0b11, 0b10, 0x40), Some(false));
        assert_eq!(p(0x25, 0x6f, 0b11, 0, 0x40), None, "neither says nothing");
        assert_eq!(p(0x25, 0x6f, 0b11, 0b10, 0x00), None, "not scanning");
        assert_eq!(p(0x25, 0x6f, 0b11, 0b10, 0x60), None, "unavailable");
        // Processor (07h, 6Fh): offset 7.
        assert_eq!(p(0x07, 0x6f, 0x82, 1 << 7, 0x40), Some(true));
        assert_eq!(p(0x07, 0x6f, 0x82, 0, 0x40), Some(false));
        assert_eq!(p(0x07, 0x6f, 0x02, 0, 0x40), None, "cannot report presence");
        // Generic availability (08h): Cisco's P2_PRESENT, offset 0 absent, 1 present.
        assert_eq!(p(0x07, 0x08, 0, 0b01, 0x40), Some(false));
        assert_eq!(p(0x07, 0x08, 0, 0b10, 0x40), Some(true));
        // A temperature is not a presence sensor.
        assert_eq!(p(0x01, 0x6f, 0, 0b10, 0x40), None);
        assert!(not_scanning(&[0, 0x00]));
        assert!(!not_scanning(&[0, 0x40]));
        assert!(!not_scanning(&[0]), "short: not a statement");
    }
    use crate::ipmi::{decode_thresholds, sdr::Conversion};

    fn discrete(sensor_type: u8, reading_type: u8) -> SdrEntry {
        SdrEntry {
            owner_id: 0x20,
            sensor_type,
            reading_type,
            ..SdrEntry::default()
        }
    }

    #[test]
    fn redundancy_and_failure_bits() {
        let red = discrete(0x08, REDUNDANCY);
        let r = |states: u16| decode(&red, &[0, 0x40, states as u8, (states >> 8) as u8]);
        assert_eq!(r(1 << 0), Reading::Good, "fully redundant");
        assert_eq!(r(1 << 2), Reading::Good, "degraded is still redundant");
        for lost in [1, 3, 4, 5] {
            assert_eq!(r(1 << lost), Reading::Bad, "offset {lost}");
        }
        assert_eq!(r(0), Reading::Unreadable, "nothing asserted says nothing");
        let fail = discrete(0x04, DIGITAL);
        assert_eq!(decode(&fail, &[0, 0x40, 0b10, 0]), Reading::Bad);
        assert_eq!(decode(&fail, &[0, 0x40, 0b01, 0]), Reading::Good);
        assert_eq!(decode(&fail, &[0, 0x40]), Reading::Unreadable, "short");
        // Only "asserted" supported: nothing asserted is deasserted, ok (not absent).
        let asserted_only = SdrEntry {
            reading_mask: 0b10,
            assertion_mask: 0,
            ..fail.clone()
        };
        assert_eq!(decode(&asserted_only, &[0, 0x40, 0, 0]), Reading::Good);
        let both = SdrEntry {
            reading_mask: 0b11,
            assertion_mask: 0,
            ..fail
        };
        assert_eq!(
            decode(&both, &[0, 0x40, 0, 0]),
            Reading::Unreadable,
            "a sensor that can say deasserted and says neither says nothing"
        );
        // Severity states (07h): "transition to OK" is fine, "to critical" failed.
        let sev = discrete(0x08, SEVERITY);
        assert_eq!(decode(&sev, &[0, 0x40, 0b0000_0001, 0]), Reading::Good);
        assert_eq!(decode(&sev, &[0, 0x40, 0b0000_0100, 0]), Reading::Bad);
        assert_eq!(decode(&sev, &[0, 0x40, 0b0100_0000, 0]), Reading::Bad);
        assert_eq!(decode(&sev, &[0, 0x40, 0, 0]), Reading::Unreadable);
    }

    #[test]
    fn live_thresholds_decode_in_envmon_order() {
        let conv = Conversion {
            format: 0,
            linearization: 0,
            m: 2,
            b: 0,
            b_exp: 0,
            r_exp: 0,
        };
        // Readable: LC (bit 1), UC (bit 4), UNR (bit 5); values LNC..UNR.
        let d = [0b0011_0010, 1, 2, 3, 4, 5, 6];
        assert_eq!(
            decode_thresholds(&conv, &d),
            Some([Some(12.0), Some(10.0), None, None, Some(4.0), None])
        );
        assert_eq!(decode_thresholds(&conv, &d[..4]), None, "short reply");
    }
}
