//! The `rebootscan` command line: arguments → library calls → output and exit status.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};

use rebootscan::discover::{self, Discovery};
use rebootscan::inspect;
use rebootscan::load::LoadOptions;
use rebootscan::output::{self, AtomicOutput, Inputs, OutputError};
use rebootscan::report;
use rebootscan::report::tables::{DuplicateIndex, TimelineFormat, TimelineWriter};
use rebootscan::report::writer::{OutputFormat, ReportWriter};
use rebootscan::rules::evaluate::PackageScan;
use rebootscan::rules::{RuleOptions, RULES};
use rebootscan::scan::{self, ScanError, ScanOptions, ScanSummary};

/// Writes a line to standard output through an [`Stdout`], which remembers the first failure
/// so that the command exits non-zero when its output could not be written.
macro_rules! out {
    ($out:expr, $($arg:tt)*) => {{
        $out.line(format_args!($($arg)*));
    }};
}

/// Writes a line to standard error. A failed write to stderr (`2>/dev/full`) cannot be
/// reported anywhere, so it is ignored; `eprintln!` would panic instead.
macro_rules! err {
    ($($arg:tt)*) => {{
        // Paths and reasons may come from evidence: escaped like the text report.
        let line = format!($($arg)*);
        // A closed stderr has nowhere to report to; the exit status still tells.
        let _ = writeln!(io::stderr().lock(), "{}", report::escape::text(&line));
    }};
}

/// Standard output for the commands that print lines; see [`out!`].
struct Stdout {
    out: io::StdoutLock<'static>,
    error: Option<io::Error>,
}

impl Stdout {
    fn new() -> Stdout {
        Stdout { out: io::stdout().lock(), error: None }
    }

    /// One line, escaped like the text report (discovery prints paths from the evidence).
    fn line(&mut self, args: std::fmt::Arguments<'_>) {
        if self.error.is_none() {
            let line = args.to_string();
            let escaped = report::escape::text(&line);
            if let Err(error) = self.out.write_all(escaped.as_bytes()).and_then(|()| self.out.write_all(b"\n")) {
                self.error = Some(error);
            }
        }
    }

    fn write_str(&mut self, text: &str) {
        if self.error.is_none() {
            if let Err(error) = self.out.write_all(text.as_bytes()) {
                self.error = Some(error);
            }
        }
    }

    /// The exit status: `code`, or the failure to write standard output.
    fn finish(mut self, code: u8) -> ExitCode {
        if self.error.is_none() {
            if let Err(error) = self.out.flush() {
                self.error = Some(error);
            }
        }
        match self.error {
            None => ExitCode::from(code),
            Some(error) => stdout_failed(&error),
        }
    }
}

/// Standard output could not be written: exit 1. A reader that went away (`| head`) needs no
/// message; anything else (a full disk) is said.
fn stdout_failed(error: &io::Error) -> ExitCode {
    if error.kind() != io::ErrorKind::BrokenPipe {
        err!("rebootscan: error: cannot write to standard output: {error}");
    }
    ExitCode::from(EXIT_FATAL)
}

/// Exit status when every machine was analysed (whatever the verdicts).
const EXIT_OK: u8 = 0;
/// Exit status for a fatal error: nothing to scan, an output refused or not writable
/// (standard output included).
const EXIT_FATAL: u8 = 1;
/// Exit status when at least one input could not be analysed (unreadable or corrupt file,
/// missing path). Takes precedence over `EXIT_PENDING`.
const EXIT_INCOMPLETE: u8 = 3;
/// Exit status with `--fail-on-pending` when at least one machine is pending.
const EXIT_PENDING: u8 = 4;

