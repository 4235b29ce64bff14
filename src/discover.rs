//! Discover: from the paths a user gives to machines and their hive files.
//!
//! Recognises one folder per machine (hives directly inside), Windows layouts
//! (`…/Windows/System32/config/SYSTEM`), KAPE/Velociraptor collections
//! (`<machine>/C/Windows/…`, `<machine>/C%3A/…`, `<machine>/C_/…`) and `config/RegBack`
//! copies, which become a separate, older snapshot of the same machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use walkdir::WalkDir;

use crate::archive::{self, ArchiveFormat, ArchiveTree};
use crate::image::machine::{has_image_extension, looks_like_image, read_head, volume_name};
use crate::image::source::{segment_role, SegmentRole};
use crate::image::vmdk;
use crate::image::{ImageSpec, ImageVolume};
use crate::input::{non_regular_kind, not_regular_reason};
use crate::load::kind::HiveKind;

/// One machine to scan. It serializes to plain data and back (the Python binding hands
/// specs to other processes), so it holds paths and numbers only, no open handles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineSpec {
    /// The machine's folder relative to the scan root (or the file path given), plus
    /// ` [RegBack]` for backup snapshots.
    pub label: String,
    /// The hive files, by the kind their name suggests (content decides later).
    pub hives: Vec<PathBuf>,
    /// `RegBack` for Windows' own backup copies; `None` for the live hives.
    pub snapshot: Option<String>,
    /// Set when the hives are read out of a volume of a disk image; `hives` then holds the
    /// paths reported for them (`disk.raw [partition 2]/Windows/…/SYSTEM`), not files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageVolume>,
}

/// A file or folder discovery could not use, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Discovery {
    pub machines: Vec<MachineSpec>,
    /// Paths that could not be used: missing, unreadable, links. They make a run incomplete.
    pub skipped: Vec<Skipped>,
    /// Files left out on purpose, with the reason (empty RegBack copies).
    pub ignored: Vec<Skipped>,
}

/// Extensions a collected hive may carry.
const HIVE_EXTENSIONS: &[&str] = &["", "hiv", "dat", "hve", "hive"];

/// The hive kind a file name stands for, if it names SYSTEM, SOFTWARE or COMPONENTS.
pub fn machine_hive_name(name: &str) -> Option<HiveKind> {
    let lower = name.to_ascii_lowercase();
    let (stem, extension) = match lower.split_once('.') {
        Some((stem, ext)) => (stem, ext),
        None => (lower.as_str(), ""),
    };
    if !HIVE_EXTENSIONS.contains(&extension) {
        return None;
    }
    match stem {
        "system" => Some(HiveKind::System),
        "software" => Some(HiveKind::Software),
        "components" => Some(HiveKind::Components),
        _ => None,
    }
}

fn eq_ignore_case(component: &std::ffi::OsStr, expected: &str) -> bool {
    component.to_str().is_some_and(|c| c.eq_ignore_ascii_case(expected))
}

/// A drive-letter folder as collection tools write it: `C`, `C%3A`, `C_`, `C:`, and
/// Velociraptor's raw-device form `\\.\C:` URL-encoded (`%5C%5C.%5CC%3A`).
fn is_drive_folder(component: &std::ffi::OsStr) -> bool {
    component.to_str().is_some_and(is_drive_folder_name)
}

/// [`is_drive_folder`] for a name as text.
pub(crate) fn is_drive_folder_name(text: &str) -> bool {
    let upper = text.to_ascii_uppercase();
    // Not a Result: the raw-device prefix is optional.
    let text = upper.strip_prefix("%5C%5C.%5C").unwrap_or(&upper);
    let mut chars = text.chars();
    let Some(letter) = chars.next() else { return false };
    let rest: String = chars.collect();
    letter.is_ascii_alphabetic() && ["", "%3A", "_", ":"].contains(&rest.as_str())
}

/// Folders collection tools put between the machine folder and the drive: Velociraptor's
/// `uploads/auto` and `uploads/ntfs`, KAPE's `uploads`-less layout needs none.
const COLLECTOR_FOLDERS: &[&[&str]] = &[&["uploads", "auto"], &["uploads", "ntfs"], &["uploads", "file"], &["uploads"]];

