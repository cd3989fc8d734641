//! The ext4 reader against filesystems made by the real `mke2fs -d`: every path of the
//! source tree must read back with the same type, mode, owner, size, times, link target,
//! device number, content and hard-link grouping, and the superblock must say what
//! `dumpe2fs` and `blkid` say.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use pi_imager::image::ext4::{Ext4, Extent, FileType, WalkEntry};
use pi_imager::image::io::{ImageFile, ReadAt};
use sha2::{Digest, Sha256};

use crate::ext4_fixture::{self, Fixture, run};

/// Files above this are compared by their mapped extents only, not hashed whole.
const HASH_LIMIT: u64 = 64 << 20;

/// Every path under `root` in depth-first, byte-sorted order, as the reader walks.
fn source_paths(root: &Path) -> Vec<(Vec<u8>, std::fs::Metadata)> {
    let mut out = vec![(b"/".to_vec(), std::fs::symlink_metadata(root).unwrap())];
    fn visit(dir: &Path, prefix: &[u8], out: &mut Vec<(Vec<u8>, std::fs::Metadata)>) {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in names {
            let p = dir.join(&name);
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let mut path = prefix.to_vec();
            path.push(b'/');
            path.extend_from_slice(name.as_bytes());
            let is_dir = meta.is_dir();
            out.push((path.clone(), meta));
            if is_dir {
                visit(&p, &path, out);
            }
        }
    }
    visit(root, b"", &mut out);
    out
}

fn major_minor(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

fn hash_mapped(img: &ImageFile, map: &[Extent], size: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut pos = 0u64;
    let zeros = vec![0u8; 1 << 16];
    let mut buf = vec![0u8; 1 << 16];
    let zero_fill = |h: &mut Sha256, mut n: u64| {
        while n > 0 {
            let k = n.min(zeros.len() as u64);
            h.update(&zeros[..k as usize]);
            n -= k;
        }
    };
    for e in map {
        assert!(e.logical >= pos, "extents out of order: {map:?}");
        zero_fill(&mut h, e.logical - pos);
        let mut done = 0;
        while done < e.len {
            let k = (e.len - done).min(buf.len() as u64) as usize;
            img.read_exact_at(&mut buf[..k], e.physical + done).unwrap();
            h.update(&buf[..k]);
            done += k as u64;
        }
        pos = e.logical + e.len;
    }
    zero_fill(&mut h, size - pos);
    h.finalize().into()
}

/// Compares the image of `fx` with its source tree, entry by entry.
fn assert_reads_like_source(fx: &Fixture) {
    let img = ImageFile::open(&fx.img).unwrap();
    let fs = Ext4::open(ImageFile::open(&fx.img).unwrap()).unwrap();
    let walk = fs.walk();
    assert!(walk.errors.is_empty(), "walk errors: {:?}", walk.errors);
    // The image adds lost+found, which the source does not have.
    let entries: Vec<&WalkEntry> = walk
        .entries
        .iter()
        .filter(|e| !e.path.starts_with(b"/lost+found"))
        .collect();
    let source = source_paths(&fx.src);
    let got: Vec<&[u8]> = entries.iter().map(|e| e.path.as_slice()).collect();
    let want: Vec<&[u8]> = source.iter().map(|(p, _)| p.as_slice()).collect();
    assert_eq!(got.len(), want.len(), "path counts differ");
    assert!(got == want, "paths differ");
    let has_nanos = fs.superblock().inode_size > 128;
    let mut ino_map: HashMap<u64, u32> = HashMap::new();
    for (e, (path, meta)) in entries.iter().zip(&source) {
        let what = String::from_utf8_lossy(path);
        let i = &e.inode;
        assert_eq!(u32::from(i.mode), meta.mode(), "mode of {what}");
        assert_eq!((i.uid, i.gid), (meta.uid(), meta.gid()), "owner of {what}");
        let kind = i.file_type().unwrap();
        if kind != FileType::Directory {
            assert_eq!(i.size, meta.size(), "size of {what}");
        }
        // 128-byte inodes have no epoch bits: times wrap at 2^31 seconds.
        let secs = if has_nanos {
            meta.mtime()
        } else {
            i64::from(meta.mtime() as i32)
        };
        assert_eq!(i.mtime.secs, secs, "mtime of {what}");
        if has_nanos {
            assert_eq!(
                i64::from(i.mtime.nanos),
                meta.mtime_nsec(),
                "mtime ns of {what}"
            );
        }
        if let Some(first) = ino_map.insert(meta.ino(), e.ino) {
            assert_eq!(first, e.ino, "hard links of {what} are split");
        }
        match kind {
            FileType::CharDevice | FileType::BlockDevice => {
                let dev = i.rdev.unwrap();
                assert_eq!(
                    (dev.major, dev.minor),
                    major_minor(meta.rdev()),
                    "rdev of {what}"
                );
            }
            FileType::Symlink => {
                let target = std::fs::read_link(fx.src.join(&what[1..])).unwrap();
                assert_eq!(fs.read_link(e.ino).unwrap(), target.as_os_str().as_bytes());
            }
            FileType::Regular => {
                let map = fs.file_map(e.ino).unwrap();
                let local = fx.src.join(&what[1..]);
                if i.size <= HASH_LIMIT {
                    let want: [u8; 32] = Sha256::digest(std::fs::read(&local).unwrap()).into();
                    assert_eq!(hash_mapped(&img, &map, i.size), want, "content of {what}");
                } else {
                    // Huge sparse files: the mapped bytes must be the source's bytes there.
                    let file = std::fs::File::open(&local).unwrap();
                    let mapped: u64 = map.iter().map(|x| x.len).sum();
                    assert!(mapped < 1 << 20, "{what} maps {mapped} bytes");
                    for x in &map {
                        let mut a = vec![0u8; x.len as usize];
                        let mut b = vec![0u8; x.len as usize];
                        img.read_exact_at(&mut a, x.physical).unwrap();
                        file.read_exact_at(&mut b, x.logical).unwrap();
                        assert_eq!(a, b, "bytes of {what} at {}", x.logical);
                    }
                }
            }
            _ => {}
        }
        // Only the xattrs set with debugfs exist.
        let mut want: Vec<(String, Vec<u8>)> = fx
            .xattrs
            .iter()
            .filter(|(p, _, _)| p.as_bytes() == path.as_slice())
            .map(|(_, n, v)| (n.clone(), v.clone()))
            .collect();
        let mut got: Vec<(String, Vec<u8>)> = i
            .xattrs
            .iter()
            .map(|x| (String::from_utf8(x.name.clone()).unwrap(), x.value.clone()))
            .collect();
        want.sort();
        got.sort();
        let summary = |v: &[(String, Vec<u8>)]| -> Vec<(String, usize, [u8; 32])> {
            v.iter()
                .map(|(n, v)| (n.clone(), v.len(), Sha256::digest(v).into()))
                .collect()
        };
        assert_eq!(summary(&got), summary(&want), "xattrs of {what}");
    }
    // Hard-link grouping is one-to-one.
    let distinct: std::collections::HashSet<u32> = ino_map.values().copied().collect();
    assert_eq!(
        distinct.len(),
        ino_map.len(),
        "distinct source files share an inode"
    );
}

/// The value after `key:` in `dumpe2fs -h` output.
fn field<'a>(dump: &'a str, key: &str) -> &'a str {
    dump.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("dumpe2fs printed no {key}"))
        .trim()
}

