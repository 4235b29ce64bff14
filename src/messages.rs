//! Plain sentences from other crates' error messages.
//!
//! nt-hive and ntfs build their `Display` messages with Debug formatting inside: signatures as
//! byte lists (`should contain [70, 73, 76, 69]`) and I/O errors as Rust structures
//! (`I/O error: Custom { kind: UnexpectedEof, error: "failed to fill whole buffer" }`). Their
//! error types cannot be re-rendered field by field without mirroring every variant of both
//! crates, so the rendered text is rewritten instead: byte lists become the text they spell
//! (`"FILE"`) or hex bytes, and I/O error structures become their message.

/// `message` with Debug-formatted byte lists and I/O error structures replaced by words.
pub fn plain(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(['[', 'C', 'O', 'K']) {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        if let Some((replacement, used)) = byte_list(from).or_else(|| io_structure(from)) {
            out.push_str(&replacement);
            rest = &from[used..];
        } else {
            let mut chars = from.chars();
            if let Some(c) = chars.next() {
                out.push(c);
            }
            rest = chars.as_str();
        }
    }
    out.push_str(rest);
    out
}

/// `[70, 73, 76, 69]` → `"FILE"`; `[0, 255]` → `bytes 00 ff`.
fn byte_list(text: &str) -> Option<(String, usize)> {
    let end = text.find(']')?;
    let inner = text.get(1..end)?;
    let bytes: Vec<u8> = inner.split(',').map(|n| n.trim().parse::<u8>()).collect::<Result<_, _>>().ok()?;
    if bytes.len() < 2 {
        return None;
    }
    let described = if bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("\"{}\"", String::from_utf8_lossy(&bytes))
    } else {
        let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("bytes {}", hex.join(" "))
    };
    Some((described, end + 1))
}

/// `Custom { kind: UnexpectedEof, error: "failed to fill whole buffer" }` → the message;
/// `Os { code: 5, kind: …, message: "Input/output error" }` → `Input/output error (os error 5)`;
/// `Kind(UnexpectedEof)` → `unexpected end of file`.
fn io_structure(text: &str) -> Option<(String, usize)> {
    if let Some(inner) = text.strip_prefix("Kind(") {
        let end = inner.find(')')?;
        let kind = &inner[..end];
        let words = match kind {
            "UnexpectedEof" => "unexpected end of file".to_string(),
            other => split_camel(other),
        };
        return Some((words, "Kind(".len() + end + 1));
    }
    let (open, key) = if text.starts_with("Custom { ") {
        ("Custom { ", "error: ")
    } else if text.starts_with("Os { ") {
        ("Os { ", "message: ")
    } else {
        return None;
    };
    let end = matching_brace(text)?;
    let body = &text[open.len()..end];
    let at = body.find(key)? + key.len();
    let value = body[at..].trim_end().trim_end_matches(',').trim();
    let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
    let mut message = value.replace("\\\"", "\"");
    if open == "Os { " {
        if let Some(code) = body.strip_prefix("code: ").and_then(|c| c.split(',').next()) {
            message = format!("{message} (os error {code})");
        }
    }
    Some((message, end + 1))
}

fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0i32;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' if !in_string => depth += 1,
            '}' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn split_camel(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_lists_become_text_or_hex() {
        assert_eq!(
            plain("should contain [70, 73, 76, 69], but it contains [0, 0, 0, 0]"),
            "should contain \"FILE\", but it contains bytes 00 00 00 00"
        );
        assert_eq!(plain("range [3] and [a, b] stay"), "range [3] and [a, b] stay");
    }

    #[test]
    fn io_structures_become_their_message() {
        assert_eq!(
            plain("I/O error: Custom { kind: UnexpectedEof, error: \"failed to fill whole buffer\" }"),
            "I/O error: failed to fill whole buffer"
        );
        assert_eq!(
            plain("I/O error: Os { code: 5, kind: Uncategorized, message: \"Input/output error\" }"),
            "I/O error: Input/output error (os error 5)"
        );
        assert_eq!(plain("I/O error: Kind(UnexpectedEof)"), "I/O error: unexpected end of file");
        assert_eq!(plain("Cluster Of Keys"), "Cluster Of Keys");
    }
}
