//! The host's own file system as a [`FileTree`]: a folder, its files opened read-only.
//! Links and special files are listed as [`EntryKind::Other`] and never followed or read,
//! like discovery treats them.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::source::{BlockSource, DirEntry, EntryKind, FileProblem, FileTree, Metadata};

/// A regular file opened read-only, as a block source.
pub struct HostFile {
    file: File,
    len: u64,
}

impl HostFile {
    /// Opens `path` with `File::open` (read-only); refuses anything but a regular file,
    /// without following a link.
    pub fn open(path: &Path) -> Result<HostFile, FileProblem> {
        let kind = kind_of(&std::fs::symlink_metadata(path).map_err(|e| io_problem(path, e))?);
        if kind != EntryKind::File {
            return Err(refusal(kind));
        }
        let file = File::open(path).map_err(|e| io_problem(path, e))?;
        let len = file.metadata().map_err(|e| io_problem(path, e))?.len();
        Ok(HostFile { file, len })
    }
}

impl BlockSource for HostFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        // Arithmetic only: a remainder beyond the address space is more than any buffer.
        let wanted = buf.len().min(usize::try_from(self.len - offset).unwrap_or(usize::MAX));
        self.file.seek(SeekFrom::Start(offset))?;
        let mut filled = 0;
        while filled < wanted {
            match self.file.read(&mut buf[filled..wanted])? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "the file shrank while being read: {} bytes expected, {} read",
                            self.len,
                            offset + filled as u64
                        ),
                    ))
                }
                read => filled += read,
            }
        }
        Ok(filled)
    }
}

/// A folder of the host as a tree.
#[derive(Debug, Clone)]
pub struct HostFolder {
    root: PathBuf,
    /// Names listed that are not UTF-8: the path a listed (escaped) name stands for → the
    /// path on disk, so that what `list` gave is found again.
    raw_names: HashMap<PathBuf, PathBuf>,
}

impl HostFolder {
    pub fn new(root: impl Into<PathBuf>) -> HostFolder {
        HostFolder { root: root.into(), raw_names: HashMap::new() }
    }

    fn join(&self, path: &[&str]) -> PathBuf {
        let mut full = self.root.clone();
        for component in path {
            let listed = full.join(component);
            full = self.raw_names.get(&listed).cloned().unwrap_or(listed);
        }
        full
    }
}

fn kind_of(metadata: &std::fs::Metadata) -> EntryKind {
    let kind = metadata.file_type();
    if kind.is_file() {
        EntryKind::File
    } else if kind.is_dir() {
        EntryKind::Directory
    } else {
        EntryKind::Other
    }
}

fn refusal(kind: EntryKind) -> FileProblem {
    match kind {
        EntryKind::Directory => FileProblem::Directory,
        _ => FileProblem::NotRegular("a link or special file".into()),
    }
}

fn io_problem(path: &Path, error: io::Error) -> FileProblem {
    FileProblem::Io(format!("{}: {error}", path.display()))
}

/// `Ok(None)` for "not found", the error otherwise.
fn found<T>(path: &Path, result: io::Result<T>) -> Result<Option<T>, FileProblem> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io_problem(path, error)),
    }
}

impl FileTree for HostFolder {
    fn name(&self) -> String {
        self.root.display().to_string()
    }

    fn metadata(&mut self, path: &[&str]) -> Result<Option<Metadata>, FileProblem> {
        let full = self.join(path);
        Ok(found(&full, std::fs::symlink_metadata(&full))?.map(|m| Metadata { kind: kind_of(&m), size: m.len() }))
    }

