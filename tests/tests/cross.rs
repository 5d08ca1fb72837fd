//! The static aarch64 binary under qemu-aarch64 user mode: the catalog, and a poll of the
//! simulated BMC over RMCP+; the x86_64 binary built without TLS.

use envmon_tests::{BMC_PASSWORD, Bmc, cross_bin, envmon_bin, no_tls_bin};
use std::process::Command;

fn qemu_aarch64() -> Command {
    assert!(
        std::path::Path::new("/usr/bin/qemu-aarch64").exists(),
        "/usr/bin/qemu-aarch64 is missing: apt-get install qemu-user (.ci/run does)"
    );
    let mut c = Command::new("/usr/bin/qemu-aarch64");
    c.arg(cross_bin("aarch64-unknown-linux-musl"));
    c
}

/// `envmon poll --json` of the simulated appliance's BMC by `envmon` (a binary, or one
/// under qemu-aarch64), its state in `dir`.
fn poll_json(mut envmon: Command, bmc: &Bmc, dir: &std::path::Path) -> std::process::Output {
    envmon
        .args(["--ipmi", &bmc.uri(), "--board", "sim-appliance"])
        .args(["--state-dir", dir.join("state").to_str().unwrap()])
        .args(["poll", "--json"])
        .env("ENVMON_IPMI_PASSWORD", BMC_PASSWORD)
        .output()
        .unwrap()
}

#[test]
fn aarch64_catalog_matches_the_host_binary() {
    let arm = qemu_aarch64()
        .arg("catalog")
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        arm.status.success(),
        "{}",
        String::from_utf8_lossy(&arm.stderr)
    );
    let host = Command::new(envmon_bin())
        .arg("catalog")
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(arm.stdout, host.stdout);
    let v: serde_json::Value = serde_json::from_slice(&arm.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 35);
}

#[test]
fn aarch64_polls_the_bmc_over_rmcp() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    bmc.set(1, 57);
    let o = poll_json(qemu_aarch64(), &bmc, dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sensors = v["sensors"].as_array().unwrap();
    assert_eq!(sensors.len(), 14);
    let cpu = sensors.iter().find(|s| s["id"] == "cpu0-temp").unwrap();
    assert_eq!(cpu["value"], 57.0);
    assert_eq!(v["ipmi_commands_per_sweep"], 14);
}

/// Built without the `tls` feature, envmon refuses an https:// Redfish service with a usage
/// error naming the feature, before any connection, and still polls IPMI.
#[test]
fn without_tls_an_https_service_is_a_usage_error() {
    let bin = no_tls_bin();
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(&bin)
        .args([
            "--redfish",
            "https://127.0.0.1:9/",
            "--redfish-insecure",
            "on",
        ])
        .args(["--state-dir", dir.path().join("state").to_str().unwrap()])
        .args(["--board", "sim-appliance", "poll"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("https://127.0.0.1: this envmon was built without TLS (cargo feature `tls`)"),
        "{err}"
    );
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let o = poll_json(Command::new(&bin), &bmc, dir.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
