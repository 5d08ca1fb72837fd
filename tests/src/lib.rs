//! Helpers for envmon's end-to-end tests: real receivers started on loopback, each bounded in
//! time and stopped when dropped.
//!
//! A missing tool is a failure with the install hint, never a skipped test: `.ci/run` installs
//! everything these helpers need.

pub mod fleet;
pub mod snmp;
pub mod soak;

use std::{
    fs,
    io::Read,
    net::{TcpListener, TcpStream, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// Polls `f` every 20 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `cmd` with no stdin and stdout and stderr into `log`.
pub(crate) fn spawn_logged(mut cmd: Command, log: &Path) -> Child {
    let f = fs::File::create(log).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap()
}

/// A loopback port free for TCP and UDP both, and never handed out twice by one test
/// process. Ports come from below the kernel's ephemeral range (32768 and up), so no other
/// socket of the tests (each connect takes an ephemeral port) can take one between this call
/// and the moment the test's server binds it; each test process takes its own slice of the
/// range (by PID), and a counter keeps the tests of one process apart.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const BASE: u16 = 20_000;
    const SLICE: u16 = 64;
    const SLICES: u16 = (32_768 - BASE) / SLICE;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let slice = (std::process::id() % u32::from(SLICES)) as u16;
    for _ in 0..SLICE {
        let n = NEXT.fetch_add(1, Ordering::Relaxed) % SLICE;
        let port = BASE + slice * SLICE + n;
        let tcp = TcpListener::bind(("127.0.0.1", port));
        let udp = UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            return port;
        }
    }
    panic!("no port free for both TCP and UDP in this test process's slice");
}

/// One line rsyslog wrote, split into the properties the tests check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `local4`, ...
    pub facility: String,
    /// `alert`, `crit`, ...
    pub severity: String,
    /// HOSTNAME as rsyslog parsed it.
    pub hostname: String,
    /// APP-NAME / TAG without the PID.
    pub app: String,
    /// PROCID.
    pub procid: String,
    /// MSGID (`-` for RFC 3164).
    pub msgid: String,
    /// STRUCTURED-DATA as rsyslog parsed it (`-` for none).
    pub sd: String,
    /// The message text, leading space removed.
    pub msg: String,
}

/// A private rsyslogd in the foreground: UDP and TCP inputs on 127.0.0.1, optionally a unix
/// datagram socket, everything written to one file with a template that keeps the fields
/// apart.
pub struct Rsyslog {
    child: Option<Child>,
    dir: PathBuf,
    /// UDP input port.
    pub udp_port: u16,
    /// TCP input port (octet counting and LF framing both accepted).
    pub tcp_port: u16,
    /// The unix socket path, when asked for.
    pub unix_socket: Option<PathBuf>,
}

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";
const SEP: &str = "\u{1f}";

impl Rsyslog {
    /// Starts rsyslogd with its files under `dir`, and waits until its inputs are ready.
    pub fn start(dir: &Path, with_unix_socket: bool) -> Rsyslog {
        assert!(
            Path::new(RSYSLOGD).exists(),
            "{RSYSLOGD} is missing: apt-get install rsyslog (.ci/run does)"
        );
        let mut r = Rsyslog {
            child: None,
            dir: dir.to_path_buf(),
            udp_port: free_port(),
            tcp_port: free_port(),
            unix_socket: with_unix_socket.then(|| dir.join("log.sock")),
        };
        r.launch();
        r
    }

    fn output(&self) -> PathBuf {
        self.dir.join("received.log")
    }

