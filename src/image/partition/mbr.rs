//! The DOS master boot record: reading its four primary entries and writing a new one.
//!
//! Sector 0 holds boot code (left zero when writing), the 32-bit disk id at byte 440, four
//! 16-byte entries at byte 446 and the 0x55 0xaa signature at byte 510. Entries are read by
//! their LBA fields; the CHS fields are ignored when reading and, when writing, filled in for
//! the 255-head, 63-sector geometry `sfdisk` assumes, so that `sfdisk --verify` is silent.
//! Extended partitions are listed but their chain of logical partitions is not followed.

use std::fs::File;

use super::layout::{
    Extent, SECTOR_SIZE, check_extents, check_sector_multiple, field, le_u32, put,
};
use super::table::{read_bytes, write_sectors};
use super::{Partition, PartitionError, PartitionKind, PartitionTable, TableKind, TableWarning};
use crate::image::io::ReadAt;

const DISK_ID_OFFSET: usize = 440;
const ENTRIES_OFFSET: usize = 446;
const ENTRY_SIZE: usize = 16;
const SIGNATURE_OFFSET: usize = 510;
const SIGNATURE: [u8; 2] = [0x55, 0xaa];

/// The four primary entries an MBR can hold.
pub const MBR_MAX_PARTITIONS: usize = 4;

/// One partition for [`write_mbr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbrPartitionSpec {
    /// Offset of the first byte; a multiple of 512.
    pub start: u64,
    /// Length in bytes; a multiple of 512.
    pub size: u64,
    /// The system id byte, e.g. 0x0c or 0x83.
    pub type_byte: u8,
    /// Whether to set the active flag.
    pub bootable: bool,
}

/// One of the four primary entries, as stored.
#[derive(Debug, Clone, Copy)]
struct Entry {
    boot_flag: u8,
    type_byte: u8,
    start_lba: u32,
    sectors: u32,
}

/// A parsed sector 0.
#[derive(Debug, Clone)]
pub(crate) struct Mbr {
    disk_id: u32,
    entries: [Entry; MBR_MAX_PARTITIONS],
}

impl Mbr {
    /// Reads and checks sector 0 of `src`.
    pub(crate) fn read<R: ReadAt + ?Sized>(src: &R) -> Result<Self, PartitionError> {
        if src.size() < SECTOR_SIZE {
            return Err(PartitionError::TooSmall { size: src.size() });
        }
        Self::parse(&read_bytes(src, 0, SECTOR_SIZE)?)
    }

    fn parse(sector: &[u8]) -> Result<Self, PartitionError> {
        if sector.iter().all(|&b| b == 0) {
            return Err(PartitionError::NoPartitionTable);
        }
        let found: [u8; 2] = field(sector, SIGNATURE_OFFSET);
        if found != SIGNATURE {
            return Err(PartitionError::BadMbrSignature { found });
        }
        let mut entries = [Entry {
            boot_flag: 0,
            type_byte: 0,
            start_lba: 0,
            sectors: 0,
        }; MBR_MAX_PARTITIONS];
        for (index, entry) in entries.iter_mut().enumerate() {
            let at = ENTRIES_OFFSET + index * ENTRY_SIZE;
            let raw: [u8; ENTRY_SIZE] = field(sector, at);
            let [boot_flag, _, _, _, type_byte, ..] = raw;
            // Linux rejects other flags too: they mean this is a filesystem boot sector.
            if boot_flag != 0 && boot_flag != 0x80 {
                return Err(PartitionError::NotAnMbr {
                    number: index as u32 + 1,
                    flag: boot_flag,
                });
            }
            *entry = Entry {
                boot_flag,
                type_byte,
                start_lba: le_u32(&raw, 8),
                sectors: le_u32(&raw, 12),
            };
        }
        Ok(Self {
            disk_id: le_u32(sector, DISK_ID_OFFSET),
            entries,
        })
    }

