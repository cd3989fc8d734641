//! Damaged and hostile partition tables: each gives a clear error (or a warning when the
//! backup GPT saves the day), never a panic.

use pi_imager::image::partition::{
    self, GPT_EFI_SYSTEM, GPT_LINUX_ROOT_ARM64, GptPartitionSpec, Guid, MbrPartitionSpec,
    PartitionError, TableWarning,
};
use proptest::prelude::*;
use std::os::unix::fs::FileExt;

use crate::partition::{sfdisk, sparse_image};

const MIB: u64 = 1 << 20;
const SMALL: u64 = 8 * MIB;

fn mbr_image() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, file) = sparse_image(dir.path(), "mbr", SMALL);
    let specs = [
        MbrPartitionSpec {
            start: MIB,
            size: 3 * MIB,
            type_byte: 0x0c,
            bootable: true,
        },
        MbrPartitionSpec {
            start: 4 * MIB,
            size: 4 * MIB,
            type_byte: 0x83,
            bootable: false,
        },
    ];
    partition::write_mbr(&file, SMALL, 0xfeedf00d, &specs).expect("write_mbr");
    std::fs::read(path).expect("read image")
}

fn gpt_image() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, file) = sparse_image(dir.path(), "gpt", SMALL);
    let specs = [
        GptPartitionSpec {
            start: MIB,
            size: 3 * MIB,
            type_guid: GPT_EFI_SYSTEM,
            unique_guid: Guid::from_fields(1, 2, 3, [4; 8]),
            name: "boot".into(),
        },
        GptPartitionSpec {
            start: 4 * MIB,
            size: SMALL - 4 * MIB - 33 * 512,
            type_guid: GPT_LINUX_ROOT_ARM64,
            unique_guid: Guid::from_fields(5, 6, 7, [8; 8]),
            name: "root".into(),
        },
    ];
    let disk_guid = Guid::from_fields(9, 10, 11, [12; 8]);
    partition::write_gpt(&file, SMALL, disk_guid, &specs).expect("write_gpt");
    std::fs::read(path).expect("read image")
}

