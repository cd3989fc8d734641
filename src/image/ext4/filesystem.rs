//! The open filesystem: inodes, directories, file data and symlinks by inode number.
//!
//! [`Ext4`] ties the on-disk structures together and does all reads through [`ReadAt`].
//! It never writes, never replays the journal and never caches file data; the caller
//! streams file contents itself from [`Ext4::file_map`] when it wants to avoid copies.

use super::dir::{DirEntry, DirFormat};
use super::error::Ext4Error;
use super::extent::{TreeSource, extent_runs};
use super::feature::{INCOMPAT_EA_INODE, INCOMPAT_FILETYPE, INCOMPAT_RECOVER};
use super::group::inode_tables;
use super::inode::{FLAG_EA_INODE, FileType, I_BLOCK_LEN, Inode};
use super::map::{Extent, RunList};
use super::superblock::{SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, Superblock};
use super::xattr::{RawXattr, ValueRef, Xattr, parse_block, parse_inode_area, user_value};
use super::{blockmap::blockmap_runs, xattr::MAX_VALUE_LEN};
use crate::image::io::ReadAt;

/// The root directory's inode number.
pub const ROOT_INO: u32 = 2;
/// The longest symlink target Linux accepts (`PATH_MAX`).
const MAX_LINK_LEN: u64 = 4096;
/// The xattr that holds inline data past the first 60 bytes.
const INLINE_DATA_XATTR: &[u8] = b"system.data";

/// A read-only ext2/3/4 filesystem on a [`ReadAt`] source.
#[derive(Debug)]
pub struct Ext4<R> {
    src: R,
    sb: Superblock,
    inode_tables: Vec<u64>,
}

impl<R: ReadAt> Ext4<R> {
    /// Opens the filesystem on `src`: checks the superblock against the source size, refuses
    /// features this reader cannot interpret and reads the group descriptors.
    pub fn open(src: R) -> Result<Self, Ext4Error> {
        let mut raw = vec![0u8; SUPERBLOCK_SIZE];
        read_at(&src, SUPERBLOCK_OFFSET, &mut raw)?;
        let sb = Superblock::parse(&raw, src.size())?;
        if sb.features.has_incompat(INCOMPAT_RECOVER) {
            return Err(Ext4Error::NeedsRecovery);
        }
        let unreadable = sb.features.unreadable();
        if !unreadable.is_empty() {
            return Err(Ext4Error::UnsupportedFeatures {
                features: unreadable.join(" "),
            });
        }
        let tables = inode_tables(&sb, &|off, buf| read_at(&src, off, buf))?;
        Ok(Self {
            src,
            sb,
            inode_tables: tables,
        })
    }

    /// The superblock.
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    /// The source the filesystem is read from, for streaming file data at
    /// [`Extent::physical`] offsets.
    pub fn source(&self) -> &R {
        &self.src
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), Ext4Error> {
        read_at(&self.src, offset, buf)
    }

    fn read_block(&self, block: u64, buf: &mut [u8]) -> Result<(), Ext4Error> {
        let offset =
            block
                .checked_mul(u64::from(self.sb.block_size))
                .ok_or(Ext4Error::BadSuperblock {
                    field: "block number",
                    value: block,
                    why: "overflows a byte offset",
                })?;
        self.read(offset, buf)
    }

    /// Reads and decodes inode `ino` without its extended attributes.
    fn bare_inode(&self, ino: u32) -> Result<Inode, Ext4Error> {
        let out_of_range = Ext4Error::InodeOutOfRange {
            ino: u64::from(ino),
            count: self.sb.inodes_count,
        };
        if ino == 0 || ino > self.sb.inodes_count {
            return Err(out_of_range);
        }
        let index = ino - 1;
        let group = (index / self.sb.inodes_per_group) as usize;
        let table = *self.inode_tables.get(group).ok_or(out_of_range)?;
        let within = u64::from(index % self.sb.inodes_per_group) * u64::from(self.sb.inode_size);
        // Tables were checked to fit inside the filesystem when opened.
        let location = table * u64::from(self.sb.block_size) + within;
        let mut raw = vec![0u8; usize::from(self.sb.inode_size)];
        self.read(location, &mut raw)?;
        Inode::parse(ino, &raw, location)
    }

    /// Reads inode `ino` with all its extended attributes.
    pub fn inode(&self, ino: u32) -> Result<Inode, Ext4Error> {
        let mut inode = self.bare_inode(ino)?;
        let mut raw = parse_inode_area(ino, &inode.xattr_area)?;
        if inode.file_acl != 0 {
            if inode.file_acl >= self.sb.blocks_count {
                return Err(Ext4Error::BadXattr {
                    ino,
                    why: format!(
                        "attribute block {} lies outside the filesystem",
                        inode.file_acl
                    ),
                });
            }
            let mut block = vec![0u8; self.sb.block_size as usize];
            self.read_block(inode.file_acl, &mut block)?;
            raw.extend(parse_block(ino, &block)?);
        }
        let mut xattrs = Vec::with_capacity(raw.len());
        for RawXattr { name, value, .. } in raw {
            if name == INLINE_DATA_XATTR {
                continue;
            }
            let value = match value {
                ValueRef::Here(v) => v,
                ValueRef::InInode { ino: ea, size } => self.ea_inode_value(ino, &name, ea, size)?,
            };
            xattrs.push(Xattr { name, value });
        }
        inode.xattrs = xattrs;
        Ok(inode)
    }

