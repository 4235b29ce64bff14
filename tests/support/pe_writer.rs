//! The project's writer of minimal PE files (DLLs) with a version resource, for the staged
//! files of pending renames on test disk images.
//!
//! One `.rsrc` section holding the resource tree RT_VERSION (16) → 1 → language 0x0409 →
//! `VS_VERSIONINFO` with `VS_FIXEDFILEINFO`, a `StringFileInfo` (`040904B0\FileVersion`)
//! and a `VarFileInfo\Translation`, as rc.exe lays them out. Layouts follow Microsoft's
//! "PE Format" and "VS_VERSIONINFO" documentation; the output was checked once with the
//! Python `pefile` module and with `pelite`, which read the same versions.

const FILE_ALIGNMENT: usize = 0x200;
const SECTION_RVA: u32 = 0x1000;

/// What to put in the file.
#[derive(Clone, Debug)]
pub struct PeSpec {
    /// `major.minor.build.revision`.
    pub file_version: [u16; 4],
    pub product_version: [u16; 4],
    /// PE32+ (x64) when true, PE32 (x86) otherwise.
    pub pe32_plus: bool,
    /// Bytes appended after the section (an overlay), to make the file big or compressible.
    pub padding: usize,
}

impl PeSpec {
    pub fn dll(file_version: [u16; 4]) -> PeSpec {
        PeSpec { file_version, product_version: file_version, pe32_plus: true, padding: 0 }
    }
}