fn strip_collector_folders(folder: &mut PathBuf) {
    for pattern in COLLECTOR_FOLDERS {
        let names: Vec<String> = folder
            .components()
            .rev()
            .take(pattern.len())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let matches = names.len() == pattern.len()
            && names.iter().rev().zip(pattern.iter()).all(|(name, expected)| name.eq_ignore_ascii_case(expected));
        if matches {
            for _ in 0..pattern.len() {
                folder.pop();
            }
            return;
        }
    }
}

/// The machine folder and snapshot of a hive file found during a walk.
fn machine_folder(file: &Path) -> (PathBuf, Option<String>) {
    // A bare file name has no parent: its machine folder is the scan root itself.
    let mut folder = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut snapshot = None;
    if folder.file_name().is_some_and(|n| eq_ignore_case(n, "RegBack")) {
        snapshot = Some("RegBack".to_string());
        folder.pop();
    }
    let components: Vec<_> = folder.components().collect();
    let n = components.len();
    if n >= 3 {
        let tail = [components[n - 3].as_os_str(), components[n - 2].as_os_str(), components[n - 1].as_os_str()];
        if eq_ignore_case(tail[0], "Windows")
            && eq_ignore_case(tail[1], "System32")
            && eq_ignore_case(tail[2], "config")
        {
            folder.pop();
            folder.pop();
            folder.pop();
            if folder.file_name().is_some_and(is_drive_folder) {
                folder.pop();
                strip_collector_folders(&mut folder);
            }
        }
    }
    (folder, snapshot)
}

fn label_for(root: &Path, folder: &Path) -> String {
    match folder.strip_prefix(root) {
        Ok(relative) if relative.as_os_str().is_empty() => {
            // `/` or `..` have no file name: the path as given labels the machine.
            root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| root.display().to_string())
        }
        Ok(relative) => relative.to_string_lossy().replace('\\', "/"),
        Err(_) => folder.display().to_string(),
    }
}

/// Finds the machines under each path. A file given directly is one machine on its own.
pub fn discover(paths: &[PathBuf]) -> Discovery {
    let mut discovery = Discovery::default();
    for path in paths {
        match std::fs::metadata(path) {
            Err(error) => discovery.skipped.push(Skipped {
                path: path.display().to_string(),
                reason: if error.kind() == std::io::ErrorKind::NotFound {
                    "does not exist (check the path)".to_string()
                } else {
                    format!("cannot be read: {error} (check that you may read it)")
                },
            }),
            Ok(meta) if meta.is_file() && vmdk::set_role(path) != vmdk::SetRole::Disk => {
                let entry = |reason| Skipped { path: path.display().to_string(), reason };
                match vmdk::set_role(path) {
                    vmdk::SetRole::ExtentOf(descriptor) if paths.contains(&descriptor) => discovery
                        .ignored
                        .push(entry(format!("an extent of the VMDK disk {}, read with it", descriptor.display()))),
                    vmdk::SetRole::ExtentOf(descriptor) => discovery.skipped.push(entry(format!(
                        "an extent of the VMDK disk {}: scan that descriptor, which reads every extent",
                        descriptor.display()
                    ))),
                    vmdk::SetRole::Orphan(descriptor) => {
                        discovery.skipped.push(entry(vmdk::orphan_reason(&descriptor)))
                    }
                    vmdk::SetRole::Disk => {}
                }
            }
            Ok(meta) if meta.is_file() && is_image_file(path) => {
                discover_image(path, &path.display().to_string(), true, &mut discovery)
            }
            Ok(meta) if meta.is_file() && archive_format(path).is_some() => {
                if let Some(format) = archive_format(path) {
                    discover_archive(path, &path.display().to_string(), format, true, &mut discovery)
                }
            }
            Ok(meta) if meta.is_file() => discovery.machines.push(MachineSpec {
                label: path.display().to_string(),
                hives: vec![path.clone()],
                snapshot: None,
                image: None,
            }),
            Ok(meta) if meta.is_dir() => contained(path, &mut discovery, |found| discover_tree(path, found)),
            Ok(meta) => discovery.skipped.push(Skipped {
                path: path.display().to_string(),
                // Neither a file nor a folder: `None` only if the platform names no such kind.
                reason: not_regular_reason(non_regular_kind(&meta.file_type()).unwrap_or("a special file")),
            }),
        }
    }
    discovery
}

