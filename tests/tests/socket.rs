//! The query socket of a daemon that monitors ipmi_sim: `envmon show`, bad requests, slow and
//! stuck clients, 256 clients at once, metrics through a real OpenMetrics parser, and a
//! second agent on the same socket.

use envmon_tests::{Agent, Bmc, envmon_bin, wait_for};
use serde_json::Value;
use std::{
    io::{BufRead, BufReader, Read, Write},
    os::unix::net::UnixStream,
    path::Path,
    process::Command,
    time::Duration,
};

const WAIT: Duration = Duration::from_secs(30);

fn daemon(bmc: &Bmc, dir: &Path) -> Agent {
    let a = bmc.agent(
        dir,
        &format!("file://{}", dir.join("syslog.log").display()),
        &[],
    );
    let up = wait_for(WAIT, || {
        let v = ask(&a.socket(), "show environment").ok()?;
        (v["monitoring"] == "running").then_some(())
    });
    assert!(up.is_some(), "{}", a.stderr());
    a
}

fn connect(sock: &Path) -> UnixStream {
    let s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn ask(sock: &Path, request: &str) -> Result<Value, String> {
    let mut s = UnixStream::connect(sock).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("{request}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&line).map_err(|e| format!("{e}: {line}"))
}

fn sweeps(sock: &Path) -> u64 {
    let m = ask(sock, "show metrics").unwrap();
    let text = m["metrics"].as_str().unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("envmon_sweeps_total "))
        .unwrap();
    line.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn show_environment_prints_the_values_the_test_set() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    bmc.set(1, 63); // CPU0 63 C
    bmc.set(8, 77); // FAN2 3850 RPM
    let a = daemon(&bmc, dir.path());
    let table = wait_for(WAIT, || {
        let o = Command::new(envmon_bin())
            .args([
                "--socket",
                a.socket().to_str().unwrap(),
                "show",
                "environment",
            ])
            .output()
            .ok()?;
        let t = String::from_utf8(o.stdout).ok()?;
        (t.contains("63 C") && t.contains("3850 RPM")).then_some(t)
    })
    .unwrap_or_else(|| panic!("{}", a.stderr()));
    for row in [
        "Board: sim-appliance    Monitoring: running",
        "    Processor 0: 63 C - OK",
        "    Cooling Fan 2: 3850 RPM - OK",
        "    Cooling Fan 1: 5000 RPM - OK",
        "    Channel 1: 12.00 V - OK",
        "    Power Supply 2: OK",
        "    Redundancy: OK",
        "Last thermal shutdown: none",
    ] {
        assert!(
            table.lines().any(|l| l == row),
            "missing {row:?} in\n{table}"
        );
    }
    let json = Command::new(envmon_bin())
        .args([
            "--socket",
            a.socket().to_str().unwrap(),
            "show",
            "environment",
            "--json",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&json.stdout).unwrap();
    let cpu = v["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "cpu0-temp")
        .unwrap()
        .clone();
    assert_eq!(
        (
            cpu["value"].as_f64(),
            cpu["state"].as_str(),
            cpu["unit"].as_str()
        ),
        (Some(63.0), Some("ok"), Some("C"))
    );
    assert!(cpu["age_ms"].as_u64().unwrap() < 5000);
    let version = Command::new(envmon_bin())
        .args(["--socket", a.socket().to_str().unwrap(), "show", "version"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(version.stdout).unwrap(),
        format!("envmon {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bad_and_stuck_clients_get_errors_or_a_clean_close_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let a = daemon(&bmc, dir.path());
    let sock = a.socket();
    let before = sweeps(&sock);

    // A client that connects and never sends; one that sends many requests and never reads.
    let silent = connect(&sock);
    let silent_since = std::time::Instant::now();
    let mut deaf = connect(&sock);
    deaf.set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    for _ in 0..2000 {
        if deaf.write_all(b"show metrics\n").is_err() {
            break;
        }
    }

    // Each bad request gets its error line, on one connection.
    let mut s = connect(&sock);
    let mut r = BufReader::new(s.try_clone().unwrap());
    for (req, code) in [
        (&b"\n"[..], "empty_request"),
        (b"\xff\xfe\x01\x02 garbage\n", "bad_request"),
        (b"show sensors please\n", "unknown_command"),
        (b"\x1b[2Jshow environment\n", "bad_request"),
    ] {
        s.write_all(req).unwrap();
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["error"]["code"], code, "{line}");
    }
    // The same connection still answers a good request.
    s.write_all(b"show version\n").unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.contains("\"version\""));

    // A 1 MiB line: the error, then an orderly end of stream (no reset, no timeout).
    let mut big = connect(&sock);
    big.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    big.write_all(&vec![b'a'; 1 << 20])
        .expect("the agent reads what it refuses");
    big.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    big.read_to_end(&mut rest)
        .expect("an end of stream, not an error");
    let v: Value = serde_json::from_slice(&rest).unwrap();
    assert_eq!(v["error"]["code"], "request_too_long", "{v}");
    assert_eq!(rest.iter().filter(|&&b| b == b'\n').count(), 1, "one line");

    // Others are answered and the loop keeps sweeping.
    let v = ask(&sock, "show environment").unwrap();
    assert_eq!(v["board"], "sim-appliance");
    let later = wait_for(WAIT, || {
        let n = sweeps(&sock);
        (n >= before + 10).then_some(n)
    });
    assert!(
        later.is_some(),
        "sweeps stalled at {} (started at {before})",
        sweeps(&sock)
    );

    // The deaf client is dropped after the write timeout (5 s): reading what was buffered
    // ends in an end of stream or a reset, never in our own read timeout.
    deaf.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut sink = vec![0u8; 1 << 16];
    let ended = loop {
        match deaf.read(&mut sink) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    assert!(ended, "the agent dropped the client that does not read");

    // The silent client is closed after the idle timeout (10 s), not before.
    let mut silent = silent;
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let n = silent.read(&mut [0u8; 16]).expect("an end of stream");
    assert_eq!(n, 0, "no reply to a silent client");
    assert!(
        silent_since.elapsed() >= Duration::from_secs(9),
        "closed after {:?}",
        silent_since.elapsed()
    );
}

/// The socket's modes; and every client gets in (issue 35; before, the client past 512 was
/// told `busy`): a user holding its bound of connections gives up its oldest for its
/// newest.
#[test]
fn the_socket_is_0660_in_a_0750_directory_and_a_client_past_the_bound_closes_the_oldest() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let sock = dir.path().join("run/envmon/envmon.sock");
    let a = bmc.agent(dir.path(), "stderr", &["--socket", sock.to_str().unwrap()]);
    assert!(
        wait_for(WAIT, || ask(&sock, "show version").ok()).is_some(),
        "{}",
        a.stderr()
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&sock), 0o660);
    assert_eq!(mode(sock.parent().unwrap()), 0o750);
    // The user's bound of connections held open (each answered once, so each has its
    // thread), then one more.
    let held: Vec<UnixStream> = (0..envmon_agent::MAX_PER_USER)
        .map(|_| {
            let mut c = connect(&sock);
            c.write_all(b"show version\n").unwrap();
            let mut line = String::new();
            BufReader::new(c.try_clone().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert!(line.contains("\"version\""), "{line}");
            c
        })
        .collect();
    let served = ask(&sock, "show version");
    assert!(served.is_ok(), "{served:?}");
    // The oldest was closed for it: its next read is the end of the stream.
    let mut oldest = held[0].try_clone().unwrap();
    oldest
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    assert_eq!(
        oldest.read_to_end(&mut rest).map(|_| rest.len()).ok(),
        Some(0)
    );
    let mut newest = held[held.len() - 1].try_clone().unwrap();
    newest.write_all(b"show version\n").unwrap();
    let mut line = String::new();
    BufReader::new(newest).read_line(&mut line).unwrap();
    assert!(
        line.contains("\"version\""),
        "the others are still served: {line}"
    );
}

/// Issue 35: 512 connections of one user (root here) trickling a byte every 200 ms keep no
/// operator out: that user holds at most its bound of them (its newest close its oldest),
/// and an operator of another user (uid 65534 in the socket's group, through setpriv) has
/// each `show environment` answered within a second; every trickling connection is closed
/// (at its request's deadline, or for a newer one of its user).
#[test]
fn an_operator_is_answered_within_a_second_while_512_slow_clients_hold_on() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // The operator (uid 65534, group root: the socket's group) reaches the socket.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let a = daemon(&bmc, dir.path());
    let sock = a.socket();
    let mut slow: Vec<UnixStream> = (0..512).map(|_| connect(&sock)).collect();
    for c in &slow {
        c.set_nonblocking(true).unwrap();
    }
    let operator = || {
        Command::new("timeout")
            .args([
                "1",
                "setpriv",
                "--reuid=65534",
                "--regid=0",
                "--clear-groups",
                "--",
            ])
            .arg(envmon_bin())
            .args([
                "--socket",
                sock.to_str().unwrap(),
                "show",
                "environment",
                "--json",
            ])
            .output()
            .unwrap()
    };
    let mut answered = 0;
    for round in 0..15 {
        for c in &mut slow {
            let _ = c.write(b"s");
        }
        std::thread::sleep(Duration::from_millis(200));
        if round % 3 == 0 {
            let o = operator();
            assert!(
                o.status.success(),
                "round {round}: no answer within a second: {o:?}\n{}",
                a.stderr()
            );
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(v["board"], "sim-appliance");
            answered += 1;
        }
    }
    assert_eq!(answered, 5);
    let all_closed = wait_for(Duration::from_secs(10), || {
        slow.iter_mut()
            .all(|c| {
                let mut b = [0u8; 64];
                matches!(c.read(&mut b), Ok(0))
            })
            .then_some(())
    });
    assert!(all_closed.is_some(), "trickling connections still open");
}

#[test]
fn clients_256_at_once_each_get_a_correct_answer_while_sweeps_continue() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let a = daemon(&bmc, dir.path());
    let sock = a.socket();
    let before = sweeps(&sock);
    // Open all 256 first, then ask on all of them: 256 connections are live at once.
    let conns: Vec<UnixStream> = (0..256).map(|_| connect(&sock)).collect();
    let handles: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            std::thread::spawn(move || {
                c.write_all(b"show environment\n").unwrap();
                let mut line = String::new();
                BufReader::new(c).read_line(&mut line).unwrap();
                let v: Value = serde_json::from_str(&line).unwrap();
                v["board"] == "sim-appliance" && v["sensors"].as_array().map(Vec::len) == Some(14)
            })
        })
        .collect();
    let ok = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|b| *b)
        .count();
    assert_eq!(ok, 256);
    let later = wait_for(WAIT, || (sweeps(&sock) >= before + 5).then_some(()));
    assert!(later.is_some(), "sweeps did not continue");
}

