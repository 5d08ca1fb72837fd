//! SDR records: raw bytes to what envmon needs (pure).
//!
//! The few fixed-offset bytes envmon needs are read here from the raw record (IPMI 2.0
//! section 43.1, table 43-1; 43.2, table 43-2), and the ID string is decoded here too
//! (section 43.15). ipmi-rs-core 0.6's `Record::parse` is not used: the fuzzer found it
//! panics on hostile records (a full record of 20 body bytes indexes byte 15 past its own
//! length check; a compact record whose ID-string instance modifier is 10b/11b hits a
//! `panic!`), and in a `panic = "abort"` release build one bad SDR from the BMC would stop
//! the agent. It also keeps the raw thresholds private, negates bits for ones' complement,
//! rejects sensor number 0xFF and prints 6-bit packed and BCD names as hex.

use envmon_board_defs::{SdrKind, SdrSensor};
use std::fmt;

/// Record type: full sensor record.
pub const FULL_SENSOR: u8 = 0x01;
/// Record type: compact sensor record.
pub const COMPACT_SENSOR: u8 = 0x02;
/// Event/reading type code of threshold sensors.
pub const THRESHOLD_READING: u8 = 0x01;
/// Base unit code (IPMI 2.0 table 43-15) of degrees C.
pub const UNIT_DEGREES_C: u8 = 1;
/// Base unit code of degrees F (see [`UNIT_DEGREES_C`]).
pub const UNIT_DEGREES_F: u8 = 2;

/// Why a record could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdrParseError {
    /// The record ID from the header, if the header was there.
    pub record_id: Option<u16>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for SdrParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.record_id {
            Some(id) => write!(f, "SDR record 0x{id:04x}: {}", self.reason),
            None => write!(f, "SDR record: {}", self.reason),
        }
    }
}

impl std::error::Error for SdrParseError {}

/// How a raw reading becomes a value: y = L[(M x + B 10^Bexp) 10^Rexp].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conversion {
    /// 0 unsigned, 1 ones' complement, 2 two's complement.
    pub format: u8,
    /// Linearization code (0 linear, 1 ln, ..., 11 cube root).
    pub linearization: u8,
    /// M, 10-bit signed.
    pub m: i16,
    /// B, 10-bit signed.
    pub b: i16,
    /// B exponent, 4-bit signed.
    pub b_exp: i8,
    /// Result exponent, 4-bit signed.
    pub r_exp: i8,
}

fn sign_extend(value: u16, bits: u32) -> i16 {
    let shift = 16 - bits;
    ((value << shift) as i16) >> shift
}

impl Conversion {
    /// Converts a raw byte; `None` when the result is not a finite number.
    pub fn apply(&self, raw: u8) -> Option<f64> {
        let x = match self.format {
            0 => f64::from(raw),
            1 if raw & 0x80 != 0 => -f64::from(!raw),
            1 => f64::from(raw),
            2 => f64::from(raw as i8),
            _ => return None,
        };
        let y = (f64::from(self.m) * x + f64::from(self.b) * 10f64.powi(i32::from(self.b_exp)))
            * 10f64.powi(i32::from(self.r_exp));
        let y = match self.linearization {
            0 => y,
            1 => y.ln(),
            2 => y.log10(),
            3 => y.log2(),
            4 => y.exp(),
            5 => 10f64.powf(y),
            6 => y.exp2(),
            7 => 1.0 / y,
            8 => y * y,
            9 => y * y * y,
            10 => y.sqrt(),
            11 => y.cbrt(),
            _ => return None,
        };
        y.is_finite().then_some(y)
    }
}

