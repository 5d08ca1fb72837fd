//! Writes envmon's man page and its bash, zsh and fish completions from the command line's
//! own definitions (`envmon_agent::command`, with clap's generators: clap_mangen and
//! clap_complete), under DIR as the Debian package installs them (dist/deb/build):
//!
//!   envmon-docs DIR  ->  DIR/usr/share/man/man1/envmon.1.gz (and envmon-COMMAND.1.gz for
//!                        each command, envmon-board-check.1.gz for nested ones),
//!                        DIR/usr/share/bash-completion/completions/envmon,
//!                        DIR/usr/share/zsh/vendor-completions/_envmon,
//!                        DIR/usr/share/fish/vendor_completions.d/envmon.fish

use clap_complete::Shell;
use std::{io::Write, path::Path};

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: envmon-docs DIR");
        std::process::exit(2);
    };
    if let Err(e) = write_all(Path::new(&dir)) {
        eprintln!("envmon-docs: {e}");
        std::process::exit(1);
    }
}

fn write_all(dir: &Path) -> std::io::Result<()> {
    let mut cmd = envmon_agent::command();
    cmd.build();
    let man = dir.join("usr/share/man/man1");
    std::fs::create_dir_all(&man)?;
    // The top page (the daemon's settings, every command listed), then one page per command
    // and nested command as its --help has it: only the settings it uses
    // (envmon-show.1.gz, envmon-board-check.1.gz, ...).
    write_page(&man, cmd.clone())?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        // `run` uses every setting: its page lists them all.
        let sc = envmon_agent::subcommand(sub.get_name()).unwrap_or_else(|| sub.clone());
        // A nested command's page ends with the environment variables too, as its --help.
        let after = sc.get_after_help().cloned().unwrap_or_default();
        for nested in sc.get_subcommands().filter(|s| s.get_name() != "help") {
            write_page(&man, nested.clone().after_help(after.clone()))?;
        }
        write_page(&man, sc)?;
    }
    for (shell, at, name) in [
        (
            Shell::Bash,
            "usr/share/bash-completion/completions",
            "envmon",
        ),
        (Shell::Zsh, "usr/share/zsh/vendor-completions", "_envmon"),
        (
            Shell::Fish,
            "usr/share/fish/vendor_completions.d",
            "envmon.fish",
        ),
    ] {
        let d = dir.join(at);
        std::fs::create_dir_all(&d)?;
        let mut f = std::fs::File::create(d.join(name))?;
        clap_complete::generate(shell, &mut cmd, "envmon", &mut f);
    }
    Ok(())
}

/// `cmd`'s man page, gzipped at the best level (Debian policy 12.1) by gzip -9n, under its
/// own name (`envmon.1.gz`, `envmon-show.1.gz`).
fn write_page(man: &Path, cmd: clap::Command) -> std::io::Result<()> {
    let page = clap_mangen::Man::new(cmd).source(format!("envmon {}", env!("CARGO_PKG_VERSION")));
    let mut text = Vec::new();
    page.render(&mut text)?;
    let out = std::fs::File::create(man.join(format!("{}.gz", page.get_filename())))?;
    let mut gz = std::process::Command::new("gzip")
        .args(["-9n", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(out)
        .spawn()?;
    if let Some(mut input) = gz.stdin.take() {
        input.write_all(&text)?;
    }
    if !gz.wait()?.success() {
        return Err(std::io::Error::other("gzip failed"));
    }
    Ok(())
}
