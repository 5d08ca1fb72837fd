//! Thermal shutdown: the sequence (once), the reason record, and the report at the next boot.
//!
//! The sequence: send 735022 / 735027 / 735029; flush every syslog destination (bounded);
//! write the reason record to the state dir atomically (temp file, fsync, rename, fsync the
//! directory); `sync()`; then the `--shutdown-action`: `poweroff` (this machine: reboot(2)
//! with RB_POWER_OFF, falling back to the system's `poweroff`), `bmc` (the hot host is the
//! BMC's: soft shutdown, power down after the grace, the power state read back:
//! [`power_down_host`]), `exec:PROGRAM` (run without a shell, with ENVMON_SHUTDOWN_* in its
//! environment), or `none` (log what would have happened). [`resolve_action`] decides it from
//! the protected host and refuses `poweroff` for another machine. The daemon runs it at most
//! once per process.
//!
//! At start-up a record not yet reported gives 735023 (CPU) or 735028 (CPU regulator) once;
//! the record is then rewritten with `"reported": true` and kept as history. The guide has no
//! boot message for the IO hub: envmon logs an error instead, and marks it reported too. A
//! corrupt or truncated record gives a warning and is left as it is.

use crate::{config::ShutdownAction, model::Trigger, os::sys, syslog::Syslog};
use envmon_core::{
    engine::ShutdownKind,
    host::{Host, HostId},
};
use envmon_sensors::power::{HostPower, PowerErrorKind, Request};
use serde::{Deserialize, Serialize};
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

/// The reason record's file name in the state dir.
pub const RECORD_FILE: &str = "last-shutdown.json";
/// How long the sequence waits for syslog to deliver the shutdown message.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the box was shut down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Format version (1).
    pub version: u32,
    /// `cpu`, `cpu_vr` or `iohub`.
    pub reason: String,
    /// The board item's id.
    pub sensor: String,
    /// Its device number markings.
    pub label: String,
    /// The reading that completed the debounce.
    pub reading: Option<f64>,
    /// The shutdown threshold.
    pub threshold: Option<f64>,
    /// `C` or `F`.
    pub unit: String,
    /// When (RFC 3339, local time with offset).
    pub at: String,
    /// Whether the boot report has been made.
    pub reported: bool,
    /// Who saw it: absent for envmon's own shutdown, `sel` for a hardware trip the BMC
    /// logged (the record then names the SEL entry as its sensor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The host it was about, when not this machine (`remote`, `unknown`): the BMC's host,
    /// powered off through the BMC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// What the BMC answered and the power state read back (a remote host's action).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outcome: Vec<String>,
    /// Whether the BMC's host was read back powered off (a `bmc` action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_off: Option<bool>,
    /// The hardware trips (SEL entries) reported so far, by identity
    /// (`sel:0xNNNN@TIMESTAMP`): kept across records so that no trip is reported twice, even
    /// when the SEL cursor is lost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trips: Vec<String>,
}

impl Record {
    /// The record as `show environment` shows it.
    pub fn shown(&self) -> crate::model::LastShutdown {
        crate::model::LastShutdown {
            at: self.at.clone(),
            reason: self.reason.clone(),
            source: self.source.clone(),
            host: self.host.clone(),
        }
    }
}

fn record_path(state_dir: &Path) -> PathBuf {
    state_dir.join(RECORD_FILE)
}