/// What envmon keeps of one sensor record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SdrEntry {
    /// Record ID.
    pub record_id: u16,
    /// Sensor owner (slave address; 0x20 is the BMC).
    pub owner_id: u8,
    /// Sensor owner LUN.
    pub owner_lun: u8,
    /// Sensor number.
    pub number: u8,
    /// ID string.
    pub name: String,
    /// Sensor type code.
    pub sensor_type: u8,
    /// Event/reading type code (0x01 threshold; others discrete).
    pub reading_type: u8,
    /// Entity ID.
    pub entity_id: u8,
    /// Entity instance.
    pub entity_instance: u8,
    /// Conversion for threshold sensors with an analog reading.
    pub conversion: Option<Conversion>,
    /// Readable thresholds, converted: [UNR, UC, UNC, LNR, LC, LNC]. From the SDR, then
    /// replaced by the live ones when the BMC answers Get Sensor Thresholds.
    pub thresholds: [Option<f64>; 6],
    /// Sensor capabilities, threshold access: 0 none, 1 readable, 2 readable and settable,
    /// 3 fixed and unreadable (the SDR's values hold).
    pub threshold_access: u8,
    /// Sensor capabilities, hysteresis access (same codes).
    pub hysteresis_access: u8,
    /// Hysteresis in the sensor's unit (the larger of the two directions), if not zero.
    pub hysteresis: Option<f64>,
    /// Base unit code (IPMI 2.0 table 43-15).
    pub base_unit: u8,
    /// The units' percentage flag.
    pub percentage: bool,
    /// Sensor capabilities bit 7: "ignore this sensor if its entity is not present or
    /// disabled" (the BMC stops scanning it then).
    pub ignore_if_absent: bool,
    /// Discrete sensors: the states the sensor can report (the SDR's reading mask, bytes
    /// 19-20, offsets 0-14); 0 for threshold sensors.
    pub reading_mask: u16,
    /// Discrete sensors: the states the sensor asserts events for (the SDR's assertion event
    /// mask, bytes 15-16, offsets 0-14); 0 for threshold sensors.
    pub assertion_mask: u16,
    /// Threshold sensors of a full record: the lowest and highest value the sensor can
    /// produce (sensor minimum and maximum reading, bytes 36 and 35, converted).
    pub range: Option<(f64, f64)>,
}

impl SdrEntry {
    /// The neutral summary `--board auto` classifies.
    pub fn to_sdr_sensor(&self) -> SdrSensor {
        let [unr, uc, unc, lnr, lc, lnc] = self.thresholds;
        SdrSensor {
            owner_id: self.owner_id,
            owner_lun: self.owner_lun,
            number: self.number,
            name: self.name.clone(),
            sensor_type: self.sensor_type,
            reading_type: self.reading_type,
            entity_id: self.entity_id,
            entity_instance: self.entity_instance,
            base_unit: self.base_unit,
            percentage: self.percentage,
            hysteresis: self.hysteresis,
            reading_mask: self.reading_mask,
            assertion_mask: self.assertion_mask,
            kind: if self.reading_type == THRESHOLD_READING && self.conversion.is_some() {
                SdrKind::Threshold {
                    unr,
                    uc,
                    unc,
                    lnr,
                    lc,
                    lnc,
                }
            } else {
                SdrKind::Discrete
            },
        }
    }
}

/// Splits a file of whole SDR records one after another (what `ipmitool sdr dump FILE`
/// writes: each record's 5-byte header, then the body its length byte says) into its
/// records, in order. A record cut short is an error naming its byte offset; at most
/// [`crate::ipmi::repo::MAX_RECORDS`] records.
pub fn split_records(bytes: &[u8]) -> Result<Vec<&[u8]>, SdrParseError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = bytes.get(at..).unwrap_or_default();
        let record_id = rest.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        let whole = rest
            .get(4)
            .map(|&len| 5 + usize::from(len))
            .and_then(|n| rest.get(..n));
        let Some(record) = whole else {
            return Err(SdrParseError {
                record_id,
                reason: format!(
                    "cut short at byte {at} of {}: not a file of whole SDR records (`ipmitool \
                     sdr dump FILE` writes one)",
                    bytes.len()
                ),
            });
        };
        if out.len() >= crate::ipmi::repo::MAX_RECORDS {
            return Err(SdrParseError {
                record_id,
                reason: format!(
                    "more than {} records: not one BMC's repository",
                    crate::ipmi::repo::MAX_RECORDS
                ),
            });
        }
        out.push(record);
        at += record.len();
    }
    Ok(out)
}

