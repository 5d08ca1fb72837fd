//! Issue 21: envmon runs as root; a local user (uid 65534, through setpriv) who can write in
//! one of the directories it uses, or who controls what a BMC names its sensors, tries to
//! turn it against the box. Every test here failed on the code before issue 21: writes
//! went through fixed temp names with `File::create` (following a planted link), a regular
//! file at the socket path was deleted, the URI parser echoed the password, a label cut
//! inside a character panicked the agent, and an SDR name could carry `%FTD-1-735006`.

use envmon_agent::model::Environment;
use envmon_tests::{
    Agent, BMC_PASSWORD, Bmc, EmuBmc, envmon_bin, require_root, script,
    snmp::{Snmpd, Snmptrapd},
    wait_for,
};
use std::{
    fs,
    os::unix::fs::{MetadataExt, PermissionsExt, symlink},
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

const WAIT: Duration = Duration::from_secs(30);
/// The local user (nobody) and its group (nogroup).
const USER: &str = "65534";

/// What the target of every planted link holds; it must never change.
const PRECIOUS: &str = "root's own data, not to be overwritten\n";

/// Root's test scene: a temp dir the local user can traverse and the precious file in it.
fn scene() -> (tempfile::TempDir, PathBuf) {
    require_root("setting another user");
    let dir = open_tempdir();
    let target = precious(dir.path());
    (dir, target)
}

/// A temp dir the local user can traverse (tempfile's is 0700 root's).
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// `envmon run --board BOARD` on the BMC at `uri` (100 ms sweeps), everything in `dir`.
fn run_on(uri: &str, board: &str, dir: &Path, extra: &[&str]) -> Agent {
    envmon_tests::rmcp_agent(uri, board, dir, 100, extra)
}

/// Makes directory `path` (root's) with `mode`.
fn dir_with_mode(path: &Path, mode: u32) {
    fs::create_dir(path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs `args` as the local user; it must succeed.
fn as_user(args: &[&str]) {
    let o = Command::new("setpriv")
        .args([
            &format!("--reuid={USER}"),
            &format!("--regid={USER}"),
            "--clear-groups",
            "--",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{args:?} as {USER}: {o:?}");
}

/// A directory of root's that the local user's group may write into (what
/// docs/prometheus.md allows for node_exporter's textfile directory).
fn group_writable_dir(path: &Path) {
    fs::create_dir_all(path).unwrap();
    std::os::unix::fs::chown(path, Some(0), Some(65534)).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o775)).unwrap();
}

/// A root-owned file only root can read, the target of the planted links.
fn precious(dir: &Path) -> PathBuf {
    let p = dir.join("precious");
    fs::write(&p, PRECIOUS).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn unchanged(target: &Path) {
    assert_eq!(fs::read_to_string(target).unwrap(), PRECIOUS);
    let m = fs::metadata(target).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o7777), (0, 0o600));
}

fn is_link(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The local user plants links at every name envmon ever wrote through (its old fixed temp
/// names), at the metrics file itself and at a `file://` syslog destination in directories
/// its group may write; root's own state dir holds links at the old temp names too (left
/// from an older version or an earlier compromise). envmon sweeps, writes the SDR cache, the
/// SEL cursor, the metrics, a syslog file and a thermal-shutdown record: no target changes.
#[test]
fn planted_links_at_every_temp_and_append_path_leave_their_target_unchanged() {
    let (dir, target) = scene();
    let d = dir.path();
    let t = target.to_str().unwrap();
    let (textfile, logs, state) = (d.join("textfile"), d.join("logs"), d.join("state"));
    group_writable_dir(&textfile);
    group_writable_dir(&logs);
    let metrics = textfile.join("envmon.prom");
    let attacked_log = logs.join("attacked.log");
    for p in [
        textfile.join("envmon.tmp"),
        textfile.join("envmon.prom.tmp"),
        metrics.clone(),
        attacked_log.clone(),
        logs.join("attacked.log.tmp"),
    ] {
        as_user(&["ln", "-s", t, p.to_str().unwrap()]);
    }
    dir_with_mode(&state, 0o750);
    let old_temp_names = [
        "last-shutdown.tmp",
        "last-shutdown.json.tmp",
        "sel-cursor.tmp",
        "sel-cursor.v1.tmp",
        "sdr-cache.v1.tmp",
        "envmon.tmp",
    ];
    for n in old_temp_names {
        symlink(&target, state.join(n)).unwrap();
    }
    let bmc = Bmc::start(&d.join("bmc"));
    let out = d.join("syslog.log");
    let ran = d.join("ran");
    let program = d.join("shutdown-program");
    script(&program, &format!("touch {}\n", ran.display()));
    let (metrics_s, attacked, action) = (
        metrics.to_str().unwrap().to_string(),
        format!("file://{}", attacked_log.display()),
        format!("exec:{}", program.display()),
    );
    let a = bmc.agent(
        d,
        &format!("file://{}", out.display()),
        &[
            "--metrics-file",
            &metrics_s,
            "--syslog",
            &attacked,
            "--shutdown-action",
            &action,
        ],
    );
    a.wait_sweeps(3);
    // A thermal trip: the shutdown record is written before the program runs.
    bmc.set(1, 105);
    let tripped = wait_for(WAIT, || ran.exists().then_some(()));
    assert!(tripped.is_some(), "{}", a.stderr());
    let written = wait_for(WAIT, || {
        ["sdr-cache.v1", "sel-cursor.v1", "last-shutdown.json"]
            .iter()
            .all(|f| state.join(f).is_file())
            .then_some(())
    });
    assert!(written.is_some(), "{:?}", fs::read_dir(&state).unwrap());
    unchanged(&target);
    // The metrics file replaced the link (a rename replaces a link, never writes through).
    assert!(!is_link(&metrics) && fs::read_to_string(&metrics).unwrap().contains("envmon_"));
    // The planted temp names are still the user's links: nothing opened them.
    for n in old_temp_names {
        assert!(is_link(&state.join(n)), "{n}");
    }
    assert!(is_link(&textfile.join("envmon.tmp")));
    // The syslog file behind a link is refused and said, the others still get every line.
    assert!(is_link(&attacked_log));
    let err = a.stderr();
    assert!(err.contains("attacked.log"), "{err}");
    assert!(fs::read_to_string(&out).unwrap().contains("-735"));
    // No temp file is left in the shared directories once the agent is gone (while it runs,
    // each write has its temp file for a moment, between create and rename). Its exit waits
    // up to 5 s for the refused destination, so the code is not the point here.
    let mut a = a;
    let _ = a.stop();
    let left: Vec<_> = fs::read_dir(&textfile)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".envmon.prom."))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A state dir the local user owns or may write, and a shared dir everyone may write, are
/// refused at start with the directory named: nothing is written, no target changes.
#[test]
fn directories_a_local_user_controls_are_refused_at_start() {
    let (dir, target) = scene();
    let d = dir.path();
    let t = target.to_str().unwrap();
    // The user's own state dir, links planted in it.
    let theirs = d.join("theirs");
    fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    for n in [
        "sdr-cache.v1",
        "sel-cursor.v1",
        "last-shutdown.json",
        "sel-archive.log",
    ] {
        as_user(&["ln", "-s", t, theirs.join(n).to_str().unwrap()]);
    }
    // Root's, but its group (the user's) may write.
    let shared_state = d.join("shared-state");
    group_writable_dir(&shared_state);
    // A metrics dir anyone may write, not sticky.
    let open = d.join("open");
    dir_with_mode(&open, 0o777);
    let good_state = d.join("state");
    for (state, metrics, named, why) in [
        (&theirs, None, &theirs, "owned by uid 65534"),
        (&shared_state, None, &shared_state, "writable by"),
        (
            &good_state,
            Some(open.join("envmon.prom")),
            &open,
            "writable by",
        ),
    ] {
        let mut args = vec![
            "run".to_string(),
            "--ipmi".into(),
            "none".into(),
            "--board".into(),
            "fw-1cpu".into(),
            "--state-dir".into(),
            state.display().to_string(),
            "--socket".into(),
            d.join("envmon.sock").display().to_string(),
            "--syslog".into(),
            "stderr".into(),
        ];
        if let Some(m) = &metrics {
            args.extend(["--metrics-file".into(), m.display().to_string()]);
        }
        let o = Command::new(envmon_bin()).args(&args).output().unwrap();
        let text = output_text(&o);
        assert_eq!(o.status.code(), Some(69), "{args:?}: {text}");
        assert!(
            text.contains(&named.display().to_string()) && text.contains(why),
            "{args:?}: {text}"
        );
    }
    unchanged(&target);
    assert!(!good_state.exists(), "a refused start made the state dir");
    assert!(fs::read_dir(&open).unwrap().next().is_none());
}

/// In a sticky directory everyone may write (/tmp-like), the local user puts a regular file,
/// then a link, at envmon's socket path: both survive, envmon exits 69 saying what is there.
/// In a directory everyone may write and not sticky, envmon refuses to make its socket.
#[test]
fn what_a_local_user_puts_at_the_socket_path_survives() {
    let (dir, target) = scene();
    let d = dir.path();
    let run = d.join("run");
    dir_with_mode(&run, 0o1777);
    let sock = run.join("envmon.sock");
    let start = |socket: &Path| -> Output {
        Command::new(envmon_bin())
            .args([
                "run", "--ipmi", "none", "--board", "fw-1cpu", "--syslog", "stderr",
            ])
            .arg("--state-dir")
            .arg(d.join("state"))
            .arg("--socket")
            .arg(socket)
            .output()
            .unwrap()
    };
    as_user(&["sh", "-c", &format!("echo mine > {}", sock.display())]);
    let o = start(&sock);
    assert_eq!(o.status.code(), Some(69), "{}", output_text(&o));
    assert!(
        output_text(&o).contains("not a socket"),
        "{}",
        output_text(&o)
    );
    assert_eq!(fs::read_to_string(&sock).unwrap(), "mine\n");
    assert_eq!(fs::metadata(&sock).unwrap().uid(), 65534);

    as_user(&["rm", sock.to_str().unwrap()]);
    as_user(&["ln", "-s", target.to_str().unwrap(), sock.to_str().unwrap()]);
    let o = start(&sock);
    assert_eq!(o.status.code(), Some(69), "{}", output_text(&o));
    assert!(is_link(&sock));
    unchanged(&target);

    let open = d.join("open");
    dir_with_mode(&open, 0o777);
    let o = start(&open.join("envmon.sock"));
    assert_eq!(o.status.code(), Some(69), "{}", output_text(&o));
    assert!(
        output_text(&o).contains("not sticky"),
        "{}",
        output_text(&o)
    );
    assert!(fs::read_dir(&open).unwrap().next().is_none());
}

/// Every way a start can fail with the BMC password in hand says why without the password:
/// in argv (refused), a password file the local user owns or anyone may read (refused), a
/// wrong password, a BMC that does not answer. stdout, stderr and the syslog file are
/// searched.
#[test]
fn no_password_in_any_output_of_a_failing_start() {
    require_root("setting another user");
    let dir = open_tempdir();
    let d = dir.path();
    let bmc = Bmc::start(&d.join("bmc"));
    let out = d.join("syslog.log");
    let syslog = format!("file://{}", out.display());
    let pwfile = |name: &str, text: &str, uid: u32, mode: u32| -> String {
        let p = d.join(name);
        fs::write(&p, text).unwrap();
        std::os::unix::fs::chown(&p, Some(uid), None).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p.display().to_string()
    };
    let theirs = pwfile("theirs.pw", BMC_PASSWORD, 65534, 0o600);
    let open = pwfile("open.pw", BMC_PASSWORD, 0, 0o644);
    let wrong = pwfile("wrong.pw", "Wr0ngPassw0rd", 0, 0o600);
    let good = pwfile("good.pw", BMC_PASSWORD, 0, 0o600);
    let in_uri = format!("rmcp://admin:{BMC_PASSWORD}@127.0.0.1:{}", bmc.port);
    let dead = format!("rmcp://admin@127.0.0.1:{}", envmon_tests::free_port());
    let cases: [(&str, Vec<String>, &str); 5] = [
        (
            "in argv",
            vec!["--ipmi".into(), in_uri],
            "must not carry a password",
        ),
        (
            "the user's file",
            vec![
                "--ipmi".into(),
                bmc.uri(),
                "--ipmi-password-file".into(),
                theirs,
            ],
            "owned by uid 65534",
        ),
        (
            "a readable file",
            vec![
                "--ipmi".into(),
                bmc.uri(),
                "--ipmi-password-file".into(),
                open,
            ],
            "others may read",
        ),
        (
            "a wrong password",
            vec![
                "--ipmi".into(),
                bmc.uri(),
                "--ipmi-password-file".into(),
                wrong,
            ],
            "",
        ),
        (
            "no BMC",
            vec!["--ipmi".into(), dead, "--ipmi-password-file".into(), good],
            "",
        ),
    ];
    for (what, flags, why) in cases {
        let _ = fs::remove_file(&out);
        let mut args: Vec<String> = [
            "run",
            "--board",
            "sim-appliance",
            "--interval-ms",
            "100",
            "--syslog",
            &syslog,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(["--state-dir".into(), d.join("state").display().to_string()]);
        args.extend([
            "--socket".into(),
            d.join("envmon.sock").display().to_string(),
        ]);
        args.extend(flags);
        let text = if why.is_empty() {
            // It keeps trying: a few seconds of it, then its whole output.
            let log = d.join(format!("{}.log", what.replace(' ', "-")));
            let refs: Vec<&str> = args[1..].iter().map(String::as_str).collect();
            let mut a = Agent::start(&refs, &[("ENVMON_LOG", "debug")], &log);
            let failed = wait_for(WAIT, || {
                let e = a.stderr();
                (e.contains("735009") || e.contains("RMCP+") || e.contains("session")).then_some(())
            });
            std::thread::sleep(Duration::from_secs(3));
            a.stop();
            assert!(failed.is_some(), "{what}: {}", a.stderr());
            a.stderr() + &fs::read_to_string(&out).unwrap_or_default()
        } else {
            let o = Command::new(envmon_bin()).args(&args).output().unwrap();
            assert!(!o.status.success(), "{what}");
            output_text(&o)
        };
        assert!(!text.contains(BMC_PASSWORD), "{what}: {text}");
        assert!(!text.contains("Wr0ngPassw0rd"), "{what}: {text}");
        assert!(text.contains(why), "{what}: {text}");
    }
}

/// A board whose labels are multi-byte characters, served over SNMP: the descriptions are
/// cut at a character boundary, the agent keeps sweeping (a cut inside a character
/// panicked it, and it is built with panic=abort).
#[test]
fn a_multi_byte_label_board_is_served_over_snmp() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let board =
        fs::read_to_string(envmon_tests::repo_root().join("board-defs/boards/sim-appliance.toml"))
            .unwrap()
            .replacen(
                "name = \"sim-appliance\"",
                "name = \"sim-appliance-utf8\"",
                1,
            )
            .replace("label = \"0\"", "label = \"温度传感器温度传感器\"");
    let file = d.join("board.toml");
    fs::write(&file, board).unwrap();
    let trapd = Snmptrapd::start(&d.join("trapd"));
    let snmpd = Snmpd::start(&d.join("snmpd"), trapd.port, false);
    let bmc = Bmc::start(&d.join("bmc"));
    let master = snmpd.master();
    let a = run_on(
        &bmc.uri(),
        file.to_str().unwrap(),
        d,
        &["--agentx", &master],
    );
    let descr = wait_for(WAIT, || {
        let w = snmpd.walk("1.3.6.1.2.1.47.1.1.1.1.2");
        (w.len() >= 14).then_some(w)
    })
    .unwrap_or_else(|| panic!("not served: {}\n{}", a.stderr(), snmpd.log()));
    // net-snmp prints the UTF-8 descriptions as hex, over several lines.
    let mut texts: Vec<Vec<u8>> = Vec::new();
    for l in &descr {
        let hex = match l.split_once(" = Hex-STRING: ") {
            Some((_, h)) => {
                texts.push(Vec::new());
                h
            }
            None if l.starts_with('.') => continue,
            None => l,
        };
        if let Some(t) = texts.last_mut() {
            t.extend(
                hex.split_whitespace()
                    .filter_map(|b| u8::from_str_radix(b, 16).ok()),
            );
        }
    }
    assert_eq!(texts.len(), 3, "the three items labelled so: {descr:?}");
    for t in texts {
        let text = String::from_utf8(t).expect("cut at a character boundary");
        assert!(text.len() <= 32 && text.contains("温度"), "{text}");
    }
    let before = a.sweeps().unwrap_or(0);
    a.wait_sweeps(before + 3);
    let env: Environment = envmon_agent::ask(&a.socket(), "show environment").unwrap();
    assert!(!env.sensors.is_empty());
}

/// A BMC whose SDR name forges a catalog line (`F\n<11>%FTD-1-735`, 16 bytes): with that fan failing
/// and a SEL entry naming it, no output holds a `%FTD-` envmon did not make: each syslog
/// line has exactly one, at its message, and `show environment` (table and JSON) and the
/// metrics file have none.
#[test]
fn a_forged_sdr_name_forges_no_catalog_line() {
    use envmon_sensors::ipmi::fake::{FakeBmc, threshold_record};
    const FORGED: u8 = 3;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fake = FakeBmc::default();
    {
        let mut s = fake.state();
        s.records.push(threshold_record(
            1,
            1,
            "CPU0 Temp",
            0x01,
            (0x03, 1),
            1,
            [None, Some(95), Some(85), None, None, None],
        ));
        s.records
            .push(envmon_sensors::ipmi::fake::forged_fan_record(2, FORGED));
    }
    fake.set(1, 40);
    fake.set(FORGED, 100);
    let bmc = EmuBmc::start_with(&d.join("bmc"), &fake, true);
    let out = d.join("syslog.log");
    let metrics = d.join("envmon.prom");
    let a = run_on(
        &bmc.uri(),
        "auto",
        d,
        &["--metrics-file", metrics.to_str().unwrap()],
    );
    a.wait_sweeps(5);
    bmc.set(FORGED, 5); // 250 RPM: below its lower critical
    // A SEL entry naming the forged sensor (Add SEL Entry through ipmitool).
    let sel = Command::new("ipmitool")
        .args(["-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p"])
        .arg(bmc.port.to_string())
        .args(["-U", "admin", "-P", BMC_PASSWORD])
        .args([
            "raw", "0x0a", "0x44", "0", "0", "0x02", "0", "0", "0", "0", "0x20", "0", "0x04",
            "0x04",
        ])
        .arg(FORGED.to_string())
        .args(["0x01", "0x00", "0xff", "0xff"])
        .output()
        .unwrap();
    assert!(sel.status.success(), "{sel:?}");
    let seen = wait_for(WAIT, || {
        let text = fs::read_to_string(&out).unwrap_or_default();
        (text.contains("-735002: ") && text.contains("-SEL: ")).then_some(text)
    })
    .unwrap_or_else(|| panic!("{}", a.stderr()));
    for l in seen.lines() {
        assert_eq!(l.matches("%FTD-").count(), 1, "{l}");
        let at = l.find("%FTD-").unwrap();
        assert!(
            l[..at].contains("envmon"),
            "the one %FTD- is the message's own: {l}"
        );
    }
    let table = Command::new(envmon_bin())
        .args(["show", "environment", "--socket"])
        .arg(a.socket())
        .output()
        .unwrap();
    let json = Command::new(envmon_bin())
        .args(["show", "environment", "--json", "--socket"])
        .arg(a.socket())
        .output()
        .unwrap();
    let json_text = output_text(&json);
    assert!(
        json_text.contains("F??11>?FTD-1-735"),
        "the name, sanitized: {json_text}"
    );
    for (what, text) in [
        ("table", output_text(&table)),
        ("json", json_text),
        ("metrics", fs::read_to_string(&metrics).unwrap()),
        ("stderr", a.stderr()),
    ] {
        assert!(!text.contains("%FTD-"), "{what}: {text}");
    }
}
