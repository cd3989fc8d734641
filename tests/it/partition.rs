//! Partition tables against `sfdisk`: tables we write must read back in `sfdisk` exactly as
//! intended and pass `sfdisk --verify`; tables `sfdisk` writes must read in our reader exactly
//! as `sfdisk --json` reports them.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pi_imager::image::io::ImageFile;
use pi_imager::image::partition::{
    self, GPT_EFI_SYSTEM, GPT_LINUX_ROOT_ARM64, GPT_MICROSOFT_BASIC_DATA, GptPartitionSpec, Guid,
    MbrPartitionSpec, PartitionKind, PartitionTable, TableKind,
};
use serde_json::Value;

const MIB: u64 = 1 << 20;
const SECTOR: u64 = 512;

/// A sparse image file of `size` bytes, open for writing.
pub fn sparse_image(dir: &Path, name: &str, size: u64) -> (PathBuf, File) {
    let path = dir.join(name);
    let file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    file.set_len(size).expect("set_len on the image");
    (path, file)
}

/// Runs sfdisk with `args`, feeding `stdin`, and returns its standard output; panics with
/// sfdisk's own words if it fails or is missing.
pub fn sfdisk(args: &[&str], stdin: &str) -> String {
    let mut child = Command::new("sfdisk")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sfdisk (from util-linux's fdisk package) is needed by this test; install it");
    child
        .stdin
        .take()
        .expect("sfdisk stdin")
        .write_all(stdin.as_bytes())
        .expect("feeding sfdisk");
    let out = child.wait_with_output().expect("waiting for sfdisk");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "sfdisk {args:?} failed: {stdout}{stderr}"
    );
    stdout
}

fn sfdisk_json(path: &Path) -> Value {
    let text = sfdisk(&["--json", path.to_str().expect("utf-8 path")], "");
    let value: Value = serde_json::from_str(&text).expect("sfdisk --json output is JSON");
    value["partitiontable"].clone()
}

fn assert_verify_clean(path: &Path) {
    let out = sfdisk(&["--verify", path.to_str().expect("utf-8 path")], "");
    assert!(
        out.contains("No errors detected") && !out.to_lowercase().contains("warning"),
        "sfdisk --verify complained about {}:\n{out}",
        path.display()
    );
}

fn read_ours(path: &Path) -> PartitionTable {
    let image = ImageFile::open(path).expect("open the image");
    partition::read(&image).unwrap_or_else(|e| panic!("our reader failed: {e}"))
}

/// Asserts that our reading of `path` is what `sfdisk --json` reports, field by field.
/// Only primary partitions are compared (we do not follow extended partitions).
fn assert_same_as_sfdisk(path: &Path, ours: &PartitionTable) {
    let json = sfdisk_json(path);
    match ours.kind {
        TableKind::Mbr { disk_id } => {
            assert_eq!(json["label"], "dos");
            assert_eq!(json["id"], format!("0x{disk_id:08x}"));
        }
        TableKind::Gpt { disk_guid } => {
            assert_eq!(json["label"], "gpt");
            assert_eq!(json["id"], disk_guid.to_uppercase_string());
        }
    }
    let theirs: Vec<&Value> = json["partitions"]
        .as_array()
        .expect("partitions array")
        .iter()
        .filter(|p| {
            let node = p["node"].as_str().unwrap_or_default();
            let number: u32 = node
                .rsplit(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            !matches!(ours.kind, TableKind::Mbr { .. }) || number <= 4
        })
        .collect();
    assert_eq!(theirs.len(), ours.partitions.len(), "sfdisk: {json:#}");
    for (p, t) in ours.partitions.iter().zip(theirs) {
        let node = t["node"].as_str().expect("node");
        assert!(node.ends_with(&p.number.to_string()), "{node} vs {p:?}");
        assert_eq!(t["start"], p.start / SECTOR, "start of {node}");
        assert_eq!(t["size"], p.size / SECTOR, "size of {node}");
        match p.kind {
            PartitionKind::MbrType(byte) => {
                assert_eq!(t["type"], format!("{byte:x}"), "type of {node}");
                assert_eq!(
                    t["bootable"].as_bool().unwrap_or(false),
                    p.bootable,
                    "boot flag of {node}"
                );
            }
            PartitionKind::GptType(guid) => {
                assert_eq!(t["type"], guid.to_uppercase_string(), "type of {node}");
                assert_eq!(t["uuid"], p.partuuid.to_uppercase(), "uuid of {node}");
                assert_eq!(t["name"].as_str().unwrap_or(""), p.name, "name of {node}");
                let attrs = t["attrs"].as_str().unwrap_or("");
                assert_eq!(
                    attrs.contains("LegacyBIOSBootable"),
                    p.bootable,
                    "attrs of {node}"
                );
            }
        }
    }
}

/// The 512 bytes at `offset` of the file at `path` (images here are gigabytes, mostly holes).
fn sector_at(path: &Path, offset: u64) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; SECTOR as usize];
    File::open(path)
        .and_then(|f| f.read_exact_at(&mut buf, offset))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    buf
}

