//! A case folder holding machines in every supported collection layout, plus broken ones:
//! every machine is accounted for in the JSONL and CSV reports.

mod support;

use std::path::Path;
use std::process::Command;

use support::hive_writer::{HiveSpec, ValueSpec};

fn system(name: &str, pending: bool) -> Vec<u8> {
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("Select", ValueSpec::dword("Current", 1));
    spec.set_value("ControlSet001\\Control\\ComputerName\\ComputerName", ValueSpec::sz("ComputerName", name));
    if pending {
        spec.set_value(
            "ControlSet001\\Control\\Session Manager",
            ValueSpec::multi_sz(
                "PendingFileRenameOperations",
                &["\\??\\C:\\Windows\\System32\\a.new", "!\\??\\C:\\Windows\\System32\\a.dll"],
            ),
        );
    }
    spec.build()
}

fn software() -> Vec<u8> {
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("Microsoft\\Windows NT\\CurrentVersion", ValueSpec::sz("CurrentBuild", "19045"));
    spec.build()
}

fn put(root: &Path, relative: &str, bytes: &[u8]) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn every_layout_and_every_broken_machine_is_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    put(&case, "plain/SYSTEM", &system("PLAIN", false));
    put(&case, "plain/SOFTWARE", &software());
    put(&case, "kape/C/Windows/System32/config/SYSTEM", &system("KAPE", true));
    put(&case, "kape/C/Windows/System32/config/SYSTEM.LOG1", b"");
    put(&case, "kape/C/Windows/System32/config/SOFTWARE", &software());
    put(&case, "kape/C/Windows/System32/config/RegBack/SYSTEM", &system("KAPE", false));
    put(&case, "kape/C/Windows/System32/config/RegBack/SOFTWARE", &software());
    put(&case, "velociraptor/uploads/auto/C%3A/Windows/System32/config/SYSTEM", &system("VELO", false));
    put(&case, "velociraptor/uploads/auto/C%3A/Windows/System32/config/SOFTWARE", &software());
    put(&case, "underscore/C_/windows/system32/CONFIG/system.hiv", &system("UNDERSCORE", false));
    put(&case, "underscore/C_/windows/system32/CONFIG/Software.DAT", &software());
    put(&case, "modern/C/Windows/System32/config/SYSTEM", &system("MODERN", false));
    put(&case, "modern/C/Windows/System32/config/SOFTWARE", &software());
    put(&case, "modern/C/Windows/System32/config/RegBack/SYSTEM", b"");
    // Same computer name twice: two machines, never merged.
    put(&case, "twin-1/SYSTEM", &system("TWIN", false));
    put(&case, "twin-2/SYSTEM", &system("TWIN", true));
    put(&case, "broken/SYSTEM", b"not a hive at all");
    let truncated = system("TRUNC", false);
    put(&case, "truncated/SYSTEM", &truncated[..truncated.len() - 4096]);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&case, case.join("loop")).unwrap();

    let run = |format: &str| {
        Command::new(env!("CARGO_BIN_EXE_rebootscan"))
            .args(["scan", case.to_str().unwrap(), "--format", format])
            .output()
            .unwrap()
    };
    let jsonl = run("jsonl");
    assert_eq!(jsonl.status.code(), Some(3), "broken machines make the run incomplete");
    let machines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&jsonl.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let summary: Vec<(String, String, String)> = machines
        .iter()
        .map(|m| {
            (
                m["machine"].as_str().unwrap().to_string(),
                m["computer_name"].as_str().unwrap_or("").to_string(),
                m["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("broken", "", "unknown"),
        ("kape", "KAPE", "pending"),
        ("kape [RegBack]", "KAPE", "not_pending"),
        ("modern", "MODERN", "not_pending"),
        ("plain", "PLAIN", "not_pending"),
        ("truncated", "", "unknown"),
        ("twin-1", "TWIN", "unknown"),
        ("twin-2", "TWIN", "pending"),
        ("underscore", "UNDERSCORE", "not_pending"),
        ("velociraptor", "VELO", "not_pending"),
    ];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    assert_eq!(summary, expected);
    let regback = &machines[2];
    assert_eq!(regback["snapshot"], "RegBack");
    assert!(machines[0]["errors"][0]["message"].as_str().unwrap().contains("not a registry hive"));
    assert!(machines[5]["errors"][0]["message"].as_str().unwrap().contains("truncated"));
    let stderr = String::from_utf8_lossy(&jsonl.stderr);
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert!(stderr.contains("ignored") && stderr.contains("empty RegBack copy"), "{stderr}");
    assert!(stderr.contains("10 machine(s) scanned: 2 pending, 3 unknown, 2 with errors"), "{stderr}");

    let csv = run("csv");
    let mut reader = csv::Reader::from_reader(&csv.stdout[..]);
    let width = reader.headers().unwrap().len();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|r| r.len() == width));
    let labels: Vec<&str> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(labels, expected.iter().map(|e| e.0.as_str()).collect::<Vec<_>>());

    // The dry run lists the same machines without reading a hive.
    let dry =
        Command::new(env!("CARGO_BIN_EXE_rebootscan")).args(["discover", case.to_str().unwrap()]).output().unwrap();
    let listing = String::from_utf8_lossy(&dry.stdout);
    assert!(listing.contains("10 machine(s)"), "{listing}");
    assert!(listing.contains("kape/C/Windows/System32/config/SYSTEM"), "{listing}");
}

#[test]
fn hash_reports_sha256_of_every_input() {
    // The transaction logs beside a dirty hive hold the FIPS 180-2 test messages, so the
    // reported hashes are checked against published vectors, not against this crate's code.
    let dir = tempfile::tempdir().unwrap();
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("Select", ValueSpec::dword("Current", 1));
    spec.secondary_sequence = spec.primary_sequence + 1;
    let bytes = spec.build();
    put(dir.path(), "m/SYSTEM", &bytes);
    put(dir.path(), "m/SYSTEM.LOG", &vec![b'a'; 1_000_000]);
    put(dir.path(), "m/SYSTEM.LOG1", b"abc");
    put(dir.path(), "m/SYSTEM.LOG2", b"");
    let output = Command::new(env!("CARGO_BIN_EXE_rebootscan"))
        .args(["scan", dir.path().join("m").to_str().unwrap(), "--hash", "--format", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let inputs = json["machines"][0]["inputs"].as_array().expect("inputs");
    let hash_of = |name: &str| -> String {
        let input = inputs
            .iter()
            .find(|i| i["path"].as_str().is_some_and(|p| p.ends_with(name)))
            .unwrap_or_else(|| panic!("{name} in {inputs:#?}"));
        input["sha256"].as_str().expect("sha256").to_string()
    };
    assert_eq!(hash_of("SYSTEM.LOG"), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    assert_eq!(hash_of("SYSTEM.LOG1"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(hash_of("SYSTEM.LOG2"), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    let hive = inputs.iter().find(|i| i["role"] == "hive").expect("hive input");
    let hive_hash = hive["sha256"].as_str().expect("sha256");
    assert!(hive_hash.len() == 64 && hive_hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hive_hash}");
    assert_ne!(hive_hash, hash_of("SYSTEM.LOG2"));
    assert_eq!(hive["size"], bytes.len() as u64);
}
