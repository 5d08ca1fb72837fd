//! The board builder: the one way from the settings' board choice and what the source
//! describes (the BMC's SDRs, a Redfish service's sensors, or nothing) to the board and the
//! monitor of its items. `run`, `poll`, `board dump` and `board explain` all build here, so
//! that `--board`, `--flap-damping` and the in-band rules mean the same to each.

use crate::{
    config::{BoardChoice, IpmiUri, Settings},
    error::AgentError,
    monitor::Monitor,
};
use envmon_board_defs::{Board, auto_board, redfish::RfSensor};
use envmon_sensors::{ipmi::sdr::SdrEntry, redfish::reader::RedfishReader};
use std::path::Path;

/// What the source describes of the machine, borrowed from whoever holds it.
#[derive(Debug, Clone, Copy)]
pub enum Described<'a> {
    /// No source was needed (a built-in or file board read from the board's own buses), or
    /// there is none (`--ipmi none`).
    Nothing,
    /// The BMC's SDR entries.
    Sdrs(&'a [SdrEntry]),
    /// The sensors discovery found on a Redfish service.
    Redfish(&'a [RfSensor]),
}

impl Described<'_> {
    /// The SDR entries (none unless the source is an IPMI BMC).
    pub fn sdrs(&self) -> &[SdrEntry] {
        match self {
            Described::Sdrs(s) => s,
            _ => &[],
        }
    }
}

/// The board to monitor: the named one as it is, or the board made from what the source
/// describes (overridden by a `base = "auto"` file). In-band (`/dev/ipmi0`, the BMC of this
/// very host), the host's processor packages make their CPU temperatures required.
pub fn build(
    named: Option<Board>,
    described: Described<'_>,
    settings: &Settings,
) -> Result<Board, AgentError> {
    match (named, described) {
        (Some(b), _) if !b.base_auto => Ok(b),
        (named, Described::Sdrs(sdrs)) => {
            let mut board = resolve_board(named, sdrs);
            if matches!(settings.ipmi, IpmiUri::Device(_)) {
                require_host_cpus(&mut board, host_packages(&settings.sysfs_root));
            }
            Ok(board)
        }
        (named, Described::Redfish(sensors)) => {
            if named.is_some() {
                log::warn!(
                    "board {}: base = \"auto\" over Redfish takes the service's board as it is \
                     (the file's items are not merged in)",
                    settings.board.0
                );
            }
            let (b, notes) = envmon_board_defs::redfish::auto_board_redfish(sensors);
            for n in notes {
                log::info!("auto board: {n}");
            }
            Ok(b)
        }
        (_, Described::Nothing) => Err(AgentError::Usage(
            "this board is made from the BMC's sensors, and there is no BMC (--ipmi none, no \
             --redfish)"
                .into(),
        )),
    }
}

/// The monitor of `board`: its items bound to what the source describes (IPMI items to SDR
/// entries, Redfish items read through `reader`, the others to readers under the sysfs
/// root), with the settings' flap damping. Returns the notes of items that match nothing.
pub fn bind(
    board: Board,
    described: Described<'_>,
    settings: &Settings,
    reader: Option<RedfishReader>,
) -> (Monitor, Vec<String>) {
    let (mut monitor, notes) = Monitor::new(board, described.sdrs(), &settings.sysfs_root);
    monitor.set_damping(settings.flap_damping.0);
    if let Some(r) = reader {
        monitor.set_redfish(r);
    }
    if let Described::Redfish(sensors) = described {
        monitor.set_redfish_units(sensors);
    }
    (monitor, notes)
}

/// The board the settings name, read once: `None` for `auto`, else the built-in board or
/// the board file.
pub fn named_board(choice: &BoardChoice) -> Result<Option<Board>, AgentError> {
    let name = choice.0.as_str();
    if name == "auto" {
        return Ok(None);
    }
    match envmon_board_defs::builtin(name) {
        Some(b) => b.map(Some).map_err(AgentError::Board),
        None => envmon_board_defs::load(Path::new(name))
            .map(Some)
            .map_err(AgentError::Board),
    }
}

/// Whether the board is made from what the source describes (`auto`, or a file with
/// `base = "auto"`): such a board waits for the source.
pub fn from_source(named: Option<&Board>) -> bool {
    named.is_none_or(|b| b.base_auto)
}

/// The board to monitor: the named board as it is, or (for `auto` and `base = "auto"`) the
/// board made from the SDRs, overridden by the named one.
pub fn resolve_board(named: Option<Board>, sdrs: &[SdrEntry]) -> Board {
    match named {
        Some(b) if !b.base_auto => b,
        overrides => {
            let sensors: Vec<_> = sdrs.iter().map(SdrEntry::to_sdr_sensor).collect();
            let (board, notes) = auto_board(&sensors, overrides.as_ref());
            for n in notes {
                log::info!("auto board: {n}");
            }
            board
        }
    }
}

