//! Forensic-grade safety (issue 11), from the command line as an analyst or an attacker runs
//! it: outputs never replace evidence, only regular files are read, a hive truncated while it
//! is read costs one machine and not the run, memory stays bounded under an address-space
//! limit, every write failure is a message and an exit status, interrupted runs leave no
//! partial file, one rule for symbolic links, and no Debug formatting in messages.

mod support;

use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use support::command::{arg, bin, rebootscan, text};
use support::hive_writer::{HiveSpec, ValueSpec};

fn system_hive(name: &str, pending: bool) -> Vec<u8> {
    let mut system = HiveSpec::new("ROOT");
    system.set_value("Select", ValueSpec::dword("Current", 1));
    system.set_value("ControlSet001\\Control\\ComputerName\\ComputerName", ValueSpec::sz("ComputerName", name));
    if pending {
        system.set_value(
            "ControlSet001\\Control\\Session Manager",
            ValueSpec::multi_sz(
                "PendingFileRenameOperations",
                &["\\??\\C:\\Windows\\System32\\SET1.tmp", "!\\??\\C:\\Windows\\System32\\clbcatq.dll"],
            ),
        );
    } else {
        system.key_mut("ControlSet001\\Control\\Session Manager");
    }
    system.build()
}

fn software_hive() -> Vec<u8> {
    let mut software = HiveSpec::new("ROOT");
    software.set_value("Microsoft\\Windows NT\\CurrentVersion", ValueSpec::sz("CurrentBuild", "19045"));
    software.build()
}

/// A machine folder `dir/name` with SYSTEM and SOFTWARE.
fn write_machine(dir: &Path, name: &str, pending: bool) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("SYSTEM"), system_hive(name, pending)).unwrap();
    std::fs::write(folder.join("SOFTWARE"), software_hive()).unwrap();
    folder
}

fn partial_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy();
        if name.starts_with(".rebootscan-") && name.ends_with(".partial") {
            found.push(entry.path().to_path_buf());
        }
    }
    found
}

fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0, "mkfifo {}", path.display());
}

// ---- Outputs never replace or write into inputs ------------------------------------------

#[test]
fn outputs_never_replace_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let folder = write_machine(dir.path(), "HOST", true);
    let system = folder.join("SYSTEM");
    let software = folder.join("SOFTWARE");
    std::fs::write(folder.join("SYSTEM.LOG1"), b"").unwrap();
    let hard_link = dir.path().join("hard-link");
    std::fs::hard_link(&system, &hard_link).unwrap();
    let symlink = dir.path().join("symlink");
    std::os::unix::fs::symlink(&software, &symlink).unwrap();
    let before: Vec<Vec<u8>> = [&system, &software].iter().map(|p| std::fs::read(p).unwrap()).collect();

    let folder_arg = arg(&folder);
    let system_arg = arg(&system);
    let log_arg = folder.join("SYSTEM.LOG1");
    let cases: Vec<(Vec<&str>, &Path)> = vec![
        (vec!["scan", folder_arg, "-o", system_arg], &system),
        (vec!["scan", system_arg, "-o", system_arg], &system),
        (vec!["scan", folder_arg, "--findings-csv", arg(&software)], &software),
        (vec!["scan", folder_arg, "-o", arg(&hard_link)], &hard_link),
        (vec!["scan", folder_arg, "--findings-csv", arg(&symlink)], &symlink),
        (vec!["scan", folder_arg, "--format", "csv", "-o", arg(&log_arg)], &log_arg),
        (vec!["recover", system_arg, "-o", arg(&hard_link)], &hard_link),
        (vec!["recover", system_arg, "-o", arg(&log_arg)], &log_arg),
    ];
    for (args, target) in cases {
        let output = rebootscan(&args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        let expected = format!("{}: it is ", target.display());
        assert!(stderr.contains(&expected) && stderr.contains("a file this run reads"), "{args:?}: {stderr}");
        assert!(stderr.contains("choose another file name"), "{stderr}");
    }
    let after: Vec<Vec<u8>> = [&system, &software].iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert_eq!(before, after, "evidence unchanged");
    assert!(partial_files(dir.path()).is_empty());
}

