//! The QEMU appliance (x86_64, -accel tcg): envmon as the guest's service reading the BMC
//! through the kernel's KCS driver, PCIe links shaped by the host, a real thermal power-off
//! with the report at the next boot, and an i2c-stub chip. Each boot is bounded in time; the
//! guests run one at a time (TCG on two cores).

use envmon_tests::{Appliance, Bmc, wait_for};
use std::{sync::Mutex, time::Duration};

/// One guest at a time.
static QEMU: Mutex<()> = Mutex::new(());
const BOOT: Duration = Duration::from_secs(180);

fn config(board: &str, ipmi: &str, extra: &str) -> String {
    format!(
        "ipmi = \"{ipmi}\"\nboard = \"{board}\"\ninterval-ms = 300\nstate-dir = \"/mnt/host/state\"\n\
         syslog = [\"file:///dev/ttyS1\"]\nhostname = \"appliance\"\nshutdown-action = \"poweroff\"\n{extra}"
    )
}

/// envmon's own line, as a board without a CPU temperature sends it once (issue 31: not a
/// 735010, nothing stopped).
const UNWATCHED: &str =
    "%FTD-4-ENVMON: the board has no CPU temperature sensor: envmon cannot shut down for CPU heat";

fn wait_lines(a: &Appliance, n: usize) -> Vec<String> {
    wait_for(BOOT, || {
        let l = a.syslog();
        (l.len() >= n).then_some(l)
    })
    .unwrap_or_else(|| {
        panic!(
            "expected {n} lines, got {:?}\nenvmon log:\n{}",
            a.syslog(),
            a.envmon_log()
        )
    })
}

/// envmon's own lines in the guest's syslog once there are `n` (they follow the catalog
/// lines of the same sweep through the serial line: wait, do not just look).
fn wait_notices(a: &Appliance, n: usize) -> Vec<String> {
    wait_for(BOOT, || {
        let l = a.notices();
        (l.len() >= n).then_some(l)
    })
    .unwrap_or_else(|| a.notices())
}

/// The guest went down through envmon's power-off and the kernel's power-down path, not a
/// panic or a crash.
fn assert_powered_off(a: &Appliance) {
    let console = std::fs::read_to_string(a.host.join("console.log")).unwrap_or_default();
    let log = a.envmon_log();
    assert!(
        log.contains("thermal shutdown: powering off")
            && !log.contains("reboot(RB_POWER_OFF) failed"),
        "envmon's power-off: {log}"
    );
    assert!(
        console.contains("reboot: Power down") && !console.contains("Kernel panic"),
        "the kernel's power-down: {console}"
    );
}

fn connected_count(a: &Appliance) -> usize {
    a.envmon_log().matches("connected to the BMC").count()
}

/// The thermal shutdown's line, and the next boot's report of it.
const SHUTDOWN: &str = "%FTD-1-735022: CPU0 is running beyond the max thermal operating temperature and the device will be shutting down immediately to prevent permanent damage to the CPU.";
const REPORTED: &str = "%FTD-2-735023: ASA was previously shutdown due to the CPU complex running beyond the maximum thermal operating temperature. The chassis needs to be inspected immediately for ventilation issues.";

/// Waits for the guest to power itself off for heat: QEMU exits cleanly, through envmon's
/// power-off and the kernel's power-down, the shutdown line last. Returns the syslog lines.
fn powered_off_for_heat(a: &mut Appliance) -> Vec<String> {
    let status = a.wait_exit(BOOT).expect("the guest powered itself off");
    assert!(status.success(), "QEMU exited with {status}");
    // QEMU also exits 0 on a guest kernel panic (-no-reboot, panic=-1): the power-off must be
    // the guest's own, envmon's reboot(2) and the kernel's power-down.
    assert_powered_off(a);
    let lines = a.syslog();
    assert_eq!(
        lines.last().map(String::as_str),
        Some(SHUTDOWN),
        "{lines:?}"
    );
    lines
}

/// The reason record the shutdown left in the shared state directory.
fn shutdown_record(host: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(host.join("state/last-shutdown.json")).unwrap()).unwrap()
}

