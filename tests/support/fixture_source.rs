//! The human-readable source format of test hives (`*.hive.txt`), parsed into a
//! [`HiveSpec`] for the hive writer. `fixtures/README.md` documents the format for authors;
//! in short:
//!
//! ```text
//! # comment
//! version = 1.5
//! file_name = "\\SystemRoot\\System32\\Config\\SYSTEM"
//! last_written = 2024-05-01T10:00:00Z
//! sequence = 7 7
//! root = "ROOT"
//!
//! [ControlSet001\Control\Session Manager]
//! last_written = 2024-05-01T09:59:00.1234567Z
//! "PendingFileRenameOperations" = multi_sz ["\\??\\C:\\a.tmp", ""]
//! @ = sz "the default value"
//! ```
//!
//! Names and strings are JSON string literals, so any character can be written. A line that
//! starts with whitespace continues the previous line. [`to_fixture_source`] prints a spec
//! in this format such that parsing the text gives the same spec back.

use std::collections::HashMap;
use std::fmt::Write as _;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::hive_writer::*;

/// FILETIME ticks (100 ns) between 1601-01-01 and 1970-01-01.
const UNIX_EPOCH_TICKS: i128 = 116_444_736_000_000_000;

/// Bytes per line when hex data is printed.
const HEX_BYTES_PER_LINE: usize = 16;

/// Type names of the format, by registry type number.
const TYPE_NAMES: [(&str, u32); 12] = [
    ("none", REG_NONE),
    ("sz", REG_SZ),
    ("expand_sz", REG_EXPAND_SZ),
    ("binary", REG_BINARY),
    ("dword", REG_DWORD),
    ("dword_be", REG_DWORD_BIG_ENDIAN),
    ("link", REG_LINK),
    ("multi_sz", REG_MULTI_SZ),
    ("resource_list", REG_RESOURCE_LIST),
    ("full_resource_descriptor", REG_FULL_RESOURCE_DESCRIPTOR),
    ("resource_requirements_list", REG_RESOURCE_REQUIREMENTS_LIST),
    ("qword", REG_QWORD),
];

/// Parses a fixture source and builds the hive file it describes.
pub fn build_fixture(text: &str) -> Result<Vec<u8>, String> {
    Ok(parse_fixture(text)?.build())
}

/// Parses a fixture source. Errors start with the number of the offending line.
pub fn parse_fixture(text: &str) -> Result<HiveSpec, String> {
    let lines = logical_lines(text)?;
    let mut lines = lines.iter().peekable();
    let mut header = Header::default();
    while let Some((number, line)) = lines.next_if(|(_, line)| !line.starts_with('[')) {
        header.parse_line(line).map_err(|message| format!("line {number}: {message}"))?;
    }
    let mut parser = BodyParser { spec: header.into_spec(), path: None, seen: HashMap::new() };
    for (number, line) in lines {
        parser.parse_line(*number, line).map_err(|message| format!("line {number}: {message}"))?;
    }
    Ok(parser.spec)
}

/// The source lines with comments removed and continuation lines joined, each with the
/// number of the line it starts on.
fn logical_lines(text: &str) -> Result<Vec<(usize, String)>, String> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = strip_comment(raw).trim_end();
        if line.trim_start().is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match lines.last_mut() {
                Some((_, previous)) if !previous.starts_with('[') => {
                    previous.push(' ');
                    previous.push_str(line.trim_start());
                }
                _ => {
                    return Err(format!(
                        "line {number}: an indented line continues the line before it, \
                         but there is no value or header line to continue (do not indent values)"
                    ))
                }
            }
        } else {
            lines.push((number, line.to_string()));
        }
    }
    Ok(lines)
}

