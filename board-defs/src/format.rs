//! The board file format and its validation.

use crate::{Board, I2cDriver, Item, Source, capacity};
use envmon_core::engine::{Class, Limits, SensorSpec, TempUnit};
use envmon_core::location::line_col;
use envmon_core::pci::{PciExpect, parse_ids, parse_speed};
use serde::Deserialize;
use std::{
    collections::HashSet,
    error::Error,
    fmt, io,
    ops::Range,
    path::{Path, PathBuf},
};
use toml::Spanned;

/// What is wrong with a board file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardErrorKind {
    /// The file could not be read.
    Read,
    /// Not TOML, a wrong type, or an unknown key.
    Syntax,
    /// A value that does not make sense (unknown class, thresholds out of order, ...).
    Invalid,
}

/// A board-definition error at `file:line:column`.
#[derive(Debug)]
pub struct BoardError {
    /// What kind of problem.
    pub kind: BoardErrorKind,
    /// The file (or `<builtin:NAME>`).
    pub path: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
    source: Option<io::Error>,
}

impl fmt::Display for BoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl Error for BoardError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_ref().map(|e| e as &(dyn Error + 'static))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawBoard {
    name: Spanned<String>,
    #[serde(default)]
    base: Option<Spanned<String>>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    min_psus: Option<Spanned<i64>>,
    #[serde(default)]
    defaults: Option<RawDefaults>,
    #[serde(default)]
    item: Vec<Spanned<RawItem>>,
    #[serde(default)]
    pci: Vec<Spanned<RawPci>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPci {
    id: Spanned<String>,
    #[serde(rename = "match")]
    ids: Spanned<String>,
    address: Option<Spanned<String>>,
    #[serde(default)]
    required: bool,
    speed: Option<Spanned<String>>,
    width: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDefaults {
    hysteresis: Option<Spanned<f64>>,
    debounce: Option<Spanned<i64>>,
    unavailable_after: Option<Spanned<i64>>,
    unit: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawItem {
    id: Spanned<String>,
    class: Spanned<String>,
    label: Spanned<String>,
    source: Spanned<String>,
    warm: Option<Spanned<f64>>,
    critical: Option<Spanned<f64>>,
    shutdown: Option<Spanned<f64>>,
    min_rpm: Option<Spanned<f64>>,
    low: Option<Spanned<f64>>,
    high: Option<Spanned<f64>>,
    hysteresis: Option<Spanned<f64>>,
    debounce: Option<Spanned<i64>>,
    unavailable_after: Option<Spanned<i64>>,
    unit: Option<Spanned<String>>,
    active_low: Option<Spanned<bool>>,
    #[serde(default)]
    optional: bool,
    required: Option<Spanned<bool>>,
    also: Option<Spanned<Vec<Spanned<String>>>>,
}

/// The most items one board may have (keeps every per-sweep table bounded).
pub const MAX_ITEMS: usize = 256;

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Option<Range<usize>>, message: impl Into<String>) -> BoardError {
        BoardError {
            kind: BoardErrorKind::Invalid,
            path: self.path.to_path_buf(),
            position: span.map(|s| line_col(self.text, s.start)),
            message: message.into(),
            source: None,
        }
    }

    fn small_int(&self, v: &Spanned<i64>, key: &str, range: Range<i64>) -> Result<u8, BoardError> {
        let n = *v.get_ref();
        if !range.contains(&n) {
            return Err(self.err(
                Some(v.span()),
                format!(
                    "{key} must be from {} to {}, got {n}",
                    range.start,
                    range.end - 1
                ),
            ));
        }
        u8::try_from(n).map_err(|_| self.err(Some(v.span()), format!("{key} is out of range")))
    }

    fn finite(&self, v: &Option<Spanned<f64>>, key: &str) -> Result<Option<f64>, BoardError> {
        match v {
            Some(s) if !s.get_ref().is_finite() => {
                Err(self.err(Some(s.span()), format!("{key} must be a finite number")))
            }
            Some(s) => Ok(Some(*s.get_ref())),
            None => Ok(None),
        }
    }
}

fn parse_unit(ctx: &Ctx<'_>, v: &Spanned<String>) -> Result<TempUnit, BoardError> {
    match v.get_ref().as_str() {
        "C" => Ok(TempUnit::C),
        "F" => Ok(TempUnit::F),
        other => Err(ctx.err(
            Some(v.span()),
            format!("unit must be C or F, got '{other}'"),
        )),
    }
}

/// Parses a source string (without `active-low`, which is a key of its own): one scheme,
/// one parser each.
pub(crate) fn parse_source(s: &str) -> Result<Source, String> {
    let expected = "expected ipmi:SDR NAME, ipmi:#NUMBER, hwmon:CHIP/LABEL, i2c:BUS/ADDR/DRIVER, gpio:LINE, net:IFACE or redfish:URI";
    let Some((scheme, rest)) = s.split_once(':') else {
        return Err(format!("unknown source '{s}' ({expected})"));
    };
    match scheme {
        "ipmi" => ipmi_source(s, rest),
        "hwmon" => hwmon_source(s, rest),
        "i2c" => i2c_source(s, rest),
        "gpio" => rest
            .parse::<u32>()
            .ok()
            .filter(|n| *n < 65536)
            .map(|line| Source::Gpio {
                line,
                active_low: false,
            })
            .ok_or_else(|| format!("'{s}': a GPIO line is a number below 65536")),
        "net" => net_source(s, rest),
        "redfish" => redfish_source(s, rest),
        _ => Err(format!("unknown source '{s}' ({expected})")),
    }
}

/// Whether `v` is 1 to `max` bytes with no control character.
fn printable(v: &str, max: usize) -> bool {
    !v.is_empty() && v.len() <= max && !v.chars().any(char::is_control)
}

/// `ipmi:SDR NAME` or `ipmi:#NUMBER` (`s` whole, `rest` after the scheme).
fn ipmi_source(s: &str, rest: &str) -> Result<Source, String> {
    if let Some(num) = rest.strip_prefix('#') {
        return parse_u8(num)
            .map(Source::IpmiNumber)
            .ok_or_else(|| format!("'{s}': a sensor number is 0 to 255 (decimal or 0x hex)"));
    }
    if !printable(rest, 16) {
        return Err(format!(
            "'{s}': an SDR name is 1 to 16 printable characters"
        ));
    }
    Ok(Source::IpmiName(rest.to_string()))
}

/// `hwmon:CHIP/LABEL`.
fn hwmon_source(s: &str, rest: &str) -> Result<Source, String> {
    match rest.split_once('/') {
        Some((chip, label))
            if printable(chip, 64) && printable(label, 64) && !chip.contains('/') =>
        {
            Ok(Source::Hwmon {
                chip: chip.into(),
                label: label.into(),
            })
        }
        _ => Err(format!(
            "'{s}': expected hwmon:CHIP/LABEL (the chip's name, the channel's label)"
        )),
    }
}

/// `i2c:BUS/ADDRESS/DRIVER`.
fn i2c_source(s: &str, rest: &str) -> Result<Source, String> {
    let parts: Vec<&str> = rest.splitn(3, '/').collect();
    let bad = || {
        format!(
            "'{s}': expected i2c:BUS/ADDRESS/DRIVER with DRIVER lm75, pmbus:temp, pmbus:fan or pmbus:status"
        )
    };
    let [bus, addr, drv] = parts.as_slice() else {
        return Err(bad());
    };
    let bus = parse_u8(bus).ok_or_else(bad)?;
    let address = parse_u8(addr)
        .filter(|a| (0x03..=0x77).contains(a))
        .ok_or_else(|| format!("'{s}': a 7-bit I2C address is 0x03 to 0x77"))?;
    let driver = match *drv {
        "lm75" => I2cDriver::Lm75,
        "pmbus:temp" => I2cDriver::PmbusTemp,
        "pmbus:fan" => I2cDriver::PmbusFan,
        "pmbus:status" => I2cDriver::PmbusStatus,
        _ => return Err(bad()),
    };
    Ok(Source::I2c {
        bus,
        address,
        driver,
    })
}

/// `net:IFACE`.
fn net_source(s: &str, rest: &str) -> Result<Source, String> {
    if rest.is_empty()
        || rest.len() > 15
        || !rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    {
        return Err(format!(
            "'{s}': an interface name is 1 to 15 of A-Z a-z 0-9 - _ . @"
        ));
    }
    Ok(Source::Net(rest.into()))
}

/// `redfish:/redfish/v1/...`.
fn redfish_source(s: &str, rest: &str) -> Result<Source, String> {
    if !rest.starts_with("/redfish/v1/")
        || rest.len() > 256
        || rest.split('/').any(|p| p == "..")
        || rest.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(format!(
            "'{s}': a Redfish source is redfish:/redfish/v1/... (at most 256 bytes, no spaces)"
        ));
    }
    Ok(Source::Redfish(rest.into()))
}

fn parse_u8(t: &str) -> Option<u8> {
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

/// Which classes a source can feed.
fn source_fits(source: &Source, class: Class) -> bool {
    use Class::*;
    match source {
        Source::IpmiName(_) | Source::IpmiNumber(_) => class != Backplane,
        Source::Hwmon { .. } => class.is_temperature() || matches!(class, Fan | PsuFan | Voltage),
        Source::I2c {
            driver: I2cDriver::Lm75 | I2cDriver::PmbusTemp,
            ..
        } => class.is_temperature(),
        Source::I2c {
            driver: I2cDriver::PmbusFan,
            ..
        } => matches!(class, Fan | PsuFan),
        Source::I2c {
            driver: I2cDriver::PmbusStatus,
            ..
        } => matches!(class, Psu | PsuFan),
        Source::Gpio { .. } => matches!(class, Psu | PsuFan | Fan | Backplane | PsuRedundancy),
        Source::Net(_) => class == Backplane,
        Source::Redfish(_) => class != Backplane,
    }
}

fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() || label.len() > 32 || label.chars().any(|c| c.is_control()) {
        return Err(format!(
            "label '{}' must be 1 to 32 bytes of printable UTF-8",
            label.escape_default()
        ));
    }
    Ok(())
}

/// The `[defaults]` every item falls back to.
struct Defaults {
    hysteresis: f64,
    debounce: u8,
    unavailable_after: u8,
    unit: TempUnit,
}

/// Reads `[defaults]`.
fn parse_defaults(ctx: &Ctx<'_>, raw: Option<RawDefaults>) -> Result<Defaults, BoardError> {
    let d = raw.unwrap_or_default();
    let hysteresis = ctx.finite(&d.hysteresis, "hysteresis")?.unwrap_or(2.0);
    if hysteresis < 0.0 {
        return Err(ctx.err(
            d.hysteresis.map(|h| h.span()),
            "hysteresis must not be negative",
        ));
    }
    let debounce = match &d.debounce {
        Some(v) => ctx.small_int(v, "debounce", 1..11)?,
        None => 2,
    };
    let unavailable_after = match &d.unavailable_after {
        Some(v) => ctx.small_int(v, "unavailable-after", 1..101)?,
        None => 3,
    };
    let unit = match &d.unit {
        Some(u) => parse_unit(ctx, u)?,
        None => TempUnit::C,
    };
    Ok(Defaults {
        hysteresis,
        debounce,
        unavailable_after,
        unit,
    })
}

/// Reads one `[[item]]`; `ids` and `sources` are those of the items before it (each is
/// used once).
fn parse_item(
    ctx: &Ctx<'_>,
    spanned: &Spanned<RawItem>,
    d: &Defaults,
    ids: &mut HashSet<String>,
    sources: &mut HashSet<Source>,
) -> Result<Item, BoardError> {
    let it = spanned.get_ref();
    let id = check_id(ctx, it, ids)?;
    let class = parse_class(ctx, it)?;
    check_label(it.label.get_ref()).map_err(|m| ctx.err(Some(it.label.span()), m))?;
    let (source, discrete) = item_source(ctx, it, class, sources)?;
    // A value out of any part's reach is said as such before the order of the thresholds
    // (issue 35: warm 80000 with critical 90 said "thresholds must rise").
    let unit = unit_of(ctx, it, class, d.unit)?;
    check_physical(ctx, class, it, unit)?;
    let limits = limits_for(ctx, class, it, discrete)?;
    if let Some(r) = it.required.as_ref().filter(|r| *r.get_ref() && it.optional) {
        return Err(ctx.err(Some(r.span()), "an item is required or optional, not both"));
    }
    let (hysteresis, debounce, unavailable_after) = timing(ctx, it, d, &limits)?;
    Ok(Item {
        id,
        source,
        optional: it.optional,
        discovered: false,
        also: parse_also(ctx, it, class)?,
        spec: SensorSpec {
            class,
            label: it.label.get_ref().clone(),
            limits,
            hysteresis,
            debounce,
            unavailable_after,
            unit,
        },
    })
}

/// The item's id: 1 to 32 of A-Z a-z 0-9 - _ ., not used before (`ids`).
fn check_id(ctx: &Ctx<'_>, it: &RawItem, ids: &mut HashSet<String>) -> Result<String, BoardError> {
    let id = it.id.get_ref();
    if id.is_empty()
        || id.len() > 32
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ctx.err(
            Some(it.id.span()),
            format!(
                "id '{}' must be 1 to 32 of A-Z a-z 0-9 - _ .",
                id.escape_default()
            ),
        ));
    }
    if !ids.insert(id.clone()) {
        return Err(ctx.err(Some(it.id.span()), format!("id '{id}' is used twice")));
    }
    Ok(id.clone())
}

