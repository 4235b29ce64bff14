//! `--servicing`: what a machine whose servicing waits for a reboot costs next to a clean one
//! (issue 16), measured without the rest of the benchmark.
//!
//! Three SOFTWARE templates, all with the same 30,000 CBS packages: clean; servicing pending
//! with CBS's records (`RebootPending`, `PackagesPending`) naming the cumulative update, as
//! `make_software_pending` builds it (4 more pending packages are not named); and the same
//! without the records. rebootscan reads every package of both servicing-pending kinds (the
//! exact list; the records are only compared with it). Each is scanned warm (one process for many
//! machines, -j 1), cold (every machine its own copy, caches dropped) and as a 1,000-machine
//! fleet at -j 2 for peak memory; with `--baseline BINARY`, an older build is measured on the
//! same machines in the same run. The section it writes into `benches/RESULTS.md` sits between
//! markers, so the full benchmark and this mode keep each other's figures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::fleet::{self, Class, Machine, Placement, Templates};
use crate::report::{mebibytes_from_kib, megabytes, millis, seconds, yes_no, Table};
use crate::{all_files, best_of, hives, median_of, random, write_hive, Context, Measured, SOFTWARE_SEED, SYSTEM_SEED};

/// Issue 16: a servicing-pending machine costs at most this many times a clean one (warm).
const WARM_RATIO_TARGET: f64 = 2.0;
const WARM_MILLIS_TARGET: f64 = 5.0;
const COLD_READ_TARGET_BYTES: f64 = 8e6;
const FLEET_RSS_TARGET_KIB: u64 = 100 * 1024;
const FLEET_SIZE: usize = 1000;

pub const BEGIN: &str = "<!-- servicing:begin -->";
pub const END: &str = "<!-- servicing:end -->";

/// One measured binary over the three kinds of machine.
struct Runs {
    name: String,
    warm: Vec<Measured>,
    cold: Vec<Measured>,
    fleet: Vec<Measured>,
}

pub struct Setup<'a> {
    pub binary: &'a Path,
    pub baseline: Option<&'a Path>,
    pub work: &'a Path,
    pub repeats: usize,
}

fn lay_out(
    root: &Path,
    system: &Path,
    software: &Path,
    count: usize,
    placement: Placement,
) -> Result<Vec<Machine>, String> {
    // Templates::for_class(Clean) pairs the clean SYSTEM with `software_clean`: point it at
    // the SOFTWARE wanted.
    let templates = Templates {
        system_clean: system.to_path_buf(),
        system_pending: system.to_path_buf(),
        software_clean: software.to_path_buf(),
        software_pending: software.to_path_buf(),
    };
    fleet::lay_out(root, &templates, count, Some(Class::Clean), placement).map_err(|e| e.to_string())
}

/// The kinds of machine, as (label, SOFTWARE template, expected verdict, expected found_by).
struct Kind {
    label: &'static str,
    software: PathBuf,
    class: Class,
    found_by: Option<&'static str>,
    /// Packages the report must list (every one `make_software_pending` left pending).
    pending_packages: usize,
}

