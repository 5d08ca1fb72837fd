//! A board back to its TOML form (`envmon board dump`): every key the format reads, so that
//! the file, given to `--board FILE`, monitors exactly what the board did.

use crate::{Board, Item};
use envmon_core::engine::{Limits, TempUnit};
use std::fmt::Write;

/// A TOML string: quoted, with `"` and `\` and control characters escaped.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A number as TOML reads it back exactly (Rust's shortest round-trip form).
fn number(v: f64) -> String {
    let s = format!("{v}");
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

fn item(out: &mut String, it: &Item, comment: Option<String>) {
    out.push_str("\n[[item]]\n");
    if let Some(c) = comment {
        let _ = writeln!(out, "# {}", c.replace('\n', " "));
    }
    let _ = writeln!(out, "id = {}", quoted(&it.id));
    let _ = writeln!(out, "class = {}", quoted(it.spec.class.name()));
    let _ = writeln!(out, "label = {}", quoted(&it.spec.label));
    let _ = writeln!(out, "source = {}", quoted(&it.source.to_string()));
    if let crate::Source::Gpio {
        active_low: true, ..
    } = it.source
    {
        out.push_str("active-low = true\n");
    }
    if it.optional {
        out.push_str("optional = true\n");
    }
    if !it.also.is_empty() {
        let list: Vec<String> = it.also.iter().map(|s| quoted(&s.to_string())).collect();
        let _ = writeln!(out, "also = [{}]", list.join(", "));
    }
    let mut key = |k: &str, v: Option<f64>| {
        if let Some(v) = v {
            let _ = writeln!(out, "{k} = {}", number(v));
        }
    };
    match it.spec.limits {
        Limits::Temperature {
            warm,
            critical,
            shutdown,
        } => {
            key("warm", warm);
            key("critical", critical);
            key("shutdown", shutdown);
        }
        Limits::Fan { min_rpm } => key("min-rpm", min_rpm),
        Limits::Voltage { low, high } => {
            key("low", low);
            key("high", high);
        }
        Limits::Discrete => {}
    }
    let _ = writeln!(out, "hysteresis = {}", number(it.spec.hysteresis));
    let _ = writeln!(out, "debounce = {}", it.spec.debounce);
    let _ = writeln!(out, "unavailable-after = {}", it.spec.unavailable_after);
    if it.spec.class.is_temperature() {
        let unit = match it.spec.unit {
            TempUnit::C => "C",
            TempUnit::F => "F",
        };
        let _ = writeln!(out, "unit = {}", quoted(unit));
    }
}

/// The board as a board file. `comment` may add a line above an item (where it came from).
pub fn to_toml(board: &Board, header: &str, comment: impl Fn(&Item) -> Option<String>) -> String {
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(out, "name = {}", quoted(&board.name));
    let _ = writeln!(out, "description = {}", quoted(&board.description));
    let _ = writeln!(out, "min-psus = {}", board.min_psus);
    for it in &board.items {
        item(&mut out, it, comment(it));
    }
    for p in &board.pci {
        out.push_str("\n[[pci]]\n");
        let _ = writeln!(out, "id = {}", quoted(&p.id));
        let _ = writeln!(
            out,
            "match = {}",
            quoted(&format!("{:04x}:{:04x}", p.vendor, p.device))
        );
        if let Some(a) = &p.address {
            let _ = writeln!(out, "address = {}", quoted(a));
        }
        let _ = writeln!(out, "required = {}", p.required);
        if let Some(s) = p.speed {
            let _ = writeln!(
                out,
                "speed = {}",
                quoted(&envmon_core::pci::format_speed(s))
            );
        }
        if let Some(w) = p.width {
            let _ = writeln!(out, "width = {w}");
        }
    }
    out
}
