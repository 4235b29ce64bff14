//! From an image to machines: which volumes hold a Windows installation (for discovery),
//! their hives and logs as the load stage takes them (for scanning), and the files behind
//! pending renames (for the report).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::archive::{ArchiveFormat, ArchiveTree};
use crate::image::container::{self, Container};
use crate::image::partition::{self, Layout, PartitionError, Scheme};
use crate::image::pe_version::{self, PeError};
use crate::image::source::{self, ImageSpec, OpenImageError};
use crate::image::volume::{NtfsVolume, VolumeError};
use crate::load::base_block::BaseBlock;
use crate::load::pending_renames::OperationKind;
use crate::load::{HiveFile, LoadError, LoadOptions};
use crate::report::{FileError, InputFile};
use crate::rules::data::{FileOnVolume, FileStatus, RenameOnVolume};
use crate::rules::Finding;
use crate::source::{EntryKind, FileProblem, FileTree};

/// The hives a machine is scanned from, by their usual file names.
const HIVE_NAMES: [&str; 3] = ["SYSTEM", "SOFTWARE", "COMPONENTS"];
/// Folder names of the Windows directory: current ones, then NT 4 / 2000.
const WINDOWS_FOLDERS: [&str; 2] = ["Windows", "WINNT"];
/// regf offsets are 32-bit, so no hive (or log) is larger than this.
const MAX_HIVE_SIZE: u64 = (u32::MAX as u64) + 4096;
/// What a version lookup may read of one staged file (headers, resource directory, block).
const PE_READ_BUDGET: u64 = 1 << 20;

/// Why an image could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct ImageError {
    pub path: PathBuf,
    pub problem: ImageProblem,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageProblem {
    #[error("cannot read the image: {0}")]
    Io(std::io::Error),
    #[error("{} image, not a raw disk image: {}", .0.name(), .0.conversion())]
    Container(Container),
    #[error("{0}")]
    Partition(PartitionError),
}

/// A volume of an image with a Windows installation: one machine to scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageVolume {
    pub image: ImageSpec,
    /// Partition number (1-based, as Linux numbers them); `None` for an image of one volume.
    pub partition: Option<u32>,
    pub scheme: Option<Scheme>,
    /// Byte range of the volume in the image.
    pub start: u64,
    pub length: u64,
    /// Folder of the hives on the volume, as components (`Windows`, `System32`, `config`, and
    /// `RegBack` for the backup copies).
    pub config: Vec<String>,
    /// The hive files present there (`SYSTEM`, `SOFTWARE`, `COMPONENTS`).
    pub hives: Vec<String>,
    /// Caveats about the image (truncated, backup GPT used), repeated on every hive read
    /// from this volume.
    pub warnings: Vec<String>,
    /// Set when `image` is an archive (ZIP, tar) read as a tree instead of a disk image;
    /// `config` is then the hive folder inside the archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveFormat>,
}

impl ImageVolume {
    /// `disk.raw [partition 2]`, or `vol.raw [volume]` for an image of one volume: the prefix of
    /// every path reported for this volume.
    pub fn name(&self) -> String {
        if self.archive.is_some() {
            return self.image.path.display().to_string();
        }
        volume_name(&self.image.path.display().to_string(), self.partition)
    }

    /// The folder of the tree that stands for the system drive's root: what comes before
    /// `Windows\System32\config` (empty for an installation at the volume root, `C` for a
    /// KAPE tree). `None` for hives collected flat, without the drive's folders.
    pub fn drive_root(&self) -> Option<Vec<String>> {
        let mut config: &[String] = &self.config;
        if config.last().is_some_and(|c| c.eq_ignore_ascii_case("RegBack")) {
            config = &config[..config.len() - 1];
        }
        let n = config.len();
        let windows_layout = n >= 3
            && WINDOWS_FOLDERS.iter().any(|w| config[n - 3].eq_ignore_ascii_case(w))
            && config[n - 2].eq_ignore_ascii_case("System32")
            && config[n - 1].eq_ignore_ascii_case("config");
        windows_layout.then(|| config[..n - 3].to_vec())
    }

