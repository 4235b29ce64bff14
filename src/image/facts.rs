//! What a disk container says about itself, for the report: an E01's case metadata and the
//! hashes its acquiring tool stored, a VHDX's disk identifier and the log replayed to read it,
//! a VMDK's createType and CID, a VHD's creator and disk type. Every string here comes from
//! the evidence: the report views escape it like a hive string (text, CSV, HTML); JSON keeps
//! it exact.

use serde::{Deserialize, Serialize};

/// The container a machine was read from; `null` in the report for a hive file, a folder, an
/// archive or a raw image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerFacts {
    /// `E01`, `Ex01` (`L01`, `Lx01` for logical evidence files), `VHDX`, `VMDK`, `VHD`, `QCOW2`.
    pub format: String,
    /// The container file given or found (the first segment, the descriptor).
    pub path: String,
    /// Files read for the container: the segments of an EWF set, a VMDK's descriptor and
    /// extents; 1 otherwise.
    pub segments: usize,
    /// Size of the virtual disk in bytes.
    pub disk_size: u64,
    /// EWF header: who acquired what, when, with what (`null` for other formats).
    pub acquisition: Option<Acquisition>,
    /// The hashes of the whole disk the acquiring tool recorded (EWF `hash`/`digest`
    /// sections), NOT verified by the scan: verifying reads the whole image (`ewfverify`).
    pub stored_hashes: Option<StoredHashes>,
    /// VHDX Virtual Disk ID, VHD unique id (a GUID).
    pub disk_identifier: Option<String>,
    /// VHD `fixed` or `dynamic`; VMDK createType as written (`monolithicSparse`,
    /// `streamOptimized`, …); VHDX `fixed` or `dynamic`; QCOW2 version and cluster size.
    pub disk_type: Option<String>,
    /// VHDX logical sector size in bytes.
    pub logical_sector_size: Option<u32>,
    /// VMDK content id (CID), as written.
    pub content_id: Option<String>,
    /// The program that made the file: VHD creator application, version and host OS; VHDX
    /// file identifier's creator string.
    pub creator: Option<String>,
    /// VHD creation time stamp, RFC 3339 UTC.
    pub created: Option<String>,
    /// A dirty VHDX's log, replayed in memory to read the disk (the file is unchanged).
    pub log_replay: Option<ContainerLogReplay>,
    /// What an analyst should know, in words (the stored hashes are not verified, the log was
    /// replayed, the acquiring tool recorded read errors).
    pub notes: Vec<String>,
}

impl ContainerFacts {
    /// The facts as labelled lines for the text report and the HTML page (which escape
    /// them): the container first, then its acquisition, stored hashes, disk and notes.
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let files = match self.segments {
            0 | 1 => String::new(),
            n => format!(", {n} files"),
        };
        let mut lines =
            vec![("container", format!("{} {} ({} bytes of disk{files})", self.format, self.path, self.disk_size))];
        if let Some(acquisition) = &self.acquisition {
            lines.push(("acquisition", acquisition.describe()));
        }
        if let Some(hashes) = &self.stored_hashes {
            lines.push(("stored hashes (recorded by the acquiring tool, not verified)", hashes.describe()));
        }
        let mut disk = Vec::new();
        if let Some(kind) = &self.disk_type {
            disk.push(kind.clone());
        }
        if let Some(id) = &self.disk_identifier {
            disk.push(format!("id {id}"));
        }
        if let Some(cid) = &self.content_id {
            disk.push(format!("CID {cid}"));
        }
        if let Some(size) = self.logical_sector_size {
            disk.push(format!("{size}-byte sectors"));
        }
        if let Some(creator) = &self.creator {
            disk.push(format!("made by {creator}"));
        }
        if let Some(created) = &self.created {
            disk.push(format!("created {created}"));
        }
        if !disk.is_empty() {
            lines.push(("disk", disk.join(", ")));
        }
        lines.extend(self.notes.iter().map(|note| ("note", note.clone())));
        lines
    }
}

