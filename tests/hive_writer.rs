//! The test-support hive writer produces hives that nt-hive (and hivex, when installed) read
//! back exactly as specified.

mod support;

use std::collections::HashSet;
use std::process::Command;
use std::time::Instant;

use nt_hive::{Hive, KeyNode, KeyValueData, KeyValueDataType, NtHiveError, NtHiveNameString};
use rebootscan::load::base_block::BaseBlock;
use support::hive_writer::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// File position of the record whose name nt-hive returned: names are borrowed from the
/// hive buffer and start `header_len` bytes into the record (76 for `nk`, 20 for `vk`).
fn record_position(bytes: &[u8], name: &NtHiveNameString, header_len: usize) -> usize {
    let name_bytes = match name {
        NtHiveNameString::Latin1(slice) | NtHiveNameString::Utf16LE(slice) => slice,
    };
    name_bytes.as_ptr() as usize - bytes.as_ptr() as usize - header_len
}

fn nk_position(bytes: &[u8], key: &KeyNode<&[u8]>) -> usize {
    let position = record_position(bytes, &key.name().unwrap(), 76);
    assert_eq!(&bytes[position..position + 2], b"nk");
    position
}

/// File position of the data of the cell at hive-bins offset `offset`.
fn cell_data(offset: u32) -> usize {
    4096 + offset as usize + 4
}

/// Walks every hive bin and every cell in it: bins tile the hive-bins area with correct
/// headers, cells tile each bin, sizes are 8-aligned, and only a bin's last cell is free.
fn assert_well_formed(bytes: &[u8]) {
    let block = BaseBlock::parse(bytes).unwrap();
    assert!(block.problems(bytes.len() as u64).is_empty(), "{:?}", block.problems(bytes.len() as u64));
    assert_eq!(bytes.len(), 4096 + block.hive_bins_size as usize);
    let mut bin = 4096;
    while bin < bytes.len() {
        assert_eq!(&bytes[bin..bin + 4], b"hbin", "bin at {bin:#x}");
        assert_eq!(u32_at(bytes, bin + 4) as usize, bin - 4096);
        let size = u32_at(bytes, bin + 8) as usize;
        assert!(size >= 4096 && size.is_multiple_of(4096), "bin at {bin:#x} has size {size}");
        let mut cell = bin + 32;
        while cell < bin + size {
            let raw = u32_at(bytes, cell) as i32;
            let cell_size = raw.unsigned_abs() as usize;
            assert!(cell_size >= 8 && cell_size.is_multiple_of(8), "cell at {cell:#x} has size {raw}");
            assert!(cell + cell_size <= bin + size, "cell at {cell:#x} crosses its bin");
            if raw > 0 {
                assert_eq!(cell + cell_size, bin + size, "free cell at {cell:#x} is not the bin's last");
            }
            cell += cell_size;
        }
        bin += size;
    }
}

fn sample_hive() -> HiveSpec {
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("Select", ValueSpec::dword("Current", 1));
    spec.set_value(r"ControlSet001\Control\Session Manager", ValueSpec::sz("Text", "hello"));
    spec.key_mut(r"ControlSet001\Services\Tcpip\Parameters");
    spec
}

#[test]
fn nested_keys_are_found_by_case_insensitive_subpath() -> TestResult {
    let bytes = sample_hive().build();
    assert_well_formed(&bytes);
    let hive = Hive::new(&bytes[..])?;
    let root = hive.root_key_node()?;
    assert_eq!(root.name()?.to_string(), "ROOT");
    let session = root.subpath(r"controlset001\CONTROL\session manager").ok_or("missing")??;
    assert_eq!(session.name()?.to_string(), "Session Manager");
    assert_eq!(session.value("TEXT").ok_or("no value")??.string_data()?, "hello");
    assert!(root.subpath(r"ControlSet001\Services\Tcpip\Parameters").is_some());
    assert!(root.subpath(r"ControlSet001\Services\Dhcp").is_none());
    let names: Vec<String> =
        root.subkeys().ok_or("no subkeys")??.map(|key| key.unwrap().name().unwrap().to_string()).collect();
    assert_eq!(names, ["ControlSet001", "Select"]);
    Ok(())
}