fn discover_tree(root: &Path, discovery: &mut Discovery) {
    // (folder, snapshot) → files; BTreeMap keeps the report order stable.
    let mut groups: BTreeMap<(PathBuf, Option<String>), Vec<PathBuf>> = BTreeMap::new();
    let mut images: Vec<PathBuf> = Vec::new();
    let mut archives: Vec<(PathBuf, ArchiveFormat)> = Vec::new();
    let mut hive_named_folders: Vec<PathBuf> = Vec::new();
    let skipped_before = discovery.skipped.len();
    let walker = WalkDir::new(root).follow_links(false).sort_by_file_name();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
                // The walk's error is listed either way; these only choose its path and words.
                let path = error.path().map(|p| p.display().to_string()).unwrap_or_else(|| root.display().to_string());
                let reason = if error.loop_ancestor().is_some() {
                    "symbolic link loop".to_string()
                } else {
                    format!(
                        "cannot be read: {} (check that you may read it)",
                        error.io_error().map(|e| e.to_string()).unwrap_or_else(|| error.to_string())
                    )
                };
                discovery.skipped.push(Skipped { path, reason });
                continue;
            }
        };
        // The root is a path the user named: followed (walkdir does), never also reported.
        if entry.file_type().is_symlink() && entry.depth() > 0 {
            discovery.skipped.push(Skipped {
                path: entry.path().display().to_string(),
                reason: "symbolic link (not followed, so evidence outside the tree is never read)".to_string(),
            });
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        if !entry.file_type().is_file() && entry.depth() > 0 && machine_hive_name(&name).is_some() {
            if entry.file_type().is_dir() {
                // `Windows\System` is a folder of every Windows tree: only a folder named like
                // a hive where hives are expected is worth a word (decided after the walk).
                hive_named_folders.push(entry.path().to_path_buf());
            } else {
                // Not a file (checked above): `None` only if the platform names no such kind.
                let kind = non_regular_kind(&entry.file_type()).unwrap_or("a special file");
                discovery
                    .skipped
                    .push(Skipped { path: entry.path().display().to_string(), reason: not_regular_reason(kind) });
            }
            continue;
        }
        if !entry.file_type().is_file() {
            continue;
        }
        if machine_hive_name(&name).is_none() {
            // Disk images and archives are recognised by extension, and larger files by their
            // first bytes, so that none is dropped without a word; then by content.
            // A file listed but not stat-able (a folder readable but not searchable, or the
            // file removed meanwhile) could be an image or archive with no telling name:
            // said, not taken for a small file of no interest.
            let size = match entry.metadata() {
                Ok(meta) => meta.len(),
                Err(error) => {
                    let error = error.io_error().map(|e| e.to_string()).unwrap_or_else(|| error.to_string());
                    discovery.skipped.push(Skipped {
                        path: entry.path().display().to_string(),
                        reason: format!("cannot be read: {error} (check that you may read it)"),
                    });
                    continue;
                }
            };
            match held_evidence(entry.path(), size) {
                Held::Image => images.push(entry.path().to_path_buf()),
                Held::Archive(format) => archives.push((entry.path().to_path_buf(), format)),
                Held::NotRead(reason) => {
                    discovery.ignored.push(Skipped { path: entry.path().display().to_string(), reason })
                }
                Held::Nothing => {}
            }
            continue;
        }
        let (folder, snapshot) = machine_folder(entry.path());
        if snapshot.is_some() && entry.metadata().is_ok_and(|m| m.len() == 0) {
            // Windows 10 1803 and later leave 0-byte files in RegBack (KB 4509719).
            discovery.ignored.push(Skipped {
                path: entry.path().display().to_string(),
                reason: "empty RegBack copy (Windows 10 1803 and later no longer fill RegBack)".to_string(),
            });
            continue;
        }
        groups.entry((folder, snapshot)).or_default().push(entry.path().to_path_buf());
    }
    for folder in hive_named_folders {
        let (machine, snapshot) = machine_folder(&folder);
        let in_config = folder.parent().and_then(Path::file_name).is_some_and(|n| eq_ignore_case(n, "config"));
        if in_config || groups.contains_key(&(machine, snapshot)) {
            discovery
                .skipped
                .push(Skipped { path: folder.display().to_string(), reason: not_regular_reason("a folder") });
        }
    }
    if groups.is_empty()
        && images.is_empty()
        && archives.is_empty()
        && discovery.ignored.is_empty()
        && discovery.skipped.len() == skipped_before
    {
        discovery.skipped.push(Skipped {
            path: root.display().to_string(),
            reason: "no SYSTEM, SOFTWARE or COMPONENTS hive found in this folder or below (give a hive file directly, or the folder that holds the hives or Windows/System32/config)".to_string(),
        });
    }
    for ((folder, snapshot), hives) in groups {
        let mut label = label_for(root, &folder);
        if let Some(snapshot) = &snapshot {
            label = format!("{label} [{snapshot}]");
        }
        discovery.machines.push(MachineSpec { label, hives, snapshot, image: None });
    }
    for (path, format) in archives {
        discover_archive(&path, &label_for(root, &path), format, false, discovery);
    }
    for image in images {
        match read_head(&image) {
            Ok(head) if looks_like_image(&head) => discover_image(&image, &label_for(root, &image), false, discovery),
            Ok(_) => discovery.ignored.push(Skipped {
                path: image.display().to_string(),
                reason: "named like a disk image, but neither a partition table nor an NTFS boot sector nor a known container format"
                    .to_string(),
            }),
            Err(error) => discovery
                .skipped
                .push(Skipped { path: image.display().to_string(), reason: format!("cannot be read: {error}") }),
        }
    }
}

