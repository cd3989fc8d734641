//! The FAT reader on damaged and hostile volumes: clear errors, no panic, no hang.

use std::fs;
use std::io;
use std::process::Command;
use std::sync::OnceLock;

use pi_imager::image::fat::{DirEntry, Fat, FatEntry, FatError, FatOptions, FatType, write_fat32};
use pi_imager::image::io::ReadAt;
use proptest::prelude::*;

use crate::fat_support::{content, run, sparse_file};

/// A small FAT16 volume made by mkfs.vfat and mcopy: nested directories, long names and
/// a file of several clusters.
fn fat16_image() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("sub/inner")).unwrap();
        fs::write(src.join("sub/inner/deep file.txt"), b"deep").unwrap();
        fs::write(src.join("sub/a long name.bin"), content(1, 5000)).unwrap();
        fs::write(src.join("top.txt"), b"top").unwrap();
        let img = dir.path().join("fat16.img");
        run(Command::new("mkfs.vfat")
            .args(["-C", "-F", "16", "-s", "1", "-i", "0BADF00D"])
            .arg(&img)
            .arg("4096"));
        run(Command::new("mcopy")
            .args(["-s", "-m", "-i"])
            .arg(&img)
            .arg(src.join("sub"))
            .arg(src.join("top.txt"))
            .arg("::/"));
        fs::read(&img).unwrap()
    })
}

/// A small FAT32 volume made by our writer with the same shape.
fn fat32_image() -> &'static [u8] {
    static IMAGE: OnceLock<Vec<u8>> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("fat32.img");
        let size = 34 * 1024 * 1024;
        let file = sparse_file(&img, size);
        let opts = FatOptions {
            label: "HOSTILE".into(),
            volume_id: 1,
            timestamp: 1_700_000_000,
            cluster_size: None,
        };
        let entries = vec![
            FatEntry::bytes("sub/inner/deep file.txt", b"deep"),
            FatEntry::bytes("sub/a long name.bin", content(1, 5000)),
            FatEntry::bytes("top.txt", b"top"),
        ];
        write_fat32(&file, 0, size, &opts, entries).unwrap();
        fs::read(&img).unwrap()
    })
}

fn find(fat: &Fat<Vec<u8>>, path: &str) -> DirEntry {
    fat.walk()
        .unwrap()
        .into_iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("{path} not in the fixture"))
}

