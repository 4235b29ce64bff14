//! Containment for panics inside nt-hive.
//!
//! nt-hive 0.3 asserts (`data_offset != u32::MAX`) instead of returning an error when a
//! corrupt cell holds a nil offset where a real one is expected, and debug builds can overflow
//! on zero-sized cells. One corrupt cell must cost one lookup, not the whole run, so every
//! call into nt-hive goes through [`contain`], which turns a panic into an error message.
//!
//! Why a hook at all, and why this one is safe inside another program (a Python process
//! through the binding, a test harness): a contained panic is not a failure, so it must not
//! print "thread panicked at …" on the user's terminal, and only a panic hook can stop that
//! message. The hook is installed once, wraps whatever hook was there before and defers to
//! it for every panic outside [`contain`]; whether a panic is contained is a thread-local
//! depth, so another thread's panics, and this thread's outside the guard, are reported
//! exactly as the host program would report them. A hook the host installs later simply
//! replaces this one: contained panics are then printed but still contained. Containment
//! needs unwinding (`panic = "unwind"`, the default; an extension built with
//! `panic = "abort"` would abort on the first corrupt cell instead).

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static CONTAINED_DEPTH: Cell<u32> = const { Cell::new(0) };
}

static INSTALL_HOOK: Once = Once::new();

fn install_quiet_hook() {
    INSTALL_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CONTAINED_DEPTH.with(|depth| depth.get()) == 0 {
                previous(info);
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

/// Runs `f`; a panic inside it becomes `Err` with the panic message.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_quiet_hook();
    let outcome = {
        let _inside = Inside::enter();
        panic::catch_unwind(AssertUnwindSafe(f))
    };
    outcome.map_err(|payload| {
        if let Some(text) = payload.downcast_ref::<&str>() {
            (*text).to_string()
        } else if let Some(text) = payload.downcast_ref::<String>() {
            text.clone()
        } else {
            "unknown internal failure".to_string()
        }
    })
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
}
