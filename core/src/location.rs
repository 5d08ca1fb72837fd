//! Positions in text, for `file:line:column` errors.

/// The 1-based line and column (in characters) of byte `offset` in `text`. An offset past
/// the end points just after the last character.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut cut = offset.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let before = &text[..cut];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn lines_and_columns_are_one_based_and_count_characters() {
        let t = "ab\né x\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, 6), (2, 3), "é is one column");
        assert_eq!(line_col(t, 4), (2, 1), "inside é: its start");
        assert_eq!(line_col(t, 99), (3, 1));
    }
}
