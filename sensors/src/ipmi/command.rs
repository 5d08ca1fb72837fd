//! The IPMI commands envmon sends, each a type: its network function and command code (every
//! code envmon uses is here, once), its request data, and the decoder of its reply. The
//! shape is ipmi-rs-core's `IpmiCommand`; the parsers are envmon's own (sdr.rs, reading.rs,
//! info.rs, core's SEL). [`send`] and [`send_many`] run them over any [`Transport`]; the
//! fake BMC answers them by the same constants.

use super::{IpmiError, IpmiErrorKind, Request, Transport, info, repo::RepoInfo};
use envmon_core::sel::{SelInfo, SelRecord, decode_entry};

/// NetFn: chassis.
pub const NETFN_CHASSIS: u8 = 0x00;
/// NetFn: sensor/event.
pub const NETFN_SENSOR: u8 = 0x04;
/// NetFn: application.
pub const NETFN_APP: u8 = 0x06;
/// NetFn: storage.
pub const NETFN_STORAGE: u8 = 0x0A;
/// NetFn: group extension (DCMI's, with group 0xDC in the first data byte).
pub const NETFN_GROUP: u8 = 0x2C;
/// DCMI's group extension identification.
pub const DCMI_GROUP: u8 = 0xDC;

/// An IPMI command and its reply.
pub trait Command {
    /// What a successful reply decodes into.
    type Reply;
    /// Its network function.
    const NETFN: u8;
    /// Its command code.
    const CMD: u8;
    /// Its name, in errors.
    const NAME: &'static str;
    /// The request data (none unless the command takes some).
    fn data(&self) -> Vec<u8> {
        Vec::new()
    }
    /// The reply data (after a zero completion code), decoded; a reply that cannot be
    /// right is [`IpmiErrorKind::Malformed`].
    fn decode(&self, data: &[u8]) -> Result<Self::Reply, IpmiError>;
    /// As one request of [`Transport::call_many`].
    fn request(&self) -> Request {
        // The command's data moved in, not copied (one allocation per request, not two).
        Request {
            netfn: Self::NETFN,
            cmd: Self::CMD,
            data: self.data(),
        }
    }
}

/// A reply too short or otherwise wrong for `C`.
fn malformed<C: Command + ?Sized>(data: &[u8]) -> IpmiError {
    IpmiError::new(
        IpmiErrorKind::Malformed,
        format!(
            "short or malformed {} reply ({} bytes)",
            C::NAME,
            data.len()
        ),
    )
}

/// The first `N` bytes of a reply, or the command's malformed error.
fn head<C: Command + ?Sized, const N: usize>(data: &[u8]) -> Result<[u8; N], IpmiError> {
    data.get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed::<C>(data))
}

/// Sends `c` and decodes its reply.
pub fn send<C: Command>(t: &mut (impl Transport + ?Sized), c: &C) -> Result<C::Reply, IpmiError> {
    let data = t.call(C::NETFN, C::CMD, &c.data())?;
    c.decode(&data)
}

/// Sends every command of `cs` at once ([`Transport::call_many`]: pipelined where the
/// transport can), each reply decoded, in their order.
pub fn send_many<C: Command>(
    t: &mut (impl Transport + ?Sized),
    cs: &[C],
) -> Vec<Result<C::Reply, IpmiError>> {
    let requests: Vec<Request> = cs.iter().map(Command::request).collect();
    t.call_many(&requests)
        .into_iter()
        .zip(cs)
        .map(|(r, c)| r.and_then(|d| c.decode(&d)))
        .collect()
}

/// Get Sensor Reading: the raw reply, decoded against the sensor's SDR entry by
/// `reading::decode` (the decoding needs the entry's conversion and type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetSensorReading(pub u8);

impl Command for GetSensorReading {
    type Reply = Vec<u8>;
    const NETFN: u8 = NETFN_SENSOR;
    const CMD: u8 = 0x2D;
    const NAME: &'static str = "Get Sensor Reading";
    fn data(&self) -> Vec<u8> {
        vec![self.0]
    }
    fn decode(&self, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        Ok(data.to_vec())
    }
}

