//! Collections that arrive as archives, read in place: a ZIP ([`zip`]: Velociraptor's offline
//! collector, KAPE's `--zip`, an analyst's zipped output folder) or a tar, plain or gzip
//! ([`tar`]), is a read-only [`FileTree`] over its member list, so that the machines in it are
//! found by the same layout rules as folders and its hives and logs are loaded like files.
//!
//! Nothing is extracted to disk. A member is decompressed into private memory only when it is
//! read, bounded by the entry size limit and (for ZIP) by an expansion ratio, so that a zip
//! bomb costs an error, not the machine. Member names that would escape the archive when
//! extracted (`../`, `/abs`, `C:\`) are never looked up; [`ArchiveTree::notes`] lists them.
//! Names compare case-insensitively (the collected paths are Windows paths).

pub mod tar;
pub mod zip;

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::source::{BlockSource, DirEntry, EntryKind, FileProblem, FileTree, Metadata};

/// The archive formats read in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveFormat {
    Zip,
    Tar,
    TarGzip,
}

impl ArchiveFormat {
    pub fn name(self) -> &'static str {
        match self {
            ArchiveFormat::Zip => "ZIP archive",
            ArchiveFormat::Tar => "tar archive",
            ArchiveFormat::TarGzip => "gzip-compressed tar archive",
        }
    }
}

/// No member is read if it claims more than this: a hive's offsets are 32-bit, so no hive or
/// log is larger, and a staged file larger than that is not worth decompressing.
pub const MAX_ENTRY_SIZE: u64 = (u32::MAX as u64) + 4096;
/// More members than this is not a collection of one or a few machines but an attack on the
/// member index (each costs a few hundred bytes of memory).
pub const MAX_ENTRIES: usize = 2_000_000;

/// Why an archive cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot read the archive: {0}")]
    Io(#[from] std::io::Error),
    #[error("damaged {format}: {detail}")]
    Damaged { format: &'static str, detail: String },
    #[error("{0}")]
    TooMany(String),
}

/// Where a member's bytes are.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Location {
    /// Index in the ZIP central directory.
    Zip(usize),
    /// Data offset in a plain tar: read straight from the file, nothing decompressed.
    Tar(u64),
    /// Ordinal of the member in a gzip-compressed tar (the stream is walked again to it).
    TarGzip(usize),
}

#[derive(Debug, Clone)]
struct Member {
    kind: EntryKind,
    size: u64,
    location: Option<Location>,
    /// Compressed size (ZIP), for the expansion bound.
    compressed: u64,
    /// The member's components with their case as stored.
    components: Vec<String>,
}

/// A member name as the tree's components, or why it is not used.
pub(crate) enum MemberName {
    Inside(Vec<String>),
    /// The root folder entry (`./`), nothing to index.
    Root,
    Escapes,
}

/// Splits a stored member name into components. Both separators count (archives written
/// on Windows may use `\`); an absolute path, a drive letter or a `..` component escapes.
pub(crate) fn member_name(name: &str) -> MemberName {
    let name = name.replace('\\', "/");
    if name.starts_with('/') {
        return MemberName::Escapes;
    }
    let mut components = Vec::new();
    for component in name.split('/') {
        match component {
            "" | "." => {}
            ".." => return MemberName::Escapes,
            other => components.push(other.to_string()),
        }
    }
    let drive = components.first().is_some_and(|first| {
        let bytes = first.as_bytes();
        bytes.len() == 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
    });
    if drive || components.iter().any(|c| c.contains('\0')) {
        return MemberName::Escapes;
    }
    if components.is_empty() {
        MemberName::Root
    } else {
        MemberName::Inside(components)
    }
}

fn key_of(path: &[&str]) -> String {
    path.iter().map(|c| c.to_lowercase()).collect::<Vec<_>>().join("/")
}

/// The member index shared by the formats: files and the folders they imply.
#[derive(Debug, Default)]
pub(crate) struct Index {
    members: HashMap<String, Member>,
    children: HashMap<String, Vec<DirEntry>>,
    /// Members that are not looked up, with why (escaping names, duplicates).
    notes: Vec<(String, String)>,
    /// Members whose stored name is not UTF-8, as indexed (see [`crate::source::name_text`]): they
    /// are read under that name, and their machine is told so.
    pub(crate) not_utf8: Vec<String>,
    count: usize,
}

