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

/// A key whose subkeys are `Print`, `Session Manager` and `SessionInfo`, in the given list style and
/// leaf size (2 per leaf puts an index root over the leaves, and `Session Manager` at the end
/// of the first leaf), with the name bytes of `Session Manager` changed by `damage`.
fn control_with_damaged_name(style: IndexStyle, per_leaf: usize, damage: impl Fn(&mut [u8])) -> Vec<u8> {
    let mut spec = HiveSpec::new("ROOT");
    spec.index_style = style;
    spec.max_leaf_entries = per_leaf;
    for name in ["Print", "Session Manager", "SessionInfo"] {
        spec.set_value(&format!("Control\\{name}"), ValueSpec::dword("Marker", 1));
    }
    let mut bytes = spec.build();
    let needle = b"Session Manager";
    let name_at = (76..bytes.len() - needle.len())
        .find(|&at| &bytes[at..at + needle.len()] == needle && &bytes[at - 76..at - 74] == b"nk")
        .expect("key node of Session Manager");
    // The key node (from its signature) and its name, for the damage to pick from.
    damage(&mut bytes[name_at - 76..name_at + needle.len()]);
    bytes
}

/// The lookup of `Control\Session Manager`: `Err` with the reader's message, or whether found.
fn look_up(bytes: &[u8]) -> Result<bool, String> {
    let reader = HiveReader::new(bytes).map_err(|e| e.to_string())?;
    reader.key("Control\\Session Manager").map(|key| key.is_some()).map_err(|e| e.to_string())
}

/// A damaged key name never reads as "no such key" where the list can tell: in `lh` lists
/// (every name against its hash, in every case: a byte made non-ASCII, a name sorted before
/// or after its place, a flipped compressed-name flag), in `lf` lists within the hint's four
/// characters, and in any list when the damaged name falls out of order. The one case the
/// format cannot reveal, an `li` (or `lf` past the hint) name that stays in order, is pinned
/// as found-nothing so that the limit stays documented.
#[test]
fn damaged_key_names_are_errors_not_absence() {
    const NAME: usize = 76;
    let non_ascii = |nk: &mut [u8]| nk[NAME + 3] ^= 0xFF; // "Ses\x8cion Manager"
    let sorts_after = |nk: &mut [u8]| nk[NAME + 8] = b'Z'; // "Session Zanager" (still before SessionInfo)
    let sorts_before = |nk: &mut [u8]| nk[NAME + 8] = b'A'; // "Session Aanager"
                                                            // "SessionXManager": after SessionInfo, its first four characters (the lf hint) intact.
    let out_of_order = |nk: &mut [u8]| nk[NAME + 7] = b'X';
    let flag = |nk: &mut [u8]| nk[2] ^= 0x20; // name read as UTF-16
    for per_leaf in [512, 2] {
        for (what, damage) in [
            ("non-ASCII byte", &non_ascii as &dyn Fn(&mut [u8])),
            ("sorts after", &sorts_after),
            ("sorts before", &sorts_before),
            ("out of order", &out_of_order),
            ("compressed-name flag", &flag),
        ] {
            let error = look_up(&control_with_damaged_name(IndexStyle::Lh, per_leaf, damage));
            let message = error.expect_err(&format!("lh, {per_leaf} per leaf, {what}: not an error"));
            assert!(message.contains("corrupt subkey list") && message.contains("Control"), "{what}: {message}");
        }
        for style in [IndexStyle::Lf, IndexStyle::Li] {
            let message = look_up(&control_with_damaged_name(style, per_leaf, out_of_order))
                .expect_err(&format!("{style:?}, {per_leaf} per leaf: a name out of order is not an error"));
            assert!(message.contains("out of the order"), "{style:?}: {message}");
        }
        let hint = look_up(&control_with_damaged_name(IndexStyle::Lf, per_leaf, non_ascii));
        assert!(hint.is_err(), "lf, {per_leaf} per leaf: a damaged hint character is not an error: {hint:?}");
        for style in [IndexStyle::Lf, IndexStyle::Li] {
            assert_eq!(
                look_up(&control_with_damaged_name(style, per_leaf, sorts_after)),
                Ok(false),
                "{style:?}: the undetectable case changed; update the reader's documentation"
            );
        }
        // The undamaged hive finds the key in every style.
        for style in [IndexStyle::Lh, IndexStyle::Lf, IndexStyle::Li] {
            assert_eq!(look_up(&control_with_damaged_name(style, per_leaf, |_| {})), Ok(true), "{style:?}");
        }
    }
}
