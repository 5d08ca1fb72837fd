//! A BMC in memory, behind the [`Transport`] trait: an SDR repository (read in chunks like a
//! real one), sensor readings the test sets, and scripted failures. The agent's daemon and
//! monitor tests run against it; nothing in the agent itself uses it.

use super::{
    CMD_GET_SENSOR_READING, CMD_GET_SENSOR_THRESHOLDS, IpmiError, IpmiErrorKind, NETFN_SENSOR,
    NETFN_STORAGE, Transport,
    repo::{CMD_GET_SDR, CMD_GET_SDR_REPO_INFO, CMD_RESERVE_SDR_REPO},
    sdr::{FULL_SENSOR, THRESHOLD_READING},
};
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

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

/// `record` with the result exponent `r_exp` (`value = m * raw * 10^r_exp`), -8..=7.
pub fn with_r_exp(mut record: Vec<u8>, r_exp: i8) -> Vec<u8> {
    if let Some(b) = record.get_mut(29) {
        *b = (*b & 0x0f) | (((r_exp as u8) & 0x0f) << 4);
    }
    record
}

/// What the fake BMC holds and has seen; shared, so a test keeps a handle after the agent
/// took the transport.
#[derive(Debug, Default)]
pub struct FakeState {
    /// The repository's records, in order.
    pub records: Vec<Vec<u8>>,
    /// Get SDR Repository Info's add timestamp (change it to change the repository).
    pub add_timestamp: u32,
    /// Raw reading per sensor number; a sensor not here answers 0xCB.
    pub readings: Vec<(u8, u8)>,
    /// Live thresholds per sensor number, as raw bytes `[UNR, UC, UNC, LNR, LC, LNC]`, where
    /// they differ from the SDR's (Get Sensor Thresholds answers these).
    pub live_thresholds: Vec<(u8, [Option<u8>; 6])>,
    /// Errors to answer to the next requests, in order (then normal answers again).
    pub fail_next: VecDeque<IpmiError>,
    /// Every request so far: (netfn, cmd).
    pub log: Vec<(u8, u8)>,
}

/// A handle on a fake BMC; [`FakeBmc::transport`] makes a connection to it.
#[derive(Debug, Clone, Default)]
pub struct FakeBmc(Arc<Mutex<FakeState>>);

impl FakeBmc {
    /// The state, to change or inspect.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets a sensor's raw reading.
    pub fn set(&self, number: u8, raw: u8) {
        let mut s = self.state();
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
            (NETFN_STORAGE, CMD_GET_SDR_REPO_INFO) => {
                let n = u16::try_from(self.records.len()).unwrap_or(u16::MAX);
                let mut d = vec![0x51];
                d.extend_from_slice(&n.to_le_bytes());
                d.extend_from_slice(&[0xff, 0xff]);
                d.extend_from_slice(&self.add_timestamp.to_le_bytes());
                d.extend_from_slice(&0u32.to_le_bytes());
                d.push(0x02);
                Ok(d)
            }
            (NETFN_STORAGE, CMD_RESERVE_SDR_REPO) => Ok(vec![1, 0]),
            (NETFN_STORAGE, CMD_GET_SDR) => {
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
            (NETFN_SENSOR, CMD_GET_SENSOR_THRESHOLDS) => {
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
            (NETFN_SENSOR, CMD_GET_SENSOR_READING) => {
                let n = data.first().copied().unwrap_or(0);
                match self.readings.iter().find(|(s, _)| *s == n) {
                    Some((_, raw)) => Ok(vec![*raw, 0x40, 0x00, 0x80]),
                    None => Err(cc(0xCB)),
                }
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
        match s.fail_next.pop_front() {
            Some(e) => Err(e),
            None => s.answer(netfn, cmd, data),
        }
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
