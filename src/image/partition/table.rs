//! The common view of a partition table, whichever format it came from, and [`read`], which
//! finds out which format an image has.
//!
//! The view describes partitions in bytes and carries the identifiers Linux shows (PARTUUID),
//! so callers never deal with MBR or GPT structures. It does not decide layouts.

use super::type_names::{gpt_type_name, mbr_type_name};
use super::{Guid, PartitionError, gpt, mbr};
use crate::image::io::ReadAt;
use std::fmt;

/// A partition table read from an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTable {
    /// The format and its disk identifier.
    pub kind: TableKind,
    /// The partitions in table order (unused entries left out).
    pub partitions: Vec<Partition>,
    /// Things worth telling the user that did not stop the read.
    pub warnings: Vec<TableWarning>,
}

/// The table format and its disk-wide identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// A DOS/MBR table with its 32-bit disk identifier (bytes 440-443).
    Mbr {
        /// The disk identifier, as `sfdisk` shows it after `label-id: 0x`.
        disk_id: u32,
    },
    /// A GUID partition table.
    Gpt {
        /// The disk GUID.
        disk_guid: Guid,
    },
}

/// One partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// 1-based number, as in `/dev/sda1`: the entry's position in the table.
    pub number: u32,
    /// Offset of the first byte from the start of the disk.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
    /// The partition type.
    pub kind: PartitionKind,
    /// MBR: the active flag (0x80). GPT: the "legacy BIOS bootable" attribute (bit 2).
    pub bootable: bool,
    /// The PARTUUID as Linux and blkid print it: `xxxxxxxx-NN` (disk id and partition number
    /// in lowercase hexadecimal) for MBR, the lowercase unique partition GUID for GPT.
    pub partuuid: String,
    /// The GPT partition name; empty for MBR.
    pub name: String,
}

impl Partition {
    /// One past the last byte of the partition.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.size)
    }
}

/// A partition's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKind {
    /// The MBR system id byte.
    MbrType(u8),
    /// The GPT partition type GUID.
    GptType(Guid),
}

impl PartitionKind {
    /// Whether this is an MBR extended partition (0x05, 0x0f, 0x85), a container for logical
    /// partitions that this crate does not follow.
    pub fn is_extended(&self) -> bool {
        matches!(self, PartitionKind::MbrType(0x05 | 0x0f | 0x85))
    }

    /// A human name for the type, if it is one of the few this crate knows.
    pub fn name(&self) -> Option<&'static str> {
        match self {
            PartitionKind::MbrType(byte) => mbr_type_name(*byte),
            PartitionKind::GptType(guid) => gpt_type_name(guid),
        }
    }
}

/// The raw type as `fdisk` shows it: `0x0c` for MBR, the uppercase GUID for GPT.
impl fmt::Display for PartitionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartitionKind::MbrType(byte) => write!(f, "{byte:#04x}"),
            PartitionKind::GptType(guid) => write!(f, "{guid:X}"),
        }
    }
}

/// A problem found while reading that did not prevent reading the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableWarning {
    /// The primary GPT was unusable; the partitions come from the backup at the end of the disk.
    PrimaryGptDamaged {
        /// Why the primary was refused.
        reason: String,
    },
    /// The primary GPT is fine but the backup is missing, damaged or misplaced.
    BackupGptDamaged {
        /// What is wrong with the backup.
        reason: String,
    },
    /// An extended partition whose logical partitions were not read.
    ExtendedNotFollowed {
        /// The extended partition's number.
        number: u32,
    },
}

impl fmt::Display for TableWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableWarning::PrimaryGptDamaged { reason } => write!(
                f,
                "the primary GPT is unusable ({reason}); the partitions were read from the \
                 backup GPT at the end of the disk; rewrite the table to repair it"
            ),
            TableWarning::BackupGptDamaged { reason } => write!(
                f,
                "the backup GPT at the end of the disk is unusable ({reason}); the primary GPT \
                 was used; rewrite the table to repair it"
            ),
            TableWarning::ExtendedNotFollowed { number } => write!(
                f,
                "partition {number} is an extended partition; the logical partitions inside it \
                 are not read"
            ),
        }
    }
}

/// Reads the partition table of `src`: an MBR, or the GPT behind a protective MBR.
///
/// Only 512-byte sectors are supported. Extended MBR partitions are listed (with a warning)
/// but the logical partitions inside them are not read. A damaged primary GPT falls back to
/// the backup at the last sector, with a warning.
pub fn read<R: ReadAt + ?Sized>(src: &R) -> Result<PartitionTable, PartitionError> {
    let mbr = mbr::Mbr::read(src)?;
    if mbr.is_protective() {
        gpt::read(src)
    } else {
        mbr.to_table(src.size())
    }
}

/// Reads `len` bytes at `offset`, naming the place in the error.
pub(crate) fn read_bytes<R: ReadAt + ?Sized>(
    src: &R,
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, PartitionError> {
    let err = |source| PartitionError::Read {
        offset,
        len,
        source,
    };
    let fits = offset.checked_add(len).is_some_and(|end| end <= src.size());
    let size = usize::try_from(len).ok().filter(|_| fits).ok_or_else(|| {
        err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the image ends at byte {}", src.size()),
        ))
    })?;
    let mut buf = vec![0u8; size];
    src.read_exact_at(&mut buf, offset).map_err(err)?;
    Ok(buf)
}

/// Writes table sectors at their byte offsets into `out`, which must already be at least
/// `disk_size` bytes long so that nothing but these sectors is written (the file stays sparse).
pub(crate) fn write_sectors(
    out: &std::fs::File,
    disk_size: u64,
    pieces: &[(u64, &[u8])],
) -> Result<(), PartitionError> {
    use std::os::unix::fs::FileExt;
    let file_len = out
        .metadata()
        .map_err(|source| PartitionError::Write {
            offset: 0,
            len: 0,
            source,
        })?
        .len();
    if file_len < disk_size {
        return Err(PartitionError::FileTooShort {
            file_len,
            disk_size,
        });
    }
    for (offset, bytes) in pieces {
        out.write_all_at(bytes, *offset)
            .map_err(|source| PartitionError::Write {
                offset: *offset,
                len: bytes.len() as u64,
                source,
            })?;
    }
    Ok(())
}
