//! VHDX (Hyper-V, Azure, KAPE's `--vhdx` container) read in place through the `vhdx-core`
//! crate (Apache-2.0, SecurityRonin, the author of `ewf`; chosen because it is pure Rust
//! without unsafe, reads only the headers, region table, metadata, BAT and log at open and the
//! payload blocks on demand, replays a dirty image's log into an in-memory overlay, never into
//! the file, taking only entries whose log GUID matches the active header's, and refuses a
//! differencing disk opened without its parent instead of reading zeros). The file is opened
//! here, read-only and regular-only, and handed to the crate as a positioned backing. A dirty
//! file's log is replayed here, not by the crate (see [`log`] for why), into memory only.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;

use ::vhdx::{Backing, VhdxError, VhdxReader};

use crate::image::facts::{guid_text, ContainerFacts, ContainerLogReplay};
use crate::source::BlockSource;

/// The virtual disk inside a VHDX file.
pub struct VhdxImage {
    reader: VhdxReader,
    display: String,
    len: u64,
    facts: ContainerFacts,
}

impl VhdxImage {
    pub fn open(path: &Path) -> io::Result<VhdxImage> {
        let display = path.display().to_string();
        let (file, meta) =
            crate::input::open_regular(path).map_err(|e| io::Error::new(e.kind(), format!("{display}: {e}")))?;
        let header = log::active_header(&file).map_err(|e| io::Error::new(e.kind(), format!("{display}: {e}")))?;
        let mut facts =
            ContainerFacts { format: "VHDX".to_string(), path: display.clone(), segments: 1, ..Default::default() };
        let backing = match header {
            Some(header) if header.is_dirty() => {
                let mut replayed = log::replay(file, meta.len(), &header).map_err(|error| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "{display}: a dirty VHDX (its log must be replayed before its disk can be read) and {error}: \
                             the disk is not read rather than read wrongly; the file is unchanged. Replay the log on a \
                             copy (`qemu-img check -r all COPY.vhdx`, or attach the copy once in Windows) and scan the copy"
                        ),
                    )
                })?;
                // Read from the file as replayed: the log may have changed the metadata too.
                describe(&mut replayed, &mut facts);
                let bat = region(&mut replayed, ::vhdx::region::BAT_GUID).map(|(at, len)| (at, u64::from(len)));
                let (sectors_written, bat_sectors_written, ranges_zeroed) = replayed.applied(bat);
                let replay = ContainerLogReplay {
                    log_guid: guid_text(&replayed.guid),
                    sequence_number: replayed.sequence,
                    entries: replayed.entries,
                    sectors_written,
                    bat_sectors_written,
                    ranges_zeroed,
                };
                facts.notes.push(replay.describe());
                facts.log_replay = Some(replay);
                let len = replayed.len();
                Backing::Reader { inner: Mutex::new(Box::new(replayed)), len }
            }
            _ => {
                describe(&mut &file, &mut facts);
                Backing::File(file)
            }
        };
        let reader = VhdxReader::from_backing(backing, None).map_err(|error| {
            let advice = match error {
                VhdxError::DifferencingNotSupported => {
                    let parent = path_file(path).and_then(|file| parent_locator(&mut &file)).map_or_else(
                        || "its parent locator names no path".to_string(),
                        |paths| format!("its parent is {paths}"),
                    );
                    format!(
                        "a differencing VHDX (.avhdx snapshot or child disk) and {parent}: the parent holds the rest of \
                         the data and is not read here; merge the chain first (Hyper-V Merge-VHD, or `qemu-img convert \
                         -O raw CHILD.vhdx disk.raw` with the parent in place) and scan the result"
                    )
                }
                other => format!("damaged or truncated VHDX ({other}); `qemu-img check` tells more"),
            };
            io::Error::new(io::ErrorKind::InvalidData, format!("{display}: {advice}"))
        })?;
        let len = reader.virtual_disk_size();
        facts.disk_size = len;
        facts.logical_sector_size = Some(reader.logical_sector_size());
        Ok(VhdxImage { reader, display, len, facts })
    }
}

/// The file again, read-only, for the parent locator (only on the error path).
fn path_file(path: &Path) -> Option<std::fs::File> {
    crate::input::open_regular(path).ok().map(|(file, _)| file)
}