/// Case metadata of an EWF image, as the acquiring tool wrote it; a field the examiner left
/// empty is `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acquisition {
    pub case_number: Option<String>,
    pub evidence_number: Option<String>,
    pub examiner: Option<String>,
    pub description: Option<String>,
    pub notes: Option<String>,
    /// Acquisition date, `YYYY-MM-DD hh:mm:ss` in the acquiring system's local time (EWF
    /// stores no zone), or as stored when it has another form.
    pub acquisition_date: Option<String>,
    /// The acquiring system's clock at acquisition, as stored.
    pub system_date: Option<String>,
    /// Acquiring software and version (`ewfacquire 20140813`, `ADI4.7.1.2`).
    pub software: Option<String>,
    /// The acquiring system's operating system.
    pub os: Option<String>,
}

impl Acquisition {
    /// `case number X; evidence number Y; …`, the fields present, for the text views.
    pub fn describe(&self) -> String {
        let fields = [
            ("case number", &self.case_number),
            ("evidence number", &self.evidence_number),
            ("examiner", &self.examiner),
            ("description", &self.description),
            ("notes", &self.notes),
            ("acquired", &self.acquisition_date),
            ("system date", &self.system_date),
            ("software", &self.software),
            ("OS", &self.os),
        ];
        fields
            .iter()
            .filter_map(|(name, value)| value.as_deref().map(|v| format!("{name} {v}")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Hashes stored in the container, lowercase hex. `verified` is always false: the scan
/// reads only the sectors its lookups need, never the whole disk a hash covers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHashes {
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub verified: bool,
}

impl StoredHashes {
    /// `MD5 …, SHA-1 …`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(md5) = &self.md5 {
            parts.push(format!("MD5 {md5}"));
        }
        if let Some(sha1) = &self.sha1 {
            parts.push(format!("SHA-1 {sha1}"));
        }
        parts.join(", ")
    }
}

/// What replaying a dirty VHDX's log applied, in memory only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerLogReplay {
    /// The header's LogGuid, `{xxxxxxxx-…}`.
    pub log_guid: String,
    /// Sequence number of the newest entry applied.
    pub sequence_number: u64,
    /// Log entries applied (the active sequence).
    pub entries: usize,
    /// 4 KiB sectors written from data descriptors, and of them those in the BAT region.
    pub sectors_written: usize,
    pub bat_sectors_written: usize,
    /// Ranges zeroed by zero descriptors.
    pub ranges_zeroed: usize,
}

impl ContainerLogReplay {
    /// The note the report shows.
    pub fn describe(&self) -> String {
        format!(
            "dirty VHDX: its log (LogGuid {}) was replayed in memory to read the disk, the file is unchanged: {} entr{} up to sequence number {}, {} sector(s) of 4 KiB written ({} of them in the BAT), {} range(s) zeroed",
            self.log_guid,
            self.entries,
            if self.entries == 1 { "y" } else { "ies" },
            self.sequence_number,
            self.sectors_written,
            self.bat_sectors_written,
            self.ranges_zeroed
        )
    }
}

/// A GUID stored little-endian in its first three fields (Microsoft's layout), as text.
pub fn guid_text(bytes: &[u8; 16]) -> String {
    let d1 = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let d2 = u16::from_le_bytes([bytes[4], bytes[5]]);
    let d3 = u16::from_le_bytes([bytes[6], bytes[7]]);
    let tail: String = bytes[8..].iter().map(|b| format!("{b:02x}")).collect();
    format!("{{{d1:08x}-{d2:04x}-{d3:04x}-{}-{}}}", &tail[..4], &tail[4..])
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_read_as_windows_writes_them() {
        let bytes = [0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff];
        assert_eq!(guid_text(&bytes), "{00112233-4455-6677-8899-aabbccddeeff}");
    }
}
