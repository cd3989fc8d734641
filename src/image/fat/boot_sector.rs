//! The boot sector (BIOS parameter block) and the FAT32 FSInfo sector.
//!
//! Parsing validates the geometry as Microsoft's FAT specification describes and decides
//! FAT12/16/32 from the cluster count alone, never from the type string. Encoding writes
//! the FAT32 boot sector and FSInfo sector of our writer. Neither reads the FAT or any
//! directory.

use super::FatError;

/// The FAT variant, decided by the number of data clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatType {
    /// Fewer than 4085 clusters, 12-bit FAT entries.
    Fat12,
    /// Fewer than 65525 clusters, 16-bit FAT entries.
    Fat16,
    /// 65525 clusters or more, 28-bit FAT entries.
    Fat32,
}

/// The fewest clusters a FAT16 volume has.
pub const MIN_FAT16_CLUSTERS: u32 = 4085;
/// The fewest clusters a FAT32 volume has.
pub const MIN_FAT32_CLUSTERS: u32 = 65_525;
/// The most clusters a FAT32 volume can address (entries up to 0x0FFFFFF6 are clusters).
pub const MAX_FAT32_CLUSTERS: u32 = 0x0FFF_FFF5;

/// The validated geometry of a FAT volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootSector {
    /// Bytes per sector (512 to 4096).
    pub bytes_per_sector: u32,
    /// Sectors per cluster (a power of two up to 128).
    pub sectors_per_cluster: u32,
    /// Sectors before the first FAT.
    pub reserved_sectors: u32,
    /// Copies of the FAT.
    pub fat_count: u32,
    /// Entries of the fixed root directory (0 on FAT32).
    pub root_entries: u32,
    /// Sectors in the volume.
    pub total_sectors: u32,
    /// Sectors per FAT copy.
    pub fat_sectors: u32,
    /// First cluster of the root directory (FAT32 only, else 0).
    pub root_cluster: u32,
    /// Number of data clusters.
    pub cluster_count: u32,
    /// The FAT variant.
    pub fat_type: FatType,
    /// The volume serial number, if the extended BPB is present.
    pub volume_id: Option<u32>,
    /// The label field of the extended BPB, if present.
    pub label: Option<[u8; 11]>,
}

fn le16(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 2)
        .map_or(0, |s| u32::from(u16::from_le_bytes([s[0], s[1]])))
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn bad(msg: String) -> FatError {
    FatError::BadBootSector(msg)
}

