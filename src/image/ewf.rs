//! E01/Ex01 (Expert Witness Format) images read in place through the `ewf` crate
//! (Apache-2.0, SecurityRonin; chosen because it is pure Rust without unsafe, has a lazy chunk
//! table so a 500 GB image does not cost its whole table in memory, bounds its section and
//! table sizes and its zlib output, and ships robustness and fuzz-regression tests; our own
//! tests feed it truncated and bit-flipped images). The segments are found and opened here,
//! read-only and regular files only (the crate would glob and open whatever matches), and handed
//! to the crate in order; every read goes through [`EwfImage`], a [`BlockSource`].

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::image::ewf2::Ewf2Set;
use crate::image::facts::{hex, Acquisition, ContainerFacts, StoredHashes};
use crate::source::BlockSource;

/// EWF sets have at most E01…E99 then EAA…ZZZ segments.
const MAX_SEGMENTS: usize = 99 + 26 * 26 * 22;

/// The extension of segment `number` (1-based) of a set whose first segment has `first`
/// (`E01`, `e01`, `Ex01`, `L01`).
fn segment_extension(first: &str, number: usize) -> Option<String> {
    let upper = first.chars().nth(1).is_some_and(|c| c.is_ascii_uppercase()) || first.len() == 4;
    let letter = first.chars().next()?;
    if first.len() == 4 {
        // Ex01, Lx01: two digits only.
        return (number <= 99).then(|| format!("{}{number:02}", &first[..2]));
    }
    if number <= 99 {
        return Some(format!("{letter}{number:02}"));
    }
    let k = number - 100;
    let base = if letter.is_ascii_uppercase() { b'A' } else { b'a' };
    let first_letter = (letter as u8).checked_add(u8::try_from(k / 676).ok()?)?;
    if !first_letter.is_ascii_alphabetic() {
        return None;
    }
    let text = format!(
        "{}{}{}",
        first_letter as char,
        (base + ((k / 26) % 26) as u8) as char,
        (base + (k % 26) as u8) as char
    );
    Some(if upper { text.to_ascii_uppercase() } else { text })
}

/// The path of segment `number` (1-based) of the set whose first segment is `first`, for an
/// error that names a missing one.
pub(crate) fn next_segment_name(first: &Path, number: usize) -> Option<String> {
    let extension = first.extension().and_then(|e| e.to_str())?;
    Some(first.with_extension(segment_extension(extension, number)?).display().to_string())
}

/// True for the extension of a first EWF segment: `E01`, `Ex01`, `L01`, `S01` (any case).
pub fn is_first_segment_extension(extension: &str) -> bool {
    let lower = extension.to_ascii_lowercase();
    matches!(lower.as_str(), "e01" | "ex01" | "l01" | "lx01" | "s01")
}

/// The segments of the set whose first segment is `path`, in order, as long as the next one
/// exists.
pub fn segments(path: &Path) -> Vec<PathBuf> {
    let mut found = vec![path.to_path_buf()];
    let Some(first) = path.extension().and_then(|e| e.to_str()) else { return found };
    if !is_first_segment_extension(first) {
        return found;
    }
    for number in 2..=MAX_SEGMENTS {
        let Some(extension) = segment_extension(first, number) else { break };
        let next = path.with_extension(&extension);
        if !next.is_file() {
            break;
        }
        found.push(next);
    }
    found
}

