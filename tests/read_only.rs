//! Evidence is read-only: scanning a tree of fixture machines (a dirty hive with transaction
//! logs included) with every output option leaves every input byte, every modification time
//! and the list of files exactly as they were.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use support::log_writer::new_format_log;

type Snapshot = BTreeMap<PathBuf, (Vec<u8>, SystemTime)>;

fn snapshot(root: &Path) -> Snapshot {
    let mut files = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
                files.insert(path.clone(), (std::fs::read(&path).unwrap(), modified));
            }
        }
    }
    files
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn dirty_machine(folder: &Path) {
    let (primary, log) = support::dirty::system_with_rename_only_in_log("READ-ONLY", |before, after| {
        new_format_log(before, after, support::dirty::SEQUENCE, 2)
    });
    std::fs::create_dir_all(folder).unwrap();
    std::fs::write(folder.join("SYSTEM"), primary).unwrap();
    std::fs::write(folder.join("SYSTEM.LOG1"), log).unwrap();
    std::fs::write(folder.join("SYSTEM.LOG2"), b"").unwrap();
}

#[test]
fn scanning_never_modifies_or_adds_evidence_files() {
    let work = tempfile::tempdir().unwrap();
    let evidence = work.path().join("evidence");
    copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines"), &evidence);
    dirty_machine(&evidence.join("dirty-with-logs"));
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let before = snapshot(&evidence);
    assert!(before.len() > 15);

    let evidence_arg = evidence.to_str().unwrap();
    let runs: Vec<Vec<String>> = vec![
        vec!["scan".into(), evidence_arg.into()],
        vec!["scan".into(), evidence_arg.into(), "--format".into(), "json".into(), "--hash".into()],
        vec![
            "scan".into(),
            evidence_arg.into(),
            "--format".into(),
            "csv".into(),
            "-o".into(),
            out.join("machines.csv").to_str().unwrap().into(),
            "--findings-csv".into(),
            out.join("findings.csv").to_str().unwrap().into(),
        ],
        vec!["scan".into(), evidence_arg.into(), "--no-logs".into(), "--packages".into(), "always".into()],
        vec!["inspect".into(), evidence.join("dirty-with-logs/SYSTEM").to_str().unwrap().into()],
        vec![
            "recover".into(),
            evidence.join("dirty-with-logs/SYSTEM").to_str().unwrap().into(),
            "-o".into(),
            out.join("recovered").to_str().unwrap().into(),
        ],
        vec!["discover".into(), evidence_arg.into()],
    ];
    for args in runs {
        let output = Command::new(env!("CARGO_BIN_EXE_rebootscan")).args(&args).output().unwrap();
        assert!(output.status.code().is_some_and(|c| c == 0), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let after = snapshot(&evidence);
    assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "files appeared or vanished");
    for (path, (bytes, modified)) in &before {
        let (now_bytes, now_modified) = &after[path];
        assert!(now_bytes == bytes, "{} changed", path.display());
        assert_eq!(now_modified, modified, "{} modification time changed", path.display());
    }
    // The recovered copy really is recovered (and was written outside the evidence).
    let recovered = std::fs::read(out.join("recovered")).unwrap();
    assert!(recovered.windows(27).any(|w| w == b"PendingFileRenameOperations"), "the log's change is in the copy");
}