fn mbr(start: u64, size: u64, type_byte: u8) -> MbrPartitionSpec {
    MbrPartitionSpec {
        start,
        size,
        type_byte,
        bootable: false,
    }
}

fn guid(text: &str) -> Guid {
    text.parse().expect("test GUID")
}

/// Raspberry Pi OS layouts, as (name, disk size, disk id, partitions).
fn pi_layouts() -> Vec<(&'static str, u64, u32, Vec<MbrPartitionSpec>)> {
    let gb8 = 8_000_000_000;
    let gib4 = 4 << 30;
    vec![
        (
            "bookworm",
            gb8,
            0x8a438930,
            vec![
                mbr(8 * MIB, 512 * MIB, 0x0c),
                mbr(520 * MIB, gb8 - 520 * MIB, 0x83),
            ],
        ),
        (
            "buster",
            gib4,
            0x5e3da3da,
            vec![
                MbrPartitionSpec {
                    bootable: true,
                    ..mbr(4 * MIB, 256 * MIB, 0x0c)
                },
                mbr(260 * MIB, gib4 - 260 * MIB, 0x83),
            ],
        ),
        (
            "jessie",
            gib4,
            0x0c0ffee0,
            vec![
                mbr(8192 * SECTOR, (131072 - 8192) * SECTOR, 0x0c),
                mbr(131072 * SECTOR, gib4 - 131072 * SECTOR, 0x83),
            ],
        ),
    ]
}

#[test]
fn mbr_tables_we_write_read_the_same_in_sfdisk_and_in_our_reader() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, size, disk_id, specs) in pi_layouts() {
        let (path, file) = sparse_image(dir.path(), name, size);
        partition::write_mbr(&file, size, disk_id, &specs).expect("write_mbr");
        drop(file);

        let json = sfdisk_json(&path);
        assert_eq!(json["label"], "dos", "{name}");
        assert_eq!(json["id"], format!("0x{disk_id:08x}"), "{name}");
        let parts = json["partitions"].as_array().expect("partitions");
        assert_eq!(parts.len(), specs.len(), "{name}: {json:#}");
        for (spec, part) in specs.iter().zip(parts) {
            assert_eq!(part["start"], spec.start / SECTOR, "{name}");
            assert_eq!(part["size"], spec.size / SECTOR, "{name}");
            assert_eq!(part["type"], format!("{:x}", spec.type_byte), "{name}");
            assert_eq!(part["bootable"].as_bool().unwrap_or(false), spec.bootable);
        }
        assert_verify_clean(&path);

        let ours = read_ours(&path);
        assert_eq!(ours.kind, TableKind::Mbr { disk_id });
        assert!(ours.warnings.is_empty(), "{name}: {:?}", ours.warnings);
        for (number, (spec, p)) in (1u32..).zip(specs.iter().zip(&ours.partitions)) {
            assert_eq!(p.number, number);
            assert_eq!((p.start, p.size), (spec.start, spec.size), "{name}");
            assert_eq!(p.kind, PartitionKind::MbrType(spec.type_byte));
            assert_eq!(p.bootable, spec.bootable);
            assert_eq!(p.partuuid, format!("{disk_id:08x}-{number:02}"));
        }
        assert_same_as_sfdisk(&path, &ours);
        // Only sector 0 was written: the image is still sparse.
        let used = std::fs::metadata(&path).expect("metadata").blocks() * 512;
        assert!(used <= MIB, "{name}: {used} bytes allocated");
    }
}

