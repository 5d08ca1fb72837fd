//! A Redfish service's figures beside the board's items, as [`super::figures`] gives an IPMI
//! BMC's: the manager (the BMC: maker, model, firmware; read until it answers once), the
//! system's power state, and the readings of the service's power, current and energy
//! sensors (`board-defs`' rules call them power figures: shown, exported and served over
//! SNMP, never judged). Read after a sweep at most every [`super::figures::FIGURES_EVERY_MS`].

use super::figures::FIGURES_EVERY_MS;
use crate::model::{BmcInfo, PowerItem};
use envmon_board_defs::redfish::{RfSensor, classify_redfish};
use envmon_core::engine::Reading;
use envmon_sensors::redfish::{
    Fetch,
    reader::RedfishReader,
    system::{self, Manager},
};

/// The unit a power figure's reading type is in (none: not a power figure envmon shows).
pub fn power_unit(reading_type: Option<&str>) -> Option<&'static str> {
    match reading_type? {
        "Power" => Some("W"),
        "Current" => Some("A"),
        "EnergyJoules" => Some("J"),
        "EnergyWh" => Some("Wh"),
        "EnergykWh" => Some("kWh"),
        _ => None,
    }
}

/// What a power figure's thresholds say of its reading (`ok`, `warning`, `critical`), as
/// [`super::figures::threshold_status`] says it of an SDR sensor's.
fn status(value: f64, s: &RfSensor) -> &'static str {
    let t = &s.thresholds;
    super::figures::threshold_status(
        value,
        &[
            t.upper_fatal,
            t.upper_critical,
            t.upper_caution,
            t.lower_fatal,
            t.lower_critical,
            t.lower_caution,
        ],
    )
}

/// The Redfish figures of one service.
pub struct RfFigures {
    fetch: Box<dyn Fetch + Send>,
    reader: RedfishReader,
    /// The power figures discovery found, with their units.
    sensors: Vec<(RfSensor, &'static str)>,
    values: Vec<Option<f64>>,
    manager: Option<Manager>,
    /// The system's resource, once found, and its last power state.
    system: Option<String>,
    power_state: Option<String>,
    last_ms: Option<u64>,
}

impl RfFigures {
    /// The figures of the service `fetch` reaches, whose sensors discovery found; `system`:
    /// the computer system's resource when the caller found it already (else found here).
    pub fn new(
        fetch: Box<dyn Fetch + Send>,
        reader: RedfishReader,
        found: &[RfSensor],
        system: Option<String>,
    ) -> RfFigures {
        let sensors: Vec<(RfSensor, &'static str)> = found
            .iter()
            .filter(|s| classify_redfish(s).power)
            .filter_map(|s| Some((s.clone(), power_unit(s.reading_type.as_deref())?)))
            .collect();
        RfFigures {
            fetch,
            reader,
            values: vec![None; sensors.len()],
            sensors,
            manager: None,
            system,
            power_state: None,
            last_ms: None,
        }
    }

    /// Whether they are due at `now_ms`.
    pub fn due(&self, now_ms: u64) -> bool {
        self.last_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= FIGURES_EVERY_MS)
    }

    /// Reads them: the manager until it answers, the system's power state, the power
    /// figures (one GET per resource they live in). A failure leaves a figure unknown.
    pub fn read(&mut self, now_ms: u64) {
        self.last_ms = Some(now_ms);
        if self.manager.is_none() {
            match system::find_manager(&mut *self.fetch) {
                Ok(m) => self.manager = Some(m.unwrap_or_default()),
                Err(e) => log::debug!("Redfish manager: {e}"),
            }
        }
        if self.system.is_none() {
            self.system = system::find(&mut *self.fetch)
                .ok()
                .flatten()
                .map(|s| s.path);
        }
        self.power_state = self
            .system
            .as_deref()
            .and_then(|p| system::reread(&mut *self.fetch, p).ok())
            .and_then(|s| s.power_state);
        self.reader
            .refresh(self.sensors.iter().map(|(s, _)| s.uri.as_str()), now_ms);
        for (value, (s, _)) in self.values.iter_mut().zip(&self.sensors) {
            *value = match self.reader.reading(&s.uri) {
                Reading::Value(v) => Some(v),
                _ => None,
            };
        }
    }

    /// Whether the system's power is on, as its `PowerState` said at the last read (none
    /// while it is powering on or off, or does not say).
    pub fn host_on(&self) -> Option<bool> {
        match self.power_state.as_deref()? {
            "On" => Some(true),
            "Off" => Some(false),
            _ => None,
        }
    }