/// Reads the record: `Ok(None)` when there is none, `Err` (with why) when it is unusable.
pub fn read_record(state_dir: &Path) -> Result<Option<Record>, String> {
    let path = record_path(state_dir);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    parse_record(&bytes)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A record from the file's bytes: JSON of version 1 with a known reason, else why not.
pub fn parse_record(bytes: &[u8]) -> Result<Record, String> {
    let rec: Record = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if rec.version != 1 || ShutdownKind::from_name(&rec.reason).is_none() {
        return Err(format!(
            "unknown version {} or reason '{}'",
            rec.version, rec.reason
        ));
    }
    Ok(rec)
}

fn write_record(state_dir: &Path, rec: &Record) -> std::io::Result<()> {
    let mut text = serde_json::to_vec_pretty(rec).map_err(std::io::Error::other)?;
    text.push(b'\n');
    crate::os::files::write_atomic(&record_path(state_dir), &text)
}

/// How the machine envmon runs on is powered off: the system call first, then the system's
/// program.
#[derive(Debug, Clone)]
pub struct PowerOff {
    /// `reboot(2)` with `RB_POWER_OFF`; returns only on failure.
    pub syscall: fn() -> std::io::Result<()>,
    /// Run when the system call fails (for example without CAP_SYS_BOOT).
    pub program: PathBuf,
}

impl Default for PowerOff {
    fn default() -> Self {
        PowerOff {
            syscall: sys::power_off,
            program: PathBuf::from("poweroff"),
        }
    }
}

/// The action for the protected host `id`: `configured` (`--shutdown-action`), or by
/// default `poweroff` for this machine and `bmc` for any other. Refused (with why): `poweroff`
/// when the host is another machine, or not known and no evidence can come
/// (`evidence_may_come`: a network BMC not yet asked while this machine's UUID is readable);
/// `bmc` without a BMC. `Ok(None)`: decided once the BMC has said its GUID.
pub fn resolve_action(
    id: &HostId,
    configured: Option<&ShutdownAction>,
    has_bmc: bool,
    evidence_may_come: bool,
) -> Result<Option<ShutdownAction>, String> {
    let default = match id.host {
        Host::Local => ShutdownAction::Poweroff,
        Host::Remote | Host::Unknown => ShutdownAction::Bmc,
    };
    match (configured.unwrap_or(&default), id.host) {
        (ShutdownAction::Poweroff, Host::Local) => Ok(Some(ShutdownAction::Poweroff)),
        (ShutdownAction::Poweroff, Host::Unknown) if evidence_may_come => Ok(None),
        (ShutdownAction::Poweroff, host) => Err(format!(
            "shutdown-action = poweroff would power off this machine, but the host the BMC              manages is {} ({}): use shutdown-action = bmc (the BMC powers its host off),              or --host local if the BMC is this machine's",
            match host {
                Host::Remote => "another machine",
                _ => "not known to be this one",
            },
            id.evidence
        )),
        (ShutdownAction::Bmc, _) if !has_bmc => Err(format!(
            "shutdown-action {} bmc, but there is no BMC to act through (--ipmi none, no \
             --redfish)",
            if configured.is_some() {
                "="
            } else {
                "defaults to (the host is not this machine):"
            }
        )),
        (a, _) => Ok(Some(a.clone())),
    }
}

/// How long the sequence waits for the power to be seen off after a power down.
pub const HARD_WAIT: Duration = Duration::from_secs(15);
/// How often the power state is read while waiting.
pub const POWER_POLL: Duration = Duration::from_secs(1);

/// What a power down through the BMC came to: one line per step (the BMC's answers and the
/// state read back), and whether the host's power was read back off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The steps, said.
    pub lines: Vec<String>,
    /// The host's power was read back off.
    pub off: bool,
}

/// A remote host powered down through its BMC: a soft shutdown (when `grace` is not zero and
/// the BMC offers it) and its power watched for `grace`; then, still on, a power down and the
/// power state read back for up to [`HARD_WAIT`]. `pause` sleeps (beating the heart).
pub fn power_down_host(
    p: &mut dyn HostPower,
    grace: Duration,
    pause: &mut dyn FnMut(Duration),
) -> Outcome {
    let mut out = Vec::new();
    if !grace.is_zero() {
        match p.request(Request::Soft) {
            Ok(answer) => {
                out.push(answer);
                if let Some(line) = wait_off(p, grace, pause) {
                    out.push(format!("soft shutdown: {line}"));
                    return Outcome {
                        lines: out,
                        off: true,
                    };
                }
                out.push(format!(
                    "soft shutdown: the host is still on after {} s",
                    grace.as_secs()
                ));
            }
            Err(e) if e.kind == PowerErrorKind::Unsupported => {
                out.push(format!("soft shutdown not offered ({e}): powering down"));
            }
            Err(e) => out.push(format!("soft shutdown failed ({e}): powering down")),
        }
    }
    // A power down the BMC refused is read back once; one it took, for up to HARD_WAIT.
    let wait = match p.request(Request::Hard) {
        Ok(answer) => {
            out.push(answer);
            HARD_WAIT
        }
        Err(e) => {
            out.push(format!("power down failed: {e}"));
            Duration::ZERO
        }
    };
    let off = wait_off(p, wait, pause);
    out.push(match &off {
        Some(line) => format!("power down: {line}"),
        None => match p.is_on() {
            Ok(_) => format!(
                "power down: the host's power is still on after {} s",
                wait.as_secs()
            ),
            Err(e) => format!("power down: the power state cannot be read ({e})"),
        },
    });
    Outcome {
        lines: out,
        off: off.is_some(),
    }
}

