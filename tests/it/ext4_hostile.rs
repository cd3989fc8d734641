//! The ext4 reader against damaged and hostile filesystems: truncation, corrupt superblock
//! fields, directory loops made with `debugfs link`, patched extent headers, directory
//! entries and sizes, and randomly mutated images. Every case must end in errors, never
//! a panic or a hang, and a bad entry must not hide the rest of the tree.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pi_imager::image::ext4::{Ext4, Ext4Error, FileType};
use pi_imager::image::io::ImageFile;
use proptest::prelude::*;

use crate::ext4_fixture::{self, run};

/// A fresh small ext4 image (1 KiB blocks) that a test may damage.
fn fresh(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    let img = dir.join("fs.img");
    ext4_fixture::make_tree(&src, false);
    ext4_fixture::mke2fs(&src, &img, &["-t", "ext4", "-b", "1024"], "8M");
    img
}

fn open(img: &Path) -> Result<Ext4<ImageFile>, Ext4Error> {
    Ext4::open(ImageFile::open(img).unwrap())
}

fn patch(img: &Path, offset: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(img).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

fn debugfs(img: &Path, request: &str) -> String {
    run(Command::new("debugfs").arg("-R").arg(request).arg(img))
}

fn debugfs_w(img: &Path, request: &str) {
    run(Command::new("debugfs")
        .arg("-w")
        .arg("-R")
        .arg(request)
        .arg(img));
}

/// Byte offset of the inode of `path`, from `debugfs imap`.
fn inode_offset(img: &Path, path: &str, block_size: u64) -> u64 {
    let out = debugfs(img, &format!("imap {path}"));
    let rest = out.split("located at block ").nth(1).unwrap();
    let (block, rest) = rest.split_once(", offset ").unwrap();
    let offset = rest.trim().trim_start_matches("0x");
    block.parse::<u64>().unwrap() * block_size + u64::from_str_radix(offset, 16).unwrap()
}

fn ino_of(fs: &Ext4<ImageFile>, path: &[u8]) -> u32 {
    let walk = fs.walk();
    walk.entries.iter().find(|e| e.path == path).unwrap().ino
}

#[test]
fn truncated_and_corrupt_superblocks_are_refused() {
    let good = ext4_fixture::small_image();
    let walk = Ext4::open(good.clone()).unwrap().walk();
    assert!(
        walk.errors.is_empty() && walk.entries.len() > 30,
        "{:?}",
        walk.errors
    );
    for len in [0, 1500, 2048, good.len() / 2, good.len() - 1] {
        let cut = good[..len].to_vec();
        assert!(
            Ext4::open(cut).is_err(),
            "opened an image cut to {len} bytes"
        );
    }
    let field = |off: usize, bytes: &[u8]| {
        let mut img = good.clone();
        img[1024 + off..1024 + off + bytes.len()].copy_from_slice(bytes);
        Ext4::open(img)
    };
    assert!(matches!(
        field(0x38, &[0, 0]),
        Err(Ext4Error::BadMagic { found: 0 })
    ));
    assert!(matches!(
        field(0x18, &[20]),
        Err(Ext4Error::BadSuperblock { .. })
    ));
    assert!(matches!(
        field(0x4, &[0xff; 4]),
        Err(Ext4Error::Truncated { .. })
    ));
    assert!(field(0x0, &[0xff; 4]).is_err(), "absurd inode count");
    assert!(field(0x28, &[0; 4]).is_err(), "zero inodes per group");
    assert!(field(0x20, &[0; 4]).is_err(), "zero blocks per group");
    assert!(field(0x58, &[0x10, 0]).is_err(), "16-byte inodes");
    assert!(matches!(
        field(0x60, &[0, 0, 1, 0]),
        Err(Ext4Error::UnsupportedFeatures { .. })
    ));
    assert!(matches!(
        field(0x60, &[4, 0, 0, 0]),
        Err(Ext4Error::NeedsRecovery)
    ));
}

#[test]
fn directory_loops_are_reported_and_the_rest_is_walked() {
    let dir = tempfile::tempdir().unwrap();
    let img = fresh(dir.path());
    debugfs_w(&img, "link /links /links/b/up");
    debugfs_w(&img, "link /modes /modes/self");
    let fs = open(&img).unwrap();
    let walk = fs.walk();
    let loops: Vec<_> = walk
        .errors
        .iter()
        .filter(|e| matches!(e, Ext4Error::DirectoryLoop { .. }))
        .collect();
    assert_eq!(loops.len(), 2, "{:?}", walk.errors);
    assert!(walk.entries.iter().any(|e| e.path == b"/third"));
    assert!(walk.entries.iter().any(|e| e.path == b"/modes/setuid"));
}

#[test]
fn corrupt_extent_headers_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let img = fresh(dir.path());
    let fs = open(&img).unwrap();
    let ino = ino_of(&fs, b"/maps/double");
    let content = fs.read_to_vec(ino, 1 << 20).unwrap();
    assert_eq!(content.len(), 300 * 1024);
    drop(fs);
    let i_block = inode_offset(&img, "/maps/double", 1024) + 0x28;
    let original = std::fs::read(&img).unwrap();
    let cases: [(&str, u64, &[u8]); 4] = [
        ("bad magic", 0, &[0x0b, 0xad]),
        ("depth 7", 6, &[7, 0]),
        ("depth 1 over data blocks", 6, &[1, 0]),
        ("more entries than room", 2, &[9, 0, 9, 0]),
    ];
    for (what, off, bytes) in cases {
        std::fs::write(&img, &original).unwrap();
        patch(&img, i_block + off, bytes);
        let fs = open(&img).unwrap();
        assert!(
            matches!(fs.file_map(ino), Err(Ext4Error::BadExtentTree { .. })),
            "{what}: {:?}",
            fs.file_map(ino)
        );
        assert!(fs.read_to_vec(ino, 1 << 20).is_err(), "{what}");
        // The walk reads no file data, so it still sees every path.
        let walk = fs.walk();
        assert!(walk.errors.is_empty(), "{what}: {:?}", walk.errors);
    }
}

