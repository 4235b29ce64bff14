//! Scale benchmark: how fast, how frugal with memory and how light on the disk `rebootscan scan`
//! is over a fleet of realistic machines, compared with `hivexget` reading one value.
//!
//! ```sh
//! cargo bench --bench scale              # quick mode (1–3 minutes on 2 cores)
//! cargo bench --bench scale -- --full    # more cold copies and repetitions
//! cargo bench --bench scale -- --help
//! ```
//!
//! It builds one SYSTEM (~15 MB) and one SOFTWARE (~100 MB) template, clean and pending, with
//! the project's own regf writer; lays out machines from them (hard links for the warm fleets
//! of 10/100/1,000 machines, real copies for cold runs); runs the release `rebootscan` under
//! GNU time; and writes the figures to `benches/RESULTS.md`. Everything it generates lives in
//! one work folder (by default `<target dir>/bench-scale`) that is removed at the end.
//!
//! Not a unit test on purpose: timings on a shared machine are noisy, and a test must not
//! depend on them. `cargo test` does not build it.

#[allow(dead_code)]
#[path = "../../tests/support/hive_writer.rs"]
mod hive_writer;

mod cache;
mod fleet;
mod hives;
mod measure;
mod random;
mod report;
mod results;
mod servicing;

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use cache::Eviction;
use fleet::{Class, Machine, Placement, Templates};
use measure::{MemoryPeak, Usage, ITEM};
use report::{mebibytes_from_kib, megabytes, millis, rate};
use results::{MemoryRun, Results, SystemPages, TemplateInfo};

const HELP: &str = "\
scale benchmark for rebootscan

usage: cargo bench --bench scale [-- OPTIONS]

  --full            20 clean + 5 + 5 pending cold copies (~3.5 GB of disk) and 5 repetitions
                    (default: quick mode, 8 + 2 + 2 cold copies (~1.4 GB), 3 repetitions)
  --fadvise         evict with posix_fadvise(DONTNEED) even when drop_caches is writable
  --work-dir DIR    where to generate hives (must not exist; default <target dir>/bench-scale)
  --keep            leave the generated hives in place
  --templates-only  generate the four template hives, print what they hold, keep them, stop
  --binary PATH     the rebootscan to measure (default: the release build cargo bench made)
  --results PATH    where to write the results (default benches/RESULTS.md; '-' for none)
  --servicing       only servicing-pending machines against clean ones (issue 16): warm, cold
                    and a 1,000-machine fleet; ~1.6 GB of disk, a few minutes; writes its own
                    section of RESULTS.md
  --baseline PATH   with --servicing: also measure this (older) rebootscan in the same run

needs: GNU time (/usr/bin/time), coreutils, util-linux fincore (optional), and hivexget for
the reference (Debian/Ubuntu: apt-get update && apt-get install -y libhivex-bin)
";

const SOFTWARE_SEED: u64 = 0x50F7_3A7E;
const SYSTEM_SEED: u64 = 0x0051_57E3;
pub const HIVEXGET_KEY: &str = "ControlSet001\\Control\\Session Manager";
pub const HIVEXGET_VALUE: &str = "PendingFileRenameOperations";
const PAGE_SIZE: u64 = 4096;
/// Marks a work folder as ours, so that a stale one from an interrupted run may be removed.
const WORK_MARKER: &str = ".rebootscan-scale-bench";

struct Options {
    full: bool,
    force_fadvise: bool,
    work_dir: Option<PathBuf>,
    keep: bool,
    templates_only: bool,
    binary: Option<PathBuf>,
    results: Option<PathBuf>,
    servicing: bool,
    baseline: Option<PathBuf>,
}

/// How much to do: quick by default, more copies and repetitions with `--full`.
struct Plan {
    /// Real copies per class (clean, renames, servicing) for the cold runs.
    cold_per_class: [usize; 3],
    /// Timed repetitions of each warm run (the best counts) and of each cold run (the median
    /// counts).
    repeats: usize,
    /// Hard-linked machines per class for the per-class warm cost.
    warm_per_class: [usize; 3],
    fleet_sizes: [usize; 3],
    /// Machines for the one-process-per-machine loops (rebootscan and hivexget).
    per_process: usize,
}

