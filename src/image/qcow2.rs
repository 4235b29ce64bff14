//! QCOW2 (QEMU, KVM, Proxmox, libvirt, OpenStack) disks read in place: versions 2 and 3,
//! standard, zero and unallocated clusters, extended L2 entries (subclusters), and compressed
//! clusters (deflate, and zstd through `ruzstd`).
//!
//! Written here, not taken from a crate. Of the Rust readers, `qcow2-rs` is async (a tokio
//! runtime for a lookup), `qcow` links the C zstd library, has `unsafe` and unwraps on file
//! data, `qcow2` (vasi) is unmaintained since 2016, and `qcow2-core` 0.3 (read before
//! deciding) allocates the whole active L1 table at open (up to 8 MiB) before checking it
//! against the file, refuses extended L2 entries, splits a compressed cluster's descriptor at
//! bit 63 − cluster_bits instead of 62 − (cluster_bits − 8) (so the offset it reads includes
//! bits of the sector count), pads a compressed cluster that inflates short with zeros and
//! takes a short read at the end of a truncated file as normal. Each gives wrong evidence or
//! unbounded cost on a damaged file. The format is small (qemu's docs/interop/qcow2.txt): a
//! big-endian header in the first cluster, a one-level L1 table of L2 table offsets, L2 tables
//! of one cluster each, each entry a cluster descriptor (standard: the host cluster, a
//! "reads as zeros" flag in v3; compressed: a byte offset and a sector count).
//!
//! Bounds: the header and its extensions are read from the first cluster (at most 2 MiB,
//! `cluster_bits` checked to 9..=21 first); the L1 table is checked against qemu's own limit
//! (32 MiB) and the file, then read 4 KiB at a time as lookups touch it; L2 tables are read
//! the same way, [`TABLE_CACHE`] pages (of either table) kept; a compressed cluster is at most
//! two clusters of input by the descriptor's layout, must lie in the file and must inflate to
//! exactly one cluster, [`CLUSTER_CACHE`] inflated clusters kept. Every offset from the file is
//! checked against the file's length and alignment before it is read; a cluster past the end
//! of the file is an error naming the byte, never zeros.
//!
//! Refused with what to do instead: encrypted images (AES or LUKS), overlays (a backing file
//! holds every cluster the overlay did not write: the error names it and whether it is
//! there), an external data file, unknown incompatible features (named from the image's
//! feature name table when it has one) and QCOW version 1. The dirty bit (refcounts not
//! flushed, data sound), the corrupt bit and internal snapshots (the active L1 is read) are
//! warnings on the machine's report.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::image::bytes::{be_u32, be_u64, read_structure};
use crate::source::BlockSource;

const MAGIC: &[u8; 4] = b"QFI\xfb";
const V2_HEADER_LEN: u64 = 72;
const V3_MIN_HEADER_LEN: u64 = 104;
const MIN_CLUSTER_BITS: u32 = 9;
/// qemu opens clusters of at most 2 MiB.
const MAX_CLUSTER_BITS: u32 = 21;
/// Extended L2 entries need clusters of at least 16 KiB (32 subclusters of 512 bytes).
const MIN_EXTENDED_CLUSTER_BITS: u32 = 14;
const SUBCLUSTERS: u64 = 32;
/// qemu's limit on the active L1 table: 32 MiB of 8-byte entries.
const MAX_L1_ENTRIES: u64 = 4 << 20;
/// The spec's limit on a backing file name.
const MAX_BACKING_NAME: u64 = 1023;
/// L1 and L2 tables are read in pages of this size (or the cluster, when smaller).
const TABLE_PAGE: u64 = 4096;
/// Table pages kept (4 KiB each, 512 KiB in all): a scan touches a few dozen.
pub const TABLE_CACHE: usize = 128;
/// Inflated clusters kept: NTFS reads the same record's cluster repeatedly.
pub const CLUSTER_CACHE: usize = 8;
/// Largest zstd window accepted: a cluster is at most 2 MiB, and qemu compresses each on its own.
const MAX_ZSTD_WINDOW: u64 = 8 << 20;

/// Bits 9–55 of an L1 entry and of a standard cluster descriptor: the host offset.
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// Bits 0–8 and 56–62 of an L1 entry, reserved.
const L1_RESERVED: u64 = 0x7f00_0000_0000_01ff;
/// Bits 1–8 and 56–61 of a standard descriptor, reserved (bit 0 is the zero flag).
const STANDARD_RESERVED: u64 = 0x3f00_0000_0000_01fe;
const L2_COMPRESSED: u64 = 1 << 62;
const L2_ZERO: u64 = 1;

