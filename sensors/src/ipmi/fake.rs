//! A BMC in memory, behind the [`Transport`] trait: an SDR repository (read in chunks like a
//! real one), sensor readings the test sets, and scripted failures. The agent's daemon and
//! monitor tests run against it; nothing in the agent itself uses it.

use super::{
    IpmiError, IpmiErrorKind, Transport,
    command::{
        ChassisControl, ClearSel, Command, DCMI_GROUP, DcmiGetPowerReading, GetChassisStatus,
        GetDeviceId, GetSdr, GetSdrRepoInfo, GetSelEntry, GetSelInfo, GetSelTime, GetSensorReading,
        GetSensorThresholds, GetSystemGuid, ReserveSdrRepo, ReserveSel,
    },
    sdr::{FULL_SENSOR, THRESHOLD_READING},
};
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

/// A transport that counts the rounds of [`Transport::call_many`] it is asked for (each
/// answered one request after another by `inner`): how tests see that a reader pipelines.
pub struct Rounds<T> {
    /// The transport that answers.
    pub inner: T,
    /// `call_many` calls so far.
    pub rounds: usize,
}

impl<T: Transport> Transport for Rounds<T> {
    fn call(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        self.inner.call(netfn, cmd, data)
    }
    fn call_many(&mut self, requests: &[super::Request]) -> Vec<Result<Vec<u8>, IpmiError>> {
        self.rounds += 1;
        requests
            .iter()
            .map(|r| self.inner.call(r.netfn, r.cmd, &r.data))
            .collect()
    }
    fn commands(&self) -> u64 {
        self.inner.commands()
    }
}

/// A fan record whose SDR name (`F\n<11>%FTD-1-7350`, 16 bytes kept) spells a catalog line
/// after a line break: what a hostile BMC could send (issue 21). 50 RPM per count, lower
/// critical at 1,000 RPM.
pub fn forged_fan_record(record_id: u16, number: u8) -> Vec<u8> {
    threshold_record(
        record_id,
        number,
        "F\n<11>%FTD-1-7350",
        0x04,
        (0x1d, 2),
        50,
        [None, None, None, None, Some(20), None],
    )
}

/// A full threshold sensor record (type 01h): unsigned readings, `value = m * raw`, and the
/// readable thresholds `[UNR, UC, UNC, LNR, LC, LNC]` as raw bytes.
pub fn threshold_record(
    record_id: u16,
    number: u8,
    name: &str,
    sensor_type: u8,
    entity: (u8, u8),
    m: u8,
    thresholds: [Option<u8>; 6],
) -> Vec<u8> {
    let name = &name.as_bytes()[..name.len().min(16)];
    let mut r = vec![0u8; 48];
    let [lo, hi] = record_id.to_le_bytes();
    r[0] = lo;
    r[1] = hi;
    r[2] = 0x51;
    r[3] = FULL_SENSOR;
    r[4] = (43 + name.len()) as u8;
    let mut set = |n: usize, v: u8| r[n - 1] = v;
    set(6, 0x20);
    set(8, number);
    set(9, entity.0);
    set(10, entity.1);
    set(13, sensor_type);
    set(14, THRESHOLD_READING);
    // Capabilities: thresholds readable (bits 3:2 = 01).
    set(12, 0x04);
    // Base unit by sensor type: degrees C, volts, RPM.
    set(
        22,
        match sensor_type {
            0x01 => 1,
            0x02 => 4,
            0x04 => 18,
            _ => 0,
        },
    );
    set(25, m);
    // Readable mask, byte 19: bit 0 LNC, 1 LC, 2 LNR, 3 UNC, 4 UC, 5 UNR; values 37..42.
    let mut readable = 0u8;
    for (i, (t, bit)) in thresholds.iter().zip([5, 4, 3, 2, 1, 0]).enumerate() {
        if let Some(v) = t {
            readable |= 1 << bit;
            set(37 + i, *v);
        }
    }
    set(19, readable);
    set(48, 0xC0 | name.len() as u8);
    r.extend_from_slice(name);
    r
}

/// `record` with the base unit `code` (IPMI 2.0 table 43-15: 5 amperes, 6 watts, 7 joules).
pub fn with_base_unit(mut record: Vec<u8>, code: u8) -> Vec<u8> {
    if let Some(b) = record.get_mut(21) {
        *b = code;
    }
    record
}