/// Reads the power state every [`POWER_POLL`] for up to `within`: `Some(line)` once it is off.
fn wait_off(
    p: &mut dyn HostPower,
    within: Duration,
    pause: &mut dyn FnMut(Duration),
) -> Option<String> {
    // Bounded in polls and in time (a BMC that answers each read at its deadline), and cut
    // short by SIGTERM (the power down then comes at once).
    let until = std::time::Instant::now() + within;
    let polls = within.as_millis() / POWER_POLL.as_millis().max(1);
    for i in 0..=polls {
        if i > 0 && (std::time::Instant::now() >= until || sys::stop_requested()) {
            return None;
        }
        if matches!(p.is_on(), Ok(false)) {
            let after = POWER_POLL.as_secs() * u64::try_from(i).unwrap_or(u64::MAX);
            return Some(format!(
                "the host's power is off (read back after {after} s)"
            ));
        }
        if i < polls {
            pause(POWER_POLL);
        }
    }
    None
}

/// What the shutdown acts on: the action, the protected host, and (for `bmc`) the BMC's
/// power control of that host with its grace and a pause that keeps the heart beating.
pub struct Act<'a> {
    /// The resolved action ([`resolve_action`]).
    pub action: &'a ShutdownAction,
    /// The protected host.
    pub host: Host,
    /// The BMC's power control of its host (`bmc`).
    pub bmc: Option<&'a mut dyn HostPower>,
    /// The soft shutdown's grace.
    pub grace: Duration,
    /// Sleeps, keeping the heart beating.
    pub pause: &'a mut dyn FnMut(Duration),
}

/// Runs the shutdown sequence with the real power-off (see [`perform_with`]).
pub fn perform(syslog: &Syslog, state_dir: &Path, act: Act<'_>, t: &Trigger) -> Record {
    perform_with(syslog, state_dir, act, t, &PowerOff::default())
}

/// The shutdown sequence: message, flush, record, sync, action. Every step's failure is
/// logged and the next step still runs: a full disk or a failing program never stops the
/// power-off. A `bmc` action's outcome is said as envmon's own syslog lines and kept in the
/// record (written again with it).
pub fn perform_with(
    syslog: &Syslog,
    state_dir: &Path,
    act: Act<'_>,
    t: &Trigger,
    power: &PowerOff,
) -> Record {
    syslog.emit_emission(&t.kind.message(&t.label));
    if !syslog.flush(FLUSH_TIMEOUT) {
        log::error!(
            "thermal shutdown: syslog not fully delivered within {} s",
            FLUSH_TIMEOUT.as_secs()
        );
    }
    let mut rec = Record {
        version: 1,
        reason: t.kind.name().into(),
        sensor: t.sensor.clone(),
        label: t.label.clone(),
        reading: Some(t.reading).filter(|v| v.is_finite()),
        threshold: Some(t.threshold).filter(|v| v.is_finite()),
        unit: t.unit.clone(),
        at: chrono::Local::now()
            .fixed_offset()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
        reported: false,
        source: None,
        host: (act.host != Host::Local).then(|| act.host.name().to_string()),
        outcome: Vec::new(),
        host_off: None,
        // The trips reported before stay known (a record per shutdown, one history).
        trips: previous_trips(state_dir),
    };
    if let Err(e) = write_record(state_dir, &rec) {
        log::error!(
            "thermal shutdown: cannot write the reason record in {}: {e}",
            state_dir.display()
        );
    }
    sys::sync();
    run_action(syslog, state_dir, act, t, power, &mut rec);
    rec
}