const INCOMPATIBLE_DIRTY: u64 = 1;
const INCOMPATIBLE_CORRUPT: u64 = 1 << 1;
const INCOMPATIBLE_DATA_FILE: u64 = 1 << 2;
const INCOMPATIBLE_COMPRESSION_TYPE: u64 = 1 << 3;
const INCOMPATIBLE_EXTENDED_L2: u64 = 1 << 4;
const INCOMPATIBLE_KNOWN: u64 = 0x1f;
const AUTOCLEAR_RAW_DATA_FILE: u64 = 1 << 1;

const EXTENSION_END: u32 = 0;
const EXTENSION_BACKING_FORMAT: u32 = 0xe279_2aca;
const EXTENSION_FEATURE_NAMES: u32 = 0x6803_f857;
const EXTENSION_DATA_FILE: u32 = 0x4441_5441;

fn damaged(display: &str, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{display}: damaged or truncated QCOW2 image: {what}; `qemu-img check` on a copy tells more"),
    )
}

fn refused(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, message)
}

/// A name from the image as written (a byte that is not UTF-8 as `%XX`, see
/// [`crate::source::name_text`]); control characters are escaped where it is shown, as for
/// every string from the evidence.
fn printable(bytes: &[u8]) -> String {
    crate::source::name_text(bytes).0
}

/// [`read_structure`], with this format's error.
fn read_file_exact<S: BlockSource>(
    file: &mut S,
    display: &str,
    offset: u64,
    buf: &mut [u8],
    what: &str,
) -> io::Result<()> {
    read_structure(file, display, offset, buf, what, |why| damaged(display, why))
}

/// How compressed clusters are compressed (header byte 104, version 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    /// Raw deflate (no zlib header), qemu's default and the only kind of version 2.
    Deflate,
    Zstd,
}

/// The header fields and extensions that reading, refusing and warning use.
struct Header {
    version: u32,
    backing_file_offset: u64,
    backing_file_size: u32,
    cluster_bits: u32,
    size: u64,
    crypt_method: u32,
    l1_entries: u64,
    l1_offset: u64,
    snapshots: u32,
    incompatible: u64,
    autoclear: u64,
    compression: Compression,
    backing_format: Option<String>,
    data_file: Option<String>,
    /// Names of incompatible feature bits from the feature name table.
    incompatible_names: Vec<(u8, String)>,
}

/// Parses the start of the file, `head`: the whole first cluster (or file) when `whole`,
/// else its first bytes, and then `Ok(None)` when the header or its extensions go on past them.
fn parse_header(head: &[u8], whole: bool, display: &str) -> io::Result<Option<Header>> {
    if !head.starts_with(MAGIC) {
        return Err(damaged(display, "no QCOW magic (`QFI\\xfb`) at byte 0"));
    }
    if head.len() < V2_HEADER_LEN as usize {
        return Err(damaged(display, format!("a QCOW header needs 72 bytes, the file has {}", head.len())));
    }
    let version = be_u32(head, 4);
    if version == 1 {
        return Err(refused(format!(
            "{display}: QCOW version 1 (QEMU's format before QCOW2) is not read in place: convert it with `qemu-img \
             convert -O raw {display} disk.raw` and scan disk.raw"
        )));
    }
    if version != 2 && version != 3 {
        return Err(damaged(display, format!("version {version} (2 and 3 exist)")));
    }
    let cluster_bits = be_u32(head, 20);
    if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&cluster_bits) {
        return Err(damaged(display, format!("cluster_bits {cluster_bits} (clusters of 512 bytes to 2 MiB: 9 to 21)")));
    }
    let cluster_size = 1u64 << cluster_bits;
    let mut header = Header {
        version,
        backing_file_offset: be_u64(head, 8),
        backing_file_size: be_u32(head, 16),
        cluster_bits,
        size: be_u64(head, 24),
        crypt_method: be_u32(head, 32),
        l1_entries: u64::from(be_u32(head, 36)),
        l1_offset: be_u64(head, 40),
        snapshots: be_u32(head, 60),
        incompatible: 0,
        autoclear: 0,
        compression: Compression::Deflate,
        backing_format: None,
        data_file: None,
        incompatible_names: Vec::new(),
    };
    let mut header_len = V2_HEADER_LEN;
    if version == 3 {
        if head.len() < V3_MIN_HEADER_LEN as usize {
            return Err(damaged(display, format!("a version 3 header needs 104 bytes, the file has {}", head.len())));
        }
        header.incompatible = be_u64(head, 72);
        header.autoclear = be_u64(head, 88);
        header_len = u64::from(be_u32(head, 100));
        if header_len < V3_MIN_HEADER_LEN || !header_len.is_multiple_of(8) || header_len > cluster_size {
            return Err(damaged(
                display,
                format!("header_length {header_len} (a multiple of 8 from 104 to the cluster size {cluster_size})"),
            ));
        }
        if header_len as usize > head.len() {
            if !whole {
                return Ok(None);
            }
            return Err(damaged(display, format!("header_length {header_len}, the file has {} bytes", head.len())));
        }
        let compression_type = if header_len > 104 { head[104] } else { 0 };
        let flagged = header.incompatible & INCOMPATIBLE_COMPRESSION_TYPE != 0;
        header.compression = match (compression_type, flagged) {
            (0, false) => Compression::Deflate,
            (1, true) => Compression::Zstd,
            (other, _) => {
                return Err(damaged(
                    display,
                    format!(
                        "compression type {other} with the compression type feature bit {} (0 = deflate without the \
                         bit, 1 = zstd with it)",
                        if flagged { "set" } else { "clear" }
                    ),
                ))
            }
        };
        if header.incompatible & INCOMPATIBLE_EXTENDED_L2 != 0 && cluster_bits < MIN_EXTENDED_CLUSTER_BITS {
            return Err(damaged(
                display,
                format!("extended L2 entries with {cluster_size}-byte clusters (16 KiB at least)"),
            ));
        }
    }
    let complete = parse_extensions(&mut header, &head[header_len as usize..], whole, display)?;
    Ok(complete.then_some(header))
}