#[test]
fn a_guest_reads_the_bmc_through_the_kernel_kcs_driver() {
    let _one = QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let mut bmc = Bmc::start_for_vm(&dir.path().join("bmc"));
    let a = Appliance::boot(
        &dir.path().join("host"),
        bmc.vm_port.unwrap(),
        &config("sim-appliance", "file:///dev/ipmi0", ""),
        &[],
    );
    assert!(
        wait_for(BOOT, || (connected_count(&a) >= 1).then_some(())).is_some(),
        "{}",
        a.envmon_log()
    );
    // One at a time: two sensors set together may be judged in either order.
    bmc.set(7, 5); // FAN1: 250 RPM
    assert_eq!(
        wait_lines(&a, 1),
        ["%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected"]
    );
    bmc.set(13, 220); // 12 V rail: 13.2 V
    assert_eq!(
        wait_lines(&a, 2),
        [
            "%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected",
            "%FTD-1-735014: Voltage Channel 1: Voltage Critical"
        ]
    );
    // Issue 31: the BMC dies under the guest's KCS driver: 735010 and envmon's own line once;
    // it comes back (QEMU reconnects its chardev within 10 s): "monitoring recovered" once.
    // Times printed for docs/performance.md.
    let died = std::time::Instant::now();
    bmc.kill();
    let lost = wait_for(BOOT, || (a.syslog().len() >= 3).then(|| died.elapsed()));
    let lines = a.syslog();
    eprintln!("KCS: BMC killed, 735010 after {lost:?}");
    assert_eq!(
        lines.get(2).map(String::as_str),
        Some(
            "%FTD-3-735010: IPMI: Environment Monitoring has failed to update one or more of its records."
        ),
        "{lines:?}\n{}",
        a.envmon_log()
    );
    let back = std::time::Instant::now();
    bmc.restart();
    let recovered = "%FTD-4-ENVMON: monitoring recovered: every watched part reads again";
    let again = wait_for(BOOT, || {
        a.notices()
            .iter()
            .any(|l| l == recovered)
            .then(|| back.elapsed())
    });
    eprintln!("KCS: BMC back, recovery said after {again:?}");
    assert!(again.is_some(), "{:?}\n{}", a.notices(), a.envmon_log());
    assert_eq!(a.syslog().len(), 3, "{:?}", a.syslog());
}

#[test]
fn pcie_links_slower_or_narrower_than_expected_and_a_missing_device() {
    let _one = QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(
        host.join("board.toml"),
        "name = \"pcie\"\n\
         [[pci]]\nid = \"nic0\"\nmatch = \"8086:10d3\"\nrequired = true\nspeed = \"5.0 GT/s\"\nwidth = 4\n\
         [[pci]]\nid = \"nic1\"\nmatch = \"8086:1521\"\nrequired = true\n",
    )
    .unwrap();
    // No BMC: the board has only PCI expectations. A root port able to do 16 GT/s x32, and an
    // e1000e behind it that negotiates 2.5 GT/s x1.
    let a = Appliance::boot(
        &host,
        envmon_tests::free_port(),
        &config("/mnt/host/board.toml", "none", ""),
        &[
            "-M",
            "q35",
            "-device",
            "pcie-root-port,id=rp1,chassis=1,x-speed=16,x-width=32",
            "-device",
            "e1000e,bus=rp1",
        ],
    );
    // The board watches no CPU: envmon's own line says so once (issues 20, 31).
    let lines = wait_lines(&a, 3);
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "%FTD-1-743000: The PCI device with vendor ID: 0x8086 device ID: 0x10d3 located at bus:device.function 01:00.0 has a link speed of 2.5 GT/s when it should have a link speed of 5.0 GT/s.",
            "%FTD-1-743000: The PCI device with vendor ID: 0x8086 device ID: 0x10d3 located at bus:device.function 01:00.0 has a link width of x1 when it should have a link width of x4.",
            "%FTD-1-743004: System is not fully operational - PCI device with vendor ID 0x8086 (Intel Corporation), device ID 0x1521 (I350 Gigabit Network Connection) not found",
        ],
        "{lines:?}"
    );
    assert_eq!(wait_notices(&a, 1), [UNWATCHED]);
}

