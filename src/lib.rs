//! rebootscan: is a reboot pending on a Windows machine, and what proves it — from offline
//! registry hives (SYSTEM, SOFTWARE, COMPONENTS and their transaction logs).
//!
//! # Scanning a machine
//!
//! Discover the machines under a path, scan one, and read its verdict and the evidence:
//!
//! ```
//! use rebootscan::discover::discover;
//! use rebootscan::rules::RuleId;
//! use rebootscan::scan::{scan_machine, ScanOptions};
//! use rebootscan::verdict::Verdict;
//!
//! let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/machines/win11-cbs-reboot-pending");
//! let discovery = discover(&[folder.into()]);
//! let report = scan_machine(&discovery.machines[0], &ScanOptions::default());
//!
//! assert_eq!(report.verdict, Verdict::Pending);
//! let strongest = report.strongest_finding().unwrap();
//! assert_eq!(strongest.rule, RuleId::CbsRebootPending);
//! println!("{}: {} ({})", report.machine, strongest.summary, strongest.key);
//! assert!(report.errors.is_empty());
//! ```
//!
//! Many machines at once, in parallel, reports handed over in discovery order and written
//! as the JSON document the command line prints:
//!
//! ```
//! use rebootscan::discover::discover;
//! use rebootscan::report::writer::{OutputFormat, ReportWriter};
//! use rebootscan::scan::{scan_all, ScanOptions};
//!
//! let discovery = discover(&[concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/machines").into()]);
//! let mut writer = ReportWriter::new(OutputFormat::Json, Vec::new())?;
//! let summary = scan_all(&discovery, &ScanOptions::default(), |report| writer.write(&report))?;
//! let json = writer.finish(&discovery)?;
//! assert_eq!(summary.machines, discovery.machines.len());
//! assert!(json.starts_with(b"{\"machines\":["));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The data flow is one module per stage:
//! [`discover`] (machines and their hive files) → [`load`] (bytes, base block, log replay) →
//! [`rules`] (evidence, over the machine [`context`]) → [`verdict`] → [`report`] (text, JSON,
//! CSV). [`scan`] runs the stages for one machine and for a whole discovery; [`source`] is
//! where evidence bytes come from (files, images, volumes); [`image`] reads disk images;
//! [`patch`] gives the patch level.
//!
//! A finding's details are typed, one shape per kind of check ([`rules::data::FindingData`]),
//! written as the documented JSON. The cell layout of a hive (offsets and signatures of `nk`,
//! `vk`, subkey lists, `db`, `sk`) is [`load::cells`], shared with the test suite's writer. A
//! panic, a bug of ours or of a parser, is contained per machine ([`scan::contain_machine`],
//! [`load::guard`]) and reported as that machine's error, whatever the host does with the
//! process's panic hook.

pub mod archive;
pub mod context;
pub mod discover;
pub mod image;
pub mod input;
pub mod inspect;
pub mod load;
pub mod messages;
pub mod output;
pub mod patch;
pub mod report;
pub mod rules;
pub mod scan;
pub mod security;
pub mod source;
pub mod verdict;
