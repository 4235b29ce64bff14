//! The refresh mechanism of the embedded security-update table (`src/security/msrc_cves.bin`,
//! with its readable summary `src/security/msrc_cves.txt`).
//!
//! Normal run: regenerates both files in memory from `../shared/data/msrc-cves/definitions.zip`
//! (WES-NG's MSRC data) and `../shared/data/kev/known_exploited_vulnerabilities.json` (CISA KEV),
//! or the same paths under `$REBOOTSCAN_SHARED/data`, and fails unless they equal the committed
//! files byte for byte. `REBOOTSCAN_REFRESH=1 cargo test --test security_table` writes them
//! instead. Without the shared data the test prints `SKIPPED` and passes; under `CI=true` it fails.
//!
//! Only the facts the tool needs are carried over, never the data files: for each Windows
//! operating-system product (Windows 10, 11, Server 2016 and later, 7 SP1, 8.1, Server 2008 R2
//! SP1 and 2012 R2, each architecture and Server Core separately) the (CVE, fixing KB) pairs
//! with severity and impact, the KB's release date, and per CVE the KEV listing (date added,
//! ransomware use) and whether the MSRC row names a public exploit.
//!
//! What the generator decides, and why:
//! - **Products**: the MSRC name exactly as the hive-derived name will be built
//!   (`Windows 10 Version 22H2 for x64-based Systems`), whitespace collapsed and compared without
//!   case (the data has both `Windows 8.1 for x64-based systems` and `…Systems`, and trailing
//!   spaces). Components named "X on Windows …" (Internet Explorer, .NET, Edge, Flash) are other
//!   products and are left out, as are HoloLens, HLK/ADK, the Semi-Annual Channel servers
//!   ("Windows Server, version 1709"…, no product line in the build table) and two one-off names
//!   ("Windows 11 for x64-based Systems", "… 26H1 for x64-based Systems - extra"). "Windows 11
//!   Version 25H2 for ARM systems" (41 CVEs no other 25H2 ARM64 row lists) is MSRC's other
//!   spelling of ARM64 and is merged into it.
//! - **Ids**: `CVE-YYYY-N…` and `ADV…` advisories; a handful of rows spell CVE ids without
//!   dashes (`CVE20163291`) and are normalised. Rows without an id are dropped.
//! - **KB**: rows without a numeric `BulletinKB` (an empty KB, "Release Notes") say no update to
//!   compare with and are dropped (WES-NG drops them too); they are counted in the summary.
//! - **Severity and impact**: when the same (product, CVE, KB) appears more than once, the highest
//!   severity and the first impact in the order RCE, EoP, SFB, ID, spoofing, tampering, DoS,
//!   defense in depth.
//! - **KB date**: `DatePosted` is the date of each CVE's revision, not the KB's; the KB's date is
//!   the most frequent `DatePosted` among its rows for that product (earliest on a tie). At run
//!   time a KB that is a cumulative update of the machine's build takes its release date from the
//!   build table instead; this date serves the products the build table lacks.
//!
//! Binary layout (little endian), read by `src/security/table.rs`:
//! header `RBSCVE1\n`, data date, KEV date (both YYYYMMDD u32), then counts of ids, products,
//! KBs, rows and string bytes (u32 each); ids (8 bytes: string offset u32, length u8, flags u8,
//! KEV date-added as days since 2000-01-01 u16); products (20 bytes: name offset u32, name
//! length u16, KB start u32, KB count u16, row start u32, row count u32); KBs (8 bytes: number
//! u32, date YYYYMMDD u32); rows (6 bytes: id index u16, product-local KB index u16, severity
//! u8, impact u8), sorted by id then KB date within each product; then the strings.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

const BIN_PATH: &str = "src/security/msrc_cves.bin";
const SUMMARY_PATH: &str = "src/security/msrc_cves.txt";
const MAGIC: &[u8; 8] = b"RBSCVE1\n";

/// Severity codes of the table (0 = not rated).
const SEVERITIES: [&str; 5] = ["", "low", "moderate", "important", "critical"];
/// Impact codes of the table, in the order that wins on a duplicate (0 = unknown).
const IMPACTS: [&str; 9] = [
    "",
    "remote code execution",
    "elevation of privilege",
    "security feature bypass",
    "information disclosure",
    "spoofing",
    "tampering",
    "denial of service",
    "defense in depth",
];

const FLAG_KEV: u8 = 1;
const FLAG_RANSOMWARE: u8 = 2;
const FLAG_PUBLIC_EXPLOIT: u8 = 4;