    /// The folder of the collected tree in the volume (`C` for KAPE's `C\Windows\…`), empty
    /// for an installation at the volume root.
    pub fn collected_folder(&self) -> String {
        match self.drive_root() {
            Some(root) => root.join("/"),
            None => {
                let mut config = self.config.clone();
                if config.last().is_some_and(|c| c.eq_ignore_ascii_case("RegBack")) {
                    config.pop();
                }
                config.join("/")
            }
        }
    }

    /// The report path of a file on the volume: `disk.raw [partition 2]/Windows/…/SYSTEM`.
    pub fn file_label(&self, file: &str) -> PathBuf {
        let mut text = self.name();
        for component in &self.config {
            text.push('/');
            text.push_str(component);
        }
        text.push('/');
        text.push_str(file);
        PathBuf::from(text)
    }
}

/// `IMAGE [partition N]` or `IMAGE [volume]`.
pub fn volume_name(image: &str, partition: Option<u32>) -> String {
    match partition {
        Some(number) => format!("{image} [partition {number}]"),
        None => format!("{image} [volume]"),
    }
}

/// A volume that is not scanned, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeNote {
    /// `IMAGE [partition N]`.
    pub name: String,
    pub reason: String,
    /// True when evidence could not be read (damaged, encrypted, truncated), false when the
    /// volume simply holds no Windows installation.
    pub unreadable: bool,
    /// Empty `RegBack` copies (Windows 10 1803 and later).
    pub empty_regback: bool,
}

/// What discovery learns from an image.
#[derive(Debug, Clone, Default)]
pub struct ImageProbe {
    /// Live hives, then `RegBack` copies, of each Windows volume.
    pub windows: Vec<ImageVolume>,
    pub notes: Vec<VolumeNote>,
    /// Partitions that are neither NTFS nor BitLocker (EFI system, Linux, …), for the
    /// message when no Windows volume is found.
    pub other_partitions: Vec<String>,
    pub warnings: Vec<String>,
}

/// The first bytes of a file, for recognising images.
pub fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    crate::input::read_head(path, 4096).map(|(head, _)| head)
}

/// Extensions under which disk images are kept; files with them are looked at in trees.
pub const IMAGE_EXTENSIONS: &[&str] =
    &["dd", "raw", "img", "bin", "001", "e01", "ex01", "vhd", "vhdx", "vmdk", "qcow2", "qcow", "vdi"];

pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|known| known.eq_ignore_ascii_case(e)))
}

/// True when `head` (the start of a file) is a disk image or a container of one: a
/// container's magic, an NTFS/BitLocker boot sector, an MBR or a GPT. A hive (`regf`) never is.
pub fn looks_like_image(head: &[u8]) -> bool {
    if head.starts_with(b"regf") {
        return false;
    }
    if container::detect(head).is_some() || partition::is_volume_boot_sector(head) {
        return true;
    }
    if head.get(512..520) == Some(b"EFI PART") {
        return true;
    }
    // An MBR: boot signature and four entries whose status bytes are 0x00 or 0x80, at least
    // one of them used.
    let signature = head.get(510..512) == Some(&[0x55, 0xaa][..]);
    let entries: Vec<&[u8]> = (0..4).filter_map(|i| head.get(446 + 16 * i..462 + 16 * i)).collect();
    signature
        && entries.len() == 4
        && entries.iter().all(|e| e[0] == 0 || e[0] == 0x80)
        && entries.iter().any(|e| e[4] != 0)
}

/// A volume that may hold Windows: a partition, or the whole image.
struct Candidate {
    partition: Option<u32>,
    scheme: Option<Scheme>,
    start: u64,
    length: u64,
    type_name: String,
}

/// The config folder (as components) and the hive names found in it.
pub type WindowsInstall = (Vec<String>, Vec<String>);