/// The header extensions after the header, up to the end marker or the end of the first
/// cluster. `Ok(false)` when `area` ends first and is not `whole` (the rest of the cluster is needed).
fn parse_extensions(header: &mut Header, mut area: &[u8], whole: bool, display: &str) -> io::Result<bool> {
    while area.len() >= 8 {
        let (kind, len) = (be_u32(area, 0), be_u32(area, 4) as usize);
        if kind == EXTENSION_END {
            return Ok(true);
        }
        let padded = len.div_ceil(8).saturating_mul(8);
        let Some(data) = area.get(8..8 + len) else {
            if !whole {
                return Ok(false);
            }
            return Err(damaged(
                display,
                format!("header extension {kind:#010x} of {len} bytes runs past the first cluster"),
            ));
        };
        match kind {
            EXTENSION_BACKING_FORMAT => header.backing_format = Some(printable(data)),
            EXTENSION_DATA_FILE => header.data_file = Some(printable(data)),
            EXTENSION_FEATURE_NAMES => {
                for entry in data.chunks_exact(48) {
                    if entry[0] == 0 {
                        let name_end = entry[2..].iter().position(|&b| b == 0).map_or(48, |end| end + 2);
                        header.incompatible_names.push((entry[1], printable(&entry[2..name_end])));
                    }
                }
            }
            _ => {}
        }
        area = area.get(8 + padded..).unwrap_or_default();
    }
    // The first cluster ends without an end marker: qemu reads no further either.
    Ok(whole)
}

/// Where a file the header names (backing or data file) is: relative names are relative to
/// the image's folder, as qemu resolves them.
fn beside(image: &Path, name: &str) -> PathBuf {
    let named = Path::new(name);
    if named.is_absolute() {
        named.to_path_buf()
    } else {
        image.parent().unwrap_or(Path::new(".")).join(named)
    }
}

fn presence(path: &Path) -> &'static str {
    if path.is_file() {
        "present"
    } else {
        "missing"
    }
}

