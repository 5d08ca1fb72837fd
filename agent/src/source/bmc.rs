//! An IPMI BMC: the settings' target (with its password), the connection, and its SDRs
//! (cached in the state dir, with their live thresholds).

use crate::{
    config::{IpmiUri, Settings},
    error::AgentError,
    os::secrets,
};
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

/// The BMC target of the settings, with the password from `--ipmi-password-file` or
/// `ENVMON_IPMI_PASSWORD`. `Ok(None)` for `--ipmi none`.
pub fn target(s: &Settings) -> Result<Option<Target>, AgentError> {
    match &s.ipmi {
        IpmiUri::None => Ok(None),
        IpmiUri::Device(p) => Ok(Some(Target::Device(p.clone()))),
        IpmiUri::Rmcp { user, host, port } => {
            let password = match &s.ipmi_password_file {
                Some(f) => secrets::read_password_file(f, crate::os::sys::euid()).map_err(|e| AgentError::Unavailable(e.to_string()))?,
                None => std::env::var(secrets::IPMI_PASSWORD_ENV).map_err(|_| {
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
    let ((add, erase, count), records) = cache_records(bytes)?;
    if (add, erase, count) != (info.add_timestamp, info.erase_timestamp, info.record_count) {
        return None;
    }
    Some(records)
}

/// The repository state a cache was made for: add and erase timestamps, record count.
type CacheState = (u32, u32, u16);

/// A cache's repository state and its records; `None` for anything that is not a whole
/// cache.
fn cache_records(bytes: &[u8]) -> Option<(CacheState, Vec<Vec<u8>>)> {
    let rest = bytes.strip_prefix(CACHE_MAGIC)?;
    let head = rest.get(..10)?;
    let add = u32::from_le_bytes(head.get(0..4)?.try_into().ok()?);
    let erase = u32::from_le_bytes(head.get(4..8)?.try_into().ok()?);
    let count = u16::from_le_bytes(head.get(8..10)?.try_into().ok()?);
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
    Some(((add, erase, count), records))
}

/// The largest SDR file read (`board check --sdr`): a full repository is well under it.
const MAX_SDR_FILE: u64 = 1 << 20;

/// The sensor records of a file of SDRs: what `ipmitool sdr dump FILE` writes (whole
/// records one after another), or envmon's own cache (`sdr-cache.v1` in a state dir). A
/// record that is no sensor is passed over; an unreadable, cut or empty file is an error
/// naming it.
pub fn sdrs_from_file(path: &Path) -> Result<Vec<SdrEntry>, String> {
    use std::io::Read as _;
    let fail = |why: String| format!("{}: {why}", path.display());
    let mut bytes = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_SDR_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_SDR_FILE {
        return Err(fail(format!(
            "larger than {MAX_SDR_FILE} bytes: not one BMC's SDR repository"
        )));
    }
    let cached = cache_records(&bytes).map(|(_, r)| r);
    let records: Vec<&[u8]> = match &cached {
        Some(r) => r.iter().map(Vec::as_slice).collect(),
        None if bytes.starts_with(CACHE_MAGIC) => {
            return Err(fail("a cut or damaged envmon SDR cache".into()));
        }
        None => {
            envmon_sensors::ipmi::sdr::split_records(&bytes).map_err(|e| fail(e.to_string()))?
        }
    };
    let entries = sensor_entries(records, &format!("{}: ", path.display()));
    if entries.is_empty() {
        return Err(fail("no sensor record in it".into()));
    }
    Ok(entries)
}

/// The sensor records among `records` (the BMC's, or a file's), parsed: a record that is no
/// sensor is passed over, a malformed one said (after `from`) and skipped.
fn sensor_entries<'a>(records: impl IntoIterator<Item = &'a [u8]>, from: &str) -> Vec<SdrEntry> {
    let mut entries = Vec::new();
    for r in records {
        match parse_record(r) {
            Ok(Some(e)) => entries.push(e),
            Ok(None) => {}
            Err(e) => log::warn!("{from}{e}; skipped"),
        }
    }
    entries
}

/// Reads the whole repository; with `progress` and on a terminal, says how far it is
/// (`reading the BMC's SDR repository: 40 of 120 records`, one line rewritten, cleared at
/// the end so that what follows starts clean), and nothing otherwise (a log, a pipe, the
/// daemon).
fn read_with_progress(
    t: &mut impl Transport,
    total: u16,
    progress: bool,
) -> Result<Vec<Vec<u8>>, IpmiError> {
    use std::io::{IsTerminal, Write};
    if !progress || !std::io::stderr().is_terminal() {
        return repo::read_all(t);
    }
    let mut say = |n: usize| {
        let mut e = std::io::stderr();
        let _ = write!(
            e,
            "\r\x1b[Kreading the BMC's SDR repository: {n} of {total} records"
        );
        let _ = e.flush();
    };
    let r = repo::read_all_with(t, &mut say);
    let mut e = std::io::stderr();
    let _ = match &r {
        Ok(records) => writeln!(
            e,
            "\r\x1b[Kreading the BMC's SDR repository: {} records",
            records.len()
        ),
        Err(_) => write!(e, "\r\x1b[K"),
    };
    r
}

/// The SDR entries of the BMC: from the state-dir cache when it matches the repository's
/// add/erase timestamps (one Get SDR Repository Info), else read in chunks and cached; then
/// the live thresholds of the threshold sensors that have readable ones.
/// Returns the entries and the repository info (to re-validate later).
pub fn load_sdrs(
    t: &mut impl Transport,
    state_dir: &Path,
) -> Result<(Vec<SdrEntry>, RepoInfo), IpmiError> {
    load_sdrs_for(t, state_dir, false)
}

/// [`load_sdrs`]; with `progress` (a one-shot command), a cold read says how far it is on a
/// terminal.
pub fn load_sdrs_for(
    t: &mut impl Transport,
    state_dir: &Path,
    progress: bool,
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
            let r = read_with_progress(t, info.record_count, progress)?;
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
    let mut entries = sensor_entries(records.iter().map(Vec::as_slice), "");
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

#[cfg(test)]
mod tests {
    use super::*;

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
