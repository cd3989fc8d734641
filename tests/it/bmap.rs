//! Block maps checked against bmaptool itself: our bmap copies an image exactly through
//! `bmaptool copy`, agrees with `bmaptool create` on the mapped ranges, and a tampered map
//! is refused by both; our parser never panics on random bytes.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Command, Output};

use pi_imager::image::bmap::{BLOCK_SIZE, Bmap, BmapError};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

const IMAGE_SIZE: u64 = 50 * BLOCK_SIZE + 1000;

fn bmaptool(args: &[&str]) -> Output {
    Command::new("bmaptool")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("bmaptool is needed for these tests (bmap-tools): {e}"))
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
        .collect()
}

/// A sparse image: data at block 0, blocks 10-12, explicit zeros at 20-23, data at 24,
/// one block at 40 and a partial last block; holes elsewhere.
fn sparse_image(path: &Path) {
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)
        .unwrap();
    f.set_len(IMAGE_SIZE).unwrap();
    let b = BLOCK_SIZE as usize;
    f.write_all_at(&pattern(b, 1), 0).unwrap();
    f.write_all_at(&pattern(3 * b, 2), 10 * BLOCK_SIZE).unwrap();
    f.write_all_at(&vec![0; 4 * b], 20 * BLOCK_SIZE).unwrap();
    f.write_all_at(&pattern(b, 3), 24 * BLOCK_SIZE).unwrap();
    f.write_all_at(&pattern(b, 4), 40 * BLOCK_SIZE).unwrap();
    f.write_all_at(&pattern(1000, 5), 50 * BLOCK_SIZE).unwrap();
    f.sync_all().unwrap();
}

fn digest(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

fn spans(b: &Bmap) -> Vec<(u64, u64)> {
    b.ranges.iter().map(|r| (r.first, r.last)).collect()
}

fn copy_through(dir: &Path, image: &Path, bmap: &Bmap, name: &str) -> Output {
    let map = dir.join(format!("{name}.bmap"));
    std::fs::write(&map, bmap.to_xml()).unwrap();
    let out = dir.join(format!("{name}.img"));
    bmaptool(&[
        "copy",
        "--bmap",
        map.to_str().unwrap(),
        image.to_str().unwrap(),
        out.to_str().unwrap(),
    ])
}

#[test]
fn bmaptool_copy_reproduces_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.img");
    sparse_image(&image);
    for (name, skip_zeros) in [("all", false), ("nozeros", true)] {
        let bmap = Bmap::from_image_with(&image, skip_zeros).unwrap();
        assert_eq!(bmap.image_size, IMAGE_SIZE);
        assert_eq!(bmap.blocks_count(), 51);
        let spans = spans(&bmap);
        assert!(spans.contains(&(0, 0)), "{spans:?}");
        assert!(spans.iter().any(|&(a, b)| a <= 40 && 40 <= b), "{spans:?}");
        assert!(spans.iter().any(|&(a, b)| a <= 50 && 50 <= b), "{spans:?}");
        let zeros_mapped = spans.iter().any(|&(a, b)| a <= 21 && 21 <= b);
        assert_eq!(zeros_mapped, !skip_zeros, "{spans:?}");
        let out = copy_through(dir.path(), &image, &bmap, name);
        assert!(out.status.success(), "bmaptool copy failed: {out:?}");
        assert_eq!(
            digest(&dir.path().join(format!("{name}.img"))),
            digest(&image),
            "the copy through our {name} bmap differs from the image"
        );
    }
}

#[test]
fn bmaptool_create_agrees_with_ours() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.img");
    sparse_image(&image);
    let theirs_path = dir.path().join("theirs.bmap");
    let out = bmaptool(&[
        "create",
        "-o",
        theirs_path.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "bmaptool create failed: {out:?}");
    let theirs = Bmap::parse(&std::fs::read_to_string(&theirs_path).unwrap()).unwrap();
    let ours = Bmap::from_image(&image).unwrap();
    assert_eq!(theirs, ours);
}

