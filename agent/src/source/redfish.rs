//! The agent's side of the Redfish source: the service of the
//! settings (`--redfish`, the password from `--redfish-password-file` or
//! `ENVMON_REDFISH_PASSWORD`) and its TLS trust.

use crate::config::Settings;
use crate::error::AgentError;
use envmon_sensors::redfish::http::HttpFetch;

/// The Redfish service of the settings, `None` without `--redfish`.
pub fn fetch(s: &Settings) -> Result<Option<HttpFetch>, AgentError> {
    let Some(uri) = &s.redfish else {
        return Ok(None);
    };
    let password = match (&uri.user, &s.redfish_password_file) {
        (None, _) => None,
        (Some(_), Some(f)) => Some(crate::os::secrets::read_password_file(f, crate::os::sys::euid()).map_err(|e| AgentError::Unavailable(e.to_string()))?),
        (Some(_), None) => Some(std::env::var(crate::os::secrets::REDFISH_PASSWORD_ENV).map_err(|_| {
            AgentError::Usage(
                "a Redfish user needs a password: --redfish-password-file FILE or ENVMON_REDFISH_PASSWORD".into(),
            )
        })?),
    };
    let credentials = uri.user.as_deref().zip(password.as_deref());
    let fetch = HttpFetch::new(&uri.host, uri.port, credentials);
    if !uri.https {
        return Ok(Some(fetch));
    }
    #[cfg(feature = "tls")]
    return Ok(Some(fetch.with_tls(tls_config(s)?)));
    #[cfg(not(feature = "tls"))]
    Err(AgentError::Usage(format!(
        "https://{}: this envmon was built without TLS (cargo feature `tls`): use http:// or an envmon built with it",
        uri.host
    )))
}

/// Says, once per start, reload or command (not at every connection attempt), that the
/// settings' https service is not verified.
pub fn warn_if_insecure(s: &Settings) {
    if s.redfish.as_ref().is_some_and(|u| u.https) && s.redfish_insecure.0 {
        log::warn!(
            "Redfish: certificate verification is OFF (redfish-insecure): anyone on the path \
             to the BMC can pose as it"
        );
    }
}

#[cfg(feature = "tls")]
/// The TLS trust of the settings: exactly one of a CA file, a fingerprint, or `insecure`.
fn tls_config(s: &Settings) -> Result<envmon_sensors::redfish::tls::Config, AgentError> {
    use envmon_sensors::redfish::tls::{Trust, client_config};
    let trust = match (
        &s.redfish_ca_file,
        &s.redfish_fingerprint,
        s.redfish_insecure.0,
    ) {
        (Some(f), None, false) => {
            let pem = std::fs::read(f)
                .map_err(|e| AgentError::Unavailable(format!("{}: {e}", f.display())))?;
            Trust::CaFile(pem)
        }
        (None, Some(p), false) => Trust::Pin(p.0),
        (None, None, true) => Trust::Insecure,
        (None, None, false) => {
            return Err(AgentError::Usage(
                "https:// Redfish needs a trust: --redfish-ca-file FILE, --redfish-fingerprint SHA256 or --redfish-insecure on".into(),
            ));
        }
        _ => {
            return Err(AgentError::Usage(
                "give one of --redfish-ca-file, --redfish-fingerprint, --redfish-insecure on"
                    .into(),
            ));
        }
    };
    client_config(&trust).map_err(AgentError::Unavailable)
}