impl BootSector {
    /// Parses and validates the first 512 bytes of a volume of `source_size` bytes.
    pub fn parse(b: &[u8; 512], source_size: u64) -> Result<Self, FatError> {
        let bytes_per_sector = le16(b, 11);
        if !(512..=4096).contains(&bytes_per_sector) || !bytes_per_sector.is_power_of_two() {
            return Err(bad(format!(
                "bytes per sector is {bytes_per_sector}, not a power of two from 512 to 4096"
            )));
        }
        let sectors_per_cluster = u32::from(b[13]);
        if sectors_per_cluster == 0 || !sectors_per_cluster.is_power_of_two() {
            return Err(bad(format!(
                "sectors per cluster is {sectors_per_cluster}, not a power of two"
            )));
        }
        let reserved_sectors = le16(b, 14);
        if reserved_sectors == 0 {
            return Err(bad("the reserved sector count is 0".into()));
        }
        let fat_count = u32::from(b[16]);
        if fat_count == 0 {
            return Err(bad("the number of FATs is 0".into()));
        }
        let root_entries = le16(b, 17);
        let total_sectors = match le16(b, 19) {
            0 => le32(b, 32),
            n => n,
        };
        if total_sectors == 0 {
            return Err(bad("the total sector count is 0".into()));
        }
        let fat_sectors = match le16(b, 22) {
            0 => le32(b, 36),
            n => n,
        };
        if fat_sectors == 0 {
            return Err(bad("the FAT size is 0 sectors".into()));
        }
        let bps = u64::from(bytes_per_sector);
        let claimed = u64::from(total_sectors) * bps;
        if claimed > source_size {
            return Err(FatError::Truncated {
                claimed,
                available: source_size,
            });
        }
        let root_dir_sectors = (u64::from(root_entries) * 32).div_ceil(bps);
        let meta = u64::from(reserved_sectors)
            + u64::from(fat_count) * u64::from(fat_sectors)
            + root_dir_sectors;
        let data_sectors = u64::from(total_sectors).checked_sub(meta).ok_or_else(|| {
            bad(format!(
                "reserved sectors, FATs and root directory ({meta} sectors) exceed the volume ({total_sectors} sectors)"
            ))
        })?;
        // total_sectors is a u32, so the quotient fits.
        let cluster_count = (data_sectors / u64::from(sectors_per_cluster)) as u32;
        let fat_type = if cluster_count < MIN_FAT16_CLUSTERS {
            FatType::Fat12
        } else if cluster_count < MIN_FAT32_CLUSTERS {
            FatType::Fat16
        } else {
            FatType::Fat32
        };
        let entry_bits: u64 = match fat_type {
            FatType::Fat12 => {
                return Err(FatError::Fat12Unsupported {
                    clusters: cluster_count,
                });
            }
            FatType::Fat16 => 16,
            FatType::Fat32 => 32,
        };
        if cluster_count > MAX_FAT32_CLUSTERS {
            return Err(bad(format!(
                "{cluster_count} clusters are more than FAT32 can address"
            )));
        }
        let fat_bytes_needed = (u64::from(cluster_count) + 2) * entry_bits / 8;
        if u64::from(fat_sectors) * bps < fat_bytes_needed {
            return Err(bad(format!(
                "the FAT of {fat_sectors} sectors is too small for {cluster_count} clusters"
            )));
        }
        let (root_cluster, ext_at) = match fat_type {
            FatType::Fat32 => {
                if root_entries != 0 {
                    return Err(bad(format!(
                        "a FAT32 volume has {root_entries} fixed root directory entries instead of 0"
                    )));
                }
                let root = le32(b, 44) & 0x0FFF_FFFF;
                if root < 2 || root - 2 >= cluster_count {
                    return Err(bad(format!(
                        "the root directory cluster {root} lies outside the data area"
                    )));
                }
                (root, 64)
            }
            _ => {
                if root_entries == 0 {
                    return Err(bad(format!(
                        "the boot sector is laid out as FAT32 but has only {cluster_count} clusters, too few for FAT32 by the FAT specification"
                    )));
                }
                (0, 36)
            }
        };
        // The extended BPB: signature 0x29 has id and label, 0x28 only the id.
        let (volume_id, label) = match b[ext_at + 2] {
            0x29 => {
                let mut label = [0u8; 11];
                label.copy_from_slice(&b[ext_at + 7..ext_at + 18]);
                (Some(le32(b, ext_at + 3)), Some(label))
            }
            0x28 => (Some(le32(b, ext_at + 3)), None),
            _ => (None, None),
        };
        Ok(Self {
            bytes_per_sector,
            sectors_per_cluster,
            reserved_sectors,
            fat_count,
            root_entries,
            total_sectors,
            fat_sectors,
            root_cluster,
            cluster_count,
            fat_type,
            volume_id,
            label,
        })
    }

    /// Bytes per cluster.
    pub fn cluster_size(&self) -> u32 {
        self.bytes_per_sector * self.sectors_per_cluster
    }

    // Offsets below are products of at most three 32-bit fields (sector counts times a
    // sector size of at most 4096), far below 2^64, so plain arithmetic cannot overflow.

    /// Byte offset of the first FAT.
    pub fn fat_offset(&self) -> u64 {
        u64::from(self.reserved_sectors) * u64::from(self.bytes_per_sector)
    }

    /// Byte offset of the fixed root directory (FAT16); on FAT32 where the data area starts.
    pub fn root_dir_offset(&self) -> u64 {
        self.fat_offset()
            + u64::from(self.fat_count)
                * u64::from(self.fat_sectors)
                * u64::from(self.bytes_per_sector)
    }

    /// Bytes of the fixed root directory (0 on FAT32).
    pub fn root_dir_len(&self) -> u64 {
        (u64::from(self.root_entries) * 32).next_multiple_of(u64::from(self.bytes_per_sector))
    }

    /// Byte offset of cluster 2, the first data cluster.
    pub fn data_offset(&self) -> u64 {
        self.root_dir_offset() + self.root_dir_len()
    }

    /// Byte offset of a data cluster, or `None` if it is not one.
    pub fn cluster_offset(&self, cluster: u32) -> Option<u64> {
        let index = cluster.checked_sub(2).filter(|&i| i < self.cluster_count)?;
        Some(self.data_offset() + u64::from(index) * u64::from(self.cluster_size()))
    }
}

/// The FAT32 boot sector fields our writer chooses.
#[derive(Debug, Clone)]
pub struct Fat32Params {
    /// Sectors in the volume (512-byte sectors).
    pub total_sectors: u32,
    /// Sectors per cluster.
    pub sectors_per_cluster: u8,
    /// Sectors before the first FAT.
    pub reserved_sectors: u16,
    /// Sectors per FAT copy.
    pub fat_sectors: u32,
    /// Sectors before the volume on its disk.
    pub hidden_sectors: u32,
    /// The volume serial number.
    pub volume_id: u32,
    /// The label, padded with spaces.
    pub label: [u8; 11],
}

/// Sector of the FSInfo structure.
pub const FSINFO_SECTOR: u16 = 1;
/// Sector of the backup boot sector.
pub const BACKUP_BOOT_SECTOR: u16 = 6;