/// Get Sensor Thresholds: the raw reply (decoded with the entry's conversion by
/// `decode_thresholds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetSensorThresholds(pub u8);

impl Command for GetSensorThresholds {
    type Reply = Vec<u8>;
    const NETFN: u8 = NETFN_SENSOR;
    const CMD: u8 = 0x27;
    const NAME: &'static str = "Get Sensor Thresholds";
    fn data(&self) -> Vec<u8> {
        vec![self.0]
    }
    fn decode(&self, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        Ok(data.to_vec())
    }
}

/// Get Sensor Hysteresis (all thresholds' mask 0xFF): the raw reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetSensorHysteresis(pub u8);

impl Command for GetSensorHysteresis {
    type Reply = Vec<u8>;
    const NETFN: u8 = NETFN_SENSOR;
    const CMD: u8 = 0x25;
    const NAME: &'static str = "Get Sensor Hysteresis";
    fn data(&self) -> Vec<u8> {
        vec![self.0, 0xFF]
    }
    fn decode(&self, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        Ok(data.to_vec())
    }
}

/// Get SDR Repository Info: enough to tell whether a cache is still valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetSdrRepoInfo;

impl Command for GetSdrRepoInfo {
    type Reply = RepoInfo;
    const NETFN: u8 = NETFN_STORAGE;
    const CMD: u8 = 0x20;
    const NAME: &'static str = "Get SDR Repository Info";
    fn decode(&self, d: &[u8]) -> Result<RepoInfo, IpmiError> {
        let h: [u8; 13] = head::<Self, 13>(d)?;
        let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        Ok(RepoInfo {
            record_count: u16::from_le_bytes([h[1], h[2]]),
            add_timestamp: u32_at(5),
            erase_timestamp: u32_at(9),
        })
    }
}

/// Reserve SDR Repository: the reservation ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReserveSdrRepo;

impl Command for ReserveSdrRepo {
    type Reply = [u8; 2];
    const NETFN: u8 = NETFN_STORAGE;
    const CMD: u8 = 0x22;
    const NAME: &'static str = "Reserve SDR Repository";
    fn decode(&self, d: &[u8]) -> Result<[u8; 2], IpmiError> {
        head::<Self, 2>(d)
    }
}

/// Get SDR: `len` bytes of record `id` from `offset`, under `reservation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetSdr {
    /// The reservation ID.
    pub reservation: [u8; 2],
    /// The record ID.
    pub id: u16,
    /// The offset into the record.
    pub offset: u8,
    /// Bytes to read.
    pub len: u8,
}

/// A chunk of an SDR record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdrChunk {
    /// The ID of the next record (0xFFFF: the last).
    pub next: u16,
    /// The bytes (at least one, at most the length asked for).
    pub bytes: Vec<u8>,
}

impl Command for GetSdr {
    type Reply = SdrChunk;
    const NETFN: u8 = NETFN_STORAGE;
    const CMD: u8 = 0x23;
    const NAME: &'static str = "Get SDR";
    fn data(&self) -> Vec<u8> {
        let [lo, hi] = self.id.to_le_bytes();
        let [r0, r1] = self.reservation;
        vec![r0, r1, lo, hi, self.offset, self.len]
    }
    fn decode(&self, d: &[u8]) -> Result<SdrChunk, IpmiError> {
        match d {
            [lo, hi, bytes @ ..] if !bytes.is_empty() && bytes.len() <= usize::from(self.len) => {
                Ok(SdrChunk {
                    next: u16::from_le_bytes([*lo, *hi]),
                    bytes: bytes.to_vec(),
                })
            }
            _ => Err(IpmiError::new(
                IpmiErrorKind::Malformed,
                format!("SDR 0x{:04x}: wrong chunk length", self.id),
            )),
        }
    }
}

/// Get SEL Info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetSelInfo;

impl Command for GetSelInfo {
    type Reply = SelInfo;
    const NETFN: u8 = NETFN_STORAGE;
    const CMD: u8 = 0x40;
    const NAME: &'static str = "Get SEL Info";
    fn decode(&self, d: &[u8]) -> Result<SelInfo, IpmiError> {
        SelInfo::decode(d).map_err(|e| IpmiError::new(IpmiErrorKind::Malformed, e.to_string()))
    }
}

