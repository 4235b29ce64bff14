//! Cost of reading a machine out of a container instead of a raw volume:
//! `cargo bench --bench containers`. The same machine (the committed `windows.ntfs` volume of
//! `fixtures/images/`) as a raw volume and as an E01 (`fixtures/containers/windows.E01`,
//! deflate-compressed, 32 KiB chunks), each discovered and scanned in this process:
//! - wall time, cold (page cache dropped with `echo 3 > /proc/sys/vm/drop_caches` when this
//!   runs as root, else warm and said so) and warm, median of the runs;
//! - bytes read from the container: `rchar` of /proc/self/io around the scan (every byte the
//!   process read through read(2)/pread(2), i.e. what the container reader asked for) and,
//!   cold, `read_bytes` (what the kernel fetched from the disk).
//!
//! Each run forgets the images kept from earlier runs (src/image/kept.rs), so it opens its
//! image once, for discovery and the scan; the fixtures are left to settle first, since only
//! files unchanged for a while are kept.
//!
//! Prints a Markdown section for benches/RESULTS.md (between its `containers` markers, inside the
//! analysis block that the scale benchmark keeps). VMDK rows: the same volume as a
//! monolithicSparse and a streamOptimized VMDK (`fixtures/containers/windows*.vmdk`, qemu-img,
//! 64 KiB grains, the latter deflate-compressed). QCOW2 rows: the same volume as a QCOW2 v3
//! (`windows.qcow2`) and with deflate-compressed clusters (`windows-compressed.qcow2`),
//! qemu-img, 64 KiB clusters. VHDX and VHD rows: the same volume as a dynamic VHDX
//! (`windows.vhdx`, qemu-img, 8 MiB blocks) and a dynamic VHD (`windows.vhd`, qemu-img,
//! 2 MiB blocks).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rebootscan::discover::discover;
use rebootscan::scan::{scan_machine, ScanOptions};

fn io_counters() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        text.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().parse::<u64>().unwrap_or(0))).unwrap_or(0)
    };
    (field("rchar:"), field("read_bytes:"))
}

fn drop_caches() -> bool {
    let _ = std::process::Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

fn gunzip_to(source: &Path, target: &Path) {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(source).unwrap()).read_to_end(&mut bytes).unwrap();
    std::fs::write(target, bytes).unwrap();
}

struct Figures {
    cold_ms: f64,
    warm_ms: f64,
    rchar: u64,
    disk: u64,
    file_size: u64,
}

fn scan_once(path: &Path) -> (f64, u64, u64) {
    // Each run opens its image afresh (then keeps it from discovery to the scan).
    rebootscan::image::kept::forget_all();
    let (rchar_before, disk_before) = io_counters();
    let start = Instant::now();
    let discovery = discover(&[path.to_path_buf()]);
    assert_eq!(discovery.machines.len(), 1, "{discovery:#?}");
    let report = scan_machine(&discovery.machines[0], &ScanOptions::default());
    let elapsed = start.elapsed().as_secs_f64() * 1000.0;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let (rchar_after, disk_after) = io_counters();
    (elapsed, rchar_after - rchar_before, disk_after - disk_before)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn measure(path: &Path, runs: usize, can_drop: bool) -> Figures {
    let mut cold = Vec::new();
    let mut rchar = 0;
    let mut disk = 0;
    for _ in 0..runs {
        if can_drop {
            drop_caches();
        }
        let (ms, read, fetched) = scan_once(path);
        cold.push(ms);
        rchar = read;
        disk = fetched;
    }
    let warm: Vec<f64> = (0..runs).map(|_| scan_once(path).0).collect();
    Figures {
        cold_ms: median(cold),
        warm_ms: median(warm),
        rchar,
        disk,
        file_size: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("windows.ntfs");
    let e01 = dir.path().join("windows.E01");
    gunzip_to(&root.join("fixtures/images/windows.ntfs.gz"), &raw);
    gunzip_to(&root.join("fixtures/containers/windows.E01.gz"), &e01);
    let vmdk = dir.path().join("windows.vmdk");
    let stream = dir.path().join("windows-stream.vmdk");
    gunzip_to(&root.join("fixtures/containers/windows.vmdk.gz"), &vmdk);
    gunzip_to(&root.join("fixtures/containers/windows-stream.vmdk.gz"), &stream);
    let qcow2 = dir.path().join("windows.qcow2");
    let qcow2_compressed = dir.path().join("windows-compressed.qcow2");
    gunzip_to(&root.join("fixtures/containers/windows.qcow2.gz"), &qcow2);
    gunzip_to(&root.join("fixtures/containers/windows-compressed.qcow2.gz"), &qcow2_compressed);
    let vhdx = dir.path().join("windows.vhdx");
    let vhd = dir.path().join("windows.vhd");
    gunzip_to(&root.join("fixtures/containers/windows.vhdx.gz"), &vhdx);
    gunzip_to(&root.join("fixtures/containers/windows.vhd.gz"), &vhd);
    // Evidence at rest: an image is kept from discovery to the scan only when its files have
    // not changed for a while (src/image/kept.rs), and these were just written.
    std::thread::sleep(rebootscan::image::kept::SETTLED + std::time::Duration::from_millis(100));
    let can_drop = drop_caches();
    let runs = 7;
    let forms = [
        ("raw volume", &raw),
        ("E01 (deflate, 32 KiB chunks)", &e01),
        ("VMDK monolithicSparse (64 KiB grains)", &vmdk),
        ("VMDK streamOptimized (deflate, 64 KiB grains)", &stream),
        ("QCOW2 v3 (64 KiB clusters)", &qcow2),
        ("QCOW2 v3 compressed (deflate, 64 KiB clusters)", &qcow2_compressed),
        ("VHDX dynamic (8 MiB blocks)", &vhdx),
        ("VHD dynamic (2 MiB blocks)", &vhd),
    ];
    let figures: Vec<(&str, Figures)> =
        forms.iter().map(|(name, path)| (*name, measure(path, runs, can_drop))).collect();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("## Containers (`cargo bench --bench containers`)\n");
    println!(
        "- machine: the 4 MiB `windows.ntfs` fixture volume (SYSTEM, SOFTWARE, COMPONENTS, staged PE files), {runs} runs per form, medians; load average {}",
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!(
        "- cold: {}\n",
        if can_drop { "page cache dropped before each run" } else { "NOT cold (not root: page cache kept)" }
    );
    println!("| form | file size | cold wall | warm wall | bytes read from the file (rchar) | fetched from disk, cold | cold vs raw |");
    println!("|---|---|---|---|---|---|---|");
    let raw_cold = figures[0].1.cold_ms;
    for (name, f) in &figures {
        println!(
            "| {name} | {} B | {:.2} ms | {:.2} ms | {} B | {} B | {:.2}x |",
            f.file_size,
            f.cold_ms,
            f.warm_ms,
            f.rchar,
            f.disk,
            f.cold_ms / raw_cold
        );
    }
}
