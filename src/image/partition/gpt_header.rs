//! The GPT header: where the table lives, how many entries it has, and the checksums that
//! guard them. One header sits at sector 1, its backup at the last sector.
//!
//! Reading checks everything a header claims before trusting it (signature, revision, size,
//! CRC32, its own location, the usable range, the entry size and the entry array's place and
//! checksum), so a damaged copy is refused whole and the caller can try the other one. The
//! entry array is capped at [`MAX_ENTRY_ARRAY_BYTES`], far above the 16 KiB every partitioning
//! tool writes, so a hostile header cannot make the reader allocate much. Turning entries into
//! partitions is the job of the `gpt` module, not this one.

use super::layout::{SECTOR_SIZE, field, le_u32, le_u64, put};
use super::table::read_bytes;
use super::{GptHeaderProblem, Guid, PartitionError};
use crate::image::io::ReadAt;

const SIGNATURE: [u8; 8] = *b"EFI PART";
const REVISION_1_0: u32 = 0x0001_0000;
const MIN_HEADER_SIZE: u32 = 92;
/// The smallest entry size UEFI allows, and the size every tool writes.
pub(crate) const MIN_ENTRY_SIZE: u32 = 128;

/// The largest entry array the reader accepts: 1 MiB, 8192 entries of 128 bytes. UEFI sets no
/// upper bound; tools write 16 KiB.
pub const MAX_ENTRY_ARRAY_BYTES: u64 = 1 << 20;

/// Which of the two copies of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableCopy {
    /// The header at sector 1.
    Primary,
    /// The header at the last sector.
    Backup,
}

impl TableCopy {
    fn name(self) -> &'static str {
        match self {
            TableCopy::Primary => "primary",
            TableCopy::Backup => "backup",
        }
    }
}

/// The fields of a GPT header (revision and size are implied: 1.0 and 92 bytes when written).
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub my_lba: u64,
    pub alternate_lba: u64,
    pub first_usable: u64,
    pub last_usable: u64,
    pub disk_guid: Guid,
    pub entries_lba: u64,
    pub entry_count: u32,
    pub entry_size: u32,
    pub entries_crc: u32,
}

