//! The BMC's figures beside the board's items: who made the BMC and its firmware (Get Device
//! ID, once per session), the chassis' power (Get Chassis Status), DCMI's power reading (probed
//! once per session, quiet where the BMC has none) and the readings of its power, current
//! and energy sensors, which the catalog has no message for: they are shown, exported and
//! served over SNMP, never judged into messages.
//!
//! One pipelined batch ([`Transport::call_many`]) after a sweep, at most every
//! [`FIGURES_EVERY_MS`]: these figures change slowly, and the sweep's command count
//! (`ipmi_commands_per_sweep`) stays the board's.

use crate::model::{BmcInfo, PowerItem};
use crate::monitor::sdr_facts;
use envmon_core::engine::Reading;
use envmon_sensors::ipmi::{
    IpmiErrorKind, Transport,
    command::{Command, DcmiGetPowerReading, GetChassisStatus, GetDeviceId, GetSensorReading},
    info::{self, DeviceId},
    reading,
    sdr::{SdrEntry, THRESHOLD_READING},
};

/// How often the figures are read (the first time: right after the first sweep).
pub const FIGURES_EVERY_MS: u64 = 10_000;

/// The base units (IPMI 2.0 table 43-15) whose sensors are power figures: amperes, watts,
/// joules. Which SDR sensor is a power figure is decided here and nowhere else.
const POWER_UNITS: [u8; 3] = [5, 6, 7];

/// Whether an SDR sensor is a power figure: the BMC's own threshold sensor with an analog
/// reading in amperes, watts or joules.
pub fn is_power_sensor(e: &SdrEntry) -> bool {
    e.owner_id == 0x20
        && e.owner_lun == 0
        && e.reading_type == THRESHOLD_READING
        && e.conversion.is_some()
        && !e.percentage
        && POWER_UNITS.contains(&e.base_unit)
}

/// What the thresholds say of a reading, as FreeIPMI's `ipmimonitoring` states it (and
/// ipmi_exporter exports it): `critical` at or past a critical or non-recoverable threshold,
/// `warning` at or past a non-critical one, else `ok`.
pub fn threshold_status(value: f64, t: &[Option<f64>; 6]) -> &'static str {
    let [unr, uc, unc, lnr, lc, lnc] = *t;
    let above = |x: Option<f64>| x.is_some_and(|x| value >= x);
    let below = |x: Option<f64>| x.is_some_and(|x| value <= x);
    if above(unr) || above(uc) || below(lnr) || below(lc) {
        "critical"
    } else if above(unc) || below(lnc) {
        "warning"
    } else {
        "ok"
    }
}

/// DCMI support, learned from the first answer of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dcmi {
    Unknown,
    Supported,
    Unsupported,
}

/// The figures of one BMC session.
#[derive(Debug)]
pub struct Figures {
    sensors: Vec<SdrEntry>,
    values: Vec<Option<f64>>,
    device: Option<DeviceId>,
    chassis_on: Option<bool>,
    dcmi: Dcmi,
    dcmi_watts: Option<f64>,
    last_ms: Option<u64>,
}

impl Figures {
    /// The figures of a new session with these SDRs.
    pub fn new(sdrs: &[SdrEntry]) -> Figures {
        let sensors: Vec<SdrEntry> = sdrs
            .iter()
            .filter(|e| is_power_sensor(e))
            .cloned()
            .collect();
        Figures {
            values: vec![None; sensors.len()],
            sensors,
            device: None,
            chassis_on: None,
            dcmi: Dcmi::Unknown,
            dcmi_watts: None,
            last_ms: None,
        }
    }