    /// The value of an attribute held in its own inode (ea_inode feature).
    fn ea_inode_value(
        &self,
        owner: u32,
        name: &[u8],
        ea: u32,
        size: u32,
    ) -> Result<Vec<u8>, Ext4Error> {
        let bad = |why: String| Ext4Error::BadXattr { ino: owner, why };
        if !self.sb.features.has_incompat(INCOMPAT_EA_INODE) {
            return Err(bad(format!(
                "value of {} is in inode {ea} but the ea_inode feature is off",
                name.escape_ascii()
            )));
        }
        let holder = self.bare_inode(ea)?;
        if holder.flags & FLAG_EA_INODE == 0 || holder.size != u64::from(size) {
            return Err(bad(format!(
                "inode {ea} is not an attribute inode of {size} bytes"
            )));
        }
        let mut v = self.read_to_vec_of(&holder, u64::from(MAX_VALUE_LEN))?;
        v.truncate(size as usize);
        // The name index was folded into the name; recover it for the ACL conversion.
        let index = if name == b"system.posix_acl_access" {
            2
        } else if name == b"system.posix_acl_default" {
            3
        } else {
            0
        };
        Ok(user_value(index, &v))
    }

    /// The data layout of inode `ino`: byte extents in file order, holes and unwritten
    /// extents left out, clipped to the file size.
    pub fn file_map(&self, ino: u32) -> Result<Vec<Extent>, Ext4Error> {
        let inode = self.bare_inode(ino)?;
        self.file_map_of(&inode)
    }

    /// The data layout of an inode already read; see [`Self::file_map`].
    pub fn file_map_of(&self, inode: &Inode) -> Result<Vec<Extent>, Ext4Error> {
        let ino = inode.ino;
        match inode.file_type() {
            Some(FileType::Regular | FileType::Directory | FileType::Symlink) => {}
            other => {
                return Err(Ext4Error::WrongType {
                    ino,
                    found: other.map_or("inode of unknown type", |t| t.name()),
                    wanted: "file, directory or symbolic link",
                });
            }
        }
        if inode.is_fast_symlink() {
            return Ok(vec![Extent {
                logical: 0,
                physical: inode.i_block_location(),
                len: inode.size,
            }]);
        }
        if inode.has_inline_data() {
            return self.inline_map(inode);
        }
        let read = |block: u64, buf: &mut [u8]| self.read_block(block, buf);
        let src = TreeSource {
            ino,
            block_size: self.sb.block_size,
            blocks_count: self.sb.blocks_count,
            read_block: &read,
        };
        let runs: RunList = if inode.uses_extents() {
            extent_runs(&src, &inode.i_block)?
        } else {
            blockmap_runs(&src, &inode.i_block, inode.size)?
        };
        runs.into_extents(self.sb.block_size, inode.size)
    }

    /// Inline data: the first 60 bytes in `i_block`, the rest in the `system.data` value of
    /// the in-inode attribute area; both are places on disk like any other extent.
    fn inline_map(&self, inode: &Inode) -> Result<Vec<Extent>, Ext4Error> {
        let ino = inode.ino;
        let first = inode.size.min(I_BLOCK_LEN as u64);
        let mut map = vec![Extent {
            logical: 0,
            physical: inode.i_block_location(),
            len: first,
        }];
        if inode.size > first {
            let rest = inode.size - first;
            let raw = parse_inode_area(ino, &inode.xattr_area)?;
            let data = raw.iter().find(|x| x.name == INLINE_DATA_XATTR);
            let Some(RawXattr {
                value: ValueRef::Here(v),
                value_offset,
                ..
            }) = data
            else {
                return Err(Ext4Error::BadInode {
                    ino,
                    why: "inline data larger than 60 bytes without a system.data attribute".into(),
                });
            };
            if (v.len() as u64) < rest {
                return Err(Ext4Error::BadInode {
                    ino,
                    why: format!(
                        "size {} exceeds the {} bytes of inline data",
                        inode.size,
                        first + v.len() as u64
                    ),
                });
            }
            // The value area starts after the 4-byte magic of the in-inode area.
            let physical = inode.xattr_area_location(self.sb.inode_size) + 4 + *value_offset as u64;
            map.push(Extent {
                logical: first,
                physical,
                len: rest,
            });
        }
        Ok(map)
    }

    /// Reads up to `buf.len()` bytes of inode `ino` from byte `offset` of the file; holes
    /// read as zeros. Returns the number of bytes read, 0 at or past the end.
    pub fn read_file(&self, ino: u32, offset: u64, buf: &mut [u8]) -> Result<usize, Ext4Error> {
        let inode = self.bare_inode(ino)?;
        let map = self.file_map_of(&inode)?;
        self.read_mapped(&map, inode.size, offset, buf)
    }

