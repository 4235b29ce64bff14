//! The figures of one run, judged against the targets of issue 4, as Markdown.

use std::path::Path;
use std::time::Duration;

use crate::cache::Eviction;
use crate::fleet::Class;
use crate::hives::HiveStats;
use crate::measure::MemoryPeak;
use crate::report::{mebibytes_from_kib, megabytes, millis, rate, seconds, yes_no, Table};
use crate::{command_output, Measured, HIVEXGET_KEY, HIVEXGET_VALUE};

/// Issue 4: a cold scan reads under 2 MB per clean machine.
const READ_TARGET_BYTES: f64 = 2e6;
/// "Flat": the 1,000-machine peak within 25 % (or 8 MiB) of the 10-machine one.
const RSS_FLAT_RATIO: f64 = 1.25;
const RSS_FLAT_SLACK_KIB: u64 = 8 * 1024;

pub struct TemplateInfo {
    pub name: &'static str,
    pub bytes: u64,
    pub stats: HiveStats,
}

pub struct MemoryRun {
    pub machines: usize,
    pub jobs: usize,
    pub peak: MemoryPeak,
}

/// Pages a SYSTEM-only cold scan reads from one hive file.
pub struct SystemPages {
    pub name: &'static str,
    pub size: u64,
    pub pages: u64,
}

pub struct Results {
    pub full: bool,
    pub generation: Duration,
    pub templates: Vec<TemplateInfo>,
    pub eviction: Eviction,
    pub load_before: String,
    pub load_after: String,
    pub warm_class: Vec<(Class, Measured)>,
    pub fleet: Vec<Measured>,
    pub fleet_single_thread: Vec<Measured>,
    pub memory: Vec<MemoryRun>,
    pub cold_class: Vec<(Class, Measured)>,
    pub cold_mixed: Vec<Measured>,
    pub per_process: Vec<Measured>,
    pub hivexget_warm: Option<Measured>,
    pub hivexget_cold: Option<Measured>,
    pub hivexget_output_ok: Option<bool>,
    /// Hive pages a cold scan of one clean machine reads (None without fincore).
    pub baseline_pages: Option<u64>,
    /// Pages saved by `--skip-rule ID` on that machine: what only that rule reads.
    pub rule_pages: Vec<(String, u64)>,
    pub system_pages: Vec<SystemPages>,
    pub problems: Vec<String>,
}

fn flat(small_kib: u64, large_kib: u64) -> bool {
    large_kib as f64 <= small_kib as f64 * RSS_FLAT_RATIO || large_kib <= small_kib + RSS_FLAT_SLACK_KIB
}

fn series(values: impl Iterator<Item = (usize, u64)>) -> String {
    values.map(|(machines, kib)| format!("{machines}: {}", mebibytes_from_kib(kib))).collect::<Vec<_>>().join(", ")
}

impl Results {
    fn class_run(runs: &[(Class, Measured)], class: Class) -> Option<&Measured> {
        runs.iter().find(|(c, _)| *c == class).map(|(_, m)| m)
    }