    /// Whether any entry is the 0xee entry that guards a GPT (hybrid MBRs count too, as Linux
    /// counts them).
    pub(crate) fn is_protective(&self) -> bool {
        self.entries.iter().any(|e| e.type_byte == 0xee)
    }

    /// The common view of this MBR on a disk of `disk_size` bytes, validated.
    pub(crate) fn to_table(&self, disk_size: u64) -> Result<PartitionTable, PartitionError> {
        let mut partitions = Vec::new();
        let mut warnings = Vec::new();
        for (index, entry) in self.entries.iter().enumerate() {
            if entry.type_byte == 0 {
                continue;
            }
            let number = index as u32 + 1;
            let kind = PartitionKind::MbrType(entry.type_byte);
            if kind.is_extended() {
                warnings.push(TableWarning::ExtendedNotFollowed { number });
            }
            partitions.push(Partition {
                number,
                start: u64::from(entry.start_lba) * SECTOR_SIZE,
                size: u64::from(entry.sectors) * SECTOR_SIZE,
                kind,
                bootable: entry.boot_flag == 0x80,
                partuuid: format!("{:08x}-{number:02x}", self.disk_id),
                name: String::new(),
            });
        }
        let extents: Vec<Extent> = partitions
            .iter()
            .map(|p| Extent {
                number: p.number,
                start: p.start,
                size: p.size,
            })
            .collect();
        check_extents(&extents, SECTOR_SIZE, disk_size, disk_size)?;
        Ok(PartitionTable {
            kind: TableKind::Mbr {
                disk_id: self.disk_id,
            },
            partitions,
            warnings,
        })
    }
}

/// Writes an MBR describing `partitions` (in order, numbered from 1) into sector 0 of `out`.
///
/// `out` must already be `disk_size` bytes long (a sparse file is fine): only sector 0 is
/// written. Refuses more than four partitions, starts and sizes that are not multiples of 512,
/// empty types, partitions over sector 0 or past `disk_size`, overlaps, and values beyond the
/// 32-bit sector fields. The boot code area is left zero.
pub fn write_mbr(
    out: &File,
    disk_size: u64,
    disk_id: u32,
    partitions: &[MbrPartitionSpec],
) -> Result<(), PartitionError> {
    let sector = encode_mbr(disk_size, disk_id, partitions)?;
    write_sectors(out, disk_size, &[(0, &sector)])
}

/// The bytes of sector 0 for [`write_mbr`], after all its checks.
pub(crate) fn encode_mbr(
    disk_size: u64,
    disk_id: u32,
    partitions: &[MbrPartitionSpec],
) -> Result<[u8; 512], PartitionError> {
    if !disk_size.is_multiple_of(SECTOR_SIZE) || disk_size < 2 * SECTOR_SIZE {
        return Err(PartitionError::BadDiskSize {
            size: disk_size,
            reason: "an MBR disk must be a whole number of 512-byte sectors, at least two",
        });
    }
    if partitions.len() > MBR_MAX_PARTITIONS {
        return Err(PartitionError::TooManyPartitions {
            count: partitions.len(),
            max: MBR_MAX_PARTITIONS,
        });
    }
    let mut extents = Vec::with_capacity(partitions.len());
    for (number, spec) in (1u32..).zip(partitions) {
        check_sector_multiple(number, "start", spec.start)?;
        check_sector_multiple(number, "size", spec.size)?;
        if spec.type_byte == 0 {
            return Err(PartitionError::EmptyType { number });
        }
        extents.push(Extent {
            number,
            start: spec.start,
            size: spec.size,
        });
    }
    check_extents(&extents, SECTOR_SIZE, disk_size, disk_size)?;

    let mut sector = [0u8; 512];
    put(&mut sector, DISK_ID_OFFSET, &disk_id.to_le_bytes());
    for ((number, spec), index) in (1u32..).zip(partitions).zip(0usize..) {
        let start_lba = spec.start / SECTOR_SIZE;
        let sectors = spec.size / SECTOR_SIZE;
        let to_u32 = |what, value: u64| {
            u32::try_from(value).map_err(|_| PartitionError::BeyondMbrRange {
                number,
                what,
                sectors: value,
            })
        };
        let entry = encode_entry(
            if spec.bootable { 0x80 } else { 0 },
            spec.type_byte,
            to_u32("start", start_lba)?,
            to_u32("size", sectors)?,
            chs(start_lba),
            chs(start_lba + sectors - 1),
        );
        put(&mut sector, ENTRIES_OFFSET + index * ENTRY_SIZE, &entry);
    }
    put(&mut sector, SIGNATURE_OFFSET, &SIGNATURE);
    Ok(sector)
}