#[test]
fn a_real_thermal_shutdown_powers_the_guest_off_and_the_next_boot_reports_it_once() {
    let _one = QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start_for_vm(&dir.path().join("bmc"));
    let host = dir.path().join("host");
    let cfg = config("sim-appliance", "file:///dev/ipmi0", "");
    let mut a = Appliance::boot(&host, bmc.vm_port.unwrap(), &cfg, &[]);
    assert!(
        wait_for(BOOT, || (connected_count(&a) >= 1).then_some(())).is_some(),
        "{}",
        a.envmon_log()
    );
    // A genuine rise over a few seconds (issue 20): 45 -> 80 -> 95 -> 101, beyond its
    // shutdown threshold (100). The jump to 80 waits for a confirming reading, and the
    // shutdown for three fresh readings over 2 s: it still powers off.
    for raw in [45, 80, 95] {
        bmc.set(1, raw);
        std::thread::sleep(Duration::from_secs(1));
    }
    bmc.set(1, 101);
    // On the way up: warm and critical as the samples of the rise fall (a TCG guest's
    // sweeps may miss the 80), then the shutdown, last and once.
    let lines = powered_off_for_heat(&mut a);
    assert_eq!(lines.iter().filter(|l| *l == SHUTDOWN).count(), 1);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("%FTD-1-735007: IPMI: CPU 0: Temp: ")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.contains("-735015:") || l.contains("-735007:") || *l == SHUTDOWN),
        "{lines:?}"
    );
    let rec = shutdown_record(&host);
    assert_eq!(
        (rec["reason"].as_str(), rec["reported"].as_bool()),
        (Some("cpu"), Some(false))
    );

    // The box is cool again; the next boot reports why it went dark, exactly once.
    bmc.set(1, 45);
    let mut b = Appliance::boot(&host, bmc.vm_port.unwrap(), &cfg, &[]);
    let lines = wait_lines(&b, 1);
    assert_eq!(lines, [REPORTED]);
    assert!(wait_for(BOOT, || (connected_count(&b) >= 2).then_some(())).is_some());
    // Ten sweeps (five debounce periods) after the report: nothing more.
    b.wait_sweeps(10, BOOT);
    assert_eq!(b.syslog().len(), 1, "exactly once: {:?}", b.syslog());
    b.kill();

    // A third boot says nothing.
    let c = Appliance::boot(&host, bmc.vm_port.unwrap(), &cfg, &[]);
    assert!(
        wait_for(BOOT, || (connected_count(&c) >= 3).then_some(())).is_some(),
        "{}",
        c.envmon_log()
    );
    c.wait_sweeps(10, BOOT);
    assert!(c.syslog().is_empty(), "{:?}", c.syslog());
}

#[test]
fn an_i2c_stub_chip_is_read_through_dev_i2c_as_a_board_sensor() {
    use std::os::unix::fs::PermissionsExt;
    let _one = QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(
        host.join("board.toml"),
        "name = \"i2c\"\n[[item]]\nid = \"inlet\"\nclass = \"chassis_ambient\"\nlabel = \"1\"\nsource = \"i2c:0/0x48/lm75\"\nwarm = 35\ncritical = 45\n",
    )
    .unwrap();
    // i2c-stub answers at 0x48 (cross/appliance loads it so). 40.0 C in LM75 format is
    // 0x2800 MSB first, which an SMBus word write sends as 0x0028.
    let setup = host.join("setup");
    std::fs::write(&setup, "#!/bin/sh\ni2cset -y 0 0x48 0x00 0x0028 w\n").unwrap();
    std::fs::set_permissions(&setup, std::fs::Permissions::from_mode(0o755)).unwrap();
    let a = Appliance::boot(
        &host,
        envmon_tests::free_port(),
        &config("/mnt/host/board.toml", "none", ""),
        &[],
    );
    // The board watches no CPU: envmon's own line says so once (issues 20, 31).
    let lines = wait_lines(&a, 1);
    assert_eq!(
        lines,
        ["%FTD-4-735016: Chassis Ambient 1: Temp: 40 C, Warm"],
        "{}",
        a.envmon_log()
    );
    assert_eq!(wait_notices(&a, 1), [UNWATCHED]);
}