/// `record` with the result exponent `r_exp` (`value = m * raw * 10^r_exp`), -8..=7.
pub fn with_r_exp(mut record: Vec<u8>, r_exp: i8) -> Vec<u8> {
    if let Some(b) = record.get_mut(29) {
        *b = (*b & 0x0f) | (((r_exp as u8) & 0x0f) << 4);
    }
    record
}

/// How a listing's values become raw bytes: `value = m * raw * 10^r_exp`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    /// 0 unsigned, 2 two's complement.
    format: u8,
    m: u16,
    r_exp: i8,
    base_unit: u8,
    percentage: bool,
}

impl Scale {
    /// The scale for a unit and the largest magnitude it must hold.
    fn for_unit(unit: &str, max: f64) -> Result<Scale, String> {
        let fit = |limit: f64| {
            [1u16, 2, 5, 10, 20, 25, 50, 100, 200, 500]
                .into_iter()
                .find(|m| max / f64::from(*m) <= limit)
                .unwrap_or(1000)
        };
        let (base_unit, percentage) = match unit {
            "C" => (1, false),
            "V" => (4, false),
            "A" => (5, false),
            "W" => (6, false),
            "RPM" => (18, false),
            "%" => (0, true),
            "-" => (0, false),
            other => return Err(format!("unknown unit '{other}'")),
        };
        Ok(match unit {
            // Degrees: whole numbers, negative ones too.
            "C" => Scale {
                format: 2,
                m: 1,
                r_exp: 0,
                base_unit,
                percentage,
            },
            // Volts: thousandths, signed (-12 V rails), as coarse as the range needs.
            "V" => Scale {
                format: 2,
                m: ((max * 1000.0 / 127.0).ceil() as u16).max(1),
                r_exp: -3,
                base_unit,
                percentage,
            },
            _ => Scale {
                format: 0,
                m: fit(255.0),
                r_exp: 0,
                base_unit,
                percentage,
            },
        })
    }

    fn raw(&self, v: f64) -> u8 {
        let r = (v / (f64::from(self.m) * 10f64.powi(i32::from(self.r_exp)))).round();
        if self.format == 2 {
            (r.clamp(-128.0, 127.0) as i8) as u8
        } else {
            r.clamp(0.0, 255.0) as u8
        }
    }
}

/// A sensor record from a listing's facts (`S` lines of a corpus file): a full record for a
/// threshold sensor, a compact one for a discrete sensor.
#[allow(clippy::too_many_arguments)]
fn listing_record(
    record_id: u16,
    number: u8,
    name: &str,
    sensor_type: u8,
    reading_type: u8,
    entity: (u8, u8),
    scale: Option<Scale>,
    thresholds: [Option<u8>; 6],
) -> Vec<u8> {
    let id = &name.as_bytes()[..name.len().min(16)];
    let [lo, hi] = record_id.to_le_bytes();
    let Some(scale) = scale.filter(|_| reading_type == THRESHOLD_READING) else {
        // Compact record: the name at byte 33.
        let mut r = vec![0u8; 32];
        r[0] = lo;
        r[1] = hi;
        r[2] = 0x51;
        r[3] = 0x02;
        r[4] = (27 + id.len()) as u8;
        let mut set = |n: usize, v: u8| r[n - 1] = v;
        set(6, 0x20);
        set(8, number);
        set(9, entity.0);
        set(10, entity.1);
        set(11, 0x63);
        set(12, 0x40);
        set(13, sensor_type);
        set(14, reading_type);
        set(21, 0xC0);
        set(32, 0xC0 | id.len() as u8);
        r.extend_from_slice(id);
        return r;
    };
    let mut r = threshold_record(record_id, number, name, sensor_type, entity, 0, thresholds);
    let mut set = |n: usize, v: u8| r[n - 1] = v;
    set(21, (scale.format << 6) | u8::from(scale.percentage));
    set(22, scale.base_unit);
    let [m_lo, m_hi] = scale.m.to_le_bytes();
    set(25, m_lo);
    set(26, (m_hi & 0x03) << 6);
    set(30, ((scale.r_exp as u8) & 0x0f) << 4);
    r
}

