//! The data layout of a file: which byte ranges of the file live where in the filesystem.
//!
//! Extent trees and legacy block maps both produce runs of blocks; this module merges them
//! and turns them into byte [`Extent`]s clipped to the file size, which is what a caller
//! needs to stream a file straight out of the image. Holes are simply absent. It does no
//! I/O and knows neither on-disk mapping format.

use super::error::Ext4Error;

/// One contiguous piece of a file's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// Byte offset in the file.
    pub logical: u64,
    /// Byte offset in the filesystem (add the partition offset for the image file).
    pub physical: u64,
    /// Length in bytes.
    pub len: u64,
}

/// A run of `count` file blocks from `logical` mapped to blocks from `physical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockRun {
    pub(crate) logical: u64,
    pub(crate) physical: u64,
    pub(crate) count: u64,
}

/// Collects runs in logical order, merging neighbours and refusing overlaps, and caps
/// their number so a hostile map cannot make an absurd allocation.
pub(crate) struct RunList {
    runs: Vec<BlockRun>,
    /// The first logical block not yet covered.
    next_logical: u64,
    limit: usize,
}

impl RunList {
    /// A list that refuses more than `limit` separate runs.
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            runs: Vec::new(),
            next_logical: 0,
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        }
    }

    /// Appends a run; `Err` carries a description when it overlaps or the list is full.
    pub(crate) fn push(&mut self, run: BlockRun) -> Result<(), String> {
        if run.count == 0 {
            return Ok(());
        }
        if run.logical < self.next_logical {
            return Err(format!(
                "logical block {} overlaps data already mapped up to block {}",
                run.logical, self.next_logical
            ));
        }
        let end = run
            .logical
            .checked_add(run.count)
            .ok_or_else(|| format!("logical block {} + {} overflows", run.logical, run.count))?;
        self.next_logical = end;
        if let Some(last) = self.runs.last_mut() {
            let contiguous = last.logical + last.count == run.logical
                && last.physical.checked_add(last.count) == Some(run.physical);
            if contiguous {
                last.count += run.count;
                return Ok(());
            }
        }
        if self.runs.len() >= self.limit {
            return Err(format!("more than {} separate runs", self.limit));
        }
        self.runs.push(run);
        Ok(())
    }

    /// Byte extents of a file of `size` bytes with `block_size`-byte blocks.
    pub(crate) fn into_extents(self, block_size: u32, size: u64) -> Result<Vec<Extent>, Ext4Error> {
        let bs = u64::from(block_size);
        let mut out = Vec::with_capacity(self.runs.len());
        for run in self.runs {
            // Runs were checked to lie inside the filesystem, whose byte size fits in u64.
            let Some(logical) = run.logical.checked_mul(bs) else {
                break;
            };
            if logical >= size {
                break;
            }
            let len = run.count.saturating_mul(bs).min(size - logical);
            out.push(Extent {
                logical,
                physical: run.physical.saturating_mul(bs),
                len,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(logical: u64, physical: u64, count: u64) -> BlockRun {
        BlockRun {
            logical,
            physical,
            count,
        }
    }

    #[test]
    fn merges_clips_and_refuses_overlap() {
        let mut l = RunList::new(10);
        l.push(run(0, 100, 2)).unwrap();
        l.push(run(2, 102, 1)).unwrap();
        l.push(run(5, 200, 4)).unwrap();
        assert!(l.push(run(8, 300, 1)).is_err());
        let e = l.into_extents(1024, 6000).unwrap();
        assert_eq!(
            e,
            [
                Extent {
                    logical: 0,
                    physical: 102400,
                    len: 3072
                },
                Extent {
                    logical: 5120,
                    physical: 204800,
                    len: 880
                },
            ]
        );
        let mut l = RunList::new(1);
        l.push(run(0, 1, 1)).unwrap();
        assert!(l.push(run(3, 9, 1)).is_err());
    }
}
