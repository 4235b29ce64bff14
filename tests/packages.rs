//! The CBS packages waiting for the reboot: the default search (the cell-level walk of
//! `Packages`, with its look-ahead and page hints) equals a plain enumeration of every
//! package, on every shipped fixture and on generated stores with pending packages at the
//! start, in the middle and at the end of the list, under every index layout (lh/lf/li
//! leaves, ri roots), whatever CBS's records say; `--packages records` (the fast, not
//! exhaustive lookup of what the records name) is pinned down too.

mod support;

use std::path::Path;

use rebootscan::load::open::{HiveFile, LoadOptions};
use rebootscan::load::reader::{HiveReader, Key, PageHint, ReadError, WALK_BATCH};
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
    let (found, search) = cbs::find_pending_packages(&root, mode, &mut |_| ()).unwrap().unwrap();
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
            assert!(how.detail.contains("no CBS record"), "{}", how.detail);
            // No record names a package: the records mode reads them all too.
            let (found, how) = search(&bytes, PackageSearchMode::Records);
            assert_eq!(found, expected);
            assert_eq!(how.found_by, FoundBy::FullWalk);
            assert!(how.detail.contains("no CBS record"), "{}", how.detail);
        }
    }
}

/// CBS's records naming exactly the pending packages: the default still reads every package
/// (and says the records named them all); the records mode looks them up by name, same list.
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
                let context = format!("{style:?}, {max_leaf} per leaf, pending {pending:?}, {record}");
                let (found, how) = search(&bytes, PackageSearchMode::FullWalk);
                assert_eq!(found, expected, "{context}");
                assert_eq!((how.found_by, how.packages_read), (FoundBy::FullWalk, 302), "{context}");
                let named = format!("named {} of the {} pending package(s)", expected.len(), expected.len());
                assert!(how.detail.contains(&named), "{context}: {}", how.detail);
                let (found, how) = search(&bytes, PackageSearchMode::Records);
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

/// Records that disagree with the store are not trusted by the records mode: every package is
/// read. The default says which named package does not wait for the reboot.
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
        let (found, how) = search(&bytes, PackageSearchMode::Records);
        assert_eq!(found, expected, "{reason}");
        assert_eq!(found, reference(&bytes), "{reason}");
        assert_eq!(how.found_by, FoundBy::FullWalk, "{reason}");
        assert!(how.detail.contains(reason), "{reason}: {}", how.detail);
        let (found, how) = search(&bytes, PackageSearchMode::FullWalk);
        assert_eq!(found, expected, "{reason}");
        if reason != "do not name" {
            let stale = named.iter().find(|name| !expected.iter().any(|(pending, _)| pending == *name)).unwrap();
            assert!(
                how.detail.contains(&format!("named but not waiting for the reboot (or not under Packages): {stale}")),
                "{reason}: {}",
                how.detail
            );
        }
    }
}

/// Why the default reads every package: a pending package the records do not name (here one
/// left Partially Installed) is found only by the walk. The records mode misses it and says
/// that the other packages were not read.
#[test]
fn a_package_the_records_do_not_name_needs_the_full_walk() {
    let (mut spec, expected) = store(IndexStyle::Lh, 512, &[(5, 0x60), (200, 0x65)]);
    spec.set_value(&format!("{CBS}\\PackagesPending"), ValueSpec::dword(&expected[0].0, 0x60));
    let bytes = spec.build();
    let (found, how) = search(&bytes, PackageSearchMode::Records);
    assert_eq!(found, expected[..1].to_vec());
    assert_eq!(how.found_by, FoundBy::PackagesPending);
    assert!(how.detail.contains("the other 301 packages were not read"), "{}", how.detail);
    let (found, how) = search(&bytes, PackageSearchMode::FullWalk);
    assert_eq!(found, expected);
    assert_eq!(found, reference(&bytes));
    assert_eq!(how.found_by, FoundBy::FullWalk);
    assert!(how.detail.contains("PackagesPending named 1 of the 2 pending package(s)"), "{}", how.detail);
}