/// Parses `0x1f`, `1f` or `31`-style numbers: hex with `0x`, else decimal.
fn num(t: &str) -> Result<u32, String> {
    let t = t.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => t.parse(),
    }
    .map_err(|_| format!("'{t}' is not a number"))
}

fn byte(t: &str) -> Result<u8, String> {
    u8::try_from(num(t)?).map_err(|_| format!("'{t}' is more than a byte"))
}

/// The `S` line of a corpus file: `NUM|NAME|TYPE|READING TYPE|ENTITY.INSTANCE|UNIT|UNR,UC,UNC,
/// LNR,LC,LNC|READING` with thresholds and the reading in the unit (`-` for none; a reading
/// `na` is no reading, `0xNNNN` the state bits of a discrete sensor).
fn listing_line(st: &mut FakeState, line: &str) -> Result<(), String> {
    let f: Vec<&str> = line.split('|').map(str::trim).collect();
    let [
        number,
        name,
        sensor_type,
        reading_type,
        entity,
        unit,
        limits,
        reading,
    ] = f[..]
    else {
        return Err(format!("expected 8 fields separated by |, got {}", f.len()));
    };
    let number = byte(number)?;
    let (sensor_type, reading_type) = (byte(sensor_type)?, byte(reading_type)?);
    let (eid, inst) = entity
        .split_once('.')
        .ok_or_else(|| format!("entity '{entity}' must be ID.INSTANCE"))?;
    let entity = (byte(eid)?, byte(inst)?);
    let values: Vec<Option<f64>> = limits
        .split(',')
        .map(|v| match v.trim() {
            "-" | "" => Ok(None),
            v => v
                .parse::<f64>()
                .map(Some)
                .map_err(|_| format!("threshold '{v}' is not a number")),
        })
        .collect::<Result<_, _>>()?;
    let limits: [Option<f64>; 6] = values
        .try_into()
        .map_err(|_| "thresholds: six values UNR,UC,UNC,LNR,LC,LNC".to_string())?;
    let value = match reading {
        "na" => None,
        r if r.starts_with("0x") => {
            let states = u16::try_from(num(r)?).map_err(|_| format!("states '{r}'"))?;
            st.states.push((number, states));
            None
        }
        r => Some(r.parse::<f64>().map_err(|_| format!("reading '{r}'"))?),
    };
    let max = limits
        .iter()
        .flatten()
        .chain(value.iter())
        .fold(1.0f64, |m, v| m.max(v.abs()));
    let scale = (reading_type == THRESHOLD_READING)
        .then(|| Scale::for_unit(unit, max))
        .transpose()?;
    let raw = |v: Option<f64>| scale.and_then(|s| v.map(|v| s.raw(v)));
    let record_id = u16::try_from(st.records.len() + 1).unwrap_or(u16::MAX);
    st.records.push(listing_record(
        record_id,
        number,
        name,
        sensor_type,
        reading_type,
        entity,
        scale,
        limits.map(raw),
    ));
    if let Some(r) = raw(value) {
        st.readings.push((number, r));
    }
    Ok(())
}

