//! Fixed-width fields of the container headers and tables (E01/Ex01, VHDX and VMDK are
//! little-endian, VHD and QCOW2 big-endian), read from a buffer the caller has already sized
//! and bounds-checked: an `at` past the buffer is a bug in the caller, not damage in the file,
//! and panics like any slice index.

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