impl Header {
    /// Reads and checks the header at sector `lba` and the entry array it describes.
    pub(crate) fn read<R: ReadAt + ?Sized>(
        src: &R,
        which: TableCopy,
        lba: u64,
    ) -> Result<(Header, Vec<u8>), PartitionError> {
        let bad = |problem| PartitionError::BadGptHeader {
            which: which.name(),
            lba,
            problem,
        };
        let offset = lba
            .checked_mul(SECTOR_SIZE)
            .ok_or_else(|| PartitionError::Read {
                offset: u64::MAX,
                len: SECTOR_SIZE,
                source: std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
            })?;
        let sector = read_bytes(src, offset, SECTOR_SIZE)?;

        let signature: [u8; 8] = field(&sector, 0);
        if signature != SIGNATURE {
            return Err(bad(GptHeaderProblem::Signature { found: signature }));
        }
        let revision = le_u32(&sector, 8);
        if revision >> 16 != REVISION_1_0 >> 16 {
            return Err(bad(GptHeaderProblem::Revision { found: revision }));
        }
        let header_size = le_u32(&sector, 12);
        let covered = usize::try_from(header_size)
            .ok()
            .filter(|_| header_size >= MIN_HEADER_SIZE)
            .and_then(|n| sector.get(..n))
            .ok_or_else(|| bad(GptHeaderProblem::HeaderSize { found: header_size }))?;
        let stored = le_u32(&sector, 16);
        let computed = header_crc(covered);
        if stored != computed {
            return Err(bad(GptHeaderProblem::HeaderCrc { stored, computed }));
        }
        let my_lba = le_u64(&sector, 24);
        if my_lba != lba {
            return Err(bad(GptHeaderProblem::MyLba {
                found: my_lba,
                expected: lba,
            }));
        }
        let header = Header {
            my_lba,
            alternate_lba: le_u64(&sector, 32),
            first_usable: le_u64(&sector, 40),
            last_usable: le_u64(&sector, 48),
            disk_guid: Guid::from_bytes(field(&sector, 56)),
            entries_lba: le_u64(&sector, 72),
            entry_count: le_u32(&sector, 80),
            entry_size: le_u32(&sector, 84),
            entries_crc: le_u32(&sector, 88),
        };
        let entries_lba = header.entries_lba;
        let entry_count = header.entry_count;

        let usable_ok = header.first_usable <= header.last_usable
            && match which {
                TableCopy::Primary => header.first_usable > my_lba,
                TableCopy::Backup => header.last_usable < my_lba,
            };
        if !usable_ok {
            return Err(bad(GptHeaderProblem::UsableRange {
                first: header.first_usable,
                last: header.last_usable,
            }));
        }
        let entry_size = header.entry_size;
        if entry_size < MIN_ENTRY_SIZE || !entry_size.is_power_of_two() {
            return Err(bad(GptHeaderProblem::EntrySize { found: entry_size }));
        }
        let bytes = u64::from(entry_count) * u64::from(entry_size);
        if bytes > MAX_ENTRY_ARRAY_BYTES {
            return Err(bad(GptHeaderProblem::EntryArrayTooLarge {
                count: entry_count,
                entry_size,
                max: MAX_ENTRY_ARRAY_BYTES,
            }));
        }
        let end_lba = entries_lba.checked_add(bytes.div_ceil(SECTOR_SIZE));
        let placed = match which {
            TableCopy::Primary => {
                entries_lba > my_lba && end_lba.is_some_and(|e| e <= header.first_usable)
            }
            TableCopy::Backup => {
                entries_lba > header.last_usable && end_lba.is_some_and(|e| e <= my_lba)
            }
        };
        let within_image = end_lba
            .and_then(|e| e.checked_mul(SECTOR_SIZE))
            .is_some_and(|e| e <= src.size());
        if !placed || !within_image {
            return Err(bad(GptHeaderProblem::EntriesMisplaced {
                entries_lba,
                bytes,
            }));
        }
        // Placement was checked against the image size, so this multiplication cannot overflow.
        let entries = read_bytes(src, entries_lba * SECTOR_SIZE, bytes)?;
        let computed = crc32fast::hash(&entries);
        if computed != header.entries_crc {
            return Err(bad(GptHeaderProblem::EntriesCrc {
                stored: header.entries_crc,
                computed,
            }));
        }
        Ok((header, entries))
    }

    /// The header's sector, with its CRC32, in the standard 92-byte form.
    pub(crate) fn encode(&self) -> [u8; 512] {
        let mut sector = [0u8; 512];
        put(&mut sector, 0, &SIGNATURE);
        put(&mut sector, 8, &REVISION_1_0.to_le_bytes());
        put(&mut sector, 12, &MIN_HEADER_SIZE.to_le_bytes());
        put(&mut sector, 24, &self.my_lba.to_le_bytes());
        put(&mut sector, 32, &self.alternate_lba.to_le_bytes());
        put(&mut sector, 40, &self.first_usable.to_le_bytes());
        put(&mut sector, 48, &self.last_usable.to_le_bytes());
        put(&mut sector, 56, &self.disk_guid.to_bytes());
        put(&mut sector, 72, &self.entries_lba.to_le_bytes());
        put(&mut sector, 80, &self.entry_count.to_le_bytes());
        put(&mut sector, 84, &self.entry_size.to_le_bytes());
        put(&mut sector, 88, &self.entries_crc.to_le_bytes());
        let crc = header_crc(sector.get(..MIN_HEADER_SIZE as usize).unwrap_or_default());
        put(&mut sector, 16, &crc.to_le_bytes());
        sector
    }
}

/// The CRC32 of a header with its own checksum field taken as zero.
pub(crate) fn header_crc(header: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header.get(..16).unwrap_or_default());
    hasher.update(&[0; 4]);
    hasher.update(header.get(20..).unwrap_or_default());
    hasher.finalize()
}