impl Plan {
    fn new(full: bool) -> Plan {
        Plan {
            cold_per_class: if full { [20, 5, 5] } else { [8, 2, 2] },
            repeats: if full { 5 } else { 3 },
            warm_per_class: if full { [200, 50, 20] } else { [100, 40, 10] },
            fleet_sizes: [10, 100, 1000],
            per_process: if full { 30 } else { 12 },
        }
    }
}

fn parse_options() -> Result<Option<Options>, String> {
    let mut options = Options {
        full: false,
        force_fadvise: false,
        work_dir: None,
        keep: false,
        templates_only: false,
        binary: None,
        results: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches").join("RESULTS.md")),
        servicing: false,
        baseline: None,
    };
    let mut benchmarking = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            // cargo bench passes --bench; cargo test (--all-targets) does not: then do nothing.
            "--bench" => benchmarking = true,
            "--full" => options.full = true,
            "--fadvise" => options.force_fadvise = true,
            "--keep" => options.keep = true,
            "--templates-only" => options.templates_only = true,
            "--servicing" => options.servicing = true,
            "--baseline" => options.baseline = Some(PathBuf::from(value("--baseline")?)),
            "--work-dir" => options.work_dir = Some(PathBuf::from(value("--work-dir")?)),
            "--binary" => options.binary = Some(PathBuf::from(value("--binary")?)),
            "--results" => {
                let path = value("--results")?;
                options.results = (path != "-").then(|| PathBuf::from(path));
            }
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    if !benchmarking {
        println!("scale: a benchmark, not a test; run it with `cargo bench --bench scale` (see --help)");
        return Ok(None);
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    match parse_options() {
        Ok(Some(options)) => match run(&options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("scale: {message}");
                ExitCode::FAILURE
            }
        },
        Ok(None) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("scale: {message}");
            ExitCode::from(2)
        }
    }
}

/// The work folder; removed when dropped (also on error) unless kept.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    fn create(requested: Option<&Path>, keep: bool) -> Result<WorkDir, String> {
        let path = match requested {
            Some(path) => path.to_path_buf(),
            None => default_work_dir()?,
        };
        if path.exists() {
            if path.join(WORK_MARKER).exists() {
                std::fs::remove_dir_all(&path)
                    .map_err(|e| format!("cannot remove the stale {}: {e}", path.display()))?;
            } else {
                return Err(format!("{} exists; give a --work-dir that does not", path.display()));
            }
        }
        std::fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        std::fs::write(path.join(WORK_MARKER), b"").map_err(|e| e.to_string())?;
        Ok(WorkDir { path, keep })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            println!("scale: generated hives kept in {}", self.path.display());
        } else if let Err(error) = std::fs::remove_dir_all(&self.path) {
            eprintln!("scale: could not remove {}: {error}", self.path.display());
        }
    }
}

/// `<target dir>/bench-scale`: the bench executable is `<target dir>/<profile>/deps/scale-…`.
fn default_work_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let target = exe.ancestors().nth(3).ok_or("cannot find the target directory")?;
    Ok(target.join("bench-scale"))
}

pub fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn has_command(name: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {name}")]).output().is_ok_and(|o| o.status.success())
}

fn free_disk_bytes(path: &Path) -> Option<u64> {
    let text = command_output("df", &["-Pk", &path.display().to_string()])?;
    let kib: u64 = text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}