/// Finds the Windows volumes of an image. Reads the partition table, each NTFS boot sector and
/// a few directory entries; no hive.
pub fn probe(spec: &ImageSpec) -> Result<ImageProbe, ImageError> {
    let fail = |problem| ImageError { path: spec.path.clone(), problem };
    let open = || {
        source::open_image(spec).map_err(|e| match e {
            OpenImageError::Io(error) => fail(ImageProblem::Io(error)),
            OpenImageError::Container(container) => fail(ImageProblem::Container(container)),
        })
    };
    let mut image = open()?;
    let image_len = image.len();
    let layout = partition::read_layout(image.as_mut()).map_err(|e| fail(ImageProblem::Partition(e)))?;
    let image_name = spec.path.display().to_string();
    let mut probe = ImageProbe::default();
    probe.warnings.extend(image.warnings().into_iter().map(|w| format!("{}: {w}", spec.path.display())));
    // One opened image for the partition table and every volume, handed from one to the next.
    let mut image = Some(image);
    let candidates: Vec<Candidate> = match layout {
        Layout::BareVolume => vec![Candidate {
            partition: None,
            scheme: None,
            start: 0,
            length: image_len,
            type_name: "volume".to_string(),
        }],
        Layout::Table(table) => {
            probe.warnings.extend(table.warnings.iter().map(|w| format!("{image_name}: {w}")));
            table
                .partitions
                .iter()
                .map(|p| Candidate {
                    partition: Some(p.number),
                    scheme: Some(table.scheme),
                    start: p.start,
                    length: p.length,
                    type_name: p.type_name.clone(),
                })
                .collect()
        }
    };
    for Candidate { partition, scheme, start, length, type_name } in candidates {
        let name = volume_name(&image_name, partition);
        let source = match image.take() {
            Some(source) => source,
            // The last volume's open failed and took the image with it.
            None => open()?,
        };
        let mut volume = match NtfsVolume::open(source, start, length, name.clone()) {
            Ok(volume) => volume,
            Err(VolumeError::NotNtfs(what)) => {
                probe.other_partitions.push(format!("{name}: {type_name}, {what}"));
                continue;
            }
            Err(error) => {
                probe.notes.push(VolumeNote {
                    name,
                    reason: error.to_string(),
                    unreadable: true,
                    empty_regback: false,
                });
                continue;
            }
        };
        // The partition table and the NTFS boot sector each say where the volume ends; an
        // image of one volume has only the latter.
        let end = start.saturating_add(length.max(volume.size()));
        if end > image_len {
            probe.warnings.push(format!(
                "{name}: the volume ends at byte {end} but the image at byte {image_len}: the image is truncated, files beyond its end cannot be read"
            ));
        }
        let template = ImageVolume {
            image: spec.clone(),
            partition,
            scheme,
            start,
            length,
            config: Vec::new(),
            hives: Vec::new(),
            warnings: Vec::new(),
            archive: None,
        };
        let installs = match find_installs(&mut volume) {
            Ok(installs) if installs.is_empty() => Ok(None),
            Ok(installs) => Ok(Some(installs)),
            Err(problem) => Err(problem),
        };
        for install in installs.iter().flatten().flatten() {
            let (config, hives) = install.clone();
            {
                let mut regback_config = config.clone();
                regback_config.push("RegBack".to_string());
                probe.windows.push(ImageVolume { config, hives, ..template.clone() });
                match present_hives(&mut volume, &regback_config) {
                    Ok((present, empty)) => {
                        if !empty.is_empty() {
                            probe.notes.push(VolumeNote {
                                name: format!("{name} {}", regback_config.join("/")),
                                reason: format!(
                                    "empty RegBack copies ({}): Windows 10 1803 and later no longer fill RegBack",
                                    empty.join(", ")
                                ),
                                unreadable: false,
                                empty_regback: true,
                            });
                        }
                        if !present.is_empty() {
                            probe.windows.push(ImageVolume {
                                config: regback_config,
                                hives: present,
                                ..template.clone()
                            });
                        }
                    }
                    Err(problem) => probe.warnings.push(format!("{name}: RegBack folder unreadable: {problem}")),
                }
            }
        }
        match installs {
            Ok(Some(_)) => {}
            Ok(None) => probe.notes.push(VolumeNote {
                name,
                reason: "NTFS volume without Windows\\System32\\config hives, a collected drive folder (C\\Windows\\System32\\config) or hives at its root: not a Windows installation".to_string(),
                unreadable: false,
                empty_regback: false,
            }),
            Err(problem) => probe.notes.push(VolumeNote {
                name,
                reason: format!("NTFS volume unreadable: {problem}"),
                unreadable: true,
                empty_regback: false,
            }),
        }
        image = Some(volume.into_image());
    }
    Ok(probe)
}