/// The refusals: what the header says this reader must not read as a plain disk.
fn refuse_unreadable<S: BlockSource>(file: &mut S, header: &Header, display: &str, path: &Path) -> io::Result<()> {
    let unknown = header.incompatible & !INCOMPATIBLE_KNOWN;
    if unknown != 0 {
        let bits: Vec<String> = (0..64u8)
            .filter(|bit| unknown & (1u64 << bit) != 0)
            .map(|bit| match header.incompatible_names.iter().find(|(named, _)| *named == bit) {
                Some((_, name)) => format!("{bit} (\"{name}\")"),
                None => bit.to_string(),
            })
            .collect();
        return Err(refused(format!(
            "{display}: QCOW2 incompatible feature bit(s) {} that this reader does not know, and without which the \
             image cannot be read correctly: convert it with a qemu-img that knows them (`qemu-img convert -O raw \
             {display} disk.raw`) and scan disk.raw",
            bits.join(", ")
        )));
    }
    if header.crypt_method != 0 {
        let method = match header.crypt_method {
            1 => "AES-encrypted (crypt_method 1)".to_string(),
            2 => "LUKS-encrypted (crypt_method 2)".to_string(),
            other => format!("encrypted (unknown crypt_method {other})"),
        };
        return Err(refused(format!(
            "{display}: {method} QCOW2 image: its clusters cannot be read without the key, and rebootscan does not \
             decrypt; decrypt it with `qemu-img convert --object secret,id=sec0,file=KEYFILE --image-opts \
             driver=qcow2,file.filename={display},encrypt.key-secret=sec0 -O raw disk.raw` and scan disk.raw"
        )));
    }
    if header.incompatible & INCOMPATIBLE_DATA_FILE != 0 {
        let raw = header.autoclear & AUTOCLEAR_RAW_DATA_FILE != 0;
        let (named, advice) = match &header.data_file {
            Some(name) => {
                let at = beside(path, name);
                let advice = if raw {
                    format!("the header says the data file is a raw image of the disk: scan {} itself", at.display())
                } else {
                    format!(
                        "convert it with `qemu-img convert -O raw {display} disk.raw` with the data file in place and \
                         scan disk.raw"
                    )
                };
                (format!("external data file {} ({})", at.display(), presence(&at)), advice)
            }
            None => (
                "external data file (the header does not name it)".to_string(),
                "find the data file it was made with and convert both with `qemu-img convert -O raw`".to_string(),
            ),
        };
        return Err(refused(format!(
            "{display}: a QCOW2 image whose guest clusters are stored in an {named}, not in this file: not read here; \
             {advice}"
        )));
    }
    if header.backing_file_offset != 0 {
        let size = u64::from(header.backing_file_size);
        if size == 0 || size > MAX_BACKING_NAME {
            return Err(damaged(
                display,
                format!(
                    "backing file name of {size} bytes (1 to {MAX_BACKING_NAME}) at byte {}",
                    header.backing_file_offset
                ),
            ));
        }
        let mut name = vec![0u8; size as usize];
        read_file_exact(file, display, header.backing_file_offset, &mut name, "backing file name")?;
        let name = printable(&name);
        let at = beside(path, &name);
        let format = header.backing_format.as_deref().map(|f| format!(", format {f}")).unwrap_or_default();
        return Err(refused(format!(
            "{display}: a QCOW2 overlay (a snapshot or linked clone): its backing file \"{name}\" ({} {}{format}) holds \
             every cluster the overlay did not write, and is not read here, since those clusters would read as zeros; \
             convert the chain with `qemu-img convert -O raw {display} disk.raw` with the backing file in place and \
             scan disk.raw, or scan the backing file for the state before the overlay",
            at.display(),
            presence(&at),
        )));
    }
    Ok(())
}

/// One cached table page: its byte offset in the file and its big-endian u64 entries.
type TablePage = (u64, Vec<u64>);

/// The virtual disk of a QCOW2 image.
pub struct QcowImage<S> {
    file: S,
    display: String,
    file_len: u64,
    /// The virtual size.
    len: u64,
    cluster_bits: u32,
    /// QCOW2 version (2 or 3), for the report.
    version: u32,
    extended: bool,
    zero_flag: bool,
    compression: Compression,
    l1_offset: u64,
    l1_entries: u64,
    /// Most recently used first.
    pages: Vec<TablePage>,
    /// Inflated clusters by guest cluster number, most recently used first.
    clusters: Vec<(u64, Vec<u8>)>,
    warnings: Vec<String>,
}

impl<S> std::fmt::Debug for QcowImage<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QcowImage").field("image", &self.display).field("len", &self.len).finish()
    }
}

/// What a standard or compressed cluster descriptor says a piece of the disk is.
enum Mapping {
    Zeros,
    /// Stored uncompressed at this byte of the file.
    Data(u64),
    /// Compressed: `bytes` of input from byte `offset` of the file.
    Compressed {
        offset: u64,
        bytes: u64,
    },
}