#[test]
fn outputs_are_regular_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let folder = write_machine(dir.path(), "HOST", false);
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let sub = dir.path().join("a-folder");
    std::fs::create_dir(&sub).unwrap();
    for (target, kind) in [(&fifo, "a named pipe"), (&sub, "a folder")] {
        for option in ["-o", "--findings-csv"] {
            let output = rebootscan(&["scan", arg(&folder), option, arg(target)]);
            let stderr = text(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{stderr}");
            assert!(stderr.contains(&format!("{}: it is {kind}, not a regular file", target.display())), "{stderr}");
        }
        let output = rebootscan(&["recover", arg(&folder.join("SYSTEM")), "-o", arg(target)]);
        assert_eq!(output.status.code(), Some(1));
        assert!(text(&output.stderr).contains("not a regular file"), "{}", text(&output.stderr));
    }
    // A device (never /dev/null: an old build run by someone else would replace it).
    if is_char_device("/dev/zero") {
        let output = rebootscan(&["scan", arg(&folder), "-o", "/dev/zero"]);
        assert_eq!(output.status.code(), Some(1));
        assert!(text(&output.stderr).contains("/dev/zero: it is a character device, not a regular file"));
        assert!(is_char_device("/dev/zero"));
    }
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo_like());
    // The same file for both outputs is refused too.
    let report = dir.path().join("report.csv");
    let output = rebootscan(&["scan", arg(&folder), "-o", arg(&report), "--findings-csv", arg(&report)]);
    assert_eq!(output.status.code(), Some(2), "a usage error");
    assert!(text(&output.stderr).contains("-o and --findings-csv both name"));
}

fn is_char_device(path: &str) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device())
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}

impl FifoLike for std::fs::FileType {
    fn is_fifo_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_fifo()
    }
}

