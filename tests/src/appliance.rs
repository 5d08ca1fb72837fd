//! The cross-built static binaries and the QEMU appliance.

use super::*;

/// The static release binary for a target triple (built by `cross/build`, which
/// `scripts/test` runs first). A binary older than any source it is built from fails the
/// test: a plain `cargo test` after an edit would otherwise test yesterday's agent.
pub fn cross_bin(triple: &str) -> PathBuf {
    built_by_cross(&format!("target/{triple}/release/envmon"))
}

/// The x86_64 static binary cross/build makes without the `tls` feature (an IPMI-only
/// image), checked as [`cross_bin`] is.
pub fn no_tls_bin() -> PathBuf {
    built_by_cross("target/no-tls/x86_64-unknown-linux-musl/release/envmon")
}

fn built_by_cross(rel: &str) -> PathBuf {
    let bin = repo_root().join(rel);
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

/// A path as the runner's argument (the tests' temporary directories are UTF-8).
fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

impl Appliance {
    /// Boots the appliance with `config` as its envmon.toml; `bmc_vm_port` is the BMC's VM
    /// serial port (QEMU keeps retrying if nothing listens there).
    pub fn boot(host: &Path, bmc_vm_port: u16, config: &str, qemu_args: &[&str]) -> Appliance {
        let port = bmc_vm_port.to_string();
        let run = [&["run", path_str(host), port.as_str()], qemu_args].concat();
        Appliance::start(host, config, "x86_64", "qemu-system-x86", &run)
    }

    /// Boots the BMC-less aarch64 appliance (QEMU virt; board-defs' virt-arm64: its sensors
    /// on i2c-stub, the MAX6650's hwmon, PL061 GPIO) with `config` as its envmon.toml.
    pub fn boot_aarch64(host: &Path, config: &str, qemu_args: &[&str]) -> Appliance {
        let run = [&["--arch", "aarch64", "run", path_str(host)], qemu_args].concat();
        Appliance::start(host, config, "aarch64", "qemu-system-arm", &run)
    }

    /// `cross/appliance ARGS` for `arch`, with `config` as the guest's envmon.toml.
    fn start(host: &Path, config: &str, arch: &str, package: &str, args: &[&str]) -> Appliance {
        let qemu = format!("/usr/bin/qemu-system-{arch}");
        assert!(
            Path::new(&qemu).exists(),
            "{qemu} is missing: apt-get install {package} (.ci/run does)"
        );
        // The image carries the static binary: it must be current.
        cross_bin(&format!("{arch}-unknown-linux-musl"));
        fs::create_dir_all(host).unwrap();
        fs::write(host.join("envmon.toml"), config).unwrap();
        let _ = fs::remove_file(host.join("syslog.log"));
        let _ = fs::remove_file(host.join("metrics.txt"));
        let mut cmd = Command::new(repo_root().join("cross/appliance"));
        cmd.args(args);
        // Its own process group: a kill reaches what the runner started before QEMU (an
        // image build: apt, tar, make), not only the runner.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = spawn_logged(cmd, &host.join("qemu.log"));
        Appliance {
            child: Some(child),
            host: host.to_path_buf(),
        }
    }

    /// Changes the board from the host: `script` runs once in the guest (cross/appliance's
    /// board-control service, HOSTDIR/control), e.g. an `i2cset` on i2c-stub's registers.
    pub fn control(&self, name: &str, script: &str) {
        let dir = self.host.join("control");
        fs::create_dir_all(&dir).unwrap();
        let tmp = dir.join(format!(".{name}.tmp"));
        fs::write(&tmp, script).unwrap();
        fs::rename(&tmp, dir.join(format!("{name}.sh"))).unwrap();
    }

    /// The message lines the guest's envmon sent on its syslog serial port.
    pub fn syslog(&self) -> Vec<String> {
        message_lines(&self.host.join("syslog.log"))
    }

    /// envmon's own lines in the guest's syslog (`%FTD-4-ENVMON: ...`).
    pub fn notices(&self) -> Vec<String> {
        crate::notice_lines(&self.host.join("syslog.log"))
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

    /// Stops QEMU (the guest does not get to shut down), and anything else of its process
    /// group.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", c.id())])
                .status();
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
