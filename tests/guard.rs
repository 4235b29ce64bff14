//! The panic guard in a process that has its own panic hook (as a Python process or a test
//! harness does): contained panics stay quiet, every other panic still reaches the host's
//! hook. A test binary of its own, since panic hooks are process-wide.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rebootscan::load::guard::contain;

#[test]
fn contained_panics_are_quiet_and_others_reach_the_host_hook() {
    let reported = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reported);
    // The host's hook, installed before the library is first used.
    std::panic::set_hook(Box::new(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));

    assert_eq!(contain(|| -> () { panic!("corrupt cell") }), Err("corrupt cell".to_string()));
    assert_eq!(reported.load(Ordering::SeqCst), 0, "a contained panic must not reach the host's hook");

    // Outside the guard, on this thread or another, the host's hook sees the panic.
    let outside = std::thread::spawn(|| panic!("not ours")).join();
    assert!(outside.is_err());
    assert_eq!(reported.load(Ordering::SeqCst), 1);
    let on_this_thread = std::panic::catch_unwind(|| panic!("not ours either"));
    assert!(on_this_thread.is_err());
    assert_eq!(reported.load(Ordering::SeqCst), 2);

    // Another thread inside the guard does not silence this one.
    let quiet = std::thread::spawn(|| contain(|| -> () { panic!("inside") }));
    assert!(quiet.join().unwrap().is_err());
    assert_eq!(reported.load(Ordering::SeqCst), 2);
    let _ = std::panic::take_hook();
}
