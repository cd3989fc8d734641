//! A rough size a tree needs as ext4, to tell the user how big the filesystem must be when
//! it does not fit.
//!
//! This is an estimate from the tree alone (data blocks, directories, inode tables, the
//! journal mke2fs would choose, per-group bitmaps), not a simulation of mke2fs' allocator:
//! good enough to say "about N MiB", not to size a partition to the block.

use std::collections::HashSet;

use super::params::Ext4Params;
use crate::tree::{Kind, Tree};

/// Bytes of an inode that hold xattrs before they spill into their own block (the inode
/// size minus the base inode and the extra fields mke2fs reserves).
const INODE_XATTR_OVERHEAD: u64 = 160;

/// The journal mke2fs picks for a filesystem of `blocks` blocks (e2fsprogs'
/// `ext2fs_default_journal_size`), in blocks.
fn default_journal_blocks(blocks: u64) -> u64 {
    match blocks {
        0..2048 => 0,
        2048..32_768 => 1024,
        32_768..262_144 => 4096,
        262_144..524_288 => 8192,
        524_288..4_194_304 => 16_384,
        4_194_304..8_388_608 => 32_768,
        8_388_608..16_777_216 => 65_536,
        16_777_216..33_554_432 => 131_072,
        _ => 262_144,
    }
}

/// Estimates the bytes `tree` needs as an ext4 filesystem made with `params`, rounded up
/// to a MiB. Saturates rather than overflows on absurd trees.
pub fn estimate_size(tree: &Tree, params: &Ext4Params) -> u64 {
    let bs = u64::from(params.block_size).max(1024);
    let mut seen = HashSet::new();
    let mut data_blocks = 0u64;
    let mut dirent_bytes = 0u64;
    for (path, id, inode) in tree.iter() {
        if let Some(name) = path.file_name() {
            // A directory entry: 8 bytes of header and the name, 4-byte aligned.
            dirent_bytes = dirent_bytes.saturating_add((8 + name.len() as u64).next_multiple_of(4));
        }
        if !seen.insert(id) {
            continue;
        }
        let blocks = match &inode.kind {
            Kind::File { size, .. } => size.div_ceil(bs),
            Kind::Symlink(target) if target.len() >= 60 => 1,
            Kind::Dir => 1,
            _ => 0,
        };
        let xattr_bytes: u64 = inode
            .xattrs
            .iter()
            .map(|(n, v)| (n.len() + v.len() + 16) as u64)
            .sum();
        let xattr_block = u64::from(
            xattr_bytes > u64::from(params.inode_size).saturating_sub(INODE_XATTR_OVERHEAD),
        );
        data_blocks = data_blocks
            .saturating_add(blocks)
            .saturating_add(xattr_block);
    }
    // Directory blocks beyond each directory's first, with hash-tree slack.
    data_blocks = data_blocks.saturating_add((dirent_bytes.saturating_mul(5) / 4).div_ceil(bs));
    let inodes = (seen.len() as u64).saturating_add(16);
    let data = data_blocks.saturating_mul(bs);
    // Inode tables and the journal depend on the size: iterate to a fixed point.
    let mut size = data.max(1 << 20);
    for _ in 0..8 {
        let blocks = size / bs;
        let inode_count = params.inode_count.unwrap_or(size / params.ratio());
        let tables = inode_count.saturating_mul(u64::from(params.inode_size));
        let journal = match params.journal_mib {
            Some(mib) => u64::from(mib) << 20,
            None if params.features.iter().any(|f| f == "has_journal") => {
                default_journal_blocks(blocks).saturating_mul(bs)
            }
            None => 0,
        };
        // Bitmaps, descriptors and backup superblocks: a few blocks per group, ~1 %.
        let groups = blocks.div_ceil(bs.saturating_mul(8)).max(1);
        let overhead = groups.saturating_mul(4 * bs).saturating_add(size / 100);
        size = data
            .saturating_add(tables)
            .saturating_add(journal)
            .saturating_add(overhead);
    }
    let by_inodes = match params.inode_count {
        Some(_) => 0,
        None => inodes.saturating_mul(params.ratio()),
    };
    size.max(by_inodes)
        .div_ceil(1 << 20)
        .saturating_mul(1 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::mke2fs::FsUuid;
    use crate::tree::{Inode, Timestamp, TreePath};

    #[test]
    fn estimate_grows_with_contents_and_inodes() {
        let t = Timestamp::default();
        let params = Ext4Params::new(
            "",
            FsUuid::default(),
            FsUuid::default(),
            Ext4Params::BOOKWORM,
            1,
        );
        let mut tree = Tree::new(Inode::dir(0o755, t));
        let small = estimate_size(&tree, &params);
        tree.insert(
            TreePath::parse("big").unwrap(),
            Inode::file(vec![1u8; 10 << 20], 0o644, t),
        )
        .unwrap();
        let big = estimate_size(&tree, &params);
        assert!(big >= small + (10 << 20), "{small} {big}");
        for i in 0..2000 {
            tree.insert(
                TreePath::parse(format!("f{i}")).unwrap(),
                Inode::file("", 0o644, t),
            )
            .unwrap();
        }
        assert!(estimate_size(&tree, &params) >= 2000 * 16384);
    }
}
