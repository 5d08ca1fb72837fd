//! `envmon show`: asks a running agent over its socket and prints the answer.

use crate::{error::AgentError, layout};
use envmon_core::engine::{Class, format_value};
use serde_json::Value;
use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::Duration,
};

/// Sends one request and returns the parsed reply; an `{"error": ...}` reply is an error.
pub fn ask(socket: &Path, request: &str) -> Result<Value, AgentError> {
    let unavailable = |e: std::io::Error| {
        AgentError::Unavailable(format!("{}: no agent answers: {e}", socket.display()))
    };
    let mut s = UnixStream::connect(socket).map_err(unavailable)?;
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
    let v: Value = serde_json::from_str(&line)
        .map_err(|e| AgentError::Unavailable(format!("{}: bad reply: {e}", socket.display())))?;
    if let Some(err) = v.get("error") {
        return Err(AgentError::Unavailable(format!(
            "{}: {}",
            err["code"].as_str().unwrap_or("error"),
            err["message"].as_str().unwrap_or("")
        )));
    }
    Ok(v)
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

/// A class name's category, sub-group and the words around its label
/// ([`crate::layout`]); an unknown class shows under "Other".
fn layout_of(class: &str) -> (&'static str, &'static str, &'static str, &'static str) {
    match Class::from_name(class).map(layout::view) {
        Some(v) => (v.category, v.group, v.name.0, v.name.1),
        None => ("Other", "Other", "", ""),
    }
}

const RULE: usize = 40;
const SUB_RULE: usize = 24;

fn state_word(state: &str) -> &'static str {
    match state {
        "ok" => "OK",
        "warm" => "Warm",
        "critical" => "Critical",
        "shutdown" => "Shutdown",
        "failed" => "Failure Detected",
        "unavailable" => "Unavailable",
        "absent" => "Not Present",
        _ => "?",
    }
}

/// The `show environment` table, in the spirit of Cisco's: sections for fans, power supplies,
/// temperatures, voltages and PCI. A reading older than three poll intervals is marked stale.
pub fn environment_table(env: &Value) -> String {
    let none = Vec::new();
    let sensors = env["sensors"].as_array().unwrap_or(&none);
    let stale_after = env["interval_ms"]
        .as_u64()
        .unwrap_or(2000)
        .saturating_mul(3);
    // (category, sub-group, line) in sensor order.
    let mut lines: Vec<(&str, &str, String)> = Vec::new();
    for s in sensors {
        let class = s["class"].as_str().unwrap_or("");
        let state = s["state"].as_str().unwrap_or("");
        // The BMC's redundancy sensor is the Redundancy line of the power supplies.
        if class == "psu_redundancy" {
            continue;
        }
        let value = match (s["value"].as_f64(), s["unit"].as_str().unwrap_or("-")) {
            (Some(v), "V") => format!("{v:.2} V"),
            (Some(v), unit) => format!("{} {unit}", format_value(v)),
            (None, _) => String::new(),
        };
        let stale = match s["age_ms"].as_u64() {
            Some(age) if age > stale_after && !matches!(state, "unavailable" | "absent") => {
                format!(" (stale, {} s old)", age / 1000)
            }
            _ => String::new(),
        };
        let shown = if value.is_empty() {
            format!("{}{stale}", state_word(state))
        } else {
            format!("{value} - {}{stale}", state_word(state))
        };
        let (category, group, before, after) = layout_of(class);
        let label = s["label"].as_str().unwrap_or("");
        lines.push((category, group, format!("{before}{label}{after}: {shown}")));
    }
    let mut out = format!(
        "Board: {}    Monitoring: {}\n",
        env["board"].as_str().unwrap_or("-"),
        env["monitoring"].as_str().unwrap_or("-")
    );
    for category in layout::categories().into_iter().chain(["Other"]) {
        let rows: Vec<&(&str, &str, String)> = lines.iter().filter(|l| l.0 == category).collect();
        let redundancy = category == "Power Supplies";
        if rows.is_empty() && (category == "Other" || category == "Backplane") {
            continue;
        }
        out.push_str(&format!("\n{category}:\n{}\n", "-".repeat(RULE)));
        if rows.is_empty() && !redundancy {
            out.push_str("    none\n");
        }
        let mut groups = layout::groups(category);
        if category == "Other" {
            groups.push("Other");
        }
        for group in groups {
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
            let red = match env["psu_redundancy"].as_str() {
                Some("ok") => "OK",
                Some("lost") => "Lost",
                _ => "N/A",
            };
            out.push_str(&format!("    Redundancy: {red}\n"));
        }
    }
    out.push_str(&format!("\nPCI:\n{}\n", "-".repeat(RULE)));
    match env["pci"].as_array().filter(|p| !p.is_empty()) {
        None => out.push_str("    none\n"),
        Some(list) => {
            for p in list {
                let s = |k: &str| p[k].as_str().unwrap_or("-").to_string();
                let link = match (p["speed"].as_str(), p["width"].as_u64()) {
                    (Some(sp), Some(w)) => format!("{sp} x{w}"),
                    (Some(sp), None) => sp.to_string(),
                    (None, Some(w)) => format!("x{w}"),
                    (None, None) => "-".into(),
                };
                let want = match (p["expected_speed"].as_str(), p["expected_width"].as_u64()) {
                    (None, None) => String::new(),
                    (sp, w) => format!(
                        " (expected {}{})",
                        sp.unwrap_or(""),
                        w.map(|w| format!("{}x{w}", if sp.is_some() { " " } else { "" }))
                            .unwrap_or_default()
                    ),
                };
                let state = match p["state"].as_str() {
                    Some("ok") => "OK",
                    Some("degraded") => "Degraded",
                    Some("absent") => "Not Found",
                    Some("missing") => "Not Present",
                    _ => "?",
                };
                let name = format!(
                    "{} {}:{}",
                    s("id"),
                    s("vendor").trim_start_matches("0x"),
                    s("device").trim_start_matches("0x")
                );
                match p["address"].as_str() {
                    Some(addr) => {
                        out.push_str(&format!("    {name}: {addr} {link}{want} - {state}\n"))
                    }
                    None => out.push_str(&format!("    {name}: {state}\n")),
                }
            }
        }
    }
    out.push_str(&format!(
        "\nLast thermal shutdown: {}\n",
        match &env["last_shutdown"] {
            Value::Object(m) => format!(
                "{} at {}{}",
                m.get("reason").and_then(Value::as_str).unwrap_or("?"),
                m.get("at").and_then(Value::as_str).unwrap_or("?"),
                match m.get("source").and_then(Value::as_str) {
                    Some("sel") => " (a hardware thermal trip, from the BMC's event log)",
                    _ => "",
                }
            ),
            _ => "none".into(),
        }
    ));
    if let Some(sel) = env["sel"].as_object() {
        let n = |k: &str| sel.get(k).and_then(Value::as_u64).unwrap_or(0);
        out.push_str(&format!(
            "BMC event log: {} entries, {}% used, {} bytes free, {} forwarded\n",
            n("entries"),
            n("percent_used"),
            n("free_bytes"),
            n("forwarded")
        ));
    }
    for d in env["syslog"].as_array().unwrap_or(&none) {
        out.push_str(&format!(
            "Syslog {}: {} sent, {} dropped\n",
            d["destination"].as_str().unwrap_or("?"),
            d["sent"].as_u64().unwrap_or(0),
            d["dropped"].as_u64().unwrap_or(0)
        ));
    }
    out
}
