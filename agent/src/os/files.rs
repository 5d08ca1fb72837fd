//! The files envmon writes: one atomic, durable writer that every writer uses (the
//! shutdown record, the SEL cursor, the SDR cache, the metrics file), one opener for the
//! files it appends to (the SEL archive, a `file://` syslog destination), and the check of
//! the directories it writes into (issue 21: envmon runs as root, and a local user who can
//! write in one of those directories must not turn a write against another file).
//!
//! - A temp file is created exclusively (`O_CREAT|O_EXCL`, which never follows a symbolic
//!   link and never opens an existing file) under an unpredictable name
//!   (`.NAME.<64 random bits>.tmp`), written, fsynced, renamed over the target (a rename
//!   replaces a symbolic link at the target, it never writes through it), and the directory
//!   fsynced. On any error the temp file is removed (a full disk keeps no half file).
//! - Appends are opened with `O_NOFOLLOW`: a symbolic link at the path is an error.
//! - [`check_dir`] is sshd's StrictModes for a directory envmon writes into: it and every
//!   directory above it are owned by root or envmon's user, and not writable by others
//!   unless sticky (only an entry's owner may remove or rename it there); the state
//!   directory itself may not be writable by anyone else at all, sticky or not.
//!
//! Directories are reached by path, not by descriptor (std has no `openat`): the check
//! makes that safe, as nobody else can rename or replace a directory on the way.

use std::{
    fs,
    io::{self, Read, Write},
    os::unix::fs::{MetadataExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

/// Mode of the files envmon writes (the metrics file is read by node_exporter's user).
const FILE_MODE: u32 = 0o644;

/// 64 bits from the kernel's random source, for temp names no one can plant in advance.
fn random_u64() -> io::Result<u64> {
    let mut b = [0u8; 8];
    fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(u64::from_ne_bytes(b))
}

/// Writes `bytes` to `path` atomically and durably (see the module docs).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = dir.join(format!(
        ".{}.{:016x}.tmp",
        name.to_string_lossy(),
        random_u64()?
    ));
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        // A full disk: leave no half-written temp file behind (it would hold the space).
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::File::open(dir)?.sync_all()
}

/// Opens `path` for appending, creating it (mode 0644); a symbolic link at the path is an
/// error (`ELOOP`), never followed.
pub fn open_append(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// What a directory is for, which decides how strict [`check_dir`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirUse {
    /// The state dir: nobody else may write in it at all.
    State,
    /// A directory shared with others envmon writes one file into (node_exporter's textfile
    /// directory, a log directory): its group may write (the file is replaced by rename,
    /// never written through), everyone may not unless it is sticky.
    Shared,
}

/// Checks `dir` (and every directory above it) before envmon writes there; a directory that
/// does not exist yet is checked from its nearest existing ancestor. `Err` names the
/// directory and what is wrong.
pub fn check_dir(dir: &Path, purpose: DirUse, euid: u32) -> Result<(), String> {
    let abs: PathBuf = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("the current directory: {e}"))?
            .join(dir)
    };
    let mut first = true;
    for d in abs.ancestors() {
        let meta = match fs::symlink_metadata(d) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", d.display())),
        };
        let is_dir = meta.file_type().is_dir();
        if meta.file_type().is_symlink() {
            // A link is only as safe as who may change it: its owner.
            if meta.uid() != 0 && meta.uid() != euid {
                return Err(format!(
                    "{}: a symbolic link owned by uid {}: envmon writes only through \
                     directories of root or its own user",
                    d.display(),
                    meta.uid()
                ));
            }
            continue;
        }
        if !is_dir {
            return Err(format!("{}: not a directory", d.display()));
        }
        let mode = meta.mode();
        let owner_ok = meta.uid() == 0 || meta.uid() == euid;
        let sticky = mode & 0o1000 != 0;
        let group_w = mode & 0o020 != 0;
        let world_w = mode & 0o002 != 0;
        let strict = first && purpose == DirUse::State;
        let problem = if !owner_ok {
            Some(format!(
                "is owned by uid {}, not root or envmon's user",
                meta.uid()
            ))
        } else if strict && (group_w || world_w) {
            Some(format!(
                "is writable by {} (mode {:04o}): the state dir must be writable by its owner only",
                if world_w { "everyone" } else { "its group" },
                mode & 0o7777
            ))
        } else if world_w && !sticky {
            Some(format!(
                "is writable by everyone and not sticky (mode {:04o})",
                mode & 0o7777
            ))
        } else if group_w && !sticky && !first {
            Some(format!(
                "is writable by its group and not sticky (mode {:04o}): a directory above \
                 the one envmon writes into",
                mode & 0o7777
            ))
        } else {
            None
        };
        if let Some(p) = problem {
            return Err(format!(
                "{}: {p}: another user could redirect envmon's writes",
                d.display()
            ));
        }
        first = false;
    }
    Ok(())
}

