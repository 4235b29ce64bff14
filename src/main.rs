//! The `rebootscan` command line: arguments → library calls → output and exit status.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};

use rebootscan::discover::{self, Discovery};
use rebootscan::inspect;
use rebootscan::load::LoadOptions;
use rebootscan::report;
use rebootscan::report::tables::{DuplicateIndex, TimelineFormat, TimelineWriter};
use rebootscan::report::writer::{OutputFormat, ReportWriter};
use rebootscan::rules::evaluate::PackageScan;
use rebootscan::rules::{RuleOptions, RULES};
use rebootscan::scan::{self, ScanError, ScanOptions, ScanSummary};

/// Writes a line to standard output, ignoring errors: when the reader of a pipe goes away
/// (`rebootscan rules | head`), the rest of the output is simply not wanted.
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(io::stdout().lock(), $($arg)*);
    }};
}

/// Exit status when every machine was analysed (whatever the verdicts).
const EXIT_OK: u8 = 0;
/// Exit status for a fatal error: nothing to scan, output not writable.
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
    /// Only when a servicing indicator fired: the packages CBS's records (PackagesPending,
    /// RebootPending) name, each checked; every package when the records name none or disagree.
    Auto,
    /// The same on every machine.
    Always,
    /// Every machine, every package read (exhaustive; ~30,000 keys on a real machine).
    Full,
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
    /// Text: print only the closing summary table (one line per machine).
    #[arg(short, long)]
    quiet: bool,
    /// Format of --timeline (default: from the file name).
    #[arg(long, value_enum, value_name = "FORMAT", requires = "timeline")]
    timeline_format: Option<TimelineFileFormat>,
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
            out!("table date: {}", info.date);
            out!("releases: {}", info.rows);
            out!("lifecycle rows: {}", info.lifecycle_rows);
            if let Some(newest) = info.newest_release {
                out!("newest release: {newest}");
            }
            out!("source: {}", info.source);
            ExitCode::from(EXIT_OK)
        }
    }
}

fn fatal(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("rebootscan: error: {message}");
    ExitCode::from(EXIT_FATAL)
}

/// What a scan of nothing says, from `scan`, `scan --dry-run` and `discover` alike.
const NOTHING_TO_SCAN: &str =
    "no machine to scan: give a hive file, a folder holding SYSTEM/SOFTWARE/COMPONENTS, or a collection tree";

/// The exit status of a discovery: fatal when there is nothing to scan (as `scan` would be),
/// incomplete when a path was skipped.
fn discovery_status(discovery: &Discovery) -> ExitCode {
    if discovery.machines.is_empty() {
        fatal(NOTHING_TO_SCAN)
    } else if discovery.skipped.is_empty() {
        ExitCode::from(EXIT_OK)
    } else {
        ExitCode::from(EXIT_INCOMPLETE)
    }
}

fn print_discovery_json(discovery: &Discovery) -> ExitCode {
    match serde_json::to_string_pretty(discovery) {
        Ok(text) => out!("{text}"),
        Err(error) => return fatal(error),
    }
    discovery_status(discovery)
}

fn print_discovery(discovery: &Discovery) -> ExitCode {
    let mut out = io::stdout().lock();
    for machine in &discovery.machines {
        let _ = writeln!(out, "{}", machine.label);
        for hive in &machine.hives {
            let _ = writeln!(out, "  {}", hive.display());
        }
    }
    for skipped in &discovery.skipped {
        let _ = writeln!(out, "skipped: {}: {}", skipped.path, skipped.reason);
    }
    for ignored in &discovery.ignored {
        let _ = writeln!(out, "ignored: {}: {}", ignored.path, ignored.reason);
    }
    let _ = writeln!(out, "{} machine(s), {} path(s) skipped", discovery.machines.len(), discovery.skipped.len());
    drop(out);
    discovery_status(discovery)
}

fn run_inspect(hives: &[PathBuf], json: bool, no_logs: bool) -> ExitCode {
    let options = LoadOptions { replay_logs: !no_logs };
    let mut failed = false;
    let inspections: Vec<inspect::Inspection> = hives.iter().map(|h| inspect::inspect(h, options)).collect();
    for inspection in &inspections {
        failed |= !inspection.errors.is_empty();
    }
    if json {
        match serde_json::to_string_pretty(&inspections) {
            Ok(text) => out!("{text}"),
            Err(error) => return fatal(error),
        }
    } else {
        for inspection in &inspections {
            let _ = write!(io::stdout().lock(), "{}", inspect::render(inspection));
        }
    }
    ExitCode::from(if failed { EXIT_INCOMPLETE } else { EXIT_OK })
}