/// The config folder and the hive names found in it, if the tree (a volume, an archive, a
/// folder) holds a Windows installation.
pub fn find_windows(tree: &mut dyn FileTree) -> Result<Option<WindowsInstall>, FileProblem> {
    for windows in WINDOWS_FOLDERS {
        let config: Vec<String> = [windows, "System32", "config"].iter().map(|s| s.to_string()).collect();
        let components: Vec<&str> = config.iter().map(String::as_str).collect();
        if !tree.metadata(&components)?.is_some_and(|m| m.kind == EntryKind::Directory) {
            continue;
        }
        let (present, empty) = present_hives(tree, &config)?;
        let mut hives = present;
        // A 0-byte live hive is still evidence (of a broken copy): scan it so the report says so.
        hives.extend(empty);
        if !hives.is_empty() {
            return Ok(Some((config, hives)));
        }
    }
    Ok(None)
}

/// Every set of machine hives on a volume: a Windows installation at its root, collected
/// drive trees at its root (KAPE's container writes `C\\Windows\\System32\\config\\…` into its
/// VHDX; Velociraptor-style `C%3A`), and hives collected flat at the root. Only the root and
/// one level of drive folders are looked at: a volume is never walked whole.
pub fn find_installs(tree: &mut dyn FileTree) -> Result<Vec<WindowsInstall>, FileProblem> {
    let mut installs = Vec::new();
    if let Some(install) = find_windows(tree)? {
        installs.push(install);
    }
    let root = tree.list(&[])?.unwrap_or_default();
    for entry in &root {
        if entry.kind != EntryKind::Directory || !crate::discover::is_drive_folder_name(&entry.name) {
            continue;
        }
        for windows in WINDOWS_FOLDERS {
            let config: Vec<String> =
                [entry.name.as_str(), windows, "System32", "config"].iter().map(|s| s.to_string()).collect();
            let components: Vec<&str> = config.iter().map(String::as_str).collect();
            if !tree.metadata(&components)?.is_some_and(|m| m.kind == EntryKind::Directory) {
                continue;
            }
            let (mut present, empty) = present_hives(tree, &config)?;
            present.extend(empty);
            if !present.is_empty() {
                installs.push((config, present));
                break;
            }
        }
    }
    // Hives at the root: only SYSTEM/SOFTWARE/COMPONENTS by their plain names, as files.
    let at_root: Vec<String> = HIVE_NAMES
        .iter()
        .filter(|name| root.iter().any(|e| e.kind == EntryKind::File && e.name.eq_ignore_ascii_case(name)))
        .map(|s| s.to_string())
        .collect();
    if !at_root.is_empty() {
        let (mut present, empty) = present_hives(tree, &[])?;
        present.extend(empty);
        if !present.is_empty() {
            installs.push((Vec::new(), present));
        }
    }
    Ok(installs)
}

/// The hive files in `config`: (non-empty ones, empty ones). Compressed or otherwise
/// unreadable hives count as present, so that the scan reports why they cannot be read.
fn present_hives(tree: &mut dyn FileTree, config: &[String]) -> Result<(Vec<String>, Vec<String>), FileProblem> {
    let mut present = Vec::new();
    let mut empty = Vec::new();
    for name in HIVE_NAMES {
        let mut path: Vec<&str> = config.iter().map(String::as_str).collect();
        path.push(name);
        match tree.metadata(&path) {
            Ok(None) => {}
            Ok(Some(metadata)) if metadata.kind == EntryKind::File && metadata.size == 0 => {
                empty.push(name.to_string())
            }
            Ok(Some(_)) | Err(_) => present.push(name.to_string()),
        }
    }
    Ok((present, empty))
}

