//! Opening evidence: regular files only, read-only, and never an open or a read that can block.
//!
//! A FIFO, socket, device or folder carrying a hive's name must not hang the run (`open` of a
//! FIFO waits for a writer, `/dev/zero` never ends) nor be mistaken for an empty file. The
//! type is checked with `stat` before opening (so a device is never even opened: opening a
//! tape or a terminal has side effects), the open is non-blocking, and `fstat` on the open
//! descriptor confirms it is the same regular file (the path may have been swapped between
//! the two).

use std::fs::{File, FileType, Metadata};
use std::io::{self, Read};
use std::path::Path;

/// What a file that is not a regular file is, in words; `None` for a regular file.
pub fn non_regular_kind(file_type: &FileType) -> Option<&'static str> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return Some("a named pipe");
        }
        if file_type.is_socket() {
            return Some("a socket");
        }
        if file_type.is_char_device() {
            return Some("a character device");
        }
        if file_type.is_block_device() {
            return Some("a block device");
        }
    }
    if file_type.is_dir() {
        Some("a folder")
    } else if file_type.is_symlink() {
        Some("a symbolic link")
    } else if file_type.is_file() {
        None
    } else {
        Some("a special file")
    }
}

/// The reason given for a path that is not a regular file.
pub fn not_regular_reason(kind: &str) -> String {
    format!("not a regular file ({kind}); only regular files are read as hives, logs or images")
}

fn not_regular(kind: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, not_regular_reason(kind))
}

/// Opens `path` for reading if, and only if, it is a regular file (symbolic links the user
/// named are followed). Returns the file and its `fstat`.
pub fn open_regular(path: &Path) -> io::Result<(File, Metadata)> {
    let before = std::fs::metadata(path)?;
    if let Some(kind) = non_regular_kind(&before.file_type()) {
        return Err(not_regular(kind));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Non-blocking so that a FIFO swapped in after the `stat` cannot hang the open; no
        // effect on regular files. O_NOCTTY: a terminal never becomes ours.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path)?;
    let after = file.metadata()?;
    if let Some(kind) = non_regular_kind(&after.file_type()) {
        return Err(not_regular(kind));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (before.dev(), before.ino()) != (after.dev(), after.ino()) {
            return Err(io::Error::other("the file was replaced while it was being opened; scan a stable copy"));
        }
    }
    Ok((file, after))
}

/// Why a whole-file read was refused or failed.
pub fn too_large(len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!("{len} bytes do not fit in the memory available to this process"),
    )
}

/// Reads exactly `len` bytes (the size `fstat` gave) from `file`, allocating only after the
/// memory has been reserved successfully; a file that grew is read up to `len`, one that
/// shrank is an error.
pub fn read_exact_len(file: &File, len: u64) -> io::Result<Vec<u8>> {
    let size = usize::try_from(len).map_err(|_| too_large(len))?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(size).map_err(|_| too_large(len))?;
    let read = file.take(len).read_to_end(&mut bytes)?;
    if (read as u64) < len {
        return Err(changed_while_read(len, read as u64));
    }
    Ok(bytes)
}

/// The error for a file whose size changed while it was being read.
pub fn changed_while_read(expected: u64, got: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the file changed while being read ({expected} bytes when opened, {got} read); scan a stable copy"),
    )
}

/// The first `limit` bytes of a regular file, and its size.
pub fn read_head(path: &Path, limit: u64) -> io::Result<(Vec<u8>, u64)> {
    let (file, meta) = open_regular(path)?;
    let mut head = Vec::new();
    (&file).take(limit.min(meta.len())).read_to_end(&mut head)?;
    Ok((head, meta.len()))
}