impl<S: BlockSource> QcowImage<S> {
    /// Opens a QCOW2 image: checks the header, refuses what is not read here (see the module
    /// documentation), checks the L1 table against the disk's size and the file; reads no table.
    /// `path` is where the image is, for the files its header names.
    pub fn open(mut file: S, display: &str, path: &Path) -> io::Result<QcowImage<S>> {
        let file_len = file.len();
        let mut prefix = [0u8; 24];
        let available = file_len.min(prefix.len() as u64) as usize;
        read_file_exact(&mut file, display, 0, &mut prefix[..available], "header")?;
        if available < prefix.len() {
            return Err(damaged(display, format!("a QCOW header needs 72 bytes, the file has {file_len}")));
        }
        // The first cluster holds the header and its extensions (cluster_bits is checked before
        // it sizes anything): its first 4 KiB hold them in practice, the rest is read only
        // when they go on past that.
        let cluster_bits = be_u32(&prefix, 20).clamp(MIN_CLUSTER_BITS, MAX_CLUSTER_BITS);
        let first_cluster = file_len.min(1u64 << cluster_bits);
        let mut head = vec![0u8; first_cluster.min(TABLE_PAGE) as usize];
        read_file_exact(&mut file, display, 0, &mut head, "header")?;
        let header = match parse_header(&head, head.len() as u64 == first_cluster, display)? {
            Some(header) => header,
            None => {
                head = vec![0u8; first_cluster as usize];
                read_file_exact(&mut file, display, 0, &mut head, "first cluster")?;
                parse_header(&head, true, display)?
                    .ok_or_else(|| damaged(display, "the header extensions do not end in the first cluster"))?
            }
        };
        drop(head);
        refuse_unreadable(&mut file, &header, display, path)?;
        let cluster_size = 1u64 << header.cluster_bits;
        let extended = header.incompatible & INCOMPATIBLE_EXTENDED_L2 != 0;
        let l2_entries = cluster_size / if extended { 16 } else { 8 };
        let needed = header.size.div_ceil(cluster_size).div_ceil(l2_entries);
        if header.l1_entries < needed {
            return Err(damaged(
                display,
                format!(
                    "the L1 table has {} entries, but a {}-byte disk of {cluster_size}-byte clusters needs {needed}",
                    header.l1_entries, header.size
                ),
            ));
        }
        if header.l1_entries > MAX_L1_ENTRIES {
            return Err(damaged(
                display,
                format!("the L1 table has {} entries, more than qemu's limit of {MAX_L1_ENTRIES}", header.l1_entries),
            ));
        }
        let l1_end = header.l1_offset.checked_add(header.l1_entries * 8);
        if header.l1_entries > 0 && (header.l1_offset % cluster_size != 0 || header.l1_offset == 0) {
            return Err(damaged(
                display,
                format!("the L1 table at byte {} is not on a cluster boundary after the header", header.l1_offset),
            ));
        }
        if l1_end.is_none_or(|end| end > file_len) {
            return Err(damaged(
                display,
                format!(
                    "the L1 table ({} entries at byte {}) goes past the end of the file ({file_len} bytes)",
                    header.l1_entries, header.l1_offset
                ),
            ));
        }
        let mut warnings = Vec::new();
        if header.incompatible & INCOMPATIBLE_DIRTY != 0 {
            warnings.push(
                "the QCOW2 dirty bit is set: the image was not closed cleanly, so its refcounts may be stale; the \
                 cluster tables and data read here are not affected (`qemu-img check -r all` on a copy repairs the \
                 refcounts)"
                    .to_string(),
            );
        }
        if header.incompatible & INCOMPATIBLE_CORRUPT != 0 {
            warnings.push(
                "the QCOW2 corrupt bit is set: qemu found its metadata inconsistent and opens it read-only; what was \
                 read here may be wrong where the damage is (`qemu-img check` tells where)"
                    .to_string(),
            );
        }
        if header.snapshots > 0 {
            warnings.push(format!(
                "the QCOW2 image holds {} internal snapshot(s): the active state was read, not the snapshots \
                 (`qemu-img snapshot -l {display}` lists them)",
                header.snapshots
            ));
        }
        Ok(QcowImage {
            file,
            display: display.to_string(),
            file_len,
            len: header.size,
            cluster_bits: header.cluster_bits,
            version: header.version,
            extended,
            zero_flag: header.version >= 3 && !extended,
            compression: header.compression,
            l1_offset: header.l1_offset,
            l1_entries: header.l1_entries,
            pages: Vec::new(),
            clusters: Vec::new(),
            warnings,
        })
    }

    fn cluster_size(&self) -> u64 {
        1u64 << self.cluster_bits
    }

    fn error(&self, what: impl std::fmt::Display) -> io::Error {
        damaged(&self.display, what)
    }

    /// Entry `index` (8 bytes each) of the table of `table_bytes` bytes at byte `table` of
    /// the file, read a page at a time and cached.
    fn table_entry(&mut self, table: u64, table_bytes: u64, index: u64, what: &str) -> io::Result<u64> {
        let page_size = TABLE_PAGE.min(self.cluster_size());
        let within = index * 8;
        let page_start = table + within / page_size * page_size;
        if let Some(position) = self.pages.iter().position(|(start, _)| *start == page_start) {
            let page = self.pages.remove(position);
            self.pages.insert(0, page);
        } else {
            let page_bytes = page_size.min(table_bytes - (page_start - table));
            let mut bytes = vec![0u8; page_bytes as usize];
            read_file_exact(&mut self.file, &self.display, page_start, &mut bytes, what)?;
            let entries = bytes.chunks_exact(8).map(|word| be_u64(word, 0)).collect();
            self.pages.insert(0, (page_start, entries));
            self.pages.truncate(TABLE_CACHE);
        }
        let slot = ((table + within - page_start) / 8) as usize;
        self.pages
            .first()
            .and_then(|(_, entries)| entries.get(slot).copied())
            .ok_or_else(|| self.error(format!("{what} entry {index} at byte {} is missing", table + within)))
    }

