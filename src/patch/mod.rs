//! Patch level offline: which cumulative update a machine runs, how far behind it is, whether its
//! version is still serviced, and which update completes at the next reboot.
//!
//! # Inputs
//!
//! - [`OsInfo`](crate::context::OsInfo), read from SOFTWARE
//!   `Microsoft\Windows NT\CurrentVersion` (`CurrentBuild`, `UBR`, `DisplayVersion`/`ReleaseId`,
//!   `ProductName`, `EditionID`, `InstallationType`).
//! - The `Package_for_RollupFix~…~<servicing build>.<UBR>.<a>.<b>` keys under CBS `Packages`
//!   ([`rollup_packages`]).
//! - An as-of date; by default the table's date, never the wall clock, so that the same evidence
//!   always gives the same report.
//!
//! # Identification
//!
//! The build decides ([`identify`]): client builds from 22000 are Windows 11 even though
//! `ProductName` still says "Windows 10"; `InstallationType` tells client from server (17763 is
//! both Windows 10 1809 and Server 2019). The version comes from the table for known builds.
//! Versions made by an enablement package (Windows 10 19042–19045 on 19041, Windows 11 23H2 22631
//! on 22621, 25H2 26200 on 26100) share UBRs and KBs with their servicing build, and their
//! RollupFix packages carry the servicing build in their names.
//!
//! # The table
//!
//! `windows_builds.rs` is generated (by `tests/patch_table.rs`) from the facts in
//! `../shared/data/windows-builds`: altrhombus/DataForGeeks `content/ms/win/` (MIT licence),
//! scraped from Microsoft's Windows update-history and lifecycle pages. Every release of Windows
//! 10 1511 to Windows 11 26H1 and Server 2016 to 2025 (build, UBR, KB, date, type), plus
//! end-of-servicing dates per version and edition group. The table's date is the day the source
//! was collected; the committed table is of 2026-08-12 with 1,885 releases, and [`table_info`]
//! always gives the current figures.
//! The shared files themselves are never copied into the repository. The generator's additions
//! (product line, servicing build, monthly-versus-unlabelled release types, end dates as the
//! published last day) are explained in `tests/patch_table.rs`.
//!
//! To refresh: update `../shared/data/windows-builds`, run
//! `REBOOTSCAN_REFRESH=1 cargo test --test patch_table`, review the diff of
//! `src/patch/windows_builds.rs` and commit it. A plain `cargo test` regenerates the table in
//! memory and fails if it differs from the committed file byte for byte (it prints `SKIPPED`
//! without the shared data, and fails under `CI=true`).
//!
//! # What is said, and what is not guessed
//!
//! An exact (build, UBR) row gives the KB, release date and release type. A UBR above the
//! table's newest for the build is "newer than the table"; a UBR inside the range without a row
//! is "not in table"; hotpatch rows are "hotpatch build". None of these is mapped to a nearby KB.
//! "Behind" counts the monthly (B) updates released after the installed one up to the as-of date
//! (one per KB: KB5055518 is both 19045.5736 and .5737) and the days from the installed update's
//! release to the newest of them. Previews and out-of-band releases are a patch level but never
//! "required".

mod assess;
mod identify;
mod rollup;
mod table;
mod windows_builds;

use time::Date;

pub use assess::{
    assess, AsOfSource, PatchAssessment, PatchStatus, RollupCheck, RollupUpdate, Servicing, ServicingStatus, UpdateInfo,
};
pub use identify::{identify, Identity, VersionSource};
pub use rollup::{
    parse_rollup_name, rollup_packages, RollupPackage, ROLLUP_PREFIX, STATE_INSTALLED, STATE_INSTALL_PENDING,
    STATE_PARTIALLY_INSTALLED, STATE_PERMANENT,
};
pub use table::{
    builds, find_build, find_by_servicing_build, find_lifecycle, lifecycles, table_date, table_info, Build, Editions,
    Lifecycle, ProductLine, Release, ReleaseType, TableInfo,
};

/// Dates serialize as `YYYY-MM-DD` (the `time` crate's serde support is not enabled).
fn serialize_date<S: serde::Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(date)
}

fn serialize_option_date<S: serde::Serializer>(date: &Option<Date>, serializer: S) -> Result<S::Ok, S::Error> {
    match date {
        Some(date) => serializer.collect_str(date),
        None => serializer.serialize_none(),
    }
}
