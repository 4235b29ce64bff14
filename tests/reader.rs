//! The prefix lookup over sorted subkey lists agrees with a full enumeration, whatever the
//! list layout (lh/lf/li leaves, index roots of many small leaves, mixed case).

mod support;

use rebootscan::load::reader::HiveReader;
use support::hive_writer::{HiveSpec, IndexStyle, ValueSpec};

fn names() -> Vec<String> {
    let mut names = Vec::new();
    for i in 0..300 {
        names.push(format!("Package_for_KB{:07}~31bf3856ad364e35~amd64~~10.0.1.{i}", 4_000_000 + i * 37));
    }
    for ubr in [3803, 4291, 5011] {
        names.push(format!("Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.{ubr}.1.10"));
    }
    names.push("package_for_rollupfix~31bf3856ad364e35~wow64~~19041.4291.1.10".into());
    names.push("Package_for_RollupFi".into());
    names.push("Package_for_RollupFixZ".into());
    names.push("Package_for_ServicingStack_4170~31bf3856ad364e35~amd64~~19041.4170.1.0".into());
    names
}

#[test]
fn prefix_lookup_matches_full_enumeration() {
    for style in [IndexStyle::Lh, IndexStyle::Lf, IndexStyle::Li] {
        for max_leaf_entries in [512, 7, 2] {
            let mut spec = HiveSpec::new("ROOT");
            spec.index_style = style;
            spec.max_leaf_entries = max_leaf_entries;
            for name in names() {
                spec.set_value(&format!("Packages\\{name}"), ValueSpec::dword("CurrentState", 0x70));
            }
            let bytes = spec.build();
            let reader = HiveReader::new(&bytes).unwrap();
            let packages = reader.key("Packages").unwrap().unwrap();
            for prefix in ["Package_for_RollupFix~", "PACKAGE_FOR_ROLLUPFIX", "Package_for_KB40", "zzz", ""] {
                let expected: Vec<String> = packages
                    .subkeys()
                    .unwrap()
                    .iter()
                    .map(|k| k.name().unwrap())
                    .filter(|n| n.to_uppercase().starts_with(&prefix.to_uppercase()))
                    .collect();
                let found: Vec<String> =
                    packages.subkeys_with_prefix(prefix).unwrap().iter().map(|k| k.name().unwrap()).collect();
                assert_eq!(found, expected, "{style:?}, {max_leaf_entries} per leaf, prefix {prefix:?}");
            }
        }
    }
}