fn assert_superblock_like_dumpe2fs(fx: &Fixture) {
    let fs = Ext4::open(ImageFile::open(&fx.img).unwrap()).unwrap();
    let sb = fs.superblock();
    let dump = run(Command::new("dumpe2fs").arg("-h").arg(&fx.img));
    assert_eq!(
        sb.feature_names().join(" "),
        field(&dump, "Filesystem features")
    );
    assert_eq!(sb.label, field(&dump, "Filesystem volume name").as_bytes());
    assert_eq!(sb.uuid_string(), field(&dump, "Filesystem UUID"));
    assert_eq!(sb.hash_seed_string(), field(&dump, "Directory Hash Seed"));
    assert_eq!(sb.block_size.to_string(), field(&dump, "Block size"));
    assert_eq!(sb.inode_size.to_string(), field(&dump, "Inode size"));
    assert_eq!(sb.blocks_count.to_string(), field(&dump, "Block count"));
    assert_eq!(sb.inodes_count.to_string(), field(&dump, "Inode count"));
    assert_eq!(
        sb.free_blocks_count.to_string(),
        field(&dump, "Free blocks")
    );
    assert_eq!(
        sb.free_inodes_count.to_string(),
        field(&dump, "Free inodes")
    );
    assert_eq!(sb.first_data_block.to_string(), field(&dump, "First block"));
    // dumpe2fs leaves the line out when there is no resize inode.
    let reserved = dump.contains("Reserved GDT blocks:");
    let reserved = if reserved {
        field(&dump, "Reserved GDT blocks")
    } else {
        "0"
    };
    assert_eq!(sb.reserved_gdt_blocks.to_string(), reserved);
    assert_eq!(
        sb.default_hash_name(),
        Some(field(&dump, "Default directory hash"))
    );
    let errors = field(&dump, "Errors behavior").to_lowercase();
    assert_eq!(
        sb.errors.mkfs_name().unwrap().replace('-', " "),
        errors.replace('-', " ")
    );
    let blkid = |tag: &str| {
        run(Command::new("blkid")
            .args(["-o", "value", "-s", tag])
            .arg(&fx.img))
        .trim()
        .to_string()
    };
    assert_eq!(sb.uuid_string(), blkid("UUID"));
    assert_eq!(sb.label, blkid("LABEL").as_bytes());
    assert!(sb.created > 1_700_000_000, "created {}", sb.created);

    // The feature option recreates the same feature list.
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("again.img");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let option = sb.mkfs_feature_option();
    ext4_fixture::mke2fs(&empty, &again, &["-t", "ext4", "-O", &option], "64M");
    let again_dump = run(Command::new("dumpe2fs").arg("-h").arg(&again));
    assert_eq!(
        field(&again_dump, "Filesystem features"),
        field(&dump, "Filesystem features"),
        "mke2fs -O {option}"
    );
}

