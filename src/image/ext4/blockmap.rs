//! Legacy block maps: the ext2/ext3 direct, indirect, double- and triple-indirect pointers.
//!
//! Used for inodes without `EXT4_EXTENTS_FL`. Zero pointers are holes and are not followed,
//! only blocks below the file size are looked at, and no indirect block is read twice, so
//! a hostile map costs at most one read per block of the filesystem.

use std::collections::HashSet;

use super::error::Ext4Error;
use super::extent::TreeSource;
use super::field::le32;
use super::map::{BlockRun, RunList};

/// Direct pointers in `i_block` before the indirect ones.
const DIRECT: usize = 12;

struct Walk<'a, 'b> {
    src: &'a TreeSource<'b>,
    /// Logical blocks of the file (ceil of size / block size).
    file_blocks: u64,
    /// Pointers per indirect block.
    per_block: u64,
    visited: HashSet<u64>,
    runs: RunList,
}

impl Walk<'_, '_> {
    fn bad(&self, why: String) -> Ext4Error {
        Ext4Error::BadBlockMap {
            ino: self.src.ino,
            why,
        }
    }

    fn check(&self, ptr: u64) -> Result<(), Ext4Error> {
        if ptr >= self.src.blocks_count {
            return Err(self.bad(format!(
                "block pointer {ptr} lies outside the filesystem of {} blocks",
                self.src.blocks_count
            )));
        }
        Ok(())
    }

    /// Maps pointer `ptr`, which covers `per_block^level` blocks from `logical`.
    fn pointer(&mut self, ptr: u32, level: u32, logical: u64) -> Result<(), Ext4Error> {
        if ptr == 0 || logical >= self.file_blocks {
            return Ok(());
        }
        let ptr = u64::from(ptr);
        self.check(ptr)?;
        if level == 0 {
            let run = BlockRun {
                logical,
                physical: ptr,
                count: 1,
            };
            return self.runs.push(run).map_err(|w| self.bad(w));
        }
        if !self.visited.insert(ptr) {
            return Err(self.bad(format!("indirect block {ptr} is referenced twice")));
        }
        let mut buf = vec![0u8; self.src.block_size as usize];
        (self.src.read_block)(ptr, &mut buf)?;
        // per_block^(level-1) for level <= 3 and per_block <= 16384 fits easily.
        let span = self.per_block.pow(level - 1);
        for i in 0..self.per_block {
            let child_logical = logical + i * span;
            if child_logical >= self.file_blocks {
                break;
            }
            let child = le32(&buf, (i * 4) as usize);
            self.pointer(child, level - 1, child_logical)?;
        }
        Ok(())
    }
}

/// Maps a legacy block map in `i_block` for a file of `size` bytes.
pub(crate) fn blockmap_runs(
    src: &TreeSource<'_>,
    i_block: &[u8],
    size: u64,
) -> Result<RunList, Ext4Error> {
    let per_block = u64::from(src.block_size / 4);
    let mut walk = Walk {
        src,
        file_blocks: size.div_ceil(u64::from(src.block_size)),
        per_block,
        visited: HashSet::new(),
        runs: RunList::new(src.blocks_count),
    };
    for i in 0..DIRECT {
        walk.pointer(le32(i_block, i * 4), 0, i as u64)?;
    }
    let mut logical = DIRECT as u64;
    for level in 1..=3u32 {
        walk.pointer(
            le32(i_block, (DIRECT + level as usize - 1) * 4),
            level,
            logical,
        )?;
        logical += per_block.pow(level);
    }
    Ok(walk.runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_direct_and_indirect_and_refuses_loops() {
        let mut i_block = vec![0u8; 60];
        i_block[0..4].copy_from_slice(&5u32.to_le_bytes());
        i_block[48..52].copy_from_slice(&7u32.to_le_bytes()); // single indirect
        i_block[52..56].copy_from_slice(&8u32.to_le_bytes()); // double indirect
        let read = |b: u64, buf: &mut [u8]| {
            buf.fill(0);
            match b {
                7 => buf[0..4].copy_from_slice(&9u32.to_le_bytes()),
                8 => buf[0..4].copy_from_slice(&8u32.to_le_bytes()),
                _ => {}
            }
            Ok(())
        };
        let src = TreeSource {
            ino: 12,
            block_size: 1024,
            blocks_count: 100,
            read_block: &read,
        };
        let e = blockmap_runs(&src, &i_block, 13 * 1024)
            .unwrap()
            .into_extents(1024, 13 * 1024);
        let e = e.unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!((e[1].logical, e[1].physical), (12 * 1024, 9 * 1024));
        // The double-indirect block points to itself.
        assert!(blockmap_runs(&src, &i_block, 1 << 30).is_err());
    }
}
