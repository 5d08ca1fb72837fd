//! From settings to a connected BMC, its SDRs (cached) and the board to monitor.

use crate::{
    config::{BoardChoice, IpmiUri, Settings},
    error::AgentError,
};
use envmon_board_defs::{Board, auto_board};
use envmon_sensors::ipmi::{
    Connected, IpmiError, IpmiErrorKind, Target, Transport, connect, read_live_limits_all,
    repo::{self, RepoInfo},
    sdr::{SdrEntry, parse_record},
};
use std::{
    fs,
    path::{Path, PathBuf},
    time::Duration,
};

/// How long one IPMI request may take before it counts as lost.
pub const IPMI_TIMEOUT: Duration = Duration::from_secs(2);
const CACHE_FILE: &str = "sdr-cache.v1";
const CACHE_MAGIC: &[u8] = b"envmon-sdr-cache v1\n";

/// The environment variable that may hold the RMCP+ password. Programs envmon starts (the
/// shutdown action) get an environment without it.
pub const PASSWORD_ENV: &str = "ENVMON_IPMI_PASSWORD";

/// The BMC target of the settings, with the password from `--ipmi-password-file` or
/// `ENVMON_IPMI_PASSWORD`. `Ok(None)` for `--ipmi none`.
pub fn target(s: &Settings) -> Result<Option<Target>, AgentError> {
    match &s.ipmi {
        IpmiUri::None => Ok(None),
        IpmiUri::Device(p) => Ok(Some(Target::Device(p.clone()))),
        IpmiUri::Rmcp { user, host, port } => {
            let password = match &s.ipmi_password_file {
                Some(f) => read_password_file(f, crate::os::sys::euid())?,
                None => std::env::var(PASSWORD_ENV).map_err(|_| {
                    AgentError::Usage(
                        "rmcp:// needs a password: --ipmi-password-file FILE or ENVMON_IPMI_PASSWORD".into(),
                    )
                })?,
            };
            Ok(Some(Target::Rmcp {
                host: host.clone(),
                port: *port,
                user: user.clone(),
                password,
                window: usize::from(s.ipmi_window.0),
            }))
        }
    }
}

