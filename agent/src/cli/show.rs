//! `envmon show`: asks a running agent over its socket and prints the answer.

use crate::{
    error::AgentError,
    model::layout,
    model::{Environment, ErrorReply, Item, Named, PciLink, PciStatus, PsuRedundancy, Shown},
};
use envmon_core::engine::{Class, State, format_reading};
use serde::de::DeserializeOwned;
use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

/// Why the socket cannot be reached, and the next step, by the error's kind (issue 35: a
/// permission refused is not an agent that is down).
fn unreachable(socket: &Path, e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let at = socket.display();
    match e.kind() {
        K::PermissionDenied => format!(
            "{at}: permission denied: the socket lets in root, the agent's user and its \
             socket group (--socket-group): run as one of them (docs/socket.md)"
        ),
        K::NotFound => format!(
            "{at}: no such socket: no agent runs with this --socket (is `envmon run` \
             started? systemctl status envmon)"
        ),
        K::ConnectionRefused => format!(
            "{at}: connection refused: the socket is there but no agent listens (it stopped \
             without removing it?)"
        ),
        _ => format!("{at}: no agent answers: {e}"),
    }
}

/// Sends one request and returns the reply line as the agent wrote it (I/O only).
fn exchange(socket: &Path, request: &str) -> Result<String, AgentError> {
    let unavailable = |e: std::io::Error| {
        AgentError::Unavailable(format!("{}: no agent answers: {e}", socket.display()))
    };
    let mut s = UnixStream::connect(socket)
        .map_err(|e| AgentError::Unavailable(unreachable(socket, &e)))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(unavailable)?;
    s.set_write_timeout(Some(Duration::from_secs(5)))
        .map_err(unavailable)?;
    // The agent may answer before reading (`forbidden`, `busy`) and close: the request
    // then fails with a broken pipe, but its line is there to read.
    let wrote = s.write_all(format!("{request}\n").as_bytes());
    let mut line = String::new();
    let read = BufReader::new(s).take_line(&mut line);
    match (wrote, read) {
        (_, Ok(())) if !line.is_empty() => {}
        (Err(e), _) | (Ok(()), Err(e)) => return Err(unavailable(e)),
        (Ok(()), Ok(())) => {
            return Err(unavailable(std::io::Error::from(
                std::io::ErrorKind::UnexpectedEof,
            )));
        }
    }
    Ok(line.trim_end().to_string())
}

/// An error reply as the error it is, if `line` is one.
fn error_reply(line: &str) -> Option<AgentError> {
    let ErrorReply { error } = serde_json::from_str(line).ok()?;
    Some(AgentError::Unavailable(format!(
        "{}: {}",
        error.code, error.message
    )))
}

/// Sends one request and returns the reply line, for `--json`; an error reply is an error.
pub fn ask_line(socket: &Path, request: &str) -> Result<String, AgentError> {
    let line = exchange(socket, request)?;
    error_reply(&line).map_or(Ok(line), Err)
}

/// Sends one request and returns the reply as `T` (an [`Environment`], a
/// [`crate::model::VersionReply`], ...); an error reply is an error. An answer is parsed
/// once; only a line that is not a `T` is read again, as an error reply.
pub fn ask<T: DeserializeOwned>(socket: &Path, request: &str) -> Result<T, AgentError> {
    let line = exchange(socket, request)?;
    serde_json::from_str(&line).map_err(|e| {
        error_reply(&line).unwrap_or_else(|| {
            AgentError::Unavailable(format!("{}: bad reply: {e}", socket.display()))
        })
    })
}

trait TakeLine {
    fn take_line(&mut self, out: &mut String) -> std::io::Result<()>;
}

impl<R: std::io::Read> TakeLine for BufReader<R> {
    /// Reads one line of at most 4 MiB (a metrics reply can be large, but not unbounded).
    fn take_line(&mut self, out: &mut String) -> std::io::Result<()> {
        let mut limited = std::io::Read::take(self, 4 << 20);
        BufReader::new(&mut limited).read_line(out).map(|_| ())
    }
}

const RULE: usize = 40;
const SUB_RULE: usize = 24;

fn state_word(state: Shown) -> &'static str {
    match state {
        Shown::Is(State::Ok) => "OK",
        Shown::Is(State::Warm) => "Warm",
        Shown::Is(State::Critical) => "Critical",
        Shown::Is(State::Shutdown) => "Shutdown",
        Shown::Is(State::Failed) => "Failure Detected",
        Shown::Is(State::Unavailable) => "Unavailable",
        Shown::Absent => "Not Present",
        Shown::NotFitted => "Not Fitted",
    }
}