/// Reserve SEL: the reservation ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReserveSel;

impl Command for ReserveSel {
    type Reply = [u8; 2];
    const NETFN: u8 = NETFN_STORAGE;
    const CMD: u8 = 0x42;
    const NAME: &'static str = "Reserve SEL";
    fn decode(&self, d: &[u8]) -> Result<[u8; 2], IpmiError> {
        head::<Self, 2>(d)
    }
}

/// Get SEL Entry: entry `id`, whole, under `reservation`: the next ID and the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetSelEntry {
    /// The reservation ID.
    pub reservation: [u8; 2],
    /// The record ID.
    pub id: u16,
}

impl Command for GetSelEntry {
    type Reply = (u16, SelRecord);
    const NETFN: u8 = NETFN_STORAGE;
    const CMD: u8 = 0x43;
    const NAME: &'static str = "Get SEL Entry";
    fn data(&self) -> Vec<u8> {
        let [lo, hi] = self.id.to_le_bytes();
        let [r0, r1] = self.reservation;
        vec![r0, r1, lo, hi, 0, 0xFF]
    }
    fn decode(&self, d: &[u8]) -> Result<(u16, SelRecord), IpmiError> {
        decode_entry(d).map_err(|e| IpmiError::new(IpmiErrorKind::Malformed, e.to_string()))
    }
}

/// Clear SEL: `action` 0xAA initiates the erasure, 0x00 asks how it is going; the reply is
/// the erasure progress (low nibble 1: completed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClearSel {
    /// The reservation ID.
    pub reservation: [u8; 2],
    /// 0xAA: initiate; 0x00: get the status.
    pub action: u8,
}

impl Command for ClearSel {
    type Reply = u8;
    const NETFN: u8 = NETFN_STORAGE;
    const CMD: u8 = 0x47;
    const NAME: &'static str = "Clear SEL";
    fn data(&self) -> Vec<u8> {
        let [r0, r1] = self.reservation;
        vec![r0, r1, b'C', b'L', b'R', self.action]
    }
    fn decode(&self, d: &[u8]) -> Result<u8, IpmiError> {
        head::<Self, 1>(d).map(|[p]| p)
    }
}

/// Get SEL Time: the BMC's clock as SEL timestamps count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetSelTime;

impl Command for GetSelTime {
    type Reply = u32;
    const NETFN: u8 = NETFN_STORAGE;
    const CMD: u8 = 0x48;
    const NAME: &'static str = "Get SEL Time";
    fn decode(&self, d: &[u8]) -> Result<u32, IpmiError> {
        head::<Self, 4>(d).map(u32::from_le_bytes)
    }
}

/// Get Device ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetDeviceId;

impl Command for GetDeviceId {
    type Reply = info::DeviceId;
    const NETFN: u8 = NETFN_APP;
    const CMD: u8 = 0x01;
    const NAME: &'static str = "Get Device ID";
    fn decode(&self, d: &[u8]) -> Result<info::DeviceId, IpmiError> {
        info::DeviceId::decode(d).ok_or_else(|| malformed::<Self>(d))
    }
}

/// Get Chassis Status: whether the system's power is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetChassisStatus;

impl Command for GetChassisStatus {
    type Reply = bool;
    const NETFN: u8 = NETFN_CHASSIS;
    const CMD: u8 = 0x01;
    const NAME: &'static str = "Get Chassis Status";
    fn decode(&self, d: &[u8]) -> Result<bool, IpmiError> {
        info::chassis_power_on(d).ok_or_else(|| malformed::<Self>(d))
    }
}

/// Chassis Control: what the BMC does with its host's power ([`ChassisControl::POWER_DOWN`],
/// [`ChassisControl::SOFT_SHUTDOWN`]). The reply has no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChassisControl(pub u8);

impl ChassisControl {
    /// Power down: the host's power goes off at once.
    pub const POWER_DOWN: ChassisControl = ChassisControl(0x00);
    /// Soft shutdown: the host is asked to shut down (ACPI, "via overtemp"); optional.
    pub const SOFT_SHUTDOWN: ChassisControl = ChassisControl(0x05);
}

