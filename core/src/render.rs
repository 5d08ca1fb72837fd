//! Message rendering: catalog template + arguments -> the exact message line.

use crate::catalog::{self, MessageDef};
use std::{error::Error, fmt, str::FromStr};

/// The longest argument accepted, in bytes. Real values are short (a label, a number, a unit);
/// the cap keeps every rendered line, and so every syslog frame, bounded.
pub const MAX_ARG_LEN: usize = 128;

/// The product prefix of a message line: `%FTD-...` or `%ASA-...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prefix {
    /// Secure Firewall Threat Defense (the default).
    #[default]
    Ftd,
    /// Adaptive Security Appliance.
    Asa,
}

impl Prefix {
    /// The prefix as printed: `FTD` or `ASA`.
    pub fn as_str(self) -> &'static str {
        match self {
            Prefix::Ftd => "FTD",
            Prefix::Asa => "ASA",
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("FTD") {
            Ok(Prefix::Ftd)
        } else if s.eq_ignore_ascii_case("ASA") {
            Ok(Prefix::Asa)
        } else {
            Err(format!("unknown prefix '{s}' (expected FTD or ASA)"))
        }
    }
}

/// Why a message could not be rendered. Every variant is a caller error; nothing is printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// No catalog message has this number.
    UnknownId(u32),
    /// Too few or too many arguments.
    ArgCount {
        /// The message number.
        id: u32,
        /// The fewest arguments accepted.
        min: usize,
        /// The most arguments accepted.
        max: usize,
        /// How many were given.
        got: usize,
        /// The variable names, space-separated, optional ones in brackets.
        names: String,
    },
    /// An argument that would corrupt the line (control character) or is over [`MAX_ARG_LEN`].
    BadArgument {
        /// The message number.
        id: u32,
        /// The variable the argument was for.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::UnknownId(id) => write!(
                f,
                "unknown message ID {id} (the catalog has 735001-735029, 743000-743002, 743004, 743010, 743011; see 'envmon catalog')"
            ),
            RenderError::ArgCount {
                id,
                min,
                max,
                got,
                names,
            } => {
                let count = if min == max {
                    format!("{min} argument{}", if *min == 1 { "" } else { "s" })
                } else {
                    format!("{min} to {max} arguments")
                };
                if names.is_empty() {
                    write!(f, "message {id} takes no arguments, got {got}")
                } else {
                    write!(f, "message {id} takes {count} ({names}), got {got}")
                }
            }
            RenderError::BadArgument { id, name, reason } => {
                write!(f, "message {id}: argument '{name}' {reason}")
            }
        }
    }
}

impl Error for RenderError {}

/// Renders message `id` with `args` (in the order of [`MessageDef::vars`]) to its text, without
/// the `%FTD-1-735002: ` part.
pub fn render(id: u32, args: &[&str]) -> Result<String, RenderError> {
    let def = catalog::lookup(id).ok_or(RenderError::UnknownId(id))?;
    render_def(def, args)
}

/// Renders the full message line, `%PREFIX-LEVEL-ID: text`, exactly as envmon sends it.
pub fn render_line(prefix: Prefix, id: u32, args: &[&str]) -> Result<String, RenderError> {
    let def = catalog::lookup(id).ok_or(RenderError::UnknownId(id))?;
    let text = render_def(def, args)?;
    Ok(format!("%{}-{}-{}: {}", prefix, def.level, def.id, text))
}

fn render_def(def: &MessageDef, args: &[&str]) -> Result<String, RenderError> {
    let min = def.required_args();
    let max = def.vars.len();
    if args.len() < min || args.len() > max {
        let names = def
            .vars
            .iter()
            .map(|v| match v.default {
                Some(_) => format!("[{}]", v.name),
                None => v.name.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ");
        return Err(RenderError::ArgCount {
            id: def.id,
            min,
            max,
            got: args.len(),
            names,
        });
    }
    for (var, arg) in def.vars.iter().zip(args) {
        let reason = if arg.len() > MAX_ARG_LEN {
            Some("is longer than 128 bytes")
        } else if arg.chars().any(char::is_control) {
            Some("contains a control character")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(RenderError::BadArgument {
                id: def.id,
                name: var.name,
                reason,
            });
        }
    }
    let mut out = String::with_capacity(def.template.len() + 16);
    let mut rest = def.template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            // Not reachable for catalog templates (a test checks them); print literally.
            out.push_str(&rest[open..]);
            return Ok(out);
        };
        let name = &after[..close];
        match def.vars.iter().position(|v| v.name == name) {
            Some(i) => {
                let value = args.get(i).copied().or(def.vars[i].default).unwrap_or("");
                // Arguments may come from outside (a PCI name, a board label): no `%` or `<`.
                out.push_str(&crate::text::sanitize(value));
            }
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
