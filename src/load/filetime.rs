//! Windows FILETIME (100-ns ticks since 1601-01-01 UTC), as found in key nodes and base blocks.

use std::fmt;

use serde::{Serialize, Serializer};
use time::OffsetDateTime;

/// Ticks between 1601-01-01 and 1970-01-01.
const UNIX_EPOCH_TICKS: u64 = 116_444_736_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FileTime(u64);

impl FileTime {
    pub const fn from_u64(ticks: u64) -> FileTime {
        FileTime(ticks)
    }

    pub fn ticks(self) -> u64 {
        self.0
    }

    /// Zero means "never set" in hives written by tools rather than by Windows.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The instant in UTC, or `None` for zero or for values beyond what a date can hold
    /// (corrupt data).
    pub fn to_datetime(self) -> Option<OffsetDateTime> {
        if self.0 == 0 {
            return None;
        }
        let nanos_since_unix = (self.0 as i128 - UNIX_EPOCH_TICKS as i128) * 100;
        OffsetDateTime::from_unix_timestamp_nanos(nanos_since_unix).ok()
    }

    pub fn from_datetime(at: OffsetDateTime) -> Option<FileTime> {
        let ticks = at.unix_timestamp_nanos() / 100 + UNIX_EPOCH_TICKS as i128;
        u64::try_from(ticks).ok().map(FileTime)
    }

    /// RFC 3339 in UTC with the FILETIME's full 100-ns precision (seven fraction digits, as
    /// RECmd and Timesketch show them), e.g. `2020-04-19T09:08:44.9237481Z`; no fraction when
    /// it is zero. `None` when the time is unset or out of range.
    pub fn to_rfc3339(self) -> Option<String> {
        let at = self.to_datetime()?;
        // The tick count itself, not the date's nanoseconds: the 100-ns digit is exact.
        let ticks = self.0 % 10_000_000;
        let frac = if ticks == 0 { String::new() } else { format!(".{ticks:07}") };
        Some(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            frac
        ))
    }

    /// Whole days from `earlier` to `self` (negative when `earlier` is later).
    pub fn days_since(self, earlier: FileTime) -> i64 {
        (self.0 as i128 - earlier.0 as i128).div_euclid(864_000_000_000) as i64
    }

    /// Parses an RFC 3339 timestamp (used by fixture sources and `--as-of`).
    pub fn parse_rfc3339(text: &str) -> Option<FileTime> {
        let at = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
        FileTime::from_datetime(at)
    }
}

impl fmt::Display for FileTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_rfc3339() {
            Some(text) => f.write_str(&text),
            None if self.0 == 0 => f.write_str("(unset)"),
            None => write!(f, "(invalid FILETIME {:#x})", self.0),
        }
    }
}

/// Serialised as RFC 3339 UTC, or `null` when unset or invalid.
impl Serialize for FileTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.to_rfc3339() {
            Some(text) => serializer.serialize_str(&text),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instant_round_trips() {
        // 2020-04-19T09:08:44.923748Z, the shutdown time of the corpus Windows 10 hive.
        let ft = FileTime::parse_rfc3339("2020-04-19T09:08:44.923748Z").unwrap();
        assert_eq!(ft.to_rfc3339().unwrap(), "2020-04-19T09:08:44.9237480Z");
        // The last 100-ns digit survives (it did not when times were cut to microseconds).
        let ticks = FileTime::from_u64(ft.ticks() + 1);
        assert_eq!(ticks.to_rfc3339().unwrap(), "2020-04-19T09:08:44.9237481Z");
        assert_eq!(FileTime::parse_rfc3339("2020-04-19T09:08:44.9237481Z"), Some(ticks));
        assert_eq!(ticks.days_since(FileTime::parse_rfc3339("2020-04-17T10:00:00Z").unwrap()), 1);
        assert_eq!(FileTime::from_u64(UNIX_EPOCH_TICKS).to_rfc3339().unwrap(), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn zero_and_huge_are_not_dates() {
        assert_eq!(FileTime::from_u64(0).to_rfc3339(), None);
        assert_eq!(FileTime::from_u64(u64::MAX).to_rfc3339(), None);
        assert_eq!(FileTime::from_u64(u64::MAX).to_string(), "(invalid FILETIME 0xffffffffffffffff)");
    }
}
