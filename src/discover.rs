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

use crate::image::machine::{has_image_extension, looks_like_image, read_head, volume_name};
use crate::image::source::is_later_segment;
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
    let Some(text) = component.to_str() else { return false };
    let upper = text.to_ascii_uppercase();
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
            Ok(meta) if meta.is_file() && is_image_file(path) => {
                discover_image(path, &path.display().to_string(), true, &mut discovery)
            }
            Ok(meta) if meta.is_file() => discovery.machines.push(MachineSpec {
                label: path.display().to_string(),
                hives: vec![path.clone()],
                snapshot: None,
                image: None,
            }),
            Ok(meta) if meta.is_dir() => discover_tree(path, &mut discovery),
            Ok(meta) => discovery.skipped.push(Skipped {
                path: path.display().to_string(),
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
    let mut hive_named_folders: Vec<PathBuf> = Vec::new();
    let skipped_before = discovery.skipped.len();
    let walker = WalkDir::new(root).follow_links(false).sort_by_file_name();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) => {
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
            // Disk images in a collection are recognised by extension here (reading every
            // file's first bytes would be slow on large trees), then by content.
            if has_image_extension(entry.path()) && !is_later_segment(entry.path()) {
                images.push(entry.path().to_path_buf());
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
fn discover_image(path: &Path, label: &str, direct: bool, discovery: &mut Discovery) {
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
}
