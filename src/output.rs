//! Writing reports safely: no output ever replaces or writes into a file the run reads, only
//! regular files are written, and no partial file survives a failure, SIGINT or SIGTERM.
//!
//! Every output of every subcommand goes through [`AtomicOutput::create`], which refuses a
//! target that is (same device and inode — through hard links and symbolic links) any input of
//! the run, and any existing path that is not a regular file (FIFO, device, folder, socket).
//! The report is written to a temporary file `.rebootscan-*.partial` beside the target and
//! renamed into place only when complete; the temporary file is removed when the write fails,
//! and by a signal handler on SIGINT, SIGTERM and SIGHUP.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;

use crate::discover::Discovery;
use crate::input::non_regular_kind;

/// Identity of a file: device and inode.
type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<FileId> {
    None
}

/// Every file a run reads (hives, their transaction logs, disk image segments), by identity.
#[derive(Debug, Default, Clone)]
pub struct Inputs {
    files: Vec<(FileId, PathBuf)>,
}

impl Inputs {
    /// Adds a file (following symbolic links); paths that do not exist are not inputs.
    pub fn add(&mut self, path: &Path) {
        // Not evidence: a path whose metadata cannot be read is no file a run could read, so
        // there is nothing to protect (opening it for the scan reports the error).
        if let Some(id) = std::fs::metadata(path).ok().as_ref().and_then(file_id) {
            if !self.files.iter().any(|(known, _)| *known == id) {
                self.files.push((id, path.to_path_buf()));
            }
        }
    }

    /// Adds a hive and every transaction log a scan may read beside it.
    pub fn add_hive(&mut self, hive: &Path) {
        self.add(hive);
        // A folder that cannot be listed gives the run no logs to read (the scan reports why),
        // so there is nothing more to protect there.
        for log in crate::load::logs::find_logs(hive).map(|logs| logs.found).unwrap_or_default() {
            self.add(&log);
        }
    }

    /// Every file the machines of a discovery may read.
    pub fn of_discovery(discovery: &Discovery) -> Inputs {
        let mut inputs = Inputs::default();
        for machine in &discovery.machines {
            match &machine.image {
                Some(volume) => {
                    for segment in &volume.image.segments {
                        inputs.add(segment);
                    }
                }
                None => {
                    for hive in &machine.hives {
                        inputs.add_hive(hive);
                    }
                }
            }
        }
        inputs
    }

    /// The input that `meta` is, if any.
    fn find(&self, meta: &std::fs::Metadata) -> Option<&Path> {
        let id = file_id(meta)?;
        self.files.iter().find(|(known, _)| *known == id).map(|(_, path)| path.as_path())
    }
}

/// Why an output cannot be written. Every message names the target.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write {what} to {}: it is {}, a file this run reads; an output never replaces evidence, choose another file name", target.display(), input.display())]
    IsInput { what: &'static str, target: PathBuf, input: PathBuf },
    #[error("cannot write {what} to {}: it is {kind}, not a regular file; outputs are written only to regular files, choose another file name", target.display())]
    NotRegular { what: &'static str, target: PathBuf, kind: &'static str },
    #[error("cannot write {what} to {}: the file already exists (the output must be a new file)", target.display())]
    Exists { what: &'static str, target: PathBuf },
    #[error("cannot write {what} to {}: the same file is named for another output; give each output its own file", target.display())]
    Twice { what: &'static str, target: PathBuf },
    #[error("cannot write {what} to {}: {source}{}", target.display(), hint(source))]
    Io { what: &'static str, target: PathBuf, source: io::Error },
}

/// What to do about an I/O failure, by its cause.
fn hint(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
            " (choose a folder that exists and that you may write to)"
        }
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            " (choose a folder that you may write to)"
        }
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => {
            " (free some space or choose another disk); nothing was written"
        }
        _ => "",
    }
}