#[test]
fn tampered_bmap_is_refused_by_both() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.img");
    sparse_image(&image);
    let xml = Bmap::from_image(&image).unwrap().to_xml();
    let tampered = xml.replacen("<Range chksum=\"", "<Range chksum=\"f", 1);
    let tampered = tampered.replacen("\"> ", "\">  ", 1);
    let cut = tampered.find("chksum=\"f").unwrap() + 8 + 64;
    let tampered = format!("{}{}", &tampered[..cut], &tampered[cut + 1..]);
    assert_ne!(tampered, xml);
    assert!(matches!(
        Bmap::parse(&tampered),
        Err(BmapError::FileChecksum { .. })
    ));
    let map = dir.path().join("bad.bmap");
    std::fs::write(&map, &tampered).unwrap();
    let out = bmaptool(&[
        "copy",
        "--bmap",
        map.to_str().unwrap(),
        image.to_str().unwrap(),
        dir.path().join("copy.img").to_str().unwrap(),
    ]);
    assert!(
        !out.status.success(),
        "bmaptool accepted a tampered bmap: {out:?}"
    );
}

#[test]
fn verify_reports_a_changed_block() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image.img");
    sparse_image(&image);
    let bmap = Bmap::from_image(&image).unwrap();
    assert!(bmap.verify_image(&image).unwrap().is_empty());
    let f = OpenOptions::new().write(true).open(&image).unwrap();
    f.write_all_at(b"changed", 11 * BLOCK_SIZE + 5).unwrap();
    let bad = bmap.verify_image(&image).unwrap();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].first <= 11 && 11 <= bad[0].last, "{bad:?}");
    assert_ne!(bad[0].expected, bad[0].actual);
}

#[test]
fn golden_xml_for_a_small_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("small.img");
    std::fs::write(&image, pattern(2 * BLOCK_SIZE as usize + 100, 7)).unwrap();
    let xml = Bmap::from_image(&image).unwrap().to_xml();
    assert_eq!(xml, GOLDEN);
    assert_eq!(Bmap::from_image(&image).unwrap().to_xml(), xml);
}

const GOLDEN: &str = r#"<?xml version="1.0" ?>
<!-- Block map of an image: the blocks listed here hold data and must be
     written; the others are left as they are on the target. -->

<bmap version="2.0">
    <ImageSize> 8292 </ImageSize>

    <BlockSize> 4096 </BlockSize>

    <BlocksCount> 3 </BlocksCount>

    <MappedBlocksCount> 3 </MappedBlocksCount>

    <ChecksumType> sha256 </ChecksumType>

    <BmapFileChecksum> 016fd5a6703616949418e8894f713f4168896d23aaab8cd000dc0976bd8d27c5 </BmapFileChecksum>

    <BlockMap>
        <Range chksum="d2acebb2036bc76945113e2cfe6808080f215f70281b593fc91ec718c86ed835"> 0-2 </Range>
    </BlockMap>
</bmap>
"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parser_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Bmap::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn parser_never_panics_on_mutated_xml(pos in 0usize..2000, len in 0usize..40, byte in any::<u8>()) {
        let xml = golden_like();
        let mut bytes = xml.into_bytes();
        let start = pos.min(bytes.len());
        let end = (start + len).min(bytes.len());
        bytes.splice(start..end, std::iter::once(byte));
        let _ = Bmap::parse(&String::from_utf8_lossy(&bytes));
    }
}

fn golden_like() -> String {
    use pi_imager::image::bmap::BlockRange;
    Bmap {
        image_size: 10 * BLOCK_SIZE + 3,
        block_size: BLOCK_SIZE,
        ranges: vec![
            BlockRange {
                first: 0,
                last: 2,
                sha256: [9; 32],
            },
            BlockRange {
                first: 10,
                last: 10,
                sha256: [8; 32],
            },
        ],
    }
    .to_xml()
}