    fn list(&mut self, dir: &[&str]) -> Result<Option<Vec<DirEntry>>, FileProblem> {
        let full = self.join(dir);
        match self.metadata(dir)? {
            None => return Ok(None),
            Some(Metadata { kind: EntryKind::Directory, .. }) => {}
            Some(_) => return Err(FileProblem::NotRegular("not a directory".into())),
        }
        let Some(entries) = found(&full, std::fs::read_dir(&full))? else { return Ok(None) };
        let mut listed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_problem(&full, e))?;
            // `DirEntry::file_type` does not follow links.
            let file_type = entry.file_type().map_err(|e| io_problem(&entry.path(), e))?;
            let kind = if file_type.is_file() {
                EntryKind::File
            } else if file_type.is_dir() {
                EntryKind::Directory
            } else {
                EntryKind::Other
            };
            let name = match entry.file_name().to_str() {
                Some(name) => name.to_string(),
                None => {
                    // Not UTF-8 (a Unix folder in another code page): listed losslessly
                    // escaped, and mapped back to the name on disk when looked up.
                    let (name, _) = crate::source::name_text(entry.file_name().as_encoded_bytes());
                    self.raw_names.insert(full.join(&name), entry.path());
                    name
                }
            };
            listed.push(DirEntry { name, kind });
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Some(listed))
    }

    fn visit_file(
        &mut self,
        path: &[&str],
        _budget: u64,
        f: &mut dyn FnMut(&mut dyn BlockSource),
    ) -> Result<bool, FileProblem> {
        // A host file cannot lead a reader round in circles: its length bounds every read.
        let full = self.join(path);
        if self.metadata(path)?.is_none() {
            return Ok(false);
        }
        let mut file = HostFile::open(&full)?;
        f(&mut file);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{read_file, with_file};

    #[test]
    fn a_host_folder_is_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("Windows/System32/config")).unwrap();
        std::fs::write(dir.path().join("Windows/System32/config/SYSTEM"), b"regf and more").unwrap();
        let mut tree = HostFolder::new(dir.path());
        let listed = tree.list(&["Windows", "System32"]).unwrap().unwrap();
        assert_eq!(listed, vec![DirEntry { name: "config".into(), kind: EntryKind::Directory }]);
        assert_eq!(tree.list(&["nowhere"]).unwrap(), None);
        let path = ["Windows", "System32", "config", "SYSTEM"];
        assert_eq!(tree.metadata(&path).unwrap(), Some(Metadata { kind: EntryKind::File, size: 13 }));
        assert_eq!(read_file(&mut tree, &path, 100).unwrap().unwrap(), b"regf and more");
        assert_eq!(read_file(&mut tree, &path, 5), Err(FileProblem::TooLarge { size: 13, limit: 5 }));
        assert_eq!(read_file(&mut tree, &["Windows", "SYSTEM"], 100).unwrap(), None);
        let head = with_file(&mut tree, &path, 0, |file| {
            let mut head = [0u8; 4];
            file.read_exact_at(0, &mut head).map(|()| head)
        });
        assert_eq!(head.unwrap().unwrap().unwrap(), *b"regf");
        assert_eq!(read_file(&mut tree, &["Windows"], 100), Err(FileProblem::Directory));
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_are_listed_and_found_again() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join(std::ffi::OsStr::from_bytes(b"h\xe9l\xe8ne"));
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("SYSTEM"), b"regf").unwrap();
        let mut tree = HostFolder::new(dir.path());
        let listed = tree.list(&[]).unwrap().unwrap();
        assert_eq!(listed, vec![DirEntry { name: "h%E9l%E8ne".into(), kind: EntryKind::Directory }]);
        assert_eq!(tree.list(&["h%E9l%E8ne"]).unwrap().unwrap().len(), 1);
        assert_eq!(read_file(&mut tree, &["h%E9l%E8ne", "SYSTEM"], 100).unwrap().unwrap(), b"regf");
    }

    #[cfg(unix)]
    #[test]
    fn links_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("real"), b"data").unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap();
        let mut tree = HostFolder::new(dir.path());
        let listed = tree.list(&[]).unwrap().unwrap();
        assert!(listed.contains(&DirEntry { name: "link".into(), kind: EntryKind::Other }));
        assert!(matches!(read_file(&mut tree, &["link"], 100), Err(FileProblem::NotRegular(_))));
    }
}
