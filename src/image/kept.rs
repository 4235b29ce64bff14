//! Opened images kept from one open to the next, so that discovery and the scan (and the
//! probe's own look at each partition) share one opened container: its parsed tables (the
//! E01 chunk table, a VHDX BAT, VMDK grain tables), its caches of inflated chunks and grains,
//! and the NTFS records of the block cache in front of it. Opening an E01 again for the scan
//! inflated every chunk the lookups touch a second time.
//!
//! A kept image is reused only for the same file, unchanged: every segment's device, inode,
//! size, modification and change time must be what they were when it was opened. The change
//! time (ctime) is set by the kernel on every write, truncation or `touch`, and cannot be set
//! back by a program; but it ticks coarsely (a jiffy on ext4 and tmpfs, 2 s on FAT), so two
//! writes in one tick leave it unchanged. An image is therefore kept only if its segments had
//! not changed for [`SETTLED`] before it was opened: any later change then gives a new ctime
//! (the "racily clean" rule git uses for its index). Evidence being written while it is
//! scanned (an acquisition still running, a test writing a fixture) is never kept.
//!
//! Bounded: at most [`MAX_KEPT`] images wait, the oldest dropped first, each with its own
//! bounded caches and open files. An image in use is taken out, so threads scanning
//! partitions of one image in parallel each get their own; the Python / Dask path, whose
//! workers are other processes, simply opens the image again.

use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::image::source::ImageSpec;
use crate::source::BlockSource;

/// How long a segment must have been unchanged before its opened image is kept.
pub const SETTLED: Duration = Duration::from_secs(2);
/// Opened images waiting to be reused.
pub const MAX_KEPT: usize = 4;

/// What identifies one segment's content without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl FileStamp {
    fn of(metadata: &std::fs::Metadata) -> FileStamp {
        FileStamp {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
            changed: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }

    /// True when neither time is later than `before` (seconds and nanoseconds since 1970).
    fn unchanged_since(&self, before: (i64, i64)) -> bool {
        self.modified <= before && self.changed <= before
    }
}

/// The stamps of every segment of `spec` now; `None` if one cannot be read (the open then
/// reports why).
fn stamps(spec: &ImageSpec) -> Option<Vec<FileStamp>> {
    spec.segments.iter().map(|path| std::fs::metadata(path).ok().map(|m| FileStamp::of(&m))).collect()
}

fn unix_time(time: SystemTime) -> (i64, i64) {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => (i64::try_from(since.as_secs()).unwrap_or(i64::MAX), i64::from(since.subsec_nanos())),
        Err(_) => (i64::MIN, 0),
    }
}

/// The image a [`KeptImage`] was opened from, and whether it may be kept.
#[derive(Debug, Clone)]
struct Identity {
    spec: ImageSpec,
    stamps: Vec<FileStamp>,
    /// Every segment was unchanged for [`SETTLED`] before the image was opened.
    settled: bool,
}

pub type Opened = Box<dyn BlockSource + Send>;

struct Waiting {
    identity: Identity,
    image: Opened,
}

static KEPT: Mutex<Vec<Waiting>> = Mutex::new(Vec::new());

/// An opened image that goes back to the kept ones when dropped, if it may be reused.
pub struct KeptImage {
    identity: Option<Identity>,
    image: Option<Opened>,
    /// Set while a read runs: still set at drop when a panic left the reader (contained by
    /// the NTFS layer's guard), whose state is then not trusted for another open.
    reading: bool,
}

impl std::fmt::Debug for KeptImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptImage").field("image", &self.identity.as_ref().map(|i| &i.spec.path)).finish()
    }
}

/// The kept image of `spec` if there is one for its files as they are now, else `open(spec)`.
pub fn open<E>(spec: &ImageSpec, open: impl FnOnce(&ImageSpec) -> Result<Opened, E>) -> Result<KeptImage, E> {
    // Stamped before the open: a change during the open makes the stamps differ at drop.
    let settled_before = SystemTime::now().checked_sub(SETTLED).map(unix_time);
    let identity = stamps(spec).map(|stamps| Identity {
        settled: settled_before.is_some_and(|before| stamps.iter().all(|s| s.unchanged_since(before))),
        spec: spec.clone(),
        stamps,
    });
    if let Some(identity) = &identity {
        if let Some(image) = take(identity) {
            return Ok(KeptImage { identity: Some(identity.clone()), image: Some(image), reading: false });
        }
    }
    let image = open(spec)?;
    Ok(KeptImage { identity, image: Some(image), reading: false })
}

/// Removes and returns the kept image of these files, unchanged; drops the kept images of
/// the same spec whose files changed.
fn take(identity: &Identity) -> Option<Opened> {
    if !identity.settled {
        return None;
    }
    let mut kept = KEPT.lock().ok()?;
    kept.retain(|w| w.identity.spec != identity.spec || w.identity.stamps == identity.stamps);
    let index = kept.iter().position(|w| w.identity.spec == identity.spec)?;
    Some(kept.remove(index).image)
}

