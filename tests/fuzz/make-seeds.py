#!/usr/bin/env python3
"""Writes the seed corpora of the container and archive fuzz targets (tests/fuzz/corpus/<target>/)
from the committed fixtures, so that the seeds are small and can be made again:

    python3 tests/fuzz/make-seeds.py

Containers put their structures megabytes apart and are mostly zeros, so a container seed is a
file set (see fuzz_targets/common/mod.rs): the non-zero 512-byte runs of each file, in file
order up to a budget, then those of its last bytes (a VHD footer, a streamOptimized VMDK's grain
directory and footer, an E01's table and done sections), then a record that gives the file its
length. The partition and archive seeds are built here (MBR with an EBR chain, GPT with its
backup, ZIP with stored, deflated, streamed and ZIP64 members, tar with PAX and GNU long names).
No Ex01 fixture exists (nothing here writes one), so the Ex01 seed,
corpus/ewf/ex01-damaged-from-fuzzing, is an input the fuzzers made (a copy of the one in
tests/fuzz/regressions/), not made here. Only the Python standard library is needed.
"""

import gzip
import io
import os
import struct
import tarfile
import uuid
import zipfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTAINERS = os.path.join(ROOT, "fixtures", "containers")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
MAGIC = b"FZFILES\0"
RUN = 512


def fixture(name):
    with gzip.open(os.path.join(CONTAINERS, name + ".gz"), "rb") as f:
        return f.read()


def runs(data, start, end):
    """(offset, bytes) of the non-zero 512-byte runs of data[start:end], neighbours joined."""
    out = []
    for at in range(start - start % RUN, end, RUN):
        piece = data[at:at + RUN]
        if piece.strip(b"\0"):
            if out and out[-1][0] + len(out[-1][1]) == at:
                out[-1] = (out[-1][0], out[-1][1] + piece)
            else:
                out.append((at, piece))
    return out


def record(index, offset, data):
    return struct.pack("<BQI", index, offset, len(data)) + data


def file_records(index, data, head_budget, tail_len):
    """The records of one file: its non-zero runs in order up to head_budget bytes, the
    non-zero runs of its last tail_len bytes, and its length."""
    tail_start = max(0, len(data) - tail_len)
    out, spent = [], 0
    for offset, piece in runs(data, 0, tail_start):
        if spent >= head_budget:
            break
        piece = piece[:head_budget - spent]
        spent += len(piece)
        out.append(record(index, offset, piece))
    out += [record(index, offset, piece) for offset, piece in runs(data, tail_start, len(data))]
    out.append(record(index, len(data), b""))
    return b"".join(out)


def file_set(*files):
    """files: (index, bytes, head_budget, tail_len)."""
    return MAGIC + b"".join(file_records(*f) for f in files)


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    assert len(data) < 300 << 10, (target, name, len(data))
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def containers():
    for name in ["windows.qcow2", "windows-v2.qcow2", "windows-subclusters.qcow2", "dirty-compressed.qcow2",
                 "dirty-zstd.qcow2", "overlay.qcow2"]:
        write("qcow2", name, file_set((0, fixture(name), 64 << 10, 0)))
    for name in ["windows.vhd", "dirty-fixed.vhd"]:
        write("vhd", name, file_set((0, fixture(name), 64 << 10, 4096)))
    for name, budget in [("windows.vhdx", 64 << 10), ("dirty-fixed.vhdx", 64 << 10), ("kape.vhdx", 64 << 10),
                         ("dirty-log.vhdx", 160 << 10)]:
        write("vhdx", name, file_set((0, fixture(name), budget, 0)))
    for name in ["windows.vmdk", "windows-stream.vmdk"]:
        write("vmdk", name, file_set((0, fixture(name), 64 << 10, 16 << 10)))
    write("vmdk", "child.vmdk", fixture("child.vmdk"))
    # Separate descriptors, their extents renamed to the names the target gives files 1 and 2.
    split = fixture("dirty-split.vmdk").replace(b"dirty-split-s001.vmdk", b"disk-s001.vmdk")
    write("vmdk", "dirty-split.vmdk", file_set((0, split, 4096, 0), (1, fixture("dirty-split-s001.vmdk"), 64 << 10, 0)))
    flat = fixture("dirty-mono.vmdk").replace(b"dirty-mono-flat.vmdk", b"disk-flat.vmdk")
    write("vmdk", "dirty-mono.vmdk", file_set((0, flat, 4096, 0), (2, fixture("dirty-mono-flat.vmdk"), 64 << 10, 0)))
    write("vmdk", "descriptor.txt", split)
    write("ewf", "windows.E01", fixture("windows.E01"))
    write("ewf", "split.E01", file_set((0, fixture("split.E01"), 64 << 10, 8192), (1, fixture("split.E02"), 16 << 10, 8192)))


