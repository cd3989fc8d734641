//! Extent trees: the block mapping of ext4 files (`EXT4_EXTENTS_FL`).
//!
//! The root sits in `i_block`; deeper nodes are whole blocks. Every node is checked (magic,
//! entry counts within the node, depth decreasing by one per level, at most 5 levels,
//! pointers inside the filesystem, no block visited twice) before it is trusted.
//! Unwritten (preallocated) extents read as zeros, so they are left out like holes. Node
//! checksums are not verified.

use std::collections::HashSet;

use super::error::Ext4Error;
use super::field::{ReadFn, le16, le32, lo_hi};
use super::map::{BlockRun, RunList};

const MAGIC: u16 = 0xF30A;
const HEADER_LEN: usize = 12;
const ENTRY_LEN: usize = 12;
/// The kernel's `EXT4_MAX_EXTENT_DEPTH`.
const MAX_DEPTH: u16 = 5;
/// Lengths above this mark an unwritten extent.
const MAX_INIT_LEN: u16 = 32768;

/// What the tree walk needs from the filesystem.
pub(crate) struct TreeSource<'a> {
    pub(crate) ino: u32,
    pub(crate) block_size: u32,
    pub(crate) blocks_count: u64,
    pub(crate) read_block: ReadFn<'a>,
}

impl TreeSource<'_> {
    fn bad(&self, block: u64, why: String) -> Ext4Error {
        Ext4Error::BadExtentTree {
            ino: self.ino,
            block,
            why,
        }
    }

    /// Checks that blocks `[start, start + count)` lie inside the filesystem.
    fn check_range(&self, node: u64, start: u64, count: u64) -> Result<(), Ext4Error> {
        let inside = start
            .checked_add(count)
            .is_some_and(|end| start != 0 && end <= self.blocks_count);
        if inside {
            Ok(())
        } else {
            Err(self.bad(
                node,
                format!(
                    "blocks {start}+{count} lie outside the filesystem of {} blocks",
                    self.blocks_count
                ),
            ))
        }
    }
}

/// A node waiting to be read: its block and the depth its parent promised.
struct Pending {
    block: u64,
    depth: u16,
}

/// Maps the extent tree rooted in `root` (the inode's `i_block`) to runs of blocks.
pub(crate) fn extent_runs(src: &TreeSource<'_>, root: &[u8]) -> Result<RunList, Ext4Error> {
    let mut runs = RunList::new(src.blocks_count);
    let mut visited = HashSet::new();
    let mut stack: Vec<Pending> = Vec::new();
    let mut buf = vec![0u8; src.block_size as usize];
    node(src, root, 0, None, &mut runs, &mut stack)?;
    while let Some(p) = stack.pop() {
        if !visited.insert(p.block) {
            return Err(src.bad(p.block, "the block is referenced twice (a loop)".into()));
        }
        (src.read_block)(p.block, &mut buf)?;
        node(src, &buf, p.block, Some(p.depth), &mut runs, &mut stack)?;
    }
    Ok(runs)
}

