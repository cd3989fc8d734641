//! Walks a tree in path order and writes each path as one archive member.
//!
//! The order is the tree's (parents before children, names sorted), so the same tree gives
//! the same bytes. Contents are copied from [`Content::reader`] through a fixed buffer; a
//! source that fails or is shorter than the file stops the archive with an error naming
//! the path, so a reader never sees a silently different file.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use super::error::TarError;
use super::header::{BLOCK, Member, TypeFlag, padding, pax_block, pax_records, ustar_block};
use crate::tree::{Content, Inode, InodeId, Kind, Tree, TreePath};

/// An xattr as (full name, raw value), borrowed from its inode.
type Xattr<'a> = (&'a [u8], &'a [u8]);

/// Contents are copied through a buffer of this size.
const CHUNK: usize = 64 * 1024;

/// What [`write_tar`] wrote and what it had to leave out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TarSummary {
    /// Members written (pax headers not counted).
    pub members: u64,
    /// Length of the archive in bytes.
    pub bytes: u64,
    /// Sockets, which tar cannot hold. A socket in an image is meaningless anyway: the
    /// program that listens on it creates it at run time.
    pub sockets_skipped: Vec<TreePath>,
}

/// Writes `tree` as a pax archive to `out` and reports what was written.
///
/// Every path is a member, named relative to the root (`etc/passwd`), the root itself as
/// `./`. A path whose inode appeared earlier under another name is a hard link to that
/// first name; it repeats the inode's mode, owner and time because `mke2fs -d` applies a
/// link member's attributes to the shared inode. `out` gets many small writes: pass a
/// buffered writer.
pub fn write_tar(tree: &Tree, out: &mut impl Write) -> Result<TarSummary, TarError> {
    let first_names: HashMap<InodeId, &TreePath> = tree
        .hard_links()
        .into_iter()
        .filter_map(|(id, paths)| paths.first().map(|p| (id, *p)))
        .collect();
    let mut summary = TarSummary::default();
    let mut buf = vec![0u8; CHUNK];
    for (path, id, inode) in tree.iter() {
        if matches!(inode.kind, Kind::Socket) {
            summary.sockets_skipped.push(path.clone());
            continue;
        }
        let link_to = first_names.get(&id).copied().filter(|first| *first != path);
        let written = write_member(out, path, inode, link_to, &mut buf)?;
        summary.bytes = summary
            .bytes
            .checked_add(written)
            .ok_or_else(|| TarError::Overflow {
                path: path.to_string(),
            })?;
        summary.members += 1;
    }
    let end = [0u8; 2 * BLOCK];
    out.write_all(&end)
        .and_then(|()| out.flush())
        .map_err(|source| TarError::Write {
            path: "the end of the archive".into(),
            source,
        })?;
    summary.bytes =
        summary
            .bytes
            .checked_add(end.len() as u64)
            .ok_or_else(|| TarError::Overflow {
                path: "the end of the archive".into(),
            })?;
    Ok(summary)
}

/// Writes one member (pax header, ustar header, contents) and returns its length.
fn write_member(
    out: &mut impl Write,
    path: &TreePath,
    inode: &Inode,
    link_to: Option<&TreePath>,
    buf: &mut [u8],
) -> Result<u64, TarError> {
    let shown = path.to_string();
    let name = if path.is_root() {
        b"./".to_vec()
    } else {
        let mut name = path.to_relative_bytes();
        if inode.is_dir() {
            name.push(b'/');
        }
        name
    };
    let link_name;
    let (flag, size, link, dev): (TypeFlag, u64, &[u8], (u32, u32)) = match (&inode.kind, link_to) {
        (_, Some(first)) => {
            link_name = first.to_relative_bytes();
            (TypeFlag::HardLink, 0, &link_name, (0, 0))
        }
        (Kind::File { size, .. }, None) => (TypeFlag::File, *size, b"", (0, 0)),
        (Kind::Dir, None) => (TypeFlag::Dir, 0, b"", (0, 0)),
        (Kind::Symlink(target), None) => (TypeFlag::Symlink, 0, target, (0, 0)),
        (Kind::CharDevice { major, minor }, None) => {
            (TypeFlag::CharDevice, 0, b"", (*major, *minor))
        }
        (Kind::BlockDevice { major, minor }, None) => {
            (TypeFlag::BlockDevice, 0, b"", (*major, *minor))
        }
        (Kind::Fifo, None) => (TypeFlag::Fifo, 0, b"", (0, 0)),
        // The caller leaves sockets out; nothing to write if one gets here.
        (Kind::Socket, None) => return Ok(0),
    };
    // A link member only names the inode: its xattrs were stored with the first name.
    let xattrs = if link_to.is_some() {
        Vec::new()
    } else {
        checked_xattrs(inode, &shown)?
    };
    let member = Member {
        name: &name,
        flag,
        mode: inode.mode,
        uid: inode.uid,
        gid: inode.gid,
        size,
        mtime: inode.mtime,
        link,
        dev,
        xattrs,
    };
    let records = pax_records(&member);
    let write_err = |source: io::Error| TarError::Write {
        path: shown.clone(),
        source,
    };
    let mut written = 0u64;
    if !records.is_empty() {
        let pad = padding(records.len() as u64);
        out.write_all(&pax_block(records.len() as u64))
            .and_then(|()| out.write_all(&records))
            .and_then(|()| out.write_all(&[0u8; BLOCK][..pad]))
            .map_err(write_err)?;
        written = (BLOCK + records.len() + pad) as u64;
    }
    out.write_all(&ustar_block(&member)).map_err(write_err)?;
    written += BLOCK as u64;
    if let (Kind::File { content, .. }, TypeFlag::File) = (&inode.kind, flag) {
        copy_content(out, content, size, &shown, buf)?;
        let pad = padding(size);
        out.write_all(&[0u8; BLOCK][..pad]).map_err(write_err)?;
        written = written
            .checked_add(size)
            .and_then(|w| w.checked_add(pad as u64))
            .ok_or(TarError::Overflow { path: shown })?;
    }
    Ok(written)
}