/// A store larger than one batch of the walk, its pending packages at the start, at the end
/// and on both sides of a batch boundary: the list equals the enumeration, and the page hints
/// come as the walk promises (each batch announced before it is read, with a span that holds
/// its key nodes, and released after).
#[test]
fn batches_and_page_hints_of_a_large_store() {
    let total = 2 * WALK_BATCH + 100;
    let mut spec = HiveSpec::new("ROOT");
    let mut names: Vec<String> = (0..total)
        .map(|i| format!("Package_{i:05}_for_KB{}~31bf3856ad364e35~amd64~~10.0.1.0", 5_000_000 + i))
        .collect();
    names.sort_by(|a, b| compare_names(a, b));
    let pending = [0, WALK_BATCH - 1, WALK_BATCH, 2 * WALK_BATCH, total - 1];
    let mut expected = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let state = if pending.contains(&index) { 0x60 } else { INSTALLED };
        let key = format!("{CBS}\\Packages\\{name}");
        spec.set_value(&key, ValueSpec::dword("CurrentState", state));
        spec.set_value(&key, ValueSpec::sz("InstallName", &format!("{name}.mum")));
        if state == 0x60 {
            expected.push((name.clone(), state));
        }
    }
    let bytes = spec.build();
    assert_eq!(reference(&bytes), expected);
    let reader = HiveReader::new(&bytes).unwrap();
    let packages = reader.key(&format!("{CBS}\\Packages")).unwrap().unwrap();
    let mut hints = Vec::new();
    let (found, read) = cbs::pending_packages(&packages, &mut |hint| hints.push(hint)).unwrap();
    assert_eq!((listed(&found), read), (expected, total));
    assert_eq!(hints.len(), 6, "{hints:?}");
    for (index, hint) in hints.iter().enumerate() {
        match hint {
            PageHint::WillRead(span) => {
                assert_eq!(index % 2, 0, "{hints:?}");
                assert!(span.start < span.end && span.end <= bytes.len() + 4096, "{span:?}");
            }
            PageHint::Done => assert_eq!(index % 2, 1, "{hints:?}"),
        }
    }
    // Every key node of the first batch lies inside the first span.
    let PageHint::WillRead(first) = &hints[0] else { unreachable!() };
    for name in &names[..WALK_BATCH] {
        let at = find(&bytes, name.as_bytes()) - 76;
        assert!(first.contains(&at), "{name} at {at:#x} outside {first:?}");
    }
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

