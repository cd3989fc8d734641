//! Whole images written from a base image's trees: accepted by `e2fsck`, `fsck.fat`,
//! `sfdisk` and `debugfs`, read back by our own reader unchanged, and byte-identical when
//! written twice.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use pi_imager::base::BaseImage;
use pi_imager::image::disk::{BootSpec, DiskReport, DiskSpec, TableSpec, write_disk};
use pi_imager::image::mke2fs::{Ext4Params, FsUuid};
use pi_imager::image::partition::Guid;
use pi_imager::tree::{Kind, Tree, TreePath};
use sha2::{Digest, Sha256};

use crate::ext4_fixture::{bookworm, jessie, run};
use crate::pi_base::{PiBase, assert_trees_equal, content_digest, pi_base};

const EPOCH: i64 = 1_456_704_000;

fn spec(base: &BaseImage, size: u64, table: TableSpec) -> DiskSpec {
    DiskSpec {
        size,
        table,
        boot: BootSpec {
            start: base.boot.partition.start,
            size: base.boot.partition.size,
            label: "bootfs".to_string(),
            volume_id: 0x2016_0226,
            timestamp: EPOCH,
        },
        root: Ext4Params::like(
            &base.root.superblock,
            FsUuid([0x5e; 16]),
            FsUuid([0xed; 16]),
            EPOCH,
        ),
    }
}