/// The inode's xattrs, refusing names a pax record key cannot hold.
fn checked_xattrs<'a>(inode: &'a Inode, path: &str) -> Result<Vec<Xattr<'a>>, TarError> {
    inode
        .xattrs
        .iter()
        .map(|(name, value)| {
            if name.is_empty() || name.contains(&b'=') || name.contains(&0) {
                return Err(TarError::XattrName {
                    path: path.to_string(),
                    name: String::from_utf8_lossy(name).into_owned(),
                });
            }
            Ok((name.as_slice(), value.as_slice()))
        })
        .collect()
}

/// Copies exactly `size` bytes of `content` to `out`.
fn copy_content(
    out: &mut impl Write,
    content: &Content,
    size: u64,
    path: &str,
    buf: &mut [u8],
) -> Result<(), TarError> {
    let content_err = |source: io::Error| TarError::Content {
        path: path.to_string(),
        source,
    };
    let mut reader = content.reader(size).map_err(content_err)?;
    let mut done = 0u64;
    while done < size {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(content_err(e)),
        };
        // The reader is capped at `size`; the min only guards a misbehaving source.
        let take = usize::try_from(size - done).map_or(n, |left| n.min(left));
        out.write_all(&buf[..take])
            .map_err(|source| TarError::Write {
                path: path.to_string(),
                source,
            })?;
        done += take as u64;
    }
    if done != size {
        return Err(TarError::ShortContent {
            path: path.to_string(),
            expected: size,
            got: done,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{Inode, Timestamp};

    fn p(text: &str) -> TreePath {
        TreePath::parse(text).unwrap()
    }

    fn sample() -> Tree {
        let t = Timestamp {
            secs: 1_600_000_000,
            nanos: 250,
        };
        let mut tree = Tree::new(Inode::dir(0o755, t));
        tree.insert(p("etc"), Inode::dir(0o755, t)).unwrap();
        tree.insert(p("etc/a"), Inode::file("hello", 0o644, t))
            .unwrap();
        tree.link(&p("etc/a"), p("b")).unwrap();
        tree.insert(p("sock"), Inode::new(Kind::Socket, 0o755, t))
            .unwrap();
        tree
    }

    #[test]
    fn archive_is_deterministic_and_block_aligned() {
        let tree = sample();
        let mut a = Vec::new();
        let summary = write_tar(&tree, &mut a).unwrap();
        let mut b = Vec::new();
        write_tar(&tree, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len() as u64, summary.bytes);
        assert_eq!(a.len() % BLOCK, 0);
        assert_eq!(summary.members, 4);
        assert_eq!(summary.sockets_skipped, vec![p("sock")]);
    }

    #[test]
    fn later_names_of_an_inode_are_links_to_the_first() {
        let mut out = Vec::new();
        write_tar(&sample(), &mut out).unwrap();
        // `b` sorts before `etc/a`, so `b` holds the data and `etc/a` links to it.
        let headers: Vec<&[u8]> = out
            .chunks(BLOCK)
            .filter(|b| &b[257..262] == b"ustar")
            .collect();
        let link = headers.iter().find(|h| h.starts_with(b"etc/a\0")).unwrap();
        assert_eq!(link[156], b'1');
        assert!(link[157..].starts_with(b"b\0"));
        assert!(
            headers
                .iter()
                .any(|h| h.starts_with(b"./\0") && h[156] == b'5')
        );
    }

    #[test]
    fn wrong_content_length_names_the_path() {
        let t = Timestamp::default();
        let mut tree = Tree::new(Inode::dir(0o755, t));
        let mut inode = Inode::file("abc", 0o644, t);
        if let Kind::File { size, .. } = &mut inode.kind {
            *size = 10;
        }
        tree.insert(p("short"), inode).unwrap();
        let err = write_tar(&tree, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("/short"), "{err}");
    }

    #[test]
    fn bad_xattr_names_are_refused() {
        let t = Timestamp::default();
        let mut tree = Tree::new(Inode::dir(0o755, t));
        let mut inode = Inode::file("", 0o644, t);
        inode.xattrs.insert(b"user.a=b".to_vec(), b"x".to_vec());
        tree.insert(p("f"), inode).unwrap();
        assert!(matches!(
            write_tar(&tree, &mut Vec::new()),
            Err(TarError::XattrName { .. })
        ));
    }
}