/// Sets FAT entry `cluster` of the first FAT to `value`.
fn patch_fat(img: &mut [u8], fat: &Fat<Vec<u8>>, cluster: u32, value: u32) {
    let bs = fat.boot_sector();
    let at = bs.fat_offset() as usize;
    match bs.fat_type {
        FatType::Fat32 => {
            let at = at + 4 * cluster as usize;
            img[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        _ => {
            let at = at + 2 * cluster as usize;
            img[at..at + 2].copy_from_slice(&(value as u16).to_le_bytes());
        }
    }
}

/// Sets the first cluster of the 8.3 entry named `short` (11 bytes) in a directory.
fn patch_entry_cluster(
    img: &mut [u8],
    fat: &Fat<Vec<u8>>,
    dir: &DirEntry,
    short: &[u8; 11],
    cluster: u32,
) {
    let at = fat.boot_sector().cluster_offset(dir.first_cluster).unwrap() as usize;
    let len = fat.cluster_size() as usize;
    let slot = img[at..at + len]
        .chunks_exact(32)
        .position(|s| &s[..11] == short)
        .unwrap_or_else(|| panic!("{short:?} not found"));
    let s = at + slot * 32;
    img[s + 20..s + 22].copy_from_slice(&((cluster >> 16) as u16).to_le_bytes());
    img[s + 26..s + 28].copy_from_slice(&(cluster as u16).to_le_bytes());
}

fn images() -> [(&'static str, &'static [u8]); 2] {
    [("FAT16", fat16_image()), ("FAT32", fat32_image())]
}

#[test]
fn fixtures_are_readable() {
    for (kind, img) in images() {
        let fat = Fat::open(img.to_vec()).unwrap();
        let paths: Vec<String> = fat.walk().unwrap().into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            [
                "sub",
                "sub/a long name.bin",
                "sub/inner",
                "sub/inner/deep file.txt",
                "top.txt"
            ],
            "{kind}"
        );
    }
}

#[test]
fn truncated_volumes_are_refused() {
    for (kind, img) in images() {
        let half = img[..img.len() / 2].to_vec();
        let err = Fat::open(half).unwrap_err();
        assert!(matches!(err, FatError::Truncated { .. }), "{kind}: {err}");
        assert!(err.to_string().contains("truncated"), "{err}");
        let err = Fat::open(img[..100].to_vec()).unwrap_err();
        assert!(matches!(err, FatError::Io { .. }), "{kind}: {err}");
    }
}

#[test]
fn zero_sectors_per_cluster_is_refused() {
    for (kind, img) in images() {
        let mut img = img.to_vec();
        img[13] = 0;
        let err = Fat::open(img).unwrap_err();
        assert!(matches!(err, FatError::BadBootSector(_)), "{kind}: {err}");
        assert!(err.to_string().contains("sectors per cluster"), "{err}");
    }
}

#[test]
fn a_cluster_chain_loop_is_an_error() {
    for (kind, img) in images() {
        let fat = Fat::open(img.to_vec()).unwrap();
        let file = find(&fat, "sub/a long name.bin");
        let mut bad = img.to_vec();
        patch_fat(&mut bad, &fat, file.first_cluster, file.first_cluster);
        let err = Fat::open(bad).unwrap().walk().unwrap_err();
        assert!(matches!(err, FatError::ChainLoop { .. }), "{kind}: {err}");
        assert!(err.to_string().contains("sub/a long name.bin"), "{err}");

        // A directory whose chain loops onto itself.
        let sub = find(&fat, "sub");
        let mut bad = img.to_vec();
        patch_fat(&mut bad, &fat, sub.first_cluster, sub.first_cluster);
        let err = Fat::open(bad).unwrap().walk().unwrap_err();
        assert!(matches!(err, FatError::ChainLoop { .. }), "{kind}: {err}");
    }
}

#[test]
fn clusters_past_the_end_and_short_chains_are_errors() {
    for (kind, img) in images() {
        let fat = Fat::open(img.to_vec()).unwrap();
        let file = find(&fat, "sub/a long name.bin");
        let past = fat.cluster_count() + 10;

        let mut bad = img.to_vec();
        patch_fat(&mut bad, &fat, file.first_cluster, past);
        let err = Fat::open(bad).unwrap().walk().unwrap_err();
        assert!(matches!(err, FatError::BadCluster { .. }), "{kind}: {err}");

        let mut bad = img.to_vec();
        patch_fat(&mut bad, &fat, file.first_cluster, 0x0FFF_FFFF);
        let err = Fat::open(bad).unwrap().walk().unwrap_err();
        assert!(
            matches!(err, FatError::ChainTooShort { .. }),
            "{kind}: {err}"
        );

        let sub = find(&fat, "sub");
        let mut bad = img.to_vec();
        patch_entry_cluster(&mut bad, &fat, &sub, b"INNER      ", past);
        let err = Fat::open(bad).unwrap().walk().unwrap_err();
        assert!(matches!(err, FatError::BadCluster { .. }), "{kind}: {err}");
    }
}

#[test]
fn a_directory_that_contains_itself_is_an_error() {
    for (kind, img) in images() {
        let fat = Fat::open(img.to_vec()).unwrap();
        let sub = find(&fat, "sub");
        let mut bad = img.to_vec();
        patch_entry_cluster(&mut bad, &fat, &sub, b"INNER      ", sub.first_cluster);
        let err = Fat::open(bad).unwrap().walk().unwrap_err();
        assert!(
            matches!(err, FatError::DirectoryLoop { .. }),
            "{kind}: {err}"
        );
        assert!(err.to_string().contains("sub/inner"), "{err}");
    }
}

/// A source that reads as `base` with some bytes replaced, without copying `base`.
struct Mutated<'a> {
    base: &'a [u8],
    patches: Vec<(u64, u8)>,
}

impl ReadAt for Mutated<'_> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.base.read_exact_at(buf, offset)?;
        for &(at, byte) in &self.patches {
            if let Some(i) = at.checked_sub(offset).filter(|&i| i < buf.len() as u64) {
                buf[i as usize] = byte;
            }
        }
        Ok(())
    }

    fn size(&self) -> u64 {
        self.base.len() as u64
    }
}

/// Opens and walks a mutated volume and reads every file; errors are fine, panics not.
fn exercise(base: &[u8], patches: Vec<(u64, u8)>) {
    let Ok(fat) = Fat::open(Mutated { base, patches }) else {
        return;
    };
    let _ = fat.label();
    if let Ok(entries) = fat.walk() {
        for e in entries.iter().filter(|e| !e.is_dir()) {
            let _ = fat.read_to_vec(e, 1 << 20);
        }
    }
}

/// Patches mostly in the metadata: boot sector, FAT, and the first directory clusters.
fn patches(img: &'static [u8]) -> impl Strategy<Value = Vec<(u64, u8)>> {
    let len = img.len() as u64;
    let fat = Fat::open(img.to_vec()).unwrap();
    let bs = fat.boot_sector();
    let fat_start = bs.fat_offset();
    let data = bs.root_dir_offset();
    let offset = prop_oneof![
        0..512u64,
        fat_start..fat_start + 256,
        data..data + 16 * 1024,
        0..len
    ];
    prop::collection::vec((offset, any::<u8>()), 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn mutated_fat16_never_panics(p in patches(fat16_image())) {
        exercise(fat16_image(), p);
    }

    #[test]
    fn mutated_fat32_never_panics(p in patches(fat32_image())) {
        exercise(fat32_image(), p);
    }
}
