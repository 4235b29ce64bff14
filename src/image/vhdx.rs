//! VHDX (Hyper-V, Azure, KAPE's `--vhdx` container) read in place through the `vhdx-core`
//! crate (Apache-2.0, SecurityRonin, the author of `ewf`; chosen because it is pure Rust
//! without unsafe, reads only the headers, region table, metadata, BAT and log at open and the
//! payload blocks on demand, replays a dirty image's log into an in-memory overlay, never into
//! the file, taking only entries whose log GUID matches the active header's, and refuses a
//! differencing disk opened without its parent instead of reading zeros). The file is opened
//! here, read-only and regular-only, and handed to the crate as a positioned backing.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use ::vhdx::{Backing, VhdxError, VhdxReader};

use crate::source::BlockSource;

/// The virtual disk inside a VHDX file.
pub struct VhdxImage {
    reader: VhdxReader,
    display: String,
    len: u64,
}

impl VhdxImage {
    pub fn open(path: &Path) -> io::Result<VhdxImage> {
        let display = path.display().to_string();
        let (file, _) =
            crate::input::open_regular(path).map_err(|e| io::Error::new(e.kind(), format!("{display}: {e}")))?;
        let reader = VhdxReader::from_backing(Backing::File(file), None).map_err(|error| {
            let advice = match error {
                VhdxError::DifferencingNotSupported => {
                    "a differencing VHDX (.avhdx snapshot or child disk): its parent disk holds the rest of the data and is \
                     not read here; merge the chain first (Hyper-V Merge-VHD, or `qemu-img convert -O raw CHILD.vhdx disk.raw` \
                     with the parent in place) and scan the result"
                        .to_string()
                }
                other => format!("damaged or truncated VHDX ({other}); `qemu-img check` tells more"),
            };
            io::Error::new(io::ErrorKind::InvalidData, format!("{display}: {advice}"))
        })?;
        let len = reader.virtual_disk_size();
        Ok(VhdxImage { reader, display, len })
    }
}

impl BlockSource for VhdxImage {
    fn len(&self) -> u64 {
        self.len
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