#[test]
fn spec_paths_merge_case_insensitively_and_values_are_replaced() {
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value(r"A\B", ValueSpec::dword("X", 1));
    spec.set_value(r"a\b\", ValueSpec::dword("x", 2));
    spec.key_mut(r"\A\\C");
    assert_eq!(spec.root.subkeys.len(), 1);
    let a = &spec.root.subkeys[0];
    assert_eq!(a.subkeys.iter().map(|key| key.name.as_str()).collect::<Vec<_>>(), ["B", "C"]);
    assert_eq!(a.subkeys[0].values, [ValueSpec::dword("x", 2)]);
    assert_eq!(spec.key_mut("").name, "ROOT");
}

#[test]
fn every_value_type_round_trips() -> TestResult {
    let pfro = ["\\??\\C:\\Windows\\Temp\\a.tmp", "", "\\??\\C:\\Windows\\b.dll", "!\\??\\C:\\Windows\\c.dll"];
    let devprop = vec![0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc];
    let mut spec = HiveSpec::new("ROOT");
    for value in [
        ValueSpec::sz("", "the default value"),
        ValueSpec::sz("Sz", "C:\\Program Files\\wörld"),
        ValueSpec::expand_sz("ExpandSz", "%SystemRoot%\\system32"),
        ValueSpec::dword("Dword", 0xDEAD_BEEF),
        ValueSpec::dword_be("DwordBe", 0x0102_0304),
        ValueSpec::qword("Qword", 0x0123_4567_89AB_CDEF),
        ValueSpec::binary("Binary", &[0, 1, 2, 3, 4, 5, 0xff]),
        ValueSpec::multi_sz("PendingFileRenameOperations", &pfro),
        ValueSpec::raw("Devprop", 0xFFFF_0012, devprop.clone()),
        ValueSpec::raw("Three", REG_BINARY, vec![7, 8, 9]),
    ] {
        spec.set_value("Values", value);
    }
    let bytes = spec.build();
    assert_well_formed(&bytes);
    let hive = Hive::new(&bytes[..])?;
    let key = hive.root_key_node()?.subkey("values").ok_or("missing")??;
    let value = |name: &str| key.value(name).unwrap().unwrap();

    assert_eq!(value("").string_data()?, "the default value");
    assert_eq!(value("sz").data_type()?, KeyValueDataType::RegSZ);
    assert_eq!(value("sz").string_data()?, "C:\\Program Files\\wörld");
    assert_eq!(value("ExpandSz").data_type()?, KeyValueDataType::RegExpandSZ);
    assert_eq!(value("ExpandSz").string_data()?, "%SystemRoot%\\system32");
    assert_eq!(value("Dword").dword_data()?, 0xDEAD_BEEF);
    assert_eq!(value("DwordBe").data_type()?, KeyValueDataType::RegDWordBigEndian);
    assert_eq!(value("DwordBe").dword_data()?, 0x0102_0304);
    assert_eq!(value("Qword").qword_data()?, 0x0123_4567_89AB_CDEF);
    assert_eq!(value("Binary").data_type()?, KeyValueDataType::RegBinary);
    assert_eq!(value("Binary").data()?.into_vec()?, [0, 1, 2, 3, 4, 5, 0xff]);
    assert_eq!(value("Three").data()?.into_vec()?, [7, 8, 9]);

    let multi = value("PendingFileRenameOperations");
    assert_eq!(multi.data_type()?, KeyValueDataType::RegMultiSZ);
    let units: Vec<u16> =
        multi.data()?.into_vec()?.chunks(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).collect();
    let text = String::from_utf16(&units)?;
    assert_eq!(text, format!("{}\0\0", pfro.join("\0")), "empty strings kept, list ends with an extra NUL");

    // nt-hive knows no type above REG_QWORD, but the data and the stored type are intact.
    let prop = value("Devprop");
    assert!(prop.data_type().is_err());
    assert_eq!(prop.data()?.into_vec()?, devprop);
    let vk = record_position(&bytes, &prop.name()?, 20);
    assert_eq!(&bytes[vk..vk + 2], b"vk");
    assert_eq!(u32_at(&bytes, vk + 12), 0xFFFF_0012);
    Ok(())
}

#[test]
fn small_and_empty_data_is_stored_inline() -> TestResult {
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("K", ValueSpec::raw("EmptySz", REG_SZ, Vec::new()));
    spec.set_value("K", ValueSpec::raw("EmptyNone", REG_NONE, Vec::new()));
    spec.set_value("K", ValueSpec::dword("Dword", 0x0403_0201));
    spec.set_value("K", ValueSpec::binary("Five", &[1, 2, 3, 4, 5]));
    let bytes = spec.build();
    let hive = Hive::new(&bytes[..])?;
    let key = hive.root_key_node()?.subkey("K").ok_or("missing")??;
    for name in ["EmptySz", "EmptyNone"] {
        let value = key.value(name).ok_or("missing")??;
        assert_eq!(value.data_size(), 0);
        assert_eq!(value.data()?.into_vec()?, Vec::<u8>::new());
        let vk = record_position(&bytes, &value.name()?, 20);
        assert_eq!((u32_at(&bytes, vk + 4), u32_at(&bytes, vk + 8)), (0x8000_0000, 0), "{name}: inline, offset 0");
        assert_eq!(u16_at(&bytes, vk + 16), 1, "{name}: ASCII name flag");
    }
    let dword = key.value("Dword").ok_or("missing")??;
    let vk = record_position(&bytes, &dword.name()?, 20);
    assert_eq!((u32_at(&bytes, vk + 4), u32_at(&bytes, vk + 8)), (0x8000_0004, 0x0403_0201));
    let five = key.value("Five").ok_or("missing")??;
    let vk = record_position(&bytes, &five.name()?, 20);
    assert_eq!(u32_at(&bytes, vk + 4), 5, "more than 4 bytes go to their own cell");
    assert_eq!(&bytes[cell_data(u32_at(&bytes, vk + 8))..][..5], [1, 2, 3, 4, 5]);
    Ok(())
}

fn patterned(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|index| (index % 251) as u8 ^ seed).collect()
}