/// Drops every kept image (their caches and open files). A library caller done with a case
/// may call it; the benchmark does before each run, so that each run opens its image once.
pub fn forget_all() {
    if let Ok(mut kept) = KEPT.lock() {
        kept.clear();
    }
}

impl Drop for KeptImage {
    fn drop(&mut self) {
        let (Some(identity), Some(image)) = (self.identity.take(), self.image.take()) else { return };
        if self.reading {
            return;
        }
        // Kept only when its files are still what was opened.
        if !identity.settled || stamps(&identity.spec).as_ref() != Some(&identity.stamps) {
            return;
        }
        let Ok(mut kept) = KEPT.lock() else { return };
        kept.push(Waiting { identity, image });
        if kept.len() > MAX_KEPT {
            kept.remove(0);
        }
    }
}

impl BlockSource for KeptImage {
    fn len(&self) -> u64 {
        self.image.as_ref().map_or(0, |image| image.len())
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(image) = self.image.as_mut() else { return Ok(0) };
        self.reading = true;
        let read = image.read_at(offset, buf);
        self.reading = false;
        read
    }

    fn warnings(&self) -> Vec<String> {
        self.image.as_ref().map(|image| image.warnings()).unwrap_or_default()
    }

    fn container_facts(&self) -> Option<crate::image::facts::ContainerFacts> {
        self.image.as_ref().and_then(|image| image.container_facts())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A source that counts how often it was opened.
    struct Counted(Vec<u8>);

    impl BlockSource for Counted {
        fn len(&self) -> u64 {
            self.0.len() as u64
        }

        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
            (&self.0[..]).read_at(offset, buf)
        }
    }

    fn open_counted(spec: &ImageSpec, opens: &Arc<AtomicUsize>) -> KeptImage {
        let opens = opens.clone();
        open(spec, |spec| -> Result<Opened, std::io::Error> {
            opens.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(Counted(std::fs::read(&spec.path)?)))
        })
        .unwrap()
    }

    #[test]
    fn an_image_just_written_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fresh.raw");
        std::fs::write(&path, b"fresh bytes").unwrap();
        let spec = ImageSpec::for_path(&path);
        let opens = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let mut image = open_counted(&spec, &opens);
            let mut buf = [0u8; 5];
            image.read_exact_at(0, &mut buf).unwrap();
            assert_eq!(&buf, b"fresh");
        }
        // Its ctime is now: a write within the same tick would not change it.
        assert_eq!(opens.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_settled_image_is_reused_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settled.raw");
        std::fs::write(&path, b"first bytes").unwrap();
        // The change time cannot be set back: wait until the file has settled.
        std::thread::sleep(SETTLED + Duration::from_millis(100));
        let spec = ImageSpec::for_path(&path);
        let opens = Arc::new(AtomicUsize::new(0));
        drop(open_counted(&spec, &opens));
        {
            // Two at once: the one in use is not handed out again.
            let first = open_counted(&spec, &opens);
            let second = open_counted(&spec, &opens);
            assert_eq!(opens.load(Ordering::SeqCst), 2, "the kept image reused once, a second opened");
            drop((first, second));
        }
        drop(open_counted(&spec, &opens));
        assert_eq!(opens.load(Ordering::SeqCst), 2, "kept again after use");
        // Same size, same inode: the ctime tells, and the new bytes are read.
        std::fs::write(&path, b"other bytes").unwrap();
        let mut image = open_counted(&spec, &opens);
        assert_eq!(opens.load(Ordering::SeqCst), 3);
        let mut buf = [0u8; 5];
        image.read_exact_at(0, &mut buf).unwrap();
        assert_eq!(&buf, b"other");
    }

    /// A source whose reads panic, as a damaged container could make a reader do.
    struct Panicking;

    impl BlockSource for Panicking {
        fn len(&self) -> u64 {
            100
        }

        fn read_at(&mut self, _offset: u64, _buf: &mut [u8]) -> std::io::Result<usize> {
            panic!("reader bug")
        }
    }

    #[test]
    fn an_image_whose_read_panicked_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("panics.raw");
        std::fs::write(&path, b"bytes").unwrap();
        std::thread::sleep(SETTLED + Duration::from_millis(100));
        let spec = ImageSpec::for_path(&path);
        let mut image = open(&spec, |_| -> Result<Opened, std::io::Error> { Ok(Box::new(Panicking)) }).unwrap();
        assert!(image.identity.as_ref().is_some_and(|i| i.settled));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| image.read_at(0, &mut [0u8; 4])));
        assert!(caught.is_err());
        drop(image);
        let opens = Arc::new(AtomicUsize::new(0));
        drop(open_counted(&spec, &opens));
        assert_eq!(opens.load(Ordering::SeqCst), 1, "opened afresh, not the reader that panicked");
    }

    #[test]
    fn stamps_compare_both_times() {
        let stamp = FileStamp { device: 1, inode: 2, size: 3, modified: (10, 5), changed: (20, 0) };
        assert!(stamp.unchanged_since((20, 0)));
        assert!(!stamp.unchanged_since((19, 999_999_999)), "changed later");
        assert!(!FileStamp { modified: (30, 0), ..stamp }.unchanged_since((20, 0)), "modified later");
    }
}
