//! Surviving a hive that shrinks while it is mapped.
//!
//! Hives are memory-mapped so that a lookup reads only the pages it touches (nt-hive needs the
//! whole hive as one `&[u8]`, so reading pages on demand with `pread` into a cache is not
//! possible without forking it). The price of mapping: when another process truncates the
//! file, touching a page past the new end raises SIGBUS, which by default kills the process
//! and loses every other machine's result.
//!
//! So a SIGBUS handler (installed once, `SA_SIGINFO`) looks the faulting address up in a
//! fixed table of registered mappings. Inside one, it maps an anonymous zero page over the
//! faulting page (`MAP_FIXED | MAP_ANONYMOUS | MAP_PRIVATE`), marks the mapping "changed" and
//! returns: the read sees zeros, and after the scan the hive's machine reports "the file
//! changed while being read". A fault outside every registered mapping is passed on to the
//! handler that was there before (Rust's stack-overflow handler), or to the default action.
//! The handler only does atomic loads and stores and one `mmap` system call.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Mappings alive at once: three hives per machine and a few dozen machines in flight.
const SLOTS: usize = 1024;

struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    changed: AtomicBool,
}

static TABLE: [Slot; SLOTS] =
    [const { Slot { start: AtomicUsize::new(0), len: AtomicUsize::new(0), changed: AtomicBool::new(false) } }; SLOTS];

static PAGE_SIZE: AtomicUsize = AtomicUsize::new(4096);

/// The handler that was installed before ours, to pass foreign faults on to.
struct Previous(libc::sigaction);
// SAFETY: a plain C struct that is written once before the handler is installed and only read
// afterwards.
unsafe impl Sync for Previous {}
unsafe impl Send for Previous {}

static PREVIOUS: OnceLock<Option<Previous>> = OnceLock::new();

/// A registered mapping; dropping it unregisters (do this before unmapping).
#[derive(Debug)]
pub struct Registration {
    slot: Option<usize>,
}

impl Registration {
    /// True when a page of the mapping vanished (the file shrank) and was replaced by zeros.
    pub fn changed(&self) -> bool {
        self.slot.and_then(|slot| TABLE.get(slot)).is_some_and(|slot| slot.changed.load(Ordering::SeqCst))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.and_then(|slot| TABLE.get(slot)) {
            slot.len.store(0, Ordering::SeqCst);
            slot.start.store(0, Ordering::SeqCst);
        }
    }
}

/// Registers `len` mapped bytes at `start`. When the table is full the mapping is simply not
/// protected (it behaves as before: a truncation would end the process).
pub fn register(start: *const u8, len: usize) -> Registration {
    install();
    let start = start as usize;
    if start == 0 || len == 0 {
        return Registration { slot: None };
    }
    for (index, slot) in TABLE.iter().enumerate() {
        if slot.start.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            slot.changed.store(false, Ordering::SeqCst);
            slot.len.store(len, Ordering::SeqCst);
            return Registration { slot: Some(index) };
        }
    }
    Registration { slot: None }
}

#[cfg(target_os = "linux")]
fn install() {
    PREVIOUS.get_or_init(|| {
        // SAFETY: sysconf and sigaction with valid pointers; the handler only touches atomics.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE);
            if page > 0 {
                PAGE_SIZE.store(page as usize, Ordering::SeqCst);
            }
            let mut previous: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) != 0 {
                return None;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            // PREVIOUS is set by get_or_init only after this closure returns; the handler
            // treats "not yet set" as "default action", which is what it was.
            if libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) != 0 {
                return None;
            }
            Some(Previous(previous))
        }
    });
}

#[cfg(not(target_os = "linux"))]
fn install() {}

#[cfg(target_os = "linux")]
extern "C" fn on_sigbus(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: `info` is the kernel's siginfo for this fault.
    let address = if info.is_null() { 0 } else { unsafe { (*info).si_addr() as usize } };
    let page = PAGE_SIZE.load(Ordering::SeqCst);
    for slot in &TABLE {
        let start = slot.start.load(Ordering::SeqCst);
        let len = slot.len.load(Ordering::SeqCst);
        if start == 0 || address < start || address - start >= len {
            continue;
        }
        let page_start = address & !(page - 1);
        // SAFETY: the page lies inside a live read-only mapping of ours; replacing it with a
        // private zero page changes only what this process sees.
        let mapped = unsafe {
            libc::mmap(
                page_start as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if mapped != libc::MAP_FAILED {
            slot.changed.store(true, Ordering::SeqCst);
            return;
        }
        break;
    }
    // Not ours: pass it on.
    match PREVIOUS.get().and_then(|p| p.as_ref()) {
        Some(Previous(previous))
            if previous.sa_sigaction != libc::SIG_DFL && previous.sa_sigaction != libc::SIG_IGN =>
        {
            // SAFETY: calling the previously installed handler the way it asked to be called.
            unsafe {
                if previous.sa_flags & libc::SA_SIGINFO != 0 {
                    let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                        std::mem::transmute(previous.sa_sigaction);
                    handler(signal, info, context);
                } else {
                    let handler: extern "C" fn(libc::c_int) = std::mem::transmute(previous.sa_sigaction);
                    handler(signal);
                }
            }
        }
        _ => {
            // SAFETY: restore the default action; returning re-executes the faulting access,
            // which then ends the process with SIGBUS as it would have without us.
            unsafe {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn truncated_mapping_reads_zeros_and_is_marked_changed() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![7u8; 64 * 1024]).unwrap();
        // SAFETY: test file, mapped read-only.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        let registration = register(map.as_ptr(), map.len());
        assert!(!registration.changed());
        assert_eq!(map[60 * 1024], 7);
        file.set_len(4096).unwrap();
        let sum: u64 = map.iter().map(|&b| u64::from(b)).sum();
        assert!(registration.changed());
        assert_eq!(map[0], 7);
        assert_eq!(map[60 * 1024], 0);
        assert_eq!(sum, 7 * 4096);
        drop(registration);
    }
}