impl FakeBmc {
    /// A BMC from a corpus file (sim/corpus/README.md): raw SDR records (`R`), sensors from
    /// listings (`S`), readings (`V`), discrete states (`D`), sensors without a reading (`N`)
    /// and live thresholds (`L`).
    /// Errors name the line.
    pub fn from_corpus(text: &str) -> Result<FakeBmc, String> {
        let bmc = FakeBmc::default();
        {
            let mut st = bmc.state();
            st.add_timestamp = 1;
            for (i, line) in text.lines().enumerate() {
                // A comment runs from " #" to the end of the line.
                let line = line.split(" #").next().unwrap_or("").trim();
                let at = |e: String| format!("line {}: {e}", i + 1);
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
                let words: Vec<&str> = rest.split_whitespace().collect();
                match kind {
                    "R" => {
                        // Hex bytes, as captures print them.
                        let hex = |b: &&str| {
                            u8::from_str_radix(b.trim_start_matches("0x"), 16)
                                .map_err(|_| format!("'{b}' is not a hex byte"))
                        };
                        let rec = words.iter().map(hex).collect::<Result<Vec<u8>, _>>();
                        st.records.push(rec.map_err(at)?);
                    }
                    "S" => listing_line(&mut st, rest).map_err(at)?,
                    "N" => {
                        let n = words
                            .first()
                            .ok_or("no sensor number")
                            .map_err(|e| at(e.into()))?;
                        st.not_scanning.push(byte(n).map_err(at)?);
                    }
                    "V" | "D" | "L" => {
                        let n = words
                            .first()
                            .ok_or("no sensor number")
                            .map_err(|e| at(e.into()))?;
                        let n = byte(n).map_err(at)?;
                        match (kind, &words[1..]) {
                            ("V", [v]) => st.readings.push((n, byte(v).map_err(at)?)),
                            ("D", [v]) => {
                                let v = u16::try_from(num(v).map_err(at)?)
                                    .map_err(|_| at(format!("states '{v}'")))?;
                                st.states.push((n, v));
                            }
                            ("L", t) if t.len() == 6 => {
                                let mut live = [None; 6];
                                for (slot, v) in live.iter_mut().zip(t) {
                                    *slot = match *v {
                                        "-" => None,
                                        v => Some(byte(v).map_err(at)?),
                                    };
                                }
                                st.live_thresholds.push((n, live));
                            }
                            _ => return Err(at(format!("bad {kind} line"))),
                        }
                    }
                    other => return Err(at(format!("unknown line kind '{other}'"))),
                }
            }
        }
        Ok(bmc)
    }
}

/// What the fake BMC holds and has seen; shared, so a test keeps a handle after the agent
/// took the transport.
#[derive(Debug, Default)]
pub struct FakeState {
    /// The repository's records, in order.
    pub records: Vec<Vec<u8>>,
    /// Get SDR Repository Info's add timestamp (change it to change the repository).
    pub add_timestamp: u32,
    /// Raw reading per sensor number; a sensor not here (nor in `states`) reads as
    /// "reading unavailable".
    pub readings: Vec<(u8, u8)>,
    /// State bits per discrete sensor number.
    pub states: Vec<(u8, u16)>,
    /// Sensors that do not scan (no reading at all: an empty slot, a part powered off).
    pub not_scanning: Vec<u8>,
    /// Live thresholds per sensor number, as raw bytes `[UNR, UC, UNC, LNR, LC, LNC]`, where
    /// they differ from the SDR's (Get Sensor Thresholds answers these).
    pub live_thresholds: Vec<(u8, [Option<u8>; 6])>,
    /// The SEL: (record ID, the 16-byte record), oldest first.
    pub sel: Vec<(u16, [u8; 16])>,
    /// The SEL's add and erase timestamps.
    pub sel_stamps: (u32, u32),
    /// Get SEL Time's answer (0: the newest entry's timestamp).
    pub sel_now: u32,
    /// Errors to answer to the next requests, in order (then normal answers again).
    pub fail_next: VecDeque<IpmiError>,
    /// Raw readings a sensor gives next, one per Get Sensor Reading, before its reading in
    /// `readings` is answered again (a value that changes between two reads of one sweep).
    pub next_readings: Vec<(u8, VecDeque<u8>)>,
    /// Every request so far: (netfn, cmd).
    pub log: Vec<(u8, u8)>,
    /// Get Device ID's answer (none: that of ipmi_sim's emulated BMC, as `sim/run-bmc` and
    /// the test library configure it: firmware 9.08, MontaVista (4753), product 0x0f02).
    pub device_id: Option<Vec<u8>>,
    /// Chassis power is off (Get Chassis Status says so).
    pub power_off: bool,
    /// DCMI Get Power Reading's current watts; none: the BMC has no DCMI (it answers the
    /// command with C1h, invalid command, as ipmi_sim does).
    pub dcmi_watts: Option<u16>,
    /// Get System GUID's 16 bytes; none: the command is not supported (C1h).
    pub guid: Option<[u8; 16]>,
    /// What Chassis Control does to the host's power.
    pub power_control: FakePower,
}

/// What the fake BMC's Chassis Control does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FakePower {
    /// Power down works; soft shutdown is answered CCh, as ipmi_sim without a connected VM.
    #[default]
    HardOnly,
    /// Both work (the host goes off at once).
    SoftToo,
    /// Both are answered C0h (node busy) and the power stays on.
    Refused,
}

