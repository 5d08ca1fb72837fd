//! Secrets: the BMC passwords, from a file that only envmon's user (or root) can read, or
//! from the environment. Programs envmon starts get an environment without them.

use std::{fmt, fs, path::Path};

/// A password that cannot be read: the file and what is wrong with it, never its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretError(String);

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SecretError {}

/// The environment variable that may hold the RMCP+ password. Programs envmon starts (the
/// shutdown action) get an environment without it.
pub const IPMI_PASSWORD_ENV: &str = "ENVMON_IPMI_PASSWORD";

/// The environment variable that may hold the Redfish password.
pub const REDFISH_PASSWORD_ENV: &str = "ENVMON_REDFISH_PASSWORD";

/// Every variable that may hold a password (removed from the environment of what envmon
/// starts).
pub const PASSWORD_ENVS: [&str; 2] = [IPMI_PASSWORD_ENV, REDFISH_PASSWORD_ENV];

/// Reads a password file (RMCP+ or Redfish), as ssh reads a key: it must be owned by root or envmon's
/// user (`euid`) and neither readable nor writable by others, nor writable by its group
/// (0600 or 0640). The error names the file and what is wrong, never its content.
pub fn read_password_file(f: &Path, euid: u32) -> Result<String, SecretError> {
    use std::os::unix::fs::MetadataExt;
    let fail = |why: String| SecretError(format!("{}: {why}", f.display()));
    let file = fs::File::open(f).map_err(|e| fail(format!("cannot read the password: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| fail(format!("cannot read the password: {e}")))?;
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(fail(format!(
            "the password file is owned by uid {}: it must be root's or envmon's",
            meta.uid()
        )));
    }
    if meta.mode() & 0o027 != 0 {
        return Err(fail(format!(
            "the password file's mode is {:04o}: others may read or change it (use 0600 or \
             0640)",
            meta.mode() & 0o7777
        )));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(&file, 4096), &mut text)
        .map_err(|e| fail(format!("cannot read the password: {e}")))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 21: a password file others can read, or owned by another user, is refused; the
    /// error never holds the password.
    #[test]
    fn a_password_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "Secret-pw\n").unwrap();
        let me = crate::os::sys::euid();
        for mode in [0o644, 0o666, 0o620, 0o604] {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = read_password_file(&f, me).unwrap_err().to_string();
            assert!(e.contains("others may read or change it"), "{mode:o}: {e}");
            assert!(!e.contains("Secret"));
        }
        for mode in [0o600, 0o640, 0o400] {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_password_file(&f, me).unwrap(), "Secret-pw", "{mode:o}");
        }
        if std::os::unix::fs::chown(&f, Some(65534), None).is_ok() && me != 65534 {
            let e = read_password_file(&f, 4242).unwrap_err().to_string();
            assert!(e.contains("owned by uid 65534"), "{e}");
        }
    }
}