/// Sector 0 of a GPT disk of `disk_sectors` sectors: one 0xee entry from sector 1 to the end,
/// capped at the largest 32-bit size, with the CHS values `sfdisk` writes.
pub(crate) fn protective_mbr(disk_sectors: u64) -> [u8; 512] {
    let size = u32::try_from(disk_sectors.saturating_sub(1)).unwrap_or(u32::MAX);
    let entry = encode_entry(0, 0xee, 1, size, [0x00, 0x02, 0x00], [0xff, 0xff, 0xff]);
    let mut sector = [0u8; 512];
    put(&mut sector, ENTRIES_OFFSET, &entry);
    put(&mut sector, SIGNATURE_OFFSET, &SIGNATURE);
    sector
}

fn encode_entry(
    boot_flag: u8,
    type_byte: u8,
    start_lba: u32,
    sectors: u32,
    chs_start: [u8; 3],
    chs_end: [u8; 3],
) -> [u8; ENTRY_SIZE] {
    let mut entry = [0u8; ENTRY_SIZE];
    put(&mut entry, 0, &[boot_flag]);
    put(&mut entry, 1, &chs_start);
    put(&mut entry, 4, &[type_byte]);
    put(&mut entry, 5, &chs_end);
    put(&mut entry, 8, &start_lba.to_le_bytes());
    put(&mut entry, 12, &sectors.to_le_bytes());
    entry
}

