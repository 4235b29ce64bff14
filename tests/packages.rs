//! The CBS packages waiting for the reboot: the cell-level walk of `Packages` and the lookup
//! of the packages CBS's records name agree with a plain enumeration of every package, on
//! every shipped fixture and on generated stores with pending packages at the start, in the
//! middle and at the end of the list, under every index layout (lh/lf/li leaves, ri roots).

mod support;

use std::path::Path;

use rebootscan::load::open::{HiveFile, LoadOptions};
use rebootscan::load::reader::{HiveReader, Key, ReadError};
use rebootscan::rules::cbs::{self, FoundBy, PackageSearchMode};
use support::hive_writer::{compare_names, HiveSpec, IndexStyle, ValueSpec, REG_BINARY, REG_SZ};

const CBS: &str = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing";
const INSTALLED: u32 = 0x70;

/// What a plain enumeration finds: every subkey through nt-hive, its `CurrentState` decoded
/// like any value. The reference the fast paths must equal.
fn enumerate(packages: &Key<'_>) -> Vec<(String, u32)> {
    let mut pending = Vec::new();
    for package in packages.subkeys().unwrap() {
        let state = package.value("CurrentState").unwrap().and_then(|v| v.typed().unwrap().as_u64()).map(|n| n as u32);
        if let Some(state) = state.filter(|&s| cbs::waits_for_reboot(s)) {
            pending.push((package.name().unwrap(), state));
        }
    }
    pending
}

fn listed(packages: &[cbs::PendingPackage]) -> Vec<(String, u32)> {
    packages.iter().map(|p| (p.package.clone(), p.state)).collect()
}

/// 300 package names of the families a store holds, plus names that sort at the very start
/// and end, one stored as UTF-16 (not Latin-1), and mixed case.
fn package_names() -> Vec<String> {
    let mut names = vec![
        "AAA-First-Package~31bf3856ad364e35~amd64~~10.0.1.0".to_string(),
        "zzz-last-package~31bf3856ad364e35~amd64~~10.0.1.0".to_string(),
        "Пакет-Language-Package~31bf3856ad364e35~amd64~ru-RU~10.0.1.0".to_string(),
        "Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.4291.1.10".to_string(),
        "Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.3803.1.3".to_string(),
    ];
    for i in 0..295 {
        names.push(match i % 3 {
            0 => format!("Package_for_KB{}~31bf3856ad364e35~amd64~~10.0.1.{i}", 5_000_000 + i * 7),
            1 => format!("Package_{i}_for_KB{}~31bf3856ad364e35~amd64~~10.0.1.{}", 5_000_000 + i, i % 20),
            _ => format!("Microsoft-Windows-Feature{i:03}-Package~31bf3856ad364e35~amd64~~10.0.19041.{i}"),
        });
    }
    names.sort_by(|a, b| compare_names(a, b));
    names
}

/// A SOFTWARE with the store: `pending` (by position in name order) get the given states,
/// every other package is Installed. Value order and form vary the way writers vary them.
fn store(style: IndexStyle, max_leaf_entries: usize, pending: &[(usize, u32)]) -> (HiveSpec, Vec<(String, u32)>) {
    let mut spec = HiveSpec::new("ROOT");
    spec.index_style = style;
    spec.max_leaf_entries = max_leaf_entries;
    let names = package_names();
    let mut expected = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let state = pending.iter().find(|(at, _)| *at == index).map_or(INSTALLED, |(_, state)| *state);
        let key = format!("{CBS}\\Packages\\{name}");
        let state_value = match index % 5 {
            // CurrentState as REG_BINARY, as QWORD, or with its name in another case: the
            // walk hands these to the ordinary decoder.
            1 => ValueSpec::raw("CurrentState", REG_BINARY, state.to_le_bytes().to_vec()),
            2 => ValueSpec::qword("CurrentState", state as u64),
            3 => ValueSpec::dword("currentSTATE", state),
            _ => ValueSpec::dword("CurrentState", state),
        };
        if index % 2 == 0 {
            spec.set_value(&key, ValueSpec::sz("InstallName", &format!("{name}.mum")));
            spec.set_value(&key, ValueSpec::dword("InstallTimeHigh", 0x01da_0000));
        }
        spec.set_value(&key, state_value);
        spec.set_value(&key, ValueSpec::dword("InstallTimeLow", index as u32));
        if cbs::waits_for_reboot(state) {
            expected.push((name.clone(), state));
        }
    }
    // A package without CurrentState, and one whose state is text: neither is pending.
    spec.set_value(
        &format!("{CBS}\\Packages\\Package_NoState~31bf3856ad364e35~amd64~~1.0.0.0"),
        ValueSpec::dword("Visibility", 1),
    );
    spec.set_value(
        &format!("{CBS}\\Packages\\Package_TextState~31bf3856ad364e35~amd64~~1.0.0.0"),
        ValueSpec::raw("CurrentState", REG_SZ, support::hive_writer::utf16le("installed\0")),
    );
    (spec, expected)
}

