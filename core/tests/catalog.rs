//! The catalog against its sources: the guide's text, the golden lines, and docs/messages.md.
//!
//! `ENVMON_BLESS=1 cargo test -p envmon-core` rewrites the golden file and the generated part
//! of docs/messages.md; review the diff before committing it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use envmon_core::{Prefix, RenderError, catalog::CATALOG, render, render_line};
use std::{collections::BTreeMap, path::PathBuf};

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn bless() -> bool {
    std::env::var("ENVMON_BLESS").is_ok_and(|v| v == "1")
}

/// Compares `actual` with the file, or rewrites the file when blessing.
fn check_file(rel: &str, actual: &str) {
    let path = repo_file(rel);
    if bless() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
            if e != a {
                panic!(
                    "{rel}:{}: expected\n  {e}\ngot\n  {a}\n(ENVMON_BLESS=1 rewrites it)",
                    i + 1
                );
            }
        }
        panic!(
            "{rel}: {} lines expected, {} rendered (ENVMON_BLESS=1 rewrites it)",
            expected.lines().count(),
            actual.lines().count()
        );
    }
}

/// The fixed arguments of the golden test, one entry per message, chosen independently of the
/// catalog so that a changed template or variable count shows up.
const GOLDEN_ARGS: &[(u32, &[&str])] = &[
    (735001, &["1"]),
    (735002, &["2"]),
    (735003, &["1"]),
    (735004, &["2"]),
    (735005, &[]),
    (735006, &[]),
    (735007, &["0", "96", "C"]),
    (735008, &["1", "58", "C"]),
    (735009, &[]),
    (735010, &[]),
    (735011, &["1"]),
    (735012, &["2"]),
    (735013, &["3"]),
    (735014, &["3"]),
    (735015, &["1", "85", "C"]),
    (735016, &["2", "45", "C"]),
    (735017, &["1", "40", "C"]),
    (735018, &["1", "70", "C"]),
    (735019, &["2", "60", "C"]),
    (735020, &["0", "45", "C"]),
    (735021, &["1", "30", "C"]),
    (735022, &["0"]),
    (735023, &[]),
    (735024, &["0", "55", "C"]),
    (735025, &["0", "105", "C"]),
    (735026, &["0", "95", "F"]),
    (735027, &["1"]),
    (735028, &[]),
    (735029, &[]),
    (
        743000,
        &["0x8086", "0x10d3", "03", "00", "0", "width", "x1", "x4"],
    ),
    (743001, &[]),
    (743002, &[]),
    (
        743004,
        &[
            "0x8086",
            "Intel Corporation",
            "0x1521",
            "I350 Gigabit Network Connection",
        ],
    ),
    (743010, &["fpga"]),
    (743011, &["-5"]),
];

#[test]
fn golden_every_message_both_prefixes() {
    let ids: Vec<u32> = GOLDEN_ARGS.iter().map(|(id, _)| *id).collect();
    let catalog_ids: Vec<u32> = CATALOG.iter().map(|m| m.id).collect();
    assert_eq!(
        ids, catalog_ids,
        "the golden test covers exactly the catalog"
    );
    let mut out = String::new();
    for prefix in [Prefix::Ftd, Prefix::Asa] {
        for (id, args) in GOLDEN_ARGS {
            out.push_str(&render_line(prefix, *id, args).unwrap());
            out.push('\n');
        }
    }
    check_file("tests/golden/messages.txt", &out);
}

#[test]
fn contract_examples() {
    for (prefix, id, args, line) in [
        (
            Prefix::Ftd,
            735002,
            &["1"][..],
            "%FTD-1-735002: IPMI: Cooling Fan 1: Failure Detected",
        ),
        (
            Prefix::Ftd,
            735007,
            &["0", "96", "C"],
            "%FTD-1-735007: IPMI: CPU 0: Temp: 96 C, Critical",
        ),
        (
            Prefix::Ftd,
            735014,
            &["3"],
            "%FTD-1-735014: Voltage Channel 3: Voltage Critical",
        ),
        (
            Prefix::Ftd,
            735020,
            &["0", "45", "C"],
            "%FTD-1-735020: CPU 0: Temp: 45 C OK",
        ),
        (
            Prefix::Ftd,
            735018,
            &["1", "70", "C"],
            "%FTD-4-735018: Power Supply 1: Temp: 70 C, Critical",
        ),
        (
            Prefix::Asa,
            735006,
            &[],
            "%ASA-1-735006: IPMI: Power Supply Unit Redundancy Lost",
        ),
    ] {
        assert_eq!(render_line(prefix, id, args).unwrap(), line);
    }
}