/// Checks that `target` may be written by this run: it is none of `inputs` and, if it exists,
/// a regular file. `what` names the output in messages ("the report", "the findings CSV").
/// A target that does not exist yet is fine: discovery has already happened, so a report
/// written into a scanned folder never becomes input of the run that writes it.
pub fn check_target(what: &'static str, target: &Path, inputs: &Inputs) -> Result<(), OutputError> {
    match std::fs::metadata(target) {
        Ok(meta) => {
            if let Some(input) = inputs.find(&meta) {
                return Err(OutputError::IsInput { what, target: target.to_path_buf(), input: input.to_path_buf() });
            }
            if let Some(kind) = non_regular_kind(&meta.file_type()) {
                return Err(OutputError::NotRegular { what, target: target.to_path_buf(), kind });
            }
            Ok(())
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(OutputError::Io { what, target: target.to_path_buf(), source }),
    }
}

/// Checks several outputs at once: each one safe, and no two the same file.
pub fn check_targets(targets: &[(&'static str, &Path)], inputs: &Inputs) -> Result<(), OutputError> {
    for (index, (what, target)) in targets.iter().enumerate() {
        check_target(what, target, inputs)?;
        for (_, other) in &targets[..index] {
            if same_file(target, other) {
                return Err(OutputError::Twice { what, target: target.to_path_buf() });
            }
        }
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    // Not evidence: a target that does not exist yet has no identity; compared by name below.
    let id = |p: &Path| std::fs::metadata(p).ok().as_ref().and_then(file_id);
    if let (Some(a), Some(b)) = (id(a), id(b)) {
        return a == b;
    }
    // Not created yet: same folder and same name.
    let folder =
        |p: &Path| p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).canonicalize().ok();
    a.file_name() == b.file_name() && folder(a).is_some() && folder(a) == folder(b)
}

/// An output file written atomically: a temporary file beside the target, renamed into place
/// only when everything has been written. Dropping it without [`commit`](Self::commit)
/// removes the temporary file.
pub struct AtomicOutput {
    // Declared before `cleanup`: fields drop in order, so the file is removed before the
    // signal handler forgets it.
    temp: tempfile::NamedTempFile,
    cleanup: CleanupSlot,
    target: PathBuf,
    what: &'static str,
    inputs: Inputs,
}

/// A temporary file known to the signal handler; forgotten on drop.
struct CleanupSlot(Option<usize>);

impl Drop for CleanupSlot {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            unregister_cleanup(slot);
        }
    }
}

impl AtomicOutput {
    /// Checks `target` against the run's inputs (see [`check_target`]) and creates the
    /// temporary file beside it.
    pub fn create(what: &'static str, target: &Path, inputs: &Inputs) -> Result<AtomicOutput, OutputError> {
        Self::create_checked(what, target, inputs, false)
    }

    /// Like [`create`](Self::create), for an output that must not exist yet.
    pub fn create_new(what: &'static str, target: &Path, inputs: &Inputs) -> Result<AtomicOutput, OutputError> {
        Self::create_checked(what, target, inputs, true)
    }

    fn create_checked(
        what: &'static str,
        target: &Path,
        inputs: &Inputs,
        must_be_new: bool,
    ) -> Result<AtomicOutput, OutputError> {
        check_target(what, target, inputs)?;
        if must_be_new && std::fs::symlink_metadata(target).is_ok() {
            return Err(OutputError::Exists { what, target: target.to_path_buf() });
        }
        let io_error = |source| OutputError::Io { what, target: target.to_path_buf(), source };
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        // Checked first so the error is the OS's plain reason, not tempfile's message about
        // its random temporary name.
        if !std::fs::metadata(dir).map_err(io_error)?.is_dir() {
            return Err(io_error(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a folder", dir.display()),
            )));
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix(".rebootscan-").suffix(".partial");
        let mut cleanup = CleanupSlot(None);
        let temp = builder
            .make_in(dir, |path| {
                // Known to the signal handler before the file exists: a SIGTERM between the
                // create and the registration would leave the partial file behind. A signal
                // before the create finds nothing to remove.
                let registered = CleanupSlot(register_cleanup(path));
                let mut options = std::fs::OpenOptions::new();
                options.read(true).write(true).create_new(true);
                // A report is an ordinary file: the usual mode under the user's umask
                // (tempfile's default, 0600, would survive the rename).
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o666);
                // On failure `registered` is dropped, and the name forgotten, before tempfile
                // tries another.
                let file = options.open(path)?;
                cleanup = registered;
                Ok(file)
            })
            .map_err(io_error)?;
        Ok(AtomicOutput { temp, cleanup, target: target.to_path_buf(), what, inputs: inputs.clone() })
    }

    /// The temporary file to write to.
    pub fn file(&self) -> &File {
        self.temp.as_file()
    }

    /// The output's name in messages ("the report", "the findings CSV").
    pub fn what(&self) -> &'static str {
        self.what
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The error for a failed write to this output (names the target).
    pub fn write_error(&self, source: io::Error) -> OutputError {
        OutputError::Io { what: self.what, target: self.target.clone(), source }
    }

    /// Renames the complete file into place, replacing a regular file of that name. The
    /// target is checked again first: it may have been created since.
    pub fn commit(self) -> Result<(), OutputError> {
        self.finish(false)
    }

    /// Like [`commit`](Self::commit), but refuses to replace an existing file.
    pub fn commit_new(self) -> Result<(), OutputError> {
        self.finish(true)
    }

    fn finish(self, must_be_new: bool) -> Result<(), OutputError> {
        check_target(self.what, &self.target, &self.inputs)?;
        self.temp.as_file().sync_all().map_err(|e| self.write_error(e))?;
        let result = if must_be_new {
            self.temp.persist_noclobber(&self.target).map(|_| ())
        } else {
            self.temp.persist(&self.target).map(|_| ())
        };
        drop(self.cleanup);
        match result {
            Ok(()) => Ok(()),
            Err(error) if must_be_new && error.error.kind() == io::ErrorKind::AlreadyExists => {
                Err(OutputError::Exists { what: self.what, target: self.target })
            }
            Err(error) => Err(OutputError::Io { what: self.what, target: self.target, source: error.error }),
        }
    }
}

