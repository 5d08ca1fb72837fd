//! BMCs: the simulated appliance's ipmi_sim (sim/run-bmc), and an ipmi_sim serving an
//! in-memory BMC (a corpus server).

use super::*;

/// The simulated appliance's BMC (`sim/run-bmc`): ipmi_sim on 127.0.0.1, its own port and
/// state directory. Sensor values are driven through files.
pub struct Bmc {
    child: Option<Child>,
    /// The VM serial port (QEMU's `ipmi-bmc-extern` connects there), if any.
    pub vm_port: Option<u16>,
    /// The program standing in for the host this BMC manages (ipmi_sim's `startcmd`), if any.
    pub host_cmd: Option<PathBuf>,
    /// The state directory (value files under `values/`).
    pub dir: PathBuf,
    /// The RMCP+ port.
    pub port: u16,
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
            host_cmd: None,
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
        if let Some(h) = &self.host_cmd {
            cmd.env("ENVMON_SIM_HOST_CMD", h);
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
            host_cmd: None,
            dir: dir.to_path_buf(),
            port: free_port(),
        };
        b.launch();
        b
    }

    /// Starts the BMC managing a host that `host_cmd` stands in for (ipmi_lan(5)'s
    /// `startcmd`, started with the simulator: the chassis is on while it runs, and Chassis
    /// Control power down ends it). Its VM serial port has no VM connected: a soft shutdown is
    /// then refused (CCh) and a power down sends SIGTERM at once.
    pub fn start_managing(dir: &Path, host_cmd: &Path) -> Bmc {
        let mut b = Bmc {
            child: None,
            vm_port: Some(free_port()),
            host_cmd: Some(host_cmd.to_path_buf()),
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

/// ipmi_sim's lines for one SDR record of the BMC's own sensors (none for another record):
/// the sensor, its value file (a test changes it while envmon runs), its thresholds and
/// whether it scans.
fn emu_sensor(r: &[u8], st: &envmon_sensors::ipmi::fake::FakeState, values: &Path) -> String {
    let mut out = String::new();
    // Sensor records of the BMC: full (1) and compact (2).
    if !matches!(r.get(3), Some(1 | 2)) || r.get(5) != Some(&0x20) {
        return String::new();
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
    out.push_str(&format!(
        "sensor_add 0x20 0 0x{num:02x} 0x{stype:02x} 0x{rtype:02x}{polled}\n"
    ));
    if rtype == 1 && r[3] == 1 {
        // Thresholds: the live ones where given, else the SDR's (readable mask at
        // byte 19, values at 37..42, in the order UNR, UC, UNC, LNR, LC, LNC).
        let t: [Option<u8>; 6] = match st.live_thresholds.iter().find(|(n, _)| *n == num) {
            Some((_, t)) => *t,
            None => std::array::from_fn(|i| (r[18] & (1 << (5 - i)) != 0).then(|| r[36 + i])),
        };
        let mask: String = t
            .iter()
            .map(|v| if v.is_some() { '1' } else { '0' })
            .collect();
        let vals: Vec<String> = t
            .iter()
            .map(|v| format!("0x{:02x}", v.unwrap_or(0)))
            .collect();
        out.push_str(&format!(
            "sensor_set_threshold 0x20 0 0x{num:02x} readable {mask} {}\n",
            vals.join(" ")
        ));
    }
    let scanning = if value.is_some() || states.is_some() {
        "scanning"
    } else {
        "no-scanning"
    };
    out.push_str(&format!(
        "sensor_set_event_support 0x20 0 0x{num:02x} enable {scanning} per-state \
         000000000000000 000000000000000 000000000000000 000000000000000\n"
    ));
    out
}

impl EmuBmc {
    /// Writes the ipmi_sim configuration for `bmc` under `dir` and starts it.
    pub fn start(dir: &Path, bmc: &envmon_sensors::ipmi::fake::FakeBmc) -> EmuBmc {
        EmuBmc::start_with(dir, bmc, false)
    }

    /// [`EmuBmc::start`], with an empty SEL (Add SEL Entry works) when `sel` is set.
    pub fn start_with(dir: &Path, bmc: &envmon_sensors::ipmi::fake::FakeBmc, sel: bool) -> EmuBmc {
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
            emu.push_str(&emu_sensor(r, &st, &values));
        }
        if sel {
            emu.push_str("sel_enable 0x20 1000 0x0a\n");
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