/// Every shipped SOFTWARE fixture: the default search equals the enumeration; the records
/// mode equals it wherever the records name every pending package, and otherwise lists only
/// packages the enumeration lists, saying it did not read the rest.
#[test]
fn every_fixture_lists_what_an_enumeration_lists() {
    let mut records_used = 0;
    for path in software_fixtures() {
        let file = HiveFile::open(&path, LoadOptions::default()).unwrap();
        let reader = file.reader().unwrap();
        let root = reader.root().unwrap();
        let Some(packages) = root.subpath(&format!("{CBS}\\Packages")).unwrap() else { continue };
        let expected = enumerate(&packages);
        let mut pages = |hint| file.page_hint(hint);
        let (walked, how) =
            cbs::find_pending_packages(&root, PackageSearchMode::FullWalk, &mut pages).unwrap().unwrap();
        assert_eq!(listed(&walked), expected, "{}", path.display());
        assert_eq!(how.found_by, FoundBy::FullWalk);
        let (found, how) = cbs::find_pending_packages(&root, PackageSearchMode::Records, &mut pages).unwrap().unwrap();
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
    // win11-cbs-reboot-pending: PackagesPending names only the cumulative update.
    assert!(records_used >= 1);
}

fn find(bytes: &[u8], needle: &[u8]) -> usize {
    bytes.windows(needle.len()).position(|w| w == needle).unwrap()
}

fn walk(bytes: &[u8]) -> Result<(Vec<cbs::PendingPackage>, usize), ReadError> {
    let reader = HiveReader::new(bytes).unwrap();
    let packages = reader.key(&format!("{CBS}\\Packages")).unwrap().unwrap();
    cbs::pending_packages(&packages, &mut |_| ())
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

/// A package's `CurrentState` with one damaged character in its name is not "no state": the
/// walk says which name the package holds instead, as the other lookups do (value lists carry
/// no hash). A name of another length is no such trace.
#[test]
fn a_state_name_one_character_off_is_a_read_error_naming_both() {
    let (spec, expected) = store(IndexStyle::Lh, 7, &[(150, 0x60)]);
    let clean = spec.build();
    let name = package_names()[150].clone();
    assert!(expected.iter().any(|(package, _)| *package == name));
    // The package's value list, and in it the CurrentState record (offsets relative to the
    // first hive bin, cell headers of 4 bytes).
    let nk = find(&clean, name.as_bytes()) - 76;
    let cell = |offset: u32| offset as usize + 4096 + 4;
    let list = cell(u32::from_le_bytes(clean[nk + 40..nk + 44].try_into().unwrap()));
    let values = u32::from_le_bytes(clean[nk + 36..nk + 40].try_into().unwrap()) as usize;
    let vk = (0..values)
        .map(|entry| cell(u32::from_le_bytes(clean[list + 4 * entry..list + 4 * entry + 4].try_into().unwrap())))
        .find(|&vk| &clean[vk..vk + 2] == b"vk" && &clean[vk + 20..vk + 32] == b"CurrentState")
        .unwrap();
    let mut bytes = clean.clone();
    bytes[vk + 20 + 11] ^= 0x01; // "CurrentStatd"
    let error = walk(&bytes).unwrap_err();
    assert!(
        error.problem.contains("value \"CurrentState\"")
            && error.problem.contains("the key holds \"CurrentStatd\" instead, one character from it"),
        "{error}"
    );
    assert!(error.key.ends_with(&name), "{error}");

    // Made shorter (another length: plainly absent), the package is simply not pending.
    let mut bytes = clean;
    let length = u16::from_le_bytes(bytes[vk + 2..vk + 4].try_into().unwrap());
    bytes[vk + 2..vk + 4].copy_from_slice(&(length - 1).to_le_bytes());
    let (pending, _) = walk(&bytes).unwrap();
    assert!(pending.iter().all(|p| p.package != name), "{pending:?}");
    assert_eq!(pending.len(), expected.len() - 1);
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

/// End to end from the CLI on the shipped fixture whose `PackagesPending` names only the
/// cumulative update: the default lists KB5039338 too (every package read, and says so);
/// `--packages records` lists what the records name and says the rest was not read.
#[test]
fn cli_default_lists_every_pending_package_of_the_fixture() {
    let machine = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines/win11-cbs-reboot-pending");
    let run = |packages: &str| -> serde_json::Value {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_rebootscan"))
            .args(["scan", machine.to_str().unwrap(), "--format", "json", "--packages", packages])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        json["machines"][0]["pending_updates"].clone()
    };
    let names = |updates: &serde_json::Value| -> Vec<String> {
        updates["packages"].as_array().unwrap().iter().map(|p| p["package"].as_str().unwrap().to_string()).collect()
    };
    let file = HiveFile::open(&machine.join("SOFTWARE"), LoadOptions::default()).unwrap();
    let reader = file.reader().unwrap();
    let expected: Vec<String> = enumerate(&reader.key(&format!("{CBS}\\Packages")).unwrap().unwrap())
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(expected.len(), 2);
    for packages in ["auto", "always", "full"] {
        let updates = run(packages);
        assert_eq!(names(&updates), expected, "--packages {packages}");
        assert_eq!(updates["found_by"], "full walk");
        assert_eq!(updates["packages_read"], updates["packages_total"]);
        let detail = updates["found_by_detail"].as_str().unwrap();
        assert!(detail.contains("PackagesPending named 1 of the 2 pending package(s)"), "{detail}");
    }
    let updates = run("records");
    assert_eq!(names(&updates), expected.iter().filter(|n| n.contains("RollupFix")).cloned().collect::<Vec<_>>());
    assert_eq!(updates["found_by"], "PackagesPending");
    assert!(updates["found_by_detail"].as_str().unwrap().contains("were not read"));
    assert!(names(&run("never")).is_empty());
}