fn run_recover(hive_path: &Path, output: &Path) -> ExitCode {
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
    // `create_new` refuses an existing file, so neither the evidence nor an earlier result
    // can be overwritten.
    let written = std::fs::OpenOptions::new().write(true).create_new(true).open(output).and_then(|mut file| {
        file.write_all(hive.bytes())?;
        file.sync_all()
    });
    match written {
        Ok(()) => {
            eprintln!("rebootscan: {}: {summary}", hive_path.display());
            eprintln!("rebootscan: wrote {} ({} bytes)", output.display(), hive.bytes().len());
            ExitCode::from(EXIT_OK)
        }
        Err(error) => fatal(format!("cannot write {}: {error} (the output must be a new file)", output.display())),
    }
}

fn print_rules(markdown: bool) -> ExitCode {
    if markdown {
        out!("| # | id | hive | key | value | pending when | strength | volatile |");
        out!("|---|---|---|---|---|---|---|---|");
        for rule in RULES {
            out!(
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
            out!("{:<40} {:<10} {:<8} {}", rule.id, rule.hive.label(), rule.strength.label(), rule.explanation);
            for key in rule.keys {
                let value = rule.value.map(|v| format!(" : {v}")).unwrap_or_default();
                out!("    {key}{value}");
            }
            out!("    pending when: {}; source: {}", rule.pending_when, rule.source);
        }
    }
    ExitCode::from(EXIT_OK)
}

fn print_path_classes(markdown: bool) -> ExitCode {
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
        out!("| class | strength | meaning |");
        out!("|---|---|---|");
        for class in CLASS_STRENGTHS {
            out!("| `{}` | {} | {} |", class.class.label(), class.strength.label(), class.meaning);
        }
        out!();
        out!("| # | folder (and everything below it) | applies to | class | why |");
        out!("|---|---|---|---|---|");
        for (index, row) in PATH_CLASSES.iter().enumerate() {
            out!("| {} | `{}` | {} | `{}` | {} |", index + 1, folder(row), applies(row), row.class.label(), row.why);
        }
        out!();
        out!(
            "A delete of a file ending in {} is `temp_cleanup` wherever it is; so is a rename to such a name outside every folder above. Anything else is `other`.",
            TEMP_EXTENSIONS.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ")
        );
    } else {
        for class in CLASS_STRENGTHS {
            out!("{:<16} {:<8} {}", class.class.label(), class.strength.label(), class.meaning);
        }
        out!();
        for row in PATH_CLASSES {
            out!("{:<16} {:<60} {} ({})", row.class.label(), folder(row), row.why, applies(row));
        }
        out!("temp_cleanup     any delete of a file ending in {}", TEMP_EXTENSIONS.join(" "));
    }
    ExitCode::from(EXIT_OK)
}

/// An output file beside the main report (findings CSV, operations CSV, timeline, HTML),
/// written atomically like `-o`. Every such file is opened here, so the checks that apply to
/// outputs apply to all of them.
struct SideOutput {
    output: AtomicOutput,
    path: PathBuf,
}

impl SideOutput {
    fn create(path: &Path, what: &str) -> io::Result<SideOutput> {
        AtomicOutput::create(path).map(|output| SideOutput { output, path: path.to_path_buf() }).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot write {what} to {}: {e}{OUTPUT_HINT}", path.display()))
        })
    }

    fn writer(&self) -> io::Result<BufWriter<std::fs::File>> {
        self.output.temp.reopen().map(BufWriter::new)
    }

    fn commit(self) -> io::Result<()> {
        let path = self.path;
        self.output.commit().map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
    }
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

