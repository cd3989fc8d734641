//! Reading Raspberry-Pi-OS-shaped base images into trees: the tree equals what the image was
//! made from, entry by entry, and broken images give clear errors.

use pi_imager::base::{BaseError, BaseImage};
use pi_imager::image::fat::FatType;
use pi_imager::image::partition::TableKind;
use pi_imager::tree::TreePath;

use crate::ext4_fixture::{bookworm, jessie};
use crate::pi_base::{assert_tree_matches_dir, pi_base};

fn check_base(base: &crate::pi_base::PiBase) {
    let image = BaseImage::open(&base.img).unwrap();
    assert!(matches!(
        image.table.kind,
        TableKind::Mbr {
            disk_id: 0x0b5e_1a2c
        }
    ));
    assert_eq!(image.boot.partition.start, base.boot_start);
    assert_eq!(image.root.partition.start, base.root_start);
    assert_eq!(image.boot.label.as_deref(), Some("boot"));
    let expected_fat = if base.fat_bits == 16 {
        FatType::Fat16
    } else {
        FatType::Fat32
    };
    assert_eq!(image.boot.fat_type, expected_fat);
    assert_eq!(image.boot.volume_id, Some(0x5a4e_4f21));
    assert_tree_matches_dir(&image.boot.tree, &base.boot_src, false, false);
    assert_tree_matches_dir(&image.root.tree, &base.root.src, true, true);
    for (path, name, value) in &base.root.xattrs {
        let inode = image
            .root
            .tree
            .get(&TreePath::parse(path).unwrap())
            .unwrap();
        assert_eq!(
            inode.xattrs.get(name.as_bytes()),
            Some(value),
            "{path}: xattr {name}"
        );
    }
}

#[test]
fn jessie_shaped_base_reads_like_its_sources() {
    check_base(&pi_base(jessie(), 16, 4, 60));
}

#[test]
fn bookworm_shaped_base_reads_like_its_sources() {
    check_base(&pi_base(bookworm(), 32, 8, 512));
}

#[test]
fn truncated_base_is_a_clear_error() {
    let base = pi_base(jessie(), 16, 4, 60);
    let len = std::fs::metadata(&base.img).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&base.img)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let error = BaseImage::open(&base.img).unwrap_err();
    assert!(matches!(error, BaseError::Table { .. }), "{error}");
    assert!(error.to_string().contains("past the end"), "{error}");
}

#[test]
fn image_without_a_table_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("blank.img");
    std::fs::write(&img, vec![0u8; 1 << 20]).unwrap();
    let error = BaseImage::open(&img).unwrap_err();
    assert!(error.to_string().contains("no partition table"), "{error}");
    assert!(error.to_string().contains("blank.img"), "{error}");
}