/// A Windows volume opened for scanning: its hives loaded, and the volume kept open to look
/// up the files behind pending renames.
pub struct OpenedVolume {
    pub loaded: Vec<(PathBuf, Result<HiveFile, LoadError>)>,
    pub inputs: Vec<InputFile>,
    pub errors: Vec<FileError>,
    /// What the disk container says about itself, for the report (`None` for a raw image
    /// or an archive).
    pub container: Option<crate::image::facts::ContainerFacts>,
    /// The volume (or any tree) the hives came from.
    volume: Option<Box<dyn FileTree>>,
    /// Drive letter of this volume as the installed Windows sees it (`C:`), and where that
    /// came from.
    system_drive: String,
    system_drive_source: &'static str,
    /// The folder of the tree that holds the system drive's files (`C` in a KAPE tree);
    /// `None` when the hives were collected without the drive's folders.
    drive_root: Option<Vec<String>>,
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn unreadable(label: &Path, message: String) -> LoadError {
    LoadError::Io { path: label.to_path_buf(), source: std::io::Error::other(message) }
}

/// Opens the volume and loads its hives (with their transaction logs when dirty).
pub fn open_volume(spec: &ImageVolume, options: LoadOptions, hash: bool) -> OpenedVolume {
    let mut opened = OpenedVolume {
        loaded: Vec::new(),
        inputs: Vec::new(),
        errors: Vec::new(),
        container: None,
        volume: None,
        system_drive: "C:".to_string(),
        system_drive_source: "assumed: SOFTWARE gives no SystemRoot",
        drive_root: Some(Vec::new()),
    };
    let name = spec.name();
    if let Some(format) = spec.archive {
        opened.inputs.push(InputFile {
            path: spec.image.path.display().to_string(),
            role: "archive".to_string(),
            size: std::fs::metadata(&spec.image.path).map(|m| m.len()).ok(),
            sha256: None,
        });
        match ArchiveTree::open(&spec.image.path, format) {
            Ok(tree) => load_tree(Box::new(tree), spec, options, hash, &mut opened),
            Err(error) => {
                for hive in &spec.hives {
                    let label = spec.file_label(hive);
                    opened.loaded.push((label.clone(), Err(unreadable(&label, format!("{name}: {error}")))));
                }
            }
        }
        return opened;
    }
    let image = match source::open_image(&spec.image) {
        Ok(image) => image,
        Err(error) => {
            let why = match error {
                OpenImageError::Io(error) => format!("cannot read the image: {error}"),
                OpenImageError::Container(container) => {
                    format!("{} image, not a raw disk image: {}", container.name(), container.conversion())
                }
            };
            for hive in &spec.hives {
                let label = spec.file_label(hive);
                opened.loaded.push((label.clone(), Err(unreadable(&label, why.clone()))));
            }
            return opened;
        }
    };
    opened.container = image.container_facts();
    for segment in &spec.image.segments {
        // The inventory of the segments read, not evidence (opening the image reports errors).
        let size = std::fs::metadata(segment).map(|m| m.len()).ok();
        opened.inputs.push(InputFile {
            path: segment.display().to_string(),
            role: "disk image".to_string(),
            size,
            sha256: None,
        });
    }
    let volume = match NtfsVolume::open(image, spec.start, spec.length, name.clone()) {
        Ok(volume) => volume,
        Err(error) => {
            for hive in &spec.hives {
                let label = spec.file_label(hive);
                opened.loaded.push((label.clone(), Err(unreadable(&label, format!("{name}: {error}")))));
            }
            return opened;
        }
    };
    load_tree(Box::new(volume), spec, options, hash, &mut opened);
    opened
}

/// Loads the machine's hives from the tree (a volume or an archive) and keeps the tree for
/// the staged-file lookups.
fn load_tree(
    mut volume: Box<dyn FileTree>,
    spec: &ImageVolume,
    options: LoadOptions,
    hash: bool,
    opened: &mut OpenedVolume,
) {
    for hive in &spec.hives {
        let label = spec.file_label(hive);
        let result = load_hive(volume.as_mut(), spec, hive, &label, options, hash, &mut opened.inputs);
        opened.loaded.push((label, result));
    }
    opened.drive_root = spec.drive_root();
    for (_, hive) in opened.loaded.iter_mut() {
        if let Ok(hive) = hive {
            hive.warnings.extend(spec.warnings.iter().cloned());
        }
    }
    for (_, hive) in opened.loaded.iter_mut() {
        let Ok(hive) = hive else { continue };
        match system_root_drive(hive) {
            Ok(Some(drive)) => {
                opened.system_drive = drive;
                opened.system_drive_source = "from SystemRoot in SOFTWARE";
                break;
            }
            Ok(None) => {}
            Err(error) => hive.warnings.push(format!(
                "the system drive could not be read from SystemRoot ({error}); staged files are looked up on {}",
                opened.system_drive
            )),
        }
    }
    opened.volume = Some(volume);
}

fn load_hive(
    volume: &mut dyn FileTree,
    spec: &ImageVolume,
    hive: &str,
    label: &Path,
    options: LoadOptions,
    hash: bool,
    inputs: &mut Vec<InputFile>,
) -> Result<HiveFile, LoadError> {
    let mut path: Vec<&str> = spec.config.iter().map(String::as_str).collect();
    path.push(hive);
    let bytes = match crate::source::read_file(volume, &path, MAX_HIVE_SIZE) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(unreadable(label, "no longer found on the volume".to_string())),
        Err(problem) => return Err(unreadable(label, problem.to_string())),
    };
    inputs.push(InputFile {
        path: label.display().to_string(),
        role: "hive".to_string(),
        size: Some(bytes.len() as u64),
        sha256: hash.then(|| sha256(&bytes)),
    });
    // Logs are read only for dirty hives, as for hive files on disk: most hives are clean.
    let dirty = BaseBlock::parse(&bytes).map(|block| block.is_dirty()).unwrap_or(false);
    let mut logs = Vec::new();
    let mut warnings = Vec::new();
    if dirty {
        for suffix in [".LOG", ".LOG1", ".LOG2"] {
            let log_name = format!("{hive}{suffix}");
            let mut log_path: Vec<&str> = spec.config.iter().map(String::as_str).collect();
            log_path.push(&log_name);
            let log_label = label.with_file_name(&log_name);
            match crate::source::read_file(volume, &log_path, MAX_HIVE_SIZE) {
                Ok(Some(log)) => {
                    inputs.push(InputFile {
                        path: log_label.display().to_string(),
                        role: "transaction log".to_string(),
                        size: Some(log.len() as u64),
                        sha256: hash.then(|| sha256(&log)),
                    });
                    logs.push((log_name, log));
                }
                Ok(None) => {}
                Err(problem) => warnings.push(format!("transaction log {} not read: {problem}", log_label.display())),
            }
        }
    }
    let mut hive = HiveFile::from_shared(label, Arc::new(bytes), logs, options)?;
    // Said where the hive's other caveats are, so the report shows it beside the hive.
    hive.warnings.extend(warnings);
    Ok(hive)
}