#[test]
fn metrics_parse_as_openmetrics() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let a = daemon(&bmc, dir.path());
    let out = Command::new(envmon_bin())
        .args(["--socket", a.socket().to_str().unwrap(), "show", "metrics"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.ends_with("# EOF\n"));
    let file = dir.path().join("envmon.prom");
    std::fs::write(&file, &text).unwrap();
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
        fams = {f.name: f for f in p(open(sys.argv[1]).read())}\n\
        v = [s for s in fams['envmon_sensor_value'].samples if s.labels['id'] == 'cpu0-temp'][0]\n\
        print(fams['envmon_sensor_value'].type, v.labels['class'], v.labels['unit'], v.value, fams['envmon_ipmi_commands'].type, fams['envmon_sensor_state'].type, fams['envmon_sel_forwarded'].type, len(fams))\n";
    let py = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&file)
        .output()
        .expect("python3 (with prometheus-client; .ci/run installs it)");
    assert!(
        py.status.success(),
        "OpenMetrics parser refused it: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert_eq!(
        String::from_utf8(py.stdout).unwrap().trim(),
        "gauge cpu_temp C 40 counter stateset counter 28"
    );
}

#[test]
fn a_second_agent_on_the_same_socket_refuses_and_a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let a = daemon(&bmc, dir.path());
    let second = Command::new(envmon_bin())
        .args([
            "run",
            "--socket",
            a.socket().to_str().unwrap(),
            "--ipmi",
            "none",
            "--syslog",
            "stderr",
        ])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(69));
    assert!(
        String::from_utf8_lossy(&second.stderr)
            .contains("another envmon is running on this socket")
    );
    assert!(
        ask(&a.socket(), "show version").is_ok(),
        "the first agent still answers"
    );

    // A stale socket file (nobody listening) is replaced.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let mut b = Agent::start(
        &[
            "--socket",
            stale.to_str().unwrap(),
            "--ipmi",
            "none",
            "--syslog",
            "stderr",
            "--interval-ms",
            "100",
        ],
        &[],
        &dir.path().join("b.log"),
    );
    let answered = wait_for(WAIT, || ask(&stale, "show version").ok());
    assert!(answered.is_some(), "{}", b.stderr());
    assert_eq!(b.stop(), Some(0));
    assert!(!stale.exists(), "the socket file is removed at exit");
}
