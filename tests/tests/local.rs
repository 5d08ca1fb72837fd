//! The daemon on the board's own buses only (no BMC): a fake sysfs tree drives the backplane
//! carrier, PCI links, hwmon and GPIO, and the exact syslog lines arrive.

use envmon_tests::{Agent, message_lines, put, wait_for};
use serde_json::Value;
use std::{
    fs,
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

const WAIT: Duration = Duration::from_secs(20);

fn expect(file: &Path, seen: &mut Vec<String>, want: &[&str]) {
    envmon_tests::expect_lines(file, seen, want, WAIT);
}

fn environment(sock: &Path) -> Value {
    let mut s = UnixStream::connect(sock).unwrap();
    s.write_all(b"show environment\n").unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap()
}

const BOARD: &str = r#"
name = "local-only"
min-psus = 2
[[item]]
id = "backplane"
class = "backplane"
label = "0"
source = "net:bp0"
[[item]]
id = "cpu0-temp"
class = "cpu_temp"
label = "0"
source = "hwmon:coretemp/Package id 0"
warm = 70
critical = 90
[[item]]
id = "psu1"
class = "psu"
label = "1"
source = "gpio:23"
[[item]]
id = "psu2"
class = "psu"
label = "2"
source = "gpio:24"
[[pci]]
id = "nic0"
match = "8086:10d3"
required = true
speed = "5.0 GT/s"
width = 4
[[pci]]
id = "fpga"
match = "10ee:7021"
required = true
"#;

/// A healthy fake sysfs tree under `root`: backplane link up, coretemp (package 0, 45 C) at
/// hwmon2, both supplies present, the NIC at 5.0 GT/s x4.
fn healthy_tree(root: &Path) {
    put(root, "sys/class/net/bp0/carrier", "1\n");
    put(root, "sys/class/hwmon/hwmon2/name", "coretemp\n");
    put(root, "sys/class/hwmon/hwmon2/temp1_label", "Package id 0\n");
    put(root, "sys/class/hwmon/hwmon2/temp1_input", "45000\n");
    put(root, "sys/class/gpio/gpio23/value", "1\n");
    put(root, "sys/class/gpio/gpio24/value", "1\n");
    let nic = "sys/bus/pci/devices/0000:01:00.0";
    put(root, &format!("{nic}/vendor"), "0x8086\n");
    put(root, &format!("{nic}/device"), "0x10d3\n");
    put(
        root,
        &format!("{nic}/current_link_speed"),
        "5.0 GT/s PCIe\n",
    );
    put(root, &format!("{nic}/current_link_width"), "4\n");
}

/// `envmon run` on the board `board_text` with no BMC, reading sysfs under `root`, 100 ms
/// sweeps, syslog to the returned file.
fn local_agent(dir: &Path, root: &Path, board_text: &str) -> (Agent, std::path::PathBuf) {
    let board = dir.join("board.toml");
    fs::write(&board, board_text).unwrap();
    let out = dir.join("syslog.log");
    let syslog = format!("file://{}", out.display());
    (
        envmon_tests::sysfs_agent(dir, root, &board, 100, &syslog, &[]),
        out,
    )
}

#[test]
fn backplane_pci_hwmon_and_gpio_from_a_fake_sysfs_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    healthy_tree(&root);
    let (a, out) = local_agent(dir.path(), &root, BOARD);
    let nic = "sys/bus/pci/devices/0000:01:00.0";
    let mut seen = Vec::new();
    // At start: the required FPGA is not on the bus (no pci.ids here: hex IDs).
    expect(
        &out,
        &mut seen,
        &[
            "%FTD-1-743004: System is not fully operational - PCI device with vendor ID 0x10ee (0x10ee), device ID 0x7021 (0x7021) not found",
        ],
    );

    put(&root, "sys/class/net/bp0/carrier", "0\n");
    expect(
        &out,
        &mut seen,
        &["%FTD-1-743001: Backplane health monitoring detected link failure"],
    );
    put(&root, "sys/class/net/bp0/carrier", "1\n");
    expect(
        &out,
        &mut seen,
        &["%FTD-1-743002: Backplane health monitoring detected link OK"],
    );

    put(&root, &format!("{nic}/current_link_width"), "1\n");
    expect(
        &out,
        &mut seen,
        &[
            "%FTD-1-743000: The PCI device with vendor ID: 0x8086 device ID: 0x10d3 located at bus:device.function 01:00.0 has a link width of x1 when it should have a link width of x4.",
        ],
    );

    put(&root, "sys/class/hwmon/hwmon2/temp1_input", "72000\n");
    expect(&out, &mut seen, &["%FTD-4-735015: CPU 0: Temp: 72 C, Warm"]);

    put(&root, "sys/class/gpio/gpio24/value", "0\n");
    expect(
        &out,
        &mut seen,
        &[
            "%FTD-1-735004: IPMI: Power Supply 2: Failure Detected",
            "%FTD-1-735006: IPMI: Power Supply Unit Redundancy Lost",
        ],
    );

    // Garbage in the hwmon file: a record not updated (735010, rate limited), then
    // unavailable (never 0), with a log line naming the file.
    put(&root, "sys/class/hwmon/hwmon2/temp1_input", "n/a\n");
    expect(
        &out,
        &mut seen,
        &[
            "%FTD-3-735010: IPMI: Environment Monitoring has failed to update one or more of its records.",
        ],
    );
    let env = wait_for(WAIT, || {
        let e = environment(&a.socket());
        let cpu = e["sensors"]
            .as_array()?
            .iter()
            .find(|s| s["id"] == "cpu0-temp")?
            .clone();
        (cpu["state"] == "unavailable").then_some(e)
    })
    .unwrap_or_else(|| panic!("{}", a.stderr()));
    let cpu = env["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "cpu0-temp")
        .unwrap();
    assert!(cpu["value"].is_null());
    assert!(
        a.stderr()
            .contains("hwmon:coretemp/Package id 0: unavailable:")
            && a.stderr().contains("temp1_input: 'n/a' is not a number"),
        "{}",
        a.stderr()
    );
    let pci = env["pci"].as_array().unwrap();
    assert_eq!(
        (
            pci[0]["id"].as_str(),
            pci[0]["state"].as_str(),
            pci[0]["width"].as_u64()
        ),
        (Some("nic0"), Some("degraded"), Some(1))
    );
    assert_eq!(
        (pci[1]["id"].as_str(), pci[1]["state"].as_str()),
        (Some("fpga"), Some("absent"))
    );
    assert_eq!(env["psu_redundancy"], "lost");
    assert_eq!(message_lines(&out), seen, "nothing else, nothing repeated");
}

#[test]
fn systemd_notify_ready_watchdog_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    put(&root, "sys/class/net/bp0/carrier", "1\n");
    let board = dir.path().join("board.toml");
    fs::write(&board, "name = \"bp\"\n[[item]]\nid = \"bp\"\nclass = \"backplane\"\nlabel = \"0\"\nsource = \"net:bp0\"\n").unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut a = Agent::start(
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
            "stderr",
        ],
        &[
            ("NOTIFY_SOCKET", notify_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "200000"),
        ],
        &dir.path().join("envmon.log"),
    );
    let recv = || {
        let mut buf = [0u8; 256];
        let n = notify.recv(&mut buf).expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert_eq!(recv(), "READY=1\nSTATUS=monitoring");
    assert_eq!(recv(), "WATCHDOG=1");
    assert_eq!(recv(), "WATCHDOG=1");
    assert_eq!(a.stop(), Some(0));
    // Drain the pings sent before SIGTERM; the last message is STOPPING=1.
    let mut last = String::new();
    let mut buf = [0u8; 256];
    while let Ok(n) = notify.recv(&mut buf) {
        last = String::from_utf8_lossy(&buf[..n]).into_owned();
        if last == "STOPPING=1" {
            break;
        }
    }
    assert_eq!(last, "STOPPING=1");
}