/// The item's class, by name.
fn parse_class(ctx: &Ctx<'_>, it: &RawItem) -> Result<Class, BoardError> {
    Class::from_name(it.class.get_ref()).ok_or_else(|| {
        let names: Vec<&str> = Class::ALL.iter().map(|c| c.name()).collect();
        ctx.err(
            Some(it.class.span()),
            format!(
                "unknown class '{}' (expected one of {})",
                it.class.get_ref(),
                names.join(", ")
            ),
        )
    })
}

/// The item's source (one that can feed its class, with `active-low` only on a GPIO, not
/// used by an item before: `sources`), and whether it reads good/bad rather than a number.
fn item_source(
    ctx: &Ctx<'_>,
    it: &RawItem,
    class: Class,
    sources: &mut HashSet<Source>,
) -> Result<(Source, bool), BoardError> {
    let mut source =
        parse_source(it.source.get_ref()).map_err(|m| ctx.err(Some(it.source.span()), m))?;
    if !source_fits(&source, class) {
        return Err(ctx.err(
            Some(it.source.span()),
            format!(
                "a {} source cannot feed class {class}",
                it.source.get_ref().split(':').next().unwrap_or("")
            ),
        ));
    }
    match (&mut source, &it.active_low) {
        (Source::Gpio { active_low, .. }, Some(v)) => *active_low = *v.get_ref(),
        (_, Some(v)) => {
            return Err(ctx.err(Some(v.span()), "active-low applies to gpio sources only"));
        }
        _ => {}
    }
    let discrete = matches!(
        source,
        Source::Gpio { .. }
            | Source::Net(_)
            | Source::I2c {
                driver: I2cDriver::PmbusStatus,
                ..
            }
    );
    if !sources.insert(source.clone()) {
        return Err(ctx.err(
            Some(it.source.span()),
            format!("source '{source}' is used by two items"),
        ));
    }
    Ok((source, discrete))
}

