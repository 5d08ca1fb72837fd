//! Helpers for envmon's end-to-end tests: real receivers started on loopback, each bounded in
//! time and stopped when dropped.
//!
//! A missing tool is a failure with the install hint, never a skipped test: `.ci/run` installs
//! everything these helpers need.

pub mod expand;
pub mod fleet;
pub mod snmp;
pub mod soak;

mod agent;
mod appliance;
mod bmc;
mod proxy;
mod syslog;

pub use agent::*;
pub use appliance::*;
pub use bmc::*;
pub use proxy::*;
pub use syslog::*;

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

/// Writes `text` at `root/rel` atomically (a temp file renamed over it), as sysfs reads
/// are atomic; makes the directories.
pub fn put(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap_or(root)).unwrap();
    let tmp = p.with_extension("tmp");
    fs::write(&tmp, text).unwrap();
    fs::rename(tmp, p).unwrap();
}

/// Fails the test, saying why, unless it runs as root: a test that needs root must not pass
/// without checking anything (`.ci/run` runs as root).
pub fn require_root(what: &str) {
    assert!(
        is_root(),
        "{what} needs root: run the tests as root, as .ci/run does"
    );
}

/// A directory for `--sysfs-root` whose `proc/stat` says this host booted now (envmon takes
/// the boot time from there: a thermal trip logged before this moment can have caused "this
/// boot"). Returns the directory.
pub fn booted_now(dir: &Path) -> PathBuf {
    booted_ago(dir, 0)
}

/// [`booted_now`], booted `secs` seconds ago.
pub fn booted_ago(dir: &Path, secs: u64) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("proc")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::fs::write(
        root.join("proc/stat"),
        format!("cpu  1 2 3 4\nbtime {}\n", now - secs),
    )
    .unwrap();
    root
}

/// `sushy-static` (sushy-tools, a real Redfish emulator) serving `mockup` on loopback.
pub fn sushy(mockup: &std::path::Path, log: &std::path::Path) -> (crate::fleet::Daemon, u16) {
    let port = crate::free_port();
    (sushy_on(mockup, log, port), port)
}

/// The auto board's resources at the Redfish service on 127.0.0.1:`port` (a discovery of
/// its own), and what its root says it can do.
pub fn board_resources(
    port: u16,
) -> Result<(Vec<String>, envmon_sensors::redfish::plan::Features), String> {
    let mut f = envmon_sensors::redfish::http::HttpFetch::new("127.0.0.1", port, None);
    let found = envmon_sensors::redfish::discover::discover(&mut f).map_err(|e| e.to_string())?;
    let (board, _) = envmon_board_defs::redfish::auto_board_redfish(&found.sensors);
    let uris = board
        .items
        .iter()
        .filter_map(|i| match &i.source {
            envmon_board_defs::Source::Redfish(u) => Some(u.clone()),
            _ => None,
        })
        .collect();
    Ok((uris, found.features))
}

/// [`sushy`] on `port`.
pub fn sushy_on(
    mockup: &std::path::Path,
    log: &std::path::Path,
    port: u16,
) -> crate::fleet::Daemon {
    let d = crate::fleet::daemon(
        std::process::Command::new("sushy-static")
            .arg("--mockup-files")
            .arg(mockup)
            .args(["--interface", "127.0.0.1", "--port", &port.to_string()]),
        log,
    );
    let up = crate::wait_for(std::time::Duration::from_secs(20), || {
        crate::fleet::http_get(port, "/redfish/v1").filter(|b| b.contains("@odata.id"))
    });
    assert!(
        up.is_some(),
        "sushy-static did not serve {}",
        mockup.display()
    );
    d
}

/// The Redfish mockups (../shared/redfish-mockups beside the project, as the brief keeps
/// them; `ENVMON_REDFISH_MOCKUPS` names another place). They are not copied into the tree.
pub fn redfish_mockups() -> PathBuf {
    if let Some(d) = std::env::var_os("ENVMON_REDFISH_MOCKUPS") {
        return PathBuf::from(d);
    }
    let beside = repo_root().join("../shared/redfish-mockups");
    if beside.is_dir() {
        return beside;
    }
    PathBuf::from("/work/shared/redfish-mockups")
}

/// A CA and a server certificate for 127.0.0.1 signed by it (openssl), under `dir`:
/// (ca.pem, cert.pem, key.pem); the certificate and key in DER beside them (cert.der,
/// key.der: PKCS #8) for a server of our own. A `_` in a word is a space.
pub fn certificates(
    dir: &std::path::Path,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let p = |f: &str| dir.join(format!("{name}-{f}"));
    // Each command's words, one argument each; `{x}` is the path of file x under `dir`.
    let run = |line: &str| {
        let args: Vec<String> = line
            .split_whitespace()
            .map(
                |w| match w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                    Some(f) => p(f).to_string_lossy().into_owned(),
                    None => w.replace('_', " "),
                },
            )
            .collect();
        let o = std::process::Command::new("openssl")
            .args(&args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run(
        "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=envmon_test_CA \
         -keyout {ca.key} -out {ca.pem}",
    );
    run("req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout {key.pem} -out {req.pem}");
    std::fs::write(
        p("ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(
        "x509 -req -in {req.pem} -CA {ca.pem} -CAkey {ca.key} -CAcreateserial -days 2 \
         -extfile {ext} -out {cert.pem}",
    );
    run("x509 -in {cert.pem} -outform DER -out {cert.der}");
    run("pkcs8 -topk8 -nocrypt -in {key.pem} -outform DER -out {key.der}");
    (p("ca.pem"), p("cert.pem"), p("key.pem"))
}