impl Command for ChassisControl {
    type Reply = ();
    const NETFN: u8 = NETFN_CHASSIS;
    const CMD: u8 = 0x02;
    const NAME: &'static str = "Chassis Control";
    fn data(&self) -> Vec<u8> {
        vec![self.0]
    }
    fn decode(&self, _: &[u8]) -> Result<(), IpmiError> {
        Ok(())
    }
}

/// Get System GUID: the 16 bytes naming the system the BMC manages (their order varies
/// between BMCs: `envmon_core::host::Uuid::ipmi_readings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetSystemGuid;

impl Command for GetSystemGuid {
    type Reply = [u8; 16];
    const NETFN: u8 = NETFN_APP;
    const CMD: u8 = 0x37;
    const NAME: &'static str = "Get System GUID";
    fn decode(&self, d: &[u8]) -> Result<[u8; 16], IpmiError> {
        head::<Self, 16>(d)
    }
}

/// DCMI Get Power Reading, mode 1 (system power statistics), as FreeIPMI's `ipmi-dcmi
/// --get-system-power-statistics` asks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DcmiGetPowerReading;

impl Command for DcmiGetPowerReading {
    type Reply = info::PowerReading;
    const NETFN: u8 = NETFN_GROUP;
    const CMD: u8 = 0x02;
    const NAME: &'static str = "DCMI Get Power Reading";
    fn data(&self) -> Vec<u8> {
        vec![DCMI_GROUP, 0x01, 0x00, 0x00]
    }
    fn decode(&self, d: &[u8]) -> Result<info::PowerReading, IpmiError> {
        info::decode_power_reading(d).ok_or_else(|| malformed::<Self>(d))
    }
}

/// Close Session (RMCP+), of session `id` (the BMC's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseSession(pub [u8; 4]);

impl Command for CloseSession {
    type Reply = ();
    const NETFN: u8 = NETFN_APP;
    const CMD: u8 = 0x3C;
    const NAME: &'static str = "Close Session";
    fn data(&self) -> Vec<u8> {
        self.0.to_vec()
    }
    fn decode(&self, _: &[u8]) -> Result<(), IpmiError> {
        Ok(())
    }
}

/// Set Session Privilege Level (RMCP+): the privilege the session asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetSessionPrivilege(pub u8);

impl Command for SetSessionPrivilege {
    type Reply = ();
    const NETFN: u8 = NETFN_APP;
    const CMD: u8 = 0x3B;
    const NAME: &'static str = "Set Session Privilege Level";
    fn data(&self) -> Vec<u8> {
        vec![self.0]
    }
    fn decode(&self, _: &[u8]) -> Result<(), IpmiError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_the_specifications_bytes_and_short_replies_are_malformed() {
        let r = GetSdr {
            reservation: [1, 2],
            id: 0x0304,
            offset: 5,
            len: 16,
        }
        .request();
        assert_eq!(
            (r.netfn, r.cmd, r.data),
            (0x0A, 0x23, vec![1, 2, 4, 3, 5, 16])
        );
        let chunk = GetSdr {
            reservation: [0; 2],
            id: 7,
            offset: 0,
            len: 2,
        };
        assert!(chunk.decode(&[0xFF, 0xFF, 1, 2]).is_ok());
        assert!(
            chunk.decode(&[0xFF, 0xFF, 1, 2, 3]).is_err(),
            "more than asked"
        );
        assert!(chunk.decode(&[0xFF, 0xFF]).is_err(), "nothing");
        assert_eq!(GetSelTime.decode(&[1, 0, 0, 0]).ok(), Some(1));
        let short = GetSdrRepoInfo.decode(&[0x51; 12]).unwrap_err();
        assert_eq!(short.kind, IpmiErrorKind::Malformed);
        assert!(
            short.to_string().contains("Get SDR Repository Info"),
            "{short}"
        );
        assert_eq!(
            DcmiGetPowerReading.request().data,
            [0xDC, 0x01, 0x00, 0x00],
            "mode 1, as FreeIPMI asks"
        );
    }
}
