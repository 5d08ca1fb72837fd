//! The Debian package (dist/deb/build, which scripts/test runs first): installed with dpkg
//! on this machine, checked without systemd (files, the user and its state directory, the
//! binary, the shipped boards, the default configuration), a changed conffile kept across a
//! reinstall, then purged: nothing of it left. Needs root (CI runs as root); the package is
//! purged even when a check fails.

use envmon_tests::{cross_bin, repo_root, require_root};
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

fn sh(cmd: &str) -> (bool, String) {
    let o = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// Purges the package when dropped.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = sh("dpkg --purge envmon");
    }
}

fn package() -> PathBuf {
    let arch = sh("dpkg --print-architecture").1.trim().to_string();
    let triple = match arch.as_str() {
        "amd64" => "x86_64-unknown-linux-musl",
        "arm64" => "aarch64-unknown-linux-musl",
        other => panic!("no package for {other}"),
    };
    let deb = fs::read_dir(repo_root().join("target/deb"))
        .expect("target/deb: run dist/deb/build target/deb (scripts/test does)")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(&format!("_{arch}.deb")))
        .expect("no .deb in target/deb: run dist/deb/build target/deb");
    let age = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).unwrap();
    assert!(
        age(&deb) >= age(&cross_bin(triple)),
        "{} is older than the binary: run dist/deb/build target/deb",
        deb.display()
    );
    deb
}

#[test]
fn the_package_installs_works_keeps_its_conffile_and_purges_clean() {
    require_root("dpkg -i");
    let deb = package();
    assert!(
        !sh("dpkg -s envmon").0,
        "envmon is already installed on this machine: dpkg --purge envmon first"
    );
    let guard = Installed;
    let (ok, out) = sh(&format!("dpkg -i {}", deb.display()));
    assert!(ok, "{out}");

    for f in [
        "/usr/bin/envmon",
        "/lib/systemd/system/envmon.service",
        "/usr/lib/sysusers.d/envmon.conf",
        "/usr/lib/udev/rules.d/60-envmon.rules",
        "/etc/envmon/envmon.toml",
        "/usr/share/envmon/prometheus/envmon.rules.yml",
        "/usr/share/doc/envmon/copyright",
        "/usr/share/man/man1/envmon.1.gz",
        "/usr/share/bash-completion/completions/envmon",
        "/usr/share/zsh/vendor-completions/_envmon",
        "/usr/share/fish/vendor_completions.d/envmon.fish",
    ] {
        assert!(Path::new(f).exists(), "{f} missing");
    }
    // Issue 35: the man page renders, and bash completes envmon's commands and flags.
    let (ok, page) = sh("man -l /usr/share/man/man1/envmon.1.gz 2>/dev/null | col -b");
    assert!(ok && page.contains("--shutdown-action"), "{page}");
    // A page per command, with only the settings it uses (as its --help), the top page
    // naming them.
    assert!(page.contains("envmon-show(1)"), "{page}");
    let (ok, show) = sh("man -l /usr/share/man/man1/envmon-show.1.gz 2>/dev/null | col -b");
    assert!(
        ok && show.contains("--socket") && !show.contains("--shutdown-action"),
        "{show}"
    );
    let (ok, nested) =
        sh("man -l /usr/share/man/man1/envmon-board-check.1.gz 2>/dev/null | col -b");
    assert!(ok && nested.contains("--sdr"), "{nested}");
    let (ok, words) = sh(
        "bash -c 'source /usr/share/bash-completion/completions/envmon; \
         COMP_WORDS=(envmon sh); COMP_CWORD=1; _envmon envmon sh envmon; echo ${COMPREPLY[@]}'",
    );
    assert!(ok && words.contains("show"), "{words}");
    let (ok, id) = sh("id -un envmon && getent passwd envmon | cut -d: -f7");
    assert!(ok && id.contains("nologin"), "{id}");
    let (_, dir) = sh("stat -c '%U:%G %a' /var/lib/envmon");
    assert_eq!(dir.trim(), "envmon:envmon 750");
    let (ok, v) = sh("/usr/bin/envmon --version");
    assert!(ok && v.starts_with("envmon "), "{v}");
    let (ok, out) = sh("/usr/bin/envmon board check /usr/share/envmon/boards/*.toml");
    assert!(ok && out.matches(": ok: board ").count() >= 4, "{out}");
    // The shipped configuration is valid as it is (every key commented out).
    let (ok, out) = sh("/usr/bin/envmon --config /etc/envmon/envmon.toml board list");
    assert!(ok, "{out}");

    // A local change to the conffile survives a reinstall (dpkg keeps it, unasked).
    fs::write(
        "/etc/envmon/envmon.toml",
        "interval-ms = 5000\n# changed here\n",
    )
    .unwrap();
    let (ok, out) = sh(&format!("dpkg -i --force-confold {}", deb.display()));
    assert!(ok, "{out}");
    assert!(
        fs::read_to_string("/etc/envmon/envmon.toml")
            .unwrap()
            .contains("changed here")
    );

    // The password file the shipped configuration names, made as the docs say (root, group
    // envmon, 0640): purge takes it too (issue 35: it was left owned by a deleted group).
    for f in ["/etc/envmon/ipmi.pw", "/etc/envmon/redfish-password"] {
        fs::write(f, "secret\n").unwrap();
        assert!(sh(&format!("chgrp envmon {f} && chmod 0640 {f}")).0);
    }

    // Purge: the files, the configuration, the state and the user are gone.
    drop(guard);
    assert!(!sh("dpkg -s envmon").0);
    for p in [
        "/usr/bin/envmon",
        "/etc/envmon",
        "/var/lib/envmon",
        "/lib/systemd/system/envmon.service",
    ] {
        assert!(!Path::new(p).exists(), "{p} left behind");
    }
    assert!(!sh("getent passwd envmon").0, "the user left behind");
    assert!(!sh("getent group envmon").0, "the group left behind");
}

/// Issue 35: lintian (Debian's) finds nothing to say of the man page or the completions
/// (its other tags, of a native package built without debhelper, are not this test's).
#[test]
fn lintian_is_clean_for_the_man_page_and_the_completions() {
    assert!(
        sh("command -v lintian").0,
        "lintian is missing: apt-get install lintian (scripts/install-deps does)"
    );
    let deb = package();
    let (_, out) = sh(&format!(
        "lintian --tag-display-limit 0 {} 2>&1",
        deb.display()
    ));
    // It ran on the package (its tags name it), whatever it found elsewhere.
    assert!(out.contains("envmon: "), "lintian did not run: {out}");
    let about: Vec<&str> = out
        .lines()
        .filter(|l| {
            ["manpage", "man-page", "share/man/", "completion"]
                .iter()
                .any(|w| l.contains(w))
        })
        .collect();
    assert!(about.is_empty(), "{about:?}\n{out}");
}