    fn describe_machine(&self) -> Vec<String> {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines().find_map(|line| {
                    line.strip_prefix("model name").map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
                })
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| text.lines().find_map(|l| l.strip_prefix("MemTotal:").map(str::to_string)))
            .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or("unknown".into(), |kib| format!("{:.1} GiB", kib as f64 / 1_048_576.0));
        let kernel: String =
            std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or("unknown".into(), |k| k.trim().into());
        let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default();
        let manifest = env!("CARGO_MANIFEST_DIR");
        let commit = command_output("git", &["-C", manifest, "rev-parse", "--short", "HEAD"])
            .unwrap_or_else(|| "unknown".into());
        let dirty = command_output("git", &["-C", manifest, "status", "--porcelain", "--", "src"])
            .is_some_and(|status| !status.is_empty());
        let rustc = command_output("rustc", &["--version"]).unwrap_or_default();
        vec![
            format!("- **date**: {date}"),
            format!(
                "- **machine**: {cores} cores ({cpu}), {memory} RAM, Linux {kernel}; load average {} before, {} after \
                 the run (other work shares the machine: wall times are noisier than CPU times and bytes read)",
                self.load_before, self.load_after
            ),
            format!(
                "- **rebootscan**: commit {commit}{}, release profile; {rustc}",
                if dirty { " with uncommitted changes in src/" } else { "" }
            ),
            format!(
                "- **mode**: {} (`cargo bench --bench scale{}`)",
                if self.full { "full" } else { "quick" },
                if self.full { " -- --full" } else { "" }
            ),
            format!(
                "- **cold**: {}; each tool's executable is cached again (a run on a tiny machine) before every cold run, so only hive reads count",
                self.eviction.describe()
            ),
            "- **measured with**: GNU `time -v` (peak RSS; \"File system inputs\" × 512 = bytes the kernel read for the process, page faults on the mapped hives and file-system metadata included); `fincore` after a cold run for the hive pages alone; /proc/PID/status sampled every millisecond for the anonymous/file split of memory; wall time around the process. Warm figures are the best of the repetitions after one warm-up run, cold figures the median of as many evictions.".into(),
        ]
    }

    fn targets(&self) -> Table {
        let mut table = Table::new(&["target", "measured", "result"]);
        let clean_warm = Self::class_run(&self.warm_class, Class::Clean);
        let clean_cold = Self::class_run(&self.cold_class, Class::Clean);
        let hivex_warm = self.hivexget_warm.as_ref();
        let hivex_cold = self.hivexget_cold.as_ref();
        // Judged on wall time per machine; CPU time is shown beside it because it does not
        // depend on how busy the shared machine was.
        let mut compare = |what: &str, ours: Option<&Measured>, reference: Option<&Measured>| match (ours, reference) {
            (Some(ours), Some(reference)) => {
                let wall = ours.per_machine(ours.usage.wall);
                let reference_wall = reference.per_machine(reference.usage.wall);
                table.row(vec![
                    what.into(),
                    format!(
                        "{} vs {} (CPU {} vs {})",
                        millis(wall),
                        millis(reference_wall),
                        millis(ours.per_machine(ours.usage.cpu)),
                        millis(reference.per_machine(reference.usage.cpu))
                    ),
                    yes_no(wall < reference_wall),
                ])
            }
            _ => table.row(vec![
                what.into(),
                "hivexget not installed (apt-get install -y libhivex-bin)".into(),
                "not measured".into(),
            ]),
        };
        compare(
            "all rules on SYSTEM+SOFTWARE of a clean machine cost less than one hivexget lookup (warm; rebootscan scanning many machines, -j 1)",
            clean_warm,
            hivex_warm,
        );
        compare("same, one rebootscan process per machine (warm)", self.per_process.first(), hivex_warm);
        compare("same, cold (-j 1)", clean_cold, hivex_cold);
        compare("same, cold, one rebootscan process per machine", self.per_process.get(1), hivex_cold);

        if let (Some(small), Some(large)) = (self.fleet.first(), self.fleet.last()) {
            let jobs = small.jobs.unwrap_or(0);
            table.row(vec![
                format!("peak memory flat from 10 to 1,000 machines: GNU time's maximum RSS, -j {jobs}"),
                series(self.fleet.iter().map(|m| (m.machines, m.usage.max_rss_kib))),
                yes_no(flat(small.usage.max_rss_kib, large.usage.max_rss_kib)),
            ]);
        }
        if let (Some(small), Some(large)) = (self.fleet_single_thread.first(), self.fleet_single_thread.last()) {
            table.row(vec![
                "same, -j 1".into(),
                series(self.fleet_single_thread.iter().map(|m| (m.machines, m.usage.max_rss_kib))),
                yes_no(flat(small.usage.max_rss_kib, large.usage.max_rss_kib)),
            ]);
        }
        if let (Some(small), Some(large)) = (self.memory.first(), self.memory.last()) {
            table.row(vec![
                format!("same, anonymous memory only (heap, stacks; sampled), -j {}", small.jobs),
                series(self.memory.iter().map(|m| (m.machines, m.peak.anon_kib))),
                yes_no(flat(small.peak.anon_kib, large.peak.anon_kib)),
            ]);
        }
        if let Some(cold) = clean_cold {
            let hive = cold.hive_bytes_per_machine();
            let counted = hive.unwrap_or_else(|| cold.read_per_machine());
            table.row(vec![
                "a cold scan reads under 2 MB per clean machine".into(),
                format!(
                    "{} of hive pages per machine ({} with file-system metadata)",
                    hive.map_or("?".into(), megabytes),
                    megabytes(cold.read_per_machine())
                ),
                yes_no(counted < READ_TARGET_BYTES),
            ]);
        }
        table
    }

    fn all_runs(&self) -> Table {
        let mut table = Table::new(&[
            "run",
            "machines",
            "-j",
            "wall",
            "machines/s",
            "wall per machine",
            "CPU per machine",
            "peak RSS",
            "read per machine",
            "hive pages read per machine",
            "major faults per machine",
        ]);
        let mut add = |run: &Measured| {
            table.row(vec![
                run.label.clone(),
                run.machines.to_string(),
                run.jobs.map_or("–".into(), |jobs| jobs.to_string()),
                seconds(run.usage.wall),
                rate(run.machines, run.usage.wall),
                millis(run.per_machine(run.usage.wall)),
                millis(run.per_machine(run.usage.cpu)),
                mebibytes_from_kib(run.usage.max_rss_kib),
                megabytes(run.read_per_machine()),
                run.hive_bytes_per_machine().map_or("–".into(), megabytes),
                format!("{:.0}", run.usage.major_faults as f64 / run.machines.max(1) as f64),
            ]);
        };
        self.warm_class.iter().for_each(|(_, run)| add(run));
        self.fleet.iter().for_each(&mut add);
        self.fleet_single_thread.iter().for_each(&mut add);
        self.cold_class.iter().for_each(|(_, run)| add(run));
        self.cold_mixed.iter().for_each(&mut add);
        self.per_process.iter().for_each(&mut add);
        self.hivexget_warm.iter().for_each(&mut add);
        self.hivexget_cold.iter().for_each(&mut add);
        table
    }

    fn memory_table(&self) -> Table {
        let mut table =
            Table::new(&["machines", "-j", "VmHWM (peak RSS)", "peak RssAnon", "peak RssFile (mapped hive pages)"]);
        for run in &self.memory {
            table.row(vec![
                run.machines.to_string(),
                run.jobs.to_string(),
                mebibytes_from_kib(run.peak.hwm_kib),
                mebibytes_from_kib(run.peak.anon_kib),
                mebibytes_from_kib(run.peak.file_kib),
            ]);
        }
        table
    }

    /// The figures section of RESULTS.md (also printed at the end of a run).
    pub fn render(&self) -> String {
        let mut lines = self.describe_machine();
        lines.push(format!(
            "- **corpus**: four templates generated in {} by `tests/support/hive_writer.rs`; every machine is `<machine>/Windows/System32/config/{{SYSTEM,SOFTWARE}}`, hard links to them (warm fleets) or real copies (cold runs):",
            seconds(self.generation)
        ));
        lines.push(String::new());
        let mut corpus = Table::new(&["template", "size", "keys", "values"]);
        for info in &self.templates {
            corpus.row(vec![
                info.name.into(),
                megabytes(info.bytes as f64),
                info.stats.keys.to_string(),
                info.stats.values.to_string(),
            ]);
        }
        lines.push(corpus.render());
        lines.push("### Targets\n".into());
        lines.push(self.targets().render());
        lines.push("### Memory of the fleets\n".into());
        lines.push("Fleets mix 8 clean : 1 PendingFileRenameOperations : 1 CBS-pending machine in every 10. Sampled from /proc/PID/status during one warm scan each.\n".into());
        lines.push(self.memory_table().render());
        lines.push("### All runs\n".into());
        lines.push(format!(
            "`warm <class>` / `cold <class>`: machines of one kind (clean, pfro = PendingFileRenameOperations queued, cbs = CBS RebootPending with Install Pending packages). `cold mixed`: all cold copies at once. hivexget rows: one `hivexget SYSTEM '{HIVEXGET_KEY}' {HIVEXGET_VALUE}` process per machine (\"machines\" = SYSTEM hives). CPU times come from GNU time in 10 ms steps: small runs round down.\n"
        ));
        lines.push(self.all_runs().render());
        if let Some(baseline) = self.baseline_pages {
            lines.push("### Where a clean machine's cold reads go\n".into());
            lines.push(format!(
                "One clean machine read {baseline} hive pages ({}) cold. Pages saved by `--skip-rule ID`, i.e. read by that rule alone (pages shared with other lookups, the control set, the OS context and kind detection stay in the baseline); rules saving nothing are left out:\n",
                megabytes((baseline * 4096) as f64)
            ));
            let mut table = Table::new(&["rule", "pages only it reads", "share of the machine's pages"]);
            for (rule, pages) in self.rule_pages.iter().filter(|(_, pages)| *pages > 0) {
                table.row(vec![
                    format!("`{rule}`"),
                    pages.to_string(),
                    format!("{:.0} %", 100.0 * *pages as f64 / baseline.max(1) as f64),
                ]);
            }
            lines.push(table.render());
        }
        if !self.system_pages.is_empty() {
            lines.push("### Generated SYSTEM against real ones\n".into());
            lines.push("Hive pages one cold scan of a SYSTEM hive alone reads (every SYSTEM rule, control set and context). Real hives written by Windows over years are more fragmented than the writer's depth-first layout; this checks that the generated one is not cheaper to read:\n".into());
            let mut table = Table::new(&["SYSTEM hive", "size", "pages read", "bytes read"]);
            for hive in &self.system_pages {
                table.row(vec![
                    hive.name.into(),
                    megabytes(hive.size as f64),
                    hive.pages.to_string(),
                    megabytes((hive.pages * 4096) as f64),
                ]);
            }
            lines.push(table.render());
        }
        if let Some(ok) = self.hivexget_output_ok {
            lines.push(format!(
                "hivexget read PendingFileRenameOperations back from the pending SYSTEM template: {}.",
                if ok { "yes" } else { "NO" }
            ));
        }
        if self.problems.is_empty() {
            lines.push("Every scanned machine got the verdict its class calls for, without errors.".into());
        } else {
            lines.push("\n**Problems seen during the run:**\n".into());
            lines.extend(self.problems.iter().map(|problem| format!("- {problem}")));
        }
        lines.join("\n") + "\n"
    }
}

/// Writes RESULTS.md: fresh figures, and the hand-written analysis of the existing file kept.
pub fn write(path: &Path, figures: &str) -> std::io::Result<()> {
    let analysis =
        std::fs::read_to_string(path).ok().and_then(|old| crate::report::preserved_analysis(&old)).unwrap_or_else(
            || format!("{}\n(no analysis yet)\n{}", crate::report::ANALYSIS_BEGIN, crate::report::ANALYSIS_END),
        );
    // The `--servicing` section is written by its own mode; keep it.
    let servicing = std::fs::read_to_string(path)
        .ok()
        .and_then(|old| crate::servicing::preserved(&old))
        .map(|section| format!("{section}\n\n"))
        .unwrap_or_default();
    let document = format!(
        "# Scale benchmark results\n\n\
         Written by `cargo bench --bench scale` (sources in `benches/scale/`); rerun it to refresh the figures. \
         The analysis at the end is written by hand and kept across reruns.\n\n\
         ## Figures\n\n{figures}\n{servicing}## Analysis\n\n{analysis}\n"
    );
    std::fs::write(path, document)
}