pub fn run(context: &mut Context, setup: &Setup<'_>) -> Result<String, String> {
    let dir = setup.work.join("servicing-templates");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    println!("scale --servicing: generating SYSTEM and three SOFTWARE templates…");
    let started = Instant::now();
    let system = dir.join("SYSTEM");
    write_hive(&system, &hives::system(&mut random::Rng::new(SYSTEM_SEED)))?;
    let mut software = hives::software(&mut random::Rng::new(SOFTWARE_SEED));
    let clean = dir.join("SOFTWARE.clean");
    let software_size = write_hive(&clean, &software)?;
    hives::make_software_pending(&mut software);
    let records = dir.join("SOFTWARE.records");
    write_hive(&records, &software)?;
    hives::drop_servicing_records(&mut software);
    let walk = dir.join("SOFTWARE.no-records");
    write_hive(&walk, &software)?;
    drop(software);
    let generation = started.elapsed();

    let kinds = [
        Kind { label: "clean", software: clean, class: Class::Clean, found_by: None, pending_packages: 0 },
        Kind {
            label: "servicing pending, CBS records",
            software: records,
            class: Class::Servicing,
            found_by: Some("full walk"),
            pending_packages: hives::SOFTWARE_PENDING_PACKAGES,
        },
        Kind {
            label: "servicing pending, no records",
            software: walk,
            class: Class::Servicing,
            found_by: Some("full walk"),
            pending_packages: hives::SOFTWARE_PENDING_PACKAGES,
        },
    ];
    let warm_count = [100, 100, 100];
    let cold_count = [4, 4, 4];
    println!("scale --servicing: laying out machines…");
    let mut warm_sets = Vec::new();
    let mut cold_sets = Vec::new();
    let mut fleets = Vec::new();
    for (index, kind) in kinds.iter().enumerate() {
        let slug = format!("svc-{index}");
        warm_sets.push(lay_out(
            &setup.work.join(format!("{slug}-warm")),
            &system,
            &kind.software,
            warm_count[index],
            Placement::HardLink,
        )?);
        cold_sets.push(lay_out(
            &setup.work.join(format!("{slug}-cold")),
            &system,
            &kind.software,
            cold_count[index],
            Placement::Copy,
        )?);
        fleets.push(if index == 0 {
            None
        } else {
            Some(lay_out(
                &setup.work.join(format!("{slug}-fleet")),
                &system,
                &kind.software,
                FLEET_SIZE,
                Placement::HardLink,
            )?)
        });
    }
    // Laid out as "clean" so that the chosen SOFTWARE is used; the verdict to expect follows
    // the kind.
    for (index, kind) in kinds.iter().enumerate() {
        for machine in
            warm_sets[index].iter_mut().chain(cold_sets[index].iter_mut()).chain(fleets[index].iter_mut().flatten())
        {
            machine.class = kind.class;
        }
    }
    let cold_files: Vec<PathBuf> = cold_sets.iter().flat_map(|set| all_files(set)).collect();

    let mut binaries = vec![(format!("this build ({})", crate::commit_label()), setup.binary.to_path_buf())];
    if let Some(baseline) = setup.baseline {
        binaries.push((format!("baseline {}", baseline.display()), baseline.to_path_buf()));
    }
    let mut all = Vec::new();
    for (name, binary) in &binaries {
        context.binary = binary.clone();
        let checking = all.is_empty();
        let mut runs = Runs { name: name.clone(), warm: Vec::new(), cold: Vec::new(), fleet: Vec::new() };
        println!("scale --servicing: {name}: warm, one process for many machines (-j 1)…");
        for (index, kind) in kinds.iter().enumerate() {
            let root = warm_sets[index][0].folder.parent().ok_or("no parent")?.to_path_buf();
            let label = format!("warm, {}", kind.label);
            let run = context.scan_warm(&label, &root, &warm_sets[index], 1, setup.repeats)?;
            if checking {
                check_found_by(context, &label, kind.found_by, kind.pending_packages);
            }
            println!(
                "  {:<44} {} per machine (CPU {})",
                kind.label,
                millis(run.per_machine(run.usage.wall)),
                millis(run.per_machine(run.usage.cpu))
            );
            runs.warm.push(run);
        }
        println!("scale --servicing: {name}: cold (caches dropped), median of {}…", setup.repeats);
        for (index, kind) in kinds.iter().enumerate() {
            let root = cold_sets[index][0].folder.parent().ok_or("no parent")?.to_path_buf();
            let label = format!("cold, {}", kind.label);
            let run = median_of(setup.repeats, || context.scan_cold(&label, &root, &cold_sets[index], 1, &cold_files))?;
            println!(
                "  {:<44} {} per machine, {} of hive pages read per machine",
                kind.label,
                millis(run.per_machine(run.usage.wall)),
                run.hive_bytes_per_machine().map_or("?".into(), megabytes)
            );
            runs.cold.push(run);
        }
        println!("scale --servicing: {name}: fleets of {FLEET_SIZE} machines, -j 2…");
        for (index, kind) in kinds.iter().enumerate() {
            let Some(machines) = &fleets[index] else { continue };
            let root = machines[0].folder.parent().ok_or("no parent")?.to_path_buf();
            let label = format!("fleet of {FLEET_SIZE}, {}", kind.label);
            let run = best_of(1, || context.scan(&label, &root, machines, 2))?;
            println!("  {:<44} peak RSS {}", kind.label, mebibytes_from_kib(run.usage.max_rss_kib));
            runs.fleet.push(run);
        }
        all.push(runs);
    }
    context.binary = setup.binary.to_path_buf();
    Ok(render(&all, software_size, generation, context))
}