/// A handle on a fake BMC; [`FakeBmc::transport`] makes a connection to it.
#[derive(Debug, Clone, Default)]
pub struct FakeBmc(Arc<Mutex<FakeState>>);

impl FakeBmc {
    /// Adds a SEL record (its ID is set here, one past the last) and moves the add stamp.
    pub fn add_sel(&self, mut record: [u8; 16]) -> u16 {
        let mut s = self.state();
        let id = s.sel.last().map_or(1, |(i, _)| i.wrapping_add(1));
        record[..2].copy_from_slice(&id.to_le_bytes());
        s.sel.push((id, record));
        s.sel_stamps.0 += 1;
        id
    }

    /// Clears the SEL and moves the erase stamp.
    pub fn clear_sel(&self) {
        let mut s = self.state();
        s.sel.clear();
        s.sel_stamps.1 += 1;
    }

    /// The state, to change or inspect.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets a sensor's raw reading (a sensor that did not scan scans from now on).
    pub fn set(&self, number: u8, raw: u8) {
        let mut s = self.state();
        s.not_scanning.retain(|n| *n != number);
        match s.readings.iter_mut().find(|(n, _)| *n == number) {
            Some(slot) => slot.1 = raw,
            None => s.readings.push((number, raw)),
        }
    }

    /// Requests with this command so far.
    pub fn count(&self, cmd: u8) -> usize {
        self.state().log.iter().filter(|(_, c)| *c == cmd).count()
    }

    /// A new connection.
    pub fn transport(&self) -> FakeTransport {
        FakeTransport {
            bmc: self.clone(),
            commands: 0,
        }
    }
}

/// One connection to a [`FakeBmc`].
#[derive(Debug)]
pub struct FakeTransport {
    bmc: FakeBmc,
    commands: u64,
}

fn cc(code: u8) -> IpmiError {
    IpmiError::new(IpmiErrorKind::Completion(code), "fake BMC")
}