#[test]
fn mbr_sector_is_byte_identical_to_sfdisk_s() {
    // Same layout through sfdisk: sector 0 (CHS fields included) must match ours exactly.
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, size, disk_id, specs) in pi_layouts() {
        let (ours_path, file) = sparse_image(dir.path(), &format!("{name}-ours"), size);
        partition::write_mbr(&file, size, disk_id, &specs).expect("write_mbr");
        let (theirs_path, _) = sparse_image(dir.path(), &format!("{name}-sfdisk"), size);
        let mut script = format!("label: dos\nlabel-id: 0x{disk_id:08x}\n");
        for spec in &specs {
            script.push_str(&format!(
                "start={}, size={}, type={:x}{}\n",
                spec.start / SECTOR,
                spec.size / SECTOR,
                spec.type_byte,
                if spec.bootable { ", bootable" } else { "" }
            ));
        }
        sfdisk(&["-q", theirs_path.to_str().expect("utf-8")], &script);
        assert_eq!(
            sector_at(&ours_path, 0),
            sector_at(&theirs_path, 0),
            "{name}"
        );
    }
}

fn gpt_layout(size: u64) -> Vec<GptPartitionSpec> {
    let last_usable_end = size - 33 * SECTOR;
    vec![
        GptPartitionSpec {
            start: 8 * MIB,
            size: 512 * MIB,
            type_guid: GPT_EFI_SYSTEM,
            unique_guid: guid("5a1e0b6c-3a2f-4e21-9d4c-0a1b2c3d4e5f"),
            name: "bootfs".into(),
        },
        GptPartitionSpec {
            start: 520 * MIB,
            size: last_usable_end - 520 * MIB,
            type_guid: GPT_LINUX_ROOT_ARM64,
            unique_guid: guid("C0FFEE00-1234-4567-89AB-CDEF01234567"),
            name: "rootfs".into(),
        },
    ]
}

#[test]
fn gpt_tables_we_write_read_the_same_in_sfdisk_and_in_our_reader() {
    let dir = tempfile::tempdir().expect("temp dir");
    let size = 8_000_000_000;
    let sectors = size / SECTOR;
    let disk_guid = guid("3F2504E0-4F89-41D3-9A0C-0305E82C3301");
    for (name, first_type) in [("esp", GPT_EFI_SYSTEM), ("basic", GPT_MICROSOFT_BASIC_DATA)] {
        let mut specs = gpt_layout(size);
        specs[0].type_guid = first_type;
        let (path, file) = sparse_image(dir.path(), name, size);
        partition::write_gpt(&file, size, disk_guid, &specs).expect("write_gpt");
        drop(file);

        let json = sfdisk_json(&path);
        assert_eq!(json["label"], "gpt");
        assert_eq!(json["id"], "3F2504E0-4F89-41D3-9A0C-0305E82C3301");
        assert_eq!(json["firstlba"], 34);
        assert_eq!(json["lastlba"], sectors - 34);
        let parts = json["partitions"].as_array().expect("partitions");
        assert_eq!(parts.len(), 2, "{json:#}");
        for (spec, part) in specs.iter().zip(parts) {
            assert_eq!(part["start"], spec.start / SECTOR);
            assert_eq!(part["size"], spec.size / SECTOR);
            assert_eq!(part["type"], spec.type_guid.to_uppercase_string());
            assert_eq!(part["uuid"], spec.unique_guid.to_uppercase_string());
            assert_eq!(part["name"], spec.name.as_str());
        }
        let dump = sfdisk(&["-d", path.to_str().expect("utf-8")], "");
        assert!(
            dump.contains(&format!("last-lba: {}\n", sectors - 34)),
            "{dump}"
        );
        assert_verify_clean(&path);

        // The backup header is the last sector, pointing back at the primary.
        let backup = sector_at(&path, size - SECTOR);
        assert_eq!(&backup[..8], b"EFI PART");
        let field = |at: usize| u64::from_le_bytes(backup[at..at + 8].try_into().expect("8"));
        assert_eq!(
            (field(24), field(32), field(72)),
            (sectors - 1, 1, sectors - 33)
        );

        let ours = read_ours(&path);
        assert_eq!(ours.kind, TableKind::Gpt { disk_guid });
        assert!(ours.warnings.is_empty(), "{:?}", ours.warnings);
        for (spec, p) in specs.iter().zip(&ours.partitions) {
            assert_eq!((p.start, p.size), (spec.start, spec.size));
            assert_eq!(p.kind, PartitionKind::GptType(spec.type_guid));
            assert_eq!(p.partuuid, spec.unique_guid.to_string());
            assert_eq!(p.name, spec.name);
        }
        assert_same_as_sfdisk(&path, &ours);
        let used = std::fs::metadata(&path).expect("metadata").blocks() * 512;
        assert!(used <= MIB, "{used} bytes allocated");
    }
}