#[test]
fn a_report_written_into_the_scanned_folder_never_becomes_input() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("case");
    write_machine(&tree, "host1", true);
    write_machine(&tree, "host2", false);
    // Named like a hive, in a machine folder of the tree: allowed (it is not an input now).
    let report = tree.join("host2").join("COMPONENTS");
    let output = rebootscan(&["scan", arg(&tree), "--format", "json", "-o", arg(&report)]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let machines = json["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 2);
    for machine in machines {
        for input in machine["inputs"].as_array().unwrap() {
            let path = input["path"].as_str().unwrap();
            assert!(!path.contains(".partial") && !path.ends_with("COMPONENTS"), "the output was read: {path}");
        }
    }
    // The next run finds the report as host2's COMPONENTS: now it is an input, and writing
    // over it is refused.
    let output = rebootscan(&["scan", arg(&tree), "--format", "json", "-o", arg(&report)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("a file this run reads"));
    assert!(partial_files(dir.path()).is_empty());
}

// ---- Only regular files are read ---------------------------------------------------------

/// Runs with a deadline: a blocking read fails the test instead of hanging it.
fn run_with_deadline(args: &[&str]) -> Output {
    let mut child = bin().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("rebootscan {args:?} blocked");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn special_files_are_skipped_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("SYSTEM");
    mkfifo(&fifo);

    let output = run_with_deadline(&["inspect", arg(&fifo)]);
    assert_eq!(output.status.code(), Some(3));
    assert!(text(&output.stdout).contains("not a regular file (a named pipe)"), "{}", text(&output.stdout));
    let output = run_with_deadline(&["recover", arg(&fifo), "-o", arg(&dir.path().join("out"))]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("not a regular file (a named pipe)"), "{}", text(&output.stderr));
    assert!(!dir.path().join("out").exists());
    let output = run_with_deadline(&["scan", arg(&fifo)]);
    assert!(text(&output.stderr).contains(&format!("skipped {}: not a regular file (a named pipe)", fifo.display())));

    for device in ["/dev/zero", "/dev/null"].into_iter().filter(|d| is_char_device(d)) {
        let output = run_with_deadline(&["scan", "--hash", device]);
        let stderr = text(&output.stderr);
        assert!(stderr.contains(&format!("skipped {device}: not a regular file (a character device)")), "{stderr}");
        assert!(!stderr.contains("empty"), "{stderr}");
        let output = run_with_deadline(&["inspect", device]);
        assert!(text(&output.stdout).contains("not a regular file (a character device)"));
    }

    // Inside machine folders: a FIFO, a device (a symbolic link to one is a link, reported as
    // such) and a folder carrying hive names are listed as skipped.
    let tree = dir.path().join("case");
    let fifo_machine = write_machine(&tree, "fifo-host", false);
    std::fs::remove_file(fifo_machine.join("SYSTEM")).unwrap();
    mkfifo(&fifo_machine.join("SYSTEM"));
    let folder_machine = write_machine(&tree, "folder-host", false);
    std::fs::remove_file(folder_machine.join("SOFTWARE")).unwrap();
    std::fs::create_dir(folder_machine.join("SOFTWARE")).unwrap();
    // A Windows tree has a `Windows\System` folder: never worth a word.
    let windows = write_machine(&tree, "win-host", false);
    let config = windows.join("C/Windows/System32/config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::rename(windows.join("SYSTEM"), config.join("SYSTEM")).unwrap();
    std::fs::rename(windows.join("SOFTWARE"), config.join("SOFTWARE")).unwrap();
    std::fs::create_dir_all(windows.join("C/Windows/System")).unwrap();
    let output = run_with_deadline(&["scan", "--hash", arg(&tree), "--format", "json"]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let skipped: Vec<(String, String)> = json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["path"].as_str().unwrap().to_string(), s["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(skipped[0].0, fifo_machine.join("SYSTEM").display().to_string());
    assert!(skipped[0].1.starts_with("not a regular file (a named pipe)"));
    assert_eq!(skipped[1].0, folder_machine.join("SOFTWARE").display().to_string());
    assert!(skipped[1].1.starts_with("not a regular file (a folder)"));
    let machines = json["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 3);
}

#[test]
fn hash_reads_exactly_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let folder = write_machine(dir.path(), "HASHED", false);
    let output = rebootscan(&["scan", "--hash", arg(&folder), "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let inputs = json["machines"][0]["inputs"].as_array().unwrap();
    use sha2::Digest;
    let bytes = std::fs::read(folder.join("SOFTWARE")).unwrap();
    let expected: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let software = inputs.iter().find(|i| i["path"].as_str().unwrap().ends_with("SOFTWARE")).unwrap();
    assert_eq!(software["sha256"].as_str().unwrap(), expected);
    assert_eq!(software["size"].as_u64().unwrap(), bytes.len() as u64);
}

// ---- Symbolic links ----------------------------------------------------------------------

#[test]
fn symbolic_links_named_are_followed_links_in_trees_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let real = write_machine(dir.path(), "REAL", true);
    let link = dir.path().join("linked-machine");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    // Named on the command line: scanned, not also listed as skipped.
    let output = rebootscan(&["scan", arg(&link), "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["machines"].as_array().unwrap().len(), 1);
    assert_eq!(json["machines"][0]["verdict"], "pending");
    assert!(json["skipped"].as_array().unwrap().is_empty(), "{}", json["skipped"]);
    // A symlinked hive file named: followed.
    let file_link = dir.path().join("system-link");
    std::os::unix::fs::symlink(real.join("SYSTEM"), &file_link).unwrap();
    let output = rebootscan(&["scan", arg(&file_link)]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // Met inside a tree: reported and not followed.
    let tree = dir.path().join("case");
    write_machine(&tree, "inside", false);
    std::os::unix::fs::symlink(&real, tree.join("outside")).unwrap();
    let output = rebootscan(&["scan", arg(&tree), "--format", "json"]);
    assert_eq!(output.status.code(), Some(3));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let machines: Vec<&str> =
        json["machines"].as_array().unwrap().iter().map(|m| m["machine"].as_str().unwrap()).collect();
    assert_eq!(machines, ["inside"]);
    assert!(json["skipped"][0]["reason"].as_str().unwrap().starts_with("symbolic link (not followed"));
    // discover applies the same rule.
    let output = rebootscan(&["discover", arg(&link)]);
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stdout).contains("1 machine(s), 0 path(s) skipped"));
}

// ---- A hive that changes while it is read ------------------------------------------------

/// A SOFTWARE large enough that the scan spends time in its pages: many CBS packages.
fn big_software() -> Vec<u8> {
    let mut software = HiveSpec::new("ROOT");
    software.set_value("Microsoft\\Windows NT\\CurrentVersion", ValueSpec::sz("CurrentBuild", "19045"));
    software.key_mut("Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending");
    for n in 0..3000 {
        software.set_value(
            &format!(
                "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages\\Package_for_KB{n:07}~31bf3856ad364e35~amd64~~10.0.1.{n}"
            ),
            ValueSpec::dword("CurrentState", 0x70),
        );
    }
    software.build()
}

#[test]
fn a_hive_truncated_while_it_is_read_costs_only_its_machine() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("case");
    for name in ["stable-1", "stable-2", "stable-3"] {
        write_machine(&tree, name, true);
    }
    let victim = write_machine(&tree, "victim", false);
    let content = big_software();
    let victim_software = victim.join("SOFTWARE");
    std::fs::write(&victim_software, &content).unwrap();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let truncator = {
        let stop = stop.clone();
        let path = victim_software.clone();
        let content = content.clone();
        std::thread::spawn(move || {
            let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            let mut rounds = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                // Whole for a varying while (so scans open it whole), then cut to its base
                // block, then restored: the cut lands at every stage of a scan.
                std::thread::sleep(std::time::Duration::from_micros(300 + (rounds * 397) % 2500));
                file.set_len(4096).unwrap();
                std::thread::sleep(std::time::Duration::from_micros(200));
                file.write_all_at(&content, 0).unwrap();
                rounds += 1;
            }
            rounds
        })
    };
    let mut changed = 0;
    let mut other_errors = std::collections::BTreeMap::new();
    let iterations = 50;
    for _ in 0..iterations {
        let output =
            bin().args(["scan", arg(&tree), "--format", "jsonl", "--packages", "always", "-j", "2"]).output().unwrap();
        let stderr = text(&output.stderr);
        assert!(matches!(output.status.code(), Some(0) | Some(3)), "status {:?}: {stderr}", output.status);
        let machines: Vec<serde_json::Value> =
            text(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(machines.len(), 4, "every machine reported: {stderr}");
        for machine in &machines {
            if machine["machine"] == "victim" {
                let errors = machine["errors"].to_string();
                if errors.contains("the file changed while being read") {
                    changed += 1;
                    assert_eq!(machine["verdict"], "unknown");
                } else if let Some(message) = machine["errors"][0]["message"].as_str() {
                    *other_errors.entry(message.split(':').next().unwrap_or("").to_string()).or_insert(0) += 1;
                }
            } else {
                assert_eq!(machine["verdict"], "pending", "{machine}");
                assert!(machine["errors"].as_array().unwrap().is_empty(), "{machine}");
                assert_eq!(machine["findings"][0]["rule"], "pending_file_rename_operations");
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let rounds = truncator.join().unwrap();
    eprintln!(
        "truncation stress: {iterations} scans, {rounds} truncations, {changed} scans saw the change, other outcomes {other_errors:?}"
    );
    assert!(changed > 0, "no scan was caught mid-read: the stress does not stress");
}

#[test]
fn truncation_after_open_is_reported_as_a_change() {
    use rebootscan::load::{HiveFile, LoadOptions};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("SOFTWARE");
    std::fs::write(&path, big_software()).unwrap();
    let hive = HiveFile::open(&path, LoadOptions::default()).unwrap();
    assert_eq!(hive.changed_while_read(), None);
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(8192).unwrap();
    // Every page is touched: the vanished ones read as zeros instead of killing the process.
    let sum: u64 = hive.bytes().iter().map(|&b| u64::from(b)).sum();
    assert!(sum > 0);
    let change = hive.changed_while_read().expect("the truncation is seen");
    assert!(change.starts_with("the file changed while being read"), "{change}");
}

// ---- Memory bounded under an address-space limit ------------------------------------------

/// Runs rebootscan with `RLIMIT_AS` at 1 GB (as `prlimit --as=1000000000` would).
fn run_limited(args: &[&str]) -> Output {
    let mut command = bin();
    command.args(args);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 1_000_000_000, rlim_max: 1_000_000_000 };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.output().unwrap()
}

fn set_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    let mut sum = 0u32;
    for chunk in bytes[..508].chunks_exact(4) {
        sum ^= u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    bytes[508..512].copy_from_slice(&sum.to_le_bytes());
}

#[test]
fn huge_and_lying_hives_run_under_a_one_gigabyte_address_space() {
    const GIB: u64 = 1 << 30;
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("case");
    write_machine(&tree, "normal", true);
    // An 8 GiB sparse SOFTWARE: a real small hive followed by zeros.
    let sparse = write_machine(&tree, "sparse", false);
    std::fs::OpenOptions::new().write(true).open(sparse.join("SOFTWARE")).unwrap().set_len(8 * GIB).unwrap();
    // A base block claiming a 4 GiB hive, in a small file and in an 8 GiB sparse one.
    let claims = write_machine(&tree, "claims", false);
    let mut lying = software_hive();
    set_u32(&mut lying, 0x28, 0xFFFF_F000);
    std::fs::write(claims.join("SOFTWARE"), &lying).unwrap();
    let both = write_machine(&tree, "claims-sparse", false);
    std::fs::write(both.join("SOFTWARE"), &lying).unwrap();
    std::fs::OpenOptions::new().write(true).open(both.join("SOFTWARE")).unwrap().set_len(8 * GIB).unwrap();
    // A dirty hive (bad checksum) with an 8 GiB sparse log beside it.
    let dirty = write_machine(&tree, "dirty", false);
    let mut system = system_hive("dirty", false);
    system[508] ^= 0xff;
    std::fs::write(dirty.join("SYSTEM"), &system).unwrap();
    std::fs::write(dirty.join("SYSTEM.LOG1"), b"").unwrap();
    std::fs::OpenOptions::new().write(true).open(dirty.join("SYSTEM.LOG1")).unwrap().set_len(8 * GIB).unwrap();

    let output = run_limited(&["scan", arg(&tree), "--format", "json"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{:?}: {stderr}", output.status);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let machine =
        |name: &str| json["machines"].as_array().unwrap().iter().find(|m| m["machine"] == name).unwrap().clone();
    assert_eq!(machine("normal")["verdict"], "pending");
    assert_eq!(machine("sparse")["verdict"], "not_pending", "{}", machine("sparse"));
    let claims = machine("claims")["errors"].to_string();
    assert!(claims.contains("truncated"), "{claims}");
    let both_errors = machine("claims-sparse")["errors"].to_string();
    assert!(both_errors.contains("do not fit in the memory") || both_errors.contains("corrupt"), "{both_errors}");
    let dirty_report = machine("dirty").to_string();
    assert!(dirty_report.contains("SYSTEM.LOG1 could not be read"), "{dirty_report}");

    for args in [
        vec!["inspect", arg(&sparse.join("SOFTWARE")), arg(&both.join("SOFTWARE")), arg(&dirty.join("SYSTEM"))],
        vec!["recover", arg(&both.join("SOFTWARE")), "-o", "/nonexistent-folder/out"],
        vec!["scan", "--hash", arg(&tree.join("normal"))],
    ] {
        let output = run_limited(&args);
        assert!(matches!(output.status.code(), Some(0..=3)), "{args:?}: {:?} {}", output.status, text(&output.stderr));
    }
}

// ---- Write failures ----------------------------------------------------------------------

fn dev_full() -> Option<std::fs::File> {
    std::fs::OpenOptions::new().write(true).open("/dev/full").ok()
}

#[test]
fn a_full_standard_output_or_error_is_an_exit_status_never_a_panic() {
    let Some(_) = dev_full() else {
        eprintln!("SKIPPED: no /dev/full");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let folder = write_machine(dir.path(), "FULL", false);
    let system = folder.join("SYSTEM");
    for args in [
        vec!["scan", arg(&folder)],
        vec!["scan", arg(&folder), "--format", "json"],
        vec!["scan", arg(&folder), "--format", "csv"],
        vec!["inspect", arg(&system)],
        vec!["inspect", "--json", arg(&system)],
        vec!["discover", arg(&folder)],
        vec!["rules"],
        vec!["rules", "--markdown"],
        vec!["patch-table"],
    ] {
        let output = bin().args(&args).stdout(dev_full().unwrap()).output().unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("cannot write") && stderr.contains("standard output"), "{args:?}: {stderr}");
        assert!(stderr.contains("No space left on device"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // stderr full: the scan still completes with its normal status.
    for (args, code) in [(vec!["scan", arg(&folder)], 0), (vec!["scan", arg(&dir.path().join("missing"))], 1)] {
        let output = bin().args(&args).stderr(dev_full().unwrap()).output().unwrap();
        assert_eq!(output.status.code(), Some(code), "{args:?}");
    }
    let output = bin()
        .args(["recover", arg(&system), "-o", arg(&dir.path().join("copy"))])
        .stderr(dev_full().unwrap())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(std::fs::read(dir.path().join("copy")).unwrap(), std::fs::read(&system).unwrap());
}

/// Runs with `RLIMIT_FSIZE` at `bytes` and SIGXFSZ ignored: writes past it fail with EFBIG,
/// the way a full disk fails them with ENOSPC.
fn run_with_file_size_limit(args: &[&str], bytes: u64) -> Output {
    let mut command = bin();
    command.args(args);
    // SAFETY: signal and setrlimit are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.output().unwrap()
}

#[test]
fn a_failed_output_names_the_file_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    for n in 0..20 {
        write_machine(&evidence, &format!("host-{n}"), true);
    }
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let report = out.join("report.json");
    let findings = out.join("findings.csv");
    let recovered = out.join("recovered");
    let hive = evidence.join("host-0/SYSTEM");
    for (args, target, what) in [
        (vec!["scan", arg(&evidence), "--format", "json", "-o", arg(&report)], &report, "the report"),
        (vec!["scan", arg(&evidence), "--findings-csv", arg(&findings)], &findings, "the findings CSV"),
        (vec!["recover", arg(&hive), "-o", arg(&recovered)], &recovered, "the recovered hive"),
    ] {
        let output = run_with_file_size_limit(&args, 2048);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        let expected = format!("rebootscan: error: cannot write {what} to {}: File too large", target.display());
        assert!(stderr.lines().any(|l| l.starts_with(&expected)), "{stderr}");
        assert!(!stderr.contains("must be a new file"), "{stderr}");
        assert!(!target.exists(), "no partial {}", target.display());
        assert!(partial_files(&out).is_empty(), "{:?}", partial_files(&out));
    }
}

/// A tree big enough that a scan runs for a while.
fn big_tree(root: &Path, machines: usize) {
    let system = system_hive("BIG", true);
    let software = big_software();
    for n in 0..machines {
        let folder = root.join(format!("host-{n:04}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("SYSTEM"), &system).unwrap();
        std::fs::write(folder.join("SOFTWARE"), &software).unwrap();
    }
}

/// A pipe of one page (the least Linux allows): a child writing more than 4 KiB to it blocks
/// until the reader reads, which the test never does. Returns (read end, write end).
fn small_pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: plain syscalls on descriptors this function creates and hands on as owned.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        let pipe = (std::os::fd::OwnedFd::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1]));
        assert_eq!(libc::fcntl(fds[0], libc::F_SETPIPE_SZ, 4096), 4096);
        pipe
    }
}

#[test]
fn sigterm_and_sigint_leave_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("case");
    big_tree(&tree, 150);
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let out = dir.path().join(format!("out-{signal}"));
        std::fs::create_dir(&out).unwrap();
        let findings = out.join("findings.csv");
        let timeline = out.join("timeline.csv");
        // The report goes to a pipe nobody reads: 150 machines' JSON is far more than its 4
        // KiB, so the run blocks in the middle, its temporary files open, and cannot finish
        // before the signal, however late the signal comes on a loaded machine (a run of this
        // tree ends some 80 ms after its temporary files appear).
        let (_unread, report_pipe) = small_pipe();
        let mut child = bin()
            .args(["scan", arg(&tree), "--format", "json", "--packages", "always", "-j", "1"])
            .args(["--findings-csv", arg(&findings), "--timeline", arg(&timeline)])
            .stdout(Stdio::from(report_pipe))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Ready once both temporary files exist: each is known to the signal handler before
        // it is created (src/output.rs), so the signal may come at any moment after this.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while partial_files(&out).len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(partial_files(&out).len(), 2, "the scan wrote its temporary files");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(signal), "{status:?}");
        assert!(partial_files(&out).is_empty(), "left behind: {:?}", partial_files(&out));
        assert!(!findings.exists() && !timeline.exists());
    }
}

// ---- Hive content never reaches a terminal or a spreadsheet raw ---------------------------

fn hostile_machine(dir: &Path, folder: &str, computer_name: &str, rename_source: &str) -> PathBuf {
    let machine = dir.join(folder);
    std::fs::create_dir_all(&machine).unwrap();
    let mut system = HiveSpec::new("ROOT");
    system.set_value("Select", ValueSpec::dword("Current", 1));
    system
        .set_value("ControlSet001\\Control\\ComputerName\\ComputerName", ValueSpec::sz("ComputerName", computer_name));
    system.set_value(
        "ControlSet001\\Control\\Session Manager",
        ValueSpec::multi_sz(
            "PendingFileRenameOperations",
            &[rename_source, "!\\??\\C:\\Windows\\System32\\kernel32.dll"],
        ),
    );
    std::fs::write(machine.join("SYSTEM"), system.build()).unwrap();
    std::fs::write(machine.join("SOFTWARE"), software_hive()).unwrap();
    machine
}

const CLEAR_SCREEN: &str = "FS01\u{1b}[2J\u{1b}[H";
const HIDDEN_RENAME: &str = "\\??\\C:\\Windows\\System32\\\u{1b}[8mevil.dll\u{1b}[0m";
const FORGED_LINE: &str = "FS02\nverdict: NOT_PENDING \u{202e}";
const FORMULA: &str = "=HYPERLINK(\"http://x\",\"FS01\")";

#[test]
fn control_characters_from_evidence_are_escaped_in_text() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("case");
    hostile_machine(&tree, "escape", CLEAR_SCREEN, HIDDEN_RENAME);
    hostile_machine(&tree, "forged", FORGED_LINE, "\\??\\C:\\xampp\\x.dll");
    // A folder name from the evidence too.
    hostile_machine(&tree, "bell\u{7}folder", "FS03", "\\??\\C:\\Windows\\System32\\a.dll");
    let output = rebootscan(&["scan", arg(&tree)]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report = text(&output.stdout);
    let raw_controls: Vec<char> =
        report.chars().filter(|&c| (c.is_control() && c != '\n') || c == '\u{202e}').collect();
    assert!(raw_controls.is_empty(), "raw control characters in the text report: {raw_controls:?}");
    assert!(report.contains("== escape  (FS01\\x{1b}[2J\\x{1b}[H)"), "{report}");
    // One backslash before an escape: doubled, then the escape (`\\\x{1b}`).
    assert!(report.contains("System32\\\\\\x{1b}[8mevil.dll\\x{1b}[0m"), "{report}");
    assert!(report.contains("(FS02\\x{0a}verdict: NOT_PENDING \\x{202e})"), "{report}");
    assert!(!report.lines().any(|l| l.starts_with("verdict: NOT_PENDING")), "{report}");
    assert!(report.contains("C:\\xampp\\x.dll"), "a plain backslash before x stays: {report}");
    assert!(report.contains("== bell\\x{07}folder"), "{report}");
    // Every escaped line reads back to the original with the documented rule.
    assert!(report.lines().any(|l| rebootscan::report::escape::unescape_text(l).as_deref()
        == Some(&format!("== escape  ({CLEAR_SCREEN})")[..])));

    // JSON is exact.
    let output = rebootscan(&["scan", arg(&tree), "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> =
        json["machines"].as_array().unwrap().iter().map(|m| m["computer_name"].as_str().unwrap()).collect();
    assert_eq!(names, ["FS03", CLEAR_SCREEN, FORGED_LINE]);
    let source = &json["machines"][1]["findings"][0]["data"]["operations"][0]["source_raw"];
    assert_eq!(source.as_str().unwrap(), HIDDEN_RENAME);

    // discover, inspect and stderr escape too.
    let output = rebootscan(&["discover", arg(&tree)]);
    assert!(!text(&output.stdout).contains('\u{7}') && text(&output.stdout).contains("bell\\x{07}folder"));
    let output = rebootscan(&["inspect", arg(&tree.join("escape/SYSTEM"))]);
    assert!(!text(&output.stdout).chars().any(|c| c == '\u{1b}'));
    let output = rebootscan(&["scan", arg(&tree.join("no\u{1b}[2Jsuch"))]);
    assert!(text(&output.stderr).contains("no\\x{1b}[2Jsuch"), "{}", text(&output.stderr));
    assert!(!text(&output.stderr).contains('\u{1b}'));
}

#[test]
fn csv_cells_that_spreadsheets_would_run_are_neutralised() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("case");
    hostile_machine(&tree, "formula", FORMULA, "\\??\\C:\\Windows\\System32\\a.dll");
    hostile_machine(&tree, "+plus", "@SUM(1)", "\\??\\C:\\Windows\\System32\\b.dll");
    let findings = dir.path().join("findings.csv");
    let timeline = dir.path().join("timeline.csv");
    let operations = dir.path().join("operations.csv");
    let output = rebootscan(&[
        "scan",
        arg(&tree),
        "--format",
        "csv",
        "--findings-csv",
        arg(&findings),
        "--timeline",
        arg(&timeline),
        "--operations-csv",
        arg(&operations),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let read = |bytes: &[u8]| -> Vec<csv::StringRecord> {
        csv::Reader::from_reader(bytes).records().map(|r| r.unwrap()).collect()
    };
    let name_column = csv::Reader::from_reader(&output.stdout[..])
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "computer_name")
        .unwrap();
    let machines = read(&output.stdout);
    assert_eq!(&machines[0][0], "'+plus");
    assert_eq!(&machines[0][name_column], "'@SUM(1)");
    assert_eq!(&machines[1][name_column], &format!("'{FORMULA}"));
    let rows = read(&std::fs::read(&findings).unwrap());
    assert!(rows.iter().any(|r| r[1] == format!("'{FORMULA}")), "{rows:?}");
    let events = read(&std::fs::read(&timeline).unwrap());
    assert!(events.iter().any(|r| r.iter().any(|c| c == format!("'{FORMULA}"))), "{events:?}");
    let operations = read(&std::fs::read(&operations).unwrap());
    assert!(!operations.is_empty());
    for row in machines.iter().chain(&rows).chain(&events).chain(&operations) {
        for cell in row {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "live cell {cell:?}");
        }
    }
    // --csv-raw: the stored values.
    let output = rebootscan(&["scan", arg(&tree), "--format", "csv", "--csv-raw"]);
    let machines = read(&output.stdout);
    assert_eq!(&machines[0][0], "+plus");
    assert_eq!(&machines[1][name_column], FORMULA);
}

// ---- Error messages ----------------------------------------------------------------------

/// Runs a battery of bad inputs and outputs and checks every message for Rust Debug
/// formatting: `{ kind: …}` structures and `[70, 73, 76, 69]`-style byte lists.
#[test]
fn no_message_carries_debug_formatting() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let good = write_machine(&case, "good", true);
    let put = |name: &str, bytes: &[u8]| {
        let folder = case.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("SYSTEM"), bytes).unwrap();
    };
    put("not-a-hive", b"FILE0 this is an NTFS record, not a hive");
    put("empty", b"");
    let hive = system_hive("CORRUPT", true);
    put("truncated", &hive[..hive.len() - 4096]);
    put("short", &hive[..300]);
    // Key node signatures damaged one at a time: nt-hive's signature errors.
    let mut at = 0;
    let mut corrupt = 0;
    while let Some(offset) = hive[at..].windows(2).position(|w| w == b"nk") {
        let mut bad = hive.clone();
        bad[at + offset] = b'x';
        put(&format!("bad-nk-{corrupt}"), &bad);
        at += offset + 2;
        corrupt += 1;
    }
    for (n, signature) in [b"vk", b"lf", b"lh", b"sk"].iter().enumerate() {
        if let Some(offset) = hive.windows(2).position(|w| w == *signature) {
            let mut bad = hive.clone();
            bad[offset..offset + 2].copy_from_slice(b"\0\x01");
            put(&format!("bad-cell-{n}"), &bad);
        }
    }
    let mut bad_hbin = hive.clone();
    bad_hbin[4096..4100].copy_from_slice(b"FILE");
    put("bad-hbin", &bad_hbin);
    let mut bad_version = hive.clone();
    set_u32(&mut bad_version, 0x14, 9);
    put("bad-version", &bad_version);
    let mut dirty = hive.clone();
    dirty[508] ^= 1;
    put("dirty-bad-logs", &dirty);
    std::fs::write(case.join("dirty-bad-logs/SYSTEM.LOG1"), b"FILE garbage log").unwrap();
    std::fs::write(case.join("dirty-bad-logs/SYSTEM.LOG2"), [0u8; 512]).unwrap();
    mkfifo(&case.join("good/COMPONENTS"));
    // A disk image whose NTFS records are damaged.
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let gz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/images/windows.ntfs.gz");
    let mut volume = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(&std::fs::read(gz).unwrap()[..]).read_to_end(&mut volume).unwrap();
    let records: Vec<usize> = volume.windows(4).enumerate().filter(|(_, w)| w == b"FILE").map(|(i, _)| i).collect();
    for (n, step) in [1usize, 3, 7, 11, 25].iter().enumerate() {
        let mut damaged = volume.clone();
        for &record in records.iter().skip(*step).step_by(13) {
            damaged[record..record + 4].copy_from_slice(b"BAAD");
        }
        std::fs::write(images.join(format!("damaged-{n}.img")), &damaged).unwrap();
    }
    let mut truncated_image = volume.clone();
    truncated_image.truncate(volume.len() / 3);
    std::fs::write(images.join("truncated.img"), &truncated_image).unwrap();

    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let mut runs: Vec<Output> = vec![
        rebootscan(&["scan", arg(&case)]),
        rebootscan(&["scan", arg(&case), "--format", "json", "--hash"]),
        rebootscan(&["scan", arg(&images), "--format", "json"]),
        rebootscan(&["scan", arg(&images.join("truncated.img"))]),
        rebootscan(&["scan", arg(&case), "-o", arg(&good.join("SYSTEM"))]),
        rebootscan(&["scan", arg(&case), "-o", arg(&dir.path().join("missing/report"))]),
        rebootscan(&["scan", arg(&case), "--findings-csv", "/dev/null"]),
        rebootscan(&["scan", arg(&dir.path().join("missing"))]),
        rebootscan(&["recover", arg(&case.join("dirty-bad-logs/SYSTEM")), "-o", arg(&out.join("r"))]),
        rebootscan(&["recover", arg(&case.join("truncated/SYSTEM")), "-o", arg(&out.join("r"))]),
        rebootscan(&["scan", "--skip-rule", "no_such_rule", arg(&case)]),
    ];
    let mut inspect = vec!["inspect".to_string()];
    for entry in std::fs::read_dir(&case).unwrap() {
        inspect.push(entry.unwrap().path().join("SYSTEM").display().to_string());
    }
    runs.push(bin().args(&inspect).output().unwrap());
    inspect.insert(1, "--json".into());
    runs.push(bin().args(&inspect).output().unwrap());
    runs.push(run_with_file_size_limit(&["scan", arg(&case), "-o", arg(&out.join("full"))], 100));
    runs.push(run_with_file_size_limit(&["scan", arg(&case), "--findings-csv", arg(&out.join("full"))], 100));
    if let Some(full) = dev_full() {
        runs.push(bin().args(["scan", arg(&case)]).stdout(full).output().unwrap());
    }

    let mut messages = String::new();
    for run in &runs {
        messages.push_str(&text(&run.stdout));
        messages.push_str(&text(&run.stderr));
    }
    assert!(messages.contains("corrupt cell"), "the battery reaches nt-hive's errors");
    assert!(messages.contains("signature"), "the battery reaches signature errors");
    let byte_list = |line: &str| {
        let bytes = line.as_bytes();
        (0..bytes.len()).any(|i| {
            bytes[i] == b'[' && {
                let rest = &line[i + 1..];
                let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
                digits > 0
                    && rest[digits..].starts_with(", ")
                    && rest[digits + 2..].starts_with(|c: char| c.is_ascii_digit())
            }
        })
    };
    for line in messages.lines() {
        assert!(!line.contains("{ kind:") && !line.contains("Custom {") && !line.contains("Os { code"), "{line}");
        assert!(!byte_list(line), "byte list in: {line}");
        assert!(!line.contains("panicked"), "{line}");
    }
    assert!(messages.lines().count() > 100, "the battery produced messages");
}