/// How a file named like a later EWF segment (`x.E02`, `x.EAA`, `x.Ex02`, `x.L02`…) stands
/// to the set beside it. A file is a member only when the set, read from its first segment
/// as long as the next one exists, reaches it: a name alone decides nothing (`x.vhd` and
/// `x.zip` beside `x.E01` fit the `x.E..`–`x.Z..` pattern of segments past the hundredth).
pub fn segment_role(path: &Path) -> crate::image::source::SegmentRole {
    use crate::image::source::SegmentRole;
    let Some(extension) = path.extension().and_then(|e| e.to_str()) else { return SegmentRole::NotSegment };
    if is_first_segment_extension(extension) {
        return SegmentRole::NotSegment;
    }
    let lower = extension.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    // Numbered segments (E02–E99, Ex02–Ex99) are segments by their name alone; lettered
    // ones (EAA…) only when the set reaches them, since other extensions share the pattern.
    let (candidates, numbered): (Vec<String>, bool) = match bytes {
        [b'e' | b'l' | b's', rest @ ..] if rest.len() == 2 && rest.iter().all(u8::is_ascii_digit) => {
            (vec![format!("{}01", bytes[0] as char)], true)
        }
        [b'e' | b'l', b'x', rest @ ..] if rest.len() == 2 && rest.iter().all(u8::is_ascii_digit) => {
            (vec![format!("{}x01", bytes[0] as char)], true)
        }
        [first, rest @ ..]
            if rest.len() == 2 && rest.iter().all(u8::is_ascii_lowercase) && (b'e'..=b'z').contains(first) =>
        {
            (vec!["e01".to_string(), "l01".to_string(), "s01".to_string()], false)
        }
        _ => return SegmentRole::NotSegment,
    };
    let firsts: Vec<PathBuf> = candidates
        .iter()
        .flat_map(|first| {
            let mixed = format!("{}{}", first[..1].to_ascii_uppercase(), &first[1..]);
            [first.clone(), first.to_ascii_uppercase(), mixed]
        })
        .map(|first| path.with_extension(first))
        .filter(|first| first.is_file())
        .collect();
    if let Some(first) = firsts.iter().find(|first| segments(first).iter().any(|segment| segment == path)) {
        return SegmentRole::InSetOf(first.clone());
    }
    match firsts.into_iter().next() {
        Some(first) if numbered => SegmentRole::Unreached(first),
        _ => SegmentRole::NotSegment,
    }
}

/// An EWF v1 segment ends with a `next` section when another segment follows and with
/// `done` in the last one: a set whose last segment found ends with `next` is incomplete (the
/// `ewf` crate would read it and fail only on the missing chunks, or not at all).
fn check_set_complete(segments: &[PathBuf], files: &[File]) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let (Some(last), Some(path)) = (files.last(), segments.last()) else { return Ok(()) };
    let len = last.metadata()?.len();
    let Some(at) = len.checked_sub(76) else { return Ok(()) };
    let mut kind = [0u8; 16];
    last.read_exact_at(&mut kind, at)?;
    if kind.starts_with(b"next\0") {
        let missing = path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(|first| segment_extension(first, segments.len() + 1))
            .map(|extension| path.with_extension(extension).display().to_string())
            .unwrap_or_else(|| "the next segment".to_string());
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{}: incomplete EWF set: {} ends with a `next` section but {missing} is missing; put every segment (.E01, .E02, …) in the same folder",
                segments[0].display(),
                path.display()
            ),
        ));
    }
    Ok(())
}

/// ewfacquire's largest chunk: 32,768 sectors of 4 KiB.
const MAX_CHUNK_SIZE: u64 = 32_768 * 4096;
/// Deflate's largest expansion: no chunk of a sound image inflates to more than this many
/// times the bytes of the whole set.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// The ewf crate allocates a whole chunk for every chunk it reads, sized by the header's
/// sectors per chunk and bytes per sector and not checked by it (found by fuzzing: an Ex01
/// of 428 bytes whose device information gives chunks of 4 GiB). A chunk larger than any
/// acquisition tool writes, or than the set's bytes could inflate to, is a damaged header.
fn check_chunk_size(chunk_size: u64, files_len: u64, display: &str) -> io::Result<()> {
    let bound = MAX_CHUNK_SIZE.min(files_len.saturating_mul(MAX_DEFLATE_RATIO));
    if chunk_size > bound {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{display}: damaged EWF image: its header gives chunks of {chunk_size} bytes, more than the {bound} a \
                 set of {files_len} bytes can hold (at most {MAX_CHUNK_SIZE}); check the image with `ewfverify`"
            ),
        ));
    }
    Ok(())
}

/// The disk inside an EWF set, decoded chunk by chunk as it is read.
pub struct EwfImage {
    reader: ewf::EwfReader,
    display: String,
    /// `E01`, `Ex01`, `L01` or `Lx01`, and the number of segment files, for the report.
    format: &'static str,
    segments: usize,
    /// The length of each segment file, for [`EwfImage::check_chunks`].
    segment_lens: Vec<u64>,
    /// Ex01/Lx01: what src/image/ewf2.rs checked and learnt, and the segments it reads the
    /// stored chunks' checksums from.
    ewf2: Option<(Ewf2Set, Vec<File>)>,
}

