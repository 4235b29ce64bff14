//! Transaction-log replay (issue 5). Placeholder module: filled in by the log-replay work.
