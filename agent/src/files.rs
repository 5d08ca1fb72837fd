//! The files envmon writes: one atomic, durable writer that every writer uses (the
//! shutdown record, the SEL cursor, the SDR cache, the metrics file). Issue 21's hardening
//! (no-follow, exclusive temp names, directory descriptors) belongs here and nowhere else.

use std::{fs, io::Write, path::Path};

/// Writes `bytes` to `path` atomically and durably: temp file, fsync, rename, fsync the dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let written = fs::File::create(&tmp).and_then(|mut f| {
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