#[test]
fn dos_tables_written_by_sfdisk_read_as_sfdisk_reports() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = [
        "label: dos\nlabel-id: 0xdeadbeef\nstart=16384, size=1048576, type=c\nstart=1064960, type=83\n",
        "label: dos\nlabel-id: 0x00c0ffee\nstart=2048, size=4096, type=b, bootable\nstart=8192, size=8192, type=6\nstart=20480, size=2048, type=e\nstart=32768, type=83\n",
        // An extended partition with logical ones inside: listed, not followed.
        "label: dos\nlabel-id: 0x0badcafe\nstart=2048, size=8192, type=c\nstart=10240, type=5\nstart=12288, size=4096, type=83\nstart=18432, size=4096, type=83\n",
    ];
    for (index, script) in scripts.iter().enumerate() {
        let (path, _) = sparse_image(dir.path(), &format!("dos{index}"), 1 << 30);
        sfdisk(&["-q", path.to_str().expect("utf-8")], script);
        let ours = read_ours(&path);
        assert_same_as_sfdisk(&path, &ours);
        if index == 2 {
            assert!(ours.partitions[1].kind.is_extended());
            assert_eq!(ours.warnings.len(), 1, "{:?}", ours.warnings);
        }
    }
}

#[test]
fn gpt_tables_written_by_sfdisk_read_as_sfdisk_reports() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = "label: gpt\n\
        label-id: 11111111-2222-3333-4444-555555555555\n\
        start=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, \
        uuid=AAAAAAAA-2222-3333-4444-555555555555, name=\"EFI system\", attrs=\"LegacyBIOSBootable\"\n\
        start=6144, size=2048, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, \
        uuid=BBBBBBBB-2222-3333-4444-555555555555\n\
        start=10240, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, \
        uuid=CCCCCCCC-2222-3333-4444-555555555555, name=\"data ünïcode\"\n";
    let (path, _) = sparse_image(dir.path(), "gpt", 16 * MIB);
    sfdisk(&["-q", path.to_str().expect("utf-8")], script);
    let ours = read_ours(&path);
    assert!(ours.warnings.is_empty(), "{:?}", ours.warnings);
    assert_eq!(ours.partitions.len(), 3);
    assert!(ours.partitions[0].bootable);
    assert_eq!(ours.partitions[2].name, "data ünïcode");
    assert_eq!(
        ours.partitions[2].partuuid,
        "cccccccc-2222-3333-4444-555555555555"
    );
    assert_same_as_sfdisk(&path, &ours);
}

#[test]
fn same_inputs_write_byte_identical_tables() {
    let dir = tempfile::tempdir().expect("temp dir");
    let size = 64 * MIB;
    let mut images = Vec::new();
    for run in 0..2 {
        let (mbr_path, file) = sparse_image(dir.path(), &format!("mbr{run}"), size);
        partition::write_mbr(
            &file,
            size,
            0x1234_5678,
            &[mbr(4 * MIB, 16 * MIB, 0x0c), mbr(20 * MIB, 44 * MIB, 0x83)],
        )
        .expect("write_mbr");
        let (gpt_path, file) = sparse_image(dir.path(), &format!("gpt{run}"), size);
        let mut specs = gpt_layout(8 << 30);
        specs[0].size = 8 * MIB;
        specs[1].start = 16 * MIB;
        specs[1].size = size - 33 * SECTOR - 16 * MIB;
        partition::write_gpt(
            &file,
            size,
            guid("01234567-89ab-cdef-0123-456789abcdef"),
            &specs,
        )
        .expect("write_gpt");
        images.push((
            std::fs::read(mbr_path).expect("read"),
            std::fs::read(gpt_path).expect("read"),
        ));
    }
    assert!(images[0].0 == images[1].0, "MBR images differ");
    assert!(images[0].1 == images[1].1, "GPT images differ");
}

#[test]
fn writing_into_a_short_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, file) = sparse_image(dir.path(), "short", MIB);
    let err = partition::write_mbr(&file, 2 * MIB, 1, &[mbr(SECTOR, MIB, 0x83)]).unwrap_err();
    assert!(err.to_string().contains("set the file's length"), "{err}");
}
