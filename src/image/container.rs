//! Image containers that are not raw, recognised by their magic: EWF, VHDX, VMDK, VHD and
//! QCOW2 are read in place ([`crate::image::ewf`], [`crate::image::vhdx`],
//! [`crate::image::vmdk`], [`crate::image::vhd`], [`crate::image::qcow2`]); the others (VDI)
//! are refused with the command that converts them instead of getting "no partition table".
//!
//! Formats without a reader here are refused with the command that converts them; the
//! conversion tools are mature and verify what they convert.

/// A container format recognised by its magic (read in place or refused, see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Ewf,
    Ewf2,
    Vhd,
    Vhdx,
    Vmdk,
    Qcow,
    Vdi,
}

impl Container {
    pub fn name(self) -> &'static str {
        match self {
            Container::Ewf => "EWF/E01 (EnCase)",
            Container::Ewf2 => "EWF2/Ex01 (EnCase 7)",
            Container::Vhd => "dynamic VHD (Virtual PC / Hyper-V)",
            Container::Vhdx => "VHDX (Hyper-V)",
            Container::Vmdk => "VMDK (VMware)",
            Container::Qcow => "QCOW/QCOW2 (QEMU)",
            Container::Vdi => "VDI (VirtualBox)",
        }
    }

    /// The command that turns it into a raw image this program reads.
    pub fn conversion(self) -> &'static str {
        match self {
            Container::Ewf | Container::Ewf2 => {
                "convert it to a raw image with `ewfexport -u -f raw -t IMAGE IMAGE.E01` (Debian package ewf-tools) \
                 and scan IMAGE.raw"
            }
            _ => "convert it to a raw image with `qemu-img convert -O raw IMAGE IMAGE.raw` and scan IMAGE.raw",
        }
    }
}

const VDI_TEXT: &[u8] = b"<<< Oracle VM VirtualBox Disk Image >>>";
const VDI_SIGNATURE: [u8; 4] = [0x7f, 0x10, 0xda, 0xbe];

/// The container whose magic starts `head` (the first bytes of the file), if any. A fixed
/// VHD is a raw disk with a footer at the end, so it is not recognised here but by
/// [`crate::image::source::open_image`], which looks at the end of every raw image.
pub fn detect(head: &[u8]) -> Option<Container> {
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(b"EVF\x09\x0d\x0a\xff\x00") || starts(b"LVF\x09\x0d\x0a\xff\x00") {
        Some(Container::Ewf)
    } else if starts(b"EVF2\x0d\x0a\x81\x00") || starts(b"LEF2\x0d\x0a\x81\x00") {
        Some(Container::Ewf2)
    } else if starts(b"conectix") {
        Some(Container::Vhd)
    } else if starts(b"vhdxfile") {
        Some(Container::Vhdx)
    } else if starts(b"KDMV") || starts(b"COWD") || starts(b"# Disk DescriptorFile") {
        Some(Container::Vmdk)
    } else if starts(b"QFI\xfb") {
        Some(Container::Qcow)
    } else if starts(VDI_TEXT) || head.get(0x40..0x44) == Some(&VDI_SIGNATURE[..]) {
        Some(Container::Vdi)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics() {
        assert_eq!(detect(b"vhdxfile\0\0"), Some(Container::Vhdx));
        assert_eq!(detect(b"QFI\xfb\0\0\0\x03"), Some(Container::Qcow));
        assert_eq!(detect(b"EVF\x09\x0d\x0a\xff\x00\x01"), Some(Container::Ewf));
        assert_eq!(detect(b"KDMV\x01\0\0\0"), Some(Container::Vmdk));
        assert_eq!(detect(b"conectix\0"), Some(Container::Vhd));
        let mut vdi = vec![0u8; 0x48];
        vdi[0x40..0x44].copy_from_slice(&VDI_SIGNATURE);
        assert_eq!(detect(&vdi), Some(Container::Vdi));
        assert_eq!(detect(&[0u8; 512]), None);
        assert_eq!(detect(b""), None);
    }
}