/// An item's line: `Cooling Fan 1: 5000 RPM - OK`, with its category and sub-group.
fn item_line(s: &Item, stale_after: u64) -> (&'static str, &'static str, String) {
    let value = s
        .value
        .map_or_else(String::new, |v| format_reading(v, &s.unit));
    let stale = match s.age_ms {
        Some(age)
            if age > stale_after
                && !matches!(
                    s.state,
                    Shown::Absent | Shown::NotFitted | Shown::Is(State::Unavailable)
                ) =>
        {
            format!(" (stale, {} s old)", age / 1000)
        }
        _ => String::new(),
    };
    let shown = if value.is_empty() {
        format!("{}{stale}", state_word(s.state))
    } else {
        format!("{value} - {}{stale}", state_word(s.state))
    };
    let v = layout::view(s.class);
    let (before, after) = v.name;
    (
        v.category,
        v.group,
        format!("{before}{}{after}: {shown}", s.label),
    )
}

/// The item sections, in the layout's order of categories and sub-groups.
fn item_sections(env: &Environment, out: &mut String) {
    let stale_after = env.interval_ms.saturating_mul(3);
    // (category, sub-group, line) in sensor order. The BMC's redundancy sensor is the
    // Redundancy line of the power supplies.
    let lines: Vec<(&str, &str, String)> = env
        .sensors
        .iter()
        .filter(|s| s.class != Class::PsuRedundancy)
        .map(|s| item_line(s, stale_after))
        .collect();
    for category in layout::categories() {
        let rows: Vec<&(&str, &str, String)> = lines.iter().filter(|l| l.0 == category).collect();
        let redundancy = category == "Power Supplies";
        if rows.is_empty() && category == "Backplane" {
            continue;
        }
        out.push_str(&format!("\n{category}:\n{}\n", "-".repeat(RULE)));
        if rows.is_empty() && !redundancy {
            out.push_str("    none\n");
        }
        for group in layout::groups(category) {
            let in_group: Vec<&&(&str, &str, String)> =
                rows.iter().filter(|r| r.1 == group).collect();
            if in_group.is_empty() {
                continue;
            }
            if group != category {
                out.push_str(&format!("    {group}:\n    {}\n", "-".repeat(SUB_RULE)));
            }
            for r in in_group {
                out.push_str(&format!("    {}\n", r.2));
            }
        }
        if redundancy {
            let red = match env.psu_redundancy {
                PsuRedundancy::Ok => "OK",
                PsuRedundancy::Lost => "Lost",
                PsuRedundancy::NotApplicable => "N/A",
            };
            out.push_str(&format!("    Redundancy: {red}\n"));
        }
    }
}

/// A PCI expectation's line.
fn pci_line(p: &PciLink) -> String {
    let link = match (&p.speed, p.width) {
        (Some(sp), Some(w)) => format!("{sp} x{w}"),
        (Some(sp), None) => sp.clone(),
        (None, Some(w)) => format!("x{w}"),
        (None, None) => "-".into(),
    };
    let want = match (&p.expected_speed, p.expected_width) {
        (None, None) => String::new(),
        (sp, w) => format!(
            " (expected {}{})",
            sp.as_deref().unwrap_or(""),
            w.map(|w| format!("{}x{w}", if sp.is_some() { " " } else { "" }))
                .unwrap_or_default()
        ),
    };
    let state = match p.state {
        PciStatus::Ok => "OK",
        PciStatus::Degraded => "Degraded",
        PciStatus::Absent => "Not Found",
        PciStatus::Missing => "Not Present",
    };
    let name = format!(
        "{} {}:{}",
        p.id,
        p.vendor.trim_start_matches("0x"),
        p.device.trim_start_matches("0x")
    );
    match &p.address {
        Some(addr) => format!("    {name}: {addr} {link}{want} - {state}\n"),
        None => format!("    {name}: {state}\n"),
    }
}

/// The Power section: DCMI's reading and the BMC's power, current and energy sensors, read
/// and shown, never judged (none of them has a catalog message). Nothing when there is none.
fn power_section(env: &Environment, out: &mut String) {
    let dcmi = env.bmc.as_ref().and_then(|b| b.dcmi_watts);
    if env.power.is_empty() && dcmi.is_none() {
        return;
    }
    out.push_str(&format!("\nPower:\n{}\n", "-".repeat(RULE)));
    // As wide as the longest name (a Redfish service's are longer than an SDR's 16).
    let w = env
        .power
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(24);
    let unit_w = env
        .power
        .iter()
        .map(|p| p.unit.len())
        .max()
        .unwrap_or(0)
        .max(2);
    if let Some(watts) = dcmi {
        out.push_str(&format!("    {:<w$} {:>10} W\n", "System (DCMI)", watts));
    }
    for p in &env.power {
        let value = p.value.map_or_else(|| "-".to_string(), |v| format!("{v}"));
        out.push_str(&format!(
            "    {:<w$} {:>10} {:<unit_w$} {}\n",
            p.name, value, p.unit, p.status
        ));
    }
}