/// The item's hysteresis (in its unit; a fan's default is 50 times the board's), debounce
/// and unavailable-after, each from the item or the board's defaults.
fn timing(
    ctx: &Ctx<'_>,
    it: &RawItem,
    d: &Defaults,
    limits: &Limits,
) -> Result<(f64, u8, u8), BoardError> {
    let hysteresis = ctx
        .finite(&it.hysteresis, "hysteresis")?
        .unwrap_or(match limits {
            Limits::Fan { .. } => d.hysteresis * 50.0,
            Limits::Voltage { .. } => 0.0,
            _ => d.hysteresis,
        });
    if hysteresis < 0.0 {
        return Err(ctx.err(
            it.hysteresis.as_ref().map(|h| h.span()),
            "hysteresis must not be negative",
        ));
    }
    let debounce = match &it.debounce {
        Some(v) => ctx.small_int(v, "debounce", 1..11)?,
        None => d.debounce,
    };
    let unavailable_after = match &it.unavailable_after {
        Some(v) => ctx.small_int(v, "unavailable-after", 1..101)?,
        None => d.unavailable_after,
    };
    Ok((hysteresis, debounce, unavailable_after))
}

/// The board's items per kind of local source, within the tables envmon keeps for them.
fn check_capacity(ctx: &Ctx<'_>, items: &[Item]) -> Result<(), BoardError> {
    let count = |f: &dyn Fn(&Source) -> bool| items.iter().filter(|i| f(&i.source)).count();
    for (what, n, cap) in [
        (
            "hwmon",
            count(&|s| matches!(s, Source::Hwmon { .. })),
            capacity::HWMON,
        ),
        (
            "i2c",
            count(&|s| matches!(s, Source::I2c { .. })),
            capacity::I2C,
        ),
        (
            "gpio",
            count(&|s| matches!(s, Source::Gpio { .. })),
            capacity::GPIO,
        ),
        (
            "net",
            count(&|s| matches!(s, Source::Net(_))),
            capacity::NET,
        ),
    ] {
        if n > cap {
            return Err(ctx.err(
                None,
                format!("{n} {what} items, more than the {cap} envmon's {what} table holds"),
            ));
        }
    }
    Ok(())
}