#[test]
fn large_values_go_through_big_data() -> TestResult {
    let mut spec = HiveSpec::new("ROOT");
    let exact = patterned(BIG_DATA_SEGMENT_SIZE, 1);
    let medium = patterned(20_000, 2);
    let large = patterned(80_000, 3);
    spec.set_value("Big", ValueSpec::binary("Exact", &exact));
    spec.set_value("Big", ValueSpec::binary("Medium", &medium));
    spec.set_value("Big", ValueSpec::binary("Large", &large));
    let bytes = spec.build();
    assert_well_formed(&bytes);
    let hive = Hive::new(&bytes[..])?;
    let key = hive.root_key_node()?.subkey("Big").ok_or("missing")??;
    assert!(matches!(key.value("Exact").ok_or("missing")??.data()?, KeyValueData::Small(_)));
    for (name, expected, segments) in [("Medium", &medium, 2), ("Large", &large, 5)] {
        let value = key.value(name).ok_or("missing")??;
        let data = value.data()?;
        assert!(matches!(data, KeyValueData::Big(_)), "{name} uses a db record");
        assert_eq!(&data.into_vec()?, expected, "{name}");
        let vk = record_position(&bytes, &value.name()?, 20);
        let db = cell_data(u32_at(&bytes, vk + 8));
        assert_eq!((&bytes[db..db + 2], u16_at(&bytes, db + 2)), (&b"db"[..], segments));
    }
    assert_eq!(key.value("Exact").ok_or("missing")??.data()?.into_vec()?, exact);

    // Format 1.3 predates `db`: one large cell holds the data.
    spec.minor_version = 3;
    let old = spec.build();
    assert_well_formed(&old);
    let hive = Hive::new(&old[..])?;
    let value = hive.root_key_node()?.subkey("Big").ok_or("missing")??.value("Large").ok_or("missing")??;
    let vk = record_position(&old, &value.name()?, 20);
    let data = cell_data(u32_at(&old, vk + 8));
    assert!((u32_at(&old, data - 4) as i32).unsigned_abs() as usize >= 80_004);
    assert_eq!(&old[data..data + 80_000], &large[..]);
    Ok(())
}