    /// The BMC as the model shows it (none before the manager answered).
    pub fn bmc(&self) -> Option<BmcInfo> {
        let m = self.manager.as_ref()?;
        Some(BmcInfo {
            chassis_power: self.power_state.as_deref().map(|p| match p {
                "On" => "on".to_string(),
                "Off" => "off".to_string(),
                other => other.to_ascii_lowercase(),
            }),
            dcmi_watts: None,
            firmware: m.firmware.clone().unwrap_or_else(|| "-".into()),
            // The maker where the service names it, else the model alone.
            manufacturer: m
                .manufacturer
                .clone()
                .or_else(|| m.model.clone())
                .unwrap_or_else(|| "-".into()),
            model: m.model.clone().filter(|_| m.manufacturer.is_some()),
        })
    }

    /// The power figures as the model shows them (numbered in discovery order).
    pub fn power(&self) -> Vec<PowerItem> {
        self.sensors
            .iter()
            .zip(&self.values)
            .enumerate()
            .map(|(k, ((s, unit), v))| PowerItem {
                name: s.name.clone(),
                number: u8::try_from(k + 1).unwrap_or(u8::MAX),
                sdr: None,
                status: v.map_or("unavailable", |v| status(v, s)).to_string(),
                unit: (*unit).to_string(),
                uri: Some(s.uri.clone()),
                value: *v,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envmon_sensors::redfish::files::MockupDir;

    /// A service in the shape of DMTF's tower, written as a mockup tree: a power sensor, a
    /// manager, a system.
    fn service(dir: &std::path::Path) {
        let put = |path: &str, v: serde_json::Value| {
            let rest = path.strip_prefix("/redfish/v1").unwrap_or(path);
            let d = dir.join(rest.trim_start_matches('/'));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("index.json"), v.to_string()).unwrap();
        };
        put(
            "/redfish/v1",
            serde_json::json!({"@odata.id": "/redfish/v1",
                "Managers": {"@odata.id": "/redfish/v1/Managers"},
                "Systems": {"@odata.id": "/redfish/v1/Systems"}}),
        );
        put(
            "/redfish/v1/Managers",
            serde_json::json!({"@odata.id": "/redfish/v1/Managers",
                "Members": [{"@odata.id": "/redfish/v1/Managers/BMC"}]}),
        );
        put(
            "/redfish/v1/Managers/BMC",
            serde_json::json!({"@odata.id": "/redfish/v1/Managers/BMC",
                "Manufacturer": "Contoso", "Model": "Joo Janta 200", "FirmwareVersion": "4.4.6521"}),
        );
        put(
            "/redfish/v1/Systems",
            serde_json::json!({"@odata.id": "/redfish/v1/Systems",
                "Members": [{"@odata.id": "/redfish/v1/Systems/1"}]}),
        );
        put(
            "/redfish/v1/Systems/1",
            serde_json::json!({"@odata.id": "/redfish/v1/Systems/1", "PowerState": "On"}),
        );
        put(
            "/redfish/v1/Chassis/1/Sensors/TotalPower",
            serde_json::json!({"@odata.id": "/redfish/v1/Chassis/1/Sensors/TotalPower",
                "@odata.type": "#Sensor.v1_2_0.Sensor", "Id": "TotalPower", "Name": "Total Power", "ReadingType": "Power",
                "ReadingUnits": "W", "Reading": 374.0,
                "Thresholds": {"UpperCritical": {"Reading": 350.0}}}),
        );
    }

    #[test]
    fn power_figures_the_manager_and_the_power_state_are_read_and_shown() {
        let dir = tempfile::tempdir().unwrap();
        service(dir.path());
        let mut f = MockupDir::new(dir.path());
        let v = f.get("/redfish/v1/Chassis/1/Sensors/TotalPower").unwrap();
        let found = envmon_sensors::redfish::map::resource(&v).unwrap();
        let reader = RedfishReader::new(Box::new(MockupDir::new(dir.path())));
        let mut figs = RfFigures::new(Box::new(MockupDir::new(dir.path())), reader, &found, None);
        assert!(figs.due(0));
        figs.read(0);
        assert!(!figs.due(FIGURES_EVERY_MS - 1) && figs.due(FIGURES_EVERY_MS));
        let p = figs.power();
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].name.as_str(), p[0].unit.as_str()),
            ("Total Power", "W")
        );
        assert_eq!(
            (p[0].value, p[0].status.as_str()),
            (Some(374.0), "critical")
        );
        let b = figs.bmc().unwrap();
        assert_eq!(b.model.as_deref(), Some("Joo Janta 200"));
        assert_eq!(
            (b.firmware.as_str(), b.chassis_power.as_deref()),
            ("4.4.6521", Some("on"))
        );
    }
}