/// Writes a cursor (`text` to `path`, atomically) and, the first time, the file `seen`
/// saying that envmon has read that log (`seen_text`): what tells a lost cursor from a first
/// start (docs/sel.md).
pub fn write_cursor(path: &Path, text: &[u8], seen: &Path, seen_text: &[u8]) -> io::Result<()> {
    write_atomic(path, text)?;
    if seen.exists() {
        Ok(())
    } else {
        write_atomic(seen, seen_text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    /// Issue 21: a symbolic link planted at the old fixed temp name, or at the target itself,
    /// never gets envmon's bytes into the file it points at.
    #[test]
    fn a_planted_symlink_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"root's file").unwrap();
        let path = dir.path().join("envmon.prom");
        symlink(&victim, dir.path().join("envmon.tmp")).unwrap();
        symlink(&victim, dir.path().join(".envmon.prom.tmp")).unwrap();
        write_atomic(&path, b"metrics 1\n").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"root's file");
        assert_eq!(fs::read(&path).unwrap(), b"metrics 1\n");
        // A link at the target is replaced, not followed.
        fs::remove_file(&path).unwrap();
        symlink(&victim, &path).unwrap();
        write_atomic(&path, b"metrics 2\n").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"root's file");
        assert!(
            !fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // An append through a link is refused.
        let log = dir.path().join("sel-archive.log");
        symlink(&victim, &log).unwrap();
        assert!(open_append(&log).is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"root's file");
        // Nothing left behind but what was there.
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp") && n.starts_with(".envmon.prom.") && n.len() > 20)
            .collect();
        assert_eq!(names, Vec::<String>::new());
    }

    #[test]
    fn directories_others_can_write_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let me = fs::metadata(dir.path()).unwrap().uid();
        let state = dir.path().join("state");
        fs::create_dir(&state).unwrap();
        fs::set_permissions(&state, fs::Permissions::from_mode(0o750)).unwrap();
        assert_eq!(check_dir(&state, DirUse::State, me), Ok(()));
        assert_eq!(
            check_dir(&state.join("not-yet"), DirUse::State, me),
            Ok(()),
            "checked from the nearest existing directory"
        );
        for (mode, what) in [(0o770, "its group"), (0o1777, "everyone")] {
            fs::set_permissions(&state, fs::Permissions::from_mode(mode)).unwrap();
            let e = check_dir(&state, DirUse::State, me).unwrap_err();
            assert!(e.contains(what) && e.contains("state"), "{e}");
        }
        // A shared directory: its group may write, everyone only if sticky.
        fs::set_permissions(&state, fs::Permissions::from_mode(0o770)).unwrap();
        assert_eq!(check_dir(&state, DirUse::Shared, me), Ok(()));
        fs::set_permissions(&state, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_dir(&state, DirUse::Shared, me).is_err());
        fs::set_permissions(&state, fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(check_dir(&state, DirUse::Shared, me), Ok(()));
        // Owned by another user (nobody), for an agent that is neither root nor nobody.
        fs::set_permissions(&state, fs::Permissions::from_mode(0o755)).unwrap();
        if std::os::unix::fs::chown(&state, Some(65534), None).is_ok() {
            let e = check_dir(&state, DirUse::State, 4242).unwrap_err();
            assert!(e.contains("owned by uid 65534"), "{e}");
            assert_eq!(check_dir(&state, DirUse::State, 65534), Ok(()), "its own");
        }
        let _ = me;
    }
}