    fn launch(&mut self) {
        let work = self.dir.join("work");
        fs::create_dir_all(&work).unwrap();
        let unix = match &self.unix_socket {
            Some(p) => format!(
                "module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
                 input(type=\"imuxsock\" Socket=\"{}\" RateLimit.Interval=\"0\")\n",
                p.display()
            ),
            None => String::new(),
        };
        let conf = format!(
            "global(workDirectory=\"{work}\")\n\
             module(load=\"imudp\")\n\
             module(load=\"imtcp\")\n\
             input(type=\"imudp\" address=\"127.0.0.1\" port=\"{udp}\")\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{tcp}\")\n\
             {unix}\
             template(name=\"fields\" type=\"string\" string=\"%syslogfacility-text%{SEP}%syslogseverity-text%{SEP}%hostname%{SEP}%app-name%{SEP}%procid%{SEP}%msgid%{SEP}%structured-data%{SEP}%msg%\\n\")\n\
             *.* action(type=\"omfile\" file=\"{out}\" template=\"fields\")\n",
            work = work.display(),
            udp = self.udp_port,
            tcp = self.tcp_port,
            out = self.output().display(),
        );
        let conf_path = self.dir.join("rsyslog.conf");
        fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(RSYSLOGD);
        cmd.arg("-n")
            .arg("-f")
            .arg(&conf_path)
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"));
        self.child = Some(spawn_logged(cmd, &self.dir.join("rsyslogd.stderr")));
        let ready = wait_for(Duration::from_secs(15), || {
            let tcp = TcpStream::connect(("127.0.0.1", self.tcp_port)).is_ok();
            let udp = udp_port_bound(self.udp_port);
            let unix = self.unix_socket.as_ref().is_none_or(|p| p.exists());
            (tcp && udp && unix).then_some(())
        });
        if ready.is_none() {
            let mut err = String::new();
            let _ = fs::File::open(self.dir.join("rsyslogd.stderr"))
                .map(|mut f| f.read_to_string(&mut err));
            panic!("rsyslogd did not open its inputs within 15 s: {err}");
        }
    }

    /// Stops rsyslogd (SIGTERM, then SIGKILL after 5 s) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").arg("-TERM").arg(&pid).status();
            let exited = wait_for(Duration::from_secs(5), || child.try_wait().ok().flatten());
            if exited.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            if let Some(p) = &self.unix_socket {
                let _ = fs::remove_file(p);
            }
        }
    }

    /// Starts rsyslogd again on the same ports and socket.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Every line from envmon written so far.
    pub fn received(&self) -> Vec<Received> {
        let text = fs::read_to_string(self.output()).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.splitn(8, SEP).collect();
                (f.len() == 8 && f[3] == "envmon").then(|| Received {
                    facility: f[0].into(),
                    severity: f[1].into(),
                    hostname: f[2].into(),
                    app: f[3].into(),
                    procid: f[4].into(),
                    msgid: f[5].into(),
                    sd: f[6].into(),
                    msg: f[7].trim_start().into(),
                })
            })
            .collect()
    }

    /// Waits up to `timeout` until at least `n` envmon lines have arrived; returns them all.
    pub fn wait_received(&self, n: usize, timeout: Duration) -> Vec<Received> {
        wait_for(timeout, || {
            let r = self.received();
            (r.len() >= n).then_some(r)
        })
        .unwrap_or_else(|| self.received())
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether something is bound to UDP `port` on 127.0.0.1 (from /proc/net/udp).
pub(crate) fn udp_port_bound(port: u16) -> bool {
    let want = format!("0100007F:{port:04X}");
    fs::read_to_string("/proc/net/udp")
        .map(|t| {
            t.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(want.as_str()))
        })
        .unwrap_or(false)
}

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

/// Whether the tests run as root (mounting, other users' clients: CI runs as root).
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// The repository's top directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The simulated appliance's BMC (`sim/run-bmc`): ipmi_sim on 127.0.0.1, its own port and
/// state directory. Sensor values are driven through files.
pub struct Bmc {
    child: Option<Child>,
    /// The VM serial port (QEMU's `ipmi-bmc-extern` connects there), if any.
    pub vm_port: Option<u16>,
    /// The state directory (value files under `values/`).
    pub dir: PathBuf,
    /// The RMCP+ port.
    pub port: u16,
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

/// Writes `text` at `root/rel` atomically (a temp file renamed over it), as sysfs reads
/// are atomic; makes the directories.
pub fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap_or(root)).unwrap();
    let tmp = p.with_extension("tmp");
    fs::write(&tmp, text).unwrap();
    fs::rename(tmp, p).unwrap();
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