/// Parses one whole record (header included). `Ok(None)` for records that are not sensors
/// (device locators, OEM records, event-only sensors).
pub fn parse_record(raw: &[u8]) -> Result<Option<SdrEntry>, SdrParseError> {
    let record_id = raw.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let fail = |reason: String| SdrParseError { record_id, reason };
    let (Some(&record_type), Some(&length), Some(body)) = (raw.get(3), raw.get(4), raw.get(5..))
    else {
        return Err(fail(format!(
            "malformed: {} bytes, shorter than the 5-byte record header",
            raw.len()
        )));
    };
    if body.len() != usize::from(length) {
        return Err(fail(format!(
            "malformed: the header says {length} body bytes, the record has {}",
            body.len()
        )));
    }
    if record_type != FULL_SENSOR && record_type != COMPACT_SENSOR {
        return Ok(None);
    }
    let b = Body { body, record_id };
    // ID string type/length code: byte 48 of a full record, byte 32 of a compact one.
    let id_at = if record_type == FULL_SENSOR { 48 } else { 32 };
    let name = id_string(b.byte(id_at)?, body.get(id_at + 1 - 6..).unwrap_or(&[]));
    let (reading_type, sensor_type) = (b.byte(14)?, b.byte(13)?);
    let caps = b.byte(12)?;
    let units1 = b.byte(21)?;
    let analog = if record_type == FULL_SENSOR {
        analog(&b, reading_type)?
    } else {
        Analog::default()
    };
    let (reading_mask, assertion_mask) = if reading_type == THRESHOLD_READING {
        (0, 0)
    } else {
        (
            u16::from_le_bytes([b.byte(19)?, b.byte(20)? & 0x7f]),
            u16::from_le_bytes([b.byte(15)?, b.byte(16)? & 0x7f]),
        )
    };
    Ok(Some(SdrEntry {
        record_id: record_id.unwrap_or(0),
        owner_id: b.byte(6)?,
        owner_lun: b.byte(7)? & 0x03,
        number: b.byte(8)?,
        name,
        sensor_type,
        reading_type,
        entity_id: b.byte(9)?,
        entity_instance: b.byte(10)?,
        conversion: analog.conversion,
        thresholds: analog.thresholds,
        threshold_access: (caps >> 2) & 0x03,
        hysteresis_access: (caps >> 4) & 0x03,
        hysteresis: analog.hysteresis,
        base_unit: b.byte(22)?,
        percentage: units1 & 0x01 != 0,
        ignore_if_absent: caps & 0x80 != 0,
        reading_mask,
        assertion_mask,
        range: analog.range,
    }))
}

/// A sensor record's body, its bytes numbered as the specification numbers them (the
/// record's byte 6 is the body's first).
struct Body<'a> {
    body: &'a [u8],
    record_id: Option<u16>,
}

impl Body<'_> {
    /// Byte `n` of the record, or the error that the record is too short for it.
    fn byte(&self, n: usize) -> Result<u8, SdrParseError> {
        n.checked_sub(6)
            .and_then(|i| self.body.get(i))
            .copied()
            .ok_or_else(|| SdrParseError {
                record_id: self.record_id,
                reason: format!("too short for byte {n}"),
            })
    }
}

/// What a full sensor record says of an analog reading: its conversion, thresholds (of a
/// threshold sensor, where readable), hysteresis and range. Nothing for a non-analog one.
#[derive(Debug, Default)]
struct Analog {
    conversion: Option<Conversion>,
    thresholds: [Option<f64>; 6],
    hysteresis: Option<f64>,
    range: Option<(f64, f64)>,
}