/// `abc1234` (with "+ uncommitted changes in src/" when the tree differs).
pub fn commit_label() -> String {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let commit =
        command_output("git", &["-C", manifest, "rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = command_output("git", &["-C", manifest, "status", "--porcelain", "--", "src"])
        .is_some_and(|status| !status.is_empty());
    if dirty {
        format!("{commit} + uncommitted changes in src/")
    } else {
        commit
    }
}

/// `2 cores (AMD EPYC …)`.
pub fn machine_summary() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                line.strip_prefix("model name").map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

// ---- measuring ---------------------------------------------------------------------------------

/// One measured run (a `rebootscan scan`, or a one-process-per-machine loop) and what it covered.
pub struct Measured {
    pub label: String,
    pub machines: usize,
    pub jobs: Option<usize>,
    pub usage: Usage,
    /// For cold runs: bytes of the hive files in the page cache afterwards (fincore), i.e. the
    /// hive pages the run read, without the file-system metadata that GNU time also counts.
    pub hive_bytes: Option<u64>,
}

impl Measured {
    pub fn per_machine(&self, duration: Duration) -> Duration {
        duration / self.machines.max(1) as u32
    }

    pub fn read_per_machine(&self) -> f64 {
        self.usage.read_bytes as f64 / self.machines.max(1) as f64
    }

    pub fn hive_bytes_per_machine(&self) -> Option<f64> {
        self.hive_bytes.map(|bytes| bytes as f64 / self.machines.max(1) as f64)
    }
}

struct Context {
    binary: PathBuf,
    work: PathBuf,
    scratch: PathBuf,
    eviction: Eviction,
    warmup_machine: PathBuf,
    warmup_system: PathBuf,
    hivexget: bool,
    problems: Vec<String>,
}

impl Context {
    fn report_path(&self) -> PathBuf {
        self.work.join("report.jsonl")
    }

    /// `scan ROOT --format jsonl -o REPORT -j N`. Never `-o /dev/null`: the output is written to
    /// a temporary file beside the target and renamed over it.
    fn scan_args(&self, root: &Path, jobs: usize) -> Vec<OsString> {
        let mut args: Vec<OsString> = ["scan"].iter().map(OsString::from).collect();
        args.push(root.into());
        args.extend(["--format", "jsonl", "-o"].iter().map(OsString::from));
        args.push(self.report_path().into());
        args.extend([OsString::from("-j"), OsString::from(jobs.to_string())]);
        args
    }

    /// One `rebootscan scan` under GNU time; checks every verdict.
    fn scan(&mut self, label: &str, root: &Path, machines: &[Machine], jobs: usize) -> Result<Measured, String> {
        let args = self.scan_args(root, jobs);
        let usage = measure::timed(self.binary.as_os_str(), &args, &self.scratch).map_err(|e| e.to_string())?;
        if usage.exit_code != Some(0) {
            self.problems.push(format!("{label}: rebootscan exited {:?}: {}", usage.exit_code, usage.stderr.trim()));
        }
        self.check_verdicts(label, machines);
        Ok(Measured { label: label.to_string(), machines: machines.len(), jobs: Some(jobs), usage, hive_bytes: None })
    }

    /// The best (fastest) of `repeats` warm runs, after one untimed run that warms the cache.
    fn scan_warm(
        &mut self,
        label: &str,
        root: &Path,
        machines: &[Machine],
        jobs: usize,
        repeats: usize,
    ) -> Result<Measured, String> {
        self.scan(label, root, machines, jobs)?;
        best_of(repeats, || self.scan(label, root, machines, jobs))
    }

    /// One `rebootscan scan` from cold: evict, run, and count the hive pages it pulled in.
    fn scan_cold(
        &mut self,
        label: &str,
        root: &Path,
        machines: &[Machine],
        jobs: usize,
        all_cold_files: &[PathBuf],
    ) -> Result<Measured, String> {
        self.make_cold(all_cold_files)?;
        let mut run = self.scan(label, root, machines, jobs)?;
        run.hive_bytes = cache::resident_bytes(&all_files(machines));
        Ok(run)
    }

    /// Peak memory of one scan, split into anonymous and file-backed pages (see MemoryPeak).
    fn memory(&mut self, label: &str, root: &Path, machines: &[Machine], jobs: usize) -> Result<MemoryRun, String> {
        let args = self.scan_args(root, jobs);
        let peak: MemoryPeak = measure::memory_peak(self.binary.as_os_str(), &args).map_err(|e| e.to_string())?;
        self.check_verdicts(label, machines);
        Ok(MemoryRun { machines: machines.len(), jobs, peak })
    }

    /// Hive pages (4 KiB) one cold `rebootscan scan TARGET EXTRA…` reads from `files`, counted
    /// with fincore (the scan's own output is checked elsewhere; here only the reads matter).
    fn cold_pages(&mut self, target: &Path, extra: &[&str], files: &[PathBuf]) -> Result<Option<u64>, String> {
        self.make_cold(files)?;
        let report = self.work.join("pages.jsonl");
        Command::new(&self.binary)
            .args([OsStr::new("scan"), target.as_os_str(), OsStr::new("-o"), report.as_os_str()])
            .args(extra)
            .output()
            .map_err(|e| e.to_string())?;
        Ok(cache::resident_bytes(files).map(|bytes| bytes.div_ceil(PAGE_SIZE)))
    }

    /// Evicts `files`, then runs both tools once on a tiny machine so that their own
    /// executables and libraries are cached again: a cold run should count hive reads only.
    fn make_cold(&mut self, files: &[PathBuf]) -> Result<(), String> {
        self.eviction.evict(files).map_err(|e| format!("eviction failed: {e}"))?;
        let report = self.work.join("warmup.jsonl");
        Command::new(&self.binary)
            .args([OsStr::new("scan"), self.warmup_machine.as_os_str(), OsStr::new("-o"), report.as_os_str()])
            .output()
            .map_err(|e| e.to_string())?;
        if self.hivexget {
            Command::new("hivexget")
                .args([self.warmup_system.as_os_str(), OsStr::new(HIVEXGET_KEY), OsStr::new(HIVEXGET_VALUE)])
                .output()
                .map_err(|e| e.to_string())?;
        }
        if let Some(resident) = cache::resident_bytes(files).filter(|&bytes| bytes > 0) {
            self.problems.push(format!(
                "{resident} bytes of the hive files were still cached after eviction: cold figures are optimistic"
            ));
        }
        Ok(())
    }

    /// A benchmark that measured wrong answers measured nothing: every machine must get the
    /// verdict its class calls for, without errors, and CBS-pending machines must list packages.
    fn check_verdicts(&mut self, label: &str, machines: &[Machine]) {
        let expected: HashMap<String, Class> = machines
            .iter()
            .filter_map(|m| Some((m.folder.file_name()?.to_string_lossy().into_owned(), m.class)))
            .collect();
        let text = match std::fs::read_to_string(self.report_path()) {
            Ok(text) => text,
            Err(error) => {
                self.problems.push(format!("{label}: no report: {error}"));
                return;
            }
        };
        let mut seen = 0;
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let Ok(machine) = serde_json::from_str::<serde_json::Value>(line) else {
                self.problems.push(format!("{label}: a report line is not JSON"));
                continue;
            };
            seen += 1;
            let name = machine["machine"].as_str().unwrap_or_default();
            let verdict = machine["verdict"].as_str().unwrap_or_default();
            let Some(class) = expected.get(name) else { continue };
            if verdict != class.expected_verdict() {
                self.problems.push(format!("{label}: {name} ({}) got verdict {verdict}", class.short()));
            }
            if machine["errors"].as_array().is_some_and(|errors| !errors.is_empty()) {
                self.problems.push(format!("{label}: {name} reported errors: {}", machine["errors"]));
            }
            let packages = machine["pending_updates"]["packages"].as_array().map_or(0, Vec::len);
            if *class == Class::Servicing && packages == 0 {
                self.problems.push(format!("{label}: {name}: CBS packages were not listed"));
            }
        }
        if seen != machines.len() {
            self.problems.push(format!("{label}: {seen} machines in the report, {} expected", machines.len()));
        }
    }
}

/// Rule ids from `rebootscan rules --markdown` (`| 1 | `id` | …`).
fn rule_ids(binary: &Path) -> Vec<String> {
    let Some(table) = command_output(&binary.display().to_string(), &["rules", "--markdown"]) else {
        return Vec::new();
    };
    table
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('|').skip(1).map(str::trim);
            // Data rows start with the rule number; the header and the rule line do not.
            let number = cells.next()?;
            let id = cells.next()?.trim_matches('`');
            (number.parse::<u32>().is_ok() && !id.is_empty()).then(|| id.to_string())
        })
        .collect()
}