impl FakeState {
    fn answer(&self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        match (netfn, cmd) {
            (GetSdrRepoInfo::NETFN, GetSdrRepoInfo::CMD) => {
                let n = u16::try_from(self.records.len()).unwrap_or(u16::MAX);
                let mut d = vec![0x51];
                d.extend_from_slice(&n.to_le_bytes());
                d.extend_from_slice(&[0xff, 0xff]);
                d.extend_from_slice(&self.add_timestamp.to_le_bytes());
                d.extend_from_slice(&0u32.to_le_bytes());
                d.push(0x02);
                Ok(d)
            }
            (ReserveSdrRepo::NETFN, ReserveSdrRepo::CMD) => Ok(vec![1, 0]),
            (GetSdr::NETFN, GetSdr::CMD) => {
                let (Some(id), Some(&offset), Some(&len)) = (
                    data.get(2..4)
                        .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]]))),
                    data.get(4),
                    data.get(5),
                ) else {
                    return Err(cc(0xC7));
                };
                // Record IDs are the position + 1; 0 means the first.
                let idx = id.saturating_sub(1);
                let rec = self.records.get(idx).ok_or_else(|| cc(0xCB))?;
                let next = if idx + 1 < self.records.len() {
                    u16::try_from(idx + 2).unwrap_or(0xFFFF)
                } else {
                    0xFFFF
                };
                let (offset, len) = (usize::from(offset), usize::from(len));
                let mut d = next.to_le_bytes().to_vec();
                d.extend_from_slice(
                    rec.get(offset..(offset + len).min(rec.len()))
                        .unwrap_or(&[]),
                );
                Ok(d)
            }
            _ => self.answer_sel(netfn, cmd, data),
        }
    }

    /// The SEL's commands; the rest go on to [`FakeState::answer_sensor`].
    fn answer_sel(&self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        match (netfn, cmd) {
            (GetSelInfo::NETFN, GetSelInfo::CMD) => {
                let n = u16::try_from(self.sel.len()).unwrap_or(u16::MAX);
                let free = 16_000u16.saturating_sub(n.saturating_mul(16));
                let mut d = vec![0x51];
                d.extend_from_slice(&n.to_le_bytes());
                d.extend_from_slice(&free.to_le_bytes());
                d.extend_from_slice(&self.sel_stamps.0.to_le_bytes());
                d.extend_from_slice(&self.sel_stamps.1.to_le_bytes());
                d.push(0x0A);
                Ok(d)
            }
            (ReserveSel::NETFN, ReserveSel::CMD) => Ok(vec![7, 0]),
            (GetSelEntry::NETFN, GetSelEntry::CMD) => {
                let id = data
                    .get(2..4)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .ok_or_else(|| cc(0xC7))?;
                let at = if id == 0 {
                    0
                } else {
                    self.sel
                        .iter()
                        .position(|(i, _)| *i == id)
                        .ok_or_else(|| cc(0xCB))?
                };
                let (_, rec) = self.sel.get(at).ok_or_else(|| cc(0xCB))?;
                let next = self.sel.get(at + 1).map_or(0xFFFF, |(i, _)| *i);
                let mut d = next.to_le_bytes().to_vec();
                d.extend_from_slice(rec);
                Ok(d)
            }
            (ClearSel::NETFN, ClearSel::CMD) => Ok(vec![0x01]),
            (GetSelTime::NETFN, GetSelTime::CMD) => {
                let newest = self
                    .sel
                    .iter()
                    .map(|(_, r)| u32::from_le_bytes([r[3], r[4], r[5], r[6]]))
                    .max()
                    .unwrap_or(0);
                let now = if self.sel_now == 0 {
                    newest
                } else {
                    self.sel_now
                };
                Ok(now.to_le_bytes().to_vec())
            }
            _ => self.answer_sensor(netfn, cmd, data),
        }
    }

    /// Sensor commands; the others go to [`FakeState::answer_bmc`].
    fn answer_sensor(&self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        match (netfn, cmd) {
            (GetSensorThresholds::NETFN, GetSensorThresholds::CMD) => {
                let n = data.first().copied().unwrap_or(0);
                let raw = match self.live_thresholds.iter().find(|(s, _)| *s == n) {
                    Some((_, t)) => *t,
                    None => {
                        // The SDR's: readable mask at byte 19, values at 37..42.
                        let rec = self
                            .records
                            .iter()
                            .find(|r| r.get(7) == Some(&n))
                            .ok_or_else(|| cc(0xCB))?;
                        let mask = rec.get(18).copied().unwrap_or(0);
                        let mut t = [None; 6];
                        for (i, (slot, bit)) in t.iter_mut().zip([5, 4, 3, 2, 1, 0]).enumerate() {
                            if mask & (1 << bit) != 0 {
                                *slot = rec.get(36 + i).copied();
                            }
                        }
                        t
                    }
                };
                // Response: mask, then LNC, LC, LNR, UNC, UC, UNR.
                let mut mask = 0u8;
                let mut values = [0u8; 6];
                for (i, v) in raw.iter().enumerate() {
                    if let Some(v) = v {
                        mask |= 1 << (5 - i);
                        values[5 - i] = *v;
                    }
                }
                let mut d = vec![mask];
                d.extend_from_slice(&values);
                Ok(d)
            }
            (GetSensorReading::NETFN, GetSensorReading::CMD) => {
                let n = data.first().copied().unwrap_or(0);
                let known = self.records.iter().any(|r| r.get(7) == Some(&n));
                if known && self.not_scanning.contains(&n) {
                    // Scanning disabled: no reading, and nothing about its state.
                    return Ok(vec![0, 0x00, 0x00, 0x80]);
                }
                if let Some((_, st)) = self.states.iter().find(|(s, _)| *s == n) {
                    let [lo, hi] = st.to_le_bytes();
                    return Ok(vec![0, 0x40, lo, hi | 0x80]);
                }
                match self.readings.iter().find(|(s, _)| *s == n) {
                    Some((_, raw)) => Ok(vec![*raw, 0x40, 0x00, 0x80]),
                    // A sensor of the repository with nothing to say: scanning on, reading
                    // unavailable (an empty slot).
                    None if known => Ok(vec![0, 0x60, 0x00, 0x80]),
                    None => Err(cc(0xCB)),
                }
            }
            _ => self.answer_bmc(netfn, cmd, data),
        }
    }

    /// Application, chassis and DCMI commands (the BMC's own figures); anything else is
    /// 0xC1 (invalid command).
    fn answer_bmc(&self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        match (netfn, cmd) {
            (GetDeviceId::NETFN, GetDeviceId::CMD) => {
                Ok(self.device_id.clone().unwrap_or_else(|| {
                    vec![
                        0x00, 0x03, 0x09, 0x08, 0x02, 0x9f, 0x91, 0x12, 0x00, 0x02, 0x0f,
                    ]
                }))
            }
            (GetChassisStatus::NETFN, GetChassisStatus::CMD) => {
                Ok(vec![u8::from(!self.power_off), 0x00, 0x00, 0x00])
            }
            (GetSystemGuid::NETFN, GetSystemGuid::CMD) => {
                self.guid.map(|g| g.to_vec()).ok_or_else(|| cc(0xC1))
            }
            (DcmiGetPowerReading::NETFN, DcmiGetPowerReading::CMD)
                if data.first() == Some(&DCMI_GROUP) =>
            {
                let w = self.dcmi_watts.ok_or_else(|| cc(0xC1))?;
                let mut d = vec![DCMI_GROUP];
                for _ in 0..4 {
                    d.extend_from_slice(&w.to_le_bytes());
                }
                d.extend_from_slice(&[0; 8]);
                d.push(0x40);
                Ok(d)
            }
            _ => Err(cc(0xC1)),
        }
    }
}