/// Is a reboot pending on these Windows machines, and what proves it? Reads offline registry
/// hives (SYSTEM, SOFTWARE, COMPONENTS and their .LOG1/.LOG2 transaction logs); never writes
/// to them.
#[derive(Parser)]
#[command(name = "rebootscan", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan machines: each PATH is a hive file, a folder of one machine's hives, or a tree of
    /// collected machines.
    Scan(ScanArgs),
    /// List the machines and hive files a scan of PATH would read, without reading hives.
    Discover {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format: text, or JSON (`{"machines", "skipped", "ignored"}`).
        #[arg(long, value_enum, default_value_t = DiscoverFormat::Text)]
        format: DiscoverFormat,
    },
    /// Show what a hive file is: base block, kind, control sets, dirty state, problems.
    Inspect {
        #[arg(required = true)]
        hives: Vec<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Do not replay transaction logs into dirty hives.
        #[arg(long)]
        no_logs: bool,
    },
    /// Write a recovered, clean copy of a dirty hive (transaction logs replayed) to a new
    /// file, for use in other tools. The input is never modified.
    Recover {
        hive: PathBuf,
        /// The new file to write (must not exist yet).
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
    },
    /// Show the embedded build → cumulative update table: its date, size and source.
    PatchTable,
    /// List every rule (indicator) with its hive, key, condition, strength and source.
    Rules {
        /// Print the table as Markdown (used to generate the README's rule list).
        #[arg(long)]
        markdown: bool,
        /// Print the path classes of PendingFileRenameOperations and the strength each yields
        /// instead of the rules.
        #[arg(long)]
        classes: bool,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Jsonl,
    Csv,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TimelineFileFormat {
    Csv,
    Jsonl,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DiscoverFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Packages {
    /// Only when a servicing indicator fired: every package's state read (the exact list;
    /// ~30,000 keys on a real machine), compared with CBS's records.
    Auto,
    /// The same on every machine.
    Always,
    /// The same as always (kept for scripts written for earlier versions).
    Full,
    /// Only when a servicing indicator fired, and only the packages CBS's records
    /// (PackagesPending, RebootPending) name, each checked (every package when they disagree
    /// with the store): fast, but a pending package the records do not name is missed.
    Records,
    Never,
}

#[derive(clap::Args)]
struct ScanArgs {
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the report to FILE (atomically: a temporary file renamed into place at the end).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also write one CSV row per finding to FILE.
    #[arg(long, value_name = "FILE")]
    findings_csv: Option<PathBuf>,
    /// Also write one CSV row per pending file operation (PendingFileRenameOperations) to FILE.
    #[arg(long, value_name = "FILE")]
    operations_csv: Option<PathBuf>,
    /// Also write every timestamp the run knows to FILE, for Timesketch: CSV, or JSON lines
    /// when FILE ends in .jsonl (or with --timeline-format).
    #[arg(long, value_name = "FILE")]
    timeline: Option<PathBuf>,
    /// Also write one self-contained HTML page to FILE: counts by verdict, charts of pending
    /// days and patch lag, a sortable and filterable machine table, each machine's evidence.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Text: print only the closing summary table (one line per machine).
    #[arg(short, long)]
    quiet: bool,
    /// Format of --timeline (default: from the file name).
    #[arg(long, value_enum, value_name = "FORMAT", requires = "timeline")]
    timeline_format: Option<TimelineFileFormat>,
    /// Write CSV cells as stored: do not put a quote before cells starting with =, +, -, @,
    /// tab or CR (which spreadsheets may run as formulas).
    #[arg(long)]
    csv_raw: bool,
    /// Switch off a rule by id (repeatable); `rebootscan rules` lists the ids.
    #[arg(long = "skip-rule", value_name = "ID")]
    skip_rules: Vec<String>,
    /// Read dirty hives as they are on disk instead of replaying their transaction logs.
    #[arg(long)]
    no_logs: bool,
    /// Report the SHA-256 of every input file (reads every byte of every hive and log).
    #[arg(long)]
    hash: bool,
    /// When to list Component Based Servicing packages that wait for the reboot.
    #[arg(long, value_enum, default_value_t = Packages::Auto)]
    packages: Packages,
    /// Measure "how far behind" at this date (YYYY-MM-DD) instead of the patch table's date.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    as_of: Option<time::Date>,
    /// Exit with status 4 when any machine is pending.
    #[arg(long)]
    fail_on_pending: bool,
    /// List the machines and files that would be scanned, and stop.
    #[arg(long)]
    dry_run: bool,
    /// Worker threads (default: one per core; at least 1).
    #[arg(short = 'j', long, value_name = "N", value_parser = parse_jobs)]
    jobs: Option<usize>,
}

fn parse_jobs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("at least 1 worker thread is needed".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("expected a number of worker threads, such as 4".into()),
    }
}

fn parse_date(text: &str) -> Result<time::Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).map_err(|e| format!("expected a date like 2024-05-31: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Scan(args) => run_scan(args),
        Command::Discover { paths, format } => {
            let discovery = discover::discover(&paths);
            match format {
                DiscoverFormat::Text => print_discovery(&discovery),
                DiscoverFormat::Json => print_discovery_json(&discovery),
            }
        }
        Command::Inspect { hives, json, no_logs } => run_inspect(&hives, json, no_logs),
        Command::Recover { hive, output } => run_recover(&hive, &output),
        Command::Rules { markdown, classes: false } => print_rules(markdown),
        Command::Rules { markdown, classes: true } => print_path_classes(markdown),
        Command::PatchTable => {
            let info = rebootscan::patch::table_info();
            let mut out = Stdout::new();
            out!(out, "table date: {}", info.date);
            out!(out, "releases: {}", info.rows);
            out!(out, "lifecycle rows: {}", info.lifecycle_rows);
            if let Some(newest) = info.newest_release {
                out!(out, "newest release: {newest}");
            }
            out!(out, "source: {}", info.source);
            out.finish(EXIT_OK)
        }
    }
}

