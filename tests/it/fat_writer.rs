//! The FAT32 writer, checked by fsck.fat, mtools and our own reader.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use pi_imager::image::fat::{Fat, FatEntry, FatError, FatLayout, FatOptions, FatType, write_fat32};
use pi_imager::image::io::{ImageFile, ReadAt, Slice};

use crate::fat_support::{
    Item, content, run, scan_dir, scan_fat, sha256, source_entries, source_files, sparse_file,
};

const MIB: u64 = 1024 * 1024;
const TIMESTAMP: i64 = 1_700_000_000;

fn options() -> FatOptions {
    FatOptions {
        label: "BOOTFS".into(),
        volume_id: 0xB007_F5E5,
        timestamp: TIMESTAMP,
        cluster_size: None,
    }
}

/// Files named like a Raspberry Pi boot partition.
fn pi_files() -> Vec<(String, Vec<u8>)> {
    let mut files = vec![
        ("config.txt".to_string(), b"arm_64bit=1\n".to_vec()),
        (
            "cmdline.txt".to_string(),
            b"console=serial0,115200 root=PARTUUID=x\n".to_vec(),
        ),
        ("kernel8.img".to_string(), content(7, 8 * MIB as usize + 17)),
        ("bcm2710-rpi-3-b.dtb".to_string(), content(8, 30_000)),
        ("bcm2710-rpi-3-b-plus.dtb".to_string(), content(9, 31_000)),
        ("COPYING.linux".to_string(), content(10, 18_000)),
        ("LICENCE.broadcom".to_string(), content(11, 1_500)),
        ("overlays/README".to_string(), b"overlays\n".to_vec()),
    ];
    let stems = [
        "vc4-kms-v3d",
        "i2c-rtc-gpio",
        "spi1-1cs",
        "dwc2",
        "hifiberry-dacplus",
    ];
    for i in 0..100 {
        files.push((
            format!("overlays/{}-{i}.dtbo", stems[i % stems.len()]),
            content(1000 + i as u64, 900 + i),
        ));
    }
    files
}

/// All files written by the big test, in an unsorted order, with some parents listed.
fn all_entries() -> Vec<FatEntry<'static>> {
    let mut entries: Vec<FatEntry<'static>> = source_entries();
    entries.extend(pi_files().into_iter().map(|(p, d)| FatEntry::bytes(p, d)));
    entries.push(FatEntry::dir("overlays"));
    entries.push(FatEntry::dir("deep/a"));
    entries.push(FatEntry::dir("empty dir"));
    entries.reverse();
    entries
}

/// What the volume should hold: every file with the writer's timestamp, every directory.
fn expected(with_mtime: bool) -> BTreeMap<String, Item> {
    let mut items = BTreeMap::new();
    items.insert("empty dir".to_string(), Item::Dir);
    for (path, data) in source_files().into_iter().chain(pi_files()) {
        let mut parent = Path::new(&path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            items.insert(p.to_string_lossy().into_owned(), Item::Dir);
            parent = p.parent();
        }
        items.insert(
            path,
            Item::File {
                size: data.len() as u64,
                sha256: sha256(&data),
                mtime: if with_mtime { TIMESTAMP } else { 0 },
            },
        );
    }
    items
}

/// Runs `fsck.fat -v -n` and checks it is clean and agrees with the layout.
fn fsck_clean(img: &Path, layout: &FatLayout) {
    let out = run(Command::new("fsck.fat").args(["-v", "-n"]).arg(img));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for bad in [
        "wrong",
        "differ",
        "Warning",
        "Fix",
        "Free cluster",
        "Dirty",
        "invalid",
    ] {
        assert!(!text.contains(bad), "fsck.fat complains ({bad}):\n{text}");
    }
    let summary = text
        .lines()
        .find(|l| l.contains(" files, ") && l.contains(" clusters"))
        .unwrap_or_else(|| panic!("no summary in:\n{text}"));
    let counts = summary.rsplit(", ").next().unwrap();
    let counts = counts.trim_end_matches(" clusters");
    let (used, total) = counts.split_once('/').unwrap();
    assert_eq!(
        used.parse::<u32>().unwrap(),
        layout.used_clusters,
        "{summary}"
    );
    assert_eq!(
        total.parse::<u32>().unwrap(),
        layout.cluster_count,
        "{summary}"
    );
}

/// Checks FSInfo against a count of free entries in the FAT.
fn fsinfo_matches_fat(img: &Path, layout: &FatLayout) {
    let file = fs::File::open(img).unwrap();
    let mut sector = [0u8; 512];
    file.read_exact_at(&mut sector, 512).unwrap();
    let free = u32::from_le_bytes(sector[488..492].try_into().unwrap());
    let next = u32::from_le_bytes(sector[492..496].try_into().unwrap());
    let fat = Fat::open(ImageFile::open(img).unwrap()).unwrap();
    assert_eq!(free, fat.free_clusters());
    assert_eq!(free, layout.free_clusters);
    assert_eq!(next, layout.used_clusters + 2);
}

