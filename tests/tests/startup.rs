//! Issue 30: one start-up path. Every command starts through the same source opener and
//! board builder, so a flag means the same to `run`, `poll`, `board explain` and `board
//! dump`, over IPMI (ipmi_sim) as over Redfish (sushy-static serving DMTF's tower), and a
//! SIGHUP goes through the same path and checks as a start.

use envmon_tests::{Agent, BMC_PASSWORD, Bmc, envmon_bin, redfish_mockups, sushy, wait_for};
use std::{path::Path, process::Command, time::Duration};

fn envmon(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(envmon_bin());
    c.args(args).env_remove("ENVMON_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `board explain --board FILE` shows what each of the file's items binds to, and a sensor
/// name that matches nothing is an error at its `source` line (exit 78); fixed, it passes.
/// `board check` cannot see this (it has no BMC); explain is where it shows.
#[test]
fn board_explain_binds_a_files_items_and_names_the_line_of_a_misspelt_sensor() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let board = dir.path().join("board.toml");
    let write = |cpu: &str| {
        std::fs::write(
            &board,
            format!(
                "name = \"mine\"\n\n[[item]]\nid = \"fan1\"\nclass = \"fan\"\nlabel = \"1\"\n\
                 source = \"ipmi:FAN1\"\nmin-rpm = 1000\n\n[[item]]\nid = \"cpu0\"\n\
                 class = \"cpu_temp\"\nlabel = \"0\"\nsource = \"ipmi:{cpu}\"\nwarm = 75\n"
            ),
        )
        .unwrap();
    };
    write("CPU0 Tmp");
    let uri = bmc.uri();
    let explain = |json: bool| {
        let mut args = vec!["--ipmi", &uri, "--board", board.to_str().unwrap()];
        args.extend(["board", "explain"]);
        if json {
            args.push("--json");
        }
        envmon(&args, &[("ENVMON_IPMI_PASSWORD", BMC_PASSWORD)])
    };
    let o = explain(false);
    assert_eq!(o.status.code(), Some(78), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    let want = format!(
        "{}:14:10: item cpu0 (ipmi:CPU0 Tmp): no sensor named \"CPU0 Tmp\" in the BMC's SDR \
         repository",
        board.display()
    );
    assert!(err.contains(&want), "{err}");
    let out = text(&o.stdout);
    assert!(out.contains("SDR \"FAN1\", record 0x"), "{out}");
    assert!(out.contains("NOT BOUND: no sensor named"), "{out}");
    assert!(out.contains("2 items: 1 bound, 1 not"), "{out}");
    write("CPU0 Temp");
    let o = explain(true);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert!(
        rows.as_array().unwrap().iter().all(|r| r["bound"] == true),
        "{rows}"
    );
    // The built-in board of the simulated appliance binds every item to this BMC.
    let o = envmon(
        &[
            "--ipmi",
            &bmc.uri(),
            "--board",
            "sim-appliance",
            "board",
            "explain",
        ],
        &[("ENVMON_IPMI_PASSWORD", BMC_PASSWORD)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains(" 0 not\n"), "{}", text(&o.stdout));
}

/// `poll --json` and `board dump` over Redfish (they asked /dev/ipmi0 before), and the dump
/// used as a board file polls the same sensors.
#[test]
fn poll_and_board_dump_read_a_redfish_service() {
    let dir = tempfile::tempdir().unwrap();
    let (_sushy, port) = sushy(
        &redfish_mockups().join("dmtf-public-tower"),
        &dir.path().join("sushy.log"),
    );
    let uri = format!("http://127.0.0.1:{port}");
    let poll = |board: &str| {
        let o = envmon(
            &["--redfish", &uri, "--board", board, "poll", "--json"],
            &[],
        );
        assert_eq!(o.status.code(), Some(0), "{board}: {}", text(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let auto = poll("auto");
    let sensors = auto["sensors"].as_array().unwrap().len();
    assert!(sensors >= 5, "{auto}");
    assert_eq!(auto["monitoring"], "running", "{auto}");
    let o = envmon(&["--redfish", &uri, "board", "dump"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let dump = text(&o.stdout);
    assert!(
        dump.contains("from the Redfish service's sensors"),
        "{dump}"
    );
    assert!(dump.contains("source = \"redfish:/redfish/v1/"), "{dump}");
    let file = dir.path().join("dumped.toml");
    std::fs::write(&file, &dump).unwrap();
    let from_file = poll(file.to_str().unwrap());
    assert_eq!(from_file["sensors"].as_array().unwrap().len(), sensors);
    assert_eq!(from_file["monitoring"], "running", "{from_file}");
}

/// The GETs a sushy-static log shows (its requests go to the log's `.err` beside it).
fn gets(log: &Path) -> usize {
    std::fs::read_to_string(log.with_extension("err"))
        .unwrap_or_default()
        .matches("\"GET /redfish")
        .count()
}

/// SIGHUP to a new Redfish URL reads the new service (it went on reading the old one before:
/// 20 GETs to the old, 0 to the new); a reload to a state dir others may write into is
/// refused as a start refuses it, and the agent goes on.
#[test]
fn a_reload_takes_a_new_redfish_service_and_refuses_what_a_start_refuses() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let tower = redfish_mockups().join("dmtf-public-tower");
    let (log_a, log_b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let (_a, port_a) = sushy(&tower, &log_a);
    let (_b, port_b) = sushy(&tower, &log_b);
    let conf = dir.path().join("envmon.toml");
    let state = dir.path().join("state");
    let write = |port: u16, state: &Path| {
        std::fs::write(
            &conf,
            format!(
                "redfish = \"http://127.0.0.1:{port}\"\nstate-dir = \"{}\"\nsel = \"off\"\n\
                 interval-ms = 300\nsyslog = [\"file://{}\"]\nshutdown-action = \"none\"\n",
                state.display(),
                dir.path().join("syslog.log").display()
            ),
        )
        .unwrap();
    };
    write(port_a, &state);
    let a = Agent::start(
        &["--config", conf.to_str().unwrap()],
        &[("ENVMON_LOG", "info")],
        &dir.path().join("envmon.log"),
    );
    a.wait_sweeps(3);
    assert!(gets(&log_a) > 0, "{}", a.stderr());
    let before_b = gets(&log_b);
    write(port_b, &state);
    let hup = || {
        assert!(
            Command::new("kill")
                .args(["-HUP", &a.pid().to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    hup();
    let moved = wait_for(Duration::from_secs(20), || {
        (gets(&log_b) > before_b + 3).then_some(())
    });
    assert!(
        moved.is_some(),
        "the new service is not read: {}",
        a.stderr()
    );
    let settled = gets(&log_a);
    a.wait_sweeps(a.sweeps().unwrap_or(0) + 3);
    assert_eq!(gets(&log_a), settled, "the old service is no longer read");
    // A state dir others may write into: refused, the running configuration kept.
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    write(port_b, &open);
    hup();
    let kept = wait_for(Duration::from_secs(20), || {
        a.stderr()
            .contains("SIGHUP: keeping the running configuration")
            .then_some(())
    });
    assert!(kept.is_some(), "{}", a.stderr());
    assert!(
        a.stderr().contains(&open.display().to_string()),
        "{}",
        a.stderr()
    );
    // It goes on: the service is read by the sweeps after the refused reload.
    let (n, read) = (a.sweeps().unwrap_or(0), gets(&log_b));
    a.wait_sweeps(n + 2);
    assert!(gets(&log_b) > read, "still reading the service");
}