/// Reads one `[[pci]]`; `earlier` are the entries before it.
fn parse_pci(
    ctx: &Ctx<'_>,
    spanned: &Spanned<RawPci>,
    earlier: &[PciExpect],
) -> Result<PciExpect, BoardError> {
    let p = spanned.get_ref();
    let id = p.id.get_ref();
    if id.is_empty() || id.len() > 32 || earlier.iter().any(|e| e.id == *id) {
        return Err(ctx.err(
            Some(p.id.span()),
            format!("pci id '{id}' is empty, too long or used twice"),
        ));
    }
    let (vendor, device) = parse_ids(p.ids.get_ref()).ok_or_else(|| {
        ctx.err(
            Some(p.ids.span()),
            format!(
                "match '{}' must be VENDOR:DEVICE in hex, as in 8086:1521",
                p.ids.get_ref()
            ),
        )
    })?;
    let address = match &p.address {
        Some(a) => {
            let t = a.get_ref();
            let ok = t.len() == 12
                && t.as_bytes().get(4) == Some(&b':')
                && t.as_bytes().get(7) == Some(&b':')
                && t.as_bytes().get(10) == Some(&b'.')
                && t.chars()
                    .enumerate()
                    .all(|(i, c)| [4, 7, 10].contains(&i) || c.is_ascii_hexdigit());
            if !ok {
                return Err(ctx.err(
                    Some(a.span()),
                    format!("address '{t}' must be DDDD:BB:DD.F, as in 0000:03:00.0"),
                ));
            }
            Some(t.to_ascii_lowercase())
        }
        None => None,
    };
    let speed = match &p.speed {
        Some(v) => Some(parse_speed(v.get_ref()).ok_or_else(|| {
            ctx.err(
                Some(v.span()),
                format!("speed '{}' must be like \"8.0 GT/s\"", v.get_ref()),
            )
        })?),
        None => None,
    };
    let width = match &p.width {
        Some(v) => Some(ctx.small_int(v, "width", 1..33)?),
        None => None,
    };
    Ok(PciExpect {
        id: id.clone(),
        vendor,
        device,
        address,
        required: p.required,
        speed,
        width,
    })
}

