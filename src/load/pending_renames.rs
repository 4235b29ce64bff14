//! Decoding of `PendingFileRenameOperations` (and `…2`) from raw REG_MULTI_SZ bytes.
//!
//! The value is an ordered list of (source, target) pairs. An empty target means "delete the
//! source at boot"; a `!` before the target means MOVEFILE_REPLACE_EXISTING; paths are NT
//! paths (`\??\C:\…`), and recent Windows 11 builds put bookkeeping like `*1` in front.
//! Written by hand: generic REG_MULTI_SZ decoders drop or stop at the empty strings that
//! encode deletes, turning them into bogus renames.

use serde::Serialize;

use crate::load::multi_sz::split_strings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    Delete,
    Rename,
}

impl OperationKind {
    /// As in the JSON (`delete`, `rename`).
    pub fn label(self) -> &'static str {
        match self {
            OperationKind::Delete => "delete",
            OperationKind::Rename => "rename",
        }
    }
}

/// One queued boot-time file operation, in the order SMSS will run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileOperation {
    /// Position in the list (0-based), i.e. execution order.
    pub index: usize,
    pub op: OperationKind,
    /// Source NT path with bookkeeping markers removed (`\??\C:\…`).
    pub source: String,
    /// Target NT path with the `!` marker removed; `None` for a delete.
    pub target: Option<String>,
    pub replace_existing: bool,
    /// Plain (DOS) form of the source, e.g. `C:\Windows\…`.
    pub source_path: String,
    /// Plain (DOS) form of the target.
    pub target_path: Option<String>,
    /// The strings exactly as stored.
    pub source_raw: String,
    pub target_raw: String,
}

/// The decoded list and everything that did not fit the format.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct PendingRenames {
    pub operations: Vec<FileOperation>,
    /// Plain-English descriptions of encoding problems; the affected strings are quoted, never
    /// dropped.
    pub malformed: Vec<String>,
}

impl PendingRenames {
    pub fn deletes(&self) -> usize {
        self.operations.iter().filter(|o| o.op == OperationKind::Delete).count()
    }

    pub fn renames(&self) -> usize {
        self.operations.iter().filter(|o| o.op == OperationKind::Rename).count()
    }

    pub fn replace_existing(&self) -> usize {
        self.operations.iter().filter(|o| o.replace_existing).count()
    }
}