fn fatal(message: impl std::fmt::Display) -> ExitCode {
    err!("rebootscan: error: {message}");
    ExitCode::from(EXIT_FATAL)
}

/// What a scan of nothing says, from `scan`, `scan --dry-run` and `discover` alike.
const NOTHING_TO_SCAN: &str =
    "no machine to scan: give a hive file, a folder holding SYSTEM/SOFTWARE/COMPONENTS, or a collection tree";

/// The exit status of a discovery: fatal when there is nothing to scan (as `scan` would be),
/// incomplete when a path was skipped.
fn discovery_status(discovery: &Discovery) -> u8 {
    if discovery.machines.is_empty() {
        err!("rebootscan: error: {NOTHING_TO_SCAN}");
        EXIT_FATAL
    } else if discovery.skipped.is_empty() {
        EXIT_OK
    } else {
        EXIT_INCOMPLETE
    }
}

fn print_discovery_json(discovery: &Discovery) -> ExitCode {
    let mut out = Stdout::new();
    match serde_json::to_string_pretty(discovery) {
        // JSON is exact: serde_json escaped what needs escaping.
        Ok(text) => out.write_str(&format!("{text}\n")),
        Err(error) => return fatal(format!("cannot encode the discovery as JSON: {error}")),
    }
    let status = discovery_status(discovery);
    out.finish(status)
}

fn print_discovery(discovery: &Discovery) -> ExitCode {
    let mut out = Stdout::new();
    for machine in &discovery.machines {
        out!(out, "{}", machine.label);
        for hive in &machine.hives {
            out!(out, "  {}", hive.display());
        }
    }
    for skipped in &discovery.skipped {
        out!(out, "skipped: {}: {}", skipped.path, skipped.reason);
    }
    for ignored in &discovery.ignored {
        out!(out, "ignored: {}: {}", ignored.path, ignored.reason);
    }
    out!(out, "{} machine(s), {} path(s) skipped", discovery.machines.len(), discovery.skipped.len());
    let status = discovery_status(discovery);
    out.finish(status)
}

