//! The refresh mechanism of the embedded build → KB table (`src/patch/windows_builds.rs`).
//!
//! Normal run: regenerates the table in memory from `../shared/data/windows-builds` (or
//! `$REBOOTSCAN_SHARED/data/windows-builds`) and fails unless it equals the committed file byte
//! for byte. `REBOOTSCAN_REFRESH=1 cargo test --test patch_table` writes the file instead.
//! Without the shared data the test prints `SKIPPED` and passes; under `CI=true` it fails.
//!
//! The shared files never enter the repository: only the facts the tool needs are carried over
//! (build, UBR, KB, date, release type, product line; end-of-servicing dates), with the source
//! credited in the generated file's header.
//!
//! What the generator adds to the source, and why:
//! - **Product line** from `os_type` + `major_version` (+ `windows_version` to tell Server 2022
//!   from the Server 23H2 Annual Channel, both `major_version` 2022), checked against the build
//!   number each line must have. Server versions are written as Windows shows them in
//!   `DisplayVersion`/`ReleaseId` (Server 2022 = 21H2, Server 2025 = 24H2).
//! - **Servicing build** of enablement-package versions (1909 on 1903, 20H2–22H2 on 2004,
//!   Windows 11 23H2 on 22H2, 25H2 on 24H2): the build in `Package_for_RollupFix` names. Checked:
//!   each such build shares at least one (UBR, KB) with another build of the same stream.
//! - **Release type**: the source's "Standard" is a monthly (B) release only when it came out on
//!   the second Tuesday of its month (the definition of B). Before August 2020 the source calls
//!   previews and out-of-band releases "Standard" too; those rows become `Unlabelled` rather than
//!   being guessed as either.
//! - **End dates**: the client and server lifecycle files give every end date as the Wednesday
//!   after the Patch Tuesday on which Microsoft ends servicing (Windows 10 22H2: 10/15/2025, for
//!   Microsoft's 2025-10-14); the LTSC file gives the Tuesday itself. The generator stores the
//!   published last day (the day before), checks it is a Tuesday, and checks that the two files
//!   then agree where they overlap (LTSC 2019 and Server 2019, both 2029-01-09).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use time::{Date, Duration, Month, Weekday};

const TABLE_PATH: &str = "src/patch/windows_builds.rs";

/// Product lines in table order, with the identifiers of `rebootscan::patch::ProductLine`.
const LINES: [&str; 7] = ["Win10", "Win11", "Server2016", "Server2019", "Server2022", "ServerAnnual", "Server2025"];

/// Versions made by an enablement package on top of an earlier build's servicing stream.
const ENABLEMENT_PACKAGES: [(u32, u32); 7] =
    [(18363, 18362), (19042, 19041), (19043, 19041), (19044, 19041), (19045, 19041), (22631, 22621), (26200, 26100)];

#[derive(Deserialize)]
struct BuildFile {
    metadata: Metadata,
    data: Vec<BuildRecord>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(rename = "recordCount")]
    record_count: usize,
    #[serde(rename = "lastCollected")]
    last_collected: String,
}

#[derive(Deserialize)]
struct BuildRecord {
    full_version: String,
    build: String,
    os_type: String,
    major_version: u32,
    windows_version: String,
    release_date: String,
    kb_article: String,
    release_type: String,
}

#[derive(Deserialize)]
struct LifecycleFile<T> {
    metadata: Metadata,
    data: Vec<T>,
}

#[derive(Deserialize)]
struct ClientLifecycle {
    version: String,
    sku: String,
    start_date: String,
    end_date: String,
}

#[derive(Deserialize)]
struct ServerLifecycle {
    version: String,
    tier: String,
    start_date: String,
    mainstream_end_date: String,
    extended_end_date: String,
}

#[derive(Deserialize)]
struct LtscLifecycle {
    version: String,
    build: String,
    start_date: String,
    mainstream_end_date: String,
    extended_end_date: String,
}