/// `min-psus`: at most the board's supplies (0 when not given).
fn parse_min_psus(
    ctx: &Ctx<'_>,
    raw: Option<&Spanned<i64>>,
    items: &[Item],
) -> Result<usize, BoardError> {
    let psus = items.iter().filter(|i| i.spec.class == Class::Psu).count();
    let min_psus = match raw {
        Some(v) => {
            let n = usize::try_from(*v.get_ref()).unwrap_or(usize::MAX);
            if n > psus {
                return Err(ctx.err(
                    Some(v.span()),
                    format!(
                        "min-psus is {}, but the board has {psus} psu items",
                        v.get_ref()
                    ),
                ));
            }
            n
        }
        None => 0,
    };
    Ok(min_psus)
}

impl BoardError {
    /// An [`BoardErrorKind::Invalid`] error found after validation (an item that binds to
    /// nothing on the source, say), at `position` of `path` when known.
    pub fn invalid(path: &Path, position: Option<(usize, usize)>, message: String) -> BoardError {
        BoardError {
            kind: BoardErrorKind::Invalid,
            path: path.to_path_buf(),
            position,
            message,
            source: None,
        }
    }
}

/// Where each item's `source` is written in a board file's `text`: (id, 1-based line and
/// column), for errors found once the board meets its source. Empty when the text does not
/// parse.
pub fn source_positions(text: &str) -> Vec<(String, (usize, usize))> {
    let Ok(raw) = toml::from_str::<RawBoard>(text) else {
        return Vec::new();
    };
    raw.item
        .iter()
        .map(|i| {
            let it = i.get_ref();
            (
                it.id.get_ref().clone(),
                line_col(text, it.source.span().start),
            )
        })
        .collect()
}