fn search(bytes: &[u8], mode: PackageSearchMode) -> (Vec<(String, u32)>, cbs::PackageSearch) {
    let reader = HiveReader::new(bytes).unwrap();
    let root = reader.root().unwrap();
    let mut releases = 0;
    let (found, search) = cbs::find_pending_packages(&root, mode, &mut || releases += 1).unwrap().unwrap();
    (listed(&found), search)
}

fn reference(bytes: &[u8]) -> Vec<(String, u32)> {
    let reader = HiveReader::new(bytes).unwrap();
    enumerate(&reader.key(&format!("{CBS}\\Packages")).unwrap().unwrap())
}

/// Positions in the 300-name list: first, middle, last, and several at once.
fn placements() -> Vec<Vec<(usize, u32)>> {
    vec![
        vec![],
        vec![(0, 0x60)],
        vec![(0, 0x60), (1, 0x05), (2, 0x65)],
        vec![(149, 0x60), (150, 0x65)],
        vec![(299, 0x05)],
        vec![(297, 0x60), (298, 0x60), (299, 0x65)],
        vec![(0, 0x05), (77, 0x60), (150, 0x65), (211, 0x60), (299, 0x60)],
    ]
}

const LAYOUTS: [(IndexStyle, usize); 9] = [
    (IndexStyle::Lh, 512),
    (IndexStyle::Lh, 7),
    (IndexStyle::Lh, 1),
    (IndexStyle::Lf, 512),
    (IndexStyle::Lf, 7),
    (IndexStyle::Lf, 2),
    (IndexStyle::Li, 512),
    (IndexStyle::Li, 7),
    (IndexStyle::Li, 2),
];

#[test]
fn full_walk_equals_enumeration_under_every_layout() {
    for (style, max_leaf) in LAYOUTS {
        for pending in placements() {
            let (spec, expected) = store(style, max_leaf, &pending);
            let bytes = spec.build();
            assert_eq!(reference(&bytes), expected, "reference itself, {style:?}/{max_leaf}, {pending:?}");
            let (found, how) = search(&bytes, PackageSearchMode::FullWalk);
            assert_eq!(found, expected, "{style:?}, {max_leaf} per leaf, pending {pending:?}");
            assert_eq!(how.found_by, FoundBy::FullWalk);
            assert_eq!((how.packages_read, how.packages_total), (302, 302));
            // No record names a package: records-first reads them all too.
            let (found, how) = search(&bytes, PackageSearchMode::RecordsFirst);
            assert_eq!(found, expected);
            assert_eq!(how.found_by, FoundBy::FullWalk);
            assert!(how.detail.contains("no CBS record"), "{}", how.detail);
        }
    }
}