impl Transport for FakeTransport {
    fn call(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        self.commands += 1;
        let mut s = self.bmc.state();
        s.log.push((netfn, cmd));
        if let Some(e) = s.fail_next.pop_front() {
            return Err(e);
        }
        // Clear SEL ("initiate erase") and Chassis Control change the BMC.
        if (netfn, cmd, data.get(5)) == (ClearSel::NETFN, ClearSel::CMD, Some(&0xAA)) {
            s.sel.clear();
            s.sel_stamps.1 += 1;
        }
        if (netfn, cmd) == (ChassisControl::NETFN, ChassisControl::CMD) {
            match (data.first(), s.power_control) {
                (_, FakePower::Refused) => return Err(cc(0xC0)),
                (Some(0x00), _) | (Some(0x05), FakePower::SoftToo) => s.power_off = true,
                _ => return Err(cc(0xCC)),
            }
            return Ok(Vec::new());
        }
        // A queued reading is the answer to the next Get Sensor Reading of its sensor.
        if (netfn, cmd) == (GetSensorReading::NETFN, GetSensorReading::CMD) {
            let n = data.first().copied().unwrap_or(0);
            let queued = s
                .next_readings
                .iter_mut()
                .find(|(k, _)| *k == n)
                .and_then(|(_, q)| q.pop_front());
            if let Some(raw) = queued {
                return Ok(vec![raw, 0x40, 0x00, 0x80]);
            }
        }
        s.answer(netfn, cmd, data)
    }
    fn commands(&self) -> u64 {
        self.commands
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipmi::{IpmiSource, repo, sdr::parse_record};
    use envmon_core::engine::Reading;

    #[test]
    fn its_records_parse_and_read_back() {
        let bmc = FakeBmc::default();
        bmc.state().records = vec![
            threshold_record(
                1,
                1,
                "CPU0 Temp",
                0x01,
                (0x03, 1),
                1,
                [Some(100), Some(90), Some(75), None, None, None],
            ),
            threshold_record(
                2,
                7,
                "FAN1",
                0x04,
                (0x1d, 1),
                50,
                [None, None, None, None, Some(20), None],
            ),
        ];
        bmc.set(1, 40);
        let mut t = bmc.transport();
        let raw = repo::read_all(&mut t).unwrap();
        let cpu = parse_record(&raw[0]).unwrap().unwrap();
        let fan = parse_record(&raw[1]).unwrap().unwrap();
        assert_eq!((cpu.number, cpu.name.as_str()), (1, "CPU0 Temp"));
        assert_eq!(cpu.thresholds[..3], [Some(100.0), Some(90.0), Some(75.0)]);
        assert_eq!(fan.thresholds[4], Some(1000.0));
        let mut src = IpmiSource::new(t);
        assert_eq!(src.read(&cpu).unwrap(), Reading::Value(40.0));
        assert_eq!(
            src.read(&fan).unwrap(),
            Reading::Unreadable,
            "no reading: 0xCB"
        );
    }
}
