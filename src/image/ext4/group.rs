//! Block group descriptors: where each group's inode table lives.
//!
//! Only the inode table location is kept; bitmaps and free counts are not needed to read
//! files. Both the classic layout (descriptors right after the superblock) and meta_bg
//! (descriptors spread over the first group of each meta group) are understood.
//! Descriptor checksums are not verified.

use super::error::Ext4Error;
use super::feature::INCOMPAT_META_BG;
use super::field::{ReadFn, le32, lo_hi};
use super::superblock::Superblock;

/// The block where the descriptors of descriptor block `index` live.
fn descriptor_block(sb: &Superblock, index: u32) -> u64 {
    let sb_block = u64::from(sb.first_data_block);
    // With 1 KiB blocks and block 0 as the first data block (bigalloc), the superblock
    // still sits in block 1, so the descriptors move one block on.
    let adjust = u64::from(sb.block_size == 1024 && sb.first_data_block == 0);
    let meta_bg = sb.features.has_incompat(INCOMPAT_META_BG);
    if !meta_bg || index < sb.first_meta_bg {
        return sb_block + 1 + adjust + u64::from(index);
    }
    let per_block = sb.block_size / u32::from(sb.desc_size);
    let group = index.saturating_mul(per_block);
    let first = u64::from(group) * u64::from(sb.blocks_per_group) + sb_block;
    first + u64::from(sb.group_has_super(group)) + adjust
}

/// Reads every group descriptor and returns each group's inode table block, checked to lie
/// inside the filesystem.
pub(crate) fn inode_tables(sb: &Superblock, read: ReadFn<'_>) -> Result<Vec<u64>, Ext4Error> {
    let groups = sb.group_count();
    let desc_size = usize::from(sb.desc_size);
    let per_block = sb.block_size / u32::from(sb.desc_size);
    let table_bytes = u64::from(sb.inodes_per_group) * u64::from(sb.inode_size);
    let table_blocks = table_bytes.div_ceil(u64::from(sb.block_size));
    let mut tables = Vec::with_capacity(groups as usize);
    let mut block = vec![0u8; sb.block_size as usize];
    let mut loaded = None;
    for group in 0..groups {
        let index = group / per_block;
        if loaded != Some(index) {
            let at = descriptor_block(sb, index);
            if at >= sb.blocks_count {
                return Err(Ext4Error::BadGroupDescriptor {
                    group,
                    field: "descriptor block",
                    value: at,
                });
            }
            read(at * u64::from(sb.block_size), &mut block)?;
            loaded = Some(index);
        }
        let off = (group % per_block) as usize * desc_size;
        let d = block.get(off..off + desc_size).unwrap_or_default();
        let hi = if desc_size >= 64 { le32(d, 0x28) } else { 0 };
        let table = lo_hi(le32(d, 0x8), hi);
        let in_fs = table
            .checked_add(table_blocks)
            .is_some_and(|end| table != 0 && end <= sb.blocks_count);
        if !in_fs {
            return Err(Ext4Error::BadGroupDescriptor {
                group,
                field: "bg_inode_table",
                value: table,
            });
        }
        tables.push(table);
    }
    Ok(tables)
}