fn shared_dir() -> Option<PathBuf> {
    let shared = match std::env::var_os("REBOOTSCAN_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    };
    let data = shared.join("data");
    if data.join("msrc-cves/definitions.zip").is_file()
        && data.join("kev/known_exploited_vulnerabilities.json").is_file()
    {
        return Some(data);
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!(
            "security_table: the MSRC/KEV data is missing under {} and CI=true: set REBOOTSCAN_SHARED",
            data.display()
        );
    }
    eprintln!("SKIPPED security_table: no MSRC/KEV data under {} (set REBOOTSCAN_SHARED)", data.display());
    None
}

/// The canonical (display) name of a Windows OS product, or `None` for anything else.
fn os_product(raw: &str) -> Option<String> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = name.to_ascii_lowercase();
    let arch = |rest: &str| -> Option<&'static str> {
        match rest {
            "32-bit systems" => Some("32-bit"),
            "x64-based systems" => Some("x64-based"),
            "arm64-based systems" => Some("ARM64-based"),
            _ => None,
        }
    };
    if let Some(rest) = lower.strip_prefix("windows 10 for ") {
        return arch(rest).map(|a| format!("Windows 10 for {a} Systems"));
    }
    if let Some(rest) = lower.strip_prefix("windows 10 version ") {
        let (version, rest) = rest.split_once(" for ")?;
        return arch(rest).map(|a| format!("Windows 10 Version {} for {a} Systems", version.to_ascii_uppercase()));
    }
    if let Some(rest) = lower.strip_prefix("windows 11 version ") {
        let (version, rest) = rest.split_once(" for ")?;
        let a = if rest == "arm systems" { Some("ARM64-based") } else { arch(rest) };
        return a.map(|a| format!("Windows 11 Version {} for {a} Systems", version.to_ascii_uppercase()));
    }
    for year in ["2016", "2019", "2022", "2025"] {
        if lower == format!("windows server {year}") {
            return Some(format!("Windows Server {year}"));
        }
        if lower == format!("windows server {year} (server core installation)") {
            return Some(format!("Windows Server {year} (Server Core installation)"));
        }
    }
    let fixed: [(&str, &str); 9] = [
        (
            "windows server 2022, 23h2 edition (server core installation)",
            "Windows Server 2022, 23H2 Edition (Server Core installation)",
        ),
        ("windows 7 for 32-bit systems service pack 1", "Windows 7 for 32-bit Systems Service Pack 1"),
        ("windows 7 for x64-based systems service pack 1", "Windows 7 for x64-based Systems Service Pack 1"),
        ("windows 8.1 for 32-bit systems", "Windows 8.1 for 32-bit Systems"),
        ("windows 8.1 for x64-based systems", "Windows 8.1 for x64-based Systems"),
        (
            "windows server 2008 r2 for x64-based systems service pack 1",
            "Windows Server 2008 R2 for x64-based Systems Service Pack 1",
        ),
        (
            "windows server 2008 r2 for x64-based systems service pack 1 (server core installation)",
            "Windows Server 2008 R2 for x64-based Systems Service Pack 1 (Server Core installation)",
        ),
        ("windows server 2012 r2", "Windows Server 2012 R2"),
        ("windows server 2012 r2 (server core installation)", "Windows Server 2012 R2 (Server Core installation)"),
    ];
    fixed.iter().find(|(key, _)| *key == lower).map(|(_, canonical)| canonical.to_string())
}

/// `CVE-2016-3291` from `CVE-2016-3291` or `CVE20163291`; `ADV180002` as is.
fn normalise_id(raw: &str) -> Option<String> {
    let id = raw.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(rest) = id.strip_prefix("CVE-") {
        let (year, number) = rest.split_once('-')?;
        return (year.len() == 4 && digits(year) && number.len() >= 4 && digits(number)).then(|| id.to_string());
    }
    if let Some(rest) = id.strip_prefix("CVE") {
        return (rest.len() >= 8 && digits(rest)).then(|| format!("CVE-{}-{}", &rest[..4], &rest[4..]));
    }
    if let Some(rest) = id.strip_prefix("ADV") {
        return digits(rest).then(|| id.to_string());
    }
    None
}

fn severity_code(text: &str) -> u8 {
    SEVERITIES.iter().position(|s| !s.is_empty() && text.trim().eq_ignore_ascii_case(s)).unwrap_or(0) as u8
}

fn impact_code(text: &str) -> u8 {
    IMPACTS.iter().position(|s| !s.is_empty() && text.trim().eq_ignore_ascii_case(s)).unwrap_or(0) as u8
}

