//! The agent under test: the binary, `envmon run` on the simulated BMC or a fake sysfs
//! tree, and a running agent asked over its socket.

use super::*;

/// The `envmon` binary of this build (target/<profile>/envmon, beside the test's deps dir).
/// `cargo test --workspace` builds it (the agent's own tests need it).
pub fn envmon_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // A test runs from target/PROFILE/deps, a binary of this crate from target/PROFILE.
    let dir = exe.parent().unwrap();
    let profile_dir = if dir.ends_with("deps") {
        dir.parent().unwrap()
    } else {
        dir
    };
    let bin = profile_dir.join("envmon");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p envmon-agent, or cargo test --workspace)",
        bin.display()
    );
    bin
}

/// Writes an executable shell script (a shutdown program) at `path`.
pub fn script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// A wrapper that starts the agent without CAP_SYS_BOOT (setpriv drops it from the bounding
/// set): its reboot(2) fails, so a test of a thermal action never powers this machine off,
/// whatever the code does.
pub const NO_SYS_BOOT: [&str; 6] = [
    "setpriv",
    "--bounding-set",
    "-sys_boot",
    "--inh-caps",
    "-sys_boot",
    "--",
];

/// A `poweroff` stand-in under `dir/bin` that records in `dir/local-poweroff-ran` that it
/// ran; returns the PATH with it first. With [`NO_SYS_BOOT`], the agent's local power-off
/// falls back to it: the file says whether this machine's power-off was asked for.
pub fn poweroff_stand_in(dir: &Path) -> String {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let ran = dir.join("local-poweroff-ran");
    script(
        &bin.join("poweroff"),
        &format!("echo ran >> '{}'\n", ran.display()),
    );
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// `envmon run` (`bin`, through `wrapper`) on the BMC at `uri` (the simulator, or a proxy in
/// front of it) with the board `sim-appliance`, 100 ms sweeps, its state under `dir/state`,
/// syslog to `syslog`, then `extra` flags, the simulator's password and `env`; stderr in
/// `dir/envmon.log`.
pub fn sim_agent(
    wrapper: &[&str],
    bin: &Path,
    uri: &str,
    dir: &Path,
    syslog: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Agent {
    let state = dir.join("state");
    let mut args = vec![
        "--ipmi",
        uri,
        "--board",
        "sim-appliance",
        "--interval-ms",
        "100",
        "--state-dir",
        state.to_str().unwrap_or_default(),
        "--syslog",
        syslog,
    ];
    args.extend_from_slice(extra);
    let mut vars = vec![
        ("ENVMON_IPMI_PASSWORD", BMC_PASSWORD),
        ("ENVMON_LOG", "info"),
    ];
    vars.extend_from_slice(env);
    Agent::start_as(wrapper, bin, &args, &vars, &dir.join("envmon.log"))
}

/// `envmon SOURCE URI run --board BOARD` every `interval_ms`, its state in `dir/state`, syslog
/// into `dir/syslog.log`, then `extra` flags, with `env`; stderr in `dir/LOG`.
#[allow(clippy::too_many_arguments)]
fn source_agent(
    source: &str,
    uri: &str,
    board: &str,
    dir: &Path,
    interval_ms: u32,
    log: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Agent {
    let state = dir.join("state");
    let syslog = format!("file://{}", dir.join("syslog.log").display());
    let interval = interval_ms.to_string();
    let mut args = vec![
        source,
        uri,
        "--board",
        board,
        "--interval-ms",
        &interval,
        "--state-dir",
        state.to_str().unwrap_or_default(),
        "--syslog",
        &syslog,
    ];
    args.extend_from_slice(extra);
    Agent::start(&args, env, &dir.join(log))
}

/// `envmon run --board BOARD` on the BMC at `uri` (RMCP+, the simulator's password) every
/// `interval_ms`, its state in `dir/state`, syslog into `dir/syslog.log`, then `extra`
/// flags; stderr in `dir/envmon.log`.
pub fn rmcp_agent(uri: &str, board: &str, dir: &Path, interval_ms: u32, extra: &[&str]) -> Agent {
    let env = [
        ("ENVMON_IPMI_PASSWORD", BMC_PASSWORD),
        ("ENVMON_LOG", "info"),
    ];
    source_agent(
        "--ipmi",
        uri,
        board,
        dir,
        interval_ms,
        "envmon.log",
        extra,
        &env,
    )
}

/// `envmon --redfish URI run --board BOARD` every `interval_ms`, its state in `dir/state`,
/// syslog into `dir/syslog.log`, then `extra` flags; stderr in `dir/LOG`.
pub fn redfish_agent(
    uri: &str,
    board: &str,
    dir: &Path,
    interval_ms: u32,
    log: &str,
    extra: &[&str],
) -> Agent {
    let env = [("ENVMON_LOG", "info")];
    source_agent("--redfish", uri, board, dir, interval_ms, log, extra, &env)
}

/// `envmon run` with no BMC on the board file `board`, reading sysfs under `root`, sweeping
/// every `interval_ms`, its state under `dir/state`, syslog to `syslog`, then `extra` flags;
/// stderr in `dir/envmon.log`.
pub fn sysfs_agent(
    dir: &Path,
    root: &Path,
    board: &Path,
    interval_ms: u32,
    syslog: &str,
    extra: &[&str],
) -> Agent {
    let state = dir.join("state");
    let interval = interval_ms.to_string();
    let mut args = vec![
        "--ipmi",
        "none",
        "--sysfs-root",
        root.to_str().unwrap_or_default(),
        "--board",
        board.to_str().unwrap_or_default(),
        "--interval-ms",
        &interval,
        "--state-dir",
        state.to_str().unwrap_or_default(),
        "--syslog",
        syslog,
    ];
    args.extend_from_slice(extra);
    Agent::start(&args, &[("ENVMON_LOG", "info")], &dir.join("envmon.log"))
}

/// A running `envmon run`, stopped with SIGTERM when dropped.
pub struct Agent {
    child: Option<Child>,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl Agent {
    /// Starts `envmon run ARGS...` with `env` added to its environment.
    pub fn start(args: &[&str], env: &[(&str, &str)], log: &Path) -> Agent {
        Agent::start_as(&[], &envmon_bin(), args, env, log)
    }

    /// Starts `WRAPPER... BIN run ARGS...` (a wrapper such as setpriv that execs BIN, so
    /// the process ID is the agent's) with `env` added to its environment.
    pub fn start_as(
        wrapper: &[&str],
        bin: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        log: &Path,
    ) -> Agent {
        let err = fs::File::create(log).unwrap();
        let mut cmd = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.arg("run");
        if !args.contains(&"--socket") {
            cmd.arg("--socket").arg(log.with_extension("sock"));
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Agent {
            child: Some(cmd.spawn().unwrap()),
            log: log.to_path_buf(),
        }
    }

    /// Sends SIGTERM and waits (5 s, then SIGKILL); returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        match wait_for(Duration::from_secs(5), || c.try_wait().ok().flatten()) {
            Some(status) => status.code(),
            None => {
                let _ = c.kill();
                let _ = c.wait();
                None
            }
        }
    }

    /// Its exit code once it has ended by itself (`None` while it runs).
    pub fn exit_code(&mut self) -> Option<i32> {
        let status = self.child.as_mut()?.try_wait().ok().flatten()?;
        self.child = None;
        Some(status.code().unwrap_or(-1))
    }

    /// Its query socket (when the test did not pass `--socket` itself).
    pub fn socket(&self) -> PathBuf {
        self.log.with_extension("sock")
    }

    /// Its process ID (0 once stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `show metrics` (empty if it does not answer).
    pub fn metrics(&self) -> String {
        Command::new(envmon_bin())
            .args(["show", "metrics", "--socket"])
            .arg(self.socket())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// The value of the unlabelled sample `name` in `show metrics`.
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    /// Sweeps done so far (`envmon_sweeps_total` from `show metrics`), if it answers.
    pub fn sweeps(&self) -> Option<u64> {
        sweeps_in(&self.metrics())
    }

    /// Waits until the agent has done `n` more sweeps (30 s at most): the way to say
    /// "nothing more happened" over several debounce periods without guessing at time.
    pub fn wait_sweeps(&self, n: u64) {
        let start = wait_for(Duration::from_secs(30), || self.sweeps())
            .unwrap_or_else(|| panic!("no metrics from the agent: {}", self.stderr()));
        let done = wait_for(Duration::from_secs(30), || {
            (self.sweeps()? >= start + n).then_some(())
        });
        assert!(done.is_some(), "fewer than {n} sweeps in 30 s");
    }
}

/// `envmon_sweeps_total` in an OpenMetrics text.
pub fn sweeps_in(metrics: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("envmon_sweeps_total "))
        .and_then(|v| v.trim().parse().ok())
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
    }
}