/// `len` bytes at `offset`, or `None` when the file ends first.
fn read_bytes<R: Read + Seek>(file: &mut R, offset: u64, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.seek(SeekFrom::Start(offset)).ok()?;
    file.read_exact(&mut buf).ok()?;
    Some(buf)
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// UTF-16LE as text (lossy: these are labels for the report, not paths to open).
fn utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16_lossy(&units)
}

/// Offset and length of the region `guid` in a region table (MS-VHDX §2.2.3: at most 2,047
/// entries). vhdx-core parses the same table but keeps it private, so this small bounded parse
/// is here.
fn region_in(regions: &[u8], guid: [u8; 16]) -> Option<(u64, u32)> {
    let count = (u32_at(regions, 8)? as usize).min(2047);
    (0..count).find_map(|n| {
        let entry = regions.get(16 + 32 * n..48 + 32 * n)?;
        (entry[..16] == guid).then(|| Some((u64_at(entry, 16)?, u32_at(entry, 24)?)))?
    })
}

/// The region table at 192 KiB (64 KiB).
fn region_table<R: Read + Seek>(file: &mut R) -> Option<Vec<u8>> {
    read_bytes(file, 0x3_0000, 0x1_0000)
}

fn region<R: Read + Seek>(file: &mut R, guid: [u8; 16]) -> Option<(u64, u32)> {
    region_in(&region_table(file)?, guid)
}

/// The metadata region's offset and its table (the first 64 KiB, MS-VHDX §2.6.1).
fn metadata_table<R: Read + Seek>(file: &mut R, regions: &[u8]) -> Option<(u64, Vec<u8>)> {
    let (metadata, _) = region_in(regions, ::vhdx::region::METADATA_GUID)?;
    let table = read_bytes(file, metadata, 0x1_0000)?;
    (&table[..8] == b"metadata").then_some((metadata, table))
}

/// The metadata item `guid` (at most 64 KiB) of the metadata region at `metadata` whose table
/// is `table`. vhdx-core reads only the items it needs to read the disk.
fn metadata_item<R: Read + Seek>(file: &mut R, (metadata, table): &(u64, Vec<u8>), guid: [u8; 16]) -> Option<Vec<u8>> {
    let entries = (u16_at(table, 10)? as usize).min(2047);
    let (offset, len) = (0..entries).find_map(|n| {
        let entry = table.get(32 + 32 * n..64 + 32 * n)?;
        (entry[..16] == guid).then(|| Some((u32_at(entry, 16)?, u32_at(entry, 20)?)))?
    })?;
    read_bytes(file, metadata.checked_add(u64::from(offset))?, (len as usize).min(0x1_0000))
}

/// The facts the report shows that vhdx-core does not give: the file identifier's creator,
/// the Virtual Disk ID and whether the disk is fixed, dynamic or differencing. Reads the
/// identifier (520 bytes), the region table, the metadata table and two small items.
fn describe<R: Read + Seek>(file: &mut R, facts: &mut ContainerFacts) {
    if let Some(identifier) = read_bytes(file, 0, 520).filter(|b| b.starts_with(b"vhdxfile")) {
        let creator = utf16(&identifier[8..]);
        let creator = creator.trim_end_matches('\0').trim();
        facts.creator = (!creator.is_empty()).then(|| creator.to_string());
    }
    let Some(metadata) = region_table(file).and_then(|regions| metadata_table(file, &regions)) else { return };
    if let Some(id) = metadata_item(file, &metadata, ::vhdx::metadata::GUID_VIRTUAL_DISK_ID) {
        facts.disk_identifier = id.get(..16).and_then(|b| b.try_into().ok()).map(|b: [u8; 16]| guid_text(&b));
    }
    let parameters = metadata_item(file, &metadata, ::vhdx::metadata::GUID_FILE_PARAMETERS);
    if let Some(flags) = parameters.and_then(|p| u32_at(&p, 4)) {
        let kind = if flags & 2 != 0 {
            "differencing"
        } else if flags & 1 != 0 {
            "fixed"
        } else {
            "dynamic"
        };
        facts.disk_type = Some(kind.to_string());
    }
}

