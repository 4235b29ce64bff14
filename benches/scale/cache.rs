//! Making files cold: out of the page cache, so that the next read goes to the disk.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// `sync; echo 3 > /proc/sys/vm/drop_caches`: the whole page cache, dentries and inodes.
    /// Needs root outside a container (and is refused inside most).
    DropCaches,
    /// `posix_fadvise(POSIX_FADV_DONTNEED)` on each hive file (through GNU dd's
    /// `iflag=nocache count=0`): works unprivileged, drops only those files' clean pages.
    Fadvise,
}

impl Eviction {
    /// Drop caches if the kernel lets us (checked by doing it once), else per-file fadvise.
    pub fn choose(force_fadvise: bool) -> Eviction {
        if !force_fadvise && drop_caches().is_ok() {
            Eviction::DropCaches
        } else {
            Eviction::Fadvise
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Eviction::DropCaches => {
                "`sync; echo 3 > /proc/sys/vm/drop_caches` before each cold run (whole page cache, dentries and inodes)"
            }
            Eviction::Fadvise => {
                "`posix_fadvise(DONTNEED)` on every hive file (GNU `dd iflag=nocache count=0`) before each cold run; \
                 /proc/sys/vm/drop_caches was not writable or --fadvise was given"
            }
        }
    }

    /// Evicts `files` (and, with drop_caches, everything else too).
    pub fn evict(self, files: &[PathBuf]) -> io::Result<()> {
        // Freshly copied files are dirty; neither method can drop a page before it is written.
        run_quietly(Command::new("sync"))?;
        match self {
            Eviction::DropCaches => drop_caches(),
            Eviction::Fadvise => {
                for file in files {
                    let mut dd = Command::new("dd");
                    dd.arg(format!("if={}", file.display())).args(["iflag=nocache", "count=0", "status=none"]);
                    run_quietly(dd)?;
                }
                Ok(())
            }
        }
    }
}

fn drop_caches() -> io::Result<()> {
    run_quietly(Command::new("sync"))?;
    let mut control = std::fs::OpenOptions::new().write(true).open("/proc/sys/vm/drop_caches")?;
    control.write_all(b"3\n")
}

fn run_quietly(mut command: Command) -> io::Result<()> {
    let status = command.stdout(Stdio::null()).stderr(Stdio::null()).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!("{command:?} failed: {status}")))
    }
}

/// Bytes of `files` in the page cache, from util-linux `fincore`; `None` when it is missing.
/// Used to prove an eviction worked.
pub fn resident_bytes(files: &[PathBuf]) -> Option<u64> {
    let output =
        Command::new("fincore").args(["--bytes", "--noheadings", "--output", "RES"]).args(files).output().ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8_lossy(&output.stdout).lines().map(|line| line.trim().parse::<u64>().ok()).sum()
}
