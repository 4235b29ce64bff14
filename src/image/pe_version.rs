//! The file version of a PE file (DLL, EXE, SYS): `VS_FIXEDFILEINFO` from the `RT_VERSION`
//! resource, as Explorer's "File version" and Windows Update's file-version rules read it.
//!
//! A small parser instead of `pelite`: pelite casts the input to aligned structures (it
//! refuses resource data that is not 4-byte aligned in memory) and wants the whole file in
//! memory, while only a few hundred bytes of a possibly large file are needed here. Every
//! offset is checked and every read is bounded, so hostile files cost an error, not a panic.

use serde::Serialize;

use crate::source::BlockSource;

/// A PE file's version resource, fixed part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeVersion {
    /// `dwFileVersionMS/LS` as `major.minor.build.revision`.
    pub file_version: String,
    /// `dwProductVersionMS/LS`.
    pub product_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeError {
    #[error("not a PE file ({0})")]
    NotPe(&'static str),
    #[error("PE file without a version resource")]
    NoVersion,
    #[error("damaged PE file: {0}")]
    Damaged(String),
}

const RT_VERSION: u32 = 16;
const FIXED_SIGNATURE: u32 = 0xfeef_04bd;
/// The PE header must start in the first 64 KiB (Windows' loader is stricter still).
const MAX_HEADER_OFFSET: u64 = 64 << 10;
/// The PE format allows at most 96 sections for Windows' loader; a damaged count stops here.
const MAX_SECTIONS: u16 = 96;
/// Resource directories list a few dozen entries; this bounds a damaged count.
const MAX_DIRECTORY_ENTRIES: u32 = 4096;
/// `VS_VERSIONINFO` is a few KiB; only its start is needed.
const VERSION_READ: usize = 512;

fn damaged(what: impl Into<String>) -> PeError {
    PeError::Damaged(what.into())
}

fn read(file: &mut dyn BlockSource, offset: u64, len: usize, what: &str) -> Result<Vec<u8>, PeError> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(offset, &mut buf).map_err(|e| damaged(format!("{what} at byte {offset}: {e}")))?;
    Ok(buf)
}

fn u16_at(bytes: &[u8], offset: usize) -> Option<u16> {
    bytes.get(offset..offset + 2).and_then(|b| b.try_into().ok()).map(u16::from_le_bytes)
}

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    bytes.get(offset..offset + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes)
}

struct Section {
    virtual_address: u32,
    virtual_size: u32,
    raw_offset: u32,
    raw_size: u32,
}

/// Maps an RVA to a file offset through the section table; the range `[rva, rva + len)` must
/// lie within the section's data in the file.
fn rva_to_offset(sections: &[Section], rva: u32, len: u32) -> Option<u64> {
    sections.iter().find_map(|s| {
        let span = s.virtual_size.max(s.raw_size);
        let within = rva.checked_sub(s.virtual_address)?;
        if within >= span || within.checked_add(len)? > s.raw_size {
            return None;
        }
        Some(u64::from(s.raw_offset) + u64::from(within))
    })
}