#[test]
fn corrupt_entries_and_sizes_are_errors_of_their_own_paths() {
    let dir = tempfile::tempdir().unwrap();
    let img = fresh(dir.path());
    // An absurd size: reads are refused by the cap, not attempted.
    debugfs_w(&img, "sif /modes/setuid size 0x7fffffffffffffff");
    // A directory entry naming an inode past the end of the table.
    let fs = open(&img).unwrap();
    let walk = fs.walk();
    let owners = walk.entries.iter().find(|e| e.path == b"/owners").unwrap();
    let setuid = ino_of(&fs, b"/modes/setuid");
    assert!(matches!(
        fs.read_to_vec(setuid, 1 << 20),
        Err(Ext4Error::TooLarge { .. })
    ));
    let mut buf = [0u8; 16];
    assert_eq!(fs.read_file(setuid, 1 << 62, &mut buf).unwrap(), 16);
    let owners_ino = owners.ino;
    assert_eq!(owners.inode.file_type(), Some(FileType::Directory));
    let map = fs.file_map(owners_ino).unwrap();
    drop(fs);
    // First entry of /owners is "."; the second is "..", at byte 12; the third follows.
    let block = map[0].physical;
    patch(&img, block + 24, &0xFFFF_FFF0u32.to_le_bytes());
    let fs = open(&img).unwrap();
    let walk = fs.walk();
    assert!(
        walk.errors.iter().any(|e| matches!(
            e,
            Ext4Error::AtPath { source, .. } if matches!(**source, Ext4Error::InodeOutOfRange { .. })
        )),
        "{:?}",
        walk.errors
    );
    assert!(walk.entries.iter().any(|e| e.path == b"/third"));
    drop(fs);
    // A rec_len of zero in the same block spoils that directory only.
    patch(&img, block + 4, &[0, 0]);
    let fs = open(&img).unwrap();
    let walk = fs.walk();
    assert!(
        walk.errors.iter().any(|e| matches!(
            e,
            Ext4Error::AtPath { source, .. } if matches!(**source, Ext4Error::BadDirEntry { .. })
        )),
        "{:?}",
        walk.errors
    );
    assert!(walk.entries.iter().any(|e| e.path == b"/modes/setgid"));
}

/// Opens, walks and reads everything it can; only the absence of panics matters.
fn exercise(img: Vec<u8>) {
    let Ok(fs) = Ext4::open(img) else {
        return;
    };
    let _ = fs.superblock().feature_names();
    let walk = fs.walk();
    for e in walk.entries.iter().take(200) {
        match e.inode.file_type() {
            Some(FileType::Regular) => {
                let _ = fs.file_map(e.ino);
                let _ = fs.read_to_vec(e.ino, 1 << 20);
            }
            Some(FileType::Symlink) => {
                let _ = fs.read_link(e.ino);
            }
            Some(FileType::Directory) => {
                let _ = fs.read_dir(e.ino);
            }
            _ => {}
        }
    }
    for ino in [0, 1, 2, 7, 8, 11, u32::MAX] {
        let _ = fs.inode(ino);
        let _ = fs.file_map(ino);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn mutated_images_never_panic(
        edits in proptest::collection::vec((0usize..(256 << 10), any::<u8>()), 1..64),
        far in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
    ) {
        let mut img = ext4_fixture::small_image().clone();
        let len = img.len();
        // Metadata sits in the first few hundred KiB of a 2 MiB filesystem.
        for (at, b) in edits {
            img[at % len] = b;
        }
        for (at, b) in far {
            img[at % len] = b;
        }
        exercise(img);
    }
}

#[test]
fn absurd_nesting_is_reported_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let img = dir.path().join("fs.img");
    // 1,100 levels of one-letter directories: deeper than the walk's limit of 1,024.
    // Made with debugfs, since `mke2fs -d` (1.47.2) crashes on a source this deep.
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("sibling"), b"still read\n").unwrap();
    ext4_fixture::mke2fs(
        &src,
        &img,
        &["-t", "ext4", "-b", "1024", "-N", "2048"],
        "8M",
    );
    let cmds = dir.path().join("cmds");
    std::fs::write(&cmds, "mkdir d\ncd d\n".repeat(1100)).unwrap();
    run(Command::new("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(&cmds)
        .arg(&img));
    let walk = open(&img).unwrap().walk();
    let deep: Vec<_> = walk
        .errors
        .iter()
        .filter(|e| matches!(e, Ext4Error::TooDeep { depth: 1024, .. }))
        .collect();
    assert_eq!(deep.len(), 1, "{:?}", walk.errors);
    assert!(walk.entries.iter().any(|e| e.path == b"/sibling"));
    // The root, lost+found, sibling, and the directories at depths 1 to 1,024.
    assert_eq!(walk.entries.len(), 3 + 1024);
}
