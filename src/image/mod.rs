//! Disk images: the hives of each Windows volume of a raw disk image, read straight out of
//! NTFS, and the files behind pending renames.
//!
//! An image is read through read-only handles ([`source`]): one raw file or a split raw set,
//! behind a page cache, and kept from discovery to the scan while its files are unchanged
//! ([`kept`]).
//! Its partition table ([`partition`]: MBR, GPT, or none) gives the volumes; each NTFS volume
//! ([`volume`], the `ntfs` crate) with `Windows\System32\config` hives is one machine. Its
//! hive and log bytes go through [`crate::load::HiveFile::from_shared`] and the normal
//! rules, verdict and report; [`machine`] then adds the PE file versions ([`pe_version`]) of
//! the staged and current files of every pending rename. Containers (E01, VHD(X), VMDK,
//! QCOW2, VDI) are recognised ([`container`]); E01, VHDX, VMDK, VHD and QCOW2 are read in
//! place ([`ewf`], [`vhdx`], [`vmdk`], [`vhd`], [`qcow2`]); VDI is refused with the
//! command that converts them.

mod bytes;
pub mod container;
pub mod ewf;
pub mod ewf2;
pub mod facts;
pub mod kept;
pub mod machine;
pub mod partition;
pub mod pe_version;
pub mod qcow2;
pub mod source;
pub mod vhd;
pub mod vhdx;
pub mod vmdk;
pub mod volume;

pub use machine::{open_volume, probe, ImageError, ImageProbe, ImageVolume, OpenedVolume};
pub use source::ImageSpec;
