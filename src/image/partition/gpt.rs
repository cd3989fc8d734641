//! The GUID partition table: reading either copy of the header and entry array, and writing
//! both copies behind a protective MBR.
//!
//! The primary header sits at sector 1 with its entries after it; the backup entries and
//! header end the disk. Reading trusts the primary when its header and entry checksums hold
//! and falls back to the backup (with a warning) when they do not; the header checks
//! themselves live in `gpt_header`. Writing always produces the standard shape: 128 entries
//! of 128 bytes, usable sectors from 34 to the 34th sector from the end.

use std::fs::File;

use super::gpt_header::{Header, MIN_ENTRY_SIZE, TableCopy};
use super::layout::{
    Extent, SECTOR_SIZE, check_extents, check_sector_multiple, field, le_u64, put,
};
use super::mbr::protective_mbr;
use super::table::write_sectors;
use super::{
    Guid, Partition, PartitionError, PartitionKind, PartitionTable, TableKind, TableWarning,
};
use crate::image::io::ReadAt;

const ENTRY_SIZE: usize = MIN_ENTRY_SIZE as usize;
const NAME_UNITS: usize = 36;
/// The attribute bit UEFI calls "legacy BIOS bootable".
const LEGACY_BOOTABLE: u64 = 1 << 2;

/// The number of entries (and so of partitions) [`write_gpt`] writes.
pub const GPT_MAX_PARTITIONS: usize = 128;

/// Sectors taken by the written entry array: 128 entries of 128 bytes.
const WRITTEN_ARRAY_SECTORS: u64 = (GPT_MAX_PARTITIONS * ENTRY_SIZE) as u64 / SECTOR_SIZE;

/// One partition for [`write_gpt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptPartitionSpec {
    /// Offset of the first byte; a multiple of 512.
    pub start: u64,
    /// Length in bytes; a multiple of 512.
    pub size: u64,
    /// The partition type.
    pub type_guid: Guid,
    /// The unique partition GUID, which Linux shows as the PARTUUID.
    pub unique_guid: Guid,
    /// The partition name (PARTLABEL), at most 36 UTF-16 units.
    pub name: String,
}

/// Reads the GPT of `src`, from the primary copy or, if that is unusable, the backup.
pub(crate) fn read<R: ReadAt + ?Sized>(src: &R) -> Result<PartitionTable, PartitionError> {
    let last_lba = (src.size() / SECTOR_SIZE).saturating_sub(1);
    match Header::read(src, TableCopy::Primary, 1) {
        Ok((header, entries)) => {
            let mut warnings = Vec::new();
            if let Some(reason) = backup_problem(src, &header, last_lba) {
                warnings.push(TableWarning::BackupGptDamaged { reason });
            }
            to_table(&header, &entries, src.size(), warnings)
        }
        Err(primary) => match Header::read(src, TableCopy::Backup, last_lba) {
            Ok((header, entries)) => {
                let warnings = vec![TableWarning::PrimaryGptDamaged {
                    reason: primary.to_string(),
                }];
                to_table(&header, &entries, src.size(), warnings)
            }
            Err(backup) => Err(PartitionError::BothGptHeadersDamaged {
                primary: Box::new(primary),
                backup: Box::new(backup),
            }),
        },
    }
}

/// Why the backup of a good primary is not a faithful copy at the end of the disk, if it isn't.
fn backup_problem<R: ReadAt + ?Sized>(src: &R, primary: &Header, last_lba: u64) -> Option<String> {
    if primary.alternate_lba != last_lba {
        return Some(format!(
            "the primary header places it at sector {}, not at the last sector {last_lba}",
            primary.alternate_lba
        ));
    }
    match Header::read(src, TableCopy::Backup, last_lba) {
        Err(err) => Some(err.to_string()),
        Ok((backup, _)) => {
            let same = backup.disk_guid == primary.disk_guid
                && backup.first_usable == primary.first_usable
                && backup.last_usable == primary.last_usable
                && backup.entries_crc == primary.entries_crc;
            (!same).then(|| "it does not describe the same partitions as the primary".to_owned())
        }
    }
}