/// The real-hive corpus (`$REBOOTSCAN_CORPUS` or `../shared/corpus`), if present.
fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("REBOOTSCAN_CORPUS").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    dir.is_dir().then_some(dir)
}

/// The run with the shortest wall time of `count` runs.
fn best_of(count: usize, mut run: impl FnMut() -> Result<Measured, String>) -> Result<Measured, String> {
    let mut runs = (0..count.max(1)).map(|_| run()).collect::<Result<Vec<_>, _>>()?;
    runs.sort_by_key(|measured| measured.usage.wall);
    Ok(runs.swap_remove(0))
}

/// The run with the median wall time of `count` runs: cold runs on a shared disk vary a lot
/// from one eviction to the next, and one unlucky run should not decide a target.
fn median_of(count: usize, mut run: impl FnMut() -> Result<Measured, String>) -> Result<Measured, String> {
    let mut runs = (0..count.max(1)).map(|_| run()).collect::<Result<Vec<_>, _>>()?;
    runs.sort_by_key(|measured| measured.usage.wall);
    let middle = runs.len() / 2;
    Ok(runs.swap_remove(middle))
}

fn all_files(machines: &[Machine]) -> Vec<PathBuf> {
    machines.iter().flat_map(|m| m.files().map(Path::to_path_buf)).collect()
}