    /// What guest bytes `within..within + len` of guest cluster `cluster` are; the range
    /// stays within one subcluster when the image has extended L2 entries.
    fn map(&mut self, cluster: u64, within: u64) -> io::Result<Mapping> {
        let cluster_size = self.cluster_size();
        let entry_words = if self.extended { 2 } else { 1 };
        let l2_entries = cluster_size / (8 * entry_words);
        let (l1_index, l2_index) = (cluster / l2_entries, cluster % l2_entries);
        if l1_index >= self.l1_entries {
            return Err(self.error(format!("guest cluster {cluster} lies beyond the L1 table")));
        }
        let l1_entry = self.table_entry(self.l1_offset, self.l1_entries * 8, l1_index, "L1 table")?;
        if l1_entry & L1_RESERVED != 0 {
            return Err(self.error(format!(
                "L1 entry {l1_index} at byte {} ({l1_entry:#018x}) has reserved bits set",
                self.l1_offset + l1_index * 8
            )));
        }
        let l2_table = l1_entry & OFFSET_MASK;
        if l2_table == 0 {
            return Ok(Mapping::Zeros);
        }
        if !l2_table.is_multiple_of(cluster_size) {
            return Err(self.error(format!(
                "L1 entry {l1_index} points at an L2 table at byte {l2_table}, not on a cluster boundary"
            )));
        }
        if l2_table.saturating_add(cluster_size) > self.file_len {
            return Err(self.error(format!(
                "L1 entry {l1_index} points at an L2 table at byte {l2_table}, past the end of the file ({} bytes)",
                self.file_len
            )));
        }
        let descriptor = self.table_entry(l2_table, cluster_size, l2_index * entry_words, "L2 table")?;
        let entry_at = l2_table + l2_index * entry_words * 8;
        if descriptor & L2_COMPRESSED != 0 {
            // x = 62 - (cluster_bits - 8) bits of byte offset, then the count of 512-byte
            // sectors after the one holding that offset.
            let split = 62 - (self.cluster_bits - 8);
            let offset = descriptor & ((1u64 << split) - 1);
            let extra_sectors = (descriptor >> split) & ((1u64 << (self.cluster_bits - 8)) - 1);
            // The first cluster is the header's: no data is ever stored there.
            if offset >> 56 != 0 || offset < cluster_size {
                return Err(self.error(format!(
                    "the compressed cluster descriptor at byte {entry_at} gives offset {offset}, inside the header \
                     cluster or past 2^56"
                )));
            }
            let bytes = (extra_sectors + 1) * 512 - (offset % 512);
            return Ok(Mapping::Compressed { offset, bytes });
        }
        let zero_flag_set = descriptor & L2_ZERO != 0;
        if descriptor & STANDARD_RESERVED != 0 || (zero_flag_set && !self.zero_flag) {
            return Err(
                self.error(format!("the L2 entry at byte {entry_at} ({descriptor:#018x}) has reserved bits set"))
            );
        }
        let host = descriptor & OFFSET_MASK;
        if !host.is_multiple_of(cluster_size) {
            return Err(
                self.error(format!("the L2 entry at byte {entry_at} points at byte {host}, not on a cluster boundary"))
            );
        }
        if !self.extended {
            return Ok(if zero_flag_set || host == 0 { Mapping::Zeros } else { Mapping::Data(host) });
        }
        let bitmap = self.table_entry(l2_table, cluster_size, l2_index * 2 + 1, "L2 table")?;
        let (allocated, reads_zero) = (bitmap & 0xffff_ffff, bitmap >> 32);
        if allocated & reads_zero != 0 || (allocated != 0 && host == 0) {
            return Err(self.error(format!(
                "the subcluster bitmap at byte {} ({bitmap:#018x}) is inconsistent with its entry",
                entry_at + 8
            )));
        }
        let subcluster = within / (cluster_size / SUBCLUSTERS);
        Ok(if allocated & (1 << subcluster) != 0 { Mapping::Data(host) } else { Mapping::Zeros })
    }