impl Index {
    pub(crate) fn add(&mut self, name: &str, kind: EntryKind, size: u64, compressed: u64, location: Location) {
        let components = match member_name(name) {
            MemberName::Root => return,
            MemberName::Escapes => {
                self.notes.push((
                    name.to_string(),
                    "member name escapes the archive (absolute path, drive letter or `..`): not read".to_string(),
                ));
                return;
            }
            MemberName::Inside(components) => components,
        };
        self.count += 1;
        let refs: Vec<&str> = components.iter().map(String::as_str).collect();
        // Every ancestor is a folder, whether or not the archive stores an entry for it.
        for depth in 0..refs.len() {
            let key = key_of(&refs[..=depth]);
            let is_last = depth + 1 == refs.len();
            if !is_last || kind == EntryKind::Directory {
                if let Some(existing) = self.members.get(&key) {
                    if existing.kind != EntryKind::Directory {
                        self.notes.push((
                            name.to_string(),
                            format!(
                                "`{}` is both a file and a folder in the archive: the folder is not read",
                                refs[..=depth].join("/")
                            ),
                        ));
                        return;
                    }
                    continue;
                }
                self.members.insert(
                    key,
                    Member {
                        kind: EntryKind::Directory,
                        size: 0,
                        location: None,
                        compressed: 0,
                        components: refs[..=depth].iter().map(|s| s.to_string()).collect(),
                    },
                );
                self.link_child(&refs[..=depth], EntryKind::Directory);
                continue;
            }
            let member = Member { kind, size, location: Some(location), compressed, components: components.clone() };
            match self.members.get(&key) {
                Some(existing) if existing.kind == EntryKind::Directory => self
                    .notes
                    .push((name.to_string(), "a file with the name of a folder of the archive: not read".to_string())),
                Some(_) => {
                    // A later member of the same name replaces the earlier one, as extracting
                    // the archive leaves it (tar, unzip; and the `zip` crate keeps the last
                    // of exactly equal names, so ZIP names equal but for case follow the same
                    // rule).
                    self.notes.push((
                        name.to_string(),
                        "stored twice in the archive (names compared case-insensitively): the later copy is read, \
                         as extracting the archive leaves it"
                            .to_string(),
                    ));
                    self.members.insert(key, member);
                }
                None => {
                    self.members.insert(key, member);
                    self.link_child(&refs, kind);
                }
            }
        }
    }

    /// Lists a member that is not read, with why.
    pub(crate) fn note(&mut self, name: &str, reason: String) {
        self.notes.push((name.to_string(), reason));
    }

    fn link_child(&mut self, path: &[&str], kind: EntryKind) {
        let parent = key_of(&path[..path.len() - 1]);
        let name = path[path.len() - 1].to_string();
        self.children.entry(parent).or_default().push(DirEntry { name, kind });
    }

    pub(crate) fn count(&self) -> usize {
        self.count
    }
}

/// Reads member bytes for [`ArchiveTree`]: one implementation per format.
pub(crate) trait MemberReader {
    /// The whole member, decompressed into memory, at most `limit` bytes.
    fn read_member(
        &mut self,
        location: Location,
        size: u64,
        compressed: u64,
        limit: u64,
    ) -> Result<Vec<u8>, FileProblem>;
    /// A plain tar member is served straight from the file without copying it.
    fn member_source(&mut self, _location: Location, _size: u64) -> Option<Box<dyn BlockSource + '_>> {
        None
    }
}

/// An archive as a read-only tree.
pub struct ArchiveTree {
    name: String,
    format: ArchiveFormat,
    index: Index,
    reader: Box<dyn MemberReader + Send>,
}

impl std::fmt::Debug for ArchiveTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveTree").field("name", &self.name).field("format", &self.format).finish()
    }
}

impl ArchiveTree {
    /// Opens the archive at `path` read-only and reads its member list (a ZIP's central
    /// directory; every header of a tar).
    pub fn open(path: &Path, format: ArchiveFormat) -> Result<ArchiveTree, ArchiveError> {
        let (index, reader): (Index, Box<dyn MemberReader + Send>) = match format {
            ArchiveFormat::Zip => {
                let (index, reader) = zip::open(path)?;
                (index, Box::new(reader))
            }
            ArchiveFormat::Tar | ArchiveFormat::TarGzip => {
                let (index, reader) = tar::open(path, format == ArchiveFormat::TarGzip)?;
                (index, Box::new(reader))
            }
        };
        Ok(ArchiveTree { name: path.display().to_string(), format, index, reader })
    }

    pub fn format(&self) -> ArchiveFormat {
        self.format
    }