/// Reads the version of the PE file in `file`.
pub fn read_version(file: &mut dyn BlockSource) -> Result<PeVersion, PeError> {
    let size = file.len();
    if size < 64 {
        return Err(PeError::NotPe("shorter than a DOS header"));
    }
    let dos = read(file, 0, 64, "DOS header")?;
    if &dos[..2] != b"MZ" {
        return Err(PeError::NotPe("no MZ signature"));
    }
    let pe_offset = u64::from(u32_at(&dos, 0x3c).unwrap_or(0));
    if pe_offset > MAX_HEADER_OFFSET || pe_offset + 24 > size {
        return Err(PeError::NotPe("no PE header (an MS-DOS program?)"));
    }
    let coff = read(file, pe_offset, 24, "PE header")?;
    if &coff[..4] != b"PE\0\0" {
        return Err(PeError::NotPe("no PE signature (an MS-DOS or 16-bit program?)"));
    }
    let section_count = u16_at(&coff, 6).unwrap_or(0);
    let optional_size = u16_at(&coff, 20).unwrap_or(0);
    if section_count > MAX_SECTIONS {
        return Err(damaged(format!("{section_count} sections")));
    }
    let optional_offset = pe_offset + 24;
    let optional = read(file, optional_offset, usize::from(optional_size), "optional header")?;
    // Data directories start at 96 (PE32) or 112 (PE32+), after NumberOfRvaAndSizes.
    let directories_at = match u16_at(&optional, 0) {
        Some(0x10b) => 96,
        Some(0x20b) => 112,
        Some(_) => return Err(damaged("unknown optional header magic")),
        None => return Err(damaged("no optional header")),
    };
    let directory_count = u32_at(&optional, directories_at - 4).unwrap_or(0);
    let resource_entry = directories_at + 2 * 8;
    if directory_count < 3 {
        return Err(PeError::NoVersion);
    }
    let (Some(resource_rva), Some(resource_size)) =
        (u32_at(&optional, resource_entry), u32_at(&optional, resource_entry + 4))
    else {
        return Err(damaged("optional header too short for its data directories"));
    };
    if resource_rva == 0 || resource_size == 0 {
        return Err(PeError::NoVersion);
    }

    let table_offset = optional_offset + u64::from(optional_size);
    let table = read(file, table_offset, usize::from(section_count) * 40, "section table")?;
    let sections: Vec<Section> = table
        .chunks_exact(40)
        .map(|s| Section {
            virtual_size: u32_at(s, 8).unwrap_or(0),
            virtual_address: u32_at(s, 12).unwrap_or(0),
            raw_size: u32_at(s, 16).unwrap_or(0),
            raw_offset: u32_at(s, 20).unwrap_or(0),
        })
        .collect();

    let mut resources = Resources { file, sections: &sections, base: resource_rva, size: resource_size };
    // Type RT_VERSION → name 1 → first language → data entry.
    let type_entry = resources.directory_entry(0, Some(RT_VERSION))?.ok_or(PeError::NoVersion)?;
    let name_dir = subdirectory(type_entry)?;
    // GetFileVersionInfo asks for id 1 (VS_VERSION_INFO); some resource compilers use another
    // id (pefile reads those too), so the first entry is the fallback.
    let name_entry = match resources.directory_entry(name_dir, Some(1))? {
        Some(entry) => entry,
        None => resources.directory_entry(name_dir, None)?.ok_or(PeError::NoVersion)?,
    };
    let language_dir = subdirectory(name_entry)?;
    let data_entry = resources.directory_entry(language_dir, None)?.ok_or(PeError::NoVersion)?;
    if data_entry & 0x8000_0000 != 0 {
        return Err(damaged("version resource nested deeper than three levels"));
    }
    let entry = resources.read_in_section(data_entry, 16, "resource data entry")?;
    let data_rva = u32_at(&entry, 0).unwrap_or(0);
    let data_size = u32_at(&entry, 4).unwrap_or(0);
    let wanted = data_size.min(VERSION_READ as u32);
    let offset = rva_to_offset(&sections, data_rva, wanted)
        .ok_or_else(|| damaged("version resource data outside the file's sections"))?;
    let block = read(file, offset, wanted as usize, "version resource")?;
    parse_version_block(&block)
}

struct Resources<'a> {
    file: &'a mut dyn BlockSource,
    sections: &'a [Section],
    base: u32,
    size: u32,
}

impl Resources<'_> {
    /// Reads `len` bytes at `offset` from the start of the resource section.
    fn read_in_section(&mut self, offset: u32, len: u32, what: &str) -> Result<Vec<u8>, PeError> {
        if offset.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(damaged(format!("{what} outside the resource section")));
        }
        let rva = self.base.checked_add(offset).ok_or_else(|| damaged(format!("{what}: address overflows")))?;
        let file_offset = rva_to_offset(self.sections, rva, len)
            .ok_or_else(|| damaged(format!("{what} outside the file's sections")))?;
        read(self.file, file_offset, len as usize, what)
    }

    /// The `OffsetToData` of the entry with integer id `id` (or of the first entry) in the
    /// directory at `offset`.
    fn directory_entry(&mut self, offset: u32, id: Option<u32>) -> Result<Option<u32>, PeError> {
        let header = self.read_in_section(offset, 16, "resource directory")?;
        let named = u32::from(u16_at(&header, 12).unwrap_or(0));
        let ids = u32::from(u16_at(&header, 14).unwrap_or(0));
        let count = named + ids;
        if count == 0 {
            return Ok(None);
        }
        if count > MAX_DIRECTORY_ENTRIES {
            return Err(damaged(format!("resource directory with {count} entries")));
        }
        let entries = self.read_in_section(offset + 16, count * 8, "resource directory entries")?;
        for entry in entries.chunks_exact(8) {
            let name = u32_at(entry, 0).unwrap_or(0);
            let target = u32_at(entry, 4).unwrap_or(0);
            match id {
                None => return Ok(Some(target)),
                // Named entries have the high bit set; ids are plain numbers.
                Some(id) if name == id => return Ok(Some(target)),
                Some(_) => {}
            }
        }
        Ok(None)
    }
}