struct Row {
    ubr: u32,
    kb: u32,
    released: Date,
    release_type: &'static str,
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
struct BuildKey {
    line: usize,
    build: u32,
}

struct BuildEntry {
    version: String,
    servicing_build: u32,
    rows: BTreeMap<u32, Row>,
}

struct LifecycleRow {
    line: usize,
    version: String,
    editions: &'static str,
    start: Date,
    mainstream_end: Option<Date>,
    end: Date,
}

fn shared_data_dir() -> Option<PathBuf> {
    let shared = match std::env::var_os("REBOOTSCAN_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    };
    let dir = shared.join("data/windows-builds");
    if dir.join("buildnumbers.json").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("patch_table: the build data is missing at {} and CI=true: set REBOOTSCAN_SHARED", dir.display());
    }
    eprintln!("SKIPPED patch_table: no build data at {} (set REBOOTSCAN_SHARED)", dir.display());
    None
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn month(number: u8) -> Result<Month, String> {
    Month::try_from(number).map_err(|e| format!("month {number}: {e}"))
}

fn iso_date(text: &str) -> Result<Date, String> {
    let parts: Vec<&str> = text.trim().split('-').collect();
    let [year, month_number, day] = parts[..] else { return Err(format!("not a YYYY-MM-DD date: {text:?}")) };
    let number = |s: &str| s.parse::<u32>().map_err(|_| format!("not a YYYY-MM-DD date: {text:?}"));
    Date::from_calendar_date(number(year)? as i32, month(number(month_number)? as u8)?, number(day)? as u8)
        .map_err(|e| format!("{text:?}: {e}"))
}

/// `7/29/2015`, tolerating the stray characters some cells carry after the date (`8/2/2016 8`).
fn us_date(text: &str) -> Result<Date, String> {
    let first = text.split_whitespace().next().unwrap_or("");
    let parts: Vec<&str> = first.split('/').collect();
    let [month_number, day, year] = parts[..] else { return Err(format!("not an M/D/YYYY date: {text:?}")) };
    let number = |s: &str| s.parse::<u32>().map_err(|_| format!("not an M/D/YYYY date: {text:?}"));
    Date::from_calendar_date(number(year)? as i32, month(number(month_number)? as u8)?, number(day)? as u8)
        .map_err(|e| format!("{text:?}: {e}"))
}

/// The published last day of servicing from an end date given as the following Wednesday.
fn last_day_from_wednesday(text: &str) -> Result<Date, String> {
    let date = us_date(text)?;
    if date.weekday() != Weekday::Wednesday {
        return Err(format!(
            "end date {text:?} is a {}: expected the Wednesday after a Patch Tuesday; the source's date \
             convention changed, review the correction in tests/patch_table.rs",
            date.weekday()
        ));
    }
    Ok(date - Duration::days(1))
}

fn is_second_tuesday(date: Date) -> bool {
    date.weekday() == Weekday::Tuesday && (8..=14).contains(&date.day())
}

fn line_of(record: &BuildRecord, build: u32) -> Result<(usize, String), String> {
    let (line, version, expected_build) = match (record.os_type.as_str(), record.major_version) {
        ("client", 10) if build < 22000 => ("Win10", record.windows_version.clone(), None),
        ("client", 11) if build >= 22000 => ("Win11", record.windows_version.clone(), None),
        ("server", 2016) => ("Server2016", "1607".to_string(), Some(14393)),
        ("server", 2019) => ("Server2019", "1809".to_string(), Some(17763)),
        ("server", 2022) if record.windows_version == "2022" => ("Server2022", "21H2".to_string(), Some(20348)),
        ("server", 2022) if record.windows_version == "23H2" => ("ServerAnnual", "23H2".to_string(), Some(25398)),
        ("server", 2025) => ("Server2025", "24H2".to_string(), Some(26100)),
        _ => {
            return Err(format!(
                "{}: unknown product (os_type {:?}, major_version {}, windows_version {:?})",
                record.full_version, record.os_type, record.major_version, record.windows_version
            ))
        }
    };
    if expected_build.is_some_and(|b| b != build) {
        return Err(format!("{}: {line} must be build {expected_build:?}", record.full_version));
    }
    if version.is_empty() || !version.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("{}: odd version {version:?}", record.full_version));
    }
    let index = LINES.iter().position(|l| *l == line).ok_or_else(|| format!("line {line} not in LINES"))?;
    Ok((index, version))
}

