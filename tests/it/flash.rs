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

#[test]
fn an_image_that_does_not_match_its_map_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let img = copy_pair(dir.path(), "stale");
    // One byte inside the root filesystem's mapped data.
    let m = built().manifest_json();
    let range = m["blocks"]["ranges"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let offset = range["first"].as_u64().unwrap() * 4096 + 7;
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
    let m = built().manifest_json();
    let range = m["blocks"]["ranges"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    let offset = range["first"].as_u64().unwrap() * 4096 + 11;
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