/// 2,000 distinct ASCII names (case-insensitively) made of characters whose order changes
/// when upper-cased ('_' sorts after letters only once they are upper case), in a scrambled
/// insertion order.
fn many_names() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcXYZ_09-";
    let mut state = 0x2545_F491_u32;
    let mut seen = HashSet::new();
    let mut names = Vec::new();
    while names.len() < 2000 {
        let mut next = || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as usize
        };
        let len = 2 + next() % 7;
        let name: String = (0..len).map(|_| ALPHABET[next() % ALPHABET.len()] as char).collect();
        if seen.insert(name.to_ascii_uppercase()) {
            names.push(name);
        }
    }
    names
}

#[test]
fn many_subkeys_under_an_index_root_are_sorted_and_findable() -> TestResult {
    let names = many_names();
    let mut expected = names.clone();
    expected.sort_by_key(|name| name.to_ascii_uppercase());
    for (style, signature) in [(IndexStyle::Lh, b"lh"), (IndexStyle::Lf, b"lf"), (IndexStyle::Li, b"li")] {
        let mut spec = HiveSpec::new("ROOT");
        spec.index_style = style;
        spec.max_leaf_entries = 300;
        let many = spec.key_mut("Many");
        for name in &names {
            many.subkeys.push(KeySpec::new(name, DEFAULT_LAST_WRITTEN));
        }
        let bytes = spec.build();
        assert_well_formed(&bytes);
        let hive = Hive::new(&bytes[..])?;
        let many = hive.root_key_node()?.subkey("many").ok_or("missing")??;

        let enumerated: Vec<String> =
            many.subkeys().ok_or("none")??.map(|key| key.unwrap().name().unwrap().to_string()).collect();
        assert_eq!(enumerated, expected, "{style:?}: enumeration in registry order");
        for name in &names {
            let found =
                many.subkey(&name.to_ascii_lowercase()).unwrap_or_else(|| panic!("{style:?}: {name} not found"))?;
            assert_eq!(&found.name()?.to_string(), name);
        }
        assert!(many.subkey("not-there").is_none());

        let nk = nk_position(&bytes, &many);
        assert_eq!(u32_at(&bytes, nk + 20), 2000);
        let list = cell_data(u32_at(&bytes, nk + 28));
        assert_eq!((&bytes[list..list + 2], u16_at(&bytes, list + 2)), (&b"ri"[..], 7));
        for leaf_index in 0..7 {
            let leaf = cell_data(u32_at(&bytes, list + 4 + 4 * leaf_index));
            assert_eq!(&bytes[leaf..leaf + 2], signature, "{style:?}");
        }
    }
    Ok(())
}

#[test]
fn leaves_carry_windows_hashes_and_hints() -> TestResult {
    let mut spec = HiveSpec::new("ROOT");
    spec.key_mut("Select");
    for (style, element) in [(IndexStyle::Lh, 0x5F00_24A0u32.to_le_bytes()), (IndexStyle::Lf, *b"Sele")] {
        spec.index_style = style;
        let bytes = spec.build();
        let hive = Hive::new(&bytes[..])?;
        let nk = nk_position(&bytes, &hive.root_key_node()?);
        let leaf = cell_data(u32_at(&bytes, nk + 28));
        assert_eq!(bytes[leaf + 8..leaf + 12], element, "{style:?}");
    }
    // "SELECT": ((((83*37+69)*37+76)*37+69)*37+67)*37+84, wrapping.
    assert_eq!(name_hash("select"), 0x5F00_24A0);
    Ok(())
}