fn release_type(record: &BuildRecord, released: Date) -> Result<&'static str, String> {
    Ok(match record.release_type.as_str() {
        "Standard" if is_second_tuesday(released) => "Monthly",
        "Standard" => "Unlabelled",
        "Preview" => "Preview",
        "Out-of-band" => "OutOfBand",
        "Hotpatch" => "Hotpatch",
        "Hotpatch-OOB" => "HotpatchOutOfBand",
        other => return Err(format!("{}: unknown release type {other:?}", record.full_version)),
    })
}

fn builds_from(file: &BuildFile) -> Result<BTreeMap<BuildKey, BuildEntry>, String> {
    if file.metadata.record_count != file.data.len() {
        return Err(format!("recordCount {} but {} records", file.metadata.record_count, file.data.len()));
    }
    let mut builds: BTreeMap<BuildKey, BuildEntry> = BTreeMap::new();
    for record in &file.data {
        let (build, ubr) = record
            .build
            .split_once('.')
            .and_then(|(b, u)| Some((b.parse::<u32>().ok()?, u.parse::<u32>().ok()?)))
            .ok_or_else(|| format!("odd build {:?}", record.build))?;
        if record.full_version != format!("10.0.{build}.{ubr}") {
            return Err(format!("full_version {:?} does not match build {:?}", record.full_version, record.build));
        }
        let (line, version) = line_of(record, build)?;
        let kb = record
            .kb_article
            .strip_prefix("KB")
            .and_then(|digits| digits.parse::<u32>().ok())
            .ok_or_else(|| format!("{}: KB {:?} is not KB<digits>", record.full_version, record.kb_article))?;
        let released = iso_date(&record.release_date)?;
        let release_type = release_type(record, released)?;
        let servicing_build =
            ENABLEMENT_PACKAGES.iter().find(|(enabled, _)| *enabled == build).map_or(build, |(_, base)| *base);
        let entry = builds.entry(BuildKey { line, build }).or_insert_with(|| BuildEntry {
            version: version.clone(),
            servicing_build,
            rows: BTreeMap::new(),
        });
        if entry.version != version {
            return Err(format!("{}: version {version} but the build is {}", record.full_version, entry.version));
        }
        let row = Row { ubr, kb, released, release_type };
        if entry.rows.insert(ubr, row).is_some() {
            return Err(format!("{} {}: listed twice", LINES[line], record.full_version));
        }
    }
    // An enablement-package version services with the same UBRs and KBs as the other builds of
    // its servicing stream (19045 shares them with 19044; 19041 itself ended before 19045 began).
    for (key, entry) in &builds {
        if entry.servicing_build == key.build {
            continue;
        }
        let shares = builds.iter().any(|(other_key, other)| {
            other_key.line == key.line
                && other_key.build != key.build
                && other.servicing_build == entry.servicing_build
                && entry.rows.values().any(|r| other.rows.get(&r.ubr).is_some_and(|o| o.kb == r.kb))
        });
        if !shares {
            return Err(format!(
                "{} {} is listed as serviced on {} but shares no UBR and KB with any build of that stream",
                LINES[key.line], key.build, entry.servicing_build
            ));
        }
    }
    Ok(builds)
}

fn client_line(sku: &str) -> Result<(usize, &'static str), String> {
    let line = if sku.starts_with("Windows 10 ") {
        0
    } else if sku.starts_with("Windows 11 ") {
        1
    } else {
        return Err(format!("unknown client SKU {sku:?}"));
    };
    let editions = if sku.ends_with("Enterprise and Education") {
        "EnterpriseEducation"
    } else if sku.ends_with("Home and Pro") {
        "HomePro"
    } else {
        return Err(format!("unknown client SKU {sku:?}"));
    };
    Ok((line, editions))
}