/// Reads the RMCP+ password file, as ssh reads a key: it must be owned by root or envmon's
/// user (`euid`) and neither readable nor writable by others, nor writable by its group
/// (0600 or 0640). The error names the file and what is wrong, never its content.
pub fn read_password_file(f: &Path, euid: u32) -> Result<String, AgentError> {
    use std::os::unix::fs::MetadataExt;
    let fail = |why: String| AgentError::Unavailable(format!("{}: {why}", f.display()));
    let file =
        fs::File::open(f).map_err(|e| fail(format!("cannot read the IPMI password: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| fail(format!("cannot read the IPMI password: {e}")))?;
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(fail(format!(
            "the password file is owned by uid {}: it must be root's or envmon's",
            meta.uid()
        )));
    }
    if meta.mode() & 0o027 != 0 {
        return Err(fail(format!(
            "the password file's mode is {:04o}: others may read or change it (use 0600 or \
             0640)",
            meta.mode() & 0o7777
        )));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(&file, 4096), &mut text)
        .map_err(|e| fail(format!("cannot read the IPMI password: {e}")))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

/// Connects (one session, kept).
pub fn open(target: &Target) -> Result<Connected, IpmiError> {
    connect(target, IPMI_TIMEOUT)
}

fn cache_path(state_dir: &Path) -> PathBuf {
    state_dir.join(CACHE_FILE)
}

fn encode_cache(info: &RepoInfo, records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = CACHE_MAGIC.to_vec();
    out.extend_from_slice(&info.add_timestamp.to_le_bytes());
    out.extend_from_slice(&info.erase_timestamp.to_le_bytes());
    out.extend_from_slice(&info.record_count.to_le_bytes());
    for r in records {
        let len = u16::try_from(r.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(r.get(..usize::from(len)).unwrap_or(r));
    }
    out
}

/// The cached records, if the cache is for this repository state; `None` otherwise.
fn decode_cache(bytes: &[u8], info: &RepoInfo) -> Option<Vec<Vec<u8>>> {
    let rest = bytes.strip_prefix(CACHE_MAGIC)?;
    let head = rest.get(..10)?;
    let add = u32::from_le_bytes(head.get(0..4)?.try_into().ok()?);
    let erase = u32::from_le_bytes(head.get(4..8)?.try_into().ok()?);
    let count = u16::from_le_bytes(head.get(8..10)?.try_into().ok()?);
    if (add, erase, count) != (info.add_timestamp, info.erase_timestamp, info.record_count) {
        return None;
    }
    let mut rest = rest.get(10..)?;
    let mut records = Vec::new();
    while !rest.is_empty() {
        let len = usize::from(u16::from_le_bytes(rest.get(..2)?.try_into().ok()?));
        records.push(rest.get(2..2 + len)?.to_vec());
        rest = rest.get(2 + len..)?;
        if records.len() > repo::MAX_RECORDS {
            return None;
        }
    }
    Some(records)
}

/// The SDR entries of the BMC: from the state-dir cache when it matches the repository's
/// add/erase timestamps (one Get SDR Repository Info), else read in chunks and cached; then
/// the live thresholds of the threshold sensors that have readable ones.
/// Returns the entries and the repository info (to re-validate later).
pub fn load_sdrs(
    t: &mut impl Transport,
    state_dir: &Path,
) -> Result<(Vec<SdrEntry>, RepoInfo), IpmiError> {
    let info = repo::info(t)?;
    let cached = fs::read(cache_path(state_dir))
        .ok()
        .and_then(|b| decode_cache(&b, &info));
    let records = match cached {
        Some(r) => {
            log::debug!(
                "SDR cache in {} is current ({} records)",
                state_dir.display(),
                r.len()
            );
            r
        }
        None => {
            let r = repo::read_all(t)?;
            // Only into a state dir that is there: a one-shot command (`poll`, `board
            // dump`) creates nothing; `envmon run` makes its state dir at start.
            if !state_dir.is_dir() {
                log::debug!(
                    "no state dir {}: the SDRs are not cached",
                    state_dir.display()
                );
            } else if let Err(e) =
                crate::os::files::write_atomic(&cache_path(state_dir), &encode_cache(&info, &r))
            {
                log::warn!("cannot write the SDR cache in {}: {e}", state_dir.display());
            }
            r
        }
    };
    let mut entries = Vec::new();
    for r in &records {
        match parse_record(r) {
            Ok(Some(e)) => entries.push(e),
            Ok(None) => {}
            Err(e) => log::warn!("{e}; skipped"),
        }
    }
    if entries.is_empty() {
        return Err(IpmiError::new(
            IpmiErrorKind::Malformed,
            "the SDR repository has no sensor records",
        ));
    }
    // The live thresholds and hysteresis, where readable (not cached: a BMC may change them
    // at run time). At most two commands per threshold sensor, at connection only, in two rounds of pipelined requests.
    read_live_limits_all(t, &mut entries)?;
    Ok((entries, info))
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

/// Whether the board is made from the BMC's SDRs (`auto`, or a file with `base = "auto"`).
pub fn from_sdrs(named: Option<&Board>) -> bool {
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
pub fn host_packages(root: &std::path::Path) -> usize {
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
pub fn require_host_cpus(board: &mut Board, packages: usize) {
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

/// [`named_board`] then [`resolve_board`].
pub fn board(choice: &BoardChoice, sdrs: &[SdrEntry]) -> Result<Board, AgentError> {
    Ok(resolve_board(named_board(choice)?, sdrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 21: a password file others can read, or owned by another user, is refused; the
    /// error never holds the password.
    #[test]
    fn a_password_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "Secret-pw\n").unwrap();
        let me = crate::os::sys::euid();
        for mode in [0o644, 0o666, 0o620, 0o604] {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = read_password_file(&f, me).unwrap_err().to_string();
            assert!(e.contains("others may read or change it"), "{mode:o}: {e}");
            assert!(!e.contains("Secret"));
        }
        for mode in [0o600, 0o640, 0o400] {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_password_file(&f, me).unwrap(), "Secret-pw", "{mode:o}");
        }
        if std::os::unix::fs::chown(&f, Some(65534), None).is_ok() && me != 65534 {
            let e = read_password_file(&f, 4242).unwrap_err().to_string();
            assert!(e.contains("owned by uid 65534"), "{e}");
        }
    }

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
        let b = board(&BoardChoice(file.to_str().unwrap().into()), &sdrs).unwrap();
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
        let plain = board(&BoardChoice("auto".into()), &sdrs).unwrap();
        assert_eq!(
            plain.items[0].spec.limits,
            Limits::Temperature {
                warm: Some(80.0),
                critical: None,
                shutdown: None
            }
        );
    }

    #[test]
    fn cache_round_trips_and_refuses_a_changed_repository() {
        let info = RepoInfo {
            record_count: 2,
            add_timestamp: 7,
            erase_timestamp: 9,
        };
        let records = vec![vec![1, 2, 3], vec![4; 70]];
        let bytes = encode_cache(&info, &records);
        assert_eq!(decode_cache(&bytes, &info), Some(records));
        let newer = RepoInfo {
            add_timestamp: 8,
            ..info
        };
        assert_eq!(decode_cache(&bytes, &newer), None);
        for cut in [0, 5, CACHE_MAGIC.len() + 3, bytes.len() - 1] {
            assert_eq!(
                decode_cache(&bytes[..cut], &info),
                None,
                "truncated at {cut}"
            );
        }
    }
}