fn patch(img: &mut [u8], at: usize, bytes: &[u8]) {
    img[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Recomputes the CRC32 of the GPT header in the sector at `at`.
fn fix_header_crc(img: &mut [u8], at: usize) {
    patch(img, at + 16, &[0; 4]);
    let crc = crc32fast::hash(&img[at..at + 92]);
    patch(img, at + 16, &crc.to_le_bytes());
}

fn error_of(img: &[u8]) -> String {
    match partition::read(img) {
        Ok(table) => panic!("expected an error, read {table:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn images_without_a_table_say_so() {
    assert!(error_of(&[0u8; 100]).starts_with("no partition table"));
    assert!(error_of(&vec![0u8; MIB as usize]).starts_with("no partition table"));
    let mut img = mbr_image();
    img[510] = 0x00;
    let msg = error_of(&img);
    assert!(msg.contains("0x55 0xaa"), "{msg}");
}

#[test]
fn partitions_past_the_end_name_both_sizes() {
    // A card image cut short, as a failed download leaves it.
    let img = mbr_image();
    let msg = error_of(&img[..6 * MIB as usize]);
    assert_eq!(
        msg,
        "partition 2 ends at byte 8388608, past the end of the image (6291456 bytes); \
         the image may be truncated"
    );
}

#[test]
fn truncated_gpt_with_entries_past_the_end_is_refused() {
    let img = gpt_image();
    let err = partition::read(&img[..20 * 512]).unwrap_err();
    assert!(
        matches!(err, PartitionError::BothGptHeadersDamaged { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("entry array"), "{err}");
}

#[test]
fn overlapping_and_empty_mbr_partitions_are_refused() {
    let mut img = mbr_image();
    // Entry 2 now starts inside entry 1.
    patch(&mut img, 446 + 16 + 8, &(4096u32).to_le_bytes());
    assert_eq!(
        error_of(&img),
        "partitions 1 and 2 overlap: partition 1 ends at byte 4194304 but partition 2 \
         starts at byte 2097152"
    );
    let mut img = mbr_image();
    patch(&mut img, 446 + 16 + 12, &[0; 4]);
    assert_eq!(error_of(&img), "partition 2 has a size of zero");
}

#[test]
fn a_damaged_primary_gpt_falls_back_to_the_backup_and_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (path, file) = sparse_image(dir.path(), "sfdisk-gpt", SMALL);
    sfdisk(
        &["-q", path.to_str().expect("utf-8")],
        "label: gpt\nstart=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n\
         start=6144, type=B921B045-1DF0-41C3-AF44-4C6F280D3FAE\n",
    );
    let good = partition::read(&std::fs::read(&path).expect("read")).expect("read table");
    // Flip a byte of the random disk GUID: writing a fixed byte would change nothing when
    // the GUID happened to hold it already (one run in 256).
    flip_byte(&file, 512 + 60);
    let img = std::fs::read(&path).expect("read");
    let table = partition::read(&img).expect("the backup is intact");
    assert_eq!(table.partitions, good.partitions);
    assert_eq!(table.kind, good.kind);
    let [TableWarning::PrimaryGptDamaged { reason }] = table.warnings.as_slice() else {
        panic!("expected a primary warning, got {:?}", table.warnings);
    };
    assert!(reason.contains("CRC32"), "{reason}");
    assert!(table.warnings[0].to_string().contains("backup"));

    let last = SMALL - 512;
    flip_byte(&file, last + 60);
    let msg = error_of(&std::fs::read(&path).expect("read"));
    assert!(
        msg.starts_with("both GPT headers are unusable")
            && msg.contains("primary GPT header at sector 1")
            && msg.contains(&format!("backup GPT header at sector {}", last / 512)),
        "{msg}"
    );
}

#[test]
fn absurd_gpt_entry_counts_are_refused() {
    let mut img = gpt_image();
    let last = img.len() - 512;
    for header in [512, last] {
        patch(&mut img, header + 80, &u32::MAX.to_le_bytes());
        fix_header_crc(&mut img, header);
    }
    let msg = error_of(&img);
    assert!(msg.contains("declares 4294967295 entries"), "{msg}");

    let mut img = gpt_image();
    patch(&mut img, 512 + 84, &100u32.to_le_bytes());
    fix_header_crc(&mut img, 512);
    let table = partition::read(&img).expect("the backup is intact");
    let [TableWarning::PrimaryGptDamaged { reason }] = table.warnings.as_slice() else {
        panic!("{:?}", table.warnings);
    };
    assert!(reason.contains("entry size is 100 bytes"), "{reason}");
}

/// Table sectors of an 8 MiB image: the first 34 and the last 33.
fn table_offset(raw: u64) -> usize {
    let head = 34 * 512;
    let tail = 33 * 512;
    let pick = raw % (head + tail);
    if pick < head {
        pick as usize
    } else {
        (SMALL - tail + (pick - head)) as usize
    }
}

fn mutated(base: &[u8], edits: &[(u64, u8)]) -> Vec<u8> {
    let mut img = base.to_vec();
    for &(at, byte) in edits {
        img[table_offset(at)] = byte;
    }
    img
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn mutated_mbr_images_never_panic(edits in prop::collection::vec((any::<u64>(), any::<u8>()), 1..24)) {
        thread_local!(static BASE: Vec<u8> = mbr_image());
        BASE.with(|base| { let _ = partition::read(&mutated(base, &edits)); });
    }

    #[test]
    fn mutated_gpt_images_never_panic(edits in prop::collection::vec((any::<u64>(), any::<u8>()), 1..24)) {
        thread_local!(static BASE: Vec<u8> = gpt_image());
        BASE.with(|base| { let _ = partition::read(&mutated(base, &edits)); });
    }

    /// Edits the fields of both headers and the entries, then makes every CRC hold again, so
    /// the checks behind the checksums are exercised too.
    #[test]
    fn gpt_images_with_edited_fields_and_valid_crcs_never_panic(
        edits in prop::collection::vec((0usize..92, any::<u8>()), 1..8),
        entry_edits in prop::collection::vec((0usize..(4 * 128), any::<u8>()), 0..8),
    ) {
        thread_local!(static BASE: Vec<u8> = gpt_image());
        BASE.with(|base| {
            let mut img = base.clone();
            let last = img.len() - 512;
            let backup_entries = last - 32 * 512;
            for &(at, byte) in &entry_edits {
                img[1024 + at] = byte;
                img[backup_entries + at] = byte;
            }
            let entries_crc = crc32fast::hash(&img[1024..1024 + 128 * 128]);
            for header in [512, last] {
                patch(&mut img, header + 88, &entries_crc.to_le_bytes());
                for &(at, byte) in &edits {
                    if !(16..20).contains(&at) {
                        img[header + at] = byte;
                    }
                }
                fix_header_crc(&mut img, header);
            }
            let _ = partition::read(&img);
        });
    }

    #[test]
    fn truncated_gpt_images_never_panic(len in 0usize..(SMALL as usize)) {
        thread_local!(static BASE: Vec<u8> = gpt_image());
        BASE.with(|base| { let _ = partition::read(&base[..len]); });
    }
}

/// Inverts the byte at `offset`, so it always changes.
fn flip_byte(file: &std::fs::File, offset: u64) {
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, offset)
        .expect("read the byte");
    file.write_all_at(&[!byte[0]], offset)
        .expect("write the byte");
}
