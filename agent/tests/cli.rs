//! The `envmon` binary from outside: exact output, exit codes, configuration errors and the
//! frames `message --send` and `run` write.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    path::Path,
    process::{Command, Output},
};

fn envmon(args: &[&str]) -> Output {
    envmon_tz("UTC", args)
}

fn envmon_tz(tz: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_envmon"))
        .args(args)
        .env_remove("ENVMON_LOG")
        .env("TZ", tz)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn contract_examples_print_exactly() {
    for (args, line) in [
        (
            &["message", "735002", "1"][..],
            "%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected",
        ),
        (
            &["message", "735007", "0", "96", "C"],
            "%FTD-1-735007: IPMI: CPU 0: Temp: 96 C, Critical",
        ),
        (
            &["message", "735014", "3"],
            "%FTD-1-735014: Voltage Channel 3: Voltage Critical",
        ),
        (
            &["message", "735020", "0", "45", "C"],
            "%FTD-1-735020: CPU 0: Temp: 45 C OK",
        ),
        (
            &["message", "735018", "1", "70", "C"],
            "%FTD-4-735018: Power Supply 1: Temp: 70 C, Critical",
        ),
        (
            &["--prefix", "ASA", "message", "735006"],
            "%ASA-1-735006: IPMI: Power Supply Unit Redundancy Lost",
        ),
    ] {
        let o = envmon(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), format!("{line}\n"), "{args:?}");
    }
}

#[test]
fn negative_values_are_arguments_not_flags() {
    let o = envmon(&["message", "735015", "0", "-5", "C"]);
    assert_eq!(stdout(&o), "%FTD-4-735015: CPU 0: Temp: -5 C, Warm\n");
}

#[test]
fn usage_errors_exit_2_and_say_what_was_expected() {
    for (args, needle) in [
        (
            &["message", "735007", "0"][..],
            "message 735007 takes 3 arguments (cpu temp unit), got 1",
        ),
        (&["message", "735030"], "unknown message ID 735030"),
        (&["message", "fan"], "message ID 'fan' is not a number"),
        (&["message", "735001", "a\u{7}b"], "control character"),
        (
            &["--facility", "local9", "catalog"],
            "unknown facility 'local9'",
        ),
        (
            &["--syslog", "smtp://x", "catalog"],
            "unknown scheme 'smtp'",
        ),
        (&["--interval-ms", "5", "catalog"], "from 100 to 3600000"),
        (&["frobnicate"], "unrecognized subcommand"),
    ] {
        let o = envmon(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}: nothing printed on stdout");
    }
}

#[test]
fn catalog_lists_every_message_in_text_and_json() {
    let text = stdout(&envmon(&["catalog"]));
    assert_eq!(text.lines().count(), 35);
    assert!(
        text.lines()
            .any(|l| l == "735018 4 Power Supply {psu}: Temp: {temp} {unit}, Critical")
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&envmon(&["catalog", "--json"]))).unwrap();
    let list = json.as_array().unwrap();
    assert_eq!(list.len(), 35);
    let m = list.iter().find(|m| m["id"] == 735022).unwrap();
    assert_eq!(m["level"], 1);
    assert_eq!(m["severity"], "alert");
    assert_eq!(m["variables"][0]["name"], "cpu");
    assert_eq!(m["variables"][0]["default"], "#");
    assert!(m["action"].as_str().unwrap().contains("ventilation"));
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn config_errors_exit_78_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    for (text, at, needle) in [
        (
            "prefix = \"ASA\"\nfacilty = \"local4\"\n",
            "2:1",
            "unknown field `facilty`",
        ),
        (
            "syslog = [\"tcp://h:1\",\n  \"tcp://h:0\"]\n",
            "2:3",
            "1 to 65535",
        ),
        ("hostname = \"my host\"\n", "1:12", "printable ASCII"),
        ("[syslog\n", "1:8", ""),
    ] {
        let cfg = write(dir.path(), "bad.toml", text);
        let o = envmon(&["--config", &cfg, "message", "735005"]);
        assert_eq!(o.status.code(), Some(78), "{text}");
        let err = stderr(&o);
        assert!(err.contains(&format!("{cfg}:{at}: ")), "{text}: {err}");
        assert!(err.contains(needle), "{text}: {err}");
        assert!(stdout(&o).is_empty(), "nothing done with a bad config");
    }
    let missing = dir.path().join("absent.toml");
    let o = envmon(&["--config", missing.to_str().unwrap(), "catalog"]);
    assert_eq!(o.status.code(), Some(78));
    assert!(stderr(&o).contains("cannot read the configuration"));
}

