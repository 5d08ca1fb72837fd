//! `envmon run` in operations: the systemd watchdog during a BMC outage, log rotation of a
//! file destination, and relative paths in the configuration file. Each test runs the real
//! binary, bounded in time, and stops it on drop.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    fs,
    net::UdpSocket,
    os::unix::net::UnixDatagram,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// A running `envmon run`, SIGTERMed and reaped on drop.
struct Run {
    child: Child,
}

impl Run {
    fn start(dir: &Path, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_envmon"));
        cmd.arg("run")
            .args(["--socket", dir.join("envmon.sock").to_str().unwrap()])
            .args(args)
            .current_dir(cwd)
            .env("ENVMON_LOG", "debug")
            .env("ENVMON_IPMI_PASSWORD", "x")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("envmon.stderr")).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run {
            child: cmd.spawn().unwrap(),
        }
    }

    fn signal(&self, sig: &str) {
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn stop(&mut self) -> Option<i32> {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.alive() {
            self.stop();
        }
    }
}

/// Polls `f` every 20 ms for up to `timeout`.
fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
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

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The board with one GPIO item on a fake sysfs tree, so a test can make messages at will
/// without a BMC: value 1 is a present supply, 0 a failed one.
fn gpio_board(dir: &Path) -> (PathBuf, PathBuf) {
    let root = dir.join("sys");
    let gpio = root.join("sys/class/gpio/gpio7");
    fs::create_dir_all(&gpio).unwrap();
    fs::write(gpio.join("value"), "1\n").unwrap();
    fs::write(gpio.join("direction"), "in\n").unwrap();
    let board = dir.join("board.toml");
    fs::write(
        &board,
        "name = \"gpio\"\n[[item]]\nid = \"psu1\"\nclass = \"psu\"\nlabel = \"1\"\nsource = \"gpio:7\"\n",
    )
    .unwrap();
    (root, board)
}

fn set_gpio(root: &Path, v: u8) {
    let tmp = root.join("sys/class/gpio/gpio7/.value");
    fs::write(&tmp, format!("{v}\n")).unwrap();
    fs::rename(&tmp, root.join("sys/class/gpio/gpio7/value")).unwrap();
}

/// Bug: WATCHDOG=1 was sent only in the sleep after a tick, so a BMC that never answers
/// starved systemd's watchdog. Now the pings keep their period during the outage.
#[test]
fn the_watchdog_is_fed_while_the_bmc_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    // A BMC that swallows every datagram: each connection attempt waits its full timeout.
    let hole = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = hole.local_addr().unwrap().port();
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut run = Run::start(
        dir.path(),
        dir.path(),
        &[
            "--ipmi",
            &format!("rmcp://admin@127.0.0.1:{port}"),
            "--board",
            "sim-appliance",
            "--state-dir",
            dir.path().join("state").to_str().unwrap(),
            "--syslog",
            &format!("file://{}", dir.path().join("out.log").display()),
        ],
        &[
            ("NOTIFY_SOCKET", notify_path.to_str().unwrap()),
            // Pings every 250 ms.
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).expect("READY=1");
    assert_eq!(&buf[..n], b"READY=1\nSTATUS=monitoring");
    // Several connection attempts long (each waits 2 s for the silent BMC).
    let mut pings = Vec::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(7) {
        let n = notify.recv(&mut buf).expect("a ping within 10 s");
        assert_eq!(&buf[..n], b"WATCHDOG=1");
        pings.push(Instant::now());
    }
    let longest = pings
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        pings.len() >= 10 && longest < Duration::from_millis(1000),
        "{} pings in 7 s, longest gap {longest:?} (systemd kills after 1 s)",
        pings.len()
    );
    let received = hole.set_nonblocking(true).map(|()| {
        let mut b = [0u8; 512];
        std::iter::from_fn(|| hole.recv(&mut b).ok()).count()
    });
    assert!(
        received.unwrap() >= 2,
        "envmon kept trying to connect during the test"
    );
    assert_eq!(run.stop(), Some(0));
}