/// The FAT32 boot sector for `p`, with a stub that halts instead of booting.
pub fn encode_fat32(p: &Fat32Params) -> [u8; 512] {
    let mut b = [0u8; 512];
    // Jump over the BPB to the halt loop at 0x5A.
    b[..3].copy_from_slice(&[0xEB, 0x58, 0x90]);
    b[3..11].copy_from_slice(b"MSWIN4.1");
    b[11..13].copy_from_slice(&512u16.to_le_bytes());
    b[13] = p.sectors_per_cluster;
    b[14..16].copy_from_slice(&p.reserved_sectors.to_le_bytes());
    b[16] = 2;
    b[21] = 0xF8;
    // A conventional CHS geometry; nothing reads it on LBA media.
    b[24..26].copy_from_slice(&63u16.to_le_bytes());
    b[26..28].copy_from_slice(&255u16.to_le_bytes());
    b[28..32].copy_from_slice(&p.hidden_sectors.to_le_bytes());
    b[32..36].copy_from_slice(&p.total_sectors.to_le_bytes());
    b[36..40].copy_from_slice(&p.fat_sectors.to_le_bytes());
    b[44..48].copy_from_slice(&2u32.to_le_bytes());
    b[48..50].copy_from_slice(&FSINFO_SECTOR.to_le_bytes());
    b[50..52].copy_from_slice(&BACKUP_BOOT_SECTOR.to_le_bytes());
    b[64] = 0x80;
    b[66] = 0x29;
    b[67..71].copy_from_slice(&p.volume_id.to_le_bytes());
    b[71..82].copy_from_slice(&p.label);
    b[82..90].copy_from_slice(b"FAT32   ");
    // cli; hlt; jmp back to hlt: a machine that tries to boot this volume stops quietly.
    b[0x5A..0x5E].copy_from_slice(&[0xFA, 0xF4, 0xEB, 0xFD]);
    b[510] = 0x55;
    b[511] = 0xAA;
    b
}

/// The FSInfo sector with the free cluster count and the next-free hint.
pub fn encode_fsinfo(free_clusters: u32, next_free: u32) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[..4].copy_from_slice(&0x4161_5252u32.to_le_bytes());
    b[484..488].copy_from_slice(&0x6141_7272u32.to_le_bytes());
    b[488..492].copy_from_slice(&free_clusters.to_le_bytes());
    b[492..496].copy_from_slice(&next_free.to_le_bytes());
    b[508..512].copy_from_slice(&0xAA55_0000u32.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Fat32Params {
        Fat32Params {
            total_sectors: 524_288,
            sectors_per_cluster: 1,
            reserved_sectors: 32,
            fat_sectors: 4_096,
            hidden_sectors: 0,
            volume_id: 0x1234_5678,
            label: *b"BOOTFS     ",
        }
    }

    #[test]
    fn encoded_fat32_parses_back() {
        let b = encode_fat32(&params());
        let bs = BootSector::parse(&b, 512 * 524_288).unwrap();
        assert_eq!(bs.fat_type, FatType::Fat32);
        assert_eq!(bs.volume_id, Some(0x1234_5678));
        assert_eq!(bs.label, Some(*b"BOOTFS     "));
        assert_eq!(bs.cluster_count, 524_288 - 32 - 8_192);
        assert_eq!(bs.data_offset(), (32 + 8_192) * 512);
        assert_eq!(bs.cluster_offset(2), Some(bs.data_offset()));
        assert_eq!(bs.cluster_offset(1), None);
        assert_eq!(bs.cluster_offset(bs.cluster_count + 2), None);
    }

    #[test]
    fn bad_geometry_is_refused() {
        let good = encode_fat32(&params());
        let size = 512 * 524_288;
        let mut b = good;
        b[13] = 0;
        assert!(matches!(
            BootSector::parse(&b, size),
            Err(FatError::BadBootSector(_))
        ));
        let mut b = good;
        b[13] = 3;
        assert!(BootSector::parse(&b, size).is_err());
        let mut b = good;
        b[11..13].copy_from_slice(&768u16.to_le_bytes());
        assert!(BootSector::parse(&b, size).is_err());
        let mut b = good;
        b[16] = 0;
        assert!(BootSector::parse(&b, size).is_err());
        let mut b = good;
        b[36..40].copy_from_slice(&10u32.to_le_bytes());
        assert!(BootSector::parse(&b, size).is_err());
        assert!(matches!(
            BootSector::parse(&good, size - 1),
            Err(FatError::Truncated { .. })
        ));
        let mut b = good;
        b[32..36].copy_from_slice(&4_000u32.to_le_bytes());
        b[36..40].copy_from_slice(&40u32.to_le_bytes());
        assert!(matches!(
            BootSector::parse(&b, size),
            Err(FatError::Fat12Unsupported { .. })
        ));
    }
}