fn sha256_file(path: &Path) -> String {
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The root tree without what cannot travel through tar (sockets).
fn without_sockets(tree: &Tree) -> Tree {
    let mut out = tree.clone();
    let sockets: Vec<TreePath> = tree
        .iter()
        .filter(|(_, _, i)| matches!(i.kind, Kind::Socket))
        .map(|(p, _, _)| p.clone())
        .collect();
    for p in sockets {
        out.remove(&p).unwrap();
    }
    out
}

fn check_written(pi: &PiBase, table: TableSpec, card: u64) {
    let base = BaseImage::open(&pi.img).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("new.img");
    let spec = spec(&base, card, table.clone());
    let DiskReport { layout, root } =
        write_disk(&out, &spec, &base.boot.tree, &base.root.tree).unwrap();
    assert_eq!(std::fs::metadata(&out).unwrap().len(), card - card % 512);
    assert!(
        std::fs::metadata(&out).unwrap().blocks() * 512 < card / 2,
        "the image is not sparse"
    );
    assert!(
        !root.tar.sockets_skipped.is_empty(),
        "the fixture's socket is reported"
    );

    // sfdisk sees the planned layout.
    let sfdisk: serde_json::Value =
        serde_json::from_str(&run(Command::new("sfdisk").arg("--json").arg(&out))).unwrap();
    let parts = sfdisk["partitiontable"]["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["start"].as_u64().unwrap() * 512, layout.boot_start);
    assert_eq!(parts[0]["size"].as_u64().unwrap() * 512, layout.boot_size);
    assert_eq!(parts[1]["start"].as_u64().unwrap() * 512, layout.root_start);
    assert_eq!(parts[1]["size"].as_u64().unwrap() * 512, layout.root_size);
    run(Command::new("sfdisk").arg("--verify").arg(&out));

    // e2fsck on the root, in place; fsck.fat on a copy of the boot partition.
    let root_at = format!("{}?offset={}", out.display(), layout.root_start);
    run(Command::new("e2fsck").args(["-fn"]).arg(&root_at));
    let boot_copy = dir.path().join("boot.fat");
    run(Command::new("dd")
        .arg(format!("if={}", out.display()))
        .arg(format!("of={}", boot_copy.display()))
        .args(["bs=512", "conv=sparse", "status=none"])
        .arg(format!("skip={}", layout.boot_start / 512))
        .arg(format!("count={}", layout.boot_size / 512)));
    run(Command::new("fsck.fat").arg("-n").arg(&boot_copy));

    // The written root has the base's feature set, and debugfs agrees with the tree.
    let stats = run(Command::new("debugfs").args(["-R", "stats"]).arg(&root_at));
    let features: Vec<String> = stats
        .lines()
        .find_map(|l| l.strip_prefix("Filesystem features:"))
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(features, base.root.superblock.feature_names());
    for (path, name, value) in &pi.root.xattrs {
        let listing = run(Command::new("debugfs")
            .args(["-R", &format!("ea_get {path} {name}")])
            .arg(&root_at));
        let expected = String::from_utf8_lossy(value);
        assert!(
            listing.contains(expected.trim_end_matches('\0'))
                || value.iter().any(|b| !b.is_ascii_graphic()),
            "{path}: debugfs ea_get {name}: {listing}"
        );
    }
    let stat = run(Command::new("debugfs")
        .args(["-R", "stat /modes/setuid"])
        .arg(&root_at));
    assert!(stat.contains("Mode:  04755"), "{stat}");
    let stat = run(Command::new("debugfs")
        .args(["-R", "stat /owners/high"])
        .arg(&root_at));
    assert!(
        stat.contains("User: 70000") && stat.contains("Group: 80000"),
        "{stat}"
    );

    // Round trip: our reader reads back the trees we wrote.
    let back = BaseImage::open(&out).unwrap();
    assert_trees_equal(&without_sockets(&base.root.tree), &back.root.tree, "root");
    let names = |t: &Tree| -> Vec<(String, Option<[u8; 32]>)> {
        t.iter()
            .map(|(p, _, i)| {
                (
                    p.to_string(),
                    matches!(i.kind, Kind::File { .. }).then(|| content_digest(i)),
                )
            })
            .collect()
    };
    assert_eq!(names(&base.boot.tree), names(&back.boot.tree), "boot files");
    assert_eq!(back.boot.label.as_deref(), Some("bootfs"));
    assert_eq!(back.boot.volume_id, Some(0x2016_0226));
    assert!(
        back.boot
            .tree
            .iter()
            .filter(|(p, _, _)| !p.is_root())
            .all(|(_, _, i)| i.mtime.secs == EPOCH),
        "boot times are the build's"
    );
    match (&table, &back.table.kind) {
        (
            TableSpec::Mbr { disk_id },
            pi_imager::image::partition::TableKind::Mbr { disk_id: read },
        ) => {
            assert_eq!(disk_id, read);
        }
        (
            TableSpec::Gpt { disk, .. },
            pi_imager::image::partition::TableKind::Gpt { disk_guid },
        ) => {
            assert_eq!(disk, disk_guid);
        }
        other => panic!("table kind changed: {other:?}"),
    }

    // Two writes, same bytes.
    let again = dir.path().join("again.img");
    write_disk(&again, &spec, &base.boot.tree, &base.root.tree).unwrap();
    assert_eq!(sha256_file(&out), sha256_file(&again), "two writes differ");
}

#[test]
fn jessie_base_rewritten_passes_the_real_tools_and_reads_back() {
    let pi = pi_base(jessie(), 16, 4, 60);
    check_written(
        &pi,
        TableSpec::Mbr {
            disk_id: 0xb10c_0003,
        },
        1_000_000_000,
    );
}

#[test]
fn bookworm_base_rewritten_as_gpt_passes_the_real_tools_and_reads_back() {
    let pi = pi_base(bookworm(), 32, 8, 512);
    let guid = |s: &str| s.parse::<Guid>().unwrap();
    check_written(
        &pi,
        TableSpec::Gpt {
            disk: guid("6c1f0b8e-3f7e-4b45-9d2a-0f3e51c0ffee"),
            boot: guid("0b5e1a2c-0000-4000-8000-000000000001"),
            root: guid("0b5e1a2c-0000-4000-8000-000000000002"),
        },
        1_500_000_000,
    );
}

#[test]
fn a_card_too_small_for_the_layout_is_refused_before_writing() {
    let pi = pi_base(jessie(), 16, 4, 60);
    let base = BaseImage::open(&pi.img).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny.img");
    let error = write_disk(
        &out,
        &spec(&base, 70 << 20, TableSpec::Mbr { disk_id: 1 }),
        &base.boot.tree,
        &base.root.tree,
    )
    .unwrap_err();
    assert!(error.to_string().contains("cannot hold"), "{error}");
    assert!(
        !out.exists(),
        "nothing is written for a layout that cannot fit"
    );
}

/// Regression: a small root made with one inode per 4 KiB (mke2fs's default under 512 MiB)
/// reads back as 4095 bytes per inode, because mke2fs rounds the inode count up to whole
/// groups; `Ext4Params::like` passed that on and mke2fs refused "inode ratio 4095 is smaller
/// than the block size 4096". The ratio is now rounded to the KiB and kept at least a block.
#[test]
fn a_small_roots_inode_ratio_is_recreated_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("small.ext4");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-b", "4096", "-i", "4096"])
        .arg(&image));
    let file = pi_imager::image::io::ImageFile::open(&image).unwrap();
    let fs = pi_imager::image::ext4::Ext4::open(file).unwrap();
    let params = Ext4Params::like(fs.superblock(), FsUuid::default(), FsUuid::default(), 1);
    assert_eq!(params.inode_ratio, Some(4096));
    params.validate().unwrap();
}