    /// Whether a read is due at `now_ms`.
    pub fn due(&self, now_ms: u64) -> bool {
        self.last_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= FIGURES_EVERY_MS)
    }

    /// Reads the figures in one batch. A request the BMC refuses leaves its figure unknown;
    /// DCMI refused once is not asked again in this session.
    pub fn read(&mut self, t: &mut impl Transport, now_ms: u64) {
        self.last_ms = Some(now_ms);
        // One batch of different commands: each reply decoded by its own command.
        let mut requests = vec![GetChassisStatus.request()];
        if self.device.is_none() {
            requests.push(GetDeviceId.request());
        }
        let ask_dcmi = self.dcmi != Dcmi::Unsupported;
        if ask_dcmi {
            requests.push(DcmiGetPowerReading.request());
        }
        requests.extend(
            self.sensors
                .iter()
                .map(|e| GetSensorReading(e.number).request()),
        );
        let mut replies = t.call_many(&requests).into_iter();
        self.chassis_on = replies
            .next()
            .and_then(|r| r.and_then(|d| GetChassisStatus.decode(&d)).ok());
        if self.device.is_none() {
            self.device = replies
                .next()
                .and_then(|r| r.and_then(|d| GetDeviceId.decode(&d)).ok());
        }
        if ask_dcmi {
            self.dcmi_watts = None;
            match replies
                .next()
                .map(|r| r.and_then(|d| DcmiGetPowerReading.decode(&d)))
            {
                Some(Ok(p)) => {
                    self.dcmi = Dcmi::Supported;
                    self.dcmi_watts = Some(f64::from(p.current));
                }
                Some(Err(e)) if e.kind == IpmiErrorKind::Malformed => {
                    self.unsupported("a malformed DCMI power reading");
                }
                Some(Err(e)) if matches!(e.kind, IpmiErrorKind::Completion(_)) => {
                    self.unsupported(&e.to_string());
                }
                _ => {} // the link: asked again next time
            }
        }
        for (value, entry) in self.values.iter_mut().zip(&self.sensors) {
            *value = match replies.next() {
                Some(Ok(d)) => match reading::decode(entry, &d) {
                    Reading::Value(v) => Some(v),
                    _ => None,
                },
                _ => None,
            };
        }
    }

    fn unsupported(&mut self, why: &str) {
        if self.dcmi == Dcmi::Unknown {
            log::info!("the BMC gives no DCMI power reading ({why}); not asked again");
        }
        self.dcmi = Dcmi::Unsupported;
    }

    /// Whether the host's power is on, as Get Chassis Status said at the last read.
    pub fn host_on(&self) -> Option<bool> {
        self.chassis_on
    }

    /// The BMC as the model shows it (none before Get Device ID answered).
    pub fn bmc(&self) -> Option<BmcInfo> {
        let d = self.device?;
        Some(BmcInfo {
            chassis_power: self
                .chassis_on
                .map(|on| if on { "on" } else { "off" }.to_string()),
            dcmi_watts: self.dcmi_watts,
            firmware: d.firmware_revision(),
            manufacturer: d.manufacturer(),
            model: None,
        })
    }

    /// The power sensors as the model shows them.
    pub fn power(&self) -> Vec<PowerItem> {
        self.sensors
            .iter()
            .zip(&self.values)
            .map(|(e, v)| PowerItem {
                name: envmon_core::text::sanitize(&e.name),
                number: e.number,
                sdr: Some(sdr_facts(e)),
                status: v
                    .map_or("unavailable", |v| threshold_status(v, &e.thresholds))
                    .to_string(),
                unit: info::unit_name(e.base_unit, false)
                    .unwrap_or("-")
                    .to_string(),
                uri: None,
                value: *v,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envmon_sensors::ipmi::fake::{FakeBmc, threshold_record, with_base_unit};
    use envmon_sensors::ipmi::repo;
    use envmon_sensors::ipmi::sdr::parse_record;

    fn entries(bmc: &FakeBmc) -> Vec<SdrEntry> {
        let raw = repo::read_all(&mut bmc.transport()).unwrap();
        raw.iter()
            .filter_map(|r| parse_record(r).ok().flatten())
            .collect()
    }

    #[test]
    fn power_sensors_bmc_and_dcmi_are_read_in_one_batch() {
        let bmc = FakeBmc::default();
        bmc.state().records = vec![
            threshold_record(1, 1, "CPU0 Temp", 0x01, (0x03, 1), 1, [None; 6]),
            // Watts (base unit 6), 2 W a step, UC 400 W, UNC 360 W.
            with_base_unit(
                threshold_record(
                    2,
                    0x20,
                    "Pwr Consumption",
                    0x0B,
                    (0x15, 1),
                    2,
                    [None, Some(200), Some(180), None, None, None],
                ),
                6,
            ),
        ];
        bmc.set(0x20, 150); // 300 W
        let sdrs = entries(&bmc);
        let mut f = Figures::new(&sdrs);
        assert!(f.due(0));
        let mut t = bmc.transport();
        f.read(&mut t, 0);
        assert_eq!(t.commands(), 4, "chassis, device ID, DCMI, one sensor");
        let b = f.bmc().unwrap();
        assert_eq!(b.manufacturer, "MontaVista Software, Inc. (4753)");
        assert_eq!(
            (b.chassis_power.as_deref(), b.dcmi_watts),
            (Some("on"), None)
        );
        let p = f.power();
        assert_eq!(p.len(), 1, "the temperature is not a power figure");
        assert_eq!((p[0].value, p[0].status.as_str()), (Some(300.0), "ok"));
        // DCMI refused once is not asked again; the device ID is kept.
        assert!(!f.due(5_000) && f.due(10_000));
        bmc.set(0x20, 190);
        bmc.state().dcmi_watts = Some(280);
        f.read(&mut t, 10_000);
        assert_eq!(t.commands(), 6, "chassis and the sensor only");
        assert_eq!(f.power()[0].status, "warning", "380 W");
        bmc.set(0x20, 210);
        f.read(&mut t, 20_000);
        assert_eq!(f.power()[0].status, "critical", "420 W");
        assert_eq!(f.bmc().unwrap().dcmi_watts, None);
        // A BMC with DCMI: its reading shows.
        let mut g = Figures::new(&sdrs);
        g.read(&mut bmc.transport(), 0);
        assert_eq!(g.bmc().unwrap().dcmi_watts, Some(280.0));
    }

    #[test]
    fn thresholds_give_freeipmis_severity() {
        let t = [
            Some(100.0),
            Some(90.0),
            Some(80.0),
            Some(0.0),
            Some(5.0),
            Some(10.0),
        ];
        assert_eq!(threshold_status(50.0, &t), "ok");
        assert_eq!(threshold_status(80.0, &t), "warning");
        assert_eq!(threshold_status(95.0, &t), "critical");
        assert_eq!(threshold_status(10.0, &t), "warning");
        assert_eq!(threshold_status(4.0, &t), "critical");
        assert_eq!(threshold_status(4.0, &[None; 6]), "ok");
    }
}
