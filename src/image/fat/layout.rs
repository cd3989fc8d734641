//! The geometry of a new FAT32 volume: cluster size, FAT size and where the data starts.
//!
//! The default cluster size follows mkfs.fat (which follows Microsoft's format): 512 bytes
//! up to 260 MiB, 4 KiB up to 8 GiB, then doubling, halved while the volume would have too
//! few clusters to be FAT32. The data area starts on a cluster boundary. This module only
//! computes numbers; it writes nothing.

use super::FatError;
use super::boot_sector::{MAX_FAT32_CLUSTERS, MIN_FAT32_CLUSTERS};

/// Bytes per sector of volumes we write.
pub const SECTOR: u64 = 512;
/// Reserved sectors before the first FAT.
pub const RESERVED_SECTORS: u32 = 32;
/// Copies of the FAT.
pub const FAT_COUNT: u32 = 2;

const MIB: u64 = 1024 * 1024;

/// Where everything lies in a FAT32 volume we write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatLayout {
    /// Sectors of 512 bytes in the volume.
    pub total_sectors: u32,
    /// Sectors per cluster.
    pub sectors_per_cluster: u32,
    /// Bytes per cluster.
    pub cluster_size: u32,
    /// Sectors before the first FAT.
    pub reserved_sectors: u32,
    /// Sectors per FAT copy.
    pub fat_sectors: u32,
    /// Data clusters in the volume.
    pub cluster_count: u32,
    /// Byte offset of cluster 2 inside the volume.
    pub data_offset: u64,
    /// Clusters holding directories and files.
    pub used_clusters: u32,
    /// Clusters left free (what FSInfo records).
    pub free_clusters: u32,
}

impl FatLayout {
    /// Byte offset of the first FAT inside the volume.
    pub fn fat_offset(&self) -> u64 {
        u64::from(self.reserved_sectors) * SECTOR
    }

    /// Byte offset of a data cluster inside the volume.
    pub fn cluster_offset(&self, cluster: u32) -> u64 {
        self.data_offset + u64::from(cluster.saturating_sub(2)) * u64::from(self.cluster_size)
    }
}

/// FAT sectors and cluster count for `total` sectors with `spc` sectors per cluster, or
/// `None` if the metadata alone does not fit.
fn fit(total: u64, spc: u64) -> Option<(u64, u64)> {
    let reserved = u64::from(RESERVED_SECTORS);
    let fats = u64::from(FAT_COUNT);
    let mut fat = 1u64;
    // Grows monotonically until the FAT covers every cluster it leaves room for.
    loop {
        let data = total.checked_sub(reserved + fats * fat)?;
        let clusters = data / spc;
        let need = ((clusters + 2) * 4).div_ceil(SECTOR);
        if need <= fat {
            break;
        }
        fat = need;
    }
    // Start the data area on a cluster boundary, as mkfs.fat does, by padding the FAT.
    while !(reserved + fats * fat).is_multiple_of(spc) {
        fat += 1;
    }
    let clusters = total.checked_sub(reserved + fats * fat)? / spc;
    Some((fat, clusters))
}

/// The smallest volume, in bytes, holding `clusters` clusters of `spc` sectors (and at
/// least the clusters FAT32 requires).
pub fn size_for(clusters: u64, spc: u64) -> u64 {
    let clusters = clusters.max(u64::from(MIN_FAT32_CLUSTERS));
    let meta =
        u64::from(RESERVED_SECTORS) + u64::from(FAT_COUNT) * ((clusters + 2) * 4).div_ceil(SECTOR);
    let mut total = meta + clusters * spc;
    // `fit` may settle on a slightly larger FAT than the estimate; grow until it fits.
    loop {
        match fit(total, spc) {
            Some((_, have)) if have >= clusters => break,
            Some((_, have)) => total += (clusters - have) * spc,
            None => total += spc,
        }
    }
    // Also the smallest such total: shrink while one sector less still fits.
    while total > 0 && fit(total - 1, spc).is_some_and(|(_, have)| have >= clusters) {
        total -= 1;
    }
    total * SECTOR
}