#[test]
fn config_file_values_apply_and_flags_override_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "envmon.toml", "prefix = \"ASA\"\n");
    let o = envmon(&["--config", &cfg, "message", "735005"]);
    assert_eq!(
        stdout(&o),
        "%ASA-1-735005: IPMI: Power Supply Unit Redundancy OK\n"
    );
    let o = envmon(&["--config", &cfg, "--prefix", "FTD", "message", "735005"]);
    assert_eq!(
        stdout(&o),
        "%FTD-1-735005: IPMI: Power Supply Unit Redundancy OK\n"
    );
}

#[test]
fn send_writes_the_frame_to_a_file_destination() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("frames.log");
    let uri = format!("file://{}", log.display());
    let o = envmon(&[
        "--syslog",
        &uri,
        "--hostname",
        "fw1",
        "message",
        "--send",
        "735002",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = envmon(&[
        "--syslog",
        &uri,
        "--hostname",
        "fw1",
        "--syslog-format",
        "rfc5424",
        "--facility",
        "local0",
        "message",
        "--send",
        "735018",
        "1",
        "70",
        "C",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    // RFC 3164: <161> = local4 (20) * 8 + alert (1); hostname; envmon[PID].
    let (pri_stamp, rest) = lines[0].split_at(lines[0].find(" fw1 ").unwrap());
    assert!(pri_stamp.starts_with("<161>"), "{}", lines[0]);
    assert_eq!(
        pri_stamp.len(),
        "<161>Nov 22 15:09:01".len(),
        "{}",
        lines[0]
    );
    assert!(rest.starts_with(" fw1 envmon["), "{}", lines[0]);
    assert!(
        rest.ends_with("]: %FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected"),
        "{}",
        lines[0]
    );
    // RFC 5424: <132> = local0 (16) * 8 + warning (4); MSGID is the message number.
    let f: Vec<&str> = lines[1].splitn(8, ' ').collect();
    assert_eq!(f[0], "<132>1");
    assert!(
        f[1].ends_with("+00:00") && f[1].len() == "2026-11-22T15:09:01.123456+00:00".len(),
        "{}",
        f[1]
    );
    assert_eq!((f[2], f[3], f[5], f[6]), ("fw1", "envmon", "735018", "-"));
    assert!(f[4].parse::<u32>().is_ok());
    assert_eq!(f[7], "%FTD-4-735018: Power Supply 1: Temp: 70 C, Critical");
}

#[test]
fn send_to_an_unreachable_receiver_exits_69() {
    // A port nobody listens on: connection refused, retried until the wait runs out.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = format!("tcp://127.0.0.1:{port}");
    let o = envmon(&[
        "--syslog",
        &uri,
        "message",
        "--send",
        "--wait-ms",
        "300",
        "735001",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(69));
    assert!(
        stderr(&o).contains(&format!("not delivered within 300 ms to {uri}")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn run_without_a_bmc_reports_735009_keeps_running_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("frames.log");
    // The device is there but is no IPMI device (a missing one is waited for first:
    // source::link::DEVICE_WAIT).
    std::fs::create_dir(dir.path().join("no-ipmi0")).unwrap();
    let cfg = write(
        dir.path(),
        "envmon.toml",
        &format!(
            "syslog = [\"file://{}\"]\nhostname = \"fw1\"\nipmi = \"file://{}/no-ipmi0\"\ninterval-ms = 100\nboard = \"sim-appliance\"\n",
            log.display(),
            dir.path().display()
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_envmon"))
        .args([
            "run",
            "--config",
            &cfg,
            "--state-dir",
            dir.path().to_str().unwrap(),
            "--socket",
            dir.path().join("envmon.sock").to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // 735009 goes out after the third failed attempt. Wait for two attempts more (from the
    // metrics; attempts back off 1, 2, 4, 8 s, each jittered into its upper half), so that
    // a repeat would have been seen, then read the log.
    let sock = dir.path().join("envmon.sock");
    let failed_attempts = || {
        let o = Command::new(env!("CARGO_BIN_EXE_envmon"))
            .args(["show", "metrics", "--socket", sock.to_str().unwrap()])
            .output()
            .ok()?;
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("envmon_ipmi_errors_total "))?
            .trim()
            .parse::<u64>()
            .ok()
    };
    let started = std::time::Instant::now();
    let deadline = started + std::time::Duration::from_secs(25);
    while failed_attempts().unwrap_or(0) < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        failed_attempts().unwrap_or(0) >= 5,
        "five failed attempts in 25 s"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(500 + 1000 + 2000 + 4000 - 500),
        "the attempts back off: {:?}",
        started.elapsed()
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        child.try_wait().unwrap().is_none(),
        "the agent stays up and keeps retrying"
    );
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("<162>"), "local4 crit: {text}");
    assert!(
        text.contains(" fw1 envmon[")
            && text.ends_with("]: %FTD-2-735009: IPMI: Environment Monitoring has failed initialization and configuration. Environment Monitoring is not running.\n"),
        "{text}"
    );
}

#[test]
fn run_with_a_bad_board_file_exits_78_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let board = write(dir.path(), "b.toml", "name = 3\n");
    let o = envmon(&[
        "run", "--board", &board, "--ipmi", "none", "--syslog", "stderr",
    ]);
    assert_eq!(o.status.code(), Some(78));
    assert!(
        stderr(&o).contains(&format!("{board}:1:8: ")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn board_list_names_every_builtin_board() {
    let o = envmon(&["board", "list"]);
    assert_eq!(o.status.code(), Some(0));
    let names: Vec<String> = stdout(&o)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "fw-1cpu",
            "fw-2cpu",
            "fw-1cpu-mixed",
            "sim-appliance",
            "virt-arm64"
        ]
    );
}

#[test]
fn board_check_validates_every_file_and_exits_78_on_any_error() {
    let dir = tempfile::tempdir().unwrap();
    let good =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../board-defs/boards/sim-appliance.toml");
    let good = good.to_str().unwrap();
    let bad = write(
        dir.path(),
        "bad.toml",
        "name = \"x\"\n[[item]]\nid = \"f\"\nlabel = \"1\"\nclass = \"fan\"\nsource = \"ipmi:F\"\nmin-rpm = 900\nshutdown = 3\n",
    );
    let mixed =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../board-defs/boards/fw-1cpu-mixed.toml");
    let o = envmon(&["board", "check", good, mixed.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("ok: board fw-1cpu-mixed, 12 items"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("ok: board sim-appliance, 14 items"));
    let o = envmon(&["board", "check", &bad, good]);
    assert_eq!(o.status.code(), Some(78));
    assert_eq!(
        stderr(&o),
        format!("envmon: error: {bad}:8:12: shutdown does not apply to class fan\n")
    );
    assert!(
        stdout(&o).contains("ok: board sim-appliance"),
        "the good file is still checked"
    );
}

/// Output into a pipe nobody reads (`envmon catalog | head -1` once head has left): the
/// command ends as Unix tools do, on SIGPIPE, not with a panic about a broken pipe.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_envmon"))
        .arg("catalog")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{:?}", out.status);
}

/// Issue 21: a password in an `--ipmi` URI is refused and never printed, by any command
/// that takes the flag, on the command line or in a configuration file.
#[test]
fn a_password_in_an_ipmi_uri_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("envmon.toml");
    std::fs::write(&conf, "ipmi = \"rmcp://admin:S3cr3t-pw@10.0.0.9:623\"\n").unwrap();
    let conf = conf.to_str().unwrap();
    let uri = "rmcp://admin:S3cr3t-pw@10.0.0.9:623";
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    for args in [
        vec!["run", "--ipmi", uri],
        vec!["poll", "--ipmi", uri],
        vec!["board", "explain", "--ipmi", uri, "--state-dir", state],
        vec!["board", "dump", "--ipmi", uri, "--state-dir", state],
        vec!["run", "--ipmi", "rmcp://admin:S3cr3t-pw@10.0.0.9:99999"],
        vec!["run", "--config", conf],
        vec!["poll", "--config", conf],
    ] {
        let o = envmon(&args);
        assert!(!o.status.success(), "{args:?}");
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(!all.contains("S3cr3t"), "{args:?}: {all}");
        assert!(all.contains("must not carry a password"), "{args:?}: {all}");
    }
}

/// Issue 21: a configuration or board file over 1 MiB is refused before it is read whole.
#[test]
fn files_over_a_mebibyte_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.toml");
    std::fs::write(&big, "#".repeat(2_000_000)).unwrap();
    let big = big.to_str().unwrap();
    for args in [vec!["run", "--config", big], vec!["board", "check", big]] {
        let o = envmon(&args);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            stderr(&o).contains("larger than the 1024 KiB a file may have"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

/// Issue 21: a regular file at the `--socket` path (another user's data) survives, and
/// `envmon run` exits 69 saying what is there.
#[test]
fn a_regular_file_at_the_socket_path_survives() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("envmon.sock");
    std::fs::write(&sock, b"someone else's data").unwrap();
    let state = dir.path().join("state");
    let o = envmon(&[
        "run",
        "--ipmi",
        "none",
        "--board",
        "fw-1cpu",
        "--syslog",
        "stderr",
        "--socket",
        sock.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(69), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is a regular file, not a socket"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&sock).unwrap(), b"someone else's data");
}

/// Issue 30: a built-in board is dumped as it is, without a BMC (the default `/dev/ipmi0`
/// is not there on a test host): the dump validates and names the same items.
#[test]
fn a_builtin_board_dumps_without_a_bmc() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["sim-appliance", "fw-1cpu"] {
        let o = envmon(&[
            "--board",
            name,
            "--ipmi",
            "file:///nonexistent/ipmi0",
            "board",
            "dump",
        ]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains(&format!("from board {name}")), "{text}");
        let file = write(dir.path(), &format!("{name}.toml"), &text);
        let check = envmon(&["board", "check", &file]);
        assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
        let items = |t: &str| t.lines().filter(|l| l.starts_with("source = ")).count();
        let listed = envmon(&["board", "list"]);
        let count: usize = stdout(&listed)
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(items(&text), count, "{name}: every item dumped");
    }
}

/// Issue 30: two sources are an error, never a silent choice, and the same error for every
/// command that starts through the source opener.
#[test]
fn two_sources_are_refused_by_every_command() {
    for cmd in [
        &["poll"][..],
        &["board", "explain"],
        &["board", "dump"],
        &["run"],
    ] {
        let mut args = vec![
            "--redfish",
            "http://127.0.0.1:9",
            "--ipmi",
            "file:///dev/ipmi7",
            "--state-dir",
            "/nonexistent/state",
        ];
        args.extend_from_slice(cmd);
        let o = envmon(&args);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("two sources"),
            "{cmd:?}: {}",
            stderr(&o)
        );
    }
}

/// Issue 35 (part): `show env`, the appliance CLI's abbreviation, asks what `show
/// environment` asks (here of a socket with no agent: the same error, naming it).
#[test]
fn show_env_is_show_environment() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    let sock = sock.to_str().unwrap();
    let long = envmon(&["--socket", sock, "show", "environment"]);
    let short = envmon(&["--socket", sock, "show", "env"]);
    assert_eq!(short.status.code(), Some(69), "{}", stderr(&short));
    assert_eq!(stderr(&short), stderr(&long));
    assert!(
        stderr(&short).contains("no such socket"),
        "{}",
        stderr(&short)
    );
}

/// Issue 35: a monitoring engine reads `check`'s standard output and exit code: a mistyped
/// check command line is UNKNOWN (3) on standard output, not a usage error (2: CRITICAL to
/// the engine); `--count` goes with `--once`. Other commands keep their usage errors.
#[test]
fn a_mistyped_check_is_unknown_not_critical() {
    let o = envmon(&["--socket", "/nonexistent", "check", "--bogus"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("ENVMON UNKNOWN - unexpected argument '--bogus'"),
        "{}",
        stdout(&o)
    );
    let o = envmon(&["check", "--count", "2"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).contains("--once"), "{}", stdout(&o));
    let o = envmon(&["--socket", "/nonexistent/envmon.sock", "check"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).contains("no such socket"), "{}", stdout(&o));
    assert_eq!(envmon(&["show", "--bogus"]).status.code(), Some(2));
}

/// Issue 35: `--config FILE show environment` does not stop on a bad value of a key only the
/// daemon uses (it goes on to the socket: 69); `run` with the same file refuses it (78).
#[test]
fn one_shot_commands_pass_over_the_daemons_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "envmon.toml",
        &format!(
            "sel = \"sometimes\"\nsocket = \"{}\"\n",
            dir.path().join("none.sock").display()
        ),
    );
    let o = envmon(&["--config", &cfg, "show", "environment"]);
    assert_eq!(o.status.code(), Some(69), "{}", stderr(&o));
    let o = envmon(&["--config", &cfg, "run"]);
    assert_eq!(o.status.code(), Some(78), "{}", stderr(&o));
    assert!(stderr(&o).contains("envmon.toml:1:"), "{}", stderr(&o));
}

/// Issue 35: each command's help lists the settings it uses (`show`: its socket; the daemon
/// all of them, grouped), fits a screen, and names the environment variables; a flag still
/// parses wherever it is given.
#[test]
fn each_help_lists_what_its_command_uses() {
    let show = stdout(&envmon(&["show", "--help"]));
    assert!(show.lines().count() <= 24, "{show}");
    assert!(
        show.contains("--socket") && show.contains("--format"),
        "{show}"
    );
    assert!(
        !show.contains("--shutdown-action") && !show.contains("--agentx"),
        "{show}"
    );
    assert!(show.contains("ENVMON_LOG"), "{show}");
    let explain = stdout(&envmon(&["board", "explain", "--help"]));
    assert!(
        explain.contains("--ipmi") && !explain.contains("--syslog "),
        "{explain}"
    );
    let run = stdout(&envmon(&["run", "--help"]));
    for part in [
        "Source:",
        "Board:",
        "Syslog:",
        "Outputs:",
        "Protection:",
        "--shutdown-action",
    ] {
        assert!(run.contains(part), "{part}: {run}");
    }
    let message = stdout(&envmon(&["message", "--help"]));
    assert!(
        message.contains("--syslog") && !message.contains("--ipmi "),
        "{message}"
    );
    // `envmon help show` is `envmon show --help`; `-v` is the version.
    assert_eq!(stdout(&envmon(&["help", "show"])), show);
    assert!(stdout(&envmon(&["-v"])).starts_with("envmon "));
    // Hidden from a help is not refused: the same flag parses after `show`.
    let o = envmon(&[
        "show",
        "--shutdown-action",
        "none",
        "--socket",
        "/nonexistent",
        "env",
    ]);
    assert_eq!(o.status.code(), Some(69), "{}", stderr(&o));
}