/// A full sensor record's analog part (bytes 21-44).
fn analog(b: &Body<'_>, reading_type: u8) -> Result<Analog, SdrParseError> {
    let format = b.byte(21)? >> 6;
    if format == 3 {
        return Ok(Analog::default());
    }
    let m = sign_extend(
        u16::from(b.byte(25)?) | (u16::from(b.byte(26)? >> 6) << 8),
        10,
    );
    let bb = sign_extend(
        u16::from(b.byte(27)?) | (u16::from(b.byte(28)? >> 6) << 8),
        10,
    );
    let exps = b.byte(30)?;
    let conv = Conversion {
        format,
        linearization: b.byte(24)? & 0x7f,
        m,
        b: bb,
        b_exp: sign_extend(u16::from(exps & 0x0f), 4) as i8,
        r_exp: sign_extend(u16::from(exps >> 4), 4) as i8,
    };
    let mut out = Analog::default();
    if reading_type == THRESHOLD_READING {
        // Readable mask, byte 19: bit 0 LNC, 1 LC, 2 LNR, 3 UNC, 4 UC, 5 UNR.
        let readable = b.byte(19)?;
        let order = [(37, 5), (38, 4), (39, 3), (40, 2), (41, 1), (42, 0)];
        for (slot, (pos, bit)) in out.thresholds.iter_mut().zip(order) {
            if readable & (1 << bit) != 0 {
                *slot = conv.apply(b.byte(pos)?);
            }
        }
        out.range = sensor_range(&conv, b.byte(36)?, b.byte(35)?);
    }
    // Hysteresis, bytes 43-44, in raw counts: its size in the sensor's unit.
    let span = |raw: u8| Some((conv.apply(raw)? - conv.apply(0)?).abs());
    let (pos, neg) = (span(b.byte(43)?), span(b.byte(44)?));
    out.hysteresis = pos
        .into_iter()
        .chain(neg)
        .reduce(f64::max)
        .filter(|h| *h > 0.0);
    out.conversion = Some(conv);
    Ok(out)
}

/// The range a threshold sensor can read, from its raw minimum and maximum (the lower and
/// higher of the two converted: a negative M turns them round). `None` when either does not
/// convert, or when the SDR gives the empty range 0-0 (no range stated).
fn sensor_range(conv: &Conversion, raw_min: u8, raw_max: u8) -> Option<(f64, f64)> {
    if raw_min == 0 && raw_max == 0 {
        return None;
    }
    let (a, b) = (conv.apply(raw_min)?, conv.apply(raw_max)?);
    (a != b).then(|| (a.min(b), a.max(b)))
}

/// The longest name envmon keeps (the ID string field holds at most 16 bytes, 21 characters
/// when 6-bit packed).
const MAX_NAME: usize = 32;