/// The CHS triple (head, sector | cylinder high bits, cylinder low bits) of `lba` for a
/// 255-head, 63-sector geometry, clamped to cylinder 1023 like libfdisk does.
fn chs(lba: u64) -> [u8; 3] {
    const HEADS: u64 = 255;
    const SECTORS: u64 = 63;
    let lba = lba.min(HEADS * SECTORS * 1024 - 1);
    let sector = lba % SECTORS + 1;
    let head = (lba / SECTORS) % HEADS;
    let cylinder = lba / (SECTORS * HEADS);
    [
        head as u8,
        (sector as u8) | (((cylinder >> 2) & 0xc0) as u8),
        (cylinder & 0xff) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(start: u64, size: u64, type_byte: u8) -> MbrPartitionSpec {
        MbrPartitionSpec {
            start,
            size,
            type_byte,
            bootable: false,
        }
    }

    #[test]
    fn chs_matches_what_sfdisk_writes() {
        // Values read back from sector 0 of images partitioned by sfdisk 2.38.
        assert_eq!(chs(16384), [0x05, 0x05, 0x01]);
        assert_eq!(chs(1064959), [0x4a, 0x08, 0x42]);
        assert_eq!(chs(15624999), [0x9b, 0xf7, 0xcc]);
        assert_eq!(chs(16777216), [0xfe, 0xff, 0xff]);
    }

    #[test]
    fn encoded_sector_parses_back() {
        let disk = 64 << 20;
        let parts = [
            MbrPartitionSpec {
                bootable: true,
                ..spec(4 << 20, 16 << 20, 0x0c)
            },
            spec(20 << 20, 44 << 20, 0x83),
        ];
        let sector = encode_mbr(disk, 0xdeadbeef, &parts).unwrap();
        let table = Mbr::parse(&sector).unwrap().to_table(disk).unwrap();
        assert_eq!(
            table.kind,
            TableKind::Mbr {
                disk_id: 0xdeadbeef
            }
        );
        assert_eq!(table.partitions.len(), 2);
        assert_eq!(table.partitions[0].partuuid, "deadbeef-01");
        assert!(table.partitions[0].bootable);
        assert_eq!(table.partitions[1].start, 20 << 20);
        assert_eq!(table.partitions[1].size, 44 << 20);
        assert_eq!(table.partitions[1].kind, PartitionKind::MbrType(0x83));
    }

    #[test]
    fn writer_refuses_bad_specs() {
        let disk = 64 << 20;
        let five = [spec(1 << 20, 1 << 20, 0x83); 5];
        assert!(matches!(
            encode_mbr(disk, 1, &five),
            Err(PartitionError::TooManyPartitions { count: 5, max: 4 })
        ));
        assert!(matches!(
            encode_mbr(disk, 1, &[spec(1000, 1 << 20, 0x83)]),
            Err(PartitionError::NotSectorMultiple {
                number: 1,
                what: "start",
                value: 1000
            })
        ));
        assert!(matches!(
            encode_mbr(disk, 1, &[spec(1 << 20, 100, 0x83)]),
            Err(PartitionError::NotSectorMultiple {
                number: 1,
                what: "size",
                ..
            })
        ));
        assert!(matches!(
            encode_mbr(disk, 1, &[spec(1 << 20, 1 << 20, 0)]),
            Err(PartitionError::EmptyType { number: 1 })
        ));
        assert!(matches!(
            encode_mbr(disk, 1, &[spec(0, 1 << 20, 0x83)]),
            Err(PartitionError::OutsideUsable { number: 1, .. })
        ));
        assert!(matches!(
            encode_mbr(
                disk,
                1,
                &[spec(1 << 20, 2 << 20, 0x83), spec(2 << 20, 1 << 20, 0x83)]
            ),
            Err(PartitionError::Overlap {
                first: 1,
                second: 2,
                ..
            })
        ));
        let huge = 4 << 40;
        assert!(matches!(
            encode_mbr(huge, 1, &[spec(1 << 20, 3 << 40, 0x83)]),
            Err(PartitionError::BeyondMbrRange {
                number: 1,
                what: "size",
                ..
            })
        ));
        assert!(matches!(
            encode_mbr(1000, 1, &[]),
            Err(PartitionError::BadDiskSize { size: 1000, .. })
        ));
    }

    #[test]
    fn reader_refuses_blank_unsigned_and_boot_sectors() {
        assert!(matches!(
            Mbr::read(&vec![0u8; 100]),
            Err(PartitionError::TooSmall { size: 100 })
        ));
        assert!(matches!(
            Mbr::parse(&[0u8; 512]),
            Err(PartitionError::NoPartitionTable)
        ));
        let mut sector = [0u8; 512];
        sector[0] = 0xeb;
        assert!(matches!(
            Mbr::parse(&sector),
            Err(PartitionError::BadMbrSignature { found: [0, 0] })
        ));
        sector[510] = 0x55;
        sector[511] = 0xaa;
        sector[446 + 16] = 0x29;
        assert!(matches!(
            Mbr::parse(&sector),
            Err(PartitionError::NotAnMbr {
                number: 2,
                flag: 0x29
            })
        ));
    }

    #[test]
    fn extended_partitions_are_listed_with_a_warning() {
        let disk = 64 << 20;
        let sector = encode_mbr(disk, 7, &[spec(1 << 20, 8 << 20, 0x0f)]).unwrap();
        let table = Mbr::parse(&sector).unwrap().to_table(disk).unwrap();
        assert!(table.partitions[0].kind.is_extended());
        assert_eq!(table.partitions[0].kind.to_string(), "0x0f");
        assert_eq!(table.partitions[0].kind.name(), Some("W95 Ext'd (LBA)"));
        assert_eq!(
            table.warnings,
            vec![TableWarning::ExtendedNotFollowed { number: 1 }]
        );
    }
}
