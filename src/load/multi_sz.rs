//! REG_SZ / REG_MULTI_SZ decoding from raw bytes.
//!
//! Written by hand because nt-hive's `multi_string_data()` (and regipy's, yarp's and notatin's
//! decoders) stop at or drop empty strings, and empty strings carry meaning in
//! PendingFileRenameOperations.

/// UTF-16LE text up to the first NUL (or the end), lossy.
pub fn utf16_until_nul(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .take_while(|&unit| unit != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

/// The strings of a REG_MULTI_SZ, every empty string kept, plus what was wrong with the
/// encoding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SplitStrings {
    /// Every NUL-terminated string in order, empty ones included, without the single empty
    /// string that terminates the list.
    pub strings: Vec<String>,
    /// The data ended without a NUL after its last string.
    pub unterminated: bool,
    /// An empty string ended the list (and was removed from `strings`).
    pub list_terminated: bool,
    /// The byte count was odd (a UTF-16 unit was cut in half).
    pub odd_length: bool,
}

/// Splits REG_MULTI_SZ bytes on NUL units without losing empty strings.
pub fn split_strings(bytes: &[u8]) -> SplitStrings {
    let mut result = SplitStrings { odd_length: !bytes.len().is_multiple_of(2), ..Default::default() };
    let mut current: Vec<u16> = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    for pair in bytes.chunks_exact(2) {
        let unit = u16::from_le_bytes([pair[0], pair[1]]);
        if unit == 0 {
            tokens.push(String::from_utf16_lossy(&current));
            current.clear();
        } else {
            current.push(unit);
        }
    }
    if !current.is_empty() {
        result.unterminated = true;
        tokens.push(String::from_utf16_lossy(&current));
    } else if tokens.last().is_some_and(|t| t.is_empty()) {
        // The empty string after the last NUL-terminated string ends the list.
        tokens.pop();
        result.list_terminated = true;
    }
    result.strings = tokens;
    result
}

/// UTF-16LE bytes of `text`, for tests that build value data by hand.
#[cfg(test)]
pub(crate) fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_strings_in_the_middle_are_kept() {
        let split = split_strings(&utf16("a\0\0b\0c\0\0"));
        assert_eq!(split.strings, vec!["a", "", "b", "c"]);
        assert!(!split.unterminated && !split.odd_length);
    }

    #[test]
    fn a_final_empty_string_before_the_terminator_is_kept() {
        assert_eq!(split_strings(&utf16("x\0y\0\0\0")).strings, vec!["x", "y", ""]);
    }

    #[test]
    fn missing_terminator_and_odd_length_are_reported() {
        let mut bytes = utf16("a\0bc");
        bytes.push(0x41);
        let split = split_strings(&bytes);
        assert_eq!(split.strings, vec!["a", "bc"]);
        assert!(split.unterminated);
        assert!(split.odd_length);
    }

    #[test]
    fn empty_list_has_no_strings() {
        assert_eq!(split_strings(&[]).strings, Vec::<String>::new());
        assert_eq!(split_strings(&utf16("\0")).strings, Vec::<String>::new());
    }

    #[test]
    fn reg_sz_stops_at_nul() {
        assert_eq!(utf16_until_nul(&utf16("host\0junk")), "host");
        assert_eq!(utf16_until_nul(&utf16("host")), "host");
    }
}