/// The sysfs tree changing under the reader for six seconds, the way a live box's does:
/// the monitored coretemp chip re-probed under a new `hwmonN` index again and again, a
/// second coretemp (package 1, at 95 C: critical if ever mistaken for package 0) appearing
/// half-populated, vanishing and renumbering, an unrelated PCI device hot-plugged (its
/// attributes created one by one) and removed, value files rewritten. Meanwhile the CPU
/// warms (45 to 72 C) and a supply fails.
///
/// What must hold: no panic, no hang, never another chip's reading (no critical, no
/// message but the transitions), each transition exactly once and while the tree is still
/// changing (a re-probed chip is looked up again within the same read), at most one 735010
/// (rate limited) for a sweep that caught a chip mid-rename, and the right values at the end.
#[test]
fn a_sysfs_tree_changing_under_the_reader() {
    use envmon_tests::Rng;
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = dir.join("root");
    let hwmon = root.join("sys/class/hwmon");
    healthy_tree(&root);
    // The board without the absent FPGA: a healthy box, silent.
    let board_text = BOARD.replace(
        "[[pci]]\nid = \"fpga\"\nmatch = \"10ee:7021\"\nrequired = true\n",
        "",
    );
    assert!(!board_text.contains("fpga"));
    let (mut a, out) = local_agent(dir, &root, &board_text);
    a.wait_sweeps(3);
    assert_eq!(
        message_lines(&out),
        Vec::<String>::new(),
        "healthy and silent"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (root, hwmon, stop) = (root.clone(), hwmon.clone(), Arc::clone(&stop));
        let out = out.clone();
        std::thread::spawn(move || {
            let mut rng = Rng::new(0x5f5);
            let (mut ours, mut other, mut next) = (2u32, None::<u32>, 3u32);
            let mut temp = 45_000;
            let mut plugged = false;
            let steps = 2_000;
            let rename = |from: u32, to: u32| {
                fs::rename(
                    hwmon.join(format!("hwmon{from}")),
                    hwmon.join(format!("hwmon{to}")),
                )
                .unwrap();
            };
            for step in 0..steps {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if step == steps / 2 {
                    temp = 72_000;
                    let d = format!("sys/class/hwmon/hwmon{ours}");
                    put(&root, &format!("{d}/temp1_input"), &format!("{temp}\n"));
                }
                if step == 3 * steps / 4 {
                    put(&root, "sys/class/gpio/gpio24/value", "0\n");
                }
                match rng.below(5) {
                    0 => {
                        rename(ours, next);
                        (ours, next) = (next, next + 1);
                    }
                    1 => match other {
                        Some(n) => {
                            fs::remove_dir_all(hwmon.join(format!("hwmon{n}"))).unwrap();
                            other = None;
                        }
                        None => {
                            // Attribute by attribute, as a driver probing.
                            let d = hwmon.join(format!("hwmon{next}"));
                            fs::create_dir(&d).unwrap();
                            fs::write(d.join("name"), "coretemp\n").unwrap();
                            fs::write(d.join("temp1_input"), "95000\n").unwrap();
                            fs::write(d.join("temp1_label"), "Package id 1\n").unwrap();
                            (other, next) = (Some(next), next + 1);
                        }
                    },
                    2 => {
                        if let Some(n) = other {
                            rename(n, next);
                            (other, next) = (Some(next), next + 1);
                        }
                    }
                    3 => {
                        let d = root.join("sys/bus/pci/devices/0000:05:00.0");
                        if plugged {
                            fs::remove_dir_all(&d).unwrap();
                        } else {
                            fs::create_dir(&d).unwrap();
                            fs::write(d.join("vendor"), "0x1b21\n").unwrap();
                            fs::write(d.join("device"), "0x1242\n").unwrap();
                        }
                        plugged = !plugged;
                    }
                    _ => {
                        let d = format!("sys/class/hwmon/hwmon{ours}");
                        put(&root, &format!("{d}/temp1_input"), &format!("{temp}\n"));
                    }
                }
                std::thread::sleep(Duration::from_millis(3));
            }
            // What had arrived while the tree was still changing.
            message_lines(&out)
        })
    };
    // The transitions, once each, in order; 735010 at most once besides.
    let want = [
        "%FTD-4-735015: CPU 0: Temp: 72 C, Warm",
        "%FTD-1-735004: IPMI: Power Supply 2: Failure Detected",
        "%FTD-1-735006: IPMI: Power Supply Unit Redundancy Lost",
    ];
    let lost = "%FTD-3-735010: IPMI: Environment Monitoring has failed to update one or more of its records.";
    let others = || -> Vec<String> {
        message_lines(&out)
            .into_iter()
            .filter(|l| l != lost)
            .collect()
    };
    let arrived = wait_for(WAIT, || (others().len() >= want.len()).then_some(()));
    stop.store(true, Ordering::Relaxed);
    let during = churn.join().unwrap();
    assert!(
        arrived.is_some(),
        "{:?}\n{}",
        message_lines(&out),
        a.stderr()
    );
    // Reported while the chip kept moving: a re-probe costs no reading.
    let during: Vec<&String> = during.iter().filter(|l| *l != lost).collect();
    assert_eq!(during, want, "{}", a.stderr());
    a.wait_sweeps(10);
    assert_eq!(others(), want, "each transition once, nothing else");
    let lines = message_lines(&out);
    assert!(
        lines.iter().filter(|l| *l == lost).count() <= 1,
        "{lines:?}"
    );
    let rereads = a.stderr().matches("readable again").count();
    eprintln!("{rereads} times unavailable, then readable again");
    let env = environment(&a.socket());
    let cpu = env["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "cpu0-temp")
        .unwrap()
        .clone();
    assert_eq!(
        (cpu["value"].as_f64(), cpu["state"].as_str()),
        (Some(72.0), Some("warm"))
    );
    assert_eq!(a.stop(), Some(0), "{}", a.stderr());
}
