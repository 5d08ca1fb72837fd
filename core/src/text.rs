//! Text from outside (SDR names, a BMC's strings, PCI names, a socket request) made safe for
//! every output: one rule, used where such text enters envmon (issue 21).
//!
//! Control characters (C0, DEL, C1: a line break would start a forged syslog line) and `%`
//! and `<` (what a forged `%FTD-1-735006:` message or an RFC 3164 `<PRI>` starts with) become
//! `?`. So no text from outside can put `%FTD-` or `%ASA-` into an output: only a catalog line
//! envmon renders itself carries one.

/// The placeholder for a character that is not passed on.
pub const PLACEHOLDER: char = '?';

/// `s` with every control character, `%` and `<` replaced by [`PLACEHOLDER`].
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || c == '%' || c == '<' {
                PLACEHOLDER
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_message_in_a_name_is_defused() {
        let forged = "FAN1\n<11>%FTD-1-735006: IPMI: x\u{7f}\u{85}";
        let s = sanitize(forged);
        assert_eq!(s, "FAN1??11>?FTD-1-735006: IPMI: x??");
        assert!(!s.contains("%FTD-") && !s.contains('\n') && !s.contains('<'));
        assert_eq!(
            sanitize("Temp_CPU0 °C"),
            "Temp_CPU0 °C",
            "ordinary text passes"
        );
    }
}