/// Parses and validates a board definition. `path` is used in messages only.
pub fn parse(path: &Path, text: &str) -> Result<Board, BoardError> {
    let ctx = Ctx { path, text };
    let raw: RawBoard = toml::from_str(text).map_err(|e| BoardError {
        kind: BoardErrorKind::Syntax,
        path: path.to_path_buf(),
        position: e.span().map(|s| line_col(text, s.start)),
        message: e.message().trim_end().to_string(),
        source: None,
    })?;
    let name = raw.name.get_ref().trim();
    if name.is_empty() || name.len() > 64 {
        return Err(ctx.err(Some(raw.name.span()), "name must be 1 to 64 characters"));
    }
    let base_auto = match &raw.base {
        Some(b) if b.get_ref() == "auto" => true,
        Some(b) => {
            return Err(ctx.err(
                Some(b.span()),
                format!("base must be \"auto\", got '{}'", b.get_ref()),
            ));
        }
        None => false,
    };
    let defaults = parse_defaults(&ctx, raw.defaults)?;
    if raw.item.len() > MAX_ITEMS {
        return Err(ctx.err(
            None,
            format!(
                "a board has at most {MAX_ITEMS} items, this one {}",
                raw.item.len()
            ),
        ));
    }
    let (mut ids, mut sources) = (HashSet::new(), HashSet::new());
    let items = raw
        .item
        .iter()
        .map(|it| parse_item(&ctx, it, &defaults, &mut ids, &mut sources))
        .collect::<Result<Vec<Item>, BoardError>>()?;
    check_capacity(&ctx, &items)?;
    if raw.pci.len() > capacity::PCI {
        return Err(ctx.err(
            raw.pci.get(capacity::PCI).map(|p| p.span()),
            format!(
                "{} pci entries, more than the {} envmon's PCI table holds",
                raw.pci.len(),
                capacity::PCI
            ),
        ));
    }
    let mut pci: Vec<PciExpect> = Vec::with_capacity(raw.pci.len());
    for p in &raw.pci {
        let e = parse_pci(&ctx, p, &pci)?;
        pci.push(e);
    }
    let min_psus = parse_min_psus(&ctx, raw.min_psus.as_ref(), &items)?;
    Ok(Board {
        name: name.to_string(),
        description: raw.description,
        base_auto,
        min_psus,
        items,
        pci,
    })
}