    /// Fills `buf` from byte `within` of guest cluster `cluster`; the range stays within one
    /// cluster (and one subcluster with extended L2 entries).
    fn read_in_cluster(&mut self, cluster: u64, within: u64, buf: &mut [u8]) -> io::Result<()> {
        match self.map(cluster, within)? {
            Mapping::Zeros => buf.fill(0),
            Mapping::Data(host) => {
                let at = host + within;
                if at.saturating_add(buf.len() as u64) > self.file_len {
                    return Err(self.error(format!(
                        "guest cluster {cluster} is stored at byte {host}, past the end of the file ({} bytes)",
                        self.file_len
                    )));
                }
                self.file.read_exact_at(at, buf).map_err(|e| {
                    io::Error::new(e.kind(), format!("{}: guest cluster {cluster} at byte {host}: {e}", self.display))
                })?;
            }
            Mapping::Compressed { offset, bytes } => {
                if let Some(position) = self.clusters.iter().position(|(cached, _)| *cached == cluster) {
                    let entry = self.clusters.remove(position);
                    self.clusters.insert(0, entry);
                } else {
                    let inflated = self.inflate(cluster, offset, bytes)?;
                    self.clusters.insert(0, (cluster, inflated));
                    self.clusters.truncate(CLUSTER_CACHE);
                }
                let within = within as usize;
                match self.clusters.first().and_then(|(_, data)| data.get(within..within + buf.len())) {
                    Some(data) => buf.copy_from_slice(data),
                    None => {
                        return Err(self.error(format!("compressed guest cluster {cluster} is shorter than the read")))
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads and decompresses guest cluster `cluster`, `bytes` of input from byte `offset`.
    fn inflate(&mut self, cluster: u64, offset: u64, bytes: u64) -> io::Result<Vec<u8>> {
        let cluster_size = self.cluster_size();
        let end = offset.saturating_add(bytes);
        // The descriptor counts whole sectors: the last one may end with the file.
        if offset >= self.file_len || end.saturating_sub(self.file_len) >= 512 {
            return Err(self.error(format!(
                "compressed guest cluster {cluster} ({bytes} bytes at byte {offset}) lies past the end of the file ({} \
                 bytes)",
                self.file_len
            )));
        }
        let mut input = vec![0u8; (end.min(self.file_len) - offset) as usize];
        read_file_exact(&mut self.file, &self.display, offset, &mut input, "compressed cluster")?;
        let mut output = Vec::with_capacity(cluster_size as usize);
        let result = match self.compression {
            Compression::Deflate => {
                flate2::read::DeflateDecoder::new(&input[..]).take(cluster_size).read_to_end(&mut output).map(|_| ())
            }
            Compression::Zstd => {
                ruzstd::decoding::StreamingDecoder::new_with_max_window_size(&input[..], MAX_ZSTD_WINDOW)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
                    .and_then(|decoder| decoder.take(cluster_size).read_to_end(&mut output).map(|_| ()))
            }
        };
        let kind = match self.compression {
            Compression::Deflate => "deflate",
            Compression::Zstd => "zstd",
        };
        result.map_err(|e| {
            self.error(format!("compressed guest cluster {cluster} at byte {offset} does not decompress ({kind}): {e}"))
        })?;
        if output.len() as u64 != cluster_size {
            return Err(self.error(format!(
                "compressed guest cluster {cluster} at byte {offset} decompresses ({kind}) to {} bytes instead of \
                 {cluster_size}",
                output.len()
            )));
        }
        Ok(output)
    }
}

impl<S: BlockSource> BlockSource for QcowImage<S> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let wanted = buf.len().min(usize::try_from(self.len - offset).unwrap_or(usize::MAX));
        let piece = if self.extended { self.cluster_size() / SUBCLUSTERS } else { self.cluster_size() };
        let mut filled = 0;
        while filled < wanted {
            let position = offset + filled as u64;
            let within_piece = position % piece;
            let count = (wanted - filled).min(usize::try_from(piece - within_piece).unwrap_or(usize::MAX));
            let cluster = position >> self.cluster_bits;
            let within = position & (self.cluster_size() - 1);
            self.read_in_cluster(cluster, within, &mut buf[filled..filled + count])?;
            filled += count;
        }
        Ok(filled)
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn container_facts(&self) -> Option<crate::image::facts::ContainerFacts> {
        let layout = if self.extended { ", extended L2 (subclusters)" } else { "" };
        Some(crate::image::facts::ContainerFacts {
            format: "QCOW2".to_string(),
            path: self.display.clone(),
            segments: 1,
            disk_size: self.len,
            disk_type: Some(format!("version {}, {}-byte clusters{layout}", self.version, 1u64 << self.cluster_bits)),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const CLUSTER: usize = 4096;

    /// A v3 image of 4 KiB clusters (cluster_bits 12, so a compressed descriptor's offset has
    /// 58 bits, not the 54 of the fixtures' 64 KiB clusters) and four guest clusters: data,
    /// "reads as zeros", compressed at an unaligned offset, unallocated.
    fn image() -> (Vec<u8>, Vec<u8>) {
        let data: Vec<u8> = (0..CLUSTER as u32).map(|i| (i % 251) as u8 + 1).collect();
        // Little repetition, so that it compresses to several sectors.
        let mut state = 0x2545_f491u32;
        let packed: Vec<u8> = (0..CLUSTER)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 28) as u8
            })
            .collect();
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(&packed).unwrap();
        let compressed = encoder.finish().unwrap();
        let mut file = vec![0u8; 4 * CLUSTER];
        file[..4].copy_from_slice(MAGIC);
        file[4..8].copy_from_slice(&3u32.to_be_bytes());
        file[20..24].copy_from_slice(&12u32.to_be_bytes());
        file[24..32].copy_from_slice(&(4 * CLUSTER as u64).to_be_bytes());
        file[36..40].copy_from_slice(&1u32.to_be_bytes());
        file[40..48].copy_from_slice(&(CLUSTER as u64).to_be_bytes());
        file[100..104].copy_from_slice(&104u32.to_be_bytes());
        file[CLUSTER..CLUSTER + 8].copy_from_slice(&((1u64 << 63) | (2 * CLUSTER as u64)).to_be_bytes());
        let l2 = 2 * CLUSTER;
        file[l2..l2 + 8].copy_from_slice(&((1u64 << 63) | (3 * CLUSTER as u64)).to_be_bytes());
        file[l2 + 8..l2 + 16].copy_from_slice(&L2_ZERO.to_be_bytes());
        let offset = 4 * CLUSTER as u64 + 100;
        let extra = (100 + compressed.len() as u64).div_ceil(512) - 1;
        file[l2 + 16..l2 + 24].copy_from_slice(&(L2_COMPRESSED | (extra << 58) | offset).to_be_bytes());
        file[3 * CLUSTER..].copy_from_slice(&data);
        file.extend_from_slice(&[0xee; 100]);
        file.extend_from_slice(&compressed);
        (file, packed)
    }

    fn read_all(file: &[u8]) -> io::Result<Vec<u8>> {
        let mut disk = QcowImage::open(file, "t.qcow2", Path::new("t.qcow2"))?;
        let mut buf = vec![0u8; disk.len() as usize];
        disk.read_exact_at(0, &mut buf)?;
        Ok(buf)
    }

    #[test]
    fn clusters_of_every_kind() {
        let (file, packed) = image();
        let disk = read_all(&file).unwrap();
        assert_eq!(&disk[..CLUSTER], &file[3 * CLUSTER..4 * CLUSTER]);
        assert!(disk[CLUSTER..2 * CLUSTER].iter().all(|&b| b == 0));
        assert_eq!(&disk[2 * CLUSTER..3 * CLUSTER], &packed[..]);
        assert!(disk[3 * CLUSTER..].iter().all(|&b| b == 0));
    }

    #[test]
    fn damaged_descriptors_are_errors() {
        let (mut file, _) = image();
        let l2 = 2 * CLUSTER;
        // The zero flag is reserved in version 2.
        let mut v2 = file.clone();
        v2[7] = 2;
        let error = read_all(&v2).unwrap_err().to_string();
        assert!(error.contains("reserved bits set"), "{error}");
        // A reserved bit of the L1 entry.
        let mut l1 = file.clone();
        l1[CLUSTER + 7] |= 1;
        let error = read_all(&l1).unwrap_err().to_string();
        assert!(error.contains("L1 entry 0 at byte 4096") && error.contains("reserved bits set"), "{error}");
        // A compressed cluster inside the header cluster.
        let mut header = file.clone();
        header[l2 + 22] = 0;
        header[l2 + 23] = 0x40;
        let error = read_all(&header).unwrap_err().to_string();
        assert!(error.contains("gives offset 64, inside the header cluster"), "{error}");
        // A compressed cluster whose input ends before it inflates to a cluster.
        let entry = u64::from_be_bytes(file[l2 + 16..l2 + 24].try_into().unwrap());
        file[l2 + 16..l2 + 24].copy_from_slice(&(entry & !(0xf << 58)).to_be_bytes());
        assert!((entry >> 58) & 0xf > 0, "the compressed cluster takes more than one sector: {entry:#x}");
        let error = read_all(&file).unwrap_err().to_string();
        assert!(error.starts_with("t.qcow2: ") && error.contains("compressed guest cluster 2"), "{error}");
    }
}
