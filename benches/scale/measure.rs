//! Running a command under GNU time (`/usr/bin/time -v`) and reading what the kernel accounted
//! to it and its children: wall time, peak RSS, bytes read from the file system, faults.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How often [`memory_peak`] samples /proc/PID/status.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(1);

pub const GNU_TIME: &str = "/usr/bin/time";

/// One run's figures.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// Measured around the whole process tree (GNU time's own figure has 10 ms resolution).
    pub wall: Duration,
    /// User plus system CPU time.
    pub cpu: Duration,
    /// Peak resident set of the process (for a shell loop: of its largest child). File pages a
    /// process has mapped and touched count too.
    pub max_rss_kib: u64,
    /// "File system inputs" (512-byte units) × 512: what the kernel read from the disk for the
    /// process, page faults on mapped files included (`read_bytes` of /proc/PID/io).
    pub read_bytes: u64,
    pub major_faults: u64,
    pub exit_code: Option<i32>,
    pub stderr: String,
}

/// Runs `program args…` under GNU time, stdout discarded. `scratch` is a file for time's report.
pub fn timed<I, S>(program: &OsStr, args: I, scratch: &Path) -> io::Result<Usage>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let started = Instant::now();
    let output = Command::new(GNU_TIME)
        .arg("-v")
        .arg("-o")
        .arg(scratch)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    let wall = started.elapsed();
    let report = std::fs::read_to_string(scratch)?;
    let field = |label: &str| -> Option<&str> {
        report.lines().find_map(|line| line.trim().strip_prefix(label)).map(|rest| rest.trim_start_matches(':').trim())
    };
    let number = |label: &str| field(label).and_then(|text| text.parse::<u64>().ok()).unwrap_or(0);
    let seconds = |label: &str| field(label).and_then(|text| text.parse::<f64>().ok()).unwrap_or(0.0);
    Ok(Usage {
        wall,
        cpu: Duration::from_secs_f64(seconds("User time (seconds)") + seconds("System time (seconds)")),
        max_rss_kib: number("Maximum resident set size (kbytes)"),
        read_bytes: number("File system inputs") * 512,
        major_faults: number("Major (requiring I/O) page faults"),
        exit_code: output.status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Stands for the item in [`timed_per_item`]'s command line.
pub const ITEM: &str = "{item}";

/// Runs `command` (with [`ITEM`] replaced by each of `items` in turn) once per item, from one
/// `sh` loop under GNU time: the cost of one process per lookup, as a script calling a tool per
/// machine pays it. Failures (hivexget exits non-zero for a missing value) do not stop the loop.
pub fn timed_per_item(command: &[&str], items: &[PathBuf], scratch: &Path) -> io::Result<Usage> {
    let line: Vec<String> =
        command.iter().map(|part| if *part == ITEM { "\"$item\"".to_string() } else { shell_quote(part) }).collect();
    let script = format!("for item do {} >/dev/null 2>&1; done; true", line.join(" "));
    let mut args: Vec<&OsStr> = vec![OsStr::new("-c"), OsStr::new(&script), OsStr::new("sh")];
    args.extend(items.iter().map(|item| item.as_os_str()));
    timed(OsStr::new("sh"), args, scratch)
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Peak memory of one process, split the way /proc/PID/status splits it.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryPeak {
    /// VmHWM: peak resident set, what GNU time reports as "Maximum resident set size".
    pub hwm_kib: u64,
    /// Largest RssAnon seen: heap and stacks, the memory a growing report would show in.
    pub anon_kib: u64,
    /// Largest RssFile seen: pages of mapped files (the hives, the executable) the process has
    /// touched; clean page cache the kernel can drop at any time.
    pub file_kib: u64,
}

/// Runs `program args…` (stdout and stderr discarded) and samples its memory every
/// millisecond until it exits. Peaks shorter than a sample can be missed; the CBS package walk
/// that dominates lasts tens of milliseconds.
pub fn memory_peak<I, S>(program: &OsStr, args: I) -> io::Result<MemoryPeak>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut child =
        Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = MemoryPeak::default();
    loop {
        // Read before checking for exit, so the last sample is taken as late as possible.
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            let field = |name: &str| -> u64 {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                    .unwrap_or(0)
            };
            peak.hwm_kib = peak.hwm_kib.max(field("VmHWM:"));
            peak.anon_kib = peak.anon_kib.max(field("RssAnon:"));
            peak.file_kib = peak.file_kib.max(field("RssFile:"));
        }
        if child.try_wait()?.is_some() {
            return Ok(peak);
        }
        std::thread::sleep(SAMPLE_INTERVAL);
    }
}