/// The offset of the directory an entry points to (high bit set), else an error.
fn subdirectory(target: u32) -> Result<u32, PeError> {
    if target & 0x8000_0000 == 0 {
        return Err(damaged("resource data where a directory was expected"));
    }
    Ok(target & 0x7fff_ffff)
}

fn version_text(most: u32, least: u32) -> String {
    format!("{}.{}.{}.{}", most >> 16, most & 0xffff, least >> 16, least & 0xffff)
}

/// Parses the start of `VS_VERSIONINFO`: header, the key `VS_VERSION_INFO`, padding to a
/// 4-byte boundary, then `VS_FIXEDFILEINFO`.
pub fn parse_version_block(block: &[u8]) -> Result<PeVersion, PeError> {
    let value_length = usize::from(u16_at(block, 2).ok_or_else(|| damaged("version resource too short"))?);
    let key: Vec<u8> = "VS_VERSION_INFO\0".encode_utf16().flat_map(u16::to_le_bytes).collect();
    if block.get(6..6 + key.len()) != Some(&key[..]) {
        return Err(damaged("version resource does not start with VS_VERSION_INFO"));
    }
    if value_length < 52 {
        return Err(PeError::NoVersion);
    }
    let fixed_at = (6 + key.len() + 3) & !3;
    let fixed = block.get(fixed_at..fixed_at + 52).ok_or_else(|| damaged("VS_FIXEDFILEINFO cut short"))?;
    if u32_at(fixed, 0) != Some(FIXED_SIGNATURE) {
        return Err(damaged("VS_FIXEDFILEINFO signature missing"));
    }
    let field = |index: usize| u32_at(fixed, index * 4).unwrap_or(0);
    Ok(PeVersion { file_version: version_text(field(2), field(3)), product_version: version_text(field(4), field(5)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_pe() {
        let mut text: &[u8] = b"just some text, long enough to have a DOS header's worth of bytes in it......";
        assert_eq!(read_version(&mut text), Err(PeError::NotPe("no MZ signature")));
        let mut short: &[u8] = b"MZ";
        assert!(matches!(read_version(&mut short), Err(PeError::NotPe(_))));
    }

    #[test]
    fn dos_program_without_pe_header() {
        let mut bytes = vec![0u8; 128];
        bytes[..2].copy_from_slice(b"MZ");
        bytes[0x3c] = 0x40;
        let mut slice: &[u8] = &bytes;
        assert!(matches!(read_version(&mut slice), Err(PeError::NotPe(_))));
    }

    #[test]
    fn fixed_info() {
        let mut block = vec![0u8; 6];
        block[2] = 52;
        block.extend("VS_VERSION_INFO\0".encode_utf16().flat_map(u16::to_le_bytes));
        while !block.len().is_multiple_of(4) {
            block.push(0);
        }
        block.extend(FIXED_SIGNATURE.to_le_bytes());
        block.extend(0x0001_0000u32.to_le_bytes());
        block.extend(((2001u32 << 16) | 12).to_le_bytes());
        block.extend(((4414u32 << 16) | 46).to_le_bytes());
        block.extend((10u32 << 16).to_le_bytes());
        block.extend(((19041u32 << 16) | 1).to_le_bytes());
        block.resize(block.len() + 28, 0);
        let version = parse_version_block(&block).unwrap();
        assert_eq!(version.file_version, "2001.12.4414.46");
        assert_eq!(version.product_version, "10.0.19041.1");
        assert!(parse_version_block(&block[..50]).is_err());
    }
}