/// Copies the whole volume out with mcopy and compares with what was written.
fn mcopy_matches(image_spec: &str, dir: &Path) {
    let out = dir.join("mcopy-out");
    fs::create_dir(&out).unwrap();
    run(Command::new("mcopy")
        .args(["-s", "-n", "-m", "-i", image_spec, "::/*"])
        .arg(&out));
    assert_eq!(scan_dir(&out, true), expected(true));
}

/// Writes every entry into a volume of `size` bytes and checks it with every tool.
fn check_volume(size: u64, cluster_size: u32) {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("boot.img");
    let file = sparse_file(&img, size);
    let layout = write_fat32(&file, 0, size, &options(), all_entries()).unwrap();
    drop(file);
    assert_eq!(layout.cluster_size, cluster_size);
    fsck_clean(&img, &layout);
    fsinfo_matches_fat(&img, &layout);
    mcopy_matches(img.to_str().unwrap(), dir.path());

    let src = ImageFile::open(&img).unwrap();
    let fat = Fat::open(ImageFile::open(&img).unwrap()).unwrap();
    assert_eq!(fat.fat_type(), FatType::Fat32);
    assert_eq!(fat.volume_id(), Some(0xB007_F5E5));
    assert_eq!(fat.label().as_deref(), Some("BOOTFS"));
    assert_eq!(fat.bpb_label().as_deref(), Some("BOOTFS"));
    assert_eq!(scan_fat(&fat, &src, true), expected(true));

    // Directories come back sorted by name, and 8.3 lowercase names need no long name.
    let root = fat.root_dir().unwrap();
    let names: Vec<&str> = root.iter().map(|e| e.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let config = root.iter().find(|e| e.name == "config.txt").unwrap();
    assert_eq!(config.short_name, "CONFIG.TXT");
    // Files are contiguous: one extent each.
    for e in fat.walk().unwrap() {
        assert!(e.extents.len() <= 1, "{} is fragmented", e.path);
    }
    // `.` and `..` open every subdirectory (fatfs 0.3.6 put long names before them), and
    // `..` of a child of the root points at cluster 0.
    let deep = root.iter().find(|e| e.name == "deep").unwrap();
    let mut slots = [0u8; 64];
    let at = fat
        .boot_sector()
        .cluster_offset(deep.first_cluster)
        .unwrap();
    src.read_exact_at(&mut slots, at).unwrap();
    assert_eq!(&slots[..11], b".          ");
    assert_eq!(&slots[32..43], b"..         ");
    assert_eq!(&slots[32 + 20..32 + 22], [0, 0]);
    assert_eq!(&slots[32 + 26..32 + 28], [0, 0]);

    // config.txt is stored as CONFIG.TXT with both NT lowercase flags and no long name.
    // Our root directory is contiguous; 64 KiB covers it.
    let mut root_dir = vec![0u8; 64 * 1024];
    src.read_exact_at(&mut root_dir, fat.boot_sector().cluster_offset(2).unwrap())
        .unwrap();
    let slot = root_dir
        .chunks_exact(32)
        .position(|s| &s[..11] == b"CONFIG  TXT")
        .unwrap();
    assert_eq!(root_dir[slot * 32 + 12], 0x18);
    assert_ne!(root_dir[(slot - 1) * 32 + 11], 0x0F);

    // Only metadata and non-zero content were written: the rest stays holes.
    let content: u64 = source_files()
        .iter()
        .chain(&pi_files())
        .map(|(_, d)| d.len() as u64)
        .sum();
    let allocated = fs::metadata(&img).unwrap().blocks() * 512;
    assert!(
        allocated < content + 4 * MIB,
        "{allocated} bytes allocated for {content} bytes of content"
    );

    let label = run(Command::new("mlabel")
        .args(["-s", "-i"])
        .arg(&img)
        .arg("::"));
    assert!(String::from_utf8_lossy(&label.stdout).contains("BOOTFS"));
}

#[test]
fn writes_a_clean_256_mib_volume() {
    check_volume(256 * MIB, 512);
}

/// The size of a Raspberry Pi OS boot partition, where mkfs.fat picks 4 KiB clusters.
#[test]
fn writes_a_clean_512_mib_volume() {
    check_volume(512 * MIB, 4096);
}

#[test]
fn writes_a_small_volume_at_an_offset_and_the_same_bytes_twice() {
    let dir = tempfile::tempdir().unwrap();
    let size = 40 * MIB;
    let offset = 4 * MIB;
    let mut digests = Vec::new();
    let mut layout = None;
    for name in ["a.img", "b.img"] {
        let img = dir.path().join(name);
        let file = sparse_file(&img, offset + size + MIB);
        layout = Some(write_fat32(&file, offset, size, &options(), all_entries()).unwrap());
        digests.push(sha256(&fs::read(&img).unwrap()));
    }
    assert_eq!(
        digests[0], digests[1],
        "two writes of the same entries differ"
    );
    let layout = layout.unwrap();
    assert!(layout.cluster_count >= 65_525);

    let img = dir.path().join("a.img");
    let src = ImageFile::open(&img).unwrap();
    let part = Slice::new(&src, offset, size).unwrap();
    let fat = Fat::open(Slice::new(&src, offset, size).unwrap()).unwrap();
    assert_eq!(fat.boot_sector().total_sectors as u64 * 512, size);
    assert_eq!(scan_fat(&fat, &part, true), expected(true));
    mcopy_matches(&format!("{}@@{offset}", img.display()), dir.path());

    // fsck.fat takes no offset: check a copy of the partition.
    let alone = dir.path().join("alone.img");
    let mut data = vec![0u8; size as usize];
    src.read_exact_at(&mut data, offset).unwrap();
    fs::write(&alone, &data).unwrap();
    fsck_clean(&alone, &layout);
    fsinfo_matches_fat(&alone, &layout);
}

#[test]
fn many_similar_long_names_get_unique_short_names() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("names.img");
    let file = sparse_file(&img, 34 * MIB);
    let entries: Vec<FatEntry<'static>> = (1..=12)
        .map(|i| {
            FatEntry::bytes(
                format!("longfilename{i}.txt"),
                format!("{i}\n").into_bytes(),
            )
        })
        .collect();
    // Raspberry Pi OS labels its boot partition in lowercase; mkfs.fat keeps the case.
    let mut opts = options();
    opts.label = "bootfs".into();
    let layout = write_fat32(&file, 0, 34 * MIB, &opts, entries).unwrap();
    drop(file);
    fsck_clean(&img, &layout);
    let fat = Fat::open(ImageFile::open(&img).unwrap()).unwrap();
    assert_eq!(fat.label().as_deref(), Some("bootfs"));
    let root = fat.root_dir().unwrap();
    assert_eq!(root.len(), 12);
    let mut shorts: Vec<&str> = root.iter().map(|e| e.short_name.as_str()).collect();
    shorts.sort();
    shorts.dedup();
    assert_eq!(shorts.len(), 12, "{shorts:?}");
    assert!(shorts.contains(&"LONGFI~1.TXT"));
    let out = run(Command::new("mdir")
        .args(["-/", "-b", "-i"])
        .arg(&img)
        .arg("::/"));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 12);
}