/// Bug: after `mv out.log out.log.1` and SIGHUP every later frame went to out.log.1. Now
/// the file is reopened on SIGHUP, and also when the path no longer names the open file
/// (logrotate's create mode without a signal) or the file was truncated (copytruncate).
#[test]
fn a_file_destination_follows_log_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (root, board) = gpio_board(dir.path());
    let out = dir.path().join("out.log");
    let mut run = Run::start(
        dir.path(),
        dir.path(),
        &[
            "--ipmi",
            "none",
            "--sysfs-root",
            root.to_str().unwrap(),
            "--board",
            board.to_str().unwrap(),
            "--interval-ms",
            "100",
            "--state-dir",
            dir.path().join("state").to_str().unwrap(),
            "--syslog",
            &format!("file://{}", out.display()),
        ],
        &[],
    );
    let fail = "%FTD-1-735004: IPMI: Power Supply 1: Failure Detected";
    let ok = "%FTD-1-735003: IPMI: Power Supply 1: OK";
    let has = |p: &Path, what: &str, n: usize| {
        wait_for(Duration::from_secs(10), || {
            (lines(p).iter().filter(|l| l.ends_with(what)).count() >= n).then_some(())
        })
        .is_some()
    };
    // A first message into out.log.
    set_gpio(&root, 0);
    assert!(has(&out, fail, 1), "{:?}", lines(&out));

    // 1. create mode with SIGHUP: mv, then signal; the next frame goes to a new out.log.
    let rotated = dir.path().join("out.log.1");
    fs::rename(&out, &rotated).unwrap();
    run.signal("HUP");
    let hup_done = wait_for(Duration::from_secs(10), || {
        let e = fs::read_to_string(dir.path().join("envmon.stderr")).unwrap_or_default();
        e.contains("SIGHUP: configuration reloaded").then_some(())
    });
    assert!(hup_done.is_some(), "SIGHUP handled");
    set_gpio(&root, 1);
    assert!(has(&out, ok, 1), "out.log recreated: {:?}", lines(&out));
    // The board has no CPU temperature: envmon's own line says once that it is unwatched.
    let psu_lines = |p: &Path| {
        lines(p)
            .iter()
            .filter(|l| l.contains("Power Supply"))
            .count()
    };
    assert_eq!(psu_lines(&rotated), 1, "nothing more into the rotated file");

    // 2. create mode without a signal: the path names another file now.
    fs::rename(&out, dir.path().join("out.log.2")).unwrap();
    set_gpio(&root, 0);
    assert!(
        has(&out, fail, 1),
        "out.log recreated again: {:?}",
        lines(&out)
    );
    assert_eq!(lines(&dir.path().join("out.log.2")).len(), 1);

    // 3. copytruncate: copied, then cut to zero in place; writing goes on at its start.
    fs::copy(&out, dir.path().join("out.log.3")).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&out)
        .unwrap()
        .set_len(0)
        .unwrap();
    set_gpio(&root, 1);
    assert!(has(&out, ok, 1), "{:?}", lines(&out));
    let text = fs::read(&out).unwrap();
    assert!(
        text.first() != Some(&0),
        "no hole of NULs before the new line"
    );
    assert_eq!(lines(&out).len(), 1, "{:?}", lines(&out));
    assert_eq!(run.stop(), Some(0));
}

/// Bug: `board` in the config file was resolved from the working directory, unlike every
/// other path. The same configuration now works from any directory.
#[test]
fn relative_paths_in_the_config_file_are_taken_from_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    fs::create_dir_all(&etc).unwrap();
    let (_, board) = gpio_board(&etc);
    assert_eq!(board, etc.join("board.toml"));
    fs::write(
        etc.join("envmon.toml"),
        "board = \"board.toml\"\nipmi = \"none\"\nsysfs-root = \"sys\"\nstate-dir = \"state\"\n\
         syslog = [\"stderr\"]\ninterval-ms = 100\n",
    )
    .unwrap();
    let config = etc.join("envmon.toml");
    for cwd in [Path::new("/"), etc.as_path()] {
        let run_dir = tempfile::tempdir().unwrap();
        let mut run = Run::start(
            run_dir.path(),
            cwd,
            &["--config", config.to_str().unwrap()],
            &[],
        );
        let sock = run_dir.path().join("envmon.sock");
        let shown = wait_for(Duration::from_secs(10), || {
            let o = Command::new(env!("CARGO_BIN_EXE_envmon"))
                .args(["show", "environment", "--socket", sock.to_str().unwrap()])
                .output()
                .ok()?;
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.contains("Power Supply 1").then_some(text)
        });
        assert!(
            shown.is_some(),
            "from {}: {}",
            cwd.display(),
            fs::read_to_string(run_dir.path().join("envmon.stderr")).unwrap_or_default()
        );
        assert!(run.alive());
        assert_eq!(run.stop(), Some(0));
    }
}
