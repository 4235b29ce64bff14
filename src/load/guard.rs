//! Containment for panics inside nt-hive.
//!
//! nt-hive 0.3 asserts (`data_offset != u32::MAX`) instead of returning an error when a
//! corrupt cell holds a nil offset where a real one is expected, and debug builds can overflow
//! on zero-sized cells. One corrupt cell must cost one lookup, not the whole run, so every
//! call into nt-hive goes through [`contain`], which turns a panic into an error message.
//! The panic hook stays silent for panics contained here and behaves as before otherwise.

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

/// Runs `f`; a panic inside it becomes `Err` with the panic message.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_quiet_hook();
    CONTAINED_DEPTH.with(|depth| depth.set(depth.get() + 1));
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    CONTAINED_DEPTH.with(|depth| depth.set(depth.get() - 1));
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
    }
}