def crc32(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def boot_sector():
    sector = bytearray(512)
    sector[0:3] = b"\xeb\x52\x90"
    sector[3:11] = b"NTFS    "
    struct.pack_into("<HB", sector, 11, 512, 8)
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def mbr_entry(kind, lba, sectors, active=False):
    return struct.pack("<B3sB3sII", 0x80 if active else 0, b"\0\0\0", kind, b"\0\0\0", lba, sectors)


def mbr_disk():
    """Two primaries (NTFS, active; FAT) and an extended partition with two logical ones."""
    sectors = 256
    disk = bytearray(sectors * 512)
    table = mbr_entry(0x07, 8, 64, True) + mbr_entry(0x0C, 72, 32) + mbr_entry(0x0F, 128, 120) + bytes(16)
    disk[446:512] = table + b"\x55\xaa"
    # EBR chain: each EBR gives its logical partition (relative to the EBR) and the next EBR
    # (relative to the extended partition).
    disk[128 * 512 + 446:128 * 512 + 512] = mbr_entry(0x07, 2, 40) + mbr_entry(0x05, 60, 60) + bytes(32) + b"\x55\xaa"
    disk[188 * 512 + 446:188 * 512 + 512] = mbr_entry(0x07, 2, 50) + bytes(48) + b"\x55\xaa"
    for lba in (8, 130, 190):
        disk[lba * 512:lba * 512 + 512] = boot_sector()
    return bytes(disk)


def gpt_disk():
    """A protective MBR, a GPT of two partitions (basic data, Microsoft reserved) and its backup."""
    sectors = 256
    disk = bytearray(sectors * 512)
    disk[446:512] = mbr_entry(0xEE, 1, sectors - 1) + bytes(48) + b"\x55\xaa"
    basic = uuid.UUID("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7").bytes_le
    reserved = uuid.UUID("E3C9E316-0B5C-4DB8-817D-F92DF00215AE").bytes_le
    entries = bytearray(128 * 128)
    for n, (kind, first, last, name) in enumerate([(reserved, 34, 49, "Microsoft reserved partition"),
                                                    (basic, 50, 200, "Basic data partition")]):
        struct.pack_into("<16s16sQQQ72s", entries, n * 128, kind, uuid.UUID(int=n + 1).bytes_le, first, last, 0,
                         name.encode("utf-16-le"))
    entries = bytes(entries)

    def header(current, backup, entries_lba):
        fields = struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0, current, backup, 34, sectors - 34,
                             uuid.UUID(int=0x5EED).bytes_le, entries_lba, 128, 128, crc32(entries))
        fields = fields[:16] + struct.pack("<I", crc32(fields)) + fields[20:]
        return fields + bytes(512 - len(fields))

    disk[512:1024] = header(1, sectors - 1, 2)
    disk[1024:1024 + len(entries)] = entries
    backup_entries = sectors - 1 - 32
    disk[backup_entries * 512:backup_entries * 512 + len(entries)] = entries
    disk[(sectors - 1) * 512:] = header(sectors - 1, 1, backup_entries)
    disk[50 * 512:51 * 512] = boot_sector()
    return bytes(disk)


def partitions():
    write("partition", "mbr-ebr", mbr_disk())
    write("partition", "gpt", gpt_disk())
    with gzip.open(os.path.join(ROOT, "fixtures", "images", "windows.ntfs.gz"), "rb") as f:
        write("partition", "bare-ntfs", f.read(8192))


HIVE = b"regf" + bytes(range(256)) * 15


def zips():
    name = "C/Windows/System32/config/SYSTEM"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("C/", b"")
        z.writestr(zipfile.ZipInfo(name), HIVE, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("C/Windows/System32/config/SYSTEM.LOG1", HIVE[:1024], compress_type=zipfile.ZIP_STORED)
        z.writestr("uploads/auto/C%3A/Windows/System32/config/SOFTWARE", HIVE, compress_type=zipfile.ZIP_DEFLATED)
    write("zip_index", "members.zip", out.getvalue())

    class Unseekable(io.RawIOBase):
        """Makes zipfile stream its members with data descriptors, as Velociraptor does."""

        def __init__(self):
            self.buffer = bytearray()

        def writable(self):
            return True

        def write(self, data):
            self.buffer += data
            return len(data)

    stream = Unseekable()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as z:
        with z.open(name, "w") as member:
            member.write(HIVE)
    write("zip_index", "streamed.zip", bytes(stream.buffer))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", allowZip64=True) as z:
        with z.open(zipfile.ZipInfo(name), "w", force_zip64=True) as member:
            member.write(HIVE)
    write("zip_index", "zip64.zip", out.getvalue())


def tars():
    def build(fmt, mode="w"):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode=mode, format=fmt) as t:
            for path in ["C/Windows/System32/config/SYSTEM", "deep/" + "long-folder-name/" * 8 + "SOFTWARE"]:
                info = tarfile.TarInfo(path)
                info.size = len(HIVE)
                t.addfile(info, io.BytesIO(HIVE))
            folder = tarfile.TarInfo("C/Windows")
            folder.type = tarfile.DIRTYPE
            t.addfile(folder)
            link = tarfile.TarInfo("C/link")
            link.type = tarfile.SYMTYPE
            link.linkname = "../../etc/passwd"
            t.addfile(link)
        return out.getvalue()

    write("tar_index", "ustar-and-pax.tar", build(tarfile.PAX_FORMAT))
    write("tar_index", "gnu-longname.tar", build(tarfile.GNU_FORMAT))
    write("tar_index", "pax.tar.gz", build(tarfile.PAX_FORMAT, "w:gz"))


if __name__ == "__main__":
    containers()
    partitions()
    zips()
    tars()
