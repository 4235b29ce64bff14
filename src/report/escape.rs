//! Escaping what came from evidence before it reaches a terminal or a spreadsheet.
//!
//! **Text** (the text report, `inspect`, `discover`, messages on stderr): every control
//! character is written visibly, so a hive string holding `ESC[2J` cannot clear the analyst's
//! screen and a newline cannot forge a report line:
//!
//! - every control character (C0 U+0000–U+001F with tab and newline, DEL, C1 U+0080–U+009F)
//!   and every invisible format character that reorders or hides text (bidirectional overrides
//!   and isolates, zero-width characters, line and paragraph separators, the byte-order mark)
//!   becomes `\x{HH}` with its code point in hex: `\x{1b}`, `\x{0a}`, `\x{202e}`;
//! - backslashes stay as they are (`C:\Windows\System32\spool\drivers\x64` reads as itself),
//!   except a run of backslashes directly before the two characters `x{` or before an escape,
//!   which is doubled: the five characters `\x{1b}` in a hive are written `\\x{1b}`.
//!
//! Reading it back is unambiguous: a run of *n* backslashes followed by `x{` stands for *n*/2
//! backslashes and a plain `x{` when *n* is even, and for (*n*−1)/2 backslashes and an escape
//! when *n* is odd; any other backslash is itself. (`\x1b` without braces would make every
//! `\x64` and `\x86` folder of a Windows path ambiguous.)
//!
//! **CSV**: a cell starting with `=`, `+`, `-`, `@`, tab or carriage return is one a
//! spreadsheet may run as a formula (`=HYPERLINK(…)`); as OWASP recommends, it gets a single
//! quote in front (`'=HYPERLINK(…)`). Plain numbers (`-3`) are left alone. `--csv-raw` turns
//! this off for tools that want the stored value.
//!
//! **JSON** is exact: serde_json escapes control characters as JSON requires, and values are
//! never altered.

use std::borrow::Cow;

/// Characters written as `\xHH` / `\x{HHHH}` in text.
fn needs_escape(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

/// `text` with every control and invisible format character escaped (see the module).
pub fn text(text: &str) -> Cow<'_, str> {
    // Backslashes change only before `x{` or an escape.
    if !text.chars().any(needs_escape) && !text.contains("\\x{") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut backslashes = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            backslashes += 1;
            continue;
        }
        let escaped = needs_escape(c);
        // A run right before `x{` or an escape is doubled, so the escape stays readable.
        let run = if escaped || (c == 'x' && chars.peek() == Some(&'{')) { 2 * backslashes } else { backslashes };
        out.extend(std::iter::repeat_n('\\', run));
        backslashes = 0;
        if escaped {
            out.push_str(&format!("\\x{{{:02x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.extend(std::iter::repeat_n('\\', backslashes));
    Cow::Owned(out)
}

/// Reverses [`text`] (for tests and for tools reading the text report back).
pub fn unescape_text(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '\\' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i] == '\\' {
            i += 1;
        }
        let run = i - start;
        if chars.get(i) != Some(&'x') || chars.get(i + 1) != Some(&'{') {
            out.extend(std::iter::repeat_n('\\', run));
            continue;
        }
        out.extend(std::iter::repeat_n('\\', run / 2));
        if run % 2 == 0 {
            continue;
        }
        // An escape: `x{hex}`.
        i += 1;
        let end = chars[i..].iter().position(|&c| c == '}')? + i;
        let code = u32::from_str_radix(&chars[i + 1..end].iter().collect::<String>(), 16).ok()?;
        let len = end + 1 - i;
        out.push(char::from_u32(code)?);
        i += len;
    }
    Some(out)
}

/// A text report under construction, line by line: `writeln!(lines, …)` formats the line,
/// escapes it with [`text`] and ends it with a newline, so a newline or escape sequence
/// inside a field can never start a line of its own or reach the terminal. (`writeln!` calls
/// this inherent `write_fmt`, which takes precedence over `fmt::Write`'s.)
#[derive(Debug, Default)]
pub struct EscapedLines {
    out: String,
    line: String,
}

impl EscapedLines {
    /// One `write!`/`writeln!`: the template's own final newline ends the line.
    pub fn write_fmt(&mut self, args: std::fmt::Arguments<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        self.line.clear();
        self.line.write_fmt(args)?;
        let (body, ends_line) = match self.line.strip_suffix('\n') {
            Some(body) => (body, true),
            None => (self.line.as_str(), false),
        };
        self.out.push_str(&text(body));
        if ends_line {
            self.out.push('\n');
        }
        Ok(())
    }