// ---- Disk images -------------------------------------------------------------------------

/// A file given directly is an image when its content says so, or when it is named like
/// one and is not a hive (so that a damaged image gets an image error, not "not a hive").
fn is_image_file(path: &Path) -> bool {
    match read_head(path) {
        Ok(head) => looks_like_image(&head) || (has_image_extension(path) && !head.starts_with(b"regf")),
        Err(_) => false,
    }
}

/// One machine per Windows volume of the image (and one per non-empty `RegBack` folder),
/// labelled `IMAGE [partition N]`. Volumes that cannot be read are skipped; volumes without
/// Windows are ignored with a note. An image without any Windows volume is skipped when it
/// was given directly, and ignored when it was found in a tree.
/// Runs the discovery of one container (image or archive: parsers of hostile structures) so
/// that a panic in it — a bug in rebootscan or a crate it uses — costs only that container:
/// nothing it found is kept (it may be half-done), the path is listed as skipped with the
/// failure, and the other paths are still searched. Uses the same containment as a machine's
/// scan (no reliance on the process-wide hook).
fn contained(path: &Path, discovery: &mut Discovery, discover: impl FnOnce(&mut Discovery)) {
    let mut found = Discovery::default();
    match crate::load::guard::contain_reporting_location(|| discover(&mut found)) {
        Ok(()) => {
            discovery.machines.append(&mut found.machines);
            discovery.skipped.append(&mut found.skipped);
            discovery.ignored.append(&mut found.ignored);
        }
        Err(panic) => {
            // The location is known only when the library's own hook saw the panic.
            let at = panic.location.map(|l| format!(" at {l}")).unwrap_or_default();
            discovery.skipped.push(Skipped {
                path: path.display().to_string(),
                reason: format!(
                    "internal failure while looking for machines in it ({}{at}): a bug in rebootscan, not a property \
                     of the evidence; please report it with the file",
                    panic.message
                ),
            });
        }
    }
}

fn discover_image(path: &Path, label: &str, direct: bool, discovery: &mut Discovery) {
    contained(path, discovery, |found| discover_image_uncontained(path, label, direct, found));
}