/// Parses one node: a leaf adds runs, an index node pushes its children (last first, so
/// they pop in logical order).
fn node(
    src: &TreeSource<'_>,
    b: &[u8],
    at: u64,
    expected_depth: Option<u16>,
    runs: &mut RunList,
    stack: &mut Vec<Pending>,
) -> Result<(), Ext4Error> {
    let magic = le16(b, 0);
    if magic != MAGIC {
        return Err(src.bad(at, format!("header magic is {magic:#06x}, expected 0xf30a")));
    }
    let entries = usize::from(le16(b, 2));
    let max = usize::from(le16(b, 4));
    let depth = le16(b, 6);
    let room = (b.len() - HEADER_LEN.min(b.len())) / ENTRY_LEN;
    if max > room || entries > max {
        return Err(src.bad(
            at,
            format!("{entries} entries of at most {max} do not fit a node with room for {room}"),
        ));
    }
    if let Some(want) = expected_depth
        && depth != want
    {
        return Err(src.bad(at, format!("depth is {depth}, its parent says {want}")));
    }
    if depth > MAX_DEPTH {
        return Err(src.bad(
            at,
            format!("depth {depth} is over the limit of {MAX_DEPTH}"),
        ));
    }
    let entry = |i: usize| HEADER_LEN + i * ENTRY_LEN;
    if depth == 0 {
        for i in 0..entries {
            let e = entry(i);
            let logical = u64::from(le32(b, e));
            let raw_len = le16(b, e + 4);
            let physical = lo_hi(le32(b, e + 8), u32::from(le16(b, e + 6)));
            let (count, unwritten) = if raw_len > MAX_INIT_LEN {
                (raw_len - MAX_INIT_LEN, true)
            } else {
                (raw_len, false)
            };
            let count = u64::from(count);
            src.check_range(at, physical, count)?;
            let run = BlockRun {
                logical,
                physical,
                count,
            };
            // An unwritten extent reads as zeros: it maps nothing, like a hole.
            if !unwritten {
                runs.push(run).map_err(|w| src.bad(at, w))?;
            }
        }
    } else {
        let mut children = Vec::with_capacity(entries);
        let mut last_logical = None;
        for i in 0..entries {
            let e = entry(i);
            let logical = le32(b, e);
            if last_logical.is_some_and(|l| logical <= l) {
                return Err(src.bad(at, format!("index entry {i} is out of order")));
            }
            last_logical = Some(logical);
            let child = lo_hi(le32(b, e + 4), u32::from(le16(b, e + 8)));
            src.check_range(at, child, 1)?;
            children.push(Pending {
                block: child,
                depth: depth - 1,
            });
        }
        stack.extend(children.into_iter().rev());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(entries: u16, max: u16, depth: u16) -> Vec<u8> {
        let mut h = Vec::new();
        for v in [MAGIC, entries, max, depth] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h.extend_from_slice(&[0; 4]);
        h
    }

    fn leaf(logical: u32, len: u16, start: u32) -> Vec<u8> {
        let mut e = logical.to_le_bytes().to_vec();
        e.extend_from_slice(&len.to_le_bytes());
        e.extend_from_slice(&0u16.to_le_bytes());
        e.extend_from_slice(&start.to_le_bytes());
        e
    }

    fn index(logical: u32, child: u32) -> Vec<u8> {
        let mut e = logical.to_le_bytes().to_vec();
        e.extend_from_slice(&child.to_le_bytes());
        e.extend_from_slice(&[0; 4]);
        e
    }

    fn blocks(b: u64, buf: &mut [u8], image: &[Vec<u8>]) -> Result<(), Ext4Error> {
        buf.fill(0);
        let src = &image[b as usize];
        buf[..src.len()].copy_from_slice(src);
        Ok(())
    }

    #[test]
    fn walks_a_two_level_tree_and_skips_unwritten() {
        let mut root = header(1, 4, 1);
        root.extend(index(0, 1));
        root.resize(60, 0);
        let mut leaf1 = header(2, 84, 0);
        leaf1.extend(leaf(0, 2, 10));
        leaf1.extend(leaf(4, 32768 + 3, 20));
        let image = vec![vec![], leaf1];
        let read = |b: u64, buf: &mut [u8]| blocks(b, buf, &image);
        let src = TreeSource {
            ino: 12,
            block_size: 1024,
            blocks_count: 100,
            read_block: &read,
        };
        let e = extent_runs(&src, &root)
            .unwrap()
            .into_extents(1024, 1 << 20)
            .unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].physical, 10 * 1024);
        assert_eq!(e[0].len, 2048);
    }

    #[test]
    fn refuses_loops_bad_magic_and_bad_depth() {
        let mut root = header(1, 4, 2);
        root.extend(index(0, 1));
        root.resize(60, 0);
        let mut looping = header(1, 84, 1);
        looping.extend(index(0, 1));
        let image = vec![vec![], looping];
        let read = |b: u64, buf: &mut [u8]| blocks(b, buf, &image);
        let src = TreeSource {
            ino: 12,
            block_size: 1024,
            blocks_count: 100,
            read_block: &read,
        };
        assert!(extent_runs(&src, &root).is_err());

        let mut bad_magic = root.clone();
        bad_magic[0] = 0;
        assert!(extent_runs(&src, &bad_magic).is_err());
        let mut deep = header(0, 4, 9);
        deep.resize(60, 0);
        assert!(extent_runs(&src, &deep).is_err());
        let mut too_many = header(5, 4, 0);
        too_many.resize(60, 0);
        assert!(extent_runs(&src, &too_many).is_err());
    }

    proptest::proptest! {
        #[test]
        fn random_trees_never_panic(
            mut root in proptest::collection::vec(proptest::prelude::any::<u8>(), 60),
            block in proptest::collection::vec(proptest::prelude::any::<u8>(), 1024),
        ) {
            root[..2].copy_from_slice(&MAGIC.to_le_bytes());
            let read = |_: u64, buf: &mut [u8]| {
                let mut b = block.clone();
                b[..2].copy_from_slice(&MAGIC.to_le_bytes());
                buf.copy_from_slice(&b);
                Ok(())
            };
            let src = TreeSource { ino: 12, block_size: 1024, blocks_count: 1 << 20, read_block: &read };
            if let Ok(runs) = extent_runs(&src, &root) {
                let _ = runs.into_extents(1024, u64::MAX);
            }
            let _ = super::super::blockmap::blockmap_runs(&src, &root, u64::MAX);
        }
    }
}