fn lifecycle_from(
    dir: &Path,
    builds: &BTreeMap<BuildKey, BuildEntry>,
) -> Result<(Vec<LifecycleRow>, Vec<String>), String> {
    let mut rows = Vec::new();
    let mut collected = Vec::new();

    let client: LifecycleFile<ClientLifecycle> = read_json(&dir.join("lifecycle-client.json"))?;
    collected.push(format!("lifecycle-client.json {}", client.metadata.last_collected));
    for record in &client.data {
        let (line, editions) = client_line(&record.sku)?;
        rows.push(LifecycleRow {
            line,
            version: record.version.trim().to_string(),
            editions,
            start: us_date(&record.start_date)?,
            mainstream_end: None,
            end: last_day_from_wednesday(&record.end_date)?,
        });
    }

    let server: LifecycleFile<ServerLifecycle> = read_json(&dir.join("lifecycle-server.json"))?;
    collected.push(format!("lifecycle-server.json {}", server.metadata.last_collected));
    for record in &server.data {
        // One row per product is the product itself; the others are service packs and
        // paid ESU years of versions older than any build in the table.
        if record.tier != record.version {
            continue;
        }
        let line = match record.version.as_str() {
            "Windows Server 2016" => "Server2016",
            "Windows Server 2019" => "Server2019",
            "Windows Server 2022" => "Server2022",
            "Windows Server 2025" => "Server2025",
            _ => continue, // 2008 and 2012: no build in the table
        };
        let line = LINES.iter().position(|l| *l == line).ok_or("line not in LINES")?;
        let version = builds
            .iter()
            .find(|(key, _)| key.line == line)
            .map(|(_, entry)| entry.version.clone())
            .ok_or_else(|| format!("{}: no build in the table", record.version))?;
        rows.push(LifecycleRow {
            line,
            version,
            editions: "Server",
            start: us_date(&record.start_date)?,
            mainstream_end: Some(last_day_from_wednesday(&record.mainstream_end_date)?),
            end: last_day_from_wednesday(&record.extended_end_date)?,
        });
    }

    let ltsc: LifecycleFile<LtscLifecycle> = read_json(&dir.join("lifecycle-ltsc.json"))?;
    collected.push(format!("lifecycle-ltsc.json {}", ltsc.metadata.last_collected));
    for record in &ltsc.data {
        let build: u32 = record.build.trim().parse().map_err(|_| format!("LTSC {}: odd build", record.version))?;
        let line = if build < 22000 { 0 } else { 1 };
        let version = builds
            .get(&BuildKey { line, build })
            .map(|entry| entry.version.clone())
            .ok_or_else(|| format!("LTSC {}: build {build} not in the table", record.version))?;
        let end = iso_date(&record.extended_end_date)?;
        if end.weekday() != Weekday::Tuesday {
            return Err(format!("LTSC {}: end {end} is not a Tuesday", record.version));
        }
        rows.push(LifecycleRow {
            line,
            version,
            editions: "Ltsc",
            start: iso_date(&record.start_date)?,
            // "End of updates" instead of a date: mainstream support is over, no date given.
            mainstream_end: iso_date(&record.mainstream_end_date).ok(),
            end,
        });
    }

    // The day-after correction must make the files agree where they describe the same build.
    let end_of = |line: &str, editions: &str| {
        let line = LINES.iter().position(|l| *l == line);
        rows.iter().find(|r| Some(r.line) == line && r.editions == editions && r.version == "1809").map(|r| r.end)
    };
    if end_of("Server2019", "Server") != end_of("Win10", "Ltsc") {
        return Err("Server 2019 and LTSC 2019 end dates disagree after the correction".into());
    }

    rows.sort_by(|a, b| (a.line, a.start, &a.version, a.editions).cmp(&(b.line, b.start, &b.version, b.editions)));
    let mut seen = BTreeSet::new();
    for row in &rows {
        if !seen.insert((row.line, row.version.clone(), row.editions)) {
            return Err(format!("lifecycle {} {} {} listed twice", LINES[row.line], row.version, row.editions));
        }
    }
    Ok((rows, collected))
}

fn d(date: Date) -> String {
    format!("d({}, {}, {})", date.year(), u8::from(date.month()), date.day())
}