#[test]
fn non_ascii_names_are_stored_and_found() -> TestResult {
    let names = ["alpha", "Zeta", "Émile", "Ünïcødé", "Ωmega", "日本語キー"];
    let mut spec = HiveSpec::new("ROOT");
    for name in names.iter().rev() {
        spec.set_value(name, ValueSpec::dword("Wert ä", 1));
    }
    spec.set_value("Ωmega", ValueSpec::sz("Ключ", "значение"));
    let bytes = spec.build();
    assert_well_formed(&bytes);
    let hive = Hive::new(&bytes[..])?;
    let root = hive.root_key_node()?;
    let enumerated: Vec<String> =
        root.subkeys().ok_or("none")??.map(|key| key.unwrap().name().unwrap().to_string()).collect();
    assert_eq!(enumerated, names);
    for (name, query, latin1) in [
        ("Émile", "éMILE", true),
        ("Ünïcødé", "üNÏCØDÉ", true),
        ("Ωmega", "ωMEGA", false),
        ("日本語キー", "日本語キー", false),
    ] {
        let key = root.subkey(query).ok_or(format!("{query} not found"))??;
        assert_eq!(key.name()?.to_string(), name);
        let flags = u16_at(&bytes, nk_position(&bytes, &key) + 2);
        assert_eq!(flags & 0x20 != 0, latin1, "{name}: COMP_NAME flag");
        assert_eq!(key.value("WERT Ä").ok_or("missing")??.dword_data()?, 1);
    }
    let omega = root.subkey("Ωmega").ok_or("missing")??;
    let value = omega.value("ключ").ok_or("missing")??;
    assert_eq!(value.string_data()?, "значение");
    assert_eq!(u16_at(&bytes, record_position(&bytes, &value.name()?, 20) + 16), 0, "UTF-16 value name");
    Ok(())
}

#[test]
fn key_fields_counts_and_lengths() -> TestResult {
    let mut spec = HiveSpec::new("ROOT");
    spec.root.last_written = 0x01D6_1632_0F3C_5A10;
    spec.root.class_name = Some("RootClass".into());
    spec.key_mut("Short").class_name = Some("Class".into());
    spec.key_mut("LongerName").class_name = Some("LongestClass".into());
    spec.set_value("", ValueSpec::binary("ValueName", &[0; 300]));
    spec.set_value("", ValueSpec::dword("V", 1));
    let bytes = spec.build();
    let block = BaseBlock::parse(&bytes)?;
    let hive = Hive::new(&bytes[..])?;
    let root = hive.root_key_node()?;
    let nk = cell_data(block.root_cell_offset);
    assert_eq!(nk, nk_position(&bytes, &root), "the base block points at the root nk");
    assert_eq!(u16_at(&bytes, nk + 2), 0x2C, "HIVE_ENTRY | NO_DELETE | COMP_NAME");
    assert_eq!(u64_at(&bytes, nk + 4), 0x01D6_1632_0F3C_5A10, "root last-written time");
    assert_eq!(u32_at(&bytes, nk + 20), 2, "subkey count");
    assert_eq!(u32_at(&bytes, nk + 36), 2, "value count");
    assert_eq!(u32_at(&bytes, nk + 52), 20, "largest subkey name, UTF-16 bytes");
    assert_eq!(u32_at(&bytes, nk + 56), 24, "largest subkey class name");
    assert_eq!(u32_at(&bytes, nk + 60), 18, "largest value name");
    assert_eq!(u32_at(&bytes, nk + 64), 300, "largest value data");
    let sk = cell_data(u32_at(&bytes, nk + 44));
    assert_eq!(&bytes[sk..sk + 2], b"sk");
    assert_eq!(u32_at(&bytes, sk + 12), 3, "one security cell shared by all keys");
    assert_eq!(root.class_name().ok_or("no class")??.to_string(), "RootClass");
    let short = root.subkey("short").ok_or("missing")??;
    assert_eq!(short.class_name().ok_or("no class")??.to_string(), "Class");
    let short_nk = nk_position(&bytes, &short);
    assert_eq!(u16_at(&bytes, short_nk + 2), 0x20);
    assert_eq!(u32_at(&bytes, short_nk + 16), block.root_cell_offset, "parent");
    assert_eq!(u32_at(&bytes, short_nk + 44), u32_at(&bytes, nk + 44));
    assert_eq!(u64_at(&bytes, 4096 + 20), DEFAULT_LAST_WRITTEN, "first hbin keeps the hive time");
    Ok(())
}

#[test]
fn base_block_fields() -> TestResult {
    let mut spec = sample_hive();
    spec.embedded_file_name = r"\SystemRoot\System32\Config\SYSTEM".chars().skip(3).collect();
    spec.last_written = 0x01DA_0000_1234_5678;
    spec.primary_sequence = 42;
    spec.secondary_sequence = 42;
    let bytes = spec.build();
    let block = BaseBlock::parse(&bytes)?;
    assert_eq!(block.embedded_file_name, r"stemRoot\System32\Config\SYSTEM");
    assert_eq!(block.last_written.ticks(), 0x01DA_0000_1234_5678);
    assert_eq!((block.primary_sequence, block.secondary_sequence), (42, 42));
    assert_eq!(block.format_version(), "1.5");
    assert!(block.checksum_ok() && !block.is_dirty());
    assert!(block.problems(bytes.len() as u64).is_empty());
    assert_eq!(spec.build(), bytes, "deterministic");
    Ok(())
}

