//! The agent's side of the Redfish source: the service of the
//! settings (`--redfish`, the password from `--redfish-password-file` or
//! `ENVMON_REDFISH_PASSWORD`), and `board explain` of what discovery finds there.

use crate::config::Settings;
use crate::error::AgentError;
use envmon_board_defs::redfish::classify_redfish;
use envmon_sensors::redfish::{Fetch, discover::discover, http::HttpFetch};

/// The password variable.
pub const PASSWORD_ENV: &str = "ENVMON_REDFISH_PASSWORD";

/// The Redfish service of the settings, `None` without `--redfish`.
pub fn fetch(s: &Settings) -> Result<Option<HttpFetch>, AgentError> {
    let Some(uri) = &s.redfish else {
        return Ok(None);
    };
    let password = match (&uri.user, &s.redfish_password_file) {
        (None, _) => None,
        (Some(_), Some(f)) => Some(crate::source::bmc::read_password_file(f, crate::os::sys::euid())?),
        (Some(_), None) => Some(std::env::var(PASSWORD_ENV).map_err(|_| {
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
    Ok(Some(fetch.with_tls(tls_config(s)?)))
}

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
        (None, None, true) => {
            log::warn!(
                "Redfish: certificate verification is OFF (redfish-insecure): anyone on the \
                 path to the BMC can pose as it"
            );
            Trust::Insecure
        }
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

/// One sensor as `board explain` shows it (fields in alphabetical order: the JSON's).
#[derive(Debug, serde::Serialize)]
pub struct ExplainRow {
    /// The class, `power`, or none.
    pub class: Option<&'static str>,
    /// `PhysicalContext`.
    pub context: Option<String>,
    /// `Name`.
    pub name: String,
    /// The resource kind.
    pub resource: &'static str,
    /// The reading type.
    pub reading_type: Option<String>,
    /// Where it is read.
    pub uri: String,
    /// Why.
    pub why: &'static str,
}

/// `envmon --redfish URL board explain`: every sensor discovery finds and the rule that
/// decided it, with the requests it took.
pub fn explain(f: &mut impl Fetch, as_json: bool) -> Result<(), AgentError> {
    let d = discover(f).map_err(|e| AgentError::Unavailable(e.to_string()))?;
    for n in &d.notes {
        log::warn!("{n}");
    }
    let rows: Vec<ExplainRow> = d
        .sensors
        .iter()
        .map(|s| {
            let c = classify_redfish(s);
            ExplainRow {
                class: match (c.class, c.power) {
                    (Some(class), _) => Some(class.name()),
                    (None, true) => Some("power"),
                    (None, false) => None,
                },
                context: s.context.clone(),
                name: s.name.clone(),
                resource: s.resource.name(),
                reading_type: s.reading_type.clone(),
                uri: s.uri.clone(),
                why: c.why,
            }
        })
        .collect();
    if as_json {
        let line = serde_json::to_string(&rows)
            .map_err(|e| AgentError::Unavailable(format!("cannot encode the sensors: {e}")))?;
        println!("{line}");
        return Ok(());
    }
    println!(
        "{:<28} {:<20} {:<16} {:<16} WHY",
        "NAME", "RESOURCE", "CONTEXT", "DECISION"
    );
    for r in &rows {
        println!(
            "{:<28} {:<20} {:<16} {:<16} {}",
            r.name,
            r.resource,
            r.context.as_deref().unwrap_or("-"),
            r.class.unwrap_or("-"),
            r.why
        );
    }
    let decided = rows.iter().filter(|r| r.class.is_some()).count();
    println!(
        "{} sensors: {decided} monitored or shown, {} left out; {} requests",
        rows.len(),
        rows.len() - decided,
        f.requests()
    );
    Ok(())
}
