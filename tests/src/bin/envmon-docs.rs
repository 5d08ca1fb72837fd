//! Writes envmon's man page and its bash, zsh and fish completions from the command line's
//! own definitions (`envmon_agent::command`, with clap's generators: clap_mangen and
//! clap_complete), under DIR as the Debian package installs them (dist/deb/build):
//!
//!   envmon-docs DIR  ->  DIR/usr/share/man/man1/envmon.1.gz,
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
    // The man page, gzipped at the best level (Debian policy 12.1) by gzip -9n.
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    let man = dir.join("usr/share/man/man1");
    std::fs::create_dir_all(&man)?;
    let mut gz = std::process::Command::new("gzip")
        .args(["-9n", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::fs::File::create(man.join("envmon.1.gz"))?)
        .spawn()?;
    if let Some(mut input) = gz.stdin.take() {
        input.write_all(&page)?;
    }
    if !gz.wait()?.success() {
        return Err(std::io::Error::other("gzip failed"));
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