fn run_inspect(hives: &[PathBuf], json: bool, no_logs: bool) -> ExitCode {
    let options = LoadOptions { replay_logs: !no_logs };
    let mut failed = false;
    let inspections: Vec<inspect::Inspection> = hives.iter().map(|h| inspect::inspect(h, options)).collect();
    for inspection in &inspections {
        failed |= !inspection.errors.is_empty();
    }
    let mut out = Stdout::new();
    if json {
        match serde_json::to_string_pretty(&inspections) {
            // JSON is exact: serde_json escaped what needs escaping.
            Ok(text) => out.write_str(&format!("{text}\n")),
            Err(error) => return fatal(format!("cannot encode the inspection as JSON: {error}")),
        }
    } else {
        for inspection in &inspections {
            out.write_str(&inspect::render(inspection));
        }
    }
    out.finish(if failed { EXIT_INCOMPLETE } else { EXIT_OK })
}

fn run_recover(hive_path: &Path, output: &Path) -> ExitCode {
    const WHAT: &str = "the recovered hive";
    let mut inputs = Inputs::default();
    inputs.add_hive(hive_path);
    // Refused before any work: an input, a special file, or an existing file.
    if let Err(error) = output::check_target(WHAT, output, &inputs) {
        return fatal(error);
    }
    if std::fs::symlink_metadata(output).is_ok() {
        return fatal(OutputError::Exists { what: WHAT, target: output.to_path_buf() });
    }
    let hive = match rebootscan::load::HiveFile::open(hive_path, LoadOptions::default()) {
        Ok(hive) => hive,
        Err(error) => return fatal(error),
    };
    let summary = match &hive.log_replay {
        None => "the hive is clean: the copy is identical to the input".to_string(),
        Some(replay) if replay.applied => replay.report.as_ref().map(|r| r.summary()).unwrap_or_default(),
        Some(replay) => {
            let why = replay.report.as_ref().map(|r| r.summary()).unwrap_or_default();
            return fatal(format!("{}: nothing could be recovered ({why}); no file written", hive_path.display()));
        }
    };
    // Written atomically and never over an existing file, so neither the evidence nor an
    // earlier result can be overwritten, and a failure leaves no partial file.
    let file = match AtomicOutput::create_new(WHAT, output, &inputs) {
        Ok(file) => file,
        Err(error) => return fatal(error),
    };
    if let Err(error) = file.file().write_all(hive.bytes()) {
        return fatal(file.write_error(error));
    }
    if let Some(change) = hive.changed_while_read() {
        return fatal(format!("{}: {change}; no file written", hive_path.display()));
    }
    match file.commit_new() {
        Ok(()) => {
            err!("rebootscan: {}: {summary}", hive_path.display());
            err!("rebootscan: wrote {} ({} bytes)", output.display(), hive.bytes().len());
            ExitCode::from(EXIT_OK)
        }
        Err(error) => fatal(error),
    }
}

fn print_rules(markdown: bool) -> ExitCode {
    let mut out = Stdout::new();
    if markdown {
        out!(out, "| # | id | hive | key | value | pending when | strength | volatile |");
        out!(out, "|---|---|---|---|---|---|---|---|");
        for rule in RULES {
            out!(
                out,
                "| {} | `{}` | {} | `{}` | {} | {} | {} | {} |",
                rule.number,
                rule.id,
                rule.hive.label(),
                rule.keys
                    .iter()
                    .map(|k| if k.is_empty() { "(hive root)" } else { k })
                    .collect::<Vec<_>>()
                    .join("` or `"),
                rule.value.map(|v| format!("`{v}`")).unwrap_or_else(|| "(key)".into()),
                rule.pending_when.replace('|', "\\|"),
                rule.strength.label(),
                match rule.volatility {
                    rebootscan::rules::Volatility::Volatile => "yes",
                    rebootscan::rules::Volatility::Persistent => "no",
                    rebootscan::rules::Volatility::Unknown => "unknown",
                }
            );
        }
    } else {
        for rule in RULES {
            out!(out, "{:<40} {:<10} {:<8} {}", rule.id, rule.hive.label(), rule.strength.label(), rule.explanation);
            for key in rule.keys {
                let value = rule.value.map(|v| format!(" : {v}")).unwrap_or_default();
                out!(out, "    {key}{value}");
            }
            out!(out, "    pending when: {}; source: {}", rule.pending_when, rule.source);
        }
    }
    out.finish(EXIT_OK)
}