#[test]
fn cpu_number_replaces_the_hash_in_735022_when_known() {
    let known = render(735022, &["1"]).unwrap();
    let unknown = render(735022, &[]).unwrap();
    assert!(known.starts_with("CPU1 is running beyond"), "{known}");
    assert!(unknown.starts_with("CPU# is running beyond"), "{unknown}");
}

#[test]
fn wrong_ids_and_argument_counts_are_errors_naming_what_was_expected() {
    assert_eq!(render(735030, &[]), Err(RenderError::UnknownId(735030)));
    assert_eq!(
        render(736001, &[]),
        Err(RenderError::UnknownId(736001)),
        "not in scope"
    );
    let e = render(735007, &["0", "96"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "message 735007 takes 3 arguments (cpu temp unit), got 2"
    );
    let e = render(735005, &["x"]).unwrap_err();
    assert_eq!(e.to_string(), "message 735005 takes no arguments, got 1");
    let e = render(735022, &["1", "2"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "message 735022 takes 0 to 1 arguments ([cpu]), got 2"
    );
    assert!(matches!(
        render(735001, &["1\n%FTD-1-735002: forged"]),
        Err(RenderError::BadArgument { .. })
    ));
    assert!(matches!(
        render(735001, &[&"9".repeat(129)]),
        Err(RenderError::BadArgument { .. })
    ));
}

#[test]
fn templates_are_well_formed() {
    let mut last = 0;
    for m in CATALOG {
        assert!(m.id > last, "sorted and unique: {}", m.id);
        last = m.id;
        // Placeholders, in order of first appearance, are exactly the declared variables.
        let mut seen: Vec<&str> = Vec::new();
        let mut rest = m.template;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').expect("unclosed {") + open;
            let name = &rest[open + 1..close];
            if !seen.contains(&name) {
                seen.push(name);
            }
            rest = &rest[close + 1..];
        }
        assert!(!rest.contains('}'), "{}: stray }}", m.id);
        let vars: Vec<&str> = m.vars.iter().map(|v| v.name).collect();
        assert_eq!(
            seen, vars,
            "{}: variables in order of first appearance",
            m.id
        );
        // Optional variables come last.
        let first_optional = m
            .vars
            .iter()
            .position(|v| v.default.is_some())
            .unwrap_or(m.vars.len());
        assert!(
            m.vars[first_optional..].iter().all(|v| v.default.is_some()),
            "{}",
            m.id
        );
        // Device spelling: no space before punctuation.
        for p in [" ,", " .", " :", " )"] {
            assert!(!m.template.contains(p), "{}: '{p}' in template", m.id);
        }
        assert!(
            !m.explanation.is_empty() && !m.action.is_empty(),
            "{}",
            m.id
        );
    }
}

/// The guide's variable names for each message, in template order: rendering the catalog
/// template with these must give the guide's own line, normalised.
fn guide_tokens() -> BTreeMap<u32, Vec<&'static str>> {
    let v123 = vec!["var1", "var2", "var3"];
    let mut m: BTreeMap<u32, Vec<&'static str>> = BTreeMap::new();
    for id in [
        735001, 735002, 735003, 735004, 735011, 735012, 735013, 735014,
    ] {
        m.insert(id, vec!["var1"]);
    }
    for id in [
        735007, 735008, 735015, 735016, 735017, 735018, 735019, 735020, 735021, 735024, 735025,
        735026,
    ] {
        m.insert(id, v123.clone());
    }
    m.insert(735027, vec!["cpu_num"]);
    m.insert(
        743000,
        vec![
            "vendor_id",
            "device_id",
            "bus_num",
            "dev_num",
            "func_num",
            "link_attr_name",
            "actual_link_attr_val",
            "expected_link_attr_val",
        ],
    );
    m.insert(
        743004,
        vec!["vendor_id", "vendor_name", "device_id", "device_name"],
    );
    m.insert(743010, vec!["client name"]);
    m.insert(743011, vec!["code"]);
    m
}