#[test]
fn dirty_hive_is_rejected_by_validation_but_readable() -> TestResult {
    let mut spec = sample_hive();
    spec.primary_sequence = 5;
    spec.secondary_sequence = 4;
    let bytes = spec.build();
    assert!(matches!(Hive::new(&bytes[..]), Err(NtHiveError::SequenceNumberMismatch { primary: 5, secondary: 4 })));
    let hive = Hive::without_validation(&bytes[..])?;
    let select = hive.root_key_node()?.subkey("Select").ok_or("missing")??;
    assert_eq!(select.value("Current").ok_or("missing")??.dword_data()?, 1);
    let block = BaseBlock::parse(&bytes)?;
    assert!(block.checksum_ok() && !block.sequences_match() && block.is_dirty());
    Ok(())
}

#[test]
fn broken_checksum_is_detected() -> TestResult {
    let mut spec = sample_hive();
    spec.break_checksum = true;
    let bytes = spec.build();
    let block = BaseBlock::parse(&bytes)?;
    assert!(!block.checksum_ok());
    assert!(block.sequences_match());
    assert!(matches!(Hive::new(&bytes[..]), Err(NtHiveError::InvalidChecksum { .. })));
    Ok(())
}

#[test]
#[should_panic(expected = "two subkeys named")]
fn duplicate_sibling_names_are_refused() {
    let mut spec = HiveSpec::new("ROOT");
    spec.root.subkeys.push(KeySpec::new("Same", 0));
    spec.root.subkeys.push(KeySpec::new("SAME", 0));
    spec.build();
}

/// hivex's `hivexget`, the reference tool of the benchmarks; `None` (skipped visibly) when it
/// is not installed outside CI.
fn hivexget_tool(test: &str) -> Option<std::path::PathBuf> {
    support::external::cross_check_tool("hivexget", "libhivex-bin", test)
}