/// Days since 2000-01-01 of a `YYYY-MM-DD` date.
fn days_since_2000(text: &str) -> Result<u16, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text, &format).map_err(|e| format!("date {text:?}: {e}"))?;
    let epoch = time::macros::date!(2000 - 01 - 01);
    u16::try_from((date - epoch).whole_days()).map_err(|_| format!("date {text:?} out of range"))
}

#[derive(Deserialize)]
struct Kev {
    #[serde(rename = "catalogVersion")]
    catalog_version: String,
    count: usize,
    vulnerabilities: Vec<KevEntry>,
}

#[derive(Deserialize)]
struct KevEntry {
    #[serde(rename = "cveID")]
    cve_id: String,
    #[serde(rename = "dateAdded")]
    date_added: String,
    #[serde(rename = "knownRansomwareCampaignUse")]
    ransomware: String,
}

#[derive(Deserialize)]
struct Row {
    #[serde(rename = "DatePosted")]
    date_posted: String,
    #[serde(rename = "CVE")]
    cve: String,
    #[serde(rename = "BulletinKB")]
    kb: String,
    #[serde(rename = "AffectedProduct")]
    product: String,
    #[serde(rename = "Severity")]
    severity: String,
    #[serde(rename = "Impact")]
    impact: String,
    #[serde(rename = "Exploits")]
    exploits: String,
}

#[derive(Default)]
struct Product {
    /// (id, kb) → (severity, impact).
    pairs: BTreeMap<(String, u32), (u8, u8)>,
    /// kb → DatePosted counts.
    kb_dates: BTreeMap<u32, BTreeMap<u32, u32>>,
    dropped_without_kb: usize,
}

struct Tables {
    bin: Vec<u8>,
    summary: String,
}