/// Where envmon's text knowingly differs from the guide (each one documented in
/// docs/messages.md): (id, guide text after normalisation, envmon text).
const DEVIATIONS: &[(u32, &str, &str)] = &[(
    743000,
    "bus_num:dev_num, func_num",
    "bus_num:dev_num.func_num",
)];

/// Markup removed, a colon after the ID, no space before punctuation.
fn normalise_guide_line(line: &str) -> (u8, u32, String) {
    let s = line.replace('*', "").replace("\\_", "_");
    let rest = s.strip_prefix("%FTD-").expect("line starts with %FTD-");
    let level: u8 = rest[..1].parse().unwrap();
    let rest = &rest[2..];
    let id: u32 = rest[..6].parse().unwrap();
    let mut text = rest[6..].trim_start_matches(':').trim().to_string();
    for p in [",", ".", ":", ")"] {
        text = text.replace(&format!(" {p}"), p);
    }
    while text.contains("  ") {
        text = text.replace("  ", " ");
    }
    (level, id, text)
}

#[test]
fn catalog_matches_the_guide() {
    let guide =
        std::fs::read_to_string(repo_file("tests/data/ftd-syslog-735xxx-743xxx.md")).unwrap();
    let tokens = guide_tokens();
    let mut checked = Vec::new();
    for line in guide.lines() {
        let Some(msg) = line.strip_prefix("**Error Message** ") else {
            continue;
        };
        let (level, id, mut text) = normalise_guide_line(msg);
        if (736000..737000).contains(&id) {
            continue; // jumbo frames: not an environment message
        }
        for (dev_id, from, to) in DEVIATIONS {
            if *dev_id == id {
                assert!(text.contains(from), "{id}: deviation no longer needed?");
                text = text.replace(from, to);
            }
        }
        let def = envmon_core::catalog::lookup(id)
            .unwrap_or_else(|| panic!("{id} missing from the catalog"));
        assert_eq!(def.level.number(), level, "{id}: level");
        let args = tokens.get(&id).cloned().unwrap_or_default();
        assert_eq!(render(id, &args).unwrap(), text, "{id}: text");
        checked.push(id);
    }
    let all: Vec<u32> = CATALOG.iter().map(|m| m.id).collect();
    assert_eq!(
        checked, all,
        "every catalog message comes from the guide, and every guide message is in it"
    );
    assert_eq!(all.len(), 35);
}

#[test]
fn docs_messages_md_lists_every_message() {
    const BEGIN: &str =
        "<!-- catalog:begin (generated by core/tests/catalog.rs; ENVMON_BLESS=1 updates it) -->\n";
    const END: &str = "<!-- catalog:end -->\n";
    let path = repo_file("../docs/messages.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = doc
        .split_once(BEGIN)
        .expect("docs/messages.md has the begin marker");
    let (_, tail) = rest
        .split_once(END)
        .expect("docs/messages.md has the end marker");
    let mut generated = String::new();
    for m in CATALOG {
        generated.push_str(&format!("### {}\n\n", m.id));
        generated.push_str(&format!("`%FTD-{}-{}: {}`\n\n", m.level, m.id, m.template));
        generated.push_str(&format!("Level {} ({}).", m.level, m.level.keyword()));
        if m.vars.is_empty() {
            generated.push_str(" No variables.\n\n");
        } else {
            generated.push_str(" Variables, in argument order:\n\n");
            for v in m.vars {
                match v.default {
                    Some(d) => generated.push_str(&format!(
                        "- `{}`: {} (optional; `{}` when left out)\n",
                        v.name, v.meaning, d
                    )),
                    None => generated.push_str(&format!("- `{}`: {}\n", v.name, v.meaning)),
                }
            }
            generated.push('\n');
        }
        generated.push_str(&format!("Explanation: {}\n\n", m.explanation));
        generated.push_str(&format!(
            "Recommended action: {}\n\n",
            m.action.replace('\n', "\n\n")
        ));
    }
    let expected = format!("{head}{BEGIN}{generated}{END}{tail}");
    if bless() {
        std::fs::write(&path, &expected).unwrap();
    } else {
        assert!(
            doc == expected,
            "docs/messages.md is out of step with the catalog; ENVMON_BLESS=1 cargo test -p envmon-core updates it"
        );
    }
}