/// `C:` from SOFTWARE `Microsoft\Windows NT\CurrentVersion\SystemRoot` (`C:\WINDOWS`).
fn system_root_drive(hive: &HiveFile) -> Result<Option<String>, crate::load::reader::ReadError> {
    if hive.kind() != crate::load::kind::HiveKind::Software {
        return Ok(None);
    }
    let reader = hive.reader()?;
    let Some(key) = reader.key("Microsoft\\Windows NT\\CurrentVersion")? else { return Ok(None) };
    let Some(value) = key.value("SystemRoot")? else { return Ok(None) };
    let data = value.typed()?;
    let Some(drive) = data.as_str().and_then(|root| root.get(..2)) else { return Ok(None) };
    let bytes = drive.as_bytes();
    Ok((bytes[0].is_ascii_alphabetic() && bytes[1] == b':').then(|| drive.to_ascii_uppercase()))
}

/// What was found at one path of a pending rename.
type FileCheck = FileOnVolume;

fn file_check(status: FileStatus, version: Option<String>, detail: Option<String>) -> FileCheck {
    FileOnVolume { status, version, detail }
}

impl OpenedVolume {
    /// Looks up a plain (DOS) path on this volume and reads its PE version.
    fn check(&mut self, dos_path: &str) -> FileCheck {
        let Some(volume) = self.volume.as_mut() else {
            return file_check(FileStatus::NotChecked, None, Some("the volume could not be opened".into()));
        };
        let bytes = dos_path.as_bytes();
        let has_drive = bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' && bytes[2] == b'\\';
        if !has_drive {
            return file_check(FileStatus::NotChecked, None, Some("not a path on a drive letter".into()));
        }
        let drive = dos_path[..2].to_ascii_uppercase();
        if drive != self.system_drive {
            return file_check(
                FileStatus::NotChecked,
                None,
                Some(format!("on drive {drive}, not on this volume ({})", self.system_drive)),
            );
        }
        let Some(drive_root) = self.drive_root.as_ref() else {
            return file_check(
                FileStatus::NotChecked,
                None,
                Some("the hives were collected without the drive's folders".into()),
            );
        };
        let within: Vec<&str> = dos_path[3..].split('\\').filter(|c| !c.is_empty() && *c != ".").collect();
        if within.is_empty() {
            return file_check(FileStatus::NotChecked, None, Some("the root folder".into()));
        }
        let components: Vec<&str> = drive_root.iter().map(String::as_str).chain(within).collect();
        let looked_up = crate::source::with_file(volume.as_mut(), &components, PE_READ_BUDGET, |file| {
            (file.len(), pe_version::read_version(file))
        });
        match looked_up {
            Ok(None) => file_check(FileStatus::Missing, None, None),
            Ok(Some((_, Ok(version)))) => file_check(FileStatus::Present, Some(version.file_version), None),
            Ok(Some((size, Err(PeError::NotPe(why))))) => {
                file_check(FileStatus::Present, None, Some(format!("not a PE file ({why}; {size} bytes)")))
            }
            Ok(Some((_, Err(problem)))) => file_check(FileStatus::Present, None, Some(problem.to_string())),
            Err(problem) => file_check(FileStatus::Unreadable, None, Some(problem.to_string())),
        }
    }

