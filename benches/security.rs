//! Cost of the missing-security-fix assessment per machine, side by side with the patch-level
//! assessment it builds on, and the heap it keeps.
//!
//! ```sh
//! cargo bench --bench security               # prints the figures and updates benches/RESULTS.md
//! cargo bench --bench security -- --results -  # prints only
//! ```
//!
//! Machines: the test machines of `tests/security.rs` (Windows 10 22H2 with a pending rollup,
//! Windows 11 23H2 and 24H2, Server 2019 Core, Server 2022, the newest Windows 10 build), each
//! assessed as of the MSRC data date, where an old machine misses the most CVEs (the slowest
//! case: ~1,500 missing CVEs listed). The target is under 0.1 ms per machine; the heap figure
//! shows that nothing stays allocated once a report is dropped (the table is compiled in and
//! read in place), so memory is flat across a fleet. Not a test: timings on a shared machine
//! are noisy, and `cargo test` does not build it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rebootscan::patch::{self, RollupPackage};
use rebootscan::rules::context::{MachineContext, OsInfo};
use rebootscan::security;
use time::macros::date;

/// Counts live heap bytes, to show what an assessment keeps.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// CPU time of this thread: on a machine shared with other work, wall time measures the
/// scheduler, not the assessment.
fn thread_cpu() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec; the call only writes it.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(u64::try_from(now.tv_sec).unwrap_or(0), u32::try_from(now.tv_nsec).unwrap_or(0))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

const BEGIN: &str = "<!-- security:begin -->";
const END: &str = "<!-- security:end -->";

fn machine(product: &str, installation: &str, build: u32, ubr: u32, arch: &str) -> MachineContext {
    MachineContext {
        os: OsInfo {
            product_name: Some(product.into()),
            edition_id: Some("Professional".into()),
            installation_type: Some(installation.into()),
            current_build: Some(build),
            ubr: Some(ubr),
            ..OsInfo::default()
        },
        processor_architecture: Some(arch.into()),
        ..MachineContext::default()
    }
}

fn rollup(servicing_build: u32, ubr: u32, state: u32) -> RollupPackage {
    RollupPackage {
        name: format!("Package_for_RollupFix~31bf3856ad364e35~amd64~~{servicing_build}.{ubr}.1.7"),
        servicing_build,
        ubr,
        state: Some(state),
        state_name: String::new(),
        install_time: None,
        key_last_write: None,
    }
}

fn main() {
    let results_path = {
        let args: Vec<String> = std::env::args().collect();
        match args.iter().position(|a| a == "--results") {
            Some(i) => args.get(i + 1).cloned().unwrap_or_else(|| "-".into()),
            None => concat!(env!("CARGO_MANIFEST_DIR"), "/benches/RESULTS.md").to_string(),
        }
    };
    let as_of = date!(2026 - 06 - 28);
    let machines = [
        (
            "Windows 10 22H2 (pending rollup)",
            machine("Windows 10 Pro", "Client", 19045, 3803, "AMD64"),
            vec![rollup(19041, 3803, 0x70), rollup(19041, 4046, 0x60)],
        ),
        ("Windows 11 23H2", machine("Windows 10 Pro", "Client", 22631, 2861, "AMD64"), vec![]),
        ("Windows 11 24H2 ARM64", machine("Windows 10 Pro", "Client", 26100, 2894, "ARM64"), vec![]),
        ("Server 2019 Core", machine("Windows Server 2019", "Server Core", 17763, 7314, "AMD64"), vec![]),
        ("Server 2022", machine("Windows Server 2022", "Server", 20348, 2159, "AMD64"), vec![]),
        ("Windows 10 22H2 newest", machine("Windows 10 Pro", "Client", 19045, 7417, "AMD64"), vec![]),
    ];
    // First use checks the table's layout once; not part of the per-machine cost.
    let started = Instant::now();
    let _ = security::table::table();
    let first_use = started.elapsed();

    let load = load_average();
    let rounds = 400;
    let mut lines = Vec::new();
    let (mut total_patch, mut total_security) = (0f64, 0f64);
    for (label, context, rollups) in &machines {
        let patch = patch::assess(&context.os, rollups, Some(as_of));
        let started = thread_cpu();
        for _ in 0..rounds {
            black_box(patch::assess(black_box(&context.os), rollups, Some(as_of)));
        }
        let patch_us = (thread_cpu() - started).as_secs_f64() * 1e6 / f64::from(rounds);
        let before = LIVE.load(Ordering::Relaxed);
        let started = thread_cpu();
        let mut missing = 0;
        for _ in 0..rounds {
            let assessment = security::assess(black_box(context), Some(&patch), Some(as_of), None);
            missing = assessment.missing_cves;
            black_box(assessment);
        }
        let security_us = (thread_cpu() - started).as_secs_f64() * 1e6 / f64::from(rounds);
        let kept = LIVE.load(Ordering::Relaxed).saturating_sub(before);
        let one = security::assess(context, Some(&patch), Some(as_of), None);
        let held = LIVE.load(Ordering::Relaxed).saturating_sub(before);
        drop(one);
        total_patch += patch_us;
        total_security += security_us;
        lines.push(format!(
            "| {label} | {missing} | {patch_us:.1} | {security_us:.1} | {:.2} | {:.0} | {kept} |",
            security_us / patch_us,
            held as f64 / 1024.0
        ));
    }
    let count = machines.len() as f64;
    let mut text = String::new();
    text.push_str(&format!(
        "### Missing security fixes (`cargo bench --bench security`)\n\n\
         Per machine, CPU time of the measuring thread (load average {} at the start), as of {as_of} (the MSRC data date), {rounds} rounds each; the table's one-time layout \
         check took {:.2} ms. `patch` is the patch-level assessment the security assessment builds on; \
         `heap held` is what one assessment's report holds (its list of missing CVEs); `heap kept` is what \
         stays allocated after {rounds} assessments were dropped.\n\n\
         | machine | missing CVEs | patch µs | security µs | security / patch | heap held KiB | heap kept bytes |\n\
         |---|---|---|---|---|---|---|\n",
        load,
        first_use.as_secs_f64() * 1e3
    ));
    for line in &lines {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str(&format!(
        "\nMean: {:.1} µs per machine for the security assessment ({:.3} ms; target < 0.1 ms), {:.1} µs for the \
         patch level.\n",
        total_security / count,
        total_security / count / 1000.0,
        total_patch / count
    ));
    print!("{text}");
    if results_path == "-" {
        return;
    }
    let existing = std::fs::read_to_string(&results_path).unwrap_or_default();
    let section = format!("{BEGIN}\n{text}{END}");
    // The section lives inside the analysis block, which the scale benchmark preserves.
    let updated = match (existing.find(BEGIN), existing.find(END)) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{section}{}", &existing[..start], &existing[end + END.len()..])
        }
        _ => match existing.find("<!-- analysis:end -->") {
            Some(at) => format!("{}{section}\n{}", &existing[..at], &existing[at..]),
            None => format!("{existing}\n{section}\n"),
        },
    };
    if let Err(error) = std::fs::write(&results_path, updated) {
        eprintln!("cannot write {results_path}: {error}");
    }
}
