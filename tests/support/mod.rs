//! Test support shared by the integration tests and the benchmarks: the project's own regf
//! writer, its transaction-log writer, fixture sources, and access to the shared real-hive corpus.
#![allow(dead_code)]

pub mod corpus;
pub mod dirty;
pub mod fixture_source;
pub mod hive_writer;
pub mod log_writer;
pub mod pe_writer;
