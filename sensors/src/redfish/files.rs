//! A Redfish mockup tree on disk (`DIR/index.json` answers `/redfish/v1`, `DIR/Chassis/1/
//! index.json` answers `/redfish/v1/Chassis/1`), as DMTF publishes mockups and sushy-static
//! serves them: the [`Fetch`] of the tests that need no server.

use super::{Fetch, RfError, RfErrorKind};
use std::path::PathBuf;

/// Bodies larger than this are refused, as over HTTP.
pub const MAX_BODY: u64 = 1 << 20;

/// A mockup directory.
#[derive(Debug)]
pub struct MockupDir {
    root: PathBuf,
    requests: u64,
}

impl MockupDir {
    /// The mockup at `root`.
    pub fn new(root: impl Into<PathBuf>) -> MockupDir {
        MockupDir {
            root: root.into(),
            requests: 0,
        }
    }

    /// The file that answers `path`, or why there is none.
    fn file(&self, path: &str) -> Result<PathBuf, RfError> {
        let bad = || RfError::new(RfErrorKind::BadPath, path);
        let path = path.split(['#', '?']).next().unwrap_or_default();
        let rest = path
            .trim_end_matches('/')
            .strip_prefix("/redfish/v1")
            .ok_or_else(bad)?;
        let mut file = self.root.clone();
        for part in rest.split('/').filter(|p| !p.is_empty()) {
            if part == ".." || part == "." || part.contains('\\') {
                return Err(bad());
            }
            file.push(part);
        }
        file.push("index.json");
        Ok(file)
    }
}

impl Fetch for MockupDir {
    fn get(&mut self, path: &str) -> Result<serde_json::Value, RfError> {
        self.requests += 1;
        let file = self.file(path)?;
        let meta =
            std::fs::metadata(&file).map_err(|_| RfError::new(RfErrorKind::Status(404), path))?;
        if meta.len() > MAX_BODY {
            return Err(RfError::new(RfErrorKind::TooLarge, path));
        }
        let text = std::fs::read_to_string(&file)
            .map_err(|e| RfError::new(RfErrorKind::Io, format!("{path}: {e}")))?;
        serde_json::from_str(&text)
            .map_err(|e| RfError::new(RfErrorKind::NotJson, format!("{path}: {e}")))
    }
    fn requests(&self) -> u64 {
        self.requests
    }
}