/// Decodes an SDR ID string (IPMI 2.0 section 43.15): bits 7:6 of the type/length byte give
/// the encoding, bits 4:0 the byte count. 8-bit ASCII + Latin-1 and (unspecified by IPMI)
/// Unicode take one character per byte; BCD plus is a nibble per character (high nibble first); 6-bit packed
/// ASCII is four characters in three bytes. Control characters become '?' (a name goes into
/// syslog lines and tables: a BMC cannot inject a line break), trailing NULs and spaces are
/// dropped, and a count longer than the bytes there uses the bytes there.
pub fn id_string(type_length: u8, bytes: &[u8]) -> String {
    let count = usize::from(type_length & 0x1F).min(bytes.len());
    let data = bytes.get(..count).unwrap_or(&[]);
    let chars: Vec<char> = match type_length >> 6 {
        0b01 => data
            .iter()
            .flat_map(|b| [b >> 4, b & 0x0F])
            .map(|n| char::from(b"0123456789 -.:,_"[usize::from(n)]))
            .collect(),
        0b10 => data
            .chunks(3)
            .flat_map(|c| {
                let v = c
                    .iter()
                    .rev()
                    .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
                let n = c.len() * 8 / 6;
                (0..n).map(move |i| char::from(0x20 + ((v >> (6 * i)) & 0x3F) as u8))
            })
            .collect(),
        _ => data.iter().map(|&b| char::from(b)).collect(),
    };
    let name: String = chars
        .into_iter()
        .take(MAX_NAME)
        .map(|c| if c.is_control() && c != '\0' { '?' } else { c })
        .collect();
    // The one rule for text from outside (no control characters, no `%` or `<`).
    envmon_core::text::sanitize(&name.trim_end_matches(['\0', ' ']).replace('\0', "?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dump splits at each record's length byte; a record cut short names its offset.
    #[test]
    fn a_dump_splits_into_its_records_and_a_cut_one_is_refused() {
        let a = [0x01, 0x00, 0x51, 0x12, 0x02, 0xaa, 0xbb];
        let b = [0x02, 0x00, 0x51, 0x01, 0x00];
        let both = [&a[..], &b[..]].concat();
        assert_eq!(split_records(&both).unwrap(), [&a[..], &b[..]]);
        assert_eq!(split_records(&[]).unwrap(), Vec::<&[u8]>::new());
        let e = split_records(&both[..both.len() - 1]).unwrap_err();
        assert_eq!(e.record_id, Some(2));
        assert!(e.reason.starts_with("cut short at byte 7 of 11"), "{e}");
        let e = split_records(&a[..6]).unwrap_err();
        assert!(e.reason.starts_with("cut short at byte 0 of 6"), "{e}");
    }

    #[test]
    fn id_strings_in_every_encoding() {
        assert_eq!(id_string(0xC3, b"12V"), "12V");
        assert_eq!(id_string(0xC8, b"Fan 1\0\0\0"), "Fan 1", "NUL padding");
        assert_eq!(id_string(0xC9, b"CPU"), "CPU", "count past the bytes");
        assert_eq!(
            id_string(0xC4, b"a\nb\x1b"),
            "a?b?",
            "no line breaks or escapes"
        );
        assert_eq!(
            id_string(0xD3, b"F\n<11>%FTD-1-735006"),
            "F??11>?FTD-1-735006",
            "no forged message"
        );
        assert_eq!(id_string(0xC2, &[0xB0, 0x43]), "\u{b0}C", "Latin-1");
        // BCD plus, high nibble first: 1 2 then C='.' B='-'.
        assert_eq!(id_string(0x42, &[0x12, 0xCB]), "12.-");
        // 6-bit packed "IPMI": I=0x29, P=0x30, M=0x2D, I=0x29, little-endian 6-bit fields.
        let v: u32 = 0x29 | (0x30 << 6) | (0x2D << 12) | (0x29 << 18);
        assert_eq!(
            id_string(0x83, &[v as u8, (v >> 8) as u8, (v >> 16) as u8]),
            "IPMI"
        );
        assert_eq!(id_string(0xC0, b"x"), "", "zero length");
        assert_eq!(
            id_string(0xDF, &[b'A'; 40]).len(),
            31,
            "at most 31 bytes counted"
        );
    }

    fn conv(format: u8, m: i16, b: i16, b_exp: i8, r_exp: i8) -> Conversion {
        Conversion {
            format,
            linearization: 0,
            m,
            b,
            b_exp,
            r_exp,
        }
    }

    #[test]
    fn conversion_formats_and_exponents() {
        assert_eq!(conv(0, 1, 0, 0, 0).apply(200), Some(200.0));
        assert_eq!(conv(0, 50, 0, 0, 0).apply(20), Some(1000.0));
        let v = conv(0, 6, 0, 0, -2).apply(190).unwrap();
        assert!((v - 11.4).abs() < 1e-9, "{v}");
        assert_eq!(conv(2, 1, 0, 0, 0).apply(0xFE), Some(-2.0));
        assert_eq!(
            conv(1, 1, 0, 0, 0).apply(0xFE),
            Some(-1.0),
            "ones' complement"
        );
        assert_eq!(
            conv(0, 2, 5, 1, 0).apply(10),
            Some(70.0),
            "B scaled by 10^Bexp"
        );
        assert_eq!(conv(3, 1, 0, 0, 0).apply(1), None, "no analog reading");
        let mut c = conv(0, 1, 0, 0, 0);
        c.linearization = 7;
        assert_eq!(c.apply(4), Some(0.25));
        assert_eq!(c.apply(0), None, "1/0 is not a reading");
    }

    #[test]
    fn sign_extension() {
        assert_eq!(sign_extend(0x3FF, 10), -1);
        assert_eq!(sign_extend(0x1FF, 10), 511);
        assert_eq!(sign_extend(0x8, 4), -8);
        assert_eq!(sign_extend(0x7, 4), 7);
    }

    /// A full sensor record as sdrcomp builds it for the simulator's "12V" sensor.
    pub(crate) fn full_12v() -> Vec<u8> {
        let mut r = vec![0u8; 48];
        r[0] = 0x0d; // record id 13
        r[2] = 0x51;
        r[3] = FULL_SENSOR;
        let name = b"12V";
        r[4] = (43 + name.len()) as u8;
        let mut set = |n: usize, v: u8| r[n - 1] = v;
        set(6, 0x20);
        set(8, 13);
        set(9, 0x07);
        set(10, 1);
        set(13, 0x02); // voltage
        set(14, 0x01); // threshold
        set(19, 0b0001_0010); // UC and LC readable
        set(21, 0x00); // unsigned
        set(22, 4); // volts
        set(25, 6); // M = 6
        set(30, 0xE0); // R exp = -2, B exp = 0
        set(38, 210); // UC
        set(41, 190); // LC
        set(48, 0xC0 | name.len() as u8);
        r.extend_from_slice(name);
        r
    }

    #[test]
    fn parses_a_full_threshold_record() {
        let e = parse_record(&full_12v()).unwrap().unwrap();
        assert_eq!(
            (e.record_id, e.owner_id, e.number, e.name.as_str()),
            (13, 0x20, 13, "12V")
        );
        assert_eq!(
            (e.sensor_type, e.reading_type, e.entity_id),
            (0x02, 0x01, 0x07)
        );
        let [unr, uc, unc, lnr, lc, lnc] = e.thresholds;
        assert_eq!((unr, unc, lnr, lnc), (None, None, None, None));
        assert!((uc.unwrap() - 12.6).abs() < 1e-9);
        assert!((lc.unwrap() - 11.4).abs() < 1e-9);
        let s = e.to_sdr_sensor();
        assert!(matches!(s.kind, SdrKind::Threshold { .. }));
    }

    #[test]
    fn bad_records_are_errors_not_panics() {
        let good = full_12v();
        for cut in [0, 3, 5, 20, good.len() - 1] {
            assert!(parse_record(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut wrong_len = good.clone();
        wrong_len[4] = 200;
        assert!(
            parse_record(&wrong_len)
                .unwrap_err()
                .to_string()
                .contains("0x000d")
        );
    }

    /// Records the fuzzer found (fuzz/fuzz_targets/sdr_record.rs) that panicked inside
    /// ipmi-rs-core 0.6's `Record::parse`: both are now a clear error or a decoded record.
    #[test]
    fn fuzzer_found_records_do_not_panic() {
        // Full record whose header says 20 body bytes: ipmi-rs checked >= 15, then read [15].
        let mut short_full = vec![0x07, 0x00, 0x51, FULL_SENSOR, 20];
        short_full.extend_from_slice(&[0x20; 20]);
        let err = parse_record(&short_full).unwrap_err();
        assert!(err.to_string().contains("too short"), "{err}");
        // Compact record with ID-string instance modifier 10b (byte 24 = 0x2e): ipmi-rs panicked.
        let compact = [
            0x5d, 0x2e, 0x42, 0x02, 0x1f, 0x1e, 0xee, 0xe3, 0xfe, 0xe0, 0xff, 0x5d, 0x1c, 0xe4,
            0x1c, 0x1c, 0x11, 0x1f, 0x1e, 0x1c, 0x1c, 0x01, 0x22, 0xe2, 0xe3, 0xe3, 0xe3, 0x34,
            0xbf, 0x34, 0xf7, 0x00, 0x00, 0x00, 0x10, 0x1c,
        ];
        let entry = parse_record(&compact).unwrap().unwrap();
        assert_eq!((entry.record_id, entry.number), (0x2e5d, 0xe3));
    }

    #[test]
    fn non_sensor_records_are_skipped() {
        // An MC device locator (type 0x12) with an empty ID string.
        let mut r = vec![0x01, 0x00, 0x51, 0x12, 11];
        r.extend_from_slice(&[0x20, 0, 0, 0, 0, 0, 0, 0x2e, 0, 0, 0xC0]);
        assert_eq!(parse_record(&r), Ok(None));
    }
}