/// A hardware thermal trip inside the appliance: the guest loses power the way a tripped
/// CPU takes the box down (QEMU killed from the host, no shutdown of any kind), the BMC has
/// logged the processor's Thermal Trip, and the next boot reports 735023, once, through
/// the kernel's KCS driver.
#[test]
fn a_hardware_thermal_trip_logged_by_the_bmc_is_reported_at_the_next_boot() {
    let _one = QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start_for_vm(&dir.path().join("bmc"));
    let host = dir.path().join("host");
    let cfg = config("sim-appliance", "file:///dev/ipmi0", "");
    let mut a = Appliance::boot(&host, bmc.vm_port.unwrap(), &cfg, &[]);
    assert!(
        wait_for(BOOT, || (connected_count(&a) >= 1).then_some(())).is_some(),
        "{}",
        a.envmon_log()
    );
    a.wait_sweeps(3, BOOT);
    // The trip: power gone at once, and the BMC's record of why.
    a.kill();
    // Processor #1, sensor-specific offset 1: Thermal Trip.
    let trip = envmon_core::sel::system_event_record(0, 0x07, 0x01, 0x6f, 0x01);
    bmc.add_sel(&[trip]);
    let b = Appliance::boot(&host, bmc.vm_port.unwrap(), &cfg, &[]);
    let lines = wait_lines(&b, 1);
    assert_eq!(lines, [REPORTED]);
    b.wait_sweeps(10, BOOT);
    assert_eq!(b.syslog().len(), 1, "once: {:?}", b.syslog());
    let rec = shutdown_record(&host);
    assert_eq!(rec["source"], "sel");
}

/// The BMC comes up after the guest (a busy machine, a BMC that boots slowly): the guest's
/// kernel finds no BMC at its KCS probe, the appliance binds the driver again until it
/// answers, and envmon waits for /dev/ipmi0 instead of reporting 735009 (issue 36).
#[test]
fn a_bmc_that_comes_up_after_the_guest_is_found_without_735009() {
    let _one = QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let mut bmc = Bmc::start_for_vm(&dir.path().join("bmc"));
    bmc.kill();
    let host = dir.path().join("host");
    let cfg = config("sim-appliance", "file:///dev/ipmi0", "");
    let a = Appliance::boot(&host, bmc.vm_port.unwrap(), &cfg, &[]);
    let console = || std::fs::read_to_string(host.join("console.log")).unwrap_or_default();
    assert!(
        wait_for(BOOT, || console().contains("/dev/ipmi0: no").then_some(())).is_some(),
        "the guest came up without a BMC: {}",
        console()
    );
    // envmon is waiting, not failing: let it wait a few seconds before the BMC answers.
    assert!(
        wait_for(BOOT, || a
            .envmon_log()
            .contains("waiting for /dev/ipmi0")
            .then_some(()))
        .is_some(),
        "{}",
        a.envmon_log()
    );
    std::thread::sleep(Duration::from_secs(5));
    bmc.restart();
    assert!(
        wait_for(BOOT, || (connected_count(&a) >= 1).then_some(())).is_some(),
        "envmon: {}\nconsole: {}",
        a.envmon_log(),
        console()
    );
    assert!(
        console().contains("the IPMI driver bound again") && console().contains("/dev/ipmi0: yes"),
        "{}",
        console()
    );
    a.wait_sweeps(5, BOOT);
    assert!(
        a.syslog().is_empty(),
        "a healthy box sends nothing: {:?}",
        a.syslog()
    );
    assert!(
        !a.envmon_log().contains("BMC not available"),
        "the wait is not a failed attempt: {}",
        a.envmon_log()
    );
}

const ARM: &str = "ipmi = \"none\"\nboard = \"virt-arm64\"\ninterval-ms = 300\nstate-dir = \"/mnt/host/state\"\n\
     syslog = [\"file:///dev/ttyS0\"]\nhostname = \"appliance\"\nshutdown-action = \"poweroff\"\n";