/// The simulator's discrete sensors (PSU1 Status, PSU2 Status: sim/run-bmc's table), whose
/// value files hold state bits rather than a reading.
pub const DISCRETE_SENSORS: [u8; 2] = [9, 10];

/// The simulator's login.
pub const BMC_USER: &str = "admin";
/// The simulator's password.
pub const BMC_PASSWORD: &str = "envmon-sim";

impl Bmc {
    /// Starts the BMC under `dir` and waits until its UDP port is bound.
    pub fn start(dir: &Path) -> Bmc {
        Bmc::start_on(dir, free_port())
    }

    /// Starts the BMC on a given port.
    pub fn start_on(dir: &Path, port: u16) -> Bmc {
        assert!(
            Path::new("/usr/bin/ipmi_sim").exists(),
            "/usr/bin/ipmi_sim is missing: apt-get install openipmi (.ci/run does)"
        );
        let mut b = Bmc {
            child: None,
            vm_port: None,
            dir: dir.to_path_buf(),
            port,
        };
        b.launch();
        b
    }

    fn launch(&mut self) {
        let mut cmd = Command::new(repo_root().join("sim/run-bmc"));
        cmd.arg(&self.dir).arg(self.port.to_string());
        if let Some(vm) = self.vm_port {
            cmd.arg(vm.to_string());
        }
        self.child = Some(spawn_logged(cmd, &self.dir.with_extension("bmc.log")));
        let up = wait_for(Duration::from_secs(15), || {
            udp_port_bound(self.port).then_some(())
        });
        assert!(
            up.is_some(),
            "ipmi_sim did not bind 127.0.0.1:{} within 15 s",
            self.port
        );
    }

    /// Starts the BMC with a VM serial interface too, for a QEMU guest's KCS.
    pub fn start_for_vm(dir: &Path) -> Bmc {
        let mut b = Bmc {
            child: None,
            vm_port: Some(free_port()),
            dir: dir.to_path_buf(),
            port: free_port(),
        };
        b.launch();
        b
    }

    /// Runs `ipmitool` against this BMC over RMCP+; returns its stdout.
    pub fn ipmitool(&self, args: &[&str]) -> String {
        let o = Command::new("ipmitool")
            .args(["-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", BMC_USER, "-P", BMC_PASSWORD])
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "ipmitool {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Adds SEL entries (each the 16 record bytes; the BMC sets the ID and timestamp) with
    /// Add SEL Entry, all in one ipmitool session.
    pub fn add_sel(&self, records: &[[u8; 16]]) {
        let script = self.dir.with_extension("sel-add");
        let text: String = records
            .iter()
            .map(|r| {
                let bytes: Vec<String> = r.iter().map(|b| format!("0x{b:02x}")).collect();
                format!("raw 0x0a 0x44 {}\n", bytes.join(" "))
            })
            .collect();
        fs::write(&script, text).unwrap();
        self.ipmitool(&["exec", script.to_str().unwrap()]);
    }

    /// `envmon run` on this BMC with the board `sim-appliance`, 100 ms sweeps, its state
    /// under `dir/state`, syslog to `syslog`, then `extra` flags; stderr in `dir/envmon.log`.
    pub fn agent(&self, dir: &Path, syslog: &str, extra: &[&str]) -> Agent {
        self.agent_as(&[], &envmon_bin(), dir, syslog, extra)
    }

    /// [`Bmc::agent`] with the binary `bin` started through `wrapper` (setpriv, strace:
    /// see [`Agent::start_as`]).
    pub fn agent_as(
        &self,
        wrapper: &[&str],
        bin: &Path,
        dir: &Path,
        syslog: &str,
        extra: &[&str],
    ) -> Agent {
        sim_agent(wrapper, bin, &self.uri(), dir, syslog, extra, &[])
    }

    /// `rmcp://admin@127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        format!("rmcp://{BMC_USER}@127.0.0.1:{}", self.port)
    }