// ---- Removing temporary files on SIGINT, SIGTERM and SIGHUP -------------------------------

/// Temporary files to remove if the process is interrupted: C strings, leaked on purpose so
/// that the signal handler never reads freed memory (a few bytes per output file).
const CLEANUP_SLOTS: usize = 64;
static CLEANUP: [AtomicPtr<libc::c_char>; CLEANUP_SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; CLEANUP_SLOTS];
static INSTALL_CLEANUP: Once = Once::new();

#[cfg(unix)]
fn register_cleanup(path: &Path) -> Option<usize> {
    use std::os::unix::ffi::OsStrExt;
    INSTALL_CLEANUP.call_once(install_cleanup_handlers);
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?.into_raw();
    for (index, slot) in CLEANUP.iter().enumerate() {
        if slot.compare_exchange(std::ptr::null_mut(), c_path, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            return Some(index);
        }
    }
    None
}

#[cfg(not(unix))]
fn register_cleanup(_path: &Path) -> Option<usize> {
    None
}

fn unregister_cleanup(slot: usize) {
    if let Some(slot) = CLEANUP.get(slot) {
        slot.store(std::ptr::null_mut(), Ordering::SeqCst);
    }
}

#[cfg(unix)]
extern "C" fn remove_partial_files(signal: libc::c_int) {
    // Async-signal-safe only: atomic loads, unlink(2), signal(2), raise(3).
    for slot in &CLEANUP {
        let path = slot.load(Ordering::SeqCst);
        if !path.is_null() {
            // SAFETY: `path` is a leaked, never freed, NUL-terminated C string.
            unsafe { libc::unlink(path) };
        }
    }
    // SAFETY: restoring the default action and re-raising ends the process with the signal,
    // so the parent sees the usual "killed by SIGTERM" status.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

#[cfg(unix)]
fn install_cleanup_handlers() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: plain sigaction calls; a signal that was ignored when we started (nohup,
        // background jobs) stays ignored.
        unsafe {
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut previous) != 0 || previous.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = remove_partial_files as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

#[cfg(not(unix))]
fn install_cleanup_handlers() {}