#[test]
fn refuses_what_fat_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("refused.img");
    let file = sparse_file(&img, 64 * MIB);
    let write = |entries| write_fat32(&file, 0, 40 * MIB, &options(), entries);

    let err = write(vec![
        FatEntry::bytes("Makefile.am", b"a"),
        FatEntry::bytes("makefile.AM", b"b"),
    ])
    .unwrap_err();
    assert!(matches!(err, FatError::CaseCollision { .. }), "{err}");
    assert!(err.to_string().contains("Makefile.am"), "{err}");

    let err = write(vec![FatEntry::bytes("x".repeat(256), b"")]).unwrap_err();
    assert!(matches!(err, FatError::BadName { .. }), "{err}");
    let err = write(vec![FatEntry::bytes("what?", b"")]).unwrap_err();
    assert!(matches!(err, FatError::BadName { .. }), "{err}");

    // Content larger than the volume: the error states the size needed, which then works.
    let big = 45 * MIB as usize;
    let err = write(vec![FatEntry::bytes("big", vec![1u8; big])]).unwrap_err();
    let FatError::TooSmall { needed, .. } = err else {
        panic!("expected TooSmall, got {err}");
    };
    assert!(needed > 45 * MIB && needed < 64 * MIB, "{needed}");
    let file2 = sparse_file(&dir.path().join("fits.img"), needed);
    write_fat32(
        &file2,
        0,
        needed,
        &options(),
        vec![FatEntry::bytes("big", vec![1u8; big])],
    )
    .unwrap();

    let err = write_fat32(&file, 0, 32 * MIB, &options(), Vec::new()).unwrap_err();
    assert!(matches!(err, FatError::TooSmall { .. }), "{err}");

    // A source that writes less or more than it declared.
    let short = FatEntry::file(
        "short",
        10,
        Box::new(|w: &mut dyn Write| w.write_all(b"12345")),
    );
    let err = write(vec![short]).unwrap_err();
    assert!(
        matches!(err, FatError::ContentLength { written: 5, .. }),
        "{err}"
    );
    let long = FatEntry::file(
        "long",
        3,
        Box::new(|w: &mut dyn Write| w.write_all(b"12345")),
    );
    let err = write(vec![long]).unwrap_err();
    assert!(matches!(err, FatError::ContentLength { .. }), "{err}");

    let mut opts = options();
    opts.label = "TWELVE CHARS".into();
    let err = write_fat32(&file, 0, 40 * MIB, &opts, Vec::new()).unwrap_err();
    assert!(matches!(err, FatError::BadLabel { .. }), "{err}");
}