fn print_path_classes(markdown: bool) -> ExitCode {
    let mut out = Stdout::new();
    use rebootscan::rules::pfro::{Applies, CLASS_STRENGTHS, PATH_CLASSES, TEMP_EXTENSIONS};
    let folder = |row: &rebootscan::rules::pfro::PathClass| {
        if row.under.is_empty() {
            row.anchor.label().to_string()
        } else {
            format!("{}\\{}", row.anchor.label(), row.under)
        }
    };
    let applies = |row: &rebootscan::rules::pfro::PathClass| match row.applies {
        Applies::Any => "deletes and rename targets",
        Applies::DeleteOnly => "deletes only",
    };
    if markdown {
        out!(out, "| class | strength | meaning |");
        out!(out, "|---|---|---|");
        for class in CLASS_STRENGTHS {
            out!(out, "| `{}` | {} | {} |", class.class.label(), class.strength.label(), class.meaning);
        }
        out!(out, "");
        out!(out, "| # | folder (and everything below it) | applies to | class | why |");
        out!(out, "|---|---|---|---|---|");
        for (index, row) in PATH_CLASSES.iter().enumerate() {
            out!(
                out,
                "| {} | `{}` | {} | `{}` | {} |",
                index + 1,
                folder(row),
                applies(row),
                row.class.label(),
                row.why
            );
        }
        out!(out, "");
        out!(out,
            "A delete of a file ending in {} is `temp_cleanup` wherever it is; so is a rename to such a name outside every folder above. Anything else is `other`.",
            TEMP_EXTENSIONS.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
        );
    } else {
        for class in CLASS_STRENGTHS {
            out!(out, "{:<16} {:<8} {}", class.class.label(), class.strength.label(), class.meaning);
        }
        out!(out, "");
        for row in PATH_CLASSES {
            out!(out, "{:<16} {:<60} {} ({})", row.class.label(), folder(row), row.why, applies(row));
        }
        out!(out, "temp_cleanup     any delete of a file ending in {}", TEMP_EXTENSIONS.join(" "));
    }
    out.finish(EXIT_OK)
}