/// Runs `hivexget` on a written hive.
fn hivexget(path: &std::path::Path, key: &str, value: &str) -> Vec<u8> {
    let output = Command::new("hivexget").arg(path).arg(key).arg(value).output().expect("run hivexget");
    assert!(output.status.success(), "hivexget {key} {value}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

#[test]
fn hivex_reads_written_hives() {
    if hivexget_tool("hivex_reads_written_hives").is_none() {
        return;
    }
    let mut spec = sample_hive();
    let large = patterned(80_000, 5);
    spec.set_value(r"Key\Sub", ValueSpec::sz("Text", "hello wörld"));
    spec.set_value(r"Key\Sub", ValueSpec::dword("Number", 1_234_567));
    spec.set_value(r"Key\Sub", ValueSpec::multi_sz("Multi", &["one", "", "two"]));
    spec.set_value(r"Key\Sub", ValueSpec::binary("Large", &large));
    spec.set_value(r"Ünï\Ωmega", ValueSpec::sz("", "default"));
    spec.max_leaf_entries = 300;
    let many = spec.key_mut("Many");
    for name in many_names() {
        many.subkeys.push(KeySpec::new(&name, DEFAULT_LAST_WRITTEN));
    }
    spec.set_value(r"Many\abc", ValueSpec::sz("Found", "yes"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("HIVE");
    std::fs::write(&path, spec.build()).unwrap();

    assert_eq!(hivexget(&path, r"Key\Sub", "Text"), b"hello w\xc3\xb6rld\n");
    assert_eq!(hivexget(&path, r"\key\SUB", "number"), b"1234567\n");
    // hivex splits at every NUL, so the list's terminator shows as a last empty line.
    assert_eq!(hivexget(&path, r"Key\Sub", "Multi"), b"one\n\ntwo\n\n");
    assert_eq!(hivexget(&path, r"Key\Sub", "Large"), large);
    assert_eq!(hivexget(&path, r"Ünï\Ωmega", "@"), "default\n".as_bytes());
    assert_eq!(hivexget(&path, r"Many\ABC", "Found"), b"yes\n");

    // hivexml walks the whole tree and fails on any structural error.
    let xml = Command::new("hivexml").arg(&path).output().expect("run hivexml");
    assert!(xml.status.success(), "hivexml: {}", String::from_utf8_lossy(&xml.stderr));
    let nodes = String::from_utf8_lossy(&xml.stdout).matches("<node ").count();
    assert_eq!(nodes, 1 + 2000 + 12, "root, Many's subkeys and the other keys");
}

fn count_keys(key: &KeySpec) -> usize {
    1 + key.subkeys.iter().map(count_keys).sum::<usize>()
}

/// Size and build time of a SOFTWARE-like hive of the benchmarks' scale (~100 MB, ~300,000
/// keys). Run with `cargo test --release --test hive_writer -- --ignored --nocapture`.
#[test]
#[ignore]
fn large_hive_build_time() -> TestResult {
    let started = Instant::now();
    let mut spec = HiveSpec::new("CMI-CreateHive{199DAFC2-6F16-4946-BF90-5A3FC3A60902}");
    let packages = spec.key_mut(r"Microsoft\Windows\CurrentVersion\Component Based Servicing\Packages");
    for index in 0..30_000 {
        let mut package = KeySpec::new(
            &format!("Package_{index:05}_for_KB{index:07}~31bf3856ad364e35~amd64~~10.0.1.{index}"),
            DEFAULT_LAST_WRITTEN,
        );
        package.values.push(ValueSpec::dword("CurrentState", 112));
        package.values.push(ValueSpec::dword("InstallClient", 1));
        package.values.push(ValueSpec::sz(
            "InstallLocation",
            &format!("\\\\?\\C:\\Windows\\SoftwareDistribution\\Download\\{index:032x}"),
        ));
        package.values.push(ValueSpec::binary("Visibility", &[1; 600]));
        packages.subkeys.push(package);
    }
    // hivex refuses keys with more than 70,000 subkeys: split the classes over two keys.
    for path in ["Classes", r"WOW6432Node\Classes"] {
        let classes = spec.key_mut(path);
        for index in 0..45_000 {
            let mut class = KeySpec::new(&format!("{{{index:08X}-0000-0000-C000-000000000046}}"), DEFAULT_LAST_WRITTEN);
            class.values.push(ValueSpec::sz("", &format!("Component class number {index}")));
            for sub in ["InprocServer32", "ProgID"] {
                let mut sub = KeySpec::new(sub, DEFAULT_LAST_WRITTEN);
                let dll = format!("%SystemRoot%\\System32\\component{index}.dll");
                sub.values.push(ValueSpec::expand_sz("", &dll));
                sub.values.push(ValueSpec::sz("ThreadingModel", "Both"));
                class.subkeys.push(sub);
            }
            classes.subkeys.push(class);
        }
    }
    let spec_time = started.elapsed();
    let started = Instant::now();
    let bytes = spec.build();
    let build_time = started.elapsed();
    eprintln!(
        "{} keys, {:.1} MB: spec {:.2?}, build {:.2?}",
        count_keys(&spec.root),
        bytes.len() as f64 / 1e6,
        spec_time,
        build_time
    );
    let hive = Hive::new(&bytes[..])?;
    let root = hive.root_key_node()?;
    let package = root
        .subpath(r"Microsoft\Windows\CurrentVersion\Component Based Servicing\Packages\Package_12345_for_KB0012345~31bf3856ad364e35~amd64~~10.0.1.12345")
        .ok_or("missing")??;
    assert_eq!(package.value("CurrentState").ok_or("missing")??.dword_data()?, 112);
    let progid = r"WOW6432Node\Classes\{0000ABCD-0000-0000-C000-000000000046}\ProgID";
    assert!(root.subpath(progid).is_some());
    if hivexget_tool("large_hive_build_time").is_some() {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("SOFTWARE");
        std::fs::write(&path, &bytes)?;
        assert_eq!(hivexget(&path, progid, "ThreadingModel"), b"Both\n");
    }
    Ok(())
}
