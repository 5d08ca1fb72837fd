//! `envmon check`, the monitoring plugin (issue 35): against the simulated BMC one-shot
//! (`--once`) and against a running agent's socket, and scheduled by a real monitoring
//! engine (Debian's nagios4, headless, its own configuration under a temporary directory)
//! that shows the state change when a fan fails and recovers, with the performance data it
//! parsed from the plugin's output.

use envmon_tests::{BMC_PASSWORD, Bmc, envmon_bin, wait_for};
use std::{path::Path, process::Command, time::Duration};

/// The simulated appliance's fan 1 and CPU 0 (sim/run-bmc's sensor numbers).
const FAN1: u8 = 7;
const CPU0: u8 = 1;

/// `envmon ... check ARGS`: (exit code, standard output).
fn check(bmc: &Bmc, dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(envmon_bin())
        .args(["--ipmi", &bmc.uri(), "--board", "sim-appliance"])
        .args(["--state-dir", dir.join("state").to_str().unwrap()])
        .arg("check")
        .args(args)
        .env("ENVMON_IPMI_PASSWORD", BMC_PASSWORD)
        .env_remove("ENVMON_LOG")
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).trim_end().to_string(),
    )
}

/// One-shot and through the socket: OK with performance data for every reading, CRITICAL
/// naming the failed fan, WARNING for a warm CPU, UNKNOWN without an agent; one line each.
#[test]
fn check_says_ok_warning_critical_and_unknown_with_perfdata() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let (code, out) = check(&bmc, dir.path(), &["--once"]);
    eprintln!("{out}");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("ENVMON OK - "), "{out}");
    let perf = out.split_once(" | ").map(|x| x.1).unwrap_or_default();
    assert!(perf.contains("cpu0-temp="), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    bmc.set(FAN1, 5);
    let (code, out) = check(&bmc, dir.path(), &["--once"]);
    eprintln!("{out}");
    assert_eq!(code, Some(2), "{out}");
    assert!(out.starts_with("ENVMON CRITICAL - fan1 failed"), "{out}");
    bmc.set(FAN1, 100);
    bmc.set(CPU0, 80);
    let (code, out) = check(&bmc, dir.path(), &["--once"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("warm 80 C"), "{out}");
    bmc.set(CPU0, 40);
    // Through a running agent's socket.
    let syslog = format!("file://{}", dir.path().join("syslog.log").display());
    let a = bmc.agent(dir.path(), &syslog, &[]);
    a.wait_sweeps(3);
    let socket = a.socket();
    let (code, out) = check(&bmc, dir.path(), &["--socket", socket.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("cpu0-temp=40;"), "{out}");
    let (code, out) = check(&bmc, dir.path(), &["--socket", "/nonexistent/envmon.sock"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.starts_with("ENVMON UNKNOWN - "), "{out}");
}

/// Writes a headless nagios4 configuration under `dir` that runs `command` every second
/// (interval_length 1) as service `envmon` of host `appliance`, hard on the first result,
/// its performance data written to `perfdata.log`.
fn nagios_config(dir: &Path, command: &str) -> std::path::PathBuf {
    let d = dir.display();
    std::fs::create_dir_all(dir.join("checkresults")).unwrap();
    let cfg = dir.join("nagios.cfg");
    std::fs::write(
        &cfg,
        format!(
            "log_file={d}/nagios.log\ncfg_file={d}/objects.cfg\n\
             object_cache_file={d}/objects.cache\nprecached_object_file={d}/objects.precache\n\
             status_file={d}/status.dat\nstatus_update_interval=1\n\
             nagios_user=root\nnagios_group=root\ncheck_external_commands=0\n\
             command_file={d}/nagios.cmd\nlock_file={d}/nagios.lock\n\
             temp_file={d}/nagios.tmp\ntemp_path={d}\ncheck_result_path={d}/checkresults\n\
             interval_length=1\nexecute_service_checks=1\nenable_notifications=0\n\
             use_syslog=0\nretain_state_information=0\nstate_retention_file={d}/retention.dat\n\
             log_rotation_method=n\nmax_service_check_spread=1\n\
             service_inter_check_delay_method=n\ncheck_result_reaper_frequency=1\n\
             process_performance_data=1\nservice_perfdata_file={d}/perfdata.log\n\
             service_perfdata_file_template=$SERVICESTATEID$\\t$SERVICEPERFDATA$\n\
             service_perfdata_file_mode=a\n"
        ),
    )
    .unwrap();
    let always = ([
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
    ])
    .iter()
    .chain(&["saturday"])
    .map(|day| format!("  {day} 00:00-24:00\n"))
    .collect::<String>();
    std::fs::write(
        dir.join("objects.cfg"),
        format!(
            "define timeperiod {{\n  timeperiod_name always\n  alias always\n{always}}}\n\
             define command {{\n  command_name noop\n  command_line /bin/true\n}}\n\
             define command {{\n  command_name envmon_check\n  command_line {command}\n}}\n\
             define contact {{\n  contact_name nobody\n  host_notifications_enabled 0\n  \
             service_notifications_enabled 0\n  host_notification_period always\n  \
             service_notification_period always\n  host_notification_options n\n  \
             service_notification_options n\n  host_notification_commands noop\n  \
             service_notification_commands noop\n}}\n\
             define host {{\n  host_name appliance\n  address 127.0.0.1\n  \
             check_command noop\n  max_check_attempts 1\n  check_period always\n  \
             contacts nobody\n  notification_period always\n}}\n\
             define service {{\n  host_name appliance\n  service_description envmon\n  \
             check_command envmon_check\n  max_check_attempts 1\n  check_interval 1\n  \
             retry_interval 1\n  check_period always\n  notification_period always\n  \
             contacts nobody\n}}\n"
        ),
    )
    .unwrap();
    cfg
}

/// The service's fields in nagios4's status.dat (`current_state`, `plugin_output`,
/// `performance_data`, ...).
fn service_status(dir: &Path) -> Option<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("status.dat")).ok()?;
    let block = text
        .split("servicestatus {")
        .skip(1)
        .find(|b| b.contains("service_description=envmon"))?;
    let block = block.split('}').next()?;
    Some(
        block
            .lines()
            .filter_map(|l| l.trim().split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// Issue 35: nagios4 (Debian's, headless) schedules `envmon check` against the agent's
/// socket every second: OK, CRITICAL once fan 1 fails (the line naming it), OK again when it
/// recovers; the engine parses the performance data out of the line (status.dat's
/// `performance_data`, and its perfdata file written from `$SERVICEPERFDATA$`).
#[test]
fn nagios_shows_ok_critical_ok_as_a_fan_fails_and_recovers() {
    let nagios = Path::new("/usr/sbin/nagios4");
    assert!(
        nagios.exists(),
        "/usr/sbin/nagios4 is missing: apt-get install nagios4-core (scripts/install-deps does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let syslog = format!("file://{}", dir.path().join("syslog.log").display());
    let a = bmc.agent(dir.path(), &syslog, &[]);
    a.wait_sweeps(3);
    let ndir = dir.path().join("nagios");
    let command = format!(
        "{} --socket {} check",
        envmon_bin().display(),
        a.socket().display()
    );
    let cfg = nagios_config(&ndir, &command);
    let verify = Command::new(nagios).arg("-v").arg(&cfg).output().unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let _engine =
        envmon_tests::fleet::daemon(Command::new(nagios).arg(&cfg), &ndir.join("run.log"));
    let state_is = |want: &str| {
        wait_for(Duration::from_secs(30), || {
            service_status(&ndir).filter(|s| {
                let is = |k: &str, v: &str| s.get(k).map(String::as_str) == Some(v);
                is("has_been_checked", "1") && is("current_state", want)
            })
        })
    };
    let ok = state_is("0").expect("nagios4 never showed the check OK");
    assert!(ok["plugin_output"].starts_with("ENVMON OK - "), "{ok:?}");
    assert!(
        !ok["plugin_output"].contains('|'),
        "the engine split the perfdata off"
    );
    assert!(ok["performance_data"].contains("fan1="), "{ok:?}");
    assert!(ok["performance_data"].contains("cpu0-temp="), "{ok:?}");
    bmc.set(FAN1, 5);
    let critical = state_is("2").expect("nagios4 never showed the failed fan CRITICAL");
    assert!(
        critical["plugin_output"].starts_with("ENVMON CRITICAL - fan1 failed"),
        "{critical:?}"
    );
    bmc.set(FAN1, 100);
    state_is("0").expect("nagios4 never showed the recovered fan OK");
    let perf = std::fs::read_to_string(ndir.join("perfdata.log")).unwrap_or_default();
    assert!(
        perf.lines()
            .any(|l| l.starts_with("2\t") && l.contains("fan1=")),
        "{perf}"
    );
}
