//! The FAT reader against volumes made by mkfs.vfat and filled by mcopy.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use pi_imager::image::fat::{Fat, FatType};
use pi_imager::image::io::ImageFile;

use crate::fat_support::{Item, make_source_dir, run, scan_fat};

/// Makes a FAT image of `kib` KiB with mkfs.vfat and copies the source tree in with mcopy.
fn make_image(dir: &Path, fat_bits: u32, kib: u64) -> (std::path::PathBuf, BTreeMap<String, Item>) {
    let src = dir.join("src");
    fs::create_dir(&src).unwrap();
    let expected = make_source_dir(&src);
    let img = dir.join("fat.img");
    run(Command::new("mkfs.vfat")
        .args([
            "-C",
            "-F",
            &fat_bits.to_string(),
            "-i",
            "1234ABCD",
            "-n",
            "TESTVOL",
        ])
        .arg(&img)
        .arg(kib.to_string()));
    let mut mcopy = Command::new("mcopy");
    mcopy.args(["-s", "-m", "-i"]).arg(&img);
    for e in fs::read_dir(&src).unwrap() {
        mcopy.arg(e.unwrap().path());
    }
    run(mcopy.arg("::/"));
    (img, expected)
}

/// Equal trees, mtimes within FAT's 2-second resolution.
fn assert_same(found: &BTreeMap<String, Item>, expected: &BTreeMap<String, Item>) {
    let keys = |m: &BTreeMap<String, Item>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(found), keys(expected));
    for (path, want) in expected {
        match (&found[path], want) {
            (Item::Dir, Item::Dir) => {}
            (
                Item::File {
                    size,
                    sha256,
                    mtime,
                },
                Item::File {
                    size: s2,
                    sha256: h2,
                    mtime: m2,
                },
            ) => {
                assert_eq!((size, sha256), (s2, h2), "{path}");
                assert!((mtime - m2).abs() <= 2, "{path}: mtime {mtime} vs {m2}");
            }
            (a, b) => panic!("{path}: {a:?} vs {b:?}"),
        }
    }
}

fn check_image(fat_bits: u32, kib: u64, fat_type: FatType) {
    let dir = tempfile::tempdir().unwrap();
    let (img, expected) = make_image(dir.path(), fat_bits, kib);
    let file = ImageFile::open(&img).unwrap();
    let fat = Fat::open(ImageFile::open(&img).unwrap()).unwrap();
    assert_eq!(fat.fat_type(), fat_type);
    assert_eq!(fat.volume_id(), Some(0x1234_ABCD));
    assert_eq!(fat.bpb_label().as_deref(), Some("TESTVOL"));
    assert_eq!(fat.root_label(), Some("TESTVOL"));
    assert_eq!(fat.label().as_deref(), Some("TESTVOL"));

    let found = scan_fat(&fat, &file, true);
    assert_same(&found, &expected);

    let root = fat.root_dir().unwrap();
    let hello = root.iter().find(|e| e.name == "hello.txt").unwrap();
    assert_eq!(hello.short_name, "HELLO.TXT");
    assert!(hello.attributes.archive() && !hello.attributes.read_only());
    let big = root.iter().find(|e| e.name == "big.bin").unwrap();
    assert!(big.size > 100 * fat.cluster_size());
    let long = root.iter().find(|e| e.name.starts_with("A Long")).unwrap();
    assert!(long.short_name.contains('~'), "{}", long.short_name);
    let many = root.iter().find(|e| e.name == "many").unwrap();
    assert!(many.is_dir());
    assert_eq!(fat.read_dir(many).unwrap().len(), 230);

    // mtools' own listing names the same paths.
    let out = run(Command::new("mdir")
        .args(["-/", "-b", "-a", "-i"])
        .arg(&img)
        .arg("::/"));
    let mut listed: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("::/"))
        .map(|l| l.trim_end_matches('/').to_string())
        .filter(|l| !l.is_empty())
        .collect();
    listed.sort();
    assert_eq!(listed, found.keys().cloned().collect::<Vec<_>>());
}

#[test]
fn reads_fat16_made_by_mkfs_and_mcopy() {
    check_image(16, 64 * 1024, FatType::Fat16);
}

#[test]
fn reads_fat32_made_by_mkfs_and_mcopy() {
    check_image(32, 300 * 1024, FatType::Fat32);
}

#[test]
fn fat12_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("fat12.img");
    run(Command::new("mkfs.vfat")
        .args(["-C", "-F", "12"])
        .arg(&img)
        .arg("1440"));
    let err = Fat::open(ImageFile::open(&img).unwrap()).unwrap_err();
    assert!(err.to_string().contains("FAT12"), "{err}");
}