/// Splits a stored path into (clean NT path, replace-existing flag). Accepts an optional
/// `*` + digits bookkeeping prefix, then an optional `!`.
fn strip_markers(raw: &str) -> (String, bool) {
    let mut rest = raw;
    if let Some(after_star) = rest.strip_prefix('*') {
        rest = after_star.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    match rest.strip_prefix('!') {
        Some(after_bang) => (after_bang.to_string(), true),
        None => (rest.to_string(), false),
    }
}

/// The DOS form of an NT path: `\??\C:\x` and `\DosDevices\C:\x` become `C:\x`; `\??\UNC\s\x`
/// becomes `\\s\x`; other NT paths (`\Device\HarddiskVolume2\…`) are kept.
pub fn plain_path(nt_path: &str) -> String {
    for prefix in ["\\??\\", "\\\\?\\", "\\DosDevices\\", "\\GLOBAL??\\"] {
        if let Some(rest) = strip_prefix_ignore_case(nt_path, prefix) {
            if let Some(unc) = strip_prefix_ignore_case(rest, "UNC\\") {
                return format!("\\\\{unc}");
            }
            return rest.to_string();
        }
    }
    nt_path.to_string()
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// Decodes the raw value bytes. Never fails: problems are listed in `malformed`.
pub fn decode(bytes: &[u8]) -> PendingRenames {
    let split = split_strings(bytes);
    let mut result = PendingRenames::default();
    if split.odd_length {
        result
            .malformed
            .push(format!("odd data length ({} bytes): the last byte is not part of a UTF-16 character", bytes.len()));
    }
    if split.unterminated {
        result.malformed.push("the last string has no terminating NUL (data cut short?)".to_string());
    } else if !split.list_terminated && !split.strings.is_empty() {
        result.malformed.push(
            "missing list terminator: the data ends after the last string's NUL without the empty string that ends a REG_MULTI_SZ"
                .to_string(),
        );
    }
    let strings = &split.strings;
    let mut position = 0;
    while position < strings.len() {
        let source_raw = &strings[position];
        if source_raw.is_empty() {
            // SMSS stops at an empty source: anything after it is never executed.
            let ignored: Vec<&String> = strings[position..].iter().filter(|s| !s.is_empty()).collect();
            if ignored.is_empty() {
                break;
            }
            result.malformed.push(format!(
                "empty source at string {position} ends the list; Windows ignores the {} string(s) after it: {:?}",
                ignored.len(),
                ignored
            ));
            break;
        }
        // SMSS reads the target right after the source's NUL: when the data ends there, the
        // list terminator is that (empty) target, i.e. a delete. Windows itself ends a final
        // delete with three NULs (source, empty target, terminator), so two are an anomaly.
        let terminator_as_target = String::new();
        let target = match strings.get(position + 1) {
            Some(target) => Some(target),
            None if split.list_terminated => {
                result.malformed.push(format!(
                    "unpaired final source {source_raw:?} (string {position}): the data ends with its NUL and the list terminator only (two NULs, where Windows ends a final delete with three); read as SMSS reads it, a delete"
                ));
                Some(&terminator_as_target)
            }
            None => None,
        };
        let Some(target_raw) = target else {
            result.malformed.push(format!(
                "unpaired final source {source_raw:?} (string {position}): no target and no list terminator after it; SMSS has nothing to pair it with, so it is not listed as an operation"
            ));
            break;
        };
        let (source, _) = strip_markers(source_raw);
        let (target, replace_existing) = strip_markers(target_raw);
        let op = if target_raw.is_empty() { OperationKind::Delete } else { OperationKind::Rename };
        result.operations.push(FileOperation {
            index: result.operations.len(),
            op,
            source_path: plain_path(&source),
            target_path: (op == OperationKind::Rename).then(|| plain_path(&target)),
            target: (op == OperationKind::Rename).then_some(target),
            source,
            replace_existing,
            source_raw: source_raw.clone(),
            target_raw: target_raw.clone(),
        });
        position += 2;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::multi_sz::utf16;

    #[test]
    fn pfro_delete_keeps_empty_target() {
        let decoded = decode(&utf16("\\??\\C:\\a.tmp\0\0\\??\\C:\\b.new\0!\\??\\C:\\b.dll\0\0"));
        assert_eq!(decoded.operations.len(), 2);
        let delete = &decoded.operations[0];
        assert_eq!(delete.op, OperationKind::Delete);
        assert_eq!(delete.source, "\\??\\C:\\a.tmp");
        assert_eq!(delete.source_path, "C:\\a.tmp");
        assert_eq!(delete.target, None);
        let rename = &decoded.operations[1];
        assert_eq!(rename.op, OperationKind::Rename);
        assert!(rename.replace_existing);
        assert_eq!(rename.target.as_deref(), Some("\\??\\C:\\b.dll"));
        assert_eq!(rename.target_raw, "!\\??\\C:\\b.dll");
        assert_eq!(rename.target_path.as_deref(), Some("C:\\b.dll"));
        assert!(decoded.malformed.is_empty(), "{:?}", decoded.malformed);
    }

    #[test]
    fn windows_11_star_prefixes_are_stripped_but_kept_raw() {
        let decoded = decode(&utf16("*1\\??\\C:\\x.tmp\0\0\\??\\C:\\n.dll\0*1!\\??\\C:\\o.dll\0\0"));
        assert_eq!(decoded.operations[0].source, "\\??\\C:\\x.tmp");
        assert_eq!(decoded.operations[0].source_raw, "*1\\??\\C:\\x.tmp");
        assert!(decoded.operations[1].replace_existing);
        assert_eq!(decoded.operations[1].target_path.as_deref(), Some("C:\\o.dll"));
    }

    #[test]
    fn odd_count_is_malformed_not_dropped() {
        // No list terminator after the third string: it has no target at all.
        let decoded = decode(&utf16("\\??\\C:\\a\0\\??\\C:\\b\0\\??\\C:\\c\0"));
        assert_eq!(decoded.operations.len(), 1);
        assert_eq!(decoded.malformed.len(), 2, "{:?}", decoded.malformed);
        assert!(decoded.malformed[0].starts_with("missing list terminator"), "{}", decoded.malformed[0]);
        assert!(decoded.malformed[1].contains("C:\\\\c"), "{}", decoded.malformed[1]);
        assert!(decoded.malformed[1].contains("unpaired final source"), "{}", decoded.malformed[1]);
    }

    #[test]
    fn a_source_followed_by_the_terminator_is_a_delete_as_smss_reads_it_and_an_anomaly() {
        let decoded = decode(&utf16("\\??\\C:\\a\0\\??\\C:\\b\0\\??\\C:\\c\0\0"));
        assert_eq!(decoded.operations.len(), 2);
        assert_eq!(decoded.operations[1].op, OperationKind::Delete);
        assert_eq!(decoded.operations[1].source_path, "C:\\c");
        assert_eq!(decoded.malformed.len(), 1, "{:?}", decoded.malformed);
        assert!(decoded.malformed[0].contains("unpaired final source"), "{}", decoded.malformed[0]);
        assert!(decoded.malformed[0].contains("two NULs"), "{}", decoded.malformed[0]);
        // The same list as Windows writes it (three NULs at the end) has no anomaly.
        let windows = decode(&utf16("\\??\\C:\\a\0\\??\\C:\\b\0\\??\\C:\\c\0\0\0"));
        assert_eq!(windows.operations, decoded.operations);
        assert!(windows.malformed.is_empty(), "{:?}", windows.malformed);
    }

    #[test]
    fn a_complete_pair_without_list_terminator_runs_and_is_reported() {
        let decoded = decode(&utf16("\\??\\C:\\new\0!\\??\\C:\\old\0"));
        assert_eq!(decoded.operations.len(), 1);
        assert_eq!(decoded.operations[0].op, OperationKind::Rename);
        assert_eq!(decoded.malformed.len(), 1, "{:?}", decoded.malformed);
        assert!(decoded.malformed[0].starts_with("missing list terminator"), "{}", decoded.malformed[0]);
    }

    #[test]
    fn trailing_delete_and_padding() {
        let decoded = decode(&utf16("\\??\\C:\\a\0\\??\\C:\\b\0\\??\\C:\\last\0\0\0\0"));
        assert_eq!(decoded.operations.len(), 2);
        assert_eq!(decoded.operations[1].op, OperationKind::Delete);
        assert!(decoded.malformed.is_empty(), "{:?}", decoded.malformed);
    }

    #[test]
    fn strings_after_an_empty_source_are_reported() {
        let decoded = decode(&utf16("\\??\\C:\\a\0\0\0\\??\\C:\\late\0\0"));
        assert_eq!(decoded.operations.len(), 1);
        assert!(decoded.malformed[0].contains("late"), "{:?}", decoded.malformed);
    }

    #[test]
    fn missing_terminator_is_reported() {
        let decoded = decode(&utf16("\\??\\C:\\a\0\\??\\C:\\b"));
        assert_eq!(decoded.operations.len(), 1);
        assert!(decoded.malformed.iter().any(|m| m.contains("terminating NUL")));
    }

    #[test]
    fn other_nt_forms_are_kept() {
        assert_eq!(plain_path("\\Device\\HarddiskVolume2\\x"), "\\Device\\HarddiskVolume2\\x");
        assert_eq!(plain_path("\\??\\UNC\\srv\\share\\x"), "\\\\srv\\share\\x");
        assert_eq!(plain_path("\\??\\c:\\x"), "c:\\x");
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            let _ = decode(&bytes);
        }
    }
}