impl EwfImage {
    /// Opens every segment of the set read-only (each must be a regular file) and reads the
    /// section lists; no chunk is decompressed until it is read.
    pub fn open(segments: &[PathBuf]) -> io::Result<EwfImage> {
        let display = segments.first().map(|p| p.display().to_string()).unwrap_or_default();
        let mut files: Vec<File> = Vec::with_capacity(segments.len());
        let mut files_len = 0u64;
        let mut segment_lens = Vec::with_capacity(segments.len());
        for path in segments {
            let (file, meta) = crate::input::open_regular(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            files_len = files_len.saturating_add(meta.len());
            segment_lens.push(meta.len());
            files.push(file);
        }
        let mut signature = [0u8; 8];
        if let Some(first) = files.first() {
            use std::os::unix::fs::FileExt;
            first.read_exact_at(&mut signature, 0).map_err(|e| io::Error::new(e.kind(), format!("{display}: {e}")))?;
        }
        let ewf2 = &signature[..4] == b"EVF2" || &signature[..4] == b"LEF2";
        if !ewf2 {
            check_set_complete(segments, &files)?;
        }
        let mut checked = None;
        let opened = if ewf2 {
            // EWF2 (Ex01): checked here first (src/image/ewf2.rs says what the crate misses);
            // the crate reads it from paths only, eagerly; they were checked above.
            checked = Some((Ewf2Set::check(segments, &files)?, files));
            ewf::EwfReader::open_segments(segments)
        } else {
            ewf::EwfReader::open_lazy_from_sources(files.into_iter().map(ewf::SegmentSource::File).collect())
        };
        let reader = opened.map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{display}: damaged or incomplete EWF image ({e}); check that every segment (.E01, .E02, …) is present and complete, e.g. with `ewfverify`"),
            )
        })?;
        // Logical evidence files (L01/Lx01) share the format; the report names which it is.
        let format = match (ewf2, signature[0] == b'L') {
            (false, false) => "E01",
            (false, true) => "L01",
            (true, false) => "Ex01",
            (true, true) => "Lx01",
        };
        check_chunk_size(reader.chunk_size(), files_len, &display)?;
        if let Some((set, _)) = &checked {
            check_geometry(&reader, set, &display)?;
        }
        Ok(EwfImage { reader, display, format, segments: segments.len(), segment_lens, ewf2: checked })
    }
}

/// Refuses an Ex01 whose chunk size, disk size or chunk count the `ewf` crate reads otherwise
/// than its device information, case data and sector tables say: the crate (0.4.10) takes
/// the chunk size from tags EWF2 does not have, so only EnCase's default of 64 sectors of 512
/// bytes per chunk reads right; anything else would be read as a different disk.
fn check_geometry(reader: &ewf::EwfReader, set: &Ewf2Set, display: &str) -> io::Result<()> {
    let bytes_per_sector = set.bytes_per_sector.unwrap_or(512);
    let refuse = |what: String| {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{display}: Ex01 not readable here: {what}; the `ewf` crate reads EWF2 only with 64 sectors of 512 bytes per chunk; convert it with `ewfexport -t OUT -f raw {display}` (or re-acquire with EnCase's default block size) and scan OUT.raw"
            ),
        ))
    };
    if let Some(sectors_per_chunk) = set.sectors_per_chunk {
        let expected = sectors_per_chunk.checked_mul(bytes_per_sector);
        if expected != Some(reader.chunk_size()) {
            return refuse(format!(
                "its chunks are {sectors_per_chunk} sectors of {bytes_per_sector} bytes, the crate would read {} bytes",
                reader.chunk_size()
            ));
        }
    }
    if let Some(sectors) = set.sectors {
        if sectors.checked_mul(bytes_per_sector) != Some(reader.total_size()) {
            return refuse(format!(
                "the disk is {sectors} sectors of {bytes_per_sector} bytes, the crate would read {} bytes",
                reader.total_size()
            ));
        }
    }
    if reader.chunk_count() as u64 != set.chunks {
        return refuse(format!(
            "its sector tables list {} chunks, the crate would read {}",
            set.chunks,
            reader.chunk_count()
        ));
    }
    Ok(())
}

