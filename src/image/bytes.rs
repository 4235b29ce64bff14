//! Reads of container structures, bounded by the file, and fixed-width fields of the
//! container headers and tables (E01/Ex01, VHDX and VMDK are
//! little-endian, VHD and QCOW2 big-endian), read from a buffer the caller has already sized
//! and bounds-checked: an `at` past the buffer is a bug in the caller, not damage in the file,
//! and panics like any slice index.

use std::io;

use crate::source::BlockSource;

/// Reads exactly `buf.len()` bytes at `offset` of a container file, or gives `damaged` the
/// words for why not: the structure (`what`) lies past the end of the file. A read error
/// names the file (`display`).
pub(crate) fn read_structure<S: BlockSource>(
    file: &mut S,
    display: &str,
    offset: u64,
    buf: &mut [u8],
    what: &str,
    damaged: impl FnOnce(String) -> io::Error,
) -> io::Result<()> {
    let end = offset.checked_add(buf.len() as u64);
    if end.is_none_or(|end| end > file.len()) {
        return Err(damaged(format!(
            "the {what} at byte {offset} ({} bytes) goes past the end of the file ({} bytes)",
            buf.len(),
            file.len()
        )));
    }
    file.read_exact_at(offset, buf).map_err(|e| io::Error::new(e.kind(), format!("{display}: {e}")))
}

pub(crate) fn le_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(array(bytes, at))
}

pub(crate) fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(array(bytes, at))
}

pub(crate) fn le_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(array(bytes, at))
}

pub(crate) fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(array(bytes, at))
}

pub(crate) fn be_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(array(bytes, at))
}

/// The `N` bytes at `at` (a GUID, a field to convert).
pub(crate) fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut field = [0u8; N];
    field.copy_from_slice(&bytes[at..at + N]);
    field
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let bytes = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(le_u16(&bytes, 1), 0x0302);
        assert_eq!(le_u32(&bytes, 0), 0x0403_0201);
        assert_eq!(le_u64(&bytes, 1), 0x0908_0706_0504_0302);
        assert_eq!(be_u32(&bytes, 0), 0x0102_0304);
        assert_eq!(be_u64(&bytes, 1), 0x0203_0405_0607_0809);
        assert_eq!(array::<2>(&bytes, 7), [8, 9]);
    }
}