/// The action itself, after the record is written and synced (a `bmc` action's outcome
/// goes into `rec`, written again).
fn run_action(
    syslog: &Syslog,
    state_dir: &Path,
    act: Act<'_>,
    t: &Trigger,
    power: &PowerOff,
    rec: &mut Record,
) {
    match act.action {
        ShutdownAction::None => log::error!(
            "thermal shutdown: {} {} at {} (threshold {}); --shutdown-action none: not powering off",
            t.sensor,
            t.kind.name(),
            envmon_core::engine::format_reading(t.reading, &t.unit),
            envmon_core::engine::format_reading(t.threshold, &t.unit)
        ),
        ShutdownAction::Exec(program) => {
            log::error!("thermal shutdown: running {}", program.display());
            let status = without_secrets(Command::new(program))
                .env("ENVMON_SHUTDOWN_REASON", t.kind.name())
                .env("ENVMON_SHUTDOWN_SENSOR", &t.sensor)
                .env("ENVMON_SHUTDOWN_READING", t.reading.to_string())
                .env("ENVMON_SHUTDOWN_HOST", act.host.name())
                .status();
            match status {
                Ok(s) if s.success() => {}
                Ok(s) => log::error!("thermal shutdown: {} exited with {s}", program.display()),
                Err(e) => log::error!("thermal shutdown: cannot run {}: {e}", program.display()),
            }
        }
        ShutdownAction::Bmc => {
            let done = match act.bmc {
                Some(p) => {
                    log::error!(
                        "thermal shutdown: the BMC powers its host ({}) off",
                        act.host.name()
                    );
                    power_down_host(p, act.grace, act.pause)
                }
                None => Outcome {
                    lines: vec![
                        "no BMC session to act through: the host was not powered off".into(),
                    ],
                    off: false,
                },
            };
            rec.outcome = done.lines;
            rec.host_off = Some(done.off);
            for line in &rec.outcome {
                log::error!("thermal shutdown: {line}");
                syslog.send_notice(&format!("thermal shutdown through the BMC: {line}"));
            }
            if let Err(e) = write_record(state_dir, rec) {
                log::error!("thermal shutdown: cannot record the outcome: {e}");
            }
            syslog.flush(FLUSH_TIMEOUT);
        }
        // Never this machine for another host's heat, whatever resolved the action.
        ShutdownAction::Poweroff if act.host != Host::Local => {
            let line = format!(
                "poweroff refused: the hot host is {} (not this machine): nothing powered off",
                act.host.name()
            );
            log::error!("thermal shutdown: {line}");
            syslog.send_notice(&format!("thermal shutdown: {line}"));
        }
        ShutdownAction::Poweroff => {
            log::error!("thermal shutdown: powering off");
            if let Err(e) = (power.syscall)() {
                let program = power.program.display();
                log::error!("reboot(RB_POWER_OFF) failed ({e}); running {program}");
                match without_secrets(Command::new(&power.program)).status() {
                    Ok(s) if s.success() => {}
                    Ok(s) => log::error!("thermal shutdown: {program} exited with {s}"),
                    Err(e) => log::error!("cannot run {program}: {e}"),
                }
            }
        }
    }
}

/// A processor Thermal Trip the BMC logged while envmon was not running (the hardware shut
/// the box down faster than any poll): 735023 once, and a reason record like envmon's own
/// (reason `cpu`, source `sel`, already reported). `entry` names the SEL record and `at` is
/// its time. Returns the record written (for `show environment`).
pub fn report_hardware_trip(
    syslog: &Syslog,
    state_dir: &Path,
    trip: &crate::events::delivery::BootTrip,
) -> std::io::Result<Record> {
    let rec = Record {
        version: 1,
        reason: ShutdownKind::Cpu.name().into(),
        sensor: trip.entry.clone(),
        label: String::new(),
        reading: None,
        threshold: None,
        unit: "C".into(),
        at: trip.at.clone(),
        reported: true,
        source: Some("sel".into()),
        host: None,
        outcome: Vec::new(),
        host_off: None,
        trips: remember_trip(previous_trips(state_dir), &trip.identity),
    };
    write_record(state_dir, &rec)?;
    if let Some(m) = ShutdownKind::Cpu.boot_message() {
        syslog.emit_emission(&m);
    }
    if !syslog.flush(FLUSH_TIMEOUT) {
        log::warn!(
            "boot report not fully delivered within {} s",
            FLUSH_TIMEOUT.as_secs()
        );
    }
    Ok(rec)
}