    fn read_mapped(
        &self,
        map: &[Extent],
        size: u64,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, Ext4Error> {
        if offset >= size {
            return Ok(0);
        }
        let n = (size - offset).min(buf.len() as u64) as usize;
        let want = buf.get_mut(..n).unwrap_or_default();
        want.fill(0);
        let end = offset + n as u64;
        for e in map {
            let e_end = e.logical.saturating_add(e.len);
            if e_end <= offset || e.logical >= end {
                continue;
            }
            let from = e.logical.max(offset);
            let to = e_end.min(end);
            let dst = (from - offset) as usize..(to - offset) as usize;
            let Some(slice) = want.get_mut(dst) else {
                continue;
            };
            self.read(e.physical + (from - e.logical), slice)?;
        }
        Ok(n)
    }

    /// The whole content of inode `ino`, refused if larger than `cap` bytes.
    pub fn read_to_vec(&self, ino: u32, cap: u64) -> Result<Vec<u8>, Ext4Error> {
        let inode = self.bare_inode(ino)?;
        self.read_to_vec_of(&inode, cap)
    }

    fn read_to_vec_of(&self, inode: &Inode, cap: u64) -> Result<Vec<u8>, Ext4Error> {
        let fs_bytes = self.src.size();
        if inode.size > cap || inode.size > fs_bytes {
            return Err(Ext4Error::TooLarge {
                ino: inode.ino,
                size: inode.size,
                cap: cap.min(fs_bytes),
            });
        }
        let map = self.file_map_of(inode)?;
        let mut v = vec![0u8; inode.size as usize];
        self.read_mapped(&map, inode.size, 0, &mut v)?;
        Ok(v)
    }

    /// The target of symbolic link `ino`, fast (in the inode) or slow (in a data block).
    pub fn read_link(&self, ino: u32) -> Result<Vec<u8>, Ext4Error> {
        let inode = self.bare_inode(ino)?;
        self.read_link_of(&inode)
    }

    /// The target of a symbolic link already read; see [`Self::read_link`].
    pub fn read_link_of(&self, inode: &Inode) -> Result<Vec<u8>, Ext4Error> {
        if inode.file_type() != Some(FileType::Symlink) {
            return Err(Ext4Error::WrongType {
                ino: inode.ino,
                found: inode
                    .file_type()
                    .map_or("inode of unknown type", |t| t.name()),
                wanted: "symbolic link",
            });
        }
        if inode.is_fast_symlink() {
            return Ok(inode
                .i_block
                .get(..inode.size as usize)
                .unwrap_or_default()
                .to_vec());
        }
        self.read_to_vec_of(inode, MAX_LINK_LEN)
    }

    /// The entries of directory `ino`, in on-disk order, without `.` and `..`.
    pub fn read_dir(&self, ino: u32) -> Result<Vec<DirEntry>, Ext4Error> {
        let inode = self.bare_inode(ino)?;
        self.read_dir_of(&inode)
    }

    /// The entries of a directory already read; see [`Self::read_dir`].
    pub fn read_dir_of(&self, inode: &Inode) -> Result<Vec<DirEntry>, Ext4Error> {
        let ino = inode.ino;
        if inode.file_type() != Some(FileType::Directory) {
            return Err(Ext4Error::WrongType {
                ino,
                found: inode
                    .file_type()
                    .map_or("inode of unknown type", |t| t.name()),
                wanted: "directory",
            });
        }
        let format = DirFormat {
            dir_ino: ino,
            block_size: self.sb.block_size,
            has_filetype: self.sb.features.has_incompat(INCOMPAT_FILETYPE),
        };
        let mut out = Vec::new();
        if inode.has_inline_data() {
            // Four bytes of parent inode number, then entries in the rest of i_block and
            // in the system.data value.
            let data = self.read_to_vec_of(inode, u64::from(self.sb.inode_size) + 64)?;
            let head = data.get(4..I_BLOCK_LEN.min(data.len())).unwrap_or_default();
            format.parse(head, 4, &mut out)?;
            let tail = data.get(I_BLOCK_LEN..).unwrap_or_default();
            format.parse(tail, I_BLOCK_LEN as u64, &mut out)?;
            return Ok(out);
        }
        if inode.size > self.src.size() {
            return Err(Ext4Error::TooLarge {
                ino,
                size: inode.size,
                cap: self.src.size(),
            });
        }
        let map = self.file_map_of(inode)?;
        let bs = self.sb.block_size as usize;
        let mut block = vec![0u8; bs];
        for e in map {
            let mut done = 0u64;
            while done < e.len {
                let n = (e.len - done).min(bs as u64) as usize;
                let chunk = block.get_mut(..n).unwrap_or_default();
                self.read(e.physical + done, chunk)?;
                format.parse(chunk, e.logical + done, &mut out)?;
                done += n as u64;
            }
        }
        Ok(out)
    }
}

fn read_at<R: ReadAt + ?Sized>(src: &R, offset: u64, buf: &mut [u8]) -> Result<(), Ext4Error> {
    src.read_exact_at(buf, offset)
        .map_err(|e| Ext4Error::io(offset, buf.len() as u64, e))
}