/// Every machine of a run with a servicing template must say how its packages were found.
fn check_found_by(context: &mut Context, label: &str, expected: Option<&str>, pending_packages: usize) {
    let Ok(text) = std::fs::read_to_string(context.report_path()) else { return };
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let Ok(machine) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let found_by = machine["pending_updates"]["found_by"].as_str();
        let listed = machine["pending_updates"]["packages"].as_array().map_or(0, |packages| packages.len());
        if listed != pending_packages {
            context.problems.push(format!(
                "{label}: {} lists {listed} pending packages, expected {pending_packages}",
                machine["machine"]
            ));
            return;
        }
        if found_by != expected {
            context.problems.push(format!(
                "{label}: {} found its packages by {found_by:?}, expected {expected:?}",
                machine["machine"]
            ));
            return;
        }
    }
}

fn render(all: &[Runs], software_size: u64, generation: std::time::Duration, context: &Context) -> String {
    let mut lines = vec![
        "## Servicing-pending machines (issue 16)\n".to_string(),
        format!(
            "Written by `cargo bench --bench scale -- --servicing` on {} ({}; load average {} at the end). One SYSTEM (14.5 MB) and three SOFTWARE templates of {} with 30,000 CBS packages, generated in {}: clean; servicing pending with `RebootPending` and `PackagesPending` naming the pending cumulative update (the same template as the full benchmark's CBS machines; 4 more packages are in pending states that the records do not name, and the default lists all 5); the same without the records (`RebootPending` empty, no `PackagesPending`). On both servicing-pending kinds rebootscan reads every package's state (the exact list). Warm: hard links, one process for all machines, -j 1, best of the repetitions; cold: a copy per machine, `drop_caches` before each run, median; fleets: 1,000 hard-linked machines at -j 2, GNU time's maximum RSS (mapped hive pages included, see the analysis).\n",
            crate::command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default(),
            crate::machine_summary(),
            crate::load_average(),
            megabytes(software_size as f64),
            seconds(generation),
        ),
    ];
    let ours = &all[0];
    let clean_wall = ours.warm[0].per_machine(ours.warm[0].usage.wall);
    let mut targets = Table::new(&["target", "measured", "result"]);
    let records_warm = &ours.warm[1];
    let records_wall = records_warm.per_machine(records_warm.usage.wall);
    let ratio = records_wall.as_secs_f64() / clean_wall.as_secs_f64().max(1e-9);
    targets.row(vec![
        format!("warm: a servicing-pending machine costs at most {WARM_RATIO_TARGET}x a clean one (same run)"),
        format!(
            "{} vs {} per machine: {ratio:.2}x (CPU {} vs {})",
            millis(records_wall),
            millis(clean_wall),
            millis(records_warm.per_machine(records_warm.usage.cpu)),
            millis(ours.warm[0].per_machine(ours.warm[0].usage.cpu))
        ),
        yes_no(ratio <= WARM_RATIO_TARGET),
    ]);
    targets.row(vec![
        format!("warm: at most {WARM_MILLIS_TARGET} ms for the whole servicing-pending machine, all rules"),
        millis(records_wall),
        yes_no(records_wall.as_secs_f64() * 1e3 <= WARM_MILLIS_TARGET),
    ]);
    let cold = &ours.cold[1];
    let cold_read = cold.hive_bytes_per_machine().unwrap_or_else(|| cold.read_per_machine());
    targets.row(vec![
        "cold: at most 8 MB read per servicing-pending machine".into(),
        format!(
            "{} of hive pages ({} with file-system metadata)",
            cold.hive_bytes_per_machine().map_or("?".into(), megabytes),
            megabytes(cold.read_per_machine())
        ),
        yes_no(cold_read <= COLD_READ_TARGET_BYTES),
    ]);
    let fleet = &ours.fleet[0];
    targets.row(vec![
        format!("peak memory of {FLEET_SIZE} servicing-pending machines at -j 2 under 100 MiB"),
        mebibytes_from_kib(fleet.usage.max_rss_kib),
        yes_no(fleet.usage.max_rss_kib < FLEET_RSS_TARGET_KIB),
    ]);
    if let Some(walk) = ours.fleet.get(1) {
        targets.row(vec![
            "same, machines without CBS records (every package read)".into(),
            mebibytes_from_kib(walk.usage.max_rss_kib),
            yes_no(walk.usage.max_rss_kib < FLEET_RSS_TARGET_KIB),
        ]);
    }
    lines.push("### Targets (this build)\n".into());
    lines.push(targets.render());

    let mut table = Table::new(&[
        "build",
        "run",
        "machines",
        "wall per machine",
        "CPU per machine",
        "x clean (wall)",
        "peak RSS",
        "hive pages read per machine",
        "read per machine",
    ]);
    for runs in all {
        let clean = runs.warm[0].per_machine(runs.warm[0].usage.wall).as_secs_f64();
        let clean_cold = runs.cold[0].per_machine(runs.cold[0].usage.wall).as_secs_f64();
        for (group, reference) in [(&runs.warm, Some(clean)), (&runs.cold, Some(clean_cold)), (&runs.fleet, None)] {
            for run in group {
                let wall = run.per_machine(run.usage.wall);
                table.row(vec![
                    runs.name.clone(),
                    run.label.clone(),
                    run.machines.to_string(),
                    millis(wall),
                    millis(run.per_machine(run.usage.cpu)),
                    reference.map_or("–".into(), |clean| format!("{:.2}", wall.as_secs_f64() / clean.max(1e-9))),
                    mebibytes_from_kib(run.usage.max_rss_kib),
                    run.hive_bytes_per_machine().map_or("–".into(), megabytes),
                    megabytes(run.read_per_machine()),
                ]);
            }
        }
    }
    lines.push("### All runs\n".into());
    lines.push("Fleet rows are one scan of 1,000 machines at -j 2 (wall and CPU per machine over the whole fleet). CPU times come from GNU time in 10 ms steps.\n".into());
    lines.push(table.render());
    if context.problems.is_empty() {
        lines.push("Every machine got the verdict its class calls for, without errors, and said how its packages were found as expected.".into());
    } else {
        lines.push("\n**Problems seen during the run:**\n".into());
        lines.extend(context.problems.iter().map(|problem| format!("- {problem}")));
    }
    format!("{BEGIN}\n{}\n{END}", lines.join("\n"))
}

/// Puts `section` into RESULTS.md in place of the old one (or before the analysis).
pub fn write(path: &Path, section: &str) -> std::io::Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let document = match (existing.find(BEGIN), existing.find(END)) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{section}{}", &existing[..start], &existing[end + END.len()..])
        }
        _ => match existing.find("## Analysis") {
            Some(at) => format!("{}{section}\n\n{}", &existing[..at], &existing[at..]),
            None => format!("{existing}\n{section}\n"),
        },
    };
    std::fs::write(path, document)
}

/// The servicing section of an existing RESULTS.md, for the full benchmark to keep.
pub fn preserved(existing: &str) -> Option<String> {
    let start = existing.find(BEGIN)?;
    let end = existing[start..].find(END)? + start + END.len();
    Some(existing[start..end].to_string())
}