/// CBS's records naming exactly the pending packages: looked up by name, same list.
#[test]
fn records_naming_the_pending_packages_give_the_same_list() {
    for (style, max_leaf) in LAYOUTS {
        for pending in placements().into_iter().filter(|p| !p.is_empty()) {
            for record in ["PackagesPending", "RebootPending", "both"] {
                let (mut spec, expected) = store(style, max_leaf, &pending);
                for (name, state) in &expected {
                    if record != "RebootPending" {
                        spec.set_value(&format!("{CBS}\\PackagesPending"), ValueSpec::dword(name, *state));
                    }
                    if record != "PackagesPending" {
                        spec.set_value(&format!("{CBS}\\RebootPending\\{name}"), ValueSpec::dword("", 0));
                    }
                }
                // Names that are not package identities are not read as packages.
                spec.set_value(&format!("{CBS}\\RebootPending"), ValueSpec::dword("{6d4a5d2e-1234}", 1));
                let bytes = spec.build();
                let (found, how) = search(&bytes, PackageSearchMode::RecordsFirst);
                let context = format!("{style:?}, {max_leaf} per leaf, pending {pending:?}, {record}");
                assert_eq!(found, reference(&bytes), "{context}");
                assert_eq!(found, expected, "{context}");
                let by = match record {
                    "PackagesPending" => FoundBy::PackagesPending,
                    "RebootPending" => FoundBy::RebootPending,
                    _ => FoundBy::BothRecords,
                };
                assert_eq!(how.found_by, by, "{context}: {}", how.detail);
                assert_eq!(how.packages_read, expected.len(), "{context}");
            }
        }
    }
}

/// Records that disagree with the store are not trusted: every package is read.
#[test]
fn records_that_disagree_with_the_store_fall_back_to_the_walk() {
    let pending = [(10, 0x60), (150, 0x05), (299, 0x60)];
    let names = package_names();
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("Installed", vec![names[10].clone(), names[11].clone()]),
        ("not under Packages", vec![names[10].clone(), "Package_for_KB1~31bf3856ad364e35~amd64~~1.0.0.0".into()]),
        ("no CurrentState", vec!["Package_NoState~31bf3856ad364e35~amd64~~1.0.0.0".into()]),
        // The pending cumulative update is found by a prefix lookup; records missing it are
        // known to be incomplete.
        ("do not name", vec![names[10].clone()]),
    ];
    for (reason, named) in cases {
        let mut pending = pending.to_vec();
        if reason == "do not name" {
            let rollup = names.iter().position(|n| n.contains("19041.4291")).unwrap();
            pending.push((rollup, 0x60));
        }
        let (mut spec, expected) = store(IndexStyle::Lh, 7, &pending);
        for name in &named {
            spec.set_value(&format!("{CBS}\\PackagesPending"), ValueSpec::dword(name, 0x60));
        }
        let bytes = spec.build();
        let (found, how) = search(&bytes, PackageSearchMode::RecordsFirst);
        assert_eq!(found, expected, "{reason}");
        assert_eq!(found, reference(&bytes), "{reason}");
        assert_eq!(how.found_by, FoundBy::FullWalk, "{reason}");
        assert!(how.detail.contains(reason), "{reason}: {}", how.detail);
    }
}

/// The limit of records-first, pinned down: a pending package the records do not name (and
/// that is not a cumulative update) is found only by the full walk, and the report says that
/// the other packages were not read.
#[test]
fn a_package_the_records_do_not_name_needs_the_full_walk() {
    let (mut spec, expected) = store(IndexStyle::Lh, 512, &[(5, 0x60), (200, 0x65)]);
    spec.set_value(&format!("{CBS}\\PackagesPending"), ValueSpec::dword(&expected[0].0, 0x60));
    let bytes = spec.build();
    let (found, how) = search(&bytes, PackageSearchMode::RecordsFirst);
    assert_eq!(found, expected[..1].to_vec());
    assert_eq!(how.found_by, FoundBy::PackagesPending);
    assert!(how.detail.contains("the other 301 packages were not read"), "{}", how.detail);
    let (found, _) = search(&bytes, PackageSearchMode::FullWalk);
    assert_eq!(found, expected);
}

fn software_fixtures() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path().join("SOFTWARE"))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    files
}