fn discover_image_uncontained(path: &Path, label: &str, direct: bool, discovery: &mut Discovery) {
    let probe = match crate::image::probe(&ImageSpec::for_path(path)) {
        Ok(probe) => probe,
        Err(error) => {
            discovery.skipped.push(Skipped { path: path.display().to_string(), reason: error.problem.to_string() });
            return;
        }
    };
    for volume in &probe.windows {
        let mut volume = volume.clone();
        volume.warnings.extend(probe.warnings.iter().cloned());
        let snapshot =
            volume.config.last().filter(|c| c.eq_ignore_ascii_case("RegBack")).map(|_| "RegBack".to_string());
        let mut machine_label = volume_name(label, volume.partition);
        let collected = volume.collected_folder();
        if !collected.is_empty() {
            machine_label = format!("{machine_label}/{collected}");
        }
        if let Some(snapshot) = &snapshot {
            machine_label = format!("{machine_label} [{snapshot}]");
        }
        let hives = volume.hives.iter().map(|hive| volume.file_label(hive)).collect();
        discovery.machines.push(MachineSpec { label: machine_label, hives, snapshot, image: Some(volume) });
    }
    for note in &probe.notes {
        let entry = Skipped { path: note.name.clone(), reason: note.reason.clone() };
        if note.unreadable {
            discovery.skipped.push(entry);
        } else {
            discovery.ignored.push(entry);
        }
    }
    if probe.windows.is_empty() && !probe.notes.iter().any(|n| n.unreadable) {
        let mut seen: Vec<String> = probe.notes.iter().map(|n| format!("{}: {}", n.name, n.reason)).collect();
        seen.extend(probe.other_partitions.iter().cloned());
        if seen.is_empty() {
            seen.push("no partitions".to_string());
        }
        let entry = Skipped {
            path: path.display().to_string(),
            reason: format!("no Windows installation in this image ({})", seen.join("; ")),
        };
        if direct {
            discovery.skipped.push(entry);
        } else {
            discovery.ignored.push(entry);
        }
    }
}

// ---- Archives and whatever else holds files -------------------------------------------

/// What a file met in a tree holds, as far as discovery is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Held {
    /// A disk image or container (confirmed by content later).
    Image,
    Archive(ArchiveFormat),
    /// Holds files but is not read: the reason goes under `ignored`.
    NotRead(String),
    Nothing,
}

/// Files smaller than this are not sniffed when their name says nothing: no disk image or
/// machine collection is that small, and most files of a collection are.
const SNIFF_SIZE: u64 = 64 << 10;

/// A name that is not UTF-8 has no extension read here: the file is still sniffed by content.
fn extension_of(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase()
}