/// The host's processor packages: distinct `physical_package_id`s under
/// `ROOT/sys/devices/system/cpu/cpu*/topology` (0 when none can be read).
pub fn host_packages(root: &Path) -> usize {
    let dir = root.join("sys/devices/system/cpu");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.strip_prefix("cpu")
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
        })
        .filter_map(|e| {
            std::fs::read_to_string(e.path().join("topology/physical_package_id"))
                .ok()
                .map(|t| t.trim().to_string())
        })
        .take(4096)
        .collect();
    ids.sort();
    ids.dedup();
    ids.len()
}

/// In-band (the BMC of this very host), the host's own processor packages are there by
/// definition: the CPU temperatures of an auto board for the first `packages` CPUs (in label
/// order) are required, never `absent`.
fn require_host_cpus(board: &mut Board, packages: usize) {
    if !board.base_auto {
        return;
    }
    let mut cpus: Vec<&mut envmon_board_defs::Item> = board
        .items
        .iter_mut()
        .filter(|i| i.spec.class == envmon_core::engine::Class::CpuTemp)
        .collect();
    cpus.sort_by_key(|i| {
        (
            i.spec.label.parse::<u32>().unwrap_or(u32::MAX),
            i.spec.label.clone(),
        )
    });
    for i in cpus.into_iter().take(packages) {
        i.optional = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn in_band_the_hosts_packages_make_their_cpu_temperatures_required() {
        let root = tempfile::tempdir().unwrap();
        for (cpu, package) in [(0, 0), (1, 0), (2, 0), (3, 0)] {
            let t = root
                .path()
                .join(format!("sys/devices/system/cpu/cpu{cpu}/topology"));
            std::fs::create_dir_all(&t).unwrap();
            std::fs::write(t.join("physical_package_id"), format!("{package}\n")).unwrap();
        }
        std::fs::create_dir_all(root.path().join("sys/devices/system/cpu/cpufreq")).unwrap();
        assert_eq!(host_packages(root.path()), 1);
        assert_eq!(host_packages(std::path::Path::new("/nonexistent")), 0);
        let sdrs = [
            entry(1, "CPU1 Temp", 0x01, 0x03, 80.0),
            entry(2, "CPU2 Temp", 0x01, 0x03, 80.0),
        ];
        let mut board = resolve_board(None, &sdrs);
        require_host_cpus(&mut board, 1);
        let optional: Vec<(&str, bool)> = board
            .items
            .iter()
            .map(|i| (i.spec.label.as_str(), i.optional))
            .collect();
        assert_eq!(optional, [("1", false), ("2", true)]);
    }
    use envmon_core::engine::{Class, Limits};
    use envmon_sensors::ipmi::sdr::Conversion;

    fn entry(number: u8, name: &str, sensor_type: u8, entity_id: u8, unc: f64) -> SdrEntry {
        SdrEntry {
            record_id: u16::from(number),
            owner_id: 0x20,
            owner_lun: 0,
            number,
            name: name.into(),
            sensor_type,
            reading_type: 0x01,
            entity_id,
            entity_instance: 1,
            conversion: Some(Conversion {
                format: 0,
                linearization: 0,
                m: 1,
                b: 0,
                b_exp: 0,
                r_exp: 0,
            }),
            thresholds: [None, None, Some(unc), None, None, None],
            base_unit: 1,
            ..SdrEntry::default()
        }
    }

    #[test]
    fn a_board_file_with_base_auto_overrides_the_sdr_board() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("b.toml");
        fs::write(
            &file,
            "name = \"mine\"\nbase = \"auto\"\n[[item]]\nid = \"cpu\"\nclass = \"cpu_temp\"\nlabel = \"7\"\nsource = \"ipmi:CPU Temp\"\nwarm = 60\n",
        )
        .unwrap();
        let sdrs = [
            entry(1, "CPU Temp", 0x01, 0x03, 80.0),
            entry(2, "Inlet", 0x01, 0x37, 35.0),
        ];
        let settings = Settings::default();
        let named = named_board(&BoardChoice(file.to_str().unwrap().into())).unwrap();
        let b = build(named, Described::Sdrs(&sdrs), &settings).unwrap();
        assert_eq!(b.name, "mine");
        assert_eq!(b.items.len(), 2);
        assert_eq!(
            (b.items[0].id.as_str(), b.items[0].spec.label.as_str()),
            ("cpu", "7")
        );
        assert_eq!(
            b.items[0].spec.limits,
            Limits::Temperature {
                warm: Some(60.0),
                critical: None,
                shutdown: None
            }
        );
        assert_eq!(
            b.items[1].spec.class,
            Class::ChassisAmbient,
            "the rest comes from the SDRs"
        );
        let plain = build(None, Described::Sdrs(&sdrs), &settings).unwrap();
        assert_eq!(
            plain.items[0].spec.limits,
            Limits::Temperature {
                warm: Some(80.0),
                critical: None,
                shutdown: None
            }
        );
    }
}