/// mkfs.fat's default sectors per cluster for a FAT32 volume of `size` bytes.
fn default_spc(size: u64) -> u64 {
    match size {
        s if s <= 260 * MIB => 1,
        s if s <= 8 * 1024 * MIB => 8,
        s if s <= 16 * 1024 * MIB => 16,
        s if s <= 32 * 1024 * MIB => 32,
        _ => 64,
    }
}

/// Chooses the geometry of a FAT32 volume of `size` bytes, with `cluster_size` bytes per
/// cluster if given. `used_clusters` is filled in later by the writer.
pub fn choose(size: u64, cluster_size: Option<u32>) -> Result<FatLayout, FatError> {
    let total = size / SECTOR;
    if total > u64::from(u32::MAX) {
        return Err(FatError::BadOptions(format!(
            "{size} bytes is more than FAT32 can describe (2 TiB)"
        )));
    }
    let spc = match cluster_size {
        Some(cs) => {
            let cs = u64::from(cs);
            if !cs.is_power_of_two() || !(SECTOR..=128 * SECTOR).contains(&cs) {
                return Err(FatError::BadOptions(format!(
                    "cluster size {cs} is not a power of two from 512 to 65536 bytes"
                )));
            }
            cs / SECTOR
        }
        None => {
            let mut spc = default_spc(size);
            while spc > 1 && fit(total, spc).is_none_or(|(_, c)| c < u64::from(MIN_FAT32_CLUSTERS))
            {
                spc /= 2;
            }
            spc
        }
    };
    let (fat, clusters) = match fit(total, spc) {
        Some((fat, clusters)) if clusters >= u64::from(MIN_FAT32_CLUSTERS) => (fat, clusters),
        _ => {
            return Err(FatError::TooSmall {
                what: format!("a FAT32 filesystem with {}-byte clusters", spc * SECTOR),
                size,
                needed: size_for(0, spc),
            });
        }
    };
    if clusters > u64::from(MAX_FAT32_CLUSTERS) {
        return Err(FatError::BadOptions(format!(
            "{clusters} clusters of {} bytes are more than FAT32 can address; use larger clusters",
            spc * SECTOR
        )));
    }
    // All values are below 2^32: total fits a u32 and the others are smaller.
    Ok(FatLayout {
        total_sectors: total as u32,
        sectors_per_cluster: spc as u32,
        cluster_size: (spc * SECTOR) as u32,
        reserved_sectors: RESERVED_SECTORS,
        fat_sectors: fat as u32,
        cluster_count: clusters as u32,
        data_offset: (u64::from(RESERVED_SECTORS) + u64::from(FAT_COUNT) * fat) * SECTOR,
        used_clusters: 0,
        free_clusters: clusters as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_mkfs_fat() {
        let l = choose(256 * MIB, None).unwrap();
        assert_eq!(l.cluster_size, 512);
        let l = choose(512 * MIB, None).unwrap();
        assert_eq!(l.cluster_size, 4096);
        assert_eq!(l.data_offset % 4096, 0);
        assert!(u64::from(l.fat_sectors) * 128 >= u64::from(l.cluster_count) + 2);
        // mkfs.fat 4.2 gives 261 MiB 4 KiB clusters, 66675 of them behind a slightly
        // larger FAT than ours.
        let l = choose(261 * MIB, None).unwrap();
        assert_eq!(l.cluster_size, 4096);
        assert!(
            (66_675..66_700).contains(&l.cluster_count),
            "{}",
            l.cluster_count
        );
    }

    #[test]
    fn small_volumes_are_refused_with_the_size_needed() {
        assert!(choose(33 * MIB, None).is_ok());
        let Err(FatError::TooSmall { needed, .. }) = choose(32 * MIB, None) else {
            panic!("32 MiB cannot hold FAT32 with 512-byte clusters");
        };
        assert!(choose(needed, None).is_ok());
        assert!(choose(needed - SECTOR, None).is_err());
        assert!(choose(64 * MIB, Some(4096)).is_err());
        assert!(choose(64 * MIB, Some(3000)).is_err());
    }
}