fn is_tar_gzip_name(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// The archive format of a file, by content (the name only decides how hard to look).
fn archive_format(path: &Path) -> Option<ArchiveFormat> {
    // Only for a file named directly: one whose head cannot be read is taken as a hive, and
    // loading it then reports the read error naming the file.
    let head = read_head(path).ok()?;
    archive::detect(&head, || archive::tar::gzip_holds_tar(path))
}

fn held_evidence(path: &Path, size: u64) -> Held {
    for role in [segment_role(path), crate::image::ewf::segment_role(path)] {
        match role {
            // Read through its first segment, and listed among that machine's inputs.
            SegmentRole::InSetOf(_) => return Held::Nothing,
            SegmentRole::Unreached(first) => {
                return Held::NotRead(format!(
                    "named as a segment of the image set of {}, which ends before it (a segment between them is \
                     missing): not read; put the missing segment beside it",
                    first.display()
                ))
            }
            SegmentRole::NotSegment => {}
        }
    }
    match vmdk::set_role(path) {
        // Read through its descriptor, and listed among that machine's inputs.
        vmdk::SetRole::ExtentOf(_) => return Held::Nothing,
        vmdk::SetRole::Orphan(descriptor) => return Held::NotRead(vmdk::orphan_reason(&descriptor)),
        vmdk::SetRole::Disk => {}
    }
    let extension = extension_of(path);
    let named_archive = matches!(extension.as_str(), "zip" | "tar") || is_tar_gzip_name(path);
    if has_image_extension(path) || extension == "ntfs" {
        return Held::Image;
    }
    let named_compressed = matches!(extension.as_str(), "gz" | "bz2" | "xz" | "zst" | "7z" | "rar");
    if !named_archive && !named_compressed && size < SNIFF_SIZE {
        return Held::Nothing;
    }
    let head = match read_head(path) {
        Ok(head) => head,
        Err(error) if named_archive || named_compressed => {
            return Held::NotRead(format!("looks like an archive by its name but cannot be read: {error}"))
        }
        Err(_) => return Held::Nothing,
    };
    if let Some(format) = archive::detect(&head, || archive::tar::gzip_holds_tar(path)) {
        return Held::Archive(format);
    }
    if looks_like_image(&head) {
        return Held::Image;
    }
    if let Some(kind) = archive::compressed_kind(&head) {
        return Held::NotRead(format!(
            "{kind}, not an archive read in place (ZIP, tar, tar.gz): decompress it (gunzip -k, unxz -k, 7z x…) and scan the result"
        ));
    }
    if named_archive {
        return Held::NotRead(format!(
            "named like a {} but its content is not one (damaged, or another format)",
            if extension == "zip" { "ZIP archive" } else { "tar archive" }
        ));
    }
    Held::Nothing
}

/// The machines inside an archive, found by the same layout rules as in folders and
/// labelled `ARCHIVE [folder]` (`ARCHIVE [/]` for hives at its root). Disk images inside it
/// and members that are not read are listed with the reason.
fn discover_archive(path: &Path, label: &str, format: ArchiveFormat, direct: bool, discovery: &mut Discovery) {
    contained(path, discovery, |found| discover_archive_uncontained(path, label, format, direct, found));
}

fn discover_archive_uncontained(
    path: &Path,
    label: &str,
    format: ArchiveFormat,
    direct: bool,
    discovery: &mut Discovery,
) {
    let tree = match ArchiveTree::open(path, format) {
        Ok(tree) => tree,
        Err(error) => {
            discovery
                .skipped
                .push(Skipped { path: path.display().to_string(), reason: format!("{}: {error}", format.name()) });
            return;
        }
    };
    let archive_name = path.display().to_string();
    for (member, reason) in tree.notes() {
        let entry = Skipped { path: format!("{archive_name}/{member}"), reason: reason.clone() };
        // A hive that is not read leaves its machine incomplete; anything else is only noted.
        let hive = member.rsplit(['/', '\\']).next().and_then(machine_hive_name).is_some();
        if hive {
            discovery.skipped.push(entry);
        } else {
            discovery.ignored.push(entry);
        }
    }
    // (machine folder, snapshot, hive folder) → hive names
    let mut groups: BTreeMap<(PathBuf, Option<String>, Vec<String>), Vec<String>> = BTreeMap::new();
    for (components, size) in tree.files() {
        let Some(file_name) = components.last() else { continue };
        let member_path: PathBuf = components.iter().collect();
        let member_label = format!("{archive_name}/{}", components.join("/"));
        if machine_hive_name(file_name).is_none() {
            if has_image_extension(&member_path) || extension_of(&member_path) == "ntfs" {
                // KAPE zips its VHDX container by default (`--zv`): normal, and not read in
                // place, since a deflated member cannot be read at random offsets.
                discovery.skipped.push(Skipped {
                    path: member_label,
                    reason: format!(
                        "disk image inside a {}: not read in place (a compressed member has no random access); extract it (`{} '{}' '{}'`) and scan the extracted file",
                        format.name(),
                        if format == ArchiveFormat::Zip { "unzip" } else { "tar -xf" },
                        archive_name,
                        components.join("/")
                    ),
                });
            } else if matches!(extension_of(&member_path).as_str(), "zip" | "tar") || is_tar_gzip_name(&member_path) {
                discovery.skipped.push(Skipped {
                    path: member_label,
                    reason: format!("archive inside a {}: not read; extract it and scan the result", format.name()),
                });
            }
            continue;
        }
        let (folder, snapshot) = machine_folder(&member_path);
        if snapshot.is_some() && size == 0 {
            discovery.ignored.push(Skipped {
                path: member_label,
                reason: "empty RegBack copy (Windows 10 1803 and later no longer fill RegBack)".to_string(),
            });
            continue;
        }
        let config = components[..components.len() - 1].to_vec();
        groups.entry((folder, snapshot, config)).or_default().push(file_name.clone());
    }
    if groups.is_empty()
        && !tree.notes().iter().any(|(m, _)| m.rsplit(['/', '\\']).next().and_then(machine_hive_name).is_some())
    {
        let entry = Skipped {
            path: archive_name.clone(),
            reason: format!("{} without SYSTEM, SOFTWARE or COMPONENTS hives", format.name()),
        };
        if direct {
            discovery.skipped.push(entry);
        } else {
            discovery.ignored.push(entry);
        }
    }
    // Informational for an archive (nothing is read by this range): the archive is opened again
    // when its machines are scanned, and an error then is each hive's error.
    let length = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    for ((folder, snapshot, config), hives) in groups {
        let folder_text = folder.to_string_lossy().replace('\\', "/");
        let mut machine_label =
            format!("{label} [{}]", if folder_text.is_empty() { "/" } else { folder_text.as_str() });
        if let Some(snapshot) = &snapshot {
            machine_label = format!("{machine_label} [{snapshot}]");
        }
        let folder_key = config.join("/").to_lowercase();
        let warnings = tree
            .names_not_utf8()
            .iter()
            .filter(|name| name.rsplit_once('/').map_or("", |(parent, _)| parent).to_lowercase() == folder_key)
            .map(|name| {
                format!(
                    "{archive_name}/{name}: the member's name in the archive is not UTF-8; read under this name, \
                     each byte that is not UTF-8 written %XX (and a % of the name %25)"
                )
            })
            .collect();
        let volume = ImageVolume {
            image: ImageSpec { path: path.to_path_buf(), segments: vec![path.to_path_buf()] },
            partition: None,
            scheme: None,
            start: 0,
            length,
            config,
            hives,
            warnings,
            archive: Some(format),
        };
        let hives = volume.hives.iter().map(|hive| volume.file_label(hive)).collect();
        discovery.machines.push(MachineSpec { label: machine_label, hives, snapshot, image: Some(volume) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_names() {
        assert_eq!(machine_hive_name("SYSTEM"), Some(HiveKind::System));
        assert_eq!(machine_hive_name("software.hiv"), Some(HiveKind::Software));
        assert_eq!(machine_hive_name("Components.DAT"), Some(HiveKind::Components));
        assert_eq!(machine_hive_name("SYSTEM.LOG1"), None);
        assert_eq!(machine_hive_name("SYSTEM.hive.txt"), None);
        assert_eq!(machine_hive_name("NTUSER.DAT"), None);
    }

    #[test]
    fn collection_layouts_group_by_machine() {
        for (file, folder, snapshot) in [
            ("case/host1/SYSTEM", "case/host1", None),
            ("case/host2/C/Windows/System32/config/SYSTEM", "case/host2", None),
            ("case/host3/C%3A/Windows/System32/config/SOFTWARE", "case/host3", None),
            ("case/host4/c_/windows/system32/CONFIG/system", "case/host4", None),
            ("case/host5/Windows/System32/config/RegBack/SYSTEM", "case/host5", Some("RegBack")),
            ("case/host6/uploads/auto/C%3A/Windows/System32/config/SYSTEM", "case/host6", None),
            ("case/host7/uploads/ntfs/%5C%5C.%5CC%3A/Windows/System32/config/SYSTEM", "case/host7", None),
        ] {
            let (got, snap) = machine_folder(Path::new(file));
            assert_eq!(got, PathBuf::from(folder), "{file}");
            assert_eq!(snap.as_deref(), snapshot, "{file}");
        }
    }

    #[test]
    fn drive_folders() {
        for yes in ["C", "c", "C%3A", "D_", "E:", "%5C%5C.%5CC%3A"] {
            assert!(is_drive_folder(std::ffi::OsStr::new(yes)), "{yes}");
        }
        for no in ["CC", "host", "", "C-"] {
            assert!(!is_drive_folder(std::ffi::OsStr::new(no)), "{no}");
        }
    }

    #[test]
    fn a_panic_while_discovering_a_container_costs_only_that_container() {
        let machine = |label: &str| MachineSpec { label: label.into(), hives: Vec::new(), snapshot: None, image: None };
        let mut discovery = Discovery::default();
        discovery.machines.push(machine("before"));
        contained(Path::new("/evidence/broken.E01"), &mut discovery, |found| {
            found.machines.push(machine("half-done"));
            panic!("index out of bounds");
        });
        contained(Path::new("/evidence/good.zip"), &mut discovery, |found| found.machines.push(machine("after")));
        let labels: Vec<&str> = discovery.machines.iter().map(|m| m.label.as_str()).collect();
        assert_eq!(labels, ["before", "after"], "nothing half-done is kept, the next container is searched");
        assert_eq!(discovery.skipped.len(), 1);
        assert_eq!(discovery.skipped[0].path, "/evidence/broken.E01");
        assert!(
            discovery.skipped[0].reason.contains("internal failure")
                && discovery.skipped[0].reason.contains("index out of bounds"),
            "{}",
            discovery.skipped[0].reason
        );
    }
}