// ---- generating --------------------------------------------------------------------------------

fn write_hive(path: &Path, spec: &hive_writer::HiveSpec) -> Result<u64, String> {
    let bytes = spec.build();
    std::fs::write(path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(bytes.len() as u64)
}

fn build_templates(dir: &Path) -> Result<(Templates, Vec<TemplateInfo>), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let templates = Templates {
        system_clean: dir.join("SYSTEM.clean"),
        system_pending: dir.join("SYSTEM.pfro"),
        software_clean: dir.join("SOFTWARE.clean"),
        software_pending: dir.join("SOFTWARE.cbs"),
    };
    let mut infos = Vec::new();
    let mut record = |name, bytes, spec: &hive_writer::HiveSpec| {
        infos.push(TemplateInfo { name, bytes, stats: hives::stats(spec) });
    };

    let mut system = hives::system(&mut random::Rng::new(SYSTEM_SEED));
    record("SYSTEM, clean", write_hive(&templates.system_clean, &system)?, &system);
    hives::make_system_pending(&mut system);
    record("SYSTEM, PendingFileRenameOperations", write_hive(&templates.system_pending, &system)?, &system);
    drop(system);

    let mut software = hives::software(&mut random::Rng::new(SOFTWARE_SEED));
    record("SOFTWARE, clean", write_hive(&templates.software_clean, &software)?, &software);
    hives::make_software_pending(&mut software);
    record("SOFTWARE, CBS reboot pending", write_hive(&templates.software_pending, &software)?, &software);
    Ok((templates, infos))
}

/// A tiny machine used only to bring the tools' executables back into the cache.
fn build_warmup_machine(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let config = dir.join("tiny").join("Windows").join("System32").join("config");
    std::fs::create_dir_all(&config).map_err(|e| e.to_string())?;
    let mut system = hive_writer::HiveSpec::new("ROOT");
    system.set_value("Select", hive_writer::ValueSpec::dword("Current", 1));
    system.set_value(hives::SESSION_MANAGER_KEY, hive_writer::ValueSpec::dword("ProtectionMode", 1));
    let mut software = hive_writer::HiveSpec::new("ROOT");
    software.set_value("Microsoft\\Windows NT\\CurrentVersion", hive_writer::ValueSpec::sz("CurrentBuild", "19045"));
    write_hive(&config.join("SYSTEM"), &system)?;
    write_hive(&config.join("SOFTWARE"), &software)?;
    Ok((dir.join("tiny"), config.join("SYSTEM")))
}

// ---- the run -----------------------------------------------------------------------------------

fn run_servicing(options: &Options, binary: &Path, work: &Path, repeats: usize) -> Result<(), String> {
    if let Some(baseline) = &options.baseline {
        if !baseline.is_file() {
            return Err(format!("--baseline {} is not a file", baseline.display()));
        }
    }
    let (warmup_machine, warmup_system) = build_warmup_machine(&work.join("warmup"))?;
    let eviction = Eviction::choose(options.force_fadvise);
    let mut context = Context {
        binary: binary.to_path_buf(),
        work: work.to_path_buf(),
        scratch: work.join("time.txt"),
        eviction,
        warmup_machine,
        warmup_system,
        hivexget: false,
        problems: Vec::new(),
    };
    if eviction != Eviction::DropCaches {
        println!("scale --servicing: drop_caches refused; cold runs evict with fadvise");
    }
    let setup = servicing::Setup { binary, baseline: options.baseline.as_deref(), work, repeats };
    let section = servicing::run(&mut context, &setup)?;
    println!("\n{section}");
    if let Some(path) = &options.results {
        servicing::write(path, &section).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("scale: figures written to {}", path.display());
    }
    Ok(())
}

