//! `pi-imager flash` to regular files: raw, `.xz` and `.gz` images with their block map,
//! checked against the image with cmp; a damaged block map and an image that does not
//! match its map refused before writing; a damaged compressed image stopped with the
//! partition table unwritten; mounted and running-system refusals from a mount table
//! fixture.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::verify::{built, run, text};

fn flash(image: &Path, target: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "flash",
        image.to_str().unwrap(),
        target.to_str().unwrap(),
        "--yes",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// The first `len` bytes of two files are equal (the target may be longer).
fn same_prefix(a: &Path, b: &Path) -> bool {
    let a = std::fs::read(a).unwrap();
    let b = std::fs::read(b).unwrap();
    b.len() >= a.len() && a == b[..a.len()]
}

/// A copy of the demo's raw image and block map in `dir`, named `name.img`/`name.img.bmap`.
fn copy_pair(dir: &Path, name: &str) -> PathBuf {
    let img = dir.join(format!("{name}.img"));
    let status = Command::new("cp")
        .arg("--sparse=always")
        .arg(built().path("demo-a.img"))
        .arg(&img)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::copy(
        built().path("demo-a.img.bmap"),
        dir.join(format!("{name}.img.bmap")),
    )
    .unwrap();
    img
}

#[test]
fn raw_xz_and_gz_images_land_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let raw = built().path("demo-a.img");
    let gz = copy_pair(dir.path(), "demo-a");
    let out = Command::new("gzip")
        .arg("-1")
        .arg(&gz)
        .output()
        .expect("gzip runs");
    assert!(out.status.success(), "gzip: {}", text(&out.stderr));
    let gz = dir.path().join("demo-a.img.gz");
    for (i, image) in [raw.clone(), built().path("demo-a.img.xz"), gz]
        .iter()
        .enumerate()
    {
        let target = dir.path().join(format!("card{i}.img"));
        let out = flash(image, &target, &[]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("read them back"),
            "{}",
            text(&out.stderr)
        );
        assert!(same_prefix(&raw, &target), "{} differs", image.display());
    }
}

#[test]
fn a_block_map_with_a_wrong_checksum_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let img = copy_pair(dir.path(), "bad");
    let bmap = dir.path().join("bad.img.bmap");
    let xml = std::fs::read_to_string(&bmap).unwrap();
    // Change one range digest's first hex digit.
    let at = xml.find("chksum=\"").unwrap() + "chksum=\"".len();
    let mut bytes = xml.into_bytes();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&bmap, bytes).unwrap();
    let target = dir.path().join("card.img");
    let out = flash(&img, &target, &[]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("bmap file checksum"), "{stderr}");
    assert!(!target.exists(), "the target was written");
}

/// A byte offset `into` bytes inside the demo image's last mapped range (the root
/// filesystem's data).
fn in_last_mapped_range(into: u64) -> u64 {
    let m = built().manifest_json();
    let range = m["blocks"]["ranges"]
        .as_array()
        .and_then(|r| r.last())
        .expect("the manifest maps some ranges");
    range["first"].as_u64().unwrap() * 4096 + into
}

#[test]
fn an_image_that_does_not_match_its_map_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let img = copy_pair(dir.path(), "stale");
    // One byte inside the root filesystem's mapped data.
    let offset = in_last_mapped_range(7);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&img)
            .unwrap();
        let mut b = [0u8; 1];
        f.read_exact_at(&mut b, offset).unwrap();
        f.write_all_at(&[!b[0]], offset).unwrap();
    }
    let target = dir.path().join("card.img");
    let out = flash(&img, &target, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("does not match its block map"), "{stderr}");
    assert!(!target.exists(), "the target was written");

    // A map for an image of another size.
    let short = dir.path().join("short.img");
    std::fs::copy(&img, &short).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&short)
        .unwrap()
        .set_len(4096 * 10)
        .unwrap();
    std::fs::copy(
        built().path("demo-a.img.bmap"),
        dir.path().join("short.img.bmap"),
    )
    .unwrap();
    let out = flash(&short, &target, &[]);
    assert!(
        text(&out.stderr).contains("bytes but the map describes"),
        "{}",
        text(&out.stderr)
    );
    assert!(!target.exists());
}

#[test]
fn a_damaged_compressed_image_never_gets_its_partition_table_written() {
    let dir = tempfile::tempdir().unwrap();
    let img = copy_pair(dir.path(), "rot");
    let offset = in_last_mapped_range(11);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        f.write_all_at(b"rot", offset).unwrap();
    }
    let out = Command::new("gzip")
        .arg("-1")
        .arg(&img)
        .output()
        .expect("gzip runs");
    assert!(out.status.success());
    let target = dir.path().join("card.img");
    let out = flash(&dir.path().join("rot.img.gz"), &target, &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("partition table was not written"),
        "{stderr}"
    );
    let written = std::fs::read(&target).unwrap();
    assert!(
        written[..1 << 20].iter().all(|&b| b == 0),
        "the first MiB was written"
    );
}

