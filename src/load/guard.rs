//! Containment for panics: inside nt-hive, and around the scan of each machine.
//!
//! nt-hive 0.3 asserts (`data_offset != u32::MAX`) instead of returning an error when a
//! corrupt cell holds a nil offset where a real one is expected, and debug builds can overflow
//! on zero-sized cells. One corrupt cell must cost one lookup, not the whole run, so every
//! call into nt-hive goes through [`contain`], which turns a panic into an error message.
//! The scan of one machine runs inside [`contain_reporting_location`] as well
//! ([`crate::scan::contain_machine`]): a bug of our own (an overflow check, an index out of
//! range) costs that machine, reported as its error, never the run or the host process.
//!
//! Containment itself is `catch_unwind` and the panic's payload (its message): it does not
//! depend on any panic hook, so a host program (a Python process through the binding, a test
//! harness) may install, replace or take away the process-wide hook at any time.
//!
//! Why a hook at all: a contained panic is not a failure, so it should not print "thread
//! panicked at …" on the user's terminal, and only a panic hook can stop that message; and
//! only a hook sees the panic's location (file and line), which makes the error for a machine
//! a bug report one can act on. The hook is installed once, on first use, wrapping whatever
//! hook was there before and deferring to it for every panic outside [`contain`]; whether a
//! panic is contained is a thread-local depth, so another thread's panics, and this thread's
//! outside the guard, are reported exactly as the host program would report them. A hook the
//! host installs later simply replaces this one: contained panics are then printed by the
//! host's hook and reported without their location, but still contained (tests/panic_hooks.rs).
//! Containment needs unwinding (`panic = "unwind"`, the default; an extension built with
//! `panic = "abort"` would abort on the first corrupt cell instead).

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static CONTAINED_DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Where the last contained panic of this thread happened, when our hook saw it.
    static CONTAINED_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL_HOOK: Once = Once::new();

fn install_quiet_hook() {
    INSTALL_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CONTAINED_DEPTH.with(|depth| depth.get()) == 0 {
                previous(info);
            } else if let Some(location) = info.location() {
                let at = format!("{}:{}:{}", location.file(), location.line(), location.column());
                // `try_with`: a hook runs even while the thread's locals are torn down.
                let _ = CONTAINED_LOCATION.try_with(|slot| slot.replace(Some(at)));
            }
        }));
    });
}

/// Marks this thread as inside [`contain`] for as long as it lives, nested calls included.
struct Inside;

impl Inside {
    fn enter() -> Inside {
        CONTAINED_DEPTH.with(|depth| depth.set(depth.get().saturating_add(1)));
        Inside
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        CONTAINED_DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// True while the current thread runs inside [`contain`].
pub fn is_contained() -> bool {
    CONTAINED_DEPTH.with(|depth| depth.get()) > 0
}

/// A panic caught by [`contain_reporting_location`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainedPanic {
    /// The panic's message, from its payload.
    pub message: String,
    /// `file:line:column`, when the library's hook was still the process's hook and saw it.
    pub location: Option<String>,
}

/// Runs `f`; a panic inside it becomes `Err` with the panic message.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    contain_reporting_location(f).map_err(|panic| panic.message)
}

/// [`contain`], with the panic's location when it is known.
pub fn contain_reporting_location<T>(f: impl FnOnce() -> T) -> Result<T, ContainedPanic> {
    install_quiet_hook();
    let outcome = {
        let _inside = Inside::enter();
        panic::catch_unwind(AssertUnwindSafe(f))
    };
    // Taken in every case: a location left by a panic an inner `contain` caught is not this one's.
    let location = CONTAINED_LOCATION.with(|slot| slot.take());
    outcome.map_err(|payload| ContainedPanic { message: payload_message(payload.as_ref()), location })
}

fn payload_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown internal failure".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_becomes_error() {
        let result: Result<(), String> = contain(|| panic!("cell offset is nil"));
        assert_eq!(result, Err("cell offset is nil".to_string()));
        assert_eq!(contain(|| 7), Ok(7));
        assert!(!is_contained());
        let nested = contain(|| (is_contained(), contain(|| panic!("inner")), is_contained()));
        assert_eq!(nested, Ok((true, Err("inner".to_string()), true)));
        assert!(!is_contained());
    }

    #[test]
    fn the_location_comes_with_the_message_and_only_for_this_panic() {
        let line = line!() + 1;
        let caught = contain_reporting_location(|| -> () { panic!("at {}", 7) }).unwrap_err();
        assert_eq!(caught.message, "at 7");
        // Known only while the library's hook is the process's; tests/panic_hooks.rs covers a
        // host that replaces it. Here nothing else sets a hook.
        let location = caught.location.unwrap();
        assert!(location.starts_with(&format!("src/load/guard.rs:{line}:")), "{location}");
        let outer = contain_reporting_location(|| {
            let _ = contain(|| -> () { panic!("inner") });
        });
        assert_eq!(outer, Ok(()));
        let _ = contain_reporting_location(|| -> () { std::panic::panic_any(3_u8) })
            .map_err(|p| assert_eq!(p.message, "unknown internal failure"));
    }
}
