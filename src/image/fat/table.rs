//! The file allocation table as the reader sees it: loaded once, then cluster chains are
//! followed through it with every step checked.
//!
//! A chain that leaves the data area, meets a free or bad cluster, loops, or ends before
//! the file does is an error. Work is bounded by the chain length a file's size or FAT's
//! directory limit allows, so a hostile table cannot make a walk run forever. The writer
//! builds its table elsewhere; this module only reads.

use std::collections::HashSet;

use super::FatError;
use super::boot_sector::{BootSector, FatType};
use crate::image::io::ReadAt;

/// Normalised FAT value for end of chain.
const END_OF_CHAIN: u32 = 0x0FFF_FFFF;
/// Normalised FAT value for a bad cluster.
const BAD_CLUSTER: u32 = 0x0FFF_FFF7;
/// Bytes of FAT read per request while loading.
const LOAD_CHUNK: usize = 64 * 1024;

/// A run of consecutive clusters: first cluster and count.
pub type Run = (u32, u32);

/// The first copy of the FAT, one normalised entry per cluster.
#[derive(Debug)]
pub struct FatTable {
    /// FAT16 values are widened so that end-of-chain and bad markers look like FAT32 ones.
    entries: Vec<u32>,
    cluster_count: u32,
}

impl FatTable {
    /// Reads the entries for clusters 0 to `cluster_count + 1` of the first FAT.
    pub fn load<R: ReadAt + ?Sized>(src: &R, bs: &BootSector) -> Result<Self, FatError> {
        let entry_size: usize = match bs.fat_type {
            FatType::Fat32 => 4,
            _ => 2,
        };
        // The boot sector check guarantees the FAT holds this many entries.
        let count = bs.cluster_count as usize + 2;
        let mut entries = Vec::with_capacity(count);
        let mut buf = vec![0u8; LOAD_CHUNK];
        let mut offset = bs.fat_offset();
        while entries.len() < count {
            let n = (count - entries.len()).min(LOAD_CHUNK / entry_size);
            let chunk = &mut buf[..n * entry_size];
            src.read_exact_at(chunk, offset)
                .map_err(|e| FatError::io(format!("reading the FAT at byte {offset}"), e))?;
            offset += chunk.len() as u64;
            entries.extend(chunk.chunks_exact(entry_size).map(|c| match *c {
                [a, b, c, d] => u32::from_le_bytes([a, b, c, d]) & 0x0FFF_FFFF,
                [a, b] => match u16::from_le_bytes([a, b]) {
                    v if v >= 0xFFF8 => END_OF_CHAIN,
                    0xFFF7 => BAD_CLUSTER,
                    v => u32::from(v),
                },
                _ => BAD_CLUSTER,
            }));
        }
        Ok(Self {
            entries,
            cluster_count: bs.cluster_count,
        })
    }

    /// One past the highest valid cluster number.
    pub fn end(&self) -> u32 {
        self.cluster_count + 2
    }

    fn check(&self, cluster: u32, path: &str) -> Result<(), FatError> {
        if cluster < 2 || cluster >= self.end() {
            return Err(FatError::BadCluster {
                path: path.to_string(),
                cluster,
                end: self.end(),
            });
        }
        Ok(())
    }

    /// The entry after `cluster`: `None` at end of chain, else the next cluster checked.
    fn next(&self, cluster: u32, path: &str) -> Result<Option<u32>, FatError> {
        let value = self
            .entries
            .get(cluster as usize)
            .copied()
            .unwrap_or(BAD_CLUSTER);
        if value >= 0x0FFF_FFF8 {
            return Ok(None);
        }
        self.check(value, path)?;
        Ok(Some(value))
    }

    /// Follows a chain from `first` through at most `limit` clusters. Returns the runs, the
    /// clusters visited and whether the chain ended there; with `stop_at_limit` it stops
    /// after `limit` clusters without looking further.
    fn follow(
        &self,
        first: u32,
        limit: u64,
        stop_at_limit: bool,
        path: &str,
    ) -> Result<(Vec<Run>, u64, bool), FatError> {
        let mut runs: Vec<Run> = Vec::new();
        let mut seen = HashSet::new();
        let mut cluster = first;
        let mut visited = 0u64;
        self.check(cluster, path)?;
        loop {
            if !seen.insert(cluster) {
                return Err(FatError::ChainLoop {
                    path: path.to_string(),
                    cluster,
                });
            }
            visited += 1;
            match runs.last_mut() {
                Some((start, len)) if start.checked_add(*len) == Some(cluster) => *len += 1,
                _ => runs.push((cluster, 1)),
            }
            if stop_at_limit && visited == limit {
                return Ok((runs, visited, false));
            }
            match self.next(cluster, path)? {
                None => return Ok((runs, visited, true)),
                Some(_) if visited >= limit => return Ok((runs, visited, false)),
                Some(next) => cluster = next,
            }
        }
    }

    /// The runs holding a file of `size` bytes starting at `first`.
    ///
    /// Clusters in the chain beyond the file size are ignored, as readers do.
    pub fn file_runs(
        &self,
        first: u32,
        size: u64,
        cluster_size: u32,
        path: &str,
    ) -> Result<Vec<Run>, FatError> {
        let needed = size.div_ceil(u64::from(cluster_size));
        if needed == 0 {
            return Ok(Vec::new());
        }
        let short = |clusters| FatError::ChainTooShort {
            path: path.to_string(),
            size,
            clusters,
            cluster_size,
        };
        if needed > u64::from(self.cluster_count) {
            return Err(short(u64::from(self.cluster_count)));
        }
        if first == 0 {
            return Err(short(0));
        }
        let (runs, visited, _) = self.follow(first, needed, true, path)?;
        if visited < needed {
            return Err(short(visited));
        }
        Ok(runs)
    }

    /// The runs of a directory starting at `first`, refusing more than `max_clusters`.
    pub fn dir_runs(
        &self,
        first: u32,
        max_clusters: u64,
        path: &str,
        limit_bytes: u64,
    ) -> Result<Vec<Run>, FatError> {
        let (runs, _, ended) = self.follow(first, max_clusters, false, path)?;
        if !ended {
            return Err(FatError::DirectoryTooLong {
                path: path.to_string(),
                limit: limit_bytes,
            });
        }
        Ok(runs)
    }

    /// Clusters marked free, for checking a volume's FSInfo.
    pub fn free_clusters(&self) -> u32 {
        self.entries.iter().skip(2).filter(|&&v| v == 0).count() as u32
    }
}