/// The parent paths of a differencing VHDX from its Parent Locator metadata item (MS-VHDX
/// §2.6.2.6), e.g. `relative_path ".\parent.vhdx", absolute_win32_path "C:\…"`: keys and
/// values UTF-16LE, shown as written (the report escapes control characters where it prints).
fn parent_locator<R: Read + Seek>(file: &mut R) -> Option<String> {
    let metadata = region_table(file).and_then(|regions| metadata_table(file, &regions))?;
    let item = metadata_item(file, &metadata, ::vhdx::metadata::GUID_PARENT_LOCATOR)?;
    let pairs = u16_at(&item, 18)? as usize;
    let text =
        |at: u32, len: u16| -> Option<String> { Some(utf16(item.get(at as usize..at as usize + len as usize)?)) };
    let mut found = Vec::new();
    for n in 0..pairs.min(64) {
        let at = 20 + 12 * n;
        let key = text(u32_at(&item, at)?, u16_at(&item, at + 8)?)?;
        let value = text(u32_at(&item, at + 4)?, u16_at(&item, at + 10)?)?;
        if key != "parent_linkage" && key != "parent_linkage2" {
            found.push(format!("{key} \"{value}\""));
        }
    }
    (!found.is_empty()).then(|| found.join(", "))
}

impl BlockSource for VhdxImage {
    fn len(&self) -> u64 {
        self.len
    }

    fn container_facts(&self) -> Option<ContainerFacts> {
        Some(self.facts.clone())
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let wanted = buf.len().min(usize::try_from(self.len - offset).unwrap_or(usize::MAX));
        let describe = |e: io::Error| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: VHDX block at byte {offset} unreadable: {e} (damaged or truncated file)", self.display),
            )
        };
        self.reader.seek(SeekFrom::Start(offset)).map_err(describe)?;
        let mut filled = 0;
        while filled < wanted {
            match self.reader.read(&mut buf[filled..wanted]).map_err(describe)? {
                0 => break,
                read => filled += read,
            }
        }
        Ok(filled)
    }
}

/// The VHDX log (MS-VHDX §2.3) replayed by hand, into memory only.
///
/// Why not vhdx-core's replay: version 0.4.1 reads a data descriptor's file offset from its
/// SequenceNumber field, takes the data sectors right after the descriptors instead of at the
/// next 4 KiB sector, writes the data sector's own signature and sequence halves instead of
/// the descriptor's leading and trailing bytes, skips a damaged entry without a word and
/// replays every entry of the log GUID rather than the active sequence: on a log written by
/// Hyper-V or qemu it writes the wrong bytes to the wrong place and the blocks whose BAT
/// update sits in the log read as zeros. So the replay is done here (bounded: the log is read
/// once, at most [`MAX_LOG`] bytes), and the crate is handed a view of the file with the
/// replayed sectors laid over it and a header whose LogGuid is zero, so that it replays
/// nothing itself. The file is never written.
mod log {
    use std::fs::File;
    use std::io::{self, Read, Seek, SeekFrom};

    use ::vhdx::header::crc32c;

    const SECTOR: usize = 4096;
    const HEADER_OFFSETS: [u64; 2] = [0x1_0000, 0x2_0000];
    /// Hyper-V and qemu make 1 MiB logs; the bound only stops a hostile LogLength.
    pub const MAX_LOG: u32 = 32 << 20;