/// The `show environment` table, in the spirit of Cisco's: sections for fans, power supplies,
/// temperatures, voltages, power and PCI. A reading older than three poll intervals is marked stale.
pub fn environment_table(env: &Environment) -> String {
    let mut out = format!(
        "Board: {}    Monitoring: {}\n",
        env.board.as_deref().unwrap_or("-"),
        env.monitoring.name()
    );
    if let Some(line) = env.stale_line() {
        out.push_str(&format!("Stale: {line}\n"));
    }
    for u in &env.unwatched {
        out.push_str(&format!("Unwatched: {u}\n"));
    }
    item_sections(env, &mut out);
    let notes: Vec<String> = env
        .sensors
        .iter()
        .filter_map(|i| Some(format!("    {}: {}\n", i.id, i.why.as_deref()?)))
        .collect();
    if !notes.is_empty() {
        out.push_str(&format!("\nWhy:\n{}\n", "-".repeat(RULE)));
        out.extend(notes);
    }
    power_section(env, &mut out);
    out.push_str(&format!("\nPCI:\n{}\n", "-".repeat(RULE)));
    if env.pci.is_empty() {
        out.push_str("    none\n");
    }
    for p in &env.pci {
        out.push_str(&pci_line(p));
    }
    out.push_str(&format!(
        "\nLast thermal shutdown: {}\n",
        match &env.last_shutdown {
            Some(m) => format!(
                "{} at {}{}",
                m.reason,
                m.at,
                match (m.source.as_deref(), m.host.as_deref()) {
                    (Some("sel"), _) => " (a hardware thermal trip, from the BMC's event log)",
                    (_, Some("remote")) => " (the BMC's host, powered off through the BMC)",
                    (_, Some(_)) => " (the BMC's host, acted on through the BMC)",
                    _ => "",
                }
            ),
            None => "none".into(),
        }
    ));
    if let Some(p) = &env.protection {
        out.push_str(&format!(
            "Protected host: {} ({}); thermal action: {}\n",
            p.host, p.evidence, p.action
        ));
    }
    if let Some(b) = &env.bmc {
        out.push_str(&format!(
            "BMC: {}{}, firmware {}; chassis power {}\n",
            b.manufacturer,
            b.model
                .as_deref()
                .map_or_else(String::new, |m| format!(" {m}")),
            b.firmware,
            b.chassis_power.as_deref().unwrap_or("unknown")
        ));
    }
    if let Some(sel) = &env.sel {
        let mut parts = vec![format!("{} entries", sel.entries)];
        parts.extend(sel.percent_used.map(|p| format!("{p}% used")));
        parts.extend(sel.free_bytes.map(|f| format!("{f} bytes free")));
        parts.push(format!("{} forwarded", sel.forwarded));
        out.push_str(&format!("BMC event log: {}\n", parts.join(", ")));
    }
    for d in &env.syslog {
        out.push_str(&format!(
            "Syslog {}: {} sent, {} dropped\n",
            d.destination, d.sent, d.dropped
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 35: a socket that refuses the user, is missing, or has no listener says which,
    /// and what to do (before, each was "no agent answers: ...").
    #[test]
    fn an_unreachable_socket_says_why() {
        use std::io::{Error, ErrorKind};
        let at = Path::new("/run/envmon/envmon.sock");
        let said = |k| unreachable(at, &Error::from(k));
        assert!(said(ErrorKind::PermissionDenied).contains("permission denied"));
        assert!(said(ErrorKind::PermissionDenied).contains("--socket-group"));
        assert!(said(ErrorKind::NotFound).contains("no such socket"));
        assert!(said(ErrorKind::ConnectionRefused).contains("no agent listens"));
        let dir = tempfile::tempdir().unwrap();
        let e = exchange(&dir.path().join("none.sock"), "show version").unwrap_err();
        assert!(e.to_string().contains("no such socket"), "{e}");
        // A socket file nobody listens on.
        let path = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let e = exchange(&path, "show version").unwrap_err();
        assert!(e.to_string().contains("connection refused"), "{e}");
    }
}