const ARM_PCIE: [&str; 4] = [
    "-device",
    "pcie-root-port,id=rp1,chassis=1",
    "-device",
    "e1000e,bus=rp1",
];

/// Waits until the guest's syslog has `n` more lines than `before`, and returns them.
fn wait_more(a: &Appliance, before: usize, n: usize) -> Vec<String> {
    let lines = wait_lines(a, before + n);
    lines[before..].to_vec()
}

/// The BMC-less aarch64 appliance (QEMU virt, issue 36): its fan through the kernel's
/// max6650 hwmon driver, its first supply's PMBus and its CPU LM75 on i2c-stub, its second
/// supply's PWROK on PL061 GPIO, its NIC on PCIe. Quiet while healthy; a fan fails and
/// recovers, a supply fails and recovers; the CPU beyond its shutdown threshold powers the
/// guest off through PSCI, and the next boot reports 735023 once.
#[test]
fn the_bmc_less_arm_appliance_watches_its_own_buses_and_powers_off_through_psci() {
    let _one = QEMU.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    let mut a = Appliance::boot_aarch64(&host, ARM, &ARM_PCIE);
    a.wait_sweeps(5, BOOT);
    assert!(
        a.syslog().is_empty(),
        "a healthy board sends nothing: {:?}",
        a.syslog()
    );
    assert!(a.notices().is_empty(), "{:?}", a.notices());
    let shown = wait_for(BOOT, || {
        std::fs::read_to_string(host.join("show-environment.txt"))
            .ok()
            .filter(|s| s.contains("Cooling Fan 1: 5040 RPM - OK"))
    })
    .unwrap_or_else(|| panic!("{}", a.envmon_log()));
    for want in [
        "Board: virt-arm64    Monitoring: running",
        "Power Supply 2: OK",
        "Processor 0: 45 C - OK",
        "Power Supply 1 Fan: 6000 RPM - OK",
        "nic0 8086:10d3: 0000:01:00.0 2.5 GT/s x1 (expected 2.5 GT/s x1) - OK",
    ] {
        assert!(shown.contains(want), "{want}: {shown}");
    }

    a.control("1", "i2cset -f -y 0 0x1b 0x0c 4\n"); // TACH0: 480 RPM (minimum 1000)
    assert_eq!(
        wait_more(&a, 0, 1),
        ["%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected"]
    );
    a.control("2", "i2cset -f -y 0 0x1b 0x0c 42\n");
    assert_eq!(
        wait_more(&a, 1, 1),
        ["%FTD-1-735001: IPMI: Cooling Fan 1: OK"]
    );
    a.control("3", "i2cset -y 0 0x58 0x79 0x0840 w\n"); // STATUS_WORD: OFF, POWER_GOOD#
    let mut failed = wait_more(&a, 2, 2);
    failed.sort();
    assert_eq!(
        failed,
        [
            "%FTD-1-735004: IPMI: Power Supply 1: Failure Detected",
            "%FTD-1-735006: IPMI: Power Supply Unit Redundancy Lost",
        ]
    );
    a.control("4", "i2cset -y 0 0x58 0x79 0x0000 w\n");
    let mut back = wait_more(&a, 4, 2);
    back.sort();
    assert_eq!(
        back,
        [
            "%FTD-1-735003: IPMI: Power Supply 1: OK",
            "%FTD-1-735005: IPMI: Power Supply Unit Redundancy OK",
        ]
    );
    a.control("5", "i2cset -y 0 0x4c 0x00 0x0065 w\n"); // the CPU's LM75: 101 C
    powered_off_for_heat(&mut a);
    let rec = shutdown_record(&host);
    assert_eq!(
        (rec["reason"].as_str(), rec["sensor"].as_str()),
        (Some("cpu"), Some("cpu0-temp"))
    );

    // The board powers on cool (45 C): the next boot reports why it went dark, once.
    let b = Appliance::boot_aarch64(&host, ARM, &ARM_PCIE);
    assert_eq!(wait_lines(&b, 1), [REPORTED]);
    b.wait_sweeps(10, BOOT);
    assert_eq!(b.syslog().len(), 1, "exactly once: {:?}", b.syslog());
}