/// The common view of a checked header and entry array on a disk of `disk_size` bytes.
fn to_table(
    header: &Header,
    entries: &[u8],
    disk_size: u64,
    warnings: Vec<TableWarning>,
) -> Result<PartitionTable, PartitionError> {
    let mut partitions = Vec::new();
    // The entry size was checked to be at least 128 and at most the array cap.
    let entry_size = usize::try_from(header.entry_size).unwrap_or(ENTRY_SIZE);
    for (number, entry) in (1u32..).zip(entries.chunks_exact(entry_size)) {
        let type_guid = Guid::from_bytes(field(entry, 0));
        if type_guid.is_nil() {
            continue;
        }
        let first_lba = le_u64(entry, 32);
        let last_lba = le_u64(entry, 40);
        if last_lba < first_lba {
            return Err(PartitionError::EndsBeforeStart {
                number,
                first_lba,
                last_lba,
            });
        }
        let past_end = PartitionError::PastEnd {
            number,
            end: u64::MAX,
            disk_size,
        };
        let start = first_lba.checked_mul(SECTOR_SIZE);
        let size = (last_lba - first_lba)
            .checked_add(1)
            .and_then(|n| n.checked_mul(SECTOR_SIZE));
        let (Some(start), Some(size)) = (start, size) else {
            return Err(past_end);
        };
        let units: Vec<u16> = entry
            .get(56..56 + 2 * NAME_UNITS)
            .unwrap_or_default()
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes(field(pair, 0)))
            .take_while(|&unit| unit != 0)
            .collect();
        let unique_guid = Guid::from_bytes(field(entry, 16));
        partitions.push(Partition {
            number,
            start,
            size,
            kind: PartitionKind::GptType(type_guid),
            bootable: le_u64(entry, 48) & LEGACY_BOOTABLE != 0,
            partuuid: unique_guid.to_string(),
            name: String::from_utf16_lossy(&units),
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
    check_extents(
        &extents,
        header.first_usable.saturating_mul(SECTOR_SIZE),
        header
            .last_usable
            .saturating_add(1)
            .saturating_mul(SECTOR_SIZE),
        disk_size,
    )?;
    Ok(PartitionTable {
        kind: TableKind::Gpt {
            disk_guid: header.disk_guid,
        },
        partitions,
        warnings,
    })
}

/// Writes a protective MBR and both copies of a GPT describing `partitions` (numbered from 1
/// in order) into `out`.
///
/// `out` must already be `disk_size` bytes long (a sparse file is fine): only the table
/// sectors are written, the first 34 and the last 33. Every GUID comes from the caller, so the
/// same arguments give the same bytes. Refuses more than 128 partitions, starts and sizes that
/// are not multiples of 512, nil types, nil or repeated unique GUIDs, names over 36 UTF-16
/// units, partitions outside the usable sectors and overlaps.
pub fn write_gpt(
    out: &File,
    disk_size: u64,
    disk_guid: Guid,
    partitions: &[GptPartitionSpec],
) -> Result<(), PartitionError> {
    let sectors = encode_gpt(disk_size, disk_guid, partitions)?;
    write_sectors(out, disk_size, &sectors.pieces())
}

/// Everything [`write_gpt`] writes, and where.
pub(crate) struct GptSectors {
    protective: [u8; 512],
    primary_header: [u8; 512],
    entries: Vec<u8>,
    backup_header: [u8; 512],
    last_lba: u64,
}

impl GptSectors {
    /// (byte offset, bytes) of each piece, in disk order.
    pub(crate) fn pieces(&self) -> [(u64, &[u8]); 5] {
        let backup_entries_lba = self.last_lba - WRITTEN_ARRAY_SECTORS;
        [
            (0, &self.protective),
            (SECTOR_SIZE, &self.primary_header),
            (2 * SECTOR_SIZE, &self.entries),
            (backup_entries_lba * SECTOR_SIZE, &self.entries),
            (self.last_lba * SECTOR_SIZE, &self.backup_header),
        ]
    }
}

/// The sectors for [`write_gpt`], after all its checks.
pub(crate) fn encode_gpt(
    disk_size: u64,
    disk_guid: Guid,
    partitions: &[GptPartitionSpec],
) -> Result<GptSectors, PartitionError> {
    let disk_sectors = disk_size / SECTOR_SIZE;
    // Header and entries at both ends, and at least one usable sector between them.
    let min_sectors = 2 * (1 + WRITTEN_ARRAY_SECTORS) + 2;
    if !disk_size.is_multiple_of(SECTOR_SIZE) || disk_sectors < min_sectors {
        return Err(PartitionError::BadDiskSize {
            size: disk_size,
            reason: "a GPT disk must be a whole number of 512-byte sectors, at least 68",
        });
    }
    if partitions.len() > GPT_MAX_PARTITIONS {
        return Err(PartitionError::TooManyPartitions {
            count: partitions.len(),
            max: GPT_MAX_PARTITIONS,
        });
    }
    let last_lba = disk_sectors - 1;
    let first_usable = 2 + WRITTEN_ARRAY_SECTORS;
    let last_usable = last_lba - WRITTEN_ARRAY_SECTORS - 1;

    let mut extents = Vec::with_capacity(partitions.len());
    let mut entries = vec![0u8; GPT_MAX_PARTITIONS * ENTRY_SIZE];
    for ((number, spec), index) in (1u32..).zip(partitions).zip(0usize..) {
        check_sector_multiple(number, "start", spec.start)?;
        check_sector_multiple(number, "size", spec.size)?;
        if spec.type_guid.is_nil() {
            return Err(PartitionError::EmptyType { number });
        }
        let repeated = partitions
            .get(..index)
            .unwrap_or_default()
            .iter()
            .any(|earlier| earlier.unique_guid == spec.unique_guid);
        if spec.unique_guid.is_nil() || repeated {
            return Err(PartitionError::BadUniqueGuid {
                number,
                guid: spec.unique_guid,
            });
        }
        let name: Vec<u16> = spec.name.encode_utf16().collect();
        if name.len() > NAME_UNITS {
            return Err(PartitionError::NameTooLong {
                number,
                name: spec.name.clone(),
            });
        }
        extents.push(Extent {
            number,
            start: spec.start,
            size: spec.size,
        });
        let mut entry = [0u8; ENTRY_SIZE];
        put(&mut entry, 0, &spec.type_guid.to_bytes());
        put(&mut entry, 16, &spec.unique_guid.to_bytes());
        // The end may not be valid yet; it is checked with the other extents below.
        let first = spec.start / SECTOR_SIZE;
        let last = (spec.start.saturating_add(spec.size) / SECTOR_SIZE).saturating_sub(1);
        put(&mut entry, 32, &first.to_le_bytes());
        put(&mut entry, 40, &last.to_le_bytes());
        for (i, unit) in name.iter().enumerate() {
            put(&mut entry, 56 + 2 * i, &unit.to_le_bytes());
        }
        put(&mut entries, index * ENTRY_SIZE, &entry);
    }
    check_extents(
        &extents,
        first_usable * SECTOR_SIZE,
        (last_usable + 1) * SECTOR_SIZE,
        disk_size,
    )?;

    let primary = Header {
        my_lba: 1,
        alternate_lba: last_lba,
        first_usable,
        last_usable,
        disk_guid,
        entries_lba: 2,
        entry_count: GPT_MAX_PARTITIONS as u32,
        entry_size: MIN_ENTRY_SIZE,
        entries_crc: crc32fast::hash(&entries),
    };
    let backup = Header {
        my_lba: last_lba,
        alternate_lba: 1,
        entries_lba: last_lba - WRITTEN_ARRAY_SECTORS,
        ..primary.clone()
    };
    Ok(GptSectors {
        protective: protective_mbr(disk_sectors),
        primary_header: primary.encode(),
        entries,
        backup_header: backup.encode(),
        last_lba,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::partition::gpt_header::header_crc;
    use crate::image::partition::{GPT_EFI_SYSTEM, GPT_LINUX_ROOT_ARM64};

    const DISK: u64 = 8 << 20;

    fn guid(text: &str) -> Guid {
        text.parse().unwrap()
    }

    fn specs() -> Vec<GptPartitionSpec> {
        vec![
            GptPartitionSpec {
                start: 1 << 20,
                size: 2 << 20,
                type_guid: GPT_EFI_SYSTEM,
                unique_guid: guid("aaaaaaaa-2222-3333-4444-555555555555"),
                name: "boot".into(),
            },
            GptPartitionSpec {
                start: 3 << 20,
                size: DISK - (3 << 20) - 33 * 512,
                type_guid: GPT_LINUX_ROOT_ARM64,
                unique_guid: guid("bbbbbbbb-2222-3333-4444-555555555555"),
                name: "root ☃".into(),
            },
        ]
    }

    fn image(specs: &[GptPartitionSpec]) -> Vec<u8> {
        let disk_guid = guid("11111111-2222-3333-4444-555555555555");
        let sectors = encode_gpt(DISK, disk_guid, specs).unwrap();
        let mut img = vec![0u8; DISK as usize];
        for (offset, bytes) in sectors.pieces() {
            put(&mut img, offset as usize, bytes);
        }
        img
    }

    #[test]
    fn encoded_table_reads_back() {
        let table = crate::image::partition::read(&image(&specs())).unwrap();
        assert_eq!(
            table.kind,
            TableKind::Gpt {
                disk_guid: guid("11111111-2222-3333-4444-555555555555")
            }
        );
        assert!(table.warnings.is_empty(), "{:?}", table.warnings);
        let p = &table.partitions;
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].partuuid, "aaaaaaaa-2222-3333-4444-555555555555");
        assert_eq!(p[0].name, "boot");
        assert_eq!(p[1].name, "root ☃");
        assert_eq!(p[1].kind, PartitionKind::GptType(GPT_LINUX_ROOT_ARM64));
        assert_eq!(p[1].end(), DISK - 33 * 512);
    }

    #[test]
    fn damaged_primary_falls_back_to_backup() {
        let mut img = image(&specs());
        img[512 + 30] ^= 0x01;
        let table = crate::image::partition::read(&img).unwrap();
        assert_eq!(table.partitions.len(), 2);
        let [TableWarning::PrimaryGptDamaged { reason }] = table.warnings.as_slice() else {
            panic!("expected one primary warning, got {:?}", table.warnings);
        };
        assert!(reason.contains("CRC32"), "{reason}");
    }

    #[test]
    fn damaged_backup_is_reported_with_the_primary_used() {
        let mut img = image(&specs());
        let last = img.len() - 512;
        img[last] = b'X';
        let table = crate::image::partition::read(&img).unwrap();
        assert!(matches!(
            table.warnings.as_slice(),
            [TableWarning::BackupGptDamaged { .. }]
        ));
    }

    #[test]
    fn both_copies_damaged_is_an_error() {
        let mut img = image(&specs());
        img[512 + 30] ^= 0x01;
        // An entry of the backup array: its CRC no longer holds.
        let backup_entries = img.len() - 33 * 512;
        img[backup_entries + 40] ^= 0x01;
        let err = crate::image::partition::read(&img).unwrap_err();
        assert!(
            matches!(err, PartitionError::BothGptHeadersDamaged { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("entry array CRC32"), "{err}");
    }

    /// Rewrites the primary header's field at `at` and fixes the header CRC, so only the
    /// field's own check can refuse it.
    fn set_primary_field(img: &mut [u8], at: usize, value: &[u8]) {
        put(img, 512 + at, value);
        let crc = header_crc(&img[512..512 + 92]);
        put(img, 512 + 16, &crc.to_le_bytes());
    }

    #[test]
    fn absurd_entry_count_is_refused_without_allocating() {
        let mut img = image(&specs());
        set_primary_field(&mut img, 80, &u32::MAX.to_le_bytes());
        let table = crate::image::partition::read(&img).unwrap();
        let [TableWarning::PrimaryGptDamaged { reason }] = table.warnings.as_slice() else {
            panic!("{:?}", table.warnings);
        };
        assert!(reason.contains("4294967295 entries"), "{reason}");
    }

    #[test]
    fn overlapping_entries_are_refused() {
        let mut s = specs();
        s[1].start = 2 << 20;
        s[1].size = 1 << 20;
        assert!(matches!(
            encode_gpt(DISK, Guid::NIL, &s),
            Err(PartitionError::Overlap {
                first: 1,
                second: 2,
                ..
            })
        ));
        // Bypass the writer's checks to see the reader's.
        let mut img = image(&specs());
        let entries = 2 * 512;
        put(&mut img, entries + 128 + 32, &(4096u64).to_le_bytes());
        let crc = crc32fast::hash(&img[entries..entries + 128 * 128]);
        set_primary_field(&mut img, 88, &crc.to_le_bytes());
        let err = crate::image::partition::read(&img).unwrap_err();
        assert!(
            matches!(
                err,
                PartitionError::Overlap {
                    first: 1,
                    second: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn writer_refuses_bad_specs() {
        let mut s = specs();
        s[1].unique_guid = s[0].unique_guid;
        assert!(matches!(
            encode_gpt(DISK, Guid::NIL, &s),
            Err(PartitionError::BadUniqueGuid { number: 2, .. })
        ));
        let mut s = specs();
        s[0].name = "x".repeat(37);
        assert!(matches!(
            encode_gpt(DISK, Guid::NIL, &s),
            Err(PartitionError::NameTooLong { number: 1, .. })
        ));
        let mut s = specs();
        s[1].size += 512;
        assert!(matches!(
            encode_gpt(DISK, Guid::NIL, &s),
            Err(PartitionError::OutsideUsable { number: 2, .. })
        ));
        let mut s = specs();
        s[0].start = 33 * 512;
        assert!(matches!(
            encode_gpt(DISK, Guid::NIL, &s),
            Err(PartitionError::OutsideUsable { number: 1, .. })
        ));
        let mut s = specs();
        s[0].type_guid = Guid::NIL;
        assert!(matches!(
            encode_gpt(DISK, Guid::NIL, &s),
            Err(PartitionError::EmptyType { number: 1 })
        ));
        assert!(matches!(
            encode_gpt(67 * 512, Guid::NIL, &[]),
            Err(PartitionError::BadDiskSize { .. })
        ));
        let many = vec![specs()[0].clone(); 129];
        assert!(matches!(
            encode_gpt(DISK, Guid::NIL, &many),
            Err(PartitionError::TooManyPartitions { count: 129, .. })
        ));
    }
}