    /// Sets sensor `number`'s raw value (written atomically) and waits until the BMC answers
    /// it: ipmi_sim reads its value files every 500 ms, so a test that moves on before that
    /// would race it. Asks over RMCP+ with ipmitool (a second, independent client).
    pub fn set(&self, number: u8, raw: u32) {
        let tmp = self.dir.join(format!("values/.{number}.tmp"));
        fs::write(&tmp, format!("{raw}\n")).unwrap();
        fs::rename(&tmp, self.dir.join(format!("values/{number}"))).unwrap();
        let seen = wait_for(Duration::from_secs(15), || {
            (self.raw_reading(number)? == raw).then_some(())
        });
        assert!(
            seen.is_some(),
            "the BMC did not report sensor {number} = {raw} within 15 s"
        );
    }

    /// The raw value the BMC answers for sensor `number` (Get Sensor Reading through
    /// ipmitool), if it answers: the reading byte of a threshold sensor, the state bits
    /// (low byte) of a discrete one ([`DISCRETE_SENSORS`]).
    pub fn raw_reading(&self, number: u8) -> Option<u32> {
        let o = Command::new("ipmitool")
            .args(["-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", BMC_USER, "-P", BMC_PASSWORD, "-N", "1", "-R", "2"])
            .args(["raw", "0x04", "0x2d"])
            .arg(format!("0x{number:02x}"))
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let byte = if DISCRETE_SENSORS.contains(&number) {
            2
        } else {
            0
        };
        let field = text.split_whitespace().nth(byte)?;
        u32::from_str_radix(field, 16).ok()
    }

    /// Kills the BMC (SIGKILL: no goodbye to its sessions) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let gone = wait_for(Duration::from_secs(5), || {
            (!udp_port_bound(self.port)).then_some(())
        });
        assert!(
            gone.is_some(),
            "port {} still bound after the BMC was killed",
            self.port
        );
    }

    /// Starts it again on the same port and state.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}

impl Drop for Bmc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An ipmi_sim serving the records and readings of an in-memory BMC (a corpus server):
/// the same SDR bytes, values, live thresholds, discrete states and scanning. Killed on drop.
pub struct EmuBmc {
    child: Option<Child>,
    /// The RMCP+ port.
    pub port: u16,
    values: PathBuf,
}