/// `line` without its comment: `#` at the start of a line or after whitespace, outside a
/// JSON string, starts one (so `[Key#1]` is a key name, not a comment).
fn strip_comment(line: &str) -> &str {
    let mut in_string = false;
    let mut escaped = false;
    let mut previous = ' ';
    for (at, character) in line.char_indices() {
        if in_string {
            match character {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if character == '"' {
            in_string = true;
        } else if character == '#' && previous.is_whitespace() {
            return &line[..at];
        }
        previous = character;
    }
    line
}

/// Splits `name = rest` at the first `=` after a bare word.
fn split_assignment(line: &str) -> Result<(&str, &str), String> {
    let (word, rest) = line.split_once('=').ok_or_else(|| format!("expected `name = value`, found {line:?}"))?;
    Ok((word.trim(), rest.trim()))
}

/// A JSON string literal at the start of `text`, and the text after it.
fn json_string_prefix(text: &str) -> Result<(String, &str), String> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<String>();
    match stream.next() {
        Some(Ok(value)) => Ok((value, &text[stream.byte_offset()..])),
        Some(Err(error)) => Err(format!("bad JSON string literal: {error}")),
        None => Err("expected a JSON string literal".into()),
    }
}

/// `text` as exactly one JSON string literal.
fn json_string(text: &str) -> Result<String, String> {
    let (value, rest) = json_string_prefix(text)?;
    if !rest.trim().is_empty() {
        return Err(format!("unexpected {:?} after the string", rest.trim()));
    }
    Ok(value)
}

fn parse_u64(text: &str) -> Result<u64, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => text.replace('_', "").parse(),
    };
    parsed.map_err(|_| format!("expected a decimal or 0x-hex number, found {text:?}"))
}

fn parse_u32(text: &str) -> Result<u32, String> {
    u32::try_from(parse_u64(text)?).map_err(|_| format!("{text} does not fit in 32 bits"))
}

/// An RFC 3339 time (100-ns precision at most) or a raw FILETIME number.
fn parse_filetime(text: &str) -> Result<u64, String> {
    if text.starts_with(|c: char| c.is_ascii_digit()) && !text.contains('-') {
        return parse_u64(text);
    }
    let at = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|error| format!("expected an RFC 3339 time such as 2024-05-01T10:00:00Z ({error}), found {text:?}"))?;
    let nanos = at.unix_timestamp_nanos();
    if nanos % 100 != 0 {
        return Err(format!("{text} is finer than a FILETIME's 100 ns"));
    }
    u64::try_from(nanos / 100 + UNIX_EPOCH_TICKS).map_err(|_| format!("{text} is before 1601, no FILETIME"))
}

/// Bytes written as hex pairs, in whitespace-separated groups (`01 02 0a0b`).
fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    for group in text.split_whitespace() {
        if group.len() % 2 != 0 || !group.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("expected hex bytes such as `01 02 ff`, found {group:?}"));
        }
        for pair in group.as_bytes().chunks(2) {
            bytes.push(u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap());
        }
    }
    Ok(bytes)
}

/// Case-folded form of a name or path, for duplicate checks that agree with the writer.
fn fold_case(text: &str) -> Vec<u16> {
    text.encode_utf16().map(upcase_unit).collect()
}

/// The header lines before the first section, each allowed once.
#[derive(Default)]
struct Header {
    minor_version: Option<u32>,
    file_name: Option<String>,
    last_written: Option<u64>,
    sequence: Option<(u32, u32)>,
    break_checksum: Option<bool>,
    index_style: Option<IndexStyle>,
    max_leaf_entries: Option<usize>,
    root: Option<String>,
}