/// An output file written atomically: a temporary file beside the target, renamed into place
/// only when the whole report has been written.
struct AtomicOutput {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl AtomicOutput {
    fn create(target: &Path) -> io::Result<AtomicOutput> {
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        // Checked first so the error is the OS's plain reason, not tempfile's message about
        // its random temporary name.
        if !std::fs::metadata(dir)?.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, format!("{} is not a folder", dir.display())));
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix(".rebootscan-").suffix(".partial");
        // A report is an ordinary file: the usual mode under the user's umask (tempfile's
        // default, 0600, would survive the rename).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let temp = builder.tempfile_in(dir)?;
        Ok(AtomicOutput { temp, target: target.to_path_buf() })
    }

    fn commit(self) -> io::Result<()> {
        self.temp.persist(&self.target).map(|_| ()).map_err(|e| e.error)
    }
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
    let discovery = discover::discover(&args.paths);
    for skipped in &discovery.skipped {
        eprintln!("rebootscan: skipped {}: {}", skipped.path, skipped.reason);
    }
    for ignored in &discovery.ignored {
        eprintln!("rebootscan: ignored {}: {}", ignored.path, ignored.reason);
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
    let options = ScanOptions {
        load: LoadOptions { replay_logs: !args.no_logs },
        rules: RuleOptions {
            skip: args.skip_rules.clone(),
            as_of: args.as_of,
            package_scan: match args.packages {
                Packages::Auto => PackageScan::WhenServicingPending,
                Packages::Always => PackageScan::Always,
                Packages::Full => PackageScan::Full,
                Packages::Never => PackageScan::Never,
            },
        },
        hash: args.hash,
        jobs: args.jobs,
    };

    // Only an output that cannot be written is reported against the output file.
    let describe = |error: ScanError<io::Error>, target: &str| match error {
        ScanError::Sink(error) => format!("cannot write the report to {target}: {error}{OUTPUT_HINT}"),
        ScanError::UnknownRule(unknown) => format!("--skip-rule {unknown}"),
        other => other.to_string(),
    };
    let result = match &args.output {
        Some(path) => match AtomicOutput::create(path) {
            Ok(output) => scan_into(&args, &options, &discovery, BufWriter::new(output.temp.as_file()))
                .and_then(|tally| output.commit().map(|_| tally).map_err(ScanError::Sink))
                .map_err(|e| describe(e, &path.display().to_string())),
            Err(error) => Err(format!("cannot write the report to {}: {error}{OUTPUT_HINT}", path.display())),
        },
        None => scan_into(&args, &options, &discovery, BufWriter::new(io::stdout().lock())).map_err(|e| match e {
            ScanError::Sink(error) => error.to_string(),
            other => describe(other, "standard output"),
        }),
    };
    let tally = match result {
        Ok(summary) => summary,
        Err(message) => return fatal(message),
    };
    eprintln!(
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

/// What to do when an output file cannot be written.
const OUTPUT_HINT: &str = " (choose a folder that exists and that you may write to)";

fn scan_into<W: Write>(
    args: &ScanArgs,
    options: &ScanOptions,
    discovery: &Discovery,
    out: W,
) -> Result<ScanSummary, ScanError<io::Error>> {
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
        .map_err(ScanError::Sink)?
        .with_text_options(report::text::Style { colour }, args.quiet);
    let side = |path: &Option<PathBuf>, what: &str| -> Result<Option<SideOutput>, ScanError<io::Error>> {
        path.as_deref().map(|path| SideOutput::create(path, what)).transpose().map_err(ScanError::Sink)
    };
    let mut findings_csv = match side(&args.findings_csv, "the findings CSV")? {
        Some(output) => {
            let writer = report::csv::writer(output.writer().map_err(ScanError::Sink)?, report::csv::FINDING_COLUMNS)
                .map_err(|e| ScanError::Sink(io::Error::other(e)))?;
            Some((output, writer))
        }
        None => None,
    };
    let mut operations_csv = match side(&args.operations_csv, "the operations CSV")? {
        Some(output) => {
            let writer =
                report::csv::writer(output.writer().map_err(ScanError::Sink)?, report::tables::OPERATION_COLUMNS)
                    .map_err(|e| ScanError::Sink(io::Error::other(e)))?;
            Some((output, writer))
        }
        None => None,
    };
    let mut timeline = match side(&args.timeline, "the timeline")? {
        Some(output) => {
            let format = match (args.timeline_format, &args.timeline) {
                (Some(TimelineFileFormat::Csv), _) => TimelineFormat::Csv,
                (Some(TimelineFileFormat::Jsonl), _) => TimelineFormat::Jsonl,
                (None, Some(path)) => TimelineFormat::for_path(path),
                (None, None) => TimelineFormat::Csv,
            };
            let writer =
                TimelineWriter::new(format, output.writer().map_err(ScanError::Sink)?).map_err(ScanError::Sink)?;
            Some((output, writer))
        }
        None => None,
    };
    let mut duplicates = DuplicateIndex::default();
    let tick = || {
        if let Some(bar) = &progress {
            bar.inc(1);
        }
    };
    let scanned = scan::scan_all_with_progress(discovery, options, &tick, |mut machine| -> io::Result<()> {
        duplicates.mark(&mut machine);
        writer.write(&machine)?;
        if let Some((_, findings)) = &mut findings_csv {
            for row in report::csv::finding_rows(&machine) {
                findings.write_record(row).map_err(io::Error::other)?;
            }
        }
        if let Some((_, operations)) = &mut operations_csv {
            for row in report::tables::operation_rows(&machine) {
                operations.write_record(row).map_err(io::Error::other)?;
            }
        }
        if let Some((_, timeline)) = &mut timeline {
            timeline.write(&machine)?;
        }
        Ok(())
    });
    let summary = scanned?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    writer.finish(discovery).map_err(ScanError::Sink)?;
    for (output, csv) in [findings_csv, operations_csv].into_iter().flatten() {
        let flushed = csv.into_inner().map_err(|e| io::Error::other(e.to_string())).and_then(|mut f| f.flush());
        flushed.and_then(|()| output.commit()).map_err(ScanError::Sink)?;
    }
    if let Some((output, timeline)) = timeline {
        timeline.finish().and_then(|_| output.commit()).map_err(ScanError::Sink)?;
    }
    Ok(summary)
}