impl EmuBmc {
    /// Writes the ipmi_sim configuration for `bmc` under `dir` and starts it.
    pub fn start(dir: &Path, bmc: &envmon_sensors::ipmi::fake::FakeBmc) -> EmuBmc {
        let values = dir.join("values");
        fs::create_dir_all(&values).unwrap();
        let port = free_port();
        let st = bmc.state();
        let mut emu = String::from(
            "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n",
        );
        let hex = |b: &[u8]| {
            b.iter()
                .map(|x| format!("0x{x:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        for r in &st.records {
            emu.push_str(&format!("main_sdr_add 0x20 {}\n", hex(r)));
        }
        for r in &st.records {
            // Sensor records of the BMC: full (1) and compact (2).
            if !matches!(r.get(3), Some(1 | 2)) || r.get(5) != Some(&0x20) {
                continue;
            }
            let (num, stype, rtype) = (r[7], r[12], r[13]);
            let value = st.readings.iter().find(|(n, _)| *n == num).map(|(_, v)| *v);
            let states = st.states.iter().find(|(n, _)| *n == num).map(|(_, v)| *v);
            // What reads is polled from a value file (raw byte, or state bits), so that a
            // test can change it while envmon runs.
            let polled = match value.map(u32::from).or(states.map(u32::from)) {
                Some(v) => {
                    let file = values.join(num.to_string());
                    fs::write(&file, format!("{v}\n")).unwrap();
                    format!(" poll 500 file \"{}\"", file.display())
                }
                None => String::new(),
            };
            emu.push_str(&format!(
                "sensor_add 0x20 0 0x{num:02x} 0x{stype:02x} 0x{rtype:02x}{polled}\n"
            ));
            if rtype == 1 && r[3] == 1 {
                // Thresholds: the live ones where given, else the SDR's (readable mask at
                // byte 19, values at 37..42, in the order UNR, UC, UNC, LNR, LC, LNC).
                let t: [Option<u8>; 6] = match st.live_thresholds.iter().find(|(n, _)| *n == num) {
                    Some((_, t)) => *t,
                    None => {
                        std::array::from_fn(|i| (r[18] & (1 << (5 - i)) != 0).then(|| r[36 + i]))
                    }
                };
                let mask: String = t
                    .iter()
                    .map(|v| if v.is_some() { '1' } else { '0' })
                    .collect();
                let vals: Vec<String> = t
                    .iter()
                    .map(|v| format!("0x{:02x}", v.unwrap_or(0)))
                    .collect();
                emu.push_str(&format!(
                    "sensor_set_threshold 0x20 0 0x{num:02x} readable {mask} {}\n",
                    vals.join(" ")
                ));
            }
            let scanning = if value.is_some() || states.is_some() {
                "scanning"
            } else {
                "no-scanning"
            };
            emu.push_str(&format!(
                "sensor_set_event_support 0x20 0 0x{num:02x} enable {scanning} per-state \
                 000000000000000 000000000000000 000000000000000 000000000000000\n"
            ));
        }
        emu.push_str("mc_enable 0x20\n");
        drop(st);
        fs::write(dir.join("corpus.emu"), emu).unwrap();
        fs::write(
            dir.join("lan.conf"),
            format!(
                "name \"corpus\"\nset_working_mc 0x20\n  startlan 1\n    addr 127.0.0.1 {port}\n    \
                 priv_limit admin\n    allowed_auths_admin none md2 md5 straight\n    \
                 guid a123456789abcdefa123456789abcdef\n  endlan\n  \
                 user 2 true \"{BMC_USER}\" \"{BMC_PASSWORD}\" admin 10 none md2 md5 straight\n"
            ),
        )
        .unwrap();
        let mut cmd = Command::new("ipmi_sim");
        cmd.arg("-c")
            .arg(dir.join("lan.conf"))
            .arg("-f")
            .arg(dir.join("corpus.emu"))
            .arg("-s")
            .arg(dir.join("state"))
            .arg("-n");
        let child = spawn_logged(cmd, &dir.join("ipmi_sim.log"));
        let up = wait_for(Duration::from_secs(15), || {
            udp_port_bound(port).then_some(())
        });
        assert!(up.is_some(), "ipmi_sim did not bind 127.0.0.1:{port}");
        EmuBmc {
            child: Some(child),
            port,
            values,
        }
    }

    /// Sets a sensor's raw value or state bits (ipmi_sim reads the file every 500 ms).
    pub fn set(&self, number: u8, value: u32) {
        let tmp = self.values.join(format!(".{number}.tmp"));
        fs::write(&tmp, format!("{value}\n")).unwrap();
        fs::rename(&tmp, self.values.join(number.to_string())).unwrap();
    }

    /// `rmcp://admin@127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        format!("rmcp://{BMC_USER}@127.0.0.1:{}", self.port)
    }
}

impl Drop for EmuBmc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Which way a datagram goes through a [`UdpProxy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Client to BMC.
    ToBmc,
    /// BMC to client.
    ToClient,
}

/// A UDP proxy on loopback in front of a BMC: every datagram goes through a function that
/// says what to send on instead (nothing, the datagram, or any other datagrams). Stops on
/// drop.
pub struct UdpProxy {
    /// The port clients send to.
    pub port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl UdpProxy {
    /// Forwards 127.0.0.1:`port` (chosen here) to 127.0.0.1:`target` through `f`.
    pub fn start(
        target: u16,
        mut f: impl FnMut(Way, &[u8]) -> Vec<Vec<u8>> + Send + 'static,
    ) -> UdpProxy {
        use std::sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        };
        let port = free_port();
        let front = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").unwrap();
        back.connect(("127.0.0.1", target)).unwrap();
        front
            .set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        back.set_read_timeout(Some(Duration::from_millis(5)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut client = None;
            let mut buf = [0u8; 4096];
            while !stop2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = front.recv_from(&mut buf) {
                    client = Some(from);
                    for d in f(Way::ToBmc, &buf[..n]) {
                        let _ = back.send(&d);
                    }
                }
                if let (Ok(n), Some(c)) = (back.recv(&mut buf), client) {
                    for d in f(Way::ToClient, &buf[..n]) {
                        let _ = front.send_to(&d, c);
                    }
                }
            }
        });
        UdpProxy {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A seeded xorshift64* generator: the same seed, the same run.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next 64 bits.
    pub fn bits(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in 0..1.
    pub fn unit(&mut self) -> f64 {
        (self.bits() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number below `n` (> 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.bits() % n as u64) as usize
    }
}

/// A [`UdpProxy`] that loses a fraction of the datagrams, both ways (seeded: the same run
/// loses the same datagrams).
pub struct LossyProxy {
    /// The port clients send to.
    pub port: u16,
    _proxy: UdpProxy,
    /// Datagrams dropped so far.
    pub dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl LossyProxy {
    /// Forwards 127.0.0.1:`port` (chosen here) to 127.0.0.1:`target`, dropping `loss` (0-1)
    /// of the datagrams in each direction.
    pub fn start(target: u16, loss: f64, seed: u64) -> LossyProxy {
        use std::sync::{
            Arc,
            atomic::{AtomicU64, Ordering},
        };
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&dropped);
        let mut rng = Rng::new(seed);
        let proxy = UdpProxy::start(target, move |_, d| {
            if rng.unit() < loss {
                counted.fetch_add(1, Ordering::Relaxed);
                vec![]
            } else {
                vec![d.to_vec()]
            }
        });
        LossyProxy {
            port: proxy.port,
            _proxy: proxy,
            dropped,
        }
    }
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

/// The catalog message lines (from `%`) of a file syslog destination; SEL lines (the BMC's
/// event log, forwarded) are left out: [`sel_lines`] has them.
pub fn message_lines(file: &Path) -> Vec<String> {
    all_lines(file)
        .into_iter()
        .filter(|l| !l.contains("-SEL: "))
        .collect()
}

/// The SEL lines (from `%`) of a file syslog destination.
pub fn sel_lines(file: &Path) -> Vec<String> {
    all_lines(file)
        .into_iter()
        .filter(|l| l.contains("-SEL: "))
        .collect()
}

fn all_lines(file: &Path) -> Vec<String> {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.find(": %").map(|i| l[i + 2..].to_string()))
        .collect()
}

/// The static release binary for a target triple (built by `cross/build`, which
/// `scripts/test` runs first). A binary older than any source it is built from fails the
/// test: a plain `cargo test` after an edit would otherwise test yesterday's agent.
pub fn cross_bin(triple: &str) -> PathBuf {
    let bin = repo_root().join(format!("target/{triple}/release/envmon"));
    let built = fs::metadata(&bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: run cross/build (scripts/test does)",
                bin.display()
            )
        });
    if let Some((newest, at)) = newest_source() {
        assert!(
            at <= built,
            "{} is older than {}: run cross/build (scripts/test does)",
            bin.display(),
            newest.display()
        );
    }
    bin
}

/// The most recently changed file the agent binary is built from: the sources and manifests
/// of its crates, the built-in boards, and the workspace manifest and lock file.
fn newest_source() -> Option<(PathBuf, std::time::SystemTime)> {
    type Newest = Option<(PathBuf, std::time::SystemTime)>;
    fn consider(p: PathBuf, newest: &mut Newest) {
        if let Ok(at) = fs::metadata(&p).and_then(|m| m.modified()) {
            if newest.as_ref().is_none_or(|(_, t)| at > *t) {
                *newest = Some((p, at));
            }
        }
    }
    fn walk(dir: &Path, newest: &mut Newest) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, newest);
            } else if matches!(p.extension().and_then(|x| x.to_str()), Some("rs" | "toml")) {
                consider(p, newest);
            }
        }
    }
    let root = repo_root();
    let mut newest = None;
    for krate in ["core", "agent", "sensors", "board-defs"] {
        walk(&root.join(krate).join("src"), &mut newest);
        walk(&root.join(krate).join("boards"), &mut newest);
        consider(root.join(krate).join("Cargo.toml"), &mut newest);
    }
    consider(root.join("Cargo.toml"), &mut newest);
    consider(root.join("Cargo.lock"), &mut newest);
    newest
}

/// The QEMU appliance (`cross/appliance run`), killed when dropped.
pub struct Appliance {
    child: Option<Child>,
    /// The directory shared with the guest at /mnt/host.
    pub host: PathBuf,
}

impl Appliance {
    /// Boots the appliance with `config` as its envmon.toml; `bmc_vm_port` is the BMC's VM
    /// serial port (QEMU keeps retrying if nothing listens there).
    pub fn boot(host: &Path, bmc_vm_port: u16, config: &str, qemu_args: &[&str]) -> Appliance {
        assert!(
            Path::new("/usr/bin/qemu-system-x86_64").exists(),
            "/usr/bin/qemu-system-x86_64 is missing: apt-get install qemu-system-x86 (.ci/run does)"
        );
        // The image carries the x86_64 static binary: it must be current.
        cross_bin("x86_64-unknown-linux-musl");
        fs::create_dir_all(host).unwrap();
        fs::write(host.join("envmon.toml"), config).unwrap();
        let _ = fs::remove_file(host.join("syslog.log"));
        let _ = fs::remove_file(host.join("metrics.txt"));
        let mut cmd = Command::new(repo_root().join("cross/appliance"));
        cmd.arg("run")
            .arg(host)
            .arg(bmc_vm_port.to_string())
            .args(qemu_args);
        let child = spawn_logged(cmd, &host.join("qemu.log"));
        Appliance {
            child: Some(child),
            host: host.to_path_buf(),
        }
    }

    /// The message lines the guest's envmon sent on its syslog serial port.
    pub fn syslog(&self) -> Vec<String> {
        message_lines(&self.host.join("syslog.log"))
    }

    /// Sweeps the guest's envmon has done, from the metrics it leaves in the shared
    /// directory every 2 s (see cross/appliance).
    pub fn sweeps(&self) -> Option<u64> {
        sweeps_in(&fs::read_to_string(self.host.join("metrics.txt")).ok()?)
    }

    /// Waits (up to `timeout`) until the guest has done `n` more sweeps.
    pub fn wait_sweeps(&self, n: u64, timeout: Duration) {
        let start = wait_for(timeout, || self.sweeps())
            .unwrap_or_else(|| panic!("no metrics from the guest: {}", self.envmon_log()));
        let done = wait_for(timeout, || (self.sweeps()? >= start + n).then_some(()));
        assert!(done.is_some(), "the guest did fewer than {n} sweeps");
    }

    /// What the guest's envmon logged (all boots).
    pub fn envmon_log(&self) -> String {
        fs::read_to_string(self.host.join("envmon.log")).unwrap_or_default()
    }

    /// Waits up to `timeout` for QEMU to exit by itself (the guest powered off).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let c = self.child.as_mut()?;
        let status = wait_for(timeout, || c.try_wait().ok().flatten());
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// Stops QEMU (the guest does not get to shut down).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits (up to `timeout`) until `file` holds `seen + want` message lines, then checks them
/// exactly and remembers them in `seen`.
pub fn expect_lines(file: &Path, seen: &mut Vec<String>, want: &[&str], timeout: Duration) {
    let n = seen.len() + want.len();
    let got = wait_for(timeout, || {
        let l = message_lines(file);
        (l.len() >= n).then_some(l)
    })
    .unwrap_or_else(|| message_lines(file));
    let mut expected = seen.clone();
    expected.extend(want.iter().map(|s| s.to_string()));
    assert_eq!(got, expected, "syslog lines");
    *seen = got;
}