/// Stores `value` in `slot` unless the header line `name` was already given.
fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("`{name}` is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

impl Header {
    fn parse_line(&mut self, line: &str) -> Result<(), String> {
        let (name, value) = split_assignment(line)?;
        match name {
            "version" => {
                let minor = value.strip_prefix("1.").ok_or_else(|| format!("version must be 1.N, found {value:?}"))?;
                set_once(&mut self.minor_version, name, parse_u32(minor)?)
            }
            "file_name" => {
                let file_name = json_string(value)?;
                let units = file_name.encode_utf16().count();
                if units > MAX_EMBEDDED_FILE_NAME_UNITS {
                    return Err(format!(
                        "file_name has {units} UTF-16 units; the base block holds {MAX_EMBEDDED_FILE_NAME_UNITS}"
                    ));
                }
                set_once(&mut self.file_name, name, file_name)
            }
            "last_written" => set_once(&mut self.last_written, name, parse_filetime(value)?),
            "sequence" => {
                let numbers: Vec<&str> = value.split_whitespace().collect();
                let [primary, secondary] = numbers[..] else {
                    return Err(format!("sequence needs two numbers (primary secondary), found {value:?}"));
                };
                set_once(&mut self.sequence, name, (parse_u32(primary)?, parse_u32(secondary)?))
            }
            "checksum" => {
                let broken = match value {
                    "valid" => false,
                    "broken" => true,
                    _ => return Err(format!("checksum is `valid` or `broken`, found {value:?}")),
                };
                set_once(&mut self.break_checksum, name, broken)
            }
            "index" => {
                let style = match value {
                    "lh" => IndexStyle::Lh,
                    "lf" => IndexStyle::Lf,
                    "li" => IndexStyle::Li,
                    _ => return Err(format!("index is `lh`, `lf` or `li`, found {value:?}")),
                };
                set_once(&mut self.index_style, name, style)
            }
            "max_leaf_entries" => {
                let entries = parse_u64(value)? as usize;
                if !(1..=u16::MAX as usize).contains(&entries) {
                    return Err(format!("max_leaf_entries must be 1 to 65535, found {value}"));
                }
                set_once(&mut self.max_leaf_entries, name, entries)
            }
            "root" => set_once(&mut self.root, name, json_string(value)?),
            "class" => Err("`class` belongs to a [key] section".into()),
            _ if name.starts_with('"') || name == "@" => Err("a value needs a [key] section above it".into()),
            _ => Err(format!("unknown header line `{name}`")),
        }
    }

    fn into_spec(self) -> HiveSpec {
        let mut spec = HiveSpec::new(self.root.as_deref().unwrap_or("ROOT"));
        if let Some(minor) = self.minor_version {
            spec.minor_version = minor;
        }
        if let Some(file_name) = self.file_name {
            spec.embedded_file_name = file_name;
        }
        if let Some(last_written) = self.last_written {
            spec.last_written = last_written;
            spec.root.last_written = last_written;
        }
        if let Some((primary, secondary)) = self.sequence {
            spec.primary_sequence = primary;
            spec.secondary_sequence = secondary;
        }
        spec.break_checksum = self.break_checksum.unwrap_or(false);
        if let Some(style) = self.index_style {
            spec.index_style = style;
        }
        if let Some(entries) = self.max_leaf_entries {
            spec.max_leaf_entries = entries;
        }
        spec
    }
}

/// What a section line sets: (folded key path, folded value name or `None` for an
/// attribute, "value" or the attribute's name).
type Setting = (Vec<u16>, Option<Vec<u16>>, &'static str);

/// Parses the `[key]` sections into the spec.
struct BodyParser {
    spec: HiveSpec,
    /// Backslash path of the current section (`""` = the root), once a section started.
    path: Option<String>,
    /// The line that set each setting, to refuse setting anything twice.
    seen: HashMap<Setting, usize>,
}

impl BodyParser {
    fn parse_line(&mut self, number: usize, line: &str) -> Result<(), String> {
        if line.starts_with('[') {
            let path = parse_section(line)?;
            self.spec.key_mut(&path);
            self.path = Some(path);
            return Ok(());
        }
        let path = self.path.clone().expect("the body starts with a section");
        if line.starts_with('"') || line.starts_with('@') {
            let (name, rest) =
                if let Some(rest) = line.strip_prefix('@') { (String::new(), rest) } else { json_string_prefix(line)? };
            let data = rest.trim_start().strip_prefix('=').ok_or("expected `=` after the value name")?;
            let value = parse_value(&name, data.trim())?;
            self.claim(&path, Some(&name), "value", number)?;
            self.spec.key_mut(&path).values.push(value);
            return Ok(());
        }
        let (attribute, value) = split_assignment(line)?;
        match attribute {
            "last_written" => {
                let ticks = parse_filetime(value)?;
                self.claim(&path, None, "last_written", number)?;
                self.spec.key_mut(&path).last_written = ticks;
            }
            "class" => {
                let class = json_string(value)?;
                self.claim(&path, None, "class", number)?;
                self.spec.key_mut(&path).class_name = Some(class);
            }
            _ => {
                return Err(format!(
                    "unknown key attribute `{attribute}` (value names are JSON strings: \"{attribute}\" = …)"
                ))
            }
        }
        Ok(())
    }

    /// Records that line `number` sets `what` of the key at `path`, or fails naming the
    /// line that already did.
    fn claim(&mut self, path: &str, value: Option<&str>, what: &'static str, number: usize) -> Result<(), String> {
        let entry = (fold_case(path), value.map(fold_case), what);
        if let Some(first) = self.seen.insert(entry, number) {
            let subject = match value {
                Some("") => "the default value".to_string(),
                Some(name) => format!("value {name:?}"),
                None => format!("`{what}`"),
            };
            return Err(format!("{subject} of [{path}] was already set on line {first}"));
        }
        Ok(())
    }
}

/// The backslash path of a `[key]` line: plain text (trimmed), or one JSON string literal
/// for names with unusual characters. `[]` is the root key.
fn parse_section(line: &str) -> Result<String, String> {
    let inner = line
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or_else(|| format!("a section line is `[Key\\Path]`, found {line:?}"))?;
    let inner = inner.trim();
    let path = if inner.starts_with('"') { json_string(inner)? } else { inner.to_string() };
    if !path.is_empty() && path.split('\\').any(str::is_empty) {
        return Err(format!("empty key name in path {path:?}"));
    }
    Ok(path)
}

/// `TYPE DATA` of a value line.
fn parse_value(name: &str, text: &str) -> Result<ValueSpec, String> {
    let (type_word, data) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let data = data.trim();
    let named = TYPE_NAMES.iter().find(|(type_name, _)| *type_name == type_word);
    let data_type = match named {
        Some((_, number)) => *number,
        None if type_word.starts_with(|c: char| c.is_ascii_digit()) => parse_u32(type_word)?,
        None => return Err(format!("unknown value type {type_word:?}")),
    };
    if let Some(hex) = data.strip_prefix("hex").filter(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
    {
        return Ok(ValueSpec::raw(name, data_type, parse_hex(hex)?));
    }
    match (named.is_some(), data_type) {
        (true, REG_SZ) => Ok(ValueSpec::sz(name, &json_string(data)?)),
        (true, REG_EXPAND_SZ) => Ok(ValueSpec::expand_sz(name, &json_string(data)?)),
        (true, REG_DWORD) => Ok(ValueSpec::dword(name, parse_u32(data)?)),
        (true, REG_DWORD_BIG_ENDIAN) => Ok(ValueSpec::dword_be(name, parse_u32(data)?)),
        (true, REG_QWORD) => Ok(ValueSpec::qword(name, parse_u64(data)?)),
        (true, REG_MULTI_SZ) => {
            let strings: Vec<String> =
                serde_json::from_str(data).map_err(|error| format!("expected a JSON list of strings ({error})"))?;
            let strings: Vec<&str> = strings.iter().map(String::as_str).collect();
            Ok(ValueSpec::multi_sz(name, &strings))
        }
        _ => Ok(ValueSpec::raw(name, data_type, parse_hex(data)?)),
    }
}

/// Prints `spec` as a fixture source; [`parse_fixture`] of the result equals `spec` (for
/// specs without empty key names and without sibling keys or values that differ only in case).
pub fn to_fixture_source(spec: &HiveSpec) -> String {
    // `write!` to a String cannot fail, hence the ignored results here and below.
    let mut out = String::new();
    let style = match spec.index_style {
        IndexStyle::Lh => "lh",
        IndexStyle::Lf => "lf",
        IndexStyle::Li => "li",
    };
    let _ = writeln!(out, "version = 1.{}", spec.minor_version);
    let _ = writeln!(out, "file_name = {}", json(&spec.embedded_file_name));
    let _ = writeln!(out, "last_written = {}", format_filetime(spec.last_written));
    let _ = writeln!(out, "sequence = {} {}", spec.primary_sequence, spec.secondary_sequence);
    if spec.break_checksum {
        out.push_str("checksum = broken\n");
    }
    let _ = writeln!(out, "index = {style}");
    let _ = writeln!(out, "max_leaf_entries = {}", spec.max_leaf_entries);
    let _ = writeln!(out, "root = {}", json(&spec.root.name));
    let root = &spec.root;
    if root.last_written != spec.last_written || root.class_name.is_some() || !root.values.is_empty() {
        write_section(&mut out, "", root, spec.last_written);
    }
    for subkey in &root.subkeys {
        write_tree(&mut out, &subkey.name, subkey, spec.last_written);
    }
    out
}

fn write_tree(out: &mut String, path: &str, key: &KeySpec, hive_time: u64) {
    write_section(out, path, key, hive_time);
    for subkey in &key.subkeys {
        write_tree(out, &format!("{path}\\{}", subkey.name), subkey, hive_time);
    }
}

fn write_section(out: &mut String, path: &str, key: &KeySpec, hive_time: u64) {
    let plain = path.split('\\').all(|name| {
        name.trim() == name && !name.chars().any(|c| c.is_control()) && !name.contains(" #") && !name.contains("\t#")
    }) && !path.starts_with('"');
    if plain {
        let _ = writeln!(out, "\n[{path}]");
    } else {
        let _ = writeln!(out, "\n[{}]", json(path));
    }
    if key.last_written != hive_time {
        let _ = writeln!(out, "last_written = {}", format_filetime(key.last_written));
    }
    if let Some(class) = &key.class_name {
        let _ = writeln!(out, "class = {}", json(class));
    }
    for value in &key.values {
        let name = if value.name.is_empty() { "@".to_string() } else { json(&value.name) };
        let _ = writeln!(out, "{name} = {}", format_value(value));
    }
}

fn json(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

/// RFC 3339 in UTC with up to 7 fractional digits, or the raw number for FILETIMEs beyond
/// year 9999.
fn format_filetime(ticks: u64) -> String {
    let nanos = (ticks as i128 - UNIX_EPOCH_TICKS) * 100;
    let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return format!("{ticks:#x}");
    };
    let mut text = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let fraction = at.nanosecond() / 100;
    if fraction != 0 {
        let digits = format!("{fraction:07}");
        let _ = write!(text, ".{}", digits.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

fn type_name(data_type: u32) -> String {
    match TYPE_NAMES.iter().find(|(_, number)| *number == data_type) {
        Some((name, _)) => name.to_string(),
        None => format!("{data_type:#010x}"),
    }
}

/// UTF-16LE `data` as text, if it is well-formed.
fn decode_utf16(data: &[u8]) -> Option<String> {
    if !data.len().is_multiple_of(2) {
        return None;
    }
    let units: Vec<u16> = data.chunks(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).collect();
    String::from_utf16(&units).ok()
}

/// The string of REG_SZ-style data, if writing it back gives the same bytes.
fn as_string(data: &[u8]) -> Option<String> {
    let text = decode_utf16(data)?.strip_suffix('\0')?.to_string();
    (!text.contains('\0')).then_some(text)
}

/// The strings of REG_MULTI_SZ data, if writing them back gives the same bytes.
fn as_strings(data: &[u8]) -> Option<Vec<String>> {
    let text = decode_utf16(data)?;
    let body = text.strip_suffix('\0')?;
    if body.is_empty() {
        return Some(Vec::new());
    }
    Some(body.strip_suffix('\0')?.split('\0').map(str::to_string).collect())
}

fn format_value(value: &ValueSpec) -> String {
    let data = &value.data;
    let name = type_name(value.data_type);
    let natural = match value.data_type {
        REG_SZ | REG_EXPAND_SZ => as_string(data).map(|text| json(&text)),
        REG_DWORD => <[u8; 4]>::try_from(&data[..]).ok().map(|b| u32::from_le_bytes(b).to_string()),
        REG_DWORD_BIG_ENDIAN => <[u8; 4]>::try_from(&data[..]).ok().map(|b| u32::from_be_bytes(b).to_string()),
        REG_QWORD => <[u8; 8]>::try_from(&data[..]).ok().map(|b| u64::from_le_bytes(b).to_string()),
        REG_MULTI_SZ => as_strings(data).map(|strings| format_list(&strings)),
        // Every other type is written as plain hex bytes.
        _ => return format!("{name}{}", format_hex(data)),
    };
    match natural {
        Some(text) => format!("{name} {text}"),
        None => format!("{name} hex{}", format_hex(data)),
    }
}

/// A JSON list, one string per continuation line when it is long.
fn format_list(strings: &[String]) -> String {
    let items: Vec<String> = strings.iter().map(|text| json(text)).collect();
    let one_line = format!("[{}]", items.join(", "));
    if one_line.len() <= 80 {
        return one_line;
    }
    format!("[\n    {}\n  ]", items.join(",\n    "))
}

/// ` 01 02 …`, continued on indented lines of [`HEX_BYTES_PER_LINE`] bytes.
fn format_hex(data: &[u8]) -> String {
    let mut out = String::new();
    for (index, line) in data.chunks(HEX_BYTES_PER_LINE).enumerate() {
        if index > 0 {
            out.push_str("\n   ");
        }
        for byte in line {
            let _ = write!(out, " {byte:02x}");
        }
    }
    out
}