#[test]
fn a_mounted_target_and_the_running_system_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("card.img");
    std::fs::write(&target, b"").unwrap();
    let mounted = dir.path().join("mounted");
    std::fs::write(
        &mounted,
        format!(
            "22 1 254:0 / / rw - ext4 /dev/vda rw\n\
             40 22 7:0 / /media/card rw - vfat {} rw\n",
            target.display()
        ),
    )
    .unwrap();
    let system = dir.path().join("system");
    std::fs::write(
        &system,
        format!("22 1 7:0 / / rw - ext4 {} rw\n", target.display()),
    )
    .unwrap();
    let image = built().path("demo-a.img");

    let out = flash(&image, &target, &["--mountinfo", mounted.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("is mounted") && stderr.contains("/media/card"),
        "{stderr}"
    );
    assert!(stderr.contains("--allow-mounted"), "{stderr}");

    let out = flash(&image, &target, &["--mountinfo", system.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("running system"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::metadata(&target).unwrap().len(),
        0,
        "written anyway"
    );

    let out = flash(
        &image,
        &target,
        &["--mountinfo", mounted.to_str().unwrap(), "--allow-mounted"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(same_prefix(&image, &target));
}

/// A 40 MiB sparse image: data in the partition-table area, across the end of the held-back
/// head, over several chunks, and at the end; with its block map beside it.
fn sparse_image(dir: &Path) -> (PathBuf, pi_imager::image::bmap::Bmap) {
    use std::os::unix::fs::FileExt;
    let path = dir.join("sparse.img");
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(40 << 20).unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for (at, len) in [
        (0u64, 4096u64),
        (900 << 10, 300 << 10),
        (3 << 20, 13 << 20),
        (36 << 20, 4 << 20),
    ] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect();
        f.write_all_at(&bytes, at).unwrap();
    }
    f.sync_all().unwrap();
    let bmap = pi_imager::image::bmap::Bmap::from_image(&path).unwrap();
    assert!(
        bmap.ranges.len() >= 4,
        "the fixture's holes were not seen: {bmap:?}"
    );
    std::fs::write(dir.join("sparse.img.bmap"), bmap.to_xml()).unwrap();
    (path, bmap)
}

fn options(image: &Path, target: &Path) -> pi_imager::flash::FlashOptions {
    pi_imager::flash::FlashOptions {
        image: image.to_path_buf(),
        bmap: None,
        device: target.to_path_buf(),
        checks: pi_imager::flash::DeviceChecks::default(),
    }
}

#[test]
fn the_card_path_writes_and_reads_back_like_the_file_path() {
    // A regular file driven as a card: writeback waited one chunk behind, pages dropped,
    // read back from the device; the result is the same bytes as the file path's.
    use pi_imager::flash::{self, Device, DeviceKind, Phase};
    let dir = tempfile::tempdir().unwrap();
    let (image, bmap) = sparse_image(dir.path());
    let as_file = dir.path().join("file.img");
    flash::flash(&options(&image, &as_file), &mut |_, _, _| {}).unwrap();
    assert!(same_prefix(&image, &as_file));

    let as_card = dir.path().join("card.img");
    std::fs::File::create(&as_card)
        .unwrap()
        .set_len(bmap.image_size)
        .unwrap();
    let (source, _) = flash::prepare(&options(&image, &as_card)).unwrap();
    let card = Device {
        path: as_card.clone(),
        kind: DeviceKind::Block,
        size: bmap.image_size,
    };
    let mut phases = Vec::new();
    let report = flash::write(&source, &card, &mut |phase, done, total| {
        assert!(done <= total);
        if phases.last() != Some(&phase) {
            phases.push(phase);
        }
    })
    .unwrap();
    assert_eq!(phases, [Phase::Write, Phase::ReadBack]);
    assert_eq!(report.bytes_written, source.mapped_bytes());
    assert!(same_prefix(&image, &as_card));
}

#[test]
fn the_read_back_names_a_range_that_changed_after_the_check() {
    // The image changes between the pre-write check and the write (simulated by a map
    // whose digest for one range is wrong): the pipelined read-back catches it.
    use pi_imager::flash::{self, FlashError};
    let dir = tempfile::tempdir().unwrap();
    let (image, _) = sparse_image(dir.path());
    let target = dir.path().join("card.img");
    let (mut source, device) = flash::prepare(&options(&image, &target)).unwrap();
    let bad = source.bmap.ranges.len() - 2;
    source.bmap.ranges[bad].sha256[0] ^= 1;
    let (first, last) = (source.bmap.ranges[bad].first, source.bmap.ranges[bad].last);
    match flash::write(&source, &device, &mut |_, _, _| {}) {
        Err(FlashError::ReadBack {
            count,
            first: f,
            last: l,
            ..
        }) => assert_eq!((count, f, l), (1, first, last)),
        other => panic!("expected a read-back error, got {other:?}"),
    }
}

#[test]
fn a_raw_image_that_differs_anywhere_is_refused_before_any_byte_is_written() {
    // The pre-write check splits ranges between cores: a damaged range in any share is
    // found, and the first in map order is named.
    use pi_imager::flash::{self, FlashError};
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let (image, bmap) = sparse_image(dir.path());
    let target = dir.path().join("card.img");
    for &damaged in &[bmap.ranges.len() - 1, 1] {
        let copy = dir.path().join(format!("copy{damaged}.img"));
        let status = Command::new("cp")
            .arg("--sparse=always")
            .arg(&image)
            .arg(&copy)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::copy(
            dir.path().join("sparse.img.bmap"),
            copy.with_extension("img.bmap"),
        )
        .unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&copy).unwrap();
        let at = bmap.ranges[damaged].last * bmap.block_size + 5;
        f.write_all_at(b"x", at).unwrap();
        match flash::flash(&options(&copy, &target), &mut |_, _, _| {}) {
            Err(FlashError::ImageMismatch { why, .. }) => {
                let r = &bmap.ranges[damaged];
                assert!(
                    why.contains(&format!(
                        "1 ranges differ, the first blocks {}-{}",
                        r.first, r.last
                    )),
                    "{why}"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(!target.exists(), "the target was created");
    }
}