/// The complete text of `src/patch/windows_builds.rs`.
fn generate(dir: &Path) -> Result<String, String> {
    let file: BuildFile = read_json(&dir.join("buildnumbers.json"))?;
    let table_date = iso_date(file.metadata.last_collected.get(..10).unwrap_or(""))?;
    let builds = builds_from(&file)?;
    let (lifecycle, collected) = lifecycle_from(dir, &builds)?;
    let rows: usize = builds.values().map(|b| b.rows.len()).sum();

    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(text);
        out.push('\n');
    };
    line("// @generated by tests/patch_table.rs: do not edit. Refresh with");
    line("// `REBOOTSCAN_REFRESH=1 cargo test --test patch_table` (reads ../shared/data/windows-builds,");
    line("// or $REBOOTSCAN_SHARED/data/windows-builds).");
    line("//");
    line("// Facts carried over from altrhombus/DataForGeeks `content/ms/win/` (MIT licence, Copyright (c)");
    line("// 2026 Jacob Thornberry), compiled from Microsoft's Windows update-history and lifecycle pages.");
    line(&format!("// buildnumbers.json collected {}; {}.", file.metadata.last_collected, collected.join("; ")));
    line("");
    line("//! Generated build → cumulative update table (see `tests/patch_table.rs`).");
    line("");
    line("use time::Date;");
    line("");
    line("use super::table::Editions::*;");
    line("use super::table::ProductLine::*;");
    line("use super::table::ReleaseType::*;");
    line("use super::table::{d, r, Build, Lifecycle};");
    line("");
    line("/// The day the source was collected: the table knows releases up to this date.");
    line(&format!("pub const TABLE_DATE: Date = {};", d(table_date)));
    line("");
    line("/// Releases written below (a unit test checks the rows add up to it).");
    line(&format!("pub const RELEASE_COUNT: usize = {rows};"));
    line("");
    line("/// Builds by product line, each with its releases by UBR: `r(UBR, KB, release date, type)`.");
    line("#[rustfmt::skip]");
    line("pub static BUILDS: &[Build] = &[");
    for (key, entry) in &builds {
        line(&format!(
            "    Build {{ line: {}, version: {:?}, build: {}, servicing_build: {}, releases: &[",
            LINES[key.line], entry.version, key.build, entry.servicing_build
        ));
        for row in entry.rows.values() {
            line(&format!("        r({}, {}, {}, {}),", row.ubr, row.kb, d(row.released), row.release_type));
        }
        line("    ] },");
    }
    line("];");
    line("");
    line("/// End of servicing per version and edition group; `end` is the last day of servicing.");
    line("#[rustfmt::skip]");
    line("pub static LIFECYCLE: &[Lifecycle] = &[");
    for row in &lifecycle {
        let mainstream = row.mainstream_end.map_or("None".to_string(), |date| format!("Some({})", d(date)));
        let mut text = String::new();
        let _ = write!(
            text,
            "    Lifecycle {{ line: {}, version: {:?}, editions: {}, start: {}, mainstream_end: {mainstream}, end: {} }},",
            LINES[row.line],
            row.version,
            row.editions,
            d(row.start),
            d(row.end)
        );
        line(&text);
    }
    line("];");
    Ok(out)
}

#[test]
fn committed_table_is_regenerated_byte_for_byte() {
    let Some(dir) = shared_data_dir() else { return };
    let generated = match generate(&dir) {
        Ok(text) => text,
        Err(problem) => panic!("cannot generate the build table from {}: {problem}", dir.display()),
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(TABLE_PATH);
    if std::env::var("REBOOTSCAN_REFRESH").map(|v| v == "1").unwrap_or(false) {
        std::fs::write(&path, &generated).expect("write the build table");
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let first_difference = committed
            .lines()
            .zip(generated.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(n, (a, b))| format!("line {}:\n  committed: {a}\n  generated: {b}", n + 1))
            .unwrap_or_else(|| {
                format!("lengths differ ({} vs {} lines)", committed.lines().count(), generated.lines().count())
            });
        panic!(
            "{TABLE_PATH} is not what the shared data generates ({first_difference}).\nRun \
             `REBOOTSCAN_REFRESH=1 cargo test --test patch_table` and review the diff."
        );
    }
}

#[test]
fn generator_rules() {
    assert!(is_second_tuesday(iso_date("2023-12-12").unwrap()));
    assert!(!is_second_tuesday(iso_date("2023-12-05").unwrap()));
    assert_eq!(us_date("8/2/2016 8").unwrap(), iso_date("2016-08-02").unwrap());
    assert_eq!(last_day_from_wednesday("10/15/2025").unwrap(), iso_date("2025-10-14").unwrap());
    assert!(last_day_from_wednesday("10/14/2025").is_err());
}