    /// Every regular file of the archive, as stored components, with its size.
    pub fn files(&self) -> Vec<(Vec<String>, u64)> {
        let mut files: Vec<(Vec<String>, u64)> = self
            .index
            .members
            .values()
            .filter(|m| m.kind == EntryKind::File)
            .map(|m| (m.components.clone(), m.size))
            .collect();
        files.sort();
        files
    }

    /// Members that are not read, and why: `(member name, reason)`.
    pub fn notes(&self) -> &[(String, String)] {
        &self.index.notes
    }

    /// Members whose stored name is not UTF-8, as the tree names them (each byte that is not
    /// UTF-8 as `%XX`, a `%` as `%25`).
    pub fn names_not_utf8(&self) -> &[String] {
        &self.index.not_utf8
    }
}

impl FileTree for ArchiveTree {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn file_size_limit(&self) -> u64 {
        MAX_ENTRY_SIZE
    }

    fn metadata(&mut self, path: &[&str]) -> Result<Option<Metadata>, FileProblem> {
        if path.is_empty() {
            return Ok(Some(Metadata { kind: EntryKind::Directory, size: 0 }));
        }
        Ok(self.index.members.get(&key_of(path)).map(|m| Metadata { kind: m.kind, size: m.size }))
    }

    fn list(&mut self, dir: &[&str]) -> Result<Option<Vec<DirEntry>>, FileProblem> {
        let key = key_of(dir);
        if !dir.is_empty() && self.index.members.get(&key).is_none_or(|m| m.kind != EntryKind::Directory) {
            return Ok(None);
        }
        // A folder with no entry under it (only stored as a folder member) is empty.
        Ok(Some(self.index.children.get(&key).cloned().unwrap_or_default()))
    }

    fn visit_file(
        &mut self,
        path: &[&str],
        _budget: u64,
        f: &mut dyn FnMut(&mut dyn BlockSource),
    ) -> Result<bool, FileProblem> {
        let Some(member) = self.index.members.get(&key_of(path)).cloned() else { return Ok(false) };
        match member.kind {
            EntryKind::Directory => return Err(FileProblem::Directory),
            EntryKind::Other => return Err(FileProblem::NotRegular("a link or special member of the archive".into())),
            EntryKind::File => {}
        }
        let Some(location) = member.location else { return Ok(false) };
        if member.size > MAX_ENTRY_SIZE {
            return Err(FileProblem::TooLarge { size: member.size, limit: MAX_ENTRY_SIZE });
        }
        if let Some(mut source) = self.reader.member_source(location, member.size) {
            f(source.as_mut());
            return Ok(true);
        }
        let bytes = self.reader.read_member(location, member.size, member.compressed, MAX_ENTRY_SIZE)?;
        f(&mut &bytes[..]);
        Ok(true)
    }
}

/// The archive format `head` (the first bytes of a file) starts, if any. A gzip stream is a
/// tar only if its first decompressed block says so; `gzip_tar` answers that.
pub fn detect(head: &[u8], gzip_tar: impl FnOnce() -> bool) -> Option<ArchiveFormat> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") || head.starts_with(b"PK\x07\x08") {
        Some(ArchiveFormat::Zip)
    } else if tar::is_tar_header(head) {
        Some(ArchiveFormat::Tar)
    } else if head.starts_with(&[0x1f, 0x8b]) && gzip_tar() {
        Some(ArchiveFormat::TarGzip)
    } else {
        None
    }
}

/// What a compressed file that is not an archive read here is, by its magic.
pub fn compressed_kind(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some("gzip-compressed file")
    } else if head.starts_with(b"BZh") {
        Some("bzip2-compressed file")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz-compressed file")
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd-compressed file")
    } else if head.starts_with(&[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c]) {
        Some("7-Zip archive")
    } else if head.starts_with(b"Rar!\x1a\x07") {
        Some("RAR archive")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names() {
        let inside = |name: &str| match member_name(name) {
            MemberName::Inside(c) => c.join("|"),
            MemberName::Root => "<root>".into(),
            MemberName::Escapes => "<escapes>".into(),
        };
        assert_eq!(
            inside("uploads/auto/C%3A/Windows/System32/config/SYSTEM"),
            "uploads|auto|C%3A|Windows|System32|config|SYSTEM"
        );
        assert_eq!(inside("./C/Windows\\System32/./config/SOFTWARE"), "C|Windows|System32|config|SOFTWARE");
        assert_eq!(inside("./"), "<root>");
        for bad in ["../SYSTEM", "/etc/passwd", "C/../../x", "C:/Windows/SYSTEM", "\\\\server\\share", "a/\0/b"] {
            assert_eq!(inside(bad), "<escapes>", "{bad:?}");
        }
    }
}
