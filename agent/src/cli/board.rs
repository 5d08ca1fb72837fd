//! `envmon board list|check|explain|dump`. Explain and dump start as every command does:
//! the settings' one source ([`source::open_once`]) and the board builder
//! ([`board::build`]), so `--board`, `--ipmi` and `--redfish` mean here what they mean to
//! `run` and `poll`.

use crate::{
    config::{BoardChoice, Settings},
    error::AgentError,
    monitor::find_sdr,
    source::{
        self, Need, OneShot,
        board::{self, Described},
    },
};
use envmon_board_defs::{Board, BoardError, Item, Source, redfish::RfSensor};
use envmon_sensors::ipmi::sdr::SdrEntry;
use std::path::{Path, PathBuf};

/// `envmon board list`.
pub fn list() -> Result<(), AgentError> {
    for (name, _) in envmon_board_defs::BUILTIN {
        match envmon_board_defs::builtin(name) {
            Some(Ok(b)) => println!(
                "{:<16} {:>3} items  {}",
                b.name,
                b.items.len(),
                b.description
            ),
            Some(Err(e)) => return Err(AgentError::Board(e)),
            None => {}
        }
    }
    Ok(())
}

/// `envmon board check FILE... [--sdr DUMP]`: every file validated, errors as
/// file:line:column; with `--sdr`, each board's items also bound to the SDRs of the dump
/// (offline), as `board explain` binds them against the BMC: an item that binds to nothing
/// is an error at its `source` line.
pub fn check(files: &[PathBuf], sdr: Option<&Path>) -> Result<(), AgentError> {
    let sdrs = match sdr {
        Some(p) => Some(crate::source::bmc::sdrs_from_file(p).map_err(AgentError::Usage)?),
        None => None,
    };
    let mut first_error = None;
    for f in files {
        let checked = envmon_board_defs::load(f)
            .map_err(AgentError::Board)
            .and_then(|b| {
                // Only the IPMI items (a `base = "auto"` file's own included): the board's
                // buses and Redfish items do not bind to SDRs.
                let rows: Vec<ItemRow> = match &sdrs {
                    Some(sdrs) => b
                        .items
                        .iter()
                        .filter(|i| i.source.is_ipmi())
                        .map(|i| item_row(i, Described::Sdrs(sdrs)))
                        .collect(),
                    None => Vec::new(),
                };
                let choice = BoardChoice(f.to_string_lossy().into_owned());
                unbound_errors(&choice, &rows)?;
                Ok((b, rows.len()))
            });
        match checked {
            Ok((b, bound)) => println!(
                "{}: ok: board {}, {} items{}",
                f.display(),
                b.name,
                b.items.len(),
                if sdrs.is_some() {
                    format!(", IPMI items bound to the SDRs given: {bound}")
                } else {
                    String::new()
                }
            ),
            Err(AgentError::Board(e)) => {
                eprintln!("envmon: error: {e}");
                first_error.get_or_insert(AgentError::Board(e));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(()), |e| Err(AgentError::Reported(Box::new(e))))
}

/// `envmon board explain`: for `auto` (or a `base = "auto"` file) every record or sensor of
/// the source and the rule that decided it; for a built-in or file board, how each of its
/// items binds to the source's sensors. An item that binds to nothing is an error naming
/// its `source` line (exit 78).
pub fn explain(settings: &Settings, as_json: bool) -> Result<(), AgentError> {
    let named = board::named_board(&settings.board)?;
    let one = source::open_once(settings, named.as_ref(), Need::Always)?;
    let explained = explain_items(settings, &named, &one, as_json);
    if !as_json {
        println!("{}", protected_host(settings, &one));
    }
    explained
}

/// The protected host line: which host the thermal action goes to, on what evidence, and
/// the action (or why `run` would refuse it).
fn protected_host(settings: &Settings, one: &source::OneShot) -> String {
    let guid = one.guid.unwrap_or(envmon_core::host::BmcGuid::NotAsked);
    match crate::run::protection(settings, guid, true) {
        Ok(p) => {
            let p = p.shown();
            format!(
                "Protected host: {} ({}); thermal action: {}",
                p.host, p.evidence, p.action
            )
        }
        Err(e) => format!("Protected host: envmon run would refuse these settings: {e}"),
    }
}

/// The items (or the source's records) and what each binds to.
fn explain_items(
    settings: &Settings,
    named: &Option<Board>,
    one: &source::OneShot,
    as_json: bool,
) -> Result<(), AgentError> {
    match (named, one.described()) {
        (Some(b), described) if !b.base_auto => {
            let rows = item_rows(b, described);
            print_items(&rows, as_json)?;
            unbound_errors(&settings.board, &rows)
        }
        (_, Described::Sdrs(sdrs)) => {
            explain_sdrs(sdrs, named.as_ref(), as_json)?;
            match &named {
                Some(b) => unbound_errors(&settings.board, &item_rows(b, one.described())),
                None => Ok(()),
            }
        }
        (_, Described::Redfish(sensors)) => explain_redfish(sensors, one.requests, as_json),
        (_, Described::Nothing) => Err(AgentError::Usage("there is no source to explain".into())),
    }
}

/// One item of a named board and what it binds to (fields in alphabetical order: the JSON's).
#[derive(Debug, serde::Serialize)]
struct ItemRow {
    bound: bool,
    class: &'static str,
    item: String,
    source: String,
    to: Option<String>,
    why: String,
}

/// What `item` binds to on the source `described`.
fn item_row(item: &Item, described: Described<'_>) -> ItemRow {
    let (to, why) = match (&item.source, described) {
        (Source::IpmiName(_) | Source::IpmiNumber(_), Described::Sdrs(sdrs)) => {
            match find_sdr(&item.source, sdrs) {
                Some(e) => (Some(sdr_text(e)), "the BMC's SDR record".to_string()),
                None => (None, ipmi_missing(&item.source)),
            }
        }
        (Source::IpmiName(_) | Source::IpmiNumber(_), _) => (
            None,
            "an IPMI sensor, and the source is not an IPMI BMC".into(),
        ),
        (Source::Redfish(uri), Described::Redfish(sensors)) => {
            match sensors.iter().find(|s| s.uri == *uri) {
                Some(s) => (
                    Some(format!("{} ({})", s.name, s.uri)),
                    "the service's sensor".into(),
                ),
                None => (None, format!("the service has no sensor at {uri}")),
            }
        }
        (Source::Redfish(_), _) => (
            None,
            "a Redfish sensor, and the source is not a Redfish service".into(),
        ),
        (_, _) => (
            Some(item.source.to_string()),
            "the board's own buses (read under --sysfs-root, not through the BMC)".into(),
        ),
    };
    ItemRow {
        bound: to.is_some(),
        class: item.spec.class.name(),
        item: item.id.clone(),
        source: item.source.to_string(),
        to,
        why,
    }
}

fn item_rows(board: &Board, described: Described<'_>) -> Vec<ItemRow> {
    board.items.iter().map(|i| item_row(i, described)).collect()
}

fn ipmi_missing(source: &Source) -> String {
    match source {
        Source::IpmiNumber(n) => format!("the BMC owns no sensor number 0x{n:02x}"),
        Source::IpmiName(n) => format!("no sensor named \"{n}\" in the BMC's SDR repository"),
        _ => "not an IPMI sensor".into(),
    }
}

/// An SDR record as the explain and dump outputs name it.
fn sdr_text(e: &SdrEntry) -> String {
    format!(
        "SDR \"{}\", record 0x{:04x}, number 0x{:02x}, entity 0x{:02x}.{}",
        e.name,
        e.record_id,
        e.number,
        e.entity_id,
        e.entity_instance & 0x7f
    )
}

fn print_items(rows: &[ItemRow], as_json: bool) -> Result<(), AgentError> {
    if as_json {
        return print_json(rows);
    }
    println!(
        "{:<16} {:<16} {:<28} BOUND TO / WHY NOT",
        "ITEM", "CLASS", "SOURCE"
    );
    for r in rows {
        println!(
            "{:<16} {:<16} {:<28} {}",
            r.item,
            r.class,
            r.source,
            r.to.as_deref().unwrap_or(&format!("NOT BOUND: {}", r.why))
        );
    }
    let bound = rows.iter().filter(|r| r.bound).count();
    println!(
        "{} items: {bound} bound, {} not",
        rows.len(),
        rows.len() - bound
    );
    Ok(())
}

/// The board file's text and the path its errors name (`<builtin:NAME>` for a built-in).
fn board_text(choice: &BoardChoice) -> (PathBuf, Option<String>) {
    let name = choice.0.as_str();
    match envmon_board_defs::BUILTIN.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => (
            PathBuf::from(format!("<builtin:{n}>")),
            Some(text.to_string()),
        ),
        None => (
            PathBuf::from(name),
            envmon_board_defs::read_text_bounded(Path::new(name)).ok(),
        ),
    }
}

/// Every item that binds to nothing, as a board error at its `source` line; the first is
/// returned (already reported).
fn unbound_errors(choice: &BoardChoice, rows: &[ItemRow]) -> Result<(), AgentError> {
    let unbound: Vec<(String, String, String)> = rows
        .iter()
        .filter(|r| !r.bound)
        .map(|r| (r.item.clone(), r.source.clone(), r.why.clone()))
        .collect();
    report_unbound(choice, &unbound)
}

/// Items of the board `choice` names that bind to nothing on the source (id, source, why),
/// each reported as a board error at its `source` line (file:line:column); the first is
/// returned (exit 78). `board explain` and `poll` say the same.
pub fn report_unbound(
    choice: &BoardChoice,
    unbound: &[(String, String, String)],
) -> Result<(), AgentError> {
    if unbound.is_empty() {
        return Ok(());
    }
    // The file is read (and parsed) again only to place the errors.
    let (path, text) = board_text(choice);
    let positions = text
        .as_deref()
        .map(envmon_board_defs::source_positions)
        .unwrap_or_default();
    let mut first = None;
    for (item, source, why) in unbound {
        let at = positions
            .iter()
            .find(|(id, _)| id == item)
            .map(|(_, at)| *at);
        let e = BoardError::invalid(&path, at, format!("item {item} ({source}): {why}"));
        eprintln!("envmon: error: {e}");
        first.get_or_insert(e);
    }
    first.map_or(Ok(()), |e| {
        Err(AgentError::Reported(Box::new(AgentError::Board(e))))
    })
}

fn print_json<T: serde::Serialize + ?Sized>(rows: &T) -> Result<(), AgentError> {
    let line = serde_json::to_string(rows)
        .map_err(|e| AgentError::Unavailable(format!("cannot encode the rows: {e}")))?;
    println!("{line}");
    Ok(())
}

/// One SDR record as `board explain` shows it (fields in alphabetical order: the JSON's key
/// order).
#[derive(Debug, serde::Serialize)]
struct RecordRow {
    class: Option<&'static str>,
    entity: String,
    item: Option<String>,
    label: Option<String>,
    name: String,
    number: u8,
    owner: u8,
    reading_type: u8,
    record: u16,
    sensor_type: u8,
    why: String,
}

/// Every SDR record and the rule that decided it (`auto`, or `base = "auto"` overrides).
fn explain_sdrs(sdrs: &[SdrEntry], named: Option<&Board>, as_json: bool) -> Result<(), AgentError> {
    let overrides = named.filter(|b| b.base_auto);
    let sensors: Vec<_> = sdrs.iter().map(SdrEntry::to_sdr_sensor).collect();
    let (board, explained) = envmon_board_defs::explain(&sensors, overrides);
    let rows: Vec<RecordRow> = sdrs
        .iter()
        .zip(&explained)
        .map(|(e, x)| {
            let item = x
                .item
                .as_ref()
                .and_then(|id| board.items.iter().find(|i| i.id == *id));
            RecordRow {
                class: item.map(|i| i.spec.class.name()),
                entity: format!("0x{:02x}.{}", e.entity_id, e.entity_instance & 0x7f),
                item: item.map(|i| i.id.clone()),
                label: item.map(|i| i.spec.label.clone()),
                name: e.name.clone(),
                number: e.number,
                owner: e.owner_id,
                reading_type: e.reading_type,
                record: e.record_id,
                sensor_type: e.sensor_type,
                why: x.decision.why.to_string(),
            }
        })
        .collect();
    if as_json {
        return print_json(&rows);
    }
    println!(
        "{:<6} {:<5} {:<16} {:<7} {:<4} {:<4} {:<28} WHY",
        "RECORD", "NUM", "NAME", "ENTITY", "TYPE", "READ", "DECISION"
    );
    for r in &rows {
        let decision = match (r.class, &r.label) {
            (Some(c), Some(l)) => format!("{c} {l}"),
            _ => "-".into(),
        };
        println!(
            "0x{:04x} 0x{:02x}  {:<16} {:<7} 0x{:02x} 0x{:02x} {:<28} {}",
            r.record, r.number, r.name, r.entity, r.sensor_type, r.reading_type, decision, r.why
        );
    }
    let monitored = rows.iter().filter(|r| r.item.is_some()).count();
    println!(
        "{} records: {monitored} monitored, {} left out",
        rows.len(),
        rows.len() - monitored
    );
    Ok(())
}

/// One Redfish sensor as `board explain` shows it (fields in alphabetical order: the JSON's).
#[derive(Debug, serde::Serialize)]
struct SensorRow {
    class: Option<&'static str>,
    context: Option<String>,
    name: String,
    resource: &'static str,
    reading_type: Option<String>,
    uri: String,
    why: &'static str,
}

/// Every sensor discovery found and the rule that decided it, with the requests it took.
fn explain_redfish(sensors: &[RfSensor], requests: u64, as_json: bool) -> Result<(), AgentError> {
    use envmon_board_defs::redfish::classify_redfish;
    let rows: Vec<SensorRow> = sensors
        .iter()
        .map(|s| {
            let c = classify_redfish(s);
            SensorRow {
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
        return print_json(&rows);
    }
    // Columns as wide as their widest cell (names and URIs are the service's).
    let wide = |cells: &mut dyn Iterator<Item = usize>, head: &str| {
        cells.max().unwrap_or(0).max(head.len())
    };
    let name_w = wide(&mut rows.iter().map(|r| r.name.chars().count()), "NAME");
    let uri_w = wide(&mut rows.iter().map(|r| r.uri.chars().count()), "URI");
    println!(
        "{:<name_w$} {:<11} {:<16} {:<16} {:<uri_w$} WHY",
        "NAME", "RESOURCE", "CONTEXT", "DECISION", "URI"
    );
    for r in &rows {
        println!(
            "{:<name_w$} {:<11} {:<16} {:<16} {:<uri_w$} {}",
            r.name,
            r.resource,
            r.context.as_deref().unwrap_or("-"),
            r.class.unwrap_or("-"),
            r.uri,
            r.why
        );
    }
    let decided = rows.iter().filter(|r| r.class.is_some()).count();
    println!(
        "{} sensors: {decided} monitored or shown, {} left out; {requests} requests",
        rows.len(),
        rows.len() - decided,
    );
    Ok(())
}

/// `envmon board dump`: the board envmon would monitor as a board file. A board made from
/// the source asks it; a built-in or file board is dumped as it is, without a BMC.
pub fn dump(settings: &Settings) -> Result<(), AgentError> {
    let named = board::named_board(&settings.board)?;
    let one: OneShot = source::open_once(settings, named.as_ref(), Need::ToBuild)?;
    let described = one.described();
    let board = board::build(named, described, settings)?;
    let from = match described {
        Described::Sdrs(s) => format!("the BMC's SDR repository ({} sensor records)", s.len()),
        Described::Redfish(s) => format!("the Redfish service's sensors ({} found)", s.len()),
        Described::Nothing => format!("board {}", settings.board.0),
    };
    let header = format!(
        "Made by `envmon board dump` from {from}.\n\
         Edit it and use it with --board FILE; `envmon board check FILE` validates it."
    );
    let comment = |item: &Item| match (&item.source, described) {
        (Source::IpmiNumber(_) | Source::IpmiName(_), Described::Sdrs(sdrs)) => {
            find_sdr(&item.source, sdrs).map(|e| {
                format!(
                    "SDR \"{}\", entity 0x{:02x}.{}",
                    e.name,
                    e.entity_id,
                    e.entity_instance & 0x7f
                )
            })
        }
        (Source::Redfish(uri), Described::Redfish(sensors)) => sensors
            .iter()
            .find(|s| s.uri == *uri)
            .map(|s| format!("Redfish \"{}\" ({})", s.name, s.resource.name())),
        _ => None,
    };
    print!("{}", envmon_board_defs::to_toml(&board, &header, comment));
    Ok(())
}