/// The trips a record keeps at most (the oldest are forgotten first).
pub const MAX_TRIPS: usize = 32;

/// The trips reported so far, from the record in `state_dir` (none without a usable one).
fn previous_trips(state_dir: &Path) -> Vec<String> {
    read_record(state_dir)
        .ok()
        .flatten()
        .map(|r| r.trips)
        .unwrap_or_default()
}

/// `trips` with `identity` added (once), bounded to [`MAX_TRIPS`].
fn remember_trip(mut trips: Vec<String>, identity: &str) -> Vec<String> {
    if !trips.iter().any(|t| t == identity) {
        trips.push(identity.to_string());
    }
    let excess = trips.len().saturating_sub(MAX_TRIPS);
    trips.drain(..excess);
    trips
}

/// At start-up: reports an unreported record once (735023 / 735028; the IO hub only in the
/// log) and marks it reported. Returns the record, for `show environment`'s last shutdown.
/// (The loop reads the record first and calls [`report_record`]; the tests call this.)
#[cfg(test)]
fn report_at_boot(syslog: &Syslog, state_dir: &Path) -> Option<Record> {
    report_record(syslog, state_dir, read_usable_record(state_dir)?)
}

/// The record in `state_dir`, if there is a usable one (an unusable one is logged).
pub fn read_usable_record(state_dir: &Path) -> Option<Record> {
    read_record(state_dir).unwrap_or_else(|e| {
        log::warn!("ignoring the shutdown record: {e}");
        None
    })
}

/// Reports a record already read, at start-up, once (735023 / 735028) and marks it reported.
pub fn report_record(syslog: &Syslog, state_dir: &Path, mut rec: Record) -> Option<Record> {
    if rec.reported {
        return Some(rec);
    }
    let kind = ShutdownKind::from_name(&rec.reason)?;
    match kind.boot_message() {
        Some(m) => syslog.emit_emission(&m),
        None => log::error!(
            "the previous shutdown was thermal: {} {} at {} {} (threshold {}), {}",
            rec.sensor,
            rec.reason,
            rec.reading.map_or_else(|| "-".into(), |v| v.to_string()),
            rec.unit,
            rec.threshold.map_or_else(|| "-".into(), |v| v.to_string()),
            rec.at
        ),
    }
    if !syslog.flush(FLUSH_TIMEOUT) {
        log::warn!(
            "boot report not fully delivered within {} s",
            FLUSH_TIMEOUT.as_secs()
        );
    }
    rec.reported = true;
    if let Err(e) = write_record(state_dir, &rec) {
        log::error!("cannot mark the shutdown record reported: {e}");
    }
    Some(rec)
}