fn push_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn push_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u16(out: &mut [u8], at: usize, value: u16) {
    out[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn put_u32(out: &mut [u8], at: usize, value: u32) {
    out[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn align(out: &mut Vec<u8>, to: usize) {
    while !out.len().is_multiple_of(to) {
        out.push(0);
    }
}

fn utf16z(text: &str) -> Vec<u8> {
    text.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect()
}

/// One node of a version resource: header, key, padding, value, padding, children. `wLength`
/// excludes the padding after the last child, as rc.exe writes it.
fn version_node(key: &str, value: &[u8], value_length: u16, text: bool, children: &[Vec<u8>]) -> Vec<u8> {
    let mut node = vec![0u8; 6];
    put_u16(&mut node, 2, value_length);
    put_u16(&mut node, 4, u16::from(text));
    node.extend(utf16z(key));
    align(&mut node, 4);
    node.extend_from_slice(value);
    for child in children {
        align(&mut node, 4);
        node.extend_from_slice(child);
    }
    let length = node.len() as u16;
    put_u16(&mut node, 0, length);
    node
}

fn version_text(version: [u16; 4]) -> String {
    format!("{}.{}.{}.{}", version[0], version[1], version[2], version[3])
}

/// `VS_VERSIONINFO` for `spec`.
pub fn version_info(spec: &PeSpec) -> Vec<u8> {
    let [a, b, c, d] = spec.file_version.map(u32::from);
    let [e, f, g, h] = spec.product_version.map(u32::from);
    let mut fixed = Vec::new();
    for field in [
        0xfeef_04bd,   // dwSignature
        0x0001_0000,   // dwStrucVersion
        (a << 16) | b, // dwFileVersionMS
        (c << 16) | d, // dwFileVersionLS
        (e << 16) | f, // dwProductVersionMS
        (g << 16) | h, // dwProductVersionLS
        0x3f,          // dwFileFlagsMask
        0,             // dwFileFlags
        0x0004_0004,   // dwFileOS: VOS_NT_WINDOWS32
        2,             // dwFileType: VFT_DLL
        0,             // dwFileSubtype
        0,             // dwFileDateMS
        0,             // dwFileDateLS
    ] {
        push_u32(&mut fixed, field);
    }
    let file_version = version_text(spec.file_version);
    let value = utf16z(&file_version);
    let string = version_node("FileVersion", &value, (value.len() / 2) as u16, true, &[]);
    let table = version_node("040904B0", &[], 0, true, &[string]);
    let string_info = version_node("StringFileInfo", &[], 0, true, &[table]);
    let mut translation = Vec::new();
    push_u16(&mut translation, 0x0409);
    push_u16(&mut translation, 0x04b0);
    let var = version_node("Translation", &translation, 4, false, &[]);
    let var_info = version_node("VarFileInfo", &[], 0, true, &[var]);
    version_node("VS_VERSION_INFO", &fixed, 52, false, &[string_info, var_info])
}

/// The `.rsrc` section body: directory tree and the version block.
fn resource_section(version: &[u8]) -> Vec<u8> {
    let mut section = Vec::new();
    let directory = |section: &mut Vec<u8>, id: u32, target: u32| {
        section.extend_from_slice(&[0u8; 12]); // Characteristics, TimeDateStamp, versions
        push_u16(section, 0); // NumberOfNamedEntries
        push_u16(section, 1); // NumberOfIdEntries
        push_u32(section, id);
        push_u32(section, target);
    };
    directory(&mut section, 16, 0x8000_0000 | 0x18); // RT_VERSION → name directory
    directory(&mut section, 1, 0x8000_0000 | 0x30); // VS_VERSION_INFO id 1 → language directory
    directory(&mut section, 0x0409, 0x48); // en-US → data entry
    let data_offset = 0x58u32;
    push_u32(&mut section, SECTION_RVA + data_offset); // OffsetToData (an RVA)
    push_u32(&mut section, version.len() as u32);
    push_u32(&mut section, 0); // CodePage
    push_u32(&mut section, 0); // Reserved
    section.resize(data_offset as usize, 0);
    section.extend_from_slice(version);
    section
}

/// A complete PE file.
pub fn build(spec: &PeSpec) -> Vec<u8> {
    let rsrc = resource_section(&version_info(spec));
    let raw_size = rsrc.len().div_ceil(FILE_ALIGNMENT) * FILE_ALIGNMENT;
    let optional_size: u16 = if spec.pe32_plus { 240 } else { 224 };

    let mut out = vec![0u8; 0x40];
    out[..2].copy_from_slice(b"MZ");
    put_u32(&mut out, 0x3c, 0x40);
    out.extend_from_slice(b"PE\0\0");
    push_u16(&mut out, if spec.pe32_plus { 0x8664 } else { 0x014c }); // Machine
    push_u16(&mut out, 1); // NumberOfSections
    push_u32(&mut out, 0x5f00_0000); // TimeDateStamp
    push_u32(&mut out, 0); // PointerToSymbolTable
    push_u32(&mut out, 0); // NumberOfSymbols
    push_u16(&mut out, optional_size);
    push_u16(&mut out, 0x2022); // EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE | DLL

    let optional_start = out.len();
    out.resize(optional_start + usize::from(optional_size), 0);
    let opt = &mut out[optional_start..];
    put_u16(opt, 0, if spec.pe32_plus { 0x20b } else { 0x10b });
    let size_of_image = SECTION_RVA + (rsrc.len() as u32).div_ceil(0x1000) * 0x1000;
    if spec.pe32_plus {
        opt[24..32].copy_from_slice(&0x1_8000_0000u64.to_le_bytes()); // ImageBase
    } else {
        put_u32(opt, 28, 0x1000_0000); // ImageBase
    }
    put_u32(opt, 32, 0x1000); // SectionAlignment
    put_u32(opt, 36, FILE_ALIGNMENT as u32); // FileAlignment
    put_u16(opt, 40, 10); // MajorOperatingSystemVersion
    put_u16(opt, 48, 10); // MajorSubsystemVersion
    put_u32(opt, 56, size_of_image);
    put_u32(opt, 60, FILE_ALIGNMENT as u32); // SizeOfHeaders
    put_u16(opt, 68, 2); // Subsystem: Windows GUI
    let directories = if spec.pe32_plus { 112 } else { 96 };
    put_u32(opt, directories - 4, 16); // NumberOfRvaAndSizes
    put_u32(opt, directories + 16, SECTION_RVA); // resource directory RVA
    put_u32(opt, directories + 20, rsrc.len() as u32); // and size

    out.extend_from_slice(b".rsrc\0\0\0");
    push_u32(&mut out, rsrc.len() as u32); // VirtualSize
    push_u32(&mut out, SECTION_RVA);
    push_u32(&mut out, raw_size as u32); // SizeOfRawData
    push_u32(&mut out, FILE_ALIGNMENT as u32); // PointerToRawData
    out.extend_from_slice(&[0u8; 12]); // relocations, line numbers
    push_u32(&mut out, 0x4000_0040); // INITIALIZED_DATA | MEM_READ
    assert!(out.len() <= FILE_ALIGNMENT, "headers fit before the section");
    out.resize(FILE_ALIGNMENT, 0);
    out.extend_from_slice(&rsrc);
    out.resize(FILE_ALIGNMENT + raw_size, 0);
    // A repeating text pattern: compressible, so an NTFS-compressed copy really is compressed.
    let pattern = b"rebootscan test padding. ";
    out.extend((0..spec.padding).map(|i| pattern[i % pattern.len()]));
    out
}