/// The output files a scan writes, by option, for the checks that apply to all of them.
fn output_paths(args: &ScanArgs) -> Vec<(&'static str, &Path)> {
    let mut outputs: Vec<(&'static str, &Path)> = Vec::new();
    if let Some(path) = &args.output {
        outputs.push(("-o", path));
    }
    if let Some(path) = &args.findings_csv {
        outputs.push(("--findings-csv", path));
    }
    if let Some(path) = &args.operations_csv {
        outputs.push(("--operations-csv", path));
    }
    if let Some(path) = &args.timeline {
        outputs.push(("--timeline", path));
    }
    if let Some(path) = &args.html {
        outputs.push(("--html", path));
    }
    outputs
}

/// A path as the file system would resolve it: the folder canonicalised (it exists, or
/// writing fails anyway), the file name as given.
fn resolved(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match (std::fs::canonicalize(dir), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// Two options naming the same output file would have one report replace the other.
fn check_outputs(args: &ScanArgs) -> Result<(), String> {
    let outputs = output_paths(args);
    for (i, (option, path)) in outputs.iter().enumerate() {
        if let Some((other, _)) = outputs[..i].iter().find(|(_, earlier)| resolved(earlier) == resolved(path)) {
            return Err(format!("{other} and {option} both name {}: give each output its own file", path.display()));
        }
    }
    Ok(())
}

/// A usage error (exit status 2), printed the way clap prints its own.
fn usage_error(message: impl std::fmt::Display) -> ! {
    use clap::CommandFactory;
    let mut cli = Cli::command();
    cli.build();
    let kind = clap::error::ErrorKind::InvalidValue;
    match cli.find_subcommand_mut("scan") {
        Some(scan) => scan.error(kind, message).exit(),
        None => cli.error(kind, message).exit(),
    }
}

fn run_scan(args: ScanArgs) -> ExitCode {
    let started = Instant::now();
    // Checked before anything is read or written; `scan_all` checks again for library callers.
    if let Err(unknown) = rebootscan::rules::validate_ids(&args.skip_rules) {
        usage_error(format!("--skip-rule {unknown}"));
    }
    if let Err(message) = check_outputs(&args) {
        usage_error(message);
    }
    // Discovery happens before any output is created, so a report written into a scanned
    // folder (or its temporary file) never becomes input of this run.
    let discovery = discover::discover(&args.paths);
    for skipped in &discovery.skipped {
        err!("rebootscan: skipped {}: {}", skipped.path, skipped.reason);
    }
    for ignored in &discovery.ignored {
        err!("rebootscan: ignored {}: {}", ignored.path, ignored.reason);
    }
    if args.dry_run {
        return match args.format {
            Format::Json | Format::Jsonl => print_discovery_json(&discovery),
            Format::Text | Format::Csv => print_discovery(&discovery),
        };
    }
    if discovery.machines.is_empty() {
        return fatal(NOTHING_TO_SCAN);
    }
    let inputs = Inputs::of_discovery(&discovery);
    let mut targets: Vec<(&'static str, &Path)> = Vec::new();
    if let Some(path) = &args.output {
        targets.push((REPORT, path));
    }
    for (what, path) in side_paths(&args) {
        targets.push((what, path));
    }
    if let Err(error) = output::check_targets(&targets, &inputs) {
        return fatal(error);
    }
    let options = ScanOptions {
        load: LoadOptions { replay_logs: !args.no_logs },
        rules: RuleOptions {
            skip: args.skip_rules.clone(),
            as_of: args.as_of,
            package_scan: match args.packages {
                Packages::Auto => PackageScan::WhenServicingPending,
                Packages::Always => PackageScan::Always,
                Packages::Full => PackageScan::Full,
                Packages::Records => PackageScan::Records,
                Packages::Never => PackageScan::Never,
            },
        },
        hash: args.hash,
        jobs: args.jobs,
    };

    let report_file = match &args.output {
        Some(path) => match AtomicOutput::create(REPORT, path, &inputs) {
            Ok(file) => Some(file),
            Err(error) => return fatal(error),
        },
        None => None,
    };
    // Every side output (findings CSV, operations CSV, timeline, HTML) goes through the same guard.
    let mut sides = Vec::new();
    for (what, path) in side_paths(&args) {
        match AtomicOutput::create(what, path, &inputs) {
            Ok(file) => sides.push(file),
            Err(error) => return fatal(error),
        }
    }
    let side = |what: &str| sides.iter().find(|file| file.what() == what);
    let files = SideFiles {
        findings: side(FINDINGS_CSV),
        operations: side(OPERATIONS_CSV),
        timeline: side(TIMELINE),
        html: side(HTML_REPORT),
    };
    let result = match &report_file {
        Some(file) => scan_into(&args, &options, &discovery, BufWriter::new(file.file()), &files),
        None => scan_into(&args, &options, &discovery, BufWriter::new(io::stdout().lock()), &files),
    };
    let tally = match result {
        Ok(tally) => tally,
        Err(ScanFailure::Scan(message)) => return fatal(message),
        Err(ScanFailure::Write(None, error)) => {
            return match &report_file {
                Some(file) => fatal(file.write_error(error)),
                None => stdout_failed_report(&error),
            }
        }
        Err(ScanFailure::Write(Some(what), error)) => {
            return match sides.iter().find(|file| file.what() == what) {
                Some(file) => fatal(file.write_error(error)),
                None => fatal(format!("cannot write {what}: {error}")),
            }
        }
    };
    // Every file is complete before any is renamed into place.
    for file in report_file.into_iter().chain(sides) {
        if let Err(error) = file.commit() {
            return fatal(error);
        }
    }
    err!(
        "rebootscan: {} machine(s) scanned: {} pending, {} unknown, {} with errors, {} path(s) skipped, in {:.2} s",
        tally.machines,
        tally.pending,
        tally.unknown,
        tally.with_errors,
        discovery.skipped.len(),
        started.elapsed().as_secs_f64()
    );
    if tally.with_errors > 0 || !discovery.skipped.is_empty() {
        ExitCode::from(EXIT_INCOMPLETE)
    } else if args.fail_on_pending && tally.pending > 0 {
        ExitCode::from(EXIT_PENDING)
    } else {
        ExitCode::from(EXIT_OK)
    }
}

/// Names of the scan's outputs in messages.
const REPORT: &str = "the report";
const FINDINGS_CSV: &str = "the findings CSV";
const OPERATIONS_CSV: &str = "the operations CSV";
const TIMELINE: &str = "the timeline";
const HTML_REPORT: &str = "the HTML report";

/// The side outputs asked for, by name.
fn side_paths(args: &ScanArgs) -> Vec<(&'static str, &Path)> {
    let mut paths: Vec<(&'static str, &Path)> = Vec::new();
    for (what, path) in [
        (FINDINGS_CSV, &args.findings_csv),
        (OPERATIONS_CSV, &args.operations_csv),
        (TIMELINE, &args.timeline),
        (HTML_REPORT, &args.html),
    ] {
        if let Some(path) = path {
            paths.push((what, path));
        }
    }
    paths
}

/// The side output files of a scan, created and checked.
struct SideFiles<'a> {
    findings: Option<&'a AtomicOutput>,
    operations: Option<&'a AtomicOutput>,
    timeline: Option<&'a AtomicOutput>,
    html: Option<&'a AtomicOutput>,
}

/// The report could not be written to standard output.
fn stdout_failed_report(error: &io::Error) -> ExitCode {
    if error.kind() == io::ErrorKind::BrokenPipe {
        return ExitCode::from(EXIT_FATAL);
    }
    fatal(format!("cannot write the report to standard output: {error}"))
}

/// Why a scan stopped before its end.
enum ScanFailure {
    /// The scan could not start (threads, rule ids): the message.
    Scan(String),
    /// An output could not be written: the report (`None`) or a side output, by name.
    Write(Option<&'static str>, io::Error),
}

fn scan_into<W: Write>(
    args: &ScanArgs,
    options: &ScanOptions,
    discovery: &Discovery,
    out: W,
    files: &SideFiles<'_>,
) -> Result<ScanSummary, ScanFailure> {
    let report = |e: io::Error| ScanFailure::Write(None, e);
    let side = |what: &'static str| move |e: io::Error| ScanFailure::Write(Some(what), e);
    let progress = (io::stderr().is_terminal() && discovery.machines.len() > 1).then(|| {
        let bar = indicatif::ProgressBar::new(discovery.machines.len() as u64);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} machines, {elapsed} elapsed, ~{eta} left")
        {
            bar.set_style(style);
        }
        bar
    });
    let format = match args.format {
        Format::Text => OutputFormat::Text,
        Format::Json => OutputFormat::Json,
        Format::Jsonl => OutputFormat::Jsonl,
        Format::Csv => OutputFormat::Csv,
    };
    // Colour only on a terminal, and never with NO_COLOR set (https://no-color.org).
    let colour = args.output.is_none()
        && io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut writer = ReportWriter::new(format, out)
        .map_err(report)?
        .csv_raw(args.csv_raw)
        .with_text_options(report::text::Style { colour }, args.quiet);
    let mut findings_csv = csv_file(files.findings, FINDINGS_CSV, report::csv::FINDING_COLUMNS)?;
    let mut operations_csv = csv_file(files.operations, OPERATIONS_CSV, report::tables::OPERATION_COLUMNS)?;
    let mut timeline = match files.timeline {
        Some(file) => {
            let format = match (args.timeline_format, &args.timeline) {
                (Some(TimelineFileFormat::Csv), _) => TimelineFormat::Csv,
                (Some(TimelineFileFormat::Jsonl), _) => TimelineFormat::Jsonl,
                (None, Some(path)) => TimelineFormat::for_path(path),
                (None, None) => TimelineFormat::Csv,
            };
            Some(
                TimelineWriter::new(format, BufWriter::new(file.file())).map_err(side(TIMELINE))?.csv_raw(args.csv_raw),
            )
        }
        None => None,
    };
    let mut html = match files.html {
        Some(file) => Some(report::html::HtmlWriter::new(BufWriter::new(file.file())).map_err(side(HTML_REPORT))?),
        None => None,
    };
    let mut duplicates = DuplicateIndex::default();
    let tick = || {
        if let Some(bar) = &progress {
            bar.inc(1);
        }
    };
    let raw = args.csv_raw;
    let scanned = scan::scan_all_with_progress(discovery, options, &tick, |mut machine| -> Result<(), ScanFailure> {
        duplicates.mark(&mut machine);
        writer.write(&machine).map_err(report)?;
        if let Some(csv) = &mut findings_csv {
            for row in report::csv::finding_rows(&machine) {
                csv.write_record(report::escape::csv_row(row, raw)).map_err(|e| side(FINDINGS_CSV)(csv_io_error(e)))?;
            }
        }
        if let Some(csv) = &mut operations_csv {
            for row in report::tables::operation_rows(&machine) {
                csv.write_record(report::escape::csv_row(row, raw))
                    .map_err(|e| side(OPERATIONS_CSV)(csv_io_error(e)))?;
            }
        }
        if let Some(timeline) = &mut timeline {
            timeline.write(&machine).map_err(side(TIMELINE))?;
        }
        if let Some(html) = &mut html {
            html.write(&machine).map_err(side(HTML_REPORT))?;
        }
        Ok(())
    });
    let summary = match scanned {
        Ok(summary) => summary,
        Err(ScanError::Sink(failure)) => return Err(failure),
        Err(ScanError::UnknownRule(unknown)) => return Err(ScanFailure::Scan(format!("--skip-rule {unknown}"))),
        Err(ScanError::Threads { jobs, reason }) => {
            return Err(ScanFailure::Scan(format!("cannot start {jobs} worker threads: {reason}")))
        }
    };
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    writer.finish(discovery).map_err(report)?;
    for (csv, what) in [(findings_csv, FINDINGS_CSV), (operations_csv, OPERATIONS_CSV)] {
        if let Some(csv) = csv {
            csv.into_inner().map_err(|e| side(what)(e.into_error()))?.flush().map_err(side(what))?;
        }
    }
    if let Some(timeline) = timeline {
        timeline.finish().map_err(side(TIMELINE))?;
    }
    if let Some(html) = html {
        html.finish().map_err(side(HTML_REPORT))?;
    }
    Ok(summary)
}

/// A CSV writer over a side output, header first.
fn csv_file<'a>(
    file: Option<&'a AtomicOutput>,
    what: &'static str,
    columns: &[&str],
) -> Result<Option<csv::Writer<BufWriter<&'a std::fs::File>>>, ScanFailure> {
    match file {
        Some(file) => report::csv::writer(BufWriter::new(file.file()), columns)
            .map(Some)
            .map_err(|e| ScanFailure::Write(Some(what), csv_io_error(e))),
        None => Ok(None),
    }
}

/// The I/O error inside a CSV error (the csv crate wraps them), so messages read as the OS's.
fn csv_io_error(error: csv::Error) -> io::Error {
    let message = error.to_string();
    match error.into_kind() {
        csv::ErrorKind::Io(error) => error,
        _ => io::Error::other(message),
    }
}