/// `also`: a supply's failure flags, IPMI sources, at most [`crate::MAX_ALSO`].
fn parse_also(ctx: &Ctx<'_>, it: &RawItem, class: Class) -> Result<Vec<Source>, BoardError> {
    let Some(list) = &it.also else {
        return Ok(Vec::new());
    };
    if class != Class::Psu {
        return Err(ctx.err(
            Some(list.span()),
            format!("also applies to psu items, not to {class}"),
        ));
    }
    if list.get_ref().len() > crate::MAX_ALSO {
        return Err(ctx.err(
            Some(list.span()),
            format!("also lists at most {} flags", crate::MAX_ALSO),
        ));
    }
    list.get_ref()
        .iter()
        .map(|v| match parse_source(v.get_ref()) {
            Ok(s @ (Source::IpmiName(_) | Source::IpmiNumber(_))) => Ok(s),
            Ok(_) => Err(ctx.err(Some(v.span()), "also names IPMI sensors only")),
            Err(m) => Err(ctx.err(Some(v.span()), m)),
        })
        .collect()
}

/// The item's temperature unit: its own `unit` (temperatures only), else the defaults'.
fn unit_of(
    ctx: &Ctx<'_>,
    it: &RawItem,
    class: Class,
    default: TempUnit,
) -> Result<TempUnit, BoardError> {
    match &it.unit {
        Some(u) if class.is_temperature() => parse_unit(ctx, u),
        Some(u) => Err(ctx.err(
            Some(u.span()),
            format!("unit applies to temperatures, not to {class}"),
        )),
        None => Ok(default),
    }
}