fn put_u16(out: &mut Vec<u8>, n: u16) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn generate(data: &Path) -> Result<Tables, String> {
    let zip_path = data.join("msrc-cves/definitions.zip");
    let file = std::fs::File::open(&zip_path).map_err(|e| format!("{}: {e}", zip_path.display()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("{}: {e}", zip_path.display()))?;
    let csv_name = archive
        .file_names()
        .find(|n| n.starts_with("CVEs_") && n.ends_with(".csv"))
        .map(str::to_string)
        .ok_or("no CVEs_YYYYMMDD.csv in definitions.zip")?;
    let data_date: u32 = csv_name
        .trim_start_matches("CVEs_")
        .trim_end_matches(".csv")
        .parse()
        .map_err(|_| format!("{csv_name}: no date in the name"))?;

    let kev_path = data.join("kev/known_exploited_vulnerabilities.json");
    let kev_text = std::fs::read_to_string(&kev_path).map_err(|e| format!("{}: {e}", kev_path.display()))?;
    let kev: Kev = serde_json::from_str(&kev_text).map_err(|e| format!("{}: {e}", kev_path.display()))?;
    if kev.count != kev.vulnerabilities.len() {
        return Err(format!("KEV count {} but {} entries", kev.count, kev.vulnerabilities.len()));
    }
    let kev_date: u32 = kev.catalog_version.replace('.', "").parse().map_err(|_| "odd KEV catalogVersion")?;
    let kev_by_id: HashMap<&str, &KevEntry> = kev.vulnerabilities.iter().map(|k| (k.cve_id.trim(), k)).collect();

    let entry = archive.by_name(&csv_name).map_err(|e| format!("{csv_name}: {e}"))?;
    let mut reader = csv::Reader::from_reader(std::io::BufReader::with_capacity(1 << 20, entry));
    let mut products: BTreeMap<String, Product> = BTreeMap::new();
    let mut public_exploit: BTreeSet<String> = BTreeSet::new();
    let mut rows_read = 0usize;
    let mut rows_without_id = 0usize;
    for record in reader.deserialize::<Row>() {
        let row = record.map_err(|e| format!("{csv_name}: {e}"))?;
        rows_read += 1;
        let Some(product) = os_product(&row.product) else { continue };
        let Some(id) = normalise_id(&row.cve) else {
            rows_without_id += 1;
            continue;
        };
        let entry = products.entry(product).or_default();
        let Ok(kb) = row.kb.trim().parse::<u32>() else {
            entry.dropped_without_kb += 1;
            continue;
        };
        let posted: u32 =
            row.date_posted.trim().parse().map_err(|_| format!("odd DatePosted {:?}", row.date_posted))?;
        *entry.kb_dates.entry(kb).or_default().entry(posted).or_default() += 1;
        let severity = severity_code(&row.severity);
        let impact = impact_code(&row.impact);
        if !row.exploits.trim().is_empty() {
            public_exploit.insert(id.clone());
        }
        entry
            .pairs
            .entry((id, kb))
            .and_modify(|(s, i)| {
                *s = (*s).max(severity);
                if *i == 0 || (impact != 0 && impact < *i) {
                    *i = impact;
                }
            })
            .or_insert((severity, impact));
    }
    drop(reader);

    // Ids sorted by text: the index of each in the table.
    let ids: BTreeSet<&str> = products.values().flat_map(|p| p.pairs.keys().map(|(id, _)| id.as_str())).collect();
    let ids: Vec<&str> = ids.into_iter().collect();
    if ids.len() > usize::from(u16::MAX) {
        return Err(format!("{} ids do not fit the u16 index", ids.len()));
    }
    let id_index: HashMap<&str, u16> = ids.iter().enumerate().map(|(n, id)| (*id, n as u16)).collect();

    let mut strings: Vec<u8> = Vec::new();
    let mut id_bytes = Vec::new();
    let mut kev_listed = 0usize;
    for id in &ids {
        let offset = strings.len() as u32;
        strings.extend_from_slice(id.as_bytes());
        let mut flags = 0u8;
        let mut added = 0u16;
        if let Some(entry) = kev_by_id.get(id) {
            flags |= FLAG_KEV;
            kev_listed += 1;
            added = days_since_2000(entry.date_added.trim())?;
            if entry.ransomware.trim().eq_ignore_ascii_case("known") {
                flags |= FLAG_RANSOMWARE;
            }
        }
        if public_exploit.contains(*id) {
            flags |= FLAG_PUBLIC_EXPLOIT;
        }
        put_u32(&mut id_bytes, offset);
        id_bytes.push(u8::try_from(id.len()).map_err(|_| format!("id {id} too long"))?);
        id_bytes.push(flags);
        put_u16(&mut id_bytes, added);
    }

    let mut product_bytes = Vec::new();
    let mut kb_bytes = Vec::new();
    let mut row_bytes = Vec::new();
    let mut summary = String::new();
    let (mut kb_total, mut row_total) = (0u32, 0u32);
    summary.push_str(&format!(
        "# @generated by tests/security_table.rs: do not edit. Summary of msrc_cves.bin.\n\
         # MSRC security-update data as collected by WES-NG (Arris Huijgen, BSD-3-Clause): {csv_name}, \
         {rows_read} rows;\n# CISA Known Exploited Vulnerabilities catalogue (CC0) {}, {} entries, {kev_listed} of \
         them on a Windows OS product below.\n# {} ids; rows without an id dropped: {rows_without_id}.\n\
         # product | CVE rows (id, KB) | distinct ids | KBs | newest KB (date) | rows without a KB (dropped)\n",
        kev.catalog_version,
        kev.count,
        ids.len()
    ));
    for (name, product) in &products {
        // KB dates: the most frequent DatePosted, earliest on a tie.
        let kb_list: Vec<(u32, u32)> = product
            .kb_dates
            .iter()
            .map(|(kb, dates)| {
                let date = dates.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map_or(0, |(d, _)| *d);
                (*kb, date)
            })
            .collect();
        if kb_list.len() > usize::from(u16::MAX) {
            return Err(format!("{name}: too many KBs"));
        }
        let kb_local: HashMap<u32, (u16, u32)> =
            kb_list.iter().enumerate().map(|(n, (kb, date))| (*kb, (n as u16, *date))).collect();
        let mut rows: Vec<(u16, u32, u16, u8, u8)> = product
            .pairs
            .iter()
            .map(|((id, kb), (severity, impact))| {
                let (local, date) = kb_local[kb];
                (id_index[id.as_str()], date, local, *severity, *impact)
            })
            .collect();
        rows.sort_unstable();
        let name_offset = strings.len() as u32;
        strings.extend_from_slice(name.as_bytes());
        put_u32(&mut product_bytes, name_offset);
        put_u16(&mut product_bytes, name.len() as u16);
        put_u32(&mut product_bytes, kb_total);
        put_u16(&mut product_bytes, kb_list.len() as u16);
        put_u32(&mut product_bytes, row_total);
        put_u32(&mut product_bytes, rows.len() as u32);
        for (kb, date) in &kb_list {
            put_u32(&mut kb_bytes, *kb);
            put_u32(&mut kb_bytes, *date);
        }
        for (id, _, local, severity, impact) in &rows {
            put_u16(&mut row_bytes, *id);
            put_u16(&mut row_bytes, *local);
            row_bytes.push(*severity);
            row_bytes.push(*impact);
        }
        kb_total += kb_list.len() as u32;
        row_total += rows.len() as u32;
        let distinct: BTreeSet<u16> = rows.iter().map(|r| r.0).collect();
        let newest = kb_list.iter().max_by_key(|(kb, date)| (*date, *kb));
        summary.push_str(&format!(
            "{name} | {} | {} | {} | {} | {}\n",
            rows.len(),
            distinct.len(),
            kb_list.len(),
            newest.map_or("-".into(), |(kb, date)| format!("KB{kb} ({date})")),
            product.dropped_without_kb
        ));
    }

    let mut bin = Vec::new();
    bin.extend_from_slice(MAGIC);
    put_u32(&mut bin, data_date);
    put_u32(&mut bin, kev_date);
    for count in [ids.len() as u32, products.len() as u32, kb_total, row_total, strings.len() as u32] {
        put_u32(&mut bin, count);
    }
    bin.extend_from_slice(&id_bytes);
    bin.extend_from_slice(&product_bytes);
    bin.extend_from_slice(&kb_bytes);
    bin.extend_from_slice(&row_bytes);
    bin.extend_from_slice(&strings);
    summary.push_str(&format!(
        "# {} products, {kb_total} KBs, {row_total} rows, {} bytes\n",
        products.len(),
        bin.len()
    ));
    Ok(Tables { bin, summary })
}

#[test]
fn committed_security_table_is_regenerated_byte_for_byte() {
    let Some(data) = shared_dir() else { return };
    let tables = match generate(&data) {
        Ok(tables) => tables,
        Err(problem) => panic!("cannot generate the security table from {}: {problem}", data.display()),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if std::env::var("REBOOTSCAN_REFRESH").map(|v| v == "1").unwrap_or(false) {
        std::fs::write(root.join(BIN_PATH), &tables.bin).expect("write the security table");
        std::fs::write(root.join(SUMMARY_PATH), &tables.summary).expect("write the security table summary");
        eprintln!("wrote {BIN_PATH} ({} bytes) and {SUMMARY_PATH}", tables.bin.len());
        return;
    }
    let committed_summary = std::fs::read_to_string(root.join(SUMMARY_PATH)).unwrap_or_default();
    if committed_summary != tables.summary {
        let first = committed_summary
            .lines()
            .zip(tables.summary.lines())
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("\n  committed: {a}\n  generated: {b}"))
            .unwrap_or_else(|| " (lengths differ)".into());
        panic!(
            "{SUMMARY_PATH} is not what the shared data generates{first}\nRun `REBOOTSCAN_REFRESH=1 cargo test \
             --test security_table` and review the diff."
        );
    }
    let committed = std::fs::read(root.join(BIN_PATH)).unwrap_or_default();
    assert!(
        committed == tables.bin,
        "{BIN_PATH} ({} bytes) is not what the shared data generates ({} bytes). Run `REBOOTSCAN_REFRESH=1 cargo \
         test --test security_table`.",
        committed.len(),
        tables.bin.len()
    );
}

#[test]
fn generator_rules() {
    assert_eq!(os_product("Windows 8.1 for x64-based systems").as_deref(), Some("Windows 8.1 for x64-based Systems"));
    assert_eq!(
        os_product("Windows 10 Version 1607 for 32-bit Systems  ").as_deref(),
        Some("Windows 10 Version 1607 for 32-bit Systems")
    );
    assert_eq!(
        os_product("Windows 11 version 21H2 for x64-based Systems").as_deref(),
        Some("Windows 11 Version 21H2 for x64-based Systems")
    );
    assert_eq!(
        os_product("Windows 11 Version 25H2 for ARM systems").as_deref(),
        Some("Windows 11 Version 25H2 for ARM64-based Systems")
    );
    assert_eq!(
        os_product("Windows Server 2012 R2 (server core installation)").as_deref(),
        Some("Windows Server 2012 R2 (Server Core installation)")
    );
    assert_eq!(os_product("Internet Explorer 11 on Windows Server 2019"), None);
    assert_eq!(os_product("Windows 10 Version 1607 for HoloLens"), None);
    assert_eq!(os_product("Windows Server, version 20H2 (Server Core Installation)"), None);
    assert_eq!(os_product("Windows 11 Version 26H1 for x64-based Systems - extra"), None);
    assert_eq!(normalise_id("CVE20163291").as_deref(), Some("CVE-2016-3291"));
    assert_eq!(normalise_id("CVE-2024-21412").as_deref(), Some("CVE-2024-21412"));
    assert_eq!(normalise_id("ADV180002").as_deref(), Some("ADV180002"));
    assert_eq!(normalise_id(""), None);
    assert_eq!(severity_code("Critical"), 4);
    assert_eq!(severity_code("System.Object[]"), 0);
    assert_eq!(impact_code("Remote code execution"), 1);
}
