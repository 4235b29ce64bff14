//! Every committed fixture hive is exactly what its `*.hive.txt` source builds, and the source
//! format parses as `fixtures/README.md` documents it.
//!
//! After changing a source (or the writer), regenerate the hives with
//! `REBOOTSCAN_BLESS=1 cargo test --test fixtures` and commit them with their sources.

mod support;

use std::path::{Path, PathBuf};

use support::fixture_source::{build_fixture, parse_fixture, to_fixture_source};
use support::hive_writer::*;

const SOURCE_SUFFIX: &str = ".hive.txt";
const BLESS_HINT: &str = "run REBOOTSCAN_BLESS=1 cargo test --test fixtures";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `*.hive.txt` under `fixtures/`, in a stable order.
fn fixture_sources() -> Vec<PathBuf> {
    let mut sources: Vec<PathBuf> = walkdir::WalkDir::new(manifest_dir().join("fixtures"))
        .into_iter()
        .map(|entry| entry.expect("walk fixtures/").into_path())
        .filter(|path| path.is_file() && path.to_string_lossy().ends_with(SOURCE_SUFFIX))
        .collect();
    sources.sort();
    sources
}

#[test]
fn committed_hives_match_their_sources() {
    let bless = std::env::var("REBOOTSCAN_BLESS").is_ok_and(|value| value == "1");
    let sources = fixture_sources();
    assert!(!sources.is_empty(), "no fixture sources (*{SOURCE_SUFFIX}) under fixtures/");
    let mut problems = Vec::new();
    for source in &sources {
        let shown = source.strip_prefix(manifest_dir()).unwrap_or(source).display().to_string();
        let hive_path = PathBuf::from(source.to_string_lossy().strip_suffix(SOURCE_SUFFIX).unwrap());
        let hive_shown = shown.strip_suffix(SOURCE_SUFFIX).unwrap();
        let text = std::fs::read_to_string(source).unwrap_or_else(|error| panic!("read {shown}: {error}"));
        let built = match build_fixture(&text) {
            Ok(built) => built,
            Err(error) => {
                problems.push(format!("{shown}: {error}"));
                continue;
            }
        };
        // Whatever the base block says, the tree must be readable.
        let hive = nt_hive::Hive::without_validation(&built[..]).unwrap();
        hive.root_key_node().unwrap_or_else(|error| panic!("{shown}: root key unreadable: {error}"));
        match std::fs::read(&hive_path) {
            Ok(committed) if committed == built => {}
            committed => {
                if bless {
                    std::fs::write(&hive_path, &built).unwrap_or_else(|error| panic!("write {hive_shown}: {error}"));
                    eprintln!("blessed {hive_shown}");
                } else if committed.is_err() {
                    problems.push(format!("{hive_shown} is missing: it is built from {shown}"));
                } else {
                    problems.push(format!("{hive_shown} differs from what {shown} builds"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}\n{BLESS_HINT}", problems.join("\n"));
}

/// The complete example in fixtures/README.md parses to what the README says it means.
#[test]
fn readme_example_is_valid() {
    let readme = std::fs::read_to_string(manifest_dir().join("fixtures/README.md")).unwrap();
    let example = readme
        .split("## Complete example")
        .nth(1)
        .and_then(|section| section.split("```text\n").nth(1))
        .and_then(|block| block.split("```").next())
        .expect("fixtures/README.md has a ```text block under \"## Complete example\"");
    let spec = parse_fixture(example).unwrap();
    assert_eq!(spec.root.name, "CsiTool-CreateHive-{00000000-0000-0000-0000-000000000000}");
    let mut lookup = spec.clone();
    let manager = lookup.key_mut(r"ControlSet001\Control\Session Manager");
    let expected = ValueSpec::multi_sz(
        "PendingFileRenameOperations",
        &[
            r"\??\C:\Windows\Temp\old.tmp",
            "",
            r"\??\C:\Program Files\App\new.dll",
            r"!\??\C:\Program Files\App\app.dll",
        ],
    );
    assert!(manager.values.contains(&expected), "{:?}", manager.values);
    let bytes = spec.build();
    let hive = nt_hive::Hive::new(&bytes[..]).unwrap();
    let select = hive.root_key_node().unwrap().subkey("Select").unwrap().unwrap();
    assert_eq!(select.value("Current").unwrap().unwrap().dword_data().unwrap(), 1);
}

const EVERY_SYNTAX: &str = r##"
# Header lines, any order, each at most once.
root = "ROOT"
version = 1.3
file_name = "TEST#1"          # '#' inside a string is no comment
last_written = 2024-05-01T10:00:00Z
sequence = 5 4
checksum = broken
index = lf
max_leaf_entries = 2

[]
@ = sz "root default"

[A\B#1]
last_written = 2020-04-19T09:08:44.9237481Z
class = "Class Name"
"Sz" = sz "C:\\Windows\\x.dll"
"Expand" = expand_sz "%SystemRoot%\\x"
"Dword" = dword 0x10
"DwordDec" = dword 4_294_967_295
"BigEndian" = dword_be 1
"Qword" = qword 18446744073709551615
"Binary" = binary 00 01 0203
    fe ff
"Multi" = multi_sz ["a", "", "b"]
"Empty list" = multi_sz []
"None" = none
"NoneData" = none 01
"Prop" = 0xFFFF0012 01 00 00 00
"Numbered" = 4 01 00 00 00
"Short dword" = dword hex 01 02
"Unterminated" = sz hex 41 00
"Link" = link 41 00
"" = binary

["A\\ Spaced \\\u0001ctl"]

[a\b#1\C]
last_written = 0x1
"\u00dcnicode \ud83d\ude00" = dword 7
"#" = dword 8
"##;

#[test]
fn every_syntax_builds_the_expected_spec() {
    let mut expected = HiveSpec::new("ROOT");
    expected.minor_version = 3;
    expected.embedded_file_name = "TEST#1".into();
    expected.last_written = 133_590_312_000_000_000;
    expected.root.last_written = expected.last_written;
    expected.primary_sequence = 5;
    expected.secondary_sequence = 4;
    expected.break_checksum = true;
    expected.index_style = IndexStyle::Lf;
    expected.max_leaf_entries = 2;
    expected.set_value("", ValueSpec::sz("", "root default"));
    let key = expected.key_mut(r"A\B#1");
    key.last_written = 132_317_609_249_237_481;
    key.class_name = Some("Class Name".into());
    key.values = vec![
        ValueSpec::sz("Sz", r"C:\Windows\x.dll"),
        ValueSpec::expand_sz("Expand", r"%SystemRoot%\x"),
        ValueSpec::dword("Dword", 16),
        ValueSpec::dword("DwordDec", u32::MAX),
        ValueSpec::raw("BigEndian", REG_DWORD_BIG_ENDIAN, vec![0, 0, 0, 1]),
        ValueSpec::qword("Qword", u64::MAX),
        ValueSpec::binary("Binary", &[0, 1, 2, 3, 0xfe, 0xff]),
        ValueSpec::raw("Multi", REG_MULTI_SZ, utf16le("a\0\0b\0\0")),
        ValueSpec::raw("Empty list", REG_MULTI_SZ, vec![0, 0]),
        ValueSpec::raw("None", REG_NONE, vec![]),
        ValueSpec::raw("NoneData", REG_NONE, vec![1]),
        ValueSpec::raw("Prop", 0xFFFF_0012, vec![1, 0, 0, 0]),
        ValueSpec::dword("Numbered", 1),
        ValueSpec::raw("Short dword", REG_DWORD, vec![1, 2]),
        ValueSpec::raw("Unterminated", REG_SZ, vec![0x41, 0]),
        ValueSpec::raw("Link", REG_LINK, vec![0x41, 0]),
        ValueSpec::binary("", &[]),
    ];
    expected.key_mut("A\\ Spaced \\\u{1}ctl");
    let c = expected.key_mut(r"A\B#1\C");
    c.last_written = 1;
    c.values = vec![ValueSpec::dword("Ünicode 😀", 7), ValueSpec::dword("#", 8)];

    let parsed = parse_fixture(EVERY_SYNTAX).unwrap();
    assert_eq!(parsed, expected);
    let bytes = build_fixture(EVERY_SYNTAX).unwrap();
    assert_eq!(bytes, expected.build());
}

#[test]
fn printed_sources_parse_back_to_the_same_spec() {
    let mut spec = parse_fixture(EVERY_SYNTAX).unwrap();
    spec.last_written = u64::MAX; // beyond year 9999: printed as a number
    spec.set_value(
        r"Long\List",
        ValueSpec::multi_sz(
            "Many",
            &["a fairly long string number one", "", "and a second string", "and a third, longer string"],
        ),
    );
    spec.set_value(r"Long\List", ValueSpec::binary("Big", &(0..=255).collect::<Vec<u8>>()));
    spec.set_value(r"Long\List", ValueSpec::raw("Odd UTF-16", REG_SZ, vec![0x00, 0xD8, 0, 0]));
    spec.set_value(r"Long\List", ValueSpec::raw("Odd length", REG_EXPAND_SZ, vec![0x41]));
    spec.set_value(r"Long\List", ValueSpec::raw("Multi no end", REG_MULTI_SZ, utf16le("a\0b")));
    spec.key_mut("\"quoted\\x]");
    spec.key_mut("[bracket\\with #hash");
    spec.key_mut(r"Long").class_name = Some(String::new());
    let source = to_fixture_source(&spec);
    assert_eq!(parse_fixture(&source).unwrap(), spec, "source:\n{source}");
    assert!(source.contains("\"Many\" = multi_sz [\n    \"a fairly long"), "{source}");
    assert!(source.contains("\"Odd UTF-16\" = sz hex 00 d8 00 00"), "{source}");
}

#[test]
fn every_fixture_source_survives_printing() {
    for source in fixture_sources() {
        let text = std::fs::read_to_string(&source).unwrap();
        let spec = parse_fixture(&text).unwrap();
        assert_eq!(parse_fixture(&to_fixture_source(&spec)).unwrap(), spec, "{}", source.display());
    }
}

#[test]
fn errors_name_the_line() {
    let cases = [
        ("version = 2.0", "line 1: version must be 1.N"),
        ("root = \"R\"\nroot = \"S\"", "line 2: `root` is given twice"),
        ("\"V\" = dword 1", "line 1: a value needs a [key] section"),
        ("colour = blue", "line 1: unknown header line `colour`"),
        ("[K]\n\"V\" = dword 1\n\n[k]\n\"v\" = dword 2", "line 5: value \"v\" of [k] was already set on line 2"),
        ("[K]\n@ = sz \"a\"\n\"\" = sz \"b\"", "line 3: the default value of [K] was already set on line 2"),
        ("[K]\nclass = \"a\"\nclass = \"b\"", "line 3: `class` of [K] was already set on line 2"),
        ("[K]\n\"V\" = float 1.0", "line 2: unknown value type \"float\""),
        ("[K]\n\"V\" = binary 0g", "line 2: expected hex bytes"),
        ("[K]\n\"V\" = binary 012", "line 2: expected hex bytes"),
        ("[K]\n\"V\" = dword 0x100000000", "line 2: 0x100000000 does not fit in 32 bits"),
        ("[K]\n\"V\" = sz hello", "line 2: bad JSON string literal"),
        ("[K]\n\"V\" = sz \"\\ud800\"", "line 2: bad JSON string literal"),
        ("[K]\n\"V\" = multi_sz [\"a\",", "line 2: expected a JSON list of strings"),
        ("[K]\nlast_written = yesterday", "line 2: expected an RFC 3339 time"),
        ("[K]\nlast_written = 2024-01-01T00:00:00.000000001Z", "line 2: 2024-01-01T00:00:00.000000001Z is finer"),
        ("[K]\nlast_written = 1600-01-01T00:00:00Z", "line 2: 1600-01-01T00:00:00Z is before 1601"),
        ("[K]\nfoo = 1", "line 2: unknown key attribute `foo`"),
        ("[A\\\\B]", "line 1: empty key name in path"),
        ("[K\n", "line 1: a section line is `[Key\\Path]`"),
        ("# header\n[K]\n    \"V\" = dword 1", "line 3: an indented line continues"),
        ("file_name = \"0123456789012345678901234567890123\"", "line 1: file_name has 34 UTF-16 units"),
        ("\n\nmax_leaf_entries = 0", "line 3: max_leaf_entries must be 1 to 65535"),
    ];
    for (source, expected) in cases {
        let error = parse_fixture(source).unwrap_err();
        assert!(error.starts_with(expected), "source {source:?}\n  error: {error}\n  expected: {expected}");
    }
}