/// `cmd` with no password variable in its environment (the shutdown programs never see the
/// BMC's passwords).
fn without_secrets(mut cmd: Command) -> Command {
    for v in crate::os::secrets::PASSWORD_ENVS {
        cmd.env_remove(v);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syslog::{Backoff, Received, SyslogConfig, SyslogUri, in_memory};
    use envmon_core::{
        Prefix,
        frame::{Facility, FrameFormat},
    };
    use std::os::unix::fs::PermissionsExt;

    /// A syslog whose frames land in memory.
    fn syslog() -> (Syslog, Received) {
        in_memory(&SyslogConfig {
            destinations: vec![SyslogUri::Stderr],
            format: FrameFormat::Rfc3164,
            facility: Facility::Local4,
            hostname: "fw1".into(),
            prefix: Prefix::Ftd,
            backoff: Backoff::default(),
        })
    }

    fn trigger(kind: ShutdownKind) -> Trigger {
        Trigger {
            kind,
            position: 0,
            sensor: "iohub-temp".into(),
            label: "0".into(),
            reading: 106.0,
            threshold: 105.0,
            unit: "C".into(),
        }
    }

    /// A program that appends its name to `log` and exits with `code`.
    fn program(dir: &Path, name: &str, code: i32) -> PathBuf {
        let p = dir.join(name);
        fs::write(
            &p,
            format!(
                "#!/bin/sh\necho {name} >> '{}'\nexit {code}\n",
                dir.join("ran").display()
            ),
        )
        .unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// The action `a` on this machine (no BMC, no grace).
    fn local<'a>(a: &'a ShutdownAction, pause: &'a mut dyn FnMut(Duration)) -> Act<'a> {
        Act {
            action: a,
            host: Host::Local,
            bmc: None,
            grace: Duration::ZERO,
            pause,
        }
    }

    fn ran(dir: &Path) -> String {
        fs::read_to_string(dir.join("ran")).unwrap_or_default()
    }

    #[test]
    fn when_reboot_fails_the_poweroff_program_runs() {
        let dir = tempfile::tempdir().unwrap();
        let (s, frames) = syslog();
        let power = PowerOff {
            syscall: || Err(std::io::Error::from_raw_os_error(libc::EPERM)),
            program: program(dir.path(), "poweroff", 0),
        };
        let state = dir.path().join("state");
        let t = trigger(ShutdownKind::IoHub);
        let rec = perform_with(
            &s,
            &state,
            local(&ShutdownAction::Poweroff, &mut |_| {}),
            &t,
            &power,
        );
        assert_eq!(ran(dir.path()), "poweroff\n");
        assert_eq!(read_record(&state).unwrap(), Some(rec));
        let frames = frames.lock().unwrap();
        assert_eq!(frames.len(), 1);
        assert!(frames[0].ends_with(": %FTD-1-735029: IO Hub is running beyond the max thermal operating temperature and the device will be shutting down immediately to prevent permanent damage to the circuit."), "{}", frames[0]);
    }

    #[test]
    fn a_successful_reboot_call_runs_no_program_and_a_missing_program_is_survived() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = syslog();
        let t = trigger(ShutdownKind::Cpu);
        let ok = PowerOff {
            syscall: || Ok(()),
            program: program(dir.path(), "poweroff", 0),
        };
        perform_with(
            &s,
            dir.path(),
            local(&ShutdownAction::Poweroff, &mut |_| {}),
            &t,
            &ok,
        );
        assert_eq!(ran(dir.path()), "", "reboot(2) worked: no fallback");
        let missing = PowerOff {
            syscall: || Err(std::io::Error::from_raw_os_error(libc::EPERM)),
            program: dir.path().join("no-such-poweroff"),
        };
        let rec = perform_with(
            &s,
            dir.path(),
            local(&ShutdownAction::Poweroff, &mut |_| {}),
            &t,
            &missing,
        );
        assert_eq!(read_record(dir.path()).unwrap(), Some(rec));
    }

    #[test]
    fn a_failing_or_missing_exec_program_still_leaves_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let (s, frames) = syslog();
        let t = trigger(ShutdownKind::CpuVr);
        let never = PowerOff {
            syscall: || panic!("exec: must not power off"),
            program: PathBuf::from("/nonexistent"),
        };
        let failing = ShutdownAction::Exec(program(dir.path(), "failing", 3));
        let state = dir.path().join("state");
        let rec = perform_with(&s, &state, local(&failing, &mut |_| {}), &t, &never);
        assert_eq!(ran(dir.path()), "failing\n");
        assert_eq!(read_record(&state).unwrap(), Some(rec));
        let missing = ShutdownAction::Exec(dir.path().join("missing"));
        perform_with(&s, &state, local(&missing, &mut |_| {}), &t, &never);
        assert_eq!(
            read_record(&state).unwrap().map(|r| r.reason),
            Some("cpu_vr".into())
        );
        assert!(s.flush(Duration::from_secs(5)));
        assert_eq!(frames.lock().unwrap().len(), 2, "735027 each time");
    }

    #[test]
    fn an_io_hub_record_is_reported_in_the_log_once_and_marked() {
        let dir = tempfile::tempdir().unwrap();
        let (s, frames) = syslog();
        let mut r = rec();
        r.reason = "iohub".into();
        write_record(dir.path(), &r).unwrap();
        let got = report_at_boot(&s, dir.path()).unwrap();
        assert!(got.reported);
        assert!(read_record(dir.path()).unwrap().unwrap().reported);
        assert!(s.flush(Duration::from_secs(5)));
        assert!(
            frames.lock().unwrap().is_empty(),
            "the guide has no boot message for it"
        );
        report_at_boot(&s, dir.path());
        assert!(frames.lock().unwrap().is_empty());
    }

    fn rec() -> Record {
        Record {
            version: 1,
            reason: "cpu".into(),
            sensor: "cpu0-temp".into(),
            label: "0".into(),
            reading: Some(101.0),
            threshold: Some(100.0),
            unit: "C".into(),
            at: "2026-11-22T16:00:00+00:00".into(),
            reported: false,
            source: None,
            host: None,
            outcome: Vec::new(),
            host_off: None,
            trips: Vec::new(),
        }
    }

    #[test]
    fn record_round_trips_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        write_record(dir.path(), &rec()).unwrap();
        assert_eq!(read_record(dir.path()).unwrap(), Some(rec()));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [RECORD_FILE]);
    }

    #[test]
    fn corrupt_truncated_or_foreign_records_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_record(dir.path()), Ok(None));
        let full = serde_json::to_string(&rec()).unwrap();
        for bad in [
            &full[..full.len() / 2],
            "",
            "\u{0}\u{1}",
            &full.replace("\"cpu\"", "\"gpu\""),
            &full.replace("\"version\":1", "\"version\":9"),
        ] {
            fs::write(record_path(dir.path()), bad).unwrap();
            let e = read_record(dir.path()).unwrap_err();
            assert!(e.contains(RECORD_FILE), "{e}");
        }
    }

    /// Issue 30: the programs a shutdown runs see neither password variable (the Redfish
    /// one was passed on before: only the IPMI one was removed).
    #[test]
    fn shutdown_programs_get_no_password_variable() {
        let cmd = without_secrets(Command::new("/bin/true"));
        let removed: Vec<_> = cmd
            .get_envs()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        for v in ["ENVMON_IPMI_PASSWORD", "ENVMON_REDFISH_PASSWORD"] {
            assert!(removed.iter().any(|r| r == v), "{v}: {removed:?}");
        }
    }

    fn host(h: Host) -> HostId {
        HostId {
            host: h,
            evidence: "test".into(),
            contradicted: false,
        }
    }

    /// Issue 32: poweroff only for this machine; the default follows the host; bmc needs a
    /// BMC; an unknown host waits for the BMC's GUID only while it can still come.
    #[test]
    fn the_action_follows_the_host_and_poweroff_for_another_is_refused() {
        let (local, remote, unknown) = (host(Host::Local), host(Host::Remote), host(Host::Unknown));
        let p = ShutdownAction::Poweroff;
        let ok = |a| Ok(Some(a));
        assert_eq!(resolve_action(&local, None, true, false), ok(p.clone()));
        assert_eq!(
            resolve_action(&remote, None, true, false),
            ok(ShutdownAction::Bmc)
        );
        assert_eq!(
            resolve_action(&unknown, None, true, true),
            ok(ShutdownAction::Bmc)
        );
        assert_eq!(resolve_action(&local, Some(&p), true, false), ok(p.clone()));
        let e = resolve_action(&remote, Some(&p), true, true).unwrap_err();
        assert!(e.contains("another machine") && e.contains("bmc"), "{e}");
        assert_eq!(resolve_action(&unknown, Some(&p), true, true), Ok(None));
        let e = resolve_action(&unknown, Some(&p), true, false).unwrap_err();
        assert!(e.contains("not known to be this one"), "{e}");
        let e = resolve_action(&local, Some(&ShutdownAction::Bmc), false, false).unwrap_err();
        assert!(e.contains("no BMC"), "{e}");
        let none = ShutdownAction::None;
        assert_eq!(resolve_action(&remote, Some(&none), true, false), ok(none));
    }

    /// A BMC that refuses the soft shutdown (ipmi_sim without a connected VM answers CCh)
    /// is asked to power down at once; one that takes it is left to it.
    #[test]
    fn the_bmc_powers_its_host_down_soft_first_and_reads_the_state_back() {
        use envmon_sensors::{ipmi::fake::FakeBmc, power::Chassis};
        let bmc = FakeBmc::default();
        let mut t = bmc.transport();
        let mut slept = Duration::ZERO;
        let done = power_down_host(&mut Chassis(&mut t), Duration::from_secs(30), &mut |d| {
            slept += d
        });
        assert!(done.off);
        let out = done.lines;
        assert!(out[0].starts_with("soft shutdown not offered"), "{out:?}");
        assert!(out[1].contains("power down (00h) accepted"), "{out:?}");
        assert_eq!(
            out[2],
            "power down: the host's power is off (read back after 0 s)"
        );
        assert_eq!(
            slept,
            Duration::ZERO,
            "no grace spent on a refused soft shutdown"
        );
        let bmc = FakeBmc::default();
        bmc.state().power_control = envmon_sensors::ipmi::fake::FakePower::SoftToo;
        let mut t = bmc.transport();
        let out = power_down_host(&mut Chassis(&mut t), Duration::from_secs(30), &mut |_| {}).lines;
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(
            out[1].starts_with("soft shutdown: the host's power is off"),
            "{out:?}"
        );
        let controls = bmc
            .state()
            .log
            .iter()
            .filter(|(n, c)| (*n, *c) == (0x00, 0x02))
            .count();
        assert_eq!(
            controls, 1,
            "no power down after a soft shutdown that worked"
        );
    }

    #[test]
    fn a_bmc_action_records_its_outcome_and_says_it_and_never_powers_this_machine_off() {
        use envmon_sensors::{ipmi::fake::FakeBmc, power::Chassis};
        let dir = tempfile::tempdir().unwrap();
        let (s, frames) = syslog();
        let bmc = FakeBmc::default();
        let mut transport = bmc.transport();
        let mut chassis = Chassis(&mut transport);
        let never = PowerOff {
            syscall: || panic!("bmc: must not power this machine off"),
            program: PathBuf::from("/nonexistent"),
        };
        let act = Act {
            action: &ShutdownAction::Bmc,
            host: Host::Remote,
            bmc: Some(&mut chassis),
            grace: Duration::from_secs(5),
            pause: &mut |_| {},
        };
        let rec = perform_with(&s, dir.path(), act, &trigger(ShutdownKind::Cpu), &never);
        assert!(bmc.state().power_off);
        assert_eq!(rec.host.as_deref(), Some("remote"));
        assert_eq!(read_record(dir.path()).unwrap(), Some(rec.clone()));
        assert_eq!(rec.outcome.len(), 3, "{:?}", rec.outcome);
        assert!(s.flush(Duration::from_secs(5)));
        let frames = frames.lock().unwrap();
        assert!(frames[0].contains("%FTD-1-735022"), "{frames:?}");
        assert!(
            frames.iter().any(|f| f
                .contains("thermal shutdown through the BMC: power down: the host's power is off")),
            "{frames:?}"
        );
    }

    /// Defence in depth: a `poweroff` that reaches the sequence for a host that is not this
    /// machine powers nothing off and says so.
    #[test]
    fn poweroff_for_another_host_is_refused_at_the_moment_of_acting() {
        let dir = tempfile::tempdir().unwrap();
        let (s, frames) = syslog();
        let never = PowerOff {
            syscall: || panic!("another host's heat must not power this machine off"),
            program: PathBuf::from("/nonexistent"),
        };
        for host in [Host::Remote, Host::Unknown] {
            let act = Act {
                action: &ShutdownAction::Poweroff,
                host,
                bmc: None,
                grace: Duration::ZERO,
                pause: &mut |_| {},
            };
            perform_with(&s, dir.path(), act, &trigger(ShutdownKind::Cpu), &never);
        }
        assert!(s.flush(Duration::from_secs(5)));
        let refused = frames
            .lock()
            .unwrap()
            .iter()
            .filter(|f| f.contains("poweroff refused: the hot host is"))
            .count();
        assert_eq!(refused, 2);
    }
}