#[test]
fn jessie_era_filesystem_reads_like_its_source() {
    assert_reads_like_source(ext4_fixture::jessie());
}

#[test]
fn bookworm_era_filesystem_reads_like_its_source() {
    assert_reads_like_source(ext4_fixture::bookworm());
}

#[test]
fn ext2_block_maps_read_like_their_source() {
    let fx = ext4_fixture::ext2();
    assert_reads_like_source(fx);
    let fs = Ext4::open(ImageFile::open(&fx.img).unwrap()).unwrap();
    assert!(
        !fs.superblock()
            .feature_names()
            .contains(&"extent".to_string())
    );
    // The 70 MiB file reaches its data through a triple-indirect block.
    let walk = fs.walk();
    let triple = walk
        .entries
        .iter()
        .find(|e| e.path == b"/maps/triple")
        .unwrap();
    let map = fs.file_map(triple.ino).unwrap();
    assert_eq!(map.len(), 2, "{map:?}");
    assert_eq!(map[1].logical, 70 << 20);
    let stat = run(Command::new("debugfs")
        .args(["-R", "stat /maps/triple"])
        .arg(&fx.img));
    assert!(
        stat.contains("(TIND)"),
        "debugfs shows no triple-indirect block:\n{stat}"
    );
}

#[test]
fn inline_data_reads_like_its_source() {
    let fx = ext4_fixture::inline();
    assert_reads_like_source(fx);
    let fs = Ext4::open(ImageFile::open(&fx.img).unwrap()).unwrap();
    let walk = fs.walk();
    let inline = walk
        .entries
        .iter()
        .filter(|e| e.inode.has_inline_data())
        .count();
    assert!(inline > 5, "only {inline} inodes hold inline data");
}

#[test]
fn bigalloc_reads_like_its_source() {
    let fx = ext4_fixture::bigalloc();
    assert_reads_like_source(fx);
    assert_superblock_like_dumpe2fs(fx);
}

#[test]
fn xattr_values_in_their_own_inodes_read_like_debugfs_set_them() {
    let fx = ext4_fixture::ea_inode();
    assert_reads_like_source(fx);
    let list = run(Command::new("debugfs")
        .args(["-R", "ea_list /xattr/big"])
        .arg(&fx.img));
    assert!(list.contains("user.big (1024)"), "{list}");
    // Neither the 96 free bytes of the inode nor the (absent) attribute block hold it.
    let stat = run(Command::new("debugfs")
        .args(["-R", "stat /xattr/big"])
        .arg(&fx.img));
    assert!(stat.contains("File ACL: 0"), "{stat}");
}

#[test]
fn meta_bg_reads_like_its_source() {
    let fx = ext4_fixture::meta_bg();
    assert_reads_like_source(fx);
    assert_superblock_like_dumpe2fs(fx);
    let fs = Ext4::open(ImageFile::open(&fx.img).unwrap()).unwrap();
    assert!(fs.superblock().group_count() > 32);
    // An inode of the last group, whose descriptor sits in the second meta group.
    let last = fs.superblock().inodes_count;
    assert_eq!(fs.inode(last).unwrap().mode, 0, "the last inode is unused");
}

#[test]
fn small_inodes_read_like_their_source() {
    let fx = ext4_fixture::small_inodes();
    assert_reads_like_source(fx);
    let fs = Ext4::open(ImageFile::open(&fx.img).unwrap()).unwrap();
    assert_eq!(fs.superblock().inode_size, 128);
    let walk = fs.walk();
    let cap = walk
        .entries
        .iter()
        .find(|e| e.path == b"/xattr/cap")
        .unwrap();
    assert!(cap.inode.crtime.is_none());
    assert_ne!(
        cap.inode.xattr_block(),
        0,
        "attributes must be in the external block"
    );
}