fn run(options: &Options) -> Result<(), String> {
    let plan = Plan::new(options.full);
    if !Path::new(measure::GNU_TIME).exists() {
        return Err(format!("{} (GNU time) is needed: apt-get install -y time", measure::GNU_TIME));
    }
    let hivexget = has_command("hivexget");
    if !hivexget {
        println!("scale: hivexget not found, so the reference figures are skipped.");
        println!("       Install it with: apt-get update && apt-get install -y libhivex-bin");
    }
    let binary = options.binary.clone().unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_rebootscan")));
    if !binary.exists() {
        return Err(format!("{} does not exist (build it with cargo build --release)", binary.display()));
    }
    let mut work = WorkDir::create(options.work_dir.as_deref(), options.keep)?;
    let cold_machines: usize = plan.cold_per_class.iter().sum();
    // Templates (~245 MB) + the cold copies (~121 MB each) + room to spare.
    let needed = 250_000_000 + cold_machines as u64 * 125_000_000 + 500_000_000;
    if let Some(free) = free_disk_bytes(&work.path).filter(|&free| free < needed) {
        return Err(format!(
            "{} has {} free; this run needs about {}",
            work.path.display(),
            megabytes(free as f64),
            megabytes(needed as f64)
        ));
    }
    if command_output("stat", &["-f", "-c", "%T", &work.path.display().to_string()]).as_deref() == Some("tmpfs") {
        println!("scale: warning: {} is on tmpfs (memory): cold figures will be meaningless", work.path.display());
    }
    if options.servicing {
        return run_servicing(options, &binary, &work.path, plan.repeats);
    }
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let load_before = load_average();

    println!("scale: generating the templates (SYSTEM ~15 MB, SOFTWARE ~100 MB, clean and pending)…");
    let started = Instant::now();
    let (templates, template_infos) = build_templates(&work.path.join("templates"))?;
    let generation = started.elapsed();
    for info in &template_infos {
        println!(
            "  {:<38} {:>10}  {:>7} keys  {:>7} values",
            info.name,
            megabytes(info.bytes as f64),
            info.stats.keys,
            info.stats.values
        );
    }
    if options.templates_only {
        work.keep = true;
        return Ok(());
    }
    let (warmup_machine, warmup_system) = build_warmup_machine(&work.path.join("warmup"))?;

    println!("scale: laying out machines…");
    let io = |e: std::io::Error| e.to_string();
    let mut warm_sets = Vec::new();
    for (class, count) in Class::ALL.into_iter().zip(plan.warm_per_class) {
        let root = work.path.join(format!("warm-{}", class.short()));
        let machines = fleet::lay_out(&root, &templates, count, Some(class), Placement::HardLink).map_err(io)?;
        warm_sets.push((class, root, machines));
    }
    let mut fleets = Vec::new();
    for size in plan.fleet_sizes {
        let root = work.path.join(format!("fleet-{size}"));
        let machines = fleet::lay_out(&root, &templates, size, None, Placement::HardLink).map_err(io)?;
        fleets.push((root, machines));
    }
    let cold_root = work.path.join("cold");
    let mut cold_sets = Vec::new();
    for (class, count) in Class::ALL.into_iter().zip(plan.cold_per_class) {
        let root = cold_root.join(class.short());
        let machines = fleet::lay_out(&root, &templates, count, Some(class), Placement::Copy).map_err(io)?;
        cold_sets.push((class, root, machines));
    }
    let cold_all: Vec<Machine> = cold_sets.iter().flat_map(|(_, _, machines)| machines.clone()).collect();
    let cold_files = all_files(&cold_all);

    let eviction = Eviction::choose(options.force_fadvise);
    println!(
        "scale: cold runs evict with {}",
        if eviction == Eviction::DropCaches { "drop_caches" } else { "fadvise" }
    );
    let mut context = Context {
        binary: binary.clone(),
        work: work.path.clone(),
        scratch: work.path.join("time.txt"),
        eviction,
        warmup_machine,
        warmup_system,
        hivexget,
        problems: Vec::new(),
    };

    println!("scale: warm, one class at a time (-j 1)…");
    let mut warm_class = Vec::new();
    for (class, root, machines) in &warm_sets {
        let run = context.scan_warm(&format!("warm {}", class.short()), root, machines, 1, plan.repeats)?;
        println!("  {:<6} {} per machine", class.short(), millis(run.per_machine(run.usage.wall)));
        warm_class.push((*class, run));
    }

    println!("scale: warm fleets of {:?} machines (-j {jobs})…", plan.fleet_sizes);
    let mut fleet_runs = Vec::new();
    for (root, machines) in &fleets {
        let label = format!("warm fleet {}", machines.len());
        let run = context.scan_warm(&label, root, machines, jobs, plan.repeats)?;
        println!(
            "  {:>5} machines: {} machines/s, peak RSS {}",
            machines.len(),
            rate(machines.len(), run.usage.wall),
            mebibytes_from_kib(run.usage.max_rss_kib)
        );
        fleet_runs.push(run);
    }

    println!("scale: memory of the fleets, sampled (-j {jobs}) and single-threaded (-j 1)…");
    let mut memory = Vec::new();
    let mut fleet_single_thread = Vec::new();
    for (root, machines) in &fleets {
        memory.push(context.memory(&format!("memory fleet {}", machines.len()), root, machines, jobs)?);
        let run = context.scan(&format!("warm fleet {} -j1", machines.len()), root, machines, 1)?;
        fleet_single_thread.push(run);
    }

    println!("scale: one process per machine, warm…");
    let warm_clean = &warm_sets[0].2[..plan.per_process.min(warm_sets[0].2.len())];
    let folders: Vec<PathBuf> = warm_clean.iter().map(|m| m.folder.clone()).collect();
    let binary_text = binary.display().to_string();
    let rebootscan_loop = [binary_text.as_str(), "scan", ITEM, "--format", "jsonl"];
    let warm_loop = |command: &[&str], items: &[PathBuf], label: &str| {
        // One untimed pass warms the cache; then the fastest of the timed passes counts, as for
        // every warm figure (a loaded machine adds scheduling delays, never removes any).
        measure::timed_per_item(command, items, &context.scratch).map_err(io)?;
        best_of(plan.repeats, || {
            let usage = measure::timed_per_item(command, items, &context.scratch).map_err(io)?;
            Ok(Measured { label: label.into(), machines: items.len(), jobs: None, usage, hive_bytes: None })
        })
    };
    let mut per_process =
        vec![warm_loop(&rebootscan_loop, &folders, "rebootscan, one process per clean machine, warm")?];
    let hivexget_loop = ["hivexget", ITEM, HIVEXGET_KEY, HIVEXGET_VALUE];
    let mut hivexget_warm = None;
    let mut hivexget_output_ok = None;
    if hivexget {
        let systems: Vec<PathBuf> = warm_clean.iter().map(|m| m.system.clone()).collect();
        hivexget_warm = Some(warm_loop(&hivexget_loop, &systems, "hivexget, one SYSTEM, warm")?);
        // hivexget must really read our hives: the pending template's value comes back.
        let output = Command::new("hivexget")
            .args([templates.system_pending.as_os_str(), OsStr::new(HIVEXGET_KEY), OsStr::new(HIVEXGET_VALUE)])
            .output()
            .map_err(io)?;
        let ok = output.status.success() && String::from_utf8_lossy(&output.stdout).contains("wdf0.sys");
        if !ok {
            context.problems.push("hivexget did not return PendingFileRenameOperations from the pending SYSTEM".into());
        }
        hivexget_output_ok = Some(ok);
    }

    println!("scale: cold, one class at a time (-j 1), median of {} evictions…", plan.repeats);
    let mut cold_class = Vec::new();
    for (class, root, machines) in &cold_sets {
        let label = format!("cold {}", class.short());
        let run = median_of(plan.repeats, || context.scan_cold(&label, root, machines, 1, &cold_files))?;
        println!(
            "  {:<6} {} per machine, {} of hive pages read per machine",
            class.short(),
            millis(run.per_machine(run.usage.wall)),
            run.hive_bytes_per_machine().map_or("?".into(), megabytes)
        );
        cold_class.push((*class, run));
    }
    // A cold scan waits on one 4 KiB read after another (each lookup needs the page the previous
    // one pointed to), so threads beyond the core count still help: they keep reads in flight.
    println!("scale: cold, all cold copies together, -j 1, {jobs} and {}…", 4 * jobs);
    let mut cold_mixed = Vec::new();
    for run_jobs in [1, jobs, 4 * jobs] {
        let label = format!("cold mixed -j{run_jobs}");
        let run = median_of(plan.repeats, || context.scan_cold(&label, &cold_root, &cold_all, run_jobs, &cold_files))?;
        println!("  -j {run_jobs}: {} machines/s", rate(cold_all.len(), run.usage.wall));
        cold_mixed.push(run);
    }

    println!("scale: one process per machine, cold…");
    let cold_clean = &cold_sets[0].2;
    let cold_clean_folders: Vec<PathBuf> = cold_clean.iter().map(|m| m.folder.clone()).collect();
    per_process.push(median_of(plan.repeats, || {
        context.make_cold(&cold_files)?;
        let usage = measure::timed_per_item(&rebootscan_loop, &cold_clean_folders, &context.scratch).map_err(io)?;
        Ok(Measured {
            label: "rebootscan, one process per clean machine, cold".into(),
            machines: cold_clean_folders.len(),
            jobs: None,
            usage,
            hive_bytes: cache::resident_bytes(&all_files(cold_clean)),
        })
    })?);
    let mut hivexget_cold = None;
    if hivexget {
        let systems: Vec<PathBuf> = cold_all.iter().map(|m| m.system.clone()).collect();
        hivexget_cold = Some(median_of(plan.repeats, || {
            context.make_cold(&cold_files)?;
            let usage = measure::timed_per_item(&hivexget_loop, &systems, &context.scratch).map_err(io)?;
            Ok(Measured {
                label: "hivexget, one SYSTEM, cold".into(),
                machines: systems.len(),
                jobs: None,
                usage,
                hive_bytes: cache::resident_bytes(&systems),
            })
        })?);
    }

    // Where a clean machine's cold reads go: skip one rule at a time and count what is saved.
    println!("scale: cold pages per rule on one clean machine…");
    let probe = &cold_clean[0];
    let probe_files = all_files(std::slice::from_ref(probe));
    let baseline_pages = context.cold_pages(&probe.folder, &[], &probe_files)?;
    let mut rule_pages = Vec::new();
    if let Some(baseline) = baseline_pages {
        for id in rule_ids(&binary) {
            if let Some(pages) = context.cold_pages(&probe.folder, &["--skip-rule", &id], &probe_files)? {
                rule_pages.push((id, baseline.saturating_sub(pages)));
            }
        }
        rule_pages.sort_by_key(|(_, pages)| std::cmp::Reverse(*pages));
    }

    // Is the generated SYSTEM laid out like a real one? Compare the pages a SYSTEM-only cold scan
    // reads with real hives of the shared corpus, when it is there.
    let mut system_pages = Vec::new();
    let real = corpus_dir().map(|dir| {
        vec![
            ("Windows 7 SP1 (corpus win7/SYSTEM)", dir.join("win7/SYSTEM")),
            ("Windows 10 1903 (corpus win10-1903/SYSTEM, dirty)", dir.join("win10-1903/SYSTEM")),
        ]
    });
    for (name, file) in
        std::iter::once(("generated (this benchmark)", probe.system.clone())).chain(real.into_iter().flatten())
    {
        if !file.is_file() {
            continue;
        }
        let size = std::fs::metadata(&file).map_or(0, |m| m.len());
        if let Some(pages) = context.cold_pages(&file, &[], std::slice::from_ref(&file))? {
            system_pages.push(SystemPages { name, size, pages });
        }
    }

    let results = Results {
        full: options.full,
        generation,
        templates: template_infos,
        eviction,
        load_before,
        load_after: load_average(),
        warm_class,
        fleet: fleet_runs,
        fleet_single_thread,
        memory,
        cold_class,
        cold_mixed,
        per_process,
        hivexget_warm,
        hivexget_cold,
        hivexget_output_ok,
        baseline_pages,
        rule_pages,
        system_pages,
        problems: std::mem::take(&mut context.problems),
    };
    let figures = results.render();
    println!("\n{figures}");
    if let Some(path) = &options.results {
        results::write(path, &figures).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("scale: figures written to {}", path.display());
    }
    Ok(())
}