/// A metadata string as the report shows it: `None` when the tool left it empty.
fn field(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

/// An EWF header date: EnCase and ewfacquire write `2024 5 14 18 42 10` (local time of the
/// acquiring system, no zone), shown as `2024-05-14 18:42:10`; anything else as stored.
fn date(value: &Option<String>) -> Option<String> {
    let text = field(value)?;
    let parts: Vec<u32> = text.split_whitespace().map_while(|p| p.parse().ok()).collect();
    match parts[..] {
        [year, month, day, hour, minute, second]
            if text.split_whitespace().count() == 6 && (1..=12).contains(&month) && (1..=31).contains(&day) =>
        {
            Some(format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"))
        }
        _ => Some(text),
    }
}

impl EwfImage {
    /// The header's case metadata, the stored hashes and the acquisition read errors, as the
    /// acquiring tool recorded them. Nothing here is checked against the disk's bytes.
    fn facts(&self) -> ContainerFacts {
        let meta = self.reader.metadata();
        let mut acquisition = Acquisition {
            case_number: field(&meta.case_number),
            evidence_number: field(&meta.evidence_number),
            examiner: field(&meta.examiner),
            description: field(&meta.description),
            notes: field(&meta.notes),
            acquisition_date: date(&meta.acquiry_date),
            system_date: date(&meta.system_date),
            software: field(&meta.acquiry_software),
            os: field(&meta.os_version),
        };
        if let Some((set, _)) = &self.ewf2 {
            // EWF2 names these `nm`, `os`, `tt`, `at`, which the crate does not read.
            acquisition.description = acquisition.description.or_else(|| field(&set.description));
            acquisition.os = acquisition.os.or_else(|| field(&set.os));
            acquisition.acquisition_date = acquisition.acquisition_date.or_else(|| set.target_time.clone());
            acquisition.system_date = acquisition.system_date.or_else(|| set.actual_time.clone());
        }
        let stored = self.reader.stored_hashes();
        let stored_hashes = (stored.md5.is_some() || stored.sha1.is_some()).then(|| StoredHashes {
            md5: stored.md5.map(|h| hex(&h)),
            sha1: stored.sha1.map(|h| hex(&h)),
            verified: false,
        });
        let mut notes = Vec::new();
        if stored_hashes.is_some() {
            notes.push(
                "the stored hashes are what the acquiring tool recorded; this scan did not verify them (that reads the \
                 whole image: `ewfverify IMAGE.E01`)"
                    .to_string(),
            );
        }
        let errors = self.reader.acquisition_errors();
        if !errors.is_empty() {
            let sectors: u64 = errors.iter().map(|e| u64::from(e.sector_count)).sum();
            let first: Vec<String> =
                errors.iter().take(5).map(|e| format!("{}+{}", e.first_sector, e.sector_count)).collect();
            notes.push(format!(
                "the acquiring tool recorded {} read error range(s), {sectors} sector(s) in all (first sector+count: {}{}): those sectors hold what the tool filled in, not the disk's data",
                errors.len(),
                first.join(", "),
                if errors.len() > first.len() { ", …" } else { "" }
            ));
        }
        ContainerFacts {
            format: self.format.to_string(),
            path: self.display.clone(),
            segments: self.segments,
            disk_size: self.reader.total_size(),
            acquisition: (acquisition != Acquisition::default()).then_some(acquisition),
            stored_hashes,
            notes,
            ..ContainerFacts::default()
        }
    }
}

impl EwfImage {
    /// The ewf crate allocates each chunk's stored bytes by the size its table gives before
    /// reading them, unchecked (found by fuzzing: 4 GiB for one chunk of a 428-byte Ex01), so
    /// every chunk a read touches is checked here first to lie inside its segment file.
    /// `debug_chunk` is the crate's only accessor for a chunk's table entry.
    fn check_chunks(&self, offset: u64, len: usize) -> io::Result<()> {
        let chunk_size = self.reader.chunk_size().max(1);
        let end = offset.saturating_add(len as u64).min(self.len());
        if end <= offset {
            return Ok(());
        }
        for chunk in offset / chunk_size..=(end - 1) / chunk_size {
            let Ok(index) = usize::try_from(chunk) else { break };
            // A chunk the table does not have is the crate's error to report when it reads.
            let Ok((at, size, _, segment)) = self.reader.debug_chunk(index) else { continue };
            let segment_len = self.segment_lens.get(segment).copied().unwrap_or(0);
            if at.checked_add(size).is_none_or(|chunk_end| chunk_end > segment_len) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: EWF chunk {index} (disk byte {}) is {size} bytes at byte {at} of segment {}, which has \
                         {segment_len}: damaged table or truncated segment; check the image with `ewfverify`",
                        self.display,
                        chunk * chunk_size,
                        segment + 1
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl BlockSource for EwfImage {
    fn len(&self) -> u64 {
        self.reader.total_size()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len() {
            return Ok(0);
        }
        self.check_chunks(offset, buf.len())?;
        let EwfImage { reader, display, ewf2, .. } = &mut *self;
        if let Some((set, files)) = ewf2 {
            // The crate checks no stored chunk's Adler-32: each one this read touches is
            // checked here once, as the crate decodes it.
            let chunk_size = reader.chunk_size().max(1);
            let last = offset.saturating_add(buf.len().max(1) as u64 - 1).min(reader.total_size().saturating_sub(1));
            set.check_stored_chunks(files, chunk_size, offset / chunk_size..=last / chunk_size, |number, len| {
                let mut bytes = vec![0u8; len];
                let start = number.saturating_mul(chunk_size);
                let read = reader.read_at(&mut bytes, start).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{display}: EWF chunk at byte {start} unreadable: {e} (damaged or truncated segment)"),
                    )
                })?;
                bytes.truncate(read);
                Ok(bytes)
            })?;
        }
        self.reader.read_at(buf, offset).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: EWF chunk at byte {offset} unreadable: {e} (damaged or truncated segment)", self.display),
            )
        })
    }

    fn container_facts(&self) -> Option<ContainerFacts> {
        Some(self.facts())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_dates_read_as_dates() {
        let date = |text: &str| super::date(&Some(text.to_string()));
        assert_eq!(date("2026 12 2 5 37 45").as_deref(), Some("2026-12-02 05:37:45"));
        assert_eq!(date("Tue May 14 18:42:10 2024").as_deref(), Some("Tue May 14 18:42:10 2024"));
        assert_eq!(date("2026 13 2 5 37 45").as_deref(), Some("2026 13 2 5 37 45"), "no month 13");
        assert_eq!(date("  "), None);
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_extension("E01", 2).as_deref(), Some("E02"));
        assert_eq!(segment_extension("E01", 99).as_deref(), Some("E99"));
        assert_eq!(segment_extension("E01", 100).as_deref(), Some("EAA"));
        assert_eq!(segment_extension("E01", 101).as_deref(), Some("EAB"));
        assert_eq!(segment_extension("e01", 126).as_deref(), Some("eba"));
        assert_eq!(segment_extension("E01", 776).as_deref(), Some("FAA"));
        assert_eq!(segment_extension("Ex01", 3).as_deref(), Some("Ex03"));
        assert_eq!(segment_extension("Ex01", 100), None);
    }

    #[test]
    fn later_segments_need_their_first() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.E01", "a.E02", "a.EAA", "b.E02"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        for name in ["a.E04", "a.vhd", "a.zip"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        use crate::image::source::SegmentRole;
        let first = dir.path().join("a.E01");
        assert_eq!(segment_role(&dir.path().join("a.E02")), SegmentRole::InSetOf(first.clone()));
        assert_eq!(segments(&first).len(), 2, "a.EAA only after a.E99");
        assert_eq!(
            segment_role(&dir.path().join("a.E04")),
            SegmentRole::Unreached(first.clone()),
            "after a missing a.E03"
        );
        for other in ["a.EAA", "a.vhd", "a.zip", "a.E01"] {
            assert_eq!(segment_role(&dir.path().join(other)), SegmentRole::NotSegment, "{other}");
        }
        assert_eq!(segment_role(&dir.path().join("b.E02")), SegmentRole::NotSegment, "no b.E01");
    }
}