#[test]
fn superblocks_match_dumpe2fs_and_blkid() {
    assert_superblock_like_dumpe2fs(ext4_fixture::jessie());
    assert_superblock_like_dumpe2fs(ext4_fixture::bookworm());
    assert_superblock_like_dumpe2fs(ext4_fixture::ext2());
}

#[test]
fn big_directories_deep_trees_and_deep_extent_trees() {
    let fx = ext4_fixture::bookworm();
    let fs = Ext4::open(ImageFile::open(&fx.img).unwrap()).unwrap();
    let walk = fs.walk();
    assert!(
        walk.entries.len() > 20_000,
        "{} entries",
        walk.entries.len()
    );
    let big = walk.entries.iter().find(|e| e.path == b"/big").unwrap();
    assert!(
        big.inode.flags & pi_imager::image::ext4::FLAG_INDEX != 0,
        "/big is not hashed"
    );
    assert_eq!(fs.read_dir(big.ino).unwrap().len(), 5000);
    let deepest = walk
        .entries
        .iter()
        .map(|e| e.path.split(|&c| c == b'/').count())
        .max();
    assert!(deepest.unwrap() > 40);

    let ex = run(Command::new("debugfs")
        .args(["-R", "ex /frag"])
        .arg(&fx.img));
    let max_level = ex
        .lines()
        .filter_map(|l| l.trim().split('/').next()?.trim().parse::<u32>().ok())
        .max()
        .unwrap();
    assert!(
        max_level >= 2,
        "the extent tree of /frag is too shallow:\n{ex}"
    );
    let frag = walk.entries.iter().find(|e| e.path == b"/frag").unwrap();
    let map = fs.file_map(frag.ino).unwrap();
    let odd: Vec<_> = map
        .iter()
        .filter(|e| e.logical % 8192 != 0 || e.len != 4096)
        .collect();
    assert_eq!(map.len(), 1500, "{odd:?}");
    let sparse = walk.entries.iter().find(|e| e.path == b"/sparse").unwrap();
    assert!(sparse.inode.size > 4 << 30);
}

#[test]
fn xattrs_match_debugfs() {
    let fx = ext4_fixture::bookworm();
    let fs = Ext4::open(ImageFile::open(&fx.img).unwrap()).unwrap();
    let walk = fs.walk();
    for path in ["/xattr/cap", "/xattr/user", "/xattr/big"] {
        let list = run(Command::new("debugfs")
            .args(["-R", &format!("ea_list {path}")])
            .arg(&fx.img));
        let e = walk
            .entries
            .iter()
            .find(|e| e.path == path.as_bytes())
            .unwrap();
        for x in &e.inode.xattrs {
            let name = String::from_utf8_lossy(&x.name).into_owned();
            assert!(
                list.contains(&name),
                "debugfs ea_list {path} lacks {name}:\n{list}"
            );
        }
        let stat = run(Command::new("debugfs")
            .args(["-R", &format!("stat {path}")])
            .arg(&fx.img));
        let acl = stat
            .lines()
            .find_map(|l| l.split("File ACL: ").nth(1))
            .and_then(|r| r.split_whitespace().next())
            .unwrap()
            .to_string();
        // The 2000-byte value cannot fit in the inode: it lives in the external block.
        assert_eq!(
            acl != "0",
            path == "/xattr/big",
            "File ACL of {path} is {acl}:\n{stat}"
        );
    }
}

#[test]
fn unwritten_extents_read_as_holes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let img = dir.path().join("fs.img");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), b"data").unwrap();
    ext4_fixture::mke2fs(&src, &img, &["-t", "ext4", "-b", "1024"], "8M");
    // Preallocate blocks 1-9 past the data (unwritten extents) and grow the file over them.
    run(Command::new("debugfs")
        .args(["-w", "-R", "fallocate /f 0 9"])
        .arg(&img));
    run(Command::new("debugfs")
        .args(["-w", "-R", "sif /f size 10240"])
        .arg(&img));
    let ex = run(Command::new("debugfs").args(["-R", "ex /f"]).arg(&img));
    assert!(ex.contains("Uninit"), "no unwritten extent:\n{ex}");
    let fs = Ext4::open(ImageFile::open(&img).unwrap()).unwrap();
    let walk = fs.walk();
    let f = walk.entries.iter().find(|e| e.path == b"/f").unwrap();
    let map = fs.file_map(f.ino).unwrap();
    assert_eq!(map.len(), 1, "{map:?}");
    assert_eq!((map[0].logical, map[0].len), (0, 1024));
    let content = fs.read_to_vec(f.ino, 1 << 20).unwrap();
    assert_eq!(&content[..4], b"data");
    assert!(content[4..].iter().all(|&b| b == 0));
    assert_eq!(content.len(), 10240);
}
