//! Faults at the worst moment: the state dir full, or read-only, when a thermal shutdown
//! comes. The message is still delivered, the power-off action still runs, and the failure
//! to record why is logged (docs/thermal-shutdown.md). The state dir is a small tmpfs
//! (mounting needs root; CI runs as root).

use envmon_core::{Prefix, render_line};
use envmon_tests::{Bmc, expect_lines, require_root, script, wait_for};
use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

const WAIT: Duration = Duration::from_secs(30);

/// A tmpfs mounted at a path, unmounted when dropped (also when the test fails).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            // Mode 0755: a tmpfs is 1777 by default, which envmon refuses for its state.
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(at)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount tmpfs at {}", at.display());
        Tmpfs(at.to_path_buf())
    }

    fn remount_read_only(&self) {
        let ok = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Writes until the file system says it is full.
    fn fill(&self) {
        let mut f = fs::File::create(self.0.join("filler")).unwrap();
        let chunk = [0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
        assert!(
            fs::File::create(self.0.join("probe"))
                .and_then(|mut p| p.write_all(&chunk))
                .is_err()
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[derive(Clone, Copy)]
enum Fault {
    Full,
    ReadOnly,
}

fn thermal_shutdown_with_the_state_dir(fault: Fault) {
    require_root("mounting a tmpfs");
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let state = Tmpfs::mount(&dir.path().join("state"), "256k");
    let program = dir.path().join("shutdown-program");
    let ran = dir.path().join("ran");
    script(
        &program,
        &format!("echo \"$ENVMON_SHUTDOWN_REASON\" > {}\n", ran.display()),
    );
    let out = dir.path().join("syslog.log");
    let action = format!("exec:{}", program.display());
    // Its state dir is dir/state: the tmpfs.
    let mut a = agent(
        &bmc,
        dir.path(),
        &out,
        &["--shutdown-action", action.as_str()],
    );
    a.wait_sweeps(3);
    match fault {
        Fault::Full => state.fill(),
        Fault::ReadOnly => state.remount_read_only(),
    }
    bmc.set(1, 101);
    let line = |id, args: &[&str]| render_line(Prefix::Ftd, id, args).unwrap();
    let want = [line(735007, &["0", "101", "C"]), line(735022, &["0"])];
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    expect_lines(&out, &mut Vec::new(), &want, WAIT);
    // The action ran regardless.
    let reason = wait_for(WAIT, || {
        fs::read_to_string(&ran).ok().filter(|t| t.ends_with('\n'))
    });
    assert_eq!(reason.as_deref(), Some("cpu\n"), "{}", a.stderr());
    // The failure to record is logged, naming the directory; no record was left half-written.
    let logged = wait_for(WAIT, || {
        a.stderr()
            .contains("thermal shutdown: cannot write the reason record in")
            .then_some(())
    });
    assert!(logged.is_some(), "{}", a.stderr());
    assert!(!state.0.join("last-shutdown.json").exists());
    assert!(
        !state.0.join("last-shutdown.tmp").exists(),
        "no temp file left"
    );
    // And the agent keeps monitoring (it stops only when told to).
    a.wait_sweeps(3);
    assert_eq!(a.stop(), Some(0), "{}", a.stderr());
}

#[test]
fn a_full_state_dir_at_a_thermal_shutdown_still_powers_off() {
    thermal_shutdown_with_the_state_dir(Fault::Full);
}

#[test]
fn a_read_only_state_dir_at_a_thermal_shutdown_still_powers_off() {
    thermal_shutdown_with_the_state_dir(Fault::ReadOnly);
}

/// An agent on `bmc` with syslog to `out` and `extra` flags.
fn agent(bmc: &Bmc, dir: &Path, out: &Path, extra: &[&str]) -> envmon_tests::Agent {
    bmc.agent(dir, &format!("file://{}", out.display()), extra)
}

fn kill(sig: &str, pid: u32) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// SIGHUP 100 times within a second (a log rotator gone wrong): the agent keeps sweeping,
/// every reload is a no-op, nothing is sent twice, and a change after the storm is reported
/// exactly once.
#[test]
fn a_hundred_sighups_in_a_second_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let out = dir.path().join("syslog.log");
    let mut a = agent(&bmc, dir.path(), &out, &[]);
    a.wait_sweeps(3);
    let before = envmon_tests::message_lines(&out);
    let pid = a.pid();
    let started = std::time::Instant::now();
    for _ in 0..100 {
        kill("HUP", pid);
    }
    eprintln!("100 SIGHUPs in {:?}", started.elapsed());
    a.wait_sweeps(5);
    assert_eq!(envmon_tests::message_lines(&out), before, "nothing re-sent");
    bmc.set(7, 5); // FAN1 stops
    let want = ["%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected"];
    let mut seen = before.clone();
    expect_lines(&out, &mut seen, &want, WAIT);
    a.wait_sweeps(5);
    assert_eq!(envmon_tests::message_lines(&out), seen, "reported once");
    assert_eq!(a.stop(), Some(0), "{}", a.stderr());
}

/// SIGTERM while the shutdown action runs: the sequence is not cut short. The action (held
/// until the test releases it) is waited for with the agent still up and answering, and
/// only when it has finished does the agent exit, cleanly.
#[test]
fn sigterm_during_a_shutdown_sequence_lets_it_finish() {
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    let out = dir.path().join("syslog.log");
    let d = dir.path();
    let (started, release, done) = (d.join("started"), d.join("release"), d.join("done"));
    let program = d.join("shutdown-program");
    // Waits for `release` (10 s at most), then says it finished.
    script(
        &program,
        &format!(
            "touch {s}\ni=0\nwhile [ ! -e {r} ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done\ntouch {d}\n",
            s = started.display(),
            r = release.display(),
            d = done.display()
        ),
    );
    let action = format!("exec:{}", program.display());
    let mut a = agent(&bmc, d, &out, &["--shutdown-action", action.as_str()]);
    a.wait_sweeps(3);
    bmc.set(1, 101);
    assert!(wait_for(WAIT, || fs::metadata(&started).ok()).is_some());
    kill("TERM", a.pid());
    // Still up and answering while its action runs.
    for _ in 0..3 {
        let o = Command::new(envmon_tests::envmon_bin())
            .args(["show", "version", "--socket"])
            .arg(a.socket())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "the agent left during its shutdown sequence"
        );
    }
    assert!(!done.exists());
    fs::write(&release, "").unwrap();
    assert!(wait_for(WAIT, || fs::metadata(&done).ok()).is_some());
    assert!(d.join("state/last-shutdown.json").exists());
    assert_eq!(a.stop(), Some(0), "{}", a.stderr());
}

/// Issue 20: a state dir too full to save the SEL cursor or the record of a reported trip.
/// Nothing is forwarded and no 735023 is sent while nothing can be remembered (the BMC keeps
/// the entries); once there is room, every entry is forwarded once and the trip reported
/// once; a restart repeats neither.
#[test]
fn a_state_dir_too_full_for_the_sel_cursor_repeats_nothing() {
    require_root("mounting a tmpfs");
    let dir = tempfile::tempdir().unwrap();
    let bmc = Bmc::start(&dir.path().join("bmc"));
    bmc.add_sel(&[envmon_core::sel::system_event_record(
        0, 0x07, 0x01, 0x6f, 0x01,
    )]);
    let root = envmon_tests::booted_now(dir.path());
    let extra = ["--sysfs-root", root.to_str().unwrap()];
    let state = Tmpfs::mount(&dir.path().join("state"), "256k");
    state.fill();
    let out = dir.path().join("syslog.log");
    let mut a = agent(&bmc, dir.path(), &out, &extra);
    a.wait_sweeps(15);
    assert!(
        envmon_tests::sel_lines(&out).is_empty(),
        "nothing forwarded yet"
    );
    assert!(
        envmon_tests::message_lines(&out).is_empty(),
        "no 735023 that could not be recorded"
    );
    assert!(
        a.stderr().contains("cannot save the SEL cursor"),
        "{}",
        a.stderr()
    );
    // Room again: everything once.
    fs::remove_file(state.0.join("filler")).unwrap();
    let trip = render_line(Prefix::Ftd, 735023, &[]).unwrap();
    let reported = wait_for(WAIT, || {
        envmon_tests::message_lines(&out)
            .contains(&trip)
            .then_some(())
    });
    assert!(reported.is_some(), "{}", a.stderr());
    a.wait_sweeps(12);
    let sel = envmon_tests::sel_lines(&out);
    assert!(!sel.is_empty());
    assert_eq!(
        envmon_tests::message_lines(&out),
        std::slice::from_ref(&trip),
        "once"
    );
    assert_eq!(a.stop(), Some(0));
    let mut b = agent(&bmc, dir.path(), &out, &extra);
    b.wait_sweeps(12);
    assert_eq!(envmon_tests::sel_lines(&out), sel, "no entry twice");
    assert_eq!(
        envmon_tests::message_lines(&out),
        [trip],
        "no second 735023"
    );
    assert_eq!(b.stop(), Some(0));
}