    /// Text the program wrote itself (a verdict word with its colour codes), not escaped.
    /// Never for anything that came from evidence.
    pub fn push_trusted(&mut self, text: &str) {
        self.out.push_str(text);
    }

    pub fn into_string(self) -> String {
        self.out
    }
}

/// A CSV cell, neutralised against formula injection unless `raw` (see the module).
pub fn csv_cell(cell: String, raw: bool) -> String {
    if raw || !starts_like_formula(&cell) {
        return cell;
    }
    format!("'{cell}")
}

fn starts_like_formula(cell: &str) -> bool {
    let Some(first) = cell.chars().next() else { return false };
    if !matches!(first, '=' | '+' | '-' | '@' | '\t' | '\r') {
        return false;
    }
    // `-3` or `+1.5` is a number, not a formula.
    let digits = &cell[1..];
    let plain_number = matches!(first, '-' | '+')
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.chars().filter(|&c| c == '.').count() <= 1
        && digits.starts_with(|c: char| c.is_ascii_digit());
    !plain_number
}

/// A CSV row with every cell neutralised unless `raw`.
pub fn csv_row(row: Vec<String>, raw: bool) -> Vec<String> {
    if raw {
        return row;
    }
    row.into_iter().map(|cell| csv_cell(cell, false)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_visibly() {
        assert_eq!(text("FS01\u{1b}[2J"), "FS01\\x{1b}[2J");
        assert_eq!(text("a\nb\tc\r"), "a\\x{0a}b\\x{09}c\\x{0d}");
        assert_eq!(text("evil\u{202e}txt.exe"), "evil\\x{202e}txt.exe");
        assert_eq!(text("\u{85}\u{7f}\u{0}"), "\\x{85}\\x{7f}\\x{00}");
        assert!(matches!(text("C:\\Windows\\System32\\spool\\drivers\\x64\\3"), Cow::Borrowed(_)));
        assert_eq!(text("\\\\server\\share\\xampp"), "\\\\server\\share\\xampp");
        assert_eq!(text("café ☃"), "café ☃");
    }

    #[test]
    fn backslashes_before_an_escape_are_doubled() {
        assert_eq!(text("\\x{1b}"), "\\\\x{1b}");
        assert_eq!(text("dir\\\u{1b}"), "dir\\\\\\x{1b}");
        assert_eq!(text("trailing\\"), "trailing\\");
    }

    #[test]
    fn escaping_is_reversible() {
        for sample in [
            "plain",
            "C:\\Windows\\System32\\x.dll",
            "\\\\?\\C:\\xampp\\\\x",
            "\u{1b}[8mhidden\u{1b}[0m",
            "\\\u{1b}\\\\\u{7}x\\",
            "\\x{202e}",
            "\\\\x{1b}",
            "C:\\spool\\drivers\\x64",
            "\u{202e}\u{feff}\u{9b}",
            "\\",
            "x\\",
        ] {
            let escaped = text(sample);
            assert!(!escaped.chars().any(needs_escape), "{escaped}");
            assert_eq!(unescape_text(&escaped).as_deref(), Some(sample), "{sample:?} -> {escaped}");
        }
    }

    #[test]
    fn lines_escape_their_fields_but_keep_their_own_newline() {
        let mut lines = EscapedLines::default();
        let name = "FS01\nverdict: NOT_PENDING\u{1b}[8m";
        let _ = writeln!(lines, "== {name}");
        let _ = write!(lines, "a\tb");
        let _ = writeln!(lines);
        assert_eq!(lines.into_string(), "== FS01\\x{0a}verdict: NOT_PENDING\\x{1b}[8m\na\\x{09}b\n");
    }

    #[test]
    fn csv_formulas_are_neutralised() {
        assert_eq!(csv_cell("=HYPERLINK(\"http://x\",\"FS01\")".into(), false), "'=HYPERLINK(\"http://x\",\"FS01\")");
        for formula in ["+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "-", "+", "-1e5", "--1"] {
            assert!(csv_cell(formula.into(), false).starts_with('\''), "{formula}");
        }
        for plain in ["FS01", "-3", "+12", "-1.5", "", "a=b", "42"] {
            assert_eq!(csv_cell(plain.into(), false), plain);
        }
        assert_eq!(csv_cell("=1+1".into(), true), "=1+1");
    }
}