/// Refuses thresholds no part can reach: outside the class's physical range
/// ([`envmon_core::engine::physical_range`]: -55 to 150 C for temperatures, 0 to 50,000 RPM
/// for fans), each located at its key.
fn check_physical(
    ctx: &Ctx<'_>,
    class: Class,
    it: &RawItem,
    unit: TempUnit,
) -> Result<(), BoardError> {
    let probe = envmon_core::engine::SensorSpec {
        class,
        label: String::new(),
        limits: if class.is_temperature() {
            Limits::Temperature {
                warm: None,
                critical: None,
                shutdown: None,
            }
        } else {
            Limits::Fan { min_rpm: None }
        },
        hysteresis: 0.0,
        debounce: 1,
        unavailable_after: 1,
        unit,
    };
    let Some((low, high)) = envmon_core::engine::physical_range(&probe) else {
        return Ok(());
    };
    // Only the keys of the class (another class's key is refused by `limits_for`).
    let keys = if class.is_temperature() {
        vec![
            (&it.warm, "warm"),
            (&it.critical, "critical"),
            (&it.shutdown, "shutdown"),
        ]
    } else if matches!(class, Class::Fan | Class::PsuFan) {
        vec![(&it.min_rpm, "min-rpm")]
    } else {
        return Ok(());
    };
    for (v, name) in keys {
        if let Some(v) = v.as_ref().filter(|v| !(low..=high).contains(v.get_ref())) {
            let what = if class.is_temperature() {
                format!("{} {}", unit.as_str(), "(a physical temperature)")
            } else {
                "RPM".to_string()
            };
            return Err(ctx.err(
                Some(v.span()),
                format!(
                    "{name} = {} is outside {low} to {high} {what}: no part reaches it",
                    v.get_ref()
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that the item has exactly the limits its class uses, in a sensible order.
fn limits_for(
    ctx: &Ctx<'_>,
    class: Class,
    it: &RawItem,
    discrete: bool,
) -> Result<Limits, BoardError> {
    let temp_keys = [
        (&it.warm, "warm"),
        (&it.critical, "critical"),
        (&it.shutdown, "shutdown"),
    ];
    let fan_keys = [(&it.min_rpm, "min-rpm")];
    let volt_keys = [(&it.low, "low"), (&it.high, "high")];
    let reject = |keys: &[(&Option<Spanned<f64>>, &str)]| -> Result<(), BoardError> {
        for (v, name) in keys {
            if let Some(v) = v {
                return Err(ctx.err(
                    Some(v.span()),
                    format!("{name} does not apply to class {class}"),
                ));
            }
        }
        Ok(())
    };
    if discrete || matches!(class, Class::Backplane | Class::Psu | Class::PsuRedundancy) {
        reject(&temp_keys)?;
        reject(&fan_keys)?;
        reject(&volt_keys)?;
        return Ok(Limits::Discrete);
    }
    match class {
        // A fan without min-rpm is shown and never fails (an IPMI fan whose SDR has no
        // lower threshold, as `board dump` writes it).
        Class::Fan => {
            reject(&temp_keys)?;
            reject(&volt_keys)?;
            Ok(Limits::Fan {
                min_rpm: ctx.finite(&it.min_rpm, "min-rpm")?,
            })
        }
        Class::PsuFan => {
            reject(&temp_keys)?;
            reject(&volt_keys)?;
            Ok(match ctx.finite(&it.min_rpm, "min-rpm")? {
                Some(min) => Limits::Fan { min_rpm: Some(min) },
                None => Limits::Discrete,
            })
        }
        // One side, both, or none (shown only).
        Class::Voltage => {
            reject(&temp_keys)?;
            reject(&fan_keys)?;
            voltage_limits(ctx, it)
        }
        // Temperatures: any of warm, critical, shutdown, in rising order; none is shown only.
        _ => {
            reject(&fan_keys)?;
            reject(&volt_keys)?;
            temperature_limits(ctx, it)
        }
    }
}

/// A voltage's limits: one side, both (low below high), or none (shown only).
fn voltage_limits(ctx: &Ctx<'_>, it: &RawItem) -> Result<Limits, BoardError> {
    let low = ctx.finite(&it.low, "low")?;
    let high = ctx.finite(&it.high, "high")?;
    if let (Some(low), Some(high)) = (low, high) {
        if low >= high {
            return Err(ctx.err(
                it.high.as_ref().map(|h| h.span()),
                format!("high ({high}) must be above low ({low})"),
            ));
        }
    }
    Ok(Limits::Voltage { low, high })
}

/// A temperature's limits: any of warm, critical, shutdown, in rising order.
fn temperature_limits(ctx: &Ctx<'_>, it: &RawItem) -> Result<Limits, BoardError> {
    let warm = ctx.finite(&it.warm, "warm")?;
    let critical = ctx.finite(&it.critical, "critical")?;
    let shutdown = ctx.finite(&it.shutdown, "shutdown")?;
    let ordered = [
        (warm, &it.warm),
        (critical, &it.critical),
        (shutdown, &it.shutdown),
    ];
    let mut last: Option<f64> = None;
    for (v, spanned) in ordered {
        if let Some(v) = v {
            if last.is_some_and(|l| v <= l) {
                return Err(ctx.err(
                    spanned.as_ref().map(|s| s.span()),
                    "thresholds must rise: warm < critical < shutdown",
                ));
            }
            last = Some(v);
        }
    }
    Ok(Limits::Temperature {
        warm,
        critical,
        shutdown,
    })
}

/// The largest board or configuration file envmon reads (1 MiB): a larger one is refused
/// before it is read whole.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads a text file of at most [`MAX_FILE_BYTES`]: a larger one (or one that grows past it
/// while read) is an `InvalidData` error saying so, and so is one that is not UTF-8.
pub fn read_text_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let too_big = |n: u64| {
        invalid(format!(
            "{n} bytes or more: larger than the {} KiB a file may have",
            MAX_FILE_BYTES / 1024
        ))
    };
    if len > MAX_FILE_BYTES {
        return Err(too_big(len));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|e| invalid(format!("not UTF-8 text: {e}")))
}

/// Reads and validates a board file.
pub fn load(path: &Path) -> Result<Board, BoardError> {
    let text = read_text_bounded(path).map_err(|e| BoardError {
        kind: BoardErrorKind::Read,
        path: path.to_path_buf(),
        position: None,
        message: format!("cannot read the board definition: {e}"),
        source: Some(e),
    })?;
    parse(path, &text)
}