    /// Adds to every rename of a PendingFileRenameOperations finding what is on the volume:
    /// `staged_file`/`staged_version`/`staged_detail` for the file that will be moved into
    /// place, `current_file`/`current_version`/`current_detail` for the one it replaces.
    pub fn annotate(&mut self, findings: &mut [Finding]) {
        for finding in findings.iter_mut() {
            let Some(data) = finding.data.pending_renames_mut() else { continue };
            let mut missing = Vec::new();
            let mut checked = 0usize;
            for pending in data.operations.iter_mut() {
                if pending.operation.op != OperationKind::Rename {
                    continue;
                }
                let staged = self.check(&pending.operation.source_path);
                let current = self.check(pending.operation.target_path.as_deref().unwrap_or_default());
                if staged.status == FileStatus::Missing {
                    missing.push(pending.operation.source_path.clone());
                }
                if staged.status != FileStatus::NotChecked {
                    checked += 1;
                }
                pending.on_volume = Some(RenameOnVolume { staged, current });
            }
            if checked > 0 {
                finding.notes.push(format!(
                    "staged files looked up on the image (this volume is {}, {}): {} rename(s) checked, {} staged file(s) missing",
                    self.system_drive,
                    self.system_drive_source,
                    checked,
                    missing.len()
                ));
            }
            if !missing.is_empty() {
                finding.notes.push(format!(
                    "staged file(s) missing from the volume (already moved or cleaned up, or a stale entry): {}",
                    missing.join(", ")
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_heads() {
        assert!(!looks_like_image(b"regf\0\0\0\0"));
        assert!(looks_like_image(b"vhdxfile"));
        let mut ntfs = vec![0u8; 512];
        ntfs[3..11].copy_from_slice(b"NTFS    ");
        assert!(looks_like_image(&ntfs));
        let mut mbr = vec![0u8; 512];
        mbr[510] = 0x55;
        mbr[511] = 0xaa;
        assert!(!looks_like_image(&mbr), "no partition entry");
        mbr[446 + 4] = 0x07;
        assert!(looks_like_image(&mbr));
        mbr[446] = 0x12;
        assert!(!looks_like_image(&mbr), "bad status byte");
        assert!(!looks_like_image(b""));
    }

    #[test]
    fn any_file_tree_is_probed_for_windows() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("WINNT/System32/config");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(config.join("SOFTWARE"), b"regf").unwrap();
        std::fs::write(config.join("SYSTEM"), b"").unwrap();
        let mut tree = crate::source::host::HostFolder::new(dir.path());
        let (folder, hives) = find_windows(&mut tree).unwrap().unwrap();
        assert_eq!(folder, ["WINNT", "System32", "config"]);
        // The empty live hive is still listed, after the others, so the scan reports it.
        assert_eq!(hives, ["SOFTWARE", "SYSTEM"]);
        let mut empty = crate::source::host::HostFolder::new(dir.path().join("WINNT"));
        assert_eq!(find_windows(&mut empty).unwrap(), None);
    }

    #[test]
    fn names() {
        assert_eq!(volume_name("d.raw", Some(2)), "d.raw [partition 2]");
        assert_eq!(volume_name("v.raw", None), "v.raw [volume]");
        assert!(has_image_extension(Path::new("x/DISK.E01")));
        assert!(!has_image_extension(Path::new("x/SYSTEM")));
    }
}