/// Every shipped SOFTWARE fixture: the walk equals the enumeration; records-first equals it
/// wherever the records name every pending package, and otherwise lists only packages the
/// enumeration lists, saying it did not read the rest.
#[test]
fn every_fixture_lists_what_an_enumeration_lists() {
    let mut records_used = 0;
    for path in software_fixtures() {
        let file = HiveFile::open(&path, LoadOptions::default()).unwrap();
        let reader = file.reader().unwrap();
        let root = reader.root().unwrap();
        let Some(packages) = root.subpath(&format!("{CBS}\\Packages")).unwrap() else { continue };
        let expected = enumerate(&packages);
        let mut release = || file.release_mapped_pages();
        let (walked, _) =
            cbs::find_pending_packages(&root, PackageSearchMode::FullWalk, &mut release).unwrap().unwrap();
        assert_eq!(listed(&walked), expected, "{}", path.display());
        let (found, how) =
            cbs::find_pending_packages(&root, PackageSearchMode::RecordsFirst, &mut release).unwrap().unwrap();
        let found = listed(&found);
        if how.found_by == FoundBy::FullWalk {
            assert_eq!(found, expected, "{}", path.display());
        } else {
            records_used += 1;
            assert!(found.iter().all(|p| expected.contains(p)), "{}: {found:?} vs {expected:?}", path.display());
            assert_eq!(how.packages_read, found.len());
            assert!(how.detail.contains("were not read"), "{}", how.detail);
        }
    }
    // win11-cbs-reboot-pending: PackagesPending names the cumulative update.
    assert!(records_used >= 1);
}

fn find(bytes: &[u8], needle: &[u8]) -> usize {
    bytes.windows(needle.len()).position(|w| w == needle).unwrap()
}

fn walk(bytes: &[u8]) -> Result<(Vec<cbs::PendingPackage>, usize), ReadError> {
    let reader = HiveReader::new(bytes).unwrap();
    let packages = reader.key(&format!("{CBS}\\Packages")).unwrap().unwrap();
    cbs::pending_packages(&packages, &mut || ())
}

/// A damaged store is an error naming the key, never a shorter list.
#[test]
fn corrupt_store_is_an_error_not_absence() {
    let (spec, _) = store(IndexStyle::Lh, 7, &[(150, 0x60)]);
    let clean = spec.build();
    assert!(walk(&clean).is_ok());

    // A subkey list entry that points at something other than a key node.
    let name = package_names()[150].clone();
    let mut bytes = clean.clone();
    let nk = find(&bytes, name.as_bytes()) - 76;
    assert_eq!(&bytes[nk..nk + 2], b"nk");
    bytes[nk..nk + 2].copy_from_slice(b"xx");
    let error = walk(&bytes).unwrap_err();
    assert!(error.problem.contains("not a key node"), "{error}");

    // The Packages key node counts more subkeys than its list holds.
    let mut bytes = clean.clone();
    let nk = find(&bytes, b"Packages") - 76;
    assert_eq!(&bytes[nk..nk + 2], b"nk");
    let count = u32::from_le_bytes(bytes[nk + 20..nk + 24].try_into().unwrap());
    bytes[nk + 20..nk + 24].copy_from_slice(&(count + 1).to_le_bytes());
    let error = walk(&bytes).unwrap_err();
    assert!(error.problem.contains("counts"), "{error}");

    // A value list entry of the pending package pointing outside the hive: CurrentState
    // cannot be proven absent.
    let mut bytes = clean;
    let nk = find(&bytes, name.as_bytes()) - 76;
    let list = u32::from_le_bytes(bytes[nk + 40..nk + 44].try_into().unwrap()) as usize + 4096 + 4;
    for entry in 0..u32::from_le_bytes(bytes[nk + 36..nk + 40].try_into().unwrap()) as usize {
        bytes[list + 4 * entry..list + 4 * entry + 4].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    }
    let error = walk(&bytes).unwrap_err();
    assert!(error.problem.contains("cannot tell"), "{error}");
}

/// A pending package whose name does not fit its key node is an error naming Packages, not a
/// package with an empty name looked up in vain.
#[test]
fn a_package_name_that_does_not_fit_its_cell_is_an_error() {
    let (spec, _) = store(IndexStyle::Lh, 7, &[(150, 0x60)]);
    let mut bytes = spec.build();
    let name = package_names()[150].clone();
    let nk = find(&bytes, name.as_bytes()) - 76;
    bytes[nk + 72..nk + 74].copy_from_slice(&0x7000u16.to_le_bytes());
    let error = walk(&bytes).unwrap_err();
    assert!(error.problem.contains("its name does not fit its cell"), "{error}");
    assert!(error.key.ends_with("Packages"), "{error}");
}