    /// A dirty file's log could not be replayed with certainty.
    #[derive(Debug, thiserror::Error)]
    pub enum LogError {
        #[error("its header names log version {0}, which this reader does not know")]
        Version(u16),
        #[error("its log ({length} bytes at byte {offset}) lies outside the file or is not a whole number of 1 MiB")]
        Placement { offset: u64, length: u32 },
        #[error("its log is {0} bytes, more than the {MAX_LOG} this reader accepts")]
        TooLarge(u32),
        #[error("the log entry at log offset {at} is damaged ({why})")]
        DamagedEntry { at: usize, why: &'static str },
        #[error("its log holds no complete sequence of entries for its LogGuid")]
        NoSequence,
        #[error("the file is {len} bytes, shorter than the {flushed} its log says were flushed (truncated)")]
        Truncated { len: u64, flushed: u64 },
        #[error("{0}")]
        Io(#[from] io::Error),
    }

    /// The active header (the valid one with the higher sequence number, the first on a tie,
    /// as vhdx-core chooses it).
    pub struct Header {
        offset: u64,
        sequence: u64,
        bytes: Vec<u8>,
    }

    impl Header {
        fn log_guid(&self) -> [u8; 16] {
            let mut guid = [0u8; 16];
            guid.copy_from_slice(&self.bytes[48..64]);
            guid
        }
        pub fn is_dirty(&self) -> bool {
            self.log_guid() != [0u8; 16]
        }
    }

    fn le_u16(bytes: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([bytes[at], bytes[at + 1]])
    }
    fn le_u32(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
    }
    fn le_u64(bytes: &[u8], at: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(b)
    }

    /// CRC-32C of `bytes` with its checksum field (4..8) taken as zero.
    fn checksum(bytes: &[u8]) -> u32 {
        let mut copy = bytes.to_vec();
        copy[4..8].fill(0);
        crc32c(&copy)
    }

    fn pread(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        use std::os::unix::fs::FileExt;
        #[cfg(windows)]
        use std::os::windows::fs::FileExt;
        let mut filled = 0;
        while filled < buf.len() {
            #[cfg(unix)]
            let result = file.read_at(&mut buf[filled..], offset + filled as u64);
            #[cfg(windows)]
            let result = file.seek_read(&mut buf[filled..], offset + filled as u64);
            match result {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }

    /// The active header, or `None` when neither copy is valid (vhdx-core then says so).
    pub fn active_header(file: &File) -> io::Result<Option<Header>> {
        let mut best: Option<Header> = None;
        for offset in HEADER_OFFSETS {
            let mut bytes = vec![0u8; SECTOR];
            if pread(file, offset, &mut bytes)? < SECTOR || &bytes[..4] != b"head" {
                continue;
            }
            if checksum(&bytes) != le_u32(&bytes, 4) {
                continue;
            }
            let sequence = le_u64(&bytes, 8);
            if best.as_ref().is_none_or(|b| sequence > b.sequence) {
                best = Some(Header { offset, sequence, bytes });
            }
        }
        Ok(best)
    }

    /// One write of the replay, at a file offset.
    enum Write {
        Data { offset: u64, bytes: Vec<u8> },
        Zero { offset: u64, len: u64 },
    }

    struct Entry {
        at: usize,
        len: usize,
        tail: usize,
        sequence: u64,
        flushed: u64,
        last: u64,
        writes: Vec<Write>,
    }

    /// The entry starting at `at`, copied out of the ring (it may wrap round its end).
    fn ring(log: &[u8], at: usize, len: usize) -> Vec<u8> {
        let first = len.min(log.len() - at);
        let mut bytes = log[at..at + first].to_vec();
        bytes.extend_from_slice(&log[..len - first]);
        bytes
    }

    /// Validates the entry at `at` of the current log against every rule of §2.3.1.
    fn parse_entry(log: &[u8], at: usize) -> Result<Entry, &'static str> {
        let len = le_u32(log, at + 8) as usize;
        if len < SECTOR || !len.is_multiple_of(SECTOR) || len > log.len() {
            return Err("its length is not a whole number of 4 KiB sectors within the log");
        }
        let entry = ring(log, at, len);
        if checksum(&entry) != le_u32(&entry, 4) {
            return Err("its CRC-32C does not match");
        }
        let tail = le_u32(&entry, 12) as usize;
        let sequence = le_u64(&entry, 16);
        let count = le_u32(&entry, 24) as usize;
        if sequence == 0 || !tail.is_multiple_of(SECTOR) || tail >= log.len() {
            return Err("its sequence number or tail is invalid");
        }
        // The 64-byte header takes the room of two 32-byte descriptors in the first sector.
        let descriptor_sectors = count.saturating_add(2).div_ceil(128);
        if descriptor_sectors.saturating_mul(SECTOR) > len {
            return Err("its descriptors do not fit in it");
        }
        let mut writes = Vec::new();
        let mut data_sector = descriptor_sectors;
        for n in 0..count {
            let d = &entry[64 + 32 * n..96 + 32 * n];
            if le_u64(d, 24) != sequence {
                return Err("a descriptor's sequence number differs from the entry's");
            }
            let offset = le_u64(d, 16);
            match &d[..4] {
                b"zero" => {
                    let zero_len = le_u64(d, 8);
                    if !offset.is_multiple_of(SECTOR as u64) || !zero_len.is_multiple_of(SECTOR as u64) {
                        return Err("a zero descriptor is not 4 KiB aligned");
                    }
                    writes.push(Write::Zero { offset, len: zero_len });
                }
                b"desc" => {
                    let start = data_sector * SECTOR;
                    let Some(sector) = entry.get(start..start + SECTOR) else {
                        return Err("a data descriptor has no data sector");
                    };
                    if !offset.is_multiple_of(SECTOR as u64)
                        || &sector[..4] != b"data"
                        || le_u32(sector, 4) != (sequence >> 32) as u32
                        || le_u32(sector, 4092) != sequence as u32
                    {
                        return Err("a data sector does not match its descriptor");
                    }
                    // Bytes 0..8 and 4092..4096 of the update travel in the descriptor.
                    let mut bytes = Vec::with_capacity(SECTOR);
                    bytes.extend_from_slice(&d[8..16]);
                    bytes.extend_from_slice(&sector[8..4092]);
                    bytes.extend_from_slice(&d[4..8]);
                    writes.push(Write::Data { offset, bytes });
                    data_sector += 1;
                }
                _ => return Err("a descriptor has an unknown signature"),
            }
        }
        Ok(Entry { at, len, tail, sequence, flushed: le_u64(&entry, 48), last: le_u64(&entry, 56), writes })
    }

    /// The file as it is after replaying the active log sequence: the file's bytes with the
    /// replayed sectors laid over them in replay order, and the active header with its
    /// LogGuid cleared so that vhdx-core replays nothing.
    pub struct Replayed {
        file: File,
        file_len: u64,
        len: u64,
        position: u64,
        /// The log's writes in replay order, then the cleared header (not from the log).
        writes: Vec<Write>,
        /// For the report: the header's LogGuid, the entries applied and the newest one's
        /// sequence number.
        pub guid: [u8; 16],
        pub entries: usize,
        pub sequence: u64,
    }

    pub fn replay(file: File, file_len: u64, header: &Header) -> Result<Replayed, LogError> {
        let bytes = &header.bytes;
        let version = le_u16(bytes, 64);
        if version != 0 {
            return Err(LogError::Version(version));
        }
        let (length, offset) = (le_u32(bytes, 68), le_u64(bytes, 72));
        if length > MAX_LOG {
            return Err(LogError::TooLarge(length));
        }
        if length == 0
            || length % (1 << 20) != 0
            || offset.checked_add(u64::from(length)).is_none_or(|end| end > file_len)
        {
            return Err(LogError::Placement { offset, length });
        }
        let mut log = vec![0u8; length as usize];
        if pread(&file, offset, &mut log)? < log.len() {
            return Err(LogError::Placement { offset, length });
        }
        let guid = header.log_guid();
        let mut entries = Vec::new();
        for at in (0..log.len()).step_by(SECTOR) {
            // Entries of other LogGuids are stale (§2.2.2: only entries with the header's are
            // valid); an entry of this one that fails a check is a torn or damaged write, and
            // then the log cannot say with certainty what the metadata is.
            if &log[at..at + 4] != b"loge" || log[at + 32..at + 48] != guid {
                continue;
            }
            entries.push(parse_entry(&log, at).map_err(|why| LogError::DamagedEntry { at, why })?);
        }
        let active = active_sequence(&entries, log.len()).ok_or(LogError::NoSequence)?;
        let head = &entries[*active.last().ok_or(LogError::NoSequence)?];
        if file_len < head.flushed {
            return Err(LogError::Truncated { len: file_len, flushed: head.flushed });
        }
        let mut writes = Vec::new();
        let mut len = file_len.max(head.last);
        let (entries_applied, sequence) = (active.len(), head.sequence);
        for index in active {
            for write in std::mem::take(&mut entries[index].writes) {
                let end = match &write {
                    Write::Data { offset, bytes } => offset.saturating_add(bytes.len() as u64),
                    Write::Zero { offset, len } => offset.saturating_add(*len),
                };
                len = len.max(end);
                writes.push(write);
            }
        }
        let mut clean = header.bytes.clone();
        clean[48..64].fill(0);
        let sum = checksum(&clean);
        clean[4..8].copy_from_slice(&sum.to_le_bytes());
        writes.push(Write::Data { offset: header.offset, bytes: clean });
        Ok(Replayed { file, file_len, len, position: 0, writes, guid, entries: entries_applied, sequence })
    }

    /// §2.3.3: the newest sequence of entries, each one greater than the one before and at
    /// the ring offset where the one before ends, whose head's tail lies within it; its
    /// entries in replay order (tail first).
    fn active_sequence(entries: &[Entry], log_len: usize) -> Option<Vec<usize>> {
        let by_offset: std::collections::HashMap<usize, usize> =
            entries.iter().enumerate().map(|(index, e)| (e.at, index)).collect();
        let next = |index: usize| {
            let entry = &entries[index];
            by_offset
                .get(&((entry.at + entry.len) % log_len))
                .copied()
                .filter(|&n| entries[n].sequence == entry.sequence.wrapping_add(1))
        };
        let has_predecessor: std::collections::HashSet<usize> = (0..entries.len()).filter_map(next).collect();
        let mut best: Option<(u64, Vec<usize>)> = None;
        for start in (0..entries.len()).filter(|i| !has_predecessor.contains(i)) {
            let mut chain = vec![start];
            while let Some(n) = next(*chain.last()?) {
                if chain.len() >= entries.len() {
                    break;
                }
                chain.push(n);
            }
            let head = &entries[*chain.last()?];
            let Some(tail) = chain.iter().position(|&i| entries[i].at == head.tail) else {
                continue;
            };
            if best.as_ref().is_none_or(|(sequence, _)| head.sequence > *sequence) {
                best = Some((head.sequence, chain.split_off(tail)));
            }
        }
        best.map(|(_, chain)| chain)
    }

    impl Read for Replayed {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let wanted = buf.len().min(usize::try_from(self.len.saturating_sub(self.position)).unwrap_or(usize::MAX));
            let buf = &mut buf[..wanted];
            let from_file =
                usize::try_from(self.file_len.saturating_sub(self.position)).unwrap_or(usize::MAX).min(wanted);
            if pread(&self.file, self.position, &mut buf[..from_file])? < from_file {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file is shorter than when it was opened",
                ));
            }
            // Past the file's end: a file the log extends (§2.3.3) reads as zeros there.
            buf[from_file..].fill(0);
            let (start, end) = (self.position, self.position + wanted as u64);
            for write in &self.writes {
                let (offset, len) = match write {
                    Write::Data { offset, bytes } => (*offset, bytes.len() as u64),
                    Write::Zero { offset, len } => (*offset, *len),
                };
                let (from, to) = (offset.max(start), offset.saturating_add(len).min(end));
                if from >= to {
                    continue;
                }
                let target = &mut buf[(from - start) as usize..(to - start) as usize];
                match write {
                    Write::Data { bytes, .. } => {
                        target.copy_from_slice(&bytes[(from - offset) as usize..(to - offset) as usize])
                    }
                    Write::Zero { .. } => target.fill(0),
                }
            }
            self.position = end;
            Ok(wanted)
        }
    }

    impl Seek for Replayed {
        fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
            let position = match target {
                SeekFrom::Start(offset) => Some(offset),
                SeekFrom::End(delta) => self.len.checked_add_signed(delta),
                SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
            };
            self.position =
                position.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
            Ok(self.position)
        }
    }

    impl Replayed {
        pub fn len(&self) -> u64 {
            self.len
        }

        /// The 4 KiB sectors the log wrote, those of them inside `bat` (the BAT region's
        /// offset and length), and the ranges it zeroed; the cleared header is not counted.
        pub fn applied(&self, bat: Option<(u64, u64)>) -> (usize, usize, usize) {
            let from_log = &self.writes[..self.writes.len().saturating_sub(1)];
            let (mut sectors, mut in_bat, mut zeroed) = (0, 0, 0);
            for write in from_log {
                match write {
                    Write::Data { offset, .. } => {
                        sectors += 1;
                        if bat.is_some_and(|(start, len)| *offset >= start && *offset - start < len) {
                            in_bat += 1;
                        }
                    }
                    Write::Zero { .. } => zeroed += 1,
                }
            }
            (sectors, in_bat, zeroed)
        }
    }
}
